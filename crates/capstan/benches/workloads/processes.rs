//! The processes the workloads bench measures: `capstan server` and, with
//! `--hollow-process`, `capstan sim` with the hollow nodes; and the admin
//! client to the server.

use super::*;

/// The admin client of the server in `data_dir`.
pub(super) async fn client(data_dir: &Path) -> Res<kube::Client> {
    let kubeconfig = Kubeconfig::read_from(data_dir.join("admin.kubeconfig"))?;
    let config =
        kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default()).await?;
    Ok(kube::Client::try_from(config)?)
}

/// How many lines the server wrote to stderr, and the first few.
pub(super) fn log_summary(log: &Path) -> (usize, Vec<String>) {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let samples = text
        .lines()
        .take(10)
        .map(|line| line.chars().take(300).collect())
        .collect();
    (text.lines().count(), samples)
}

/// `capstan sim` with the hollow nodes, against the server's admin
/// kubeconfig; killed when dropped.
pub(super) struct Hollow {
    child: std::process::Child,
    pub(super) pid: u32,
}

impl Hollow {
    pub(super) fn start(data_dir: &Path, nodes: usize) -> Res<Hollow> {
        let stderr = std::fs::File::create(data_dir.join("sim.log"))?;
        let child = std::process::Command::new(env!("CARGO_BIN_EXE_capstan"))
            .arg("sim")
            .arg("--kubeconfig")
            .arg(data_dir.join("admin.kubeconfig"))
            .args(["--nodes", &nodes.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()?;
        let pid = child.id();
        Ok(Hollow { child, pid })
    }

    pub(super) fn cpu(&self) -> Duration {
        process_cpu(self.pid)
    }
}

impl Drop for Hollow {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A `capstan server` child with hollow nodes on a free loopback port.
pub(super) struct Server {
    child: tokio::process::Child,
    pid: u32,
}

impl Server {
    /// With `hollow_process`, the nodes are left to a [`Hollow`] process
    /// and the server runs no agent.
    pub(super) async fn start(
        data_dir: &Path,
        nodes: usize,
        log: &Path,
        hollow_process: bool,
    ) -> Res<Server> {
        let stderr = std::fs::File::create(log)?;
        let nodes_args = match hollow_process {
            true => vec!["--disable-agent".to_string()],
            false => vec!["--sim-nodes".to_string(), nodes.to_string()],
        };
        let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_capstan"))
            .arg("server")
            .arg("--data-dir")
            .arg(data_dir)
            .args(["--bind-address", "127.0.0.1", "--https-port", "0"])
            .args(&nodes_args)
            .args(["--cluster-cidr", CLUSTER_CIDR])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .kill_on_drop(true)
            .spawn()?;
        let pid = child.id().ok_or("no pid")?;
        let exited = format!(" (stderr in {})", log.display());
        measure::server_ready(&mut child, START_LIMIT, &exited).await?;
        Ok(Server { child, pid })
    }

    /// User plus system CPU time of the server so far.
    pub(super) fn cpu(&self) -> Duration {
        process_cpu(self.pid)
    }

    /// A memory figure of /proc/<pid>/status (VmRSS, VmHWM) in MB.
    pub(super) fn rss_mb(&self, field: &str) -> f64 {
        measure::memory_mb(self.pid, field)
    }

    pub(super) async fn stop(mut self) {
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &self.pid.to_string()])
            .status();
        if timeout(Duration::from_secs(20), self.child.wait())
            .await
            .is_err()
        {
            eprintln!("capstan server did not exit within 20 s of SIGTERM; killing it");
            let _ = self.child.kill().await;
        }
    }
}
