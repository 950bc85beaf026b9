//! The client side of the local API, used by every `weft` command but `up` and `demo`.
//! It finds the node through the data folder's `addrs.json` and `api.token`
//! ([`crate::running`]).

use std::path::Path;
use std::time::Duration;

use serde::de::DeserializeOwned;

use crate::running::{self, Addrs};

pub use reqwest::{Method, Response};

/// Why a command could not talk to its node.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// No node runs on the data folder.
    #[error(
        "no weft node is running with data folder {0}; start one with `weft up` (or pass --home DIR)"
    )]
    NotRunning(String),
    /// The node did not answer.
    #[error(
        "the weft node at {addr} did not answer ({error}); is it still running? Start it with `weft up`"
    )]
    Unreachable {
        /// The API address tried.
        addr: String,
        /// What failed.
        error: String,
    },
    /// The node refused or failed the request.
    #[error("the node answered {status}: {message}")]
    Api {
        /// HTTP status.
        status: u16,
        /// The node's message.
        message: String,
    },
}

/// A connection to the local node's API.
pub struct Client {
    http: reqwest::Client,
    base: String,
    token: String,
    /// What `addrs.json` said.
    pub addrs: Addrs,
}

impl Client {
    /// Finds the node running on data folder `dir`.
    ///
    /// # Errors
    /// [`ClientError::NotRunning`] if the folder has no running node.
    pub fn for_home(dir: &Path) -> Result<Self, ClientError> {
        let (addrs, token) = running::read_running(dir)
            .ok_or_else(|| ClientError::NotRunning(dir.display().to_string()))?;
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .no_proxy()
            .build()
            .map_err(|e| ClientError::Unreachable {
                addr: addrs.api.clone(),
                error: e.to_string(),
            })?;
        Ok(Client {
            http,
            base: format!("http://{}", addrs.api),
            token,
            addrs,
        })
    }

    /// `PUT path` with `body` (bytes) and decode the JSON answer.
    ///
    /// # Errors
    /// [`ClientError`] if the node does not answer or answers with an error.
    pub async fn put_bytes<T: DeserializeOwned>(
        &self,
        path: &str,
        body: Vec<u8>,
    ) -> Result<T, ClientError> {
        let req = self.http.put(format!("{}{path}", self.base)).body(body);
        let body = self.send(req).await?;
        serde_json::from_slice(&body).map_err(|e| ClientError::Api {
            status: 200,
            message: format!("unexpected answer: {e}"),
        })
    }

    /// `GET path` and return the answer's bytes as they are.
    ///
    /// # Errors
    /// [`ClientError`] if the node does not answer or answers with an error.
    pub async fn get_bytes(&self, path: &str) -> Result<Vec<u8>, ClientError> {
        let req = self.http.get(format!("{}{path}", self.base));
        self.send(req).await
    }

    /// `method path` with a JSON `body`, and decode the JSON answer.
    ///
    /// # Errors
    /// [`ClientError`] if the node does not answer or answers with an error.
    pub async fn send_json<B: serde::Serialize, T: DeserializeOwned>(
        &self,
        method: reqwest::Method,
        path: &str,
        body: &B,
    ) -> Result<T, ClientError> {
        let req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .json(body);
        let body = self.send(req).await?;
        serde_json::from_slice(&body).map_err(|e| ClientError::Api {
            status: 200,
            message: format!("unexpected answer: {e}"),
        })
    }

    /// `GET path` with no overall time limit but `limit`, for answers that stream (read them
    /// with `Response::chunk`).
    ///
    /// # Errors
    /// [`ClientError`] if the node does not answer or answers with an error.
    pub async fn get_stream(
        &self,
        path: &str,
        limit: Duration,
    ) -> Result<reqwest::Response, ClientError> {
        let resp = self
            .http
            .get(format!("{}{path}", self.base))
            .timeout(limit)
            .bearer_auth(&self.token)
            .send()
            .await
            .map_err(|e| ClientError::Unreachable {
                addr: self.addrs.api.clone(),
                error: e.to_string(),
            })?;
        let status = resp.status();
        if status.is_success() {
            return Ok(resp);
        }
        let body = resp.bytes().await.unwrap_or_default();
        Err(api_error(status, &body))
    }

    /// [`ClientError::Unreachable`] for a failure to reach the node.
    pub(crate) fn unreachable(&self, e: &reqwest::Error) -> ClientError {
        ClientError::Unreachable {
            addr: self.addrs.api.clone(),
            error: e.to_string(),
        }
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> Result<Vec<u8>, ClientError> {
        let resp =
            req.bearer_auth(&self.token)
                .send()
                .await
                .map_err(|e| ClientError::Unreachable {
                    addr: self.addrs.api.clone(),
                    error: e.to_string(),
                })?;
        let status = resp.status();
        let body = resp.bytes().await.map_err(|e| ClientError::Unreachable {
            addr: self.addrs.api.clone(),
            error: e.to_string(),
        })?;
        if !status.is_success() {
            return Err(api_error(status, &body));
        }
        Ok(body.to_vec())
    }

    /// `GET path` and decode the JSON answer.
    ///
    /// # Errors
    /// [`ClientError`] if the node does not answer or answers with an error.
    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, ClientError> {
        let body = self
            .send(self.http.get(format!("{}{path}", self.base)))
            .await?;
        serde_json::from_slice(&body).map_err(|e| ClientError::Api {
            status: 200,
            message: format!("unexpected answer: {e}"),
        })
    }
}

/// The error a non-success answer carries: its JSON `error` field, or the body as text.
fn api_error(status: reqwest::StatusCode, body: &[u8]) -> ClientError {
    let message = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_string))
        .unwrap_or_else(|| String::from_utf8_lossy(body).into_owned());
    ClientError::Api {
        status: status.as_u16(),
        message,
    }
}
