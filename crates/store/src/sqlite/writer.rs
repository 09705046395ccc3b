//! The one thread that writes the SQLite file.
//!
//! Writes from every caller queue up here; each round takes everything
//! queued (up to `MAX_BATCH`) and commits it as one transaction, so many
//! concurrent writers share one fsync (group commit). Each write still gets
//! its own revision and its own answer: a conflict fails that write only.
//!
//! Compaction runs here too, in bounded chunks between rounds, so it keeps
//! pace with writes without ever holding the file for long.

use std::ffi::c_int;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rusqlite::hooks::Wal;
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use tokio::sync::oneshot;

use super::schema::{current_revision, db_error, kv_at, read_meta};
use super::Published;
use crate::{Bytes, Deleted, Event, EventKind, KeyValue, Result, Revision, StoreError};

/// Most writes committed in one transaction.
const MAX_BATCH: usize = 256;
/// Revisions of history examined per compaction chunk while writes wait.
const BUSY_COMPACTION_CHUNK: Revision = 256;
/// Revisions of history examined per compaction chunk when idle.
const IDLE_COMPACTION_CHUNK: Revision = 8192;
/// Longest wait for more writers to join a batch.
const LINGER: Duration = Duration::from_micros(150);
/// WAL length (pages) past which the writer checkpoints itself so that
/// the WAL starts over: about 32 MiB.
const WAL_RESTART_PAGES: i64 = 8192;
/// Least time between two such checkpoints, so that a WAL a reader keeps
/// from starting over is not checkpointed after every commit.
const WAL_RESTART_EVERY: Duration = Duration::from_millis(250);
/// Free pages handed back to the file system per step when idle.
const VACUUM_STEP_PAGES: i64 = 1024;

pub(crate) enum Op {
    Create {
        key: String,
        value: Bytes,
    },
    Update {
        key: String,
        value: Bytes,
        expected: Revision,
    },
    Delete {
        key: String,
        expected: Option<Revision>,
    },
    Compact {
        revision: Revision,
    },
}

pub(crate) enum Outcome {
    Put(KeyValue),
    Deleted(Deleted),
    Compacted,
}

pub(crate) enum Message {
    Write(Op, oneshot::Sender<Result<Outcome>>),
    Close,
}

pub(crate) struct Writer {
    connection: Connection,
    published: Arc<Published>,
    revision: Revision,
    compacted: Revision,
    /// Rows below this revision have been compacted against `compacted`.
    purged_to: Revision,
    vacuum_pending: bool,
    /// Size of the last batch: how many writers are active.
    last_batch: usize,
    /// Pages in the WAL after the last commit, from SQLite's WAL hook.
    wal_pages: Arc<AtomicI64>,
    last_wal_restart: Instant,
}

impl Writer {
    pub fn new(mut connection: Connection, published: Arc<Published>) -> Result<Writer> {
        let wal_pages = Arc::new(AtomicI64::new(0));
        let pages = wal_pages.clone();
        connection
            .wal_hook(Some(move |_: &mut Wal, length: c_int| {
                pages.store(length.into(), Ordering::Relaxed);
                Ok(())
            }))
            .map_err(db_error)?;
        let revision = current_revision(&connection)?;
        let compacted = read_meta(&connection, "compacted")?;
        published.revision.store(revision, Ordering::SeqCst);
        published.compacted.store(compacted, Ordering::SeqCst);
        Ok(Writer {
            connection,
            published,
            revision,
            compacted,
            // A compaction cut short by a restart is taken up from the start.
            purged_to: 0,
            vacuum_pending: true,
            last_batch: 1,
            wal_pages,
            last_wal_restart: Instant::now(),
        })
    }

    pub fn run(mut self, queue: Receiver<Message>) {
        let mut batch = Vec::with_capacity(MAX_BATCH);
        loop {
            let first = if self.has_idle_work() {
                match queue.recv_timeout(Duration::from_millis(1)) {
                    Ok(message) => Some(message),
                    Err(RecvTimeoutError::Timeout) => None,
                    Err(RecvTimeoutError::Disconnected) => return,
                }
            } else {
                match queue.recv() {
                    Ok(message) => Some(message),
                    Err(_) => return,
                }
            };
            let Some(first) = first else {
                self.idle_work();
                continue;
            };
            // Everything queued behind the first write joins its batch. When
            // the last batch showed concurrent writers, wait a moment for
            // those not back yet: one fsync then serves them all.
            let mut closing = false;
            let mut next = Some(first);
            let lingering_until = Instant::now() + LINGER;
            while let Some(message) = next.take() {
                match message {
                    Message::Write(op, reply) => batch.push((op, reply)),
                    Message::Close => {
                        closing = true;
                        break;
                    }
                }
                if batch.len() >= MAX_BATCH {
                    break;
                }
                next = queue.try_recv().ok();
                if next.is_none() && batch.len() < self.last_batch {
                    let left = lingering_until.saturating_duration_since(Instant::now());
                    next = queue.recv_timeout(left).ok();
                }
            }
            if !batch.is_empty() {
                self.last_batch = batch.len();
                self.commit_batch(&mut batch);
                self.restart_wal();
            }
            if closing {
                let _ = self
                    .connection
                    .execute_batch("PRAGMA wal_checkpoint(TRUNCATE);");
                return;
            }
        }
    }

    /// Lets a long WAL start over. SQLite reuses the WAL from its start only
    /// when a write begins right after a checkpoint copied all of it, which
    /// a background checkpoint racing steady writes never sees: the WAL
    /// then grows without end (gigabytes in a rollout), and every append
    /// to it costs the file system new blocks. A checkpoint here, between
    /// transactions, has little left to copy after the background one.
    fn restart_wal(&mut self) {
        if self.wal_pages.load(Ordering::Relaxed) < WAL_RESTART_PAGES
            || self.last_wal_restart.elapsed() < WAL_RESTART_EVERY
        {
            return;
        }
        self.last_wal_restart = Instant::now();
        if let Err(error) = self
            .connection
            .execute_batch("PRAGMA wal_checkpoint(PASSIVE);")
        {
            tracing::warn!(%error, "sqlite store: checkpoint failed");
        }
    }

    fn has_idle_work(&self) -> bool {
        self.purged_to < self.compacted || self.vacuum_pending
    }

    /// Commits a batch as one transaction, then answers each write and
    /// publishes the events.
    fn commit_batch(&mut self, batch: &mut Vec<(Op, oneshot::Sender<Result<Outcome>>)>) {
        let start_revision = self.revision;
        let start_compacted = self.compacted;
        let start_purged_to = self.purged_to;
        let mut outcomes = Vec::with_capacity(batch.len());
        let mut events = Vec::new();
        let committed = (|| -> rusqlite::Result<()> {
            let transaction = self
                .connection
                .transaction_with_behavior(TransactionBehavior::Immediate)?;
            for (op, _) in batch.iter_mut() {
                let outcome = apply(&transaction, op, &mut self.revision, &mut self.compacted)?;
                if let Ok((_, Some(event))) = &outcome {
                    events.push(event.clone());
                }
                outcomes.push(outcome.map(|(outcome, _)| outcome));
            }
            if self.compacted != start_compacted {
                set_meta(&transaction, "compacted", self.compacted)?;
                self.purged_to = 0;
            }
            // A small piece of compaction rides along with the writes.
            purge_chunk(
                &transaction,
                &mut self.purged_to,
                self.compacted,
                BUSY_COMPACTION_CHUNK,
            )?;
            transaction.commit()
        })();
        match committed {
            Ok(()) => {
                self.published
                    .revision
                    .store(self.revision, Ordering::SeqCst);
                self.published
                    .compacted
                    .store(self.compacted, Ordering::SeqCst);
                self.published.hub.publish(events);
                for ((_, reply), outcome) in batch.drain(..).zip(outcomes) {
                    let _ = reply.send(outcome);
                }
            }
            Err(error) => {
                tracing::error!(%error, "sqlite store: commit failed");
                self.revision = start_revision;
                self.compacted = start_compacted;
                self.purged_to = start_purged_to;
                let failure = db_error(error);
                for (_, reply) in batch.drain(..) {
                    let _ = reply.send(Err(failure.clone()));
                }
            }
        }
    }

    /// Compaction and vacuum, in steps short enough not to delay a write.
    fn idle_work(&mut self) {
        let result = if self.purged_to < self.compacted {
            (|| {
                let transaction = self.connection.transaction()?;
                purge_chunk(
                    &transaction,
                    &mut self.purged_to,
                    self.compacted,
                    IDLE_COMPACTION_CHUNK,
                )?;
                transaction.commit()?;
                self.vacuum_pending |= self.purged_to >= self.compacted;
                Ok(())
            })()
        } else {
            self.vacuum_step()
        };
        if let Err(error) = result {
            tracing::warn!(%error, "sqlite store: compaction step failed");
            // Try again later rather than spin on a failing file.
            self.vacuum_pending = false;
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Hands free pages back to the file system, a bounded step at a time.
    fn vacuum_step(&mut self) -> rusqlite::Result<()> {
        let free: i64 = self
            .connection
            .query_row("PRAGMA freelist_count", [], |row| row.get(0))?;
        if free == 0 {
            self.vacuum_pending = false;
            return Ok(());
        }
        let mut statement = self
            .connection
            .prepare(&format!("PRAGMA incremental_vacuum({VACUUM_STEP_PAGES})"))?;
        let mut rows = statement.query([])?;
        while rows.next()?.is_some() {}
        Ok(())
    }
}

fn set_meta(connection: &Connection, name: &str, value: i64) -> rusqlite::Result<()> {
    connection
        .prepare_cached("UPDATE meta SET value = ?2 WHERE name = ?1")?
        .execute(params![name, value])?;
    Ok(())
}

/// Deletes the history rows in `[*purged_to, *purged_to + chunk)` below
/// `compacted` that no read at or after `compacted` needs: tombstones, and
/// rows superseded by a newer row still below `compacted`. The row a key
/// had just before `compacted` stays, as the previous value of the event
/// that replaced it.
fn purge_chunk(
    connection: &Connection,
    purged_to: &mut Revision,
    compacted: Revision,
    chunk: Revision,
) -> rusqlite::Result<()> {
    if *purged_to >= compacted {
        return Ok(());
    }
    let end = (*purged_to + chunk).min(compacted);
    connection
        .prepare_cached(
            "DELETE FROM log WHERE revision >= ?1 AND revision < ?2 AND (deleted = 1 OR EXISTS (
                 SELECT 1 FROM log AS newer
                 WHERE newer.key = log.key AND newer.revision > log.revision AND newer.revision < ?3))",
        )?
        .execute(params![*purged_to, end, compacted])?;
    *purged_to = end;
    Ok(())
}

/// The value of `key` now, if it exists.
fn latest(connection: &Connection, key: &str) -> rusqlite::Result<Option<KeyValue>> {
    connection
        .prepare_cached(
            "SELECT log.key, log.value, log.create_revision, log.revision, log.version
             FROM latest JOIN log ON log.revision = latest.revision WHERE latest.key = ?1",
        )?
        .query_row([key.as_bytes()], |row| kv_at(row, 0))
        .optional()
}

fn exists(connection: &Connection, key: &str) -> rusqlite::Result<bool> {
    connection
        .prepare_cached("SELECT 1 FROM latest WHERE key = ?1")?
        .exists([key.as_bytes()])
}

/// The value of `key` if its mod revision is as expected, else the error.
fn guarded(
    connection: &Connection,
    key: &str,
    expected: Option<Revision>,
) -> rusqlite::Result<Result<KeyValue>> {
    Ok(match latest(connection, key)? {
        None => Err(StoreError::NotFound {
            key: key.to_string(),
        }),
        Some(current) => match expected {
            Some(expected) if expected != current.mod_revision => Err(StoreError::Conflict {
                expected,
                current: Box::new(current),
            }),
            _ => Ok(current),
        },
    })
}

fn insert_log(
    connection: &Connection,
    kv: &KeyValue,
    prev_revision: Revision,
    deleted: bool,
) -> rusqlite::Result<()> {
    connection
        .prepare_cached(
            "INSERT INTO log (revision, key, create_revision, prev_revision, version, deleted, value)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )?
        .execute(params![
            kv.mod_revision,
            kv.key.as_bytes(),
            kv.create_revision,
            prev_revision,
            kv.version,
            deleted,
            &kv.value[..],
        ])?;
    Ok(())
}

type Applied = Result<(Outcome, Option<Event>)>;

/// Applies one write inside the batch's transaction. The outer error is a
/// failure of the file (the batch is rolled back); the inner one is this
/// write's own answer (not found, conflict, ...).
fn apply(
    connection: &Connection,
    op: &mut Op,
    revision: &mut Revision,
    compacted: &mut Revision,
) -> rusqlite::Result<Applied> {
    match op {
        Op::Create { key, value } => {
            if exists(connection, key)? {
                return Ok(Err(StoreError::AlreadyExists { key: key.clone() }));
            }
            let next = *revision + 1;
            let kv = KeyValue {
                key: std::mem::take(key),
                value: std::mem::take(value),
                create_revision: next,
                mod_revision: next,
                version: 1,
            };
            insert_log(connection, &kv, 0, false)?;
            connection
                .prepare_cached("INSERT INTO latest (key, revision) VALUES (?1, ?2)")?
                .execute(params![kv.key.as_bytes(), next])?;
            *revision = next;
            let event = Event {
                kind: EventKind::Put,
                kv: kv.clone(),
                prev: None,
            };
            Ok(Ok((Outcome::Put(kv), Some(event))))
        }
        Op::Update {
            key,
            value,
            expected,
        } => {
            let prev = match guarded(connection, key, Some(*expected))? {
                Ok(prev) => prev,
                Err(error) => return Ok(Err(error)),
            };
            let next = *revision + 1;
            let kv = KeyValue {
                key: std::mem::take(key),
                value: std::mem::take(value),
                create_revision: prev.create_revision,
                mod_revision: next,
                version: prev.version + 1,
            };
            insert_log(connection, &kv, prev.mod_revision, false)?;
            connection
                .prepare_cached("UPDATE latest SET revision = ?2 WHERE key = ?1")?
                .execute(params![kv.key.as_bytes(), next])?;
            *revision = next;
            let event = Event {
                kind: EventKind::Put,
                kv: kv.clone(),
                prev: Some(prev),
            };
            Ok(Ok((Outcome::Put(kv), Some(event))))
        }
        Op::Delete { key, expected } => {
            let prev = match guarded(connection, key, *expected)? {
                Ok(prev) => prev,
                Err(error) => return Ok(Err(error)),
            };
            let next = *revision + 1;
            let tombstone = KeyValue {
                key: std::mem::take(key),
                value: Bytes::new(),
                create_revision: 0,
                mod_revision: next,
                version: 0,
            };
            insert_log(connection, &tombstone, prev.mod_revision, true)?;
            connection
                .prepare_cached("DELETE FROM latest WHERE key = ?1")?
                .execute([tombstone.key.as_bytes()])?;
            *revision = next;
            let deleted = Deleted {
                prev: prev.clone(),
                revision: next,
            };
            let event = Event {
                kind: EventKind::Delete,
                kv: tombstone,
                prev: Some(prev),
            };
            Ok(Ok((Outcome::Deleted(deleted), Some(event))))
        }
        Op::Compact { revision: target } => {
            let target = *target;
            if target <= *compacted {
                return Ok(Err(StoreError::Compacted {
                    requested: target,
                    compacted: *compacted,
                }));
            }
            if target > *revision {
                return Ok(Err(StoreError::FutureRevision {
                    requested: target,
                    current: *revision,
                }));
            }
            *compacted = target;
            Ok(Ok((Outcome::Compacted, None)))
        }
    }
}
