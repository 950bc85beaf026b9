//! Finding the providers of a content and proving its size: what a download and the
//! gateway both start with.
//!
//! `Sources::discover` keeps looking in the background (sources of recent search results,
//! the DHT's providers of the hash, a flood query for `urn:<hash>`, again after a pause) and
//! hands on each provider it finds; `Sources::first_sized` probes them as they come until
//! one proves the content's size ([`content::probe_size`]). A provider whose probe does not
//! verify is bad for the rest of the run.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use futures::StreamExt;
use tokio::sync::mpsc;
use tokio::task::AbortHandle;
use tracing::{info, warn};
use weft_core::id::Key256;
use weft_net::PeerId;
use weft_overlay::flood::Criteria;

use super::Share;
use super::content::{self, FetchError};
use super::error::NoSourceError;

/// How long a flood query for a hash collects hits.
const FLOOD_WAIT: Duration = Duration::from_secs(3);
/// Providers found and not yet taken, at most (discovery waits while the queue is full).
const FOUND_QUEUE: usize = 256;
/// A source whose probe failed is not probed again before this.
const PROBE_AGAIN_AFTER: Duration = Duration::from_secs(2);

/// The providers of one content, as discovery finds them. Dropping it stops the discovery.
pub(crate) struct Sources {
    hash: Key256,
    found: mpsc::Receiver<PeerId>,
    bad: BTreeSet<PeerId>,
    _discovery: AbortOnDrop,
}

impl Sources {
    /// Starts looking for providers of `hash`.
    pub fn discover(share: &Share, hash: Key256) -> Self {
        let (tx, found) = mpsc::channel(FOUND_QUEUE);
        let discovery = tokio::spawn(discover(share.clone(), hash, tx));
        Sources {
            hash,
            found,
            bad: BTreeSet::new(),
            _discovery: AbortOnDrop(discovery.abort_handle()),
        }
    }

    /// The next provider found (it may be one found before: discovery repeats itself).
    /// Cancel-safe.
    pub async fn next(&mut self) -> Option<PeerId> {
        self.found.recv().await
    }

    /// Whether `peer` sent data that does not match the hash in this run.
    pub fn is_bad(&self, peer: &PeerId) -> bool {
        self.bad.contains(peer)
    }

    /// Probes providers as they are found, all at once, until one proves the size within
    /// `timeout`; returns the size and the providers: the one that proved it first, then those
    /// still being probed (sources too: whoever uses them drops those that fail). `on_bad` is
    /// told of each provider whose probe did not verify.
    ///
    /// # Errors
    /// A one-line reason when no provider proved the size in time.
    pub async fn first_sized(
        &mut self,
        share: &Share,
        timeout: Duration,
        mut on_bad: impl FnMut(PeerId),
    ) -> Result<(u64, Vec<PeerId>), NoSourceError> {
        let hash = self.hash;
        let deadline = Instant::now() + timeout;
        // Sources whose probe failed, not probed again before the time given.
        let mut failed: BTreeMap<PeerId, Instant> = BTreeMap::new();
        // Candidates are probed at once, as they are found: a stale provider that no longer
        // answers (a dial waits up to 10 s) must not hold up the others.
        let mut probes = futures::stream::FuturesUnordered::new();
        let mut probing: BTreeSet<PeerId> = BTreeSet::new();
        let (size, first) = loop {
            tokio::select! {
                next = self.found.recv() => {
                    let Some(peer) = next else {
                        return Err(NoSourceError::Ended(hash));
                    };
                    let waiting = failed.get(&peer).is_some_and(|t| *t > Instant::now());
                    if waiting || self.bad.contains(&peer) || !probing.insert(peer) {
                        continue;
                    }
                    probes.push(async move { (peer, content::probe_size(share, peer, hash).await) });
                }
                Some((peer, result)) = probes.next(), if !probes.is_empty() => {
                    probing.remove(&peer);
                    match result {
                        Ok(size) => break (size, peer),
                        Err(e) => {
                            info!(%peer, %hash, "source refused or failed the size probe: {e}");
                            if e == FetchError::Corrupt {
                                warn!(%peer, %hash, "source sent data that does not match the hash; banned");
                                on_bad(peer);
                                self.bad.insert(peer);
                            }
                            failed.insert(peer, Instant::now() + PROBE_AGAIN_AFTER);
                        }
                    }
                }
                () = tokio::time::sleep_until(deadline.into()), if probes.is_empty() => {
                    return Err(NoSourceError::Timeout {
                        hash,
                        secs: timeout.as_secs(),
                    });
                }
            }
        };
        let mut peers = vec![first];
        peers.extend(probing);
        Ok((size, peers))
    }
}

struct AbortOnDrop(AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Keeps sending providers of `hash` as it finds them, until the receiver is dropped: sources
/// of recent search results, then the DHT's providers, then the responders of a flood query
/// as their hits arrive; again after a pause, in case the network grows.
async fn discover(share: Share, hash: Key256, tx: mpsc::Sender<PeerId>) {
    let local = share.local_peer_id();
    let send = |peers: Vec<PeerId>| {
        let tx = tx.clone();
        async move {
            for p in peers.into_iter().filter(|p| *p != local) {
                if tx.send(p).await.is_err() {
                    return false;
                }
            }
            true
        }
    };
    let mut round = 0u32;
    loop {
        let recent = share.recent().peers(&hash);
        if !send(recent).await {
            return;
        }
        let dht = share.overlay().dht.providers(hash);
        if let Ok(Ok(peers)) = tokio::time::timeout(Duration::from_secs(10), dht).await
            && !send(peers).await
        {
            return;
        }
        let criteria = Criteria {
            keywords: Vec::new(),
            hash: Some(hash),
            max_items: 1,
        };
        if let Ok(mut hits) = share.overlay().flood.query(criteria, None).await {
            let collect = async {
                while let Some(h) = hits.recv().await {
                    if h.items.iter().any(|i| i.hash == hash) && !send(vec![h.responder]).await {
                        return false;
                    }
                }
                true
            };
            if let Ok(false) = tokio::time::timeout(FLOOD_WAIT, collect).await {
                return;
            }
        }
        round += 1;
        let pause = if round < 5 { 1 } else { 5 };
        tokio::time::sleep(Duration::from_secs(pause)).await;
    }
}
