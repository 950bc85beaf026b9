//! The SQLite tables of collaboration, in the node's database ([`MIGRATIONS`]), and what
//! reads and changes them. Every change that is acknowledged to a user or a peer is committed
//! first: a message queued is in the outbox before `weft msg send` returns, a message
//! delivered is in the inbox (and the conversation's next number moved) before it is acked,
//! a deposit is stored before `Deposited` is answered.
//!
//! Time is passed in (µs since the Unix epoch); nothing here reads a clock.

use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

use crate::contacts::{MAX_CONTACTS, PetnameError, check_petname};
use crate::conversation::{Arrival, classify};
use crate::envelope::{Body, Envelope};
use crate::keys::PeerKey;
use crate::mailbox::{self, Refusal, Rules, Usage};
use crate::wire::MAX_MSG_FRAME;

/// The tables, in order (names are `collab_NNNN_what`).
pub const MIGRATIONS: &[(&str, &str)] = &[(
    "collab_0100_contacts_conversations_mailbox",
    "CREATE TABLE collab_contacts (
        peer_key     BLOB PRIMARY KEY,    -- 32-byte ed25519 public key
        peer_id      TEXT NOT NULL,       -- the libp2p peer id, as the user gave it
        name         TEXT NOT NULL UNIQUE,
        added_us     INTEGER NOT NULL,
        last_seen_us INTEGER
    ) WITHOUT ROWID;
    CREATE TABLE collab_conversations (
        peer_key BLOB PRIMARY KEY,
        next_out INTEGER NOT NULL DEFAULT 1,  -- number of the next message we send
        next_in  INTEGER NOT NULL DEFAULT 1   -- number of the next message we expect
    ) WITHOUT ROWID;
    CREATE TABLE collab_outbox (
        to_key     BLOB NOT NULL,
        seq        INTEGER NOT NULL,
        envelope   BLOB NOT NULL,             -- weft_collab::envelope::Envelope, wire-encoded
        created_us INTEGER NOT NULL,
        deposited  INTEGER NOT NULL DEFAULT 0, -- copies stored at mailbox peers
        PRIMARY KEY (to_key, seq)
    ) WITHOUT ROWID;
    CREATE TABLE collab_inbox (
        id          INTEGER PRIMARY KEY AUTOINCREMENT,
        from_key    BLOB NOT NULL,
        seq         INTEGER NOT NULL,
        sent_us     INTEGER NOT NULL,
        received_us INTEGER NOT NULL,
        text        TEXT NOT NULL,
        UNIQUE (from_key, seq)
    );
    CREATE TABLE collab_held (
        from_key BLOB NOT NULL,
        seq      INTEGER NOT NULL,
        sent_us  INTEGER NOT NULL,
        text     TEXT NOT NULL,
        PRIMARY KEY (from_key, seq)
    ) WITHOUT ROWID;
    CREATE TABLE collab_mailbox (
        sender       BLOB NOT NULL,
        recipient    BLOB NOT NULL,
        seq          INTEGER NOT NULL,
        envelope     BLOB NOT NULL,
        size         INTEGER NOT NULL,
        deposited_us INTEGER NOT NULL,
        PRIMARY KEY (recipient, sender, seq)
    ) WITHOUT ROWID;
    CREATE INDEX collab_mailbox_by_sender ON collab_mailbox (sender);
    CREATE INDEX collab_mailbox_by_age ON collab_mailbox (deposited_us);",
)];

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database failed.
    #[error("database: {0}")]
    Db(#[from] rusqlite::Error),
    /// A bad petname.
    #[error(transparent)]
    Petname(#[from] PetnameError),
    /// The name is taken by another peer.
    #[error("the name '{0}' is already used for another contact; pick another or remove it first")]
    NameTaken(String),
    /// The peer is a contact under another name.
    #[error("this peer is already a contact, named '{0}'")]
    PeerKnown(String),
    /// Too many contacts.
    #[error("at most {MAX_CONTACTS} contacts")]
    TooManyContacts,
    /// No contact of that name.
    #[error("no contact named '{0}'; add one with `weft contact add PEERID {0}`")]
    UnknownContact(String),
    /// A stored envelope no longer decodes (the database was edited).
    #[error("a stored envelope is corrupt")]
    Corrupt,
}

/// A contact.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Contact {
    /// The petname.
    pub name: String,
    /// The libp2p peer id.
    pub peer_id: String,
    /// Its ed25519 key.
    #[serde(skip)]
    pub key: PeerKey,
    /// When last seen (µs since the epoch), as kept in the database.
    pub last_seen_us: Option<u64>,
}

/// A message delivered to the user.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct InboxMessage {
    /// Local order of arrival (for paging and `--follow`).
    pub id: i64,
    /// The sender's key.
    #[serde(skip)]
    pub from: PeerKey,
    /// Its number in the conversation.
    pub seq: u64,
    /// When the sender sent it (sender's clock).
    pub sent_us: u64,
    /// When it was delivered here.
    pub received_us: u64,
    /// The text.
    pub text: String,
}

/// A queued message not yet acked by its recipient.
#[derive(Clone, Debug)]
pub struct Pending {
    /// The sealed message.
    pub envelope: Envelope,
    /// Whether copies are at mailbox peers.
    pub deposited: bool,
}

/// What happened to an envelope offered to the inbox.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Received {
    /// Messages now delivered, in order (the offered one and any held that follow).
    pub delivered: Vec<InboxMessage>,
    /// How it was classified.
    pub arrival: Arrival,
    /// Every message of the sender up to this number is delivered.
    pub up_to: u64,
}

fn key(bytes: Vec<u8>) -> Result<PeerKey, StoreError> {
    Ok(PeerKey(bytes.try_into().map_err(|_| StoreError::Corrupt)?))
}

fn u(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

fn i(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn encode_env(env: &Envelope) -> Result<Vec<u8>, StoreError> {
    weft_core::wire::encode(env, MAX_MSG_FRAME).map_err(|_| StoreError::Corrupt)
}

fn decode_env(bytes: &[u8]) -> Result<Envelope, StoreError> {
    weft_core::wire::decode(bytes, MAX_MSG_FRAME).map_err(|_| StoreError::Corrupt)
}

/// Collaboration's view of the node's database.
pub struct Store<'c> {
    conn: &'c Connection,
}

impl<'c> Store<'c> {
    /// Over an open connection (migrated with [`MIGRATIONS`]).
    pub fn new(conn: &'c Connection) -> Self {
        Store { conn }
    }

    // --- contacts ---

    /// Adds a contact.
    ///
    /// # Errors
    /// A bad or taken name, a peer already known, too many contacts, or the database.
    pub fn add_contact(
        &self,
        name: &str,
        peer_id: &str,
        key: PeerKey,
        now_us: u64,
    ) -> Result<Contact, StoreError> {
        check_petname(name)?;
        if let Some(c) = self.contact_by_key(&key)? {
            if c.name == name {
                return Ok(c);
            }
            return Err(StoreError::PeerKnown(c.name));
        }
        if self.contact(name)?.is_some() {
            return Err(StoreError::NameTaken(name.into()));
        }
        let count: i64 = self
            .conn
            .query_row("SELECT count(*) FROM collab_contacts", [], |r| r.get(0))?;
        if u(count) >= MAX_CONTACTS as u64 {
            return Err(StoreError::TooManyContacts);
        }
        self.conn.execute(
            "INSERT INTO collab_contacts (peer_key, peer_id, name, added_us) VALUES (?1, ?2, ?3, ?4)",
            params![&key.0[..], peer_id, name, i(now_us)],
        )?;
        Ok(Contact {
            name: name.into(),
            peer_id: peer_id.into(),
            key,
            last_seen_us: None,
        })
    }

    /// Removes a contact; `false` if there was none of that name. The conversation's state is
    /// kept, so numbering goes on if it is added again.
    ///
    /// # Errors
    /// The database.
    pub fn remove_contact(&self, name: &str) -> Result<bool, StoreError> {
        Ok(self
            .conn
            .execute("DELETE FROM collab_contacts WHERE name = ?1", [name])?
            > 0)
    }

    fn contact_where(
        &self,
        clause: &str,
        arg: &dyn rusqlite::ToSql,
    ) -> Result<Option<Contact>, StoreError> {
        let sql = format!(
            "SELECT name, peer_id, peer_key, last_seen_us FROM collab_contacts WHERE {clause}"
        );
        let row = self
            .conn
            .query_row(&sql, [arg], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, Vec<u8>>(2)?,
                    r.get::<_, Option<i64>>(3)?,
                ))
            })
            .optional()?;
        row.map(|(name, peer_id, k, seen)| {
            Ok(Contact {
                name,
                peer_id,
                key: key(k)?,
                last_seen_us: seen.map(u),
            })
        })
        .transpose()
    }

    /// The contact named `name`.
    ///
    /// # Errors
    /// The database.
    pub fn contact(&self, name: &str) -> Result<Option<Contact>, StoreError> {
        self.contact_where("name = ?1", &name)
    }

    /// The contact with key `key`.
    ///
    /// # Errors
    /// The database.
    pub fn contact_by_key(&self, k: &PeerKey) -> Result<Option<Contact>, StoreError> {
        self.contact_where("peer_key = ?1", &&k.0[..])
    }

    /// Every contact, by name.
    ///
    /// # Errors
    /// The database.
    pub fn contacts(&self) -> Result<Vec<Contact>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT name, peer_id, peer_key, last_seen_us FROM collab_contacts ORDER BY name",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, Vec<u8>>(2)?,
                r.get::<_, Option<i64>>(3)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (name, peer_id, k, seen) = row?;
            out.push(Contact {
                name,
                peer_id,
                key: key(k)?,
                last_seen_us: seen.map(u),
            });
        }
        Ok(out)
    }

    /// Records when a contact was last seen.
    ///
    /// # Errors
    /// The database.
    pub fn set_last_seen(&self, k: &PeerKey, at_us: u64) -> Result<(), StoreError> {
        self.conn.execute(
            "UPDATE collab_contacts SET last_seen_us = ?2 WHERE peer_key = ?1",
            params![&k.0[..], i(at_us)],
        )?;
        Ok(())
    }

    // --- sending ---

    /// Queues a message to `to`: takes the conversation's next number, seals with `seal`
    /// and stores the envelope, in one transaction. Returns the envelope.
    ///
    /// # Errors
    /// The database, or what `seal` returns.
    pub fn queue<E: From<StoreError>>(
        &mut self,
        to: PeerKey,
        now_us: u64,
        seal: impl FnOnce(u64) -> Result<Envelope, E>,
    ) -> Result<Envelope, E> {
        let tx = self
            .conn
            .unchecked_transaction()
            .map_err(StoreError::from)?;
        tx.execute(
            "INSERT OR IGNORE INTO collab_conversations (peer_key) VALUES (?1)",
            [&to.0[..]],
        )
        .map_err(StoreError::from)?;
        let seq: i64 = tx
            .query_row(
                "SELECT next_out FROM collab_conversations WHERE peer_key = ?1",
                [&to.0[..]],
                |r| r.get(0),
            )
            .map_err(StoreError::from)?;
        let env = seal(u(seq))?;
        tx.execute(
            "INSERT INTO collab_outbox (to_key, seq, envelope, created_us) VALUES (?1, ?2, ?3, ?4)",
            params![&to.0[..], seq, encode_env(&env)?, i(now_us)],
        )
        .map_err(StoreError::from)?;
        tx.execute(
            "UPDATE collab_conversations SET next_out = next_out + 1 WHERE peer_key = ?1",
            [&to.0[..]],
        )
        .map_err(StoreError::from)?;
        tx.commit().map_err(StoreError::from)?;
        Ok(env)
    }

    /// Recipients with messages not yet acked.
    ///
    /// # Errors
    /// The database.
    pub fn unacked_recipients(&self) -> Result<Vec<PeerKey>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT DISTINCT to_key FROM collab_outbox ORDER BY to_key")?;
        let rows = stmt.query_map([], |r| r.get::<_, Vec<u8>>(0))?;
        rows.map(|r| key(r?)).collect()
    }

    /// Up to `limit` messages to `to` not yet acked, in order.
    ///
    /// # Errors
    /// The database, or a corrupt row.
    pub fn unacked(&self, to: &PeerKey, limit: usize) -> Result<Vec<Pending>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT envelope, deposited FROM collab_outbox WHERE to_key = ?1 ORDER BY seq LIMIT ?2",
        )?;
        let rows = stmt.query_map(params![&to.0[..], i(limit as u64)], |r| {
            Ok((r.get::<_, Vec<u8>>(0)?, r.get::<_, bool>(1)?))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (bytes, deposited) = row?;
            out.push(Pending {
                envelope: decode_env(&bytes)?,
                deposited,
            });
        }
        Ok(out)
    }

    /// Marks messages to `to` as stored at mailbox peers.
    ///
    /// # Errors
    /// The database.
    pub fn mark_deposited(&self, to: &PeerKey, seqs: &[u64]) -> Result<(), StoreError> {
        let tx = self.conn.unchecked_transaction()?;
        for seq in seqs {
            tx.execute(
                "UPDATE collab_outbox SET deposited = 1 WHERE to_key = ?1 AND seq = ?2",
                params![&to.0[..], i(*seq)],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    /// The recipient `to` has every message up to `up_to`: they leave the outbox. Returns
    /// how many left.
    ///
    /// # Errors
    /// The database.
    pub fn acked(&self, to: &PeerKey, up_to: u64) -> Result<usize, StoreError> {
        Ok(self.conn.execute(
            "DELETE FROM collab_outbox WHERE to_key = ?1 AND seq <= ?2",
            params![&to.0[..], i(up_to)],
        )?)
    }

    /// Messages in the outbox, to every recipient.
    ///
    /// # Errors
    /// The database.
    pub fn outbox_len(&self) -> Result<u64, StoreError> {
        let n: i64 = self
            .conn
            .query_row("SELECT count(*) FROM collab_outbox", [], |r| r.get(0))?;
        Ok(u(n))
    }

    // --- receiving ---

    /// Every message of `from` up to this number is delivered.
    ///
    /// # Errors
    /// The database.
    pub fn received_up_to(&self, from: &PeerKey) -> Result<u64, StoreError> {
        let next: Option<i64> = self
            .conn
            .query_row(
                "SELECT next_in FROM collab_conversations WHERE peer_key = ?1",
                [&from.0[..]],
                |r| r.get(0),
            )
            .optional()?;
        Ok(u(next.unwrap_or(1)).saturating_sub(1))
    }

    /// Offers a verified, opened envelope: delivered if it is the next of its conversation
    /// (with any held that follow), held if ahead, dropped if a duplicate. One transaction.
    ///
    /// # Errors
    /// The database.
    pub fn receive(
        &mut self,
        env: &Envelope,
        body: &Body,
        now_us: u64,
    ) -> Result<Received, StoreError> {
        let from = &env.from.0[..];
        let tx = self.conn.unchecked_transaction()?;
        tx.execute(
            "INSERT OR IGNORE INTO collab_conversations (peer_key) VALUES (?1)",
            [from],
        )?;
        let mut next: u64 = u(tx.query_row(
            "SELECT next_in FROM collab_conversations WHERE peer_key = ?1",
            [from],
            |r| r.get(0),
        )?);
        let arrival = classify(next, env.seq);
        let mut delivered = Vec::new();
        match arrival {
            Arrival::Next => {
                let mut current = Some((env.seq, body.sent_us, body.text.clone()));
                while let Some((seq, sent_us, text)) = current.take() {
                    tx.execute(
                        "INSERT INTO collab_inbox (from_key, seq, sent_us, received_us, text) VALUES (?1, ?2, ?3, ?4, ?5)",
                        params![from, i(seq), i(sent_us), i(now_us), text],
                    )?;
                    delivered.push(InboxMessage {
                        id: tx.last_insert_rowid(),
                        from: env.from,
                        seq,
                        sent_us,
                        received_us: now_us,
                        text,
                    });
                    next = seq + 1;
                    current = tx
                        .query_row(
                            "DELETE FROM collab_held WHERE from_key = ?1 AND seq = ?2 RETURNING sent_us, text",
                            params![from, i(next)],
                            |r| Ok((next, u(r.get(0)?), r.get::<_, String>(1)?)),
                        )
                        .optional()?;
                }
                tx.execute(
                    "UPDATE collab_conversations SET next_in = ?2 WHERE peer_key = ?1",
                    params![from, i(next)],
                )?;
            }
            Arrival::Ahead => {
                tx.execute(
                    "INSERT OR IGNORE INTO collab_held (from_key, seq, sent_us, text) VALUES (?1, ?2, ?3, ?4)",
                    params![from, i(env.seq), i(body.sent_us), body.text],
                )?;
            }
            Arrival::Duplicate | Arrival::Refused => {}
        }
        tx.commit()?;
        Ok(Received {
            delivered,
            arrival,
            up_to: next.saturating_sub(1),
        })
    }

    /// Delivered messages after `after_id`, oldest first, at most `limit`.
    ///
    /// # Errors
    /// The database.
    pub fn inbox(&self, after_id: i64, limit: usize) -> Result<Vec<InboxMessage>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, from_key, seq, sent_us, received_us, text FROM collab_inbox
             WHERE id > ?1 ORDER BY id LIMIT ?2",
        )?;
        let rows = stmt.query_map(params![after_id, i(limit as u64)], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, Vec<u8>>(1)?,
                r.get::<_, i64>(2)?,
                r.get::<_, i64>(3)?,
                r.get::<_, i64>(4)?,
                r.get::<_, String>(5)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (id, from, seq, sent, received, text) = row?;
            out.push(InboxMessage {
                id,
                from: key(from)?,
                seq: u(seq),
                sent_us: u(sent),
                received_us: u(received),
                text,
            });
        }
        Ok(out)
    }

    /// The id of the newest delivered message (0 when none).
    ///
    /// # Errors
    /// The database.
    pub fn last_inbox_id(&self) -> Result<i64, StoreError> {
        Ok(self
            .conn
            .query_row("SELECT coalesce(max(id), 0) FROM collab_inbox", [], |r| {
                r.get(0)
            })?)
    }

    // --- mailbox (held for others) ---

    /// What the mailbox holds, in all and for `sender`.
    ///
    /// # Errors
    /// The database.
    pub fn mailbox_usage(&self, sender: &PeerKey) -> Result<Usage, StoreError> {
        let (tm, tb): (i64, i64) = self.conn.query_row(
            "SELECT count(*), coalesce(sum(size), 0) FROM collab_mailbox",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        let (sm, sb): (i64, i64) = self.conn.query_row(
            "SELECT count(*), coalesce(sum(size), 0) FROM collab_mailbox WHERE sender = ?1",
            [&sender.0[..]],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        Ok(Usage {
            sender_messages: u(sm),
            sender_bytes: u(sb),
            total_messages: u(tm),
            total_bytes: u(tb),
        })
    }

    /// Keeps a copy of a verified envelope deposited by its sender, within `rules`. A copy
    /// held already is not counted twice.
    ///
    /// # Errors
    /// [`Refusal`] when a quota is full; the database error is reported as `Full`.
    pub fn deposit(&self, env: &Envelope, rules: &Rules, now_us: u64) -> Result<(), Refusal> {
        let held: bool = self
            .conn
            .query_row(
                "SELECT 1 FROM collab_mailbox WHERE recipient = ?1 AND sender = ?2 AND seq = ?3",
                params![&env.to.0[..], &env.from.0[..], i(env.seq)],
                |_| Ok(true),
            )
            .optional()
            .map_err(|_| Refusal::Full)?
            .unwrap_or(false);
        if held {
            return Ok(());
        }
        let bytes = encode_env(env).map_err(|_| Refusal::Invalid)?;
        let usage = self.mailbox_usage(&env.from).map_err(|_| Refusal::Full)?;
        mailbox::admit(rules, &usage, bytes.len() as u64)?;
        self.conn
            .execute(
                "INSERT INTO collab_mailbox (sender, recipient, seq, envelope, size, deposited_us)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    &env.from.0[..],
                    &env.to.0[..],
                    i(env.seq),
                    &bytes,
                    bytes.len() as i64,
                    i(now_us)
                ],
            )
            .map_err(|_| Refusal::Full)?;
        Ok(())
    }

    /// Up to `limit` copies held for `recipient`, per sender in order; and whether more remain.
    ///
    /// # Errors
    /// The database.
    pub fn held_for(
        &self,
        recipient: &PeerKey,
        limit: usize,
    ) -> Result<(Vec<Envelope>, bool), StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT envelope FROM collab_mailbox WHERE recipient = ?1 ORDER BY sender, seq LIMIT ?2",
        )?;
        let rows = stmt.query_map(params![&recipient.0[..], i(limit as u64 + 1)], |r| {
            r.get::<_, Vec<u8>>(0)
        })?;
        let mut out = Vec::new();
        for row in rows {
            out.push(decode_env(&row?)?);
        }
        let more = out.len() > limit;
        out.truncate(limit);
        Ok((out, more))
    }

    /// The recipient has every message of `sender` up to `up_to`: the copies go. Returns how
    /// many.
    ///
    /// # Errors
    /// The database.
    pub fn mailbox_acked(
        &self,
        recipient: &PeerKey,
        sender: &PeerKey,
        up_to: u64,
    ) -> Result<usize, StoreError> {
        Ok(self.conn.execute(
            "DELETE FROM collab_mailbox WHERE recipient = ?1 AND sender = ?2 AND seq <= ?3",
            params![&recipient.0[..], &sender.0[..], i(up_to)],
        )?)
    }

    /// Drops copies older than the retention. Returns how many.
    ///
    /// # Errors
    /// The database.
    pub fn expire(&self, rules: &Rules, now_us: u64) -> Result<usize, StoreError> {
        Ok(self.conn.execute(
            "DELETE FROM collab_mailbox WHERE deposited_us < ?1",
            [i(mailbox::expiry_cutoff(rules, now_us))],
        )?)
    }
}

#[cfg(test)]
mod tests;
