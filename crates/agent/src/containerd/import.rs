//! Image archives into containerd's `k8s.io` namespace, through `ctr`.
//!
//! `ctr images import` (containerd 1.6) reads OCI layout and docker-archive
//! tars, keeps the names the archive gives its images, and unpacks them
//! for the snapshotter (overlayfs, as CRI uses) unless `--no-unpack`. It
//! has no `--label`: the CRI of containerd 1.6 lists every image of the
//! `k8s.io` namespace, labelled `io.cri-containerd.image=managed` or not.

use std::path::{Path, PathBuf};

use tokio::process::Command;

use super::{find_program, search_dirs, Paths, K8S_NAMESPACE};

/// Imports the images of `archive` into the containerd at `socket`;
/// returns their names.
pub async fn import_image(socket: &Path, archive: &Path) -> Result<Vec<String>, String> {
    match tokio::net::UnixStream::connect(socket).await {
        Ok(_) => {}
        Err(error) if error.kind() == std::io::ErrorKind::PermissionDenied => {
            return Err(format!("{}: {error} (run as root)", socket.display()))
        }
        Err(_) => {
            return Err(format!(
                "containerd is not running: nothing answers on {}",
                socket.display()
            ))
        }
    }
    let file =
        std::fs::File::open(archive).map_err(|error| format!("{}: {error}", archive.display()))?;
    drop(file);
    let ctr = ctr_path();
    let output = Command::new(&ctr)
        .arg("--address")
        .arg(socket)
        .args(["--namespace", K8S_NAMESPACE, "images", "import"])
        .args(["--snapshotter", "overlayfs"])
        .arg(archive)
        .env_remove("CONTAINERD_NAMESPACE")
        .env_remove("CONTAINERD_SNAPSHOTTER")
        .kill_on_drop(true)
        .output()
        .await
        .map_err(|error| format!("cannot run {}: {error}", ctr.display()))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let message = stderr.trim();
        return Err(format!(
            "importing {} failed ({}): {}",
            archive.display(),
            output.status,
            if message.is_empty() {
                stdout.trim()
            } else {
                message
            }
        ));
    }
    let names = imported_names(&stdout);
    if names.is_empty() {
        return Err(format!(
            "{} holds no image for this platform (ctr said: {:?})",
            archive.display(),
            stdout.trim()
        ));
    }
    Ok(names)
}

/// The names in ctr's "unpacking NAME (sha256:...)...done" lines.
fn imported_names(stdout: &str) -> Vec<String> {
    let mut names: Vec<String> = stdout
        .lines()
        .filter_map(|line| line.trim().strip_prefix("unpacking "))
        .filter_map(|rest| rest.split(" (").next())
        .map(str::to_string)
        .collect();
    names.dedup();
    names
}

/// Imports every `*.tar` of `DATA/agent/images`, logging what happens.
pub async fn import_image_dir(socket: &Path, agent_dir: &Path) {
    let dir = Paths::new(agent_dir).images;
    let mut archives: Vec<PathBuf> = match std::fs::read_dir(&dir) {
        Ok(entries) => entries
            .filter_map(|entry| entry.ok().map(|entry| entry.path()))
            .filter(|path| path.extension().is_some_and(|ext| ext == "tar") && path.is_file())
            .collect(),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return,
        Err(error) => {
            tracing::warn!("image archives in {}: {error}", dir.display());
            return;
        }
    };
    archives.sort();
    for archive in archives {
        match import_image(socket, &archive).await {
            Ok(names) => tracing::info!(archive = %archive.display(), ?names, "imported images"),
            Err(error) => tracing::warn!("{error}"),
        }
    }
}

fn ctr_path() -> PathBuf {
    find_program(&search_dirs(), "ctr").unwrap_or_else(|| PathBuf::from("ctr"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_from_ctr_output() {
        let out = "unpacking docker.io/library/busybox:1.36 (sha256:8c1a...)...done\n\
                   unpacking capstan.local/pause:1 (sha256:0a7b...)...done\n";
        assert_eq!(
            imported_names(out),
            ["docker.io/library/busybox:1.36", "capstan.local/pause:1"]
        );
        assert!(imported_names("").is_empty());
    }
}
