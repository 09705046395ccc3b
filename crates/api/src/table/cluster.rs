//! Networking, storage, RBAC, coordination, scheduling, discovery,
//! certificates and admission.

use std::collections::BTreeSet;

use jiff::SignedDuration;
use serde_json::Value;

use super::{
    bool_at, docs, human_duration, int_at, list_at, list_with_more, str_at, Cells, Column, Row,
    AGE, NAME,
};
use crate::resource::Resource;

pub(super) fn printer(resource: &Resource) -> Option<(&'static [Column], Cells)> {
    let found: (&'static [Column], Cells) = match (resource.group, resource.plural) {
        ("networking.k8s.io", "ingresses") => (INGRESS, ingress),
        ("networking.k8s.io", "ingressclasses") => (INGRESS_CLASS, ingress_class),
        ("networking.k8s.io", "networkpolicies") => (NETWORK_POLICY, network_policy),
        ("storage.k8s.io", "storageclasses") => (STORAGE_CLASS, storage_class),
        ("storage.k8s.io", "csidrivers") => (CSI_DRIVER, csi_driver),
        ("storage.k8s.io", "csinodes") => (CSI_NODE, csi_node),
        ("storage.k8s.io", "volumeattachments") => (VOLUME_ATTACHMENT, volume_attachment),
        ("rbac.authorization.k8s.io", "rolebindings") => (ROLE_BINDING, binding),
        ("rbac.authorization.k8s.io", "clusterrolebindings") => (CLUSTER_ROLE_BINDING, binding),
        ("coordination.k8s.io", "leases") => (LEASE, lease),
        ("scheduling.k8s.io", "priorityclasses") => (PRIORITY_CLASS, priority_class),
        ("discovery.k8s.io", "endpointslices") => (ENDPOINT_SLICE, endpoint_slice),
        ("certificates.k8s.io", "certificatesigningrequests") => (CSR, csr),
        ("admissionregistration.k8s.io", "mutatingwebhookconfigurations")
        | ("admissionregistration.k8s.io", "validatingwebhookconfigurations") => {
            (WEBHOOK_CONFIGURATION, webhook_configuration)
        }
        _ => return None,
    };
    Some(found)
}

const INGRESS: &[Column] = &[
    NAME,
    Column::string(
        "Class",
        "The name of the IngressClass resource that should be used for additional configuration",
    ),
    Column::string(
        "Hosts",
        "Hosts that incoming requests are matched against before the ingress rule",
    ),
    Column::string(
        "Address",
        "Address is a list containing ingress points for the load-balancer",
    ),
    Column::string("Ports", "Ports of TLS configurations that open"),
    AGE,
];

fn ingress(row: &Row) -> Vec<Value> {
    const MAX: usize = 3;
    let rules = row.list("spec.rules");
    let mut hosts = Vec::new();
    let mut more = false;
    for rule in rules {
        if hosts.len() == MAX {
            more = true;
        }
        let host = str_at(rule, "host");
        if !more && !host.is_empty() {
            hosts.push(host);
        }
    }
    let hosts = if hosts.is_empty() {
        "*".to_string()
    } else if more {
        format!("{} + {} more...", hosts.join(","), rules.len() - MAX)
    } else {
        hosts.join(",")
    };
    let class = row
        .get("spec.ingressClassName")
        .and_then(Value::as_str)
        .unwrap_or("<none>");
    let address = super::core_v1::load_balancer(row.get("status").unwrap_or(&Value::Null));
    let ports = if row.list("spec.tls").is_empty() {
        "80"
    } else {
        "80, 443"
    };
    vec![
        row.name(),
        class.into(),
        hosts.into(),
        address.into(),
        ports.into(),
        row.age(),
    ]
}

const INGRESS_CLASS: &[Column] = &[
    NAME,
    Column::string(
        "Controller",
        "Controller that is responsible for handling this class",
    ),
    Column::string(
        "Parameters",
        "A reference to a resource with additional parameters",
    ),
    AGE,
];

fn ingress_class(row: &Row) -> Vec<Value> {
    let parameters = match row.get("spec.parameters").filter(|p| p.is_object()) {
        None => "<none>".to_string(),
        Some(p) => {
            let kind = match p.get("apiGroup").and_then(Value::as_str) {
                Some(group) => format!("{}.{group}", str_at(p, "kind")),
                None => str_at(p, "kind").to_string(),
            };
            format!("{kind}/{}", str_at(p, "name"))
        }
    };
    vec![
        row.name(),
        row.str("spec.controller").into(),
        parameters.into(),
        row.age(),
    ]
}

const NETWORK_POLICY: &[Column] = &[
    NAME,
    Column::string("Pod-Selector", docs::NETPOL_POD_SELECTOR),
    AGE,
];

fn network_policy(row: &Row) -> Vec<Value> {
    // The pod selector is a value, not a pointer: absent means empty.
    let selector = row
        .get("spec.podSelector")
        .and_then(|v| serde_json::from_value(v.clone()).ok())
        .unwrap_or_default();
    let text = crate::selector::label::format_label_selector(Some(&selector));
    vec![row.name(), text.into(), row.age()]
}

const STORAGE_CLASS: &[Column] = &[
    NAME,
    Column::string("Provisioner", docs::SC_PROVISIONER),
    Column::string("ReclaimPolicy", docs::SC_RECLAIM_POLICY),
    Column::string("VolumeBindingMode", docs::SC_BINDING_MODE),
    Column::string("AllowVolumeExpansion", docs::SC_EXPANSION),
    AGE,
];

fn storage_class(row: &Row) -> Vec<Value> {
    let annotations = row.get("metadata.annotations");
    let is_default = [
        "storageclass.kubernetes.io/is-default-class",
        "storageclass.beta.kubernetes.io/is-default-class",
    ]
    .iter()
    .any(|key| {
        annotations
            .and_then(|a| a.get(*key))
            .and_then(Value::as_str)
            == Some("true")
    });
    let mut name = row.str("metadata.name").to_string();
    if is_default {
        name.push_str(" (default)");
    }
    let or = |path: &str, fallback: &'static str| {
        row.get(path)
            .and_then(Value::as_str)
            .unwrap_or(fallback)
            .to_string()
    };
    vec![
        name.into(),
        row.str("provisioner").into(),
        or("reclaimPolicy", "Delete").into(),
        or("volumeBindingMode", "Immediate").into(),
        bool_at(row.object, "allowVolumeExpansion")
            .unwrap_or(false)
            .into(),
        row.age(),
    ]
}

const CSI_DRIVER: &[Column] = &[
    NAME,
    Column::boolean("AttachRequired", docs::CSI_ATTACH_REQUIRED),
    Column::boolean("PodInfoOnMount", docs::CSI_POD_INFO),
    Column::boolean("StorageCapacity", docs::CSI_STORAGE_CAPACITY),
    Column::string("TokenRequests", docs::CSI_TOKEN_REQUESTS),
    Column::boolean("RequiresRepublish", docs::CSI_REPUBLISH),
    Column::string("Modes", docs::CSI_MODES),
    AGE,
];

fn csi_driver(row: &Row) -> Vec<Value> {
    let flag = |path: &str, default: bool| bool_at(row.object, path).unwrap_or(default);
    let tokens = match row.get("spec.tokenRequests").and_then(Value::as_array) {
        Some(requests) => requests
            .iter()
            .map(|r| str_at(r, "audience"))
            .collect::<Vec<_>>()
            .join(","),
        None => "<unset>".to_string(),
    };
    let modes: Vec<&str> = row
        .list("spec.volumeLifecycleModes")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let modes = if modes.is_empty() {
        "<none>".to_string()
    } else {
        modes.join(",")
    };
    vec![
        row.name(),
        flag("spec.attachRequired", true).into(),
        flag("spec.podInfoOnMount", false).into(),
        flag("spec.storageCapacity", false).into(),
        tokens.into(),
        flag("spec.requiresRepublish", false).into(),
        modes.into(),
        row.age(),
    ]
}

const CSI_NODE: &[Column] = &[
    NAME,
    Column::integer(
        "Drivers",
        "Drivers indicates the number of CSI drivers registered on the node",
    ),
    AGE,
];

fn csi_node(row: &Row) -> Vec<Value> {
    vec![row.name(), row.list("spec.drivers").len().into(), row.age()]
}

const VOLUME_ATTACHMENT: &[Column] = &[
    NAME,
    Column::string("Attacher", docs::VA_ATTACHER).named(),
    Column::string("PV", docs::VA_PV),
    Column::string("Node", docs::VA_NODE),
    Column::boolean("Attached", docs::VA_ATTACHED),
    AGE,
];

fn volume_attachment(row: &Row) -> Vec<Value> {
    vec![
        row.name(),
        row.str("spec.attacher").into(),
        row.str("spec.source.persistentVolumeName").into(),
        row.str("spec.nodeName").into(),
        bool_at(row.object, "status.attached")
            .unwrap_or(false)
            .into(),
        row.age(),
    ]
}

const ROLE_BINDING: &[Column] = &[
    NAME,
    Column::string("Role", docs::ROLE_BINDING_ROLE_REF),
    AGE,
    Column::string("Users", "Users in the roleBinding").wide(),
    Column::string("Groups", "Groups in the roleBinding").wide(),
    Column::string("ServiceAccounts", "ServiceAccounts in the roleBinding").wide(),
];

const CLUSTER_ROLE_BINDING: &[Column] = &[
    NAME,
    Column::string("Role", docs::CLUSTER_ROLE_BINDING_ROLE_REF),
    AGE,
    Column::string("Users", "Users in the clusterRoleBinding").wide(),
    Column::string("Groups", "Groups in the clusterRoleBinding").wide(),
    Column::string(
        "ServiceAccounts",
        "ServiceAccounts in the clusterRoleBinding",
    )
    .wide(),
];

fn binding(row: &Row) -> Vec<Value> {
    let mut users = Vec::new();
    let mut groups = Vec::new();
    let mut accounts = Vec::new();
    for subject in row.list("subjects") {
        let name = str_at(subject, "name");
        match str_at(subject, "kind") {
            "ServiceAccount" => accounts.push(format!("{}/{name}", str_at(subject, "namespace"))),
            "User" => users.push(name.to_string()),
            "Group" => groups.push(name.to_string()),
            _ => {}
        }
    }
    let role = format!("{}/{}", row.str("roleRef.kind"), row.str("roleRef.name"));
    vec![
        row.name(),
        role.into(),
        row.age(),
        users.join(", ").into(),
        groups.join(", ").into(),
        accounts.join(", ").into(),
    ]
}

const LEASE: &[Column] = &[NAME, Column::string("Holder", docs::LEASE_HOLDER), AGE];

fn lease(row: &Row) -> Vec<Value> {
    vec![row.name(), row.str("spec.holderIdentity").into(), row.age()]
}

/// PREEMPTIONPOLICY has priority 0 upstream although only the wide output
/// fills it; the server always prints wide.
const PRIORITY_CLASS: &[Column] = &[
    NAME,
    Column::integer("Value", docs::PC_VALUE),
    Column::boolean("Global-Default", docs::PC_GLOBAL_DEFAULT),
    AGE,
    Column::string("PreemptionPolicy", docs::PC_PREEMPTION),
];

fn priority_class(row: &Row) -> Vec<Value> {
    vec![
        row.name(),
        row.int("value").into(),
        bool_at(row.object, "globalDefault").unwrap_or(false).into(),
        row.age(),
        row.str("preemptionPolicy").into(),
    ]
}

const ENDPOINT_SLICE: &[Column] = &[
    NAME,
    Column::string("AddressType", docs::ES_ADDRESS_TYPE),
    Column::string("Ports", docs::ES_PORTS),
    Column::string("Endpoints", docs::ES_ENDPOINTS),
    AGE,
];

fn endpoint_slice(row: &Row) -> Vec<Value> {
    const MAX: usize = 3;
    let ports = row.list("ports");
    let mut list = Vec::new();
    for port in ports.iter().take(MAX) {
        list.push(
            match (
                int_at(port, "port"),
                port.get("name").and_then(Value::as_str),
            ) {
                (Some(number), _) => number.to_string(),
                (None, Some(name)) => name.to_string(),
                (None, None) => "*".to_string(),
            },
        );
    }
    let ports = list_with_more(&list, ports.len() > MAX, ports.len(), MAX);
    let addresses: Vec<String> = row
        .list("endpoints")
        .iter()
        .flat_map(|e| list_at(e, "addresses"))
        .filter_map(|a| a.as_str().map(str::to_string))
        .collect();
    let shown: Vec<String> = addresses.iter().take(MAX).cloned().collect();
    let endpoints = list_with_more(&shown, addresses.len() > MAX, addresses.len(), MAX);
    vec![
        row.name(),
        row.str("addressType").into(),
        ports.into(),
        endpoints.into(),
        row.age(),
    ]
}

const CSR: &[Column] = &[
    NAME,
    AGE,
    Column::string("SignerName", docs::CSR_SIGNER_NAME),
    Column::string("Requestor", docs::CSR_REQUEST),
    Column::string("RequestedDuration", docs::CSR_EXPIRATION),
    Column::string("Condition", docs::CSR_CONDITIONS),
];

fn csr(row: &Row) -> Vec<Value> {
    let kinds: BTreeSet<&str> = row
        .list("status.conditions")
        .iter()
        .map(|c| str_at(c, "type"))
        .collect();
    // Denied wins over Approved, as upstream orders them.
    let mut condition = if kinds.contains("Denied") {
        "Denied".to_string()
    } else if kinds.contains("Approved") {
        "Approved".to_string()
    } else {
        "Pending".to_string()
    };
    if kinds.contains("Failed") {
        condition.push_str(",Failed");
    }
    if !row.str("status.certificate").is_empty() {
        condition.push_str(",Issued");
    }
    let signer = match row.str("spec.signerName") {
        "" => "<none>",
        signer => signer,
    };
    let duration = int_at(row.object, "spec.expirationSeconds").map_or_else(
        || "<none>".to_string(),
        |seconds| human_duration(SignedDuration::from_secs(seconds)),
    );
    vec![
        row.name(),
        row.age(),
        signer.into(),
        row.str("spec.username").into(),
        duration.into(),
        condition.into(),
    ]
}

const WEBHOOK_CONFIGURATION: &[Column] = &[
    NAME,
    Column::integer(
        "Webhooks",
        "Webhooks indicates the number of webhooks registered in this configuration",
    ),
    AGE,
];

fn webhook_configuration(row: &Row) -> Vec<Value> {
    vec![row.name(), row.list("webhooks").len().into(), row.age()]
}
