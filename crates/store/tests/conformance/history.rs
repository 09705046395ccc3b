//! Cases about history: watches, compaction, paging at a revision, restart.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use capstan_store::{Event, KeyValue, RangeRequest, Revision, Store, StoreError};
use futures_util::StreamExt;
use tokio::time::timeout;

use super::{
    assert_compacted, bytes, delete_event, expect_events, expect_sentinel, keys, next_event, noise,
    put_event, range_all, Harness, WAIT,
};

pub async fn watch_concurrent_writes<H: Harness>(harness: &H) {
    const WRITERS: usize = 8;
    const KEYS: usize = 100;
    let store = harness.open().await;
    store.create("/w", bytes("outside")).await.unwrap();
    let start = store.current_revision().await.unwrap();
    let mut early = store.watch("/w/", start + 1).await.unwrap();

    let written = Arc::new(AtomicUsize::new(0));
    let mut writers = Vec::new();
    for writer in 0..WRITERS {
        let store = store.clone();
        let written = written.clone();
        writers.push(tokio::spawn(async move {
            let mut inside = Vec::new();
            let mut outside = Vec::new();
            for i in 0..KEYS {
                let key = format!("/w/{writer:02}/{i:03}");
                let created = store.create(&key, bytes(&key)).await.unwrap();
                inside.push(put_event(&created, None));
                let updated = store
                    .update(&key, bytes(&format!("{key} 2")), created.mod_revision)
                    .await
                    .unwrap();
                inside.push(put_event(&updated, Some(&created)));
                if i % 3 == 0 {
                    let deleted = store
                        .delete(&key, Some(updated.mod_revision))
                        .await
                        .unwrap();
                    inside.push(delete_event(&deleted));
                }
                if i % 10 == 0 {
                    let kv = store
                        .create(&format!("/wx/{writer}/{i}"), bytes("outside"))
                        .await
                        .unwrap();
                    outside.push(kv.mod_revision);
                }
                written.fetch_add(1, Ordering::SeqCst);
            }
            (inside, outside)
        }));
    }

    // A second watch, from the same revision, opened while the writes go on:
    // it must replay what it missed and go on live without a gap.
    timeout(WAIT, async {
        while written.load(Ordering::SeqCst) < WRITERS * KEYS / 4 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    })
    .await
    .expect("the writers made no progress");
    let mut late = store.watch("/w/", start + 1).await.unwrap();

    let mut expected: BTreeMap<Revision, Event> = BTreeMap::new();
    let mut outside: Vec<Revision> = Vec::new();
    for writer in writers {
        let (events, revisions) = writer.await.expect("writer task panicked");
        for event in events {
            let revision = event.revision();
            assert!(
                expected.insert(revision, event).is_none(),
                "two writes got revision {revision}"
            );
        }
        outside.extend(revisions);
    }
    for revision in &outside {
        assert!(
            !expected.contains_key(revision),
            "two writes got revision {revision}"
        );
    }
    assert!(*expected.keys().next().unwrap() > start);

    for (name, watch) in [("early", &mut early), ("late", &mut late)] {
        let mut last = start;
        for (&want_revision, want) in &expected {
            let event = next_event(watch).await;
            let revision = event.revision();
            assert!(
                revision > last,
                "{name} watch: revision {revision} after {last}"
            );
            assert!(
                !outside.contains(&revision),
                "{name} watch delivered {} outside the prefix",
                event.kv.key
            );
            assert_eq!(
                revision, want_revision,
                "{name} watch: a gap or an unexpected event after revision {last}"
            );
            assert_eq!(&event, want, "{name} watch");
            last = revision;
        }
    }
    expect_sentinel(&*store, "/w/sentinel", &mut [&mut early, &mut late]).await;
}

pub async fn watch_replays_history<H: Harness>(harness: &H) {
    let store = harness.open().await;
    let a1 = store.create("/h/a", bytes("a1")).await.unwrap();
    let a2 = store
        .update("/h/a", bytes("a2"), a1.mod_revision)
        .await
        .unwrap();
    let x = store.create("/hx", bytes("x")).await.unwrap();
    let b1 = store.create("/h/b", bytes("b1")).await.unwrap();
    let deleted = store.delete("/h/a", None).await.unwrap();
    let b2 = store
        .update("/h/b", bytes("b2"), b1.mod_revision)
        .await
        .unwrap();
    let history = vec![
        put_event(&a1, None),
        put_event(&a2, Some(&a1)),
        put_event(&b1, None),
        delete_event(&deleted),
        put_event(&b2, Some(&b1)),
    ];

    let mut full = store.watch("/h/", a1.mod_revision).await.unwrap();
    let mut middle = store.watch("/h/", deleted.revision).await.unwrap();
    let mut one_key = store.watch("/h/b", a1.mod_revision).await.unwrap();
    let mut everything = store.watch("", a1.mod_revision).await.unwrap();
    let mut now = store.watch("/h/", 0).await.unwrap();

    expect_events(&mut full, &history).await;
    expect_events(&mut middle, &history[3..]).await;
    expect_events(&mut one_key, &[history[2].clone(), history[4].clone()]).await;
    let mut all = history.clone();
    all.insert(2, put_event(&x, None));
    expect_events(&mut everything, &all).await;

    expect_sentinel(
        &*store,
        "/h/b-sentinel",
        &mut [
            &mut full,
            &mut middle,
            &mut one_key,
            &mut everything,
            &mut now,
        ],
    )
    .await;
}

pub async fn compaction<H: Harness>(harness: &H) {
    let store = harness.open().await;
    let k1 = store.create("/c/1", bytes("1a")).await.unwrap();
    let k2 = store.create("/c/2", bytes("2a")).await.unwrap();
    let k3 = store.create("/c/3", bytes("3a")).await.unwrap();
    let k1b = store
        .update("/c/1", bytes("1b"), k1.mod_revision)
        .await
        .unwrap();
    let d2 = store.delete("/c/2", None).await.unwrap();
    let k4 = store.create("/c/4", bytes("4a")).await.unwrap();
    let k3b = store
        .update("/c/3", bytes("3b"), k3.mod_revision)
        .await
        .unwrap();
    let d1 = store.delete("/c/1", None).await.unwrap();

    let at = k4.mod_revision;
    store.compact(at).await.unwrap();

    assert_compacted(store.get("/c/2", at - 1).await, "get below the compaction");
    assert_compacted(
        store.get("/c/1", k1.mod_revision).await,
        "get of old history",
    );
    assert_compacted(
        store
            .range(RangeRequest {
                prefix: "/c/".into(),
                revision: d2.revision,
                ..Default::default()
            })
            .await,
        "range below the compaction",
    );
    match store.watch("/c/", at - 1).await {
        Err(StoreError::Compacted { .. }) => {}
        Err(other) => panic!("watch below the compaction: {other}"),
        Ok(mut watch) => match timeout(WAIT, watch.next()).await {
            Ok(Some(Err(StoreError::Compacted { .. }))) => {}
            other => panic!("watch below the compaction gave {other:?}"),
        },
    }

    assert_eq!(store.get("/c/1", at).await.unwrap(), Some(k1b.clone()));
    assert_eq!(store.get("/c/2", at).await.unwrap(), None);
    assert_eq!(store.get("/c/3", at).await.unwrap(), Some(k3.clone()));
    assert_eq!(store.get("/c/4", at).await.unwrap(), Some(k4.clone()));
    let snapshot = range_all(&*store, "/c/", at).await;
    assert_eq!(snapshot.kvs, vec![k1b.clone(), k3.clone(), k4.clone()]);
    assert_eq!(
        store.get("/c/3", k3b.mod_revision).await.unwrap(),
        Some(k3b.clone())
    );

    let latest = range_all(&*store, "/c/", 0).await;
    assert_eq!(latest.kvs, vec![k3b.clone(), k4.clone()]);
    assert_eq!(store.count("/c/").await.unwrap(), 2);
    assert_eq!(store.get("/c/1", 0).await.unwrap(), None);

    let mut watch = store.watch("/c/", at).await.unwrap();
    expect_events(
        &mut watch,
        &[
            put_event(&k4, None),
            put_event(&k3b, Some(&k3)),
            delete_event(&d1),
        ],
    )
    .await;
    let k5 = store
        .update("/c/4", bytes("4b"), k4.mod_revision)
        .await
        .unwrap();
    assert_eq!(next_event(&mut watch).await, put_event(&k5, Some(&k4)));
    assert_eq!(d2.prev, k2);
}

pub async fn stable_paging<H: Harness>(harness: &H) {
    const KEYS: usize = 500;
    const PAGE: usize = 50;
    let store = harness.open().await;
    let mut creators = Vec::new();
    for part in 0..8 {
        let store = store.clone();
        creators.push(tokio::spawn(async move {
            let mut kvs = Vec::new();
            for i in (part..KEYS).step_by(8) {
                let key = format!("/p/{i:04}");
                kvs.push(store.create(&key, bytes(&key)).await.unwrap());
            }
            kvs
        }));
    }
    let mut model: BTreeMap<String, KeyValue> = BTreeMap::new();
    for creator in creators {
        for kv in creator.await.expect("creator task panicked") {
            model.insert(kv.key.clone(), kv);
        }
    }
    let snapshot: Vec<KeyValue> = model.values().cloned().collect();
    let newest = snapshot.iter().map(|kv| kv.mod_revision).max().unwrap();

    let first = store
        .range(RangeRequest {
            prefix: "/p/".into(),
            limit: PAGE,
            ..Default::default()
        })
        .await
        .unwrap();
    let at = first.revision;
    assert!(
        at >= newest,
        "first page at {at}, before the write at {newest}"
    );
    assert!(first.more);

    let stop = Arc::new(AtomicBool::new(false));
    let (progress, mut progressed) = tokio::sync::mpsc::unbounded_channel();
    let writer = {
        let store = store.clone();
        let stop = stop.clone();
        let mut model = model.clone();
        tokio::spawn(async move {
            let mut op = 0usize;
            while !stop.load(Ordering::SeqCst) {
                let key = format!("/p/{:04}", (op * 37) % KEYS);
                match model.get(&key).cloned() {
                    Some(kv) if op.is_multiple_of(2) => {
                        let value = bytes(&format!("{key} op {op}"));
                        let kv = store.update(&key, value, kv.mod_revision).await.unwrap();
                        model.insert(key, kv);
                    }
                    Some(kv) => {
                        store.delete(&key, Some(kv.mod_revision)).await.unwrap();
                        model.remove(&key);
                    }
                    None => {
                        let kv = store.create(&key, bytes(&key)).await.unwrap();
                        model.insert(key, kv);
                    }
                }
                let new_key = format!("/p/{:04}-{op}", (op * 53) % KEYS);
                let kv = store.create(&new_key, bytes(&new_key)).await.unwrap();
                model.insert(new_key, kv);
                op += 1;
                let _ = progress.send(op);
            }
            model
        })
    };

    let mut pages = vec![first];
    while pages.last().unwrap().more {
        assert!(pages.len() <= KEYS / PAGE, "too many pages");
        for _ in 0..3 {
            timeout(WAIT, progressed.recv())
                .await
                .expect("the writer made no progress")
                .expect("the writer stopped");
        }
        let after = pages.last().unwrap().kvs.last().unwrap().key.clone();
        let page = store
            .range(RangeRequest {
                prefix: "/p/".into(),
                after: Some(after),
                limit: PAGE,
                revision: at,
            })
            .await
            .unwrap();
        pages.push(page);
    }
    stop.store(true, Ordering::SeqCst);
    let model = writer.await.expect("writer task panicked");

    assert_eq!(pages.len(), KEYS / PAGE);
    for (i, page) in pages.iter().enumerate() {
        assert_eq!(page.kvs.len(), PAGE, "page {i}");
        assert_eq!(page.more, i + 1 < pages.len(), "page {i}");
    }
    let paged: Vec<KeyValue> = pages.into_iter().flat_map(|page| page.kvs).collect();
    assert_eq!(keys(&paged), keys(&snapshot));
    assert_eq!(paged, snapshot);

    let latest = range_all(&*store, "/p/", 0).await;
    let expected: Vec<KeyValue> = model.values().cloned().collect();
    assert_eq!(keys(&latest.kvs), keys(&expected));
    assert_eq!(latest.kvs, expected);
    assert!(!latest.more);
    assert_eq!(store.count("/p/").await.unwrap(), expected.len() as i64);
}

pub async fn restart<H: Harness>(harness: &H) {
    let store = harness.open().await;
    let k1 = store.create("/r/1", bytes("1a")).await.unwrap();
    let k2 = store.create("/r/2", bytes("2a")).await.unwrap();
    let k1b = store
        .update("/r/1", bytes("1b"), k1.mod_revision)
        .await
        .unwrap();
    store.compact(k1b.mod_revision).await.unwrap();
    let k3 = store.create("/r/3", noise(100_000, 5)).await.unwrap();
    let k3b = store
        .update("/r/3", bytes("3b"), k3.mod_revision)
        .await
        .unwrap();
    let d2 = store.delete("/r/2", Some(k2.mod_revision)).await.unwrap();
    let revision = store.current_revision().await.unwrap();
    assert_eq!(revision, d2.revision);
    let before = range_all(&*store, "", 0).await;
    assert_eq!(before.kvs, vec![k1b.clone(), k3b.clone()]);

    let store = harness.reopen(store).await;
    assert_eq!(store.current_revision().await.unwrap(), revision);
    assert_eq!(range_all(&*store, "", 0).await.kvs, before.kvs);
    assert_eq!(store.count("/r/").await.unwrap(), 2);
    assert_eq!(
        store.get("/r/2", k3b.mod_revision).await.unwrap(),
        Some(k2.clone())
    );
    assert_eq!(
        store.get("/r/3", k3.mod_revision).await.unwrap(),
        Some(k3.clone())
    );
    assert_compacted(
        store.get("/r/1", k1.mod_revision).await,
        "get below the compaction after a restart",
    );

    let mut watch = store.watch("/r/", k3.mod_revision).await.unwrap();
    expect_events(
        &mut watch,
        &[
            put_event(&k3, None),
            put_event(&k3b, Some(&k3)),
            delete_event(&d2),
        ],
    )
    .await;
    let k4 = store.create("/r/4", bytes("4a")).await.unwrap();
    assert!(k4.mod_revision > revision);
    assert_eq!(next_event(&mut watch).await, put_event(&k4, None));
    drop(watch);

    let store = harness.reopen(store).await;
    assert_eq!(store.current_revision().await.unwrap(), k4.mod_revision);
    assert_eq!(store.get("/r/4", 0).await.unwrap(), Some(k4.clone()));
    let k2b = store.create("/r/2", bytes("2b")).await.unwrap();
    assert!(k2b.mod_revision > k4.mod_revision);
    assert_eq!(k2b.version, 1);
    assert_eq!(
        range_all(&*store, "/r/", 0).await.kvs,
        vec![k1b, k2b, k3b, k4]
    );
}
