//! Routes to the pods of other nodes, as flannel's host-gw backend: each
//! node's podCIDR is reached through that node's InternalIP, which works
//! when the nodes share a network (one hop apart). A node on another
//! network cannot be reached this way; that is said once in the log.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::net::IpAddr;

use futures_util::StreamExt;
use k8s_openapi::api::core::v1::Node;
use kube::runtime::{reflector, watcher, WatchStreamExt};
use kube::{Api, ResourceExt};
use tokio::process::Command;

/// The routes wanted: each other node's podCIDRs through its InternalIP.
pub fn wanted<'a>(
    nodes: impl Iterator<Item = &'a Node>,
    this_node: &str,
) -> BTreeMap<String, IpAddr> {
    let mut routes = BTreeMap::new();
    for node in nodes.filter(|n| n.name_any() != this_node) {
        let Some(address) = internal_ip(node) else {
            continue;
        };
        let spec = node.spec.as_ref();
        let cidrs = spec
            .and_then(|s| s.pod_cidrs.clone())
            .filter(|c| !c.is_empty())
            .or_else(|| spec.and_then(|s| s.pod_cidr.clone()).map(|c| vec![c]))
            .unwrap_or_default();
        for cidr in cidrs {
            // A route's family must be its gateway's.
            if cidr.contains(':') == address.is_ipv6() {
                routes.insert(cidr, address);
            }
        }
    }
    routes
}

fn internal_ip(node: &Node) -> Option<IpAddr> {
    let addresses = node.status.as_ref()?.addresses.as_ref()?;
    addresses
        .iter()
        .filter(|a| a.type_ == "InternalIP")
        .find_map(|a| a.address.parse().ok())
}

/// Keeps the routes in step with the Nodes until `shutdown`. Routes stay
/// at shutdown: pods keep reaching each other while the agent restarts.
pub async fn run(
    client: kube::Client,
    this_node: String,
    shutdown: impl Future<Output = ()> + Send,
) {
    let (cache, writer) = reflector::store();
    let changes = reflector::reflector(
        writer,
        watcher(Api::<Node>::all(client), watcher::Config::default()),
    )
    .default_backoff()
    .touched_objects()
    .ready_chunks(64);
    let mut changes = std::pin::pin!(changes);
    let mut shutdown = std::pin::pin!(shutdown);
    let mut installed: BTreeMap<String, IpAddr> = BTreeMap::new();
    let mut unreachable: BTreeSet<IpAddr> = BTreeSet::new();
    loop {
        tokio::select! {
            _ = &mut shutdown => return,
            next = changes.next() => if next.is_none() { return },
        }
        let nodes = cache.state();
        let wanted = wanted(nodes.iter().map(|n| n.as_ref()), &this_node);
        for (cidr, gateway) in &installed {
            if wanted.get(cidr) != Some(gateway) {
                let _ = ip(&["route", "del", cidr, "via", &gateway.to_string()]).await;
            }
        }
        installed.retain(|cidr, gateway| wanted.get(cidr) == Some(gateway));
        for (cidr, gateway) in &wanted {
            if installed.get(cidr) == Some(gateway) {
                continue;
            }
            match ip(&["route", "replace", cidr, "via", &gateway.to_string()]).await {
                Ok(()) => {
                    installed.insert(cidr.clone(), *gateway);
                }
                Err(error) => {
                    if unreachable.insert(*gateway) {
                        eprintln!(
                            "capstan: pods in {cidr} are unreachable from this node: no route through \
                             {gateway} ({error}); nodes must share a network"
                        );
                    }
                }
            }
        }
    }
}

async fn ip(args: &[&str]) -> Result<(), String> {
    let output = Command::new("ip")
        .args(args)
        .output()
        .await
        .map_err(|error| format!("ip: {error}"))?;
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

    fn node(name: &str, ip: &str, cidr: Option<&str>) -> Node {
        serde_json::from_value(json!({
            "metadata": {"name": name},
            "spec": {"podCIDR": cidr, "podCIDRs": cidr.map(|c| vec![c])},
            "status": {"addresses": [{"type": "InternalIP", "address": ip}]},
        }))
        .unwrap()
    }

    #[test]
    fn other_nodes_pod_cidrs_through_their_address() {
        let nodes = [
            node("me", "192.0.2.1", Some("10.42.0.0/24")),
            node("b", "192.0.2.2", Some("10.42.1.0/24")),
            node("c", "192.0.2.3", None),
        ];
        let routes = wanted(nodes.iter(), "me");
        assert_eq!(
            routes,
            BTreeMap::from([("10.42.1.0/24".to_string(), "192.0.2.2".parse().unwrap())])
        );
    }
}
