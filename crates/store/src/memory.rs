//! The in-memory backend, for tests of other crates.
//!
//! The latest state is a sorted map; history is the list of events, each
//! carrying the value it replaced. A read at a past revision starts from the
//! latest state and undoes the newer events, so compaction only has to drop
//! old events.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;

use crate::keys::KeyRange;
use crate::watch_hub::{History, WatchHub};
use crate::{
    check_size, Bytes, Deleted, Event, EventKind, KeyValue, RangeRequest, RangeResponse, Result,
    Revision, Store, StoreError, WatchStream,
};

/// A store that lives and dies with the process.
#[derive(Clone)]
pub struct MemoryStore {
    inner: Arc<Inner>,
}

struct Inner {
    state: Mutex<State>,
    hub: WatchHub,
}

#[derive(Default)]
struct State {
    revision: Revision,
    compacted: Revision,
    latest: BTreeMap<String, KeyValue>,
    /// Events by revision, from the compacted revision on.
    events: BTreeMap<Revision, Event>,
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryStore {
    pub fn new() -> MemoryStore {
        MemoryStore {
            inner: Arc::new(Inner {
                state: Mutex::new(State::default()),
                hub: WatchHub::new(),
            }),
        }
    }
}

impl Inner {
    fn state(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave the maps half-written
        // (every write inserts last), so a poisoned lock is still usable.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Applies one event under the lock and publishes it before unlocking,
    /// so watchers receive events in revision order.
    fn commit(&self, mut state: MutexGuard<'_, State>, event: Event) {
        state.revision = event.revision();
        match event.kind {
            EventKind::Put => {
                state.latest.insert(event.kv.key.clone(), event.kv.clone());
            }
            EventKind::Delete => {
                state.latest.remove(&event.kv.key);
            }
        }
        state.events.insert(event.revision(), event.clone());
        self.hub.publish([event]);
    }
}

impl State {
    fn check_revision(&self, revision: Revision) -> Result<Revision> {
        if revision == 0 {
            return Ok(self.revision);
        }
        if revision < self.compacted {
            return Err(StoreError::Compacted {
                requested: revision,
                compacted: self.compacted,
            });
        }
        if revision > self.revision {
            return Err(StoreError::FutureRevision {
                requested: revision,
                current: self.revision,
            });
        }
        Ok(revision)
    }

    /// The keys in `range` as they were at `revision`.
    fn snapshot(&self, range: &KeyRange, revision: Revision) -> BTreeMap<String, KeyValue> {
        let mut keys: BTreeMap<String, KeyValue> = self
            .latest
            .iter()
            .filter(|(key, _)| range.contains(key.as_bytes()))
            .map(|(key, kv)| (key.clone(), kv.clone()))
            .collect();
        let newer = self
            .events
            .range((Bound::Excluded(revision), Bound::Unbounded));
        for (_, event) in newer.rev() {
            if !range.contains(event.kv.key.as_bytes()) {
                continue;
            }
            match &event.prev {
                Some(prev) => keys.insert(prev.key.clone(), prev.clone()),
                None => keys.remove(&event.kv.key),
            };
        }
        keys
    }

    fn next_event(
        &self,
        kind: EventKind,
        key: &str,
        value: Bytes,
        prev: Option<KeyValue>,
    ) -> Event {
        let revision = self.revision + 1;
        let kv = match (kind, &prev) {
            (EventKind::Delete, _) => KeyValue {
                key: key.to_string(),
                value: Bytes::new(),
                create_revision: 0,
                mod_revision: revision,
                version: 0,
            },
            (EventKind::Put, Some(prev)) => KeyValue {
                key: key.to_string(),
                value,
                create_revision: prev.create_revision,
                mod_revision: revision,
                version: prev.version + 1,
            },
            (EventKind::Put, None) => KeyValue {
                key: key.to_string(),
                value,
                create_revision: revision,
                mod_revision: revision,
                version: 1,
            },
        };
        Event { kind, kv, prev }
    }

    /// The current value of `key` if its mod revision is as expected.
    fn guarded(&self, key: &str, expected: Option<Revision>) -> Result<KeyValue> {
        let current = self.latest.get(key).ok_or_else(|| StoreError::NotFound {
            key: key.to_string(),
        })?;
        match expected {
            Some(expected) if expected != current.mod_revision => Err(StoreError::Conflict {
                expected,
                current: Box::new(current.clone()),
            }),
            _ => Ok(current.clone()),
        }
    }
}

#[async_trait]
impl Store for MemoryStore {
    async fn get(&self, key: &str, revision: Revision) -> Result<Option<KeyValue>> {
        let state = self.inner.state();
        let revision = state.check_revision(revision)?;
        let range = KeyRange {
            start: key.as_bytes().to_vec(),
            end: Some([key.as_bytes(), &[0]].concat()),
        };
        Ok(state.snapshot(&range, revision).remove(key))
    }

    async fn range(&self, request: RangeRequest) -> Result<RangeResponse> {
        let state = self.inner.state();
        let revision = state.check_revision(request.revision)?;
        let range = KeyRange::new(&request.prefix, request.after.as_deref());
        let mut kvs: Vec<KeyValue> = state.snapshot(&range, revision).into_values().collect();
        let more = request.limit > 0 && kvs.len() > request.limit;
        if more {
            kvs.truncate(request.limit);
        }
        Ok(RangeResponse {
            kvs,
            more,
            revision,
        })
    }

    async fn create(&self, key: &str, value: Bytes) -> Result<KeyValue> {
        check_size(&value)?;
        let state = self.inner.state();
        if state.latest.contains_key(key) {
            return Err(StoreError::AlreadyExists {
                key: key.to_string(),
            });
        }
        let event = state.next_event(EventKind::Put, key, value, None);
        let kv = event.kv.clone();
        self.inner.commit(state, event);
        Ok(kv)
    }

    async fn update(&self, key: &str, value: Bytes, expected: Revision) -> Result<KeyValue> {
        check_size(&value)?;
        let state = self.inner.state();
        let prev = state.guarded(key, Some(expected))?;
        let event = state.next_event(EventKind::Put, key, value, Some(prev));
        let kv = event.kv.clone();
        self.inner.commit(state, event);
        Ok(kv)
    }

    async fn delete(&self, key: &str, expected: Option<Revision>) -> Result<Deleted> {
        let state = self.inner.state();
        let prev = state.guarded(key, expected)?;
        let event = state.next_event(EventKind::Delete, key, Bytes::new(), Some(prev.clone()));
        let revision = event.revision();
        self.inner.commit(state, event);
        Ok(Deleted { prev, revision })
    }

    async fn watch(&self, prefix: &str, start_revision: Revision) -> Result<WatchStream> {
        let history: Arc<dyn History> = Arc::new(self.clone());
        self.inner.hub.watch(history, prefix, start_revision)
    }

    async fn compact(&self, revision: Revision) -> Result<()> {
        let mut state = self.inner.state();
        if revision <= state.compacted {
            return Err(StoreError::Compacted {
                requested: revision,
                compacted: state.compacted,
            });
        }
        state.check_revision(revision)?;
        state.compacted = revision;
        // Reads at `revision` undo only events after it; watchers from
        // `revision` need the event at it.
        state.events = state.events.split_off(&revision);
        Ok(())
    }

    async fn current_revision(&self) -> Result<Revision> {
        Ok(self.inner.state().revision)
    }

    async fn count(&self, prefix: &str) -> Result<i64> {
        let range = KeyRange::new(prefix, None);
        let state = self.inner.state();
        Ok(state
            .latest
            .keys()
            .filter(|key| range.contains(key.as_bytes()))
            .count() as i64)
    }
}

#[async_trait]
impl History for MemoryStore {
    async fn events_since(
        &self,
        range: &KeyRange,
        from: Revision,
        limit: usize,
    ) -> Result<Vec<Event>> {
        let state = self.inner.state();
        if from < state.compacted {
            return Err(StoreError::Compacted {
                requested: from,
                compacted: state.compacted,
            });
        }
        Ok(state
            .events
            .range(from..)
            .map(|(_, event)| event)
            .filter(|event| range.contains(event.kv.key.as_bytes()))
            .take(limit)
            .cloned()
            .collect())
    }

    fn current_revision(&self) -> Revision {
        self.inner.state().revision
    }

    fn compacted_revision(&self) -> Revision {
        self.inner.state().compacted
    }
}
