//! PodDisruptionBudgets as a user of `kubectl` and of the eviction API
//! sees them on hollow nodes: the status counts healthy pods against the
//! budget, one eviction is allowed, the next is refused with 429 until
//! the evicted pod has been replaced.

mod support;

use std::time::Duration;

use serde_json::Value;
use support::{eventually, TestServer};

/// How long the controllers, scheduler and hollow nodes get to settle.
const SETTLE: Duration = Duration::from_secs(60);

fn json(server: &TestServer, args: &[&str]) -> Value {
    let mut all = args.to_vec();
    all.extend(["-o", "json"]);
    serde_json::from_str(&server.ok(&all)).expect("kubectl printed JSON")
}

/// The budget's status as (currentHealthy, desiredHealthy, expectedPods,
/// disruptionsAllowed).
fn counts(server: &TestServer, budget: &str) -> (i64, i64, i64, i64) {
    let status = &json(server, &["get", "pdb", budget])["status"];
    let field = |name: &str| status[name].as_i64().unwrap_or(-1);
    (
        field("currentHealthy"),
        field("desiredHealthy"),
        field("expectedPods"),
        field("disruptionsAllowed"),
    )
}

fn deployment(name: &str, replicas: u32) -> String {
    format!(
        "
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
spec:
  replicas: {replicas}
  selector:
    matchLabels:
      app: {name}
  template:
    metadata:
      labels:
        app: {name}
    spec:
      containers:
      - name: {name}
        image: registry.local/{name}:1.0
"
    )
}

const WEB_BUDGET: &str = "
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: web
spec:
  minAvailable: 2
  selector:
    matchLabels:
      app: web
";

const API_BUDGET: &str = "
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: api
spec:
  maxUnavailable: 34%
  selector:
    matchLabels:
      app: api
";

/// The names of the running pods of an app.
fn running_pods(server: &TestServer, app: &str) -> Vec<String> {
    let pods = json(
        server,
        &[
            "get",
            "pods",
            "-l",
            &format!("app={app}"),
            "--field-selector=status.phase=Running",
        ],
    );
    pods["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|pod| pod["metadata"]["deletionTimestamp"].is_null())
        .filter_map(|pod| pod["metadata"]["name"].as_str().map(str::to_string))
        .collect()
}

fn evict(server: &TestServer, pod: &str) -> (u16, String) {
    let body = format!(
        r#"{{"apiVersion":"policy/v1","kind":"Eviction","metadata":{{"name":"{pod}","namespace":"default"}}}}"#
    );
    server.curl(
        "POST",
        &format!("/api/v1/namespaces/default/pods/{pod}/eviction"),
        "application/json",
        Some(body.as_bytes()),
    )
}

#[test]
fn a_budget_allows_one_eviction_and_refuses_the_next() {
    let server = TestServer::start_with(&["--sim-nodes", "3"]);
    server.ok_stdin(&["apply", "-f", "-"], &deployment("web", 3));
    server.ok_stdin(&["apply", "-f", "-"], WEB_BUDGET);

    eventually(SETTLE, "one disruption allowed", || {
        counts(&server, "web") == (3, 2, 3, 1)
    });
    let budget = json(&server, &["get", "pdb", "web"]);
    let condition = &budget["status"]["conditions"][0];
    assert_eq!(condition["type"], "DisruptionAllowed", "{budget}");
    assert_eq!(condition["status"], "True");
    assert_eq!(condition["reason"], "SufficientPods");
    assert_eq!(
        budget["status"]["observedGeneration"],
        budget["metadata"]["generation"]
    );
    let table = server.ok(&["get", "pdb", "web"]);
    assert!(
        table.lines().nth(1).is_some_and(
            |row| row.split_whitespace().collect::<Vec<_>>()[..4] == ["web", "2", "N/A", "1"]
        ),
        "{table}"
    );

    let pods = running_pods(&server, "web");
    assert_eq!(pods.len(), 3, "{pods:?}");
    let (code, body) = evict(&server, &pods[0]);
    assert_eq!(code, 201, "{body}");
    let (code, body) = evict(&server, &pods[1]);
    assert_eq!(code, 429, "{body}");
    let status: Value = serde_json::from_str(&body).expect("a Status");
    assert_eq!(
        status["message"],
        "Cannot evict pod as it would violate the pod's disruption budget."
    );
    assert_eq!(status["reason"], "TooManyRequests");

    // The ReplicaSet replaces the evicted pod; the budget recovers.
    eventually(SETTLE, "a disruption allowed again", || {
        counts(&server, "web") == (3, 2, 3, 1)
    });
    let (code, body) = evict(&server, &pods[1]);
    assert_eq!(code, 201, "{body}");
}

#[test]
fn percentages_count_against_the_deployments_scale() {
    let server = TestServer::start_with(&["--sim-nodes", "3"]);
    server.ok_stdin(&["apply", "-f", "-"], &deployment("api", 3));
    server.ok_stdin(&["apply", "-f", "-"], API_BUDGET);
    // 34% of 3 rounds up to 2 unavailable: one must stay healthy.
    eventually(SETTLE, "two disruptions allowed", || {
        counts(&server, "api") == (3, 1, 3, 2)
    });

    // The scale counts, not the pods present: scaling up before the new
    // pods are ready leaves the allowance where the healthy pods put it.
    server.ok(&["scale", "deployment", "api", "--replicas=6"]);
    eventually(SETTLE, "the budget follows the new scale", || {
        counts(&server, "api") == (6, 3, 6, 3)
    });

    // A budget that selects nothing expects nothing and allows nothing.
    server.ok_stdin(
        &["apply", "-f", "-"],
        "
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: nobody
spec:
  minAvailable: 1
  selector:
    matchLabels:
      app: nobody
",
    );
    eventually(SETTLE, "an empty budget synced", || {
        counts(&server, "nobody") == (0, 1, 0, 0)
    });
    let budget = json(&server, &["get", "pdb", "nobody"]);
    assert_eq!(
        budget["status"]["conditions"][0]["reason"], "InsufficientPods",
        "{budget}"
    );
}
