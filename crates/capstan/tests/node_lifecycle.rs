//! Node loss: hollow nodes in a separate `capstan sim` process, killed with
//! SIGKILL. Their Leases stop, the node lifecycle controller marks them
//! NotReady (Unknown) and taints them unreachable, their pods go not ready
//! and are evicted once their tolerationSeconds run out; when the process
//! comes back, so do the nodes, and their running pods are picked up.

mod support;

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;
use support::{wait_for, TestServer};

const WAIT: Duration = Duration::from_secs(30);
const UNREACHABLE: &str = "node.kubernetes.io/unreachable";

struct Sim(Child);

impl Sim {
    fn start(server: &TestServer) -> Sim {
        let child = Command::new(env!("CARGO_BIN_EXE_capstan"))
            .arg("sim")
            .arg("--kubeconfig")
            .arg(server.kubeconfig())
            .args(["--nodes", "2", "--name-prefix", "lost-"])
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start capstan sim");
        Sim(child)
    }

    fn kill(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        self.kill();
    }
}

fn condition<'a>(object: &'a Value, kind: &str) -> Option<&'a Value> {
    object
        .pointer("/status/conditions")?
        .as_array()?
        .iter()
        .find(|c| c["type"] == kind)
}

fn ready_status(object: &Value) -> &str {
    condition(object, "Ready")
        .and_then(|c| c["status"].as_str())
        .unwrap_or_default()
}

fn has_taint(node: &Value, key: &str, effect: &str) -> bool {
    node["spec"]["taints"]
        .as_array()
        .is_some_and(|t| t.iter().any(|t| t["key"] == key && t["effect"] == effect))
}

fn node_where(
    server: &TestServer,
    name: &str,
    what: &str,
    check: impl Fn(&Value) -> bool,
) -> Value {
    wait_for(&format!("node {name}: {what}"), WAIT, || {
        server.get_json(&["get", "node", name]).filter(|n| check(n))
    })
}

fn pod_where(server: &TestServer, name: &str, what: &str, check: impl Fn(&Value) -> bool) -> Value {
    wait_for(&format!("pod {name}: {what}"), WAIT, || {
        server.get_json(&["get", "pod", name]).filter(|p| check(p))
    })
}

/// A pod on `node` tolerating unreachable for `seconds` (forever if None).
fn pod_manifest(name: &str, node: &str, seconds: Option<u32>) -> String {
    let seconds = seconds.map_or(String::new(), |s| format!("\n    tolerationSeconds: {s}"));
    format!(
        "apiVersion: v1
kind: Pod
metadata:
  name: {name}
spec:
  nodeName: {node}
  tolerations:
  - key: {UNREACHABLE}
    operator: Exists
    effect: NoExecute{seconds}
  - key: node.kubernetes.io/not-ready
    operator: Exists
    effect: NoExecute
  containers:
  - name: app
    image: registry.example/app:1.0
"
    )
}

#[test]
fn killed_sim_nodes_go_unknown_get_tainted_and_lose_their_pods() {
    let server = TestServer::start_with(&["--node-monitor-grace-period", "3s"]);
    let mut sim = Sim::start(&server);
    for name in ["lost-0", "lost-1"] {
        node_where(&server, name, "Ready", |n| ready_status(n) == "True");
    }
    server.ok_stdin(
        &["apply", "-f", "-"],
        &pod_manifest("short", "lost-0", Some(1)),
    );
    server.ok_stdin(
        &["apply", "-f", "-"],
        &pod_manifest("patient", "lost-1", None),
    );
    for name in ["short", "patient"] {
        pod_where(&server, name, "Ready", |p| ready_status(p) == "True");
    }
    let before = server.get_json(&["get", "pod", "patient"]).expect("pod");

    sim.kill();
    let node = node_where(&server, "lost-0", "Ready Unknown", |n| {
        ready_status(n) == "Unknown"
    });
    let ready = condition(&node, "Ready").unwrap();
    assert_eq!(ready["reason"], "NodeStatusUnknown");
    assert_eq!(ready["message"], "Kubelet stopped posting node status.");
    for kind in ["MemoryPressure", "DiskPressure", "PIDPressure"] {
        assert_eq!(
            condition(&node, kind).unwrap()["status"],
            "Unknown",
            "{kind}"
        );
    }
    node_where(&server, "lost-0", "tainted unreachable", |n| {
        has_taint(n, UNREACHABLE, "NoExecute") && has_taint(n, UNREACHABLE, "NoSchedule")
    });
    let table = server.ok(&["get", "node", "lost-0"]);
    assert!(table.contains("NotReady"), "{table}");

    // tolerationSeconds 1: evicted; no tolerationSeconds: stays, not ready.
    wait_for("pod short evicted", WAIT, || {
        match server.get_json(&["get", "pod", "short"]) {
            None => Some(()),
            Some(pod) => pod["metadata"]["deletionTimestamp"]
                .is_string()
                .then_some(()),
        }
    });
    let patient = pod_where(&server, "patient", "not ready", |p| {
        ready_status(p) == "False"
    });
    assert!(
        patient["metadata"]["deletionTimestamp"].is_null(),
        "{patient}"
    );

    // The nodes come back: Ready, untainted, and the surviving pod is
    // picked up where it was.
    let _sim = Sim::start(&server);
    node_where(&server, "lost-1", "Ready and untainted", |n| {
        ready_status(n) == "True" && !has_taint(n, UNREACHABLE, "NoExecute")
    });
    let patient = pod_where(&server, "patient", "Ready again", |p| {
        ready_status(p) == "True"
    });
    assert_eq!(patient["status"]["podIP"], before["status"]["podIP"]);
    let (now, then) = (
        &patient["status"]["containerStatuses"][0],
        &before["status"]["containerStatuses"][0],
    );
    assert_eq!(now["containerID"], then["containerID"]);
    assert_eq!(now["restartCount"], 0);
    // The evicted pod's node finishes the deletion.
    wait_for("pod short gone", WAIT, || {
        server
            .get_json(&["get", "pod", "short"])
            .is_none()
            .then_some(())
    });
}
