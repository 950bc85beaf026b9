//! The task that owns the swarm: it executes [`Command`]s, keeps [`NetState`] current and
//! reports [`NetEvent`]s.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::{Arc, RwLock};

use futures::StreamExt;
use libp2p::metrics::{Metrics, Recorder};
use libp2p::{
    Multiaddr, PeerId, StreamProtocol, Swarm, autonat, connection_limits, identify,
    identity::Keypair,
    mdns,
    multiaddr::Protocol,
    ping, relay,
    swarm::{
        ListenError, SwarmEvent,
        dial_opts::{DialOpts, PeerCondition},
    },
};
use prometheus_client::registry::Registry;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tracing::{debug, info};
use weft_core::peer::{Direction, Discovery, NatStatus};

use crate::behaviour::{Behaviour, BehaviourEvent};
use crate::handshakes::Group;
use crate::peer_log::{PeerEvents, PeerLog};
use crate::settings::NetSettings;
use crate::slots::ip_of;
use crate::state::{ConnectedPeer, NetState};
use crate::{keepalive, pex, stack};

/// Capacity of the command and event channels.
const CHANNEL_CAPACITY: usize = 256;

/// A request to the network task.
#[derive(Debug)]
pub enum Command {
    /// Dial `peer` at `addrs` (if it is not already connected); `source` is recorded if it
    /// connects.
    Dial {
        /// The peer to reach.
        peer: PeerId,
        /// Where to try it.
        addrs: Vec<Multiaddr>,
        /// How it was found.
        source: Discovery,
    },
    /// Close every connection and stop the task.
    Shutdown,
}

/// Something that happened in the swarm.
#[derive(Clone, Debug)]
pub enum NetEvent {
    /// The swarm listens on a new address (ends in `/p2p/<local id>`).
    Listening {
        /// The address.
        addr: Multiaddr,
    },
    /// The first connection to a peer was established.
    Connected {
        /// The peer.
        peer: PeerId,
        /// The remote address of the connection.
        addr: Multiaddr,
        /// Whether we dialed.
        outbound: bool,
        /// How the peer was found.
        source: Discovery,
    },
    /// The last connection to a peer closed.
    Disconnected {
        /// The peer.
        peer: PeerId,
    },
    /// A peer told us who it is and where it listens.
    Identified {
        /// The peer.
        peer: PeerId,
        /// Its listen addresses.
        listen_addrs: Vec<Multiaddr>,
        /// Its agent string.
        agent: String,
        /// The protocols it says it speaks (at most [`crate::MAX_PROTOCOLS_FROM_PEER`]).
        protocols: Vec<StreamProtocol>,
    },
    /// A dial failed.
    DialFailed {
        /// The peer, if the dial named one.
        peer: Option<PeerId>,
        /// What went wrong.
        error: String,
    },
}

/// Why the network could not start.
#[derive(Debug, thiserror::Error)]
pub enum SpawnError {
    /// The transport could not be built.
    #[error("cannot build the network transport: {0}")]
    Transport(String),
    /// A listen address could not be bound.
    #[error("cannot listen on {addr}: {error}")]
    Listen {
        /// The address.
        addr: Multiaddr,
        /// Why.
        error: String,
    },
}

/// The node's handle on the network task. Cheap to clone.
#[derive(Clone)]
pub struct NetHandle {
    /// This node's peer id.
    pub local_peer_id: PeerId,
    commands: mpsc::Sender<Command>,
    state: Arc<RwLock<NetState>>,
    control: libp2p_stream::Control,
    inbound: crate::inbound::Inbound,
    usefulness: crate::slots::Usefulness,
    peer_events: PeerEvents,
}

impl NetHandle {
    /// `peer` sent or answered a request of one of weft's protocols (a frame that decoded):
    /// its incoming connections keep their slots ([`crate::slots`]). Protocol servers and
    /// clients call it for every such frame.
    pub fn mark_useful(&self, peer: &PeerId) {
        self.usefulness.mark(peer);
    }

    /// The node's counts of peer-caused events, for log limiters of the protocols
    /// ([`crate::peer_log::PeerLog`]).
    pub fn peer_events(&self) -> &PeerEvents {
        &self.peer_events
    }

    /// Sends a command; waits if the task is busy. Returns `false` if the task has stopped.
    pub async fn send(&self, cmd: Command) -> bool {
        self.commands.send(cmd).await.is_ok()
    }

    /// A copy of the current network state.
    pub fn state(&self) -> NetState {
        self.state.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Opens and accepts streams of weft's own protocols.
    pub fn stream_control(&self) -> libp2p_stream::Control {
        self.control.clone()
    }

    /// Accepts inbound streams of weft's own protocols with a bounded backlog each, refusing
    /// (counted, logged) what finds it full rather than dropping it unseen
    /// ([`crate::inbound`]).
    pub fn inbound(&self) -> crate::inbound::Inbound {
        self.inbound.clone()
    }
}

/// The network task.
pub struct Network {
    swarm: Swarm<Behaviour>,
    commands: mpsc::Receiver<Command>,
    events: mpsc::Sender<NetEvent>,
    state: Arc<RwLock<NetState>>,
    metrics: Metrics,
    /// Lines about connections peers opened to us (and their end): at most one per remote
    /// address per minute, so that a peer reconnecting in a loop cannot flood the log.
    inbound_lines: (PeerLog<IpAddr>, PeerLog<IpAddr>),
    /// Incoming connections libp2p's connection limits refused, by address group.
    limit_refusals: PeerLog<Group>,
    /// How peers we are dialing were found.
    dialing: HashMap<PeerId, Discovery>,
    control: libp2p_stream::Control,
    /// A sender into our own command queue, for tasks that find peers to dial.
    own_commands: mpsc::Sender<Command>,
}

impl Network {
    /// Builds the swarm, starts listening, dials the bootstrap peers and spawns the task.
    /// Registers libp2p's metrics (bandwidth, connections, protocols) in `registry`.
    ///
    /// # Errors
    /// [`SpawnError`] if the transport cannot be built or an address cannot be bound.
    pub fn spawn(
        key: Keypair,
        settings: NetSettings,
        registry: &mut Registry,
    ) -> Result<(NetHandle, mpsc::Receiver<NetEvent>, JoinHandle<()>), SpawnError> {
        let transport_err = |e: &dyn std::fmt::Display| SpawnError::Transport(e.to_string());
        let peer_events = PeerEvents::register(registry);
        let inbound = crate::inbound::Behaviour::new(registry, &peer_events);
        let mux = crate::mux::Config::new().counting(&peer_events);
        let pending = crate::handshakes::Limits {
            max: settings.limits.max_pending_incoming as usize,
            max_per_group: settings.limits.max_pending_incoming_per_net as usize,
        };
        let (relay_transport, relay_client) = relay::client::new(key.public().to_peer_id());
        let mut swarm = libp2p::SwarmBuilder::with_existing_identity(key)
            .with_tokio()
            .with_quic()
            .with_other_transport(|key| {
                stack::tcp(key, pending, mux.clone(), &peer_events).map_err(boxed)
            })
            .map_err(|e| transport_err(&e))?
            .with_other_transport(|key| stack::relayed(relay_transport, key, mux).map_err(boxed))
            .map_err(|e| transport_err(&e))?
            .with_bandwidth_metrics(registry)
            .with_behaviour(|key| {
                Behaviour::new(key, relay_client, &settings, &peer_events, inbound)
                    .map_err(|e| Box::new(e) as Box<dyn std::error::Error + Send + Sync>)
            })
            .map_err(|e| transport_err(&e))?
            .with_swarm_config(|c| c.with_idle_connection_timeout(settings.idle_timeout()))
            .build();

        for addr in &settings.listen {
            swarm
                .listen_on(addr.clone())
                .map_err(|e| SpawnError::Listen {
                    addr: addr.clone(),
                    error: e.to_string(),
                })?;
        }
        let local_peer_id = *swarm.local_peer_id();
        let control = swarm.behaviour().stream.new_control();
        let inbound = swarm.behaviour().inbound.inbound();
        let usefulness = swarm.behaviour().slots.usefulness();
        let state = Arc::new(RwLock::new(NetState {
            peer_id: local_peer_id.to_string(),
            nat: NatStatus::Unknown,
            ..NetState::default()
        }));
        let (cmd_tx, cmd_rx) = mpsc::channel(CHANNEL_CAPACITY);
        let (ev_tx, ev_rx) = mpsc::channel(CHANNEL_CAPACITY);
        let mut network = Network {
            swarm,
            commands: cmd_rx,
            events: ev_tx,
            state: state.clone(),
            metrics: Metrics::new(registry),
            inbound_lines: (
                PeerLog::new("inbound_connection", peer_events.clone()),
                PeerLog::new("inbound_closed", peer_events.clone()),
            ),
            limit_refusals: PeerLog::new("connection_limit", peer_events.clone()),
            dialing: HashMap::new(),
            control: control.clone(),
            own_commands: cmd_tx.clone(),
        };
        for (peer, addr) in settings.bootstrap {
            network.dial(peer, vec![addr], Discovery::Bootstrap);
        }
        tokio::spawn(keepalive::serve(inbound.clone()));
        tokio::spawn(pex::serve(inbound.clone(), state.clone()));
        let task = tokio::spawn(network.run());
        let handle = NetHandle {
            local_peer_id,
            commands: cmd_tx,
            state,
            control,
            inbound,
            usefulness,
            peer_events,
        };
        Ok((handle, ev_rx, task))
    }

    async fn run(mut self) {
        loop {
            tokio::select! {
                cmd = self.commands.recv() => match cmd {
                    Some(Command::Dial { peer, addrs, source }) => self.dial(peer, addrs, source),
                    Some(Command::Shutdown) | None => break,
                },
                event = self.swarm.select_next_some() => self.on_swarm_event(event).await,
            }
        }
        info!("network stopped");
    }

    fn dial(&mut self, peer: PeerId, addrs: Vec<Multiaddr>, source: Discovery) {
        if peer == *self.swarm.local_peer_id() || self.swarm.is_connected(&peer) {
            return;
        }
        let opts = DialOpts::peer_id(peer)
            .addresses(addrs)
            .condition(PeerCondition::DisconnectedAndNotDialing)
            .build();
        match self.swarm.dial(opts) {
            Ok(()) => {
                self.dialing.entry(peer).or_insert(source);
            }
            Err(e) => debug!(%peer, "not dialing: {e}"),
        }
    }

    fn write_state(&self, f: impl FnOnce(&mut NetState)) {
        f(&mut self.state.write().unwrap_or_else(|p| p.into_inner()));
    }

    async fn on_swarm_event(&mut self, event: SwarmEvent<BehaviourEvent>) {
        self.metrics.record(&event);
        match event {
            SwarmEvent::NewListenAddr { address, .. } => {
                let full = address
                    .clone()
                    .with(Protocol::P2p(*self.swarm.local_peer_id()));
                info!("listening on {full}");
                self.write_state(|s| s.listen.push(full.to_string()));
                emit(&self.events, NetEvent::Listening { addr: full }).await;
            }
            SwarmEvent::ExpiredListenAddr { address, .. } => {
                let full = address
                    .with(Protocol::P2p(*self.swarm.local_peer_id()))
                    .to_string();
                self.write_state(|s| s.listen.retain(|a| *a != full));
            }
            SwarmEvent::NewExternalAddrCandidate { address } => {
                let a = address.to_string();
                self.write_state(|s| {
                    if !s.external.contains(&a) && s.external.len() < 16 {
                        s.external.push(a);
                    }
                });
            }
            SwarmEvent::ConnectionEstablished {
                peer_id,
                endpoint,
                num_established,
                ..
            } => {
                if num_established.get() != 1 {
                    return;
                }
                let outbound = endpoint.is_dialer();
                let source = match self.dialing.remove(&peer_id) {
                    Some(s) => s,
                    None if outbound => Discovery::Peer,
                    None => Discovery::Inbound,
                };
                let addr = endpoint.get_remote_address().clone();
                let logged = if outbound {
                    Some(0)
                } else {
                    ip_of(&addr).map_or(Some(0), |ip| self.inbound_lines.0.event(&ip))
                };
                if let Some(repeats) = logged {
                    info!(peer = %peer_id, %addr, source = source.as_str(), repeats, "peer connected");
                }
                let since = unix_now();
                self.write_state(|s| {
                    s.peers.insert(
                        peer_id.to_string(),
                        ConnectedPeer {
                            peer_id: peer_id.to_string(),
                            addr: addr.to_string(),
                            direction: Direction::of(outbound),
                            source,
                            connections: 1,
                            rtt_ms: None,
                            agent: None,
                            since,
                            listen_addrs: Vec::new(),
                            protocols: Vec::new(),
                        },
                    );
                });
                if outbound {
                    tokio::spawn(keepalive::hold(self.control.clone(), peer_id));
                }
                if outbound && source != Discovery::Peer {
                    tokio::spawn(pex::ask(
                        self.control.clone(),
                        peer_id,
                        self.own_commands.clone(),
                    ));
                }
                emit(
                    &self.events,
                    NetEvent::Connected {
                        peer: peer_id,
                        addr,
                        outbound,
                        source,
                    },
                )
                .await;
            }
            SwarmEvent::ConnectionClosed {
                peer_id,
                num_established,
                cause,
                endpoint,
                ..
            } => {
                if num_established > 0 {
                    self.write_state(|s| {
                        if let Some(p) = s.peers.get_mut(&peer_id.to_string()) {
                            p.connections = num_established;
                        }
                    });
                    return;
                }
                let logged = match ip_of(endpoint.get_remote_address()) {
                    Some(ip) if endpoint.is_listener() => self.inbound_lines.1.event(&ip),
                    _ => Some(0),
                };
                if let Some(repeats) = logged {
                    info!(peer = %peer_id, cause = ?cause.map(|c| c.to_string()), repeats, "peer disconnected");
                }
                self.write_state(|s| {
                    s.peers.remove(&peer_id.to_string());
                });
                emit(&self.events, NetEvent::Disconnected { peer: peer_id }).await;
            }
            SwarmEvent::OutgoingConnectionError { peer_id, error, .. } => {
                if let Some(p) = peer_id {
                    self.dialing.remove(&p);
                }
                debug!(peer = ?peer_id, "dial failed: {error}");
                let error = error.to_string();
                emit(
                    &self.events,
                    NetEvent::DialFailed {
                        peer: peer_id,
                        error,
                    },
                )
                .await;
            }
            SwarmEvent::IncomingConnectionError {
                send_back_addr,
                error,
                ..
            } => {
                let exceeded = match &error {
                    ListenError::Denied { cause } => {
                        cause.downcast_ref::<connection_limits::Exceeded>()
                    }
                    _ => None,
                };
                let group = ip_of(&send_back_addr).map(Group::of);
                match (exceeded, group) {
                    (Some(limit), Some(group)) => {
                        if let Some(repeats) = self.limit_refusals.event(&group) {
                            info!(%group, repeats, "incoming connection refused: {limit}");
                        }
                    }
                    _ => debug!(%send_back_addr, "incoming connection failed: {error}"),
                }
            }
            SwarmEvent::Behaviour(event) => self.on_behaviour_event(event).await,
            _ => {}
        }
    }

    async fn on_behaviour_event(&mut self, event: BehaviourEvent) {
        match event {
            BehaviourEvent::Identify(event) => {
                self.metrics.record(&event);
                if let identify::Event::Received { peer_id, info, .. } = event {
                    let listen_addrs: Vec<Multiaddr> = info
                        .listen_addrs
                        .into_iter()
                        .filter(|a| !is_unspecified(a))
                        .take(crate::MAX_ADDRS_FROM_PEER)
                        .collect();
                    for a in &listen_addrs {
                        self.swarm.add_peer_address(peer_id, a.clone());
                    }
                    let protocols: Vec<StreamProtocol> = info
                        .protocols
                        .into_iter()
                        .take(crate::MAX_PROTOCOLS_FROM_PEER)
                        .collect();
                    self.swarm
                        .behaviour_mut()
                        .slots
                        .identified(peer_id, &protocols);
                    let agent = info.agent_version;
                    self.write_state(|s| {
                        if let Some(p) = s.peers.get_mut(&peer_id.to_string()) {
                            p.agent = Some(agent.chars().take(64).collect());
                            p.listen_addrs = listen_addrs.iter().map(ToString::to_string).collect();
                            p.protocols.clone_from(&protocols);
                        }
                    });
                    emit(
                        &self.events,
                        NetEvent::Identified {
                            peer: peer_id,
                            listen_addrs,
                            agent,
                            protocols,
                        },
                    )
                    .await;
                }
            }
            BehaviourEvent::Ping(event) => {
                self.metrics.record(&event);
                if let ping::Event {
                    peer,
                    result: Ok(rtt),
                    ..
                } = event
                {
                    self.write_state(|s| {
                        if let Some(p) = s.peers.get_mut(&peer.to_string()) {
                            p.rtt_ms = Some(rtt.as_secs_f64() * 1000.0);
                        }
                    });
                }
            }
            BehaviourEvent::Mdns(mdns::Event::Discovered(list)) => {
                let mut by_peer: BTreeMap<PeerId, Vec<Multiaddr>> = BTreeMap::new();
                for (peer, addr) in list {
                    by_peer.entry(peer).or_default().push(addr);
                }
                for (peer, addrs) in by_peer {
                    info!(%peer, "found on the local network (mDNS)");
                    self.dial(peer, addrs, Discovery::Mdns);
                }
            }
            BehaviourEvent::Autonat(autonat::Event::StatusChanged { new, .. }) => {
                let nat = match new {
                    autonat::NatStatus::Public(_) => NatStatus::Public,
                    autonat::NatStatus::Private => NatStatus::Private,
                    autonat::NatStatus::Unknown => NatStatus::Unknown,
                };
                info!(nat = nat.as_str(), "reachability changed");
                self.write_state(|s| s.nat = nat);
            }
            BehaviourEvent::RelayServer(event) => {
                self.metrics.record(&event);
                debug!(?event, "relay server");
            }
            BehaviourEvent::Dcutr(event) => {
                self.metrics.record(&event);
                info!(peer = %event.remote_peer_id, result = ?event.result.map(|_| ()), "hole punch");
            }
            BehaviourEvent::RelayClient(event) => debug!(?event, "relay client"),
            _ => {}
        }
    }
}

/// What the swarm builder takes as a constructor's error.
fn boxed(
    e: impl std::error::Error + Send + Sync + 'static,
) -> Box<dyn std::error::Error + Send + Sync> {
    Box::new(e)
}

/// Sends `event` to the node. The node drains this channel continuously; waiting here
/// applies back-pressure rather than dropping events the peer book needs.
async fn emit(events: &mpsc::Sender<NetEvent>, event: NetEvent) {
    let _ = events.send(event).await;
}

fn is_unspecified(addr: &Multiaddr) -> bool {
    addr.iter().any(|p| match p {
        Protocol::Ip4(ip) => ip.is_unspecified(),
        Protocol::Ip6(ip) => ip.is_unspecified(),
        _ => false,
    })
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}
