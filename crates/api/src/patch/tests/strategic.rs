//! Strategic merge patch: merge keys, strategies and directives.

use serde_json::json;

use super::smp;
use crate::patch::strategic_merge_patch;

fn pod(containers: serde_json::Value) -> serde_json::Value {
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {"containers": containers}})
}

#[test]
fn containers_merge_by_name() {
    let target = pod(json!([{"name": "a", "image": "a:1"}, {"name": "b", "image": "b:1"}]));
    let patched = smp(
        "",
        "Pod",
        target,
        json!({"spec": {"containers": [{"name": "b", "image": "b:2"}, {"name": "c", "image": "c:1"}]}}),
    );
    assert_eq!(
        patched["spec"]["containers"],
        json!([{"name": "a", "image": "a:1"}, {"name": "b", "image": "b:2"}, {"name": "c", "image": "c:1"}])
    );
}

#[test]
fn new_items_without_an_order_go_first() {
    let target = pod(json!([{"name": "a"}, {"name": "b"}]));
    let patched = smp(
        "",
        "Pod",
        target,
        json!({"spec": {"containers": [{"name": "c"}]}}),
    );
    assert_eq!(
        patched["spec"]["containers"],
        json!([{"name": "c"}, {"name": "a"}, {"name": "b"}])
    );
}

#[test]
fn nested_lists_merge_by_their_own_keys() {
    let target = pod(json!([{
        "name": "a",
        "env": [{"name": "X", "value": "1"}, {"name": "Y", "value": "2"}],
        "ports": [{"containerPort": 80, "protocol": "TCP"}],
        "volumeMounts": [{"name": "data", "mountPath": "/data"}]
    }]));
    let patch = json!({"spec": {"containers": [{
        "name": "a",
        "env": [{"name": "Y", "value": "3"}],
        "ports": [{"containerPort": 80, "name": "http"}],
        "volumeMounts": [{"name": "cache", "mountPath": "/cache"}]
    }]}});
    let container = smp("", "Pod", target, patch)["spec"]["containers"][0].clone();
    assert_eq!(
        container["env"],
        json!([{"name": "X", "value": "1"}, {"name": "Y", "value": "3"}])
    );
    assert_eq!(
        container["ports"],
        json!([{"containerPort": 80, "protocol": "TCP", "name": "http"}])
    );
    assert_eq!(
        container["volumeMounts"],
        json!([{"name": "cache", "mountPath": "/cache"}, {"name": "data", "mountPath": "/data"}])
    );
}

#[test]
fn lists_without_a_strategy_are_replaced() {
    let target = pod(json!([{"name": "a", "args": ["x", "y"]}]));
    let mut target = target;
    target["spec"]["tolerations"] = json!([{"key": "k", "operator": "Exists"}]);
    let patch = json!({"spec": {
        "tolerations": [{"key": "other", "operator": "Exists"}],
        "containers": [{"name": "a", "args": ["z"]}]
    }});
    let patched = smp("", "Pod", target, patch);
    assert_eq!(
        patched["spec"]["tolerations"],
        json!([{"key": "other", "operator": "Exists"}])
    );
    assert_eq!(patched["spec"]["containers"][0]["args"], json!(["z"]));
}

#[test]
fn null_deletes_and_maps_merge() {
    let target =
        json!({"metadata": {"name": "c", "labels": {"a": "1", "b": "2"}}, "data": {"k": "v"}});
    let patched = smp(
        "",
        "ConfigMap",
        target,
        json!({"metadata": {"labels": {"a": null, "c": "3"}}, "data": null}),
    );
    assert_eq!(
        patched,
        json!({"metadata": {"name": "c", "labels": {"b": "2", "c": "3"}}})
    );
}

#[test]
fn nulls_inside_new_values_are_dropped() {
    let target = json!({"metadata": {"name": "c"}});
    let patched = smp(
        "",
        "ConfigMap",
        target,
        json!({"metadata": {"labels": {"a": "1", "b": null}}}),
    );
    assert_eq!(patched["metadata"]["labels"], json!({"a": "1"}));
}

#[test]
fn set_element_order_orders_the_merged_list() {
    // Upstream's "set elements order in a list with server-only items 2".
    let target = pod(json!([
        {"name": "1", "other": "a"},
        {"name": "2", "value": "2"},
        {"name": "9"},
        {"name": "3", "value": "3"},
        {"name": "4", "value": "4"}
    ]));
    let patch = json!({"spec": {"$setElementOrder/containers": [{"name": "2"}, {"name": "1"}, {"name": "4"}, {"name": "3"}]}});
    let names: Vec<String> = smp("", "Pod", target, patch)["spec"]["containers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, ["2", "1", "9", "4", "3"]);
}

#[test]
fn set_element_order_places_new_items() {
    // Upstream's "add multiple items in a list and preserve order".
    let target =
        pod(json!([{"name": "1", "other": "a"}, {"name": "2", "value": "2", "other": "b"}]));
    let patch = json!({"spec": {
        "$setElementOrder/containers": [{"name": "1"}, {"name": "4"}, {"name": "2"}, {"name": "3"}],
        "containers": [{"name": "4", "value": "4"}, {"name": "3", "value": "3"}]
    }});
    assert_eq!(
        smp("", "Pod", target, patch)["spec"]["containers"],
        json!([
            {"name": "1", "other": "a"},
            {"name": "4", "value": "4"},
            {"name": "2", "value": "2", "other": "b"},
            {"name": "3", "value": "3"}
        ])
    );
}

#[test]
fn set_element_order_must_match_the_patch() {
    let target = pod(json!([{"name": "a"}]));
    let patch = json!({"spec": {"$setElementOrder/containers": [{"name": "a"}], "containers": [{"name": "b"}]}});
    let error =
        strategic_merge_patch("", "Pod", &target, patch.to_string().as_bytes()).unwrap_err();
    assert_eq!(error.code, 500);
    assert!(
        error.message.starts_with("The order in patch list:"),
        "{}",
        error.message
    );
    let bad = json!({"spec": {"$setElementOrder": []}});
    let error = strategic_merge_patch("", "Pod", &target, bad.to_string().as_bytes()).unwrap_err();
    assert_eq!(
        (error.code, error.message.as_str()),
        (400, "invalid patch format of setElementOrder list")
    );
}

#[test]
fn patch_delete_removes_list_items_by_key() {
    let target = pod(json!([{"name": "a"}, {"name": "b"}, {"name": "c"}]));
    let patch = json!({"spec": {"containers": [{"name": "b", "$patch": "delete"}, {"name": "c", "image": "c:2"}]}});
    assert_eq!(
        smp("", "Pod", target, patch)["spec"]["containers"],
        json!([{"name": "a"}, {"name": "c", "image": "c:2"}])
    );
}

#[test]
fn patch_replace_replaces_a_list() {
    let target = pod(json!([{"name": "a", "image": "a"}, {"name": "b"}]));
    let patch =
        json!({"spec": {"containers": [{"name": "z", "image": "z"}, {"$patch": "replace"}]}});
    assert_eq!(
        smp("", "Pod", target, patch)["spec"]["containers"],
        json!([{"name": "z", "image": "z"}])
    );
}

#[test]
fn patch_replace_and_delete_on_maps() {
    let target = json!({"metadata": {"name": "c", "labels": {"a": "1", "b": "2"}, "annotations": {"x": "y"}}});
    let patch = json!({"metadata": {"labels": {"$patch": "replace", "c": "3"}, "annotations": {"$patch": "delete"}}});
    let patched = smp("", "ConfigMap", target, patch);
    assert_eq!(patched["metadata"]["labels"], json!({"c": "3"}));
    assert_eq!(patched["metadata"]["annotations"], json!({}));
}

#[test]
fn an_unknown_directive_is_an_error() {
    let target = json!({"metadata": {"labels": {"a": "1"}}});
    let patch = br#"{"metadata": {"labels": {"$patch": "frob"}}}"#;
    let error = strategic_merge_patch("", "ConfigMap", &target, patch).unwrap_err();
    assert_eq!(error.code, 500);
    assert_eq!(
        error.message,
        "unknown patch type: frob in map: map[$patch:frob]"
    );
    let list = br#"{"spec": {"containers": [{"$patch": "merge"}]}}"#;
    let error = strategic_merge_patch("", "Pod", &pod(json!([{"name": "a"}])), list).unwrap_err();
    assert_eq!(
        error.message,
        "merging lists cannot yet be specified in the patch"
    );
}

#[test]
fn a_list_item_without_its_merge_key_is_an_error() {
    let target = pod(json!([{"name": "a"}]));
    let error = strategic_merge_patch(
        "",
        "Pod",
        &target,
        br#"{"spec": {"containers": [{"image": "x"}]}}"#,
    )
    .unwrap_err();
    assert_eq!(error.code, 500);
    assert_eq!(
        error.message,
        "map: map[image:x] does not contain declared merge key: name"
    );
}

#[test]
fn retain_keys_clears_the_other_fields() {
    let target = json!({"spec": {"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%"}}}});
    let patch = json!({"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}});
    assert_eq!(
        smp("apps", "Deployment", target, patch)["spec"]["strategy"],
        json!({"type": "Recreate"})
    );
}

#[test]
fn retain_keys_must_name_every_patched_field() {
    let target = json!({"spec": {"strategy": {"type": "RollingUpdate"}}});
    for patch in [
        json!({"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate", "rollingUpdate": {}}}}),
        json!({"spec": {"strategy": {"$retainKeys": "type"}}}),
    ] {
        let error =
            strategic_merge_patch("apps", "Deployment", &target, patch.to_string().as_bytes())
                .unwrap_err();
        assert_eq!(
            (error.code, error.message.as_str()),
            (400, "invalid patch format of retainKeys")
        );
    }
}

#[test]
fn volumes_retain_keys_swap_the_source() {
    let mut target = pod(json!([{"name": "a"}]));
    target["spec"]["volumes"] =
        json!([{"name": "v", "emptyDir": {}}, {"name": "w", "emptyDir": {}}]);
    let patch = json!({"spec": {"volumes": [{"$retainKeys": ["configMap", "name"], "name": "v", "configMap": {"name": "cm"}}]}});
    assert_eq!(
        smp("", "Pod", target, patch)["spec"]["volumes"],
        json!([{"name": "v", "configMap": {"name": "cm"}}, {"name": "w", "emptyDir": {}}])
    );
}

#[test]
fn finalizers_merge_as_a_set_and_delete_from_primitive_list() {
    let target = json!({"metadata": {"name": "c", "finalizers": ["a", "b"]}});
    let patched = smp(
        "",
        "ConfigMap",
        target.clone(),
        json!({"metadata": {"finalizers": ["b", "c"]}}),
    );
    assert_eq!(patched["metadata"]["finalizers"], json!(["a", "b", "c"]));
    let patched = smp(
        "",
        "ConfigMap",
        target.clone(),
        json!({"metadata": {"$deleteFromPrimitiveList/finalizers": ["a", "zzz"]}}),
    );
    assert_eq!(patched["metadata"]["finalizers"], json!(["b"]));
    let patched = smp(
        "",
        "ConfigMap",
        target,
        json!({"metadata": {
            "$setElementOrder/finalizers": ["b", "c"],
            "$deleteFromPrimitiveList/finalizers": ["a"],
            "finalizers": ["c"]
        }}),
    );
    assert_eq!(patched["metadata"]["finalizers"], json!(["b", "c"]));
}

#[test]
fn delete_from_primitive_list_needs_a_field_and_a_list() {
    let target = json!({"metadata": {"name": "c"}});
    let patched = smp(
        "",
        "ConfigMap",
        target.clone(),
        json!({"metadata": {"$deleteFromPrimitiveList/finalizers": ["a"]}}),
    );
    assert_eq!(patched, target, "nothing to delete from");
    let error = strategic_merge_patch(
        "",
        "ConfigMap",
        &target,
        br#"{"$deleteFromPrimitiveList": []}"#,
    )
    .unwrap_err();
    assert_eq!(
        (error.code, error.message.as_str()),
        (400, "invalid patch format of primitive list")
    );
}

#[test]
fn service_ports_merge_by_port() {
    let target = json!({"spec": {"selector": {"app": "a"}, "ports": [
        {"port": 80, "targetPort": 8080, "protocol": "TCP"},
        {"port": 443, "protocol": "TCP"}
    ]}});
    let patch =
        json!({"spec": {"ports": [{"port": 80, "targetPort": 9090}], "selector": {"app": "b"}}});
    let patched = smp("", "Service", target, patch);
    assert_eq!(
        patched["spec"]["ports"],
        json!([{"port": 80, "targetPort": 9090, "protocol": "TCP"}, {"port": 443, "protocol": "TCP"}])
    );
    assert_eq!(patched["spec"]["selector"], json!({"app": "b"}));
}

#[test]
fn owner_references_merge_by_uid_and_conditions_by_type() {
    let target = json!({
        "metadata": {"ownerReferences": [{"uid": "1", "name": "a"}]},
        "status": {"conditions": [{"type": "Ready", "status": "False"}, {"type": "PodScheduled", "status": "True"}]}
    });
    let patch = json!({
        "metadata": {"ownerReferences": [{"uid": "2", "name": "b"}]},
        "status": {"conditions": [{"type": "Ready", "status": "True"}]}
    });
    let patched = smp("", "Pod", target, patch);
    assert_eq!(
        patched["metadata"]["ownerReferences"],
        json!([{"uid": "2", "name": "b"}, {"uid": "1", "name": "a"}])
    );
    assert_eq!(
        patched["status"]["conditions"],
        json!([{"type": "Ready", "status": "True"}, {"type": "PodScheduled", "status": "True"}])
    );
}

#[test]
fn pod_templates_merge_inside_workloads() {
    let containers = json!([{"name": "a", "image": "a:1"}, {"name": "b", "image": "b:1"}]);
    let patch_containers = json!([{"name": "a", "image": "a:2"}]);
    let cases = [
        ("apps", "Deployment", "/spec/template/spec/containers"),
        ("apps", "StatefulSet", "/spec/template/spec/containers"),
        ("apps", "DaemonSet", "/spec/template/spec/containers"),
        ("apps", "ReplicaSet", "/spec/template/spec/containers"),
        ("batch", "Job", "/spec/template/spec/containers"),
        (
            "batch",
            "CronJob",
            "/spec/jobTemplate/spec/template/spec/containers",
        ),
        (
            "",
            "ReplicationController",
            "/spec/template/spec/containers",
        ),
        ("", "PodTemplate", "/template/spec/containers"),
    ];
    for (group, kind, path) in cases {
        let target = nest(path, containers.clone());
        let patched = smp(group, kind, target, nest(path, patch_containers.clone()));
        assert_eq!(
            patched.pointer(path).unwrap(),
            &json!([{"name": "a", "image": "a:2"}, {"name": "b", "image": "b:1"}]),
            "{kind}"
        );
    }
}

/// `{"a": {"b": value}}` for `/a/b`.
fn nest(path: &str, value: serde_json::Value) -> serde_json::Value {
    path.rsplit('/')
        .filter(|s| !s.is_empty())
        .fold(value, |inner, key| json!({ key: inner }))
}

#[test]
fn a_pdb_selector_is_replaced_whole() {
    let target = json!({"spec": {"selector": {"matchLabels": {"a": "1"}}, "minAvailable": 1}});
    let patch = json!({"spec": {"selector": {"matchLabels": {"b": "2"}}}});
    let patched = smp(
        "policy",
        "PodDisruptionBudget",
        target.clone(),
        patch.clone(),
    );
    assert_eq!(
        patched["spec"]["selector"],
        json!({"matchLabels": {"b": "2"}})
    );
    // A Deployment's selector has no such strategy: it merges.
    let patched = smp("apps", "Deployment", target, patch);
    assert_eq!(
        patched["spec"]["selector"],
        json!({"matchLabels": {"a": "1", "b": "2"}})
    );
}

#[test]
fn node_taints_are_replaced() {
    let target = json!({"spec": {"taints": [{"key": "a", "effect": "NoSchedule"}]}});
    let patch = json!({"spec": {"taints": [{"key": "b", "effect": "NoSchedule"}]}});
    assert_eq!(
        smp("", "Node", target, patch)["spec"]["taints"],
        json!([{"key": "b", "effect": "NoSchedule"}])
    );
}

#[test]
fn kinds_without_a_schema_merge_maps_and_replace_lists() {
    let target = json!({"spec": {"items": [{"name": "a"}], "nested": {"x": 1}}});
    let patch = json!({"spec": {"items": [{"name": "b"}], "nested": {"y": 2}}});
    assert_eq!(
        smp("example.com", "Widget", target, patch),
        json!({"spec": {"items": [{"name": "b"}], "nested": {"x": 1, "y": 2}}})
    );
}

#[test]
fn type_changes_take_the_patch_value() {
    let target = json!({"spec": {"a": {"x": 1}, "b": [1], "c": "s"}});
    let patch =
        json!({"spec": {"a": "now a string", "b": {"k": {"$patch": "delete"}, "n": null}, "c": 2}});
    assert_eq!(
        smp("example.com", "Widget", target, patch),
        json!({"spec": {"a": "now a string", "b": {}, "c": 2}})
    );
}

#[test]
fn lists_of_lists_and_mixed_lists_are_refused() {
    let empty = json!({"metadata": {"finalizers": []}});
    let error = strategic_merge_patch(
        "",
        "ConfigMap",
        &empty,
        br#"{"metadata": {"finalizers": [["b"]]}}"#,
    )
    .unwrap_err();
    assert_eq!((error.code, error.reason), (422, "Invalid"));
    let target = json!({"metadata": {"finalizers": ["a"]}});
    let error = strategic_merge_patch(
        "",
        "ConfigMap",
        &target,
        br#"{"metadata": {"finalizers": [["b"]]}}"#,
    )
    .unwrap_err();
    assert_eq!(
        (error.code, error.message.as_str()),
        (500, "list element types are not identical: [[a] [[b]]]")
    );
    let error = strategic_merge_patch(
        "",
        "ConfigMap",
        &target,
        br#"{"metadata": {"finalizers": [1]}}"#,
    )
    .unwrap_err();
    assert_eq!(
        error.message,
        "list element types are not identical: [[a] [1]]"
    );
}

#[test]
fn a_malformed_body_is_a_400() {
    let target = json!({});
    let error = strategic_merge_patch("", "Pod", &target, b"{").unwrap_err();
    assert_eq!((error.code, error.reason), (400, "BadRequest"));
    let error = strategic_merge_patch("", "Pod", &target, b"[]").unwrap_err();
    assert_eq!(
        error.message,
        "json: cannot unmarshal array into Go value of type map[string]interface {}"
    );
    assert_eq!(
        strategic_merge_patch("", "Pod", &target, b"null").unwrap(),
        target
    );
}

#[test]
fn long_lists_merge_in_reasonable_time() {
    let names: Vec<serde_json::Value> = (0..20_000)
        .map(|i| json!({"name": format!("c{i}")}))
        .collect();
    let target = pod(serde_json::Value::Array(names.clone()));
    let mut patch_items: Vec<serde_json::Value> = names.iter().rev().cloned().collect();
    patch_items.push(json!({"name": "new"}));
    let order = serde_json::Value::Array(patch_items.clone());
    let patch = json!({"spec": {"$setElementOrder/containers": order, "containers": patch_items}});
    let patched = smp("", "Pod", target, patch);
    assert_eq!(patched["spec"]["containers"][0]["name"], "c19999");
    assert_eq!(patched["spec"]["containers"][20_000]["name"], "new");

    let finalizers: Vec<String> = (0..20_000).map(|i| format!("f{i}")).collect();
    let target = json!({"metadata": {"finalizers": finalizers}});
    let patch = json!({"metadata": {"finalizers": ["x"], "$deleteFromPrimitiveList/finalizers": finalizers}});
    assert_eq!(
        smp("", "ConfigMap", target, patch)["metadata"]["finalizers"],
        json!(["x"])
    );
}

#[test]
fn edge_cases_agree_with_upstream() {
    // An order for an empty list, with nothing to merge: upstream's error.
    let target = json!({"metadata": {"name": "c", "finalizers": []}});
    let error = strategic_merge_patch(
        "",
        "ConfigMap",
        &target,
        br#"{"metadata": {"$setElementOrder/finalizers": ["a"]}}"#,
    )
    .unwrap_err();
    assert_eq!(
        (error.code, error.message.as_str()),
        (500, "no elements in any of the given slices")
    );

    // `$retainKeys` works on any map, and items appended to a merged list
    // are taken as sent.
    let target = json!({"metadata": {"labels": {"a": "1", "b": "2"}}, "spec": {"containers": [{"name": "a"}]}});
    let patch = json!({
        "metadata": {"labels": {"$retainKeys": ["b"], "b": "9"}},
        "spec": {"containers": [{"name": "new", "env": [{"name": "A", "value": null}]}]}
    });
    let patched = smp("", "Pod", target, patch);
    assert_eq!(patched["metadata"]["labels"], json!({"b": "9"}));
    assert_eq!(
        patched["spec"]["containers"][0],
        json!({"name": "new", "env": [{"name": "A", "value": null}]})
    );
}
