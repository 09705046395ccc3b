//! The agent's own containerd, run as k3s runs it: a child process with a
//! config, state and socket under the data dir, so that it never meets a
//! containerd the machine runs for something else.
//!
//! Layout under `DATA_DIR/agent`:
//!
//! ```text
//! containerd/config.toml      written at every start
//! containerd/containerd.sock  gRPC (CRI and containerd's own API)
//! containerd/containerd.log   its stdout and stderr
//! containerd/root, state      its root and state dirs
//! containerd/runc/<ns>        runc's state (the shim appends the namespace)
//! containerd/certs.d/<host>   registry hosts, from registries.yaml
//! cni/net.d                   the CNI config CRI reads
//! cni/ipam                    host-local's IP reservations
//! images/*.tar                image archives imported at start
//! ```
//!
//! Containers outlive containerd (their shims are their parents), as with
//! k3s: [`killall`] is what stops everything of a data dir.

mod cni;
mod config;
mod import;
mod killall;
mod registries;
mod supervisor;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

pub use cni::write_cni_config;
pub use import::{import_image, import_image_dir};
pub use killall::killall;
pub use registries::Registries;
pub use supervisor::{start, Containerd};

/// The containerd namespace CRI keeps its images and containers in.
pub const K8S_NAMESPACE: &str = "k8s.io";

/// The name of the CNI network (and the conflist's file name stem).
pub const CNI_NETWORK: &str = "capstan";

/// The Linux bridge the CNI config puts pods on.
pub const CNI_BRIDGE: &str = "capstan0";

/// What [`start`] needs to know.
#[derive(Clone, Debug)]
pub struct ContainerdOptions {
    /// `DATA_DIR/agent`.
    pub agent_dir: PathBuf,
    /// The pause image every pod sandbox runs.
    pub sandbox_image: String,
    /// A k3s-style `registries.yaml`, if there is one.
    pub private_registry: Option<PathBuf>,
}

/// Where the programs containers need were found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tools {
    pub containerd: PathBuf,
    pub ctr: PathBuf,
    pub shim: PathBuf,
    pub runc: PathBuf,
    /// The folder with the CNI plugins (bridge, host-local, ...).
    pub cni_bin_dir: PathBuf,
}

/// The CNI plugins the agent's network config uses.
pub const CNI_PLUGINS: [&str; 4] = ["bridge", "host-local", "loopback", "portmap"];

/// Where programs are looked for besides `$PATH` (runc is in /usr/sbin,
/// which a user's `$PATH` may lack).
const SYSTEM_BIN_DIRS: [&str; 6] = [
    "/usr/local/sbin",
    "/usr/local/bin",
    "/usr/sbin",
    "/usr/bin",
    "/sbin",
    "/bin",
];

/// Where distributions put the CNI plugins: Debian, upstream, Fedora.
const CNI_BIN_DIRS: [&str; 3] = ["/usr/lib/cni", "/opt/cni/bin", "/usr/libexec/cni"];

/// Checks that containerd, its runc shim, runc and the CNI plugins are
/// installed. The error names what is missing and the Debian packages to
/// install.
pub fn check_tools() -> Result<Tools, String> {
    let cni_dirs: Vec<PathBuf> = CNI_BIN_DIRS.iter().map(PathBuf::from).collect();
    check_tools_in(&search_dirs(), &cni_dirs)
}

/// `$PATH`, then the usual system folders.
pub(crate) fn search_dirs() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).collect())
        .unwrap_or_default();
    dirs.extend(SYSTEM_BIN_DIRS.iter().map(PathBuf::from));
    dirs
}

/// The CNI plugin folder, if one has all the plugins.
pub(crate) fn find_cni_bin_dir() -> Option<PathBuf> {
    CNI_BIN_DIRS.iter().map(PathBuf::from).find(|dir| {
        CNI_PLUGINS
            .iter()
            .all(|plugin| is_executable(&dir.join(plugin)))
    })
}

/// [`check_tools`] with the folders to search given.
pub fn check_tools_in(bin_dirs: &[PathBuf], cni_dirs: &[PathBuf]) -> Result<Tools, String> {
    let containerd = find_program(bin_dirs, "containerd");
    let ctr = find_program(bin_dirs, "ctr");
    let shim = find_program(bin_dirs, "containerd-shim-runc-v2");
    let runc = find_program(bin_dirs, "runc");
    let cni_bin_dir = cni_dirs
        .iter()
        .find(|dir| {
            CNI_PLUGINS
                .iter()
                .all(|plugin| is_executable(&dir.join(plugin)))
        })
        .cloned();
    match (containerd, ctr, shim, runc, cni_bin_dir) {
        (Some(containerd), Some(ctr), Some(shim), Some(runc), Some(cni_bin_dir)) => Ok(Tools {
            containerd,
            ctr,
            shim,
            runc,
            cni_bin_dir,
        }),
        (containerd, ctr, shim, runc, cni) => {
            let mut missing: Vec<(&str, &str)> = Vec::new();
            if containerd.is_none() || ctr.is_none() || shim.is_none() {
                missing.push(("containerd", "containerd"));
            }
            if runc.is_none() {
                missing.push(("runc", "runc"));
            }
            if cni.is_none() {
                missing.push(("the CNI plugins", "containernetworking-plugins"));
            }
            Err(missing_message(&missing))
        }
    }
}

/// "containerd, runc and the CNI plugins are needed to run containers:
/// apt-get install containerd runc containernetworking-plugins".
fn missing_message(missing: &[(&str, &str)]) -> String {
    let names: Vec<&str> = missing.iter().map(|(name, _)| *name).collect();
    let packages: Vec<&str> = missing.iter().map(|(_, package)| *package).collect();
    let listed = match names.as_slice() {
        [] => String::new(),
        [one] => (*one).to_string(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    };
    let verb = if names.len() == 1 && !listed.starts_with("the ") {
        "is"
    } else {
        "are"
    };
    format!(
        "{listed} {verb} needed to run containers: apt-get install {}",
        packages.join(" ")
    )
}

/// The first executable `name` in `dirs`.
pub(crate) fn find_program(dirs: &[PathBuf], name: &str) -> Option<PathBuf> {
    dirs.iter()
        .map(|dir| dir.join(name))
        .find(|path| is_executable(path))
}

fn is_executable(path: &Path) -> bool {
    std::fs::metadata(path)
        .map(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// The files and folders of an agent's containerd.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Paths {
    /// `DATA_DIR/agent/containerd`.
    pub dir: PathBuf,
    pub config: PathBuf,
    pub root: PathBuf,
    pub state: PathBuf,
    pub socket: PathBuf,
    pub ttrpc_socket: PathBuf,
    pub log: PathBuf,
    /// runc's `--root`; the runc shim adds the namespace to it.
    pub runc_root: PathBuf,
    /// Registry hosts (containerd's `config_path`).
    pub certs_d: PathBuf,
    /// containerd's `opt` plugin folder (k3s keeps it here too).
    pub opt: PathBuf,
    /// The CNI config folder CRI reads.
    pub cni_conf_dir: PathBuf,
    /// host-local's reservations.
    pub cni_ipam_dir: PathBuf,
    /// Image archives imported at start.
    pub images: PathBuf,
}

/// Unix socket paths hold at most 107 bytes (108 with the final NUL).
pub const MAX_SOCKET_PATH: usize = 107;

impl Paths {
    pub fn new(agent_dir: &Path) -> Paths {
        let dir = agent_dir.join("containerd");
        Paths {
            config: dir.join("config.toml"),
            root: dir.join("root"),
            state: dir.join("state"),
            socket: dir.join("containerd.sock"),
            ttrpc_socket: dir.join("containerd.sock.ttrpc"),
            log: dir.join("containerd.log"),
            runc_root: dir.join("runc"),
            certs_d: dir.join("certs.d"),
            opt: dir.join("opt"),
            cni_conf_dir: agent_dir.join("cni").join("net.d"),
            cni_ipam_dir: agent_dir.join("cni").join("ipam"),
            images: agent_dir.join("images"),
            dir,
        }
    }

    /// An error if the sockets' paths are too long for a Unix socket.
    pub fn check_socket_length(&self) -> Result<(), String> {
        let longest = self.ttrpc_socket.as_os_str().len();
        if longest > MAX_SOCKET_PATH {
            return Err(format!(
                "the containerd socket path {} is {longest} bytes long; Unix sockets allow {MAX_SOCKET_PATH}: \
                 choose a shorter --data-dir",
                self.ttrpc_socket.display()
            ));
        }
        Ok(())
    }
}

/// The socket of the containerd an agent with data dir `data_dir` runs.
pub fn socket_for_data_dir(data_dir: &Path) -> PathBuf {
    Paths::new(&data_dir.join("agent")).socket
}

/// Writes `contents` to `path` through a temporary file and a rename, so
/// that readers see the old or the new file, never half of one. Leaves an
/// identical file alone.
pub(crate) fn write_atomic(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    if std::fs::read(path).is_ok_and(|old| old == contents) {
        return Ok(());
    }
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let temp = temp_name(path);
    std::fs::write(&temp, contents)?;
    std::fs::rename(&temp, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&temp);
    })
}

/// `.NAME.tmp.PID` beside `path`.
pub(crate) fn temp_name(path: &Path) -> PathBuf {
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    path.with_file_name(format!(".{name}.tmp.{}", std::process::id()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fake_programs(dir: &Path, names: &[&str]) {
        std::fs::create_dir_all(dir).unwrap();
        for name in names {
            let path = dir.join(name);
            std::fs::write(&path, "#!/bin/sh\n").unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
    }

    #[test]
    fn tools_found() {
        let temp = tempfile::tempdir().unwrap();
        let bin = temp.path().join("bin");
        let cni = temp.path().join("cni");
        fake_programs(
            &bin,
            &["containerd", "ctr", "containerd-shim-runc-v2", "runc"],
        );
        fake_programs(&cni, &CNI_PLUGINS);
        let tools = check_tools_in(
            std::slice::from_ref(&bin),
            &[temp.path().join("none"), cni.clone()],
        );
        assert_eq!(
            tools,
            Ok(Tools {
                containerd: bin.join("containerd"),
                ctr: bin.join("ctr"),
                shim: bin.join("containerd-shim-runc-v2"),
                runc: bin.join("runc"),
                cni_bin_dir: cni,
            })
        );
    }

    #[test]
    fn missing_tools_named_with_their_packages() {
        let temp = tempfile::tempdir().unwrap();
        let bin = temp.path().join("bin");
        let cni = temp.path().join("cni");
        let (bins, cnis) = ([bin.clone()], [cni.clone()]);
        assert_eq!(
            check_tools_in(&bins, &cnis).unwrap_err(),
            "containerd, runc and the CNI plugins are needed to run containers: \
             apt-get install containerd runc containernetworking-plugins"
        );
        fake_programs(&bin, &["containerd", "ctr", "containerd-shim-runc-v2"]);
        // portmap missing: the plugins are not all there.
        fake_programs(&cni, &["bridge", "host-local", "loopback"]);
        assert_eq!(
            check_tools_in(&bins, &cnis).unwrap_err(),
            "runc and the CNI plugins are needed to run containers: \
             apt-get install runc containernetworking-plugins"
        );
        fake_programs(&cni, &["portmap"]);
        assert_eq!(
            check_tools_in(&bins, &cnis).unwrap_err(),
            "runc is needed to run containers: apt-get install runc"
        );
        fake_programs(&bin, &["runc"]);
        std::fs::remove_file(bin.join("containerd-shim-runc-v2")).unwrap();
        assert_eq!(
            check_tools_in(&bins, &cnis).unwrap_err(),
            "containerd is needed to run containers: apt-get install containerd"
        );
        // Not executable is not there.
        fake_programs(&bin, &["containerd-shim-runc-v2"]);
        std::fs::set_permissions(cni.join("bridge"), std::fs::Permissions::from_mode(0o644))
            .unwrap();
        assert_eq!(
            check_tools_in(&bins, &cnis).unwrap_err(),
            "the CNI plugins are needed to run containers: apt-get install containernetworking-plugins"
        );
    }

    #[test]
    fn socket_path_length_checked() {
        let short = Paths::new(Path::new("/var/lib/capstan/agent"));
        assert_eq!(
            short.socket,
            Path::new("/var/lib/capstan/agent/containerd/containerd.sock")
        );
        assert!(short.check_socket_length().is_ok());
        let long = Paths::new(&Path::new("/").join("x".repeat(80)).join("agent"));
        let error = long.check_socket_length().unwrap_err();
        assert!(error.contains("choose a shorter --data-dir"), "{error}");
    }

    #[test]
    fn atomic_write_replaces_and_leaves_identical_files() {
        let temp = tempfile::tempdir().unwrap();
        let path = temp.path().join("a/b.conf");
        write_atomic(&path, b"one").unwrap();
        write_atomic(&path, b"two").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"two");
        let modified = std::fs::metadata(&path).unwrap().modified().unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
        write_atomic(&path, b"two").unwrap();
        assert_eq!(
            std::fs::metadata(&path).unwrap().modified().unwrap(),
            modified
        );
        let names: Vec<_> = std::fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|entry| entry.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("b.conf")]);
    }
}
