//! `weft search` through each location model, and the two ways this node answers searches.
//!
//! - flood: the query floods with a TTL; every node's flood engine asks the application
//!   ([`spawn_match_answerer`]) for local matches, which travel back along the query's path;
//! - directory: the query goes to the directory server, which answers from what its clients
//!   published;
//! - dht: each keyword's key ([`super::publish::keyword_key`]) leads to the peers that hold
//!   files with that keyword (JXTA's shared-resource index: the DHT points at the peers, the
//!   peers hold the postings), which are asked directly over `/weft/search/1`
//!   ([`spawn_server`]).
//!
//! [`search`] merges every model's hits into one channel as they arrive.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use serde::Serialize;
use tokio::sync::mpsc;
use tracing::debug;
use weft_core::id::Key256;
use weft_net::PeerId;
use weft_net::framing::{read_frame, write_frame};
use weft_net::libp2p::StreamProtocol;
use weft_net::overlay::MatchRequest;
use weft_overlay::flood::{Criteria, HitItem};
use weft_share::index::{Index, SearchHit, keywords};
use weft_share::wire::{self, MAX_SEARCH_FRAME, SearchQuery, SearchResult, SearchResults};

use super::publish::keyword_key;
use super::{Share, ShareError};

/// The protocol name.
pub const PROTOCOL: StreamProtocol = StreamProtocol::new("/weft/search/1");
/// Searches served at once.
const MAX_INBOUND: usize = 32;
/// Time a peer has to send its query.
const READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Peers asked directly in the DHT model.
const DHT_PEERS: usize = 32;
/// Results asked of each peer.
const MAX_RESULTS: u16 = 100;
/// Hits buffered for the reader of a search.
const HIT_QUEUE: usize = 1024;

/// A location model.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Via {
    /// Gnutella-style flooding.
    Flood,
    /// A Napster-style directory server.
    Directory,
    /// The Kademlia DHT.
    Dht,
}

impl Via {
    /// The model's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Via::Flood => "flood",
            Via::Directory => "directory",
            Via::Dht => "dht",
        }
    }

    /// Parses a model's name.
    pub fn parse(s: &str) -> Option<Via> {
        match s {
            "flood" => Some(Via::Flood),
            "directory" => Some(Via::Directory),
            "dht" => Some(Via::Dht),
            _ => None,
        }
    }
}

/// One file found on one peer.
#[derive(Clone, Debug)]
pub struct Hit {
    /// The content.
    pub hash: Key256,
    /// Its size.
    pub size: u64,
    /// A name it has there.
    pub name: String,
    /// The peer that has it.
    pub peer: PeerId,
    /// How it was found.
    pub via: Via,
}

/// A search to run.
#[derive(Clone, Debug)]
pub struct SearchSpec {
    /// The user's words.
    pub text: String,
    /// The models to ask.
    pub via: Vec<Via>,
    /// Flood TTL (`None`: the engine's default).
    pub ttl: Option<u8>,
    /// How long to wait for answers.
    pub timeout: Duration,
}

impl Share {
    /// The models this node can search through: flood and DHT always, the directory when
    /// it has a server.
    pub fn models(&self) -> Vec<Via> {
        let mut v = vec![Via::Flood];
        if self
            .overlay()
            .directory
            .as_ref()
            .is_some_and(|d| !d.is_server())
        {
            v.push(Via::Directory);
        }
        v.push(Via::Dht);
        v
    }

    /// Searches through the chosen models; hits arrive on the receiver as they come, which
    /// closes when every model is done or the timeout passed. Hits are also remembered as
    /// sources for `weft get`.
    pub fn search(&self, spec: SearchSpec) -> mpsc::Receiver<Hit> {
        let (tx, rx) = mpsc::channel(HIT_QUEUE);
        let words = keywords(&spec.text);
        for via in spec.via.iter().copied() {
            let tx = tx.clone();
            let share = self.clone();
            let spec = spec.clone();
            let words = words.clone();
            tokio::spawn(async move {
                let run = async {
                    match via {
                        Via::Flood => flood(&share, &words, spec.ttl, &tx).await,
                        Via::Directory => directory(&share, &words, &tx).await,
                        Via::Dht => dht(&share, &spec.text, &words, &tx).await,
                    }
                };
                let _ = tokio::time::timeout(spec.timeout, run).await;
            });
        }
        rx
    }

    fn remember(&self, hit: &Hit) {
        self.recent().note(hit.hash, hit.size, &hit.name, hit.peer);
    }
}

async fn deliver(share: &Share, tx: &mpsc::Sender<Hit>, hit: Hit) -> bool {
    if hit.peer == share.local_peer_id() {
        return true;
    }
    share.remember(&hit);
    tx.send(hit).await.is_ok()
}

async fn flood(share: &Share, words: &[String], ttl: Option<u8>, tx: &mpsc::Sender<Hit>) {
    let criteria = Criteria {
        keywords: words.to_vec(),
        hash: None,
    };
    let mut hits = match share.overlay().flood.query(criteria, ttl).await {
        Ok(rx) => rx,
        Err(e) => return debug!("flood search: {e}"),
    };
    while let Some(h) = hits.recv().await {
        for item in h.items {
            let hit = Hit {
                hash: item.hash,
                size: item.size,
                name: item.name,
                peer: h.responder,
                via: Via::Flood,
            };
            if !deliver(share, tx, hit).await {
                return;
            }
        }
    }
}

async fn directory(share: &Share, words: &[String], tx: &mpsc::Sender<Hit>) {
    let Some(dir) = share.overlay().directory.clone() else {
        return;
    };
    let words: Vec<String> = words.iter().filter(|w| w.len() <= 64).cloned().collect();
    if words.is_empty() {
        return;
    }
    match dir.query(words, 500).await {
        Ok(hits) => {
            for h in hits {
                let hit = Hit {
                    hash: h.hash,
                    size: h.size,
                    name: h.name,
                    peer: h.peer,
                    via: Via::Directory,
                };
                if !deliver(share, tx, hit).await {
                    return;
                }
            }
        }
        Err(e) => debug!("directory search: {e}"),
    }
}

async fn dht(share: &Share, text: &str, words: &[String], tx: &mpsc::Sender<Hit>) {
    // Every match has every keyword, so the providers of one keyword are enough: take the
    // longest (likely the rarest).
    let Some(word) = words.iter().max_by_key(|w| (w.len(), w.as_str())) else {
        return;
    };
    let peers = match share.overlay().dht.providers(keyword_key(word)).await {
        Ok(p) => p,
        Err(e) => return debug!("dht search: {e}"),
    };
    let local = share.local_peer_id();
    let mut asks = futures::stream::iter(peers.into_iter().filter(|p| *p != local).take(DHT_PEERS))
        .map(|peer| {
            let share = share.clone();
            let text = text.to_string();
            async move { (peer, ask(&share, peer, &text).await) }
        })
        .buffer_unordered(8);
    while let Some((peer, results)) = asks.next().await {
        let results = match results {
            Ok(r) => r,
            Err(e) => {
                debug!(%peer, "search request: {e}");
                continue;
            }
        };
        for r in results.results {
            for name in r.names.into_iter().take(1) {
                let hit = Hit {
                    hash: r.hash,
                    size: r.size,
                    name,
                    peer,
                    via: Via::Dht,
                };
                if !deliver(share, tx, hit).await {
                    return;
                }
            }
        }
    }
}

/// Asks `peer` for its local matches of `text` over `/weft/search/1`.
async fn ask(share: &Share, peer: PeerId, text: &str) -> Result<SearchResults, String> {
    super::content::connect(share, peer)
        .await
        .map_err(|e| e.to_string())?;
    let mut control = share.net().stream_control();
    let exchange = async {
        let mut stream = control
            .open_stream(peer, PROTOCOL)
            .await
            .map_err(|e| e.to_string())?;
        let query = SearchQuery {
            text: wire::truncate(text, wire::MAX_QUERY_BYTES),
            max_results: MAX_RESULTS,
        };
        let bytes = weft_core::wire::encode(&query, MAX_SEARCH_FRAME).map_err(|e| e.to_string())?;
        write_frame(&mut stream, &bytes)
            .await
            .map_err(|e| e.to_string())?;
        let answer = read_frame(&mut stream, MAX_SEARCH_FRAME)
            .await
            .map_err(|e| e.to_string())?;
        wire::decode::<SearchResults>(&answer, MAX_SEARCH_FRAME).map_err(|e| e.to_string())
    };
    tokio::time::timeout(READ_TIMEOUT, exchange)
        .await
        .map_err(|_| "timed out".to_string())?
}

/// Local matches of `text`, at most `max`.
fn local_matches(share: &Share, text: &str, max: usize) -> Vec<SearchHit> {
    let conn = share.db();
    Index::new(&conn).search(text, max).unwrap_or_default()
}

fn to_result(h: SearchHit) -> SearchResult {
    SearchResult {
        hash: h.hash,
        size: h.size,
        names: h
            .names
            .iter()
            .take(wire::MAX_NAMES)
            .map(|n| wire::truncate(n, wire::MAX_NAME_BYTES))
            .collect(),
        mime: wire::truncate(&h.mime, wire::MAX_MIME_BYTES),
        sources: 1,
    }
}

/// Answers `/weft/search/1` queries from the local index.
pub(crate) fn spawn_server(share: Share) -> Result<(), ShareError> {
    let mut control = share.net().stream_control();
    let mut incoming = control
        .accept(PROTOCOL)
        .map_err(|_| ShareError::AlreadyRegistered("/weft/search/1"))?;
    let limit = Arc::new(tokio::sync::Semaphore::new(MAX_INBOUND));
    tokio::spawn(async move {
        while let Some((peer, mut stream)) = incoming.next().await {
            let Ok(permit) = limit.clone().try_acquire_owned() else {
                continue;
            };
            let share = share.clone();
            tokio::spawn(async move {
                let _permit = permit;
                let serve = async {
                    let frame = read_frame(&mut stream, MAX_SEARCH_FRAME)
                        .await
                        .map_err(|e| e.to_string())?;
                    let query: SearchQuery =
                        wire::decode(&frame, MAX_SEARCH_FRAME).map_err(|e| e.to_string())?;
                    let s = share.clone();
                    let max = usize::from(query.max_results).min(wire::MAX_RESULTS);
                    let hits =
                        tokio::task::spawn_blocking(move || local_matches(&s, &query.text, max))
                            .await
                            .map_err(|e| e.to_string())?;
                    let results = SearchResults {
                        results: hits.into_iter().map(to_result).collect(),
                    };
                    let bytes = weft_core::wire::encode(&results, MAX_SEARCH_FRAME)
                        .map_err(|e| e.to_string())?;
                    write_frame(&mut stream, &bytes)
                        .await
                        .map_err(|e| e.to_string())
                };
                match tokio::time::timeout(READ_TIMEOUT, serve).await {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => debug!(%peer, "search request: {e}"),
                    Err(_) => debug!(%peer, "search request timed out"),
                }
            });
        }
    });
    Ok(())
}

/// Answers the flood engine's match requests from the local index.
pub(crate) fn spawn_match_answerer(share: Share, mut matches: mpsc::Receiver<MatchRequest>) {
    tokio::spawn(async move {
        while let Some(m) = matches.recv().await {
            let s = share.clone();
            let criteria = m.criteria;
            let items = tokio::task::spawn_blocking(move || {
                let conn = s.db();
                let index = Index::new(&conn);
                if let Some(hash) = criteria.hash {
                    return match index.content(&hash) {
                        Ok(Some(e)) => vec![HitItem {
                            hash: e.hash,
                            name: e.names.first().cloned().unwrap_or_default(),
                            size: e.size,
                        }],
                        _ => Vec::new(),
                    };
                }
                let text = criteria.keywords.join(" ");
                index
                    .search(&text, 64)
                    .unwrap_or_default()
                    .into_iter()
                    .map(|h| HitItem {
                        hash: h.hash,
                        name: h.names.first().cloned().unwrap_or_default(),
                        size: h.size,
                    })
                    .collect()
            })
            .await
            .unwrap_or_default();
            if !items.is_empty() {
                let _ = share.overlay().flood.respond(m.request, items).await;
            }
        }
    });
}
