//! The built-in service load balancer, as k3s' ServiceLB: a Service of
//! type LoadBalancer is given the addresses of the Ready nodes where its
//! ports are free, in `status.loadBalancer.ingress`; each node's service
//! proxy then serves those ports there. A port already held on a node (by
//! an older LoadBalancer Service, or reserved by the node itself, as the
//! ingress controller's 80 and 443) rules that node out; a Service that
//! no node can take stays pending, with an event saying why.
//!
//! Which Service holds a contested port is decided by age (then name), so
//! the answer does not depend on the order changes arrive in. Every change
//! of a Service or a Node recomputes all LoadBalancer Services: they
//! compete for ports, so one's change can free or take another's.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;

use futures_util::{FutureExt, StreamExt};
use k8s_openapi::api::core::v1::{LoadBalancerIngress, LoadBalancerStatus, Node, Service};
use kube::runtime::events::EventType;
use kube::runtime::reflector::Store;
use kube::runtime::watcher;
use kube::{Api, Client, ResourceExt};

use crate::events::{core_reference, EventRecorder};
use crate::informers::Subscription;
use crate::watch_util;

/// The controller's name, in events, as upstream's service controller.
const REPORTER: &str = "service-controller";

/// A port as the proxy serves it: number and protocol.
pub type Port = (i32, String);

/// Settings of the load balancer.
#[derive(Clone, Debug, Default)]
pub struct ServiceLbOptions {
    /// Ports every node keeps for itself (the ingress controller's).
    pub reserved: Vec<Port>,
}

/// Runs until `shutdown` completes.
pub async fn run(
    client: Client,
    options: ServiceLbOptions,
    nodes: Subscription<Node>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let node_cache = nodes.store();
    let (services, service_changes) = watch_util::watch(
        Api::<Service>::all(client.clone()),
        watcher::Config::default(),
    );
    let recorder = EventRecorder::new(
        client.clone(),
        kube::runtime::events::Reporter {
            controller: REPORTER.into(),
            instance: None,
        },
    );
    // Both streams only wake the loop; each pass reads the caches whole.
    let wakes = futures_util::stream::select(service_changes.map(|_| ()), nodes.map(|_| ()))
        .ready_chunks(256);
    let mut wakes = std::pin::pin!(wakes);
    let mut shutdown = std::pin::pin!(shutdown.fuse());
    let mut last: BTreeMap<String, Outcome> = BTreeMap::new();
    loop {
        tokio::select! {
            _ = &mut shutdown => return,
            woke = wakes.next() => if woke.is_none() { return },
        }
        // The caches fill as the streams are read; wait for both lists.
        if services.wait_until_ready().now_or_never().is_none()
            || node_cache.wait_until_ready().now_or_never().is_none()
        {
            continue;
        }
        sync(
            &client,
            &recorder,
            &options,
            &services,
            &node_cache,
            &mut last,
        )
        .await;
    }
}

/// What one pass decided for one Service.
#[derive(Clone, Debug, PartialEq)]
enum Outcome {
    Assigned(Vec<String>),
    Pending(String),
}

async fn sync(
    client: &Client,
    recorder: &EventRecorder,
    options: &ServiceLbOptions,
    services: &Store<Service>,
    nodes: &Store<Node>,
    last: &mut BTreeMap<String, Outcome>,
) {
    let services = services.state();
    // Node heartbeats wake this loop often; without LoadBalancer Services
    // there is nothing to compute.
    if last.is_empty() && !services.iter().any(|s| is_ours(s)) {
        return;
    }
    let nodes = nodes.state();
    let decided = assign(
        services.iter().map(|s| s.as_ref()),
        nodes.iter().map(|n| n.as_ref()),
        &options.reserved,
    );
    let mut seen = BTreeSet::new();
    for service in services.iter() {
        let key = key(service);
        let Some(outcome) = decided.get(&key) else {
            continue;
        };
        seen.insert(key.clone());
        let wanted = status_of(outcome);
        let current = service
            .status
            .as_ref()
            .and_then(|s| s.load_balancer.clone())
            .unwrap_or_default();
        if normalized(&current) != normalized(&wanted) {
            if let Err(error) = write(client, service, &wanted).await {
                tracing::info!(service = %key, %error, "cannot write load balancer status");
                // Try again on the next pass.
                last.remove(&key);
                continue;
            }
        }
        if last.get(&key) != Some(outcome) {
            announce(recorder, service, outcome).await;
            last.insert(key, outcome.clone());
        }
    }
    last.retain(|key, _| seen.contains(key));
}

/// Every LoadBalancer Service this load balancer serves, with the node
/// addresses it gets or why it gets none.
fn assign<'a>(
    services: impl Iterator<Item = &'a Service>,
    nodes: impl Iterator<Item = &'a Node>,
    reserved: &[Port],
) -> BTreeMap<String, Outcome> {
    let nodes: Vec<(String, String)> = nodes
        .filter(|node| {
            is_ready(node)
                && !node
                    .spec
                    .as_ref()
                    .and_then(|s| s.unschedulable)
                    .unwrap_or(false)
        })
        .filter_map(|node| Some((node.name_any(), address(node)?)))
        .collect();
    let mut ours: Vec<&Service> = services.filter(|s| is_ours(s)).collect();
    ours.sort_by(|a, b| {
        let created = |s: &Service| s.metadata.creation_timestamp.as_ref().map(|t| t.0);
        created(a)
            .cmp(&created(b))
            .then_with(|| key(a).cmp(&key(b)))
    });
    // Per node, the ports taken and by whom, in the words of the event.
    let mut taken: BTreeMap<&str, BTreeMap<Port, String>> = nodes
        .iter()
        .map(|(name, _)| {
            let held = reserved.iter().map(|p| (p.clone(), "the node".to_string()));
            (name.as_str(), held.collect())
        })
        .collect();
    let mut decided = BTreeMap::new();
    for service in ours {
        let ports = ports(service);
        let mut addresses = Vec::new();
        let mut conflict = None;
        for (name, address) in &nodes {
            let held = taken.entry(name.as_str()).or_default();
            match ports.iter().find_map(|p| held.get(p).map(|by| (p, by))) {
                Some((port, by)) => conflict = Some((port.clone(), by.clone())),
                None => {
                    for port in &ports {
                        held.insert(port.clone(), format!("service {}", key(service)));
                    }
                    addresses.push(address.clone());
                }
            }
        }
        let outcome = if !addresses.is_empty() {
            addresses.sort();
            addresses.dedup();
            Outcome::Assigned(addresses)
        } else if let Some(((port, protocol), holder)) = conflict {
            Outcome::Pending(format!(
                "port {port}/{protocol} is in use on every node (by {holder})"
            ))
        } else {
            Outcome::Pending("no Ready node to serve it".into())
        };
        decided.insert(key(service), outcome);
    }
    decided
}

/// LoadBalancer Services without a class of another load balancer.
fn is_ours(service: &Service) -> bool {
    let Some(spec) = &service.spec else {
        return false;
    };
    spec.type_.as_deref() == Some("LoadBalancer")
        && spec.load_balancer_class.is_none()
        && service.metadata.deletion_timestamp.is_none()
}

fn ports(service: &Service) -> Vec<Port> {
    let spec = service.spec.as_ref();
    spec.and_then(|s| s.ports.as_ref())
        .into_iter()
        .flatten()
        .map(|p| (p.port, p.protocol.clone().unwrap_or_else(|| "TCP".into())))
        .collect()
}

fn is_ready(node: &Node) -> bool {
    let conditions = node.status.as_ref().and_then(|s| s.conditions.as_ref());
    conditions
        .into_iter()
        .flatten()
        .any(|c| c.type_ == "Ready" && c.status == "True")
}

/// The node's address for load-balanced traffic: ExternalIP if it has
/// one, else InternalIP, as k3s' ServiceLB.
fn address(node: &Node) -> Option<String> {
    let addresses = node.status.as_ref()?.addresses.as_ref()?;
    let of = |kind: &str| {
        addresses
            .iter()
            .find(|a| a.type_ == kind)
            .map(|a| a.address.clone())
    };
    of("ExternalIP").or_else(|| of("InternalIP"))
}

fn key(service: &Service) -> String {
    format!(
        "{}/{}",
        service.namespace().unwrap_or_default(),
        service.name_any()
    )
}

fn status_of(outcome: &Outcome) -> LoadBalancerStatus {
    match outcome {
        Outcome::Assigned(addresses) => LoadBalancerStatus {
            ingress: Some(
                addresses
                    .iter()
                    .map(|ip| LoadBalancerIngress {
                        ip: Some(ip.clone()),
                        ip_mode: Some("VIP".into()),
                        ..LoadBalancerIngress::default()
                    })
                    .collect(),
            ),
        },
        Outcome::Pending(_) => LoadBalancerStatus::default(),
    }
}

/// An empty ingress list and none are the same.
fn normalized(status: &LoadBalancerStatus) -> Vec<LoadBalancerIngress> {
    status.ingress.clone().unwrap_or_default()
}

async fn write(
    client: &Client,
    service: &Service,
    status: &LoadBalancerStatus,
) -> Result<(), kube::Error> {
    let api: Api<Service> =
        Api::namespaced(client.clone(), &service.namespace().unwrap_or_default());
    // A merge patch cannot empty a list by leaving it out: say it.
    let ingress = status.ingress.clone().unwrap_or_default();
    let patch = serde_json::json!({ "status": { "loadBalancer": { "ingress": ingress } } });
    match api
        .patch_status(
            &service.name_any(),
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(&patch),
        )
        .await
    {
        Ok(_) => Ok(()),
        Err(error) if crate::status_code(&error) == Some(404) => Ok(()),
        Err(error) => Err(error),
    }
}

/// Upstream's service controller events.
async fn announce(recorder: &EventRecorder, service: &Service, outcome: &Outcome) {
    let mut reference = core_reference(
        "Service",
        &service.namespace().unwrap_or_default(),
        &service.name_any(),
    );
    reference.uid = service.metadata.uid.clone();
    match outcome {
        Outcome::Assigned(addresses) => {
            let note = format!("Ensured load balancer at {}", addresses.join(", "));
            recorder
                .record(
                    &reference,
                    EventType::Normal,
                    "EnsuredLoadBalancer",
                    &note,
                    None,
                )
                .await;
        }
        Outcome::Pending(why) => {
            let note = format!("Error syncing load balancer: {why}");
            recorder
                .record(
                    &reference,
                    EventType::Warning,
                    "SyncLoadBalancerFailed",
                    &note,
                    None,
                )
                .await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn node(name: &str, ip: &str, ready: bool) -> Node {
        serde_json::from_value(json!({
            "metadata": {"name": name},
            "status": {
                "conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" }}],
                "addresses": [{"type": "InternalIP", "address": ip}, {"type": "Hostname", "address": name}],
            }
        }))
        .unwrap()
    }

    fn service(name: &str, created: &str, ports: &[i32]) -> Service {
        let ports: Vec<_> = ports
            .iter()
            .map(|p| json!({"port": p, "protocol": "TCP"}))
            .collect();
        serde_json::from_value(json!({
            "metadata": {"name": name, "namespace": "default", "creationTimestamp": created},
            "spec": {"type": "LoadBalancer", "ports": ports},
        }))
        .unwrap()
    }

    #[test]
    fn ready_nodes_addresses_sorted() {
        let nodes = [
            node("b", "192.0.2.3", true),
            node("a", "192.0.2.2", true),
            node("c", "192.0.2.4", false),
        ];
        let services = [service("web", "2026-01-01T00:00:00Z", &[8080])];
        let decided = assign(services.iter(), nodes.iter(), &[]);
        assert_eq!(
            decided["default/web"],
            Outcome::Assigned(vec!["192.0.2.2".into(), "192.0.2.3".into()])
        );
    }

    #[test]
    fn the_older_service_keeps_a_contested_port() {
        let nodes = [node("a", "192.0.2.2", true)];
        let services = [
            service("late", "2026-01-02T00:00:00Z", &[8080]),
            service("early", "2026-01-01T00:00:00Z", &[8080, 9090]),
            service("other", "2026-01-03T00:00:00Z", &[9091]),
        ];
        let decided = assign(services.iter(), nodes.iter(), &[]);
        assert_eq!(
            decided["default/early"],
            Outcome::Assigned(vec!["192.0.2.2".into()])
        );
        assert_eq!(
            decided["default/late"],
            Outcome::Pending(
                "port 8080/TCP is in use on every node (by service default/early)".into()
            )
        );
        assert_eq!(
            decided["default/other"],
            Outcome::Assigned(vec!["192.0.2.2".into()])
        );
    }

    #[test]
    fn reserved_ports_and_other_classes() {
        let nodes = [node("a", "192.0.2.2", true)];
        let mut classed = service("classed", "2026-01-01T00:00:00Z", &[80]);
        classed.spec.as_mut().unwrap().load_balancer_class = Some("example.com/lb".into());
        let services = [service("web", "2026-01-01T00:00:00Z", &[80]), classed];
        let decided = assign(services.iter(), nodes.iter(), &[(80, "TCP".into())]);
        assert_eq!(
            decided["default/web"],
            Outcome::Pending("port 80/TCP is in use on every node (by the node)".into())
        );
        assert!(!decided.contains_key("default/classed"));
    }

    #[test]
    fn no_ready_node() {
        let nodes = [node("a", "192.0.2.2", false)];
        let services = [service("web", "2026-01-01T00:00:00Z", &[80])];
        let decided = assign(services.iter(), nodes.iter(), &[]);
        assert_eq!(
            decided["default/web"],
            Outcome::Pending("no Ready node to serve it".into())
        );
    }
}
