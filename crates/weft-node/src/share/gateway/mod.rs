//! `GET` and `HEAD /content/{hash}`: the content gateway.
//!
//! Whatever it sends verifies against the hash asked for. Content this node shares is read
//! from its file in pieces of whole chunk groups, and every group is checked against the
//! content's hash tree (from the index) before a byte of it is sent: the first piece before
//! the status line, so a file that changed on disk is refused with 409 and a JSON error;
//! a mismatch further on ends the body early (the client sees a broken transfer, never wrong
//! bytes). Content the node lacks is fetched from the network range by range as it is sent,
//! each piece verified (`remote.rs`); nothing of it is kept.
//!
//! `Range` follows RFC 9110 ([`weft_share::http_range`]); the answer names the content's
//! type and file name, and its `ETag` is the hash (`If-None-Match` gets 304).

mod headers;
mod remote;

pub(crate) use self::remote::RemoteState;

use std::fs::File;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use weft_core::id::Key256;
use weft_share::http_range::Requested;
use weft_share::index::Index;
use weft_share::verify::{self, GROUP_BYTES, Outboard, ServeError};

use self::headers::Described;
use super::Share;
use super::routes::{error, parse_hash};
use crate::api::{ApiError, HttpError};

/// Bytes read, verified and sent at a time from a local file (whole chunk groups).
const LOCAL_PIECE: u64 = 64 * GROUP_BYTES;
/// Verified pieces read ahead of a slow client at most.
const READ_AHEAD: usize = 2;

/// Query of `GET /content/{hash}`.
#[derive(Deserialize)]
pub(super) struct ContentParams {
    /// How long to look for sources of content this node lacks (1 to 300 s; default 30).
    timeout_secs: Option<u64>,
}

/// `GET`/`HEAD /content/{hash}`: 304 if the client has it, else from the shared file, else
/// from the network.
pub(super) async fn content(
    State(share): State<Share>,
    Path(hash): Path<String>,
    Query(p): Query<ContentParams>,
    method: Method,
    headers: HeaderMap,
) -> Response {
    let find_timeout = Duration::from_secs(p.timeout_secs.unwrap_or(30).clamp(1, 300));
    let hash = match parse_hash(&hash) {
        Ok(h) => h,
        Err(e) => return ApiError::from(e).into_response(),
    };
    // The bytes of a hash never change: a client that has them needs nothing else.
    let etag = headers::etag(&hash);
    if headers::not_modified(&headers, &etag) {
        return Response::builder()
            .status(StatusCode::NOT_MODIFIED)
            .header(axum::http::header::ETAG, etag)
            .body(Body::empty())
            .unwrap_or_else(|e| error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()));
    }
    match local_content(&share, hash).await {
        Ok(Some(local)) => serve_local(&share, local, &method, &headers).await,
        Ok(None) => remote::serve(&share, hash, &method, &headers, find_timeout).await,
        Err(e) => failed(e),
    }
}

/// A shared file that holds a content, and how to check it.
struct LocalContent {
    described: Described,
    path: PathBuf,
    outboard: Arc<Outboard>,
}

/// The shared file of `hash`, if this node has one, with its name and type from the index.
async fn local_content(share: &Share, hash: Key256) -> Result<Option<LocalContent>, LocalError> {
    let s = share.clone();
    let found = tokio::task::spawn_blocking(move || {
        let Some((path, outboard)) = super::content::local_source(&s, &hash)? else {
            return Ok(None);
        };
        let conn = s.db();
        let entry = Index::new(&conn).content(&hash)?;
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
        let mut described = Described::named(hash, outboard.size, name);
        if let Some(mime) = entry.map(|e| e.mime).filter(|m| !m.is_empty()) {
            described.mime = mime;
        }
        Ok::<_, weft_share::index::IndexError>(Some(LocalContent {
            described,
            path,
            outboard,
        }))
    })
    .await??;
    Ok(found)
}

/// The end of the piece that starts at `at`: the next multiple of [`LOCAL_PIECE`], or `end`.
fn piece_end(at: u64, end: u64) -> u64 {
    (at / LOCAL_PIECE + 1).saturating_mul(LOCAL_PIECE).min(end)
}

/// Reads `range` of the local file and checks it against the hash tree (blocking); tells the
/// index when the file no longer matches.
fn read_piece(
    share: &Share,
    local: &LocalSource,
    range: std::ops::Range<u64>,
) -> Result<Bytes, ServeError> {
    let mut out = Vec::new();
    let r = verify::read_verified(&*local.file, &local.outboard, range, &mut out);
    if let Err(ServeError::Changed) = r {
        share.file_no_longer_matches(&local.outboard.root, &local.path);
    }
    r.map(|()| Bytes::from(out))
}

/// An open local file and its tree, shared by the pieces of one answer.
struct LocalSource {
    file: Arc<File>,
    path: PathBuf,
    outboard: Arc<Outboard>,
}

/// Reads a piece on the blocking pool.
async fn read_piece_blocking(
    share: &Share,
    local: &Arc<LocalSource>,
    range: std::ops::Range<u64>,
) -> Result<Bytes, ServeError> {
    let (s, l) = (share.clone(), local.clone());
    tokio::task::spawn_blocking(move || read_piece(&s, &l, range))
        .await
        .map_err(|e| ServeError::Io(std::io::Error::other(e.to_string())))?
}

/// The message a changed file is refused with.
/// Why the gateway could not answer from this node's own shared file.
#[derive(Debug, thiserror::Error)]
pub enum LocalError {
    /// The index failed.
    #[error(transparent)]
    Index(#[from] weft_share::index::IndexError),
    /// The file could not be opened.
    #[error("cannot open {}: {source}", path.display())]
    Open {
        /// The shared file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file no longer matches the hash.
    #[error(
        "the shared file {} changed on disk and no longer matches {hash}; nothing of it is \
         served under that hash",
        path.display()
    )]
    Changed {
        /// The shared file.
        path: PathBuf,
        /// The content hash.
        hash: Key256,
    },
    /// The file could not be read or checked.
    #[error(transparent)]
    Read(#[from] ServeError),
    /// A blocking task did not finish.
    #[error("internal error: {0}")]
    Task(#[from] tokio::task::JoinError),
}

impl HttpError for LocalError {
    fn status(&self) -> StatusCode {
        match self {
            LocalError::Open { .. } => StatusCode::NOT_FOUND,
            LocalError::Changed { .. } => StatusCode::CONFLICT,
            LocalError::Index(_) | LocalError::Read(_) | LocalError::Task(_) => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
        }
    }
}

fn failed(e: LocalError) -> Response {
    ApiError::from(e).into_response()
}

async fn serve_local(
    share: &Share,
    local: LocalContent,
    method: &Method,
    headers: &HeaderMap,
) -> Response {
    let d = &local.described;
    let what = headers::requested(headers, d);
    let range = match &what {
        Some(Requested::Whole) => 0..d.size,
        Some(Requested::Part(r)) => r.clone(),
        None | Some(Requested::Unsatisfiable) => 0..0,
    };
    let answer = headers::answer(d, what.as_ref());
    if range.is_empty() || method == Method::HEAD {
        return answer
            .body(Body::empty())
            .unwrap_or_else(|e| error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()));
    }
    let file = match File::open(&local.path) {
        Ok(f) => f,
        Err(source) => {
            return failed(LocalError::Open {
                path: local.path.clone(),
                source,
            });
        }
    };
    let source = Arc::new(LocalSource {
        file: Arc::new(file),
        path: local.path.clone(),
        outboard: local.outboard.clone(),
    });
    // The first piece is checked before the status line goes out.
    let first_end = piece_end(range.start, range.end);
    let first = match read_piece_blocking(share, &source, range.start..first_end).await {
        Ok(b) => b,
        Err(ServeError::Changed) => {
            return failed(LocalError::Changed {
                path: local.path.clone(),
                hash: d.hash,
            });
        }
        Err(e) => return failed(e.into()),
    };
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(READ_AHEAD);
    let share = share.clone();
    tokio::spawn(async move {
        if tx.send(Ok(first)).await.is_err() {
            return;
        }
        let mut at = first_end;
        while at < range.end {
            let end = piece_end(at, range.end);
            let piece = read_piece_blocking(&share, &source, at..end)
                .await
                .map_err(|e| std::io::Error::other(e.to_string()));
            let failed = piece.is_err();
            // A failed piece ends the body before its bytes: the client sees the transfer
            // break, never bytes that do not match the hash.
            if tx.send(piece).await.is_err() || failed {
                return;
            }
            at = end;
        }
    });
    answer
        .body(Body::from_stream(
            tokio_stream::wrappers::ReceiverStream::new(rx),
        ))
        .unwrap_or_else(|e| error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_end_on_their_boundaries() {
        assert_eq!(piece_end(0, 10), 10);
        assert_eq!(piece_end(5, LOCAL_PIECE * 3), LOCAL_PIECE);
        assert_eq!(piece_end(LOCAL_PIECE, LOCAL_PIECE * 3), 2 * LOCAL_PIECE);
        assert_eq!(piece_end(LOCAL_PIECE - 1, LOCAL_PIECE + 7), LOCAL_PIECE);
        assert_eq!(
            LOCAL_PIECE % GROUP_BYTES,
            0,
            "pieces are whole chunk groups"
        );
    }
}
