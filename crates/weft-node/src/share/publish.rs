//! Telling the overlays what this node shares, whenever the index changes:
//!
//! - directory (Napster): the items (hash, name, size, keywords) go to the directory server;
//!   the overlay re-sends them on every reconnect; removed contents are unpublished;
//! - flood (Gnutella): the keywords and `urn:<hash>` of every content become the route table
//!   (QRP) the leaf sends its ultrapeers;
//! - DHT: this node becomes a provider of every content hash and of every keyword's key
//!   ([`keyword_key`]); the Kademlia engine republishes provider records before they expire.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tracing::{debug, info};
use weft_core::id::Key256;
use weft_overlay::directory::Item;
use weft_overlay::flood::hash_keyword;
use weft_share::index::{ContentEntry, Index};

use super::Share;

/// Contents read from the index per page.
const PAGE: usize = 256;
/// Contents published at most (the directory engine takes 10 000 per client).
const MAX_PUBLISHED: usize = 10_000;
/// Keywords provided on the DHT and sent as a flood route table at most.
const MAX_KEYWORDS: usize = 20_000;
/// How often the publisher retries what the DHT refused.
const RETRY_EVERY: Duration = Duration::from_secs(10);
/// Least time between two re-provides of everything (see the publisher loop).
const REPROVIDE_EVERY: Duration = Duration::from_secs(15);
/// Longest keyword published (the overlays' bound).
const MAX_KEYWORD_LEN: usize = 64;

/// The DHT key under which the providers of files with `keyword` are found.
pub fn keyword_key(keyword: &str) -> Key256 {
    Key256::hash(format!("weft-kw:{keyword}").as_bytes())
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

fn usable(k: &str) -> bool {
    !k.is_empty() && k.len() <= MAX_KEYWORD_LEN
}

/// Runs the publisher: once at start and after every change of the index.
pub(crate) fn spawn(share: Share) {
    tokio::spawn(async move {
        let mut published: BTreeSet<Key256> = BTreeSet::new();
        let provided: Arc<Mutex<BTreeSet<Key256>>> = Arc::default();
        let mut last_route: Vec<String> = Vec::new();
        let mut first = true;
        let mut last_peers = 0usize;
        let mut last_reprovide = std::time::Instant::now();
        loop {
            if !first {
                // Woken by a change, or now and then to retry what the DHT refused.
                tokio::select! {
                    () = share.inner.changed.notified() => {}
                    () = tokio::time::sleep(RETRY_EVERY) => {}
                }
            }
            first = false;
            // In a small network, provider records only reach the peers connected when they
            // were made: provide everything again when the network has grown (at most every
            // REPROVIDE_EVERY), instead of waiting for the engine's hourly republish.
            let peers = share.net().state().peers.len();
            if peers > last_peers && last_reprovide.elapsed() >= REPROVIDE_EVERY {
                last_peers = peers;
                last_reprovide = std::time::Instant::now();
                provided.lock().unwrap_or_else(|p| p.into_inner()).clear();
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
            // DHT: provide new hashes and keywords, in the background (each is a lookup).
            let mut keys: Vec<Key256> = Vec::new();
            {
                let mut done = provided.lock().unwrap_or_else(|p| p.into_inner());
                let wanted = entries
                    .iter()
                    .map(|e| e.hash)
                    .chain(keywords.iter().map(|k| keyword_key(k)));
                for key in wanted {
                    if done.len() < MAX_PUBLISHED + MAX_KEYWORDS && done.insert(key) {
                        keys.push(key);
                    }
                }
            }
            if !keys.is_empty() && !share.net().state().peers.is_empty() {
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
            } else if !keys.is_empty() {
                let mut done = provided.lock().unwrap_or_else(|p| p.into_inner());
                for key in &keys {
                    done.remove(key);
                }
            }
        }
    });
}
