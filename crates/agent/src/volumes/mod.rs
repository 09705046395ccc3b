//! Pod volumes on the node: each pod has a folder under
//! `DATA_DIR/agent/pods/<uid>` with its volumes laid out as upstream's
//! kubelet lays them out (`volumes/kubernetes.io~empty-dir/<name>`), and
//! containers mount them by `volumeMounts`.

mod atomic;
mod projection;
mod tokens;

pub use tokens::TokenManager;

use std::path::{Path, PathBuf};

use k8s_cri::v1 as cri;

use crate::mounts;
use k8s_openapi::api::core::v1::{Container, Pod, Volume};

/// The pod's folder on this node.
pub fn pod_dir(agent_dir: &Path, pod: &Pod) -> PathBuf {
    pod_dir_of(agent_dir, pod.metadata.uid.as_deref().unwrap_or_default())
}

fn pod_dir_of(agent_dir: &Path, uid: &str) -> PathBuf {
    agent_dir.join("pods").join(uid)
}

/// Where a volume of the pod lives on the node, for the kinds kept in
/// the pod's folder.
fn volume_dir(pod_dir: &Path, volume: &Volume) -> Option<PathBuf> {
    let plugin = if volume.empty_dir.is_some() {
        "kubernetes.io~empty-dir"
    } else if volume.config_map.is_some() {
        "kubernetes.io~configmap"
    } else if volume.secret.is_some() {
        "kubernetes.io~secret"
    } else if volume.downward_api.is_some() {
        "kubernetes.io~downward-api"
    } else if volume.projected.is_some() {
        "kubernetes.io~projected"
    } else {
        return None;
    };
    Some(pod_dir.join("volumes").join(plugin).join(&volume.name))
}

/// Why a volume could not be set up, as upstream's kubelet reports it
/// in its FailedMount events.
pub fn mount_failed(volume: &str, error: &str) -> String {
    format!("MountVolume.SetUp failed for volume {volume:?} : {error}")
}

/// Creates the pod's folder and its volumes.
pub fn prepare(agent_dir: &Path, pod: &Pod) -> Result<(), String> {
    let dir = pod_dir(agent_dir, pod);
    create(&dir)?;
    for volume in pod.spec.iter().flat_map(|s| s.volumes.iter().flatten()) {
        prepare_volume(&dir, volume).map_err(|error| mount_failed(&volume.name, &error))?;
    }
    Ok(())
}

fn prepare_volume(dir: &Path, volume: &Volume) -> Result<(), String> {
    if let Some(empty_dir) = &volume.empty_dir {
        let path = volume_dir(dir, volume).unwrap_or_default();
        create(&path)?;
        if empty_dir.medium.as_deref() == Some("Memory") {
            let size = empty_dir.size_limit.as_ref().map(|q| q.0.as_str());
            mount_tmpfs(&path, size)?;
        }
    } else if let Some(host_path) = &volume.host_path {
        prepare_host_path(&host_path.path, host_path.type_.as_deref().unwrap_or(""))?;
    } else if projection::is_projected(volume) {
        let path = volume_dir(dir, volume).unwrap_or_default();
        create(&path)?;
        // Secrets and projections (which hold tokens) stay in memory, as
        // upstream keeps them.
        if volume.secret.is_some() || volume.projected.is_some() {
            mount_tmpfs(&path, None)?;
        }
    } else {
        return Err("this kind of volume is not supported by this node yet".into());
    }
    Ok(())
}

/// Writes the files of the pod's configMap, secret, downwardAPI and
/// projected volumes, swapping each in at once when it changed.
pub async fn project(
    api: &kube::Client,
    tokens: &TokenManager,
    agent_dir: &Path,
    pod: &Pod,
) -> Result<(), String> {
    let dir = pod_dir(agent_dir, pod);
    for volume in pod.spec.iter().flat_map(|s| s.volumes.iter().flatten()) {
        let failed = |error: String| mount_failed(&volume.name, &error);
        let files = projection::files(api, tokens, pod, volume).await;
        let Some(files) = files.map_err(failed)? else {
            continue;
        };
        let path = volume_dir(&dir, volume).unwrap_or_default();
        atomic::write(&path, &files).map_err(failed)?;
    }
    Ok(())
}

/// Whether the pod has volumes whose files come from the API.
pub fn has_projections(pod: &Pod) -> bool {
    pod.spec
        .iter()
        .flat_map(|s| s.volumes.iter().flatten())
        .any(projection::is_projected)
}

fn create(path: &Path) -> Result<(), String> {
    std::fs::create_dir_all(path).map_err(|e| format!("creating {}: {e}", path.display()))
}

/// Checks or creates a hostPath as its `type` asks (upstream's
/// `checkType`).
fn prepare_host_path(path: &str, kind: &str) -> Result<(), String> {
    let target = Path::new(path);
    let meta = std::fs::metadata(target).ok();
    let fail = |what: &str| {
        Err(format!(
            "hostPath type check failed: {path} is not a {what}"
        ))
    };
    match kind {
        "DirectoryOrCreate" if meta.is_none() => create(target),
        "FileOrCreate" if meta.is_none() => {
            if let Some(parent) = target.parent() {
                create(parent)?;
            }
            std::fs::write(target, b"").map_err(|e| format!("creating {path}: {e}"))
        }
        "Directory" | "DirectoryOrCreate" if !meta.as_ref().is_some_and(|m| m.is_dir()) => {
            fail("directory")
        }
        "File" | "FileOrCreate" if !meta.as_ref().is_some_and(|m| m.is_file()) => fail("file"),
        "Socket" | "CharDevice" | "BlockDevice" if meta.is_none() => {
            fail(&kind.to_ascii_lowercase())
        }
        _ => Ok(()),
    }
}

fn mount_tmpfs(path: &Path, size: Option<&str>) -> Result<(), String> {
    if mounts::is_mount_point(path) {
        return Ok(());
    }
    let mut command = std::process::Command::new("mount");
    command.args(["-t", "tmpfs"]);
    if let Some(size) = size.and_then(tmpfs_size) {
        command.args(["-o", &format!("size={size}")]);
    }
    let output = command
        .arg("tmpfs")
        .arg(path)
        .output()
        .map_err(|e| format!("mount tmpfs: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "mount tmpfs on {}: {}",
            path.display(),
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    Ok(())
}

/// A sizeLimit quantity in bytes.
fn tmpfs_size(quantity: &str) -> Option<i64> {
    let parsed = capstan_api::validation::quantity::Quantity::parse(quantity).ok()?;
    Some(parsed.value()).filter(|bytes| *bytes > 0)
}

/// The container's `volumeMounts` as CRI mounts.
pub fn mounts(
    agent_dir: &Path,
    pod: &Pod,
    container: &Container,
) -> Result<Vec<cri::Mount>, String> {
    let dir = pod_dir(agent_dir, pod);
    let volumes = pod
        .spec
        .as_ref()
        .and_then(|s| s.volumes.clone())
        .unwrap_or_default();
    let mut out = Vec::new();
    for mount in container.volume_mounts.iter().flatten() {
        let volume = volumes
            .iter()
            .find(|v| v.name == mount.name)
            .ok_or_else(|| format!("volume {:?} not found in the pod", mount.name))?;
        let mut host = match (&volume.host_path, volume_dir(&dir, volume)) {
            (Some(host_path), _) => PathBuf::from(&host_path.path),
            (None, Some(path)) => path,
            (None, None) => {
                return Err(format!(
                    "volume {:?}: this kind of volume is not supported by this node yet",
                    volume.name
                ))
            }
        };
        if let Some(sub_path) = mount.sub_path.as_deref().filter(|p| !p.is_empty()) {
            if Path::new(sub_path)
                .components()
                .any(|c| !matches!(c, std::path::Component::Normal(_)))
            {
                return Err(format!(
                    "subPath {sub_path:?} must be a relative path without '..'"
                ));
            }
            host = host.join(sub_path);
            if !host.exists() {
                create(&host)?;
            }
        }
        let propagation = match mount.mount_propagation.as_deref() {
            Some("HostToContainer") => cri::MountPropagation::PropagationHostToContainer,
            Some("Bidirectional") => cri::MountPropagation::PropagationBidirectional,
            _ => cri::MountPropagation::PropagationPrivate,
        };
        out.push(cri::Mount {
            container_path: mount.mount_path.clone(),
            host_path: host.to_string_lossy().into_owned(),
            // Files from the API are read-only in containers, as upstream.
            readonly: mount.read_only == Some(true) || projection::is_projected(volume),
            propagation: propagation as i32,
            ..Default::default()
        });
    }
    Ok(out)
}

/// Removes the pod's folder, unmounting what the agent mounted in it.
pub fn remove_pod_dir(agent_dir: &Path, uid: &str) {
    let dir = pod_dir_of(agent_dir, uid);
    if uid.is_empty() || !dir.exists() {
        return;
    }
    for plugin in [
        "kubernetes.io~empty-dir",
        "kubernetes.io~secret",
        "kubernetes.io~projected",
    ] {
        let volumes = dir.join("volumes").join(plugin);
        for entry in std::fs::read_dir(&volumes).into_iter().flatten().flatten() {
            if mounts::is_mount_point(&entry.path()) {
                mounts::unmount(&entry.path());
            }
        }
    }
    if let Err(error) = std::fs::remove_dir_all(&dir) {
        tracing::warn!(dir = %dir.display(), %error, "removing a pod's folder");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_dirs_live_in_the_pod_folder_and_mount_by_name() {
        let agent = tempfile_dir();
        let pod: Pod = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "p", "uid": "u1"},
            "spec": {
                "volumes": [{"name": "shared", "emptyDir": {}}],
                "containers": [{"name": "c", "volumeMounts": [
                    {"name": "shared", "mountPath": "/data"},
                    {"name": "shared", "mountPath": "/sub", "subPath": "a/b", "readOnly": true}
                ]}]
            }
        }))
        .unwrap();
        prepare(&agent, &pod).unwrap();
        let container = &pod.spec.as_ref().unwrap().containers[0];
        let mounts = mounts(&agent, &pod, container).unwrap();
        let expected = agent.join("pods/u1/volumes/kubernetes.io~empty-dir/shared");
        assert_eq!(mounts[0].host_path, expected.to_string_lossy());
        assert!(expected.is_dir());
        assert_eq!(mounts[1].host_path, expected.join("a/b").to_string_lossy());
        assert!(mounts[1].readonly);
        remove_pod_dir(&agent, "u1");
        assert!(!agent.join("pods/u1").exists());
        let _ = std::fs::remove_dir_all(&agent);
    }

    #[test]
    fn sub_paths_may_not_climb_out() {
        let agent = tempfile_dir();
        let pod: Pod = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "p", "uid": "u2"},
            "spec": {
                "volumes": [{"name": "v", "emptyDir": {}}],
                "containers": [{"name": "c", "volumeMounts": [
                    {"name": "v", "mountPath": "/x", "subPath": "../../etc"}]}]
            }
        }))
        .unwrap();
        let container = &pod.spec.as_ref().unwrap().containers[0];
        assert!(mounts(&agent, &pod, container).is_err());
        let _ = std::fs::remove_dir_all(&agent);
    }

    fn tempfile_dir() -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "capstan-volumes-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }
}
