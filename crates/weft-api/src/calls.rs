//! The typed calls of [`Client`]: one method per route, taking and returning the types of
//! this crate.

use std::time::Duration;

use serde::Serialize;

use crate::client::{Client, ClientError, Method};
use crate::collab::{
    AddContact, CollabStatus, Contact, Contacts, Inbox, InboxQuery, SendMessage, Sent,
};
use crate::compute::{
    Cancelled, Credit, JobProgress, JobResults, Jobs, SubmitRequest, Submitted, Workers,
};
use crate::dht::{DhtPut, DhtPutQuery};
use crate::events::ApiEvent;
use crate::node::{Health, Id, Peers};
use crate::share::{
    DownloadRequest, DownloadStatus, SearchLine, SearchQuery, ShareJob, ShareRequest, ShareStarted,
    ShareStatusQuery, SharedFiles, SharedFilesQuery, SharedRoot, StatusQuery, UnshareRequest,
    Unshared,
};

/// Time beyond a request's own wait that a client gives the node to answer.
const SLACK: Duration = Duration::from_secs(10);

/// `?a=1&b=x`, from a query type's fields that are set (`None` fields are left out).
pub(crate) fn query_string<Q: Serialize>(q: &Q) -> String {
    let Ok(serde_json::Value::Object(fields)) = serde_json::to_value(q) else {
        return String::new();
    };
    let pairs: Vec<String> = fields
        .into_iter()
        .filter_map(|(k, v)| {
            let v = match v {
                serde_json::Value::Null => return None,
                serde_json::Value::String(s) => s,
                other => other.to_string(),
            };
            Some(format!("{k}={}", encode(&v)))
        })
        .collect();
    if pairs.is_empty() {
        String::new()
    } else {
        format!("?{}", pairs.join("&"))
    }
}

/// Percent-encodes a query-string value.
pub(crate) fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl Client {
    /// `GET /v0/id`.
    ///
    /// # Errors
    /// [`ClientError`] if the node does not answer or answers with an error.
    pub async fn id(&self) -> Result<Id, ClientError> {
        self.get("/v0/id").await
    }

    /// `GET /v0/peers`.
    ///
    /// # Errors
    /// As [`Client::id`].
    pub async fn peers(&self) -> Result<Peers, ClientError> {
        self.get("/v0/peers").await
    }

    /// `GET /v0/health`.
    ///
    /// # Errors
    /// As [`Client::id`].
    pub async fn health(&self) -> Result<Health, ClientError> {
        self.get("/v0/health").await
    }

    /// `PUT /v0/dht/{key}`: stores `value` under `key` (any text; the node hashes it).
    ///
    /// # Errors
    /// As [`Client::id`].
    pub async fn dht_put(
        &self,
        key: &str,
        value: Vec<u8>,
        query: DhtPutQuery,
    ) -> Result<DhtPut, ClientError> {
        let path = format!("/v0/dht/{}{}", encode(key), query_string(&query));
        self.put_bytes(&path, value).await
    }

    /// `GET /v0/dht/{key}`: the value, `None` if the lookup found no record.
    ///
    /// # Errors
    /// As [`Client::id`], but for a 404.
    pub async fn dht_get(&self, key: &str) -> Result<Option<Vec<u8>>, ClientError> {
        match self.get_bytes(&format!("/v0/dht/{}", encode(key))).await {
            Ok(v) => Ok(Some(v)),
            Err(ClientError::Api { status: 404, .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// `POST /v0/share`: starts an indexing job.
    ///
    /// # Errors
    /// As [`Client::id`].
    pub async fn share(&self, req: &ShareRequest) -> Result<ShareStarted, ClientError> {
        self.send_json(Method::POST, "/v0/share", req).await
    }

    /// `GET /v0/share`: the latest indexing job.
    ///
    /// # Errors
    /// As [`Client::id`].
    pub async fn share_status(&self, query: ShareStatusQuery) -> Result<ShareJob, ClientError> {
        self.get(&format!("/v0/share{}", query_string(&query)))
            .await
    }

    /// `DELETE /v0/share`: stops sharing a root.
    ///
    /// # Errors
    /// As [`Client::id`]; a 404 if the path is not a shared root.
    pub async fn unshare(&self, req: &UnshareRequest) -> Result<Unshared, ClientError> {
        self.send_json(Method::DELETE, "/v0/share", req).await
    }

    /// `GET /v0/shared`: the shared roots.
    ///
    /// # Errors
    /// As [`Client::id`].
    pub async fn shared(&self) -> Result<Vec<SharedRoot>, ClientError> {
        self.get("/v0/shared").await
    }

    /// `GET /v0/shared/files`: a page of shared files.
    ///
    /// # Errors
    /// As [`Client::id`].
    pub async fn shared_files(&self, query: SharedFilesQuery) -> Result<SharedFiles, ClientError> {
        self.get(&format!("/v0/shared/files{}", query_string(&query)))
            .await
    }

    /// `GET /v0/search`: the answer's lines as they come, for up to the search's timeout and
    /// some slack.
    ///
    /// # Errors
    /// As [`Client::id`].
    pub async fn search(&self, query: &SearchQuery) -> Result<Lines<SearchLine>, ClientError> {
        let secs = query.timeout_secs.unwrap_or(5);
        let resp = self
            .get_stream(
                &format!("/v0/search{}", query_string(query)),
                Duration::from_secs(secs) + SLACK,
            )
            .await?;
        Ok(Lines::new(resp))
    }

    /// `POST /v0/downloads`: starts (or joins) a download.
    ///
    /// # Errors
    /// As [`Client::id`].
    pub async fn start_download(
        &self,
        req: &DownloadRequest,
    ) -> Result<DownloadStatus, ClientError> {
        self.send_json(Method::POST, "/v0/downloads", req).await
    }

    /// `GET /v0/downloads/{hash}`: a download's progress, once its state differs from
    /// `query.state` or after `query.wait_ms`.
    ///
    /// # Errors
    /// As [`Client::id`]; a 404 if there is no download of `hash`.
    pub async fn download(
        &self,
        hash: &str,
        query: StatusQuery,
    ) -> Result<DownloadStatus, ClientError> {
        self.get(&format!(
            "/v0/downloads/{}{}",
            encode(hash),
            query_string(&query)
        ))
        .await
    }

    /// `POST /v0/compute/jobs`.
    ///
    /// # Errors
    /// As [`Client::id`].
    pub async fn submit_job(&self, req: &SubmitRequest) -> Result<Submitted, ClientError> {
        self.send_json(Method::POST, "/v0/compute/jobs", req).await
    }

    /// `GET /v0/compute/jobs`.
    ///
    /// # Errors
    /// As [`Client::id`].
    pub async fn jobs(&self) -> Result<Jobs, ClientError> {
        self.get("/v0/compute/jobs").await
    }

    /// `GET /v0/compute/jobs/{job}`.
    ///
    /// # Errors
    /// As [`Client::id`]; a 404 if the node has no such job.
    pub async fn job(&self, job: &str) -> Result<JobProgress, ClientError> {
        self.get(&format!("/v0/compute/jobs/{}", encode(job))).await
    }

    /// `DELETE /v0/compute/jobs/{job}`.
    ///
    /// # Errors
    /// As [`Client::job`].
    pub async fn cancel_job(&self, job: &str) -> Result<Cancelled, ClientError> {
        let path = format!("/v0/compute/jobs/{}", encode(job));
        self.send_json(Method::DELETE, &path, &serde_json::json!({}))
            .await
    }

    /// `GET /v0/compute/jobs/{job}/results`.
    ///
    /// # Errors
    /// As [`Client::job`].
    pub async fn job_results(&self, job: &str) -> Result<JobResults, ClientError> {
        self.get(&format!("/v0/compute/jobs/{}/results", encode(job)))
            .await
    }

    /// `GET /v0/compute/workers`.
    ///
    /// # Errors
    /// As [`Client::id`].
    pub async fn workers(&self) -> Result<Workers, ClientError> {
        self.get("/v0/compute/workers").await
    }

    /// `GET /v0/compute/credit`.
    ///
    /// # Errors
    /// As [`Client::id`].
    pub async fn credit(&self) -> Result<Credit, ClientError> {
        self.get("/v0/compute/credit").await
    }

    /// `POST /v0/collab/contacts`.
    ///
    /// # Errors
    /// As [`Client::id`].
    pub async fn add_contact(&self, req: &AddContact) -> Result<Contact, ClientError> {
        self.send_json(Method::POST, "/v0/collab/contacts", req)
            .await
    }

    /// `GET /v0/collab/contacts`.
    ///
    /// # Errors
    /// As [`Client::id`].
    pub async fn contacts(&self) -> Result<Contacts, ClientError> {
        self.get("/v0/collab/contacts").await
    }

    /// `POST /v0/collab/messages`.
    ///
    /// # Errors
    /// As [`Client::id`]; a 404 if `to` is no contact.
    pub async fn send_message(&self, req: &SendMessage) -> Result<Sent, ClientError> {
        self.send_json(Method::POST, "/v0/collab/messages", req)
            .await
    }

    /// `GET /v0/collab/inbox`, waiting up to `query.wait_ms` for a message.
    ///
    /// # Errors
    /// As [`Client::id`].
    pub async fn inbox(&self, query: InboxQuery) -> Result<Inbox, ClientError> {
        let limit = Duration::from_millis(query.wait_ms) + SLACK;
        let path = format!("/v0/collab/inbox{}", query_string(&query));
        let resp = self.get_stream(&path, limit).await?;
        let body = resp.bytes().await.map_err(|e| self.unreachable(&e))?;
        decode(&body)
    }

    /// `GET /v0/collab/status`.
    ///
    /// # Errors
    /// As [`Client::id`].
    pub async fn collab_status(&self) -> Result<CollabStatus, ClientError> {
        self.get("/v0/collab/status").await
    }

    /// `GET /v0/events`: the node's live events, for at most `limit`.
    ///
    /// # Errors
    /// As [`Client::id`].
    pub async fn events(&self, limit: Duration) -> Result<Events, ClientError> {
        let resp = self.get_stream("/v0/events", limit).await?;
        Ok(Events {
            resp,
            buf: Vec::new(),
        })
    }
}

/// Decodes a JSON answer.
pub(crate) fn decode<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ClientError> {
    serde_json::from_slice(body).map_err(|e| ClientError::Api {
        status: 200,
        message: format!("unexpected answer: {e}"),
    })
}

/// An answer of JSON lines, read a line at a time.
pub struct Lines<T> {
    resp: reqwest::Response,
    buf: Vec<u8>,
    _line: std::marker::PhantomData<T>,
}

impl<T: serde::de::DeserializeOwned> Lines<T> {
    fn new(resp: reqwest::Response) -> Self {
        Lines {
            resp,
            buf: Vec::new(),
            _line: std::marker::PhantomData,
        }
    }

    /// The next line, `None` once the answer has ended (or was cut off by the client's time
    /// limit). A line that is not a `T` is skipped.
    pub async fn next(&mut self) -> Option<T> {
        loop {
            if let Some(end) = self.buf.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = self.buf.drain(..=end).collect();
                match serde_json::from_slice(&line) {
                    Ok(v) => return Some(v),
                    Err(_) => continue,
                }
            }
            let chunk = self.resp.chunk().await.ok()??;
            self.buf.extend_from_slice(&chunk);
        }
    }
}

/// The event stream of `GET /v0/events`.
pub struct Events {
    resp: reqwest::Response,
    buf: Vec<u8>,
}

impl Events {
    /// The next event, `None` once the stream has ended (or the time limit has passed).
    /// Keep-alive comments and events this client does not know are skipped.
    pub async fn next(&mut self) -> Option<ApiEvent> {
        loop {
            if let Some(end) = self.buf.windows(2).position(|w| w == b"\n\n") {
                let message: Vec<u8> = self.buf.drain(..end + 2).collect();
                let text = String::from_utf8_lossy(&message);
                let data: Vec<&str> = text
                    .lines()
                    .filter_map(|l| l.strip_prefix("data:"))
                    .map(|d| d.strip_prefix(' ').unwrap_or(d))
                    .collect();
                if let Ok(event) = serde_json::from_str(&data.join("\n")) {
                    return Some(event);
                }
                continue;
            }
            let chunk = self.resp.chunk().await.ok()??;
            self.buf.extend_from_slice(&chunk);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_leave_out_unset_fields_and_encode_values() {
        let q = SearchQuery {
            q: "blue train&co".into(),
            via: None,
            ttl: Some(3),
            timeout_secs: None,
            limit: Some(50),
        };
        assert_eq!(query_string(&q), "?limit=50&q=blue%20train%26co&ttl=3");
        assert_eq!(query_string(&ShareStatusQuery::default()), "");
    }
}
