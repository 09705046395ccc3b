//! Pod sandboxes found in containerd's task state, and their networks.

use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::super::find_cni_bin_dir;

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
