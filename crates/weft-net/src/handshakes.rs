//! Incoming handshakes: who may hold a pending slot, and who gives one up for a newcomer.
//!
//! An incoming TCP connection holds a pending slot from its accept until its handshake
//! (multistream-select, TLS or Noise, yamux) ends. libp2p's connection limits can only refuse
//! a newcomer once those slots are full, so sockets that never send a byte, opened from a few
//! addresses, used to lock every honest dialer out for as long as they were held. Here:
//!
//! - **First bytes.** The dialer speaks first (multistream-select's header), so an incoming
//!   connection that sends nothing within [`FIRST_BYTES`] is closed ([`FirstBytes`], counted
//!   as `handshake_silent`); the whole inbound handshake has [`INBOUND_HANDSHAKE`].
//! - **A newcomer always gets a slot.** [`Handshakes`] wraps the transport and tracks every
//!   inbound handshake in flight with a handle that aborts it. A newcomer whose address group
//!   already holds `max_per_group` handshakes ends that group's oldest; one that finds all
//!   `max` slots taken ends the oldest handshake of the group holding the most. Either is
//!   counted and logged (rate-limited) as `handshake_dropped`. An honest handshake takes a
//!   few round trips; to lose its slot it must be the oldest of the largest group, so silent
//!   sockets, whatever addresses they come from, only displace each other.
//! - **Address groups** ([`Group`]): an IPv4 /24, an IPv6 /64 (what one host or one customer
//!   of a provider usually holds), and a loopback address on its own: a peer on this host is
//!   one the operator runs, and tests tell their peers apart by loopback address.
//!
//! The choice of whom to end is the sans-IO [`Table`]; the transport wrapper only applies it.

use std::collections::BTreeMap;
use std::fmt;
use std::io;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use futures::future::{AbortHandle, Abortable, BoxFuture};
use futures::{AsyncRead, AsyncWrite, FutureExt, TryFutureExt};
use libp2p::core::transport::{DialOpts, ListenerId, TransportError, TransportEvent};
use libp2p::core::{ConnectedPoint, Multiaddr, Transport};
use tracing::info;

use crate::peer_log::{PeerEvents, PeerLog};
use crate::slots::ip_of;

/// How long an incoming connection may stay silent before it is closed.
pub const FIRST_BYTES: Duration = Duration::from_secs(3);
/// How long an incoming connection's whole handshake may take.
pub const INBOUND_HANDSHAKE: Duration = Duration::from_secs(5);

/// Addresses whose handshakes are counted together.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Group {
    /// A loopback address, on its own.
    Host(IpAddr),
    /// An IPv4 /24: its first three octets.
    V4([u8; 3]),
    /// An IPv6 /64: its first four segments.
    V6([u16; 4]),
}

impl Group {
    /// The group of `ip` (an IPv4-mapped IPv6 address counts as IPv4).
    pub fn of(ip: IpAddr) -> Self {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        if ip.is_loopback() {
            return Group::Host(ip);
        }
        match ip {
            IpAddr::V4(a) => {
                let o = a.octets();
                Group::V4([o[0], o[1], o[2]])
            }
            IpAddr::V6(a) => {
                let s = a.segments();
                Group::V6([s[0], s[1], s[2], s[3]])
            }
        }
    }
}

impl fmt::Display for Group {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Group::Host(ip) => write!(f, "{ip}"),
            Group::V4([a, b, c]) => write!(f, "{a}.{b}.{c}.0/24"),
            Group::V6([a, b, c, d]) => write!(f, "{a:x}:{b:x}:{c:x}:{d:x}::/64"),
        }
    }
}

/// The limits on handshakes in flight.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// In all.
    pub max: usize,
    /// From one address group.
    pub max_per_group: usize,
}

/// The handshakes in flight, oldest first, each with a handle `H` to end it (sans-IO).
#[derive(Debug)]
pub struct Table<H> {
    limits: Limits,
    next: u64,
    /// By admission order: the smallest id is the oldest.
    entries: BTreeMap<u64, (Group, H)>,
    per_group: BTreeMap<Group, usize>,
}

impl<H> Table<H> {
    /// An empty table applying `limits` (each at least 1).
    pub fn new(limits: Limits) -> Self {
        Table {
            limits: Limits {
                max: limits.max.max(1),
                max_per_group: limits.max_per_group.max(1),
            },
            next: 0,
            entries: BTreeMap::new(),
            per_group: BTreeMap::new(),
        }
    }

    /// Handshakes in flight.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether none is in flight.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Admits a newcomer from `group` with `handle`: its id, and the handshakes that give up
    /// their slots for it (already out of the table; end them).
    pub fn admit(&mut self, group: Group, handle: H) -> (u64, Vec<(Group, H)>) {
        let mut victims = Vec::new();
        if self.per_group.get(&group).copied().unwrap_or(0) >= self.limits.max_per_group
            && let Some(v) = self.oldest_of(group).and_then(|id| self.remove(id))
        {
            victims.push(v);
        }
        while self.entries.len() >= self.limits.max {
            let Some(v) = self.oldest_of_largest().and_then(|id| self.remove(id)) else {
                break;
            };
            victims.push(v);
        }
        let id = self.next;
        self.next += 1;
        self.entries.insert(id, (group, handle));
        *self.per_group.entry(group).or_insert(0) += 1;
        (id, victims)
    }

    /// The handshake `id` ended (a no-op if it was ended for a newcomer).
    pub fn finish(&mut self, id: u64) {
        self.remove(id);
    }

    fn remove(&mut self, id: u64) -> Option<(Group, H)> {
        let (group, handle) = self.entries.remove(&id)?;
        if let Some(n) = self.per_group.get_mut(&group) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.per_group.remove(&group);
            }
        }
        Some((group, handle))
    }

    fn oldest_of(&self, group: Group) -> Option<u64> {
        self.entries
            .iter()
            .find(|(_, (g, _))| *g == group)
            .map(|(id, _)| *id)
    }

    /// The oldest handshake of the group holding the most (of those tied, the one whose
    /// oldest is oldest).
    fn oldest_of_largest(&self) -> Option<u64> {
        let most = self.per_group.values().copied().max()?;
        self.entries
            .iter()
            .find(|(_, (g, _))| self.per_group.get(g) == Some(&most))
            .map(|(id, _)| *id)
    }
}

/// Why an inbound handshake failed here.
#[derive(Debug, thiserror::Error)]
pub enum HandshakeError<E> {
    /// The wrapped transport's error.
    #[error(transparent)]
    Inner(E),
    /// Ended to make room for a newcomer.
    #[error("incoming handshake ended to make room for a newcomer")]
    Dropped,
}

struct Shared {
    table: Table<AbortHandle>,
    dropped: PeerLog<Group>,
}

fn lock(shared: &Mutex<Shared>) -> std::sync::MutexGuard<'_, Shared> {
    shared.lock().unwrap_or_else(|p| p.into_inner())
}

/// A transport whose inbound handshakes hold slots in a [`Table`]: a newcomer ends the
/// handshake the table chooses instead of being refused.
pub struct Handshakes<T> {
    inner: T,
    shared: Arc<Mutex<Shared>>,
}

impl<T> Handshakes<T> {
    /// Wraps `inner`, applying `limits`; what it ends is counted in `events`.
    pub fn new(inner: T, limits: Limits, events: &PeerEvents) -> Self {
        Handshakes {
            inner,
            shared: Arc::new(Mutex::new(Shared {
                table: Table::new(limits),
                dropped: PeerLog::new("handshake_dropped", events.clone()),
            })),
        }
    }
}

/// An inbound handshake holding a slot until it ends, however it ends.
pub struct Admitted<O, E> {
    inner: Abortable<BoxFuture<'static, Result<O, E>>>,
    ticket: Option<(Arc<Mutex<Shared>>, u64)>,
}

impl<O, E> Future for Admitted<O, E> {
    type Output = Result<O, HandshakeError<E>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let out = match futures::ready!(self.inner.poll_unpin(cx)) {
            Ok(Ok(o)) => Ok(o),
            Ok(Err(e)) => Err(HandshakeError::Inner(e)),
            Err(_aborted) => Err(HandshakeError::Dropped),
        };
        self.release();
        Poll::Ready(out)
    }
}

impl<O, E> Admitted<O, E> {
    fn release(&mut self) {
        if let Some((shared, id)) = self.ticket.take() {
            lock(&shared).table.finish(id);
        }
    }
}

impl<O, E> Drop for Admitted<O, E> {
    fn drop(&mut self) {
        self.release();
    }
}

type DialFuture<F, E> = futures::future::MapErr<F, fn(E) -> HandshakeError<E>>;

impl<T> Transport for Handshakes<T>
where
    T: Transport + Unpin,
    T::ListenerUpgrade: Send + 'static,
    T::Output: 'static,
    T::Error: 'static,
{
    type Output = T::Output;
    type Error = HandshakeError<T::Error>;
    type ListenerUpgrade = Admitted<T::Output, T::Error>;
    type Dial = DialFuture<T::Dial, T::Error>;

    fn listen_on(
        &mut self,
        id: ListenerId,
        addr: Multiaddr,
    ) -> Result<(), TransportError<Self::Error>> {
        self.inner
            .listen_on(id, addr)
            .map_err(|e| e.map(HandshakeError::Inner))
    }

    fn remove_listener(&mut self, id: ListenerId) -> bool {
        self.inner.remove_listener(id)
    }

    fn dial(
        &mut self,
        addr: Multiaddr,
        opts: DialOpts,
    ) -> Result<Self::Dial, TransportError<Self::Error>> {
        let inner = self
            .inner
            .dial(addr, opts)
            .map_err(|e| e.map(HandshakeError::Inner))?;
        Ok(inner.map_err(HandshakeError::Inner as fn(_) -> _))
    }

    fn poll(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<TransportEvent<Self::ListenerUpgrade, Self::Error>> {
        let this = self.get_mut();
        let event = futures::ready!(Pin::new(&mut this.inner).poll(cx));
        let shared = this.shared.clone();
        Poll::Ready(match event {
            TransportEvent::Incoming {
                listener_id,
                upgrade,
                local_addr,
                send_back_addr,
            } => {
                let (handle, registration) = AbortHandle::new_pair();
                let ticket = ip_of(&send_back_addr).map(|ip| {
                    let mut s = lock(&shared);
                    let (id, victims) = s.table.admit(Group::of(ip), handle);
                    for (group, victim) in victims {
                        victim.abort();
                        if let Some(repeats) = s.dropped.event(&group) {
                            info!(%group, repeats, in_flight = s.table.len(),
                                "incoming handshakes full: ended the oldest for a newcomer");
                        }
                    }
                    (shared.clone(), id)
                });
                TransportEvent::Incoming {
                    listener_id,
                    upgrade: Admitted {
                        inner: Abortable::new(upgrade.boxed(), registration),
                        ticket,
                    },
                    local_addr,
                    send_back_addr,
                }
            }
            TransportEvent::NewAddress {
                listener_id,
                listen_addr,
            } => TransportEvent::NewAddress {
                listener_id,
                listen_addr,
            },
            TransportEvent::AddressExpired {
                listener_id,
                listen_addr,
            } => TransportEvent::AddressExpired {
                listener_id,
                listen_addr,
            },
            TransportEvent::ListenerClosed {
                listener_id,
                reason,
            } => TransportEvent::ListenerClosed {
                listener_id,
                reason: reason.map_err(HandshakeError::Inner),
            },
            TransportEvent::ListenerError { listener_id, error } => TransportEvent::ListenerError {
                listener_id,
                error: HandshakeError::Inner(error),
            },
        })
    }
}

/// A socket that must send its first bytes within a deadline ([`FIRST_BYTES`] in the node) of
/// its first read, or fail with `TimedOut` (counted as `handshake_silent`). Outbound sockets
/// have no deadline.
pub struct FirstBytes<S> {
    inner: S,
    /// Until the first bytes arrive: the deadline (started at the first read), the counter,
    /// and the address group for the log line.
    waiting: Option<Waiting>,
}

struct Waiting {
    limit: Duration,
    deadline: Option<Pin<Box<tokio::time::Sleep>>>,
    silent: PeerLog<Group>,
    group: Option<Group>,
}

impl<S> FirstBytes<S> {
    /// Wraps the socket of a connection at `endpoint`: a listener's must send within `limit`.
    pub fn new(inner: S, endpoint: &ConnectedPoint, limit: Duration, events: &PeerEvents) -> Self {
        let waiting = match endpoint {
            ConnectedPoint::Listener { send_back_addr, .. } => Some(Waiting {
                limit,
                deadline: None,
                silent: PeerLog::new("handshake_silent", events.clone()),
                group: ip_of(send_back_addr).map(Group::of),
            }),
            ConnectedPoint::Dialer { .. } => None,
        };
        FirstBytes { inner, waiting }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for FirstBytes<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        let read = Pin::new(&mut this.inner).poll_read(cx, buf);
        let Some(w) = this.waiting.as_mut() else {
            return read;
        };
        if read.is_ready() {
            this.waiting = None;
            return read;
        }
        let limit = w.limit;
        let deadline = w
            .deadline
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
        if deadline.as_mut().poll(cx).is_pending() {
            return Poll::Pending;
        }
        if let Some(group) = w.group
            && let Some(repeats) = w.silent.event(&group)
        {
            info!(%group, repeats, "incoming connection sent nothing within {limit:?}: closed");
        }
        this.waiting = None;
        Poll::Ready(Err(io::Error::new(
            io::ErrorKind::TimedOut,
            "incoming connection sent nothing",
        )))
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for FirstBytes<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_close(cx)
    }
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, Ipv6Addr};

    use super::*;

    fn v4(a: u8, b: u8, c: u8, d: u8) -> Group {
        Group::of(IpAddr::V4(Ipv4Addr::new(a, b, c, d)))
    }

    #[test]
    fn groups_are_slash_24_slash_64_and_single_loopback_addresses() {
        assert_eq!(v4(203, 0, 113, 5), v4(203, 0, 113, 77));
        assert_ne!(v4(203, 0, 113, 5), v4(203, 0, 114, 5));
        assert_ne!(v4(127, 0, 0, 2), v4(127, 0, 0, 3));
        let a: Ipv6Addr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: Ipv6Addr = "2001:db8:1:2:bbbb::9".parse().unwrap();
        assert_eq!(Group::of(IpAddr::V6(a)), Group::of(IpAddr::V6(b)));
        let mapped = Ipv4Addr::new(198, 51, 100, 7).to_ipv6_mapped();
        assert_eq!(Group::of(IpAddr::V6(mapped)), v4(198, 51, 100, 1));
        assert_eq!(v4(198, 51, 100, 1).to_string(), "198.51.100.0/24");
        assert_eq!(Group::of(IpAddr::V6(a)).to_string(), "2001:db8:1:2::/64");
    }

    fn table(max: usize, max_per_group: usize) -> Table<u32> {
        Table::new(Limits { max, max_per_group })
    }

    #[test]
    fn a_full_group_gives_up_its_oldest() {
        let mut t = table(10, 2);
        let g = v4(10, 0, 0, 1);
        assert!(t.admit(g, 1).1.is_empty());
        assert!(t.admit(g, 2).1.is_empty());
        assert_eq!(t.admit(g, 3).1, vec![(g, 1)]);
        assert!(
            t.admit(v4(10, 0, 1, 1), 4).1.is_empty(),
            "another group is not"
        );
        assert_eq!(t.len(), 3);
    }

    #[test]
    fn a_full_table_gives_up_the_oldest_of_the_largest_group() {
        let mut t = table(4, 4);
        let (silent, honest, newcomer) = (v4(10, 0, 0, 1), v4(10, 9, 9, 9), v4(10, 7, 7, 7));
        let (honest_id, _) = t.admit(honest, 0);
        for h in 1..=3 {
            assert!(t.admit(silent, h).1.is_empty());
        }
        // full: the newcomer ends the silent group's oldest, never the older honest one
        assert_eq!(t.admit(newcomer, 9).1, vec![(silent, 1)]);
        assert_eq!(t.admit(newcomer, 10).1, vec![(silent, 2)]);
        // now three groups of one or two: the newcomer group holds the most
        assert_eq!(t.admit(silent, 11).1, vec![(newcomer, 9)]);
        t.finish(honest_id);
        t.finish(honest_id);
        assert_eq!(t.len(), 3, "finishing twice is harmless");
    }

    #[test]
    fn silent_sockets_from_many_groups_never_hold_every_slot_against_a_newcomer() {
        // 128 silent sockets from 8 groups against 64 slots, 16 per group; then a newcomer.
        let mut t = table(64, 16);
        for i in 0..128u32 {
            let src = u8::try_from(2 + i % 8).unwrap();
            t.admit(v4(127, 0, 0, src), i);
            assert!(t.len() <= 64);
        }
        let honest = v4(127, 0, 0, 1);
        let (id, victims) = t.admit(honest, 1000);
        assert_eq!(victims.len(), 1);
        assert_ne!(victims[0].0, honest);
        // and the next silent ones do not end it
        for i in 0..64u32 {
            let src = u8::try_from(2 + i % 8).unwrap();
            let (_, v) = t.admit(v4(127, 0, 0, src), 2000 + i);
            assert!(
                v.iter().all(|(g, _)| *g != honest),
                "the honest handshake stays"
            );
        }
        t.finish(id);
    }

    #[tokio::test]
    async fn an_incoming_socket_that_sends_nothing_times_out() {
        use futures::AsyncReadExt;
        use tokio_util::compat::TokioAsyncReadCompatExt;

        let listener: Multiaddr = "/ip4/127.0.0.1/tcp/1".parse().unwrap();
        let from: Multiaddr = "/ip4/127.0.0.2/tcp/2".parse().unwrap();
        let endpoint = ConnectedPoint::Listener {
            local_addr: listener,
            send_back_addr: from,
        };
        let events = PeerEvents::default();
        let (a, _b) = tokio::io::duplex(64);
        let limit = Duration::from_millis(50);
        let mut silent = FirstBytes::new(a.compat(), &endpoint, limit, &events);
        let mut buf = [0u8; 8];
        let err = silent.read(&mut buf).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert_eq!(events.count("handshake_silent"), 1);

        let (a, mut b) = tokio::io::duplex(64);
        let mut talking = FirstBytes::new(a.compat(), &endpoint, limit, &events);
        tokio::io::AsyncWriteExt::write_all(&mut b, b"hi")
            .await
            .unwrap();
        assert_eq!(talking.read(&mut buf).await.unwrap(), 2);
        // past the first bytes there is no deadline
        tokio::time::sleep(limit * 4).await;
        tokio::io::AsyncWriteExt::write_all(&mut b, b"!")
            .await
            .unwrap();
        assert_eq!(talking.read(&mut buf).await.unwrap(), 1);
    }
}
