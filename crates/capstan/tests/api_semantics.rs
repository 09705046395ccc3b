//! The API's rules as clients meet them: what is refused and in which
//! words, object metadata, subresources, and the server's own endpoints.

mod support;

use k8s_openapi::api::core::v1::{ConfigMap, Pod};
use kube::api::{Api, DeleteParams, PostParams, Preconditions};
use serde_json::{json, Value};
use std::time::Duration;

use support::{wait_for, TestServer};

const DEPLOYMENT: &str = "
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
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
";

fn status(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or_else(|_| panic!("a Status: {body}"))
}

#[test]
fn values_of_the_wrong_type_are_refused_as_upstream() {
    let server = TestServer::start();
    let two = DEPLOYMENT.replace("replicas: 2", "replicas: \"two\"");
    let error = server.fails_stdin(&["create", "-f", "-"], &two);
    assert!(error.contains("Error from server (BadRequest): error when creating \"STDIN\": Deployment in version \"v1\" cannot be handled as a Deployment: json: cannot unmarshal string into Go struct field DeploymentSpec.spec.replicas of type int32"), "{error}");
    server.ok_stdin(&["apply", "-f", "-"], DEPLOYMENT);
    // Through a patch, the wrong type is an invalid patch.
    let error = server.fails(&[
        "patch",
        "deploy",
        "web",
        "-p",
        r#"{"spec":{"replicas":"two"}}"#,
    ]);
    assert_eq!(
        error.trim_end(),
        r#"The request is invalid: patch: Invalid value: "map[spec:map[replicas:two]]": unrecognized type: int32"#
    );
    let error = server.fails(&[
        "patch",
        "deploy",
        "web",
        "--type=merge",
        "-p",
        r#"{"spec":{"template":{"spec":{"containers":"web"}}}}"#,
    ]);
    assert!(
        error.contains(": json: cannot unmarshal string into Go struct field PodSpec.spec.template.spec.containers of type []v1.Container"),
        "{error}"
    );
    let error = server.fails_stdin(&["apply", "-f", "-"], &two);
    assert!(error.contains("unrecognized type: int32"), "{error}");
    // Nothing of it was stored.
    assert_eq!(
        server.ok(&["get", "deploy", "web", "-o", "jsonpath={.spec.replicas}"]),
        "2"
    );
    let secret =
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: bad\ndata:\n  key: not base64!\n";
    let error = server.fails_stdin(&["create", "-f", "-"], secret);
    assert!(error.contains("Secret in version \"v1\" cannot be handled as a Secret: illegal base64 data at input byte 3"), "{error}");
    let quantity = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: greedy\nspec:\n  containers:\n  - name: c\n    image: x\n    resources:\n      limits:\n        cpu: lots\n";
    let error = server.fails_stdin(&["create", "-f", "-"], quantity);
    assert!(error.contains("Pod in version \"v1\" cannot be handled as a Pod: quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"), "{error}");
}

#[test]
fn unknown_fields_under_each_field_validation() {
    let server = TestServer::start();
    let unknown = DEPLOYMENT.replace("  replicas: 2\n", "  replicas: 2\n  foo: bar\n");
    // kubectl's default, --validate=strict, asks the server to refuse.
    let error = server.fails_stdin(&["create", "-f", "-"], &unknown);
    assert!(
        error.contains("Error from server (BadRequest): error when creating \"STDIN\": Deployment in version \"v1\" cannot be handled as a Deployment: strict decoding error: unknown field \"spec.foo\""),
        "{error}"
    );
    let warned = server.kubectl_stdin(&["create", "--validate=warn", "-f", "-"], &unknown);
    assert!(warned.status.success(), "{warned:?}");
    assert_eq!(
        String::from_utf8_lossy(&warned.stderr),
        "Warning: unknown field \"spec.foo\"\n"
    );
    assert_eq!(
        String::from_utf8_lossy(&warned.stdout),
        "deployment.apps/web created\n"
    );
    server.ok(&["delete", "deploy", "web"]);
    let ignored = server.kubectl_stdin(&["create", "--validate=false", "-f", "-"], &unknown);
    assert!(ignored.status.success(), "{ignored:?}");
    assert!(ignored.stderr.is_empty(), "{ignored:?}");
    // The unknown field is not kept, as upstream's decoder drops it.
    let stored: Value =
        serde_json::from_str(&server.ok(&["get", "deploy", "web", "-o", "json"])).unwrap();
    assert!(stored["spec"].get("foo").is_none(), "{stored}");
    // A patch with an unknown field: refused as an invalid patch under
    // Strict, a warning (and no change) under kubectl patch's Warn.
    let (code, body) = server.curl(
        "PATCH",
        "/apis/apps/v1/namespaces/default/deployments/web?fieldValidation=Strict",
        "application/strategic-merge-patch+json",
        Some(br#"{"spec":{"bar":1}}"#),
    );
    assert_eq!(code, 422, "{body}");
    let refused = status(&body);
    assert_eq!(refused["reason"], "Invalid");
    assert_eq!(
        refused["details"]["causes"][0]["message"],
        "Invalid value: \"map[spec:map[bar:1]]\": strict decoding error: unknown field \"spec.bar\""
    );
    assert_eq!(refused["details"]["causes"][0]["field"], "patch");
    let warned = server.kubectl(&["patch", "deploy", "web", "-p", r#"{"spec":{"bar":1}}"#]);
    assert!(warned.status.success());
    assert_eq!(
        String::from_utf8_lossy(&warned.stderr),
        "Warning: unknown field \"spec.bar\"\n"
    );
    assert_eq!(
        String::from_utf8_lossy(&warned.stdout),
        "deployment.apps/web patched (no change)\n"
    );
}

#[test]
fn malformed_bodies_get_upstreams_words() {
    let server = TestServer::start();
    let path = "/api/v1/namespaces/default/configmaps";
    let (code, body) = server.curl("POST", path, "application/json", Some(b"{not json"));
    assert_eq!(code, 400, "{body}");
    let body = status(&body);
    assert_eq!(body["reason"], "BadRequest");
    assert_eq!(
        body["message"],
        "the object provided is unrecognized (must be of type ConfigMap): couldn't get version/kind; json parse error: invalid character 'n' looking for beginning of object key string ({not json)"
    );
    let (code, body) = server.curl(
        "POST",
        path,
        "application/json",
        Some(br#"{"metadata": {"name": "x"}"#),
    );
    assert_eq!(code, 400);
    assert!(
        status(&body)["message"].as_str().unwrap().contains(
            "json parse error: unexpected end of JSON input ({\"metadata\": {\"name\": \"x\"})"
        ),
        "{body}"
    );
    let (code, body) = server.curl("POST", path, "application/json", Some(b"[1, 2]"));
    assert_eq!(code, 400);
    assert!(status(&body)["message"].as_str().unwrap().ends_with("json: cannot unmarshal array into Go value of type struct { APIVersion string \"json:\\\"apiVersion,omitempty\\\"\"; Kind string \"json:\\\"kind,omitempty\\\"\" } (5b312c20325d)"), "{body}");
    let (code, body) = server.curl("POST", path, "application/json", Some(b""));
    assert_eq!(code, 400);
    assert!(
        status(&body)["message"]
            .as_str()
            .unwrap()
            .ends_with("unexpected end of JSON input (<empty>)"),
        "{body}"
    );
    let (code, body) = server.curl("POST", path, "text/plain", Some(b"hello"));
    assert_eq!(code, 415, "{body}");
    assert_eq!(status(&body)["reason"], "UnsupportedMediaType");
    // A patch that is not JSON.
    server.ok(&["create", "configmap", "cfg"]);
    let (code, body) = server.curl(
        "PATCH",
        &format!("{path}/cfg"),
        "application/merge-patch+json",
        Some(b"{oops"),
    );
    assert_eq!(code, 400, "{body}");
    // Nothing a client sends brings the server down.
    assert_eq!(
        server.curl("GET", "/readyz", "text/plain", None),
        (200, "ok".to_string())
    );
}

#[test]
fn size_limits() {
    let server = TestServer::start();
    let dir = tempfile::tempdir().unwrap();
    let big = dir.path().join("big.txt");
    std::fs::write(&big, "a".repeat(1024 * 1024 + 10)).unwrap();
    let error = server.fails(&[
        "create",
        "configmap",
        "big",
        &format!("--from-file={}", big.display()),
    ]);
    assert!(
        error.contains(
            "ConfigMap \"big\" is invalid: []: Too long: may not be more than 1048576 bytes"
        ),
        "{error}"
    );
    let huge = dir.path().join("huge.txt");
    std::fs::write(&huge, "a".repeat(3 * 1024 * 1024 + 10)).unwrap();
    let error = server.fails(&[
        "create",
        "configmap",
        "huge",
        &format!("--from-file={}", huge.display()),
    ]);
    assert!(
        error.contains("Request entity too large: limit is 3145728"),
        "{error}"
    );
    let error = server.fails(&[
        "create",
        "secret",
        "generic",
        "big",
        &format!("--from-file={}", big.display()),
    ]);
    assert!(
        error.contains(
            "Secret \"big\" is invalid: data: Too long: may not be more than 1048576 bytes"
        ),
        "{error}"
    );
}

#[test]
fn bad_label_selectors() {
    let server = TestServer::start();
    let cases = [
        ("a=b=c", "found '=', expected: ',' or 'end of string'"),
        ("a in (b", "unable to parse requirement: found '', expected: ',' or ')'"),
        ("a>b", "unable to parse requirement: values[0]: Invalid value: \"b\": for 'Gt', 'Lt' operators, the value must be an integer"),
        ("-a=b", "unable to parse requirement: <nil>: Invalid value: \"-a\": name part must consist of alphanumeric characters"),
    ];
    for (selector, message) in cases {
        let error = server.fails(&["get", "cm", "-l", selector]);
        assert!(
            error.contains(&format!("Error from server (BadRequest): Unable to find \"/v1, Resource=configmaps\" that match label selector \"{selector}\", field selector \"\": {message}")),
            "{selector}: {error}"
        );
    }
    let (code, body) = server.curl(
        "GET",
        "/api/v1/configmaps?labelSelector=a%20in%20b",
        "application/json",
        None,
    );
    assert_eq!(code, 400);
    assert_eq!(
        status(&body)["message"],
        "unable to parse requirement: found 'b' expected: '('"
    );
}

#[test]
fn generate_name_finalizers_and_foreground_deletion() {
    // The API alone: no controller acts on the objects.
    let server = TestServer::start_with(&["--disable-controller-manager"]);
    let made = server.ok_stdin(
        &["create", "-f", "-", "-o", "name"],
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  generateName: job-\n",
    );
    let name = made.trim().strip_prefix("configmap/").unwrap();
    assert!(
        name.starts_with("job-") && name.len() == "job-".len() + 5,
        "{made}"
    );
    server.ok_stdin(&["create", "-f", "-"], "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: held\n  finalizers: [example.com/hold]\n");
    assert_eq!(
        server.ok(&["delete", "cm", "held", "--wait=false"]),
        "configmap \"held\" deleted\n"
    );
    let held = server.ok(&[
        "get",
        "cm",
        "held",
        "-o",
        "jsonpath={.metadata.deletionTimestamp} {.metadata.finalizers[0]}",
    ]);
    assert!(held.ends_with("Z example.com/hold"), "{held}");
    // Deleting again changes nothing while the finalizer holds it.
    server.ok(&["delete", "cm", "held", "--wait=false"]);
    server.ok(&["get", "cm", "held"]);
    server.ok(&[
        "patch",
        "cm",
        "held",
        "--type=json",
        "-p",
        r#"[{"op":"remove","path":"/metadata/finalizers"}]"#,
    ]);
    assert!(server.fails(&["get", "cm", "held"]).contains("NotFound"));
    server.ok_stdin(&["apply", "-f", "-"], DEPLOYMENT);
    server.ok(&[
        "delete",
        "deploy",
        "web",
        "--cascade=foreground",
        "--wait=false",
    ]);
    assert_eq!(
        server.ok(&[
            "get",
            "deploy",
            "web",
            "-o",
            "jsonpath={.metadata.finalizers}"
        ]),
        r#"["foregroundDeletion"]"#
    );
    let orphaned = server.ok(&[
        "get",
        "deploy",
        "web",
        "-o",
        "jsonpath={.metadata.deletionTimestamp}",
    ]);
    assert!(!orphaned.is_empty());
}

#[test]
fn generation_uid_and_creation_timestamp() {
    let server = TestServer::start();
    server.ok_stdin(&["apply", "-f", "-"], DEPLOYMENT);
    let meta = |server: &TestServer| {
        server.ok(&[
            "get",
            "deploy",
            "web",
            "-o",
            "jsonpath={.metadata.generation} {.metadata.uid} {.metadata.creationTimestamp}",
        ])
    };
    let first = meta(&server);
    assert!(first.starts_with("1 "), "{first}");
    server.ok(&["label", "deploy", "web", "touched=yes"]);
    server.ok(&["annotate", "deploy", "web", "note=hi"]);
    server.ok(&[
        "patch",
        "deploy",
        "web",
        "--subresource=status",
        "--type=merge",
        "-p",
        r#"{"status":{"replicas":1}}"#,
    ]);
    assert_eq!(
        meta(&server),
        first,
        "metadata and status leave the generation"
    );
    server.ok(&["scale", "deploy", "web", "--replicas=4"]);
    let scaled = meta(&server);
    assert!(scaled.starts_with("2 "), "{scaled}");
    // uid and creationTimestamp do not change, whatever a client sends.
    let error = server.fails(&[
        "patch",
        "deploy",
        "web",
        "--type=merge",
        "-p",
        r#"{"metadata":{"uid":"00000000-0000-0000-0000-000000000000"}}"#,
    ]);
    assert!(
        error.contains(
            "Precondition failed: UID in precondition: 00000000-0000-0000-0000-000000000000"
        ),
        "{error}"
    );
    server.ok(&[
        "patch",
        "deploy",
        "web",
        "--type=merge",
        "-p",
        r#"{"metadata":{"creationTimestamp":"2001-01-01T00:00:00Z"}}"#,
    ]);
    assert_eq!(meta(&server), scaled);
}

#[tokio::test]
async fn delete_preconditions_through_kube_rs() {
    let server = TestServer::start();
    let maps: Api<ConfigMap> = Api::namespaced(server.client().await, "default");
    let created = maps
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": "guarded"}})).unwrap(),
        )
        .await
        .unwrap();
    let uid = created.metadata.uid.clone().unwrap();
    let version = created.metadata.resource_version.clone().unwrap();
    let wrong_uid = DeleteParams::default().preconditions(Preconditions {
        uid: Some("00000000-0000-0000-0000-000000000000".into()),
        resource_version: None,
    });
    match maps.delete("guarded", &wrong_uid).await.unwrap_err() {
        kube::Error::Api(status) => {
            assert_eq!((status.code, status.reason.as_str()), (409, "Conflict"));
            assert_eq!(status.message, format!("Operation cannot be fulfilled on configmaps \"guarded\": Precondition failed: UID in precondition: 00000000-0000-0000-0000-000000000000, UID in object meta: {uid}"));
        }
        other => panic!("expected a conflict, got {other}"),
    }
    let stale = DeleteParams::default().preconditions(Preconditions {
        uid: None,
        resource_version: Some("1".into()),
    });
    let error = maps.delete("guarded", &stale).await.unwrap_err();
    assert!(
        matches!(error, kube::Error::Api(ref s) if s.code == 409 && s.message.contains("Precondition failed: ResourceVersion in precondition: 1")),
        "{error}"
    );
    let right = DeleteParams::default().preconditions(Preconditions {
        uid: Some(uid),
        resource_version: Some(version),
    });
    maps.delete("guarded", &right).await.unwrap();
    assert!(maps.get_opt("guarded").await.unwrap().is_none());
}

#[tokio::test]
async fn binding_and_graceful_then_forced_deletion() {
    // The test binds the pod itself: a scheduler finding no node would
    // race it, writing PodScheduled=False.
    let server = TestServer::start_with(&["--disable-scheduler"]);
    let pods: Api<Pod> = Api::namespaced(server.client().await, "default");
    let pod: Pod = serde_json::from_value(json!({
        "metadata": {"name": "bound"},
        "spec": {"containers": [{"name": "main", "image": "registry.local/app:1"}]},
    }))
    .unwrap();
    pods.create(&PostParams::default(), &pod).await.unwrap();
    let binding = json!({
        "apiVersion": "v1",
        "kind": "Binding",
        "metadata": {"name": "bound"},
        "target": {"apiVersion": "v1", "kind": "Node", "name": "node-1"},
    });
    let done: Value = pods
        .create_subresource("binding", "bound", &PostParams::default(), &binding)
        .await
        .unwrap();
    assert_eq!(done["status"], "Success");
    let bound = pods.get("bound").await.unwrap();
    assert_eq!(bound.spec.unwrap().node_name.as_deref(), Some("node-1"));
    let scheduled = bound.status.unwrap().conditions.unwrap();
    assert!(scheduled
        .iter()
        .any(|c| c.type_ == "PodScheduled" && c.status == "True"));
    let again = pods
        .create_subresource::<_, Value>("binding", "bound", &PostParams::default(), &binding)
        .await
        .unwrap_err();
    match again {
        kube::Error::Api(status) => {
            assert_eq!(status.code, 409);
            assert_eq!(status.message, "Operation cannot be fulfilled on pods/binding \"bound\": pod bound is already assigned to node \"node-1\"");
        }
        other => panic!("expected a conflict, got {other}"),
    }
    // A pod on a node is deleted gracefully: it stays, marked.
    let server = tokio::task::spawn_blocking(move || {
        assert_eq!(
            server.ok(&["delete", "pod", "bound", "--wait=false"]),
            "pod \"bound\" deleted\n"
        );
        let marked = server.ok(&[
            "get",
            "pod",
            "bound",
            "-o",
            "jsonpath={.metadata.deletionGracePeriodSeconds}",
        ]);
        assert_eq!(marked, "30");
        assert!(server
            .ok(&["get", "pod", "bound", "--no-headers"])
            .contains("Terminating"));
        // Forcing it removes it at once.
        let forced = server.kubectl(&[
            "delete",
            "pod",
            "bound",
            "--grace-period=0",
            "--force",
            "--timeout=20s",
        ]);
        assert!(forced.status.success(), "{forced:?}");
        assert_eq!(
            String::from_utf8_lossy(&forced.stdout),
            "pod \"bound\" force deleted\n"
        );
        assert!(String::from_utf8_lossy(&forced.stderr)
            .starts_with("Warning: Immediate deletion does not wait for confirmation"));
        assert!(server.fails(&["get", "pod", "bound"]).contains("NotFound"));
        server
    })
    .await
    .unwrap();
    drop(server);
}

#[test]
fn scale_subresource_of_every_workload() {
    // The API alone: no controller acts on the objects.
    let server = TestServer::start_with(&["--disable-controller-manager"]);
    let template = "  template:\n    metadata:\n      labels:\n        app: KIND\n    spec:\n      containers:\n      - name: c\n        image: registry.local/c:1\n";
    let manifests = [
        ("deploy", format!("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: s\nspec:\n  replicas: 1\n  selector:\n    matchLabels:\n      app: deploy\n{}", template.replace("KIND", "deploy"))),
        ("rs", format!("apiVersion: apps/v1\nkind: ReplicaSet\nmetadata:\n  name: s\nspec:\n  replicas: 1\n  selector:\n    matchLabels:\n      app: rs\n{}", template.replace("KIND", "rs"))),
        ("sts", format!("apiVersion: apps/v1\nkind: StatefulSet\nmetadata:\n  name: s\nspec:\n  replicas: 1\n  serviceName: s\n  selector:\n    matchLabels:\n      app: sts\n{}", template.replace("KIND", "sts"))),
        ("rc", format!("apiVersion: v1\nkind: ReplicationController\nmetadata:\n  name: s\nspec:\n  replicas: 1\n  selector:\n    app: rc\n{}", template.replace("KIND", "rc"))),
    ];
    for (kind, manifest) in manifests {
        server.ok_stdin(&["create", "-f", "-"], &manifest);
        let scaled = server.ok(&["scale", kind, "s", "--replicas=3"]);
        assert!(scaled.ends_with("/s scaled\n"), "{scaled}");
        let table = server.ok(&["get", kind, "s", "--subresource=scale"]);
        let rows: Vec<Vec<&str>> = table
            .lines()
            .map(|l| l.split_whitespace().collect())
            .collect();
        assert_eq!(
            rows,
            [
                vec!["NAME", "DESIREDREPLICAS", "AVAILABLEREPLICAS"],
                vec!["s", "3", "0"]
            ],
            "{kind}"
        );
        let scale: Value = serde_json::from_str(&server.ok(&[
            "get",
            kind,
            "s",
            "--subresource=scale",
            "-o",
            "json",
        ]))
        .unwrap();
        assert_eq!(scale["kind"], "Scale");
        assert_eq!(scale["apiVersion"], "autoscaling/v1");
        assert_eq!(scale["spec"]["replicas"], 3);
        assert_eq!(scale["status"]["selector"], format!("app={kind}"));
        let patched = server.ok(&[
            "patch",
            kind,
            "s",
            "--subresource=scale",
            "--type=merge",
            "-p",
            r#"{"spec":{"replicas":5}}"#,
        ]);
        assert_eq!(patched, "scale.autoscaling/s patched\n");
        assert_eq!(
            server.ok(&["get", kind, "s", "-o", "jsonpath={.spec.replicas}"]),
            "5",
            "{kind}"
        );
        let error = server.fails(&["scale", kind, "s", "--current-replicas=2", "--replicas=1"]);
        assert!(
            error.contains("Expected replicas to be 2, was 5"),
            "{error}"
        );
    }
    let error = server.fails(&["get", "pods", "x", "--subresource=scale"]);
    assert!(
        error.contains("the server could not find the requested resource"),
        "{error}"
    );
}

#[test]
fn status_writes_are_kept_apart_from_spec_writes() {
    // The API alone: no controller acts on the objects.
    let server = TestServer::start_with(&["--disable-controller-manager"]);
    server.ok_stdin(&["apply", "-f", "-"], DEPLOYMENT);
    server.ok(&[
        "patch",
        "deploy",
        "web",
        "--subresource=status",
        "--type=merge",
        "-p",
        r#"{"spec":{"replicas":9},"status":{"replicas":2,"readyReplicas":1}}"#,
    ]);
    assert_eq!(
        server.ok(&[
            "get",
            "deploy",
            "web",
            "-o",
            "jsonpath={.spec.replicas} {.status.replicas} {.status.readyReplicas}"
        ]),
        "2 2 1"
    );
    let unchanged = server.ok(&[
        "patch",
        "deploy",
        "web",
        "--type=merge",
        "-p",
        r#"{"status":{"replicas":7}}"#,
    ]);
    assert_eq!(unchanged, "deployment.apps/web patched (no change)\n");
    assert_eq!(
        server.ok(&["get", "deploy", "web", "-o", "jsonpath={.status.replicas}"]),
        "2"
    );
    let table = server.ok(&[
        "get",
        "deploy",
        "web",
        "--subresource=status",
        "--no-headers",
    ]);
    assert!(table.starts_with("web   1/2 "), "{table}");
}

#[test]
fn eviction_honours_disruption_budgets() {
    let server = TestServer::start();
    for name in ["guarded", "free"] {
        server.ok(&[
            "run",
            name,
            "--image=registry.local/app:1",
            &format!("--labels=app={name}"),
        ]);
        server.ok(&[
            "patch",
            "pod",
            name,
            "--subresource=status",
            "--type=merge",
            "-p",
            r#"{"status":{"phase":"Running"}}"#,
        ]);
    }
    let evict = |name: &str| {
        let eviction = json!({"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": name, "namespace": "default"}});
        server.curl(
            "POST",
            &format!("/api/v1/namespaces/default/pods/{name}/eviction"),
            "application/json",
            Some(eviction.to_string().as_bytes()),
        )
    };
    server.ok(&[
        "create",
        "pdb",
        "guard",
        "--selector=app=guarded",
        "--min-available=1",
    ]);
    // The disruption controller fills the budget's status in.
    let budget = |field: &str| {
        server.ok(&[
            "get",
            "pdb",
            "guard",
            "-o",
            &format!("jsonpath={{.status.{field}}}"),
        ])
    };
    let settled = |healthy: &str, allowed: &str| {
        wait_for("the budget's status", Duration::from_secs(10), || {
            (budget("currentHealthy") == healthy && budget("disruptionsAllowed") == allowed)
                .then_some(())
        })
    };
    settled("0", "0");
    // An unready pod may not go while the budget is short of healthy pods.
    let refusal = |healthy: u32| {
        let (code, body) = evict("guarded");
        assert_eq!(code, 429, "{body}");
        let refused = status(&body);
        assert_eq!(refused["reason"], "TooManyRequests");
        assert_eq!(
            refused["message"],
            "Cannot evict pod as it would violate the pod's disruption budget."
        );
        assert_eq!(
            refused["details"]["causes"][0]["reason"],
            "DisruptionBudget"
        );
        assert_eq!(
            refused["details"]["causes"][0]["message"],
            format!("The disruption budget guard needs 1 healthy pods and has {healthy} currently")
        );
    };
    refusal(0);
    let ready = r#"{"status":{"conditions":[{"type":"Ready","status":"True"}]}}"#;
    server.ok(&[
        "patch",
        "pod",
        "guarded",
        "--subresource=status",
        "--type=merge",
        "-p",
        ready,
    ]);
    settled("1", "0");
    refusal(1);
    // A second healthy pod makes room for one disruption.
    server.ok(&[
        "run",
        "spare",
        "--image=registry.local/app:1",
        "--labels=app=guarded",
    ]);
    for patch in [r#"{"status":{"phase":"Running"}}"#, ready] {
        server.ok(&[
            "patch",
            "pod",
            "spare",
            "--subresource=status",
            "--type=merge",
            "-p",
            patch,
        ]);
    }
    settled("2", "1");
    let (code, body) = evict("guarded");
    assert_eq!(
        (code, status(&body)["status"].clone()),
        (201, json!("Success")),
        "{body}"
    );
    assert!(server
        .fails(&["get", "pod", "guarded"])
        .contains("NotFound"));
    // A pod no budget covers goes at once.
    let (code, _) = evict("free");
    assert_eq!(code, 201);
    assert!(server.fails(&["get", "pod", "free"]).contains("NotFound"));
}

#[test]
fn metrics_and_version() {
    let server = TestServer::start();
    server.ok(&["get", "configmaps"]);
    server.ok(&["create", "configmap", "counted"]);
    let (code, metrics) = server.curl("GET", "/metrics", "text/plain", None);
    assert_eq!(code, 200);
    assert!(
        metrics.lines().any(|l| l.starts_with("apiserver_request_total{verb=\"LIST\",group=\"\",version=\"v1\",resource=\"configmaps\"") && l.contains("code=\"200\"")),
        "{metrics}"
    );
    assert!(
        metrics.lines().any(|l| l.starts_with("apiserver_request_total{verb=\"POST\",group=\"\",version=\"v1\",resource=\"configmaps\"") && l.contains("code=\"201\"")),
        "{metrics}"
    );
    assert!(
        metrics.contains("apiserver_request_duration_seconds_bucket{"),
        "{metrics}"
    );
    let (code, version) = server.curl("GET", "/version", "application/json", None);
    assert_eq!(code, 200);
    let version: Value = serde_json::from_str(&version).unwrap();
    assert_eq!(version["major"], "1");
    let git = version["gitVersion"].as_str().unwrap().to_string();
    assert!(git.starts_with("v1."), "{git}");
    let printed = server.ok(&["version"]);
    assert!(
        printed
            .lines()
            .any(|l| l == format!("Server Version: {git}")),
        "{printed}"
    );
}
