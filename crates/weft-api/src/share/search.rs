//! Search: `GET /v0/search` ([`SearchQuery`]) answers JSON lines ([`SearchLine`]): the state
//! of a content's group each time it changes, and a [`CutLine`] when results were held back.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Results (content groups) a search shows by default.
pub const DEFAULT_SEARCH_LIMIT: usize = 50;
/// Most results a search shows.
pub const MAX_SEARCH_LIMIT: usize = 1000;

/// A location model.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Via {
    /// Gnutella-style flooding.
    Flood,
    /// A Napster-style directory server.
    Directory,
    /// The Kademlia DHT.
    Dht,
}

impl Via {
    /// The model's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Via::Flood => "flood",
            Via::Directory => "directory",
            Via::Dht => "dht",
        }
    }

    /// Parses a model's name.
    pub fn parse(s: &str) -> Option<Via> {
        match s {
            "flood" => Some(Via::Flood),
            "directory" => Some(Via::Directory),
            "dht" => Some(Via::Dht),
            _ => None,
        }
    }
}

/// Query of `GET /v0/search`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SearchQuery {
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
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ResultGroup {
    /// The content hash.
    pub hash: String,
    /// Its size.
    pub size: u64,
    /// Distinct names it was found under.
    pub names: Vec<String>,
    /// Distinct peers that have it.
    pub sources: u64,
    /// The models that found it.
    pub via: Vec<Via>,
}

/// Who held search results back.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum CutBy {
    /// The flood model (a hit had more results than it carried).
    Flood,
    /// The directory server.
    Directory,
    /// The DHT (a keyword's postings were bounded).
    Dht,
    /// This node, which dropped contents past the search's limit.
    Limit,
}

impl CutBy {
    /// The lowercase name the API uses.
    pub fn as_str(self) -> &'static str {
        match self {
            CutBy::Flood => "flood",
            CutBy::Directory => "directory",
            CutBy::Dht => "dht",
            CutBy::Limit => "limit",
        }
    }
}

impl From<Via> for CutBy {
    fn from(v: Via) -> Self {
        match v {
            Via::Flood => CutBy::Flood,
            Via::Directory => CutBy::Directory,
            Via::Dht => CutBy::Dht,
        }
    }
}

/// A line of a search answer saying that more results exist than it reports. Each `cut`
/// appears at most once.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct CutLine {
    /// Who cut.
    pub cut: CutBy,
}

/// One line of `GET /v0/search`'s answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum SearchLine {
    /// A content's group, as it stands now.
    Group(ResultGroup),
    /// Results were held back.
    Cut(CutLine),
}
