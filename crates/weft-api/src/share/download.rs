//! Downloads: `POST /v0/downloads` starts one ([`DownloadRequest`]), `GET
//! /v0/downloads/{hash}` shows it ([`DownloadStatus`]). Asked with
//! `?wait_ms=N&state=S`, the status route answers as soon as the download's state is no
//! longer `S`, or after `N` ms (at most [`MAX_WAIT_MS`]) with the progress so far: a client
//! follows a download with a few requests a second and learns of its end at once.

use std::path::PathBuf;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Longest a status request waits for a change of state.
pub const MAX_WAIT_MS: u64 = 5_000;

/// Where a download is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum DownloadState {
    /// Looking for sources and the content's size.
    Searching,
    /// Fetching and verifying ranges.
    Downloading,
    /// Every piece is there; the whole file is being checked and moved into place.
    Verifying,
    /// The file is in place.
    Done,
    /// It stopped; the status's `error` says why.
    Failed,
}

impl DownloadState {
    /// Done or failed: the state will not change again.
    pub fn is_finished(self) -> bool {
        matches!(self, DownloadState::Done | DownloadState::Failed)
    }

    /// The lowercase name the API uses.
    pub fn as_str(self) -> &'static str {
        match self {
            DownloadState::Searching => "searching",
            DownloadState::Downloading => "downloading",
            DownloadState::Verifying => "verifying",
            DownloadState::Done => "done",
            DownloadState::Failed => "failed",
        }
    }
}

/// Body of `POST /v0/downloads`.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct DownloadRequest {
    /// The content hash (64 hex digits).
    pub hash: String,
    /// Where to put the file (absolute).
    pub out: PathBuf,
    /// Replace `out` if it exists.
    #[serde(default)]
    pub force: bool,
    /// Seconds to look for a first source (default 30).
    pub timeout_secs: Option<u64>,
}

/// A download's state, as `GET /v0/downloads/{hash}` shows it.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[schemars(rename = "Download")]
pub struct DownloadStatus {
    /// The content hash.
    pub hash: String,
    /// Where the file goes.
    pub out: String,
    /// Where the download is.
    pub state: DownloadState,
    /// The content size, once known.
    pub size: Option<u64>,
    /// Bytes verified and written.
    pub bytes: u64,
    /// Bytes that were already there from an earlier run.
    pub resumed_bytes: u64,
    /// Bytes per second over the last seconds.
    pub rate: f64,
    /// Sources in use (not banned).
    pub sources: usize,
    /// Sources banned for sending bad data.
    pub banned: usize,
    /// Peer ids of the sources banned during this run.
    pub banned_peers: Vec<String>,
    /// Requests in flight.
    pub in_flight: usize,
    /// Estimated seconds to completion.
    pub eta_secs: Option<f64>,
    /// Sources that delivered verified data.
    pub sources_used: usize,
    /// Seconds since the download started.
    pub seconds: f64,
    /// Why it failed.
    pub error: Option<String>,
    /// The shared file the content was copied from, when this node already had it.
    pub copied_from: Option<String>,
}

impl DownloadStatus {
    /// A download of `hash` to `out` that has just started.
    pub fn new(hash: String, out: String) -> Self {
        DownloadStatus {
            hash,
            out,
            state: DownloadState::Searching,
            size: None,
            bytes: 0,
            resumed_bytes: 0,
            rate: 0.0,
            sources: 0,
            banned: 0,
            banned_peers: Vec::new(),
            in_flight: 0,
            eta_secs: None,
            sources_used: 0,
            seconds: 0.0,
            error: None,
            copied_from: None,
        }
    }
}

/// Query of `GET /v0/downloads/{hash}`.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, JsonSchema)]
pub struct StatusQuery {
    /// Wait up to this many milliseconds (at most [`MAX_WAIT_MS`]) for the state to differ
    /// from `state`; without `state`, for the download to finish.
    pub wait_ms: Option<u64>,
    /// The state the client last saw.
    pub state: Option<DownloadState>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_serialize_as_the_words_the_api_always_printed() {
        for s in [
            DownloadState::Searching,
            DownloadState::Downloading,
            DownloadState::Verifying,
            DownloadState::Done,
            DownloadState::Failed,
        ] {
            let json = serde_json::to_string(&s).unwrap_or_default();
            assert_eq!(json, format!("\"{}\"", s.as_str()));
        }
    }
}
