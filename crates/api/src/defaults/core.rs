//! Core group defaults besides pods: Services, Secrets, Namespaces, Nodes,
//! volumes and claims, Endpoints, LimitRanges and ResourceQuotas.

use serde_json::{json, Map, Value};

use super::{child, default, default_str, each, existing, is_empty, resource_list};

pub fn service(root: &mut Map<String, Value>) {
    let Some(spec) = child(root, "spec") else {
        return;
    };
    default_str(spec, "sessionAffinity", "None");
    match spec.get("sessionAffinity").and_then(Value::as_str) {
        Some("None") => {
            spec.remove("sessionAffinityConfig");
        }
        Some("ClientIP") => {
            let has_timeout = spec
                .get("sessionAffinityConfig")
                .and_then(|c| c.pointer("/clientIP/timeoutSeconds"))
                .is_some_and(|t| !t.is_null());
            if !has_timeout {
                spec.insert(
                    "sessionAffinityConfig".into(),
                    json!({"clientIP": {"timeoutSeconds": 10800}}),
                );
            }
        }
        _ => {}
    }
    default_str(spec, "type", "ClusterIP");
    for port in each(spec, "ports") {
        default_str(port, "protocol", "TCP");
        let unset = match port.get("targetPort") {
            None | Some(Value::Null) => true,
            Some(Value::String(s)) => s.is_empty(),
            Some(v) => v.as_f64() == Some(0.0),
        };
        if unset {
            let number = port.get("port").cloned().unwrap_or(Value::from(0));
            port.insert("targetPort".into(), number);
        }
    }
    let kind = spec
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let has_external_ips = !is_empty(spec.get("externalIPs"));
    let externally_accessible =
        kind == "LoadBalancer" || kind == "NodePort" || (kind == "ClusterIP" && has_external_ips);
    if externally_accessible {
        default_str(spec, "externalTrafficPolicy", "Cluster");
    }
    if matches!(kind.as_str(), "NodePort" | "LoadBalancer" | "ClusterIP") {
        default(spec, "internalTrafficPolicy", "Cluster");
    }
    if kind == "LoadBalancer" {
        default(spec, "allocateLoadBalancerNodePorts", true);
    }
    if kind != "ExternalName" {
        // Kept in step as upstream's strategy does; one-family clusters.
        let cluster_ip = spec
            .get("clusterIP")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let first = spec
            .get("clusterIPs")
            .and_then(|v| v.get(0))
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        if !cluster_ip.is_empty() && first.is_empty() {
            spec.insert("clusterIPs".into(), json!([cluster_ip]));
        } else if cluster_ip.is_empty() && !first.is_empty() {
            spec.insert("clusterIP".into(), first.into());
        }
        default(spec, "ipFamilyPolicy", "SingleStack");
        if is_empty(spec.get("ipFamilies")) {
            let ip = spec.get("clusterIP").and_then(Value::as_str).unwrap_or("");
            let family = if ip.contains(':') { "IPv6" } else { "IPv4" };
            spec.insert("ipFamilies".into(), json!([family]));
        }
    }
}

const BASE64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn base64_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(BASE64[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// `type: Opaque`, and `stringData` folded into `data` as upstream's
/// conversion does: it is write-only and never stored.
pub fn secret(root: &mut Map<String, Value>) {
    default_str(root, "type", "Opaque");
    if let Some(Value::Object(strings)) = root.remove("stringData") {
        if let Some(data) = child(root, "data") {
            for (key, value) in strings {
                let text = value.as_str().unwrap_or("").as_bytes().to_vec();
                data.insert(key, base64_encode(&text).into());
            }
        }
    }
}

pub fn namespace(root: &mut Map<String, Value>) {
    let name = root
        .get("metadata")
        .and_then(|m| m.get("name"))
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    if !name.is_empty() {
        if let Some(labels) = child(root, "metadata").and_then(|m| child(m, "labels")) {
            labels.insert("kubernetes.io/metadata.name".into(), name.into());
        }
    }
    if let Some(status) = child(root, "status") {
        default_str(status, "phase", "Active");
    }
}

pub fn namespace_on_create(root: &mut Map<String, Value>) {
    if let Some(spec) = child(root, "spec") {
        let finalizers = spec.entry("finalizers").or_insert_with(|| json!([]));
        if let Some(list) = finalizers.as_array_mut() {
            if !list.iter().any(|f| f == "kubernetes") {
                list.push("kubernetes".into());
            }
        }
    }
    root.insert("status".into(), json!({"phase": "Active"}));
}

pub fn node(root: &mut Map<String, Value>) {
    let Some(status) = existing(root, "status") else {
        return;
    };
    if is_empty(status.get("allocatable")) {
        if let Some(capacity) = status.get("capacity").filter(|c| c.is_object()).cloned() {
            status.insert("allocatable".into(), capacity);
        }
    }
    resource_list(status, "capacity");
    resource_list(status, "allocatable");
}

pub fn persistent_volume(root: &mut Map<String, Value>) {
    if let Some(spec) = child(root, "spec") {
        default_str(spec, "persistentVolumeReclaimPolicy", "Retain");
        default(spec, "volumeMode", "Filesystem");
        resource_list(spec, "capacity");
        if let Some(host) = existing(spec, "hostPath") {
            default(host, "type", "");
        }
    }
    if let Some(status) = child(root, "status") {
        default_str(status, "phase", "Pending");
    }
}

/// `SetDefaults_PersistentVolumeClaimSpec` and its resource lists.
pub fn claim_spec(spec: &mut Map<String, Value>) {
    default(spec, "volumeMode", "Filesystem");
    if let Some(resources) = existing(spec, "resources") {
        resource_list(resources, "limits");
        resource_list(resources, "requests");
    }
}

pub fn persistent_volume_claim(root: &mut Map<String, Value>) {
    if let Some(spec) = child(root, "spec") {
        claim_spec(spec);
    }
    if let Some(status) = child(root, "status") {
        default_str(status, "phase", "Pending");
        resource_list(status, "capacity");
    }
}

pub fn endpoints(root: &mut Map<String, Value>) {
    for subset in each(root, "subsets") {
        for port in each(subset, "ports") {
            default_str(port, "protocol", "TCP");
        }
    }
}

pub fn limit_range(root: &mut Map<String, Value>) {
    let Some(spec) = existing(root, "spec") else {
        return;
    };
    for item in each(spec, "limits") {
        if item.get("type").and_then(Value::as_str) == Some("Container") {
            let max = item
                .get("max")
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default();
            let min = item
                .get("min")
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default();
            if let Some(defaults) = child(item, "default") {
                for (k, v) in max {
                    defaults.entry(k).or_insert(v);
                }
            }
            let defaults = item
                .get("default")
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default();
            if let Some(requests) = child(item, "defaultRequest") {
                for (k, v) in defaults.into_iter().chain(min) {
                    requests.entry(k).or_insert(v);
                }
            }
        }
        for list in [
            "max",
            "min",
            "default",
            "defaultRequest",
            "maxLimitRequestRatio",
        ] {
            resource_list(item, list);
        }
    }
}

pub fn resource_quota(root: &mut Map<String, Value>) {
    if let Some(spec) = existing(root, "spec") {
        resource_list(spec, "hard");
    }
    if let Some(status) = existing(root, "status") {
        resource_list(status, "hard");
        resource_list(status, "used");
    }
}

#[cfg(test)]
mod tests {
    use crate::defaults::{apply_defaults, prepare_for_create};
    use serde_json::json;

    #[test]
    fn services() {
        let mut s = json!({"spec": {"type": "NodePort", "ports": [{"port": 80}, {"port": 443, "targetPort": "https"}], "clusterIP": "10.43.0.5"}});
        apply_defaults("", "Service", &mut s);
        assert_eq!(
            s["spec"]["ports"][0],
            json!({"port": 80, "protocol": "TCP", "targetPort": 80})
        );
        assert_eq!(s["spec"]["ports"][1]["targetPort"], "https");
        assert_eq!(s["spec"]["sessionAffinity"], "None");
        assert_eq!(s["spec"]["externalTrafficPolicy"], "Cluster");
        assert_eq!(s["spec"]["internalTrafficPolicy"], "Cluster");
        assert_eq!(s["spec"]["clusterIPs"], json!(["10.43.0.5"]));
        assert_eq!(s["spec"]["ipFamilies"], json!(["IPv4"]));
        assert_eq!(s["spec"]["ipFamilyPolicy"], "SingleStack");
        let mut e = json!({"spec": {"type": "ExternalName", "externalName": "example.com"}});
        apply_defaults("", "Service", &mut e);
        assert!(e["spec"].get("ipFamilies").is_none());
        assert!(e["spec"].get("internalTrafficPolicy").is_none());
    }

    #[test]
    fn secrets_fold_string_data() {
        let mut s = json!({"stringData": {"user": "admin"}, "data": {"a": "YQ=="}});
        apply_defaults("", "Secret", &mut s);
        assert_eq!(
            s,
            json!({"type": "Opaque", "data": {"a": "YQ==", "user": "YWRtaW4="}})
        );
    }

    #[test]
    fn namespaces() {
        let mut n = json!({"metadata": {"name": "dev"}});
        apply_defaults("", "Namespace", &mut n);
        prepare_for_create("", "Namespace", &mut n);
        assert_eq!(
            n,
            json!({"metadata": {"name": "dev", "labels": {"kubernetes.io/metadata.name": "dev"}},
            "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}})
        );
    }

    #[test]
    fn volumes_and_claims() {
        let mut pv =
            json!({"spec": {"capacity": {"storage": "1024Mi"}, "hostPath": {"path": "/d"}}});
        apply_defaults("", "PersistentVolume", &mut pv);
        assert_eq!(
            pv,
            json!({"spec": {"capacity": {"storage": "1Gi"}, "hostPath": {"path": "/d", "type": ""},
            "persistentVolumeReclaimPolicy": "Retain", "volumeMode": "Filesystem"}, "status": {"phase": "Pending"}})
        );
        let mut pvc = json!({"spec": {"resources": {"requests": {"storage": "1Gi"}}}});
        apply_defaults("", "PersistentVolumeClaim", &mut pvc);
        assert_eq!(pvc["spec"]["volumeMode"], "Filesystem");
        assert_eq!(pvc["status"]["phase"], "Pending");
    }

    #[test]
    fn limit_ranges() {
        let mut lr = json!({"spec": {"limits": [{"type": "Container", "max": {"cpu": "2"}, "min": {"memory": "64Mi"}}]}});
        apply_defaults("", "LimitRange", &mut lr);
        let item = &lr["spec"]["limits"][0];
        assert_eq!(item["default"], json!({"cpu": "2"}));
        assert_eq!(
            item["defaultRequest"],
            json!({"cpu": "2", "memory": "64Mi"})
        );
    }
}
