//! containerd's config.toml, after k3s's template
//! (pkg/agent/templates/templates_linux.go) for containerd 1.6.

use std::fmt::Write;
use std::path::Path;

use super::{Paths, Tools};

/// Plugins that cannot work here and only log errors or warnings at every
/// start: the snapshotters of other file systems, the device-mapper and
/// the v1 shim runtime (the CRI uses the v2 runc shim).
pub const DISABLED_PLUGINS: [&str; 6] = [
    "io.containerd.snapshotter.v1.aufs",
    "io.containerd.snapshotter.v1.btrfs",
    "io.containerd.snapshotter.v1.devmapper",
    "io.containerd.snapshotter.v1.zfs",
    "io.containerd.tracing.processor.v1.otlp",
    "io.containerd.internal.v1.tracing",
];

/// What goes into config.toml beyond the paths.
pub struct ConfigInput<'a> {
    pub paths: &'a Paths,
    pub tools: &'a Tools,
    pub sandbox_image: &'a str,
    /// Whether pods may bind ports below 1024 and ping without
    /// capabilities (`net.ipv4.ip_unprivileged_port_start` and
    /// `ping_group_range`, Linux 4.11 and later), as k3s decides.
    pub enable_unprivileged: bool,
    /// Keep containers' oom_score_adj at or above containerd's own: set
    /// when capstan lacks CAP_SYS_RESOURCE (some sandboxes and VMs drop
    /// it), as lowering it (CRI gives pod sandboxes -998) then fails in
    /// runc with "can't get final child's PID from pipe: EOF".
    pub restrict_oom_score_adj: bool,
    /// `[...cri.registry.configs."host".auth]` tables, rendered by
    /// [`super::registries::Registries::auth_toml`].
    pub registry_auth: &'a str,
}

/// config.toml, version 2.
pub fn render(input: &ConfigInput) -> String {
    let paths = input.paths;
    let cri = r#"plugins."io.containerd.grpc.v1.cri""#;
    let mut out = String::new();
    let disabled: Vec<String> = DISABLED_PLUGINS.iter().map(|name| quote(name)).collect();
    let _ = write!(
        out,
        "# Written by capstan at every start of its containerd; edits are lost.\n\
         version = 2\n\
         root = {root}\n\
         state = {state}\n\
         disabled_plugins = [{disabled}]\n\
         \n\
         [grpc]\n\
         \x20 address = {socket}\n\
         \n\
         [ttrpc]\n\
         \x20 address = {ttrpc}\n\
         \n\
         [plugins.\"io.containerd.internal.v1.opt\"]\n\
         \x20 path = {opt}\n\
         \n\
         [{cri}]\n\
         \x20 sandbox_image = {sandbox}\n\
         \x20 stream_server_address = \"127.0.0.1\"\n\
         \x20 stream_server_port = \"0\"\n\
         \x20 enable_selinux = false\n\
         \x20 enable_unprivileged_ports = {unprivileged}\n\
         \x20 enable_unprivileged_icmp = {unprivileged}\n\
         \x20 restrict_oom_score_adj = {restrict_oom}\n\
         \n\
         [{cri}.containerd]\n\
         \x20 snapshotter = \"overlayfs\"\n\
         \x20 disable_snapshot_annotations = true\n\
         \x20 default_runtime_name = \"runc\"\n\
         \n\
         [{cri}.containerd.runtimes.runc]\n\
         \x20 runtime_type = \"io.containerd.runc.v2\"\n\
         \n\
         [{cri}.containerd.runtimes.runc.options]\n\
         \x20 BinaryName = {runc}\n\
         \x20 Root = {runc_root}\n\
         \x20 SystemdCgroup = false\n\
         \n\
         [{cri}.cni]\n\
         \x20 bin_dir = {cni_bin}\n\
         \x20 conf_dir = {cni_conf}\n\
         \n\
         [{cri}.registry]\n\
         \x20 config_path = {certs_d}\n",
        root = quote_path(&paths.root),
        state = quote_path(&paths.state),
        disabled = disabled.join(", "),
        socket = quote_path(&paths.socket),
        ttrpc = quote_path(&paths.ttrpc_socket),
        opt = quote_path(&paths.opt),
        sandbox = quote(input.sandbox_image),
        unprivileged = input.enable_unprivileged,
        restrict_oom = input.restrict_oom_score_adj,
        runc = quote_path(&input.tools.runc),
        runc_root = quote_path(&paths.runc_root),
        cni_bin = quote_path(&input.tools.cni_bin_dir),
        cni_conf = quote_path(&paths.cni_conf_dir),
        certs_d = quote_path(&paths.certs_d),
    );
    if !input.registry_auth.is_empty() {
        out.push('\n');
        out.push_str(input.registry_auth);
    }
    out
}

/// Whether the kernel has the sysctls behind `enable_unprivileged_ports`
/// and `enable_unprivileged_icmp` (Linux 4.11 and later).
pub fn kernel_allows_unprivileged() -> bool {
    Path::new("/proc/sys/net/ipv4/ip_unprivileged_port_start").exists()
        && Path::new("/proc/sys/net/ipv4/ping_group_range").exists()
}

/// Whether this process lacks CAP_SYS_RESOURCE (capability 24), which
/// lowering an oom_score_adj needs.
pub fn lacks_cap_sys_resource() -> bool {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("CapEff:"))
        .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
        .is_some_and(|caps| caps & (1 << 24) == 0)
}

/// A TOML basic string.
pub fn quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

pub fn quote_path(path: &Path) -> String {
    quote(&path.to_string_lossy())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn tools() -> Tools {
        Tools {
            containerd: "/usr/bin/containerd".into(),
            ctr: "/usr/bin/ctr".into(),
            shim: "/usr/bin/containerd-shim-runc-v2".into(),
            runc: "/usr/sbin/runc".into(),
            cni_bin_dir: "/usr/lib/cni".into(),
        }
    }

    #[test]
    fn config_names_the_data_dir_paths() {
        let paths = Paths::new(Path::new("/var/lib/capstan/agent"));
        let text = render(&ConfigInput {
            paths: &paths,
            tools: &tools(),
            sandbox_image: "registry.k8s.io/pause:3.10",
            enable_unprivileged: true,
            restrict_oom_score_adj: false,
            registry_auth: "",
        });
        let expected = [
            "version = 2\n",
            "root = \"/var/lib/capstan/agent/containerd/root\"\n",
            "state = \"/var/lib/capstan/agent/containerd/state\"\n",
            "\"io.containerd.snapshotter.v1.btrfs\"",
            "[grpc]\n  address = \"/var/lib/capstan/agent/containerd/containerd.sock\"\n",
            "[ttrpc]\n  address = \"/var/lib/capstan/agent/containerd/containerd.sock.ttrpc\"\n",
            "[plugins.\"io.containerd.grpc.v1.cri\"]\n  sandbox_image = \"registry.k8s.io/pause:3.10\"\n",
            "  stream_server_port = \"0\"\n",
            "  enable_unprivileged_ports = true\n  enable_unprivileged_icmp = true\n",
            "  restrict_oom_score_adj = false\n",
            "[plugins.\"io.containerd.grpc.v1.cri\".containerd]\n  snapshotter = \"overlayfs\"\n",
            "  default_runtime_name = \"runc\"\n",
            "runtimes.runc]\n  runtime_type = \"io.containerd.runc.v2\"\n",
            "  Root = \"/var/lib/capstan/agent/containerd/runc\"\n  SystemdCgroup = false\n",
            "  BinaryName = \"/usr/sbin/runc\"\n",
            "[plugins.\"io.containerd.grpc.v1.cri\".cni]\n  bin_dir = \"/usr/lib/cni\"\n  conf_dir = \"/var/lib/capstan/agent/cni/net.d\"\n",
            "[plugins.\"io.containerd.grpc.v1.cri\".registry]\n  config_path = \"/var/lib/capstan/agent/containerd/certs.d\"\n",
        ];
        for part in expected {
            assert!(text.contains(part), "{part:?} not in\n{text}");
        }
        assert!(!text.contains(".configs."), "{text}");
    }

    #[test]
    fn auth_tables_appended_and_strings_escaped() {
        let paths = Paths::new(&PathBuf::from("/d\"ata/agent"));
        let text = render(&ConfigInput {
            paths: &paths,
            tools: &tools(),
            sandbox_image: "pause",
            enable_unprivileged: false,
            restrict_oom_score_adj: true,
            registry_auth: "[x]\n  y = 1\n",
        });
        assert!(text.ends_with("\n\n[x]\n  y = 1\n"), "{text}");
        assert!(text.contains("root = \"/d\\\"ata/agent/containerd/root\""));
        assert!(text.contains("enable_unprivileged_ports = false"));
        assert!(text.contains("  restrict_oom_score_adj = true\n"));
        assert_eq!(quote("a\\b\u{1}"), "\"a\\\\b\\u0001\"");
    }
}
