//! `pods/ephemeralcontainers` as `kubectl debug` uses it, against a server
//! with a hollow node (which does not run the debug container; only the API
//! is under test).

mod support;

use std::time::Duration;

use serde_json::{json, Value};
use support::{wait_for, TestServer};

const WAIT: Duration = Duration::from_secs(30);

const POD: &str = "apiVersion: v1
kind: Pod
metadata:
  name: p
  labels:
    app: p
spec:
  containers:
  - name: app
    image: registry.example/app:1.0
";

const SUBRESOURCE: &str = "/api/v1/namespaces/default/pods/p/ephemeralcontainers";

/// A server with pod `p` running on its hollow node.
fn server_with_pod() -> TestServer {
    let server = TestServer::start_with(&["--sim-nodes", "1"]);
    server.ok_stdin(&["apply", "-f", "-"], POD);
    wait_for("pod p Running", WAIT, || {
        let pod = server.get_json(&["get", "pod", "p"])?;
        (pod["status"]["phase"] == "Running").then_some(())
    });
    server
}

fn ephemeral(server: &TestServer) -> Vec<Value> {
    let pod = server.get_json(&["get", "pod", "p"]).expect("pod p");
    pod["spec"]["ephemeralContainers"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn debug(server: &TestServer, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["debug", "p", "--attach=false", "--profile=general"];
    args.extend_from_slice(extra);
    server.kubectl(&args)
}

fn stderr(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).to_string()
}

#[test]
fn kubectl_debug_adds_a_container_that_then_stays_as_it_is() {
    let server = server_with_pod();
    let added = debug(
        &server,
        &["--image=busybox", "--container=debugger", "--target=app"],
    );
    assert!(added.status.success(), "{}", stderr(&added));
    let jsonpath =
        "jsonpath={.spec.ephemeralContainers[0].name}/{.spec.ephemeralContainers[0].targetContainerName}";
    assert_eq!(
        server.ok(&["get", "pod", "p", "-o", jsonpath]),
        "debugger/app"
    );
    let before = ephemeral(&server);
    assert_eq!(before.len(), 1);
    assert_eq!(before[0]["image"], "busybox");
    assert_eq!(
        before[0]["securityContext"],
        json!({"capabilities": {"add": ["SYS_PTRACE"]}})
    );
    // Defaulted as any container.
    assert_eq!(before[0]["terminationMessagePath"], "/dev/termination-log");

    // The write is recorded against the subresource.
    let pod = server
        .get_json(&["get", "pod", "p", "--show-managed-fields"])
        .unwrap();
    let entry = pod["metadata"]["managedFields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["subresource"] == "ephemeralcontainers")
        .cloned()
        .expect("a managedFields entry of the subresource");
    assert_eq!(entry["manager"], "kubectl");
    assert_eq!(entry["operation"], "Update");
    let owned = entry["fieldsV1"].as_object().unwrap();
    assert_eq!(owned.keys().collect::<Vec<_>>(), ["f:spec"], "{entry}");
    assert!(
        entry["fieldsV1"]["f:spec"]["f:ephemeralContainers"]["k:{\"name\":\"debugger\"}"]
            ["f:image"]
            .is_object()
    );

    // A second debug container of the same name: kubectl sends both in one
    // strategic merge list, and the server merges them into the existing
    // one, as upstream. The general profile adds SYS_PTRACE to it again,
    // a change that is refused.
    let again = debug(
        &server,
        &["--image=busybox", "--container=debugger", "--target=app"],
    );
    assert!(!again.status.success());
    assert!(
        stderr(&again).contains("The Pod \"p\" is invalid: spec.ephemeralContainers: Forbidden: existing ephemeral containers \"debugger\" may not be changed"),
        "{}",
        stderr(&again)
    );
    // The legacy profile leaves it as it is: nothing changes.
    let legacy = server.kubectl(&[
        "debug",
        "p",
        "--attach=false",
        "--profile=legacy",
        "--image=alpine",
        "--container=debugger",
        "--target=app",
    ]);
    assert!(legacy.status.success(), "{}", stderr(&legacy));
    assert_eq!(ephemeral(&server), before);

    // A name already taken by a container of the pod.
    let taken = debug(&server, &["--image=busybox", "--container=app"]);
    assert!(!taken.status.success());
    assert!(
        stderr(&taken).contains(
            "The Pod \"p\" is invalid: spec.ephemeralContainers[1].name: Duplicate value: \"app\""
        ),
        "{}",
        stderr(&taken)
    );
    let lost = debug(
        &server,
        &["--image=busybox", "--container=d2", "--target=nope"],
    );
    assert!(!lost.status.success());
    assert!(
        stderr(&lost).contains(
            "The Pod \"p\" is invalid: spec.ephemeralContainers[1].targetContainerName: Not found: \"nope\""
        ),
        "{}",
        stderr(&lost)
    );

    // Existing ones may be neither removed nor changed.
    let patch = |kind: &str, body: &str| {
        server.fails(&[
            "patch",
            "pod",
            "p",
            "--subresource=ephemeralcontainers",
            &format!("--type={kind}"),
            "-p",
            body,
        ])
    };
    let removed = patch(
        "json",
        r#"[{"op":"remove","path":"/spec/ephemeralContainers/0"}]"#,
    );
    assert!(
        removed.contains("The Pod \"p\" is invalid: spec.ephemeralContainers: Forbidden: existing ephemeral containers \"debugger\" may not be removed"),
        "{removed}"
    );
    let changed = patch(
        "json",
        r#"[{"op":"replace","path":"/spec/ephemeralContainers/0/image","value":"alpine"}]"#,
    );
    assert!(
        changed.contains("The Pod \"p\" is invalid: spec.ephemeralContainers: Forbidden: existing ephemeral containers \"debugger\" may not be changed"),
        "{changed}"
    );
    // Strategic merge puts patch items before the server's (as upstream's
    // `mergeSortedSlice`), so the new one is at index 0.
    let with_ports = patch(
        "strategic",
        r#"{"spec":{"ephemeralContainers":[{"name":"web","image":"nginx","ports":[{"containerPort":80}]}]}}"#,
    );
    assert!(
        with_ports.contains("spec.ephemeralContainers[0].ports: Forbidden: cannot be set for an Ephemeral Container"),
        "{with_ports}"
    );
    assert_eq!(ephemeral(&server), before);

    // The pod itself cannot take them, on update or on create.
    let direct = server.fails(&[
        "patch",
        "pod",
        "p",
        "--type=merge",
        "-p",
        r#"{"spec":{"ephemeralContainers":[{"name":"x","image":"busybox"}]}}"#,
    ]);
    assert!(
        direct.contains("The Pod \"p\" is invalid: spec: Forbidden: pod updates may not change fields other than `spec.containers[*].image`"),
        "{direct}"
    );
    let manifest = POD.replace("name: p\n", "name: q\n")
        + "  ephemeralContainers:\n  - name: debugger\n    image: busybox\n";
    let created = server.fails_stdin(&["create", "-f", "-"], &manifest);
    assert!(
        created.contains(
            "The Pod \"q\" is invalid: spec.ephemeralContainers: Forbidden: cannot be set on create"
        ),
        "{created}"
    );
}

#[test]
fn the_subresource_reads_and_writes_the_pod_as_upstream() {
    let server = server_with_pod();
    let (code, body) = server.curl("GET", SUBRESOURCE, "application/json", None);
    assert_eq!(code, 200, "{body}");
    let pod: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(pod["kind"], "Pod");
    assert_eq!(pod["status"]["phase"], "Running");

    let (code, body) = server.curl(
        "GET",
        "/api/v1/namespaces/default/pods/nope/ephemeralcontainers",
        "application/json",
        None,
    );
    assert_eq!(code, 404, "{body}");
    let status: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(status["reason"], "NotFound");
    assert_eq!(status["details"]["name"], "nope");

    // A PUT takes only the ephemeral containers from its body.
    let mut sent = pod.clone();
    sent["metadata"]["labels"]["app"] = "changed".into();
    sent["spec"]["containers"][0]["image"] = "registry.example/app:2.0".into();
    sent["spec"]["ephemeralContainers"] =
        json!([{"name": "debugger", "image": "busybox", "targetContainerName": "app"}]);
    let put = |object: &Value| {
        let body = serde_json::to_vec(object).unwrap();
        server.curl("PUT", SUBRESOURCE, "application/json", Some(&body))
    };
    let (code, body) = put(&sent);
    assert_eq!(code, 200, "{body}");
    let updated: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        updated["spec"]["ephemeralContainers"][0]["name"],
        "debugger"
    );
    assert_eq!(updated["metadata"]["labels"]["app"], "p");
    assert_eq!(
        updated["spec"]["containers"][0]["image"],
        "registry.example/app:1.0"
    );

    // The old resourceVersion is stale now.
    let (code, body) = put(&sent);
    assert_eq!(code, 409, "{body}");
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["reason"],
        "Conflict"
    );

    let patch = br#"[{"op":"remove","path":"/spec/ephemeralContainers"}]"#;
    let (code, body) = server.curl(
        "PATCH",
        SUBRESOURCE,
        "application/json-patch+json",
        Some(patch),
    );
    assert_eq!(code, 422, "{body}");
    let status: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(status["reason"], "Invalid");
    assert_eq!(status["details"]["kind"], "Pod");
    let cause = &status["details"]["causes"][0];
    assert_eq!(cause["reason"], "FieldValueForbidden");
    assert_eq!(cause["field"], "spec.ephemeralContainers");

    // Server-side apply owns only what the subresource writes.
    let applied = "apiVersion: v1
kind: Pod
metadata:
  name: p
  labels:
    app: applied
spec:
  ephemeralContainers:
  - name: applied
    image: busybox
";
    server.ok_stdin(
        &[
            "apply",
            "--server-side",
            "--subresource=ephemeralcontainers",
            "--field-manager=tester",
            "-f",
            "-",
        ],
        applied,
    );
    let pod = server
        .get_json(&["get", "pod", "p", "--show-managed-fields"])
        .unwrap();
    let names: Vec<&Value> = pod["spec"]["ephemeralContainers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| &c["name"])
        .collect();
    assert_eq!(names, ["debugger", "applied"]);
    assert_eq!(pod["metadata"]["labels"]["app"], "p");
    let entry = pod["metadata"]["managedFields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["manager"] == "tester")
        .cloned()
        .expect("the applier's entry");
    assert_eq!(entry["operation"], "Apply");
    assert_eq!(entry["subresource"], "ephemeralcontainers");
    assert_eq!(
        entry["fieldsV1"],
        json!({"f:spec": {"f:ephemeralContainers": {"k:{\"name\":\"applied\"}": {
            ".": {}, "f:image": {}, "f:name": {}}}}})
    );

    let discovery: Value = serde_json::from_str(&server.ok(&["get", "--raw", "/api/v1"])).unwrap();
    let row = discovery["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "pods/ephemeralcontainers")
        .cloned()
        .expect("pods/ephemeralcontainers in discovery");
    assert_eq!(row["kind"], "Pod");
    assert_eq!(row["verbs"], json!(["get", "patch", "update"]));
}
