//! The local HTTP API: JSON over HTTP on a loopback address, every route guarded by
//! `Authorization: Bearer <api.token>`. The content gateway (`GET`/`HEAD /content/{hash}`)
//! also accepts the token as a query parameter, `?token=<api.token>`, so that a browser can
//! open it from the address bar; no other route does. The routes are listed by [`routes`] and
//! described in `openapi.json` beside this crate's `Cargo.toml`; a test keeps the two in step.

pub mod error;

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
use tokio::sync::broadcast;
use tokio_stream::wrappers::BroadcastStream;
use weft_api::dht::{DHT_DEFAULT_TTL_SECS, DhtPut, DhtPutQuery};
use weft_api::events::ApiEvent;
use weft_api::node::{
    ConnectedPeer, FloodRole, Health, HealthStatus, Id, KnownPeer, NodeSummary, Peers,
};
use weft_net::NetHandle;
use weft_net::overlay::{Overlay, OverlayError, dht};
use weft_overlay::kademlia::{MAX_VALUE_LEN, QueryError};
use weft_store::{PeerRecord, Store};

pub use error::{ApiError, HttpError, Internal, blocking};

use crate::collab::routes as collab;
use crate::compute::routes as compute;
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

/// The node's own routes as `(method, path)`.
pub const NODE_ROUTES: &[(&str, &str)] = &[
    ("get", ROUTE_ID),
    ("get", ROUTE_PEERS),
    ("get", ROUTE_HEALTH),
    ("get", ROUTE_EVENTS),
    ("get", ROUTE_METRICS),
    ("put", ROUTE_DHT),
    ("get", ROUTE_DHT),
];

/// Every route as `(method, path)`, the node's and each service's: what `openapi.json` must
/// describe.
pub fn routes() -> Vec<(&'static str, &'static str)> {
    [NODE_ROUTES, share::ROUTES, compute::ROUTES, collab::ROUTES].concat()
}

/// What the node's own routes share (each service's routes have the service's state).
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
}

/// Builds the API: the node's routes over `state`, the services' routers (each already over
/// its own state) merged in, every route behind the bearer token.
pub fn router(state: Arc<ApiState>, services: Router) -> Router {
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
        .with_state(state.clone())
        .merge(services)
        .layer(middleware::from_fn_with_state(state, require_token))
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
    let body = Json(weft_api::ErrorBody {
        error: unauthorized_message(token_file),
    });
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

async fn id(State(s): State<Arc<ApiState>>) -> Json<Id> {
    let flood_role = s
        .overlay
        .flood
        .info()
        .await
        .ok()
        .map(|i| flood_role(i.role));
    let dht_postings = s.overlay.dht.info().await.ok().map(|i| i.postings as u64);
    let net = s.net.state();
    Json(Id {
        peer_id: net.peer_id,
        listen: net.listen,
        external: net.external,
        nat: net.nat,
        api: s.api_addr.clone(),
        version: env!("CARGO_PKG_VERSION").to_string(),
        uptime_secs: s.started.elapsed().as_secs(),
        node: s.role.clone(),
        flood_role,
        dht_postings,
    })
}

/// The API's name for the flood engine's role.
fn flood_role(role: weft_overlay::flood::Role) -> FloodRole {
    match role {
        weft_overlay::flood::Role::Peer => FloodRole::Peer,
        weft_overlay::flood::Role::Ultrapeer => FloodRole::Ultrapeer,
        weft_overlay::flood::Role::Leaf => FloodRole::Leaf,
    }
}

fn connected_peer(p: weft_net::ConnectedPeer) -> ConnectedPeer {
    ConnectedPeer {
        peer_id: p.peer_id,
        addr: p.addr,
        direction: p.direction,
        source: p.source,
        connections: p.connections,
        rtt_ms: p.rtt_ms,
        agent: p.agent,
        since: p.since,
        listen_addrs: p.listen_addrs,
    }
}

fn known_peer(p: PeerRecord) -> KnownPeer {
    KnownPeer {
        peer_id: p.peer_id,
        addrs: p.addrs,
        first_seen: p.first_seen,
        last_seen: p.last_seen,
        source: p.source,
        failures: p.failures,
        next_dial: p.next_dial,
    }
}

async fn peers(State(s): State<Arc<ApiState>>) -> Result<Json<Peers>, ApiError> {
    let connected = s
        .net
        .state()
        .peers
        .into_values()
        .map(connected_peer)
        .collect();
    let store = s.store.clone();
    let known = blocking(move || store.peers().list())
        .await?
        .map_err(Internal::from)?;
    Ok(Json(Peers {
        connected,
        known: known.into_iter().map(known_peer).collect(),
    }))
}

async fn health(State(s): State<Arc<ApiState>>) -> Json<Health> {
    Json(Health {
        status: HealthStatus::Ok,
        peers: s.net.state().peers.len() as u64,
        uptime_secs: s.started.elapsed().as_secs(),
    })
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
    prometheus_client::encoding::text::encode(&mut text, &s.registry).map_err(Internal::from)?;
    Ok((
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        text,
    )
        .into_response())
}

/// Why a DHT route failed.
#[derive(Debug, thiserror::Error)]
pub enum DhtRouteError {
    /// The lookup found no record (or, alone, the node looked everywhere it could).
    #[error("no record under {key}{}", if *.alone { " (this node knows no peers)" } else { "" })]
    NotFound {
        /// The record key.
        key: weft_core::id::Key256,
        /// The node knows no peers.
        alone: bool,
    },
    /// The DHT refused or failed the query.
    #[error(transparent)]
    Overlay(#[from] OverlayError),
}

impl HttpError for DhtRouteError {
    fn status(&self) -> StatusCode {
        match self {
            DhtRouteError::NotFound { .. } => StatusCode::NOT_FOUND,
            DhtRouteError::Overlay(OverlayError::Dht(QueryError::ValueTooLarge(_))) => {
                StatusCode::PAYLOAD_TOO_LARGE
            }
            DhtRouteError::Overlay(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }
}

async fn dht_put(
    State(s): State<Arc<ApiState>>,
    Path(key): Path<String>,
    Query(params): Query<DhtPutQuery>,
    value: Bytes,
) -> Result<Json<DhtPut>, ApiError> {
    let key = dht::user_key(&key);
    let ttl = std::time::Duration::from_secs(params.ttl_secs.unwrap_or(DHT_DEFAULT_TTL_SECS));
    let stored = s
        .overlay
        .dht
        .put(key, value.to_vec(), ttl)
        .await
        .map_err(DhtRouteError::from)?;
    Ok(Json(DhtPut {
        key: key.to_string(),
        stored: stored as u64,
    }))
}

async fn dht_get(
    State(s): State<Arc<ApiState>>,
    Path(key): Path<String>,
) -> Result<Response, ApiError> {
    let key = dht::user_key(&key);
    match s.overlay.dht.get(key).await {
        Ok(Some(value)) => {
            Ok(([(header::CONTENT_TYPE, "application/octet-stream")], value).into_response())
        }
        Ok(None) => Err(DhtRouteError::NotFound { key, alone: false }.into()),
        // alone, the node has looked everywhere it can
        Err(OverlayError::Dht(QueryError::NoPeers)) => {
            Err(DhtRouteError::NotFound { key, alone: true }.into())
        }
        Err(e) => Err(DhtRouteError::Overlay(e).into()),
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
