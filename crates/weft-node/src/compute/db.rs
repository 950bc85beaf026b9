//! The compute tables: jobs, their module and input blobs, accepted units, outputs waiting for
//! a quorum, worker standing (coordinator side) and what this node lent (worker side).

use weft_api::compute::JobState;
use weft_compute::coordinator::Standing;
use weft_compute::job::{JobId, JobSpec};
use weft_compute::outcome::Outcome;
use weft_core::id::Key256;
use weft_store::Migration;
use weft_store::rusqlite::{Connection, OptionalExtension, Result, params};

/// Tables of distributed computing.
pub const MIGRATIONS: &[Migration] = &[(
    "compute_0100_jobs",
    "CREATE TABLE compute_jobs (
        id      BLOB PRIMARY KEY,     -- JobSpec::id
        spec    BLOB NOT NULL,        -- postcard JobSpec
        names   TEXT NOT NULL,        -- JSON array: the input file of each unit
        state   TEXT NOT NULL,        -- running | done | cancelled
        created INTEGER NOT NULL      -- unix seconds
    ) WITHOUT ROWID;
    CREATE TABLE compute_blobs (
        hash  BLOB PRIMARY KEY,       -- BLAKE3 of bytes
        bytes BLOB NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE compute_units (
        job     BLOB NOT NULL,
        unit    INTEGER NOT NULL,
        outcome BLOB,                 -- postcard Outcome; NULL: no quorum reached
        output  BLOB,
        PRIMARY KEY (job, unit)
    ) WITHOUT ROWID;
    CREATE TABLE compute_candidates (
        job    BLOB NOT NULL,
        unit   INTEGER NOT NULL,
        hash   BLOB NOT NULL,         -- BLAKE3 of output
        output BLOB NOT NULL,
        PRIMARY KEY (job, unit, hash)
    ) WITHOUT ROWID;
    CREATE TABLE compute_workers (
        peer      TEXT PRIMARY KEY,
        validated INTEGER NOT NULL,
        wrong     INTEGER NOT NULL,
        lapsed    INTEGER NOT NULL,
        gave_up   INTEGER NOT NULL,
        credit    INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE compute_lent (
        coordinator TEXT PRIMARY KEY,
        units       INTEGER NOT NULL,
        fuel        INTEGER NOT NULL,
        busy_ms     INTEGER NOT NULL
    ) WITHOUT ROWID;",
)];

fn i64_of(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn u64_of(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

/// A job as stored.
pub struct StoredJob {
    /// The spec.
    pub spec: JobSpec,
    /// Input file names, one per unit.
    pub names: Vec<String>,
    /// Where it is.
    pub state: JobState,
}

/// A finished unit as stored.
pub struct StoredUnit {
    /// The unit.
    pub unit: u32,
    /// The accepted outcome, `None` if no quorum was reached.
    pub outcome: Option<Outcome>,
    /// The accepted output.
    pub output: Option<Vec<u8>>,
}

/// Stores a new job with its blobs, in one transaction.
pub fn insert_job(
    conn: &mut Connection,
    spec: &JobSpec,
    names: &[String],
    blobs: &[(Key256, &[u8])],
    now_unix: i64,
) -> Result<()> {
    let tx = conn.transaction()?;
    let spec_bytes = postcard::to_stdvec(spec).unwrap_or_default();
    let names = serde_json::to_string(names).unwrap_or_else(|_| "[]".into());
    tx.execute(
        "INSERT INTO compute_jobs (id, spec, names, state, created) VALUES (?1, ?2, ?3, 'running', ?4)",
        params![&spec.id().0.0[..], spec_bytes, names, now_unix],
    )?;
    for (hash, bytes) in blobs {
        tx.execute(
            "INSERT OR IGNORE INTO compute_blobs (hash, bytes) VALUES (?1, ?2)",
            params![&hash.0[..], bytes],
        )?;
    }
    tx.commit()
}

fn job_from_row(spec: Vec<u8>, names: String, state: String) -> Option<StoredJob> {
    Some(StoredJob {
        spec: postcard::from_bytes(&spec).ok()?,
        names: serde_json::from_str(&names).ok()?,
        state: JobState::parse(&state)?,
    })
}

/// One job.
pub fn job(conn: &Connection, id: &JobId) -> Result<Option<StoredJob>> {
    conn.query_row(
        "SELECT spec, names, state FROM compute_jobs WHERE id = ?1",
        [&id.0.0[..]],
        |r| Ok(job_from_row(r.get(0)?, r.get(1)?, r.get(2)?)),
    )
    .optional()
    .map(Option::flatten)
}

/// Every job, newest first.
pub fn jobs(conn: &Connection) -> Result<Vec<StoredJob>> {
    let mut st =
        conn.prepare("SELECT spec, names, state FROM compute_jobs ORDER BY created DESC, id")?;
    let rows = st.query_map([], |r| Ok(job_from_row(r.get(0)?, r.get(1)?, r.get(2)?)))?;
    Ok(rows.filter_map(|r| r.ok().flatten()).collect())
}

/// Sets a job's state.
pub fn set_state(conn: &Connection, id: &JobId, state: JobState) -> Result<()> {
    conn.execute(
        "UPDATE compute_jobs SET state = ?2 WHERE id = ?1",
        params![&id.0.0[..], state.as_str()],
    )
    .map(drop)
}

/// A blob by hash.
pub fn blob(conn: &Connection, hash: &Key256) -> Result<Option<Vec<u8>>> {
    conn.query_row(
        "SELECT bytes FROM compute_blobs WHERE hash = ?1",
        [&hash.0[..]],
        |r| r.get(0),
    )
    .optional()
}

/// The finished units of a job.
pub fn units(conn: &Connection, id: &JobId) -> Result<Vec<StoredUnit>> {
    let mut st = conn
        .prepare("SELECT unit, outcome, output FROM compute_units WHERE job = ?1 ORDER BY unit")?;
    let rows = st.query_map([&id.0.0[..]], |r| {
        let outcome: Option<Vec<u8>> = r.get(1)?;
        Ok(StoredUnit {
            unit: r.get(0)?,
            outcome: outcome.and_then(|b| postcard::from_bytes(&b).ok()),
            output: r.get(2)?,
        })
    })?;
    rows.collect()
}

/// Keeps a reported output until its unit is decided.
pub fn insert_candidate(
    conn: &Connection,
    id: &JobId,
    unit: u32,
    hash: &Key256,
    output: &[u8],
) -> Result<()> {
    conn.execute(
        "INSERT OR IGNORE INTO compute_candidates (job, unit, hash, output) VALUES (?1, ?2, ?3, ?4)",
        params![&id.0.0[..], unit, &hash.0[..], output],
    )
    .map(drop)
}

/// Records a decided unit (its accepted output taken from the candidates) and drops the
/// other candidates.
pub fn decide_unit(
    conn: &Connection,
    id: &JobId,
    unit: u32,
    outcome: Option<&Outcome>,
) -> Result<()> {
    let output: Option<Vec<u8>> = match outcome {
        Some(Outcome::Output { hash, .. }) => conn
            .query_row(
                "SELECT output FROM compute_candidates WHERE job = ?1 AND unit = ?2 AND hash = ?3",
                params![&id.0.0[..], unit, &hash.0[..]],
                |r| r.get(0),
            )
            .optional()?,
        _ => None,
    };
    let encoded = outcome.map(|o| postcard::to_stdvec(o).unwrap_or_default());
    conn.execute(
        "INSERT OR REPLACE INTO compute_units (job, unit, outcome, output) VALUES (?1, ?2, ?3, ?4)",
        params![&id.0.0[..], unit, encoded, output],
    )?;
    conn.execute(
        "DELETE FROM compute_candidates WHERE job = ?1 AND unit = ?2",
        params![&id.0.0[..], unit],
    )
    .map(drop)
}

/// Saves a worker's standing.
pub fn save_standing(conn: &Connection, peer: &str, s: &Standing) -> Result<()> {
    conn.execute(
        "INSERT OR REPLACE INTO compute_workers (peer, validated, wrong, lapsed, gave_up, credit)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            peer,
            i64_of(s.validated),
            s.wrong,
            s.lapsed,
            s.gave_up,
            i64_of(s.credit)
        ],
    )
    .map(drop)
}

/// Every worker's standing.
pub fn standings(conn: &Connection) -> Result<Vec<(String, Standing)>> {
    let mut st = conn.prepare(
        "SELECT peer, validated, wrong, lapsed, gave_up, credit FROM compute_workers ORDER BY peer",
    )?;
    let rows = st.query_map([], |r| {
        Ok((
            r.get::<_, String>(0)?,
            Standing {
                validated: u64_of(r.get(1)?),
                wrong: r.get(2)?,
                lapsed: r.get(3)?,
                gave_up: r.get(4)?,
                credit: u64_of(r.get(5)?),
                running: 0,
            },
        ))
    })?;
    rows.collect()
}

/// Adds a unit this node ran for `coordinator` and the coordinator took.
pub fn add_lent(conn: &Connection, coordinator: &str, fuel: u64, busy_ms: u64) -> Result<()> {
    conn.execute(
        "INSERT INTO compute_lent (coordinator, units, fuel, busy_ms) VALUES (?1, 1, ?2, ?3)
         ON CONFLICT (coordinator) DO UPDATE SET units = units + 1, fuel = fuel + ?2,
         busy_ms = busy_ms + ?3",
        params![coordinator, i64_of(fuel), i64_of(busy_ms)],
    )
    .map(drop)
}

/// What this node lent: `(coordinator, units, fuel, busy_ms)`.
pub fn lent(conn: &Connection) -> Result<Vec<(String, u64, u64, u64)>> {
    let mut st = conn.prepare(
        "SELECT coordinator, units, fuel, busy_ms FROM compute_lent ORDER BY fuel DESC, coordinator",
    )?;
    let rows = st.query_map([], |r| {
        Ok((
            r.get(0)?,
            u64_of(r.get(1)?),
            u64_of(r.get(2)?),
            u64_of(r.get(3)?),
        ))
    })?;
    rows.collect()
}
