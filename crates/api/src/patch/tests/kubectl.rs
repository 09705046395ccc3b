//! The bodies kubectl 1.32 sends, applied to a live Deployment as the API
//! server stores it (defaults, status, the client-side apply annotation).

use serde_json::{json, Value};

use super::smp;

const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

fn live() -> Value {
    serde_json::from_str(include_str!("deployment.json")).unwrap()
}

fn containers(object: &Value) -> &Value {
    &object["spec"]["template"]["spec"]["containers"]
}

#[test]
fn client_side_apply_changes_an_image_and_the_annotation() {
    let annotation = "{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\"}\n";
    let patch = json!({
        "metadata": {"annotations": {LAST_APPLIED: annotation}},
        "spec": {"template": {"spec": {
            "$setElementOrder/containers": [{"name": "web"}],
            "containers": [{"image": "nginx:1.27", "name": "web"}]
        }}}
    });
    let patched = smp("apps", "Deployment", live(), patch);
    assert_eq!(patched["metadata"]["annotations"][LAST_APPLIED], annotation);
    assert_eq!(
        patched["metadata"]["annotations"]["deployment.kubernetes.io/revision"],
        "1"
    );
    assert_eq!(containers(&patched)[0]["image"], "nginx:1.27");
    assert_eq!(
        containers(&patched)[0]["imagePullPolicy"],
        "IfNotPresent",
        "defaults kept"
    );
    assert_eq!(
        containers(&patched)[1]["name"],
        "sidecar",
        "server-only container kept"
    );
    assert_eq!(patched["status"], live()["status"]);
    assert_eq!(patched["spec"]["strategy"], live()["spec"]["strategy"]);
}

#[test]
fn client_side_apply_removes_items_and_labels() {
    let patch = json!({
        "metadata": {"annotations": {LAST_APPLIED: "NEW\n"}, "labels": {"old": null}},
        "spec": {"template": {"spec": {
            "$setElementOrder/containers": [{"name": "web"}],
            "containers": [{
                "$setElementOrder/env": [{"name": "A"}],
                "$setElementOrder/ports": [{"containerPort": 80}],
                "env": [{"$patch": "delete", "name": "B"}],
                "image": "nginx:1.27",
                "name": "web",
                "ports": [{"$patch": "delete", "containerPort": 8080}]
            }]
        }}}
    });
    let patched = smp("apps", "Deployment", live(), patch);
    assert_eq!(patched["metadata"]["labels"], json!({"app": "web"}));
    assert_eq!(
        containers(&patched),
        &json!([
            {
                "env": [{"name": "A", "value": "1"}],
                "image": "nginx:1.27",
                "imagePullPolicy": "IfNotPresent",
                "name": "web",
                "ports": [{"containerPort": 80, "protocol": "TCP"}],
                "resources": {},
                "terminationMessagePath": "/dev/termination-log",
                "terminationMessagePolicy": "File"
            },
            {"image": "busybox", "name": "sidecar"}
        ])
    );
}

#[test]
fn client_side_apply_adds_a_container_in_file_order() {
    let patch = json!({"spec": {"template": {"spec": {
        "$setElementOrder/containers": [{"name": "init"}, {"name": "web"}],
        "containers": [{"name": "init", "image": "x"}]
    }}}});
    let patched = smp("apps", "Deployment", live(), patch);
    let names: Vec<&str> = containers(&patched)
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["init", "web", "sidecar"]);
}

#[test]
fn client_side_apply_switches_the_strategy_type() {
    let patch = json!({"spec": {"strategy": {"$retainKeys": ["type"], "rollingUpdate": null, "type": "Recreate"}}});
    assert_eq!(
        smp("apps", "Deployment", live(), patch)["spec"]["strategy"],
        json!({"type": "Recreate"})
    );
}

#[test]
fn set_image_and_rollout_restart() {
    let set_image = json!({"spec": {"template": {"spec": {"containers": [{"image": "nginx:1.27", "name": "web"}]}}}});
    let patched = smp("apps", "Deployment", live(), set_image);
    assert_eq!(containers(&patched)[0]["image"], "nginx:1.27");
    assert_eq!(
        containers(&patched)[0]["env"],
        live()["spec"]["template"]["spec"]["containers"][0]["env"]
    );
    assert_eq!(containers(&patched).as_array().unwrap().len(), 2);

    let restart = json!({"spec": {"template": {"metadata": {"annotations": {"kubectl.kubernetes.io/restartedAt": "2024-05-01T10:00:00Z"}}}}});
    let patched = smp("apps", "Deployment", live(), restart);
    assert_eq!(
        patched["spec"]["template"]["metadata"],
        json!({"labels": {"app": "web"}, "annotations": {"kubectl.kubernetes.io/restartedAt": "2024-05-01T10:00:00Z"}})
    );
}

#[test]
fn label_and_annotate() {
    let patched = smp(
        "apps",
        "Deployment",
        live(),
        json!({"metadata": {"labels": {"env": "prod"}}}),
    );
    assert_eq!(
        patched["metadata"]["labels"],
        json!({"app": "web", "old": "x", "env": "prod"})
    );
    let patched = smp(
        "apps",
        "Deployment",
        patched,
        json!({"metadata": {"labels": {"env": null}}}),
    );
    assert_eq!(
        patched["metadata"]["labels"],
        json!({"app": "web", "old": "x"})
    );
    let patched = smp(
        "apps",
        "Deployment",
        live(),
        json!({"metadata": {"annotations": {"note": "hi"}}}),
    );
    assert_eq!(patched["metadata"]["annotations"]["note"], "hi");
    assert!(patched["metadata"]["annotations"][LAST_APPLIED].is_string());
}

#[test]
fn patch_of_replicas_and_selector_labels() {
    let patch = json!({"spec": {"replicas": 5, "selector": {"matchLabels": {"tier": "front"}}}});
    let patched = smp("apps", "Deployment", live(), patch);
    assert_eq!(patched["spec"]["replicas"], 5);
    assert_eq!(
        patched["spec"]["selector"],
        json!({"matchLabels": {"app": "web", "tier": "front"}})
    );
}
