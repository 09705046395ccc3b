//! Workloads on real containers: a Deployment rolling to a new image,
//! and pods running an image imported from a tarball (no registry). Run
//! one at a time with the other container tests (nextest group
//! `containers`).

mod support;

use std::process::Command;
use std::time::Duration;

use support::cluster::{can_run_containers, image, registry, Cluster, POD_START};
use support::images::busybox_image;
use support::wait_for;

#[test]
fn a_deployment_of_three_rolls_to_a_new_image() {
    if !can_run_containers() {
        return;
    }
    // The same busybox under a second tag: a new image for the rollout.
    registry().push("busybox", "next", &busybox_image());
    let next = format!("{}/busybox:next", registry().host());
    let cluster = Cluster::start();
    let server = &cluster.server;
    cluster.apply(&format!(
        r#"
apiVersion: apps/v1
kind: Deployment
metadata: {{name: web}}
spec:
  replicas: 3
  selector: {{matchLabels: {{app: web}}}}
  strategy:
    rollingUpdate: {{maxSurge: 1, maxUnavailable: 0}}
  template:
    metadata: {{labels: {{app: web}}}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: web
        image: {image}
        command: ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 0.2; done"]
        readinessProbe:
          exec: {{command: ["true"]}}
          periodSeconds: 1
"#,
        image = image()
    ));
    server.ok(&["rollout", "status", "deployment/web", "--timeout=120s"]);
    server.ok(&["set", "image", "deployment/web", &format!("web={next}")]);
    let status = server.ok(&["rollout", "status", "deployment/web", "--timeout=120s"]);
    assert!(status.contains("successfully rolled out"), "{status}");
    // Three running pods, every one on the new image, each a real
    // container.
    let pods = wait_for("three pods on the new image only", POD_START, || {
        let pods = server.get_json(&["get", "pods", "-l", "app=web"])?;
        let items = pods["items"].as_array()?.clone();
        let done = items.len() == 3
            && items.iter().all(|p| {
                p["status"]["phase"] == "Running"
                    && p["status"]["containerStatuses"][0]["image"] == next.as_str()
                    && p["status"]["containerStatuses"][0]["ready"] == true
            });
        done.then_some(items)
    });
    for pod in &pods {
        let id = pod["status"]["containerStatuses"][0]["containerID"]
            .as_str()
            .unwrap();
        assert!(id.starts_with("containerd://"), "{id}");
    }
    let history = server.ok(&["rollout", "history", "deployment/web"]);
    assert!(
        history.contains("1 ") && history.contains("2 "),
        "{history}"
    );
}

#[test]
fn pods_run_an_image_imported_from_a_tarball() {
    if !can_run_containers() {
        return;
    }
    let cluster = Cluster::start();
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("tools.tar");
    // A name no registry serves: the pod can only run from the import.
    let reference = "capstan.local/tools:1.0";
    std::fs::write(&archive, busybox_image().archive(reference)).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_capstan"))
        .args(["images", "import", "--data-dir"])
        .arg(cluster.server.data_dir())
        .arg(&archive)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    cluster.apply(&format!(
        r#"
apiVersion: v1
kind: Pod
metadata: {{name: offline}}
spec:
  restartPolicy: Never
  containers:
  - name: tools
    image: {reference}
    imagePullPolicy: Never
    command: ["sh", "-c", "echo from the tarball"]
"#
    ));
    cluster.wait_pod("offline", "done", Duration::from_secs(60), |pod| {
        pod["status"]["phase"] == "Succeeded"
    });
    let logs = cluster.server.ok(&["logs", "offline"]);
    assert_eq!(logs, "from the tarball\n");
}
