//! The garbage collector on `capstan server --sim-nodes 3`, driven with
//! the real kubectl: cascading deletes in the background and in the
//! foreground, orphaning deletes, and dependents whose owners never
//! existed or are gone, of any kind.

mod support;

use std::time::Duration;

use serde_json::Value;
use support::{wait_for, TestServer};

const WAIT: Duration = Duration::from_secs(90);

fn deployment(name: &str) -> String {
    format!(
        r#"
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
spec:
  replicas: 2
  selector:
    matchLabels:
      app: {name}
  template:
    metadata:
      labels:
        app: {name}
    spec:
      containers:
      - name: c
        image: nginx:1
"#
    )
}

fn items(server: &TestServer, args: &[&str]) -> Vec<Value> {
    server
        .get_json(args)
        .and_then(|l| l["items"].as_array().cloned())
        .unwrap_or_default()
}

fn ready_deployment(server: &TestServer, name: &str) {
    server.ok_stdin(&["apply", "-f", "-"], &deployment(name));
    let target = format!("deployment/{name}");
    server.ok(&["rollout", "status", &target, "--timeout=90s"]);
    let selector = format!("app={name}");
    wait_for("the pods", WAIT, || {
        (items(server, &["get", "pods", "-l", &selector]).len() == 2).then_some(())
    });
}

#[test]
fn background_deletion_removes_replica_sets_and_pods() {
    let server = TestServer::start_with(&["--sim-nodes", "3"]);
    ready_deployment(&server, "web");
    assert_eq!(
        items(&server, &["get", "replicasets", "-l", "app=web"]).len(),
        1
    );
    server.ok(&["delete", "deployment", "web"]);
    wait_for("the ReplicaSets and pods to go", WAIT, || {
        let sets = items(&server, &["get", "replicasets", "-l", "app=web"]);
        let pods = items(&server, &["get", "pods", "-l", "app=web"]);
        (sets.is_empty() && pods.is_empty()).then_some(())
    });
}

#[test]
fn foreground_deletion_removes_dependents_before_the_owner() {
    let server = TestServer::start_with(&["--sim-nodes", "3"]);
    ready_deployment(&server, "fg");
    // kubectl waits until the Deployment is gone; by then nothing it owned
    // may be left.
    server.ok(&[
        "delete",
        "deployment",
        "fg",
        "--cascade=foreground",
        "--timeout=90s",
    ]);
    assert!(server.get_json(&["get", "deployment", "fg"]).is_none());
    assert!(items(&server, &["get", "replicasets", "-l", "app=fg"]).is_empty());
    assert!(items(&server, &["get", "pods", "-l", "app=fg"]).is_empty());
}

#[test]
fn foreground_deletion_marks_the_owner_while_it_waits() {
    let server = TestServer::start_with(&["--sim-nodes", "3"]);
    ready_deployment(&server, "slow");
    // A dependent with a finalizer nobody removes holds the owner.
    let set = items(&server, &["get", "replicasets", "-l", "app=slow"]).remove(0);
    let name = set["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    server.ok(&[
        "patch",
        "replicaset",
        &name,
        "--type=merge",
        "-p",
        r#"{"metadata":{"finalizers":["test.capstan.dev/hold"]}}"#,
    ]);
    server.ok(&[
        "delete",
        "deployment",
        "slow",
        "--cascade=foreground",
        "--wait=false",
    ]);
    let owner = server
        .get_json(&["get", "deployment", "slow"])
        .expect("the owner waits");
    assert!(owner.pointer("/metadata/deletionTimestamp").is_some());
    assert!(owner["metadata"]["finalizers"]
        .as_array()
        .is_some_and(|f| f.iter().any(|f| f == "foregroundDeletion")));
    // The dependent's own dependents go; the dependent waits on its
    // finalizer, and the owner on it.
    wait_for("the pods to go", WAIT, || {
        items(&server, &["get", "pods", "-l", "app=slow"])
            .is_empty()
            .then_some(())
    });
    assert!(server.get_json(&["get", "deployment", "slow"]).is_some());
    server.ok(&[
        "patch",
        "replicaset",
        &name,
        "--type=merge",
        "-p",
        r#"{"metadata":{"finalizers":null}}"#,
    ]);
    wait_for("the owner to go", WAIT, || {
        server
            .get_json(&["get", "deployment", "slow"])
            .is_none()
            .then_some(())
    });
}

const KEEP: &str = r#"
apiVersion: apps/v1
kind: ReplicaSet
metadata:
  name: keep
spec:
  replicas: 2
  selector:
    matchLabels:
      app: keep
  template:
    metadata:
      labels:
        app: keep
    spec:
      containers:
      - name: c
        image: nginx:1
"#;

#[test]
fn orphaning_deletion_leaves_pods_without_owners() {
    let server = TestServer::start_with(&["--sim-nodes", "3"]);
    server.ok_stdin(&["apply", "-f", "-"], KEEP);
    let names = wait_for("two pods", WAIT, || {
        let pods = items(&server, &["get", "pods", "-l", "app=keep"]);
        let names: Vec<String> = pods
            .iter()
            .filter_map(|p| p["metadata"]["name"].as_str().map(str::to_string))
            .collect();
        (names.len() == 2).then_some(names)
    });
    server.ok(&[
        "delete",
        "replicaset",
        "keep",
        "--cascade=orphan",
        "--timeout=60s",
    ]);
    assert!(server.get_json(&["get", "replicaset", "keep"]).is_none());
    let pods = items(&server, &["get", "pods", "-l", "app=keep"]);
    assert_eq!(pods.len(), 2);
    for pod in &pods {
        assert!(pod.pointer("/metadata/deletionTimestamp").is_none());
        assert!(pod.pointer("/metadata/ownerReferences").is_none(), "{pod}");
    }
    // And they stay.
    std::thread::sleep(Duration::from_secs(3));
    let mut left: Vec<String> = items(&server, &["get", "pods", "-l", "app=keep"])
        .iter()
        .filter_map(|p| p["metadata"]["name"].as_str().map(str::to_string))
        .collect();
    left.sort();
    let mut names = names;
    names.sort();
    assert_eq!(left, names);
}

fn config_map(name: &str, owner: Option<(&str, &str)>) -> String {
    let owner = owner
        .map(|(owner, uid)| {
            format!(
                "  ownerReferences:\n  - apiVersion: v1\n    kind: ConfigMap\n    name: {owner}\n    uid: {uid}\n"
            )
        })
        .unwrap_or_default();
    format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n{owner}data:\n  k: v\n")
}

#[test]
fn dependents_of_missing_owners_of_any_kind_are_collected() {
    let server = TestServer::start_with(&["--sim-nodes", "3"]);
    server.ok_stdin(&["apply", "-f", "-"], &config_map("owner", None));
    let uid = server
        .ok(&[
            "get",
            "configmap",
            "owner",
            "-o",
            "jsonpath={.metadata.uid}",
        ])
        .trim()
        .to_string();
    server.ok_stdin(
        &["apply", "-f", "-"],
        &config_map("child", Some(("owner", &uid))),
    );
    server.ok_stdin(
        &["apply", "-f", "-"],
        &config_map(
            "ghost-child",
            Some(("ghost", "00000000-0000-0000-0000-000000000000")),
        ),
    );
    wait_for("the dependent of a missing owner to go", WAIT, || {
        server
            .get_json(&["get", "configmap", "ghost-child"])
            .is_none()
            .then_some(())
    });
    // Owned by an existing owner: kept.
    std::thread::sleep(Duration::from_secs(2));
    assert!(server.get_json(&["get", "configmap", "child"]).is_some());
    server.ok(&["delete", "configmap", "owner"]);
    wait_for("the dependent of a deleted owner to go", WAIT, || {
        server
            .get_json(&["get", "configmap", "child"])
            .is_none()
            .then_some(())
    });
}
