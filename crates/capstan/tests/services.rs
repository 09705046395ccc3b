//! Services on real containers: ClusterIP through the service proxy,
//! names through cluster DNS, NodePort and LoadBalancer from the host, and
//! Ingress by host and path with TLS. Run one at a time with the other
//! container tests (nextest group `containers`).

mod support;

use std::collections::BTreeSet;
use std::process::Command;
use std::time::Duration;

use support::cluster::{can_run_containers, image, Cluster, NODE, POD_START};
use support::wait_for;

/// A pod labelled `labels` (YAML flow map) answering HTTP on 8080 with
/// `body` at `/` and at each of `paths`.
fn web_pod(name: &str, labels: &str, body: &str, paths: &[&str]) -> String {
    let dirs: String = paths.iter().map(|p| format!(" /www{p}")).collect();
    format!(
        r#"
---
apiVersion: v1
kind: Pod
metadata: {{name: {name}, labels: {labels}}}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: web
    image: {image}
    command: ["sh", "-c", "for d in /www{dirs}; do mkdir -p $d && echo {body} > $d/index.html; done && exec httpd -f -p 8080 -h /www"]
    ports: [{{name: http, containerPort: 8080}}]
"#,
        image = image()
    )
}

/// A pod labelled `labels` that stays up doing nothing: a client to exec
/// requests from.
fn client_pod(name: &str, labels: &str) -> String {
    format!(
        r#"
---
apiVersion: v1
kind: Pod
metadata: {{name: {name}, labels: {labels}}}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: client
    image: {image}
    command: ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"]
"#,
        image = image()
    )
}

/// Three pods answering HTTP on 8080 with their own name while
/// /tmp/ready exists (their readiness), a Service and a headless Service
/// over them, and a client pod.
fn backends_and_client(cluster: &Cluster) -> Vec<String> {
    cluster.apply(&format!(
        r#"
apiVersion: apps/v1
kind: Deployment
metadata: {{name: web}}
spec:
  replicas: 3
  selector: {{matchLabels: {{app: web}}}}
  template:
    metadata: {{labels: {{app: web}}}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: web
        image: {image}
        command: ["sh", "-c", "mkdir -p /www && hostname > /www/index.html && touch /tmp/ready && exec httpd -f -p 8080 -h /www"]
        ports: [{{containerPort: 8080, name: http}}]
        readinessProbe:
          exec: {{command: ["test", "-f", "/tmp/ready"]}}
          periodSeconds: 1
---
apiVersion: v1
kind: Service
metadata: {{name: web}}
spec:
  selector: {{app: web}}
  ports: [{{name: http, port: 80, targetPort: http}}]
---
apiVersion: v1
kind: Service
metadata: {{name: web-headless}}
spec:
  clusterIP: None
  selector: {{app: web}}
  ports: [{{name: http, port: 8080}}]
"#,
        image = image()
    ));
    cluster.apply(&client_pod("client", "{}"));
    let server = &cluster.server;
    server.ok(&["rollout", "status", "deployment/web", "--timeout=120s"]);
    cluster.wait_running("client");
    let pods = server
        .get_json(&["get", "pods", "-l", "app=web"])
        .expect("pods");
    pods["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|p| {
            p["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        })
        .collect()
}

/// Runs `script` in the client pod; its standard output, or None when it
/// failed.
fn in_client(cluster: &Cluster, script: &str) -> Option<String> {
    let output = cluster
        .server
        .kubectl(&["exec", "client", "--", "sh", "-c", script]);
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).into_owned())
}

/// The names that answered `count` requests to `url` from the client.
fn answers(cluster: &Cluster, url: &str, count: usize) -> BTreeSet<String> {
    let script = format!("for i in $(seq {count}); do timeout 3 wget -qO- {url}; done; true");
    in_client(cluster, &script)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

fn node_ip(cluster: &Cluster) -> String {
    cluster.server.ok(&[
        "get",
        "node",
        NODE,
        "-o",
        "jsonpath={.status.addresses[?(@.type==\"InternalIP\")].address}",
    ])
}

/// The addresses in the object's `status.loadBalancer`, once it has any.
fn load_balancer_address(cluster: &Cluster, kind: &str, name: &str) -> String {
    wait_for(
        &format!("{kind} {name}'s load balancer address"),
        POD_START,
        || {
            let address = cluster.server.ok(&[
                "get",
                kind,
                name,
                "-o",
                "jsonpath={.status.loadBalancer.ingress[*].ip}",
            ]);
            (!address.is_empty()).then_some(address)
        },
    )
}

/// `curl` from the host, with a bounded time; its output (or an empty
/// string on failure).
fn curl(args: &[&str]) -> String {
    let output = Command::new("curl")
        .args(["-s", "--max-time", "3"])
        .args(args)
        .output()
        .expect("curl");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn a_service_balances_over_its_ready_pods_by_name_and_address() {
    if !can_run_containers() {
        return;
    }
    let cluster = Cluster::start();
    let server = &cluster.server;
    let pods: BTreeSet<String> = backends_and_client(&cluster).into_iter().collect();
    assert_eq!(pods.len(), 3);

    // By its short name, every backend gets traffic.
    let seen = wait_for("all three backends behind web", POD_START, || {
        let seen = answers(&cluster, "http://web/", 40);
        (seen == pods).then_some(seen)
    });
    assert_eq!(seen, pods);
    // By its full name too.
    let full = answers(&cluster, "http://web.default.svc.cluster.local/", 3);
    assert!(!full.is_empty() && full.is_subset(&pods), "{full:?}");

    // The headless Service's name lists the pods' addresses.
    let ips: BTreeSet<String> = server
        .ok(&[
            "get",
            "pods",
            "-l",
            "app=web",
            "-o",
            "jsonpath={.items[*].status.podIP}",
        ])
        .split_whitespace()
        .map(str::to_string)
        .collect();
    let lookup = in_client(&cluster, "nslookup web-headless.default.svc.cluster.local")
        .expect("nslookup of the headless service");
    for ip in &ips {
        assert!(lookup.contains(ip.as_str()), "{ip} missing from:\n{lookup}");
    }

    // From the node itself, through the ClusterIP.
    let cluster_ip = server.ok(&["get", "svc", "web", "-o", "jsonpath={.spec.clusterIP}"]);
    let from_host = curl(&[&format!("http://{cluster_ip}/")]);
    assert!(pods.contains(from_host.trim()), "{from_host:?}");

    // A backend that turns not-ready stops receiving traffic.
    let gone = pods.iter().next().expect("a pod").clone();
    server.ok(&["exec", &gone, "--", "rm", "/tmp/ready"]);
    wait_for("the not-ready pod out of the endpoints", POD_START, || {
        let slices = server.get_json(&[
            "get",
            "endpointslices",
            "-l",
            "kubernetes.io/service-name=web",
        ])?;
        let ready: Vec<String> = slices["items"]
            .as_array()?
            .iter()
            .flat_map(|s| s["endpoints"].as_array().cloned().unwrap_or_default())
            .filter(|e| e["conditions"]["ready"] == true)
            .filter_map(|e| e["targetRef"]["name"].as_str().map(str::to_string))
            .collect();
        (ready.len() == 2 && !ready.contains(&gone)).then_some(())
    });
    // The rules follow the slices within a moment.
    std::thread::sleep(Duration::from_secs(1));
    let after = answers(&cluster, "http://web/", 30);
    assert!(!after.contains(&gone), "{gone} still answered: {after:?}");
    assert_eq!(after.len(), 2, "{after:?}");
}

#[test]
fn node_port_and_load_balancer_reach_a_pod_from_the_host() {
    if !can_run_containers() {
        return;
    }
    let cluster = Cluster::start();
    let server = &cluster.server;
    let pod = web_pod("echo", "{app: echo}", "echo-pod", &[]);
    cluster.apply(&format!(
        r#"{pod}
---
apiVersion: v1
kind: Service
metadata: {{name: echo-np}}
spec:
  type: NodePort
  selector: {{app: echo}}
  ports: [{{port: 80, targetPort: 8080, nodePort: 30480}}]
---
apiVersion: v1
kind: Service
metadata: {{name: echo-lb}}
spec:
  type: LoadBalancer
  selector: {{app: echo}}
  ports: [{{port: 8481, targetPort: 8080}}]
"#,
    ));
    cluster.wait_running("echo");
    let ip = node_ip(&cluster);

    let through_node_port = wait_for("the NodePort to answer", POD_START, || {
        let body = curl(&[&format!("http://{ip}:30480/")]);
        body.contains("echo-pod").then_some(body)
    });
    assert_eq!(through_node_port.trim(), "echo-pod");
    // Hairpin: the pod reaches itself through its own Service.
    let hairpin = server.kubectl(&[
        "exec",
        "echo",
        "--",
        "timeout",
        "3",
        "wget",
        "-qO-",
        "http://echo-np/",
    ]);
    assert_eq!(String::from_utf8_lossy(&hairpin.stdout).trim(), "echo-pod");

    // The load balancer gives the node's address, and serves the port there.
    let ingress = load_balancer_address(&cluster, "svc", "echo-lb");
    assert_eq!(ingress, ip);
    let through_lb = wait_for("the load balancer to answer", POD_START, || {
        let body = curl(&[&format!("http://{ingress}:8481/")]);
        body.contains("echo-pod").then_some(body)
    });
    assert_eq!(through_lb.trim(), "echo-pod");
    let row = server.ok(&["get", "svc", "echo-lb", "--no-headers"]);
    assert!(row.split_whitespace().nth(3) == Some(ip.as_str()), "{row}");

    // With externalTrafficPolicy Local it gets a health check node port,
    // where the node says it has the pod, as kube-proxy does.
    server.ok(&[
        "patch",
        "svc",
        "echo-lb",
        "-p",
        r#"{"spec":{"externalTrafficPolicy":"Local"}}"#,
    ]);
    let health_port = server.ok(&[
        "get",
        "svc",
        "echo-lb",
        "-o",
        "jsonpath={.spec.healthCheckNodePort}",
    ]);
    let health = wait_for("the health check node port to answer", POD_START, || {
        let body = curl(&["-f", &format!("http://{ip}:{health_port}/healthz")]);
        (!body.is_empty()).then_some(body)
    });
    let health: serde_json::Value = serde_json::from_str(&health).expect("JSON");
    assert_eq!(health["service"]["name"], "echo-lb", "{health}");
    assert_eq!(health["localEndpoints"], 1, "{health}");

    // A second one on the same port has nowhere to go: it stays pending,
    // and says why.
    cluster.apply(
        r#"
apiVersion: v1
kind: Service
metadata: {name: echo-lb2}
spec:
  type: LoadBalancer
  selector: {app: echo}
  ports: [{port: 8481, targetPort: 8080}]
"#,
    );
    let event = wait_for("an event about the taken port", POD_START, || {
        let events = server.ok(&[
            "get",
            "events",
            "--field-selector",
            "involvedObject.name=echo-lb2,reason=SyncLoadBalancerFailed",
            "-o",
            "jsonpath={.items[*].message}",
        ]);
        (!events.is_empty()).then_some(events)
    });
    assert!(
        event.contains("port 8481/TCP is in use on every node (by service default/echo-lb)"),
        "{event}"
    );
    let pending = server.ok(&["get", "svc", "echo-lb2", "--no-headers"]);
    assert_eq!(
        pending.split_whitespace().nth(3),
        Some("<pending>"),
        "{pending}"
    );
}

#[test]
fn ingress_routes_by_host_and_path_with_tls() {
    if !can_run_containers() {
        return;
    }
    let cluster = Cluster::start();
    let server = &cluster.server;
    let certificate = rcgen::generate_simple_self_signed(vec!["shop.example.test".to_string()])
        .expect("a certificate");
    let dir = tempfile::tempdir().expect("a temporary dir");
    let cert_file = dir.path().join("tls.crt");
    let key_file = dir.path().join("tls.key");
    std::fs::write(&cert_file, certificate.cert.pem()).unwrap();
    std::fs::write(&key_file, certificate.signing_key.serialize_pem()).unwrap();
    server.ok(&[
        "create",
        "secret",
        "tls",
        "shop-tls",
        &format!("--cert={}", cert_file.display()),
        &format!("--key={}", key_file.display()),
    ]);
    let mut manifest = String::new();
    for name in ["front", "api"] {
        manifest.push_str(&web_pod(
            name,
            &format!("{{app: {name}}}"),
            name,
            &["/api", "/apiary"],
        ));
        manifest.push_str(&format!(
            r#"
---
apiVersion: v1
kind: Service
metadata: {{name: {name}}}
spec:
  selector: {{app: {name}}}
  ports: [{{name: http, port: 80, targetPort: 8080}}]
"#
        ));
    }
    manifest.push_str(
        r#"
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: shop}
spec:
  tls:
  - hosts: [shop.example.test]
    secretName: shop-tls
  rules:
  - host: shop.example.test
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: front, port: {number: 80}}}}
      - {path: /api, pathType: Prefix, backend: {service: {name: api, port: {name: http}}}}
"#,
    );
    cluster.apply(&manifest);
    cluster.wait_running("front");
    cluster.wait_running("api");

    let ca = cert_file.to_str().unwrap();
    let https = |path: &str| {
        curl(&[
            "--resolve",
            "shop.example.test:443:127.0.0.1",
            "--cacert",
            ca,
            &format!("https://shop.example.test{path}"),
        ])
    };
    let front = wait_for("the ingress to route", POD_START, || {
        let body = https("/");
        body.contains("front").then_some(body)
    });
    assert_eq!(front.trim(), "front");
    assert_eq!(https("/api/").trim(), "api");
    assert_eq!(
        https("/apiary/").trim(),
        "front",
        "Prefix matches whole path elements"
    );
    // Plain HTTP to a TLS host is redirected, as ingress-nginx does.
    let redirect = curl(&[
        "-o",
        "/dev/null",
        "-w",
        "%{http_code} %{redirect_url}",
        "-H",
        "Host: shop.example.test",
        "http://127.0.0.1/api/",
    ]);
    assert_eq!(redirect, "308 https://shop.example.test/api/");
    // Unknown hosts get 404.
    let unknown = curl(&[
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        "-H",
        "Host: nowhere.example.test",
        "http://127.0.0.1/",
    ]);
    assert_eq!(unknown, "404");
    // The Ingress names where it is served, and the default class is ours.
    let ip = node_ip(&cluster);
    let address = load_balancer_address(&cluster, "ingress", "shop");
    assert_eq!(address, ip);
    let class = server.ok(&[
        "get",
        "ingressclass",
        "capstan",
        "-o",
        "jsonpath={.metadata.annotations}",
    ]);
    assert!(class.contains("is-default-class"), "{class}");
}

#[test]
fn a_network_policy_blocks_then_an_allow_rule_opens_traffic() {
    if !can_run_containers() {
        return;
    }
    let cluster = Cluster::start();
    let server = &cluster.server;
    let manifest = [
        web_pod("guarded", "{app: guarded}", "guarded", &[]),
        client_pod("friend", "{role: friend}"),
        client_pod("stranger", "{role: stranger}"),
    ]
    .concat();
    cluster.apply(&manifest);
    for pod in ["guarded", "friend", "stranger"] {
        cluster.wait_running(pod);
    }
    let ip = server.ok(&["get", "pod", "guarded", "-o", "jsonpath={.status.podIP}"]);
    let url = format!("http://{ip}:8080/");
    let reaches = |from: &str| {
        let output = server.kubectl(&["exec", from, "--", "timeout", "2", "wget", "-qO-", &url]);
        output.status.success() && String::from_utf8_lossy(&output.stdout).trim() == "guarded"
    };
    assert!(
        reaches("friend") && reaches("stranger"),
        "open before any policy"
    );

    cluster.apply(
        r#"
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny-all}
spec:
  podSelector: {matchLabels: {app: guarded}}
  policyTypes: [Ingress]
"#,
    );
    wait_for("the default deny to block", POD_START, || {
        (!reaches("friend")).then_some(())
    });
    assert!(!reaches("stranger"));
    // The node itself still reaches the pod (probes must).
    assert_eq!(curl(&[&url]).trim(), "guarded");

    cluster.apply(
        r#"
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: friends-in}
spec:
  podSelector: {matchLabels: {app: guarded}}
  ingress:
  - from: [{podSelector: {matchLabels: {role: friend}}}]
    ports: [{port: http}]
"#,
    );
    wait_for("the allow rule to open for the friend", POD_START, || {
        reaches("friend").then_some(())
    });
    assert!(!reaches("stranger"), "only the friend is allowed");
}
