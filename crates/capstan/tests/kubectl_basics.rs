//! What a user does first with kubectl on a new cluster.

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::{eventually, TestServer, KUBECTL};

const DEPLOYMENT: &str = "
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels:
    app: web
spec:
  replicas: 2
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
      - name: web
        image: registry.local/web:1.0
        ports:
        - containerPort: 80
";

#[test]
fn a_fresh_server_has_the_system_namespaces() {
    let server = TestServer::start();
    let names = server.ok(&["get", "namespaces", "-o", "name"]);
    for namespace in ["default", "kube-system", "kube-public", "kube-node-lease"] {
        assert!(
            names.contains(&format!("namespace/{namespace}\n")),
            "{names}"
        );
    }
    let table = server.ok(&["get", "ns"]);
    let header: Vec<&str> = table.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(header, ["NAME", "STATUS", "AGE"]);
    assert!(table
        .lines()
        .any(|line| line.starts_with("default") && line.contains("Active")));
    let accounts = server.ok(&["get", "serviceaccounts", "-n", "kube-system", "-o", "name"]);
    assert_eq!(accounts, "serviceaccount/default\n");
}

#[test]
fn apply_creates_then_leaves_unchanged_then_configures() {
    let server = TestServer::start();
    let created = server.ok_stdin(&["apply", "-f", "-"], DEPLOYMENT);
    assert_eq!(created, "deployment.apps/web created\n");
    let unchanged = server.ok_stdin(&["apply", "-f", "-"], DEPLOYMENT);
    assert_eq!(unchanged, "deployment.apps/web unchanged\n");
    let changed = DEPLOYMENT.replace("replicas: 2", "replicas: 3");
    let configured = server.ok_stdin(&["apply", "-f", "-"], &changed);
    assert_eq!(configured, "deployment.apps/web configured\n");
    let replicas = server.ok(&[
        "get",
        "deployment",
        "web",
        "-o",
        "jsonpath={.spec.replicas}",
    ]);
    assert_eq!(replicas, "3");
    // Upstream's defaults are filled in.
    let strategy = server.ok(&[
        "get",
        "deploy",
        "web",
        "-o",
        "jsonpath={.spec.strategy.rollingUpdate.maxSurge}",
    ]);
    assert_eq!(strategy, "25%");
    let pull = server.ok(&[
        "get",
        "deploy",
        "web",
        "-o",
        "jsonpath={.spec.template.spec.containers[0].imagePullPolicy}",
    ]);
    assert_eq!(pull, "IfNotPresent");
    let generation = server.ok(&[
        "get",
        "deploy",
        "web",
        "-o",
        "jsonpath={.metadata.generation}",
    ]);
    assert_eq!(generation, "2");
}

#[test]
fn configmaps_in_every_output_format() {
    let server = TestServer::start();
    let created = server.ok(&[
        "create",
        "configmap",
        "cfg",
        "--from-literal=a=1",
        "--from-literal=b=two",
    ]);
    assert_eq!(created, "configmap/cfg created\n");
    assert_eq!(
        server.ok(&["get", "cm", "cfg", "-o", "jsonpath={.data.b}"]),
        "two"
    );
    assert_eq!(
        server.ok(&["get", "configmap", "cfg", "-o", "name"]),
        "configmap/cfg\n"
    );
    let json: serde_json::Value =
        serde_json::from_str(&server.ok(&["get", "cm", "cfg", "-o", "json"])).unwrap();
    assert_eq!(json["kind"], "ConfigMap");
    assert_eq!(json["data"]["a"], "1");
    assert!(json["metadata"]["uid"]
        .as_str()
        .is_some_and(|uid| uid.len() == 36));
    assert!(json["metadata"]["resourceVersion"]
        .as_str()
        .is_some_and(|rv| rv.parse::<u64>().is_ok()));
    let yaml = server.ok(&["get", "cm", "cfg", "-o", "yaml"]);
    assert!(
        yaml.contains("kind: ConfigMap") && yaml.contains("  a: \"1\""),
        "{yaml}"
    );
    let table = server.ok(&["get", "cm"]);
    let lines: Vec<Vec<&str>> = table
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(lines[0], ["NAME", "DATA", "AGE"]);
    assert!(
        lines.iter().any(|row| row[0] == "cfg" && row[1] == "2"),
        "{table}"
    );
    let columns = server.ok(&[
        "get",
        "cm",
        "cfg",
        "-o",
        "custom-columns=NAME:.metadata.name,A:.data.a",
    ]);
    let rows: Vec<Vec<&str>> = columns
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(rows, [vec!["NAME", "A"], vec!["cfg", "1"]]);
}

#[test]
fn labels_annotations_and_selectors() {
    let server = TestServer::start();
    // The namespace's published CA ConfigMap is there too, unlabeled.
    eventually(Duration::from_secs(10), "kube-root-ca.crt", || {
        server
            .kubectl(&["get", "cm", "kube-root-ca.crt"])
            .status
            .success()
    });
    server.ok(&["create", "configmap", "one"]);
    server.ok(&["create", "configmap", "two"]);
    assert_eq!(
        server.ok(&["label", "cm", "one", "tier=front"]),
        "configmap/one labeled\n"
    );
    assert_eq!(
        server.ok(&["label", "cm", "two", "tier=back"]),
        "configmap/two labeled\n"
    );
    assert_eq!(
        server.ok(&["annotate", "cm", "one", "note=hello"]),
        "configmap/one annotated\n"
    );
    assert_eq!(
        server.ok(&["get", "cm", "-l", "tier=front", "-o", "name"]),
        "configmap/one\n"
    );
    assert_eq!(
        server.ok(&["get", "cm", "-l", "tier!=front", "-o", "name"]),
        "configmap/kube-root-ca.crt\nconfigmap/two\n"
    );
    assert_eq!(
        server.ok(&["get", "cm", "-l", "tier in (front,back)", "-o", "name"]),
        "configmap/one\nconfigmap/two\n"
    );
    assert_eq!(
        server.ok(&[
            "get",
            "cm",
            "--field-selector",
            "metadata.name=two",
            "-o",
            "name"
        ]),
        "configmap/two\n"
    );
    assert_eq!(
        server.ok(&[
            "get",
            "cm",
            "one",
            "-o",
            "jsonpath={.metadata.annotations.note}"
        ]),
        "hello"
    );
    let shown = server.ok(&["get", "cm", "one", "--show-labels"]);
    assert!(shown.contains("tier=front"), "{shown}");
    let error = server.fails(&["get", "cm", "-l", "a in b"]);
    assert!(error.contains("unable to parse requirement"), "{error}");
    let error = server.fails(&["get", "cm", "--field-selector", "spec.nothing=x"]);
    assert!(error.contains("\"spec.nothing\" is not a known field selector: only \"metadata.name\", \"metadata.namespace\""), "{error}");
}

#[test]
fn invalid_objects_get_upstream_messages() {
    let server = TestServer::start();
    let error = server.fails(&["create", "configmap", "Bad_Name"]);
    assert!(
        error.contains("ConfigMap \"Bad_Name\" is invalid: metadata.name: Invalid value: \"Bad_Name\": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters"),
        "{error}"
    );
    let no_image = DEPLOYMENT.replace("        image: registry.local/web:1.0\n", "");
    let output = server.kubectl_stdin(&["apply", "-f", "-"], &no_image);
    let error = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(
        error.contains("spec.template.spec.containers[0].image: Required value"),
        "{error}"
    );
    let mismatch = DEPLOYMENT.replace(
        "      labels:\n        app: web\n    spec:",
        "      labels:\n        app: other\n    spec:",
    );
    let output = server.kubectl_stdin(&["create", "-f", "-"], &mismatch);
    let error = String::from_utf8_lossy(&output.stderr);
    assert!(
        error.contains("`selector` does not match template `labels`"),
        "{error}"
    );
    let error = server.fails(&["get", "configmap", "missing"]);
    assert!(
        error.contains("Error from server (NotFound): configmaps \"missing\" not found"),
        "{error}"
    );
    let error = server.fails(&["create", "namespace", "default"]);
    assert!(
        error.contains("Error from server (AlreadyExists): namespaces \"default\" already exists"),
        "{error}"
    );
    let error = server.fails(&["create", "configmap", "x", "-n", "nowhere"]);
    assert!(
        error.contains("namespaces \"nowhere\" not found"),
        "{error}"
    );
}

#[test]
fn a_stale_update_conflicts() {
    let server = TestServer::start();
    server.ok(&["create", "configmap", "cfg", "--from-literal=a=1"]);
    let old = server.ok(&["get", "cm", "cfg", "-o", "json"]);
    let first = old.replace("\"a\": \"1\"", "\"a\": \"2\"");
    server.ok_stdin(&["replace", "-f", "-"], &first);
    let second = old.replace("\"a\": \"1\"", "\"a\": \"3\"");
    let output = server.kubectl_stdin(&["replace", "-f", "-"], &second);
    let error = String::from_utf8_lossy(&output.stderr);
    assert!(
        error.contains("Operation cannot be fulfilled on configmaps \"cfg\": the object has been modified; please apply your changes to the latest version and try again"),
        "{error}"
    );
    assert_eq!(
        server.ok(&["get", "cm", "cfg", "-o", "jsonpath={.data.a}"]),
        "2"
    );
}

#[test]
fn patches_of_every_type() {
    let server = TestServer::start();
    server.ok_stdin(&["apply", "-f", "-"], DEPLOYMENT);
    server.ok(&["patch", "deploy", "web", "-p", r#"{"spec":{"template":{"spec":{"containers":[{"name":"web","image":"registry.local/web:2.0"}]}}}}"#]);
    let image = server.ok(&[
        "get",
        "deploy",
        "web",
        "-o",
        "jsonpath={.spec.template.spec.containers[0].image}",
    ]);
    assert_eq!(image, "registry.local/web:2.0");
    // The strategic merge kept the container's other fields.
    let port = server.ok(&[
        "get",
        "deploy",
        "web",
        "-o",
        "jsonpath={.spec.template.spec.containers[0].ports[0].containerPort}",
    ]);
    assert_eq!(port, "80");
    server.ok(&[
        "patch",
        "deploy",
        "web",
        "--type=merge",
        "-p",
        r#"{"metadata":{"labels":{"merged":"yes"}}}"#,
    ]);
    server.ok(&[
        "patch",
        "deploy",
        "web",
        "--type=json",
        "-p",
        r#"[{"op":"replace","path":"/spec/replicas","value":5}]"#,
    ]);
    assert_eq!(
        server.ok(&[
            "get",
            "deploy",
            "web",
            "-o",
            "jsonpath={.metadata.labels.merged} {.spec.replicas}"
        ]),
        "yes 5"
    );
    assert_eq!(
        server.ok(&["scale", "deploy", "web", "--replicas=1"]),
        "deployment.apps/web scaled\n"
    );
    assert_eq!(
        server.ok(&["get", "deploy", "web", "-o", "jsonpath={.spec.replicas}"]),
        "1"
    );
}

#[test]
fn delete_removes_objects() {
    let server = TestServer::start();
    server.ok(&["create", "configmap", "gone"]);
    assert_eq!(
        server.ok(&["delete", "configmap", "gone"]),
        "configmap \"gone\" deleted\n"
    );
    let error = server.fails(&["get", "cm", "gone"]);
    assert!(error.contains("not found"), "{error}");
    server.ok(&["create", "namespace", "scratch"]);
    server.ok(&["create", "configmap", "a", "-n", "scratch"]);
    server.ok(&["create", "configmap", "b", "-n", "scratch"]);
    let deleted = server.ok(&["delete", "configmaps", "--all", "-n", "scratch"]);
    assert!(
        deleted.contains("configmap \"a\" deleted") && deleted.contains("configmap \"b\" deleted"),
        "{deleted}"
    );
}

#[test]
fn a_restart_keeps_everything() {
    let mut server = TestServer::start();
    server.ok(&["create", "namespace", "kept"]);
    server.ok(&[
        "create",
        "configmap",
        "cfg",
        "-n",
        "kept",
        "--from-literal=k=v",
    ]);
    let before = server.ok(&[
        "get",
        "cm",
        "cfg",
        "-n",
        "kept",
        "-o",
        "jsonpath={.metadata.uid} {.metadata.resourceVersion}",
    ]);
    server.restart();
    let after = server.ok(&[
        "get",
        "cm",
        "cfg",
        "-n",
        "kept",
        "-o",
        "jsonpath={.metadata.uid} {.metadata.resourceVersion}",
    ]);
    assert_eq!(before, after);
    assert_eq!(
        server.ok(&["get", "cm", "cfg", "-n", "kept", "-o", "jsonpath={.data.k}"]),
        "v"
    );
    // New writes get newer revisions.
    server.ok(&["label", "cm", "cfg", "-n", "kept", "x=y"]);
    let newer: u64 = server
        .ok(&[
            "get",
            "cm",
            "cfg",
            "-n",
            "kept",
            "-o",
            "jsonpath={.metadata.resourceVersion}",
        ])
        .parse()
        .unwrap();
    assert!(newer > before.split(' ').nth(1).unwrap().parse().unwrap());
}

#[test]
fn get_watch_sees_changes() {
    let server = TestServer::start();
    let mut watch = Command::new(KUBECTL)
        .arg("--kubeconfig")
        .arg(server.kubeconfig())
        .args([
            "get",
            "configmaps",
            "--watch",
            "--output-watch-events",
            "--request-timeout=60s",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = watch.stdout.take().unwrap();
    let (lines, received) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = lines.send(line);
        }
    });
    // Let the watch open before changing anything.
    std::thread::sleep(Duration::from_millis(500));
    server.ok(&["create", "configmap", "seen"]);
    server.ok(&["label", "configmap", "seen", "a=b"]);
    server.ok(&["delete", "configmap", "seen"]);
    let mut events = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while events.len() < 3 && Instant::now() < deadline {
        if let Ok(line) = received.recv_timeout(Duration::from_millis(200)) {
            if line.split_whitespace().nth(1) == Some("seen") {
                events.push(line);
            }
        }
    }
    let _ = watch.kill();
    let _ = watch.wait();
    let kinds: Vec<&str> = events
        .iter()
        .map(|e| e.split_whitespace().next().unwrap())
        .collect();
    assert_eq!(kinds, ["ADDED", "MODIFIED", "DELETED"], "{events:?}");
}

#[test]
fn anonymous_requests_are_unauthorized_but_health_is_open() {
    let server = TestServer::start();
    // curl sends no credentials at all.
    let anonymous = |path: &str| {
        let output = Command::new("curl")
            .args([
                "-sk",
                "-w",
                "\n%{http_code}",
                &format!("{}{path}", server.url()),
            ])
            .output()
            .expect("curl");
        String::from_utf8(output.stdout).unwrap()
    };
    let denied = anonymous("/api/v1/namespaces");
    assert!(denied.ends_with("\n401"), "{denied}");
    assert!(denied.contains("\"reason\":\"Unauthorized\""), "{denied}");
    assert_eq!(anonymous("/readyz"), "ok\n200");
    assert_eq!(anonymous("/livez"), "ok\n200");
    assert!(anonymous("/version").contains("\"gitVersion\""));
    let empty = tempfile::NamedTempFile::new().unwrap();
    let unknown = Command::new(KUBECTL)
        .arg("--kubeconfig")
        .arg(empty.path())
        .args([
            "--server",
            &server.url(),
            "--insecure-skip-tls-verify",
            "--token",
            "not-a-known-token",
            "get",
            "namespaces",
        ])
        .output()
        .unwrap();
    assert!(!unknown.status.success());
    let error = String::from_utf8_lossy(&unknown.stderr);
    assert!(
        error.contains("You must be logged in to the server"),
        "{error}"
    );
}

#[test]
fn bearer_tokens_from_the_token_file() {
    let tokens = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(tokens.path(), "s3cret,alice,1000,\"dev\"\n").unwrap();
    let server = TestServer::start_with(&["--token-auth-file", tokens.path().to_str().unwrap()]);
    let ca = server.data_dir().join("tls/ca.crt");
    let with_token = |token: &str| {
        Command::new(KUBECTL)
            .args([
                "--server",
                &server.url(),
                "--kubeconfig",
                "/dev/null",
                "--certificate-authority",
            ])
            .arg(&ca)
            .args(["--token", token, "get", "namespaces", "-o", "name"])
            .output()
            .unwrap()
    };
    let allowed = with_token("s3cret");
    assert!(
        allowed.status.success(),
        "{}",
        String::from_utf8_lossy(&allowed.stderr)
    );
    assert!(String::from_utf8_lossy(&allowed.stdout).contains("namespace/default"));
    let denied = with_token("wrong");
    assert!(!denied.status.success());
}

#[test]
fn api_resources_and_discovery() {
    let server = TestServer::start();
    let resources = server.ok(&["api-resources"]);
    let pods = resources
        .lines()
        .find(|line| line.starts_with("pods "))
        .expect("pods listed");
    let fields: Vec<&str> = pods.split_whitespace().collect();
    assert_eq!(fields, ["pods", "po", "v1", "true", "Pod"]);
    let deployments = resources
        .lines()
        .find(|line| line.starts_with("deployments "))
        .unwrap();
    assert_eq!(
        deployments.split_whitespace().collect::<Vec<_>>(),
        ["deployments", "deploy", "apps/v1", "true", "Deployment"]
    );
    let versions = server.ok(&["api-versions"]);
    for version in [
        "v1",
        "apps/v1",
        "batch/v1",
        "autoscaling/v2",
        "rbac.authorization.k8s.io/v1",
    ] {
        assert!(versions.lines().any(|line| line == version), "{versions}");
    }
    // Short names and `all` resolve through discovery.
    server.ok_stdin(&["apply", "-f", "-"], DEPLOYMENT);
    let all = server.ok(&["get", "all", "-o", "name"]);
    assert!(all.contains("deployment.apps/web"), "{all}");
}
