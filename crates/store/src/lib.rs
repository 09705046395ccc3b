//! The cluster's store: a revisioned key-value store with watch, with the
//! semantics of the etcd v3 API.
//!
//! Every write gets the next value of one cluster-wide revision counter. Each
//! key remembers the revision that created it (`create_revision`), the one
//! that last changed it (`mod_revision`) and how many times it was written
//! since creation (`version`). History is kept until it is compacted, so reads
//! at a past revision and watches from a past revision work until then.
//!
//! Three backends implement [`Store`]:
//! - [`sqlite::SqliteStore`], the embedded default: one file, WAL, fsync on
//!   commit, group commit, automatic compaction;
//! - [`etcd::EtcdStore`], a real etcd v3 cluster;
//! - [`memory::MemoryStore`], for tests of other crates.
//!
//! Only the API server uses this crate.

pub mod etcd;
pub mod memory;
pub mod sqlite;
#[cfg(feature = "testing")]
pub mod testing;

mod error;
mod keys;
mod watch_hub;

use std::pin::Pin;

use async_trait::async_trait;
use futures_util::Stream;

pub use bytes::Bytes;
pub use error::{Result, StoreError};

/// A revision of the store. `0` in a request means "the latest".
pub type Revision = i64;

/// The largest value any backend accepts: etcd's default request limit
/// (`--max-request-bytes`, 1.5 MiB).
pub const MAX_VALUE_SIZE: usize = 1_572_864;

/// One key as stored at some revision.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyValue {
    pub key: String,
    pub value: Bytes,
    /// The revision of the write that created this key.
    pub create_revision: Revision,
    /// The revision of the last write to this key.
    pub mod_revision: Revision,
    /// Number of writes since creation; 1 right after the create.
    pub version: i64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventKind {
    /// A create or an update; `prev` tells which.
    Put,
    Delete,
}

/// One change, as a watcher sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    pub kind: EventKind,
    /// For a put, the new value. For a delete, the key with `mod_revision`
    /// set to the revision of the delete and everything else empty, as etcd.
    pub kv: KeyValue,
    /// The value before this change; `None` for a create.
    pub prev: Option<KeyValue>,
}

impl Event {
    /// The revision at which this change happened.
    pub fn revision(&self) -> Revision {
        self.kv.mod_revision
    }
}

/// A read of the keys under a prefix, in key order.
#[derive(Clone, Debug, Default)]
pub struct RangeRequest {
    /// Keys starting with this string; `""` is every key.
    pub prefix: String,
    /// Only keys strictly after this one: how a client continues a paged
    /// read from the last key it got.
    pub after: Option<String>,
    /// At most this many keys; `0` means no limit.
    pub limit: usize,
    /// Read the store as it was at this revision; `0` means the latest.
    pub revision: Revision,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RangeResponse {
    pub kvs: Vec<KeyValue>,
    /// More keys follow the last one returned.
    pub more: bool,
    /// The revision the read was served at: pass it back as
    /// `RangeRequest::revision` to page through a stable snapshot.
    pub revision: Revision,
}

/// The result of a delete.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Deleted {
    /// The key's value just before it was deleted.
    pub prev: KeyValue,
    /// The revision of the delete.
    pub revision: Revision,
}

/// A stream of changes in revision order, with no gaps and no duplicates.
/// It ends with an error if the watch cannot go on (for example
/// [`StoreError::Compacted`] if it fell behind compaction).
pub type WatchStream = Pin<Box<dyn Stream<Item = Result<Event>> + Send>>;

/// The store, as the API server uses it.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// The key at `revision` (`0`: the latest), or `None` if it does not
    /// exist there.
    async fn get(&self, key: &str, revision: Revision) -> Result<Option<KeyValue>>;

    /// The keys under a prefix, in key order.
    async fn range(&self, request: RangeRequest) -> Result<RangeResponse>;

    /// Creates `key`; fails with `AlreadyExists` if it exists.
    async fn create(&self, key: &str, value: Bytes) -> Result<KeyValue>;

    /// Replaces the value of `key` if its `mod_revision` is still
    /// `expected_mod_revision`; otherwise fails with `Conflict` carrying the
    /// current value, or `NotFound` if the key is gone.
    async fn update(
        &self,
        key: &str,
        value: Bytes,
        expected_mod_revision: Revision,
    ) -> Result<KeyValue>;

    /// Deletes `key`, only if its `mod_revision` is `expected` when one is
    /// given (`Conflict` otherwise). `NotFound` if it does not exist.
    async fn delete(&self, key: &str, expected_mod_revision: Option<Revision>) -> Result<Deleted>;

    /// Every change to keys under `prefix` with a revision at or after
    /// `start_revision` (`0`: changes after now), each with its previous
    /// value. Fails with `Compacted` if `start_revision` is older than the
    /// compacted revision.
    async fn watch(&self, prefix: &str, start_revision: Revision) -> Result<WatchStream>;

    /// Forgets history older than `revision`: afterwards, reads and watches
    /// at revisions below it fail with `Compacted`. The latest value of
    /// every key is kept.
    async fn compact(&self, revision: Revision) -> Result<()>;

    /// The revision of the latest write.
    async fn current_revision(&self) -> Result<Revision>;

    /// How many keys are under `prefix` now.
    async fn count(&self, prefix: &str) -> Result<i64>;
}

/// Refuses values over [`MAX_VALUE_SIZE`], the same on every backend.
pub(crate) fn check_size(value: &[u8]) -> Result<()> {
    if value.len() > MAX_VALUE_SIZE {
        return Err(StoreError::TooLarge {
            size: value.len(),
            limit: MAX_VALUE_SIZE,
        });
    }
    Ok(())
}
