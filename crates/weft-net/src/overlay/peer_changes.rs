//! Connection changes on their way to one overlay driver, never lost.
//!
//! The swarm reports connects, disconnects and unreachable peers faster than a busy driver may
//! take them. A bounded queue would have to drop some, and the engine's picture of who is
//! connected would then disagree with the network's until the peer's next change. Here a
//! change replaces the one still waiting for the same peer (the driver needs the latest fact
//! about each peer, not the history), so the backlog is bounded by the number of peers and
//! nothing the driver needs is dropped.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use libp2p::PeerId;
use tokio::sync::Notify;

use weft_overlay::PeerEvent;

/// The changes waiting for one driver, the latest per peer. Cheap to clone; every clone posts
/// to the same driver.
#[derive(Clone, Default)]
pub(crate) struct PeerChanges {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    pending: Mutex<BTreeMap<PeerId, PeerEvent>>,
    posted: Notify,
}

impl PeerChanges {
    /// Records `change` for `peer`, replacing one not yet taken.
    pub(crate) fn post(&self, peer: PeerId, change: PeerEvent) {
        self.pending().insert(peer, change);
        self.inner.posted.notify_one();
    }

    /// Waits for changes and takes every one waiting, in peer order.
    pub(crate) async fn take(&self) -> Vec<(PeerId, PeerEvent)> {
        loop {
            let batch: Vec<_> = std::mem::take(&mut *self.pending()).into_iter().collect();
            if !batch.is_empty() {
                return batch;
            }
            // `notify_one` keeps a permit when nobody waits, so a post between the take above
            // and this wait is not missed.
            self.inner.posted.notified().await;
        }
    }

    fn pending(&self) -> std::sync::MutexGuard<'_, BTreeMap<PeerId, PeerEvent>> {
        self.inner.pending.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_flood_of_changes_keeps_the_latest_per_peer_and_loses_none() {
        let changes = PeerChanges::default();
        let peers: Vec<PeerId> = (0..3).map(|_| PeerId::random()).collect();
        // Far more changes than any queue bound, with no reader.
        for round in 0..10_000 {
            for p in &peers {
                let change = if round % 2 == 0 {
                    PeerEvent::Connected
                } else {
                    PeerEvent::Disconnected
                };
                changes.post(*p, change);
            }
        }
        changes.post(peers[1], PeerEvent::Unreachable);
        let got: BTreeMap<_, _> = changes.take().await.into_iter().collect();
        assert_eq!(got.len(), 3);
        assert_eq!(got[&peers[0]], PeerEvent::Disconnected);
        assert_eq!(got[&peers[1]], PeerEvent::Unreachable);
        assert_eq!(got[&peers[2]], PeerEvent::Disconnected);
    }

    #[tokio::test]
    async fn a_waiting_driver_wakes_for_a_post() {
        let changes = PeerChanges::default();
        let peer = PeerId::random();
        let reader = tokio::spawn({
            let changes = changes.clone();
            async move { changes.take().await }
        });
        tokio::task::yield_now().await;
        changes.post(peer, PeerEvent::Connected);
        let got = tokio::time::timeout(std::time::Duration::from_secs(10), reader)
            .await
            .expect("woken")
            .expect("joined");
        assert_eq!(got, vec![(peer, PeerEvent::Connected)]);
    }
}
