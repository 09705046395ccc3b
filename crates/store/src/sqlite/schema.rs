//! The SQLite file's layout and how its rows become keys and events.
//!
//! - `log` holds one row per write (its revision is the primary key): puts
//!   with their value, deletes as tombstones. `prev_revision` points at the
//!   row a write replaced, which gives watchers the previous value.
//! - `latest` maps each live key to the `log` row holding its value, so
//!   reads at the latest revision never look at history.
//! - `meta` holds the compacted revision. The current revision is the
//!   newest `log` row's: compaction never removes that row, so the counter
//!   needs no write of its own on every commit.
//!
//! Compaction deletes `log` rows below the compacted revision that a newer
//! row below it supersedes, and tombstones: what remains still answers
//! reads at any revision from the compacted one on.

use std::path::Path;
use std::time::Duration;

use rusqlite::config::DbConfig;
use rusqlite::{Connection, OpenFlags, Row};

use crate::{Bytes, Event, EventKind, KeyValue, Result, Revision, StoreError};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS log (
    revision        INTEGER PRIMARY KEY,
    key             BLOB    NOT NULL,
    create_revision INTEGER NOT NULL,
    prev_revision   INTEGER NOT NULL,
    version         INTEGER NOT NULL,
    deleted         INTEGER NOT NULL,
    value           BLOB    NOT NULL
);
CREATE INDEX IF NOT EXISTS log_key_revision ON log (key, revision);
CREATE TABLE IF NOT EXISTS latest (
    key      BLOB    PRIMARY KEY,
    revision INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS meta (
    name  TEXT    PRIMARY KEY,
    value INTEGER NOT NULL
) WITHOUT ROWID;
INSERT OR IGNORE INTO meta (name, value) VALUES ('compacted', 0);
";

/// Columns of a `log` row as a key: the `KV_COLUMNS` of every query below.
pub(crate) const KV_COLUMNS: &str =
    "log.key, log.value, log.create_revision, log.revision, log.version";

pub(crate) fn db_error(error: rusqlite::Error) -> StoreError {
    StoreError::unavailable(format!("sqlite: {error}"))
}

/// Opens a connection with the settings every connection needs.
pub(crate) fn connect(path: &Path) -> Result<Connection> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let connection = Connection::open_with_flags(path, flags).map_err(|error| {
        StoreError::unavailable(format!("cannot open {}: {error}", path.display()))
    })?;
    connection
        .busy_timeout(Duration::from_secs(10))
        .map_err(db_error)?;
    // Plans that do not depend on bound values. Without this, a statement
    // whose plan looked at a parameter (any `col = ?` the planner weighs)
    // is compiled again on each use: the statement cache clears its
    // bindings, which expires it.
    connection
        .set_db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)
        .map_err(db_error)?;
    connection
        .execute_batch(
            // FULL: every commit is fsynced, so an acknowledged write
            // survives a crash of the machine, not only of the process.
            // A small page cache per reader: the file is in the OS's
            // cache anyway, and there are several readers.
            "PRAGMA synchronous = FULL;
             PRAGMA cache_size = -2048;
             PRAGMA temp_store = MEMORY;",
        )
        .map_err(db_error)?;
    Ok(connection)
}

/// Opens the file for the writer, creating the schema on first use.
pub(crate) fn open_writer(path: &Path) -> Result<Connection> {
    let connection = connect(path)?;
    connection
        .execute_batch(
            // auto_vacuum only takes effect before the first table exists:
            // it lets compaction give freed pages back to the file system.
            "PRAGMA auto_vacuum = INCREMENTAL;
             PRAGMA cache_size = -8192;
             PRAGMA journal_mode = WAL;
             PRAGMA journal_size_limit = 67108864;
             PRAGMA wal_autocheckpoint = 0;",
        )
        .map_err(db_error)?;
    connection.execute_batch(SCHEMA).map_err(db_error)?;
    Ok(connection)
}

/// The revision of the latest write in this snapshot.
pub(crate) fn current_revision(connection: &Connection) -> Result<i64> {
    connection
        .prepare_cached("SELECT coalesce(max(revision), 0) FROM log")
        .and_then(|mut statement| statement.query_row([], |row| row.get(0)))
        .map_err(db_error)
}

pub(crate) fn read_meta(connection: &Connection, name: &str) -> Result<i64> {
    connection
        .prepare_cached("SELECT value FROM meta WHERE name = ?1")
        .and_then(|mut statement| statement.query_row([name], |row| row.get(0)))
        .map_err(db_error)
}

pub(crate) fn key_from_blob(blob: Vec<u8>) -> rusqlite::Result<String> {
    String::from_utf8(blob).map_err(|error| {
        rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Blob, Box::new(error))
    })
}

/// Reads `KV_COLUMNS` starting at column `at`.
pub(crate) fn kv_at(row: &Row<'_>, at: usize) -> rusqlite::Result<KeyValue> {
    Ok(KeyValue {
        key: key_from_blob(row.get(at)?)?,
        value: Bytes::from(row.get::<_, Vec<u8>>(at + 1)?),
        create_revision: row.get(at + 2)?,
        mod_revision: row.get(at + 3)?,
        version: row.get(at + 4)?,
    })
}

/// The query behind watchers catching up: events in a key range from a
/// revision on, each joined with the row it replaced.
pub(crate) const EVENTS_SINCE: &str = "
SELECT log.key, log.value, log.create_revision, log.revision, log.version, log.deleted,
       prev.value, prev.create_revision, prev.revision, prev.version
FROM log LEFT JOIN log AS prev ON prev.revision = log.prev_revision AND log.prev_revision != 0
WHERE log.revision >= ?1 AND log.key >= ?2 AND log.key < ?3
ORDER BY log.revision
LIMIT ?4";

pub(crate) fn event_from_row(row: &Row<'_>) -> rusqlite::Result<Event> {
    let mut kv = kv_at(row, 0)?;
    let deleted: bool = row.get(5)?;
    let prev = match row.get::<_, Option<Revision>>(8)? {
        Some(mod_revision) => Some(KeyValue {
            key: kv.key.clone(),
            value: Bytes::from(row.get::<_, Vec<u8>>(6)?),
            create_revision: row.get(7)?,
            mod_revision,
            version: row.get(9)?,
        }),
        None => None,
    };
    let kind = if deleted {
        kv.value = Bytes::new();
        kv.create_revision = 0;
        kv.version = 0;
        EventKind::Delete
    } else {
        EventKind::Put
    };
    Ok(Event { kind, kv, prev })
}
