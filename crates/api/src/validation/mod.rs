//! Validation as upstream's `pkg/apis/*/validation`, on the JSON object
//! the API server stores (after defaulting). Messages and field paths are
//! upstream's, so kubectl prints what it prints against a real cluster.
//!
//! The namespace of an object, `resourceVersion` on update and allocated
//! values (cluster IPs, node ports) are the server's business and are not
//! checked here.

mod apps;
mod batch;
mod container;
mod core;
mod crd;
mod cron;
mod ephemeral;
mod meta;
mod misc;
mod names;
mod networking;
mod path;
mod pod;
mod pod_extra;
mod pod_failure_policy;
mod pod_update;
pub mod quantity;
mod rbac;
mod resources;
mod security;
mod service;
mod storage;
mod volume;

use serde_json::Value;

use crate::status::FieldError;
use meta::{validate_object_meta, validate_object_meta_update, NameRule};

pub use self::core::{base64_decode, MAX_SECRET_SIZE};
pub use meta::ANNOTATIONS_MAX_BYTES;
pub use names::{is_dns1123_label, is_dns1123_subdomain, is_qualified_name, is_valid_label_value};

/// Validates an object about to be created. `group` is the API group
/// (`""` for core), `kind` the object's kind.
pub fn validate_create(group: &str, kind: &str, object: &Value) -> Vec<FieldError> {
    dedup(create(group, kind, object))
}

/// Validates an update of `old` into `new`, including the fields upstream
/// keeps immutable.
pub fn validate_update(group: &str, kind: &str, new: &Value, old: &Value) -> Vec<FieldError> {
    dedup(update(group, kind, new, old))
}

/// Validates a write to a subresource that has rules of its own
/// (`pods/ephemeralcontainers`); other subresources are validated as an
/// update of the object.
pub fn validate_subresource_update(
    group: &str,
    kind: &str,
    subresource: &str,
    new: &Value,
    old: &Value,
) -> Vec<FieldError> {
    match (group, kind, subresource) {
        ("", "Pod", "ephemeralcontainers") => dedup(
            ephemeral::validate_pod_ephemeral_containers_update(new, old),
        ),
        _ => validate_update(group, kind, new, old),
    }
}

/// Upstream drops causes whose text repeats an earlier one.
fn dedup(errors: Vec<FieldError>) -> Vec<FieldError> {
    let mut seen = std::collections::HashSet::new();
    errors
        .into_iter()
        .filter(|e| seen.insert(e.to_string()))
        .collect()
}

fn is_events_v1(object: &Value) -> bool {
    object.get("apiVersion").and_then(Value::as_str) == Some("events.k8s.io/v1")
}

fn create(group: &str, kind: &str, o: &Value) -> Vec<FieldError> {
    match (group, kind) {
        ("", "Pod") => pod::validate_pod_create(o),
        ("", "Service") => service::validate_service(o),
        ("", "Endpoints") => service::validate_endpoints(o),
        ("", "ConfigMap") => core::validate_config_map(o),
        ("", "Secret") => core::validate_secret(o),
        ("", "Namespace") => core::validate_namespace(o),
        ("", "Node") => core::validate_node(o),
        ("", "ServiceAccount") => core::validate_service_account(o),
        ("", "LimitRange") => core::validate_limit_range(o),
        ("", "ResourceQuota") => core::validate_resource_quota(o),
        ("", "ReplicationController") => core::validate_replication_controller(o),
        ("", "PodTemplate") => core::validate_pod_template(o),
        ("", "Event") => core::validate_event(o),
        ("", "PersistentVolume") => storage::validate_pv(o),
        ("", "PersistentVolumeClaim") => storage::validate_pvc(o),
        ("apps", "Deployment") => apps::validate_deployment(o),
        ("apps", "ReplicaSet") => apps::validate_replica_set(o),
        ("apps", "DaemonSet") => apps::validate_daemon_set(o),
        ("apps", "StatefulSet") => apps::validate_stateful_set(o),
        ("apps", "ControllerRevision") => apps::validate_controller_revision(o),
        ("batch", "Job") => batch::validate_job(o),
        ("batch", "CronJob") => batch::validate_cron_job(o),
        ("autoscaling", "HorizontalPodAutoscaler") => misc::validate_hpa(o),
        ("policy", "PodDisruptionBudget") => misc::validate_pdb(o),
        ("networking.k8s.io", "Ingress") => networking::validate_ingress(o),
        ("networking.k8s.io", "IngressClass") => networking::validate_ingress_class(o),
        ("networking.k8s.io", "NetworkPolicy") => networking::validate_network_policy(o),
        ("storage.k8s.io", "StorageClass") => storage::validate_storage_class(o),
        ("storage.k8s.io", "CSIDriver") => storage::validate_csi_driver(o),
        ("storage.k8s.io", "CSINode") => storage::validate_csi_node(o),
        ("storage.k8s.io", "VolumeAttachment") => storage::validate_volume_attachment(o),
        ("rbac.authorization.k8s.io", "Role") => rbac::validate_role(o, true),
        ("rbac.authorization.k8s.io", "ClusterRole") => rbac::validate_role(o, false),
        ("rbac.authorization.k8s.io", "RoleBinding") => rbac::validate_binding(o, true),
        ("rbac.authorization.k8s.io", "ClusterRoleBinding") => rbac::validate_binding(o, false),
        ("coordination.k8s.io", "Lease") => misc::validate_lease(o),
        ("scheduling.k8s.io", "PriorityClass") => misc::validate_priority_class(o),
        ("discovery.k8s.io", "EndpointSlice") => misc::validate_endpoint_slice(o),
        ("events.k8s.io", "Event") if is_events_v1(o) => misc::validate_events_v1(o),
        ("events.k8s.io", "Event") => core::validate_event(o),
        ("certificates.k8s.io", "CertificateSigningRequest") => misc::validate_csr(o),
        ("admissionregistration.k8s.io", "ValidatingWebhookConfiguration") => {
            misc::validate_webhook_configuration(o, false)
        }
        ("admissionregistration.k8s.io", "MutatingWebhookConfiguration") => {
            misc::validate_webhook_configuration(o, true)
        }
        ("apiextensions.k8s.io", "CustomResourceDefinition") => crd::validate_crd(o),
        _ => validate_object_meta(o, NameRule::Subdomain),
    }
}

fn update(group: &str, kind: &str, new: &Value, old: &Value) -> Vec<FieldError> {
    let with_meta = |errors: Vec<FieldError>| {
        let mut all = validate_object_meta_update(new, old);
        all.extend(
            errors
                .into_iter()
                .filter(|e| !e.field.starts_with("metadata.name")),
        );
        all
    };
    match (group, kind) {
        ("", "Pod") => pod_update::validate_pod_update(new, old),
        ("", "Service") => service::validate_service_update(new, old),
        ("", "ConfigMap") => core::validate_config_map_update(new, old),
        ("", "Secret") => core::validate_secret_update(new, old),
        ("", "Node") => core::validate_node_update(new, old),
        ("", "Namespace") => validate_object_meta_update(new, old),
        ("", "PersistentVolume") => storage::validate_pv_update(new, old),
        ("", "PersistentVolumeClaim") => storage::validate_pvc_update(new, old),
        ("", "Event") => core::validate_event(new),
        ("", "ResourceQuota") => {
            let mut errs = with_meta(create(group, kind, new));
            let scopes = |o: &Value| {
                let mut v: Vec<String> = path::arr(path::dig_or_null(o, &["spec"]), "scopes")
                    .iter()
                    .filter_map(|s| s.as_str().map(str::to_string))
                    .collect();
                v.sort();
                v.dedup();
                v
            };
            if scopes(new) != scopes(old) {
                errs.push(
                    path::Path::new("spec.scopes")
                        .invalid_shown("[]core.ResourceQuotaScope{...}", meta::IMMUTABLE),
                );
            }
            errs
        }
        ("apps", "Deployment") => apps::validate_deployment_update(new, old),
        ("apps", "ReplicaSet") => apps::validate_replica_set_update(new, old),
        ("apps", "DaemonSet") => apps::validate_daemon_set_update(new, old),
        ("apps", "StatefulSet") => apps::validate_stateful_set_update(new, old),
        ("apps", "ControllerRevision") => apps::validate_controller_revision_update(new, old),
        ("batch", "Job") => batch::validate_job_update(new, old),
        ("batch", "CronJob") => batch::validate_cron_job_update(new, old),
        ("networking.k8s.io", "IngressClass") => {
            networking::validate_ingress_class_update(new, old)
        }
        ("storage.k8s.io", "StorageClass") => storage::validate_storage_class_update(new, old),
        ("rbac.authorization.k8s.io", "RoleBinding") => {
            rbac::validate_binding_update(new, old, true)
        }
        ("rbac.authorization.k8s.io", "ClusterRoleBinding") => {
            rbac::validate_binding_update(new, old, false)
        }
        ("scheduling.k8s.io", "PriorityClass") => misc::validate_priority_class_update(new, old),
        ("discovery.k8s.io", "EndpointSlice") => misc::validate_endpoint_slice_update(new, old),
        ("apiextensions.k8s.io", "CustomResourceDefinition") => crd::validate_crd_update(new, old),
        ("storage.k8s.io", "VolumeAttachment") => {
            let mut errs = with_meta(create(group, kind, new));
            if !path::same(
                path::dig_or_null(new, &["spec"]),
                path::dig_or_null(old, &["spec"]),
            ) {
                errs.push(
                    path::Path::new("spec")
                        .invalid_shown("storage.VolumeAttachmentSpec{...}", meta::IMMUTABLE),
                );
            }
            errs
        }
        _ => with_meta(create(group, kind, new)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::ApiError;
    use serde_json::json;

    #[test]
    fn kubectl_reads_upstreams_message() {
        let mut pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "Web"},
            "spec": {"containers": [{"name": "c"}]}});
        crate::defaults::apply_defaults("", "Pod", &mut pod);
        let errors = validate_create("", "Pod", &pod);
        let error = ApiError::invalid("", "Pod", "Web", errors);
        assert_eq!(error.message, "Pod \"Web\" is invalid: [metadata.name: Invalid value: \"Web\": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*'), spec.containers[0].image: Required value]");
    }

    #[test]
    fn unknown_kinds_get_metadata_checks() {
        let errs = validate_create("example.com", "Widget", &json!({"metadata": {}}));
        assert_eq!(errs.len(), 1);
        assert!(validate_update(
            "example.com",
            "Widget",
            &json!({"metadata": {"name": "a"}}),
            &json!({"metadata": {"name": "a"}})
        )
        .is_empty());
    }

    #[test]
    fn nothing_panics_on_odd_shapes() {
        for kind in [
            "Pod",
            "Service",
            "ConfigMap",
            "Secret",
            "Namespace",
            "Node",
            "PersistentVolume",
            "PersistentVolumeClaim",
            "ReplicationController",
        ] {
            for odd in [
                json!(null),
                json!([]),
                json!({"spec": 5, "metadata": "x"}),
                json!({"spec": {"containers": "x", "ports": {}}}),
            ] {
                let _ = validate_create("", kind, &odd);
                let _ = validate_update("", kind, &odd, &odd);
            }
        }
        for (group, kind) in [
            ("apps", "Deployment"),
            ("apps", "StatefulSet"),
            ("batch", "Job"),
            ("batch", "CronJob"),
            ("networking.k8s.io", "Ingress"),
            ("apiextensions.k8s.io", "CustomResourceDefinition"),
        ] {
            for odd in [
                json!(null),
                json!({"spec": {"template": [], "selector": 3}}),
            ] {
                let _ = validate_create(group, kind, &odd);
                let _ = validate_update(group, kind, &odd, &odd);
            }
        }
    }
}
