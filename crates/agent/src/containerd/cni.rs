//! The node's CNI config: pods on a Linux bridge, addresses from the
//! node's podCIDR, masquerade to the outside, hostPorts by portmap.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use serde_json::json;

use super::{temp_name, Paths, CNI_BRIDGE, CNI_NETWORK};

/// The CNI spec version written. Debian 12's plugins (1.1.1) and
/// containerd 1.6's libcni both speak 1.0.0.
pub const CNI_VERSION: &str = "1.0.0";

/// Where the config goes: `DATA/agent/cni/net.d/10-capstan.conflist`.
pub fn cni_config_path(agent_dir: &Path) -> PathBuf {
    Paths::new(agent_dir)
        .cni_conf_dir
        .join(format!("10-{CNI_NETWORK}.conflist"))
}

/// Writes the CNI config for `pod_cidr` (one CIDR, or an IPv4 and an IPv6
/// one separated by a comma) where containerd's CRI reads it. Atomic, and
/// an unchanged config is not rewritten. `masquerade`: the bridge hides
/// pods' addresses behind the node's for all traffic leaving the node;
/// off when the node masquerades only what leaves the cluster
/// ([`crate::egress`]). `mtu`: the pods' interfaces' MTU (under a VXLAN
/// tunnel, what it carries); none leaves the bridge plugin's default.
pub fn write_cni_config(
    agent_dir: &Path,
    pod_cidr: &str,
    masquerade: bool,
    mtu: Option<u32>,
) -> std::io::Result<()> {
    let paths = Paths::new(agent_dir);
    let text = render(pod_cidr, &paths.cni_ipam_dir, masquerade, mtu)
        .map_err(|message| std::io::Error::new(std::io::ErrorKind::InvalidInput, message))?;
    std::fs::create_dir_all(&paths.cni_ipam_dir)?;
    write_watched(&cni_config_path(agent_dir), text.as_bytes())
}

/// Replaces a file of net.d so that containerd 1.6 notices, and sees it
/// whole. Its watcher reloads on write, remove and rename-away events but
/// ignores create events, which is what a rename into the folder is; and a
/// file written in place is reloaded (with an error logged) half-written.
/// So: write the file beside net.d, move it in under a temporary name
/// (a create: ignored), then rename it to its name (a rename: reloaded).
fn write_watched(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    if std::fs::read(path).is_ok_and(|old| old == contents) {
        return Ok(());
    }
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let staged_inside = temp_name(path);
    let staged_outside = dir
        .parent()
        .unwrap_or(dir)
        .join(staged_inside.file_name().unwrap_or_default());
    std::fs::write(&staged_outside, contents)?;
    let moved = std::fs::rename(&staged_outside, &staged_inside)
        .and_then(|()| std::fs::rename(&staged_inside, path));
    if moved.is_err() {
        let _ = std::fs::remove_file(&staged_outside);
        let _ = std::fs::remove_file(&staged_inside);
    }
    moved
}

/// The conflist's text.
pub fn render(
    pod_cidr: &str,
    ipam_dir: &Path,
    masquerade: bool,
    mtu: Option<u32>,
) -> Result<String, String> {
    let mut ranges = Vec::new();
    let mut routes = Vec::new();
    for cidr in pod_cidr.split(',').map(str::trim) {
        let v6 = parse_cidr(cidr)?;
        ranges.push(json!([{ "subnet": cidr }]));
        routes.push(json!({ "dst": if v6 { "::/0" } else { "0.0.0.0/0" } }));
    }
    let mut config = json!({
        "cniVersion": CNI_VERSION,
        "name": CNI_NETWORK,
        "plugins": [
            {
                "type": "bridge",
                "bridge": CNI_BRIDGE,
                "isGateway": true,
                "ipMasq": masquerade,
                "hairpinMode": true,
                "ipam": {
                    "type": "host-local",
                    "ranges": ranges,
                    "routes": routes,
                    "dataDir": ipam_dir,
                },
            },
            {
                "type": "portmap",
                "capabilities": { "portMappings": true },
                "snat": true,
            },
        ],
    });
    if let Some(mtu) = mtu {
        config["plugins"][0]["mtu"] = json!(mtu);
    }
    let mut text = serde_json::to_string_pretty(&config).map_err(|error| error.to_string())?;
    text.push('\n');
    Ok(text)
}

/// Checks `address/bits`; true for IPv6.
fn parse_cidr(cidr: &str) -> Result<bool, String> {
    let invalid = || format!("invalid pod CIDR {cidr:?}");
    let (address, bits) = cidr.split_once('/').ok_or_else(invalid)?;
    let address: IpAddr = address.parse().map_err(|_| invalid())?;
    let bits: u8 = bits.parse().map_err(|_| invalid())?;
    let max = if address.is_ipv6() { 128 } else { 32 };
    if bits > max {
        return Err(invalid());
    }
    Ok(address.is_ipv6())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bridge_and_portmap() {
        let text = render("10.42.3.0/24", Path::new("/d/agent/cni/ipam"), true, None).unwrap();
        let value: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            value,
            json!({
                "cniVersion": "1.0.0",
                "name": "capstan",
                "plugins": [
                    {
                        "type": "bridge",
                        "bridge": "capstan0",
                        "isGateway": true,
                        "ipMasq": true,
                        "hairpinMode": true,
                        "ipam": {
                            "type": "host-local",
                            "ranges": [[{ "subnet": "10.42.3.0/24" }]],
                            "routes": [{ "dst": "0.0.0.0/0" }],
                            "dataDir": "/d/agent/cni/ipam",
                        },
                    },
                    { "type": "portmap", "capabilities": { "portMappings": true }, "snat": true },
                ],
            })
        );
    }

    #[test]
    fn mtu_under_a_tunnel() {
        let text = render("10.42.3.0/24", Path::new("/i"), false, Some(1450)).unwrap();
        let value: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(value["plugins"][0]["mtu"], json!(1450));
        assert_eq!(value["plugins"][0]["ipMasq"], json!(false));
    }

    #[test]
    fn dual_stack_and_bad_cidrs() {
        let text = render("10.42.0.0/24, fd00:42::/64", Path::new("/i"), true, None).unwrap();
        let value: serde_json::Value = serde_json::from_str(&text).unwrap();
        let ipam = &value["plugins"][0]["ipam"];
        assert_eq!(ipam["ranges"][1], json!([{ "subnet": "fd00:42::/64" }]));
        assert_eq!(ipam["routes"][1], json!({ "dst": "::/0" }));
        for bad in ["", "10.42.0.0", "10.42.0.0/33", "x/8", "10.0.0.0/8,"] {
            assert!(render(bad, Path::new("/i"), true, None).is_err(), "{bad}");
        }
    }

    #[test]
    fn written_atomically_and_idempotently() {
        let temp = tempfile::tempdir().unwrap();
        let agent = temp.path().join("agent");
        write_cni_config(&agent, "10.42.0.0/24", true, None).unwrap();
        let path = cni_config_path(&agent);
        assert_eq!(path, agent.join("cni/net.d/10-capstan.conflist"));
        let first = std::fs::read_to_string(&path).unwrap();
        assert!(first.contains(&format!(
            "{:?}",
            agent.join("cni/ipam").display().to_string()
        )));
        assert!(agent.join("cni/ipam").is_dir());
        write_cni_config(&agent, "10.42.0.0/24", true, None).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), first);
        write_cni_config(&agent, "10.42.1.0/24", true, None).unwrap();
        assert!(std::fs::read_to_string(&path)
            .unwrap()
            .contains("10.42.1.0/24"));
        assert_eq!(
            std::fs::read_dir(agent.join("cni/net.d")).unwrap().count(),
            1
        );
        let error = write_cni_config(&agent, "nope", true, None).unwrap_err();
        assert_eq!(error.kind(), std::io::ErrorKind::InvalidInput);
    }
}
