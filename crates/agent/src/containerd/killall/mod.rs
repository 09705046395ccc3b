//! `capstan killall`: stop everything an agent of one data dir started,
//! as k3s-killall.sh does, but never what belongs to another data dir.
//!
//! Order: containerd (so it does not react to what follows), the
//! containers (runc state under the data dir), the shims (found by the
//! socket on their command line), the pods' networks (CNI DEL and their
//! network namespaces, found in the sandboxes' OCI bundles), and last
//! every mount under the data dir, deepest first.

mod procs;
mod sandboxes;

use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use sha2::{Digest, Sha256};

use super::cni::cni_config_path;
use super::{find_program, search_dirs, Paths, CNI_BRIDGE};
use crate::mounts::{unmount, unmount_under};
use procs::{processes, signal, terminate, wait_gone, Process};
use sandboxes::{cni_del, orphan_netns, pod_subnets, sandboxes};

/// Stops everything the agent with data dir `data_dir` started. Best
/// effort; returns a short report, one line per kind of thing done.
pub fn killall(data_dir: &Path) -> String {
    let data_dir = std::fs::canonicalize(data_dir).unwrap_or_else(|_| data_dir.to_path_buf());
    let agent_dir = data_dir.join("agent");
    let paths = Paths::new(&agent_dir);
    let mut report = Vec::new();
    let sandboxes = sandboxes(&paths.state);

    // containerd.
    let running = processes();
    let daemons: Vec<&Process> = running
        .iter()
        .filter(|process| {
            process.name() == "containerd" && process.has_flag(&["--config", "-c"], &paths.config)
        })
        .collect();
    for daemon in &daemons {
        if let Some(parent) = running.iter().find(|p| p.pid == daemon.ppid && p.pid > 1) {
            report.push(format!(
                "note: containerd's parent (pid {}, {}) still runs and may start it again; stop it first",
                parent.pid,
                parent.name()
            ));
        }
    }
    let pids: Vec<i32> = daemons.iter().map(|process| process.pid).collect();
    if !pids.is_empty() {
        let killed = terminate(&pids, Duration::from_secs(5));
        report.push(format!(
            "stopped containerd (pid {}){}",
            join(&pids),
            if killed { ", killed after 5 s" } else { "" }
        ));
    }

    // Containers.
    let (deleted, failures) = delete_containers(&paths.runc_root);
    if deleted > 0 {
        report.push(format!("deleted {deleted} container(s)"));
    }
    report.extend(failures);

    // Shims, and the sockets they leave in /run/containerd/s.
    let shims: Vec<Process> = processes()
        .into_iter()
        .filter(|process| {
            process.name().starts_with("containerd-shim")
                && process.has_flag(&["-address", "--address"], &paths.socket)
        })
        .collect();
    if !shims.is_empty() {
        let pids: Vec<i32> = shims.iter().map(|process| process.pid).collect();
        signal(&pids, libc::SIGKILL);
        wait_gone(&pids, Duration::from_secs(2));
        for shim in &shims {
            if let (Some(namespace), Some(id)) = (shim.flag("-namespace"), shim.flag("-id")) {
                let _ = std::fs::remove_file(shim_socket(&paths.socket, namespace, id));
            }
        }
        report.push(format!(
            "killed {} shim(s) (pid {})",
            pids.len(),
            join(&pids)
        ));
    }

    // Pod networks.
    let conflist = cni_config_path(&agent_dir);
    let mut torn_down = 0;
    for sandbox in sandboxes
        .iter()
        .filter(|sandbox| sandbox.netns.as_ref().is_some_and(|netns| netns.exists()))
    {
        match cni_del(&conflist, sandbox) {
            Ok(()) => torn_down += 1,
            Err(error) => report.push(format!(
                "CNI DEL of pod sandbox {}: {error}",
                short(&sandbox.id)
            )),
        }
    }
    if torn_down > 0 {
        report.push(format!(
            "tore down the network of {torn_down} pod sandbox(es)"
        ));
    }
    let mut netns_removed = 0;
    for netns in sandboxes
        .iter()
        .filter_map(|sandbox| sandbox.netns.as_ref())
    {
        unmount(netns);
        if std::fs::remove_file(netns).is_ok() {
            netns_removed += 1;
        }
    }
    if netns_removed > 0 {
        report.push(format!("removed {netns_removed} network namespace(s)"));
    }
    let orphans = orphan_netns(&pod_subnets(&conflist));
    let mut orphans_removed = 0;
    for netns in &orphans {
        unmount(netns);
        if std::fs::remove_file(netns).is_ok() {
            orphans_removed += 1;
        }
    }
    if orphans_removed > 0 {
        report.push(format!(
            "removed {orphans_removed} network namespace(s) left with a pod address and no process"
        ));
    }
    if conflist.exists() && remove_empty_bridge() {
        report.push(format!(
            "removed the bridge {CNI_BRIDGE}, which no pod uses any more"
        ));
    }

    // Mounts.
    let (unmounted, left) = unmount_under(&data_dir);
    if unmounted > 0 {
        report.push(format!(
            "unmounted {unmounted} mount(s) under {}",
            data_dir.display()
        ));
    }
    for mount in left {
        report.push(format!("still mounted: {}", mount.display()));
    }

    if report.is_empty() {
        format!("nothing of {} was running or mounted", data_dir.display())
    } else {
        report.join("\n")
    }
}

/// Where containerd 1.6 has a shim listen: /run/containerd/s/ and the
/// sha256 of `<containerd socket>/<namespace>/<id>` (shim.SocketAddress).
fn shim_socket(containerd_socket: &Path, namespace: &str, id: &str) -> PathBuf {
    let key = containerd_socket.join(namespace).join(id);
    let hash = Sha256::digest(key.as_os_str().as_bytes());
    let hex: String = hash.iter().map(|byte| format!("{byte:02x}")).collect();
    Path::new("/run/containerd/s").join(hex)
}

/// Deletes the pods' bridge if no interface is attached to it any more (it
/// would keep an old podCIDR's gateway address, which the bridge plugin
/// refuses to replace). The bridge plugin makes it again for the next pod.
fn remove_empty_bridge() -> bool {
    let ports = Path::new("/sys/class/net").join(CNI_BRIDGE).join("brif");
    let empty = std::fs::read_dir(&ports).is_ok_and(|mut entries| entries.next().is_none());
    if !empty {
        return false;
    }
    let ip = find_program(&search_dirs(), "ip").unwrap_or_else(|| PathBuf::from("ip"));
    Command::new(ip)
        .args(["link", "delete", CNI_BRIDGE])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

/// `runc delete --force` of every container in each namespace's runc
/// root (`runc/<namespace>`): the number deleted, and failures.
fn delete_containers(runc_root: &Path) -> (usize, Vec<String>) {
    let Ok(entries) = std::fs::read_dir(runc_root) else {
        return (0, Vec::new());
    };
    let Some(runc) = find_program(&search_dirs(), "runc") else {
        return (0, vec!["runc not found: containers left running".into()]);
    };
    let mut deleted = 0;
    let mut failures = Vec::new();
    for root in entries
        .filter_map(|entry| Some(entry.ok()?.path()))
        .filter(|path| path.is_dir())
    {
        let listed = Command::new(&runc)
            .arg("--root")
            .arg(&root)
            .args(["list", "--format", "json"])
            .stderr(Stdio::null())
            .output();
        let ids: Vec<String> = match listed {
            Ok(output) if output.status.success() => {
                serde_json::from_slice::<Option<Vec<serde_json::Value>>>(&output.stdout)
                    .ok()
                    .flatten()
                    .unwrap_or_default()
                    .iter()
                    .filter_map(|container| container["id"].as_str().map(str::to_string))
                    .collect()
            }
            _ => {
                failures.push(format!("runc --root {} list failed", root.display()));
                continue;
            }
        };
        for id in ids {
            let output = Command::new(&runc)
                .arg("--root")
                .arg(&root)
                .args(["delete", "--force", &id])
                .output();
            match output {
                Ok(output) if output.status.success() => deleted += 1,
                Ok(output) => failures.push(format!(
                    "runc delete {}: {}",
                    short(&id),
                    String::from_utf8_lossy(&output.stderr).trim()
                )),
                Err(error) => failures.push(format!("runc delete {}: {error}", short(&id))),
            }
        }
    }
    (deleted, failures)
}

fn join(pids: &[i32]) -> String {
    pids.iter()
        .map(i32::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

fn short(id: &str) -> &str {
    id.get(..12).unwrap_or(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_to_do_in_an_empty_data_dir() {
        let temp = tempfile::tempdir().unwrap();
        let report = killall(temp.path());
        assert!(report.starts_with("nothing of "), "{report}");
    }
}
