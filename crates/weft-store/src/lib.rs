//! The node's embedded database: one SQLite file (`weft.sqlite`) in the data folder, in WAL
//! mode, with ordered schema migrations.
//!
//! Every crate that keeps state contributes its own migrations ([`Migration`]); [`Store::open`]
//! applies the ones not yet applied, each in its own transaction, and records them in
//! `schema_migrations`. Writes are transactional, so a node killed at any moment reopens with
//! everything it acknowledged.
//!
//! ```
//! let dir = tempfile::tempdir().unwrap();
//! let store = weft_store::Store::open(&dir.path().join("weft.sqlite"), &[]).unwrap();
//! assert!(store.peers().list().unwrap().is_empty());
//! ```

pub mod peer_book;

use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

pub use peer_book::{Discovery, PeerBook, PeerRecord};
pub use rusqlite;

/// A named schema change, applied once, in order.
pub type Migration = (&'static str, &'static str);

/// The store's own migrations.
const CORE_MIGRATIONS: &[Migration] = &[(
    "0001_peer_book",
    "CREATE TABLE peers (
        peer_id    TEXT PRIMARY KEY,
        addrs      TEXT NOT NULL,          -- JSON array of multiaddrs
        first_seen INTEGER NOT NULL,       -- unix seconds
        last_seen  INTEGER NOT NULL,       -- unix seconds
        source     TEXT NOT NULL,          -- how it was found first
        failures   INTEGER NOT NULL DEFAULT 0,
        next_dial  INTEGER NOT NULL DEFAULT 0  -- unix seconds: not re-dialed before
    );
    CREATE INDEX peers_last_seen ON peers(last_seen DESC);",
)];

/// Settings for every connection to the node's database, the store's own and the ones other
/// crates open beside it:
/// - `synchronous = NORMAL`: in WAL mode a commit survives a killed process (the OS has it)
///   and only a power cut may lose the last ones; the database never corrupts.
/// - The query planner's stability guarantee (`SQLITE_DBCONFIG_ENABLE_QPSG`): a statement's
///   plan no longer depends on the values bound to it, so a cached statement is not compiled
///   again for each binding (the bundled SQLite has STAT4; the cost measured is in
///   `docs/measurements.md`).
///
/// # Errors
/// The SQLite error if a setting is refused.
pub fn configure(conn: &rusqlite::Connection) -> rusqlite::Result<()> {
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.set_db_config(
        rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
        true,
    )?;
    Ok(())
}

/// Why the store failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite reported an error.
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// A stored value could not be decoded.
    #[error("corrupt stored value: {0}")]
    Corrupt(String),
}

/// The node's database. Cheap to clone; all clones share one connection behind a mutex
/// (SQLite serializes writers anyway, and the node's write rate is low).
#[derive(Clone)]
pub struct Store {
    conn: Arc<Mutex<rusqlite::Connection>>,
}

impl Store {
    /// Opens (creating if needed) the database at `path`, switches it to WAL mode and applies
    /// the store's migrations followed by `extra` (those of other crates), in order.
    ///
    /// # Errors
    /// [`StoreError`] if the file cannot be opened or a migration fails.
    pub fn open(path: &Path, extra: &[Migration]) -> Result<Self, StoreError> {
        let conn = rusqlite::Connection::open(path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        configure(&conn)?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        let store = Store {
            conn: Arc::new(Mutex::new(conn)),
        };
        store.migrate(CORE_MIGRATIONS)?;
        store.migrate(extra)?;
        Ok(store)
    }

    fn migrate(&self, migrations: &[Migration]) -> Result<(), StoreError> {
        let mut conn = self.lock();
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS schema_migrations (
                name TEXT PRIMARY KEY, applied_at INTEGER NOT NULL DEFAULT (unixepoch()))",
        )?;
        for (name, sql) in migrations {
            let tx = conn.transaction()?;
            let done: bool = tx.query_row(
                "SELECT EXISTS(SELECT 1 FROM schema_migrations WHERE name = ?1)",
                [name],
                |r| r.get(0),
            )?;
            if !done {
                tx.execute_batch(sql)?;
                tx.execute("INSERT INTO schema_migrations(name) VALUES (?1)", [name])?;
            }
            tx.commit()?;
        }
        Ok(())
    }

    /// Locks the connection for direct use by a crate that owns tables in it.
    /// Keep the guard short-lived: every other user of the store waits on it.
    pub fn lock(&self) -> MutexGuard<'_, rusqlite::Connection> {
        // A panic while holding the lock leaves SQLite consistent (transactions roll back),
        // so a poisoned mutex is safe to keep using.
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The peer book.
    pub fn peers(&self) -> PeerBook<'_> {
        PeerBook::new(self)
    }

    /// Names of the migrations applied so far, in order.
    ///
    /// # Errors
    /// [`StoreError`] on a database error.
    pub fn applied_migrations(&self) -> Result<Vec<String>, StoreError> {
        let conn = self.lock();
        let mut stmt = conn.prepare("SELECT name FROM schema_migrations ORDER BY rowid")?;
        let names = stmt
            .query_map([], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        Ok(names)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rusqlite::params;

    #[test]
    fn migrations_apply_once_and_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("weft.sqlite");
        let extra: &[Migration] = &[("0100_test", "CREATE TABLE t (x INTEGER)")];
        let s = Store::open(&path, extra).unwrap();
        s.lock().execute("INSERT INTO t VALUES (1)", []).unwrap();
        drop(s);
        let s = Store::open(&path, extra).unwrap();
        assert_eq!(
            s.applied_migrations().unwrap(),
            vec!["0001_peer_book", "0100_test"]
        );
        let n: i64 = s
            .lock()
            .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 1);
        let mode: String = s
            .lock()
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
    }

    #[test]
    fn cached_statements_are_not_compiled_again_for_new_bindings() {
        let dir = tempfile::tempdir().unwrap();
        let extra: &[Migration] = &[(
            "0100_test",
            "CREATE TABLE r (id INTEGER PRIMARY KEY, path TEXT NOT NULL);
             CREATE TABLE t (id INTEGER PRIMARY KEY, r INTEGER NOT NULL, k BLOB NOT NULL,
                             v INTEGER NOT NULL);
             CREATE INDEX t_k ON t(k);
             INSERT INTO r VALUES (1, '/');",
        )];
        let s = Store::open(&dir.path().join("weft.sqlite"), extra).unwrap();
        let conn = s.lock();
        for k in 0u8..50 {
            conn.execute(
                "INSERT INTO t (r, k, v) VALUES (1, ?1, ?2)",
                params![[k; 32], k],
            )
            .unwrap();
        }
        // A join, as the index's lookup of the file behind a hash.
        let sql = "SELECT t.v FROM t JOIN r ON r.id = t.r WHERE t.k = ?1 ORDER BY t.id";
        for k in 0u8..50 {
            let v: u8 = conn
                .prepare_cached(sql)
                .unwrap()
                .query_row([[k; 32]], |r| r.get(0))
                .unwrap();
            assert_eq!(v, k);
        }
        let stmt = conn.prepare_cached(sql).unwrap();
        assert_eq!(
            stmt.get_status(rusqlite::StatementStatus::RePrepare),
            0,
            "each new binding compiled the statement again"
        );
    }
}
