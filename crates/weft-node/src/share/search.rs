//! `weft search` through each location model, and the two ways this node answers searches.
//!
//! - flood: the query floods with a TTL; every node's flood engine asks the application
//!   ([`spawn_match_answerer`]) for local matches, which travel back along the query's path;
//! - directory: the query goes to the directory server, which answers from what its clients
//!   published;
//! - dht: a distributed inverted index (JXTA's shared-resource index, with the postings in
//!   the DHT): the postings of every query word's key ([`super::publish::keyword_key`]) are
//!   looked up in parallel, one iterative lookup per word, and intersected by content hash;
//!   each matching posting is a hit whose peer is the posting's publisher. No publisher is
//!   contacted: the results come from the DHT alone.
//!
//! This node also answers `/weft/search/1` ([`spawn_server`]): a peer's query run on the
//! local index.
//!
//! [`search`] merges every model's hits into one channel as they arrive, with a word from
//! each model that held results back ([`Found::Cut`]): a flood responder or the directory
//! server that matched more than the search's limit or its own bound, a DHT holder that
//! kept postings back or had to refuse some.
//!
//! A search asks for at most `limit` results ([`MAX_SEARCH_LIMIT`] at most); a peer's flood
//! query gets at most [`MAX_ANSWER_ITEMS`] items from this node, whatever it asks.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use tokio::sync::mpsc;
use tracing::debug;
use weft_core::id::Key256;
use weft_net::PeerId;
use weft_net::framing::{read_frame, write_last_frame};
use weft_net::libp2p::StreamProtocol;
use weft_net::overlay::MatchRequest;
use weft_overlay::flood::{Criteria, HitItem};
use weft_share::index::{Index, SearchHit, keywords};
use weft_share::wire::{self, MAX_SEARCH_FRAME, SearchQuery, SearchResult, SearchResults};

use super::publish::{KeywordPosting, keyword_key, usable};
use super::{Share, ShareError};

/// The protocol name.
pub const PROTOCOL: StreamProtocol = StreamProtocol::new("/weft/search/1");
/// Searches served at once.
const MAX_INBOUND: usize = 32;
/// Time a peer has to send its query.
const READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Query words looked up in the DHT model (the longest; the others must be in the names).
const DHT_WORDS: usize = 8;
/// DHT lookups run at once for one search.
const DHT_LOOKUPS: usize = 4;
/// Hits buffered for the reader of a search.
const HIT_QUEUE: usize = 1024;
/// Results a search reports when it names no limit.
pub const DEFAULT_SEARCH_LIMIT: usize = weft_api::share::search::DEFAULT_SEARCH_LIMIT;
/// Most results a search may ask for: the contents one search holds and reports.
pub const MAX_SEARCH_LIMIT: usize = weft_api::share::search::MAX_SEARCH_LIMIT;
/// Most items this node sends in answer to one flood query, whatever the query asks: what a
/// peer can make it send per query (in hits of at most 64 items).
pub const MAX_ANSWER_ITEMS: usize = 256;

pub use weft_api::share::Via;

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

/// What a search reports as it goes.
#[derive(Clone, Debug)]
pub enum Found {
    /// One file on one peer.
    Hit(Hit),
    /// This model held results back: more exist than it reported.
    Cut(Via),
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
    /// Results wanted (1 to [`MAX_SEARCH_LIMIT`]): each model is asked for this many.
    pub limit: usize,
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

    /// Searches through the chosen models; hits arrive on the receiver as they come, and a
    /// [`Found::Cut`] from each model that held results back. It closes when every model
    /// is done or the timeout passed. Hits are also remembered as sources for `weft get`.
    pub fn search(&self, spec: SearchSpec) -> mpsc::Receiver<Found> {
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
                        Via::Flood => flood(&share, &words, &spec, &tx).await,
                        Via::Directory => directory(&share, &words, spec.limit, &tx).await,
                        Via::Dht => dht(&share, &words, &tx).await,
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

async fn deliver(share: &Share, tx: &mpsc::Sender<Found>, hit: Hit) -> bool {
    if hit.peer == share.local_peer_id() {
        return true;
    }
    share.remember(&hit);
    tx.send(Found::Hit(hit)).await.is_ok()
}

/// Says once per model that it held results back.
struct CutNotice {
    via: Via,
    said: bool,
}

impl CutNotice {
    fn new(via: Via) -> Self {
        CutNotice { via, said: false }
    }

    /// Tells the reader if `more` and not told yet; false if the reader is gone.
    async fn note(&mut self, more: bool, tx: &mpsc::Sender<Found>) -> bool {
        if !more || self.said {
            return true;
        }
        self.said = true;
        tx.send(Found::Cut(self.via)).await.is_ok()
    }
}

async fn flood(share: &Share, words: &[String], spec: &SearchSpec, tx: &mpsc::Sender<Found>) {
    let criteria = Criteria {
        keywords: words.to_vec(),
        hash: None,
        max_items: answer_size(spec.limit),
    };
    let mut hits = match share.overlay().flood.query(criteria, spec.ttl).await {
        Ok(rx) => rx,
        Err(e) => return debug!("flood search: {e}"),
    };
    let mut cut = CutNotice::new(Via::Flood);
    while let Some(h) = hits.recv().await {
        if !cut.note(h.more, tx).await {
            return;
        }
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

/// Items asked of each flood responder for a search of `limit` results.
fn answer_size(limit: usize) -> u16 {
    u16::try_from(limit.clamp(1, MAX_ANSWER_ITEMS)).unwrap_or(u16::MAX)
}

async fn directory(share: &Share, words: &[String], limit: usize, tx: &mpsc::Sender<Found>) {
    let Some(dir) = share.overlay().directory.clone() else {
        return;
    };
    let words: Vec<String> = words.iter().filter(|w| usable(w)).cloned().collect();
    if words.is_empty() {
        return;
    }
    let max = limit.clamp(1, weft_overlay::directory::MAX_RESULTS);
    match dir
        .query(words, u16::try_from(max).unwrap_or(u16::MAX))
        .await
    {
        Ok(answer) => {
            if !CutNotice::new(Via::Directory).note(answer.more, tx).await {
                return;
            }
            for h in answer.hits {
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

async fn dht(share: &Share, words: &[String], tx: &mpsc::Sender<Found>) {
    let mut looked: Vec<String> = words.iter().filter(|w| usable(w)).cloned().collect();
    looked.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
    looked.truncate(DHT_WORDS);
    if looked.is_empty() {
        return;
    }
    let dht = share.overlay().dht.clone();
    let found: Vec<(Vec<(PeerId, KeywordPosting)>, bool)> = futures::stream::iter(looked.clone())
        .map(|w: String| {
            let dht = dht.clone();
            async move {
                match dht.postings(keyword_key(&w)).await {
                    Ok(found) => (
                        found
                            .postings
                            .into_iter()
                            .filter_map(|(peer, bytes)| {
                                Some((peer, KeywordPosting::decode(&bytes)?))
                            })
                            .collect(),
                        found.more,
                    ),
                    Err(e) => {
                        debug!(word = %w, "dht search: {e}");
                        (Vec::new(), false)
                    }
                }
            }
        })
        .buffer_unordered(DHT_LOOKUPS)
        .collect()
        .await;
    let more = found.iter().any(|(_, more)| *more);
    if !CutNotice::new(Via::Dht).note(more, tx).await {
        return;
    }
    let lists = found.into_iter().map(|(list, _)| list).collect();
    for (peer, p) in intersect(words, &looked, lists) {
        let hit = Hit {
            hash: p.hash,
            size: p.size,
            name: p.name,
            peer,
            via: Via::Dht,
        };
        if !deliver(share, tx, hit).await {
            return;
        }
    }
}

/// The postings that match every word of `words`: a content is a match if it is posted
/// under every word of `looked` (`lists` holds one list per looked-up word) and its name
/// holds the words not looked up, or if its name holds every word. One posting per content
/// and publisher.
fn intersect(
    words: &[String],
    looked: &[String],
    lists: Vec<Vec<(PeerId, KeywordPosting)>>,
) -> Vec<(PeerId, KeywordPosting)> {
    use std::collections::{BTreeMap, BTreeSet};
    let sets: Vec<BTreeSet<Key256>> = lists
        .iter()
        .map(|l| l.iter().map(|(_, p)| p.hash).collect())
        .collect();
    let mut out: BTreeMap<(Key256, PeerId), KeywordPosting> = BTreeMap::new();
    for (peer, p) in lists.into_iter().flatten() {
        if out.contains_key(&(p.hash, peer)) {
            continue;
        }
        let in_name = keywords(&p.name);
        let named = |w: &String| in_name.contains(w);
        let everywhere = sets.len() == looked.len() && sets.iter().all(|s| s.contains(&p.hash));
        let rest_named = words.iter().filter(|w| !looked.contains(w)).all(named);
        if (everywhere && rest_named) || words.iter().all(named) {
            out.insert((p.hash, peer), p);
        }
    }
    out.into_iter().map(|((_, peer), p)| (peer, p)).collect()
}

/// Local matches of `text`, at most `max`, and whether more matched.
fn local_matches(share: &Share, text: &str, max: usize) -> (Vec<SearchHit>, bool) {
    let conn = share.db();
    let mut hits = Index::new(&conn)
        .search(text, max.saturating_add(1))
        .unwrap_or_default();
    let more = hits.len() > max;
    hits.truncate(max);
    (hits, more)
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
    let mut incoming = share
        .net()
        .inbound()
        .accept(PROTOCOL, weft_net::inbound::DEFAULT_BACKLOG)
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
                    share.net().mark_useful(&peer);
                    let s = share.clone();
                    let max = usize::from(query.max_results).min(wire::MAX_RESULTS);
                    let (hits, more) =
                        tokio::task::spawn_blocking(move || local_matches(&s, &query.text, max))
                            .await
                            .map_err(|e| e.to_string())?;
                    let results = SearchResults {
                        results: hits.into_iter().map(to_result).collect(),
                        more,
                    };
                    let bytes = weft_core::wire::encode(&results, MAX_SEARCH_FRAME)
                        .map_err(|e| e.to_string())?;
                    write_last_frame(&mut stream, &bytes)
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
            let (items, more) = tokio::task::spawn_blocking(move || {
                if let Some(hash) = criteria.hash {
                    let conn = s.db();
                    return match Index::new(&conn).content(&hash) {
                        Ok(Some(e)) => (
                            vec![HitItem {
                                hash: e.hash,
                                name: e.names.first().cloned().unwrap_or_default(),
                                size: e.size,
                            }],
                            false,
                        ),
                        _ => (Vec::new(), false),
                    };
                }
                let max = usize::from(criteria.max_items).clamp(1, MAX_ANSWER_ITEMS);
                let (hits, more) = local_matches(&s, &criteria.keywords.join(" "), max);
                let items = hits
                    .into_iter()
                    .map(|h| HitItem {
                        hash: h.hash,
                        name: h.names.first().cloned().unwrap_or_default(),
                        size: h.size,
                    })
                    .collect();
                (items, more)
            })
            .await
            .unwrap_or_default();
            if !items.is_empty() {
                let _ = share.overlay().flood.respond(m.request, items, more).await;
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn posting(name: &str) -> KeywordPosting {
        KeywordPosting {
            hash: Key256::hash(name.as_bytes()),
            name: name.to_string(),
            size: 1,
        }
    }

    fn words(text: &str) -> Vec<String> {
        keywords(text)
    }

    #[test]
    fn intersection_needs_every_word() {
        let (a, b) = (PeerId::random(), PeerId::random());
        // "blue train" is posted under both words (by a, and by b under another name);
        // "blue" alone only under blue; a tag-only match is posted under both words
        let both = posting("blue-train.flac");
        let also = KeywordPosting {
            name: "take two.flac".into(),
            ..both.clone()
        };
        let blue_only = posting("blue.flac");
        let tagged = posting("untitled.flac");
        let blue = vec![
            (a, both.clone()),
            (b, also.clone()),
            (a, blue_only.clone()),
            (a, tagged.clone()),
        ];
        let train = vec![(a, both.clone()), (a, tagged.clone())];
        let q = words("blue train");
        let mut got = intersect(&q, &q, vec![blue.clone(), train]);
        got.sort_by(|x, y| x.1.name.cmp(&y.1.name));
        let names: Vec<&str> = got.iter().map(|(_, p)| p.name.as_str()).collect();
        assert_eq!(names, ["blue-train.flac", "take two.flac", "untitled.flac"]);
        assert_eq!(got[1].0, b, "the publisher is the hit's peer");
        // the train lookup failed: only names can prove a match
        let got = intersect(&q, &q, vec![blue.clone(), Vec::new()]);
        let names: Vec<&str> = got.iter().map(|(_, p)| p.name.as_str()).collect();
        assert_eq!(names.len(), 1);
        assert_eq!(names[0], "blue-train.flac");
        // a word not looked up must be in the name
        let q = words("blue flac");
        let looked = words("blue");
        let got = intersect(&q, &looked, vec![blue]);
        assert_eq!(got.len(), 4);
        let q = words("blue zzz");
        let got = intersect(&q, &looked, vec![vec![(a, both)]]);
        assert!(got.is_empty());
    }
}
