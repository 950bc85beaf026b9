//! The sharing part of the HTTP API (the content gateway is [`super::gateway`]).
//!
//! | route | what |
//! |---|---|
//! | `POST /v0/share` `{"paths": [...]}` | start indexing (absolute paths); answers `{"job"}` |
//! | `GET /v0/share?job=&wait_ms=` | the latest indexing job's progress and result; with `job`, answered once that job has ended or after `wait_ms` (at most 5 s) |
//! | `DELETE /v0/share` `{"path"}` | stop sharing a root (a root inside another hands its files to it) |
//! | `GET /v0/shared` | the shared roots |
//! | `GET /v0/shared/files?after=&limit=` | the shared files with their hashes, by id, a page at a time |
//! | `GET /v0/search?q=&via=&ttl=&timeout_secs=&limit=` | results as JSON lines, one per change of a group, and `{"cut": …}` when results were held back |
//! | `POST /v0/downloads` `{"hash","out","force","timeout_secs"}` | start or join a download |
//! | `GET /v0/downloads/{hash}?wait_ms=&state=` | a download's progress; with `wait_ms`, once its state is no longer `state` (or it finished), or after `wait_ms` |
//! | `GET /content/{hash}` | the content, every byte verified: local, or the range fetched from the network; `Range` per RFC 9110; the token may be given as `?token=` |

use std::collections::{BTreeMap, BTreeSet};
use std::convert::Infallible;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Serialize;
use weft_api::share::{
    CutBy, CutLine, DownloadRequest, DownloadStatus, MAX_FILES_PAGE, MAX_SHARE_WAIT_MS,
    MAX_WAIT_MS, ResultGroup, SearchLine, SearchQuery, ShareJob, ShareRequest, ShareStarted,
    ShareStatusQuery, SharedFile, SharedFiles, SharedFilesQuery, SharedRoot, StatusQuery,
    UnshareRequest, Unshared,
};
use weft_core::id::Key256;
use weft_share::index::{Index, IndexError};

use super::Share;
use super::download::GetRequest;
use super::search::{DEFAULT_SEARCH_LIMIT, Found, MAX_SEARCH_LIMIT, SearchSpec, Via};
use crate::api::{ApiError, HttpError, blocking};

/// `POST`, `GET`, `DELETE`: share, progress, unshare.
pub const ROUTE_SHARE: &str = "/v0/share";
/// `GET`: shared roots.
pub const ROUTE_SHARED: &str = "/v0/shared";
/// `GET`: shared files with their hashes, paged.
pub const ROUTE_SHARED_FILES: &str = "/v0/shared/files";
/// `GET`: search (JSON lines).
pub const ROUTE_SEARCH: &str = "/v0/search";
/// `POST`: start a download.
pub const ROUTE_DOWNLOADS: &str = "/v0/downloads";
/// `GET`: a download's progress.
pub const ROUTE_DOWNLOAD: &str = "/v0/downloads/{hash}";
/// `GET` (and `HEAD`): the content gateway. Besides the bearer header, it accepts the API
/// token as `?token=` (see [`crate::api`]).
pub const ROUTE_CONTENT: &str = "/content/{hash}";
/// What every gateway path starts with.
pub const CONTENT_PREFIX: &str = "/content/";

/// The sharing routes as `(method, path)`.
pub const ROUTES: &[(&str, &str)] = &[
    ("post", ROUTE_SHARE),
    ("get", ROUTE_SHARE),
    ("delete", ROUTE_SHARE),
    ("get", ROUTE_SHARED),
    ("get", ROUTE_SHARED_FILES),
    ("get", ROUTE_SEARCH),
    ("post", ROUTE_DOWNLOADS),
    ("get", ROUTE_DOWNLOAD),
    ("get", ROUTE_CONTENT),
    ("head", ROUTE_CONTENT),
];

/// Longest search allowed.
const MAX_SEARCH_SECS: u64 = 120;
/// Default search time.
const DEFAULT_SEARCH_SECS: u64 = 5;

/// Why a sharing route failed (starting a job or a download fails with their own errors).
#[derive(Debug, thiserror::Error)]
pub enum ShareRouteError {
    /// Not a content hash.
    #[error("'{0}' is not a content hash (64 hex digits)")]
    BadHash(String),
    /// No download of that hash.
    #[error("no download of {0}")]
    NoDownload(Key256),
    /// A query with no words.
    #[error("no words to search for")]
    NoWords,
    /// A model that does not exist.
    #[error("unknown model '{0}'; expected flood, directory or dht")]
    UnknownModel(String),
    /// A model this node does not have.
    #[error("this node cannot search via {0}; start it with --directory MULTIADDR")]
    ModelUnavailable(String),
    /// A limit out of range.
    #[error("limit must be between 1 and {MAX_SEARCH_LIMIT} (got {0})")]
    BadLimit(usize),
    /// The index refused or failed.
    #[error(transparent)]
    Index(#[from] IndexError),
}

impl HttpError for ShareRouteError {
    fn status(&self) -> StatusCode {
        match self {
            ShareRouteError::NoDownload(_) | ShareRouteError::Index(IndexError::NotShared(_)) => {
                StatusCode::NOT_FOUND
            }
            ShareRouteError::Index(_) => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::BAD_REQUEST,
        }
    }
}

/// An error answer: `status` and one line (for the gateway, which answers headers too).
pub(super) fn error(status: StatusCode, msg: impl std::fmt::Display) -> Response {
    ApiError::new(status, msg).into_response()
}

impl Share {
    /// The sharing routes over this service, to merge into the API router.
    pub fn router(&self) -> Router {
        Router::new()
            .route(ROUTE_SHARE, post(share).get(share_status).delete(unshare))
            .route(ROUTE_SHARED, get(shared))
            .route(ROUTE_SHARED_FILES, get(shared_files))
            .route(ROUTE_SEARCH, get(search))
            .route(ROUTE_DOWNLOADS, post(download))
            .route(ROUTE_DOWNLOAD, get(download_status))
            .route(ROUTE_CONTENT, get(super::gateway::content))
            .with_state(self.clone())
    }
}

async fn share(
    State(share): State<Share>,
    Json(body): Json<ShareRequest>,
) -> Result<Json<ShareStarted>, ApiError> {
    let job = share.start_share(body.paths)?;
    Ok(Json(ShareStarted { job }))
}

async fn share_status(
    State(share): State<Share>,
    Query(p): Query<ShareStatusQuery>,
) -> Json<ShareJob> {
    Json(match p.job {
        Some(job) => {
            let wait = Duration::from_millis(p.wait_ms.unwrap_or(0).min(MAX_SHARE_WAIT_MS));
            share.job_status_after(job, wait).await
        }
        None => share.job_status(),
    })
}

fn root_view(r: weft_share::index::SharedRoot) -> SharedRoot {
    SharedRoot {
        path: r.path.display().to_string(),
        files: r.files,
        bytes: r.bytes,
        missing: r.missing,
    }
}

async fn unshare(
    State(share): State<Share>,
    Json(body): Json<UnshareRequest>,
) -> Result<Json<Unshared>, ApiError> {
    let s = share.clone();
    let unshared = blocking(move || {
        let conn = s.db();
        Index::new(&conn).unshare(&body.path)
    })
    .await?
    .map_err(ShareRouteError::from)?;
    share.index_changed();
    if let Some(holder) = &unshared.handed_to {
        // Its own rules (hidden files, .weftignore) may leave some of the files out.
        share.rescan_in_background(vec![holder.clone()]);
    }
    Ok(Json(Unshared {
        root: root_view(unshared.root),
        handed_to: unshared.handed_to.map(|p| p.display().to_string()),
    }))
}

async fn shared(State(share): State<Share>) -> Result<Json<Vec<SharedRoot>>, ApiError> {
    let roots = blocking(move || {
        let conn = share.db();
        Index::new(&conn).shared()
    })
    .await?
    .map_err(ShareRouteError::from)?;
    Ok(Json(roots.into_iter().map(root_view).collect()))
}

async fn shared_files(
    State(share): State<Share>,
    Query(p): Query<SharedFilesQuery>,
) -> Result<Json<SharedFiles>, ApiError> {
    let limit = p.limit.unwrap_or(MAX_FILES_PAGE).clamp(1, MAX_FILES_PAGE);
    let files = blocking(move || {
        let conn = share.db();
        Index::new(&conn).files(p.after.unwrap_or(0), limit)
    })
    .await?
    .map_err(ShareRouteError::from)?;
    let next_after = (files.len() == limit)
        .then(|| files.last().map(|f| f.id))
        .flatten();
    let files = files
        .into_iter()
        .map(|f| SharedFile {
            hash: f.hash.to_string(),
            size: f.size,
            path: f.path.display().to_string(),
        })
        .collect();
    Ok(Json(SharedFiles { files, next_after }))
}

#[derive(Default)]
struct Group {
    size: u64,
    names: BTreeSet<String>,
    peers: BTreeSet<weft_net::PeerId>,
    via: BTreeSet<Via>,
}

/// The models a search asks: those named in `via` (each one this node has), or all it has.
fn models(share: &Share, via: Option<&str>) -> Result<Vec<Via>, ShareRouteError> {
    let models = share.models();
    let Some(list) = via else {
        return Ok(models);
    };
    let mut v = Vec::new();
    for name in list.split(',').filter(|n| !n.is_empty()) {
        let m = Via::parse(name).ok_or_else(|| ShareRouteError::UnknownModel(name.into()))?;
        if !models.contains(&m) {
            return Err(ShareRouteError::ModelUnavailable(name.into()));
        }
        v.push(m);
    }
    Ok(v)
}

async fn search(
    State(share): State<Share>,
    Query(p): Query<SearchQuery>,
) -> Result<Response, ApiError> {
    if weft_share::index::keywords(&p.q).is_empty() {
        return Err(ShareRouteError::NoWords.into());
    }
    let via = models(&share, p.via.as_deref())?;
    let timeout = Duration::from_secs(
        p.timeout_secs
            .unwrap_or(DEFAULT_SEARCH_SECS)
            .clamp(1, MAX_SEARCH_SECS),
    );
    let limit = p.limit.unwrap_or(DEFAULT_SEARCH_LIMIT);
    if !(1..=MAX_SEARCH_LIMIT).contains(&limit) {
        return Err(ShareRouteError::BadLimit(limit).into());
    }
    let found = share.search(SearchSpec {
        text: p.q,
        via,
        ttl: p.ttl,
        timeout,
        limit,
    });
    let groups: BTreeMap<Key256, Group> = BTreeMap::new();
    let cut: BTreeSet<CutBy> = BTreeSet::new();
    let state = (found, groups, cut);
    let lines =
        futures::stream::unfold(state, move |(mut found, mut groups, mut cut)| async move {
            loop {
                let hit = match found.recv().await? {
                    Found::Hit(hit) => hit,
                    Found::Cut(via) => match cut_line(&mut cut, CutBy::from(via)) {
                        Some(line) => {
                            return Some((Ok::<_, Infallible>(line), (found, groups, cut)));
                        }
                        None => continue,
                    },
                };
                if !groups.contains_key(&hit.hash) && groups.len() >= limit {
                    match cut_line(&mut cut, CutBy::Limit) {
                        Some(line) => {
                            return Some((Ok::<_, Infallible>(line), (found, groups, cut)));
                        }
                        None => continue,
                    }
                }
                let g = groups.entry(hit.hash).or_default();
                g.size = hit.size;
                let changed = g.names.insert(hit.name.clone())
                    | g.peers.insert(hit.peer)
                    | g.via.insert(hit.via);
                if !changed {
                    continue;
                }
                let line = SearchLine::Group(ResultGroup {
                    hash: hit.hash.to_string(),
                    size: g.size,
                    names: g.names.iter().cloned().collect(),
                    sources: g.peers.len() as u64,
                    via: g.via.iter().copied().collect(),
                });
                return Some((Ok::<_, Infallible>(json_line(&line)), (found, groups, cut)));
            }
        });
    Ok((
        [(header::CONTENT_TYPE, "application/x-ndjson")],
        Body::from_stream(lines),
    )
        .into_response())
}

/// One JSON line.
fn json_line<T: Serialize>(v: &T) -> Bytes {
    let mut bytes = serde_json::to_vec(v).unwrap_or_default();
    bytes.push(b'\n');
    Bytes::from(bytes)
}

/// The `{"cut": by}` line, the first time `by` cut (`said` remembers who did).
fn cut_line(said: &mut BTreeSet<CutBy>, by: CutBy) -> Option<Bytes> {
    said.insert(by)
        .then(|| json_line(&SearchLine::Cut(CutLine { cut: by })))
}

/// A content hash from a path.
pub(super) fn parse_hash(text: &str) -> Result<Key256, ShareRouteError> {
    let bad = || ShareRouteError::BadHash(text.to_string());
    if text.len() != 64 {
        return Err(bad());
    }
    text.parse::<Key256>().map_err(|_| bad())
}

async fn download(
    State(share): State<Share>,
    Json(body): Json<DownloadRequest>,
) -> Result<Json<DownloadStatus>, ApiError> {
    let hash = parse_hash(&body.hash)?;
    let req = GetRequest {
        hash,
        out: body.out,
        force: body.force,
        timeout: Duration::from_secs(body.timeout_secs.unwrap_or(30).clamp(1, 3600)),
    };
    Ok(Json(share.start_download(req)?))
}

async fn download_status(
    State(share): State<Share>,
    Path(hash): Path<String>,
    Query(q): Query<StatusQuery>,
) -> Result<Json<DownloadStatus>, ApiError> {
    let hash = parse_hash(&hash)?;
    let d = share
        .download(&hash)
        .ok_or(ShareRouteError::NoDownload(hash))?;
    if let Some(ms) = q.wait_ms {
        let wait = Duration::from_millis(ms.min(MAX_WAIT_MS));
        d.state_change(q.state, wait).await;
    }
    Ok(Json(d.status()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_prefix_is_the_gateway_route_s() {
        assert_eq!(ROUTE_CONTENT, format!("{CONTENT_PREFIX}{{hash}}"));
    }
}
