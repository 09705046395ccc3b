//! The EndpointSlices a Service should have, planned as upstream's
//! EndpointSlice reconciler does: endpoints grouped by the ports they
//! offer, at most [`MAX_ENDPOINTS_PER_SLICE`] a slice, and changes made
//! with as little churn as possible (keep endpoints where they are, fill
//! the slices that change anyway, reuse slices that would be deleted).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use k8s_openapi::api::core::v1::{Pod, Service};
use k8s_openapi::api::discovery::v1::{Endpoint, EndpointConditions, EndpointPort, EndpointSlice};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::ResourceExt;

use super::membership::{
    find_port, hostname_for, is_ipv6, is_service_ip_set, pod_ips, pod_reference,
    publishes_not_ready, should_be_in_endpoints,
};
use crate::pods::{controller_ref, is_ready};

/// The most endpoints in one slice (upstream's --max-endpoints-per-slice).
pub const MAX_ENDPOINTS_PER_SLICE: usize = 100;
/// The `endpointslice.kubernetes.io/managed-by` value of this controller.
pub const CONTROLLER_NAME: &str = "endpointslice-controller.k8s.io";
/// The label naming the Service a slice belongs to.
pub const LABEL_SERVICE_NAME: &str = "kubernetes.io/service-name";
/// The label naming the controller that manages a slice.
pub const LABEL_MANAGED_BY: &str = "endpointslice.kubernetes.io/managed-by";
/// The label marking endpoints of a headless Service.
pub const LABEL_HEADLESS: &str = "service.kubernetes.io/headless";

/// The label a node's zone is read from.
const LABEL_ZONE: &str = "topology.kubernetes.io/zone";

/// What the planner needs to know of a node: whether it exists, and its
/// zone label.
pub trait Nodes {
    /// `None` when there is no such node; else its zone, if labelled.
    fn zone(&self, node: &str) -> Option<Option<String>>;
}

impl Nodes for BTreeMap<String, BTreeMap<String, String>> {
    fn zone(&self, node: &str) -> Option<Option<String>> {
        self.get(node).map(|labels| labels.get(LABEL_ZONE).cloned())
    }
}

/// Reads a node's labels to find its zone.
pub fn zone_of(labels: &BTreeMap<String, String>) -> Option<String> {
    labels.get(LABEL_ZONE).filter(|z| !z.is_empty()).cloned()
}

/// The changes to make.
#[derive(Debug, Default)]
pub struct Plan {
    pub create: Vec<EndpointSlice>,
    pub update: Vec<EndpointSlice>,
    pub delete: Vec<Arc<EndpointSlice>>,
    /// Pods left out because their node is unknown; the Service is tried
    /// again later.
    pub missing_nodes: Vec<String>,
}

/// A set of ports, in a stable order, as one key.
type PortsKey = Vec<(Option<String>, Option<i32>, Option<String>, Option<String>)>;

fn ports_key(ports: &[EndpointPort]) -> PortsKey {
    let mut key: PortsKey = ports
        .iter()
        .map(|p| {
            (
                p.name.clone(),
                p.port,
                p.protocol.clone(),
                p.app_protocol.clone(),
            )
        })
        .collect();
    key.sort();
    key
}

/// What makes an endpoint the same endpoint (upstream's hashEndpoint): its
/// addresses, hostname and pod.
type EndpointKey = (Vec<String>, Option<String>, Option<String>, Option<String>);

fn endpoint_key(endpoint: &Endpoint) -> EndpointKey {
    let mut addresses = endpoint.addresses.clone();
    addresses.sort();
    let target = endpoint.target_ref.as_ref();
    (
        addresses,
        endpoint.hostname.clone(),
        target.and_then(|t| t.namespace.clone()),
        target.and_then(|t| t.name.clone()),
    )
}

/// Whether two endpoints with the same key say the same (upstream's
/// EndpointsEqualBeyondHash): node, zone, conditions and pod reference,
/// ignoring the pod's resourceVersion.
fn same_beyond_key(a: &Endpoint, b: &Endpoint) -> bool {
    let target = |e: &Endpoint| {
        e.target_ref.clone().map(|mut t| {
            t.resource_version = None;
            t
        })
    };
    a.node_name == b.node_name
        && a.zone == b.zone
        && a.conditions == b.conditions
        && target(a) == target(b)
}

/// The address types the Service's endpoints are published in.
pub fn address_types(service: &Service) -> BTreeSet<&'static str> {
    let spec = service.spec.as_ref();
    let mut types: BTreeSet<&'static str> = spec
        .and_then(|s| s.ip_families.as_ref())
        .into_iter()
        .flatten()
        .filter_map(|family| match family.as_str() {
            "IPv4" => Some("IPv4"),
            "IPv6" => Some("IPv6"),
            _ => None,
        })
        .collect();
    if types.is_empty() {
        if is_service_ip_set(service) {
            let ip = spec
                .and_then(|s| s.cluster_ip.as_deref())
                .unwrap_or_default();
            types.insert(if is_ipv6(ip) { "IPv6" } else { "IPv4" });
        } else {
            types.extend(["IPv4", "IPv6"]);
        }
    }
    types
}

/// The ports a pod offers for the Service; a pod without a named port is
/// left out of that port.
fn endpoint_ports(service: &Service, pod: &Pod) -> Vec<EndpointPort> {
    let ports = service
        .spec
        .as_ref()
        .and_then(|s| s.ports.as_deref())
        .unwrap_or_default();
    ports
        .iter()
        .filter_map(|port| {
            Some(EndpointPort {
                name: Some(port.name.clone().unwrap_or_default()),
                port: Some(find_port(pod, port)?),
                protocol: Some(port.protocol.clone().unwrap_or_else(|| "TCP".into())),
                app_protocol: port.app_protocol.clone(),
            })
        })
        .collect()
}

/// The pod's endpoint for the Service in one address type (upstream's
/// podToEndpoint).
fn endpoint_for(
    pod: &Pod,
    zone: Option<String>,
    service: &Service,
    address_type: &str,
) -> Endpoint {
    let serving = is_ready(pod);
    let terminating = pod.metadata.deletion_timestamp.is_some();
    // A terminating pod is never "ready" unless the Service publishes all.
    let ready = publishes_not_ready(service) || (serving && !terminating);
    Endpoint {
        addresses: pod_ips(pod)
            .into_iter()
            .filter(|ip| is_ipv6(ip) == (address_type == "IPv6"))
            .map(str::to_string)
            .collect(),
        conditions: Some(EndpointConditions {
            ready: Some(ready),
            serving: Some(serving),
            terminating: Some(terminating),
        }),
        target_ref: Some(pod_reference(pod)),
        node_name: pod
            .spec
            .as_ref()
            .and_then(|s| s.node_name.clone())
            .filter(|n| !n.is_empty()),
        zone,
        hostname: hostname_for(pod, service),
        ..Endpoint::default()
    }
}

/// The labels of the Service's slices: the Service's own (but the reserved
/// ones), the headless mark, the Service name and the manager; and whether
/// the Service's labels differ from what the slice carries.
fn slice_labels(slice: &EndpointSlice, service: &Service) -> (BTreeMap<String, String>, bool) {
    let reserved = |key: &String| {
        key == LABEL_SERVICE_NAME || key == LABEL_MANAGED_BY || key == LABEL_HEADLESS
    };
    let own = |labels: &BTreeMap<String, String>| -> BTreeMap<String, String> {
        labels
            .iter()
            .filter(|(key, _)| !reserved(key))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    };
    let mut labels = own(service.labels());
    let changed = own(slice.labels()) != labels;
    if !is_service_ip_set(service) {
        labels.insert(LABEL_HEADLESS.into(), String::new());
    }
    labels.insert(LABEL_SERVICE_NAME.into(), service.name_any());
    labels.insert(LABEL_MANAGED_BY.into(), CONTROLLER_NAME.into());
    (labels, changed)
}

/// A new, empty slice of the Service for these ports.
fn new_slice(service: &Service, ports: Vec<EndpointPort>, address_type: &str) -> EndpointSlice {
    let mut slice = EndpointSlice {
        metadata: ObjectMeta {
            generate_name: Some(format!("{}-", service.name_any())),
            namespace: service.namespace(),
            owner_references: Some(vec![controller_ref(service)]),
            ..ObjectMeta::default()
        },
        address_type: address_type.into(),
        endpoints: Vec::new(),
        ports: Some(ports),
    };
    slice.metadata.labels = Some(slice_labels(&slice, service).0);
    slice
}

/// Whether the slice belongs to this Service (not to an older Service of
/// the same name).
fn owned_by(slice: &EndpointSlice, service: &Service) -> bool {
    let uid = service.metadata.uid.as_deref().unwrap_or_default();
    slice
        .owner_references()
        .iter()
        .any(|o| o.uid == uid && o.kind == "Service" && o.api_version == "v1")
}

/// Whether an existing slice is just the placeholder that would be made
/// again: compared as upstream does, by namespace, labels, owners, type,
/// ports and endpoints.
fn same_placeholder(existing: &EndpointSlice, placeholder: &EndpointSlice) -> bool {
    existing.metadata.namespace == placeholder.metadata.namespace
        && existing.labels() == placeholder.labels()
        && existing.owner_references() == placeholder.owner_references()
        && existing.address_type == placeholder.address_type
        && existing.ports.as_deref().unwrap_or_default()
            == placeholder.ports.as_deref().unwrap_or_default()
        && existing.endpoints == placeholder.endpoints
}

/// Plans the Service's slices from its pods (those of its namespace that
/// its selector matches) and its existing slices (those labelled with its
/// name and managed by this controller).
pub fn plan(
    service: &Service,
    pods: &[Arc<Pod>],
    existing: &[Arc<EndpointSlice>],
    nodes: &dyn Nodes,
    max_per_slice: usize,
) -> Plan {
    let mut plan = Plan::default();
    let types = address_types(service);
    let mut by_type: BTreeMap<&str, Vec<Arc<EndpointSlice>>> = BTreeMap::new();
    for slice in existing {
        match types.get(slice.address_type.as_str()) {
            Some(address_type) => by_type.entry(address_type).or_default().push(slice.clone()),
            // The Service no longer has this family.
            None => plan.delete.push(slice.clone()),
        }
    }
    for address_type in types {
        let existing = by_type.remove(address_type).unwrap_or_default();
        plan_address_type(
            service,
            pods,
            existing,
            address_type,
            nodes,
            max_per_slice,
            &mut plan,
        );
    }
    plan
}

/// The endpoints wanted for each set of ports.
type Desired = BTreeMap<PortsKey, (Vec<EndpointPort>, BTreeMap<EndpointKey, Endpoint>)>;

fn desired_endpoints(
    service: &Service,
    pods: &[Arc<Pod>],
    address_type: &str,
    nodes: &dyn Nodes,
    missing_nodes: &mut Vec<String>,
) -> Desired {
    let mut desired = Desired::new();
    for pod in pods {
        if !should_be_in_endpoints(pod, true) {
            continue;
        }
        let node = pod
            .spec
            .as_ref()
            .and_then(|s| s.node_name.as_deref())
            .unwrap_or_default();
        let zone = match nodes.zone(node) {
            Some(zone) => zone,
            // Published anyway when the Service asks for every address.
            None if publishes_not_ready(service) => None,
            None => {
                missing_nodes.push(format!(
                    "skipping Pod {} for Service {}/{}: Node {node} Not Found",
                    pod.name_any(),
                    service.namespace().unwrap_or_default(),
                    service.name_any()
                ));
                continue;
            }
        };
        let ports = endpoint_ports(service, pod);
        let endpoint = endpoint_for(pod, zone, service, address_type);
        let group = desired
            .entry(ports_key(&ports))
            .or_insert_with(|| (ports, BTreeMap::new()));
        if !endpoint.addresses.is_empty() {
            group.1.insert(endpoint_key(&endpoint), endpoint);
        }
    }
    desired
}

fn plan_address_type(
    service: &Service,
    pods: &[Arc<Pod>],
    existing: Vec<Arc<EndpointSlice>>,
    address_type: &str,
    nodes: &dyn Nodes,
    max_per_slice: usize,
    plan: &mut Plan,
) {
    let mut create = Vec::new();
    let mut update = Vec::new();
    let mut delete: Vec<Arc<EndpointSlice>> = Vec::new();
    let mut existing_by_ports: BTreeMap<PortsKey, Vec<Arc<EndpointSlice>>> = BTreeMap::new();
    for slice in &existing {
        if owned_by(slice, service) {
            let key = ports_key(slice.ports.as_deref().unwrap_or_default());
            existing_by_ports
                .entry(key)
                .or_default()
                .push(slice.clone());
        } else {
            delete.push(slice.clone());
        }
    }
    let desired = desired_endpoints(service, pods, address_type, nodes, &mut plan.missing_nodes);
    for (key, (ports, wanted)) in &desired {
        let slices = existing_by_ports
            .get(key)
            .map(Vec::as_slice)
            .unwrap_or_default();
        let changes = plan_ports(
            service,
            slices,
            wanted.clone(),
            ports,
            address_type,
            max_per_slice,
        );
        create.extend(changes.create);
        update.extend(changes.update);
        delete.extend(changes.delete);
    }
    for (key, slices) in existing_by_ports {
        if !desired.contains_key(&key) {
            delete.extend(slices);
        }
    }
    // A Service with no endpoints keeps one empty placeholder slice.
    if existing.len() == delete.len() && create.is_empty() {
        let placeholder = new_slice(service, Vec::new(), address_type);
        if delete.len() == 1 && same_placeholder(&delete[0], &placeholder) {
            delete.clear();
        } else {
            create.push(placeholder);
        }
    }
    // Rather than create one slice and delete another, update the one.
    let mut kept = Vec::new();
    for doomed in delete {
        let reusable = doomed.address_type == address_type && owned_by(&doomed, service);
        match create.pop() {
            Some(mut slice) if reusable => {
                slice.metadata.name = doomed.metadata.name.clone();
                slice.metadata.generate_name = None;
                slice.metadata.resource_version = doomed.metadata.resource_version.clone();
                slice.metadata.annotations = doomed.metadata.annotations.clone();
                update.push(slice);
            }
            Some(slice) => {
                create.push(slice);
                kept.push(doomed);
            }
            None => kept.push(doomed),
        }
    }
    plan.create.extend(create);
    plan.update.extend(update);
    plan.delete.extend(kept);
}

/// The changes for the slices of one set of ports.
struct PortChanges {
    create: Vec<EndpointSlice>,
    update: Vec<EndpointSlice>,
    delete: Vec<Arc<EndpointSlice>>,
}

/// Upstream's reconcileByPortMapping: keep wanted endpoints where they
/// are, drop the others, then place the rest first into slices that
/// change anyway (fullest first), then into the unchanged slice they fill
/// best, then into new slices.
fn plan_ports(
    service: &Service,
    existing: &[Arc<EndpointSlice>],
    mut wanted: BTreeMap<EndpointKey, Endpoint>,
    ports: &[EndpointPort],
    address_type: &str,
    max_per_slice: usize,
) -> PortChanges {
    let mut to_update: Vec<EndpointSlice> = Vec::new();
    let mut unchanged: Vec<Arc<EndpointSlice>> = Vec::new();
    let mut delete = Vec::new();
    for slice in existing {
        let mut kept = Vec::new();
        let mut changed = false;
        for endpoint in &slice.endpoints {
            if let Some(desired) = wanted.remove(&endpoint_key(endpoint)) {
                changed |= !same_beyond_key(&desired, endpoint);
                kept.push(desired);
            }
        }
        let (labels, labels_changed) = slice_labels(slice, service);
        if changed || kept.len() != slice.endpoints.len() {
            if kept.is_empty() {
                delete.push(slice.clone());
            } else {
                let mut slice = (**slice).clone();
                slice.endpoints = kept;
                slice.metadata.labels = Some(labels);
                to_update.push(slice);
            }
        } else if labels_changed || slice.labels() != &labels {
            let mut slice = (**slice).clone();
            slice.metadata.labels = Some(labels);
            to_update.push(slice);
        } else {
            unchanged.push(slice.clone());
        }
    }
    let mut left = wanted.into_values();
    // Fill the slices that change anyway, fullest first.
    to_update.sort_by_key(|slice| std::cmp::Reverse(slice.endpoints.len()));
    for slice in &mut to_update {
        let room = max_per_slice.saturating_sub(slice.endpoints.len());
        slice.endpoints.extend(left.by_ref().take(room));
    }
    let mut pending: Vec<Endpoint> = left.rev().collect();
    let mut create = Vec::new();
    while !pending.is_empty() {
        // Few enough left: put them in the unchanged slice they fill best.
        let fill = (pending.len() < max_per_slice)
            .then(|| best_fit(&unchanged, pending.len(), max_per_slice))
            .flatten();
        let mut slice = match fill {
            Some(index) => (*unchanged.remove(index)).clone(),
            None => new_slice(service, ports.to_vec(), address_type),
        };
        while slice.endpoints.len() < max_per_slice {
            match pending.pop() {
                Some(endpoint) => slice.endpoints.push(endpoint),
                None => break,
            }
        }
        if slice.metadata.name.is_some() {
            to_update.push(slice);
        } else {
            create.push(slice);
        }
    }
    PortChanges {
        create,
        update: to_update,
        delete,
    }
}

/// The slice that comes closest to full when `count` endpoints are added
/// without overflowing (upstream's getSliceToFill).
fn best_fit(slices: &[Arc<EndpointSlice>], count: usize, max_per_slice: usize) -> Option<usize> {
    slices
        .iter()
        .enumerate()
        .filter(|(_, slice)| slice.endpoints.len() + count <= max_per_slice)
        .min_by_key(|(_, slice)| max_per_slice - (slice.endpoints.len() + count))
        .map(|(index, _)| index)
}

#[cfg(test)]
#[path = "slices_tests.rs"]
mod tests;
