//! Server-side apply, diff and server dry runs, as a kubectl user meets
//! them: field managers, conflicts and their hint, the move from
//! client-side to server-side apply.

mod support;

use serde_json::Value;
use support::TestServer;

/// A server without controllers: what these tests print and compare is
/// the API's own doing, which no control loop should change under them.
fn api_only() -> TestServer {
    TestServer::start_with(&["--disable-controller-manager"])
}

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

/// kubectl's advice after an apply conflict, word for word.
const CONFLICT_HINT: &str =
    "Please review the fields above--they currently have other managers. Here
are the ways you can resolve this warning:
* If you intend to manage all of these fields, please re-run the apply
  command with the `--force-conflicts` flag.
* If you do not intend to manage all of the fields, please edit your
  manifest to remove references to the fields that should keep their
  current managers.
* You may co-own fields by updating your manifest to match the existing
  value; in this case, you'll become the manager if the other manager(s)
  stop managing the field (remove it from their configuration).
See https://kubernetes.io/docs/reference/using-api/server-side-apply/#conflicts";

fn with_replicas(replicas: u32) -> String {
    DEPLOYMENT.replace("replicas: 2", &format!("replicas: {replicas}"))
}

fn managers(server: &TestServer) -> Vec<(String, String, String)> {
    let json: Value = serde_json::from_str(&server.ok(&[
        "get",
        "deploy",
        "web",
        "-o",
        "json",
        "--show-managed-fields",
    ]))
    .unwrap();
    json["metadata"]["managedFields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|entry| {
            let text = |key: &str| entry[key].as_str().unwrap_or_default().to_string();
            (text("manager"), text("operation"), text("subresource"))
        })
        .collect()
}

fn replicas(server: &TestServer) -> String {
    server.ok(&["get", "deploy", "web", "-o", "jsonpath={.spec.replicas}"])
}

#[test]
fn server_side_apply_creates_reapplies_and_owns_fields() {
    let server = api_only();
    let applied = server.ok_stdin(&["apply", "--server-side", "-f", "-"], DEPLOYMENT);
    assert_eq!(applied, "deployment.apps/web serverside-applied\n");
    let version = server.ok(&[
        "get",
        "deploy",
        "web",
        "-o",
        "jsonpath={.metadata.resourceVersion}",
    ]);
    // Applying the same configuration again changes nothing.
    let again = server.ok_stdin(&["apply", "--server-side", "-f", "-"], DEPLOYMENT);
    assert_eq!(again, "deployment.apps/web serverside-applied\n");
    assert_eq!(
        server.ok(&[
            "get",
            "deploy",
            "web",
            "-o",
            "jsonpath={.metadata.resourceVersion}"
        ]),
        version
    );
    assert_eq!(
        managers(&server),
        [("kubectl".to_string(), "Apply".to_string(), String::new())]
    );
    // The manager owns what it applied, not what the server defaulted.
    let shown = server.ok(&[
        "get",
        "deploy",
        "web",
        "-o",
        "yaml",
        "--show-managed-fields",
    ]);
    for line in [
        "  - apiVersion: apps/v1",
        "    fieldsType: FieldsV1",
        "        f:replicas: {}",
        "              k:{\"name\":\"web\"}:",
        "                f:image: {}",
        "    manager: kubectl",
        "    operation: Apply",
    ] {
        assert!(shown.lines().any(|l| l == line), "{line:?} in\n{shown}");
    }
    assert!(!shown.contains("f:progressDeadlineSeconds"), "{shown}");
    // Without the flag, managedFields are not shown.
    let plain = server.ok(&["get", "deploy", "web", "-o", "yaml"]);
    assert!(!plain.contains("managedFields"), "{plain}");
    assert!(plain.contains("  replicas: 2\n"), "{plain}");
}

#[test]
fn a_conflict_with_another_manager_and_forcing_it() {
    let server = api_only();
    server.ok_stdin(&["apply", "-f", "-"], DEPLOYMENT);
    // Another manager's apply of a different value conflicts with the
    // client-side apply that set it.
    let refused = server.kubectl_stdin(
        &["apply", "--server-side", "--field-manager=other", "-f", "-"],
        &with_replicas(3),
    );
    assert_eq!(refused.status.code(), Some(1));
    assert!(refused.stdout.is_empty());
    let error = String::from_utf8(refused.stderr).unwrap();
    assert_eq!(
        error.trim_end(),
        format!(
            "error: Apply failed with 1 conflict: conflict with \"kubectl-client-side-apply\" using apps/v1: .spec.replicas\n{CONFLICT_HINT}"
        )
    );
    assert_eq!(replicas(&server), "2");
    // Co-owning: the same value is no conflict.
    server.ok_stdin(
        &["apply", "--server-side", "--field-manager=other", "-f", "-"],
        DEPLOYMENT,
    );
    let forced = server.ok_stdin(
        &[
            "apply",
            "--server-side",
            "--force-conflicts",
            "--field-manager=other",
            "-f",
            "-",
        ],
        &with_replicas(3),
    );
    assert_eq!(forced, "deployment.apps/web serverside-applied\n");
    assert_eq!(replicas(&server), "3");
    let owners = managers(&server);
    assert!(
        owners.contains(&("other".into(), "Apply".into(), String::new())),
        "{owners:?}"
    );
}

#[test]
fn client_side_apply_then_server_side_apply_takes_over() {
    let server = api_only();
    assert_eq!(
        server.ok_stdin(&["apply", "-f", "-"], DEPLOYMENT),
        "deployment.apps/web created\n"
    );
    assert_eq!(
        managers(&server),
        [(
            "kubectl-client-side-apply".to_string(),
            "Update".to_string(),
            String::new()
        )]
    );
    // kubectl's own manager may take over what its client-side apply set,
    // as long as nobody changed it since (upstream's last-applied upgrade).
    let applied = server.ok_stdin(&["apply", "--server-side", "-f", "-"], &with_replicas(4));
    assert_eq!(applied, "deployment.apps/web serverside-applied\n");
    assert_eq!(replicas(&server), "4");
    let owners = managers(&server);
    assert!(
        owners.contains(&("kubectl".into(), "Apply".into(), String::new())),
        "{owners:?}"
    );
    assert!(
        !owners
            .iter()
            .any(|(m, ..)| m == "kubectl-client-side-apply"),
        "kubectl migrates the client-side manager away: {owners:?}"
    );
}

#[test]
fn scale_conflicts_name_the_subresource() {
    let server = api_only();
    server.ok_stdin(&["apply", "--server-side", "-f", "-"], DEPLOYMENT);
    assert_eq!(
        server.ok(&["scale", "deploy", "web", "--replicas=5"]),
        "deployment.apps/web scaled\n"
    );
    let owners = managers(&server);
    assert!(
        owners.contains(&("kubectl".into(), "Update".into(), "scale".into())),
        "{owners:?}"
    );
    let error = server.fails_stdin(&["apply", "--server-side", "-f", "-"], &with_replicas(3));
    assert!(
        error.starts_with(
            "error: Apply failed with 1 conflict: conflict with \"kubectl\" with subresource \"scale\" using apps/v1: .spec.replicas\n"
        ),
        "{error}"
    );
    assert_eq!(replicas(&server), "5");
}

#[test]
fn server_side_apply_refuses_what_does_not_fit_the_schema() {
    let server = api_only();
    let wrong_type = DEPLOYMENT.replace("replicas: 2", "replicas: \"two\"");
    let error = server.fails_stdin(&["apply", "--server-side", "-f", "-"], &wrong_type);
    assert!(
        error.contains("Error from server: failed to create typed patch object (default/web; apps/v1, Kind=Deployment): .spec.replicas: expected numeric (int or float), got string"),
        "{error}"
    );
    let unknown = DEPLOYMENT.replace("  replicas: 2\n", "  replicas: 2\n  foo: bar\n");
    let error = server.fails_stdin(&["apply", "--server-side", "-f", "-"], &unknown);
    assert!(
        error.contains("failed to create typed patch object (default/web; apps/v1, Kind=Deployment): .spec.foo: field not declared in schema"),
        "{error}"
    );
    let missing = server.fails(&["get", "deploy", "web"]);
    assert!(missing.contains("NotFound"), "{missing}");
}

#[test]
fn diff_exits_one_on_changes_and_zero_without() {
    let server = api_only();
    server.ok_stdin(&["apply", "-f", "-"], DEPLOYMENT);
    let same = server.kubectl_stdin(&["diff", "-f", "-"], DEPLOYMENT);
    assert_eq!(same.status.code(), Some(0), "{same:?}");
    assert!(same.stdout.is_empty());
    let changed = server.kubectl_stdin(&["diff", "-f", "-"], &with_replicas(3));
    assert_eq!(changed.status.code(), Some(1), "{changed:?}");
    let diff = String::from_utf8(changed.stdout).unwrap();
    assert!(
        diff.lines().any(|l| l == "-  replicas: 2") && diff.lines().any(|l| l == "+  replicas: 3"),
        "{diff}"
    );
    // The spec change moves the generation in the server's dry run.
    assert!(
        diff.lines().any(|l| l == "-  generation: 1")
            && diff.lines().any(|l| l == "+  generation: 2"),
        "{diff}"
    );
    // A new object diffs against nothing.
    let new = DEPLOYMENT.replace("name: web\n  labels", "name: fresh\n  labels");
    let created = server.kubectl_stdin(&["diff", "-f", "-"], &new);
    assert_eq!(created.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&created.stdout).contains("+  name: fresh"));
    // None of it was written.
    assert_eq!(replicas(&server), "2");
    assert!(server
        .fails(&["get", "deploy", "fresh"])
        .contains("NotFound"));
}

#[test]
fn server_dry_runs_write_nothing() {
    let server = api_only();
    let created = server.ok_stdin(&["apply", "--dry-run=server", "-f", "-"], DEPLOYMENT);
    assert_eq!(created, "deployment.apps/web created (server dry run)\n");
    assert!(server.fails(&["get", "deploy", "web"]).contains("NotFound"));
    server.ok_stdin(&["apply", "-f", "-"], DEPLOYMENT);
    let configured = server.ok_stdin(&["apply", "--dry-run=server", "-f", "-"], &with_replicas(7));
    assert_eq!(
        configured,
        "deployment.apps/web configured (server dry run)\n"
    );
    let ssa = server.ok_stdin(
        &["apply", "--server-side", "--dry-run=server", "-f", "-"],
        &with_replicas(7),
    );
    assert_eq!(
        ssa,
        "deployment.apps/web serverside-applied (server dry run)\n"
    );
    assert_eq!(replicas(&server), "2");
    // The server still validates a dry run.
    let invalid = DEPLOYMENT.replace("containerPort: 80", "containerPort: 70000");
    let error = server.fails_stdin(&["apply", "--dry-run=server", "-f", "-"], &invalid);
    assert!(
        error.contains("spec.template.spec.containers[0].ports[0].containerPort: Invalid value: 70000: must be between 1 and 65535, inclusive"),
        "{error}"
    );
}
