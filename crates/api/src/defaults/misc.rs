//! Defaults of the smaller groups: autoscaling, networking, storage,
//! discovery, RBAC, scheduling, admission webhooks and CRDs.

use serde_json::{json, Map, Value};

use super::{child, default, default_str, each, existing, is_empty};

/// autoscaling/v1 and v2 share a kind; the stored apiVersion tells which
/// defaults apply.
pub fn hpa(root: &mut Map<String, Value>) {
    let v1 = root.get("apiVersion").and_then(Value::as_str) == Some("autoscaling/v1");
    let Some(spec) = child(root, "spec") else {
        return;
    };
    default(spec, "minReplicas", 1);
    if v1 {
        return;
    }
    if is_empty(spec.get("metrics")) {
        spec.insert(
            "metrics".into(),
            json!([{"type": "Resource", "resource": {"name": "cpu",
                "target": {"type": "Utilization", "averageUtilization": 80}}}]),
        );
    }
    if let Some(behavior) = existing(spec, "behavior") {
        if let Some(up) = child(behavior, "scaleUp") {
            default(up, "stabilizationWindowSeconds", 0);
            default(up, "selectPolicy", "Max");
            default(
                up,
                "policies",
                json!([{"type": "Pods", "value": 4, "periodSeconds": 15},
                       {"type": "Percent", "value": 100, "periodSeconds": 15}]),
            );
        }
        if let Some(down) = child(behavior, "scaleDown") {
            default(down, "selectPolicy", "Max");
            default(
                down,
                "policies",
                json!([{"type": "Percent", "value": 100, "periodSeconds": 15}]),
            );
        }
    }
}

pub fn network_policy(root: &mut Map<String, Value>) {
    let Some(spec) = child(root, "spec") else {
        return;
    };
    for direction in ["ingress", "egress"] {
        for rule in each(spec, direction) {
            for port in each(rule, "ports") {
                default(port, "protocol", "TCP");
            }
        }
    }
    if is_empty(spec.get("policyTypes")) {
        let mut types = vec![Value::from("Ingress")];
        if !is_empty(spec.get("egress")) {
            types.push("Egress".into());
        }
        spec.insert("policyTypes".into(), Value::Array(types));
    }
}

pub fn storage_class(root: &mut Map<String, Value>) {
    default(root, "reclaimPolicy", "Delete");
    default(root, "volumeBindingMode", "Immediate");
}

pub fn csi_driver(root: &mut Map<String, Value>) {
    let Some(spec) = child(root, "spec") else {
        return;
    };
    default(spec, "attachRequired", true);
    default(spec, "podInfoOnMount", false);
    default(spec, "storageCapacity", false);
    default(spec, "fsGroupPolicy", "ReadWriteOnceWithFSType");
    default(spec, "requiresRepublish", false);
    default(spec, "seLinuxMount", false);
    if is_empty(spec.get("volumeLifecycleModes")) {
        spec.insert("volumeLifecycleModes".into(), json!(["Persistent"]));
    }
}

pub fn endpoint_slice(root: &mut Map<String, Value>) {
    for port in each(root, "ports") {
        default(port, "name", "");
        default(port, "protocol", "TCP");
    }
}

pub fn role_binding(root: &mut Map<String, Value>) {
    if let Some(role_ref) = existing(root, "roleRef") {
        default_str(role_ref, "apiGroup", "rbac.authorization.k8s.io");
    }
    for subject in each(root, "subjects") {
        let kind = subject.get("kind").and_then(Value::as_str).unwrap_or("");
        if kind == "User" || kind == "Group" {
            default_str(subject, "apiGroup", "rbac.authorization.k8s.io");
        }
    }
}

pub fn priority_class(root: &mut Map<String, Value>) {
    default(root, "preemptionPolicy", "PreemptLowerPriority");
}

pub fn webhooks(root: &mut Map<String, Value>, mutating: bool) {
    for hook in each(root, "webhooks") {
        default(hook, "failurePolicy", "Fail");
        default(hook, "matchPolicy", "Equivalent");
        default(hook, "namespaceSelector", json!({}));
        default(hook, "objectSelector", json!({}));
        default(hook, "timeoutSeconds", 10);
        if mutating {
            default(hook, "reinvocationPolicy", "Never");
        }
        for rule in each(hook, "rules") {
            default(rule, "scope", "*");
        }
        if let Some(service) = existing(hook, "clientConfig").and_then(|c| existing(c, "service")) {
            default(service, "port", 443);
        }
    }
}

pub fn crd(root: &mut Map<String, Value>) {
    let Some(spec) = child(root, "spec") else {
        return;
    };
    if let Some(names) = existing(spec, "names") {
        let kind = names
            .get("kind")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        default_str(names, "singular", &kind.to_lowercase());
        if !kind.is_empty() {
            default_str(names, "listKind", &format!("{kind}List"));
        }
    }
    if let Some(conversion) = child(spec, "conversion") {
        default_str(conversion, "strategy", "None");
        if let Some(service) = existing(conversion, "webhook")
            .and_then(|w| existing(w, "clientConfig"))
            .and_then(|c| existing(c, "service"))
        {
            default(service, "port", 443);
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::defaults::apply_defaults;
    use serde_json::json;

    #[test]
    fn small_groups() {
        let mut hpa = json!({"apiVersion": "autoscaling/v2", "spec": {"behavior": {"scaleDown": {"stabilizationWindowSeconds": 60}}}});
        apply_defaults("autoscaling", "HorizontalPodAutoscaler", &mut hpa);
        assert_eq!(hpa["spec"]["minReplicas"], 1);
        assert_eq!(
            hpa["spec"]["metrics"][0]["resource"]["target"]["averageUtilization"],
            80
        );
        assert_eq!(
            hpa["spec"]["behavior"]["scaleDown"]["stabilizationWindowSeconds"],
            60
        );
        assert_eq!(
            hpa["spec"]["behavior"]["scaleUp"]["policies"][0]["value"],
            4
        );

        let mut np = json!({"spec": {"egress": [{"ports": [{"port": 53}]}]}});
        apply_defaults("networking.k8s.io", "NetworkPolicy", &mut np);
        assert_eq!(np["spec"]["policyTypes"], json!(["Ingress", "Egress"]));
        assert_eq!(np["spec"]["egress"][0]["ports"][0]["protocol"], "TCP");

        let mut rb = json!({"roleRef": {"kind": "Role", "name": "r"}, "subjects": [{"kind": "User", "name": "u"}, {"kind": "ServiceAccount", "name": "s"}]});
        apply_defaults("rbac.authorization.k8s.io", "RoleBinding", &mut rb);
        assert_eq!(rb["roleRef"]["apiGroup"], "rbac.authorization.k8s.io");
        assert_eq!(rb["subjects"][0]["apiGroup"], "rbac.authorization.k8s.io");
        assert!(rb["subjects"][1].get("apiGroup").is_none());

        let mut wh = json!({"webhooks": [{"name": "a.b.c", "clientConfig": {"service": {"name": "s", "namespace": "n"}}, "rules": [{}]}]});
        apply_defaults(
            "admissionregistration.k8s.io",
            "MutatingWebhookConfiguration",
            &mut wh,
        );
        let hook = &wh["webhooks"][0];
        assert_eq!(
            (
                hook["failurePolicy"].clone(),
                hook["timeoutSeconds"].clone(),
                hook["reinvocationPolicy"].clone()
            ),
            (json!("Fail"), json!(10), json!("Never"))
        );
        assert_eq!(hook["clientConfig"]["service"]["port"], 443);
        assert_eq!(hook["rules"][0]["scope"], "*");

        let mut crd = json!({"spec": {"names": {"kind": "Widget", "plural": "widgets"}}});
        apply_defaults("apiextensions.k8s.io", "CustomResourceDefinition", &mut crd);
        assert_eq!(crd["spec"]["names"]["singular"], "widget");
        assert_eq!(crd["spec"]["names"]["listKind"], "WidgetList");
        assert_eq!(crd["spec"]["conversion"], json!({"strategy": "None"}));

        let mut sc = json!({"provisioner": "x"});
        apply_defaults("storage.k8s.io", "StorageClass", &mut sc);
        assert_eq!(
            (sc["reclaimPolicy"].clone(), sc["volumeBindingMode"].clone()),
            (json!("Delete"), json!("Immediate"))
        );
    }
}
