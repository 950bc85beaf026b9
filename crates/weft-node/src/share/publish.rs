//! Telling the overlays what this node shares, whenever the index changes:
//!
//! - directory (Napster): the items (hash, name, size, keywords) go to the directory server;
//!   the overlay re-sends them on every reconnect; removed contents are unpublished;
//! - flood (Gnutella): the keywords and `urn:<hash>` of every content become the route table
//!   (QRP) the leaf sends its ultrapeers;
//! - DHT: a distributed inverted index. Under each keyword's key ([`keyword_key`]) this node
//!   posts one [`KeywordPosting`] `{hash, name, size}` per content with that keyword (at
//!   most the index's `MAX_KEYWORDS` keywords per content, [`MAX_POSTINGS_PER_STORE`] contents
//!   per keyword, [`MAX_POSTINGS`] postings in all), and it becomes a provider of every
//!   content hash. The Kademlia engine republishes both before they expire. A keyword whose
//!   contents changed is posted again (the new set replaces the old one on the holders); a
//!   keyword left with no content is withdrawn; a hash no longer shared is no longer provided
//!   (its records on other nodes expire, not renewed); postings of a node that stopped expire.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use serde::{Deserialize, Serialize};
use tracing::{debug, info};
use weft_core::id::Key256;
use weft_overlay::directory::Item;
use weft_overlay::flood::hash_keyword;
use weft_overlay::kademlia::{MAX_POSTING_LEN, MAX_POSTINGS_PER_STORE, PostingValue};
use weft_share::index::{ContentEntry, Index};

use super::Share;

/// Contents read from the index per page.
const PAGE: usize = 256;
/// Contents published at most (the directory engine takes 10 000 per client).
const MAX_PUBLISHED: usize = 10_000;
/// Keywords posted on the DHT and sent as a flood route table at most.
const MAX_KEYWORDS: usize = 20_000;
/// How often the publisher retries what the DHT refused.
const RETRY_EVERY: Duration = Duration::from_secs(10);
/// How often the publisher looks for a first peer while it has something to send.
const PEER_POLL: Duration = Duration::from_millis(200);
/// Least time between two re-provides of everything (see the publisher loop).
const REPROVIDE_EVERY: Duration = Duration::from_secs(15);
/// Longest keyword published (the overlays' bound).
const MAX_KEYWORD_LEN: usize = 64;
/// Postings published on the DHT at most, all keywords together (the engine's default
/// `max_published_postings`).
pub const MAX_POSTINGS: usize = 65_536;
/// Largest content size a posting may announce (1 PiB); larger is garbage.
pub const MAX_POSTED_SIZE: u64 = 1 << 50;
/// Keyword sets sent to the DHT at once.
const POSTING_PUTS: usize = 8;

/// The DHT key under which the postings of contents with `keyword` are found.
pub fn keyword_key(keyword: &str) -> Key256 {
    Key256::hash(format!("weft-kw:{keyword}").as_bytes())
}

/// One posting of the DHT's inverted index: a content its publisher shares, under each of
/// the content's keywords. Encoded with `weft_core::wire` in at most [`MAX_POSTING_LEN`]
/// bytes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeywordPosting {
    /// The content hash.
    pub hash: Key256,
    /// A name of the content, at most `weft_share::wire::MAX_NAME_BYTES` bytes.
    pub name: String,
    /// The content size, 0 (an empty file is content too) to [`MAX_POSTED_SIZE`].
    pub size: u64,
}

impl KeywordPosting {
    /// The posting of `entry` (its first name, truncated), `None` for a size that would be
    /// refused.
    pub fn of(entry: &ContentEntry) -> Option<KeywordPosting> {
        let name = entry.names.first().map(String::as_str).unwrap_or_default();
        let p = KeywordPosting {
            hash: entry.hash,
            name: weft_share::wire::truncate(name, weft_share::wire::MAX_NAME_BYTES),
            size: entry.size,
        };
        p.valid().then_some(p)
    }

    fn valid(&self) -> bool {
        self.size <= MAX_POSTED_SIZE && self.name.len() <= weft_share::wire::MAX_NAME_BYTES
    }

    /// The bytes posted.
    pub fn encode(&self) -> Option<Vec<u8>> {
        weft_core::wire::encode(self, MAX_POSTING_LEN).ok()
    }

    /// A posting from the DHT: `None` if it does not decode or says something impossible
    /// (size over [`MAX_POSTED_SIZE`], name too long).
    pub fn decode(bytes: &[u8]) -> Option<KeywordPosting> {
        let p: KeywordPosting = weft_core::wire::decode(bytes, MAX_POSTING_LEN).ok()?;
        p.valid().then_some(p)
    }
}

/// What this node posts under each keyword key: one value per content with the keyword,
/// its id taken from the hash (made unique within the set).
fn posting_sets(
    entries: &[ContentEntry],
    keywords: &BTreeSet<String>,
) -> BTreeMap<Key256, Vec<PostingValue>> {
    let mut sets: BTreeMap<Key256, Vec<PostingValue>> = BTreeMap::new();
    let mut total = 0usize;
    for e in entries {
        let Some(value) = KeywordPosting::of(e).and_then(|p| p.encode()) else {
            continue;
        };
        let words = e
            .keywords
            .iter()
            .filter(|k| usable(k) && keywords.contains(*k))
            .take(weft_share::index::MAX_KEYWORDS);
        for k in words {
            if total >= MAX_POSTINGS {
                return sets;
            }
            let set = sets.entry(keyword_key(k)).or_default();
            if set.len() >= MAX_POSTINGS_PER_STORE {
                continue;
            }
            let mut id = u32::try_from(e.hash.prefix_u64() >> 32).unwrap_or_default();
            while set.iter().any(|v| v.id == id) {
                id = id.wrapping_add(1);
            }
            set.push(PostingValue {
                id,
                value: value.clone(),
            });
            total += 1;
        }
    }
    sets
}

/// Everything the index holds, as the overlays want it.
fn snapshot(share: &Share) -> Vec<ContentEntry> {
    let conn = share.db();
    let index = Index::new(&conn);
    let mut out = Vec::new();
    let mut after = None;
    while out.len() < MAX_PUBLISHED {
        let page = match index.contents(after, PAGE) {
            Ok(p) => p,
            Err(e) => {
                debug!("publish: {e}");
                break;
            }
        };
        let Some(last) = page.last() else { break };
        after = Some(last.hash);
        out.extend(page);
    }
    out.truncate(MAX_PUBLISHED);
    out
}

/// Whether `k` is a keyword the overlays accept (not empty, at most [`MAX_KEYWORD_LEN`]).
pub(crate) fn usable(k: &str) -> bool {
    !k.is_empty() && k.len() <= MAX_KEYWORD_LEN
}

/// Runs the publisher: once at start and after every change of the index.
pub(crate) fn spawn(share: Share) {
    tokio::spawn(async move {
        let mut published: BTreeSet<Key256> = BTreeSet::new();
        let provided: Arc<Mutex<BTreeSet<Key256>>> = Arc::default();
        // keyword key -> the set the DHT holds for us (as far as we know)
        let posted: Arc<Mutex<BTreeMap<Key256, Vec<PostingValue>>>> = Arc::default();
        let mut posting: Option<tokio::task::JoinHandle<()>> = None;
        let mut last_route: Vec<String> = Vec::new();
        let mut first = true;
        let mut last_peers = 0usize;
        let mut last_reprovide = std::time::Instant::now();
        // What waits for a first peer is sent as soon as one connects, not a round later.
        let mut waiting_for_peers = false;
        loop {
            if !first {
                // Woken by a change, or now and then to retry what the DHT refused.
                let pause = if waiting_for_peers {
                    PEER_POLL
                } else {
                    RETRY_EVERY
                };
                tokio::select! {
                    () = share.index_change() => {}
                    () = tokio::time::sleep(pause) => {}
                }
            }
            first = false;
            waiting_for_peers = false;
            // In a small network, provider records only reach the peers connected when they
            // were made: provide everything again when the network has grown (at most every
            // REPROVIDE_EVERY), instead of waiting for the engine's hourly republish.
            let peers = share.net().state().peers.len();
            let no_peers = peers == 0;
            if peers > last_peers && last_reprovide.elapsed() >= REPROVIDE_EVERY {
                last_peers = peers;
                last_reprovide = std::time::Instant::now();
                provided.lock().unwrap_or_else(|p| p.into_inner()).clear();
                // sent again below; keys to withdraw are kept
                for set in posted
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .values_mut()
                {
                    set.clear();
                }
            }
            let s = share.clone();
            let Ok(entries) = tokio::task::spawn_blocking(move || snapshot(&s)).await else {
                continue;
            };
            let now: BTreeSet<Key256> = entries.iter().map(|e| e.hash).collect();
            let overlay = share.overlay().clone();
            if let Some(dir) = overlay.directory.as_ref().filter(|d| !d.is_server()) {
                let added: Vec<Item> = entries
                    .iter()
                    .filter(|e| !published.contains(&e.hash))
                    .map(|e| Item {
                        hash: e.hash,
                        name: e.names.first().cloned().unwrap_or_default(),
                        size: e.size,
                        keywords: e
                            .keywords
                            .iter()
                            .filter(|k| usable(k))
                            .take(weft_share::index::MAX_KEYWORDS)
                            .cloned()
                            .collect(),
                    })
                    .collect();
                let removed: Vec<Key256> = published.difference(&now).copied().collect();
                if !removed.is_empty() {
                    let _ = dir.unpublish(removed).await;
                }
                if !added.is_empty() {
                    info!(items = added.len(), "publishing to the directory");
                    let _ = dir.publish(added).await;
                }
                published.clone_from(&now);
            }
            let mut keywords: BTreeSet<String> = BTreeSet::new();
            for e in &entries {
                for k in e.keywords.iter().filter(|k| usable(k)) {
                    if keywords.len() < MAX_KEYWORDS {
                        keywords.insert(k.clone());
                    }
                }
            }
            let mut route: Vec<String> = keywords.iter().cloned().collect();
            route.extend(entries.iter().map(|e| hash_keyword(&e.hash)));
            route.truncate(MAX_KEYWORDS);
            if route != last_route {
                last_route.clone_from(&route);
                let _ = overlay.flood.set_keywords(route).await;
            }
            // DHT postings: send the keyword sets that changed, withdraw the keywords gone, in
            // the background (each is a lookup); one round at a time.
            if posting
                .as_ref()
                .is_none_or(tokio::task::JoinHandle::is_finished)
            {
                let wanted = posting_sets(&entries, &keywords);
                let puts: Vec<(Key256, Vec<PostingValue>)> = {
                    let done = posted.lock().unwrap_or_else(|p| p.into_inner());
                    let changed = wanted
                        .iter()
                        .filter(|(k, set)| done.get(*k) != Some(*set))
                        .map(|(k, set)| (*k, set.clone()));
                    let gone = done
                        .keys()
                        .filter(|k| !wanted.contains_key(*k))
                        .map(|k| (*k, Vec::new()));
                    changed.chain(gone).collect()
                };
                if no_peers {
                    // Posted when the first peer connects.
                    waiting_for_peers |= !puts.is_empty();
                } else if !puts.is_empty() {
                    let dht = overlay.dht.clone();
                    let posted = posted.clone();
                    posting = Some(tokio::spawn(async move {
                        let n = puts.len();
                        let ok = futures::stream::iter(puts)
                            .map(|(key, set)| {
                                let dht = dht.clone();
                                async move { (key, dht.put_postings(key, set.clone()).await, set) }
                            })
                            .buffer_unordered(POSTING_PUTS)
                            .filter_map(|(key, result, set)| {
                                let posted = posted.clone();
                                async move {
                                    // a failure keeps the old state: retried next round
                                    if let Err(e) = result {
                                        debug!(%key, "posting on the DHT: {e}");
                                        return None;
                                    }
                                    let mut done = posted.lock().unwrap_or_else(|p| p.into_inner());
                                    if set.is_empty() {
                                        done.remove(&key);
                                    } else {
                                        done.insert(key, set);
                                    }
                                    Some(())
                                }
                            })
                            .count()
                            .await;
                        debug!(keywords = n, ok, "posted on the DHT");
                    }));
                }
            }
            // DHT: stop providing hashes no longer shared (a file edited or removed), so the
            // engine stops republishing them; then provide new hashes, in the background
            // (each is a lookup).
            let withdrawn: Vec<Key256> = {
                let mut done = provided.lock().unwrap_or_else(|p| p.into_inner());
                let gone: Vec<Key256> = done.difference(&now).copied().collect();
                for key in &gone {
                    done.remove(key);
                }
                gone
            };
            for key in withdrawn {
                let _ = overlay.dht.stop_providing(key).await;
            }
            let mut keys: Vec<Key256> = Vec::new();
            {
                let mut done = provided.lock().unwrap_or_else(|p| p.into_inner());
                for e in &entries {
                    if done.len() + keys.len() >= MAX_PUBLISHED {
                        break;
                    }
                    if !done.contains(&e.hash) {
                        keys.push(e.hash);
                    }
                }
                if no_peers {
                    // Provided when the first peer connects.
                    waiting_for_peers |= !keys.is_empty();
                    keys.clear();
                }
                done.extend(keys.iter().copied());
            }
            if !keys.is_empty() {
                let dht = overlay.dht.clone();
                let provided = provided.clone();
                tokio::spawn(async move {
                    let mut ok = 0usize;
                    for key in &keys {
                        if dht.provide(*key).await.is_ok() {
                            ok += 1;
                        } else {
                            // Retried on the next round.
                            provided
                                .lock()
                                .unwrap_or_else(|p| p.into_inner())
                                .remove(key);
                        }
                    }
                    debug!(keys = keys.len(), ok, "provided on the DHT");
                });
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(name: &str, size: u64, keywords: &[&str]) -> ContentEntry {
        ContentEntry {
            hash: Key256::hash(name.as_bytes()),
            size,
            names: vec![name.to_string()],
            mime: String::new(),
            keywords: keywords.iter().map(|k| (*k).to_string()).collect(),
        }
    }

    #[test]
    fn postings_round_trip_and_refuse_garbage() {
        let e = entry(&"x".repeat(1000), 42, &["x"]);
        let p = KeywordPosting::of(&e).unwrap();
        assert!(p.name.len() <= weft_share::wire::MAX_NAME_BYTES);
        let bytes = p.encode().unwrap();
        assert!(bytes.len() <= MAX_POSTING_LEN);
        assert_eq!(KeywordPosting::decode(&bytes), Some(p.clone()));
        assert_eq!(KeywordPosting::decode(&bytes[..bytes.len() - 1]), None);
        assert_eq!(KeywordPosting::decode(b"garbage"), None);
        let bad = KeywordPosting {
            size: MAX_POSTED_SIZE + 1,
            ..p.clone()
        };
        let bytes = weft_core::wire::encode(&bad, MAX_POSTING_LEN).unwrap();
        assert_eq!(KeywordPosting::decode(&bytes), None);
        assert!(KeywordPosting::of(&entry("a", MAX_POSTED_SIZE + 1, &["a"])).is_none());
        // An empty file is posted like any other.
        let empty = KeywordPosting::of(&entry("empty", 0, &["empty"])).unwrap();
        assert_eq!(
            KeywordPosting::decode(&empty.encode().unwrap()),
            Some(empty)
        );
    }

    #[test]
    fn one_set_per_keyword_bounded() {
        let mut entries: Vec<ContentEntry> = (0..MAX_POSTINGS_PER_STORE + 36)
            .map(|i| entry(&format!("song {i}"), 10, &["song", &format!("n{i}")]))
            .collect();
        entries.push(entry("empty", 0, &["song", "empty"]));
        let keywords: BTreeSet<String> = entries
            .iter()
            .flat_map(|e| e.keywords.iter().cloned())
            .collect();
        let sets = posting_sets(&entries, &keywords);
        assert_eq!(sets[&keyword_key("song")].len(), MAX_POSTINGS_PER_STORE);
        assert_eq!(sets[&keyword_key("n7")].len(), 1);
        assert_eq!(
            sets[&keyword_key("empty")].len(),
            1,
            "an empty file is posted"
        );
        for set in sets.values() {
            let ids: BTreeSet<u32> = set.iter().map(|v| v.id).collect();
            assert_eq!(ids.len(), set.len(), "ids unique within a set");
        }
        let p = KeywordPosting::decode(&sets[&keyword_key("n7")][0].value).unwrap();
        assert_eq!((p.name.as_str(), p.size), ("song 7", 10));
        // keywords outside the published set are not posted
        let few: BTreeSet<String> = ["song".to_string()].into();
        assert_eq!(posting_sets(&entries, &few).len(), 1);
    }
}
