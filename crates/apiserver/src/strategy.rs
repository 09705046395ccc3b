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
/// allow; spec and the rest of metadata stay as they were.
pub fn prepare_for_status_update(resource: &Resource, new: &mut Value, old: &Value) {
    let status = new.get("status").cloned();
    let mut kept = vec!["annotations"];
    if resource.group.is_empty() && resource.plural == "pods" {
        kept.push("labels");
    }
    let metadata: Vec<(&str, Option<Value>)> = kept
        .into_iter()
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

pub fn apply_defaults(resource: &Resource, object: &mut Value) {
    capstan_api::defaults::apply_defaults(resource.group, resource.kind, object);
}

pub fn validate_create(resource: &Resource, object: &Value) -> Vec<FieldError> {
    capstan_api::validation::validate_create(resource.group, resource.kind, object)
}

pub fn validate_update(resource: &Resource, new: &Value, old: &Value) -> Vec<FieldError> {
    capstan_api::validation::validate_update(resource.group, resource.kind, new, old)
}
