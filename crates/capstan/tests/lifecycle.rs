//! What the node agent tells about containers and does around their
//! lives, with real containers: events (`kubectl describe`), termination
//! messages, and postStart and preStop hooks. Run one at a time with the
//! other container tests (nextest group `containers`).

mod support;

use std::time::{Duration, Instant};

use support::cluster::{can_run_containers, image, Cluster, POD_START};
use support::wait_for;

#[test]
fn the_agent_records_events_users_see_in_describe() {
    if !can_run_containers() {
        return;
    }
    let cluster = Cluster::start();
    cluster.apply(&format!(
        r#"
apiVersion: v1
kind: Pod
metadata: {{name: web}}
spec:
  containers:
  - name: web
    image: {image}
    imagePullPolicy: Always
    command: ["sleep", "3600"]
    readinessProbe:
      exec: {{command: ["sh", "-c", "echo not ready; exit 1"]}}
      periodSeconds: 1
---
apiVersion: v1
kind: Pod
metadata: {{name: crash}}
spec:
  containers:
  - name: crash
    image: {image}
    command: ["sh", "-c", "exit 1"]
"#,
        image = image()
    ));
    let server = &cluster.server;
    let image = image();
    // Every line upstream's kubelet records on the way to a running
    // container, from the kubelet, about the container.
    let wanted = [
        format!("Pulling image \"{image}\""),
        format!("Successfully pulled image \"{image}\" in "),
        "Created container: web".to_string(),
        "Started container web".to_string(),
        "Readiness probe failed: not ready".to_string(),
    ];
    let deadline = Instant::now() + POD_START;
    let described = loop {
        let out = server.ok(&["describe", "pod", "web"]);
        if wanted.iter().all(|line| out.contains(line)) {
            break out;
        }
        assert!(Instant::now() < deadline, "events missing: {out}");
        std::thread::sleep(Duration::from_millis(300));
    };
    assert!(described.contains("kubelet"), "{described}");
    let events = server.ok(&[
        "get",
        "events",
        "--field-selector",
        "involvedObject.name=web,reason=Started",
        "-o",
        "jsonpath={.items[0].involvedObject.fieldPath} {.items[0].reportingComponent}",
    ]);
    assert_eq!(events, "spec.containers{web} kubelet");

    // A crashing container: the back-off is an event too.
    wait_for("the BackOff event of crash", POD_START, || {
        let out = server.ok(&["describe", "pod", "crash"]);
        out.contains("Back-off restarting failed container crash in pod crash_default(")
            .then_some(())
    });
}

#[test]
fn termination_messages_come_from_the_file_or_the_log() {
    if !can_run_containers() {
        return;
    }
    let cluster = Cluster::start();
    cluster.apply(&format!(
        r#"
apiVersion: v1
kind: Pod
metadata: {{name: ending}}
spec:
  restartPolicy: Never
  containers:
  - name: file
    image: {image}
    command: ["sh", "-c", "echo custom message > /dev/termination-log; exit 1"]
  - name: elsewhere
    image: {image}
    terminationMessagePath: /tmp/why
    command: ["sh", "-c", "echo written elsewhere > /tmp/why"]
  - name: logs
    image: {image}
    terminationMessagePolicy: FallbackToLogsOnError
    command: ["sh", "-c", "echo first; echo last words; exit 2"]
"#,
        image = image()
    ));
    let pod = cluster.wait_pod("ending", "done", POD_START, |pod| {
        pod["status"]["phase"] == "Failed"
    });
    let message = |name: &str| {
        let statuses = pod["status"]["containerStatuses"].as_array().unwrap();
        let status = statuses.iter().find(|s| s["name"] == name).unwrap();
        status["state"]["terminated"]["message"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    assert_eq!(message("file"), "custom message\n");
    assert_eq!(message("elsewhere"), "written elsewhere\n");
    assert_eq!(message("logs"), "first\nlast words\n");
}

#[test]
fn post_start_and_pre_stop_hooks_run() {
    if !can_run_containers() {
        return;
    }
    let cluster = Cluster::start();
    let host = tempfile::tempdir().unwrap();
    cluster.apply(&format!(
        r#"
apiVersion: v1
kind: Pod
metadata: {{name: hooked}}
spec:
  terminationGracePeriodSeconds: 10
  volumes:
  - name: out
    hostPath: {{path: {dir}}}
  containers:
  - name: app
    image: {image}
    command: ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 0.1; done"]
    volumeMounts: [{{name: out, mountPath: /out}}]
    lifecycle:
      postStart:
        exec: {{command: ["sh", "-c", "echo started > /out/post-start"]}}
      preStop:
        exec: {{command: ["sh", "-c", "echo stopping > /out/pre-stop"]}}
"#,
        image = image(),
        dir = host.path().display()
    ));
    cluster.wait_running("hooked");
    let post_start = std::fs::read_to_string(host.path().join("post-start")).unwrap();
    assert_eq!(post_start, "started\n");
    assert!(!host.path().join("pre-stop").exists());
    cluster
        .server
        .ok(&["delete", "pod", "hooked", "--wait=true"]);
    let pre_stop = std::fs::read_to_string(host.path().join("pre-stop")).unwrap();
    assert_eq!(pre_stop, "stopping\n");

    // A failing postStart hook stops the container and says so.
    cluster.apply(&format!(
        r#"
apiVersion: v1
kind: Pod
metadata: {{name: refused}}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: app
    image: {image}
    command: ["sleep", "3600"]
    lifecycle:
      postStart:
        exec: {{command: ["sh", "-c", "exit 3"]}}
"#,
        image = image()
    ));
    wait_for("the FailedPostStartHook event", POD_START, || {
        let out = cluster.server.ok(&["describe", "pod", "refused"]);
        out.contains("FailedPostStartHook").then_some(())
    });
    let pod = cluster.wait_pod("refused", "restarted", Duration::from_secs(40), |pod| {
        pod["status"]["containerStatuses"][0]["restartCount"]
            .as_i64()
            .is_some_and(|n| n >= 1)
    });
    assert_eq!(pod["status"]["phase"], "Running", "{:#}", pod["status"]);
}

#[test]
fn the_node_reports_its_conditions_and_images() {
    if !can_run_containers() {
        return;
    }
    let cluster = Cluster::start();
    cluster.apply(&format!(
        r#"
apiVersion: v1
kind: Pod
metadata: {{name: holder}}
spec:
  containers:
  - name: app
    image: {image}
    command: ["sleep", "3600"]
"#,
        image = image()
    ));
    cluster.wait_running("holder");
    let server = &cluster.server;
    let image = image();
    // The image list follows pulls within a heartbeat or two.
    let node = wait_for("the pulled image in the node's status", POD_START, || {
        let node = server.get_json(&["get", "node", support::cluster::NODE])?;
        let images = node["status"]["images"].as_array()?.clone();
        let listed = images.iter().any(|i| {
            i["names"]
                .as_array()
                .is_some_and(|names| names.iter().any(|n| n == image.as_str()))
        });
        listed.then_some(node)
    });
    let images = node["status"]["images"].as_array().unwrap();
    assert!(
        images
            .iter()
            .all(|i| i["sizeBytes"].as_i64().unwrap_or(0) > 0),
        "{images:?}"
    );
    let condition = |kind: &str| {
        let all = node["status"]["conditions"].as_array().unwrap();
        let found = all.iter().find(|c| c["type"] == kind).unwrap();
        (
            found["status"].as_str().unwrap().to_string(),
            found["reason"].as_str().unwrap().to_string(),
        )
    };
    assert_eq!(condition("Ready"), ("True".into(), "KubeletReady".into()));
    assert_eq!(
        condition("MemoryPressure"),
        ("False".into(), "KubeletHasSufficientMemory".into())
    );
    assert_eq!(
        condition("DiskPressure"),
        ("False".into(), "KubeletHasNoDiskPressure".into())
    );
}

#[test]
fn a_node_under_disk_pressure_is_tainted_and_takes_no_new_pods() {
    if !can_run_containers() {
        return;
    }
    // Any disk is under 99.9% free: the node is under pressure from the
    // start.
    let cluster = Cluster::start_with(&["--eviction-hard", "nodefs.available<99.9%"]);
    let server = &cluster.server;
    let node = support::cluster::NODE;
    wait_for("DiskPressure and its taint", POD_START, || {
        let node = server.get_json(&["get", "node", node])?;
        let pressed = node["status"]["conditions"]
            .as_array()?
            .iter()
            .any(|c| c["type"] == "DiskPressure" && c["status"] == "True");
        let tainted = node["spec"]["taints"].as_array().is_some_and(|t| {
            t.iter()
                .any(|t| t["key"] == "node.kubernetes.io/disk-pressure")
        });
        (pressed && tainted).then_some(())
    });
    server.ok(&[
        "run",
        "late",
        &format!("--image={}", image()),
        "--",
        "sleep",
        "60",
    ]);
    let message = wait_for("the pod to be refused", POD_START, || {
        let pod = server.get_json(&["get", "pod", "late"])?;
        let conditions = pod["status"]["conditions"].as_array()?.clone();
        let scheduled = conditions.iter().find(|c| c["type"] == "PodScheduled")?;
        (scheduled["status"] == "False").then(|| scheduled["message"].to_string())
    });
    assert!(
        message.contains("untolerated taint {node.kubernetes.io/disk-pressure: }"),
        "{message}"
    );
}

#[test]
fn a_missing_config_map_keeps_the_pod_creating_until_it_appears() {
    if !can_run_containers() {
        return;
    }
    let cluster = Cluster::start();
    cluster.apply(&format!(
        r#"
apiVersion: v1
kind: Pod
metadata: {{name: mounted}}
spec:
  volumes:
  - name: config
    configMap: {{name: settings}}
  containers:
  - name: app
    image: {image}
    command: ["sh", "-c", "cat /config/mode; echo; sleep 3600"]
    volumeMounts: [{{name: config, mountPath: /config}}]
"#,
        image = image()
    ));
    let server = &cluster.server;
    let pod = cluster.wait_pod("mounted", "waiting", POD_START, |pod| {
        pod["status"]["containerStatuses"][0]["state"]["waiting"]["reason"] == "ContainerCreating"
            && pod["status"]["phase"] == "Pending"
    });
    assert_eq!(pod["status"]["phase"], "Pending");
    wait_for("the FailedMount event", POD_START, || {
        let out = server.ok(&["describe", "pod", "mounted"]);
        out.contains(
            "MountVolume.SetUp failed for volume \"config\" : configmap \"settings\" not found",
        )
        .then_some(())
    });
    server.ok(&[
        "create",
        "configmap",
        "settings",
        "--from-literal=mode=fast",
    ]);
    cluster.wait_running("mounted");
    let logs = wait_for("the mounted file in the log", POD_START, || {
        let out = server.ok(&["logs", "mounted"]);
        (!out.is_empty()).then_some(out)
    });
    assert_eq!(logs, "fast\n");
}
