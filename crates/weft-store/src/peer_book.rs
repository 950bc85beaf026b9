//! The peer book: every peer the node has met, how it was found, where it listens, and when to
//! try it again. The node re-dials it on start, so a restart reconnects without help.

use rusqlite::{OptionalExtension, params};
use serde::Serialize;

pub use weft_core::peer::Discovery;

use crate::{Store, StoreError};

/// One remembered peer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PeerRecord {
    /// The peer's id (base58 libp2p peer id).
    pub peer_id: String,
    /// Addresses it was reached at or announced (multiaddrs).
    pub addrs: Vec<String>,
    /// When first met (unix seconds).
    pub first_seen: i64,
    /// When last connected (unix seconds).
    pub last_seen: i64,
    /// How it was found first.
    pub source: Discovery,
    /// Dial failures since the last success.
    pub failures: u32,
    /// Not re-dialed before this time (unix seconds).
    pub next_dial: i64,
}

/// Most addresses remembered per peer; more are dropped (oldest first).
pub const MAX_ADDRS_PER_PEER: usize = 16;

/// Access to the `peers` table. Obtained from [`Store::peers`].
pub struct PeerBook<'a> {
    store: &'a Store,
}

impl<'a> PeerBook<'a> {
    pub(crate) fn new(store: &'a Store) -> Self {
        PeerBook { store }
    }

    /// Records that `peer_id` was reached or announced at `addrs` at time `now`; a new peer is
    /// remembered with `source`. Success resets the failure count and backoff.
    ///
    /// # Errors
    /// [`StoreError`] on a database error.
    pub fn seen(
        &self,
        peer_id: &str,
        addrs: &[String],
        source: Discovery,
        now: i64,
    ) -> Result<(), StoreError> {
        self.upsert(
            peer_id,
            addrs,
            source,
            now,
            "addrs = ?2, last_seen = ?3, failures = 0, next_dial = 0",
        )
    }

    /// Remembers `peer_id` at `addrs` without claiming it was reached: a peer the node was
    /// told to dial (a bootstrap peer) is kept in the book from the start, so that a first dial
    /// that fails is retried with backoff like any other. A peer already known keeps its
    /// failure count, backoff and times; only its addresses are merged.
    ///
    /// # Errors
    /// [`StoreError`] on a database error.
    pub fn remember(
        &self,
        peer_id: &str,
        addrs: &[String],
        source: Discovery,
        now: i64,
    ) -> Result<(), StoreError> {
        self.upsert(peer_id, addrs, source, now, "addrs = ?2")
    }

    /// Adds `peer_id` at `addrs` as a new peer (found through `source`, first and last seen
    /// `now`, no failure), or, for a peer the book holds, merges its addresses and applies
    /// `on_conflict` (the `SET` list: `?2` the merged addresses as JSON, `?3` is `now`).
    fn upsert(
        &self,
        peer_id: &str,
        addrs: &[String],
        source: Discovery,
        now: i64,
        on_conflict: &'static str,
    ) -> Result<(), StoreError> {
        let conn = self.store.lock();
        let json = merged_addrs(&conn, peer_id, addrs)?;
        conn.execute(
            &format!(
                "INSERT INTO peers(peer_id, addrs, first_seen, last_seen, source, failures, next_dial)
                 VALUES (?1, ?2, ?3, ?3, ?4, 0, 0)
                 ON CONFLICT(peer_id) DO UPDATE SET {on_conflict}"
            ),
            params![peer_id, json, now, source.as_str()],
        )?;
        Ok(())
    }

    /// Records a failed dial at `now`: the next attempt waits `initial · 2^failures` seconds,
    /// at most `max` seconds. Returns that delay, or `None` for a peer the book does not hold.
    ///
    /// # Errors
    /// [`StoreError`] on a database error.
    pub fn dial_failed(
        &self,
        peer_id: &str,
        now: i64,
        initial: u64,
        max: u64,
    ) -> Result<Option<u64>, StoreError> {
        let conn = self.store.lock();
        let Some(failures) = column::<u32>(&conn, "failures", peer_id)? else {
            return Ok(None);
        };
        let delay = initial.saturating_mul(1u64 << failures.min(30)).min(max);
        conn.execute(
            "UPDATE peers SET failures = failures + 1, next_dial = ?2 WHERE peer_id = ?1",
            params![
                peer_id,
                now.saturating_add(i64::try_from(delay).unwrap_or(i64::MAX))
            ],
        )?;
        Ok(Some(delay))
    }

    /// Peers due for a dial at `now`, most recently seen first, at most `limit`.
    ///
    /// # Errors
    /// [`StoreError`] on a database error.
    pub fn due(&self, now: i64, limit: u32) -> Result<Vec<PeerRecord>, StoreError> {
        self.query(
            "SELECT peer_id, addrs, first_seen, last_seen, source, failures, next_dial
             FROM peers WHERE next_dial <= ?1 ORDER BY last_seen DESC LIMIT ?2",
            params![now, limit],
        )
    }

    /// Every remembered peer, most recently seen first.
    ///
    /// # Errors
    /// [`StoreError`] on a database error.
    pub fn list(&self) -> Result<Vec<PeerRecord>, StoreError> {
        self.query(
            "SELECT peer_id, addrs, first_seen, last_seen, source, failures, next_dial
             FROM peers ORDER BY last_seen DESC",
            [],
        )
    }

    /// Forgets peers last seen before `cutoff` (unix seconds). Returns how many were removed.
    ///
    /// # Errors
    /// [`StoreError`] on a database error.
    pub fn forget_older_than(&self, cutoff: i64) -> Result<usize, StoreError> {
        Ok(self
            .store
            .lock()
            .execute("DELETE FROM peers WHERE last_seen < ?1", [cutoff])?)
    }

    fn query(
        &self,
        sql: &str,
        params: impl rusqlite::Params,
    ) -> Result<Vec<PeerRecord>, StoreError> {
        let conn = self.store.lock();
        let mut stmt = conn.prepare(sql)?;
        let rows = stmt.query_map(params, |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get::<_, String>(4)?,
                r.get(5)?,
                r.get(6)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (peer_id, addrs, first_seen, last_seen, source, failures, next_dial) = row?;
            let addrs =
                serde_json::from_str(&addrs).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            out.push(PeerRecord {
                peer_id,
                addrs,
                first_seen,
                last_seen,
                source: Discovery::parse(&source),
                failures,
                next_dial,
            });
        }
        Ok(out)
    }
}

/// Column `name` of `peer_id`'s row, or `None` for a peer the book does not hold.
fn column<T: rusqlite::types::FromSql>(
    conn: &rusqlite::Connection,
    name: &'static str,
    peer_id: &str,
) -> Result<Option<T>, StoreError> {
    Ok(conn
        .query_row(
            &format!("SELECT {name} FROM peers WHERE peer_id = ?1"),
            [peer_id],
            |r| r.get(0),
        )
        .optional()?)
}

/// `addrs` followed by the addresses the book already holds for `peer_id`, without
/// repeats, at most [`MAX_ADDRS_PER_PEER`], as the JSON the `addrs` column keeps.
fn merged_addrs(
    conn: &rusqlite::Connection,
    peer_id: &str,
    addrs: &[String],
) -> Result<String, StoreError> {
    let old = column::<String>(conn, "addrs", peer_id)?;
    let mut merged: Vec<String> = addrs.to_vec();
    if let Some(old) = old {
        let old: Vec<String> =
            serde_json::from_str(&old).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        for a in old {
            if !merged.contains(&a) {
                merged.push(a);
            }
        }
    }
    merged.truncate(MAX_ADDRS_PER_PEER);
    serde_json::to_string(&merged).map_err(|e| StoreError::Corrupt(e.to_string()))
}

#[cfg(test)]
mod tests {
    use crate::Store;

    use super::*;

    #[test]
    fn a_bootstrap_peer_never_reached_backs_off_and_comes_due() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(&dir.path().join("db"), &[]).unwrap();
        let book = s.peers();
        let addr = ["/ip4/127.0.0.1/tcp/1/p2p/B".to_string()];
        book.remember("B", &addr, Discovery::Bootstrap, 100)
            .unwrap();
        assert_eq!(book.dial_failed("B", 100, 5, 600).unwrap(), Some(5));
        assert!(book.due(104, 10).unwrap().is_empty());
        let due = book.due(105, 10).unwrap();
        assert_eq!(due.len(), 1, "due again after the backoff");
        assert_eq!(due[0].addrs, addr);
        assert_eq!(book.dial_failed("nobody", 100, 5, 600).unwrap(), None);
    }

    #[test]
    fn remembers_merges_and_backs_off() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(&dir.path().join("db"), &[]).unwrap();
        let book = s.peers();
        book.seen(
            "A",
            &["/ip4/127.0.0.1/tcp/1".into()],
            Discovery::Bootstrap,
            100,
        )
        .unwrap();
        book.seen(
            "A",
            &["/ip4/127.0.0.1/tcp/2".into()],
            Discovery::Inbound,
            200,
        )
        .unwrap();
        let a = &book.list().unwrap()[0];
        assert_eq!(a.addrs.len(), 2);
        assert_eq!(a.source, Discovery::Bootstrap);
        assert_eq!((a.first_seen, a.last_seen), (100, 200));

        book.dial_failed("A", 300, 5, 600).unwrap();
        book.dial_failed("A", 300, 5, 600).unwrap();
        let a = &book.list().unwrap()[0];
        assert_eq!((a.failures, a.next_dial), (2, 310));
        assert!(book.due(309, 10).unwrap().is_empty());
        assert_eq!(book.due(310, 10).unwrap().len(), 1);
        for _ in 0..40 {
            book.dial_failed("A", 300, 5, 600).unwrap();
        }
        assert_eq!(book.list().unwrap()[0].next_dial, 900);

        book.remember(
            "A",
            &["/ip4/127.0.0.1/tcp/3".into()],
            Discovery::Bootstrap,
            950,
        )
        .unwrap();
        let a = &book.list().unwrap()[0];
        assert_eq!(
            (a.failures, a.next_dial, a.last_seen),
            (42, 900, 200),
            "backoff kept"
        );
        assert_eq!(a.addrs.len(), 3);

        book.seen("A", &[], Discovery::Book, 1000).unwrap();
        assert_eq!(book.list().unwrap()[0].failures, 0);
        assert_eq!(book.forget_older_than(1001).unwrap(), 1);
    }
}
