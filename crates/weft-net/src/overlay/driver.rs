//! The generic driver task: owns one engine and runs it on wall-clock time over libp2p
//! streams, in the call order the engines expect (see `weft_overlay`'s crate docs).
//!
//! Protocol time ([`Time`]) is microseconds since the overlay started ([`Clock`]). The task
//! waits on four inputs — requests from its handle, decoded messages from peers, connection
//! changes (the latest per peer, never dropped: `peer_changes`), and the engine's single timer re-armed from `poll_timeout` — and after each one
//! drains `poll_transmit` (each message encoded into one frame and queued on the peer's
//! stream) and `poll_event` (handed to the [`Adapter`]) until both are empty.

use std::sync::Arc;
use std::time::Duration;

use libp2p::PeerId;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tracing::debug;
use weft_core::time::Time;
use weft_core::wire;
use weft_overlay::{Engine, PeerEvent};

use super::peer_changes::PeerChanges;
use super::peers::PeerTable;
use super::transport::{self, Counters, Link, Outbound};

/// Decoded messages waiting for the driver, per protocol.
const INBOUND_QUEUE: usize = 1024;

/// Maps the wall clock onto protocol time: microseconds since the overlay started.
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    origin: Instant,
}

impl Clock {
    /// A clock whose origin is now.
    pub fn start() -> Self {
        Clock {
            origin: Instant::now(),
        }
    }

    /// The current protocol time.
    pub fn now(&self) -> Time {
        Time::from_micros(u64::try_from(self.origin.elapsed().as_micros()).unwrap_or(u64::MAX))
    }

    /// The instant of protocol time `t` (far in the future if it cannot be represented).
    pub fn instant(&self, t: Time) -> Instant {
        self.origin
            .checked_add(Duration::from_micros(t.as_micros()))
            .unwrap_or_else(|| Instant::now() + Duration::from_secs(86_400 * 365))
    }
}

/// What is specific to one engine: its wire form, its requests and where its events go.
pub(crate) trait Adapter: Send + 'static {
    /// The engine driven.
    type E: Engine<Addr = PeerId>;
    /// The message as carried on the wire.
    type Wire: Serialize + DeserializeOwned + Send + 'static;
    /// A request from the handle.
    type Request: Send + 'static;

    /// The engine.
    fn engine(&mut self) -> &mut Self::E;
    /// The frames to send for one engine message (usually one).
    fn to_wire(&self, msg: <Self::E as Engine>::Message, peers: &PeerTable) -> Vec<Self::Wire>;
    /// The engine message a frame from `from` carries; `None` refuses it (counted as bad).
    fn accept(
        &mut self,
        now: Time,
        from: PeerId,
        wire: Self::Wire,
        peers: &PeerTable,
    ) -> Option<<Self::E as Engine>::Message>;
    /// Executes a request (usually a `handle_command`, remembering who waits for the answer).
    fn on_request(&mut self, now: Time, request: Self::Request);
    /// Delivers an engine event.
    fn on_event(&mut self, now: Time, event: <Self::E as Engine>::Event);
    /// Reports a connection change to the engine.
    fn on_peer(&mut self, now: Time, peer: PeerId, change: PeerEvent);
}

/// Starts a driver task for `adapter` on `link.protocol`. Returns where to post connection
/// changes for it.
///
/// # Errors
/// If the protocol is already accepted on this swarm.
pub(crate) fn spawn<D: Adapter>(
    adapter: D,
    link: Link,
    clock: Clock,
    requests: mpsc::Receiver<D::Request>,
) -> Result<PeerChanges, crate::inbound::AlreadyRegistered>
where
    <D::E as Engine>::Message: Send,
{
    let (deliver, inbound) = mpsc::channel(INBOUND_QUEUE);
    transport::accept::<D::Wire>(link.clone(), deliver)?;
    let changes = PeerChanges::default();
    let driver = Driver {
        adapter,
        clock,
        counters: link.counters.clone(),
        peers: link.peers.clone(),
        max_frame: link.max_frame,
        outbound: Outbound::new(link, changes.clone()),
        inbound,
        requests,
        changes: changes.clone(),
    };
    tokio::spawn(driver.run());
    Ok(changes)
}

struct Driver<D: Adapter> {
    adapter: D,
    clock: Clock,
    counters: Arc<Counters>,
    peers: Arc<PeerTable>,
    max_frame: usize,
    outbound: Outbound,
    inbound: mpsc::Receiver<(PeerId, D::Wire)>,
    requests: mpsc::Receiver<D::Request>,
    /// Connects, disconnects and unreachable peers, the latest per peer.
    changes: PeerChanges,
}

impl<D: Adapter> Driver<D> {
    async fn run(mut self) {
        // guards against an engine that keeps asking for a deadline already handled
        let mut last_fired: Option<Instant> = None;
        loop {
            let timer = self.adapter.engine().poll_timeout().map(|t| {
                let at = self.clock.instant(t);
                match last_fired {
                    Some(l) if at <= l => l + Duration::from_millis(1),
                    _ => at,
                }
            });
            let sleep = async {
                match timer {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            let changes = self.changes.clone();
            tokio::select! {
                request = self.requests.recv() => match request {
                    Some(r) => self.adapter.on_request(self.clock.now(), r),
                    None => break,
                },
                Some((from, wire)) = self.inbound.recv() => {
                    let now = self.clock.now();
                    match self.adapter.accept(now, from, wire, &self.peers) {
                        Some(msg) => self.adapter.engine().handle_message(now, from, msg),
                        None => self.counters.bad_frame(),
                    }
                }
                batch = changes.take() => {
                    let now = self.clock.now();
                    for (peer, change) in batch {
                        self.adapter.on_peer(now, peer, change);
                    }
                }
                () = sleep => {
                    last_fired = Some(Instant::now());
                    self.adapter.engine().handle_timeout(self.clock.now());
                }
            }
            self.flush();
        }
        debug!("overlay driver stopped");
    }

    /// Drains transmits and events until the engine has nothing more to say.
    fn flush(&mut self) {
        loop {
            let mut progressed = false;
            while let Some((to, msg)) = self.adapter.engine().poll_transmit() {
                progressed = true;
                for w in self.adapter.to_wire(msg, &self.peers) {
                    match wire::encode(&w, self.max_frame) {
                        Ok(bytes) => self.outbound.send(to, bytes),
                        Err(e) => {
                            debug!(%to, "not sending: {e}");
                            self.counters.drop_out(1);
                        }
                    }
                }
            }
            while let Some(event) = self.adapter.engine().poll_event() {
                progressed = true;
                let now = self.clock.now();
                self.adapter.on_event(now, event);
            }
            if !progressed {
                break;
            }
        }
    }
}
