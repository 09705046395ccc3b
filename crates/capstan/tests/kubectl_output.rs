//! What `kubectl get`, `describe` and `explain` print for a Deployment, a
//! Service and a Pod: every output format, upstream's columns.

mod support;

use serde_json::Value;
use support::TestServer;

/// A server without controllers: what these tests print and compare is
/// the API's own doing, which no control loop should change under them.
fn api_only() -> TestServer {
    TestServer::start_with(&["--disable-controller-manager"])
}

const OBJECTS: &str = "
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels:
    app: web
    tier: front
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
        - containerPort: 8080
      - name: sidecar
        image: registry.local/proxy:2.1
---
apiVersion: v1
kind: Service
metadata:
  name: web
  labels:
    app: web
spec:
  selector:
    app: web
  ports:
  - name: http
    port: 80
    targetPort: 8080
---
apiVersion: v1
kind: Pod
metadata:
  name: solo
  labels:
    app: solo
    tier: back
spec:
  containers:
  - name: main
    image: registry.local/solo:3
";

fn started() -> TestServer {
    let server = api_only();
    let created = server.ok_stdin(&["apply", "-f", "-"], OBJECTS);
    assert_eq!(
        created,
        "deployment.apps/web created\nservice/web created\npod/solo created\n"
    );
    server
}

fn words(line: &str) -> Vec<&str> {
    line.split_whitespace().collect()
}

/// The header and the row of `name`, split into words.
fn table<'a>(text: &'a str, name: &str) -> (Vec<&'a str>, Vec<&'a str>) {
    let mut lines = text.lines();
    let header = words(lines.next().expect("a header"));
    let row = lines
        .map(words)
        .find(|row| row.first() == Some(&name))
        .unwrap_or_else(|| panic!("no row {name} in\n{text}"));
    (header, row)
}

#[test]
fn wide_tables_have_upstreams_columns() {
    let server = started();
    let deployments = server.ok(&["get", "deploy", "-o", "wide"]);
    let (header, row) = table(&deployments, "web");
    assert_eq!(
        header,
        [
            "NAME",
            "READY",
            "UP-TO-DATE",
            "AVAILABLE",
            "AGE",
            "CONTAINERS",
            "IMAGES",
            "SELECTOR"
        ]
    );
    assert_eq!(row[..4], ["web", "0/3", "0", "0"]);
    assert_eq!(
        row[5..],
        [
            "web,sidecar",
            "registry.local/web:1.0,registry.local/proxy:2.1",
            "app=web"
        ]
    );
    let services = server.ok(&["get", "svc", "-o", "wide"]);
    let (header, row) = table(&services, "web");
    assert_eq!(
        header,
        [
            "NAME",
            "TYPE",
            "CLUSTER-IP",
            "EXTERNAL-IP",
            "PORT(S)",
            "AGE",
            "SELECTOR"
        ]
    );
    assert_eq!(row[1], "ClusterIP");
    assert!(row[2].starts_with("10.43."), "{services}");
    assert_eq!(row[3..5], ["<none>", "80/TCP"]);
    assert_eq!(row[6], "app=web");
    let (_, kubernetes) = table(&services, "kubernetes");
    assert_eq!(kubernetes[2..5], ["10.43.0.1", "<none>", "443/TCP"]);
    let pods = server.ok(&["get", "pods", "-o", "wide"]);
    assert_eq!(
        pods.lines().next().unwrap(),
        "NAME   READY   STATUS    RESTARTS   AGE   IP       NODE     NOMINATED NODE   READINESS GATES"
    );
    let (_, row) = table(&pods, "solo");
    assert_eq!(row[..4], ["solo", "0/1", "Pending", "0"]);
    assert_eq!(row[5..], ["<none>", "<none>", "<none>", "<none>"]);
}

#[test]
fn yaml_json_jsonpath_custom_columns_and_names() {
    let server = started();
    let yaml = server.ok(&["get", "svc", "web", "-o", "yaml"]);
    for line in [
        "apiVersion: v1",
        "kind: Service",
        "  name: web",
        "  namespace: default",
        "  - name: http",
        "    port: 80",
        "    protocol: TCP",
        "    targetPort: 8080",
        "  sessionAffinity: None",
        "  type: ClusterIP",
        "  internalTrafficPolicy: Cluster",
        "  - IPv4",
        "  ipFamilyPolicy: SingleStack",
    ] {
        assert!(yaml.lines().any(|l| l == line), "{line:?} in\n{yaml}");
    }
    let pod: Value =
        serde_json::from_str(&server.ok(&["get", "pod", "solo", "-o", "json"])).unwrap();
    assert_eq!(pod["kind"], "Pod");
    assert_eq!(
        pod["spec"]["containers"][0]["imagePullPolicy"],
        "IfNotPresent"
    );
    assert_eq!(pod["spec"]["restartPolicy"], "Always");
    assert_eq!(pod["status"]["phase"], "Pending");
    let list: Value = serde_json::from_str(&server.ok(&["get", "deploy", "-o", "json"])).unwrap();
    assert_eq!(list["kind"], "List");
    assert_eq!(list["items"][0]["kind"], "Deployment");
    assert_eq!(
        server.ok(&[
            "get",
            "deploy",
            "web",
            "-o",
            r#"jsonpath={range .spec.template.spec.containers[*]}{.name}={.image}{"\n"}{end}"#
        ]),
        "web=registry.local/web:1.0\nsidecar=registry.local/proxy:2.1\n"
    );
    assert_eq!(
        server.ok(&[
            "get",
            "svc",
            "web",
            "-o",
            "jsonpath={.spec.ports[0].name}:{.spec.ports[0].targetPort}"
        ]),
        "http:8080"
    );
    let columns = server.ok(&[
        "get",
        "pods",
        "-o",
        "custom-columns=NAME:.metadata.name,IMAGE:.spec.containers[0].image,NODE:.spec.nodeName",
    ]);
    let rows: Vec<Vec<&str>> = columns.lines().map(words).collect();
    assert_eq!(
        rows,
        [
            vec!["NAME", "IMAGE", "NODE"],
            vec!["solo", "registry.local/solo:3", "<none>"]
        ]
    );
    assert_eq!(
        server.ok(&["get", "po,svc", "-o", "name"]),
        "pod/solo\nservice/kubernetes\nservice/web\n"
    );
    assert_eq!(
        server.ok(&["get", "deploy,svc", "web", "-o", "name"]),
        "deployment.apps/web\nservice/web\n"
    );
}

#[test]
fn sorting_labels_kinds_and_headers() {
    let server = started();
    for name in ["zeta", "alpha", "mid"] {
        server.ok(&["create", "service", "clusterip", name, "--tcp=80:80"]);
    }
    let sorted = server.ok(&["get", "svc", "--sort-by=.metadata.name", "--no-headers"]);
    let names: Vec<&str> = sorted.lines().map(|l| words(l)[0]).collect();
    assert_eq!(names, ["alpha", "kubernetes", "mid", "web", "zeta"]);
    let by_port = server.ok(&[
        "get",
        "svc",
        "--sort-by=.spec.ports[0].port",
        "-o",
        "custom-columns=NAME:.metadata.name,PORT:.spec.ports[0].port",
        "--no-headers",
    ]);
    assert_eq!(by_port.lines().next().map(words), Some(vec!["alpha", "80"]));
    assert_eq!(
        by_port.lines().last().map(words),
        Some(vec!["kubernetes", "443"])
    );
    // `-L` adds a column per label.
    let labelled = server.ok(&["get", "pods", "-L", "app", "-L", "tier"]);
    let (header, row) = table(&labelled, "solo");
    assert_eq!(header[header.len() - 2..], ["APP", "TIER"]);
    assert_eq!(row[row.len() - 2..], ["solo", "back"]);
    let shown = server.ok(&["get", "deploy", "--show-labels"]);
    let (header, row) = table(&shown, "web");
    assert_eq!(header.last(), Some(&"LABELS"));
    assert_eq!(row.last(), Some(&"app=web,tier=front"));
    // `--show-kind` names the kind of every row.
    let kinds = server.ok(&["get", "deploy", "--show-kind", "--no-headers"]);
    assert!(kinds.starts_with("deployment.apps/web "), "{kinds}");
    let bare = server.ok(&["get", "pods", "--no-headers"]);
    assert!(
        !bare.contains("NAME") && bare.starts_with("solo "),
        "{bare}"
    );
}

#[test]
fn several_kinds_at_once() {
    let server = started();
    let all = server.ok(&["get", "all"]);
    let blocks: Vec<&str> = all.split("\n\n").collect();
    assert_eq!(blocks.len(), 3, "{all}");
    assert!(
        blocks[0].starts_with(
            "NAME       READY   STATUS    RESTARTS   AGE\npod/solo   0/1     Pending   0"
        ),
        "{all}"
    );
    assert!(
        blocks[1].starts_with("NAME                 TYPE        CLUSTER-IP"),
        "{all}"
    );
    assert!(
        blocks[1].contains("\nservice/web          ClusterIP"),
        "{all}"
    );
    assert!(
        blocks[2].starts_with(
            "NAME                  READY   UP-TO-DATE   AVAILABLE   AGE\ndeployment.apps/web   0/3"
        ),
        "{all}"
    );
    let two = server.ok(&["get", "po,svc"]);
    let blocks: Vec<&str> = two.split("\n\n").collect();
    assert_eq!(blocks.len(), 2, "{two}");
    assert!(blocks[0].contains("\npod/solo "), "{two}");
    assert!(blocks[1].contains("\nservice/kubernetes "), "{two}");
    let names = server.ok(&["get", "all", "-o", "name"]);
    assert_eq!(
        names,
        "pod/solo\nservice/kubernetes\nservice/web\ndeployment.apps/web\n"
    );
}

#[test]
fn describe_prints_the_key_lines() {
    let server = started();
    server.ok(&[
        "create",
        "configmap",
        "settings",
        "--from-literal=mode=fast",
    ]);
    server.ok(&[
        "create",
        "secret",
        "generic",
        "token",
        "--from-literal=value=s3cret",
    ]);
    let cases: &[(&[&str], &[&str])] = &[
        (
            &["describe", "deployment", "web"],
            &[
                "Name:                   web",
                "Namespace:              default",
                "Selector:               app=web",
                "Replicas:               3 desired | 0 updated | 0 total | 0 available | 0 unavailable",
                "StrategyType:           RollingUpdate",
                "RollingUpdateStrategy:  25% max unavailable, 25% max surge",
                "    Image:         registry.local/web:1.0",
                "    Port:          8080/TCP",
            ],
        ),
        (
            &["describe", "service", "web"],
            &[
                "Name:                     web",
                "Selector:                 app=web",
                "Type:                     ClusterIP",
                "Port:                     http  80/TCP",
                "TargetPort:               8080/TCP",
                "Session Affinity:         None",
            ],
        ),
        (
            &["describe", "pod", "solo"],
            &[
                "Name:             solo",
                "Namespace:        default",
                "Status:           Pending",
                "    Image:          registry.local/solo:3",
                "QoS Class:                   BestEffort",
            ],
        ),
        (
            &["describe", "configmap", "settings"],
            &["Name:         settings", "mode:", "fast"],
        ),
        (
            &["describe", "secret", "token"],
            &["Name:         token", "Type:  Opaque", "value:  6 bytes"],
        ),
        (
            &["describe", "namespace", "default"],
            &[
                "Name:         default",
                "Labels:       kubernetes.io/metadata.name=default",
                "Status:       Active",
            ],
        ),
    ];
    // Columns are aligned to their widest label: compare words.
    let squeeze = |line: &str| line.split_whitespace().collect::<Vec<_>>().join(" ");
    for (args, lines) in cases {
        let text = server.ok(args);
        for line in *lines {
            assert!(
                text.lines().any(|l| squeeze(l) == squeeze(line)),
                "{args:?}: {line:?} in\n{text}"
            );
        }
        // A secret's value is never shown.
        assert!(!text.contains("s3cret"), "{text}");
    }
}

#[test]
fn explain_prints_upstreams_layout() {
    let server = api_only();
    let containers = server.ok(&["explain", "pods.spec.containers"]);
    assert!(
        containers.starts_with(
            "KIND:       Pod\nVERSION:    v1\n\nFIELD: containers <[]Container>\n\n\nDESCRIPTION:\n    List of containers belonging to the pod."
        ),
        "{containers}"
    );
    for line in [
        "FIELDS:",
        "  args\t<[]string>",
        "  image\t<string>",
        "  imagePullPolicy\t<string>",
        "  enum: Always, IfNotPresent, Never",
        "  name\t<string> -required-",
        "  ports\t<[]ContainerPort>",
        "  resources\t<ResourceRequirements>",
        "  terminationMessagePolicy\t<string>",
        "  enum: FallbackToLogsOnError, File",
    ] {
        assert!(
            containers.lines().any(|l| l == line),
            "{line:?} in\n{containers}"
        );
    }
    let strategy = server.ok(&["explain", "deployment.spec.strategy"]);
    assert_eq!(
        strategy,
        "GROUP:      apps
KIND:       Deployment
VERSION:    v1

FIELD: strategy <DeploymentStrategy>


DESCRIPTION:
    The deployment strategy to use to replace existing pods with new ones.
    DeploymentStrategy describes how to replace existing pods with new ones.
    
FIELDS:
  rollingUpdate\t<RollingUpdateDeployment>
    Rolling update config params. Present only if DeploymentStrategyType =
    RollingUpdate.

  type\t<string>
  enum: Recreate, RollingUpdate
    Type of deployment. Can be \"Recreate\" or \"RollingUpdate\". Default is
    RollingUpdate.
    
    Possible enum values:
     - `\"Recreate\"` Kill all existing pods before creating new ones.
     - `\"RollingUpdate\"` Replace the old ReplicaSets by new one using rolling
    update i.e gradually scale down the old ReplicaSets and scale up the new
    one.


"
    );
    let field = server.ok(&["explain", "deployment.spec.strategy.type"]);
    assert!(
        field.contains("FIELD: type <string>\nENUM:\n    Recreate\n    RollingUpdate\n"),
        "{field}"
    );
    let error = server.fails(&["explain", "pods.spec.nothing"]);
    assert!(
        error.contains("field \"nothing\" does not exist"),
        "{error}"
    );
}
