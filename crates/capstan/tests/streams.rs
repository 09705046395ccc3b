//! `kubectl exec`, `attach`, `run -i`, `port-forward` and `cp` against
//! real containers, through the API server and the node's endpoint. Run
//! one at a time with the other container tests (nextest group
//! `containers`).

mod support;

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::cluster::{can_run_containers, image, Cluster};

/// A pod of two containers that stay up; `web` serves HTTP on 8080.
fn two_containers(cluster: &Cluster) {
    cluster.apply(&format!(
        r#"
apiVersion: v1
kind: Pod
metadata: {{name: pair}}
spec:
  containers:
  - name: web
    image: {image}
    command: ["sh", "-c", "mkdir -p /www && echo served > /www/index.html && exec httpd -f -p 8080 -h /www"]
  - name: side
    image: {image}
    command: ["sleep", "3600"]
"#,
        image = image()
    ));
    cluster.wait_running("pair");
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn exec_runs_commands_in_the_chosen_container_with_stdin_and_exit_codes() {
    if !can_run_containers() {
        return;
    }
    let cluster = Cluster::start();
    two_containers(&cluster);
    let server = &cluster.server;

    // Output streams apart, and the command's exit code is kubectl's.
    let output = server.kubectl(&[
        "exec",
        "pair",
        "-c",
        "side",
        "--",
        "sh",
        "-c",
        "echo out; echo err >&2; hostname; exit 3",
    ]);
    assert_eq!(output.status.code(), Some(3), "{}", text(&output.stderr));
    assert_eq!(text(&output.stdout), "out\npair\n");
    assert!(
        text(&output.stderr).contains("err"),
        "{}",
        text(&output.stderr)
    );

    // Standard input reaches the command; the containers share the
    // network, so `side` reaches `web` on localhost.
    let counted = server.ok_stdin(
        &[
            "exec", "-i", "pair", "-c", "side", "--", "sh", "-c", "wc -c",
        ],
        "twelve bytes",
    );
    assert_eq!(counted.trim(), "12");
    let fetched = server.ok(&[
        "exec",
        "pair",
        "-c",
        "side",
        "--",
        "wget",
        "-qO-",
        "http://127.0.0.1:8080/index.html",
    ]);
    assert_eq!(fetched, "served\n");

    // Refusals as upstream words them.
    let wrong = server.kubectl(&["exec", "pair", "-c", "nope", "--", "true"]);
    assert!(!wrong.status.success());
    assert!(
        text(&wrong.stderr).contains("container nope is not valid for pod pair"),
        "{}",
        text(&wrong.stderr)
    );
    let missing = server.kubectl(&["exec", "pair", "-c", "side", "--", "no-such-binary"]);
    assert!(!missing.status.success());
    assert!(
        text(&missing.stderr).contains("no-such-binary"),
        "{}",
        text(&missing.stderr)
    );
}

#[test]
fn run_interactive_attaches_to_the_container() {
    if !can_run_containers() {
        return;
    }
    let cluster = Cluster::start();
    // `kubectl run -i` creates the pod, attaches with stdin and, with
    // --rm, deletes it after.
    let output = cluster.server.kubectl_stdin(
        &[
            "run",
            "ask",
            "-i",
            "--rm",
            "--restart=Never",
            &format!("--image={}", image()),
            "--pod-running-timeout=60s",
            "--",
            "sh",
            "-c",
            "read line; echo got $line",
        ],
        "hello\n",
    );
    let stdout = text(&output.stdout);
    assert!(output.status.success(), "{stdout}{}", text(&output.stderr));
    assert!(stdout.contains("got hello"), "{stdout}");

    // A running container's output reaches `kubectl attach`.
    cluster.apply(&format!(
        r#"
apiVersion: v1
kind: Pod
metadata: {{name: ticker}}
spec:
  restartPolicy: Never
  containers:
  - name: tick
    image: {image}
    command: ["sh", "-c", "sleep 3; for i in 1 2 3; do echo tick $i; sleep 0.2; done"]
"#,
        image = image()
    ));
    cluster.wait_running("ticker");
    let attached = cluster.server.kubectl(&["attach", "ticker"]);
    assert!(
        text(&attached.stdout).contains("tick 3"),
        "{}{}",
        text(&attached.stdout),
        text(&attached.stderr)
    );
}

#[test]
fn port_forward_reaches_the_pods_port_from_the_host() {
    if !can_run_containers() {
        return;
    }
    let cluster = Cluster::start();
    two_containers(&cluster);
    let mut forward = Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(cluster.server.kubeconfig())
        .args(["port-forward", "pod/pair", ":8080"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run kubectl port-forward");
    // "Forwarding from 127.0.0.1:PORT -> 8080"
    let mut lines = BufReader::new(forward.stdout.take().unwrap()).lines();
    let port = lines.next().and_then(|line| line.ok()).and_then(|line| {
        let rest = line.strip_prefix("Forwarding from 127.0.0.1:")?;
        rest.split(' ').next()?.parse::<u16>().ok()
    });
    let Some(port) = port else {
        let _ = forward.kill();
        let output = forward.wait_with_output().unwrap();
        panic!("port-forward did not start: {}", text(&output.stderr));
    };
    let url = format!("http://127.0.0.1:{port}/index.html");
    // Twice: each connection is its own stream.
    for _ in 0..2 {
        let fetched = Command::new("curl")
            .args(["-sf", "--max-time", "10", &url])
            .output()
            .unwrap();
        assert_eq!(
            text(&fetched.stdout),
            "served\n",
            "{}",
            text(&fetched.stderr)
        );
    }
    let _ = forward.kill();
    let _ = forward.wait();
}

#[test]
fn cp_copies_files_into_and_out_of_a_container() {
    if !can_run_containers() {
        return;
    }
    let cluster = Cluster::start();
    two_containers(&cluster);
    let server = &cluster.server;
    let dir = tempfile::tempdir().unwrap();
    let local = dir.path().join("notes.txt");
    let content: String = (0..2000).map(|i| format!("line {i}\n")).collect();
    std::fs::write(&local, &content).unwrap();

    server.ok(&[
        "cp",
        local.to_str().unwrap(),
        "pair:/tmp/notes.txt",
        "-c",
        "side",
    ]);
    let inside = server.ok(&["exec", "pair", "-c", "side", "--", "cat", "/tmp/notes.txt"]);
    assert_eq!(inside, content);

    let back = dir.path().join("back.txt");
    server.ok(&[
        "cp",
        "pair:/tmp/notes.txt",
        back.to_str().unwrap(),
        "-c",
        "side",
    ]);
    assert_eq!(std::fs::read_to_string(&back).unwrap(), content);

    // Every exec above ended: none is left running in the container.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let processes = server.ok(&["exec", "pair", "-c", "side", "--", "ps", "-o", "comm"]);
        if !processes.contains("tar") || Instant::now() > deadline {
            assert!(!processes.contains("tar"), "{processes}");
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The Rust client library speaks WebSocket (`v4.channel.k8s.io`) for
/// exec and port-forward, where kubectl falls back to SPDY.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_library_execs_and_forwards_over_websocket() {
    use k8s_openapi::api::core::v1::Pod;
    use kube::api::{Api, AttachParams};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    if !can_run_containers() {
        return;
    }
    let cluster = tokio::task::spawn_blocking(|| {
        let cluster = Cluster::start();
        two_containers(&cluster);
        cluster
    })
    .await
    .unwrap();
    let pods: Api<Pod> = Api::default_namespaced(cluster.server.client().await);
    let limit = Duration::from_secs(30);

    let params = AttachParams::default().container("side").stderr(false);
    let mut exec = pods
        .exec(
            "pair",
            ["sh", "-c", "echo from $(hostname); exit 7"],
            &params,
        )
        .await
        .expect("exec over WebSocket");
    let mut stdout = String::new();
    let mut reader = exec.stdout().expect("stdout");
    tokio::time::timeout(limit, reader.read_to_string(&mut stdout))
        .await
        .expect("output in time")
        .unwrap();
    assert_eq!(stdout, "from pair\n");
    let status = tokio::time::timeout(limit, exec.take_status().unwrap())
        .await
        .expect("status in time")
        .expect("a status");
    assert_eq!(status.status.as_deref(), Some("Failure"), "{status:?}");
    assert_eq!(
        status.reason.as_deref(),
        Some("NonZeroExitCode"),
        "{status:?}"
    );

    let mut forward = pods
        .portforward("pair", &[8080])
        .await
        .expect("port-forward");
    let mut stream = forward.take_stream(8080).expect("the port's stream");
    stream
        .write_all(b"GET /index.html HTTP/1.0\r\nHost: pair\r\n\r\n")
        .await
        .unwrap();
    let mut answer = String::new();
    tokio::time::timeout(limit, stream.read_to_string(&mut answer))
        .await
        .expect("answer in time")
        .unwrap();
    assert!(answer.starts_with("HTTP/1.1 200 OK"), "{answer}");
    assert!(answer.ends_with("served\n"), "{answer}");
    drop(stream);
    forward.abort();
    tokio::task::spawn_blocking(move || drop(cluster))
        .await
        .unwrap();
}

#[test]
fn debug_adds_an_ephemeral_container_in_the_targets_process_namespace() {
    if !can_run_containers() {
        return;
    }
    let cluster = Cluster::start();
    two_containers(&cluster);
    let server = &cluster.server;
    server.ok(&[
        "debug",
        "pair",
        &format!("--image={}", image()),
        "-c",
        "dbg",
        "--target=web",
        "--",
        "sh",
        "-c",
        "ps -o comm",
    ]);
    let pod = cluster.wait_pod("pair", "debugged", Duration::from_secs(60), |pod| {
        pod["status"]["ephemeralContainerStatuses"][0]["state"]["terminated"].is_object()
    });
    let status = &pod["status"]["ephemeralContainerStatuses"][0];
    assert_eq!(status["name"], "dbg");
    assert_eq!(status["state"]["terminated"]["exitCode"], 0, "{status}");
    // The pod's own containers are untouched.
    assert_eq!(pod["status"]["containerStatuses"][0]["restartCount"], 0);
    // It saw the target's processes: web's httpd, not side's sleep.
    let seen = server.ok(&["logs", "pair", "-c", "dbg"]);
    assert!(seen.contains("httpd"), "{seen}");
    assert!(!seen.contains("sleep"), "{seen}");

    // Interactive: `kubectl debug -i` attaches to the new container. Its
    // stdin stays open while the answer comes, as a person's would: the
    // runtime ends the attach when stdin closes (no stdinOnce here).
    let mut debug = Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(server.kubeconfig())
        .args([
            "debug",
            "pair",
            "-i",
            &format!("--image={}", image()),
            "-c",
            "shell",
        ])
        .args(["--", "sh", "-c", "read line; echo debugging $line"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("run kubectl debug");
    let mut stdin = debug.stdin.take().unwrap();
    let stdout = debug.stdout.take().unwrap();
    let (lines, received) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = lines.send(line);
        }
    });
    // The attach may start after the first line was sent: send it until
    // the answer comes.
    let deadline = Instant::now() + Duration::from_secs(60);
    let answered = loop {
        let _ = stdin.write_all(b"now\n");
        match received.recv_timeout(Duration::from_millis(500)) {
            Ok(line) if line.contains("debugging now") => break true,
            Ok(_) | Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break false,
        }
        if Instant::now() > deadline {
            break false;
        }
    };
    drop(stdin);
    let _ = debug.kill();
    let _ = debug.wait();
    assert!(
        answered,
        "no answer through kubectl debug -i; logs: {}",
        text(&server.kubectl(&["logs", "pair", "-c", "shell"]).stdout)
    );
}
