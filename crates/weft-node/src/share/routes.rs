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
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use weft_api::share::{DownloadRequest, MAX_WAIT_MS, StatusQuery};
use weft_core::id::Key256;
use weft_share::index::{Index, SharedFile, SharedRoot, Unshared};

use super::download::GetRequest;
use super::search::{DEFAULT_SEARCH_LIMIT, Found, MAX_SEARCH_LIMIT, SearchSpec, Via};
use crate::api::ApiState;

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

/// Longest search allowed.
const MAX_SEARCH_SECS: u64 = 120;
/// Default search time.
const DEFAULT_SEARCH_SECS: u64 = 5;

pub(super) fn error(status: StatusCode, msg: impl Into<String>) -> Response {
    (status, Json(serde_json::json!({ "error": msg.into() }))).into_response()
}

/// The sharing routes, to merge into the API router.
pub fn router() -> Router<Arc<ApiState>> {
    Router::new()
        .route(ROUTE_SHARE, post(share).get(share_status).delete(unshare))
        .route(ROUTE_SHARED, get(shared))
        .route(ROUTE_SHARED_FILES, get(shared_files))
        .route(ROUTE_SEARCH, get(search))
        .route(ROUTE_DOWNLOADS, post(download))
        .route(ROUTE_DOWNLOAD, get(download_status))
        .route(ROUTE_CONTENT, get(super::gateway::content))
}

/// Body of `POST /v0/share`.
#[derive(Deserialize)]
pub struct ShareBody {
    /// Absolute paths of files or folders.
    pub paths: Vec<PathBuf>,
}

async fn share(State(s): State<Arc<ApiState>>, Json(body): Json<ShareBody>) -> Response {
    if body.paths.is_empty() {
        return error(StatusCode::BAD_REQUEST, "no path given");
    }
    match s.share.start_share(body.paths) {
        Ok(job) => Json(serde_json::json!({ "job": job })).into_response(),
        Err(e) => error(StatusCode::BAD_REQUEST, e),
    }
}

/// The longest `GET /v0/share` waits for a job to end.
const SHARE_WAIT_MAX: Duration = Duration::from_secs(5);

/// Query of `GET /v0/share`: with `job`, the answer waits until that job has ended, for at
/// most `wait_ms` (capped at 5 s), so a client sees the end at once without polling fast.
#[derive(Deserialize)]
pub struct ShareStatusParams {
    /// The job to wait for.
    pub job: Option<u64>,
    /// How long to wait for it, in milliseconds.
    pub wait_ms: Option<u64>,
}

async fn share_status(
    State(s): State<Arc<ApiState>>,
    Query(p): Query<ShareStatusParams>,
) -> Response {
    let status = match p.job {
        Some(job) => {
            let wait = Duration::from_millis(p.wait_ms.unwrap_or(0)).min(SHARE_WAIT_MAX);
            s.share.job_status_after(job, wait).await
        }
        None => s.share.job_status(),
    };
    Json(status).into_response()
}

/// Body of `DELETE /v0/share`.
#[derive(Deserialize)]
pub struct UnshareBody {
    /// A shared root.
    pub path: PathBuf,
}

/// A shared root, as the API shows it.
#[derive(Serialize)]
pub struct RootView {
    /// Its path.
    pub path: String,
    /// Files indexed under it.
    pub files: u64,
    /// Their total size.
    pub bytes: u64,
    /// True if the path is gone (its files are forgotten until it is back).
    pub missing: bool,
}

impl From<SharedRoot> for RootView {
    fn from(r: SharedRoot) -> Self {
        RootView {
            path: r.path.display().to_string(),
            files: r.files,
            bytes: r.bytes,
            missing: r.missing,
        }
    }
}

/// What `DELETE /v0/share` answers: the root it stopped sharing.
#[derive(Serialize)]
pub struct UnsharedView {
    /// The root, with what it held.
    #[serde(flatten)]
    pub root: RootView,
    /// The shared root it lay in, which took its files over (`null`: they are forgotten).
    pub handed_to: Option<String>,
}

async fn unshare(State(s): State<Arc<ApiState>>, Json(body): Json<UnshareBody>) -> Response {
    let share = s.share.clone();
    let r = tokio::task::spawn_blocking(move || {
        let conn = share.db();
        Index::new(&conn).unshare(&body.path)
    })
    .await;
    match r {
        Ok(Ok(Unshared { root, handed_to })) => {
            s.share.index_changed();
            if let Some(holder) = &handed_to {
                // Its own rules (hidden files, .weftignore) may leave some of the files out.
                s.share.rescan_in_background(vec![holder.clone()]);
            }
            Json(UnsharedView {
                root: RootView::from(root),
                handed_to: handed_to.map(|p| p.display().to_string()),
            })
            .into_response()
        }
        Ok(Err(e @ weft_share::index::IndexError::NotShared(_))) => {
            error(StatusCode::NOT_FOUND, e.to_string())
        }
        Ok(Err(e)) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

async fn shared(State(s): State<Arc<ApiState>>) -> Response {
    let share = s.share.clone();
    let r = tokio::task::spawn_blocking(move || {
        let conn = share.db();
        Index::new(&conn).shared()
    })
    .await;
    match r {
        Ok(Ok(roots)) => {
            let v: Vec<RootView> = roots.into_iter().map(RootView::from).collect();
            Json(v).into_response()
        }
        Ok(Err(e)) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

/// Query of `GET /v0/shared/files`.
#[derive(Deserialize)]
pub struct SharedFilesParams {
    /// The `next_after` of the previous page (default 0: the first page).
    pub after: Option<i64>,
    /// Files per page (default and most: 1000).
    pub limit: Option<usize>,
}

/// A shared file, as `GET /v0/shared/files` lists it.
#[derive(Serialize)]
pub struct FileView {
    /// The content hash (64 hex digits), the one to give to `weft get`.
    pub hash: String,
    /// The size in bytes.
    pub size: u64,
    /// Where it is.
    pub path: String,
}

/// A page of `GET /v0/shared/files`.
#[derive(Serialize)]
pub struct FilesPage {
    /// The files, in the order they were indexed.
    pub files: Vec<FileView>,
    /// Pass as `after` for the next page; `null` on the last page.
    pub next_after: Option<i64>,
}

async fn shared_files(
    State(s): State<Arc<ApiState>>,
    Query(p): Query<SharedFilesParams>,
) -> Response {
    let limit = p
        .limit
        .unwrap_or(weft_share::index::MAX_FILES_PAGE)
        .clamp(1, weft_share::index::MAX_FILES_PAGE);
    let share = s.share.clone();
    let r = tokio::task::spawn_blocking(move || {
        let conn = share.db();
        Index::new(&conn).files(p.after.unwrap_or(0), limit)
    })
    .await;
    match r {
        Ok(Ok(files)) => {
            let next_after = (files.len() == limit)
                .then(|| files.last().map(|f| f.id))
                .flatten();
            let files = files
                .into_iter()
                .map(|f: SharedFile| FileView {
                    hash: f.hash.to_string(),
                    size: f.size,
                    path: f.path.display().to_string(),
                })
                .collect();
            Json(FilesPage { files, next_after }).into_response()
        }
        Ok(Err(e)) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

/// Query of `GET /v0/search`.
#[derive(Deserialize)]
pub struct SearchParams {
    /// The words.
    pub q: String,
    /// `flood`, `directory` or `dht`, comma-separated (default: every model the node has).
    pub via: Option<String>,
    /// Flood TTL.
    pub ttl: Option<u8>,
    /// Seconds to wait for answers (default 5, at most 120).
    pub timeout_secs: Option<u64>,
    /// Results (content groups) wanted: default 50, 1 to 1000.
    pub limit: Option<usize>,
}

/// One line of a search answer: the state of one content's group.
#[derive(Clone, Debug, Serialize)]
pub struct ResultGroup {
    /// The content hash.
    pub hash: String,
    /// Its size.
    pub size: u64,
    /// Distinct names it was found under.
    pub names: Vec<String>,
    /// Distinct peers that have it.
    pub sources: usize,
    /// The models that found it.
    pub via: Vec<&'static str>,
}

/// A line of a search answer saying that more results exist than it reports: `cut` is the
/// model that held some back (`flood`, `directory`, `dht`), or `limit` when this node dropped
/// contents past the search's limit. Each appears at most once.
#[derive(Clone, Debug, Serialize)]
pub struct CutLine {
    /// Who cut.
    pub cut: &'static str,
}

#[derive(Default)]
struct Group {
    size: u64,
    names: BTreeSet<String>,
    peers: BTreeSet<weft_net::PeerId>,
    via: BTreeSet<Via>,
}

async fn search(State(s): State<Arc<ApiState>>, Query(p): Query<SearchParams>) -> Response {
    if weft_share::index::keywords(&p.q).is_empty() {
        return error(StatusCode::BAD_REQUEST, "no words to search for");
    }
    let models = s.share.models();
    let via = match &p.via {
        None => models,
        Some(list) => {
            let mut v = Vec::new();
            for name in list.split(',').filter(|n| !n.is_empty()) {
                let Some(m) = Via::parse(name) else {
                    return error(
                        StatusCode::BAD_REQUEST,
                        format!("unknown model '{name}'; expected flood, directory or dht"),
                    );
                };
                if !models.contains(&m) {
                    return error(
                        StatusCode::BAD_REQUEST,
                        format!(
                            "this node cannot search via {name}; start it with --directory MULTIADDR"
                        ),
                    );
                }
                v.push(m);
            }
            v
        }
    };
    let timeout = Duration::from_secs(
        p.timeout_secs
            .unwrap_or(DEFAULT_SEARCH_SECS)
            .clamp(1, MAX_SEARCH_SECS),
    );
    let limit = p.limit.unwrap_or(DEFAULT_SEARCH_LIMIT);
    if !(1..=MAX_SEARCH_LIMIT).contains(&limit) {
        return error(
            StatusCode::BAD_REQUEST,
            format!("limit must be between 1 and {MAX_SEARCH_LIMIT} (got {limit})"),
        );
    }
    let found = s.share.search(SearchSpec {
        text: p.q,
        via,
        ttl: p.ttl,
        timeout,
        limit,
    });
    let groups: BTreeMap<Key256, Group> = BTreeMap::new();
    let cut: BTreeSet<&'static str> = BTreeSet::new();
    let state = (found, groups, cut);
    let lines =
        futures::stream::unfold(state, move |(mut found, mut groups, mut cut)| async move {
            loop {
                let hit = match found.recv().await? {
                    Found::Hit(hit) => hit,
                    Found::Cut(via) => match cut_line(&mut cut, via.as_str()) {
                        Some(line) => {
                            return Some((Ok::<_, Infallible>(line), (found, groups, cut)));
                        }
                        None => continue,
                    },
                };
                if !groups.contains_key(&hit.hash) && groups.len() >= limit {
                    match cut_line(&mut cut, "limit") {
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
                let line = ResultGroup {
                    hash: hit.hash.to_string(),
                    size: g.size,
                    names: g.names.iter().cloned().collect(),
                    sources: g.peers.len(),
                    via: g.via.iter().map(|v| v.as_str()).collect(),
                };
                return Some((Ok::<_, Infallible>(json_line(&line)), (found, groups, cut)));
            }
        });
    (
        [(header::CONTENT_TYPE, "application/x-ndjson")],
        Body::from_stream(lines),
    )
        .into_response()
}

/// One JSON line.
fn json_line<T: Serialize>(v: &T) -> Bytes {
    let mut bytes = serde_json::to_vec(v).unwrap_or_default();
    bytes.push(b'\n');
    Bytes::from(bytes)
}

/// The `{"cut": by}` line, the first time `by` cut (`said` remembers who did).
fn cut_line(said: &mut BTreeSet<&'static str>, by: &'static str) -> Option<Bytes> {
    said.insert(by).then(|| json_line(&CutLine { cut: by }))
}

pub(super) fn parse_hash(text: &str) -> Result<Key256, Box<Response>> {
    let bad = || {
        Box::new(error(
            StatusCode::BAD_REQUEST,
            format!("'{text}' is not a content hash (64 hex digits)"),
        ))
    };
    if text.len() != 64 {
        return Err(bad());
    }
    text.parse::<Key256>().map_err(|_| bad())
}

async fn download(State(s): State<Arc<ApiState>>, Json(body): Json<DownloadRequest>) -> Response {
    let hash = match parse_hash(&body.hash) {
        Ok(h) => h,
        Err(r) => return *r,
    };
    let req = GetRequest {
        hash,
        out: body.out,
        force: body.force,
        timeout: Duration::from_secs(body.timeout_secs.unwrap_or(30).clamp(1, 3600)),
    };
    match s.share.start_download(req) {
        Ok(status) => Json(status).into_response(),
        Err(e) => error(StatusCode::BAD_REQUEST, e),
    }
}

async fn download_status(
    State(s): State<Arc<ApiState>>,
    Path(hash): Path<String>,
    Query(q): Query<StatusQuery>,
) -> Response {
    let hash = match parse_hash(&hash) {
        Ok(h) => h,
        Err(r) => return *r,
    };
    let Some(d) = s.share.download(&hash) else {
        return error(StatusCode::NOT_FOUND, format!("no download of {hash}"));
    };
    if let Some(ms) = q.wait_ms {
        let wait = Duration::from_millis(ms.min(MAX_WAIT_MS));
        d.state_change(q.state, wait).await;
    }
    Json(d.status()).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_prefix_is_the_gateway_route_s() {
        assert_eq!(ROUTE_CONTENT, format!("{CONTENT_PREFIX}{{hash}}"));
    }
}
