//! The embedded default backend: one SQLite file in the data dir.
//!
//! One writer thread owns all writes and commits them in groups (see
//! [`writer`]); reads run on a small pool of connections, each read in its
//! own snapshot, concurrently with the writer thanks to WAL. A checkpointer
//! thread copies the WAL into the main file in the background so commits
//! never wait for it. History older than the compaction window is
//! compacted automatically.

mod schema;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{mpsc, Arc, Mutex, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use rusqlite::{params, Connection, OptionalExtension};
use tokio::sync::oneshot;

use crate::keys::KeyRange;
use crate::watch_hub::{History, WatchHub};
use crate::{
    check_size, Bytes, Deleted, Event, KeyValue, RangeRequest, RangeResponse, Result, Revision,
    Store, StoreError, WatchStream,
};
use schema::{db_error, event_from_row, kv_at, EVENTS_SINCE, KV_COLUMNS};
use writer::{Message, Op, Outcome, Writer};

#[derive(Clone, Debug)]
pub struct SqliteOptions {
    /// History older than this is compacted automatically. kube-apiserver
    /// compacts every 5 minutes; so does this default.
    pub compaction_window: Duration,
    /// How often to look for history to compact.
    pub compaction_interval: Duration,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        SqliteOptions {
            compaction_window: Duration::from_secs(300),
            compaction_interval: Duration::from_secs(30),
        }
    }
}

/// The SQLite store. Cheap to clone; all clones share one file.
#[derive(Clone)]
pub struct SqliteStore {
    shared: Arc<Shared>,
}

pub(crate) struct Shared {
    path: PathBuf,
    queue: Mutex<Option<mpsc::Sender<Message>>>,
    threads: Mutex<Vec<JoinHandle<()>>>,
    /// Dropped on close, which wakes and stops the checkpointer at once.
    checkpointer_stop: Mutex<Option<mpsc::Sender<()>>>,
    readers: Mutex<Vec<Connection>>,
    published: Arc<Published>,
}

/// What the writer makes known after each commit.
pub(crate) struct Published {
    /// The latest committed revision.
    revision: AtomicI64,
    compacted: AtomicI64,
    hub: WatchHub,
}

/// Time between background WAL checkpoints.
const CHECKPOINT_INTERVAL: Duration = Duration::from_millis(500);
/// Idle read connections kept open.
const MAX_IDLE_READERS: usize = 8;

impl SqliteStore {
    /// Opens (or creates) the store in the file at `path`. Must be called
    /// inside a Tokio runtime: automatic compaction runs as a task on it.
    pub async fn open(path: impl AsRef<Path>, options: SqliteOptions) -> Result<SqliteStore> {
        let path = path.as_ref().to_path_buf();
        let opened_path = path.clone();
        let connection = tokio::task::spawn_blocking(move || schema::open_writer(&opened_path))
            .await
            .map_err(StoreError::unavailable)??;
        let (queue, receiver) = mpsc::channel();
        let shared = Arc::new(Shared {
            path,
            queue: Mutex::new(Some(queue)),
            threads: Mutex::new(Vec::new()),
            checkpointer_stop: Mutex::new(None),
            readers: Mutex::new(Vec::new()),
            published: Arc::new(Published {
                revision: AtomicI64::new(0),
                compacted: AtomicI64::new(0),
                hub: WatchHub::new(),
            }),
        });
        let writer = Writer::new(connection, shared.published.clone())?;
        let writer_thread = std::thread::Builder::new()
            .name("store-writer".into())
            .spawn(move || writer.run(receiver))
            .map_err(StoreError::unavailable)?;
        let checkpointer = spawn_checkpointer(&shared)?;
        shared.threads().extend([writer_thread, checkpointer]);
        tokio::spawn(auto_compact(Arc::downgrade(&shared), options));
        Ok(SqliteStore { shared })
    }

    /// Finishes queued writes, checkpoints the file and stops the store's
    /// threads. Later calls on any clone fail with `Unavailable`.
    pub async fn close(&self) {
        let queue = self.shared.queue().take();
        if let Some(queue) = queue {
            let _ = queue.send(Message::Close);
        }
        self.shared
            .checkpointer_stop
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .take();
        let threads = std::mem::take(&mut *self.shared.threads());
        let _ = tokio::task::spawn_blocking(move || {
            for thread in threads {
                let _ = thread.join();
            }
        })
        .await;
        self.shared.readers().clear();
    }

    async fn write(&self, op: Op) -> Result<Outcome> {
        let (reply, answer) = oneshot::channel();
        let sent = match &*self.shared.queue() {
            Some(queue) => queue.send(Message::Write(op, reply)).is_ok(),
            None => false,
        };
        if !sent {
            return Err(closed());
        }
        answer.await.map_err(|_| closed())?
    }

    /// Runs `read` on a pooled connection, in one snapshot of the file.
    async fn read<T: Send + 'static>(
        &self,
        read: impl FnOnce(&Connection) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let shared = self.shared.clone();
        tokio::task::spawn_blocking(move || {
            let pooled = shared.readers().pop();
            let mut connection = match pooled {
                Some(connection) => connection,
                None => schema::connect(&shared.path)?,
            };
            let result = connection
                .transaction()
                .map_err(db_error)
                .and_then(|snapshot| {
                    let value = read(&snapshot)?;
                    snapshot.finish().map_err(db_error)?;
                    Ok(value)
                });
            let mut readers = shared.readers();
            if readers.len() < MAX_IDLE_READERS && shared.queue().is_some() {
                readers.push(connection);
            }
            result
        })
        .await
        .map_err(StoreError::unavailable)?
    }
}

impl Shared {
    fn queue(&self) -> std::sync::MutexGuard<'_, Option<mpsc::Sender<Message>>> {
        self.queue
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn threads(&self) -> std::sync::MutexGuard<'_, Vec<JoinHandle<()>>> {
        self.threads
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn readers(&self) -> std::sync::MutexGuard<'_, Vec<Connection>> {
        self.readers
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

fn closed() -> StoreError {
    StoreError::Unavailable("store closed".into())
}

/// Copies the WAL into the main file in the background, so that commits on
/// the writer never pay for it. Ends when the store closes.
fn spawn_checkpointer(shared: &Arc<Shared>) -> Result<JoinHandle<()>> {
    let connection = schema::connect(&shared.path)?;
    let (stop, stopped) = mpsc::channel::<()>();
    *shared
        .checkpointer_stop
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(stop);
    std::thread::Builder::new()
        .name("store-checkpoint".into())
        .spawn(move || {
            while let Err(mpsc::RecvTimeoutError::Timeout) =
                stopped.recv_timeout(CHECKPOINT_INTERVAL)
            {
                if let Err(error) = connection.execute_batch("PRAGMA wal_checkpoint(PASSIVE);") {
                    tracing::warn!(%error, "sqlite store: checkpoint failed");
                }
            }
        })
        .map_err(StoreError::unavailable)
}

/// Compacts, every interval, history older than the window: the revision
/// compacted is the one that was current a window ago.
async fn auto_compact(shared: Weak<Shared>, options: SqliteOptions) {
    let mut samples: Vec<(Instant, Revision)> = Vec::new();
    let mut ticker = tokio::time::interval(options.compaction_interval);
    loop {
        ticker.tick().await;
        let Some(shared) = shared.upgrade() else {
            return;
        };
        let store = SqliteStore { shared };
        if store.shared.queue().is_none() {
            return;
        }
        let now = Instant::now();
        samples.push((now, store.shared.published.revision.load(Ordering::SeqCst)));
        let old = samples
            .iter()
            .filter(|(at, _)| now.duration_since(*at) >= options.compaction_window)
            .map(|(_, revision)| *revision)
            .max();
        samples.retain(|(at, _)| now.duration_since(*at) < options.compaction_window);
        if let Some(revision) = old {
            if revision > store.shared.published.compacted.load(Ordering::SeqCst) {
                if let Err(error) = store.compact(revision).await {
                    tracing::debug!(%error, "sqlite store: automatic compaction skipped");
                }
            }
        }
    }
}

/// The latest revision in this snapshot, after checking that `requested`
/// (0 for the latest) can be read in it.
fn check_revision(connection: &Connection, requested: Revision) -> Result<Revision> {
    let current = schema::current_revision(connection)?;
    if requested == 0 {
        return Ok(current);
    }
    let compacted = schema::read_meta(connection, "compacted")?;
    if requested < compacted {
        return Err(StoreError::Compacted {
            requested,
            compacted,
        });
    }
    if requested > current {
        return Err(StoreError::FutureRevision { requested, current });
    }
    Ok(requested)
}

fn range_in(
    connection: &Connection,
    range: &KeyRange,
    revision: Revision,
    latest: bool,
    limit: usize,
) -> Result<Vec<KeyValue>> {
    // SQLite reads a negative LIMIT as "no limit".
    let limit = if limit == 0 { -1 } else { limit as i64 };
    let sql = if latest {
        format!(
            "SELECT {KV_COLUMNS} FROM latest JOIN log ON log.revision = latest.revision
             WHERE latest.key >= ?1 AND latest.key < ?2 ORDER BY latest.key LIMIT ?4"
        )
    } else {
        // Per key, the newest row at or before the revision, if a put.
        format!(
            "SELECT {KV_COLUMNS} FROM log
             WHERE log.key >= ?1 AND log.key < ?2 AND log.revision <= ?3 AND log.deleted = 0
               AND NOT EXISTS (SELECT 1 FROM log AS newer WHERE newer.key = log.key
                               AND newer.revision > log.revision AND newer.revision <= ?3)
             ORDER BY log.key LIMIT ?4"
        )
    };
    let mut statement = connection.prepare_cached(&sql).map_err(db_error)?;
    let rows = statement
        .query_map(
            params![range.start, range.end_or_max(), revision, limit],
            |row| kv_at(row, 0),
        )
        .map_err(db_error)?;
    rows.collect::<rusqlite::Result<Vec<_>>>().map_err(db_error)
}

#[async_trait]
impl Store for SqliteStore {
    async fn get(&self, key: &str, revision: Revision) -> Result<Option<KeyValue>> {
        let key = key.to_string();
        self.read(move |connection| {
            let at = check_revision(connection, revision)?;
            let sql = format!(
                "SELECT {KV_COLUMNS}, log.deleted FROM log WHERE log.key = ?1 AND log.revision <= ?2
                 ORDER BY log.revision DESC LIMIT 1"
            );
            let found = connection
                .prepare_cached(&sql)
                .and_then(|mut statement| {
                    statement
                        .query_row(params![key.as_bytes(), at], |row| {
                            Ok((kv_at(row, 0)?, row.get::<_, bool>(5)?))
                        })
                        .optional()
                })
                .map_err(db_error)?;
            Ok(found.and_then(|(kv, deleted)| (!deleted).then_some(kv)))
        })
        .await
    }

    async fn range(&self, request: RangeRequest) -> Result<RangeResponse> {
        self.read(move |connection| {
            let revision = check_revision(connection, request.revision)?;
            let range = KeyRange::new(&request.prefix, request.after.as_deref());
            let fetch = if request.limit == 0 {
                0
            } else {
                request.limit + 1
            };
            let mut kvs = range_in(connection, &range, revision, request.revision == 0, fetch)?;
            let more = request.limit > 0 && kvs.len() > request.limit;
            kvs.truncate(if more { request.limit } else { kvs.len() });
            Ok(RangeResponse {
                kvs,
                more,
                revision,
            })
        })
        .await
    }

    async fn create(&self, key: &str, value: Bytes) -> Result<KeyValue> {
        check_size(&value)?;
        let key = key.to_string();
        match self.write(Op::Create { key, value }).await? {
            Outcome::Put(kv) => Ok(kv),
            _ => unreachable!("a create answers with the new key"),
        }
    }

    async fn update(&self, key: &str, value: Bytes, expected: Revision) -> Result<KeyValue> {
        check_size(&value)?;
        let key = key.to_string();
        match self
            .write(Op::Update {
                key,
                value,
                expected,
            })
            .await?
        {
            Outcome::Put(kv) => Ok(kv),
            _ => unreachable!("an update answers with the new key"),
        }
    }

    async fn delete(&self, key: &str, expected: Option<Revision>) -> Result<Deleted> {
        let key = key.to_string();
        match self.write(Op::Delete { key, expected }).await? {
            Outcome::Deleted(deleted) => Ok(deleted),
            _ => unreachable!("a delete answers with the deleted key"),
        }
    }

    async fn watch(&self, prefix: &str, start_revision: Revision) -> Result<WatchStream> {
        if self.shared.queue().is_none() {
            return Err(closed());
        }
        let history: Arc<dyn History> = Arc::new(self.clone());
        self.shared
            .published
            .hub
            .watch(history, prefix, start_revision)
    }

    async fn compact(&self, revision: Revision) -> Result<()> {
        self.write(Op::Compact { revision }).await.map(|_| ())
    }

    async fn current_revision(&self) -> Result<Revision> {
        Ok(self.shared.published.revision.load(Ordering::SeqCst))
    }

    async fn count(&self, prefix: &str) -> Result<i64> {
        let range = KeyRange::new(prefix, None);
        self.read(move |connection| {
            connection
                .prepare_cached("SELECT count(*) FROM latest WHERE key >= ?1 AND key < ?2")
                .and_then(|mut statement| {
                    statement.query_row(params![range.start, range.end_or_max()], |row| row.get(0))
                })
                .map_err(db_error)
        })
        .await
    }
}

#[async_trait]
impl History for SqliteStore {
    async fn events_since(
        &self,
        range: &KeyRange,
        from: Revision,
        limit: usize,
    ) -> Result<Vec<Event>> {
        let (start, end) = (range.start.clone(), range.end_or_max());
        self.read(move |connection| {
            let compacted = schema::read_meta(connection, "compacted")?;
            if from < compacted {
                return Err(StoreError::Compacted {
                    requested: from,
                    compacted,
                });
            }
            let mut statement = connection.prepare_cached(EVENTS_SINCE).map_err(db_error)?;
            let rows = statement
                .query_map(params![from, start, end, limit as i64], event_from_row)
                .map_err(db_error)?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(db_error)
        })
        .await
    }

    fn current_revision(&self) -> Revision {
        self.shared.published.revision.load(Ordering::SeqCst)
    }

    fn compacted_revision(&self) -> Revision {
        self.shared.published.compacted.load(Ordering::SeqCst)
    }
}
