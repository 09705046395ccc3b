//! Routes to the pods of other nodes, as flannel does it
//! (`--flannel-backend`). With `host-gw` each node's podCIDR is reached
//! through that node's InternalIP, which works when the nodes share a
//! network (one hop apart). With `vxlan` (the default) that stays so for
//! the nodes on a network of this node (flannel's DirectRouting); the
//! others are reached through the VXLAN device ([`crate::vxlan`]).

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use futures_util::{FutureExt, StreamExt};
use k8s_openapi::api::core::v1::Node;
use kube::api::{Patch, PatchParams};
use kube::runtime::{reflector, watcher, WatchStreamExt};
use kube::{Api, ResourceExt};

use crate::vxlan::{self, Device, PeerBackend, Tunnel};

/// How often what failed is tried again, and the device looked at.
const RETRY: Duration = Duration::from_secs(10);

/// How pods reach the pods of other nodes (k3s' `--flannel-backend`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Backend {
    /// A VXLAN tunnel to nodes on other networks, routes to the others.
    #[default]
    Vxlan,
    /// Routes only: the nodes must share a network.
    HostGw,
}

impl Backend {
    /// The flag's values.
    pub const NAMES: [&'static str; 2] = ["vxlan", "host-gw"];

    pub fn parse(text: &str) -> Result<Backend, String> {
        match text {
            "vxlan" => Ok(Backend::Vxlan),
            "host-gw" => Ok(Backend::HostGw),
            _ => Err(format!(
                "unknown flannel backend {text:?}: want vxlan or host-gw"
            )),
        }
    }
}

/// What this node wants in place for the pods of the others.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Plan {
    /// podCIDRs through their node's InternalIP.
    pub routes: BTreeMap<String, IpAddr>,
    /// podCIDRs through the VXLAN device.
    pub tunnels: BTreeMap<String, Tunnel>,
    /// The VXLAN device, once this node has a podCIDR.
    pub device: Option<Device>,
}

/// The plan for `this_node` among `nodes`; `direct` tells whether a
/// node's address is on a network of this node.
pub fn wanted<'a>(
    nodes: impl Iterator<Item = &'a Node>,
    this_node: &str,
    backend: Backend,
    direct: impl Fn(IpAddr) -> bool,
) -> Plan {
    let nodes: Vec<&Node> = nodes.collect();
    let own = nodes.iter().find(|n| n.name_any() == this_node);
    let device = match backend {
        Backend::Vxlan => own.and_then(|node| {
            let IpAddr::V4(local) = internal_ip(node)? else {
                return None;
            };
            let address = pod_cidrs(node)
                .iter()
                .find_map(|c| vxlan::network_address(c))?;
            Some(Device { address, local })
        }),
        Backend::HostGw => None,
    };
    let mut plan = Plan {
        device,
        ..Plan::default()
    };
    for node in nodes.iter().filter(|n| n.name_any() != this_node) {
        let Some(address) = internal_ip(node) else {
            continue;
        };
        for cidr in pod_cidrs(node) {
            // A route's family must be its gateway's.
            if cidr.contains(':') != address.is_ipv6() {
                continue;
            }
            let IpAddr::V4(underlay) = address else {
                plan.routes.insert(cidr, address);
                continue;
            };
            if backend == Backend::HostGw || direct(address) {
                plan.routes.insert(cidr, address);
                continue;
            }
            match vxlan::peer_backend(node) {
                PeerBackend::Vxlan(mac) => {
                    let vtep = vxlan::network_address(&cidr);
                    if let (Some(vtep), Some(_)) = (vtep, plan.device) {
                        let tunnel = Tunnel {
                            vtep,
                            mac,
                            underlay,
                        };
                        plan.tunnels.insert(cidr, tunnel);
                    }
                }
                // A host-gw node has no tunnel: a route is all there is.
                PeerBackend::Other => {
                    plan.routes.insert(cidr, address);
                }
                // Its VTEP comes when its agent has set its device up.
                PeerBackend::Unpublished => {}
            }
        }
    }
    plan
}

fn pod_cidrs(node: &Node) -> Vec<String> {
    let spec = node.spec.as_ref();
    spec.and_then(|s| s.pod_cidrs.clone())
        .filter(|c| !c.is_empty())
        .or_else(|| spec.and_then(|s| s.pod_cidr.clone()).map(|c| vec![c]))
        .unwrap_or_default()
}

fn internal_ip(node: &Node) -> Option<IpAddr> {
    let addresses = node.status.as_ref()?.addresses.as_ref()?;
    addresses
        .iter()
        .filter(|a| a.type_ == "InternalIP")
        .find_map(|a| a.address.parse().ok())
}

/// From `ip -j route get ADDRESS`: whether the address is on a network of
/// this node (no gateway on the way).
pub fn is_direct(route_get: &str) -> Option<bool> {
    let routes: serde_json::Value = serde_json::from_str(route_get).ok()?;
    let route = routes.get(0)?;
    Some(route.get("gateway").is_none())
}

/// Keeps the routes (and with VXLAN the device, its peers' entries and
/// this node's VTEP annotations) in step with the Nodes until
/// `shutdown`. All stays at shutdown: pods keep reaching each other while
/// the agent restarts.
pub async fn run(
    client: kube::Client,
    this_node: String,
    backend: Backend,
    shutdown: impl Future<Output = ()> + Send,
) {
    let (cache, writer) = reflector::store();
    let events = reflector::reflector(
        writer,
        watcher(Api::<Node>::all(client.clone()), watcher::Config::default()),
    )
    .default_backoff()
    .ready_chunks(64);
    let mut events = std::pin::pin!(events);
    let mut shutdown = std::pin::pin!(shutdown);
    let mut retry = tokio::time::interval(RETRY);
    retry.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut installer = Installer {
        client,
        this_node,
        backend,
        routes: BTreeMap::new(),
        tunnels: BTreeMap::new(),
        device: None,
        direct: BTreeMap::new(),
        said: BTreeSet::new(),
    };
    loop {
        tokio::select! {
            _ = &mut shutdown => return,
            next = events.next() => if next.is_none() { return },
            _ = retry.tick() => {}
        }
        // Nothing is removed on a partial list of the nodes.
        if !matches!(cache.wait_until_ready().now_or_never(), Some(Ok(()))) {
            continue;
        }
        installer.sync(&cache.state()).await;
    }
}

/// What this node has put in place.
struct Installer {
    client: kube::Client,
    this_node: String,
    backend: Backend,
    routes: BTreeMap<String, IpAddr>,
    tunnels: BTreeMap<String, Tunnel>,
    /// The device set up, and its MAC.
    device: Option<(Device, String)>,
    /// Whether each node's address is on a network of this node.
    direct: BTreeMap<IpAddr, bool>,
    /// Problems said in the log (once each).
    said: BTreeSet<String>,
}

impl Installer {
    async fn sync(&mut self, nodes: &[Arc<Node>]) {
        if self.backend == Backend::Vxlan {
            self.learn_direct(nodes).await;
        }
        let direct = &self.direct;
        let mut plan = wanted(
            nodes.iter().map(AsRef::as_ref),
            &self.this_node,
            self.backend,
            |address| direct.get(&address).copied().unwrap_or(false),
        );
        if let Some(device) = plan.device {
            self.set_up_device(device, &plan.tunnels).await;
        }
        if self.device.is_none() {
            plan.tunnels.clear();
        }
        self.publish(nodes).await;
        self.remove_unwanted(&plan).await;
        self.install_routes(&plan).await;
        self.install_tunnels(&plan).await;
    }

    /// Asks the kernel about the nodes' addresses not asked about yet.
    async fn learn_direct(&mut self, nodes: &[Arc<Node>]) {
        let addresses: BTreeSet<IpAddr> = nodes
            .iter()
            .filter(|n| n.name_any() != self.this_node)
            .filter_map(|n| internal_ip(n))
            .filter(IpAddr::is_ipv4)
            .collect();
        self.direct.retain(|a, _| addresses.contains(a));
        for address in addresses {
            if self.direct.contains_key(&address) {
                continue;
            }
            let command = ["ip", "-j", "route", "get", &address.to_string()].map(String::from);
            let answer = vxlan::run(&command).await.ok();
            // No answer now (no route yet): asked again next time.
            if let Some(direct) = answer.as_deref().and_then(is_direct) {
                self.direct.insert(address, direct);
            }
        }
    }

    async fn set_up_device(&mut self, device: Device, tunnels: &BTreeMap<String, Tunnel>) {
        if self.device.as_ref().map(|(d, _)| d) == Some(&device) {
            return;
        }
        match vxlan::ensure(&device).await {
            Ok(ensured) => {
                // A kept device holds what an earlier agent put there.
                self.tunnels.clear();
                if !ensured.created {
                    let found = vxlan::entries().await;
                    for command in vxlan::stale_commands(&found, tunnels) {
                        let _ = vxlan::run(&command).await;
                    }
                }
                self.device = Some((device, ensured.mac));
            }
            Err(error) => {
                self.device = None;
                self.say(format!(
                    "capstan: the VXLAN device {} is not set up: {error}; pods on nodes of \
                     other networks are unreachable from this node",
                    vxlan::DEVICE
                ));
            }
        }
    }

    /// Puts flannel's annotations on this node's Node: peers learn its
    /// VTEP from them.
    async fn publish(&mut self, nodes: &[Arc<Node>]) {
        let Some(own) = nodes.iter().find(|n| n.name_any() == self.this_node) else {
            return;
        };
        let Some(public_ip) = internal_ip(own) else {
            return;
        };
        let wanted = match (self.backend, &self.device) {
            (Backend::Vxlan, Some((_, mac))) => vxlan::annotations(Some(mac), public_ip),
            (Backend::Vxlan, None) => return,
            (Backend::HostGw, _) => vxlan::annotations(None, public_ip),
        };
        let current = own.annotations();
        if wanted.iter().all(|(k, v)| current.get(k) == Some(v)) {
            return;
        }
        let patch = serde_json::json!({ "metadata": { "annotations": wanted } });
        let nodes: Api<Node> = Api::all(self.client.clone());
        let patched = nodes
            .patch(
                &self.this_node,
                &PatchParams::default(),
                &Patch::Merge(&patch),
            )
            .await;
        if let Err(error) = patched {
            tracing::warn!(%error, "publishing this node's flannel annotations");
        }
    }

    async fn remove_unwanted(&mut self, plan: &Plan) {
        for (cidr, tunnel) in &self.tunnels {
            if plan.tunnels.get(cidr) != Some(tunnel) {
                for command in vxlan::remove_commands(cidr, tunnel) {
                    let _ = vxlan::run(&command).await;
                }
            }
        }
        self.tunnels
            .retain(|cidr, tunnel| plan.tunnels.get(cidr) == Some(tunnel));
        for (cidr, gateway) in &self.routes {
            if plan.routes.get(cidr) != Some(gateway) {
                let command = ["ip", "route", "del", cidr, "via", &gateway.to_string()];
                let _ = vxlan::run(&command.map(String::from)).await;
            }
        }
        self.routes
            .retain(|cidr, gateway| plan.routes.get(cidr) == Some(gateway));
    }

    async fn install_routes(&mut self, plan: &Plan) {
        for (cidr, gateway) in &plan.routes {
            if self.routes.get(cidr) == Some(gateway) {
                continue;
            }
            let command = ["ip", "route", "replace", cidr, "via", &gateway.to_string()];
            match vxlan::run(&command.map(String::from)).await {
                Ok(_) => {
                    self.routes.insert(cidr.clone(), *gateway);
                }
                Err(error) => {
                    let hint = match self.backend {
                        Backend::HostGw => "; with host-gw nodes must share a network",
                        Backend::Vxlan => "",
                    };
                    self.say(format!(
                        "capstan: pods in {cidr} are unreachable from this node: no route \
                         through {gateway} ({error}){hint}"
                    ));
                }
            }
        }
    }

    async fn install_tunnels(&mut self, plan: &Plan) {
        for (cidr, tunnel) in &plan.tunnels {
            if self.tunnels.get(cidr) == Some(tunnel) {
                continue;
            }
            let mut failed = None;
            for command in vxlan::add_commands(cidr, tunnel) {
                if let Err(error) = vxlan::run(&command).await {
                    failed = Some(format!("{}: {error}", command.join(" ")));
                    break;
                }
            }
            match failed {
                None => {
                    self.tunnels.insert(cidr.clone(), tunnel.clone());
                }
                Some(error) => {
                    // The device may have gone: it is looked at again.
                    self.device = None;
                    self.say(format!(
                        "capstan: pods in {cidr} are unreachable from this node: {error}"
                    ));
                }
            }
        }
    }

    fn say(&mut self, message: String) {
        if self.said.insert(message.clone()) {
            eprintln!("{message}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::net::Ipv4Addr;

    fn node(name: &str, ip: &str, cidr: Option<&str>) -> Node {
        serde_json::from_value(json!({
            "metadata": {"name": name},
            "spec": {"podCIDR": cidr, "podCIDRs": cidr.map(|c| vec![c])},
            "status": {"addresses": [{"type": "InternalIP", "address": ip}]},
        }))
        .unwrap()
    }

    fn with_vtep(mut node: Node, mac: &str) -> Node {
        let ip = internal_ip(&node).unwrap();
        node.metadata.annotations = Some(vxlan::annotations(Some(mac), ip));
        node
    }

    /// Nodes on 192.0.2.0/24 are on this node's network.
    fn same_network(address: IpAddr) -> bool {
        address.to_string().starts_with("192.0.2.")
    }

    #[test]
    fn host_gw_routes_other_nodes_pod_cidrs_through_their_address() {
        let nodes = [
            node("me", "192.0.2.1", Some("10.42.0.0/24")),
            node("b", "192.0.2.2", Some("10.42.1.0/24")),
            node("c", "192.0.2.3", None),
            with_vtep(
                node("d", "198.51.100.4", Some("10.42.3.0/24")),
                "aa:bb:cc:dd:ee:04",
            ),
        ];
        let plan = wanted(nodes.iter(), "me", Backend::HostGw, |_| {
            panic!("host-gw asks nothing")
        });
        assert_eq!(
            plan,
            Plan {
                routes: BTreeMap::from([
                    ("10.42.1.0/24".to_string(), "192.0.2.2".parse().unwrap()),
                    ("10.42.3.0/24".to_string(), "198.51.100.4".parse().unwrap()),
                ]),
                ..Plan::default()
            }
        );
    }

    #[test]
    fn vxlan_routes_nodes_on_this_network_and_tunnels_to_the_others() {
        let nodes = [
            node("me", "192.0.2.1", Some("10.42.0.0/24")),
            with_vtep(
                node("b", "192.0.2.2", Some("10.42.1.0/24")),
                "aa:bb:cc:dd:ee:02",
            ),
            with_vtep(
                node("c", "198.51.100.3", Some("10.42.2.0/24")),
                "aa:bb:cc:dd:ee:03",
            ),
            // Not published yet: nothing until it is.
            node("d", "198.51.100.4", Some("10.42.3.0/24")),
            // A host-gw node elsewhere: a route is all there is.
            {
                let mut e = node("e", "198.51.100.5", Some("10.42.4.0/24"));
                e.metadata.annotations =
                    Some(vxlan::annotations(None, "198.51.100.5".parse().unwrap()));
                e
            },
        ];
        let plan = wanted(nodes.iter(), "me", Backend::Vxlan, same_network);
        assert_eq!(
            plan.device,
            Some(Device {
                address: Ipv4Addr::new(10, 42, 0, 0),
                local: Ipv4Addr::new(192, 0, 2, 1),
            })
        );
        assert_eq!(
            plan.routes,
            BTreeMap::from([
                ("10.42.1.0/24".to_string(), "192.0.2.2".parse().unwrap()),
                ("10.42.4.0/24".to_string(), "198.51.100.5".parse().unwrap()),
            ])
        );
        assert_eq!(
            plan.tunnels,
            BTreeMap::from([(
                "10.42.2.0/24".to_string(),
                Tunnel {
                    vtep: Ipv4Addr::new(10, 42, 2, 0),
                    mac: "aa:bb:cc:dd:ee:03".into(),
                    underlay: Ipv4Addr::new(198, 51, 100, 3),
                }
            )])
        );
    }

    #[test]
    fn no_device_and_no_tunnels_before_this_node_has_a_pod_cidr() {
        let nodes = [
            node("me", "192.0.2.1", None),
            with_vtep(
                node("c", "198.51.100.3", Some("10.42.2.0/24")),
                "aa:bb:cc:dd:ee:03",
            ),
        ];
        let plan = wanted(nodes.iter(), "me", Backend::Vxlan, same_network);
        assert_eq!(plan, Plan::default());
    }

    #[test]
    fn ipv6_pod_cidrs_keep_routes() {
        let nodes = [
            node("me", "fd00::1", Some("fd00:42::/64")),
            node("b", "fd01::2", Some("fd00:42:1::/64")),
        ];
        let plan = wanted(nodes.iter(), "me", Backend::Vxlan, |_| false);
        assert_eq!(plan.device, None);
        assert_eq!(
            plan.routes,
            BTreeMap::from([("fd00:42:1::/64".to_string(), "fd01::2".parse().unwrap())])
        );
    }

    #[test]
    fn direct_when_no_gateway_is_on_the_way() {
        assert_eq!(
            is_direct(r#"[{"dst":"10.210.0.3","dev":"eth0","prefsrc":"10.210.0.2"}]"#),
            Some(true)
        );
        assert_eq!(
            is_direct(r#"[{"dst":"10.211.0.4","gateway":"10.210.0.254","dev":"eth0"}]"#),
            Some(false)
        );
        assert_eq!(is_direct(""), None);
    }

    #[test]
    fn backends_by_their_k3s_names() {
        assert_eq!(Backend::parse("vxlan"), Ok(Backend::Vxlan));
        assert_eq!(Backend::parse("host-gw"), Ok(Backend::HostGw));
        assert!(Backend::parse("wireguard").is_err());
        assert_eq!(Backend::default(), Backend::Vxlan);
    }
}
