//! Hollow nodes inside `capstan server --sim-nodes 3`, seen through the
//! real kubectl: registration, podCIDRs, Leases, and pods that run, exit,
//! restart and go away as the annotations and restart policies say.

mod support;

use std::time::{Duration, Instant};

use serde_json::Value;
use support::{wait_for, TestServer};

const WAIT: Duration = Duration::from_secs(30);

type Annotations<'a> = &'a [(&'a str, &'a str)];

fn str_at<'a>(value: &'a Value, pointer: &str) -> &'a str {
    value
        .pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_default()
}

fn condition<'a>(object: &'a Value, kind: &str) -> Option<&'a Value> {
    object
        .pointer("/status/conditions")?
        .as_array()?
        .iter()
        .find(|c| c["type"] == kind)
}

/// The three sim nodes, once all are Ready with a podCIDR.
fn ready_nodes(server: &TestServer) -> Vec<Value> {
    wait_for("3 Ready nodes with podCIDRs", WAIT, || {
        let list = server.get_json(&["get", "nodes"])?;
        let nodes = list["items"].as_array()?.clone();
        let ready = nodes.iter().all(|node| {
            condition(node, "Ready").is_some_and(|c| c["status"] == "True")
                && !str_at(node, "/spec/podCIDR").is_empty()
        });
        (nodes.len() == 3 && ready).then_some(nodes)
    })
}

/// Whether `ip` lies in the IPv4 `cidr`.
fn in_cidr(ip: &str, cidr: &str) -> bool {
    let parse = |text: &str| text.parse::<std::net::Ipv4Addr>().ok().map(u32::from);
    let Some((network, bits)) = cidr.split_once('/') else {
        return false;
    };
    let (Some(ip), Some(network), Ok(bits)) = (parse(ip), parse(network), bits.parse::<u32>())
    else {
        return false;
    };
    let mask = u32::MAX << (32 - bits);
    ip & mask == network & mask
}

fn pod_manifest(name: &str, node: &str, policy: &str, annotations: &[(&str, &str)]) -> String {
    let annotations: String = annotations
        .iter()
        .map(|(k, v)| format!("    {k}: \"{v}\"\n"))
        .collect();
    let annotations = if annotations.is_empty() {
        String::new()
    } else {
        format!("  annotations:\n{annotations}")
    };
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\n{annotations}spec:\n  nodeName: {node}\n  restartPolicy: {policy}\n  containers:\n  - name: app\n    image: registry.example/app:1.0\n"
    )
}

fn pod_where(server: &TestServer, name: &str, what: &str, check: impl Fn(&Value) -> bool) -> Value {
    wait_for(&format!("pod {name}: {what}"), WAIT, || {
        server
            .get_json(&["get", "pod", name])
            .filter(|pod| check(pod))
    })
}

fn app_status(pod: &Value) -> &Value {
    &pod["status"]["containerStatuses"][0]
}

#[test]
fn nodes_register_ready_with_distinct_pod_cidrs_and_leases() {
    let server = TestServer::start_with(&["--sim-nodes", "3"]);
    let nodes = ready_nodes(&server);
    let mut cidrs: Vec<&str> = nodes.iter().map(|n| str_at(n, "/spec/podCIDR")).collect();
    for node in &nodes {
        let name = str_at(node, "/metadata/name");
        assert!(name.starts_with("sim-"), "{name}");
        let cidr = str_at(node, "/spec/podCIDR");
        assert!(
            cidr.ends_with("/24") && in_cidr(cidr.split('/').next().unwrap(), "10.42.0.0/16"),
            "{cidr}"
        );
        assert_eq!(node["spec"]["podCIDRs"][0], cidr);
        assert_eq!(node["metadata"]["labels"]["kubernetes.io/hostname"], name);
        assert_eq!(node["metadata"]["labels"]["kubernetes.io/os"], "linux");
        assert_eq!(node["status"]["capacity"]["cpu"], "8");
        assert_eq!(node["status"]["capacity"]["memory"], "32Gi");
        assert_eq!(node["status"]["allocatable"]["pods"], "110");
        let ready = condition(node, "Ready").unwrap();
        assert_eq!(ready["reason"], "KubeletReady");
        assert!(str_at(node, "/status/nodeInfo/kubeletVersion").starts_with("v1."));
        assert_eq!(node["status"]["addresses"][0]["type"], "InternalIP");
    }
    cidrs.sort();
    cidrs.dedup();
    assert_eq!(cidrs.len(), 3, "podCIDRs must differ");

    let leases = wait_for("a Lease per node", WAIT, || {
        let list = server.get_json(&["get", "leases", "-n", "kube-node-lease"])?;
        let items = list["items"].as_array()?.clone();
        (items.len() == 3).then_some(items)
    });
    for lease in &leases {
        assert_eq!(lease["spec"]["holderIdentity"], lease["metadata"]["name"]);
        assert_eq!(lease["spec"]["leaseDurationSeconds"], 40);
        assert_eq!(lease["metadata"]["ownerReferences"][0]["kind"], "Node");
    }
    let table = server.ok(&["get", "nodes"]);
    assert_eq!(table.matches(" Ready ").count(), 3, "{table}");
}

#[test]
fn a_bound_pod_runs_with_an_address_from_its_node() {
    let server = TestServer::start_with(&["--sim-nodes", "3"]);
    let nodes = ready_nodes(&server);
    let node = nodes
        .iter()
        .find(|n| n["metadata"]["name"] == "sim-1")
        .unwrap();
    server.ok_stdin(
        &["apply", "-f", "-"],
        &pod_manifest("web", "sim-1", "Always", &[]),
    );
    let pod = pod_where(&server, "web", "Running and Ready", |pod| {
        pod["status"]["phase"] == "Running"
            && condition(pod, "Ready").is_some_and(|c| c["status"] == "True")
    });
    let ip = str_at(&pod, "/status/podIP");
    assert!(
        in_cidr(ip, str_at(node, "/spec/podCIDR")),
        "{ip} not in the node's CIDR"
    );
    assert_eq!(pod["status"]["podIPs"][0]["ip"], ip);
    assert_eq!(
        pod["status"]["hostIP"],
        node["status"]["addresses"][0]["address"]
    );
    assert_eq!(pod["status"]["hostIPs"][0]["ip"], pod["status"]["hostIP"]);
    assert!(!str_at(&pod, "/status/startTime").is_empty());
    assert_eq!(pod["status"]["qosClass"], "BestEffort");
    for kind in ["PodScheduled", "Initialized", "ContainersReady", "Ready"] {
        assert_eq!(condition(&pod, kind).unwrap()["status"], "True", "{kind}");
    }
    let app = app_status(&pod);
    assert_eq!(app["name"], "app");
    assert_eq!(app["image"], "registry.example/app:1.0");
    assert!(str_at(app, "/imageID").starts_with("registry.example/app@sha256:"));
    assert!(str_at(app, "/containerID").starts_with("sim://"));
    assert_eq!(app["started"], true);
    assert_eq!(app["ready"], true);
    assert_eq!(app["restartCount"], 0);
    assert!(app["state"]["running"]["startedAt"].is_string());

    let wide = server.ok(&["get", "pods", "-o", "wide"]);
    let row = wide
        .lines()
        .find(|l| l.starts_with("web "))
        .expect("a row for web");
    for cell in ["1/1", "Running", ip, "sim-1"] {
        assert!(row.contains(cell), "{cell} missing from {row:?}");
    }
}

#[test]
fn annotations_and_restart_policies() {
    let server = TestServer::start_with(&["--sim-nodes", "3"]);
    ready_nodes(&server);
    let cases: &[(&str, &str, Annotations)] = &[
        ("never-ok", "Never", &[("sim.capstan.dev/exit-after", "1s")]),
        (
            "never-fails",
            "Never",
            &[
                ("sim.capstan.dev/exit-after", "1s"),
                ("sim.capstan.dev/exit-code", "3"),
            ],
        ),
        (
            "onfailure-ok",
            "OnFailure",
            &[("sim.capstan.dev/exit-after", "1s")],
        ),
        (
            "onfailure-fails",
            "OnFailure",
            &[
                ("sim.capstan.dev/exit-after", "1s"),
                ("sim.capstan.dev/exit-code", "1"),
            ],
        ),
        (
            "always-exits",
            "Always",
            &[("sim.capstan.dev/exit-after", "1s")],
        ),
        ("unready", "Always", &[("sim.capstan.dev/ready", "false")]),
    ];
    for (index, (name, policy, annotations)) in cases.iter().enumerate() {
        let node = format!("sim-{}", index % 3);
        server.ok_stdin(
            &["apply", "-f", "-"],
            &pod_manifest(name, &node, policy, annotations),
        );
    }

    let pod = pod_where(&server, "never-ok", "Succeeded", |p| {
        p["status"]["phase"] == "Succeeded"
    });
    let done = &app_status(&pod)["state"]["terminated"];
    assert_eq!(
        (done["exitCode"].as_i64(), done["reason"].as_str()),
        (Some(0), Some("Completed"))
    );
    assert_eq!(app_status(&pod)["restartCount"], 0);
    assert_eq!(condition(&pod, "Ready").unwrap()["reason"], "PodCompleted");

    let pod = pod_where(&server, "never-fails", "Failed", |p| {
        p["status"]["phase"] == "Failed"
    });
    let done = &app_status(&pod)["state"]["terminated"];
    assert_eq!(
        (done["exitCode"].as_i64(), done["reason"].as_str()),
        (Some(3), Some("Error"))
    );

    let pod = pod_where(&server, "onfailure-ok", "Succeeded", |p| {
        p["status"]["phase"] == "Succeeded"
    });
    assert_eq!(app_status(&pod)["restartCount"], 0);

    // Failures restart: at once the first time, then after a 10 s back-off.
    let pod = pod_where(&server, "onfailure-fails", "restarted", |p| {
        app_status(p)["restartCount"].as_i64() >= Some(1)
    });
    assert_eq!(pod["status"]["phase"], "Running");
    let last = &app_status(&pod)["lastState"]["terminated"];
    assert_eq!(
        (last["exitCode"].as_i64(), last["reason"].as_str()),
        (Some(1), Some("Error"))
    );
    let pod = pod_where(&server, "onfailure-fails", "in CrashLoopBackOff", |p| {
        app_status(p)["state"]["waiting"]["reason"] == "CrashLoopBackOff"
    });
    let message = str_at(app_status(&pod), "/state/waiting/message");
    assert!(
        message.starts_with(
            "back-off 10s restarting failed container=app pod=onfailure-fails_default("
        ),
        "{message}"
    );

    let pod = pod_where(&server, "always-exits", "restarted", |p| {
        app_status(p)["restartCount"].as_i64() >= Some(1)
    });
    assert_eq!(pod["status"]["phase"], "Running");
    assert_eq!(
        app_status(&pod)["lastState"]["terminated"]["reason"],
        "Completed"
    );

    let pod = pod_where(&server, "unready", "Running", |p| {
        p["status"]["phase"] == "Running"
    });
    let ready = condition(&pod, "Ready").unwrap();
    assert_eq!(ready["status"], "False");
    assert_eq!(ready["reason"], "ContainersNotReady");
    assert_eq!(ready["message"], "containers with unready status: [app]");
    assert_eq!(app_status(&pod)["started"], true);
    let table = server.ok(&["get", "pod", "unready"]);
    assert!(table.contains("0/1"), "{table}");
}

#[test]
fn deleted_pods_are_stopped_and_removed_by_their_node() {
    let server = TestServer::start_with(&["--sim-nodes", "3"]);
    ready_nodes(&server);
    server.ok_stdin(
        &["apply", "-f", "-"],
        &pod_manifest("doomed", "sim-2", "Always", &[]),
    );
    pod_where(&server, "doomed", "Running", |p| {
        p["status"]["phase"] == "Running"
    });
    // The default grace period is 30 s; only the node's final delete with
    // grace period 0 lets kubectl return well before that.
    let started = Instant::now();
    server.ok(&["delete", "pod", "doomed", "--timeout=25s"]);
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "took {:?}",
        started.elapsed()
    );
    let missing = server.fails(&["get", "pod", "doomed"]);
    assert!(missing.contains("NotFound"), "{missing}");

    // A pod bound to a node the agent does not run stays Pending.
    server.ok_stdin(
        &["apply", "-f", "-"],
        &pod_manifest("elsewhere", "no-such-node", "Always", &[]),
    );
    std::thread::sleep(Duration::from_secs(2));
    let pod = server.get_json(&["get", "pod", "elsewhere"]).expect("pod");
    assert!(pod["status"]["containerStatuses"].is_null(), "{pod}");
}
