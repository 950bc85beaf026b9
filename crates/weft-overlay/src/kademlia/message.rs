//! Kademlia messages and their checks on receipt.

use serde::{Deserialize, Serialize};

use super::key::KadKey;

/// Largest record value accepted or sent (64 KiB).
pub const MAX_VALUE_LEN: usize = 64 * 1024;

/// Largest number of contacts accepted in one reply, whatever `k` the sender uses.
pub const MAX_CONTACTS_PER_REPLY: usize = 64;

/// Largest posting value accepted or sent (512 bytes).
pub const MAX_POSTING_LEN: usize = 512;

/// Most postings one publisher sends under one key in one `StorePostings` (its whole set
/// there): as many as a reply carries, so that one publisher's files under a keyword can all
/// be found.
pub const MAX_POSTINGS_PER_STORE: usize = 256;

/// Most postings accepted in one `Postings` reply.
pub const MAX_POSTINGS_PER_REPLY: usize = 256;

/// A node as named in messages: its id and how to reach it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Contact<K, A> {
    /// The node's id.
    pub key: K,
    /// Its address, in the driver's terms.
    pub addr: A,
}

/// A record as carried on the wire: the expiry is relative (`ttl_secs` from receipt),
/// since peers share no clock.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WireRecord {
    /// The stored bytes, at most [`MAX_VALUE_LEN`].
    pub value: Vec<u8>,
    /// Seconds the record remains valid.
    pub ttl_secs: u64,
}

/// One value of a posting set: a small id the publisher chose (unique within its set under
/// one key) and the bytes, at most [`MAX_POSTING_LEN`].
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct PostingValue {
    /// The value's id within its publisher's set.
    pub id: u32,
    /// The posted bytes.
    pub value: Vec<u8>,
}

/// The postings of one publisher under one key, as a `Postings` reply carries them. The
/// publisher is the node that stored them: the holder took it from the authenticated sender
/// of the `StorePostings`, never from a field of the message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublisherPostings<K, A> {
    /// Who stored these values.
    pub publisher: Contact<K, A>,
    /// The values, at most [`MAX_POSTINGS_PER_STORE`].
    pub values: Vec<PostingValue>,
}

/// One Kademlia message: who sends it (its id, so that the receiver can put it in its
/// routing table) and what it says. Requests carry a `req` id that the answer repeats.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(bound(
    serialize = "K: Serialize, A: Serialize",
    deserialize = "K: Deserialize<'de>, A: Deserialize<'de>"
))]
pub struct Message<K, A> {
    /// The sender's node id.
    pub sender: K,
    /// The request or answer.
    pub body: Body<K, A>,
}

/// The requests and answers of the protocol.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(bound(
    serialize = "K: Serialize, A: Serialize",
    deserialize = "K: Deserialize<'de>, A: Deserialize<'de>"
))]
pub enum Body<K, A> {
    /// Are you alive? (used before evicting a contact from a full bucket)
    Ping {
        /// Request id.
        req: u64,
    },
    /// Yes.
    Pong {
        /// Request id of the ping.
        req: u64,
    },
    /// Which nodes do you know closest to `target`?
    FindNode {
        /// Request id.
        req: u64,
        /// The key looked up.
        target: K,
    },
    /// Answer to `FindNode`: at most `k` contacts.
    Nodes {
        /// Request id.
        req: u64,
        /// Contacts closest to the target that the answerer knows.
        closer: Vec<Contact<K, A>>,
    },
    /// Send me the record under `key`, or closer nodes.
    GetRecord {
        /// Request id.
        req: u64,
        /// The record key.
        key: K,
    },
    /// Answer to `GetRecord`.
    Record {
        /// Request id.
        req: u64,
        /// The record, if the answerer holds a valid one.
        record: Option<WireRecord>,
        /// Contacts closer to the key.
        closer: Vec<Contact<K, A>>,
    },
    /// Store this record.
    PutRecord {
        /// Request id.
        req: u64,
        /// The record key.
        key: K,
        /// The record.
        record: WireRecord,
    },
    /// Answer to `PutRecord`.
    PutAck {
        /// Request id.
        req: u64,
        /// Whether the record was stored (false when the store is full).
        stored: bool,
    },
    /// The sender provides `key` (no answer). The provider is the sender itself.
    AddProvider {
        /// The key provided.
        key: K,
        /// Seconds the provider record remains valid.
        ttl_secs: u64,
    },
    /// Who provides `key`?
    GetProviders {
        /// Request id.
        req: u64,
        /// The key.
        key: K,
    },
    /// Answer to `GetProviders`.
    Providers {
        /// Request id.
        req: u64,
        /// Known providers of the key.
        providers: Vec<Contact<K, A>>,
        /// Contacts closer to the key.
        closer: Vec<Contact<K, A>>,
    },
    /// Hold this set of postings under `key` for the sender, replacing what it stored there
    /// before (an empty set withdraws it). Answered with `PutAck`. The publisher is the
    /// sender itself.
    StorePostings {
        /// Request id.
        req: u64,
        /// The key posted under.
        key: K,
        /// Seconds the postings remain valid.
        ttl_secs: u64,
        /// The sender's whole set under `key`, at most [`MAX_POSTINGS_PER_STORE`].
        values: Vec<PostingValue>,
    },
    /// Send me the postings you hold under `key`, and closer nodes.
    GetPostings {
        /// Request id.
        req: u64,
        /// The key.
        key: K,
    },
    /// Answer to `GetPostings`.
    Postings {
        /// Request id.
        req: u64,
        /// The valid postings held under the key, grouped by publisher (at most
        /// [`MAX_POSTINGS_PER_REPLY`] values in all).
        postings: Vec<PublisherPostings<K, A>>,
        /// Contacts closer to the key.
        closer: Vec<Contact<K, A>>,
        /// The holder has more valid postings under the key than it sent.
        more: bool,
    },
}

/// Why a received message was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MessageError {
    /// A list longer than the protocol allows.
    #[error("{what}: {len} entries, at most {max} allowed")]
    TooManyEntries {
        /// Which list.
        what: &'static str,
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A record value over [`MAX_VALUE_LEN`].
    #[error("record value of {0} bytes exceeds {MAX_VALUE_LEN}")]
    ValueTooLarge(usize),
    /// A posting value over [`MAX_POSTING_LEN`].
    #[error("posting value of {0} bytes exceeds {MAX_POSTING_LEN}")]
    PostingTooLarge(usize),
}

fn check_postings(values: &[PostingValue]) -> Result<(), MessageError> {
    check_len("posting values", values, MAX_POSTINGS_PER_STORE)?;
    match values.iter().find(|v| v.value.len() > MAX_POSTING_LEN) {
        Some(v) => Err(MessageError::PostingTooLarge(v.value.len())),
        None => Ok(()),
    }
}

fn check_len<T>(what: &'static str, v: &[T], max: usize) -> Result<(), MessageError> {
    if v.len() > max {
        return Err(MessageError::TooManyEntries {
            what,
            len: v.len(),
            max,
        });
    }
    Ok(())
}

impl<K: KadKey, A> Message<K, A> {
    /// Checks the bounds of a received message: contact lists of at most
    /// `min(max_contacts, MAX_CONTACTS_PER_REPLY)` entries, values of at most
    /// [`MAX_VALUE_LEN`] bytes, posting sets of at most [`MAX_POSTINGS_PER_STORE`] values of
    /// at most [`MAX_POSTING_LEN`] bytes, replies of at most [`MAX_POSTINGS_PER_REPLY`]
    /// postings. The engine calls this on everything it receives; the node
    /// may call it right after decoding.
    ///
    /// # Errors
    /// [`MessageError`] naming the offending field.
    pub fn validate(&self, max_contacts: usize) -> Result<(), MessageError> {
        let max = max_contacts.min(MAX_CONTACTS_PER_REPLY);
        match &self.body {
            Body::Nodes { closer, .. } => check_len("closer", closer, max),
            Body::Record { record, closer, .. } => {
                check_len("closer", closer, max)?;
                match record {
                    Some(r) if r.value.len() > MAX_VALUE_LEN => {
                        Err(MessageError::ValueTooLarge(r.value.len()))
                    }
                    _ => Ok(()),
                }
            }
            Body::PutRecord { record, .. } if record.value.len() > MAX_VALUE_LEN => {
                Err(MessageError::ValueTooLarge(record.value.len()))
            }
            Body::Providers {
                providers, closer, ..
            } => {
                check_len("providers", providers, max)?;
                check_len("closer", closer, max)
            }
            Body::StorePostings { values, .. } => check_postings(values),
            Body::Postings {
                postings, closer, ..
            } => {
                check_len("closer", closer, max)?;
                check_len("postings", postings, MAX_POSTINGS_PER_REPLY)?;
                let mut total = 0usize;
                for p in postings {
                    check_postings(&p.values)?;
                    total += p.values.len();
                }
                if total > MAX_POSTINGS_PER_REPLY {
                    return Err(MessageError::TooManyEntries {
                        what: "posting values",
                        len: total,
                        max: MAX_POSTINGS_PER_REPLY,
                    });
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// Rewrites every address in the message, dropping contacts for which `f` returns
    /// `None`. The node uses this to translate between its local peer handles and what it
    /// puts on the wire.
    pub fn map_addrs<B>(self, mut f: impl FnMut(A) -> Option<B>) -> Message<K, B> {
        let mut list = |v: Vec<Contact<K, A>>| -> Vec<Contact<K, B>> {
            v.into_iter()
                .filter_map(|c| {
                    Some(Contact {
                        key: c.key,
                        addr: f(c.addr)?,
                    })
                })
                .collect()
        };
        let body = match self.body {
            Body::Ping { req } => Body::Ping { req },
            Body::Pong { req } => Body::Pong { req },
            Body::FindNode { req, target } => Body::FindNode { req, target },
            Body::Nodes { req, closer } => Body::Nodes {
                req,
                closer: list(closer),
            },
            Body::GetRecord { req, key } => Body::GetRecord { req, key },
            Body::Record {
                req,
                record,
                closer,
            } => Body::Record {
                req,
                record,
                closer: list(closer),
            },
            Body::PutRecord { req, key, record } => Body::PutRecord { req, key, record },
            Body::PutAck { req, stored } => Body::PutAck { req, stored },
            Body::AddProvider { key, ttl_secs } => Body::AddProvider { key, ttl_secs },
            Body::GetProviders { req, key } => Body::GetProviders { req, key },
            Body::Providers {
                req,
                providers,
                closer,
            } => {
                let providers = list(providers);
                Body::Providers {
                    req,
                    providers,
                    closer: list(closer),
                }
            }
            Body::StorePostings {
                req,
                key,
                ttl_secs,
                values,
            } => Body::StorePostings {
                req,
                key,
                ttl_secs,
                values,
            },
            Body::GetPostings { req, key } => Body::GetPostings { req, key },
            Body::Postings {
                req,
                postings,
                closer,
                more,
            } => {
                let closer = list(closer);
                let postings = postings
                    .into_iter()
                    .filter_map(|p| {
                        Some(PublisherPostings {
                            publisher: Contact {
                                key: p.publisher.key,
                                addr: f(p.publisher.addr)?,
                            },
                            values: p.values,
                        })
                    })
                    .collect();
                Body::Postings {
                    req,
                    postings,
                    closer,
                    more,
                }
            }
        };
        Message {
            sender: self.sender,
            body,
        }
    }
}
