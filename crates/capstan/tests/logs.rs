//! `kubectl logs` through the API server to the node's endpoint, which
//! reads the CRI log files of real containers. Run one at a time (nextest
//! group `containers`) with the other tests of real containers.

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use support::cluster::{can_run_containers, image, Cluster, NODE, POD_START};
use support::{wait_for, TestServer, KUBECTL};

/// Waits until `kubectl logs ARGS` prints `expected`.
fn wait_logs(cluster: &Cluster, args: &[&str], expected: &str) {
    let mut all = vec!["logs"];
    all.extend_from_slice(args);
    wait_for(
        &format!("kubectl {all:?} to print {expected:?}"),
        POD_START,
        || {
            let output = cluster.server.kubectl(&all);
            (String::from_utf8_lossy(&output.stdout) == expected).then_some(())
        },
    );
}

/// `kubectl ARGS`, asserting failure; its standard error.
fn fails(server: &TestServer, args: &[&str]) -> String {
    server.fails(args).trim_end().to_string()
}

#[test]
fn logs_of_running_containers() {
    if !can_run_containers() {
        return;
    }
    let cluster = Cluster::start();
    cluster.apply(&format!(
        r#"
apiVersion: v1
kind: Pod
metadata: {{name: lines}}
spec:
  containers:
  - name: app
    image: {image}
    command: ["sh", "-c", "echo one; echo two; sleep 0.5; echo three >&2; exec sleep 3600"]
---
apiVersion: v1
kind: Pod
metadata: {{name: pair}}
spec:
  containers:
  - name: a
    image: {image}
    command: ["sh", "-c", "echo from a; exec sleep 3600"]
  - name: b
    image: {image}
    command: ["sh", "-c", "echo from b; exec sleep 3600"]
---
apiVersion: v1
kind: Pod
metadata: {{name: waiting}}
spec:
  initContainers:
  - name: setup
    image: {image}
    command: ["sleep", "3600"]
  containers:
  - name: main
    image: {image}
    command: ["sh", "-c", "echo never"]
"#,
        image = image()
    ));
    cluster.wait_running("lines");
    let server = &cluster.server;
    // stdout and stderr, in the order written.
    wait_logs(&cluster, &["lines"], "one\ntwo\nthree\n");
    assert_eq!(
        server.ok(&["logs", "lines", "-c", "app"]),
        "one\ntwo\nthree\n"
    );
    assert_eq!(server.ok(&["logs", "lines", "--tail=2"]), "two\nthree\n");
    assert_eq!(
        server.ok(&["logs", "lines", "--insecure-skip-tls-verify-backend"]),
        "one\ntwo\nthree\n"
    );
    assert_eq!(server.ok(&["logs", "lines", "--limit-bytes=6"]), "one\ntw");
    assert_eq!(
        server.ok(&["logs", "lines", "--since=1h"]),
        "one\ntwo\nthree\n"
    );
    let stamped = server.ok(&["logs", "lines", "--timestamps"]);
    let lines: Vec<&str> = stamped.lines().collect();
    assert_eq!(lines.len(), 3, "{stamped}");
    for (line, text) in lines.iter().zip(["one", "two", "three"]) {
        let (time, rest) = line.split_once(' ').unwrap();
        assert_eq!(rest, text);
        // RFC 3339 in UTC, nanoseconds always nine digits.
        assert_eq!(time.len(), "2016-10-06T00:17:09.669794202Z".len(), "{line}");
        assert!(time.ends_with('Z') && time.as_bytes()[19] == b'.', "{line}");
    }
    assert_eq!(
        fails(server, &["logs", "lines", "--previous"]),
        r#"Error from server (BadRequest): previous terminated container "app" in pod "lines" not found"#
    );

    // Two containers: -c picks one; kubectl defaults to the first.
    cluster.wait_running("pair");
    wait_logs(&cluster, &["pair", "-c", "b"], "from b\n");
    let defaulted = server.kubectl(&["logs", "pair"]);
    assert_eq!(String::from_utf8_lossy(&defaulted.stdout), "from a\n");
    assert!(String::from_utf8_lossy(&defaulted.stderr)
        .contains(r#"Defaulted container "a" out of: a, b"#));
    let all = server.ok(&["logs", "pair", "--all-containers", "--prefix"]);
    let mut all: Vec<&str> = all.lines().collect();
    all.sort();
    assert_eq!(all, ["[pod/pair/a] from a", "[pod/pair/b] from b"]);
    // The API itself wants a container when there are two.
    assert_eq!(
        fails(server, &["get", "--raw", "/api/v1/namespaces/default/pods/pair/log"]),
        "Error from server (BadRequest): a container name must be specified for pod pair, choose one of: [a b]"
    );

    // A container that has not started has no logs yet.
    cluster.wait_pod("waiting", "initializing", POD_START, |pod| {
        pod["status"]["initContainerStatuses"][0]["state"]["running"].is_object()
    });
    assert_eq!(
        fails(server, &["logs", "waiting", "-c", "main"]),
        r#"Error from server (BadRequest): container "main" in pod "waiting" is waiting to start: PodInitializing"#
    );

    // The node's endpoint serves only the API server (a client
    // certificate of the cluster CA).
    let port = server.ok(&[
        "get",
        "node",
        NODE,
        "-o",
        "jsonpath={.status.daemonEndpoints.kubeletEndpoint.Port}",
    ]);
    let output = Command::new("curl")
        .args([
            "-sk",
            "--max-time",
            "10",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
        ])
        .arg(format!(
            "https://127.0.0.1:{port}/containerLogs/default/lines/app"
        ))
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&output.stdout), "401");
}

#[test]
fn follow_streams_until_the_container_exits() {
    if !can_run_containers() {
        return;
    }
    let cluster = Cluster::start();
    cluster.apply(&format!(
        r#"
apiVersion: v1
kind: Pod
metadata: {{name: ticker}}
spec:
  restartPolicy: Never
  containers:
  - name: ticker
    image: {image}
    command: ["sh", "-c", "for i in 1 2 3 4 5 6 7 8; do echo tick $i; sleep 1; done"]
"#,
        image = image()
    ));
    wait_for("the first tick", POD_START, || {
        let output = cluster.server.kubectl(&["logs", "ticker"]);
        String::from_utf8_lossy(&output.stdout)
            .starts_with("tick 1\n")
            .then_some(())
    });
    let mut follower = Command::new(KUBECTL)
        .arg("--kubeconfig")
        .arg(cluster.server.kubeconfig())
        .args(["logs", "-f", "ticker"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let before = cluster.server.ok(&["logs", "ticker"]);
    assert!(
        before.lines().count() < 8,
        "the container finished early: {before}"
    );
    let stdout = follower.stdout.take().unwrap();
    let (lines, received) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = lines.send((line, Instant::now()));
        }
    });
    let deadline = started + Duration::from_secs(60);
    let mut seen = Vec::new();
    while let Ok((line, at)) =
        received.recv_timeout(deadline.saturating_duration_since(Instant::now()))
    {
        seen.push((line, at));
    }
    // The stream ended by itself (the container exited), in bounded time.
    let status = loop {
        if let Some(status) = follower.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = follower.kill();
            panic!("kubectl logs -f did not end after the container exited: {seen:?}");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(status.success(), "kubectl logs -f: {status}");
    let texts: Vec<&str> = seen.iter().map(|(line, _)| line.as_str()).collect();
    let expected: Vec<String> = (1..=8).map(|i| format!("tick {i}")).collect();
    assert_eq!(texts, expected);
    // The last ticks came while it was following, a second apart.
    let (first, last) = (seen[0].1, seen[7].1);
    assert!(
        last.duration_since(first) >= Duration::from_secs(2),
        "{seen:?}"
    );
}

#[test]
fn previous_shows_the_instance_before_a_restart() {
    if !can_run_containers() {
        return;
    }
    let cluster = Cluster::start();
    // Each instance prints its number (kept in the pod's emptyDir), runs
    // a while and fails.
    cluster.apply(&format!(
        r#"
apiVersion: v1
kind: Pod
metadata: {{name: crasher}}
spec:
  volumes:
  - name: data
    emptyDir: {{}}
  containers:
  - name: crasher
    image: {image}
    command: ["sh", "-c", "n=$(cat /data/n 2>/dev/null || echo 0); echo attempt $n; echo $((n+1)) > /data/n; sleep 3; exit 1"]
    volumeMounts: [{{name: data, mountPath: /data}}]
"#,
        image = image()
    ));
    let status = |pod: &serde_json::Value| pod["status"]["containerStatuses"][0].clone();
    // While a restarted instance runs (its status the same before and
    // after): --previous shows the one before it, plain logs show it.
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        assert!(
            Instant::now() < deadline,
            "no restarted instance was seen running"
        );
        let before = status(&cluster.pod("crasher"));
        let restarts = before["restartCount"].as_u64().unwrap_or(0);
        if restarts == 0 || !before["state"]["running"].is_object() {
            std::thread::sleep(Duration::from_millis(200));
            continue;
        }
        let previous = cluster.server.kubectl(&["logs", "crasher", "--previous"]);
        let current = cluster.server.kubectl(&["logs", "crasher"]);
        if status(&cluster.pod("crasher")) != before {
            continue;
        }
        let stderr = String::from_utf8_lossy(&previous.stderr);
        assert!(previous.status.success(), "{stderr}");
        assert_eq!(
            String::from_utf8_lossy(&previous.stdout),
            format!("attempt {}\n", restarts - 1)
        );
        assert_eq!(
            String::from_utf8_lossy(&current.stdout),
            format!("attempt {restarts}\n")
        );
        break;
    }
}

#[test]
fn logs_of_pods_on_unreachable_nodes_fail_fast() {
    // No containers: a node nobody runs, as a hollow node's, whose
    // endpoint address answers nothing (a closed port on loopback).
    let server = TestServer::start();
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    server.ok_stdin(
        &["apply", "-f", "-"],
        "apiVersion: v1\nkind: Node\nmetadata: {name: hollow-0}\n",
    );
    let status = format!(
        r#"{{"status":{{"addresses":[{{"type":"InternalIP","address":"127.0.0.1"}}],"daemonEndpoints":{{"kubeletEndpoint":{{"Port":{port}}}}}}}}}"#
    );
    server.ok(&[
        "patch",
        "node",
        "hollow-0",
        "--subresource=status",
        "--type=merge",
        "-p",
        &status,
    ]);
    server.ok_stdin(
        &["apply", "-f", "-"],
        r#"
apiVersion: v1
kind: Pod
metadata: {name: stranded}
spec:
  nodeName: hollow-0
  containers: [{name: app, image: busybox}]
---
apiVersion: v1
kind: Pod
metadata: {name: unscheduled}
spec:
  nodeSelector: {nowhere: "true"}
  containers: [{name: a, image: busybox}, {name: b, image: busybox}]
"#,
    );
    let started = Instant::now();
    assert_eq!(
        fails(&server, &["logs", "stranded"]),
        format!(
            r#"Error from server: Get "https://127.0.0.1:{port}/containerLogs/default/stranded/app": dial tcp 127.0.0.1:{port}: connect: connection refused"#
        )
    );
    assert!(started.elapsed() < Duration::from_secs(15));
    // Not scheduled: nothing to show, and no error.
    assert_eq!(server.ok(&["logs", "unscheduled", "-c", "b"]), "");
    assert_eq!(
        fails(&server, &["get", "--raw", "/api/v1/namespaces/default/pods/unscheduled/log"]),
        "Error from server (BadRequest): a container name must be specified for pod unscheduled, choose one of: [a b]"
    );
    assert_eq!(
        fails(&server, &["logs", "ghost"]),
        r#"error: error from server (NotFound): pods "ghost" not found in namespace "default""#
    );
    let invalid = fails(
        &server,
        &[
            "get",
            "--raw",
            "/api/v1/namespaces/default/pods/stranded/log?tailLines=-1",
        ],
    );
    assert!(
        invalid.contains(r#"PodLogOptions "stranded" is invalid: tailLines: Invalid value: -1: must be greater than or equal to 0"#),
        "{invalid}"
    );
}
