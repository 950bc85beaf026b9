//! Connections to the node's database for the services: each service opens its own, with the
//! settings every connection gets ([`weft_store::configure`]) and a busy timeout, so that
//! one service's long write does not fail another's.

use std::path::Path;
use std::time::Duration;

use weft_store::rusqlite::Connection;

/// Opens a connection to the node's database at `path`.
///
/// # Errors
/// A database error.
pub fn open(path: &Path) -> Result<Connection, weft_store::rusqlite::Error> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(Duration::from_secs(10))?;
    weft_store::configure(&conn)?;
    Ok(conn)
}
