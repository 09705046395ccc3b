//! StatefulSets on `capstan server --sim-nodes 3`, driven with the real
//! kubectl: stable names and claims, ordered creation and deletion,
//! scaling 0→3→1 keeping ordinals, a partitioned rolling update, and pods
//! recreated after deletion.

mod support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::Value;
use support::{wait_for, TestServer};

const WAIT: Duration = Duration::from_secs(60);

fn manifest(name: &str, replicas: u32, policy: &str, annotations: &str) -> String {
    format!(
        r#"
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: {name}
spec:
  replicas: {replicas}
  serviceName: {name}
  podManagementPolicy: {policy}
  selector:
    matchLabels:
      app: {name}
  template:
    metadata:
      labels:
        app: {name}
      annotations: {{{annotations}}}
    spec:
      containers:
      - name: nginx
        image: nginx:1
  volumeClaimTemplates:
  - metadata:
      name: www
    spec:
      accessModes: ["ReadWriteOnce"]
      resources:
        requests:
          storage: 1Gi
"#
    )
}

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

/// The set's pods by name.
fn pods(server: &TestServer, app: &str) -> BTreeMap<String, Value> {
    let Some(list) = server.get_json(&["get", "pods", "-l", &format!("app={app}")]) else {
        return BTreeMap::new();
    };
    list["items"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| (str_at(p, "/metadata/name").to_string(), p.clone()))
        .collect()
}

/// Waits until the set's pods are exactly `names`, each Running and Ready
/// and not being deleted; returns them.
fn running(server: &TestServer, app: &str, names: &[&str]) -> BTreeMap<String, Value> {
    wait_for(&format!("Ready pods {names:?}"), WAIT, || {
        let pods = pods(server, app);
        let fine = pods.len() == names.len()
            && names.iter().all(|n| {
                pods.get(*n).is_some_and(|p| {
                    is_ready(p)
                        && str_at(p, "/status/phase") == "Running"
                        && p.pointer("/metadata/deletionTimestamp").is_none()
                })
            });
        fine.then_some(pods)
    })
}

fn uid(pod: &Value) -> String {
    str_at(pod, "/metadata/uid").to_string()
}

#[test]
fn stateful_set_scales_keeping_ordinals_and_updates_by_partition() {
    let server = TestServer::start_with(&["--sim-nodes", "3"]);
    server.ok_stdin(
        &["apply", "-f", "-"],
        &manifest("web", 0, "OrderedReady", ""),
    );
    wait_for("status of the empty set", WAIT, || {
        let set = server.get_json(&["get", "sts", "web"])?;
        (set["status"]["observedGeneration"] == 1).then_some(())
    });
    assert!(pods(&server, "web").is_empty());

    server.ok(&["scale", "sts", "web", "--replicas=3"]);
    let out = server.ok(&["rollout", "status", "sts/web", "--timeout=60s"]);
    assert!(out.contains("partitioned roll out complete"), "{out}");
    let three = running(&server, "web", &["web-0", "web-1", "web-2"]);

    // Stable identity: labels, hostname, claims.
    for ordinal in 0..3 {
        let name = format!("web-{ordinal}");
        let pod = &three[&name];
        assert_eq!(
            str_at(pod, "/metadata/labels/statefulset.kubernetes.io~1pod-name"),
            name
        );
        assert_eq!(
            str_at(pod, "/metadata/labels/apps.kubernetes.io~1pod-index"),
            ordinal.to_string()
        );
        assert!(str_at(pod, "/metadata/labels/controller-revision-hash").starts_with("web-"));
        assert_eq!(str_at(pod, "/spec/hostname"), name);
        assert_eq!(str_at(pod, "/spec/subdomain"), "web");
        assert!(!str_at(pod, "/spec/nodeName").is_empty());
        let claim = format!("www-web-{ordinal}");
        assert_eq!(
            str_at(pod, "/spec/volumes/0/persistentVolumeClaim/claimName"),
            claim
        );
        let pvc = server
            .get_json(&["get", "pvc", &claim])
            .expect("claim exists");
        assert_eq!(str_at(&pvc, "/metadata/labels/app"), "web");
    }
    // OrderedReady: each pod was created only after the one before it was
    // Ready.
    for ordinal in 1..3 {
        let before = &three[&format!("web-{}", ordinal - 1)];
        let ready_at = before["status"]["conditions"]
            .as_array()
            .and_then(|c| c.iter().find(|c| c["type"] == "Ready"))
            .map(|c| str_at(c, "/lastTransitionTime").to_string())
            .unwrap_or_default();
        let created = str_at(
            &three[&format!("web-{ordinal}")],
            "/metadata/creationTimestamp",
        );
        assert!(
            created >= ready_at.as_str(),
            "web-{ordinal} created {created} before Ready {ready_at}"
        );
    }
    let set = server.get_json(&["get", "sts", "web"]).expect("set");
    let status = &set["status"];
    assert_eq!(status["replicas"], 3);
    assert_eq!(status["readyReplicas"], 3);
    assert_eq!(status["availableReplicas"], 3);
    assert_eq!(status["currentReplicas"], 3);
    assert_eq!(status["updatedReplicas"], 3);
    assert_eq!(status["currentRevision"], status["updateRevision"]);

    // Scaling down to one removes web-2 and then web-1, web-0 stays.
    let web0 = uid(&three["web-0"]);
    server.ok(&["scale", "sts", "web", "--replicas=1"]);
    let deadline = Instant::now() + WAIT;
    loop {
        let now = pods(&server, "web");
        let gone_or_going = |name: &str| {
            now.get(name)
                .is_none_or(|p| p.pointer("/metadata/deletionTimestamp").is_some())
        };
        if gone_or_going("web-1") {
            assert!(
                !now.contains_key("web-2"),
                "web-1 went before web-2 was gone"
            );
        }
        if now.len() == 1 && now.contains_key("web-0") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "scale down did not finish: {:?}",
            now.keys()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let one = running(&server, "web", &["web-0"]);
    assert_eq!(uid(&one["web-0"]), web0);
    let deletions = wait_for("two deletion events", WAIT, || {
        let events = server.get_json(&[
            "get",
            "events",
            "--field-selector",
            "reason=SuccessfulDelete",
        ])?;
        let mut deletions: Vec<(String, String)> = events["items"]
            .as_array()?
            .iter()
            .map(|e| {
                (
                    str_at(e, "/eventTime").to_string(),
                    str_at(e, "/message").to_string(),
                )
            })
            .collect();
        deletions.sort();
        (deletions.len() >= 2).then_some(deletions)
    });
    let order: Vec<&str> = deletions.iter().map(|(_, m)| m.as_str()).collect();
    assert_eq!(
        order,
        [
            "delete Pod web-2 in StatefulSet web successful",
            "delete Pod web-1 in StatefulSet web successful"
        ]
    );
    // Claims stay behind (whenScaled: Retain).
    server.ok(&["get", "pvc", "www-web-2"]);

    // Back to three, then an update with partition 2 touches only web-2.
    server.ok(&["scale", "sts", "web", "--replicas=3"]);
    let before = running(&server, "web", &["web-0", "web-1", "web-2"]);
    server.ok(&[
        "patch",
        "sts",
        "web",
        "-p",
        r#"{"spec":{"updateStrategy":{"type":"RollingUpdate","rollingUpdate":{"partition":2}}}}"#,
    ]);
    server.ok(&["set", "image", "sts/web", "nginx=nginx:2"]);
    let out = server.ok(&["rollout", "status", "sts/web", "--timeout=60s"]);
    assert!(
        out.contains("partitioned roll out complete: 1 new pods have been updated"),
        "{out}"
    );
    let after = wait_for("web-2 at nginx:2", WAIT, || {
        let pods = running(&server, "web", &["web-0", "web-1", "web-2"]);
        (str_at(&pods["web-2"], "/spec/containers/0/image") == "nginx:2").then_some(pods)
    });
    for name in ["web-0", "web-1"] {
        assert_eq!(uid(&after[name]), uid(&before[name]), "{name} was replaced");
        assert_eq!(str_at(&after[name], "/spec/containers/0/image"), "nginx:1");
    }
    let set = server.get_json(&["get", "sts", "web"]).expect("set");
    assert_eq!(set["status"]["updatedReplicas"], 1);
    assert_eq!(set["status"]["currentReplicas"], 2);
    assert_ne!(
        set["status"]["currentRevision"],
        set["status"]["updateRevision"]
    );
    assert_eq!(
        str_at(&after["web-2"], "/metadata/labels/controller-revision-hash"),
        str_at(&set, "/status/updateRevision")
    );

    // A deleted pod below the partition comes back at the old revision.
    server.ok(&["delete", "pod", "web-0", "--wait=false"]);
    let back = wait_for("web-0 recreated", WAIT, || {
        let pods = running(&server, "web", &["web-0", "web-1", "web-2"]);
        (uid(&pods["web-0"]) != uid(&before["web-0"])).then_some(pods)
    });
    assert_eq!(
        str_at(&back["web-0"], "/spec/containers/0/image"),
        "nginx:1"
    );

    // Partition 0 finishes the update.
    server.ok(&[
        "patch",
        "sts",
        "web",
        "-p",
        r#"{"spec":{"updateStrategy":{"rollingUpdate":{"partition":0}}}}"#,
    ]);
    server.ok(&["rollout", "status", "sts/web", "--timeout=60s"]);
    wait_for("all pods at nginx:2", WAIT, || {
        let pods = running(&server, "web", &["web-0", "web-1", "web-2"]);
        pods.values()
            .all(|p| str_at(p, "/spec/containers/0/image") == "nginx:2")
            .then_some(())
    });
    wait_for("the current revision to catch up", WAIT, || {
        let set = server.get_json(&["get", "sts", "web"])?;
        (set["status"]["currentRevision"] == set["status"]["updateRevision"]
            && set["status"]["currentReplicas"] == 3)
            .then_some(())
    });
}

#[test]
fn ordered_ready_waits_for_readiness_and_parallel_does_not() {
    let server = TestServer::start_with(&["--sim-nodes", "3"]);
    let never_ready = r#""sim.capstan.dev/ready": "false""#;
    server.ok_stdin(
        &["apply", "-f", "-"],
        &manifest("slow", 2, "OrderedReady", never_ready),
    );
    server.ok_stdin(
        &["apply", "-f", "-"],
        &manifest("fast", 2, "Parallel", never_ready),
    );
    wait_for("both parallel pods running", WAIT, || {
        let pods = pods(&server, "fast");
        (pods.len() == 2
            && pods
                .values()
                .all(|p| str_at(p, "/status/phase") == "Running"))
        .then_some(())
    });
    wait_for("slow-0 running", WAIT, || {
        let pods = pods(&server, "slow");
        (pods
            .get("slow-0")
            .is_some_and(|p| str_at(p, "/status/phase") == "Running"))
        .then_some(())
    });
    // slow-0 never becomes Ready, so slow-1 is never made.
    std::thread::sleep(Duration::from_secs(3));
    let slow = pods(&server, "slow");
    assert_eq!(slow.keys().collect::<Vec<_>>(), ["slow-0"]);
    let set = server.get_json(&["get", "sts", "slow"]).expect("set");
    assert_eq!(set["status"]["replicas"], 1);
    assert_eq!(set["status"]["readyReplicas"].as_i64().unwrap_or(0), 0);
    let out = server.kubectl(&["rollout", "status", "sts/slow", "--timeout=2s"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("Waiting for 2 pods to be ready"));
}
