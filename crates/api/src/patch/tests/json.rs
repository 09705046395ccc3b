//! JSON patch and JSON merge patch.

use serde_json::json;

use crate::patch::{json_patch, merge_patch};

#[test]
fn json_patch_applies_operations_in_order() {
    let target =
        json!({"metadata": {"name": "web", "labels": {"app": "web"}}, "spec": {"replicas": 1}});
    let patch = br#"[
        {"op": "test", "path": "/spec/replicas", "value": 1},
        {"op": "replace", "path": "/spec/replicas", "value": 3},
        {"op": "add", "path": "/metadata/labels/tier", "value": "front"},
        {"op": "remove", "path": "/metadata/labels/app"},
        {"op": "copy", "from": "/metadata/name", "path": "/metadata/labels/name"},
        {"op": "move", "from": "/metadata/labels/name", "path": "/metadata/labels/moved"}
    ]"#;
    let patched = json_patch(&target, patch).unwrap();
    assert_eq!(
        patched,
        json!({"metadata": {"name": "web", "labels": {"tier": "front", "moved": "web"}}, "spec": {"replicas": 3}})
    );
}

#[test]
fn json_patch_appends_to_lists() {
    let target = json!({"spec": {"containers": [{"name": "a"}]}});
    let patch = br#"[{"op": "add", "path": "/spec/containers/-", "value": {"name": "b"}}]"#;
    let patched = json_patch(&target, patch).unwrap();
    assert_eq!(patched["spec"]["containers"][1]["name"], "b");
}

#[test]
fn a_failing_test_is_upstreams_generic_422() {
    let target = json!({"spec": {"replicas": 1}});
    let error = json_patch(
        &target,
        br#"[{"op": "test", "path": "/spec/replicas", "value": 5}]"#,
    )
    .unwrap_err();
    assert_eq!(error.code, 422);
    assert_eq!(error.reason, "Invalid");
    assert_eq!(
        error.message,
        "the server rejected our request due to an error in our request"
    );
}

#[test]
fn a_missing_path_or_unknown_op_is_a_422() {
    let target = json!({"spec": {}});
    for patch in [
        r#"[{"op": "remove", "path": "/spec/nothing"}]"#,
        r#"[{"op": "replace", "path": "/a/b/c", "value": 1}]"#,
        r#"[{"op": "add", "path": "/a/b", "value": 1}]"#,
        r#"[{"op": "frobnicate", "path": "/spec"}]"#,
        r#"[{"op": "add", "value": 1}]"#,
    ] {
        let error = json_patch(&target, patch.as_bytes()).unwrap_err();
        assert_eq!(error.code, 422, "{patch}");
    }
}

#[test]
fn a_malformed_json_patch_is_a_400() {
    let target = json!({});
    let error = json_patch(&target, b"[{").unwrap_err();
    assert_eq!((error.code, error.reason), (400, "BadRequest"));
    let error = json_patch(&target, br#"{"op": "add"}"#).unwrap_err();
    assert_eq!(error.code, 400);
    assert_eq!(
        error.message,
        "json: cannot unmarshal object into Go value of type jsonpatch.Patch"
    );
    let error = json_patch(&target, br#"["add"]"#).unwrap_err();
    assert_eq!(
        error.message,
        "json: cannot unmarshal string into Go value of type jsonpatch.Operation"
    );
}

#[test]
fn json_patch_operations_are_bounded() {
    let op = r#"{"op": "test", "path": "/a", "value": 1}"#;
    let patch = format!("[{}]", vec![op; 10_001].join(","));
    let error = json_patch(&json!({"a": 1}), patch.as_bytes()).unwrap_err();
    assert_eq!(error.code, 413);
    assert_eq!(
        error.message,
        "Request entity too large: The allowed maximum operations in a JSON patch is 10000, got 10001"
    );
}

#[test]
fn an_empty_json_patch_changes_nothing() {
    let target = json!({"a": 1});
    assert_eq!(json_patch(&target, b"[]").unwrap(), target);
    assert_eq!(json_patch(&target, b"null").unwrap(), target);
}

#[test]
fn merge_patch_merges_objects_and_replaces_lists() {
    let target = json!({
        "metadata": {"labels": {"app": "web", "tier": "front"}},
        "spec": {"replicas": 1, "template": {"spec": {"containers": [{"name": "a", "image": "x"}, {"name": "b"}]}}}
    });
    let patch = br#"{
        "metadata": {"labels": {"tier": null, "env": "prod"}},
        "spec": {"replicas": 2, "template": {"spec": {"containers": [{"name": "a", "image": "y"}]}}},
        "status": {"nested": {"gone": null, "kept": 1}}
    }"#;
    let patched = merge_patch(&target, patch).unwrap();
    assert_eq!(
        patched,
        json!({
            "metadata": {"labels": {"app": "web", "env": "prod"}},
            "spec": {"replicas": 2, "template": {"spec": {"containers": [{"name": "a", "image": "y"}]}}},
            "status": {"nested": {"kept": 1}}
        })
    );
}

#[test]
fn a_malformed_merge_patch_is_a_400() {
    for body in [&b"{"[..], b"[1]", b"null", b"3"] {
        let error = merge_patch(&json!({}), body).unwrap_err();
        assert_eq!(
            (error.code, error.message.as_str()),
            (400, "Invalid JSON Patch")
        );
    }
}
