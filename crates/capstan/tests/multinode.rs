//! Several nodes on one machine: a server and three `capstan agent`s,
//! each agent in a network namespace of its own, on two networks joined
//! by a router, as machines are. Pods reach pods and Services across
//! nodes: through plain routes between the two agents that share a
//! network, through VXLAN to the one on the other network. Run one at a
//! time with the other container tests (nextest group `containers`).

mod support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use support::cluster::{can_run_containers, POD_START};
use support::images::busybox_image;
use support::{wait_for, TestServer};

/// The two networks: the switch's bridge for each, and the first three
/// octets of its addresses. The server's machine is on the first.
const NETWORKS: [(&str, &str); 2] = [("cmn-br", "10.210.0"), ("cmn-br2", "10.211.0")];
const SERVER_IP: &str = "10.210.0.1";
/// The image every pod runs, imported into each agent from a tarball
/// (the namespaces cannot reach the test registry on the host's loopback).
const IMAGE: &str = "capstan.test/busybox:multinode";

fn ip(args: &[&str]) {
    let output = Command::new("ip").args(args).output().expect("ip");
    assert!(
        output.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The bridge of the network of `address`, and its router's address
/// (`.254`).
fn network_of(address: &str) -> (&'static str, String) {
    let (bridge, prefix) = NETWORKS
        .iter()
        .find(|(_, prefix)| address.starts_with(&format!("{prefix}.")))
        .expect("an address on a test network");
    (bridge, format!("{prefix}.254"))
}

/// The test networks: a switch (a namespace holding one bridge per
/// network, and routing between them with an address on each), the host
/// on the first network as the server's machine, and one namespace per
/// agent. The bridges live in their own namespace so that the host's
/// packet rules (br_netfilter passes bridged packets through them) never
/// see traffic between agents, as on a real switch. Removed on drop, also
/// after a failure.
struct Network {
    namespaces: Vec<String>,
}

const SWITCH: &str = "cmn-sw";
const HOST_END: &str = "cmn-host";

impl Network {
    fn create(agents: &[(&str, &str)]) -> Network {
        let mut namespaces = vec![SWITCH.to_string()];
        namespaces.extend(agents.iter().map(|(name, _)| name.to_string()));
        let network = Network { namespaces };
        network.remove();
        let in_switch = |args: &[&str]| {
            let mut all = vec!["netns", "exec", SWITCH, "ip"];
            all.extend_from_slice(args);
            ip(&all);
        };
        let switch_sysctl = |setting: &str| {
            Command::new("ip")
                .args(["netns", "exec", SWITCH, "sysctl", "-qw", setting])
                .output()
        };
        ip(&["netns", "add", SWITCH]);
        in_switch(&["link", "set", "lo", "up"]);
        for (bridge, prefix) in NETWORKS {
            in_switch(&["link", "add", bridge, "type", "bridge"]);
            in_switch(&["addr", "add", &format!("{prefix}.254/24"), "dev", bridge]);
            in_switch(&["link", "set", bridge, "up"]);
        }
        // A switch forwards frames and a router packets; neither filters.
        let _ = switch_sysctl("net.bridge.bridge-nf-call-iptables=0");
        let forwarding = switch_sysctl("net.ipv4.ip_forward=1").expect("sysctl");
        assert!(forwarding.status.success(), "{forwarding:?}");
        // The host's port, then each agent's: a veth from the switch to
        // the machine, with the machine's address on its end.
        let mut ends = vec![(None, SERVER_IP)];
        ends.extend(agents.iter().map(|(name, address)| (Some(*name), *address)));
        for (namespace, address) in ends {
            let (bridge, router) = network_of(address);
            let (port, end) = match namespace {
                Some(name) => (format!("{name}-sw"), "eth-cmn"),
                None => (format!("{HOST_END}-sw"), HOST_END),
            };
            let on_machine = |args: &[&str]| match namespace {
                Some(name) => {
                    let mut all = vec!["netns", "exec", name, "ip"];
                    all.extend_from_slice(args);
                    ip(&all);
                }
                None => ip(args),
            };
            let mut add = vec![
                "link", "add", &port, "netns", SWITCH, "type", "veth", "peer", "name", end,
            ];
            if let Some(name) = namespace {
                ip(&["netns", "add", name]);
                add.extend(["netns", name]);
            }
            ip(&add);
            in_switch(&["link", "set", &port, "master", bridge]);
            in_switch(&["link", "set", &port, "up"]);
            if namespace.is_some() {
                on_machine(&["link", "set", "lo", "up"]);
            }
            on_machine(&["addr", "add", &format!("{address}/24"), "dev", end]);
            on_machine(&["link", "set", end, "up"]);
            if namespace.is_some() {
                on_machine(&["route", "add", "default", "via", &router]);
            }
        }
        // The host reaches the other networks through the router.
        let (_, router) = network_of(SERVER_IP);
        for (_, prefix) in &NETWORKS[1..] {
            ip(&["route", "add", &format!("{prefix}.0/24"), "via", &router]);
        }
        network
    }

    fn remove(&self) {
        let (_, router) = network_of(SERVER_IP);
        for (_, prefix) in &NETWORKS[1..] {
            let _ = Command::new("ip")
                .args(["route", "del", &format!("{prefix}.0/24"), "via", &router])
                .output();
        }
        for name in &self.namespaces {
            let _ = Command::new("ip").args(["netns", "del", name]).output();
        }
        let _ = Command::new("ip").args(["link", "del", HOST_END]).output();
    }
}

impl Drop for Network {
    fn drop(&mut self) {
        self.remove();
    }
}

/// A `capstan agent` in a namespace, stopped (and its containers with it)
/// on drop.
struct Agent {
    namespace: String,
    data_dir: PathBuf,
    child: Child,
}

impl Agent {
    fn start(namespace: &str, server: &TestServer, dir: &Path) -> Agent {
        let data_dir = dir.join(namespace);
        let images = data_dir.join("agent").join("images");
        std::fs::create_dir_all(&images).unwrap();
        std::fs::write(images.join("busybox.tar"), busybox_image().archive(IMAGE)).unwrap();
        let log = std::fs::File::create(dir.join(format!("{namespace}.log"))).unwrap();
        // nsenter joins only the network namespace: `ip netns exec` would
        // also remount /sys, hiding the cgroup mounts runc needs.
        let child = Command::new("nsenter")
            .arg(format!("--net=/run/netns/{namespace}"))
            .args([env!("CARGO_BIN_EXE_capstan"), "agent"])
            .arg("--server")
            .arg(format!("https://{SERVER_IP}:{}", server.port))
            .arg("--token-file")
            .arg(server.data_dir().join("node-token"))
            .arg("--data-dir")
            .arg(&data_dir)
            .args(["--node-name", namespace])
            // As the test clusters: no pressure taints from a busy disk.
            .args([
                "--eviction-hard",
                "memory.available<1Mi,nodefs.available<1%,nodefs.inodesFree<1%",
            ])
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .stdin(Stdio::null())
            .spawn()
            .expect("capstan agent");
        Agent {
            namespace: namespace.to_string(),
            data_dir,
            child,
        }
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        // nsenter runs the agent in its own place: this is its pid.
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .output();
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while std::time::Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = Command::new("nsenter")
            .arg(format!("--net=/run/netns/{}", self.namespace))
            .args([env!("CARGO_BIN_EXE_capstan"), "killall"])
            .arg("--data-dir")
            .arg(&self.data_dir)
            .output();
    }
}

/// A web server answering its name at `/`, and at `/cgi-bin/ip` the
/// address a request came from.
fn pod_on(name: &str, node: &str) -> String {
    format!(
        r#"
---
apiVersion: v1
kind: Pod
metadata: {{name: {name}, labels: {{app: {name}}}}}
spec:
  nodeName: {node}
  terminationGracePeriodSeconds: 1
  containers:
  - name: web
    image: {IMAGE}
    imagePullPolicy: Never
    command:
    - sh
    - -c
    - |
      mkdir -p /www/cgi-bin && echo {name} > /www/index.html
      printf '#!/bin/sh\necho Content-Type: text/plain\necho\necho "$REMOTE_ADDR"\n' > /www/cgi-bin/ip
      busybox chmod +x /www/cgi-bin/ip
      exec httpd -f -p 8080 -h /www
"#
    )
}

/// Runs `args` in the network namespace `namespace`; its output.
fn inside(namespace: &str, args: &[&str]) -> String {
    Command::new("nsenter")
        .arg(format!("--net=/run/netns/{namespace}"))
        .args(args)
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default()
}

#[test]
fn pods_reach_pods_and_services_on_other_nodes() {
    if !can_run_containers() {
        return;
    }
    // a and b share a network: plain routes between them; c is on the
    // other: VXLAN to both.
    let agents = [
        ("cmn-a", "10.210.0.2"),
        ("cmn-b", "10.210.0.3"),
        ("cmn-c", "10.211.0.4"),
    ];
    let _network = Network::create(&agents);
    let server = TestServer::start_raw(&[
        "--disable-agent",
        "--bind-address",
        "0.0.0.0",
        "--tls-san",
        SERVER_IP,
    ]);
    let dir = tempfile::Builder::new()
        .prefix("capstan-multinode-")
        .tempdir()
        .unwrap();
    let _agents: Vec<Agent> = agents
        .iter()
        .map(|(name, _)| Agent::start(name, &server, dir.path()))
        .collect();
    // What each agent said, its routes, packet rules and VXLAN device:
    // shown when a check fails.
    let logs = || {
        agents
            .iter()
            .map(|(n, _)| {
                let show = |args: &[&str]| format!("$ {}\n{}", args.join(" "), inside(n, args));
                format!(
                    "{n}:\n{}\n{}\n{}\n{}\n{}",
                    std::fs::read_to_string(dir.path().join(format!("{n}.log")))
                        .unwrap_or_default(),
                    show(&["ip", "route"]),
                    show(&["ip", "-d", "link", "show", "flannel.1"]),
                    show(&["bridge", "fdb", "show", "dev", "flannel.1"]),
                    show(&["nft", "list", "ruleset"]),
                )
            })
            .collect::<Vec<_>>()
            .join("\n---\n")
    };
    wait_for("the agents' nodes Ready", POD_START, || {
        let ready = server.ok(&[
            "get",
            "nodes",
            "-o",
            "jsonpath={.items[*].status.conditions[?(@.type==\"Ready\")].status}",
        ]);
        (ready == "True True True").then_some(())
    });
    // Each node is who it says: its own client certificate.
    let nodes = server.ok(&[
        "get",
        "nodes",
        "-o",
        "jsonpath={.items[*].status.addresses[0].address}",
    ]);
    assert_eq!(nodes, "10.210.0.2 10.210.0.3 10.211.0.4", "{}", logs());

    let manifest = [
        pod_on("web-a", "cmn-a"),
        pod_on("web-b", "cmn-b"),
        pod_on("web-c", "cmn-c"),
        pod_on("client", "cmn-a"),
        r#"
---
apiVersion: v1
kind: Service
metadata: {name: web-c}
spec:
  selector: {app: web-c}
  ports: [{port: 80, targetPort: 8080}]
"#
        .to_string(),
    ]
    .concat();
    server.ok_stdin(&["apply", "-f", "-"], &manifest);
    for pod in ["web-a", "web-b", "web-c", "client"] {
        let deadline = std::time::Instant::now() + POD_START;
        while server.ok(&["get", "pod", pod, "-o", "jsonpath={.status.phase}"]) != "Running" {
            if std::time::Instant::now() > deadline {
                let described = server.kubectl(&["describe", "pod", pod]);
                panic!(
                    "{pod} not running after {POD_START:?}:\n{}\nagents:\n{}",
                    String::from_utf8_lossy(&described.stdout),
                    logs()
                );
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
    let pod_ip = |pod: &str| server.ok(&["get", "pod", pod, "-o", "jsonpath={.status.podIP}"]);
    let (ip_a, ip_b, ip_c) = (pod_ip("web-a"), pod_ip("web-b"), pod_ip("web-c"));
    let subnet = |ip: &str| ip.rsplit_once('.').unwrap().0.to_string();
    assert_ne!(subnet(&ip_a), subnet(&ip_b), "one podCIDR per node");
    assert_ne!(subnet(&ip_a), subnet(&ip_c), "one podCIDR per node");
    let fetch = |from: &str, url: &str| {
        let output = server.kubectl(&["exec", from, "--", "timeout", "3", "wget", "-qO-", url]);
        String::from_utf8_lossy(&output.stdout).trim().to_string()
    };
    // Keeps asking until an answer comes; on timeout shows the agents'
    // logs, routes and rules.
    let answer = |from: &str, url: &str| {
        let deadline = std::time::Instant::now() + POD_START;
        loop {
            let body = fetch(from, url);
            if !body.is_empty() {
                return body;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{url} unreachable from {from}:\n{}",
                logs()
            );
            std::thread::sleep(Duration::from_millis(500));
        }
    };
    // Pod to pod on the same network (a route), and to the other network
    // (VXLAN) both ways.
    assert_eq!(answer("client", &format!("http://{ip_b}:8080/")), "web-b");
    assert_eq!(answer("client", &format!("http://{ip_c}:8080/")), "web-c");
    assert_eq!(answer("web-c", &format!("http://{ip_a}:8080/")), "web-a");
    // Through the tunnel pods' traffic keeps its source address (only
    // what leaves the cluster is masqueraded).
    // (httpd writes it as an IPv4-mapped IPv6 address, `[::ffff:a.b.c.d]`.)
    let source = |from: &str, to: &str| {
        let seen = answer(from, &format!("http://{to}:8080/cgi-bin/ip"));
        let seen = seen.trim_start_matches('[').trim_end_matches(']');
        seen.trim_start_matches("::ffff:").to_string()
    };
    assert_eq!(source("client", &ip_c), pod_ip("client"), "{}", logs());
    assert_eq!(source("web-c", &ip_a), ip_c, "{}", logs());
    // The way each went: c's podCIDR through the tunnel, b's not.
    let pod_cidr = |node: &str| server.ok(&["get", "node", node, "-o", "jsonpath={.spec.podCIDR}"]);
    let route_in_a = |node: &str| inside("cmn-a", &["ip", "route", "show", &pod_cidr(node)]);
    let (to_b, to_c) = (route_in_a("cmn-b"), route_in_a("cmn-c"));
    assert!(to_c.contains("dev flannel.1"), "to c: {to_c}\n{}", logs());
    assert!(
        to_b.contains("via 10.210.0.3") && !to_b.contains("flannel.1"),
        "to b: {to_b}\n{}",
        logs()
    );
    // c published its VTEP, as flannel does; pods' MTU leaves room for
    // the tunnel's headers (the veths' 1500 less 50).
    let backend = server.ok(&[
        "get",
        "node",
        "cmn-c",
        "-o",
        "jsonpath={.metadata.annotations.flannel\\.alpha\\.coreos\\.com/backend-type}",
    ]);
    assert_eq!(backend, "vxlan");
    for pod in ["web-a", "web-c"] {
        let mtu = server.ok(&["exec", pod, "--", "cat", "/sys/class/net/eth0/mtu"]);
        assert_eq!(mtu.trim(), "1450", "{pod}");
    }
    // Pod to Service, whose only pod is on the other network.
    let cluster_ip = server.ok(&["get", "svc", "web-c", "-o", "jsonpath={.spec.clusterIP}"]);
    let through_service = answer("client", &format!("http://{cluster_ip}/"));
    assert_eq!(through_service, "web-c");
}
