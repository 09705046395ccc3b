//! The core group's kinds other than pods, and events of both groups.

use std::collections::BTreeSet;

use serde_json::Value;

use super::{
    containers, docs, get, int_at, label_map, list_at, map_len, quantity, since, str_at,
    timestamp_at, Cells, Column, Row, AGE, CONTAINERS, CONTAINERS_DOC, IMAGES, IMAGES_DOC, NAME,
};
use crate::resource::Resource;

pub(super) fn printer(resource: &Resource) -> Option<(&'static [Column], Cells)> {
    let found: (&'static [Column], Cells) = match (resource.group, resource.plural) {
        ("", "services") => (SERVICE, service),
        ("", "endpoints") => (ENDPOINTS, endpoints),
        ("", "nodes") => (NODE, node),
        ("", "events") => (EVENT, core_event),
        ("events.k8s.io", "events") => (EVENT, new_event),
        ("", "namespaces") => (NAMESPACE, namespace),
        ("", "secrets") => (SECRET, secret),
        ("", "serviceaccounts") => (SERVICE_ACCOUNT, service_account),
        ("", "configmaps") => (CONFIG_MAP, config_map),
        ("", "persistentvolumes") => (PERSISTENT_VOLUME, persistent_volume),
        ("", "persistentvolumeclaims") => (PERSISTENT_VOLUME_CLAIM, persistent_volume_claim),
        ("", "replicationcontrollers") => (REPLICATION_CONTROLLER, replication_controller),
        ("", "resourcequotas") => (RESOURCE_QUOTA, resource_quota),
        ("", "podtemplates") => (POD_TEMPLATE, pod_template),
        _ => return None,
    };
    Some(found)
}

fn or(text: &str, fallback: &str) -> String {
    if text.is_empty() {
        fallback.to_string()
    } else {
        text.to_string()
    }
}

const SERVICE: &[Column] = &[
    NAME,
    Column::string("Type", docs::SERVICE_TYPE),
    Column::string("Cluster-IP", docs::SERVICE_CLUSTER_IP),
    Column::string("External-IP", docs::SERVICE_EXTERNAL_IPS),
    Column::string("Port(s)", docs::SERVICE_PORTS),
    AGE,
    Column::string("Selector", docs::SERVICE_SELECTOR).wide(),
];

/// Load balancer ingress points, IPs before hostnames per entry, as a
/// sorted set. The server prints wide, so nothing is shortened.
pub(super) fn load_balancer(status: &Value) -> String {
    let points: BTreeSet<&str> = list_at(status, "loadBalancer.ingress")
        .iter()
        .filter_map(|i| {
            [str_at(i, "ip"), str_at(i, "hostname")]
                .into_iter()
                .find(|s| !s.is_empty())
        })
        .collect();
    points.into_iter().collect::<Vec<_>>().join(",")
}

fn external_ip(row: &Row) -> String {
    let external: Vec<&str> = row
        .list("spec.externalIPs")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    match row.str("spec.type") {
        "ClusterIP" | "NodePort" if external.is_empty() => "<none>".to_string(),
        "ClusterIP" | "NodePort" => external.join(","),
        "LoadBalancer" => {
            let balancer = load_balancer(row.get("status").unwrap_or(&Value::Null));
            let mut all: Vec<&str> = Vec::new();
            if !balancer.is_empty() {
                all.extend(balancer.split(','));
            }
            all.extend(external.iter().copied());
            if all.is_empty() {
                "<pending>".to_string()
            } else {
                all.join(",")
            }
        }
        "ExternalName" => row.str("spec.externalName").to_string(),
        _ => "<unknown>".to_string(),
    }
}

fn service(row: &Row) -> Vec<Value> {
    let cluster_ip = row
        .list("spec.clusterIPs")
        .first()
        .and_then(Value::as_str)
        .unwrap_or_else(|| row.str("spec.clusterIP"));
    let ports: Vec<String> = row
        .list("spec.ports")
        .iter()
        .map(|p| {
            let port = int_at(p, "port").unwrap_or(0);
            let protocol = or(str_at(p, "protocol"), "TCP");
            match int_at(p, "nodePort").unwrap_or(0) {
                0 => format!("{port}/{protocol}"),
                node_port => format!("{port}:{node_port}/{protocol}"),
            }
        })
        .collect();
    vec![
        row.name(),
        row.str("spec.type").into(),
        or(cluster_ip, "<none>").into(),
        external_ip(row).into(),
        or(&ports.join(","), "<none>").into(),
        row.age(),
        label_map(row, "spec.selector"),
    ]
}

const ENDPOINTS: &[Column] = &[
    NAME,
    Column::string("Endpoints", docs::ENDPOINTS_SUBSETS),
    AGE,
];

/// `ip` or `ip:port`, with brackets around IPv6 as Go's `JoinHostPort`.
fn host_port(ip: &str, port: i64) -> String {
    if ip.contains(':') {
        format!("[{ip}]:{port}")
    } else {
        format!("{ip}:{port}")
    }
}

fn endpoints(row: &Row) -> Vec<Value> {
    const MAX: usize = 3;
    let subsets = row.list("subsets");
    let text = if subsets.is_empty() {
        "<none>".to_string()
    } else {
        let mut list = Vec::new();
        let mut count = 0;
        let mut more = false;
        for subset in subsets {
            let addresses = list_at(subset, "addresses");
            let ports = list_at(subset, "ports");
            // Headless services may have no ports: list the bare IPs.
            let ports: Vec<Option<i64>> = if ports.is_empty() {
                vec![None]
            } else {
                ports.iter().map(|p| int_at(p, "port")).collect()
            };
            for port in ports {
                count += addresses.len();
                for address in addresses {
                    if list.len() == MAX {
                        more = true;
                        break;
                    }
                    let ip = str_at(address, "ip");
                    list.push(match port {
                        Some(port) => host_port(ip, port),
                        None => ip.to_string(),
                    });
                }
            }
        }
        let joined = list.join(",");
        if more {
            format!("{joined} + {} more...", count - MAX)
        } else {
            joined
        }
    };
    vec![row.name(), text.into(), row.age()]
}

const NODE: &[Column] = &[
    NAME,
    Column::string("Status", "The status of the node"),
    Column::string("Roles", "The roles of the node"),
    AGE,
    Column::string("Version", docs::NODE_KUBELET_VERSION),
    Column::string("Internal-IP", docs::NODE_ADDRESSES).wide(),
    Column::string("External-IP", docs::NODE_ADDRESSES).wide(),
    Column::string("OS-Image", docs::NODE_OS_IMAGE).wide(),
    Column::string("Kernel-Version", docs::NODE_KERNEL_VERSION).wide(),
    Column::string("Container-Runtime", docs::NODE_CONTAINER_RUNTIME).wide(),
];

fn node(row: &Row) -> Vec<Value> {
    let mut status: Vec<&str> = Vec::new();
    if let Some(ready) = row
        .list("status.conditions")
        .iter()
        .rev()
        .find(|c| str_at(c, "type") == "Ready")
    {
        status.push(if str_at(ready, "status") == "True" {
            "Ready"
        } else {
            "NotReady"
        });
    }
    if status.is_empty() {
        status.push("Unknown");
    }
    if super::bool_at(row.object, "spec.unschedulable") == Some(true) {
        status.push("SchedulingDisabled");
    }
    let mut roles = BTreeSet::new();
    for (key, value) in row
        .get("metadata.labels")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        if let Some(role) = key.strip_prefix("node-role.kubernetes.io/") {
            if !role.is_empty() {
                roles.insert(role.to_string());
            }
        } else if key == "kubernetes.io/role" {
            let role = value.as_str().unwrap_or_default();
            if !role.is_empty() {
                roles.insert(role.to_string());
            }
        }
    }
    let roles = roles.into_iter().collect::<Vec<_>>().join(",");
    let address = |kind: &str| {
        row.list("status.addresses")
            .iter()
            .find(|a| str_at(a, "type") == kind)
            .map_or("<none>", |a| str_at(a, "address"))
            .to_string()
    };
    let info = |field: &str| or(row.str(&format!("status.nodeInfo.{field}")), "<unknown>");
    vec![
        row.name(),
        status.join(",").into(),
        or(&roles, "<none>").into(),
        row.age(),
        row.str("status.nodeInfo.kubeletVersion").into(),
        address("InternalIP").into(),
        address("ExternalIP").into(),
        info("osImage").into(),
        info("kernelVersion").into(),
        info("containerRuntimeVersion").into(),
    ]
}

const EVENT: &[Column] = &[
    Column::string("Last Seen", docs::EVENT_LAST_TIMESTAMP),
    Column::string("Type", docs::EVENT_TYPE),
    Column::string("Reason", docs::EVENT_REASON),
    Column::string("Object", docs::EVENT_INVOLVED_OBJECT),
    Column::string("Subobject", docs::EVENT_FIELD_PATH).wide(),
    Column::string("Source", docs::EVENT_SOURCE).wide(),
    Column::string("Message", docs::EVENT_MESSAGE),
    Column::string("First Seen", docs::EVENT_FIRST_TIMESTAMP).wide(),
    Column::string("Count", docs::EVENT_COUNT).wide(),
    NAME.wide(),
];

/// Where an Event keeps each field: core/v1 and events.k8s.io/v1 name them
/// differently, and upstream prints both from the same internal type.
struct EventFields {
    object: &'static str,
    message: &'static str,
    first: &'static str,
    last: &'static str,
    count: &'static str,
    source: &'static str,
    reporting: &'static str,
}

const CORE_EVENT: EventFields = EventFields {
    object: "involvedObject",
    message: "message",
    first: "firstTimestamp",
    last: "lastTimestamp",
    count: "count",
    source: "source",
    reporting: "reportingComponent",
};

const NEW_EVENT: EventFields = EventFields {
    object: "regarding",
    message: "note",
    first: "deprecatedFirstTimestamp",
    last: "deprecatedLastTimestamp",
    count: "deprecatedCount",
    source: "deprecatedSource",
    reporting: "reportingController",
};

fn core_event(row: &Row) -> Vec<Value> {
    event(row, &CORE_EVENT)
}

fn new_event(row: &Row) -> Vec<Value> {
    event(row, &NEW_EVENT)
}

fn event(row: &Row, at: &EventFields) -> Vec<Value> {
    let first = match timestamp_at(row.object, at.first) {
        Some(time) => since(Some(time), row.now),
        None => row.since("eventTime"),
    };
    let mut last = match timestamp_at(row.object, at.last) {
        Some(time) => since(Some(time), row.now),
        None => first.clone(),
    };
    let mut count = int_at(row.object, at.count).unwrap_or(0);
    if let Some(series) = row.get("series").filter(|s| s.is_object()) {
        last = since(timestamp_at(series, "lastObservedTime"), row.now);
        count = int_at(series, "count").unwrap_or(0);
    } else if count == 0 {
        // Singleton events of the new API carry no count.
        count = 1;
    }
    let object = row.get(at.object).unwrap_or(&Value::Null);
    let kind = str_at(object, "kind").to_lowercase();
    let target = match str_at(object, "name") {
        "" => kind,
        name => format!("{kind}/{name}"),
    };
    let first_non_empty = |a: &str, b: &str| {
        if a.is_empty() {
            b.to_string()
        } else {
            a.to_string()
        }
    };
    let source = get(row.object, at.source).unwrap_or(&Value::Null);
    let component = first_non_empty(str_at(source, "component"), row.str(at.reporting));
    let instance = first_non_empty(str_at(source, "host"), row.str("reportingInstance"));
    let source = if instance.is_empty() {
        component
    } else {
        format!("{component}, {instance}")
    };
    vec![
        last.into(),
        row.str("type").into(),
        row.str("reason").into(),
        target.into(),
        str_at(object, "fieldPath").into(),
        source.into(),
        row.str(at.message).trim().into(),
        first.into(),
        count.into(),
        row.name(),
    ]
}

const NAMESPACE: &[Column] = &[
    NAME,
    Column::string("Status", "The status of the namespace"),
    AGE,
];

fn namespace(row: &Row) -> Vec<Value> {
    vec![row.name(), row.str("status.phase").into(), row.age()]
}

const SECRET: &[Column] = &[
    NAME,
    Column::string("Type", docs::SECRET_TYPE),
    Column::string("Data", docs::SECRET_DATA),
    AGE,
];

fn secret(row: &Row) -> Vec<Value> {
    // Upstream merges stringData into data before printing.
    let keys: BTreeSet<&String> = ["data", "stringData"]
        .into_iter()
        .filter_map(|field| row.get(field).and_then(Value::as_object))
        .flat_map(|map| map.keys())
        .collect();
    vec![
        row.name(),
        row.str("type").into(),
        keys.len().into(),
        row.age(),
    ]
}

const SERVICE_ACCOUNT: &[Column] = &[
    NAME,
    Column::string("Secrets", docs::SERVICE_ACCOUNT_SECRETS),
    AGE,
];

fn service_account(row: &Row) -> Vec<Value> {
    vec![row.name(), row.list("secrets").len().into(), row.age()]
}

const CONFIG_MAP: &[Column] = &[NAME, Column::string("Data", docs::CONFIG_MAP_DATA), AGE];

fn config_map(row: &Row) -> Vec<Value> {
    let count = map_len(row.object, "data") + map_len(row.object, "binaryData");
    vec![row.name(), count.into(), row.age()]
}

/// Access modes as `RWO,ROX,RWX,RWOP`, in that order, without duplicates.
fn access_modes(modes: &[Value]) -> String {
    let has = |mode: &str| modes.iter().any(|m| m.as_str() == Some(mode));
    [
        ("ReadWriteOnce", "RWO"),
        ("ReadOnlyMany", "ROX"),
        ("ReadWriteMany", "RWX"),
        ("ReadWriteOncePod", "RWOP"),
    ]
    .into_iter()
    .filter(|(mode, _)| has(mode))
    .map(|(_, short)| short)
    .collect::<Vec<_>>()
    .join(",")
}

const BETA_STORAGE_CLASS: &str = "volume.beta.kubernetes.io/storage-class";

/// The storage class, the beta annotation winning over the field.
fn storage_class(row: &Row) -> String {
    let annotation = row
        .get("metadata.annotations")
        .and_then(|a| a.get(BETA_STORAGE_CLASS))
        .and_then(Value::as_str);
    annotation
        .unwrap_or_else(|| row.str("spec.storageClassName"))
        .to_string()
}

const PERSISTENT_VOLUME: &[Column] = &[
    NAME,
    Column::string("Capacity", docs::PV_CAPACITY),
    Column::string("Access Modes", docs::PV_ACCESS_MODES),
    Column::string("Reclaim Policy", docs::PV_RECLAIM_POLICY),
    Column::string("Status", docs::PV_PHASE),
    Column::string("Claim", docs::PV_CLAIM_REF),
    Column::string("StorageClass", "StorageClass of the pv"),
    Column::string("VolumeAttributesClass", "VolumeAttributesClass of the pv"),
    Column::string("Reason", docs::PV_REASON),
    AGE,
    Column::string("VolumeMode", docs::PV_VOLUME_MODE).wide(),
];

fn persistent_volume(row: &Row) -> Vec<Value> {
    let claim = match row.get("spec.claimRef").filter(|c| c.is_object()) {
        Some(claim) => format!("{}/{}", str_at(claim, "namespace"), str_at(claim, "name")),
        None => String::new(),
    };
    let phase = if row.deleting() {
        "Terminating"
    } else {
        row.str("status.phase")
    };
    vec![
        row.name(),
        quantity(row.get("spec.capacity.storage")).into(),
        access_modes(row.list("spec.accessModes")).into(),
        row.str("spec.persistentVolumeReclaimPolicy").into(),
        phase.into(),
        claim.into(),
        storage_class(row).into(),
        or(row.str("spec.volumeAttributesClassName"), "<unset>").into(),
        row.str("status.reason").into(),
        row.age(),
        or(row.str("spec.volumeMode"), "<unset>").into(),
    ]
}

const PERSISTENT_VOLUME_CLAIM: &[Column] = &[
    NAME,
    Column::string("Status", docs::PVC_PHASE),
    Column::string("Volume", docs::PVC_VOLUME_NAME),
    Column::string("Capacity", docs::PVC_CAPACITY),
    Column::string("Access Modes", docs::PVC_ACCESS_MODES),
    Column::string("StorageClass", "StorageClass of the pvc"),
    Column::string("VolumeAttributesClass", "VolumeAttributesClass of the pvc"),
    AGE,
    Column::string("VolumeMode", docs::PVC_VOLUME_MODE).wide(),
];

fn persistent_volume_claim(row: &Row) -> Vec<Value> {
    let phase = if row.deleting() {
        "Terminating"
    } else {
        row.str("status.phase")
    };
    let volume = row.str("spec.volumeName");
    // Capacity and modes are only known once bound.
    let (capacity, modes) = if volume.is_empty() {
        (String::new(), String::new())
    } else {
        (
            quantity(row.get("status.capacity.storage")),
            access_modes(row.list("status.accessModes")),
        )
    };
    vec![
        row.name(),
        phase.into(),
        volume.into(),
        capacity.into(),
        modes.into(),
        storage_class(row).into(),
        or(row.str("spec.volumeAttributesClassName"), "<unset>").into(),
        row.age(),
        or(row.str("spec.volumeMode"), "<unset>").into(),
    ]
}

const REPLICATION_CONTROLLER: &[Column] = &[
    NAME,
    Column::integer("Desired", docs::RC_SPEC_REPLICAS),
    Column::integer("Current", docs::RC_STATUS_REPLICAS),
    Column::integer("Ready", docs::RC_STATUS_READY),
    AGE,
    CONTAINERS,
    IMAGES,
    Column::string("Selector", docs::RC_SPEC_SELECTOR).wide(),
];

fn replication_controller(row: &Row) -> Vec<Value> {
    let [names, images] = containers(row.get("spec.template.spec"));
    vec![
        row.name(),
        int_at(row.object, "spec.replicas").unwrap_or(1).into(),
        row.int("status.replicas").into(),
        row.int("status.readyReplicas").into(),
        row.age(),
        names,
        images,
        label_map(row, "spec.selector"),
    ]
}

const RESOURCE_QUOTA: &[Column] = &[
    NAME,
    Column::string(
        "Request",
        "Request represents a minimum amount of cpu/memory that a container may consume.",
    ),
    Column::string(
        "Limit",
        "Limits control the maximum amount of cpu/memory that a container may use independent of contention on the node.",
    ),
    AGE,
];

fn resource_quota(row: &Row) -> Vec<Value> {
    let mut requests = Vec::new();
    let mut limits = Vec::new();
    let used = row.get("status.used");
    let mut hard: Vec<(&String, &Value)> = row
        .get("status.hard")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .collect();
    hard.sort_by_key(|(name, _)| name.as_str());
    for (name, hard) in hard {
        let used = quantity(used.and_then(|u| u.get(name)));
        let entry = format!("{name}: {used}/{}", quantity(Some(hard)));
        if name.split('.').count() > 1 && name.split('.').next() == Some("limits") {
            limits.push(entry);
        } else {
            requests.push(entry);
        }
    }
    vec![
        row.name(),
        requests.join(", ").into(),
        limits.join(", ").into(),
        row.age(),
    ]
}

const POD_TEMPLATE: &[Column] = &[
    NAME,
    Column::string("Containers", CONTAINERS_DOC),
    Column::string("Images", IMAGES_DOC),
    Column::string("Pod Labels", "The labels for the pod template."),
];

fn pod_template(row: &Row) -> Vec<Value> {
    let [names, images] = containers(row.get("template.spec"));
    vec![
        row.name(),
        names,
        images,
        label_map(row, "template.metadata.labels"),
    ]
}
