//! The pause image in a real containerd: imported from its archive with
//! ctr, run as a sandbox's first process, stopped by SIGTERM with status 0.
//!
//! Needs root and containerd, runc and ctr installed; skips otherwise,
//! unless `CAPSTAN_REQUIRE_CONTAINERS` is set. The containerd is the test's own, in a temporary directory,
//! and is stopped and cleaned up afterwards.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use capstan_agent::images::{pause_archive, PAUSE_IMAGE};

const CONTAINERD: &str = "/usr/bin/containerd";
/// The bound on any one ctr command.
const COMMAND_TIMEOUT: &str = "60";

struct Containerd {
    dir: tempfile::TempDir,
    child: Option<Child>,
    /// Containers to take down before containerd stops.
    containers: Vec<String>,
}

impl Containerd {
    /// Starts a containerd of its own in a short temporary directory (the
    /// socket path must fit a sockaddr) and waits until it answers.
    fn start() -> Containerd {
        let dir = tempfile::Builder::new()
            .prefix("ctd")
            .tempdir_in("/tmp")
            .expect("temporary dir");
        let root = dir.path();
        let config = format!(
            r#"version = 2
root = "{root}/root"
state = "{root}/state"
disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.devmapper"]
[grpc]
  address = "{root}/c.sock"
[ttrpc]
  address = "{root}/c.sock.ttrpc"
"#,
            root = root.display()
        );
        std::fs::write(root.join("config.toml"), config).expect("write config");
        let log = std::fs::File::create(root.join("containerd.log")).expect("log file");
        let child = Command::new(CONTAINERD)
            .arg("--config")
            .arg(root.join("config.toml"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log file"))
            .stderr(log)
            .spawn()
            .expect("start containerd");
        let containerd = Containerd {
            dir,
            child: Some(child),
            containers: Vec::new(),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while !containerd.ctr(&["version"]).status.success() {
            assert!(
                Instant::now() < deadline,
                "containerd did not answer in 30s: {}",
                containerd.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        containerd
    }

    fn socket(&self) -> PathBuf {
        self.dir.path().join("c.sock")
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("containerd.log")).unwrap_or_default()
    }

    /// `ctr --namespace k8s.io ARGS` against this containerd, bounded.
    fn ctr(&self, args: &[&str]) -> Output {
        Command::new("timeout")
            .args([COMMAND_TIMEOUT, "ctr", "--address"])
            .arg(self.socket())
            .args(["--namespace", "k8s.io"])
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run ctr")
    }

    fn ctr_ok(&self, args: &[&str]) -> String {
        let output = self.ctr(args);
        assert!(
            output.status.success(),
            "ctr {args:?}: {}{}\ncontainerd log:\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr),
            self.log()
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// The status column of `ctr task ls` for `id`.
    fn task_status(&self, id: &str) -> Option<String> {
        let listing = self.ctr_ok(&["task", "ls"]);
        listing.lines().find_map(|line| {
            let fields: Vec<_> = line.split_whitespace().collect();
            (fields.first() == Some(&id)).then(|| fields.get(2).unwrap_or(&"").to_string())
        })
    }

    fn wait_for_status(&self, id: &str, want: &str, limit: Duration) {
        let deadline = Instant::now() + limit;
        loop {
            let status = self.task_status(id);
            if status.as_deref() == Some(want) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "task {id} not {want} within {limit:?} (is {status:?})"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Containerd {
    fn drop(&mut self) {
        // Tasks first: their shims would outlive containerd.
        for id in std::mem::take(&mut self.containers) {
            let _ = self.ctr(&["task", "kill", "--signal", "SIGKILL", &id]);
            let deadline = Instant::now() + Duration::from_secs(10);
            while self
                .task_status(&id)
                .is_some_and(|status| status != "STOPPED")
                && Instant::now() < deadline
            {
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = self.ctr(&["task", "delete", "--force", &id]);
            let _ = self.ctr(&["containers", "delete", &id]);
        }
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            let deadline = Instant::now() + Duration::from_secs(10);
            while matches!(child.try_wait(), Ok(None)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        unmount_under(self.dir.path());
    }
}

/// Unmounts whatever is still mounted under `dir`, deepest first.
fn unmount_under(dir: &Path) {
    let Ok(mounts) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return;
    };
    let mut points: Vec<&str> = mounts
        .lines()
        .filter_map(|line| line.split(' ').nth(4))
        .filter(|point| Path::new(point).starts_with(dir))
        .collect();
    points.sort_by_key(|point| std::cmp::Reverse(point.len()));
    for point in points {
        let unmounted = Command::new("umount").arg(point).status();
        if !unmounted.is_ok_and(|status| status.success()) {
            let _ = Command::new("umount").args(["-l", point]).status();
        }
    }
}

#[test]
fn pause_runs_in_containerd_and_stops_on_sigterm() {
    if let Some(reason) = support::cannot_run_containers() {
        eprintln!("skipping: {reason}");
        return;
    }
    let mut containerd = Containerd::start();
    let archive = containerd.dir.path().join("pause.tar");
    std::fs::write(&archive, pause_archive()).expect("write archive");
    let imported = containerd.ctr_ok(&["images", "import", archive.to_str().unwrap()]);
    assert!(imported.contains(PAUSE_IMAGE), "{imported}");
    let images = containerd.ctr_ok(&["images", "ls", "--quiet"]);
    assert!(images.lines().any(|name| name == PAUSE_IMAGE), "{images}");

    // Its own version, through the entrypoint with an argument.
    let version = containerd.ctr_ok(&["run", "--rm", PAUSE_IMAGE, "pause-version", "/pause", "-v"]);
    assert_eq!(
        version.trim(),
        format!("pause.rs {}", env!("CARGO_PKG_VERSION"))
    );

    let id = "pause-sandbox";
    containerd.containers.push(id.into());
    containerd.ctr_ok(&["run", "-d", PAUSE_IMAGE, id]);
    containerd.wait_for_status(id, "RUNNING", Duration::from_secs(30));
    // It stays up: pause does not exit on its own.
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(containerd.task_status(id).as_deref(), Some("RUNNING"));

    // PID 1 ignores signals it has no handler for, so stopping on SIGTERM
    // (ctr's default) shows pause handles it.
    containerd.ctr_ok(&["task", "kill", id]);
    containerd.wait_for_status(id, "STOPPED", Duration::from_secs(10));
    // ctr prints a warning naming the exit code when it is not 0.
    let deleted = containerd.ctr(&["task", "delete", id]);
    let warnings = String::from_utf8_lossy(&deleted.stderr);
    assert!(
        deleted.status.success() && !warnings.contains("exit code"),
        "pause did not exit 0 on SIGTERM: {warnings}"
    );
    containerd.ctr_ok(&["containers", "delete", id]);
    containerd.containers.clear();
}
