//! Pod sandboxes found in containerd's task state, and their networks.

use std::net::Ipv4Addr;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::super::{find_cni_bin_dir, find_program, search_dirs};

/// A pod sandbox found in containerd's task state.
#[derive(Debug, PartialEq)]
pub(super) struct Sandbox {
    pub(super) id: String,
    /// Its network namespace, if CRI made one (not for hostNetwork pods).
    pub(super) netns: Option<PathBuf>,
}

/// The pod sandboxes in the OCI bundles under containerd's state dir
/// (`io.containerd.runtime.v2.task/<namespace>/<id>/config.json`).
pub(super) fn sandboxes(state: &Path) -> Vec<Sandbox> {
    let tasks = state.join("io.containerd.runtime.v2.task");
    let mut found = Vec::new();
    for namespace in read_dirs(&tasks) {
        for bundle in read_dirs(&namespace) {
            let Ok(text) = std::fs::read(bundle.join("config.json")) else {
                continue;
            };
            let Ok(spec) = serde_json::from_slice::<serde_json::Value>(&text) else {
                continue;
            };
            if spec["annotations"]["io.kubernetes.cri.container-type"] != "sandbox" {
                continue;
            }
            let netns = spec["linux"]["namespaces"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|namespace| namespace["type"] == "network")
                .and_then(|namespace| namespace["path"].as_str())
                .map(PathBuf::from)
                .filter(|path| is_cri_netns(path));
            let id = bundle
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned();
            found.push(Sandbox { id, netns });
        }
    }
    found
}

/// Only the network namespaces CRI makes (`/var/run/netns/cni-<uuid>`).
pub(super) fn is_cri_netns(path: &Path) -> bool {
    let in_netns_dir = [Path::new("/var/run/netns"), Path::new("/run/netns")]
        .iter()
        .any(|dir| path.parent() == Some(dir));
    in_netns_dir
        && path
            .file_name()
            .is_some_and(|name| name.as_bytes().starts_with(b"cni-"))
}

pub(super) fn read_dirs(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .filter_map(|entry| Some(entry.ok()?.path()))
        .filter(|path| path.is_dir())
        .collect()
}

/// CNI DEL of the node's network for a sandbox, each plugin in reverse
/// order, as libcni does: frees its IP, removes its veth and its
/// masquerade rules. (portmap needs the pod's port mappings, which only
/// containerd knows; without them it does nothing.)
pub(super) fn cni_del(conflist: &Path, sandbox: &Sandbox) -> Result<(), String> {
    let Some(netns) = &sandbox.netns else {
        return Ok(());
    };
    let text =
        std::fs::read(conflist).map_err(|error| format!("{}: {error}", conflist.display()))?;
    let list: serde_json::Value =
        serde_json::from_slice(&text).map_err(|error| error.to_string())?;
    let bin_dir = find_cni_bin_dir().ok_or("no CNI plugins")?;
    let plugins = list["plugins"].as_array().cloned().unwrap_or_default();
    let mut errors = Vec::new();
    for mut plugin in plugins.into_iter().rev() {
        let Some(kind) = plugin["type"].as_str().map(str::to_string) else {
            continue;
        };
        plugin["name"] = list["name"].clone();
        plugin["cniVersion"] = list["cniVersion"].clone();
        let output = Command::new(bin_dir.join(&kind))
            .env("CNI_COMMAND", "DEL")
            .env("CNI_CONTAINERID", &sandbox.id)
            .env("CNI_NETNS", netns)
            .env("CNI_IFNAME", "eth0")
            .env("CNI_PATH", &bin_dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .and_then(|mut child| {
                use std::io::Write;
                if let Some(mut stdin) = child.stdin.take() {
                    stdin.write_all(plugin.to_string().as_bytes())?;
                }
                child.wait_with_output()
            });
        match output {
            Ok(output) if output.status.success() => {}
            Ok(output) => errors.push(format!(
                "{kind}: {}",
                String::from_utf8_lossy(&output.stdout).trim()
            )),
            Err(error) => errors.push(format!("{kind}: {error}")),
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors.join("; "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sandboxes_from_bundles() {
        let temp = tempfile::tempdir().unwrap();
        let tasks = temp.path().join("io.containerd.runtime.v2.task/k8s.io");
        let bundle = |id: &str, spec: serde_json::Value| {
            std::fs::create_dir_all(tasks.join(id)).unwrap();
            std::fs::write(tasks.join(id).join("config.json"), spec.to_string()).unwrap();
        };
        let sandbox_spec = |netns: &str| {
            serde_json::json!({
                "annotations": { "io.kubernetes.cri.container-type": "sandbox" },
                "linux": { "namespaces": [{ "type": "pid" }, { "type": "network", "path": netns }] },
            })
        };
        bundle("pod1", sandbox_spec("/var/run/netns/cni-1234"));
        bundle("pod2", sandbox_spec("/proc/1/ns/net"));
        bundle(
            "app",
            serde_json::json!({ "annotations": { "io.kubernetes.cri.container-type": "container" } }),
        );
        let mut found = sandboxes(temp.path());
        found.sort_by(|a, b| a.id.cmp(&b.id));
        assert_eq!(
            found,
            [
                Sandbox {
                    id: "pod1".into(),
                    netns: Some("/var/run/netns/cni-1234".into())
                },
                Sandbox {
                    id: "pod2".into(),
                    netns: None
                },
            ]
        );
    }
}

/// How old a network namespace without processes must be to count as
/// left behind.
const ORPHAN_AGE: std::time::Duration = std::time::Duration::from_secs(30);

/// Network namespaces CRI made that no process lives in any more and that
/// hold an address of `subnets` (this node's pod subnets): left behind by
/// a sandbox whose task vanished before its network was torn down (a
/// server stopped mid-start). Their addresses would clash with the next
/// pods given the same ones.
pub(super) fn orphan_netns(subnets: &[(Ipv4Addr, u8)]) -> Vec<PathBuf> {
    let in_use = live_netns_inodes();
    let mut found = Vec::new();
    for dir in ["/var/run/netns", "/run/netns"] {
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if !is_cri_netns(&path) || found.iter().any(|f: &PathBuf| same_file(f, &path)) {
                continue;
            }
            let Ok(meta) = std::fs::metadata(&path) else {
                continue;
            };
            // A sandbox being set up has its namespace before its first
            // process: only old enough ones count.
            let young = meta
                .modified()
                .ok()
                .and_then(|at| at.elapsed().ok())
                .is_none_or(|age| age < ORPHAN_AGE);
            if in_use.contains(&meta.ino()) || young {
                continue;
            }
            let name = entry.file_name().to_string_lossy().into_owned();
            let ours = addresses_in(&name).iter().any(|ip| {
                subnets
                    .iter()
                    .any(|(net, bits)| in_subnet(*ip, *net, *bits))
            });
            if ours {
                found.push(path);
            }
        }
    }
    found
}

/// The inodes of the network namespaces processes are in.
fn live_netns_inodes() -> std::collections::HashSet<u64> {
    let mut inodes = std::collections::HashSet::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let is_pid = entry
            .file_name()
            .to_string_lossy()
            .bytes()
            .all(|b| b.is_ascii_digit());
        if is_pid {
            if let Ok(meta) = std::fs::metadata(entry.path().join("ns/net")) {
                inodes.insert(meta.ino());
            }
        }
    }
    inodes
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(a), Ok(b)) => a.ino() == b.ino() && a.dev() == b.dev(),
        _ => false,
    }
}

/// The IPv4 addresses inside the named network namespace.
fn addresses_in(netns: &str) -> Vec<Ipv4Addr> {
    let ip = find_program(&search_dirs(), "ip").unwrap_or_else(|| PathBuf::from("ip"));
    let Ok(output) = Command::new(ip)
        .args(["-n", netns, "-4", "-o", "addr", "show"])
        .stderr(Stdio::null())
        .output()
    else {
        return Vec::new();
    };
    // `2: eth0    inet 10.42.0.3/24 brd ... scope global eth0`
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            words.find(|w| *w == "inet")?;
            words.next()?.split('/').next()?.parse().ok()
        })
        .collect()
}

/// The IPv4 subnets the node's CNI configuration gives pods.
pub(super) fn pod_subnets(conflist: &Path) -> Vec<(Ipv4Addr, u8)> {
    let Ok(text) = std::fs::read(conflist) else {
        return Vec::new();
    };
    let Ok(config) = serde_json::from_slice::<serde_json::Value>(&text) else {
        return Vec::new();
    };
    let plugins = config["plugins"].as_array().cloned().unwrap_or_default();
    plugins
        .iter()
        .filter_map(|plugin| plugin["ipam"]["ranges"].as_array())
        .flatten()
        .filter_map(|set| set.as_array())
        .flatten()
        .filter_map(|range| parse_subnet(range["subnet"].as_str()?))
        .collect()
}

/// `10.42.0.0/24` as an address and prefix length.
fn parse_subnet(text: &str) -> Option<(Ipv4Addr, u8)> {
    let (net, bits) = text.split_once('/')?;
    let bits: u8 = bits.parse().ok()?;
    (bits <= 32).then_some((net.parse().ok()?, bits))
}

fn in_subnet(ip: Ipv4Addr, net: Ipv4Addr, bits: u8) -> bool {
    let mask = u32::MAX.checked_shl(32 - u32::from(bits)).unwrap_or(0);
    u32::from(ip) & mask == u32::from(net) & mask
}

#[cfg(test)]
mod orphan_tests {
    use super::*;

    #[test]
    fn subnets_come_from_the_cni_configuration() {
        let dir = tempfile::tempdir().unwrap();
        let conflist = dir.path().join("10-capstan.conflist");
        let config = serde_json::json!({"plugins": [
            {"type": "bridge", "ipam": {"type": "host-local", "ranges": [
                [{"subnet": "10.42.3.0/24"}], [{"subnet": "fd00:42::/64"}]
            ]}},
            {"type": "portmap"}
        ]});
        std::fs::write(&conflist, config.to_string()).unwrap();
        let subnets = pod_subnets(&conflist);
        assert_eq!(subnets, [(Ipv4Addr::new(10, 42, 3, 0), 24)]);
        let (net, bits) = subnets[0];
        assert!(in_subnet(Ipv4Addr::new(10, 42, 3, 17), net, bits));
        assert!(!in_subnet(Ipv4Addr::new(10, 42, 4, 17), net, bits));
        assert!(in_subnet(
            Ipv4Addr::new(1, 2, 3, 4),
            Ipv4Addr::UNSPECIFIED,
            0
        ));
        assert!(pod_subnets(&dir.path().join("missing")).is_empty());
    }
}
