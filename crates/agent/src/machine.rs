//! What the agent of a real machine reports about it: name, address,
//! capacity and system info, read from the kernel.

use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;

use crate::node::NodeTemplate;

/// The machine's host name, lower-cased as node names must be.
pub fn hostname() -> String {
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|n| n.trim().to_ascii_lowercase())
        .unwrap_or_default();
    if name.is_empty() {
        "localhost".into()
    } else {
        name
    }
}

/// The address other machines reach this one at: the first IPv4 address
/// of an interface that is up and not loopback (or loopback if none).
pub fn host_ip() -> Ipv4Addr {
    let addresses = if_addrs::get_if_addrs().unwrap_or_default();
    addresses
        .iter()
        .filter(|a| !a.is_loopback())
        .filter(|a| !a.name.starts_with("capstan") && !a.name.starts_with("veth"))
        .find_map(|a| match a.ip() {
            IpAddr::V4(ip) => Some(ip),
            IpAddr::V6(_) => None,
        })
        .unwrap_or(Ipv4Addr::LOCALHOST)
}

/// Whether this process runs as root (its effective user id).
pub fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            let line = status.lines().find(|l| l.starts_with("Uid:"))?;
            line.split_whitespace().nth(2).map(|uid| uid == "0")
        })
        .unwrap_or(false)
}

/// Capacity and system info of this machine.
pub fn template(data_dir: &Path, runtime_version: String) -> NodeTemplate {
    let read = |path: &str| {
        std::fs::read_to_string(path)
            .map(|s| s.trim().to_string())
            .ok()
            .filter(|s| !s.is_empty())
    };
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    NodeTemplate {
        cpu: cpus.to_string(),
        memory: memory_kib().map_or_else(|| "1Gi".into(), |kib| format!("{kib}Ki")),
        runtime_version,
        os_image: os_image().unwrap_or_else(|| "Linux".into()),
        kernel_version: read("/proc/sys/kernel/osrelease").unwrap_or_default(),
        ephemeral_storage: disk_kib(data_dir).map(|kib| format!("{kib}Ki")),
        machine_id: read("/etc/machine-id"),
        boot_id: read("/proc/sys/kernel/random/boot_id"),
        ..NodeTemplate::default()
    }
}

fn memory_kib() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// `PRETTY_NAME` from os-release, as upstream's nodeInfo.osImage.
fn os_image() -> Option<String> {
    let text = std::fs::read_to_string("/etc/os-release").ok()?;
    let line = text.lines().find(|l| l.starts_with("PRETTY_NAME="))?;
    Some(line["PRETTY_NAME=".len()..].trim_matches('"').to_string())
}

/// The size of the filesystem the data dir is on.
fn disk_kib(path: &Path) -> Option<u64> {
    let output = std::process::Command::new("df")
        .args(["-k", "--output=size"])
        .arg(path)
        .output()
        .ok()?;
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .nth(1)?
        .trim()
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_machine() {
        let template = template(Path::new("/"), "containerd://1".into());
        assert!(template.cpu.parse::<usize>().unwrap() >= 1);
        assert!(template.memory.ends_with("Ki"));
        assert!(!template.kernel_version.is_empty());
        assert!(!hostname().is_empty());
    }
}
