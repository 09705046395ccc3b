//! What the agent of a real machine reports about it: name, address,
//! capacity and system info, read from the kernel.

use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;

use crate::node::NodeTemplate;
use crate::runtime::DiskStats;

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
    meminfo("MemTotal:")
}

/// `PRETTY_NAME` from os-release, as upstream's nodeInfo.osImage.
fn os_image() -> Option<String> {
    let text = std::fs::read_to_string("/etc/os-release").ok()?;
    let line = text.lines().find(|l| l.starts_with("PRETTY_NAME="))?;
    Some(line["PRETTY_NAME=".len()..].trim_matches('"').to_string())
}

/// The size of the filesystem the data dir is on.
fn disk_kib(path: &Path) -> Option<u64> {
    filesystem(path).map(|fs| fs.blocks * fs.block_size / 1024)
}

/// Memory available (`MemAvailable`) and total, in bytes.
pub fn memory() -> Option<(u64, u64)> {
    Some((
        meminfo("MemAvailable:")? * 1024,
        meminfo("MemTotal:")? * 1024,
    ))
}

/// Space and inodes of the filesystem `path` is on.
pub fn disk(path: &Path) -> Option<DiskStats> {
    let fs = filesystem(path)?;
    Some(DiskStats {
        capacity: fs.blocks * fs.block_size,
        available: fs.free_blocks * fs.block_size,
        inodes: fs.inodes,
        inodes_free: fs.free_inodes,
    })
}

/// PIDs available under the kernel's maximum, and that maximum.
pub fn pids() -> Option<(u64, u64)> {
    let max: u64 = std::fs::read_to_string("/proc/sys/kernel/pid_max")
        .ok()?
        .trim()
        .parse()
        .ok()?;
    // The fourth field of loadavg is running/total scheduling entities.
    let loadavg = std::fs::read_to_string("/proc/loadavg").ok()?;
    let total: u64 = loadavg
        .split_whitespace()
        .nth(3)?
        .split('/')
        .nth(1)?
        .parse()
        .ok()?;
    Some((max.saturating_sub(total), max))
}

struct Filesystem {
    /// The unit of the block counts (`f_frsize`).
    block_size: u64,
    blocks: u64,
    free_blocks: u64,
    inodes: u64,
    free_inodes: u64,
}

/// What statvfs says of the filesystem `path` is on.
fn filesystem(path: &Path) -> Option<Filesystem> {
    use std::os::unix::ffi::OsStrExt;
    let path = std::ffi::CString::new(path.as_os_str().as_bytes()).ok()?;
    let mut stat: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: a NUL-terminated path and a statvfs to fill.
    if unsafe { libc::statvfs(path.as_ptr(), &mut stat) } != 0 {
        return None;
    }
    Some(Filesystem {
        block_size: stat.f_frsize,
        blocks: stat.f_blocks,
        free_blocks: stat.f_bavail,
        inodes: stat.f_files,
        free_inodes: stat.f_favail,
    })
}

fn meminfo(field: &str) -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
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
        let (available, total) = memory().unwrap();
        assert!(available > 0 && available <= total);
        let disk = disk(Path::new("/")).unwrap();
        assert!(disk.available > 0 && disk.available <= disk.capacity);
        let (free, max) = pids().unwrap();
        assert!(free > 0 && free < max);
    }
}
