//! The watch cache: the latest value of every key and a window of recent
//! events, kept in memory from one store watch. Lists are served from it
//! and watches replay from it, so a thousand watchers cost one store watch
//! and a list costs no store read.
//!
//! Consistency is upstream's "consistent reads from cache": a read of the
//! latest state asks the store for its current revision (cheap) and waits
//! until the cache has applied it; if the cache does not get there quickly
//! (a cold start, a backend whose revision counts writes outside our
//! prefix), the read goes to the store instead. Watches the event window
//! no longer covers go to the store too.

use std::collections::{BTreeMap, VecDeque};
use std::ops::Bound;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use capstan_store::{Event, EventKind, KeyValue, RangeRequest, Revision, Store, WatchStream};
use futures_util::StreamExt;
use tokio::sync::{broadcast, watch};

/// Keys read from the store per request while filling the cache.
const FILL_CHUNK: usize = 10_000;
/// The event window: at most this many events...
const HISTORY_EVENTS: usize = 100_000;
/// ...holding at most this many bytes of values.
const HISTORY_BYTES: usize = 64 << 20;
/// Live events buffered for a watcher that is momentarily behind; one that
/// falls further behind continues from the store.
const LIVE_BUFFER: usize = 8192;
/// How long a consistent read waits for the cache to catch up.
const CATCH_UP: Duration = Duration::from_millis(100);
/// Pause before filling again after the store watch failed.
const RETRY: Duration = Duration::from_secs(1);

pub struct WatchCache {
    store: Arc<dyn Store>,
    state: RwLock<State>,
    /// The revision the cache has applied; 0 while it is not filled.
    applied: watch::Sender<Revision>,
}

struct State {
    filled: bool,
    revision: Revision,
    objects: BTreeMap<String, KeyValue>,
    history: VecDeque<Arc<Event>>,
    history_bytes: usize,
    /// Every event at or after this revision is in `history`.
    history_start: Revision,
    /// Live events; replaced when the cache is filled again, which ends
    /// the watchers following the old one.
    live: broadcast::Sender<Arc<Event>>,
}

impl WatchCache {
    /// Starts filling and following the store in the background; until it
    /// is filled, every read goes to the store.
    pub fn start(store: Arc<dyn Store>) -> (Arc<WatchCache>, tokio::task::JoinHandle<()>) {
        let cache = Arc::new(WatchCache {
            store,
            state: RwLock::new(State {
                filled: false,
                revision: 0,
                objects: BTreeMap::new(),
                history: VecDeque::new(),
                history_bytes: 0,
                history_start: 0,
                live: broadcast::channel(LIVE_BUFFER).0,
            }),
            applied: watch::channel(0).0,
        });
        let task = tokio::spawn(cache.clone().follow());
        (cache, task)
    }

    /// Fills the cache and applies the store's events, again after any
    /// failure, for as long as the server runs.
    async fn follow(self: Arc<WatchCache>) {
        loop {
            match self.fill().await {
                Ok(revision) => match self.store.watch("", revision + 1).await {
                    Ok(mut events) => {
                        while let Some(event) = events.next().await {
                            match event {
                                Ok(event) => self.apply(event),
                                Err(error) => {
                                    tracing::warn!(%error, "watch cache: store watch ended");
                                    break;
                                }
                            }
                        }
                    }
                    Err(error) => tracing::warn!(%error, "watch cache: cannot watch the store"),
                },
                Err(error) => tracing::warn!(%error, "watch cache: cannot read the store"),
            }
            self.empty();
            tokio::time::sleep(RETRY).await;
        }
    }

    /// Reads every key at one revision into the cache; returns that revision.
    async fn fill(&self) -> capstan_store::Result<Revision> {
        let mut objects = BTreeMap::new();
        let mut revision = 0;
        let mut after = None;
        loop {
            let page = self
                .store
                .range(RangeRequest {
                    prefix: String::new(),
                    after: after.take(),
                    limit: FILL_CHUNK,
                    revision,
                })
                .await?;
            revision = page.revision;
            after = page.kvs.last().map(|kv| kv.key.clone());
            for kv in page.kvs {
                objects.insert(kv.key.clone(), kv);
            }
            if !page.more {
                break;
            }
        }
        let mut state = self.state.write().expect("watch cache lock");
        state.objects = objects;
        state.revision = revision;
        state.history.clear();
        state.history_bytes = 0;
        state.history_start = revision + 1;
        state.filled = true;
        drop(state);
        self.applied.send_replace(revision);
        Ok(revision)
    }

    /// Forgets everything after a failure: reads go to the store and the
    /// watchers served from here continue from the store.
    fn empty(&self) {
        let mut state = self.state.write().expect("watch cache lock");
        state.filled = false;
        state.objects.clear();
        state.history.clear();
        state.history_bytes = 0;
        state.live = broadcast::channel(LIVE_BUFFER).0;
        drop(state);
        self.applied.send_replace(0);
    }

    fn apply(&self, mut event: Event) {
        let revision = event.revision();
        let mut state = self.state.write().expect("watch cache lock");
        // The value replaced is the one the cache holds: keep one copy of
        // it rather than the store's second one.
        if let Some(prev) = event.prev.as_mut() {
            if let Some(held) = state.objects.get(&prev.key) {
                if held.mod_revision == prev.mod_revision && held.value == prev.value {
                    prev.value = held.value.clone();
                }
            }
        }
        let event = Arc::new(event);
        match event.kind {
            EventKind::Put => {
                state.objects.insert(event.kv.key.clone(), event.kv.clone());
            }
            EventKind::Delete => {
                state.objects.remove(&event.kv.key);
            }
        }
        state.revision = revision;
        state.history_bytes += event_bytes(&event);
        state.history.push_back(event.clone());
        while state.history.len() > HISTORY_EVENTS || state.history_bytes > HISTORY_BYTES {
            let Some(oldest) = state.history.pop_front() else {
                break;
            };
            state.history_bytes -= event_bytes(&oldest);
            state.history_start = oldest.revision() + 1;
        }
        // Sent under the lock, so a watcher that subscribes while holding
        // the read lock sees each event exactly once: from history or live.
        let _ = state.live.send(event);
        drop(state);
        self.applied.send_replace(revision);
    }

    /// Waits until the cache has applied `revision`; false if it is not
    /// filled or does not get there within [`CATCH_UP`].
    async fn caught_up(&self, revision: Revision) -> bool {
        let mut applied = self.applied.subscribe();
        if *applied.borrow() == 0 {
            return false; // not filled: no point waiting
        }
        let wait = applied.wait_for(|&applied| applied != 0 && applied >= revision);
        let reached = matches!(tokio::time::timeout(CATCH_UP, wait).await, Ok(Ok(_)));
        reached
    }

    /// The latest value of `key` the cache has applied, if it is filled
    /// and has the key; it may lag the store.
    pub fn get(&self, key: &str) -> Option<KeyValue> {
        let state = self.state.read().expect("watch cache lock");
        if !state.filled {
            return None;
        }
        state.objects.get(key).cloned()
    }

    /// The keys under `prefix` at a revision not older than `revision`
    /// (`None`: the latest the store has), in key order, with the revision
    /// they were read at; `None` if the cache cannot serve this read.
    pub async fn list(
        &self,
        prefix: &str,
        revision: Option<Revision>,
    ) -> Option<(Vec<KeyValue>, Revision)> {
        let wanted = match revision {
            Some(revision) => revision,
            None => self.store.current_revision().await.ok()?,
        };
        if !self.caught_up(wanted).await {
            return None;
        }
        let state = self.state.read().expect("watch cache lock");
        if !state.filled {
            return None;
        }
        let kvs = state
            .objects
            .range::<str, _>((Bound::Included(prefix), Bound::Unbounded))
            .take_while(|(key, _)| key.starts_with(prefix))
            .map(|(_, kv)| kv.clone())
            .collect();
        Some((kvs, state.revision))
    }

    /// Every change under `prefix` from `start` on, from the event window
    /// and then live; `None` if the window does not reach back to `start`
    /// (the store serves that watch).
    pub fn watch(self: &Arc<WatchCache>, prefix: &str, start: Revision) -> Option<WatchStream> {
        let state = self.state.read().expect("watch cache lock");
        if !state.filled || start < state.history_start || start > state.revision + 1 {
            return None;
        }
        let live = state.live.subscribe();
        let replay: VecDeque<Arc<Event>> = state
            .history
            .iter()
            .skip_while(|event| event.revision() < start)
            .filter(|event| event.kv.key.starts_with(prefix))
            .cloned()
            .collect();
        drop(state);
        let follower = Follower {
            store: self.store.clone(),
            prefix: prefix.to_string(),
            next: start,
            source: Source::Cache { replay, live },
        };
        Some(Box::pin(futures_util::stream::unfold(
            follower,
            |mut follower| async move { follower.next().await.map(|item| (item, follower)) },
        )))
    }
}

/// One watcher's position: replaying the window, following live events,
/// or, once it fell behind them, following the store.
struct Follower {
    store: Arc<dyn Store>,
    prefix: String,
    /// The revision of the next event to deliver.
    next: Revision,
    source: Source,
}

enum Source {
    Cache {
        replay: VecDeque<Arc<Event>>,
        live: broadcast::Receiver<Arc<Event>>,
    },
    Store(WatchStream),
    Ended,
}

impl Follower {
    async fn next(&mut self) -> Option<capstan_store::Result<Event>> {
        loop {
            match &mut self.source {
                Source::Cache { replay, live } => {
                    let event = match replay.pop_front() {
                        Some(event) => event,
                        None => match live.recv().await {
                            Ok(event) => event,
                            // Too slow for the live buffer, or the cache
                            // was emptied: the store has the same history.
                            Err(_) => match self.store.watch(&self.prefix, self.next).await {
                                Ok(events) => {
                                    self.source = Source::Store(events);
                                    continue;
                                }
                                Err(error) => {
                                    self.source = Source::Ended;
                                    return Some(Err(error));
                                }
                            },
                        },
                    };
                    if event.revision() < self.next || !event.kv.key.starts_with(&self.prefix) {
                        continue;
                    }
                    self.next = event.revision() + 1;
                    return Some(Ok(Event::clone(&event)));
                }
                Source::Store(events) => {
                    let item = events.next().await;
                    if let Some(Ok(event)) = &item {
                        self.next = event.revision() + 1;
                    }
                    return item;
                }
                Source::Ended => return None,
            }
        }
    }
}

fn event_bytes(event: &Event) -> usize {
    let prev = event.prev.as_ref().map_or(0, |prev| prev.value.len());
    event.kv.key.len() + event.kv.value.len() + prev
}

#[cfg(test)]
mod tests {
    use super::*;
    use capstan_store::memory::MemoryStore;
    use capstan_store::Bytes;

    async fn filled(store: &Arc<dyn Store>) -> Arc<WatchCache> {
        let (cache, _task) = WatchCache::start(store.clone());
        let mut applied = cache.applied.subscribe();
        let wait = applied.wait_for(|&applied| applied != 0);
        tokio::time::timeout(Duration::from_secs(5), wait)
            .await
            .expect("cache fills")
            .unwrap();
        cache
    }

    #[tokio::test]
    async fn lists_follow_writes() {
        let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
        store.create("/a/1", Bytes::from("one")).await.unwrap();
        let cache = filled(&store).await;
        store.create("/a/2", Bytes::from("two")).await.unwrap();
        store.create("/b/1", Bytes::from("other")).await.unwrap();
        let (kvs, revision) = cache.list("/a/", None).await.expect("served");
        let keys: Vec<_> = kvs.iter().map(|kv| kv.key.as_str()).collect();
        assert_eq!(keys, ["/a/1", "/a/2"]);
        assert_eq!(revision, store.current_revision().await.unwrap());
        let one = kvs[0].clone();
        store.delete("/a/1", Some(one.mod_revision)).await.unwrap();
        let (kvs, _) = cache.list("/a/", None).await.expect("served");
        assert_eq!(kvs.len(), 1);
    }

    #[tokio::test]
    async fn watches_replay_then_follow() {
        let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
        let before = store.create("/a/0", Bytes::from("0")).await.unwrap();
        let cache = filled(&store).await;
        // Before the window: the store serves it.
        assert!(cache.watch("/a/", before.mod_revision).is_none());
        let first = store.create("/a/1", Bytes::from("1")).await.unwrap();
        store.create("/b/1", Bytes::from("x")).await.unwrap();
        assert!(cache.caught_up(first.mod_revision + 1).await);
        let mut events = cache.watch("/a/", first.mod_revision).expect("in window");
        let replayed = events.next().await.unwrap().unwrap();
        assert_eq!(replayed.kv.key, "/a/1");
        store
            .update("/a/1", Bytes::from("2"), first.mod_revision)
            .await
            .unwrap();
        let live = events.next().await.unwrap().unwrap();
        assert_eq!(live.kv.value, Bytes::from("2"));
        assert_eq!(live.prev.unwrap().value, Bytes::from("1"));
    }
}
