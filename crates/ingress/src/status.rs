//! Ingress status: every served Ingress lists, in
//! `status.loadBalancer.ingress`, the InternalIP of each Ready node, since
//! every node serves its traffic.

use std::time::Duration;

use k8s_openapi::api::core::v1::Node;
use k8s_openapi::api::networking::v1::{Ingress, IngressClass};
use kube::api::{Patch, PatchParams};
use kube::{Api, Client};
use serde_json::json;
use std::sync::Arc;
use tokio::sync::Notify;

use crate::class::ClassSelection;
use crate::cluster::Cache;

/// How often status is checked without any change seen, in case a write
/// by someone else went unnoticed.
const RESYNC_PERIOD: Duration = Duration::from_secs(300);
/// How soon a failed status write is tried again.
const RETRY_DELAY: Duration = Duration::from_secs(5);

/// The caches status is computed from.
pub(crate) struct StatusCaches {
    pub(crate) classes: Cache<IngressClass>,
    pub(crate) ingresses: Cache<Ingress>,
    pub(crate) nodes: Cache<Node>,
}

/// Keeps the status of the served Ingresses current. Runs until aborted.
pub(crate) async fn keep_status_current(
    client: Client,
    caches: StatusCaches,
    changed: Arc<Notify>,
) {
    tokio::join!(
        caches.classes.wait_until_ready(),
        caches.ingresses.wait_until_ready(),
        caches.nodes.wait_until_ready(),
    );
    loop {
        let all_written = write_status(&client, &caches).await;
        let wait = if all_written {
            RESYNC_PERIOD
        } else {
            RETRY_DELAY
        };
        let _ = tokio::time::timeout(wait, changed.notified()).await;
    }
}

/// Patches the status of each served Ingress whose addresses are not the
/// nodes' addresses; false when a write failed.
async fn write_status(client: &Client, caches: &StatusCaches) -> bool {
    let addresses = ready_node_addresses(caches.nodes.state().iter().map(Arc::as_ref));
    let selection = ClassSelection::new(caches.classes.state().iter().map(Arc::as_ref));
    let mut all_written = true;
    for ingress in caches.ingresses.state() {
        if ingress.metadata.deletion_timestamp.is_some() || !selection.serves(&ingress) {
            continue;
        }
        if published_addresses(&ingress) == addresses {
            continue;
        }
        let (Some(namespace), Some(name)) = (
            ingress.metadata.namespace.as_deref(),
            ingress.metadata.name.as_deref(),
        ) else {
            continue;
        };
        let api: Api<Ingress> = Api::namespaced(client.clone(), namespace);
        match api
            .patch_status(
                name,
                &PatchParams::default(),
                &Patch::Merge(status_patch(&addresses)),
            )
            .await
        {
            Ok(_) => {
                tracing::debug!(ingress = %format!("{namespace}/{name}"), ?addresses, "status updated")
            }
            // Deleted meanwhile: nothing to write.
            Err(kube::Error::Api(status)) if status.is_not_found() => {}
            Err(error) => {
                tracing::warn!(ingress = %format!("{namespace}/{name}"), %error, "cannot write Ingress status");
                all_written = false;
            }
        }
    }
    all_written
}

/// The InternalIP addresses of the Ready nodes, sorted.
fn ready_node_addresses<'a>(nodes: impl Iterator<Item = &'a Node>) -> Vec<String> {
    let mut addresses: Vec<String> = nodes
        .filter_map(|node| node.status.as_ref())
        .filter(|status| {
            status
                .conditions
                .iter()
                .flatten()
                .any(|condition| condition.type_ == "Ready" && condition.status == "True")
        })
        .flat_map(|status| status.addresses.iter().flatten())
        .filter(|address| address.type_ == "InternalIP" && !address.address.is_empty())
        .map(|address| address.address.clone())
        .collect();
    addresses.sort();
    addresses.dedup();
    addresses
}

/// The addresses an Ingress's status lists now, sorted.
fn published_addresses(ingress: &Ingress) -> Vec<String> {
    let mut addresses: Vec<String> = ingress
        .status
        .as_ref()
        .and_then(|status| status.load_balancer.as_ref())
        .and_then(|load_balancer| load_balancer.ingress.as_ref())
        .into_iter()
        .flatten()
        .filter_map(|entry| entry.ip.clone().or_else(|| entry.hostname.clone()))
        .collect();
    addresses.sort();
    addresses
}

/// A merge patch that sets the status to `addresses`.
fn status_patch(addresses: &[String]) -> serde_json::Value {
    let entries: Vec<serde_json::Value> = addresses
        .iter()
        .map(|address| json!({ "ip": address }))
        .collect();
    json!({ "status": { "loadBalancer": { "ingress": entries } } })
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::core::v1::{NodeAddress, NodeCondition, NodeStatus};
    use k8s_openapi::api::networking::v1::{
        IngressLoadBalancerIngress, IngressLoadBalancerStatus, IngressStatus,
    };

    use super::*;

    fn node(ready: &str, addresses: &[(&str, &str)]) -> Node {
        Node {
            status: Some(NodeStatus {
                conditions: Some(vec![NodeCondition {
                    type_: "Ready".into(),
                    status: ready.into(),
                    ..NodeCondition::default()
                }]),
                addresses: Some(
                    addresses
                        .iter()
                        .map(|(type_, address)| NodeAddress {
                            type_: type_.to_string(),
                            address: address.to_string(),
                        })
                        .collect(),
                ),
                ..NodeStatus::default()
            }),
            ..Node::default()
        }
    }

    #[test]
    fn only_internal_addresses_of_ready_nodes_are_published() {
        let nodes = [
            node(
                "True",
                &[
                    ("Hostname", "a"),
                    ("InternalIP", "10.0.0.2"),
                    ("ExternalIP", "203.0.113.1"),
                ],
            ),
            node("False", &[("InternalIP", "10.0.0.3")]),
            node(
                "True",
                &[("InternalIP", "10.0.0.1"), ("InternalIP", "fd00::1")],
            ),
            Node::default(),
        ];
        assert_eq!(
            ready_node_addresses(nodes.iter()),
            ["10.0.0.1", "10.0.0.2", "fd00::1"]
        );
    }

    #[test]
    fn published_addresses_are_compared_as_sets() {
        let mut ingress = Ingress::default();
        assert!(published_addresses(&ingress).is_empty());
        ingress.status = Some(IngressStatus {
            load_balancer: Some(IngressLoadBalancerStatus {
                ingress: Some(vec![
                    IngressLoadBalancerIngress {
                        ip: Some("10.0.0.2".into()),
                        ..IngressLoadBalancerIngress::default()
                    },
                    IngressLoadBalancerIngress {
                        ip: Some("10.0.0.1".into()),
                        ..IngressLoadBalancerIngress::default()
                    },
                ]),
            }),
        });
        assert_eq!(published_addresses(&ingress), ["10.0.0.1", "10.0.0.2"]);
    }

    #[test]
    fn patch_lists_each_address_as_an_ip() {
        let patch = status_patch(&["10.0.0.1".to_string(), "fd00::1".to_string()]);
        assert_eq!(
            patch,
            json!({"status": {"loadBalancer": {"ingress": [{"ip": "10.0.0.1"}, {"ip": "fd00::1"}]}}})
        );
        assert_eq!(
            status_patch(&[]),
            json!({"status": {"loadBalancer": {"ingress": []}}})
        );
    }
}
