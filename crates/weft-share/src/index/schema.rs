//! The index's tables, as migrations the node's store applies in order (each once).
//!
//! Outboards are stored in SQLite, one row per distinct content, as a blob of post-order hash
//! pairs (64 bytes per 16 KiB chunk group: 4 MiB for a 1 GiB file), so the data folder needs
//! no blobs directory for shared files and an outboard disappears with the last file that has
//! its hash.

/// `(name, SQL)` pairs, applied in order. Names are unique across weft's crates.
pub const MIGRATIONS: &[(&str, &str)] = &[
    (
        "share_0001_index",
        "CREATE TABLE share_roots (
        id       INTEGER PRIMARY KEY,
        path     TEXT NOT NULL UNIQUE,            -- canonical absolute path (file or folder)
        added_at INTEGER NOT NULL DEFAULT (unixepoch())
    );
    CREATE TABLE share_files (
        id       INTEGER PRIMARY KEY,
        root_id  INTEGER NOT NULL,                -- share_roots.id
        rel_path TEXT NOT NULL,                   -- '' when the root is the file itself
        name     TEXT NOT NULL,                   -- file name
        size     INTEGER NOT NULL,
        mtime_ns INTEGER NOT NULL,                -- nanoseconds since the Unix epoch
        mime     TEXT NOT NULL,
        hash     BLOB NOT NULL,                   -- 32-byte BLAKE3 root
        artist   TEXT,
        title    TEXT,
        album    TEXT,
        year     INTEGER,
        UNIQUE (root_id, rel_path)
    );
    CREATE INDEX share_files_hash ON share_files(hash);
    CREATE TABLE share_outboards (
        hash  BLOB PRIMARY KEY,                   -- 32-byte BLAKE3 root
        size  INTEGER NOT NULL,
        pairs BLOB NOT NULL                       -- post-order hash pairs, 16 KiB groups
    ) WITHOUT ROWID;
    -- Keyword index; rowid = share_files.id. Text is NFC-normalized before it is stored.
    CREATE VIRTUAL TABLE share_fts USING fts5(
        name, path, tags, tokenize = 'unicode61 remove_diacritics 2'
    );
    CREATE TRIGGER share_files_fts_delete AFTER DELETE ON share_files BEGIN
        DELETE FROM share_fts WHERE rowid = old.id;
    END;",
    ),
    // The rest of a file's stamp: an edit that keeps size and mtime changes the inode change
    // time, and a file replaced by another has another inode. Rows from before have NULLs,
    // which match nothing: they are hashed again once.
    (
        "share_0002_file_stamp",
        "ALTER TABLE share_files ADD COLUMN ctime_ns INTEGER;  -- inode change time, ns
        ALTER TABLE share_files ADD COLUMN ino INTEGER;         -- inode number (as i64)
        ALTER TABLE share_files ADD COLUMN dev INTEGER;         -- device (as i64)",
    ),
];
