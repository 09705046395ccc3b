//! The namespace lifecycle as a kubectl user sees it: deleting a namespace
//! empties it and then removes it; a terminating namespace takes nothing
//! new; a new namespace gets its `default` ServiceAccount.

mod support;

use std::time::{Duration, Instant};

use support::{eventually, TestServer};

const CONTENT: &str = "
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
  namespace: doomed
data:
  key: value
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: doomed
spec:
  replicas: 1
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
---
apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: doomed
spec:
  selector:
    app: web
  ports:
  - port: 80
";

const HELD: &str = "
apiVersion: v1
kind: ConfigMap
metadata:
  name: held
  namespace: lingering
  finalizers:
  - example.com/hold
";

#[test]
fn deleting_a_namespace_deletes_its_content_then_the_namespace() {
    let server = TestServer::start();
    server.ok(&["create", "namespace", "doomed"]);
    server.ok_stdin(&["apply", "-f", "-"], CONTENT);
    let listed = server.ok(&["get", "cm,deploy,svc", "-n", "doomed", "-o", "name"]);
    assert!(listed.contains("configmap/settings"), "{listed}");

    let started = Instant::now();
    let deleted = server.ok(&["delete", "namespace", "doomed", "--timeout=60s"]);
    assert_eq!(deleted, "namespace \"doomed\" deleted\n");
    // Well inside kubectl's timeout: content without finalizers goes at once.
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );

    let error = server.fails(&["get", "ns", "doomed"]);
    assert!(
        error.contains("Error from server (NotFound): namespaces \"doomed\" not found"),
        "{error}"
    );
    // Nothing was left behind.
    let left = server.ok(&[
        "get",
        "cm,deploy,svc,sa",
        "-A",
        "--field-selector=metadata.namespace=doomed",
        "-o",
        "name",
    ]);
    assert_eq!(left, "", "left behind");
    // A namespace of the same name starts empty.
    server.ok(&["create", "namespace", "doomed"]);
    // (but for the CA ConfigMap every namespace gets)
    let reborn = server.ok(&[
        "get",
        "cm,deploy,svc",
        "-n",
        "doomed",
        "--field-selector=metadata.name!=kube-root-ca.crt",
        "-o",
        "name",
    ]);
    assert_eq!(reborn, "");
}

#[test]
fn a_terminating_namespace_refuses_new_content_until_it_is_gone() {
    let server = TestServer::start();
    server.ok(&["create", "namespace", "lingering"]);
    server.ok_stdin(&["apply", "-f", "-"], HELD);
    server.ok(&["create", "secret", "generic", "plain", "-n", "lingering"]);
    let deleted = server.ok(&["delete", "namespace", "lingering", "--wait=false"]);
    assert_eq!(deleted, "namespace \"lingering\" deleted\n");

    // The finalizer holds the namespace in Terminating while the rest goes,
    // and its conditions say why.
    eventually(
        Duration::from_secs(20),
        "remaining content reported",
        || {
            let conditions = server.ok(&[
                "get",
                "ns",
                "lingering",
                "-o",
                "jsonpath={range .status.conditions[*]}{.type}={.status}:{.message}{\"\\n\"}{end}",
            ]);
            conditions.contains("NamespaceFinalizersRemaining=True:Some content in the namespace has finalizers remaining: example.com/hold in 1 resource instances")
            && conditions.contains("NamespaceContentRemaining=True:Some resources are remaining: configmaps. has 1 resource instances")
        },
    );
    let phase = server.ok(&["get", "ns", "lingering", "-o", "jsonpath={.status.phase}"]);
    assert_eq!(phase, "Terminating");
    let table = server.ok(&["get", "ns", "lingering", "--no-headers"]);
    assert!(table.contains("Terminating"), "{table}");
    let secrets = server.ok(&["get", "secrets", "-n", "lingering", "-o", "name"]);
    assert_eq!(secrets, "", "content without finalizers goes at once");

    let refused = server.fails(&["create", "configmap", "late", "-n", "lingering"]);
    assert!(
        refused.contains(
            "unable to create new content in namespace lingering because it is being terminated"
        ),
        "{refused}"
    );
    assert!(refused.contains("forbidden"), "{refused}");

    server.ok(&[
        "patch",
        "configmap",
        "held",
        "-n",
        "lingering",
        "--type=merge",
        "-p",
        r#"{"metadata":{"finalizers":null}}"#,
    ]);
    server.ok(&[
        "wait",
        "--for=delete",
        "namespace/lingering",
        "--timeout=60s",
    ]);
    let error = server.fails(&["get", "ns", "lingering"]);
    assert!(error.contains("NotFound"), "{error}");
    let left = server.ok(&["get", "cm", "-A", "-o", "name"]);
    assert!(!left.contains("configmap/held"), "{left}");
}

#[test]
fn a_new_namespace_gets_a_default_service_account() {
    let server = TestServer::start();
    server.ok(&["create", "namespace", "fresh"]);
    let account = || {
        server
            .kubectl(&[
                "get",
                "serviceaccount",
                "default",
                "-n",
                "fresh",
                "-o",
                "name",
            ])
            .stdout
    };
    eventually(Duration::from_secs(10), "default ServiceAccount", || {
        account() == b"serviceaccount/default\n"
    });
    // Deleted, it comes back.
    let uid = server.ok(&[
        "get",
        "sa",
        "default",
        "-n",
        "fresh",
        "-o",
        "jsonpath={.metadata.uid}",
    ]);
    server.ok(&["delete", "serviceaccount", "default", "-n", "fresh"]);
    eventually(
        Duration::from_secs(10),
        "default ServiceAccount recreated",
        || {
            let now = server.kubectl(&[
                "get",
                "sa",
                "default",
                "-n",
                "fresh",
                "-o",
                "jsonpath={.metadata.uid}",
            ]);
            now.status.success() && !now.stdout.is_empty() && now.stdout != uid.as_bytes()
        },
    );
}
