//! The server's index: every connected client's items, and keyword postings over them.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use weft_core::id::Key256;

use super::{ClientLoad, Hit, Item, Refusal};
use crate::Time;

/// Lowercases, sorts and deduplicates keywords.
pub(crate) fn normalize(keywords: &[String]) -> Vec<String> {
    let mut out: Vec<String> = keywords.iter().map(|k| k.to_lowercase()).collect();
    out.sort();
    out.dedup();
    out
}

#[derive(Clone, Debug)]
struct Stored {
    name: String,
    size: u64,
    /// Sorted, lowercase.
    keywords: Vec<String>,
}

#[derive(Clone, Debug)]
pub(crate) struct Client {
    items: BTreeMap<Key256, Stored>,
    pub(crate) load: ClientLoad,
    /// The ping in flight: nonce and when it was sent.
    pub(crate) ping: Option<(u64, Time)>,
}

impl Client {
    /// Napster's "best peer": longer connected (capped at a day) and faster to answer pings
    /// ranks higher. Unmeasured peers count as 500 ms.
    fn score(&self, now: Time) -> u64 {
        let uptime = now
            .saturating_since(self.load.connected_at)
            .as_secs()
            .min(86_400);
        let rtt_ms = self
            .load
            .rtt
            .map_or(500, |d| d.as_millis().min(60_000) as u64);
        (uptime + 60) * 1000 / (rtt_ms + 10)
    }
}

/// Limits the index enforces.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Limits {
    pub(crate) per_client: usize,
    pub(crate) total: usize,
    pub(crate) clients: usize,
    pub(crate) scan: usize,
}

#[derive(Clone, Debug)]
pub(crate) struct Index<A> {
    clients: BTreeMap<A, Client>,
    postings: BTreeMap<String, BTreeSet<(A, Key256)>>,
    items: usize,
    posting_count: usize,
    limits: Limits,
}

impl<A: Copy + Ord> Index<A> {
    pub(crate) fn new(limits: Limits) -> Self {
        Index {
            clients: BTreeMap::new(),
            postings: BTreeMap::new(),
            items: 0,
            posting_count: 0,
            limits,
        }
    }

    pub(crate) fn clients(&self) -> usize {
        self.clients.len()
    }

    pub(crate) fn items(&self) -> usize {
        self.items
    }

    pub(crate) fn postings(&self) -> usize {
        self.posting_count
    }

    pub(crate) fn client(&self, peer: &A) -> Option<&Client> {
        self.clients.get(peer)
    }

    pub(crate) fn client_mut(&mut self, peer: &A) -> Option<&mut Client> {
        self.clients.get_mut(peer)
    }

    pub(crate) fn client_addrs(&self) -> impl Iterator<Item = A> + '_ {
        self.clients.keys().copied()
    }

    /// Registers a connected client.
    pub(crate) fn connect(&mut self, peer: A, now: Time) -> Result<(), Refusal> {
        if self.clients.contains_key(&peer) {
            return Ok(());
        }
        if self.clients.len() >= self.limits.clients {
            return Err(Refusal::ServerFull);
        }
        let load = ClientLoad {
            connected_at: now,
            ..ClientLoad::default()
        };
        self.clients.insert(
            peer,
            Client {
                items: BTreeMap::new(),
                load,
                ping: None,
            },
        );
        Ok(())
    }

    /// Drops a client and all its items; returns how many items went.
    pub(crate) fn disconnect(&mut self, peer: A) -> usize {
        let Some(c) = self.clients.remove(&peer) else {
            return 0;
        };
        let n = c.items.len();
        for (hash, item) in c.items {
            self.unindex(peer, hash, &item);
        }
        n
    }

    fn unindex(&mut self, peer: A, hash: Key256, item: &Stored) {
        self.items -= 1;
        for k in &item.keywords {
            if let Some(set) = self.postings.get_mut(k) {
                if set.remove(&(peer, hash)) {
                    self.posting_count -= 1;
                }
                if set.is_empty() {
                    self.postings.remove(k);
                }
            }
        }
    }

    /// Adds or replaces `items` of `peer`, all or none.
    pub(crate) fn publish(&mut self, peer: A, items: Vec<Item>) -> Result<usize, Refusal> {
        let Some(c) = self.clients.get(&peer) else {
            return Err(Refusal::NotConnected);
        };
        let fresh: BTreeSet<Key256> = items
            .iter()
            .map(|i| i.hash)
            .filter(|h| !c.items.contains_key(h))
            .collect();
        if c.items.len() + fresh.len() > self.limits.per_client
            || self.items + fresh.len() > self.limits.total
        {
            return Err(Refusal::Full);
        }
        let n = items.len();
        for item in items {
            self.unpublish(peer, &[item.hash]);
            let stored = Stored {
                name: item.name,
                size: item.size,
                keywords: normalize(&item.keywords),
            };
            for k in &stored.keywords {
                if self
                    .postings
                    .entry(k.clone())
                    .or_default()
                    .insert((peer, item.hash))
                {
                    self.posting_count += 1;
                }
            }
            self.items += 1;
            if let Some(c) = self.clients.get_mut(&peer) {
                c.items.insert(item.hash, stored);
                c.load.items = c.items.len() as u64;
            }
        }
        Ok(n)
    }

    /// Removes the items of `peer` with these hashes; returns how many were there.
    pub(crate) fn unpublish(&mut self, peer: A, hashes: &[Key256]) -> usize {
        let mut removed = Vec::new();
        if let Some(c) = self.clients.get_mut(&peer) {
            for h in hashes {
                if let Some(item) = c.items.remove(h) {
                    removed.push((*h, item));
                }
            }
            c.load.items = c.items.len() as u64;
        }
        let n = removed.len();
        for (h, item) in removed {
            self.unindex(peer, h, &item);
        }
        n
    }

    /// Items of other peers carrying all `keywords` (normalized), best peers first, at most
    /// `max`; also returns whether more matched (beyond `max`, or past the scan bound) and the
    /// postings examined.
    pub(crate) fn query(
        &self,
        asker: A,
        keywords: &[String],
        max: usize,
        now: Time,
    ) -> (Vec<Hit<A>>, bool, usize) {
        if keywords.is_empty() || max == 0 {
            return (Vec::new(), false, 0);
        }
        let mut lists = Vec::with_capacity(keywords.len());
        for k in keywords {
            match self.postings.get(k) {
                Some(l) => lists.push(l),
                None => return (Vec::new(), false, 0),
            }
        }
        let Some(shortest) = lists.iter().min_by_key(|l| l.len()) else {
            return (Vec::new(), false, 0);
        };
        let mut scanned = 0;
        let mut scores: BTreeMap<A, u64> = BTreeMap::new();
        let mut found: Vec<(u64, A, Key256)> = Vec::new();
        let mut unscanned = false;
        for (peer, hash) in shortest.iter() {
            if scanned >= self.limits.scan {
                unscanned = true;
                break;
            }
            scanned += 1;
            if *peer == asker {
                continue;
            }
            let Some(c) = self.clients.get(peer) else {
                continue;
            };
            let Some(item) = c.items.get(hash) else {
                continue;
            };
            if keywords
                .iter()
                .all(|k| item.keywords.binary_search(k).is_ok())
            {
                let score = *scores.entry(*peer).or_insert_with(|| c.score(now));
                found.push((score, *peer, *hash));
            }
        }
        found.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)));
        let more = unscanned || found.len() > max;
        found.truncate(max);
        let hits = found
            .into_iter()
            .filter_map(|(score, peer, hash)| {
                let item = self.clients.get(&peer)?.items.get(&hash)?;
                Some(Hit {
                    peer,
                    hash,
                    name: item.name.clone(),
                    size: item.size,
                    score,
                })
            })
            .collect();
        (hits, more, scanned)
    }

    /// Folds a measured round trip into the client's smoothed figure (weight 1/4).
    pub(crate) fn observe_rtt(&mut self, peer: A, rtt: Duration) {
        if let Some(c) = self.clients.get_mut(&peer) {
            c.load.rtt = Some(match c.load.rtt {
                Some(old) => (old * 3 + rtt) / 4,
                None => rtt,
            });
        }
    }
}
