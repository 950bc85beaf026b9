//! Per-peer counts of a bounded resource (upload slots, inbound content streams): a peer takes
//! a [`Ticket`] when a rule allows it, and the ticket gives its unit back when dropped.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex};

use futures::StreamExt as _;
use weft_net::PeerId;
use weft_net::libp2p::Stream;

/// How many units each peer holds now.
#[derive(Clone, Default)]
pub struct PerPeer(Arc<Mutex<BTreeMap<PeerId, u32>>>);

/// The counts a rule sees when a peer asks for one more unit.
#[derive(Clone, Copy, Debug)]
pub struct Counts {
    /// Units held by all peers together.
    pub total: u32,
    /// Peers holding units, counting the one asking.
    pub holders: u32,
    /// Units the peer asking holds.
    pub mine: u32,
}

/// One unit held by a peer; returned on drop.
pub struct Ticket {
    counts: Arc<Mutex<BTreeMap<PeerId, u32>>>,
    peer: PeerId,
}

impl PerPeer {
    /// Takes a unit for `peer` if `allow` accepts the counts as they stand.
    pub fn take(&self, peer: PeerId, allow: impl FnOnce(Counts) -> bool) -> Option<Ticket> {
        let mut held = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let counts = Counts {
            total: held.values().sum(),
            holders: u32::try_from(held.len() + usize::from(!held.contains_key(&peer)))
                .unwrap_or(u32::MAX),
            mine: held.get(&peer).copied().unwrap_or(0),
        };
        if !allow(counts) {
            return None;
        }
        *held.entry(peer).or_insert(0) += 1;
        Some(Ticket {
            counts: self.0.clone(),
            peer,
        })
    }

    /// Whether no peer holds anything.
    pub fn is_empty(&self) -> bool {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).is_empty()
    }
}

/// Accepts the inbound streams of one protocol and runs `serve` on each in its own task, with
/// at most `max_total` open at once and `max_per_peer` from one peer; a stream over either
/// bound is dropped (reset) and logged at debug level as `what`.
pub fn spawn_bounded_server<F, Fut>(
    mut incoming: weft_net::inbound::IncomingStreams,
    what: &'static str,
    max_total: u32,
    max_per_peer: u32,
    serve: F,
) where
    F: Fn(PeerId, Stream) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let streams = PerPeer::default();
    tokio::spawn(async move {
        while let Some((peer, stream)) = incoming.next().await {
            let open = streams.take(peer, |c| c.total < max_total && c.mine < max_per_peer);
            let Some(open) = open else {
                tracing::debug!(%peer, "{what} stream dropped: too many from this peer or in all");
                continue;
            };
            let served = serve(peer, stream);
            tokio::spawn(async move {
                let _open = open;
                served.await;
            });
        }
    });
}

impl Drop for Ticket {
    fn drop(&mut self) {
        let mut held = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = held.get_mut(&self.peer) {
            *n -= 1;
            if *n == 0 {
                held.remove(&self.peer);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rule_sees_the_counts_and_tickets_give_units_back() {
        let pp = PerPeer::default();
        let (a, b) = (PeerId::random(), PeerId::random());
        let at_most_two = |c: Counts| c.mine < 2;
        let held: Vec<Ticket> = (0..2).map(|_| pp.take(a, at_most_two).unwrap()).collect();
        assert!(pp.take(a, at_most_two).is_none());
        let mut seen = None;
        let other = pp.take(b, |c| {
            seen = Some(c);
            true
        });
        let seen = seen.unwrap();
        assert_eq!((seen.total, seen.holders, seen.mine), (2, 2, 0));
        drop(held);
        assert!(pp.take(a, at_most_two).is_some());
        drop(other);
        assert!(pp.is_empty(), "every unit is given back");
    }
}
