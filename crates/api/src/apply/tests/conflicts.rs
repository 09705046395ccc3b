//! Conflicts between managers, forcing, and the bridge from client-side
//! apply.

use serde_json::{json, Value};

use super::{deployment, entry, fields, managers, stored, LATER, NOW};
use crate::apply::{apply, record_update};

const CSA: &str = "kubectl-client-side-apply";
const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// A Deployment created by `kubectl apply` (client-side) from `config`.
fn client_side_applied(config: &Value) -> Value {
    let mut object = stored(config.clone());
    let annotation = format!("{}\n", serde_json::to_string(config).unwrap());
    object["metadata"]["annotations"] = json!({LAST_APPLIED: annotation});
    record_update("apps", "Deployment", None, &mut object, CSA, None, NOW);
    object
}

#[test]
fn changing_a_field_another_manager_owns_is_a_conflict() {
    let live = client_side_applied(&deployment("nginx:1.26", 2));
    let error = apply(
        "apps",
        "Deployment",
        Some(&live),
        &deployment("nginx:1.26", 3),
        "other",
        false,
        LATER,
    )
    .unwrap_err();
    assert_eq!(error.code, 409);
    assert_eq!(error.reason, "Conflict");
    assert_eq!(
        error.message,
        r#"Apply failed with 1 conflict: conflict with "kubectl-client-side-apply" using apps/v1: .spec.replicas"#
    );
    let status = error.to_status();
    assert_eq!(status["code"], 409);
    assert_eq!(status["reason"], "Conflict");
}

#[test]
fn setting_the_same_value_shares_the_field() {
    let live = client_side_applied(&deployment("nginx:1.26", 2));
    let shared = apply(
        "apps",
        "Deployment",
        Some(&live),
        &deployment("nginx:1.26", 2),
        "other",
        false,
        LATER,
    )
    .unwrap();
    assert!(fields(&shared, "other")["f:spec"]
        .get("f:replicas")
        .is_some());
    assert!(fields(&shared, CSA)["f:spec"].get("f:replicas").is_some());
}

#[test]
fn force_takes_the_field_over() {
    let live = client_side_applied(&deployment("nginx:1.26", 2));
    let forced = apply(
        "apps",
        "Deployment",
        Some(&live),
        &deployment("nginx:1.26", 3),
        "other",
        true,
        LATER,
    )
    .unwrap();
    assert_eq!(forced["spec"]["replicas"], 3);
    assert!(fields(&forced, "other")["f:spec"]
        .get("f:replicas")
        .is_some());
    assert!(fields(&forced, CSA)["f:spec"].get("f:replicas").is_none());
    assert_eq!(entry(&forced, "other").unwrap()["time"], LATER);
}

#[test]
fn several_conflicts_are_listed_by_manager() {
    let live = client_side_applied(&deployment("nginx:1.26", 2));
    let mut scaled = live.clone();
    scaled["spec"]["replicas"] = json!(5);
    record_update(
        "apps",
        "Deployment",
        Some(&live),
        &mut scaled,
        "kubectl",
        Some("scale"),
        LATER,
    );
    let mut config = deployment("nginx:1.27", 3);
    config["metadata"]["labels"]["app"] = json!("web");
    let error = apply(
        "apps",
        "Deployment",
        Some(&scaled),
        &config,
        "other",
        false,
        LATER,
    )
    .unwrap_err();
    assert_eq!(
        error.message,
        "Apply failed with 3 conflicts: conflicts with \"kubectl\" with subresource \"scale\" using apps/v1:\n\
         - .spec.replicas\n\
         conflicts with \"kubectl-client-side-apply\" using apps/v1:\n\
         - .metadata.labels.app\n\
         - .spec.template.spec.containers[name=\"nginx\"].image"
    );
}

#[test]
fn conflicts_with_an_applier_name_it_without_a_version() {
    let live = apply(
        "apps",
        "Deployment",
        None,
        &deployment("nginx:1.26", 2),
        "helm",
        false,
        NOW,
    )
    .unwrap();
    let error = apply(
        "apps",
        "Deployment",
        Some(&live),
        &deployment("nginx:1.26", 4),
        "argo",
        false,
        LATER,
    )
    .unwrap_err();
    assert_eq!(
        error.message,
        r#"Apply failed with 1 conflict: conflict with "helm": .spec.replicas"#
    );
}

#[test]
fn kubectl_server_side_takes_over_from_client_side_apply() {
    let live = client_side_applied(&deployment("nginx:1.26", 2));
    // The file changed: same fields, a new value for replicas and image.
    let config = deployment("nginx:1.27", 3);
    let upgraded = apply(
        "apps",
        "Deployment",
        Some(&live),
        &config,
        "kubectl",
        false,
        LATER,
    )
    .unwrap();
    assert_eq!(upgraded["spec"]["replicas"], 3);
    assert_eq!(managers(&upgraded), ["kubectl", CSA]);
    assert!(fields(&upgraded, CSA)["f:spec"].get("f:replicas").is_none());
    let annotation = upgraded["metadata"]["annotations"][LAST_APPLIED]
        .as_str()
        .unwrap();
    assert!(annotation.ends_with('\n'));
    let recorded: Value = serde_json::from_str(annotation).unwrap();
    assert_eq!(
        recorded, config,
        "the annotation follows the applied configuration"
    );
}

#[test]
fn fields_changed_since_client_side_apply_still_conflict() {
    let live = client_side_applied(&deployment("nginx:1.26", 2));
    let mut edited = live.clone();
    edited["spec"]["replicas"] = json!(5);
    record_update(
        "apps",
        "Deployment",
        Some(&live),
        &mut edited,
        "kubectl-edit",
        None,
        LATER,
    );
    let error = apply(
        "apps",
        "Deployment",
        Some(&edited),
        &deployment("nginx:1.26", 2),
        "kubectl",
        false,
        LATER,
    )
    .unwrap_err();
    assert_eq!(
        error.message,
        r#"Apply failed with 1 conflict: conflict with "kubectl-edit" using apps/v1: .spec.replicas"#
    );
}

#[test]
fn other_managers_do_not_get_the_bridge() {
    let live = client_side_applied(&deployment("nginx:1.26", 2));
    let error = apply(
        "apps",
        "Deployment",
        Some(&live),
        &deployment("nginx:1.27", 2),
        "helm",
        false,
        LATER,
    )
    .unwrap_err();
    assert_eq!(error.code, 409);
}

#[test]
fn an_untracked_object_conflicts_with_its_first_fields() {
    let live = stored(deployment("nginx:1.26", 2));
    let error = apply(
        "apps",
        "Deployment",
        Some(&live),
        &deployment("nginx:1.26", 3),
        "other",
        false,
        LATER,
    )
    .unwrap_err();
    assert_eq!(
        error.message,
        r#"Apply failed with 1 conflict: conflict with "before-first-apply" using apps/v1: .spec.replicas"#
    );
}

#[test]
fn bad_configurations_are_refused() {
    let config_map =
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "nginx"}});
    let error = apply("apps", "Deployment", None, &config_map, "m", false, NOW).unwrap_err();
    assert_eq!(
        (error.code, error.message.as_str()),
        (400, "invalid object type: /v1, Kind=ConfigMap")
    );

    let mut with_fields = deployment("nginx:1", 1);
    with_fields["metadata"]["managedFields"] = json!([]);
    let error = apply("apps", "Deployment", None, &with_fields, "m", false, NOW).unwrap_err();
    assert_eq!(
        (error.code, error.message.as_str()),
        (400, "metadata.managedFields must be nil")
    );

    let mut duplicated = deployment("nginx:1", 1);
    duplicated["spec"]["template"]["spec"]["containers"] =
        json!([{"name": "a", "image": "x"}, {"name": "a", "image": "y"}]);
    let error = apply("apps", "Deployment", None, &duplicated, "m", false, NOW).unwrap_err();
    assert_eq!(error.code, 500);
    assert_eq!(
        error.message,
        "failed to create typed patch object (default/nginx; apps/v1, Kind=Deployment): \
         .spec.template.spec.containers: duplicate entries for key [name=\"a\"]"
    );

    let mut keyless = deployment("nginx:1", 1);
    keyless["spec"]["template"]["spec"]["containers"] = json!([{"image": "x"}]);
    let error = apply("apps", "Deployment", None, &keyless, "m", false, NOW).unwrap_err();
    assert_eq!(
        error.message,
        "failed to create typed patch object (default/nginx; apps/v1, Kind=Deployment): \
         .spec.template.spec.containers: element 0: associative list with keys has an element that omits key field \"name\" (and doesn't have default value)"
    );
}
