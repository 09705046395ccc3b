//! Watches as clients rely on them: bookmarks, streaming lists ending in
//! the `k8s.io/initial-events-end` bookmark, selectors that objects enter
//! and leave, kube-rs' watcher, and 410 Gone for compacted history.

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams};
use kube::runtime::watcher;
use serde_json::{json, Value};
use support::TestServer;

const WAIT: Duration = Duration::from_secs(20);

fn config_map(name: &str, labels: Value) -> ConfigMap {
    serde_json::from_value(json!({"metadata": {"name": name, "labels": labels}})).unwrap()
}

/// The lines of a raw watch, read until the server ends it.
fn raw_watch(server: &TestServer, query: &str) -> (Vec<Value>, Duration) {
    let started = Instant::now();
    let (code, body) = server.curl(
        "GET",
        &format!("/api/v1/namespaces/default/configmaps?watch=1&{query}"),
        "application/json",
        None,
    );
    assert_eq!(code, 200, "{body}");
    let events = body
        .lines()
        .map(|line| serde_json::from_str(line).expect("one JSON event a line"))
        .collect();
    (events, started.elapsed())
}

#[test]
fn bookmarks_come_before_a_short_watch_times_out() {
    let server = TestServer::start();
    server.ok(&["create", "configmap", "seen"]);
    let (events, took) = raw_watch(&server, "allowWatchBookmarks=true&timeoutSeconds=4");
    assert!(
        took >= Duration::from_secs(3) && took < Duration::from_secs(15),
        "{took:?}"
    );
    let kinds: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(kinds.first(), Some(&"ADDED"), "{events:?}");
    assert_eq!(kinds.last(), Some(&"BOOKMARK"), "{events:?}");
    let bookmark = &events[events.len() - 1]["object"];
    assert_eq!(bookmark["kind"], "ConfigMap");
    assert_eq!(bookmark["apiVersion"], "v1");
    assert!(bookmark["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .parse::<u64>()
        .is_ok());
    // Without asking, no bookmarks.
    let (events, _) = raw_watch(&server, "timeoutSeconds=3");
    assert!(events.iter().all(|e| e["type"] != "BOOKMARK"), "{events:?}");
}

#[test]
fn send_initial_events_ends_with_the_annotated_bookmark() {
    let server = TestServer::start();
    server.ok(&["create", "configmap", "first"]);
    server.ok(&["create", "configmap", "second"]);
    let (events, _) = raw_watch(
        &server,
        "sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true&timeoutSeconds=1",
    );
    let added: Vec<&str> = events
        .iter()
        .take_while(|e| e["type"] == "ADDED")
        .map(|e| e["object"]["metadata"]["name"].as_str().unwrap())
        .collect();
    assert!(
        added.contains(&"first") && added.contains(&"second"),
        "{events:?}"
    );
    let end = &events[added.len()];
    assert_eq!(end["type"], "BOOKMARK", "{events:?}");
    assert_eq!(
        end["object"]["metadata"]["annotations"]["k8s.io/initial-events-end"],
        "true"
    );
    let listed: u64 = server
        .ok(&[
            "get",
            "cm",
            "second",
            "-o",
            "jsonpath={.metadata.resourceVersion}",
        ])
        .parse()
        .unwrap();
    let marked: u64 = end["object"]["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(marked >= listed, "{marked} < {listed}");
    // sendInitialEvents needs resourceVersionMatch=NotOlderThan.
    let (code, body) = server.curl(
        "GET",
        "/api/v1/namespaces/default/configmaps?watch=1&sendInitialEvents=true",
        "application/json",
        None,
    );
    assert_eq!(code, 400, "{body}");
}

#[tokio::test]
async fn a_selector_watch_sees_objects_enter_and_leave() {
    let server = TestServer::start();
    let maps: Api<ConfigMap> = Api::namespaced(server.client().await, "default");
    maps.create(
        &PostParams::default(),
        &config_map("mover", json!({"tier": "front"})),
    )
    .await
    .unwrap();
    let version = maps
        .list(&ListParams::default())
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap();
    let mut events = maps
        .watch(
            &WatchParams::default().labels("tier=front").timeout(30),
            &version,
        )
        .await
        .unwrap()
        .boxed();
    let relabel = |tier: &'static str| {
        let maps = maps.clone();
        async move {
            let patch = json!({"metadata": {"labels": {"tier": tier}}});
            maps.patch("mover", &PatchParams::default(), &Patch::Merge(&patch))
                .await
                .unwrap();
        }
    };
    let mut next = async || loop {
        match tokio::time::timeout(WAIT, events.try_next())
            .await
            .unwrap()
            .unwrap()
            .unwrap()
        {
            WatchEvent::Bookmark(_) => continue,
            event => return event,
        }
    };
    relabel("back").await;
    match next().await {
        WatchEvent::Deleted(map) => {
            assert_eq!(map.metadata.name.as_deref(), Some("mover"));
            assert_eq!(map.metadata.labels.unwrap()["tier"], "back");
        }
        other => panic!("leaving the selector is DELETED, got {other:?}"),
    }
    relabel("front").await;
    assert!(
        matches!(next().await, WatchEvent::Added(m) if m.metadata.name.as_deref() == Some("mover"))
    );
    maps.patch(
        "mover",
        &PatchParams::default(),
        &Patch::Merge(&json!({"data": {"k": "v"}})),
    )
    .await
    .unwrap();
    assert!(matches!(next().await, WatchEvent::Modified(_)));
    maps.delete("mover", &Default::default()).await.unwrap();
    assert!(matches!(next().await, WatchEvent::Deleted(_)));
}

#[tokio::test]
async fn kube_rs_streaming_list_watcher() {
    let server = TestServer::start();
    let maps: Api<ConfigMap> = Api::namespaced(server.client().await, "default");
    for name in ["one", "two"] {
        maps.create(
            &PostParams::default(),
            &config_map(name, json!({"app": "x"})),
        )
        .await
        .unwrap();
    }
    let config = watcher::Config::default().streaming_lists().labels("app=x");
    let mut stream = watcher(maps.clone(), config).boxed();
    let mut initial = Vec::new();
    loop {
        match tokio::time::timeout(WAIT, stream.try_next())
            .await
            .unwrap()
            .unwrap()
            .unwrap()
        {
            watcher::Event::Init => {}
            watcher::Event::InitApply(map) => initial.push(map.metadata.name.unwrap()),
            watcher::Event::InitDone => break,
            other => panic!("the initial events come first, got {other:?}"),
        }
    }
    initial.sort();
    assert_eq!(initial, ["one", "two"]);
    maps.create(
        &PostParams::default(),
        &config_map("three", json!({"app": "x"})),
    )
    .await
    .unwrap();
    match tokio::time::timeout(WAIT, stream.try_next())
        .await
        .unwrap()
        .unwrap()
        .unwrap()
    {
        watcher::Event::Apply(map) => assert_eq!(map.metadata.name.as_deref(), Some("three")),
        other => panic!("expected the new object, got {other:?}"),
    }
}

/// A server in this process over a memory store, so the test can compact
/// history at once instead of waiting out the five minutes of `capstan
/// server`'s store.
struct InProcess {
    server: Option<capstan_apiserver::Server>,
    store: capstan_store::memory::MemoryStore,
    client: kube::Client,
    _dir: tempfile::TempDir,
}

impl InProcess {
    async fn start() -> InProcess {
        InProcess::start_on(capstan_store::memory::MemoryStore::new()).await
    }

    async fn stop(mut self) {
        if let Some(server) = self.server.take() {
            server.shutdown().await;
        }
    }

    /// An API server on a store that may already hold history.
    async fn start_on(store: capstan_store::memory::MemoryStore) -> InProcess {
        let dir = tempfile::tempdir().unwrap();
        let server = capstan_apiserver::start(capstan_apiserver::Config {
            data_dir: dir.path().to_path_buf(),
            bind_address: "127.0.0.1".parse().unwrap(),
            https_port: 0,
            store: Arc::new(store.clone()),
            service_cidr: capstan_apiserver::Cidr {
                network: "10.43.0.0".parse().unwrap(),
                prefix: 16,
            },
            node_port_range: (30000, 32767),
            token_auth_file: None,
            extra_names: Vec::new(),
        })
        .await
        .unwrap();
        let kubeconfig = kube::config::Kubeconfig::from_yaml(&server.kubeconfig).unwrap();
        let config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
            .await
            .unwrap();
        InProcess {
            server: Some(server),
            store,
            client: kube::Client::try_from(config).unwrap(),
            _dir: dir,
        }
    }
}

#[tokio::test]
async fn compacted_history_is_gone() {
    use capstan_store::Store;
    let cluster = InProcess::start().await;
    let maps: Api<ConfigMap> = Api::namespaced(cluster.client.clone(), "default");
    for i in 0..5 {
        maps.create(
            &PostParams::default(),
            &config_map(&format!("old-{i}"), json!({})),
        )
        .await
        .unwrap();
    }
    let page = maps.list(&ListParams::default().limit(2)).await.unwrap();
    let token = page.metadata.continue_.clone().unwrap();
    let old = page.metadata.resource_version.clone().unwrap();
    for name in ["new", "newer"] {
        maps.create(&PostParams::default(), &config_map(name, json!({})))
            .await
            .unwrap();
    }
    let now = cluster.store.current_revision().await.unwrap();
    cluster.store.compact(now).await.unwrap();
    // The watch cache keeps its own window of events, which still covers
    // `old`; a new API server's window starts now, so what comes before
    // it is the store's to answer.
    let store = cluster.store.clone();
    cluster.stop().await;
    let cluster = InProcess::start_on(store).await;
    let maps: Api<ConfigMap> = Api::namespaced(cluster.client.clone(), "default");
    // A watch from before the compaction ends with 410 Gone in the stream.
    let mut events = maps
        .watch(&WatchParams::default().timeout(10), &old)
        .await
        .unwrap()
        .boxed();
    match tokio::time::timeout(WAIT, events.try_next())
        .await
        .unwrap()
        .unwrap()
        .unwrap()
    {
        WatchEvent::Error(status) => {
            assert_eq!((status.code, status.reason.as_str()), (410, "Expired"));
            // Upstream names the version asked for and the oldest one a
            // watch may still start from.
            assert_eq!(
                status.message,
                format!("too old resource version: {old} ({})", now - 1)
            );
        }
        other => panic!("expected 410 Gone, got {other:?}"),
    }
    // So does a list continued from before it.
    let error = maps
        .list(&ListParams::default().limit(2).continue_token(&token))
        .await
        .unwrap_err();
    match error {
        kube::Error::Api(status) => {
            assert_eq!((status.code, status.reason.as_str()), (410, "Expired"));
            assert!(status.message.starts_with("The provided continue parameter is too old to display a consistent list result."), "{}", status.message);
        }
        other => panic!("expected 410 Gone, got {other}"),
    }
    // kube-rs' watcher starts over with a fresh list.
    let mut stream = watcher(maps.clone(), watcher::Config::default()).boxed();
    let mut seen = 0;
    while seen < 7 {
        match tokio::time::timeout(WAIT, stream.try_next())
            .await
            .unwrap()
            .unwrap()
            .unwrap()
        {
            watcher::Event::InitApply(_) => seen += 1,
            watcher::Event::InitDone => break,
            _ => {}
        }
    }
    assert_eq!(seen, 7);
    if let Some(server) = cluster.server {
        server.shutdown().await;
    }
}
