//! Endpoints and EndpointSlices as a kubectl user sees them on hollow
//! nodes: a Service lists the addresses of the pods it selects, ready or
//! not, follows scaling, and loses them with the Service; Services without
//! a selector keep hand-made Endpoints, mirrored into slices.

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

/// The IPs of the Endpoints' ready and not-ready addresses, or `None` if
/// there is no such Endpoints.
fn addresses(server: &TestServer, name: &str) -> Option<(Vec<String>, Vec<String>)> {
    let output = server.kubectl(&["get", "endpoints", name, "-o", "json"]);
    if !output.status.success() {
        return None;
    }
    let endpoints: Value = serde_json::from_slice(&output.stdout).expect("JSON");
    let collect = |field: &str| {
        let mut ips: Vec<String> = endpoints["subsets"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|subset| subset[field].as_array().cloned().unwrap_or_default())
            .filter_map(|address| address["ip"].as_str().map(str::to_string))
            .collect();
        ips.sort();
        ips
    };
    Some((collect("addresses"), collect("notReadyAddresses")))
}

/// The endpoints of the Service's slices: (address, ready).
fn slice_endpoints(server: &TestServer, service: &str) -> Vec<(String, bool)> {
    slice_endpoints_where(server, service, |_| true)
}

/// The endpoints of those of the Service's slices that `keep` accepts.
fn slice_endpoints_where(
    server: &TestServer,
    service: &str,
    keep: impl Fn(&Value) -> bool,
) -> Vec<(String, bool)> {
    let selector = format!("kubernetes.io/service-name={service}");
    let slices = json(server, &["get", "endpointslices", "-l", &selector]);
    let mut found: Vec<(String, bool)> = slices["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|slice| keep(slice))
        .flat_map(|slice| slice["endpoints"].as_array().cloned().unwrap_or_default())
        .map(|endpoint| {
            (
                endpoint["addresses"][0]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                endpoint["conditions"]["ready"].as_bool().unwrap_or(false),
            )
        })
        .collect();
    found.sort();
    found
}

const WEB: &str = "
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 3
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
        - name: http
          containerPort: 8080
---
apiVersion: v1
kind: Service
metadata:
  name: web
  labels:
    tier: front
spec:
  selector:
    app: web
  ports:
  - name: http
    port: 80
    targetPort: http
";

#[test]
fn endpoints_follow_the_pods_of_a_deployment() {
    let server = TestServer::start_with(&["--sim-nodes", "3"]);
    server.ok_stdin(&["apply", "-f", "-"], WEB);

    eventually(SETTLE, "three ready addresses", || {
        addresses(&server, "web").is_some_and(|(ready, _)| ready.len() == 3)
    });
    let endpoints = json(&server, &["get", "endpoints", "web"]);
    assert_eq!(
        endpoints["subsets"][0]["ports"][0]["port"], 8080,
        "{endpoints}"
    );
    assert_eq!(endpoints["subsets"][0]["ports"][0]["name"], "http");
    let address = &endpoints["subsets"][0]["addresses"][0];
    assert_eq!(address["targetRef"]["kind"], "Pod", "{endpoints}");
    assert!(address["nodeName"]
        .as_str()
        .is_some_and(|n| n.starts_with("sim-")));
    assert_eq!(endpoints["metadata"]["labels"]["tier"], "front");
    assert_eq!(
        endpoints["metadata"]["labels"]["endpoints.kubernetes.io/managed-by"],
        "endpoint-controller"
    );
    let table = server.ok(&["get", "endpoints", "web"]);
    assert!(table.starts_with("NAME"), "{table}");
    assert_eq!(table.matches(":8080").count(), 3, "{table}");

    eventually(SETTLE, "three ready endpoints in slices", || {
        let found = slice_endpoints(&server, "web");
        found.len() == 3 && found.iter().all(|(_, ready)| *ready)
    });
    let slices = json(
        &server,
        &[
            "get",
            "endpointslices",
            "-l",
            "kubernetes.io/service-name=web",
        ],
    );
    let slice = &slices["items"][0];
    assert_eq!(slice["addressType"], "IPv4");
    assert_eq!(
        slice["metadata"]["labels"]["endpointslice.kubernetes.io/managed-by"],
        "endpointslice-controller.k8s.io"
    );
    assert_eq!(slice["metadata"]["ownerReferences"][0]["kind"], "Service");
    assert!(slice["metadata"]["name"]
        .as_str()
        .unwrap()
        .starts_with("web-"));
    assert_eq!(slice["ports"][0]["port"], 8080);

    server.ok(&["scale", "deployment", "web", "--replicas=1"]);
    eventually(SETTLE, "one address after scaling down", || {
        addresses(&server, "web")
            .is_some_and(|(ready, not_ready)| ready.len() == 1 && not_ready.is_empty())
    });
    eventually(SETTLE, "one endpoint in slices after scaling down", || {
        slice_endpoints(&server, "web").len() == 1
    });

    server.ok(&["delete", "service", "web"]);
    eventually(SETTLE, "Endpoints gone with the Service", || {
        addresses(&server, "web").is_none()
    });
    eventually(SETTLE, "slices gone with the Service", || {
        let slices = json(
            &server,
            &[
                "get",
                "endpointslices",
                "-l",
                "kubernetes.io/service-name=web",
            ],
        );
        slices["items"].as_array().is_some_and(Vec::is_empty)
    });
}

const MIXED: &str = r#"
apiVersion: v1
kind: Pod
metadata:
  name: ready
  labels:
    app: mixed
spec:
  containers:
  - name: c
    image: registry.local/web:1.0
    ports:
    - name: http
      containerPort: 8080
---
apiVersion: v1
kind: Pod
metadata:
  name: unready
  labels:
    app: mixed
  annotations:
    sim.capstan.dev/ready: "false"
spec:
  containers:
  - name: c
    image: registry.local/web:1.0
    ports:
    - name: http
      containerPort: 8080
---
apiVersion: v1
kind: Pod
metadata:
  name: portless
  labels:
    app: mixed
spec:
  containers:
  - name: c
    image: registry.local/web:1.0
---
apiVersion: v1
kind: Service
metadata:
  name: mixed
spec:
  selector:
    app: mixed
  ports:
  - port: 80
    targetPort: http
"#;

fn pod_ip(server: &TestServer, pod: &str) -> String {
    server.ok(&["get", "pod", pod, "-o", "jsonpath={.status.podIP}"])
}

#[test]
fn not_ready_pods_are_listed_apart_and_named_ports_resolve_per_pod() {
    let server = TestServer::start_with(&["--sim-nodes", "3"]);
    server.ok_stdin(&["apply", "-f", "-"], MIXED);
    eventually(SETTLE, "all pods have an address", || {
        ["ready", "unready", "portless"]
            .iter()
            .all(|pod| !pod_ip(&server, pod).is_empty())
    });
    let ready_ip = pod_ip(&server, "ready");
    let unready_ip = pod_ip(&server, "unready");
    // The pod without an `http` port is left out.
    eventually(SETTLE, "one ready and one not-ready address", || {
        addresses(&server, "mixed") == Some((vec![ready_ip.clone()], vec![unready_ip.clone()]))
    });
    let mut expected = vec![(ready_ip.clone(), true), (unready_ip.clone(), false)];
    expected.sort();
    let with_port = |slice: &Value| slice["ports"][0]["port"] == 8080;
    eventually(SETTLE, "the slices agree", || {
        slice_endpoints_where(&server, "mixed", with_port) == expected
    });
    // Slices, unlike Endpoints, list the pod without the port, in a slice
    // without ports.
    let portless_ip = pod_ip(&server, "portless");
    let without_ports = |slice: &Value| slice["ports"].as_array().is_none_or(Vec::is_empty);
    eventually(
        SETTLE,
        "the pod without the port in a slice of its own",
        || slice_endpoints_where(&server, "mixed", without_ports) == [(portless_ip.clone(), true)],
    );

    server.ok(&[
        "patch",
        "service",
        "mixed",
        "-p",
        r#"{"spec":{"publishNotReadyAddresses":true}}"#,
    ]);
    let mut both = vec![ready_ip.clone(), unready_ip.clone()];
    both.sort();
    eventually(SETTLE, "every address published as ready", || {
        addresses(&server, "mixed") == Some((both.clone(), vec![]))
    });
    eventually(SETTLE, "every slice endpoint ready", || {
        let found = slice_endpoints_where(&server, "mixed", with_port);
        found.len() == 2 && found.iter().all(|(_, ready)| *ready)
    });
}

const EXTERNAL: &str = "
apiVersion: v1
kind: Service
metadata:
  name: external-db
spec:
  ports:
  - name: sql
    port: 5432
---
apiVersion: v1
kind: Endpoints
metadata:
  name: external-db
subsets:
- addresses:
  - ip: 192.0.2.10
  ports:
  - name: sql
    port: 5432
";

#[test]
fn services_without_selectors_keep_their_endpoints_and_are_mirrored() {
    let server = TestServer::start();
    // The API server's own Service has a slice too.
    eventually(SETTLE, "the kubernetes slice", || {
        let slices = json(
            &server,
            &[
                "get",
                "endpointslices",
                "-n",
                "default",
                "-l",
                "kubernetes.io/service-name=kubernetes",
            ],
        );
        slices["items"]
            .as_array()
            .is_some_and(|items| items.iter().any(|s| s["metadata"]["name"] == "kubernetes"))
    });

    server.ok_stdin(&["apply", "-f", "-"], EXTERNAL);
    eventually(SETTLE, "a mirrored slice", || {
        slice_endpoints(&server, "external-db") == [("192.0.2.10".to_string(), true)]
    });
    let slices = json(
        &server,
        &[
            "get",
            "endpointslices",
            "-l",
            "kubernetes.io/service-name=external-db",
        ],
    );
    assert_eq!(
        slices["items"][0]["metadata"]["labels"]["endpointslice.kubernetes.io/managed-by"],
        "endpointslicemirroring-controller.k8s.io"
    );
    // The hand-made Endpoints stay as they were.
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(
        addresses(&server, "external-db"),
        Some((vec!["192.0.2.10".to_string()], vec![]))
    );

    server.ok(&["delete", "endpoints", "external-db"]);
    eventually(SETTLE, "the mirror gone with its Endpoints", || {
        slice_endpoints(&server, "external-db").is_empty()
    });
}
