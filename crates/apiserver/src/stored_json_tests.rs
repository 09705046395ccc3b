use serde_json::json;

use super::*;
use crate::response::PartialMetadataView;
use crate::selectors::Selectable;
use crate::watch_memo::encode_line;

fn resource(group: &str, version: &str, plural: &str) -> &'static Resource {
    capstan_api::resource::find(group, version, plural).expect("served")
}

/// A pod as the API server stores it: the keys sorted (a decoded `Map`),
/// no resourceVersion, strings that need escaping.
fn stored_pod() -> Vec<u8> {
    serde_json::to_vec(&json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": "web-1",
            "namespace": "default",
            "uid": "0b9c",
            "labels": {"app": "web", "tier": "front\"end"},
            "annotations": {"note": "line\nbreak \u{e9} \u{1F600}", "quote": "\\"},
            "managedFields": [{"manager": "kubectl", "fieldsV1": {"f:spec": {}}}],
            "ownerReferences": [{"kind": "ReplicaSet", "name": "web", "uid": "1", "controller": true}],
        },
        "spec": {
            "nodeName": "node-3",
            "schedulerName": "default-scheduler",
            "containers": [{"name": "c", "image": "busybox", "resources": {"requests": {"cpu": "10m"}}}],
            "priority": 0,
            "terminationGracePeriodSeconds": 30,
            "hostNetwork": true,
            "weight": 0.5,
        },
        "status": {
            "phase": "Running",
            "podIP": "10.42.3.7",
            "podIPs": [{"ip": "10.42.3.7"}],
            "conditions": [{"type": "Ready", "status": "True"}],
        },
    }))
    .unwrap()
}

/// The line as decoding the object and encoding it gives.
fn decoded_line(kind: &str, resource: &Resource, stored: &[u8], revision: Revision) -> Bytes {
    let object = crate::registry::decode(resource, stored, revision)
        .unwrap()
        .object;
    encode_line(kind, &object)
}

#[test]
fn a_spliced_line_is_the_decoded_line() {
    let pods = resource("", "v1", "pods");
    let stored = stored_pod();
    for (kind, revision) in [("ADDED", 7), ("MODIFIED", 123_456_789), ("DELETED", 1)] {
        let spliced = line(kind, pods, &stored, revision, LineShape::Object).expect("spliced");
        assert_eq!(
            String::from_utf8_lossy(&spliced),
            String::from_utf8_lossy(&decoded_line(kind, pods, &stored, revision))
        );
    }
}

#[test]
fn a_spliced_metadata_line_is_the_decoded_one() {
    let pods = resource("", "v1", "pods");
    let stored = stored_pod();
    for v1 in [true, false] {
        let spliced = line(
            "MODIFIED",
            pods,
            &stored,
            42,
            LineShape::PartialMetadata { v1 },
        )
        .unwrap();
        let object = crate::registry::decode(pods, &stored, 42).unwrap().object;
        let view = PartialMetadataView {
            metadata: object.get("metadata"),
            v1,
        };
        assert_eq!(
            String::from_utf8_lossy(&spliced),
            String::from_utf8_lossy(&encode_line("MODIFIED", &view))
        );
    }
}

#[test]
fn a_stale_revision_and_repeated_keys_read_as_a_decoded_map() {
    let pods = resource("", "v1", "pods");
    let stored = br#"{"kind":"Pod","metadata":{"resourceVersion":"3","name":"a","name":"b"},"apiVersion":"v1","kind":"Pod"}"#;
    let spliced = line("ADDED", pods, stored, 9, LineShape::Object).expect("spliced");
    assert_eq!(spliced, decoded_line("ADDED", pods, stored, 9));
    let parsed: Value = serde_json::from_slice(&spliced).unwrap();
    assert_eq!(parsed["object"]["metadata"]["resourceVersion"], "9");
    assert_eq!(parsed["object"]["metadata"]["name"], "b");
}

#[test]
fn what_needs_decoding_is_left_to_the_decoder() {
    let pods = resource("", "v1", "pods");
    // Stored at a version another one converts from.
    let hpa = br#"{"apiVersion":"autoscaling/v1","kind":"HorizontalPodAutoscaler","metadata":{"name":"h"}}"#;
    let hpas = resource("autoscaling", "v2", "horizontalpodautoscalers");
    assert!(line("ADDED", hpas, hpa, 3, LineShape::Object).is_none());
    // No apiVersion, no metadata, metadata not an object, not an object, not JSON.
    for stored in [
        &br#"{"kind":"Pod","metadata":{"name":"a"}}"#[..],
        br#"{"apiVersion":"v1","kind":"Pod"}"#,
        br#"{"apiVersion":"v1","metadata":[1]}"#,
        br#"[1,2]"#,
        br#"{"apiVersion":"v1","metadata":{}"#,
    ] {
        assert!(
            line("ADDED", pods, stored, 3, LineShape::Object).is_none(),
            "{}",
            String::from_utf8_lossy(stored)
        );
    }
}

#[test]
fn pruned_objects_give_the_same_selectable_fields() {
    let pods = resource("", "v1", "pods");
    let nodes = resource("", "v1", "nodes");
    let node = serde_json::to_vec(&json!({
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": "n1", "labels": {"zone": "a"}},
        "spec": {"unschedulable": true, "podCIDR": "10.42.0.0/24"},
        "status": {"capacity": {"cpu": "8"}},
    }))
    .unwrap();
    let odd_pod = br#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":[1,{"a":2}],"status":"x"}"#;
    for (resource, stored) in [
        (pods, stored_pod()),
        (nodes, node),
        (pods, odd_pod.to_vec()),
    ] {
        let paths = capstan_api::selector::selectable_paths(resource).unwrap();
        let pruned = pruned(resource, &stored, paths).expect("pruned");
        let whole = crate::registry::decode(resource, &stored, 1)
            .unwrap()
            .object;
        assert_eq!(
            Selectable::of(resource, &pruned),
            Selectable::of(resource, &whole)
        );
    }
    // What is not on the paths is not built.
    let pruned = pruned(pods, &stored_pod(), &["spec.nodeName"]).unwrap();
    assert_eq!(
        pruned,
        json!({"apiVersion": "v1", "spec": {"nodeName": "node-3"}})
    );
}

#[test]
fn pruning_refuses_what_is_not_an_object_of_this_version() {
    let pods = resource("", "v1", "pods");
    assert!(pruned(pods, b"[1]", &["metadata.name"]).is_none());
    assert!(pruned(pods, b"{\"apiVersion\":\"v1\"", &["metadata.name"]).is_none());
    assert!(pruned(pods, br#"{"apiVersion":"v1"} x"#, &["metadata.name"]).is_none());
    let events = resource("events.k8s.io", "v1", "events");
    let core_event = br#"{"apiVersion":"v1","kind":"Event","metadata":{"name":"e"}}"#;
    assert!(pruned(events, core_event, &["metadata.name"]).is_none());
}

#[test]
fn objects_of_a_group_are_spliced_at_their_own_version() {
    let deployments = resource("apps", "v1", "deployments");
    let stored = br#"{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"d"},"spec":{"replicas":2}}"#;
    let spliced = line("ADDED", deployments, stored, 5, LineShape::Object).expect("spliced");
    assert_eq!(spliced, decoded_line("ADDED", deployments, stored, 5));
    let as_core = br#"{"apiVersion":"v1","kind":"Deployment","metadata":{"name":"d"}}"#;
    assert!(line("ADDED", deployments, as_core, 5, LineShape::Object).is_none());
}
