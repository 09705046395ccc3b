//! Network namespaces for tests and benches: created with `ip netns add`, deleted on drop
//! (also when the test panics), so rules and traffic never touch the host's namespace.

use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};

static NEXT: AtomicUsize = AtomicUsize::new(0);

/// A network namespace this process created; deleted on drop.
pub struct Netns {
    pub name: String,
}

impl Netns {
    /// Why kernel tests cannot run here, if they cannot: they need root and nft.
    pub fn unavailable() -> Option<String> {
        let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        let root = status
            .lines()
            .find_map(|line| line.strip_prefix("Uid:"))
            .and_then(|ids| ids.split_whitespace().nth(1))
            .is_some_and(|effective| effective == "0");
        if !root {
            return Some("not root".into());
        }
        match Command::new("nft").arg("--version").output() {
            Ok(output) if output.status.success() => None,
            _ => Some("nft is not installed".into()),
        }
    }

    /// A fresh namespace `capstan-test-<pid>-<n>` with loopback up.
    pub fn create() -> Result<Netns, String> {
        let name = format!(
            "capstan-test-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        run("ip", &["netns", "add", &name])?;
        let netns = Netns { name };
        netns.ip(&["link", "set", "lo", "up"])?;
        Ok(netns)
    }

    /// The command line running nft inside the namespace.
    pub fn nft(&self) -> Vec<String> {
        ["ip", "netns", "exec", &self.name, "nft"]
            .map(String::from)
            .to_vec()
    }

    /// `ip -n <ns> <args>`.
    pub fn ip(&self, args: &[&str]) -> Result<String, String> {
        let mut all = vec!["-n", &self.name];
        all.extend_from_slice(args);
        run("ip", &all)
    }

    /// A command inside the namespace.
    pub fn command(&self, program: &str) -> Command {
        let mut command = Command::new("ip");
        command.args(["netns", "exec", &self.name, program]);
        command
    }

    /// Reads a sysctl of this namespace (`net/ipv4/ip_forward`); None when it does not exist.
    pub fn sysctl(&self, path: &str) -> Option<String> {
        let output = self
            .command("cat")
            .arg(format!("/proc/sys/{path}"))
            .output()
            .ok()?;
        output
            .status
            .success()
            .then(|| String::from_utf8_lossy(&output.stdout).trim().to_string())
    }

    /// Sets a sysctl of this namespace.
    pub fn set_sysctl(&self, path: &str, value: &str) -> Result<(), String> {
        let output = self
            .command("sh")
            .args(["-c", &format!("echo {value} > /proc/sys/{path}")])
            .output()
            .map_err(|err| format!("sh: {err}"))?;
        if output.status.success() {
            Ok(())
        } else {
            Err(format!(
                "setting {path}: {}",
                String::from_utf8_lossy(&output.stderr).trim()
            ))
        }
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .output();
    }
}

/// A fresh namespace for a kernel test, or None (the reason printed) when kernel tests cannot
/// run here: `let Some(netns) = netns_or_skip() else { return };`.
pub fn netns_or_skip() -> Option<Netns> {
    if let Some(reason) = Netns::unavailable() {
        eprintln!("skipped: {reason}");
        return None;
    }
    match Netns::create() {
        Ok(netns) => Some(netns),
        Err(err) => panic!("create network namespace: {err}"),
    }
}

/// Runs a command to completion; its stdout, or an error with its stderr.
pub fn run(program: &str, args: &[&str]) -> Result<String, String> {
    let output: Output = Command::new(program)
        .args(args)
        .output()
        .map_err(|err| format!("{program}: {err}"))?;
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    } else {
        Err(format!(
            "{program} {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        ))
    }
}
