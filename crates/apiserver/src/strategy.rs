//! What differs between resources on the generic write path, as upstream's
//! per-resource strategies: what a create resets, how spec and status writes
//! are kept apart, when the generation moves, and the defaulting and
//! validation of `capstan_api`.

use capstan_api::{FieldError, Resource};
use serde_json::Value;

use crate::object;

/// Kinds whose `metadata.generation` follows changes of their spec.
const GENERATION_KINDS: &[&str] = &[
    "Deployment",
    "ReplicaSet",
    "DaemonSet",
    "StatefulSet",
    "ReplicationController",
    "Job",
    "CronJob",
    "HorizontalPodAutoscaler",
    "PodDisruptionBudget",
    "Ingress",
    "IngressClass",
    "NetworkPolicy",
    "CustomResourceDefinition",
    "ValidatingWebhookConfiguration",
    "MutatingWebhookConfiguration",
];

/// Kinds a PUT may create when the object does not exist yet.
const CREATE_ON_UPDATE_KINDS: &[&str] = &["Endpoints", "Lease", "Node", "Event"];

pub fn uses_generation(resource: &Resource) -> bool {
    GENERATION_KINDS.contains(&resource.kind)
}

pub fn allow_create_on_update(resource: &Resource) -> bool {
    CREATE_ON_UPDATE_KINDS.contains(&resource.kind)
}

/// Readies a new object: what the client may not set is reset. Kind
/// specific starting states (a pod's phase and QoS class, a namespace's
/// finalizer) come from `finish_create`, after defaulting.
pub fn prepare_for_create(resource: &Resource, object: &mut Value) {
    if uses_generation(resource) {
        object::set_meta(object, "generation", 1);
    } else {
        object::remove_meta(object, "generation");
    }
    // Nodes register with their status.
    if resource.has_subresource("status") && resource.kind != "Node" {
        if let Some(map) = object.as_object_mut() {
            map.remove("status");
        }
    }
}

/// Upstream's create-time strategy of each kind, once defaults are in.
pub fn finish_create(resource: &Resource, object: &mut Value) {
    capstan_api::defaults::prepare_for_create(resource.group, resource.kind, object);
}

/// Readies an update of the main resource: its status is not changed
/// through it, and a changed spec moves the generation.
pub fn prepare_for_update(resource: &Resource, new: &mut Value, old: &Value) {
    if resource.has_subresource("status") && resource.kind != "Node" {
        match old.get("status") {
            Some(status) => new["status"] = status.clone(),
            None => {
                if let Some(map) = new.as_object_mut() {
                    map.remove("status");
                }
            }
        }
    }
    let generation = old
        .get("metadata")
        .and_then(|m| m.get("generation"))
        .cloned();
    match generation {
        Some(Value::Number(generation)) if uses_generation(resource) => {
            let generation = generation.as_i64().unwrap_or(1);
            let bumped = if object::spec_part(new) != object::spec_part(old) {
                generation + 1
            } else {
                generation
            };
            object::set_meta(new, "generation", bumped);
        }
        _ => object::remove_meta(new, "generation"),
    }
}

/// Readies a write to the status subresource: the status changes, and so
/// may annotations (and a pod's labels), as upstream's status strategies
/// allow; spec and the rest of metadata stay as they were, but for the
/// `managedFields` an apply has recorded.
pub fn prepare_for_status_update(resource: &Resource, new: &mut Value, old: &Value) {
    let status = new.get("status").cloned();
    let mut kept = vec!["annotations"];
    if resource.group.is_empty() && resource.plural == "pods" {
        kept.push("labels");
    }
    let metadata: Vec<(&str, Option<Value>)> = kept
        .into_iter()
        .chain(["managedFields"])
        .map(|field| (field, new.pointer(&format!("/metadata/{field}")).cloned()))
        .collect();
    *new = old.clone();
    for (field, value) in metadata {
        match value {
            Some(value) => object::set_meta(new, field, value),
            None => object::remove_meta(new, field),
        }
    }
    match status {
        Some(status) => new["status"] = status,
        None => {
            if let Some(map) = new.as_object_mut() {
                map.remove("status");
            }
        }
    }
}

/// Readies a write to `pods/ephemeralcontainers`: only
/// `spec.ephemeralContainers` is taken from the write; metadata, the rest
/// of the spec and the status stay as they were, as upstream's
/// `EphemeralContainersStrategy`.
pub fn prepare_for_ephemeral_containers_update(new: &mut Value, old: &Value) {
    let wanted = new
        .get("spec")
        .and_then(|spec| spec.get("ephemeralContainers"))
        .filter(|list| !list.is_null())
        .cloned();
    // An apply has recorded its fields already (other writes are recorded
    // later, from the old object's entries).
    let managed = new.pointer("/metadata/managedFields").cloned();
    *new = old.clone();
    match managed {
        Some(managed) => object::set_meta(new, "managedFields", managed),
        None => object::remove_meta(new, "managedFields"),
    }
    let Some(spec) = new.get_mut("spec").and_then(Value::as_object_mut) else {
        return;
    };
    match wanted {
        Some(list) => spec.insert("ephemeralContainers".into(), list),
        None => spec.remove("ephemeralContainers"),
    };
}

pub fn apply_defaults(resource: &Resource, object: &mut Value) {
    capstan_api::defaults::apply_defaults(resource.group, resource.kind, object);
}

pub fn validate_create(resource: &Resource, object: &Value) -> Vec<FieldError> {
    capstan_api::validation::validate_create(resource.group, resource.kind, object)
}

/// The validation of an update of the object, or of a write to one of its
/// subresources.
pub fn validate_update(
    resource: &Resource,
    subresource: Option<&str>,
    new: &Value,
    old: &Value,
) -> Vec<FieldError> {
    match subresource {
        Some(subresource) => capstan_api::validation::validate_subresource_update(
            resource.group,
            resource.kind,
            subresource,
            new,
            old,
        ),
        None => capstan_api::validation::validate_update(resource.group, resource.kind, new, old),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pods() -> &'static Resource {
        capstan_api::resource::find("", "v1", "pods").unwrap()
    }

    fn pod() -> Value {
        json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "p", "labels": {"app": "p"}, "managedFields": [{"manager": "old"}]},
            "spec": {"containers": [{"name": "app", "image": "nginx"}]},
            "status": {"phase": "Running"}})
    }

    #[test]
    fn an_ephemeral_containers_write_changes_only_those() {
        let old = pod();
        let mut new = json!({"metadata": {"name": "p", "labels": {"app": "x"},
                "managedFields": [{"manager": "applier"}]},
            "spec": {"containers": [], "ephemeralContainers": [{"name": "d", "image": "busybox"}]},
            "status": {"phase": "Failed"}});
        prepare_for_ephemeral_containers_update(&mut new, &old);
        let mut expected = old.clone();
        expected["spec"]["ephemeralContainers"] = json!([{"name": "d", "image": "busybox"}]);
        expected["metadata"]["managedFields"] = json!([{"manager": "applier"}]);
        assert_eq!(new, expected);

        let mut without = json!({"spec": {}});
        prepare_for_ephemeral_containers_update(&mut without, &expected);
        assert!(without["spec"].get("ephemeralContainers").is_none());
        assert!(without["metadata"].get("managedFields").is_none());
    }

    #[test]
    fn a_status_write_keeps_the_fields_an_apply_recorded() {
        let old = pod();
        let mut new = pod();
        new["status"]["phase"] = "Succeeded".into();
        new["spec"]["containers"][0]["image"] = "other".into();
        new["metadata"]["managedFields"] = json!([{"manager": "applier"}]);
        prepare_for_status_update(pods(), &mut new, &old);
        assert_eq!(new["status"]["phase"], "Succeeded");
        assert_eq!(new["spec"], old["spec"]);
        assert_eq!(
            new["metadata"]["managedFields"],
            json!([{"manager": "applier"}])
        );
    }
}
