//! The conformance suite every backend passes unchanged.
//!
//! A backend's test file implements [`Harness`] and calls
//! `conformance_suite!(its_harness)`, which expands into one test per case.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use capstan_store::{
    Bytes, Deleted, Event, EventKind, KeyValue, RangeRequest, RangeResponse, Revision, Store,
    StoreError, WatchStream, MAX_VALUE_SIZE,
};
use futures_util::StreamExt;
use tokio::time::timeout;

mod history;

pub use history::{
    compaction, restart, stable_paging, watch_concurrent_writes, watch_replays_history,
};

/// The longest any single wait in a case may take.
pub const WAIT: Duration = Duration::from_secs(30);
/// The longest a whole case may take.
pub const CASE_TIMEOUT: Duration = Duration::from_secs(180);

/// Opens a backend for one case, and reopens it on the same data.
#[async_trait]
pub trait Harness: Send + Sync {
    type S: Store;
    async fn open(&self) -> Arc<Self::S>;
    /// Closes `old` and opens the store again on the same data.
    async fn reopen(&self, old: Arc<Self::S>) -> Arc<Self::S>;
}

macro_rules! conformance_suite {
    ($harness:expr) => {
        conformance_suite!(@cases $harness;
            basics,
            concurrent_writers_one_key,
            watch_concurrent_writes,
            watch_replays_history,
            compaction,
            future_revision,
            stable_paging,
            prefixes_and_count,
            large_values,
            restart,
        );
    };
    (@cases $harness:expr; $($case:ident,)*) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $case() {
                let harness = $harness;
                tokio::time::timeout(
                    crate::conformance::CASE_TIMEOUT,
                    crate::conformance::$case(&harness),
                )
                .await
                .expect("the case did not finish in time");
            }
        )*
    };
}

pub fn bytes(text: &str) -> Bytes {
    Bytes::copy_from_slice(text.as_bytes())
}

/// The event a watcher sees for a create (`prev == None`) or an update.
pub fn put_event(kv: &KeyValue, prev: Option<&KeyValue>) -> Event {
    Event {
        kind: EventKind::Put,
        kv: kv.clone(),
        prev: prev.cloned(),
    }
}

/// The event a watcher sees for a delete.
pub fn delete_event(deleted: &Deleted) -> Event {
    Event {
        kind: EventKind::Delete,
        kv: KeyValue {
            key: deleted.prev.key.clone(),
            value: Bytes::new(),
            create_revision: 0,
            mod_revision: deleted.revision,
            version: 0,
        },
        prev: Some(deleted.prev.clone()),
    }
}

/// The next event of a watch; panics if it fails, ends or takes too long.
pub async fn next_event(watch: &mut WatchStream) -> Event {
    match timeout(WAIT, watch.next()).await {
        Ok(Some(Ok(event))) => event,
        Ok(Some(Err(error))) => panic!("the watch failed: {error}"),
        Ok(None) => panic!("the watch ended"),
        Err(_) => panic!("no watch event within {WAIT:?}"),
    }
}

/// Asserts that the watch delivers exactly `expected`, in order.
pub async fn expect_events(watch: &mut WatchStream, expected: &[Event]) {
    for (i, want) in expected.iter().enumerate() {
        let got = next_event(watch).await;
        assert_eq!(&got, want, "event {i} of {}", expected.len());
    }
}

/// Creates `key` and asserts that it is the very next event of every watch:
/// nothing else was queued before it.
pub async fn expect_sentinel<S: Store>(store: &S, key: &str, watches: &mut [&mut WatchStream]) {
    let kv = store.create(key, bytes("sentinel")).await.unwrap();
    for watch in watches.iter_mut() {
        assert_eq!(next_event(watch).await, put_event(&kv, None));
    }
}

pub async fn range_all<S: Store>(store: &S, prefix: &str, revision: Revision) -> RangeResponse {
    store
        .range(RangeRequest {
            prefix: prefix.to_string(),
            revision,
            ..Default::default()
        })
        .await
        .unwrap()
}

fn keys(kvs: &[KeyValue]) -> Vec<&str> {
    kvs.iter().map(|kv| kv.key.as_str()).collect()
}

fn assert_compacted<T: std::fmt::Debug>(result: capstan_store::Result<T>, what: &str) {
    match result {
        Err(StoreError::Compacted { .. }) => {}
        other => panic!("{what}: expected Compacted, got {other:?}"),
    }
}

/// Deterministic pseudo-random bytes.
pub fn noise(len: usize, seed: u64) -> Bytes {
    let mut state = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..len)
        .map(|_| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 33) as u8
        })
        .collect::<Vec<u8>>()
        .into()
}

pub async fn basics<H: Harness>(harness: &H) {
    let store = harness.open().await;
    let start = store.current_revision().await.unwrap();
    assert_eq!(store.get("/k/a", 0).await.unwrap(), None);

    let kv1 = store.create("/k/a", bytes("v1")).await.unwrap();
    assert_eq!(kv1.key, "/k/a");
    assert_eq!(kv1.value, bytes("v1"));
    assert_eq!(kv1.create_revision, kv1.mod_revision);
    assert!(kv1.mod_revision > start, "{kv1:?} after revision {start}");
    assert_eq!(kv1.version, 1);
    assert_eq!(store.current_revision().await.unwrap(), kv1.mod_revision);
    assert_eq!(store.get("/k/a", 0).await.unwrap(), Some(kv1.clone()));

    match store.create("/k/a", bytes("again")).await {
        Err(StoreError::AlreadyExists { key }) => assert_eq!(key, "/k/a"),
        other => panic!("create of an existing key: {other:?}"),
    }
    assert_eq!(
        store.current_revision().await.unwrap(),
        kv1.mod_revision,
        "a failed create must not use a revision"
    );

    let kv2 = store
        .update("/k/a", bytes("v2"), kv1.mod_revision)
        .await
        .unwrap();
    assert_eq!(kv2.key, "/k/a");
    assert_eq!(kv2.value, bytes("v2"));
    assert_eq!(kv2.create_revision, kv1.create_revision);
    assert!(kv2.mod_revision > kv1.mod_revision);
    assert_eq!(kv2.version, 2);
    assert_eq!(store.get("/k/a", 0).await.unwrap(), Some(kv2.clone()));
    assert_eq!(
        store.get("/k/a", kv1.mod_revision).await.unwrap(),
        Some(kv1.clone())
    );
    if start > 0 {
        assert_eq!(store.get("/k/a", start).await.unwrap(), None);
    }

    match store.update("/k/a", bytes("v3"), kv1.mod_revision).await {
        Err(StoreError::Conflict { expected, current }) => {
            assert_eq!(expected, kv1.mod_revision);
            assert_eq!(*current, kv2);
        }
        other => panic!("update with a stale revision: {other:?}"),
    }
    assert_eq!(store.get("/k/a", 0).await.unwrap(), Some(kv2.clone()));

    match store
        .update("/k/missing", bytes("x"), kv2.mod_revision)
        .await
    {
        Err(StoreError::NotFound { key }) => assert_eq!(key, "/k/missing"),
        other => panic!("update of a missing key: {other:?}"),
    }
    for expected in [None, Some(kv2.mod_revision)] {
        match store.delete("/k/missing", expected).await {
            Err(StoreError::NotFound { key }) => assert_eq!(key, "/k/missing"),
            other => panic!("delete of a missing key ({expected:?}): {other:?}"),
        }
    }
    match store.delete("/k/a", Some(kv1.mod_revision)).await {
        Err(StoreError::Conflict { expected, current }) => {
            assert_eq!(expected, kv1.mod_revision);
            assert_eq!(*current, kv2);
        }
        other => panic!("delete with a stale revision: {other:?}"),
    }
    assert_eq!(store.current_revision().await.unwrap(), kv2.mod_revision);

    let other = store.create("/k/b", bytes("b1")).await.unwrap();
    let deleted = store.delete("/k/a", Some(kv2.mod_revision)).await.unwrap();
    assert_eq!(deleted.prev, kv2);
    assert!(deleted.revision > other.mod_revision);
    assert_eq!(store.current_revision().await.unwrap(), deleted.revision);
    assert_eq!(store.get("/k/a", 0).await.unwrap(), None);
    assert_eq!(store.get("/k/a", deleted.revision).await.unwrap(), None);
    assert_eq!(
        store.get("/k/a", other.mod_revision).await.unwrap(),
        Some(kv2.clone())
    );
    match store.update("/k/a", bytes("v4"), kv2.mod_revision).await {
        Err(StoreError::NotFound { key }) => assert_eq!(key, "/k/a"),
        other => panic!("update of a deleted key: {other:?}"),
    }

    let kv3 = store.create("/k/a", bytes("v5")).await.unwrap();
    assert_eq!(kv3.create_revision, kv3.mod_revision);
    assert!(kv3.mod_revision > deleted.revision);
    assert_eq!(kv3.version, 1);

    let empty = store.create("/k/empty", Bytes::new()).await.unwrap();
    assert_eq!(empty.value, Bytes::new());
    assert_eq!(store.get("/k/empty", 0).await.unwrap(), Some(empty.clone()));

    let deleted_b = store.delete("/k/b", None).await.unwrap();
    assert_eq!(deleted_b.prev, other);

    let revisions = [
        start,
        kv1.mod_revision,
        kv2.mod_revision,
        other.mod_revision,
        deleted.revision,
        kv3.mod_revision,
        empty.mod_revision,
        deleted_b.revision,
    ];
    assert!(
        revisions.windows(2).all(|w| w[0] < w[1]),
        "revisions must strictly increase: {revisions:?}"
    );
    assert_eq!(store.current_revision().await.unwrap(), deleted_b.revision);
}

type Attempt = (Revision, Bytes, capstan_store::Result<KeyValue>);

pub async fn concurrent_writers_one_key<H: Harness>(harness: &H) {
    const TASKS: usize = 16;
    const ROUNDS: usize = 20;
    const KEY: &str = "/cas/key";
    let store = harness.open().await;
    let first = store.create(KEY, bytes("init")).await.unwrap();

    // In lockstep: every round, all tasks read the same revision, then all
    // try to write; exactly one may win.
    let barrier = Arc::new(tokio::sync::Barrier::new(TASKS));
    let mut tasks = Vec::new();
    for task in 0..TASKS {
        let store = store.clone();
        let barrier = barrier.clone();
        tasks.push(tokio::spawn(async move {
            let mut attempts: Vec<Attempt> = Vec::new();
            for round in 0..ROUNDS {
                barrier.wait().await;
                let seen = store.get(KEY, 0).await.unwrap().expect("the key exists");
                barrier.wait().await;
                let value = bytes(&format!("round {round} task {task}"));
                let result = store.update(KEY, value.clone(), seen.mod_revision).await;
                attempts.push((seen.mod_revision, value, result));
            }
            attempts
        }));
    }
    let mut per_task = Vec::new();
    for task in tasks {
        per_task.push(task.await.expect("writer task panicked"));
    }
    let mut last = first.clone();
    for round in 0..ROUNDS {
        let attempts: Vec<&Attempt> = per_task.iter().map(|a| &a[round]).collect();
        let expected = attempts[0].0;
        assert!(
            attempts.iter().all(|a| a.0 == expected),
            "round {round}: tasks read different revisions"
        );
        assert_eq!(expected, last.mod_revision, "round {round}");
        let winners: Vec<&KeyValue> = attempts.iter().filter_map(|a| a.2.as_ref().ok()).collect();
        assert_eq!(winners.len(), 1, "round {round}: {} winners", winners.len());
        let winner = winners[0].clone();
        assert_eq!(winner.version, last.version + 1);
        assert_eq!(winner.create_revision, first.create_revision);
        assert!(winner.mod_revision > expected);
        for (_, value, result) in &attempts {
            match result {
                Ok(kv) => assert_eq!(&kv.value, value),
                Err(StoreError::Conflict {
                    expected: e,
                    current,
                }) => {
                    assert_eq!(*e, expected);
                    assert_eq!(
                        **current, winner,
                        "round {round}: conflict shows the winner"
                    );
                }
                Err(other) => panic!("round {round}: {other}"),
            }
        }
        last = winner;
    }
    assert_eq!(store.get(KEY, 0).await.unwrap(), Some(last.clone()));
    assert_eq!(last.version, 1 + ROUNDS as i64);

    // Free running: each task reads and tries to write as fast as it can.
    let base = last;
    let mut tasks = Vec::new();
    for task in 0..TASKS {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let mut attempts: Vec<Attempt> = Vec::new();
            for round in 0..ROUNDS {
                let seen = store.get(KEY, 0).await.unwrap().expect("the key exists");
                let value = bytes(&format!("free {round} task {task}"));
                let result = store.update(KEY, value.clone(), seen.mod_revision).await;
                attempts.push((seen.mod_revision, value, result));
            }
            attempts
        }));
    }
    let mut wins_per_expected: HashMap<Revision, usize> = HashMap::new();
    let mut winners = Vec::new();
    for task in tasks {
        for (expected, value, result) in task.await.expect("writer task panicked") {
            match result {
                Ok(kv) => {
                    assert_eq!(kv.value, value);
                    *wins_per_expected.entry(expected).or_default() += 1;
                    winners.push(kv);
                }
                Err(StoreError::Conflict {
                    expected: e,
                    current,
                }) => {
                    assert_eq!(e, expected);
                    assert_ne!(current.mod_revision, expected);
                }
                Err(other) => panic!("free-running update: {other}"),
            }
        }
    }
    for (expected, wins) in &wins_per_expected {
        assert_eq!(
            *wins, 1,
            "{wins} updates won against mod revision {expected}"
        );
    }
    let last = store.get(KEY, 0).await.unwrap().expect("the key exists");
    assert_eq!(winners.len() as i64, last.version - base.version);
    winners.sort_by_key(|kv| kv.mod_revision);
    for (i, kv) in winners.iter().enumerate() {
        assert_eq!(kv.version, base.version + 1 + i as i64);
    }
    if let Some(newest) = winners.last() {
        assert_eq!(newest, &last);
    }
}

pub async fn future_revision<H: Harness>(harness: &H) {
    let store = harness.open().await;
    store.create("/f/a", bytes("a")).await.unwrap();
    let current = store.current_revision().await.unwrap();
    let request = |revision| RangeRequest {
        prefix: "/f/".into(),
        revision,
        ..Default::default()
    };
    match store.range(request(current + 1)).await {
        Err(StoreError::FutureRevision { .. }) => {}
        other => panic!("range at a future revision: {other:?}"),
    }
    match store.range(request(current + 1000)).await {
        Err(StoreError::FutureRevision { .. }) => {}
        other => panic!("range at a far future revision: {other:?}"),
    }
    match store.get("/f/a", current + 5).await {
        Err(StoreError::FutureRevision { .. }) => {}
        other => panic!("get at a future revision: {other:?}"),
    }
    let at_current = store.range(request(current)).await.unwrap();
    assert_eq!(keys(&at_current.kvs), ["/f/a"]);
}

pub async fn prefixes_and_count<H: Harness>(harness: &H) {
    let store = harness.open().await;
    let all = [
        "/a", "/a.", "/a/1", "/a/2", "/a/3", "/a/é", "/a0", "/ab", "/ab/1", "/b/1",
    ];
    for key in all.iter().rev() {
        store.create(key, bytes(key)).await.unwrap();
    }
    let range = |prefix: &str, after: Option<&str>, limit: usize| RangeRequest {
        prefix: prefix.to_string(),
        after: after.map(str::to_string),
        limit,
        revision: 0,
    };
    let read = |request: RangeRequest| {
        let store = store.clone();
        async move {
            let response = store.range(request).await.unwrap();
            let keys: Vec<String> = response.kvs.iter().map(|kv| kv.key.clone()).collect();
            (keys, response.more)
        }
    };

    assert_eq!(
        read(range("/a/", None, 0)).await,
        (
            vec!["/a/1".into(), "/a/2".into(), "/a/3".into(), "/a/é".into()],
            false
        )
    );
    assert_eq!(store.count("/a/").await.unwrap(), 4);
    assert_eq!(read(range("/a", None, 0)).await.0, all[..9].to_vec());
    assert_eq!(store.count("/a").await.unwrap(), 9);
    assert_eq!(
        read(range("/ab", None, 0)).await.0,
        vec!["/ab".to_string(), "/ab/1".into()]
    );
    assert_eq!(
        read(range("/a/é", None, 0)).await.0,
        vec!["/a/é".to_string()]
    );
    assert_eq!(read(range("", None, 0)).await.0, all.to_vec());
    assert_eq!(store.count("").await.unwrap(), all.len() as i64);
    assert_eq!(read(range("/zz", None, 0)).await, (vec![], false));
    assert_eq!(store.count("/zz").await.unwrap(), 0);

    assert_eq!(
        read(range("/a/", None, 2)).await,
        (vec!["/a/1".into(), "/a/2".into()], true)
    );
    assert_eq!(
        read(range("/a/", Some("/a/2"), 2)).await,
        (vec!["/a/3".into(), "/a/é".into()], false)
    );
    assert_eq!(read(range("/a/", Some("/a/é"), 2)).await, (vec![], false));
    assert_eq!(
        read(range("/a/", Some("/a/1x"), 0)).await.0,
        vec!["/a/2".to_string(), "/a/3".into(), "/a/é".into()]
    );
    assert_eq!(
        read(range("/a", Some("/a/é"), 0)).await.0,
        vec!["/a0".to_string(), "/ab".into(), "/ab/1".into()]
    );

    let before = store.current_revision().await.unwrap();
    store.delete("/a/2", None).await.unwrap();
    assert_eq!(store.count("/a/").await.unwrap(), 3);
    assert_eq!(store.count("").await.unwrap(), all.len() as i64 - 1);
    let past = store
        .range(RangeRequest {
            prefix: "/a/".into(),
            revision: before,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(keys(&past.kvs), ["/a/1", "/a/2", "/a/3", "/a/é"]);
}

pub async fn large_values<H: Harness>(harness: &H) {
    let store = harness.open().await;
    let big = noise(1 << 20, 1);
    let kv = store.create("/big/1", big.clone()).await.unwrap();
    assert_eq!(kv.value, big);
    let read = store
        .get("/big/1", 0)
        .await
        .unwrap()
        .expect("the key exists");
    assert_eq!(read.value.len(), big.len());
    assert!(read.value == big, "a 1 MiB value did not round-trip");

    let bigger = noise(1 << 20, 2);
    let kv2 = store
        .update("/big/1", bigger.clone(), kv.mod_revision)
        .await
        .unwrap();
    let mut watch = store.watch("/big/", kv.mod_revision).await.unwrap();
    expect_events(
        &mut watch,
        &[put_event(&kv, None), put_event(&kv2, Some(&kv))],
    )
    .await;

    let max = noise(MAX_VALUE_SIZE, 3);
    let at_max = store.create("/big/max", max.clone()).await.unwrap();
    let read = store
        .get("/big/max", 0)
        .await
        .unwrap()
        .expect("the key exists");
    assert!(
        read.value == max,
        "a value of MAX_VALUE_SIZE did not round-trip"
    );
    assert_eq!(next_event(&mut watch).await, put_event(&at_max, None));

    let revision = store.current_revision().await.unwrap();
    let over = noise(MAX_VALUE_SIZE + 1, 4);
    match store.create("/big/over", over.clone()).await {
        Err(StoreError::TooLarge { size, limit }) => {
            assert_eq!((size, limit), (MAX_VALUE_SIZE + 1, MAX_VALUE_SIZE));
        }
        other => panic!("create over the limit: {:?}", other.map(|kv| kv.key)),
    }
    match store
        .update("/big/max", over.clone(), at_max.mod_revision)
        .await
    {
        Err(StoreError::TooLarge { size, limit }) => {
            assert_eq!((size, limit), (MAX_VALUE_SIZE + 1, MAX_VALUE_SIZE));
        }
        other => panic!("update over the limit: {:?}", other.map(|kv| kv.key)),
    }
    assert_eq!(store.get("/big/over", 0).await.unwrap(), None);
    let read = store
        .get("/big/max", 0)
        .await
        .unwrap()
        .expect("the key exists");
    assert_eq!(read.mod_revision, at_max.mod_revision);
    assert_eq!(store.current_revision().await.unwrap(), revision);

    expect_sentinel(&*store, "/big/sentinel", &mut [&mut watch]).await;
}
