//! Inbound streams of weft's own protocols, each protocol with a bounded backlog.
//!
//! libp2p-stream hands an inbound stream to its accept loop through a channel of one slot
//! and drops, without a word, the streams that arrive while that slot is full (what that cost
//! a download: `docs/measurements.md`). This behaviour accepts the protocols registered with
//! [`Inbound::accept`] instead: every negotiated stream goes into that protocol's queue of
//! `backlog` streams, and a stream that finds the queue full is refused, counted in
//! `/metrics` (`weft_inbound_refused_total{protocol}`, and `weft_peer_events_total
//! {kind="inbound_backlog_full"}`) and logged at most once per peer per minute
//! ([`crate::peer_log`]). Outbound streams still open through libp2p-stream's `Control`: a
//! protocol is accepted by one of the two, never both.

use std::convert::Infallible;
use std::future::{Ready, ready};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use libp2p::core::transport::PortUse;
use libp2p::core::upgrade::{DeniedUpgrade, InboundUpgrade, UpgradeInfo};
use libp2p::core::{Endpoint, Multiaddr};
use libp2p::swarm::handler::{ConnectionEvent, FullyNegotiatedInbound};
use libp2p::swarm::{
    ConnectionDenied, ConnectionHandler, ConnectionHandlerEvent, ConnectionId, FromSwarm,
    NetworkBehaviour, Stream, SubstreamProtocol, THandler, THandlerInEvent, THandlerOutEvent,
    ToSwarm,
};
use libp2p::{PeerId, StreamProtocol};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;
use tokio::sync::mpsc;
use tracing::info;

use crate::peer_log::{PeerEvents, PeerLog};

/// The backlog a protocol gets unless it asks for another: streams negotiated and not yet
/// taken by the protocol's accept loop.
pub const DEFAULT_BACKLOG: usize = 64;

/// The `protocol` label of `weft_inbound_refused_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ProtocolLabel {
    protocol: String,
}

/// The protocols accepted, shared by the behaviour, its handlers and [`Inbound`].
struct Registered {
    /// A queue per protocol (a handful of protocols: a list, searched in order).
    queues: Vec<(StreamProtocol, mpsc::Sender<(PeerId, Stream)>)>,
    refused: Family<ProtocolLabel, Counter>,
    refused_log: PeerLog<PeerId>,
}

impl Registered {
    fn lock(shared: &Mutex<Registered>) -> std::sync::MutexGuard<'_, Registered> {
        shared.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn queue(&self, protocol: &StreamProtocol) -> Option<&mpsc::Sender<(PeerId, Stream)>> {
        self.queues
            .iter()
            .find(|(p, _)| p == protocol)
            .map(|(_, q)| q)
    }

    /// Queues a negotiated stream, or refuses it (dropping it closes it) with a count and a
    /// rate-limited line.
    fn deliver(&mut self, peer: PeerId, protocol: StreamProtocol, stream: Stream) {
        let Some(queue) = self.queue(&protocol) else {
            return; // its accept loop ended just now; dropping the stream resets it
        };
        match queue.try_send((peer, stream)) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.refused
                    .get_or_create(&ProtocolLabel {
                        protocol: protocol.to_string(),
                    })
                    .inc();
                if let Some(repeats) = self.refused_log.event(&peer) {
                    info!(%peer, %protocol, repeats, backlog = queue.max_capacity(),
                        "inbound stream refused: the protocol's backlog is full");
                }
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {
                self.queues.retain(|(p, _)| *p != protocol);
            }
        }
    }

    fn protocols(&self) -> Vec<StreamProtocol> {
        self.queues
            .iter()
            .filter(|(_, q)| !q.is_closed())
            .map(|(p, _)| p.clone())
            .collect()
    }
}

/// Registers protocols to accept. Cheap to clone.
#[derive(Clone)]
pub struct Inbound {
    shared: Arc<Mutex<Registered>>,
}

/// A protocol is accepted already (by an [`Inbound`] whose streams are still read).
#[derive(Debug, thiserror::Error)]
#[error("inbound streams of {0} are accepted already")]
pub struct AlreadyRegistered(pub StreamProtocol);

impl Inbound {
    /// Accepts `protocol`'s inbound streams, queueing at most `backlog` (at least 1) of them
    /// until the returned stream is read.
    ///
    /// # Errors
    /// [`AlreadyRegistered`] if the protocol is accepted already.
    pub fn accept(
        &self,
        protocol: StreamProtocol,
        backlog: usize,
    ) -> Result<IncomingStreams, AlreadyRegistered> {
        let mut r = Registered::lock(&self.shared);
        if r.queue(&protocol).is_some_and(|q| !q.is_closed()) {
            return Err(AlreadyRegistered(protocol));
        }
        let (tx, rx) = mpsc::channel(backlog.max(1));
        r.queues.retain(|(p, _)| *p != protocol);
        r.queues.push((protocol, tx));
        Ok(IncomingStreams(rx))
    }
}

/// The inbound streams of one protocol, with the peer that opened each. Dropping it stops
/// accepting the protocol.
pub struct IncomingStreams(mpsc::Receiver<(PeerId, Stream)>);

impl futures::Stream for IncomingStreams {
    type Item = (PeerId, Stream);

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.0.poll_recv(cx)
    }
}

/// The behaviour: one [`Handler`] per connection, listening on the registered protocols.
pub struct Behaviour {
    shared: Arc<Mutex<Registered>>,
}

impl Behaviour {
    /// A behaviour counting refusals in `events` (log lines) and in `registry`
    /// (`weft_inbound_refused_total{protocol}`).
    pub fn new(registry: &mut Registry, events: &PeerEvents) -> Self {
        let refused = Family::<ProtocolLabel, Counter>::default();
        registry.sub_registry_with_prefix("weft").register(
            "inbound_refused",
            "Inbound streams refused because their protocol's backlog was full",
            refused.clone(),
        );
        Behaviour {
            shared: Arc::new(Mutex::new(Registered {
                queues: Vec::new(),
                refused,
                refused_log: PeerLog::new("inbound_backlog_full", events.clone()),
            })),
        }
    }

    /// The handle to register protocols with.
    pub fn inbound(&self) -> Inbound {
        Inbound {
            shared: self.shared.clone(),
        }
    }

    fn handler(&self, peer: PeerId) -> Handler {
        Handler {
            peer,
            shared: self.shared.clone(),
        }
    }
}

impl NetworkBehaviour for Behaviour {
    type ConnectionHandler = Handler;
    type ToSwarm = Infallible;

    fn handle_established_inbound_connection(
        &mut self,
        _connection_id: ConnectionId,
        peer: PeerId,
        _local_addr: &Multiaddr,
        _remote_addr: &Multiaddr,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        Ok(self.handler(peer))
    }

    fn handle_established_outbound_connection(
        &mut self,
        _connection_id: ConnectionId,
        peer: PeerId,
        _addr: &Multiaddr,
        _role_override: Endpoint,
        _port_use: PortUse,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        Ok(self.handler(peer))
    }

    fn on_swarm_event(&mut self, _event: FromSwarm) {}

    fn on_connection_handler_event(
        &mut self,
        _peer: PeerId,
        _connection: ConnectionId,
        event: THandlerOutEvent<Self>,
    ) {
        match event {}
    }

    fn poll(&mut self, _: &mut Context<'_>) -> Poll<ToSwarm<Infallible, THandlerInEvent<Self>>> {
        Poll::Pending
    }
}

/// Listens on the registered protocols on one connection and queues what is negotiated.
pub struct Handler {
    peer: PeerId,
    shared: Arc<Mutex<Registered>>,
}

/// The registered protocols, offered to a peer's multistream-select.
pub struct Upgrade(Vec<StreamProtocol>);

impl UpgradeInfo for Upgrade {
    type Info = StreamProtocol;
    type InfoIter = std::vec::IntoIter<StreamProtocol>;

    fn protocol_info(&self) -> Self::InfoIter {
        self.0.clone().into_iter()
    }
}

impl InboundUpgrade<Stream> for Upgrade {
    type Output = (Stream, StreamProtocol);
    type Error = Infallible;
    type Future = Ready<Result<Self::Output, Self::Error>>;

    fn upgrade_inbound(self, stream: Stream, protocol: Self::Info) -> Self::Future {
        ready(Ok((stream, protocol)))
    }
}

impl ConnectionHandler for Handler {
    type FromBehaviour = Infallible;
    type ToBehaviour = Infallible;
    type InboundProtocol = Upgrade;
    type OutboundProtocol = DeniedUpgrade;
    type InboundOpenInfo = ();
    type OutboundOpenInfo = ();

    fn listen_protocol(&self) -> SubstreamProtocol<Upgrade> {
        SubstreamProtocol::new(Upgrade(Registered::lock(&self.shared).protocols()), ())
    }

    fn poll(
        &mut self,
        _: &mut Context<'_>,
    ) -> Poll<ConnectionHandlerEvent<DeniedUpgrade, (), Infallible>> {
        Poll::Pending
    }

    fn on_behaviour_event(&mut self, event: Infallible) {
        match event {}
    }

    fn on_connection_event(&mut self, event: ConnectionEvent<Upgrade, DeniedUpgrade>) {
        if let ConnectionEvent::FullyNegotiatedInbound(FullyNegotiatedInbound {
            protocol: (stream, protocol),
            ..
        }) = event
        {
            Registered::lock(&self.shared).deliver(self.peer, protocol, stream);
        }
    }
}
