//! The local HTTP API: JSON over HTTP on a loopback address, every route guarded by
//! `Authorization: Bearer <api.token>`. The content gateway (`GET`/`HEAD /content/{hash}`)
//! also accepts the token as a query parameter, `?token=<api.token>`, so that a browser can
//! open it from the address bar; no other route does. The routes are listed in [`ROUTES`] and
//! described in `openapi.json` beside this crate's `Cargo.toml`; a test keeps the two in step.

use std::convert::Infallible;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use axum::{
    Json, Router,
    body::Bytes,
    extract::{DefaultBodyLimit, Path, Query, Request, State},
    http::{HeaderValue, Method, StatusCode, Uri, header},
    middleware::{self, Next},
    response::{
        IntoResponse, Response,
        sse::{Event, KeepAlive, Sse},
    },
    routing::get,
};
use futures::{Stream, StreamExt};
use prometheus_client::registry::Registry;
use serde::Deserialize;
use serde::Serialize;
use tokio::sync::broadcast;
use tokio_stream::wrappers::BroadcastStream;
use weft_net::overlay::{Overlay, OverlayError, dht};
use weft_net::{ConnectedPeer, NetHandle};
use weft_overlay::kademlia::{MAX_VALUE_LEN, QueryError};
use weft_store::{PeerRecord, Store};

use crate::collab::routes as collab;
use crate::compute::routes as compute;
use crate::events::ApiEvent;
use crate::share::routes as share;

/// `GET`: who this node is.
pub const ROUTE_ID: &str = "/v0/id";
/// `GET`: connected and remembered peers.
pub const ROUTE_PEERS: &str = "/v0/peers";
/// `GET`: liveness.
pub const ROUTE_HEALTH: &str = "/v0/health";
/// `GET`: server-sent events (peer connect and disconnect, messages, contacts' presence).
pub const ROUTE_EVENTS: &str = "/v0/events";
/// `GET`: Prometheus metrics.
pub const ROUTE_METRICS: &str = "/metrics";
/// `PUT` (store the body) and `GET` (look up): a DHT record.
pub const ROUTE_DHT: &str = "/v0/dht/{key}";

/// Every route as `(method, path)`: what `openapi.json` must describe.
pub const ROUTES: &[(&str, &str)] = &[
    ("get", ROUTE_ID),
    ("get", ROUTE_PEERS),
    ("get", ROUTE_HEALTH),
    ("get", ROUTE_EVENTS),
    ("get", ROUTE_METRICS),
    ("put", ROUTE_DHT),
    ("get", ROUTE_DHT),
    ("post", share::ROUTE_SHARE),
    ("get", share::ROUTE_SHARE),
    ("delete", share::ROUTE_SHARE),
    ("get", share::ROUTE_SHARED),
    ("get", share::ROUTE_SHARED_FILES),
    ("get", share::ROUTE_SEARCH),
    ("post", share::ROUTE_DOWNLOADS),
    ("get", share::ROUTE_DOWNLOAD),
    ("get", share::ROUTE_CONTENT),
    ("head", share::ROUTE_CONTENT),
    ("post", compute::ROUTE_JOBS),
    ("get", compute::ROUTE_JOBS),
    ("get", compute::ROUTE_JOB),
    ("delete", compute::ROUTE_JOB),
    ("get", compute::ROUTE_RESULTS),
    ("get", compute::ROUTE_WORKERS),
    ("get", compute::ROUTE_CREDIT),
    ("post", collab::ROUTE_CONTACTS),
    ("get", collab::ROUTE_CONTACTS),
    ("post", collab::ROUTE_MESSAGES),
    ("get", collab::ROUTE_INBOX),
    ("get", collab::ROUTE_STATUS),
];

/// What the handlers share.
pub struct ApiState {
    /// The network task.
    pub net: NetHandle,
    /// The database.
    pub store: Store,
    /// The bearer token every request must carry.
    pub token: String,
    /// Where the token is stored (`<home>/api.token`), named in 401 answers.
    pub token_file: PathBuf,
    /// Live events for `/v0/events`.
    pub events: broadcast::Sender<ApiEvent>,
    /// Metrics registry (libp2p's and weft's own).
    pub registry: Arc<Registry>,
    /// Gauges refreshed on each scrape.
    pub gauges: crate::metrics::Gauges,
    /// When the node started.
    pub started: Instant,
    /// The API's own address.
    pub api_addr: String,
    /// Node settings worth showing.
    pub role: NodeSummary,
    /// The location overlays (DHT, flood, directory).
    pub overlay: Overlay,
    /// File sharing.
    pub share: crate::share::Share,
    /// Distributed computing.
    pub compute: crate::compute::Compute,
    /// Contacts, presence and messages.
    pub collab: crate::collab::Collab,
}

/// Settings shown by `GET /v0/id`.
#[derive(Clone, Debug, Serialize)]
pub struct NodeSummary {
    /// mDNS discovery on.
    pub mdns: bool,
    /// Relay server on.
    pub relay_server: bool,
    /// Overlay role: `leaf`, `ultrapeer` or `directory`.
    pub role: &'static str,
}

/// Builds the router over `state`.
pub fn router(state: Arc<ApiState>) -> Router {
    Router::new()
        .route(ROUTE_ID, get(id))
        .route(ROUTE_PEERS, get(peers))
        .route(ROUTE_HEALTH, get(health))
        .route(ROUTE_EVENTS, get(events))
        .route(ROUTE_METRICS, get(metrics))
        .route(
            ROUTE_DHT,
            get(dht_get)
                .put(dht_put)
                .layer(DefaultBodyLimit::max(MAX_VALUE_LEN)),
        )
        .merge(share::router())
        .merge(compute::router())
        .merge(collab::router())
        .layer(middleware::from_fn_with_state(state.clone(), require_token))
        .with_state(state)
}

async fn require_token(State(state): State<Arc<ApiState>>, req: Request, next: Next) -> Response {
    let by_header = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|given| token_matches(given, &state.token));
    let by_query = !by_header
        && gateway_query_token(req.method(), req.uri())
            .is_some_and(|given| token_matches(&given, &state.token));
    if !by_header && !by_query {
        return unauthorized(&state.token_file);
    }
    let mut resp = next.run(req).await;
    if by_query {
        // The token is in the page's URL: keep it out of Referer headers, and keep browsers
        // from guessing that served bytes are a page.
        let h = resp.headers_mut();
        h.insert(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        );
        h.insert(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
    }
    resp
}

/// Compares a presented token with the node's in constant time (`blake3::Hash` equality is).
fn token_matches(given: &str, token: &str) -> bool {
    blake3::hash(given.as_bytes()) == blake3::hash(token.as_bytes())
}

/// The query string's `token`, for `GET` and `HEAD` requests to the content gateway only (a
/// browser cannot send an `Authorization` header from its address bar); `None` elsewhere, or
/// if the query has no single `token`.
pub fn gateway_query_token(method: &Method, uri: &Uri) -> Option<String> {
    #[derive(Deserialize)]
    struct TokenParam {
        token: Option<String>,
    }
    let gateway = uri.path().starts_with(share::CONTENT_PREFIX);
    if !gateway || (method != Method::GET && method != Method::HEAD) {
        return None;
    }
    Query::<TokenParam>::try_from_uri(uri).ok()?.0.token
}

/// 401, with one line that says how to authenticate.
fn unauthorized(token_file: &std::path::Path) -> Response {
    let body = Json(serde_json::json!({ "error": unauthorized_message(token_file) }));
    (
        StatusCode::UNAUTHORIZED,
        [(header::WWW_AUTHENTICATE, "Bearer")],
        body,
    )
        .into_response()
}

/// The one line of a 401 answer.
fn unauthorized_message(token_file: &std::path::Path) -> String {
    let msg = format!(
        "missing or wrong API token: send 'Authorization: Bearer <token from {}>' \
         (GET {}<hash> also accepts '?token=<token>')",
        token_file.display(),
        share::CONTENT_PREFIX,
    );
    msg.replace(['\r', '\n'], " ")
}

/// `GET /v0/id`.
#[derive(Serialize)]
pub struct IdResponse {
    /// Peer id.
    pub peer_id: String,
    /// Listen addresses.
    pub listen: Vec<String>,
    /// Addresses peers observed for us.
    pub external: Vec<String>,
    /// AutoNAT's verdict.
    pub nat: weft_core::peer::NatStatus,
    /// The API address.
    pub api: String,
    /// weft's version.
    pub version: &'static str,
    /// Seconds since start.
    pub uptime_secs: u64,
    /// Settings.
    pub node: NodeSummary,
    /// The flood engine's role now: `leaf`, `ultrapeer` or `peer` (a leaf may have been
    /// elected ultrapeer); absent if the engine did not answer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flood_role: Option<&'static str>,
    /// Posting values this node's DHT store holds, its own and other publishers'; absent if
    /// the engine did not answer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dht_postings: Option<usize>,
}

async fn id(State(s): State<Arc<ApiState>>) -> Json<IdResponse> {
    let flood_role = s.overlay.flood.info().await.ok().map(|i| i.role.as_str());
    let dht_postings = s.overlay.dht.info().await.ok().map(|i| i.postings);
    let net = s.net.state();
    Json(IdResponse {
        peer_id: net.peer_id,
        listen: net.listen,
        external: net.external,
        nat: net.nat,
        api: s.api_addr.clone(),
        version: env!("CARGO_PKG_VERSION"),
        uptime_secs: s.started.elapsed().as_secs(),
        node: s.role.clone(),
        flood_role,
        dht_postings,
    })
}

/// `GET /v0/peers`.
#[derive(Serialize)]
pub struct PeersResponse {
    /// Peers with an open connection, by peer id.
    pub connected: Vec<ConnectedPeer>,
    /// Every peer in the peer book, most recently seen first.
    pub known: Vec<PeerRecord>,
}

async fn peers(State(s): State<Arc<ApiState>>) -> Result<Json<PeersResponse>, ApiError> {
    let connected = s.net.state().peers.into_values().collect();
    let store = s.store.clone();
    let known = tokio::task::spawn_blocking(move || store.peers().list())
        .await
        .map_err(|e| ApiError(e.to_string()))?
        .map_err(|e| ApiError(e.to_string()))?;
    Ok(Json(PeersResponse { connected, known }))
}

async fn health(State(s): State<Arc<ApiState>>) -> Json<serde_json::Value> {
    Json(serde_json::json!({
        "status": "ok",
        "peers": s.net.state().peers.len(),
        "uptime_secs": s.started.elapsed().as_secs(),
    }))
}

async fn events(
    State(s): State<Arc<ApiState>>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let stream = BroadcastStream::new(s.events.subscribe()).filter_map(|e| async move {
        // A lagging client skips what it missed rather than holding the node's memory.
        let e = e.ok()?;
        Event::default().event(e.kind()).json_data(&e).ok().map(Ok)
    });
    Sse::new(stream).keep_alive(KeepAlive::default())
}

async fn metrics(State(s): State<Arc<ApiState>>) -> Result<Response, ApiError> {
    s.gauges.refresh(&s.net.state(), s.started.elapsed());
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &s.registry)
        .map_err(|e| ApiError(e.to_string()))?;
    Ok((
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        text,
    )
        .into_response())
}

/// Life of a record stored through the API when the request names none (24 h).
pub const DHT_DEFAULT_TTL_SECS: u64 = 24 * 3600;

/// Query parameters of `PUT /v0/dht/{key}`.
#[derive(Deserialize)]
pub struct DhtPutParams {
    /// Seconds the record stays valid (the DHT caps it at 48 h).
    pub ttl_secs: Option<u64>,
}

/// `PUT /v0/dht/{key}`.
#[derive(Serialize)]
pub struct DhtPutResponse {
    /// The record key (64 hex digits).
    pub key: String,
    /// Peers that stored the record.
    pub stored: usize,
}

fn dht_error(e: &OverlayError) -> Response {
    let status = match e {
        OverlayError::Dht(QueryError::ValueTooLarge(_)) => StatusCode::PAYLOAD_TOO_LARGE,
        _ => StatusCode::SERVICE_UNAVAILABLE,
    };
    let body = Json(serde_json::json!({ "error": e.to_string() }));
    (status, body).into_response()
}

async fn dht_put(
    State(s): State<Arc<ApiState>>,
    Path(key): Path<String>,
    Query(params): Query<DhtPutParams>,
    value: Bytes,
) -> Response {
    let key = dht::user_key(&key);
    let ttl = std::time::Duration::from_secs(params.ttl_secs.unwrap_or(DHT_DEFAULT_TTL_SECS));
    match s.overlay.dht.put(key, value.to_vec(), ttl).await {
        Ok(stored) => Json(DhtPutResponse {
            key: key.to_string(),
            stored,
        })
        .into_response(),
        Err(e) => dht_error(&e),
    }
}

async fn dht_get(State(s): State<Arc<ApiState>>, Path(key): Path<String>) -> Response {
    let key = dht::user_key(&key);
    match s.overlay.dht.get(key).await {
        Ok(Some(value)) => {
            ([(header::CONTENT_TYPE, "application/octet-stream")], value).into_response()
        }
        Ok(None) => {
            let body = Json(serde_json::json!({ "error": format!("no record under {key}") }));
            (StatusCode::NOT_FOUND, body).into_response()
        }
        // alone, the node has looked everywhere it can
        Err(OverlayError::Dht(QueryError::NoPeers)) => {
            let body = Json(serde_json::json!({
                "error": format!("no record under {key} (this node knows no peers)")
            }));
            (StatusCode::NOT_FOUND, body).into_response()
        }
        Err(e) => dht_error(&e),
    }
}

/// An internal failure, reported as 500 with a JSON `error`.
#[derive(Debug)]
pub struct ApiError(String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Json(serde_json::json!({ "error": self.0 }));
        (StatusCode::INTERNAL_SERVER_ERROR, body).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query_token(method: Method, uri: &str) -> Option<String> {
        gateway_query_token(&method, &uri.parse().expect("uri"))
    }

    #[test]
    fn query_token_only_for_reading_the_gateway() {
        let hash = "ab".repeat(32);
        let content = format!("/content/{hash}?token=s3cr%2Ft&timeout_secs=5");
        assert_eq!(
            query_token(Method::GET, &content).as_deref(),
            Some("s3cr/t")
        );
        assert_eq!(
            query_token(Method::HEAD, &content).as_deref(),
            Some("s3cr/t")
        );
        assert_eq!(query_token(Method::POST, &content), None);
        assert_eq!(query_token(Method::DELETE, &content), None);
        assert_eq!(query_token(Method::GET, &format!("/content/{hash}")), None);
        assert_eq!(query_token(Method::GET, "/v0/peers?token=t"), None);
        assert_eq!(query_token(Method::GET, "/metrics?token=t"), None);
        assert_eq!(query_token(Method::GET, "/contentx/a?token=t"), None);
        assert_eq!(query_token(Method::GET, "/v0/content/a?token=t"), None);
        // Two tokens are none.
        assert_eq!(
            query_token(Method::GET, &format!("/content/{hash}?token=a&token=b")),
            None
        );
    }

    #[test]
    fn tokens_compare_whole() {
        assert!(token_matches("abc", "abc"));
        assert!(!token_matches("ab", "abc"));
        assert!(!token_matches("", "abc"));
    }

    #[test]
    fn unauthorized_is_one_line_naming_the_token_file() {
        let resp = unauthorized(std::path::Path::new("/data/weft/api.token"));
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            resp.headers()
                .get(header::WWW_AUTHENTICATE)
                .map(|v| v.as_bytes()),
            Some(&b"Bearer"[..])
        );
        let msg = unauthorized_message(std::path::Path::new("/data/weft/api.token"));
        assert_eq!(
            msg,
            "missing or wrong API token: send 'Authorization: Bearer <token from \
             /data/weft/api.token>' (GET /content/<hash> also accepts '?token=<token>')"
        );
    }
}
