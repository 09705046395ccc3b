//! Defaulting as upstream's `pkg/apis/*/v1/defaults.go` and the generated
//! defaulters, applied to the JSON object the API server stores. Fields
//! the client sent are never dropped; only missing ones are filled in.
//!
//! `apply_defaults` runs on every write, as upstream's decoder does.
//! `prepare_for_create` adds what upstream's registry strategies set once,
//! when an object is created.

mod apps;
mod core;
mod misc;
mod pod;

use serde_json::{Map, Value};

/// Fills in upstream's defaults for an object of `kind` in `group`.
pub fn apply_defaults(group: &str, kind: &str, object: &mut Value) {
    let Some(root) = object.as_object_mut() else {
        return;
    };
    match (group, kind) {
        ("", "Pod") => pod::pod(root),
        ("", "PodTemplate") => {
            if let Some(template) = child(root, "template") {
                pod::template(template);
            }
        }
        ("", "ReplicationController") => apps::replication_controller(root),
        ("", "Service") => core::service(root),
        ("", "Secret") => core::secret(root),
        ("", "Namespace") => core::namespace(root),
        ("", "Node") => core::node(root),
        ("", "PersistentVolume") => core::persistent_volume(root),
        ("", "PersistentVolumeClaim") => core::persistent_volume_claim(root),
        ("", "Endpoints") => core::endpoints(root),
        ("", "LimitRange") => core::limit_range(root),
        ("", "ResourceQuota") => core::resource_quota(root),
        ("apps", "Deployment") => apps::deployment(root),
        ("apps", "ReplicaSet") => apps::replica_set(root),
        ("apps", "DaemonSet") => apps::daemon_set(root),
        ("apps", "StatefulSet") => apps::stateful_set(root),
        ("batch", "Job") => apps::job(root),
        ("batch", "CronJob") => apps::cron_job(root),
        ("autoscaling", "HorizontalPodAutoscaler") => misc::hpa(root),
        ("networking.k8s.io", "NetworkPolicy") => misc::network_policy(root),
        ("storage.k8s.io", "StorageClass") => misc::storage_class(root),
        ("storage.k8s.io", "CSIDriver") => misc::csi_driver(root),
        ("discovery.k8s.io", "EndpointSlice") => misc::endpoint_slice(root),
        ("rbac.authorization.k8s.io", "RoleBinding" | "ClusterRoleBinding") => {
            misc::role_binding(root)
        }
        ("scheduling.k8s.io", "PriorityClass") => misc::priority_class(root),
        ("admissionregistration.k8s.io", "ValidatingWebhookConfiguration") => {
            misc::webhooks(root, false)
        }
        ("admissionregistration.k8s.io", "MutatingWebhookConfiguration") => {
            misc::webhooks(root, true)
        }
        ("apiextensions.k8s.io", "CustomResourceDefinition") => misc::crd(root),
        _ => {}
    }
}

/// What upstream's registry strategies set when an object is created:
/// a namespace's `kubernetes` finalizer and Active phase, a pod's Pending
/// phase and QoS class, and a Job's generated selector (which needs
/// `metadata.uid`, so call this after assigning it).
pub fn prepare_for_create(group: &str, kind: &str, object: &mut Value) {
    let Some(root) = object.as_object_mut() else {
        return;
    };
    match (group, kind) {
        ("", "Namespace") => core::namespace_on_create(root),
        ("", "Pod") => pod::pod_on_create(root),
        ("batch", "Job") => apps::job_selector(root),
        _ => {}
    }
}

/// The object at `key`, created empty when absent or null; `None` when
/// the field holds something other than an object.
fn child<'a>(map: &'a mut Map<String, Value>, key: &str) -> Option<&'a mut Map<String, Value>> {
    let entry = map.entry(key.to_string()).or_insert(Value::Null);
    if entry.is_null() {
        *entry = Value::Object(Map::new());
    }
    entry.as_object_mut()
}

/// The object at `key` if present; never creates it.
fn existing<'a>(map: &'a mut Map<String, Value>, key: &str) -> Option<&'a mut Map<String, Value>> {
    map.get_mut(key).and_then(Value::as_object_mut)
}

/// Each object in the list at `key`.
fn each<'a>(
    map: &'a mut Map<String, Value>,
    key: &str,
) -> impl Iterator<Item = &'a mut Map<String, Value>> {
    map.get_mut(key)
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
        .filter_map(Value::as_object_mut)
}

/// Sets `key` when it is absent or null.
fn default(map: &mut Map<String, Value>, key: &str, value: impl Into<Value>) {
    let missing = map.get(key).is_none_or(Value::is_null);
    if missing {
        map.insert(key.to_string(), value.into());
    }
}

/// Sets `key` when it is absent, null or an empty string, as Go treats a
/// zero-valued string field.
fn default_str(map: &mut Map<String, Value>, key: &str, value: &str) {
    let missing = map
        .get(key)
        .is_none_or(|v| v.is_null() || v.as_str() == Some(""));
    if missing {
        map.insert(key.to_string(), value.into());
    }
}

/// Sets a numeric field when absent, null or zero (Go's zero value).
fn default_nonzero(map: &mut Map<String, Value>, key: &str, value: i64) {
    let missing = map
        .get(key)
        .is_none_or(|v| v.is_null() || v.as_f64() == Some(0.0));
    if missing {
        map.insert(key.to_string(), value.into());
    }
}

fn is_empty(value: Option<&Value>) -> bool {
    match value {
        None | Some(Value::Null) => true,
        Some(Value::Object(m)) => m.is_empty(),
        Some(Value::Array(a)) => a.is_empty(),
        Some(Value::String(s)) => s.is_empty(),
        _ => false,
    }
}

/// Rewrites a resource list's quantities in upstream's canonical form,
/// rounded up to milli precision; unparseable values are left for
/// validation to report.
fn resource_list(map: &mut Map<String, Value>, key: &str) {
    let Some(list) = map.get_mut(key).and_then(Value::as_object_mut) else {
        return;
    };
    for value in list.values_mut() {
        if let Ok(q) = crate::validation::quantity::from_json(value) {
            *value = Value::String(q.round_up_to_milli().canonical());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn helpers_fill_only_missing_fields() {
        let mut m = json!({"a": "", "b": null, "c": 0, "d": "x"})
            .as_object()
            .cloned()
            .unwrap();
        default_str(&mut m, "a", "A");
        default(&mut m, "b", 1);
        default_nonzero(&mut m, "c", 3);
        default_str(&mut m, "d", "D");
        assert_eq!(
            Value::Object(m),
            json!({"a": "A", "b": 1, "c": 3, "d": "x"})
        );
    }

    #[test]
    fn non_objects_are_left_alone() {
        let mut v = json!([1, 2]);
        apply_defaults("", "Pod", &mut v);
        assert_eq!(v, json!([1, 2]));
        let mut v = json!({"spec": "oops"});
        apply_defaults("apps", "Deployment", &mut v);
        assert_eq!(v["spec"], json!("oops"));
    }
}
