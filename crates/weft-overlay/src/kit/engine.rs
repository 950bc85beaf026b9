//! The interface every engine offers its driver.

use weft_core::time::Time;

/// Identifies one query (a lookup, a search, a publish that is answered) an engine was
/// given; the events that answer it carry the same id.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub struct QueryId(pub u64);

/// What the driver tells an engine about its connection to a peer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PeerEvent {
    /// The first connection to the peer is up.
    Connected,
    /// The last connection to the peer closed.
    Disconnected,
    /// The peer could not be reached for this protocol (a dial or a stream failed).
    Unreachable,
}

/// The common vocabulary of every engine. See the crate docs for the call order.
pub trait Engine {
    /// How the engine names another node: a compact handle the driver maps to a real peer
    /// (a `u32` index in the simulator, an entry of the peer table in the node). Where it
    /// appears as `from` or `peer` it is the authenticated sender, the only identity an
    /// engine trusts.
    type Addr: Copy + Ord + std::fmt::Debug;
    /// A message between two engines of this kind.
    type Message;
    /// A request from the local user or application.
    type Command;
    /// Something the local user or application is told.
    type Event;

    /// A message `msg` arrived from `from`.
    fn handle_message(&mut self, now: Time, from: Self::Addr, msg: Self::Message);
    /// The connection to `peer` changed. Engines that judge liveness by their own probes
    /// may ignore it (their docs say so).
    fn handle_peer(&mut self, now: Time, peer: Self::Addr, event: PeerEvent);
    /// The deadline last returned by `poll_timeout` has passed (or `now` is later).
    fn handle_timeout(&mut self, now: Time);
    /// Starts a command. A query returns its id, carried by the events that answer it;
    /// a command that is no query (join, leave, a setting) returns `None`.
    fn handle_command(&mut self, now: Time, cmd: Self::Command) -> Option<QueryId>;
    /// Next message to send, if any.
    fn poll_transmit(&mut self) -> Option<(Self::Addr, Self::Message)>;
    /// Next event for the application, if any.
    fn poll_event(&mut self) -> Option<Self::Event>;
    /// When `handle_timeout` should next be called; `None` when nothing is pending.
    fn poll_timeout(&self) -> Option<Time>;
}
