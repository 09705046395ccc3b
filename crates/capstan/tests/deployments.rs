//! Deployments and ReplicaSets on `capstan server --sim-nodes 3`, driven
//! with the real kubectl: a rollout to a new image, history and undo,
//! scaling, pause and resume, restart, and a ReplicaSet that adopts and
//! releases pods by their labels.

mod support;

use std::time::Duration;

use serde_json::Value;
use support::{wait_for, TestServer};

const WAIT: Duration = Duration::from_secs(90);

const WEB: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 3
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
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

fn items(list: &Value) -> Vec<Value> {
    list["items"].as_array().cloned().unwrap_or_default()
}

fn is_ready(pod: &Value) -> bool {
    pod.pointer("/status/conditions")
        .and_then(Value::as_array)
        .is_some_and(|c| {
            c.iter()
                .any(|c| c["type"] == "Ready" && c["status"] == "True")
        })
}

/// The pods with `selector` not being deleted.
fn live_pods(server: &TestServer, selector: &str) -> Option<Vec<Value>> {
    let list = server.get_json(&["get", "pods", "-l", selector])?;
    Some(
        items(&list)
            .into_iter()
            .filter(|p| p.pointer("/metadata/deletionTimestamp").is_none())
            .collect(),
    )
}

/// Waits for exactly `count` live pods of `selector`, all Ready and
/// running `image`.
fn wait_pods(server: &TestServer, selector: &str, count: usize, image: &str) -> Vec<Value> {
    wait_for(
        &format!("{count} ready pods of {selector} with {image}"),
        WAIT,
        || {
            let pods = live_pods(server, selector)?;
            let good = pods.len() == count
                && pods
                    .iter()
                    .all(|p| is_ready(p) && str_at(p, "/spec/containers/0/image") == image);
            good.then_some(pods)
        },
    )
}

fn replica_sets(server: &TestServer, selector: &str) -> Vec<Value> {
    server
        .get_json(&["get", "replicasets", "-l", selector])
        .map(|l| items(&l))
        .unwrap_or_default()
}

fn rollout_status(server: &TestServer, name: &str) {
    let target = format!("deployment/{name}");
    let out = server.ok(&["rollout", "status", &target, "--timeout=90s"]);
    assert!(
        out.contains(&format!("deployment \"{name}\" successfully rolled out")),
        "{out}"
    );
}

fn condition<'a>(object: &'a Value, type_: &str) -> &'a Value {
    object
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .and_then(|c| c.iter().find(|c| c["type"] == type_))
        .unwrap_or(&Value::Null)
}

#[test]
fn rollout_history_undo_and_scale() {
    let server = TestServer::start_with(&["--sim-nodes", "3"]);
    server.ok_stdin(&["apply", "-f", "-"], WEB);
    rollout_status(&server, "web");
    let pods = wait_pods(&server, "app=web", 3, "nginx:1");

    // One ReplicaSet, named and labelled as upstream names it.
    let sets = replica_sets(&server, "app=web");
    assert_eq!(sets.len(), 1);
    let first = str_at(&sets[0], "/metadata/name").to_string();
    let hash = str_at(&sets[0], "/metadata/labels/pod-template-hash").to_string();
    assert_eq!(first, format!("web-{hash}"));
    assert!(
        !hash.is_empty() && hash.chars().all(|c| "456789bcdf".contains(c)),
        "{hash}"
    );
    let annotations = &sets[0]["metadata"]["annotations"];
    assert_eq!(annotations["deployment.kubernetes.io/revision"], "1");
    assert_eq!(
        annotations["deployment.kubernetes.io/desired-replicas"],
        "3"
    );
    assert_eq!(annotations["deployment.kubernetes.io/max-replicas"], "4");
    assert_eq!(
        sets[0]["metadata"]["ownerReferences"][0]["kind"],
        "Deployment"
    );
    for pod in &pods {
        assert_eq!(str_at(pod, "/metadata/labels/pod-template-hash"), hash);
        assert!(str_at(pod, "/metadata/name").starts_with(&format!("{first}-")));
        assert_eq!(
            pod["metadata"]["ownerReferences"][0]["name"],
            first.as_str()
        );
    }

    let web = server
        .get_json(&["get", "deployment", "web"])
        .expect("deployment");
    assert_eq!(
        web["metadata"]["annotations"]["deployment.kubernetes.io/revision"],
        "1"
    );
    assert_eq!(web["status"]["readyReplicas"], 3);
    assert_eq!(web["status"]["availableReplicas"], 3);
    assert_eq!(web["status"]["updatedReplicas"], 3);
    assert_eq!(
        web["status"]["observedGeneration"],
        web["metadata"]["generation"]
    );
    let available = condition(&web, "Available");
    assert_eq!(available["status"], "True");
    assert_eq!(available["reason"], "MinimumReplicasAvailable");
    assert_eq!(available["message"], "Deployment has minimum availability.");
    let progressing = condition(&web, "Progressing");
    assert_eq!(progressing["reason"], "NewReplicaSetAvailable");
    assert_eq!(
        progressing["message"],
        format!("ReplicaSet \"{first}\" has successfully progressed.").as_str()
    );

    // A new image rolls out through a second ReplicaSet.
    server.ok(&["set", "image", "deployment/web", "c=nginx:2"]);
    rollout_status(&server, "web");
    wait_pods(&server, "app=web", 3, "nginx:2");
    let sets = replica_sets(&server, "app=web");
    assert_eq!(sets.len(), 2);
    let old = sets
        .iter()
        .find(|rs| str_at(rs, "/metadata/name") == first)
        .expect("old set");
    assert_eq!(old["spec"]["replicas"], 0);
    let second = sets
        .iter()
        .find(|rs| str_at(rs, "/metadata/name") != first)
        .map(|rs| str_at(rs, "/metadata/name").to_string())
        .expect("new set");
    let history = server.ok(&["rollout", "history", "deployment/web"]);
    assert!(history.contains("REVISION"), "{history}");
    let revisions: Vec<&str> = history
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|w| w.parse::<u32>().is_ok())
        .collect();
    assert_eq!(revisions, ["1", "2"], "{history}");

    // Undo brings the first ReplicaSet back as revision 3.
    server.ok(&["rollout", "undo", "deployment/web"]);
    rollout_status(&server, "web");
    wait_pods(&server, "app=web", 3, "nginx:1");
    let back = server
        .get_json(&["get", "replicaset", &first])
        .expect("first set");
    assert_eq!(back["spec"]["replicas"], 3);
    assert_eq!(
        back["metadata"]["annotations"]["deployment.kubernetes.io/revision"],
        "3"
    );
    assert_eq!(
        back["metadata"]["annotations"]["deployment.kubernetes.io/revision-history"],
        "1"
    );
    let undone = server
        .get_json(&["get", "replicaset", &second])
        .expect("second set");
    assert_eq!(undone["spec"]["replicas"], 0);
    let history = server.ok(&["rollout", "history", "deployment/web"]);
    let revisions: Vec<&str> = history
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|w| w.parse::<u32>().is_ok())
        .collect();
    assert_eq!(revisions, ["2", "3"], "{history}");

    // Scale up and down.
    server.ok(&["scale", "deployment/web", "--replicas=5"]);
    wait_pods(&server, "app=web", 5, "nginx:1");
    rollout_status(&server, "web");
    server.ok(&["scale", "deployment/web", "--replicas=2"]);
    wait_pods(&server, "app=web", 2, "nginx:1");
    wait_for("status of 2 replicas", WAIT, || {
        let web = server.get_json(&["get", "deployment", "web"])?;
        (web["status"]["replicas"] == 2 && web["status"]["availableReplicas"] == 2).then_some(())
    });
    let set = server
        .get_json(&["get", "replicaset", &first])
        .expect("first set");
    assert_eq!(
        set["metadata"]["annotations"]["deployment.kubernetes.io/desired-replicas"],
        "2"
    );
}

#[test]
fn pause_resume_and_restart() {
    let server = TestServer::start_with(&["--sim-nodes", "3"]);
    server.ok_stdin(&["apply", "-f", "-"], WEB);
    rollout_status(&server, "web");

    server.ok(&["rollout", "pause", "deployment/web"]);
    server.ok(&["set", "image", "deployment/web", "c=nginx:2"]);
    wait_for("the paused condition", WAIT, || {
        let web = server.get_json(&["get", "deployment", "web"])?;
        let progressing = condition(&web, "Progressing");
        (progressing["reason"] == "DeploymentPaused" && progressing["status"] == "Unknown")
            .then_some(())
    });
    // Paused: no rollout.
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(replica_sets(&server, "app=web").len(), 1);
    wait_pods(&server, "app=web", 3, "nginx:1");

    server.ok(&["rollout", "resume", "deployment/web"]);
    rollout_status(&server, "web");
    wait_pods(&server, "app=web", 3, "nginx:2");
    assert_eq!(replica_sets(&server, "app=web").len(), 2);

    server.ok(&["rollout", "restart", "deployment/web"]);
    rollout_status(&server, "web");
    let sets = replica_sets(&server, "app=web");
    assert_eq!(sets.len(), 3);
    let newest = sets
        .iter()
        .find(|rs| rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "3")
        .expect("revision 3");
    assert!(newest
        .pointer("/spec/template/metadata/annotations/kubectl.kubernetes.io~1restartedAt")
        .is_some());
    assert_eq!(newest["spec"]["replicas"], 3);
    let pods = wait_pods(&server, "app=web", 3, "nginx:2");
    let hash = str_at(newest, "/metadata/labels/pod-template-hash");
    assert!(pods
        .iter()
        .all(|p| str_at(p, "/metadata/labels/pod-template-hash") == hash));
}

#[test]
fn recreate_replaces_all_pods_at_once() {
    let server = TestServer::start_with(&["--sim-nodes", "3"]);
    let recreate = WEB.replace(
        "  replicas: 3\n",
        "  replicas: 2\n  strategy:\n    type: Recreate\n",
    );
    server.ok_stdin(&["apply", "-f", "-"], &recreate);
    rollout_status(&server, "web");
    wait_pods(&server, "app=web", 2, "nginx:1");
    server.ok(&["set", "image", "deployment/web", "c=nginx:2"]);
    rollout_status(&server, "web");
    wait_pods(&server, "app=web", 2, "nginx:2");
    let sets = replica_sets(&server, "app=web");
    assert_eq!(sets.len(), 2);
    assert!(sets.iter().any(|rs| rs["spec"]["replicas"] == 0));
}

const SOLO: &str = r#"
apiVersion: apps/v1
kind: ReplicaSet
metadata:
  name: solo
spec:
  replicas: 2
  selector:
    matchLabels:
      app: solo
  template:
    metadata:
      labels:
        app: solo
    spec:
      containers:
      - name: c
        image: nginx:1
"#;

const ORPHAN: &str = r#"
apiVersion: v1
kind: Pod
metadata:
  name: orphan
  labels:
    app: solo
spec:
  containers:
  - name: c
    image: nginx:1
"#;

fn controller_name(pod: &Value) -> Option<String> {
    pod.pointer("/metadata/ownerReferences")?
        .as_array()?
        .iter()
        .find(|o| o["controller"] == true)
        .map(|o| str_at(o, "/name").to_string())
}

#[test]
fn replica_sets_adopt_release_and_scale() {
    let server = TestServer::start_with(&["--sim-nodes", "3"]);
    server.ok_stdin(&["apply", "-f", "-"], ORPHAN);
    wait_pods(&server, "app=solo", 1, "nginx:1");
    server.ok_stdin(&["apply", "-f", "-"], SOLO);

    // The orphan counts: only one pod is made.
    let pods = wait_pods(&server, "app=solo", 2, "nginx:1");
    assert!(pods.iter().any(|p| str_at(p, "/metadata/name") == "orphan"));
    assert!(
        pods.iter()
            .all(|p| controller_name(p).as_deref() == Some("solo")),
        "{pods:?}"
    );
    wait_for("the ReplicaSet status", WAIT, || {
        let rs = server.get_json(&["get", "replicaset", "solo"])?;
        let status = &rs["status"];
        let good = status["replicas"] == 2
            && status["readyReplicas"] == 2
            && status["availableReplicas"] == 2
            && status["fullyLabeledReplicas"] == 2
            && status["observedGeneration"] == rs["metadata"]["generation"];
        good.then_some(())
    });

    // A pod that leaves the selector is released and replaced.
    server.ok(&["label", "pod", "orphan", "app=other", "--overwrite"]);
    wait_for("the released pod", WAIT, || {
        let pod = server.get_json(&["get", "pod", "orphan"])?;
        controller_name(&pod).is_none().then_some(())
    });
    wait_pods(&server, "app=solo", 2, "nginx:1");

    server.ok(&["scale", "replicaset", "solo", "--replicas=1"]);
    wait_pods(&server, "app=solo", 1, "nginx:1");
    // The released pod is left alone.
    assert!(server.get_json(&["get", "pod", "orphan"]).is_some());
}

#[test]
fn a_rollout_that_makes_no_progress_exceeds_its_deadline() {
    let server = TestServer::start_with(&["--sim-nodes", "3"]);
    let stuck = WEB
        .replace("  replicas: 3\n", "  replicas: 2\n  progressDeadlineSeconds: 3\n")
        .replace(
            "      labels:\n        app: web\n    spec:",
            "      labels:\n        app: web\n      annotations:\n        sim.capstan.dev/ready: \"false\"\n    spec:",
        );
    server.ok_stdin(&["apply", "-f", "-"], &stuck);
    let web = wait_for("the deadline to pass", WAIT, || {
        let web = server.get_json(&["get", "deployment", "web"])?;
        (condition(&web, "Progressing")["reason"] == "ProgressDeadlineExceeded").then_some(web)
    });
    let progressing = condition(&web, "Progressing");
    assert_eq!(progressing["status"], "False");
    let set = str_at(&replica_sets(&server, "app=web")[0], "/metadata/name").to_string();
    assert_eq!(
        progressing["message"],
        format!("ReplicaSet \"{set}\" has timed out progressing.").as_str()
    );
    let available = condition(&web, "Available");
    assert_eq!(available["status"], "False");
    assert_eq!(available["reason"], "MinimumReplicasUnavailable");
    let error = server.fails(&["rollout", "status", "deployment/web", "--timeout=30s"]);
    assert!(
        error.contains("deployment \"web\" exceeded its progress deadline"),
        "{error}"
    );
}
