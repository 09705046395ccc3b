//! A `capstan server` with this machine's agent running real containers
//! (containerd, runc and the CNI plugins from Debian), images pulled from
//! a registry on loopback. Tests using it run one at a time (nextest group
//! `containers`): the pods of every test share the machine's pod network.

use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use super::images::{busybox_image, Registry};
use super::{wait_for, TestServer};

/// How long a pod may take to start.
pub const POD_START: Duration = Duration::from_secs(60);

/// This machine's disk may be fuller than upstream's thresholds allow:
/// tests that are not about pressure must not see any.
const NO_PRESSURE: &[&str] = &[
    "--eviction-hard",
    "memory.available<1Mi,nodefs.available<1%",
];

/// The node the cluster's agent registers.
pub const NODE: &str = "capstan-test";

/// The registry every test of a binary pulls from, with busybox in it.
pub fn registry() -> &'static Registry {
    static REGISTRY: OnceLock<Registry> = OnceLock::new();
    REGISTRY.get_or_init(|| {
        let registry = Registry::start();
        registry.push("busybox", "test", &busybox_image());
        registry
    })
}

/// The busybox image, as pods name it.
pub fn image() -> String {
    format!("{}/busybox:test", registry().host())
}

/// Whether this machine can run containers; without them the tests say
/// so and pass, unless `CAPSTAN_REQUIRE_CONTAINERS` is set (the test
/// command sets it, having installed them).
pub fn can_run_containers() -> bool {
    let present = Path::new("/usr/bin/containerd").exists() && Path::new("/usr/bin/runc").exists();
    if !present {
        assert!(
            std::env::var_os("CAPSTAN_REQUIRE_CONTAINERS").is_none(),
            "containerd and runc are required: apt-get install containerd runc containernetworking-plugins"
        );
        eprintln!("skipped: containerd or runc is not installed");
    }
    present
}

/// A server running this machine's agent (its node endpoint on a free
/// port); on drop, stops it and everything its containerd started.
pub struct Cluster {
    pub server: TestServer,
}

impl Cluster {
    pub fn start() -> Cluster {
        Cluster::launch(&[], NO_PRESSURE)
    }

    /// A cluster whose node also reaches the registries at `hosts`
    /// (`127.0.0.1:PORT`), over plain HTTP as the shared one.
    pub fn start_with_registries(hosts: &[String]) -> Cluster {
        Cluster::launch(hosts, NO_PRESSURE)
    }

    /// A cluster whose server gets more flags.
    pub fn start_with(extra: &[&str]) -> Cluster {
        Cluster::launch(&[], extra)
    }

    fn launch(hosts: &[String], extra: &[&str]) -> Cluster {
        let mut registries = String::from("mirrors:\n");
        for host in std::iter::once(&registry().host()).chain(hosts) {
            registries.push_str(&format!(
                "  \"{host}\":\n    endpoint:\n      - \"http://{host}\"\n"
            ));
        }
        let file =
            std::env::temp_dir().join(format!("capstan-registries-{}.yaml", std::process::id()));
        std::fs::write(&file, registries).unwrap();
        let mut args = vec![
            "--node-name",
            NODE,
            "--kubelet-port",
            "0",
            "--private-registry",
            file.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        let server = TestServer::start_raw(&args);
        let cluster = Cluster { server };
        wait_for("the node to be Ready", POD_START, || {
            let ready = cluster.server.kubectl(&[
                "get",
                "node",
                NODE,
                "-o",
                "jsonpath={.status.conditions[?(@.type==\"Ready\")].status}",
            ]);
            (String::from_utf8_lossy(&ready.stdout) == "True").then_some(())
        });
        cluster
    }

    pub fn apply(&self, yaml: &str) {
        self.server.ok_stdin(&["apply", "-f", "-"], yaml);
    }

    pub fn pod(&self, name: &str) -> serde_json::Value {
        self.server
            .get_json(&["get", "pod", name])
            .unwrap_or(serde_json::Value::Null)
    }

    /// Waits until the pod is Running with every container ready.
    pub fn wait_running(&self, name: &str) -> serde_json::Value {
        self.wait_pod(name, "running", POD_START, |pod| {
            let running = pod["status"]["phase"] == "Running";
            let ready = pod["status"]["containerStatuses"]
                .as_array()
                .is_some_and(|all| all.iter().all(|c| c["ready"] == true));
            running && ready
        })
    }

    /// Polls the pod until `check` holds; on timeout, fails showing its
    /// status.
    pub fn wait_pod(
        &self,
        name: &str,
        what: &str,
        limit: Duration,
        check: impl Fn(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        let deadline = std::time::Instant::now() + limit;
        loop {
            let pod = self.pod(name);
            if check(&pod) {
                return pod;
            }
            if std::time::Instant::now() > deadline {
                panic!("pod {name} not {what} after {limit:?}: {:#}", pod["status"]);
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.server.stop();
        let output = Command::new(env!("CARGO_BIN_EXE_capstan"))
            .arg("killall")
            .arg("--data-dir")
            .arg(self.server.data_dir())
            .output();
        if let Ok(output) = output {
            eprintln!("{}", String::from_utf8_lossy(&output.stdout));
        }
    }
}
