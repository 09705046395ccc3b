use super::*;
use serde_json::json;

/// A defaulted pod with container `app`, init container `setup` and these
/// ephemeral containers.
fn pod(ephemeral: Value) -> Value {
    let mut pod = json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "p", "namespace": "default", "uid": "u"},
        "spec": {"containers": [{"name": "app", "image": "nginx"}],
            "initContainers": [{"name": "setup", "image": "busybox"}],
            "ephemeralContainers": ephemeral}});
    crate::defaults::apply_defaults("", "Pod", &mut pod);
    pod
}

fn debugger() -> Value {
    json!({"name": "debugger", "image": "busybox", "targetContainerName": "app",
        "stdin": true, "tty": true, "resources": {}})
}

fn update(new: &Value, old: &Value) -> Vec<String> {
    crate::validation::validate_subresource_update("", "Pod", "ephemeralcontainers", new, old)
        .iter()
        .map(ToString::to_string)
        .collect()
}

fn adding(container: Value) -> Vec<String> {
    update(&pod(json!([container])), &pod(json!([])))
}

#[test]
fn a_debug_container_may_be_added() {
    assert_eq!(adding(debugger()), Vec::<String>::new());
    let mut second = debugger();
    second["name"] = "debugger-2".into();
    second["targetContainerName"] = "setup".into();
    let errs = update(&pod(json!([debugger(), second])), &pod(json!([debugger()])));
    assert_eq!(errs, Vec::<String>::new());
}

#[test]
fn names_are_unique_across_all_containers() {
    let mut named_app = debugger();
    named_app["name"] = "app".into();
    assert_eq!(
        adding(named_app),
        vec!["spec.ephemeralContainers[0].name: Duplicate value: \"app\""]
    );
    let errs = update(
        &pod(json!([debugger(), debugger()])),
        &pod(json!([debugger()])),
    );
    assert_eq!(
        errs,
        vec!["spec.ephemeralContainers[1].name: Duplicate value: \"debugger\""]
    );
}

#[test]
fn names_and_images_are_checked_as_for_any_container() {
    let mut bad = debugger();
    bad["name"] = "Debug_1".into();
    bad["image"] = "".into();
    let errs = adding(bad);
    assert_eq!(errs.len(), 2, "{errs:?}");
    assert!(
        errs[0].starts_with("spec.ephemeralContainers[0].name: Invalid value: \"Debug_1\": a lowercase RFC 1123 label"),
        "{errs:?}"
    );
    assert_eq!(errs[1], "spec.ephemeralContainers[0].image: Required value");
    let mut padded = debugger();
    padded["image"] = " busybox".into();
    assert_eq!(
        adding(padded),
        vec!["spec.ephemeralContainers[0].image: Invalid value: \" busybox\": must not have leading or trailing whitespace"]
    );
}

#[test]
fn the_target_must_be_a_container_of_the_pod() {
    let mut lost = debugger();
    lost["targetContainerName"] = "x".into();
    assert_eq!(
        adding(lost),
        vec!["spec.ephemeralContainers[0].targetContainerName: Not found: \"x\""]
    );
    let mut at_other = debugger();
    at_other["name"] = "d2".into();
    at_other["targetContainerName"] = "debugger".into();
    let errs = update(
        &pod(json!([debugger(), at_other])),
        &pod(json!([debugger()])),
    );
    assert_eq!(
        errs,
        vec!["spec.ephemeralContainers[1].targetContainerName: Not found: \"debugger\""]
    );
}

#[test]
fn workload_fields_are_forbidden_in_go_field_order() {
    let mut busy = debugger();
    let fields = json!({
        "lifecycle": {"preStop": {"exec": {"command": ["true"]}}},
        "readinessProbe": {"exec": {"command": ["true"]}},
        "restartPolicy": "Always",
        "resources": {"limits": {"cpu": "1"}},
        "ports": [{"containerPort": 80}],
        "livenessProbe": {"exec": {"command": ["true"]}},
        "startupProbe": {"exec": {"command": ["true"]}},
        "resizePolicy": [{"resourceName": "cpu", "restartPolicy": "NotRequired"}],
    });
    for (key, value) in fields.as_object().unwrap() {
        busy[key] = value.clone();
    }
    let errs = adding(busy);
    let forbidden: Vec<&String> = errs.iter().filter(|e| e.contains("Forbidden")).collect();
    let expected: Vec<String> = [
        "ports",
        "resources",
        "resizePolicy",
        "restartPolicy",
        "livenessProbe",
        "readinessProbe",
        "startupProbe",
        "lifecycle",
    ]
    .iter()
    .map(|f| {
        format!(
            "spec.ephemeralContainers[0].{f}: Forbidden: cannot be set for an Ephemeral Container"
        )
    })
    .collect();
    assert_eq!(forbidden, expected.iter().collect::<Vec<_>>());
}

#[test]
fn empty_resources_are_not_set() {
    let mut quiet = debugger();
    quiet["resources"] = json!({"limits": null});
    assert_eq!(adding(quiet), Vec::<String>::new());
}

#[test]
fn subpaths_are_forbidden() {
    let mut mounting = debugger();
    mounting["volumeMounts"] = json!([{"name": "data", "mountPath": "/d", "subPath": "x"}]);
    let mut new = pod(json!([mounting]));
    let mut old = pod(json!([]));
    for p in [&mut new, &mut old] {
        p["spec"]["volumes"] = json!([{"name": "data", "emptyDir": {}}]);
    }
    assert_eq!(
        update(&new, &old),
        vec!["spec.ephemeralContainers[0].volumeMounts[0].subPath: Forbidden: cannot be set for an Ephemeral Container"]
    );
}

#[test]
fn existing_containers_may_not_change() {
    let mut changed = debugger();
    changed["image"] = "alpine".into();
    let errs = update(&pod(json!([changed])), &pod(json!([debugger()])));
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert!(
        errs[0].starts_with("spec.ephemeralContainers: Forbidden: existing ephemeral containers \"debugger\" may not be changed\n  core.EphemeralContainer{\n"),
        "{errs:?}"
    );
    assert!(errs[0].contains("- \tImage: \"busybox\",\n+ \tImage: \"alpine\",\n"));
}

#[test]
fn existing_containers_may_not_be_removed() {
    assert_eq!(
        update(&pod(json!([])), &pod(json!([debugger()]))),
        vec!["spec.ephemeralContainers: Forbidden: existing ephemeral containers \"debugger\" may not be removed\n"]
    );
}

#[test]
fn order_does_not_matter() {
    let mut second = debugger();
    second["name"] = "second".into();
    let old = pod(json!([debugger(), second.clone()]));
    assert_eq!(
        update(&pod(json!([second, debugger()])), &old),
        Vec::<String>::new()
    );
}

#[test]
fn static_pods_have_none() {
    let mut new = pod(json!([debugger()]));
    let mut old = pod(json!([]));
    for p in [&mut new, &mut old] {
        p["metadata"]["annotations"] = json!({"kubernetes.io/config.mirror": "abc"});
        p["spec"]["nodeName"] = "n1".into();
    }
    assert_eq!(
        update(&new, &old),
        vec![": Forbidden: static pods do not support ephemeral containers"]
    );
}

#[test]
fn they_cannot_be_set_on_create() {
    let errs: Vec<String> =
        crate::validation::validate_create("", "Pod", &pod(json!([debugger()])))
            .iter()
            .map(ToString::to_string)
            .collect();
    assert_eq!(
        errs,
        vec!["spec.ephemeralContainers: Forbidden: cannot be set on create"]
    );
}

#[test]
fn a_pod_update_may_not_add_them() {
    let errs: Vec<String> =
        crate::validation::validate_update("", "Pod", &pod(json!([debugger()])), &pod(json!([])))
            .iter()
            .map(ToString::to_string)
            .collect();
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert!(
        errs[0].starts_with("spec: Forbidden: pod updates may not change fields other than `spec.containers[*].image`,"),
        "{errs:?}"
    );
    assert!(errs[0].contains("+ \tEphemeralContainers: "), "{errs:?}");
}

#[test]
fn odd_shapes_do_not_panic() {
    for odd in [
        json!(null),
        json!({"spec": {"ephemeralContainers": "x"}}),
        json!({"spec": {"ephemeralContainers": [5, null, {"name": 3, "resources": 7}]}}),
    ] {
        let _ = update(&odd, &pod(json!([debugger()])));
        let _ = update(&pod(json!([])), &odd);
    }
}
