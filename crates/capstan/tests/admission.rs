//! What admission adds to a new pod, as `kubectl get -o yaml` shows it:
//! the service account, the priority from its PriorityClass, and the
//! default tolerations of not-ready and unreachable nodes.

mod support;

use support::TestServer;

fn field(server: &TestServer, pod: &str, path: &str) -> String {
    server.ok(&["get", "pod", pod, "-o", &format!("jsonpath={{{path}}}")])
}

#[test]
fn pods_get_account_priority_and_tolerations() {
    let server = TestServer::start();
    server.ok(&["run", "plain", "--image=busybox"]);
    assert_eq!(
        field(&server, "plain", ".spec.serviceAccountName"),
        "default"
    );
    assert_eq!(field(&server, "plain", ".spec.priority"), "0");
    assert_eq!(
        field(&server, "plain", ".spec.preemptionPolicy"),
        "PreemptLowerPriority"
    );
    let tolerations = field(
        &server,
        "plain",
        r#".spec.tolerations[*]['key','effect','tolerationSeconds']"#,
    );
    assert_eq!(
        tolerations,
        "node.kubernetes.io/not-ready node.kubernetes.io/unreachable NoExecute NoExecute 300 300"
    );

    // A pod's own toleration of a taint replaces the default one. The
    // account it names must exist.
    server.ok(&["create", "serviceaccount", "builder"]);
    server.ok_stdin(
        &["apply", "-f", "-"],
        "apiVersion: v1
kind: Pod
metadata:
  name: patient
spec:
  serviceAccountName: builder
  tolerations:
  - key: node.kubernetes.io/unreachable
    operator: Exists
    effect: NoExecute
    tolerationSeconds: 5
  containers:
  - name: main
    image: busybox
",
    );
    assert_eq!(
        field(&server, "patient", ".spec.serviceAccountName"),
        "builder"
    );
    assert_eq!(
        field(&server, "patient", ".spec.tolerations[*].tolerationSeconds"),
        "5 300"
    );
}

#[test]
fn priority_comes_from_the_priority_class() {
    let server = TestServer::start();
    let classes = server.ok(&["get", "priorityclasses", "-o", "name"]);
    assert!(classes.contains("priorityclass.scheduling.k8s.io/system-node-critical"));
    assert!(classes.contains("priorityclass.scheduling.k8s.io/system-cluster-critical"));

    server.ok(&["create", "priorityclass", "high", "--value=1000"]);
    server.ok(&[
        "create",
        "priorityclass",
        "fallback",
        "--value=7",
        "--global-default",
        "--preemption-policy=Never",
    ]);
    server.ok(&[
        "run",
        "urgent",
        "--image=busybox",
        r#"--overrides={"spec":{"priorityClassName":"high"}}"#,
    ]);
    assert_eq!(field(&server, "urgent", ".spec.priority"), "1000");
    server.ok(&["run", "ordinary", "--image=busybox"]);
    assert_eq!(field(&server, "ordinary", ".spec.priority"), "7");
    assert_eq!(
        field(&server, "ordinary", ".spec.priorityClassName"),
        "fallback"
    );
    assert_eq!(
        field(&server, "ordinary", ".spec.preemptionPolicy"),
        "Never"
    );

    let error = server.fails(&[
        "run",
        "lost",
        "--image=busybox",
        r#"--overrides={"spec":{"priorityClassName":"missing"}}"#,
    ]);
    assert!(
        error.contains(
            r#"Error from server (Forbidden): pods "lost" is forbidden: no PriorityClass with name missing was found"#
        ),
        "{error}"
    );
    let error = server.fails(&[
        "run",
        "liar",
        "--image=busybox",
        r#"--overrides={"spec":{"priorityClassName":"high","priority":5}}"#,
    ]);
    assert!(
        error.contains("the integer value of priority (5) must not be provided in pod spec; priority admission controller computed 1000 from the given PriorityClass name"),
        "{error}"
    );
}
