//! Messages of the file-sharing protocols, with their bounds.
//!
//! Every message is encoded with [`weft_core::wire::encode`] and read with [`decode`], which
//! applies the codec's frame limit and then this module's bounds (names, lists, ranges), so
//! a peer's oversized or malformed message is an error, never a panic or a large allocation.
//!
//! The transfer protocol, one libp2p stream per request: the downloader writes a
//! [`TransferRequest`]; the provider answers with a [`TransferResponse`] frame and, after
//! [`TransferResponse::Slice`], exactly `encoded_len` bytes of encoded slice (see
//! [`crate::verify`]), which the downloader checks with [`expect_slice`] before reading.

use serde::{Deserialize, Serialize, de::DeserializeOwned};
use weft_core::id::Key256;
use weft_core::wire::DecodeError;

use crate::verify;

/// Frame limit for transfer requests and response headers.
pub const MAX_TRANSFER_FRAME: usize = 1024;
/// Frame limit for search queries, results and publish batches.
pub const MAX_SEARCH_FRAME: usize = 256 * 1024;
/// Largest byte range one request may ask for (16 MiB).
pub const MAX_RANGE_BYTES: u64 = 16 << 20;
/// Longest file name carried, in bytes.
pub const MAX_NAME_BYTES: usize = 255;
/// Most names per search result.
pub const MAX_NAMES: usize = 16;
/// Most results per message.
pub const MAX_RESULTS: usize = 256;
/// Most items per publish message.
pub const MAX_PUBLISH_ITEMS: usize = 256;
/// Longest query text, in bytes.
pub const MAX_QUERY_BYTES: usize = 256;
/// Longest MIME type, in bytes.
pub const MAX_MIME_BYTES: usize = 100;
/// Most keywords per published item.
pub const MAX_ITEM_KEYWORDS: usize = crate::index::MAX_KEYWORDS;
/// Longest keyword, in bytes.
pub const MAX_KEYWORD_BYTES: usize = 64;

/// Why a message was refused.
#[derive(Debug, thiserror::Error)]
pub enum WireError {
    /// The codec refused the bytes.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// The message decoded but breaks a bound of this protocol.
    #[error("message out of bounds: {0}")]
    OutOfBounds(&'static str),
    /// A response does not answer the request it came for.
    #[error("response does not match the request: {0}")]
    Mismatch(&'static str),
}

/// A message with bounds beyond the frame limit.
pub trait Bounded {
    /// Checks the bounds.
    ///
    /// # Errors
    /// [`WireError::OutOfBounds`] naming the first bound broken.
    fn check(&self) -> Result<(), WireError>;
}

/// Decodes a message of at most `max` bytes and checks its bounds.
///
/// # Errors
/// [`WireError`] for malformed or out-of-bounds input.
pub fn decode<T: DeserializeOwned + Bounded>(bytes: &[u8], max: usize) -> Result<T, WireError> {
    let msg: T = weft_core::wire::decode(bytes, max)?;
    msg.check()?;
    Ok(msg)
}

fn ensure(ok: bool, what: &'static str) -> Result<(), WireError> {
    if ok {
        Ok(())
    } else {
        Err(WireError::OutOfBounds(what))
    }
}

/// A downloader's request for a range of content.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum TransferRequest {
    /// Bytes `start..end` of content `hash`, as an encoded slice.
    Range {
        /// The content.
        hash: Key256,
        /// First byte.
        start: u64,
        /// One past the last byte.
        end: u64,
    },
}

impl Bounded for TransferRequest {
    fn check(&self) -> Result<(), WireError> {
        let TransferRequest::Range { start, end, .. } = self;
        ensure(start < end, "empty or reversed range")?;
        ensure(end - start <= MAX_RANGE_BYTES, "range too large")
    }
}

/// Why a provider does not serve a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum TransferError {
    /// It does not have (or no longer has) the content.
    NotFound,
    /// No upload slot is free; ask again after the delay.
    Busy {
        /// Suggested delay in milliseconds.
        retry_after_ms: u32,
    },
    /// The range is outside the content or too large.
    BadRange,
    /// Reading the file failed.
    Internal,
}

/// A provider's answer header.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum TransferResponse {
    /// The encoded slice for the requested range follows: `encoded_len` bytes.
    Slice {
        /// The content size (part of the tree's shape).
        size: u64,
        /// First byte, as requested.
        start: u64,
        /// One past the last byte, as requested.
        end: u64,
        /// Bytes of encoded slice that follow.
        encoded_len: u64,
    },
    /// The request is refused.
    Error(TransferError),
}

impl Bounded for TransferResponse {
    fn check(&self) -> Result<(), WireError> {
        match self {
            TransferResponse::Slice {
                start, end, size, ..
            } => {
                ensure(start < end && end <= size, "range outside the content")?;
                ensure(end - start <= MAX_RANGE_BYTES, "range too large")
            }
            TransferResponse::Error(_) => Ok(()),
        }
    }
}

/// Checks that `response` answers `request` for content of `size` bytes and returns how many
/// encoded bytes to read next (`Ok(None)` if the provider refused, with its reason in
/// `response`).
///
/// # Errors
/// [`WireError::Mismatch`] if the range, the size or the slice length is not the one the
/// request calls for.
pub fn expect_slice(
    request: &TransferRequest,
    size: u64,
    response: &TransferResponse,
) -> Result<Option<u64>, WireError> {
    let TransferRequest::Range { start, end, .. } = request;
    match response {
        TransferResponse::Error(_) => Ok(None),
        TransferResponse::Slice {
            size: s,
            start: a,
            end: b,
            encoded_len,
        } => {
            if *s != size {
                return Err(WireError::Mismatch("content size"));
            }
            if (a, b) != (start, end) {
                return Err(WireError::Mismatch("range"));
            }
            let expected = verify::encoded_len(size, *start..*end)
                .map_err(|_| WireError::Mismatch("range outside the content"))?;
            if *encoded_len != expected {
                return Err(WireError::Mismatch("encoded length"));
            }
            Ok(Some(expected))
        }
    }
}

/// A keyword query.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SearchQuery {
    /// The user's words.
    pub text: String,
    /// Most results wanted.
    pub max_results: u16,
}

impl Bounded for SearchQuery {
    fn check(&self) -> Result<(), WireError> {
        ensure(self.text.len() <= MAX_QUERY_BYTES, "query too long")?;
        ensure(
            usize::from(self.max_results) <= MAX_RESULTS,
            "too many results asked",
        )
    }
}

/// One content found: what `weft search` prints a row for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SearchResult {
    /// The content hash.
    pub hash: Key256,
    /// The content size.
    pub size: u64,
    /// Distinct file names (at most [`MAX_NAMES`]).
    pub names: Vec<String>,
    /// MIME type.
    pub mime: String,
    /// Peers known to provide it (as counted by the answerer).
    pub sources: u32,
}

impl Bounded for SearchResult {
    fn check(&self) -> Result<(), WireError> {
        ensure(
            !self.names.is_empty() && self.names.len() <= MAX_NAMES,
            "name count",
        )?;
        ensure(
            self.names.iter().all(|n| n.len() <= MAX_NAME_BYTES),
            "name too long",
        )?;
        ensure(self.mime.len() <= MAX_MIME_BYTES, "mime too long")
    }
}

/// A batch of results.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SearchResults {
    /// The results (at most [`MAX_RESULTS`]).
    pub results: Vec<SearchResult>,
    /// More matched than were sent (the query's `max_results` or the answerer's bound).
    pub more: bool,
}

impl Bounded for SearchResults {
    fn check(&self) -> Result<(), WireError> {
        ensure(self.results.len() <= MAX_RESULTS, "too many results")?;
        self.results.iter().try_for_each(Bounded::check)
    }
}

/// One content a leaf publishes to a directory (or as DHT postings).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublishItem {
    /// The content hash.
    pub hash: Key256,
    /// The content size.
    pub size: u64,
    /// A file name.
    pub name: String,
    /// MIME type.
    pub mime: String,
    /// Keywords (see [`crate::index::keywords`]).
    pub keywords: Vec<String>,
}

impl Bounded for PublishItem {
    fn check(&self) -> Result<(), WireError> {
        ensure(self.name.len() <= MAX_NAME_BYTES, "name too long")?;
        ensure(self.mime.len() <= MAX_MIME_BYTES, "mime too long")?;
        ensure(
            self.keywords.len() <= MAX_ITEM_KEYWORDS,
            "too many keywords",
        )?;
        ensure(
            self.keywords
                .iter()
                .all(|k| !k.is_empty() && k.len() <= MAX_KEYWORD_BYTES),
            "keyword length",
        )
    }
}

/// A change to what a leaf shares, sent to its directory.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Publish {
    /// Contents now shared (at most [`MAX_PUBLISH_ITEMS`]).
    Add(Vec<PublishItem>),
    /// Contents no longer shared (at most [`MAX_PUBLISH_ITEMS`]).
    Remove(Vec<Key256>),
    /// Forget everything this leaf published before (sent first on connect).
    Reset,
}

impl Bounded for Publish {
    fn check(&self) -> Result<(), WireError> {
        match self {
            Publish::Add(items) => {
                ensure(items.len() <= MAX_PUBLISH_ITEMS, "too many items")?;
                items.iter().try_for_each(Bounded::check)
            }
            Publish::Remove(hashes) => ensure(hashes.len() <= MAX_PUBLISH_ITEMS, "too many items"),
            Publish::Reset => Ok(()),
        }
    }
}

impl PublishItem {
    /// The item for an index entry, with its names cut to the bounds.
    pub fn from_entry(entry: &crate::index::ContentEntry) -> Self {
        PublishItem {
            hash: entry.hash,
            size: entry.size,
            name: truncate(
                entry.names.first().map_or("", String::as_str),
                MAX_NAME_BYTES,
            ),
            mime: truncate(&entry.mime, MAX_MIME_BYTES),
            keywords: entry
                .keywords
                .iter()
                .filter(|k| k.len() <= MAX_KEYWORD_BYTES)
                .take(MAX_ITEM_KEYWORDS)
                .cloned()
                .collect(),
        }
    }
}

/// `s` cut to at most `max` bytes at a character boundary.
pub fn truncate(s: &str, max: usize) -> String {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_string()
}

#[cfg(test)]
mod tests;
