//! DaemonSets on `capstan server --sim-nodes 5`, driven with the real
//! kubectl: one pod on each eligible node (taints before and after the
//! DaemonSet), default tolerations, rollout of a new image, rollout
//! history and undo.

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value;
use support::{wait_for, TestServer};

const WAIT: Duration = Duration::from_secs(60);

const DAEMON_SET: &str = r#"
apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: agent
spec:
  selector:
    matchLabels:
      app: agent
  template:
    metadata:
      labels:
        app: agent
    spec:
      containers:
      - name: c
        image: nginx:1
"#;

fn str_at<'a>(value: &'a Value, pointer: &str) -> &'a str {
    value
        .pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_default()
}

fn is_ready(pod: &Value) -> bool {
    pod.pointer("/status/conditions")
        .and_then(Value::as_array)
        .is_some_and(|c| {
            c.iter()
                .any(|c| c["type"] == "Ready" && c["status"] == "True")
        })
}

/// The names of the Ready nodes, once there are `count`.
fn ready_nodes(server: &TestServer, count: usize) -> Vec<String> {
    wait_for(&format!("{count} Ready nodes"), WAIT, || {
        let list = server.get_json(&["get", "nodes"])?;
        let nodes = list["items"].as_array()?;
        let ready: Vec<String> = nodes
            .iter()
            .filter(|n| is_ready(n))
            .map(|n| str_at(n, "/metadata/name").to_string())
            .collect();
        (ready.len() == count).then_some(ready)
    })
}

/// The DaemonSet's live pods by node, once they are exactly one Running
/// and Ready pod on each of `nodes`, all with `image`.
fn pods_on(server: &TestServer, nodes: &[&str], image: &str) -> BTreeMap<String, Value> {
    let what = format!("one Ready {image} daemon pod on each of {nodes:?}");
    wait_for(&what, WAIT, || {
        let list = server.get_json(&["get", "pods", "-l", "app=agent"])?;
        let pods: Vec<&Value> = list["items"]
            .as_array()?
            .iter()
            .filter(|p| p.pointer("/metadata/deletionTimestamp").is_none())
            .collect();
        let by_node: BTreeMap<String, Value> = pods
            .iter()
            .map(|p| (str_at(p, "/spec/nodeName").to_string(), (*p).clone()))
            .collect();
        let fine = pods.len() == nodes.len()
            && by_node.len() == nodes.len()
            && nodes.iter().all(|n| by_node.contains_key(*n))
            && pods.iter().all(|p| {
                is_ready(p)
                    && str_at(p, "/status/phase") == "Running"
                    && str_at(p, "/spec/containers/0/image") == image
            });
        fine.then_some(by_node)
    })
}

fn status_of(server: &TestServer) -> Value {
    server.get_json(&["get", "ds", "agent"]).expect("daemonset")["status"].clone()
}

fn wait_status(server: &TestServer, want: &[(&str, i64)]) -> Value {
    wait_for(&format!("daemonset status {want:?}"), WAIT, || {
        let status = status_of(server);
        want.iter()
            .all(|(field, value)| status[*field].as_i64().unwrap_or(0) == *value)
            .then_some(status)
    })
}

#[test]
fn daemon_set_runs_on_every_eligible_node_and_rolls_out() {
    let server = TestServer::start_with(&["--sim-nodes", "5"]);
    let nodes = ready_nodes(&server, 5);
    assert!(nodes.iter().all(|n| n.starts_with("sim-")), "{nodes:?}");

    // A node tainted before the DaemonSet exists gets no pod.
    server.ok(&["taint", "nodes", "sim-4", "dedicated=gpu:NoSchedule"]);
    server.ok_stdin(&["apply", "-f", "-"], DAEMON_SET);
    let pods = pods_on(&server, &["sim-0", "sim-1", "sim-2", "sim-3"], "nginx:1");
    let status = wait_status(
        &server,
        &[
            ("desiredNumberScheduled", 4),
            ("currentNumberScheduled", 4),
            ("numberReady", 4),
            ("numberAvailable", 4),
            ("updatedNumberScheduled", 4),
            ("numberMisscheduled", 0),
        ],
    );
    assert_eq!(status["observedGeneration"], 1);
    assert!(
        status.get("numberUnavailable").is_none_or(|n| n == 0),
        "{status}"
    );

    // Pods are pinned to their node, labelled with their revision and
    // tolerate node problems.
    let pod = &pods["sim-2"];
    let term = &pod["spec"]["affinity"]["nodeAffinity"]
        ["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"][0];
    assert_eq!(term["matchFields"][0]["key"], "metadata.name");
    assert_eq!(term["matchFields"][0]["values"][0], "sim-2");
    assert!(!str_at(pod, "/metadata/labels/controller-revision-hash").is_empty());
    assert_eq!(str_at(pod, "/metadata/labels/pod-template-generation"), "1");
    assert_eq!(str_at(pod, "/metadata/ownerReferences/0/kind"), "DaemonSet");
    let tolerations = pod["spec"]["tolerations"].as_array().expect("tolerations");
    for (key, effect) in [
        ("node.kubernetes.io/not-ready", "NoExecute"),
        ("node.kubernetes.io/unreachable", "NoExecute"),
        ("node.kubernetes.io/disk-pressure", "NoSchedule"),
        ("node.kubernetes.io/memory-pressure", "NoSchedule"),
        ("node.kubernetes.io/pid-pressure", "NoSchedule"),
        ("node.kubernetes.io/unschedulable", "NoSchedule"),
    ] {
        let found = tolerations
            .iter()
            .find(|t| t["key"] == key && t["effect"] == effect);
        let found =
            found.unwrap_or_else(|| panic!("no toleration {key}:{effect}: {tolerations:?}"));
        assert_eq!(found["operator"], "Exists");
        assert!(found.get("tolerationSeconds").is_none(), "{found}");
    }
    let events = server.ok(&[
        "get",
        "events",
        "--field-selector",
        "reason=SuccessfulCreate",
    ]);
    assert!(events.contains("Created pod: agent-"), "{events}");

    // Untainted, the node gets its pod.
    server.ok(&["taint", "nodes", "sim-4", "dedicated=gpu:NoSchedule-"]);
    let all = ["sim-0", "sim-1", "sim-2", "sim-3", "sim-4"];
    pods_on(&server, &all, "nginx:1");
    wait_status(
        &server,
        &[("desiredNumberScheduled", 5), ("numberReady", 5)],
    );

    // An image update rolls out to every node.
    server.ok(&["set", "image", "ds/agent", "c=nginx:2"]);
    let out = server.ok(&["rollout", "status", "ds/agent", "--timeout=60s"]);
    assert!(
        out.contains("daemon set \"agent\" successfully rolled out"),
        "{out}"
    );
    let updated = pods_on(&server, &all, "nginx:2");
    assert_ne!(
        str_at(
            &updated["sim-2"],
            "/metadata/labels/controller-revision-hash"
        ),
        str_at(pod, "/metadata/labels/controller-revision-hash")
    );
    wait_status(
        &server,
        &[("updatedNumberScheduled", 5), ("numberAvailable", 5)],
    );

    // The history has both templates, and undo brings back the first.
    let revisions = server.ok(&["get", "controllerrevisions", "-l", "app=agent"]);
    assert_eq!(revisions.lines().count(), 3, "{revisions}");
    let history = server.ok(&["rollout", "history", "ds/agent"]);
    assert!(
        history.contains("\n1 ") && history.contains("\n2 "),
        "{history}"
    );
    let first = server.ok(&["rollout", "history", "ds/agent", "--revision=1"]);
    assert!(first.contains("nginx:1"), "{first}");
    server.ok(&["rollout", "undo", "ds/agent"]);
    server.ok(&["rollout", "status", "ds/agent", "--timeout=60s"]);
    pods_on(&server, &all, "nginx:1");
    let history = server.ok(&["rollout", "history", "ds/agent"]);
    assert!(
        history.contains("\n2 ") && history.contains("\n3 "),
        "{history}"
    );
    assert!(!history.contains("\n1 "), "{history}");

    // A NoSchedule taint added later leaves the running pod (now
    // misscheduled); a NoExecute one takes it away.
    server.ok(&["taint", "nodes", "sim-1", "dedicated=gpu:NoSchedule"]);
    wait_status(
        &server,
        &[("desiredNumberScheduled", 4), ("numberMisscheduled", 1)],
    );
    pods_on(&server, &all, "nginx:1");
    server.ok(&["taint", "nodes", "sim-0", "evict=now:NoExecute"]);
    pods_on(&server, &["sim-1", "sim-2", "sim-3", "sim-4"], "nginx:1");
    wait_status(
        &server,
        &[
            ("desiredNumberScheduled", 3),
            ("currentNumberScheduled", 3),
            ("numberMisscheduled", 1),
        ],
    );
}

#[test]
fn node_selector_limits_the_nodes_and_deleted_pods_come_back() {
    let server = TestServer::start_with(&["--sim-nodes", "3"]);
    ready_nodes(&server, 3);
    server.ok(&["label", "nodes", "sim-0", "sim-2", "role=edge"]);
    let manifest = DAEMON_SET.replace(
        "    spec:\n      containers:",
        "    spec:\n      nodeSelector:\n        role: edge\n      containers:",
    );
    server.ok_stdin(&["apply", "-f", "-"], &manifest);
    let pods = pods_on(&server, &["sim-0", "sim-2"], "nginx:1");
    wait_status(
        &server,
        &[("desiredNumberScheduled", 2), ("numberReady", 2)],
    );

    let name = str_at(&pods["sim-0"], "/metadata/name").to_string();
    server.ok(&["delete", "pod", &name, "--wait=false"]);
    let again = wait_for("a new pod on sim-0", WAIT, || {
        let pods = pods_on(&server, &["sim-0", "sim-2"], "nginx:1");
        let new = str_at(&pods["sim-0"], "/metadata/name").to_string();
        (new != name).then_some(new)
    });
    assert!(again.starts_with("agent-"), "{again}");

    // Relabelling moves the daemon.
    server.ok(&["label", "nodes", "sim-2", "role-"]);
    server.ok(&["label", "nodes", "sim-1", "role=edge"]);
    pods_on(&server, &["sim-0", "sim-1"], "nginx:1");
}
