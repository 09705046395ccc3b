//! The official Rust client (kube-rs) against a capstan server.

mod support;

use std::time::Duration;

use futures_util::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{
    Api, DeleteParams, ListParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams,
};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::runtime::WatchStreamExt;
use support::TestServer;

const WAIT: Duration = Duration::from_secs(20);

async fn client(server: &TestServer) -> kube::Client {
    let kubeconfig = Kubeconfig::read_from(server.kubeconfig()).unwrap();
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .unwrap();
    kube::Client::try_from(config).unwrap()
}

fn config_map(name: &str, value: &str) -> ConfigMap {
    serde_json::from_value(serde_json::json!({
        "metadata": {"name": name},
        "data": {"key": value},
    }))
    .unwrap()
}

/// Waits for the CA ConfigMap every namespace gets, so that lists and
/// watches see a settled namespace.
async fn wait_root_ca(maps: &Api<ConfigMap>) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while maps.get_opt("kube-root-ca.crt").await.unwrap().is_none() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "kube-root-ca.crt within {WAIT:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn crud_through_the_typed_client() {
    let server = TestServer::start();
    let maps: Api<ConfigMap> = Api::namespaced(client(&server).await, "default");
    let created = maps
        .create(&PostParams::default(), &config_map("typed", "1"))
        .await
        .unwrap();
    assert_eq!(created.metadata.namespace.as_deref(), Some("default"));
    let mut fetched = maps.get("typed").await.unwrap();
    fetched
        .data
        .as_mut()
        .unwrap()
        .insert("key".into(), "2".into());
    let replaced = maps
        .replace("typed", &PostParams::default(), &fetched)
        .await
        .unwrap();
    assert_eq!(replaced.data.unwrap()["key"], "2");
    // The old version is stale now.
    let stale = maps
        .replace("typed", &PostParams::default(), &fetched)
        .await
        .unwrap_err();
    match stale {
        kube::Error::Api(status) => {
            assert_eq!((status.code, status.reason.as_str()), (409, "Conflict"))
        }
        other => panic!("expected a conflict, got {other}"),
    }
    let patch = serde_json::json!({"data": {"extra": "x"}});
    let patched = maps
        .patch("typed", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
    assert_eq!(patched.data.unwrap()["extra"], "x");
    let listed = maps.list(&ListParams::default().labels("")).await.unwrap();
    assert!(listed
        .items
        .iter()
        .any(|m| m.metadata.name.as_deref() == Some("typed")));
    maps.delete("typed", &DeleteParams::default())
        .await
        .unwrap();
    let missing = maps.get_opt("typed").await.unwrap();
    assert!(missing.is_none());
}

#[tokio::test]
async fn paging_with_limit_and_continue() {
    let server = TestServer::start();
    let maps: Api<ConfigMap> = Api::namespaced(client(&server).await, "default");
    wait_root_ca(&maps).await;
    for i in 0..25 {
        maps.create(
            &PostParams::default(),
            &config_map(&format!("page-{i:02}"), "v"),
        )
        .await
        .unwrap();
    }
    let mut names = Vec::new();
    let mut token: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut params = ListParams::default().limit(10);
        if let Some(token) = &token {
            params = params.continue_token(token);
        }
        let page = maps.list(&params).await.unwrap();
        pages += 1;
        names.extend(page.items.into_iter().filter_map(|m| m.metadata.name));
        token = page.metadata.continue_.filter(|t| !t.is_empty());
        if token.is_none() {
            break;
        }
    }
    assert_eq!(pages, 3);
    let pages = (0..25).map(|i| format!("page-{i:02}"));
    let expected: Vec<String> = std::iter::once("kube-root-ca.crt".to_string())
        .chain(pages)
        .collect();
    assert_eq!(names, expected);
}

#[tokio::test]
async fn a_watch_resumes_from_its_resource_version_across_a_restart() {
    let mut server = TestServer::start();
    let maps: Api<ConfigMap> = Api::namespaced(client(&server).await, "default");
    wait_root_ca(&maps).await;
    maps.create(&PostParams::default(), &config_map("before", "1"))
        .await
        .unwrap();
    let list = maps.list(&ListParams::default()).await.unwrap();
    let version = list.metadata.resource_version.unwrap();

    let server = tokio::task::spawn_blocking(move || {
        server.restart();
        server
    })
    .await
    .unwrap();
    let maps: Api<ConfigMap> = Api::namespaced(client(&server).await, "default");
    maps.create(&PostParams::default(), &config_map("after", "2"))
        .await
        .unwrap();

    // Resuming from the version listed before the restart sees what happened since.
    let mut events = maps
        .watch(&WatchParams::default().timeout(30), &version)
        .await
        .unwrap()
        .boxed();
    let first = tokio::time::timeout(WAIT, events.try_next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    match first {
        WatchEvent::Added(map) => assert_eq!(map.metadata.name.as_deref(), Some("after")),
        other => panic!("expected the create made after the restart, got {other:?}"),
    }

    // The runtime watcher lists, then follows.
    let stream = kube::runtime::watcher(maps.clone(), kube::runtime::watcher::Config::default())
        .applied_objects()
        .boxed();
    let mut stream = stream;
    let mut seen = Vec::new();
    while seen.len() < 3 {
        let object = tokio::time::timeout(WAIT, stream.try_next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        seen.push(object.metadata.name.unwrap());
    }
    seen.sort();
    assert_eq!(seen, ["after", "before", "kube-root-ca.crt"]);
    maps.create(&PostParams::default(), &config_map("live", "3"))
        .await
        .unwrap();
    let live = tokio::time::timeout(WAIT, stream.try_next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(live.metadata.name.as_deref(), Some("live"));
}
