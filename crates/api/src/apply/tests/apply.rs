//! Server-side apply: creating, updating, pruning.

use serde_json::{json, Value};

use super::{deployment, entry, fields, managers, stored, LATER, NOW};
use crate::apply::{apply, record_update};

fn ssa(live: Option<&Value>, applied: &Value, manager: &str, now: &str) -> Value {
    apply("apps", "Deployment", live, applied, manager, false, now).expect("apply succeeds")
}

/// What the API server does after an apply: default and keep status.
fn store(applied_result: Value) -> Value {
    let mut object = stored(applied_result.clone());
    object["metadata"]["managedFields"] = applied_result["metadata"]["managedFields"].clone();
    object
}

#[test]
fn an_apply_creates_the_object_and_owns_its_configuration() {
    let config = deployment("nginx:1.27", 2);
    let created = ssa(None, &config, "kubectl", NOW);
    let mut without = created.clone();
    without["metadata"]
        .as_object_mut()
        .unwrap()
        .remove("managedFields");
    assert_eq!(without, config);
    let applier = entry(&created, "kubectl").unwrap();
    assert_eq!(applier["operation"], "Apply");
    assert_eq!(applier["apiVersion"], "apps/v1");
    assert_eq!(applier["time"], NOW);
    assert_eq!(
        applier["fieldsV1"],
        json!({
            "f:metadata": {"f:labels": {"f:app": {}}},
            "f:spec": {
                "f:replicas": {},
                "f:selector": {},
                "f:template": {
                    "f:metadata": {"f:labels": {"f:app": {}}},
                    "f:spec": {"f:containers": {"k:{\"name\":\"nginx\"}": {
                        ".": {},
                        "f:image": {},
                        "f:name": {},
                        "f:ports": {"k:{\"containerPort\":80,\"protocol\":\"TCP\"}": {".": {}, "f:containerPort": {}}}
                    }}}
                }
            }
        })
    );
}

#[test]
fn applying_again_merges_into_the_live_object() {
    let live = store(ssa(None, &deployment("nginx:1.26", 2), "kubectl", NOW));
    let updated = ssa(Some(&live), &deployment("nginx:1.27", 2), "kubectl", LATER);
    let container = &updated["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(container["image"], "nginx:1.27");
    assert_eq!(
        container["imagePullPolicy"], "IfNotPresent",
        "defaults stay"
    );
    assert_eq!(updated["status"], live["status"]);
    assert_eq!(entry(&updated, "kubectl").unwrap()["time"], LATER);
}

#[test]
fn an_apply_that_changes_nothing_keeps_the_time() {
    let live = store(ssa(None, &deployment("nginx:1.26", 2), "kubectl", NOW));
    let same = ssa(Some(&live), &deployment("nginx:1.26", 2), "kubectl", LATER);
    assert_eq!(same, live);
}

#[test]
fn fields_no_longer_applied_are_removed() {
    let mut config = deployment("nginx:1.26", 2);
    config["metadata"]["labels"]["tier"] = json!("web");
    config["spec"]["template"]["spec"]["containers"][0]["env"] =
        json!([{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]);
    config["spec"]["template"]["spec"]["containers"]
        .as_array_mut()
        .unwrap()
        .push(json!({"name": "sidecar", "image": "busybox"}));
    let live = store(ssa(None, &config, "kubectl", NOW));
    assert_eq!(
        live["spec"]["template"]["spec"]["containers"]
            .as_array()
            .unwrap()
            .len(),
        2
    );

    let mut smaller = deployment("nginx:1.26", 2);
    smaller["spec"]["template"]["spec"]["containers"][0]["env"] =
        json!([{"name": "A", "value": "1"}]);
    let pruned = ssa(Some(&live), &smaller, "kubectl", LATER);
    assert_eq!(pruned["metadata"]["labels"], json!({"app": "nginx"}));
    let containers = pruned["spec"]["template"]["spec"]["containers"]
        .as_array()
        .unwrap();
    assert_eq!(containers.len(), 1, "the sidecar went away");
    assert_eq!(containers[0]["env"], json!([{"name": "A", "value": "1"}]));
    assert_eq!(
        containers[0]["imagePullPolicy"], "IfNotPresent",
        "unowned defaults stay"
    );
    assert_eq!(pruned["spec"]["revisionHistoryLimit"], 10);
}

#[test]
fn fields_another_manager_owns_are_kept() {
    let mut config = deployment("nginx:1.26", 2);
    config["metadata"]["labels"]["tier"] = json!("web");
    let live = store(ssa(None, &config, "kubectl", NOW));
    // Another applier applies the same label value: both own it.
    let mut other = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "nginx", "labels": {"tier": "web"}}});
    other["metadata"]["namespace"] = json!("default");
    let live = store(ssa(Some(&live), &other, "helm", NOW));
    assert!(fields(&live, "helm")["f:metadata"]["f:labels"]
        .get("f:tier")
        .is_some());

    let pruned = ssa(Some(&live), &deployment("nginx:1.26", 2), "kubectl", LATER);
    assert_eq!(pruned["metadata"]["labels"]["tier"], "web");
}

#[test]
fn status_in_a_configuration_is_not_owned() {
    let mut config = deployment("nginx:1.26", 2);
    config["status"] = json!({"replicas": 7});
    let created = ssa(None, &config, "kubectl", NOW);
    assert!(fields(&created, "kubectl").get("f:status").is_none());
}

#[test]
fn sets_and_atomic_maps() {
    let config = json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p", "finalizers": ["example.com/a"]},
        "spec": {
            "nodeSelector": {"disk": "ssd"},
            "tolerations": [{"key": "k", "operator": "Exists"}],
            "containers": [{"name": "c", "image": "x", "ports": [{"containerPort": 53, "protocol": "UDP"}]}]
        }
    });
    let created = apply("", "Pod", None, &config, "kubectl", false, NOW).unwrap();
    assert_eq!(
        fields(&created, "kubectl"),
        json!({
            "f:metadata": {"f:finalizers": {"v:\"example.com/a\"": {}}},
            "f:spec": {
                "f:containers": {"k:{\"name\":\"c\"}": {
                    ".": {},
                    "f:image": {},
                    "f:name": {},
                    "f:ports": {"k:{\"containerPort\":53,\"protocol\":\"UDP\"}": {".": {}, "f:containerPort": {}, "f:protocol": {}}}
                }},
                "f:nodeSelector": {},
                "f:tolerations": {}
            }
        })
    );
}

#[test]
fn kinds_without_a_schema_are_deduced() {
    let config = json!({
        "apiVersion": "example.com/v1",
        "kind": "Widget",
        "metadata": {"name": "w"},
        "spec": {"size": 3, "parts": [{"name": "a"}], "nested": {"x": true}}
    });
    let created = apply("example.com", "Widget", None, &config, "m", false, NOW).unwrap();
    assert_eq!(
        fields(&created, "m"),
        json!({"f:spec": {"f:nested": {"f:x": {}}, "f:parts": {}, "f:size": {}}})
    );
    let mut next = config.clone();
    next["spec"]["parts"] = json!([{"name": "b"}]);
    let updated = apply(
        "example.com",
        "Widget",
        Some(&created),
        &next,
        "m",
        false,
        LATER,
    )
    .unwrap();
    assert_eq!(
        updated["spec"]["parts"],
        json!([{"name": "b"}]),
        "a list without schema is atomic"
    );
}

#[test]
fn nulls_in_a_configuration_unset_fields() {
    let live = store(ssa(None, &deployment("nginx:1.26", 2), "kubectl", NOW));
    let mut config = deployment("nginx:1.26", 2);
    config["spec"]["revisionHistoryLimit"] = Value::Null;
    let updated = ssa(Some(&live), &config, "kubectl", LATER);
    assert!(updated["spec"].get("revisionHistoryLimit").is_none());
    assert!(fields(&updated, "kubectl")["f:spec"]
        .get("f:revisionHistoryLimit")
        .is_some());
}

#[test]
fn the_first_apply_to_an_untracked_object_names_its_fields() {
    let live = stored(deployment("nginx:1.26", 2));
    let updated = ssa(Some(&live), &deployment("nginx:1.26", 2), "kubectl", LATER);
    assert_eq!(managers(&updated), ["kubectl", "before-first-apply"]);
    let before = entry(&updated, "before-first-apply").unwrap();
    assert_eq!(before["operation"], "Update");
    assert!(before["fieldsV1"]["f:spec"]
        .get("f:revisionHistoryLimit")
        .is_some());
    assert!(
        before["fieldsV1"]["f:spec"].get("f:replicas").is_some(),
        "same value: shared"
    );
}

#[test]
fn the_applier_and_updaters_coexist() {
    let live = store(ssa(None, &deployment("nginx:1.26", 2), "kubectl", NOW));
    let mut new = live.clone();
    new["spec"]["paused"] = json!(true);
    record_update(
        "apps",
        "Deployment",
        Some(&live),
        &mut new,
        "kubectl-edit",
        None,
        LATER,
    );
    assert_eq!(managers(&new), ["kubectl", "kubectl-edit"]);
    let again = ssa(Some(&new), &deployment("nginx:1.26", 2), "kubectl", LATER);
    assert_eq!(
        again["spec"]["paused"], true,
        "another manager's field stays"
    );
}

#[test]
fn long_lists_apply_in_reasonable_time() {
    let env: Vec<Value> = (0..10_000)
        .map(|i| json!({"name": format!("E{i}"), "value": "v"}))
        .collect();
    let mut config = deployment("nginx:1.26", 2);
    config["spec"]["template"]["spec"]["containers"][0]["env"] = Value::Array(env.clone());
    let live = store(ssa(None, &config, "kubectl", NOW));
    let mut fewer = config.clone();
    fewer["spec"]["template"]["spec"]["containers"][0]["env"] = Value::Array(env[..5_000].to_vec());
    let pruned = ssa(Some(&live), &fewer, "kubectl", LATER);
    assert_eq!(
        pruned["spec"]["template"]["spec"]["containers"][0]["env"]
            .as_array()
            .unwrap()
            .len(),
        5_000
    );
}

#[test]
fn status_applies_own_status_through_the_subresource() {
    let live = store(ssa(None, &deployment("nginx:1.26", 2), "kubectl", NOW));
    let status = json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "nginx", "namespace": "default"},
        "spec": {"replicas": 9},
        "status": {"conditions": [{"type": "Progressing", "status": "True"}]}
    });
    let updated = crate::apply::apply_status(
        "apps",
        "Deployment",
        &live,
        &status,
        "my-controller",
        false,
        LATER,
    )
    .unwrap();
    let entry = entry(&updated, "my-controller").unwrap();
    assert_eq!(entry["subresource"], "status");
    assert_eq!(
        entry["fieldsV1"],
        json!({"f:status": {"f:conditions": {"k:{\"type\":\"Progressing\"}": {".": {}, "f:status": {}, "f:type": {}}}}})
    );
    let conditions = updated["status"]["conditions"].as_array().unwrap();
    assert_eq!(
        conditions.len(),
        2,
        "merged by type with the live condition"
    );
}

#[test]
fn ephemeral_container_writes_own_only_those_containers() {
    let mut live = json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p", "namespace": "default"},
        "spec": {"containers": [{"name": "app", "image": "nginx"}]}
    });
    record_update("", "Pod", None, &mut live, "kubectl", None, NOW);
    let config = json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p", "namespace": "default", "labels": {"x": "y"}},
        "spec": {
            "containers": [{"name": "app", "image": "nginx"}],
            "ephemeralContainers": [{"name": "debugger", "image": "busybox"}]
        }
    });
    let applied = crate::apply::apply_subresource(
        "",
        "Pod",
        "ephemeralcontainers",
        &live,
        &config,
        "debugger",
        false,
        LATER,
    )
    .unwrap();
    let applier = entry(&applied, "debugger").unwrap();
    assert_eq!(applier["subresource"], "ephemeralcontainers");
    assert_eq!(
        applier["fieldsV1"],
        json!({"f:spec": {"f:ephemeralContainers": {"k:{\"name\":\"debugger\"}": {
            ".": {}, "f:image": {}, "f:name": {}}}}})
    );
    // The first writer keeps the container it shares with the config.
    let first = entry(&applied, "kubectl").unwrap();
    assert!(first["fieldsV1"]["f:spec"]["f:containers"].is_object());

    // An update through the subresource is recorded the same way.
    let mut updated = applied.clone();
    updated["spec"]["ephemeralContainers"][0]["tty"] = true.into();
    record_update(
        "",
        "Pod",
        Some(&applied),
        &mut updated,
        "kubectl",
        Some("ephemeralcontainers"),
        LATER,
    );
    let writer = updated["metadata"]["managedFields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["subresource"] == "ephemeralcontainers" && m["manager"] == "kubectl")
        .expect("the subresource writer's entry");
    assert_eq!(
        writer["fieldsV1"],
        json!({"f:spec": {"f:ephemeralContainers": {"k:{\"name\":\"debugger\"}": {"f:tty": {}}}}})
    );
}
