//! The VXLAN device and its peer entries, as flannel's vxlan backend:
//! one device `flannel.1` (VNI 1, UDP 8472, no learning), addressed with
//! this node's podCIDR network address (`10.42.1.0/32`). Each peer node
//! behind it gets a permanent neighbour entry (its podCIDR's network
//! address is its VTEP), a forwarding entry (its VTEP MAC lives at its
//! InternalIP) and a route to its podCIDR through its VTEP. Peers learn a
//! node's VTEP MAC from flannel's annotations on its Node.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr};

use k8s_openapi::api::core::v1::Node;
use serde_json::Value;

/// flannel's names and numbers.
pub const DEVICE: &str = "flannel.1";
pub const VNI: u32 = 1;
pub const PORT: u16 = 8472;
/// What encapsulation takes of the underlay's MTU: outer IPv4 (20), UDP
/// (8), VXLAN (8) and inner Ethernet (14) headers.
pub const OVERHEAD: u32 = 50;

pub const BACKEND_TYPE: &str = "flannel.alpha.coreos.com/backend-type";
pub const BACKEND_DATA: &str = "flannel.alpha.coreos.com/backend-data";
pub const PUBLIC_IP: &str = "flannel.alpha.coreos.com/public-ip";
pub const KUBE_SUBNET_MANAGER: &str = "flannel.alpha.coreos.com/kube-subnet-manager";

/// The device a node wants: its address (the podCIDR's network address)
/// and the underlay address it sends from (its InternalIP).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Device {
    pub address: Ipv4Addr,
    pub local: Ipv4Addr,
}

/// A peer's podCIDR behind the device: its VTEP (the podCIDR's network
/// address), the VTEP's MAC, and where that MAC lives (its InternalIP).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tunnel {
    pub vtep: Ipv4Addr,
    pub mac: String,
    pub underlay: Ipv4Addr,
}

/// What a peer published about its backend.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PeerBackend {
    /// Nothing yet (its agent has not set up its device).
    Unpublished,
    /// VXLAN, with its VTEP MAC.
    Vxlan(String),
    /// Another backend (host-gw): it cannot be reached through a tunnel.
    Other,
}

/// Reads a peer's flannel annotations.
pub fn peer_backend(node: &Node) -> PeerBackend {
    let Some(annotations) = node.metadata.annotations.as_ref() else {
        return PeerBackend::Unpublished;
    };
    match annotations.get(BACKEND_TYPE).map(String::as_str) {
        None => PeerBackend::Unpublished,
        Some("vxlan") => annotations
            .get(BACKEND_DATA)
            .and_then(|data| serde_json::from_str::<Value>(data).ok())
            .and_then(|data| data.get("VtepMAC")?.as_str().and_then(parse_mac))
            .map_or(PeerBackend::Unpublished, PeerBackend::Vxlan),
        Some(_) => PeerBackend::Other,
    }
}

/// A MAC as `ip` writes them (six hex octets, lower case).
fn parse_mac(text: &str) -> Option<String> {
    let octets: Vec<&str> = text.split(':').collect();
    let valid = octets.len() == 6
        && octets
            .iter()
            .all(|o| o.len() == 2 && o.chars().all(|c| c.is_ascii_hexdigit()));
    valid.then(|| text.to_ascii_lowercase())
}

/// The annotations a node publishes: its VTEP with VXLAN (`mac`), or the
/// host-gw backend.
pub fn annotations(mac: Option<&str>, public_ip: IpAddr) -> BTreeMap<String, String> {
    let (backend, data) = match mac {
        Some(mac) => (
            "vxlan",
            serde_json::json!({ "VNI": VNI, "VtepMAC": mac }).to_string(),
        ),
        None => ("host-gw", "null".to_string()),
    };
    BTreeMap::from([
        (BACKEND_TYPE.to_string(), backend.to_string()),
        (BACKEND_DATA.to_string(), data),
        (PUBLIC_IP.to_string(), public_ip.to_string()),
        (KUBE_SUBNET_MANAGER.to_string(), "true".to_string()),
    ])
}

/// A podCIDR's network address: a VTEP's address.
pub fn network_address(cidr: &str) -> Option<Ipv4Addr> {
    let (address, bits) = cidr.split_once('/')?;
    let address: Ipv4Addr = address.parse().ok()?;
    let bits: u32 = bits.parse().ok().filter(|b| *b <= 32)?;
    let mask = u32::MAX.checked_shl(32 - bits).unwrap_or(0);
    Some(Ipv4Addr::from(u32::from(address) & mask))
}

fn command(words: &[&str]) -> Vec<String> {
    words.iter().map(|w| w.to_string()).collect()
}

/// The commands that put a peer's entries in place (each a replace, so
/// running them again changes nothing).
pub fn add_commands(cidr: &str, tunnel: &Tunnel) -> [Vec<String>; 3] {
    let vtep = tunnel.vtep.to_string();
    let underlay = tunnel.underlay.to_string();
    let mac = tunnel.mac.as_str();
    [
        command(&[
            "ip",
            "neigh",
            "replace",
            &vtep,
            "lladdr",
            mac,
            "dev",
            DEVICE,
            "nud",
            "permanent",
        ]),
        command(&[
            "bridge", "fdb", "replace", mac, "dev", DEVICE, "dst", &underlay,
        ]),
        command(&[
            "ip", "route", "replace", cidr, "via", &vtep, "dev", DEVICE, "onlink",
        ]),
    ]
}

/// The commands that take a peer's entries away (route first, as flannel).
pub fn remove_commands(cidr: &str, tunnel: &Tunnel) -> [Vec<String>; 3] {
    let vtep = tunnel.vtep.to_string();
    let underlay = tunnel.underlay.to_string();
    [
        command(&["ip", "route", "del", cidr, "via", &vtep, "dev", DEVICE]),
        command(&["ip", "neigh", "del", &vtep, "dev", DEVICE]),
        command(&[
            "bridge",
            "fdb",
            "del",
            &tunnel.mac,
            "dev",
            DEVICE,
            "dst",
            &underlay,
        ]),
    ]
}

/// The entries found on the device (left by an earlier agent).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Entries {
    pub routes: Vec<String>,
    pub neighbors: Vec<String>,
    /// MAC and destination.
    pub fdb: Vec<(String, String)>,
}

impl Entries {
    /// From `ip -j route show dev`, `ip -j neigh show dev` and
    /// `bridge -j fdb show dev`.
    pub fn parse(routes: &str, neighbors: &str, fdb: &str) -> Entries {
        let list = |text: &str| match serde_json::from_str::<Value>(text) {
            Ok(Value::Array(items)) => items,
            _ => Vec::new(),
        };
        let field = |item: &Value, key: &str| item.get(key)?.as_str().map(str::to_string);
        Entries {
            routes: list(routes)
                .iter()
                .filter_map(|r| field(r, "dst"))
                .collect(),
            neighbors: list(neighbors)
                .iter()
                .filter_map(|n| field(n, "dst"))
                .collect(),
            fdb: list(fdb)
                .iter()
                .filter_map(|f| Some((field(f, "mac")?, field(f, "dst")?)))
                .collect(),
        }
    }
}

/// The commands that remove what is on the device but not in `tunnels`:
/// peers gone while no agent ran.
pub fn stale_commands(found: &Entries, tunnels: &BTreeMap<String, Tunnel>) -> Vec<Vec<String>> {
    let vteps: BTreeSet<String> = tunnels.values().map(|t| t.vtep.to_string()).collect();
    let forwarding: BTreeSet<(String, String)> = tunnels
        .values()
        .map(|t| (t.mac.clone(), t.underlay.to_string()))
        .collect();
    let mut commands = Vec::new();
    for cidr in found.routes.iter().filter(|c| !tunnels.contains_key(*c)) {
        commands.push(command(&["ip", "route", "del", cidr, "dev", DEVICE]));
    }
    for vtep in found.neighbors.iter().filter(|v| !vteps.contains(*v)) {
        commands.push(command(&["ip", "neigh", "del", vtep, "dev", DEVICE]));
    }
    for (mac, dst) in &found.fdb {
        if !forwarding.contains(&(mac.clone(), dst.clone())) {
            commands.push(command(&[
                "bridge", "fdb", "del", mac, "dev", DEVICE, "dst", dst,
            ]));
        }
    }
    commands
}

/// The interface holding `local`, and its MTU. Asked of `ip`, which
/// answers for this process's network namespace (`/sys/class/net` may be
/// another's).
pub async fn underlay(local: Ipv4Addr) -> Option<(String, u32)> {
    let local = local.to_string();
    let text = run(&command(&["ip", "-4", "-j", "addr", "show", "to", &local]))
        .await
        .ok()?;
    interface_of(&text)
}

/// The first interface, and its MTU, of `ip -j addr show` output.
fn interface_of(text: &str) -> Option<(String, u32)> {
    let links: Value = serde_json::from_str(text).ok()?;
    let link = links.get(0)?;
    let name = link["ifname"].as_str()?.to_string();
    let mtu = u32::try_from(link["mtu"].as_u64()?).ok()?;
    Some((name, mtu))
}

/// Pods' MTU with VXLAN: what the tunnel carries from the interface
/// holding `local`.
pub async fn pod_mtu(local: Ipv4Addr) -> Option<u32> {
    let (_, mtu) = underlay(local).await?;
    Some(mtu.saturating_sub(OVERHEAD))
}

/// Whether an existing device (`ip -d -j link show`) is the one wanted,
/// so it is kept with its MAC (flannel's compatibility check).
pub fn compatible(link: &Value, local: Ipv4Addr, interface: &str) -> bool {
    let info = &link["linkinfo"];
    let data = &info["info_data"];
    info["info_kind"] == "vxlan"
        && data["id"] == VNI
        && data["port"] == PORT
        && data["learning"] == false
        && data["local"] == local.to_string().as_str()
        && data["link"] == interface
}

/// The command that creates the device; `mac` keeps a replaced device's
/// address, so peers' entries for it stay right.
pub fn create_command(
    local: Ipv4Addr,
    interface: &str,
    mtu: u32,
    mac: Option<&str>,
) -> Vec<String> {
    let mut words = vec!["ip", "link", "add", DEVICE];
    if let Some(mac) = mac {
        words.extend(["address", mac]);
    }
    let (mtu, vni, port, local) = (
        mtu.to_string(),
        VNI.to_string(),
        PORT.to_string(),
        local.to_string(),
    );
    words.extend([
        "mtu",
        &mtu,
        "type",
        "vxlan",
        "id",
        &vni,
        "local",
        &local,
        "dev",
        interface,
        "dstport",
        &port,
        "nolearning",
    ]);
    command(&words)
}

/// The device, set up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ensured {
    pub mac: String,
    /// Made anew: no peer entries on it yet.
    pub created: bool,
}

/// Sets the device up as `device` says, keeping an existing compatible
/// one (and its MAC, which peers know).
pub async fn ensure(device: &Device) -> Result<Ensured, String> {
    let local = device.local;
    let (interface, mtu) = underlay(local)
        .await
        .ok_or_else(|| format!("no interface holds this node's address {local}"))?;
    let mtu = mtu.saturating_sub(OVERHEAD);
    let existing = show_link(true).await;
    let kept = existing
        .as_ref()
        .is_some_and(|link| compatible(link, local, &interface));
    if !kept {
        let mac = existing
            .as_ref()
            .and_then(|link| link["address"].as_str().and_then(parse_mac));
        if existing.is_some() {
            run(&command(&["ip", "link", "del", DEVICE])).await?;
        }
        run(&create_command(local, &interface, mtu, mac.as_deref())).await?;
    }
    let mtu = mtu.to_string();
    run(&command(&["ip", "link", "set", DEVICE, "mtu", &mtu])).await?;
    let address = format!("{}/32", device.address);
    let found = run(&command(&["ip", "-4", "-j", "addr", "show", "dev", DEVICE])).await?;
    for other in addresses(&found).into_iter().filter(|a| *a != address) {
        run(&command(&["ip", "addr", "del", &other, "dev", DEVICE])).await?;
    }
    run(&command(&[
        "ip", "addr", "replace", &address, "dev", DEVICE,
    ]))
    .await?;
    run(&command(&["ip", "link", "set", DEVICE, "up"])).await?;
    let mac = show_link(false)
        .await
        .and_then(|link| link["address"].as_str().and_then(parse_mac))
        .ok_or_else(|| format!("{DEVICE} has no MAC"))?;
    Ok(Ensured {
        mac,
        created: !kept,
    })
}

/// `address/prefix` of each address in `ip -j addr show` output.
fn addresses(text: &str) -> Vec<String> {
    let Ok(Value::Array(links)) = serde_json::from_str::<Value>(text) else {
        return Vec::new();
    };
    links
        .iter()
        .filter_map(|link| link["addr_info"].as_array())
        .flatten()
        .filter_map(|a| {
            Some(format!(
                "{}/{}",
                a["local"].as_str()?,
                a["prefixlen"].as_u64()?
            ))
        })
        .collect()
}

async fn show_link(details: bool) -> Option<Value> {
    let mut words = vec!["ip"];
    if details {
        words.push("-d");
    }
    words.extend(["-j", "link", "show", DEVICE]);
    let text = run(&command(&words)).await.ok()?;
    serde_json::from_str::<Value>(&text).ok()?.get(0).cloned()
}

/// What is on the device now.
pub async fn entries() -> Entries {
    let read = |words: &'static [&'static str]| async move {
        run(&command(words)).await.unwrap_or_default()
    };
    Entries::parse(
        &read(&["ip", "-4", "-j", "route", "show", "dev", DEVICE]).await,
        &read(&["ip", "-4", "-j", "neigh", "show", "dev", DEVICE]).await,
        &read(&["bridge", "-j", "fdb", "show", "dev", DEVICE]).await,
    )
}

/// Runs `ip` or `bridge`; its output, or what it said on failure.
pub async fn run(words: &[String]) -> Result<String, String> {
    let (program, args) = words.split_first().ok_or("empty command")?;
    let output = tokio::process::Command::new(program)
        .args(args)
        .output()
        .await
        .map_err(|error| format!("{program}: {error}"))?;
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    } else {
        Err(String::from_utf8_lossy(&output.stderr).trim().to_string())
    }
}

/// Removes the device, and with it every peer entry and route through it
/// (for killall).
pub fn remove() -> Result<(), String> {
    let ip = |args: &[&str]| {
        std::process::Command::new("ip")
            .args(args)
            .output()
            .map_err(|error| format!("ip: {error}"))
    };
    if !ip(&["link", "show", DEVICE])?.status.success() {
        return Ok(());
    }
    let output = ip(&["link", "del", DEVICE])?;
    if output.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&output.stderr).trim().to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn tunnel(vtep: &str, mac: &str, underlay: &str) -> Tunnel {
        Tunnel {
            vtep: vtep.parse().unwrap(),
            mac: mac.into(),
            underlay: underlay.parse().unwrap(),
        }
    }

    fn joined(commands: &[Vec<String>]) -> Vec<String> {
        commands.iter().map(|c| c.join(" ")).collect()
    }

    #[test]
    fn peer_entries_as_flannel_writes_them() {
        let peer = tunnel("10.42.2.0", "aa:bb:cc:dd:ee:01", "10.211.0.4");
        assert_eq!(
            joined(&add_commands("10.42.2.0/24", &peer)),
            [
                "ip neigh replace 10.42.2.0 lladdr aa:bb:cc:dd:ee:01 dev flannel.1 nud permanent",
                "bridge fdb replace aa:bb:cc:dd:ee:01 dev flannel.1 dst 10.211.0.4",
                "ip route replace 10.42.2.0/24 via 10.42.2.0 dev flannel.1 onlink",
            ]
        );
        assert_eq!(
            joined(&remove_commands("10.42.2.0/24", &peer)),
            [
                "ip route del 10.42.2.0/24 via 10.42.2.0 dev flannel.1",
                "ip neigh del 10.42.2.0 dev flannel.1",
                "bridge fdb del aa:bb:cc:dd:ee:01 dev flannel.1 dst 10.211.0.4",
            ]
        );
    }

    #[test]
    fn annotations_as_flannel_publishes_them() {
        let published = annotations(Some("aa:bb:cc:dd:ee:01"), "10.211.0.4".parse().unwrap());
        assert_eq!(published[BACKEND_TYPE], "vxlan");
        assert_eq!(
            published[BACKEND_DATA],
            r#"{"VNI":1,"VtepMAC":"aa:bb:cc:dd:ee:01"}"#
        );
        assert_eq!(published[PUBLIC_IP], "10.211.0.4");
        assert_eq!(published[KUBE_SUBNET_MANAGER], "true");
        let host_gw = annotations(None, "10.0.0.1".parse().unwrap());
        assert_eq!(
            (
                host_gw[BACKEND_TYPE].as_str(),
                host_gw[BACKEND_DATA].as_str()
            ),
            ("host-gw", "null")
        );

        let node = |annotations: Value| -> Node {
            serde_json::from_value(json!({"metadata": {"name": "n", "annotations": annotations}}))
                .unwrap()
        };
        assert_eq!(
            peer_backend(&node(json!(published))),
            PeerBackend::Vxlan("aa:bb:cc:dd:ee:01".into())
        );
        assert_eq!(peer_backend(&node(json!(host_gw))), PeerBackend::Other);
        assert_eq!(peer_backend(&node(json!({}))), PeerBackend::Unpublished);
        let bad = json!({ BACKEND_TYPE: "vxlan", BACKEND_DATA: r#"{"VNI":1,"VtepMAC":"nope"}"# });
        assert_eq!(peer_backend(&node(bad)), PeerBackend::Unpublished);
        let upper =
            json!({ BACKEND_TYPE: "vxlan", BACKEND_DATA: r#"{"VtepMAC":"AA:BB:CC:DD:EE:0F"}"# });
        assert_eq!(
            peer_backend(&node(upper)),
            PeerBackend::Vxlan("aa:bb:cc:dd:ee:0f".into())
        );
    }

    #[test]
    fn network_addresses() {
        assert_eq!(
            network_address("10.42.1.0/24"),
            Some(Ipv4Addr::new(10, 42, 1, 0))
        );
        assert_eq!(
            network_address("10.42.1.7/24"),
            Some(Ipv4Addr::new(10, 42, 1, 0))
        );
        assert_eq!(network_address("10.42.1.7/0"), Some(Ipv4Addr::UNSPECIFIED));
        assert_eq!(network_address("fd00::/64"), None);
        assert_eq!(network_address("10.42.1.0/33"), None);
    }

    #[test]
    fn stale_entries_go_wanted_ones_stay() {
        let found = Entries::parse(
            r#"[{"dst":"10.42.2.0/24","gateway":"10.42.2.0","flags":["onlink"]},
                {"dst":"10.42.9.0/24","gateway":"10.42.9.0","flags":["onlink"]}]"#,
            r#"[{"dst":"10.42.2.0","lladdr":"aa:bb:cc:dd:ee:01","state":["PERMANENT"]},
                {"dst":"10.42.9.0","lladdr":"aa:bb:cc:dd:ee:09","state":["PERMANENT"]}]"#,
            r#"[{"mac":"aa:bb:cc:dd:ee:01","dst":"10.211.0.4","state":"permanent"},
                {"mac":"aa:bb:cc:dd:ee:09","dst":"10.211.0.9","state":"permanent"},
                {"mac":"aa:bb:cc:dd:ee:01","dst":"10.211.0.5","state":"permanent"},
                {"mac":"33:33:00:00:00:01","state":"permanent"}]"#,
        );
        let wanted = BTreeMap::from([(
            "10.42.2.0/24".to_string(),
            tunnel("10.42.2.0", "aa:bb:cc:dd:ee:01", "10.211.0.4"),
        )]);
        assert_eq!(
            joined(&stale_commands(&found, &wanted)),
            [
                "ip route del 10.42.9.0/24 dev flannel.1",
                "ip neigh del 10.42.9.0 dev flannel.1",
                "bridge fdb del aa:bb:cc:dd:ee:09 dev flannel.1 dst 10.211.0.9",
                "bridge fdb del aa:bb:cc:dd:ee:01 dev flannel.1 dst 10.211.0.5",
            ]
        );
        assert_eq!(Entries::parse("", "[]", "null"), Entries::default());
    }

    #[test]
    fn an_existing_device_is_kept_when_it_matches() {
        let link = json!({
            "ifname": "flannel.1",
            "address": "c6:cd:ec:90:05:ff",
            "linkinfo": {"info_kind": "vxlan", "info_data": {
                "id": 1, "local": "10.9.0.1", "link": "eth0", "port": 8472, "learning": false,
            }},
        });
        let local = Ipv4Addr::new(10, 9, 0, 1);
        assert!(compatible(&link, local, "eth0"));
        assert!(!compatible(&link, Ipv4Addr::new(10, 9, 0, 2), "eth0"));
        assert!(!compatible(&link, local, "eth1"));
        let mut learning = link.clone();
        learning["linkinfo"]["info_data"]["learning"] = json!(true);
        assert!(!compatible(&learning, local, "eth0"));
        let mut other_port = link.clone();
        other_port["linkinfo"]["info_data"]["port"] = json!(4789);
        assert!(!compatible(&other_port, local, "eth0"));

        assert_eq!(
            create_command(local, "eth0", 1450, Some("c6:cd:ec:90:05:ff")).join(" "),
            "ip link add flannel.1 address c6:cd:ec:90:05:ff mtu 1450 type vxlan id 1 \
             local 10.9.0.1 dev eth0 dstport 8472 nolearning"
        );
        assert_eq!(
            interface_of(r#"[{"ifindex":2,"ifname":"eth0","mtu":9001,"addr_info":[]}]"#),
            Some(("eth0".to_string(), 9001))
        );
        assert_eq!(interface_of("[]"), None);
        assert_eq!(
            addresses(
                r#"[{"ifname":"flannel.1","addr_info":[
                    {"family":"inet","local":"10.42.1.0","prefixlen":32},
                    {"family":"inet","local":"10.42.7.0","prefixlen":32}]}]"#
            ),
            ["10.42.1.0/32", "10.42.7.0/32"]
        );
    }
}
