//! Paths, sets and their FieldsV1 encoding.

use serde_json::json;

use crate::apply::fieldpath::{path_string, PathElement, Set};
use crate::apply::fields_v1::{decode, encode, go_json};

fn field(name: &str) -> PathElement {
    PathElement::Field(name.into())
}

fn key(name: &str, value: serde_json::Value) -> PathElement {
    PathElement::Key(vec![(name.into(), value)])
}

#[test]
fn sets_hold_paths_and_their_parents_separately() {
    let mut set = Set::new();
    set.insert(&[field("spec"), field("replicas")]);
    assert!(set.has(&[field("spec"), field("replicas")]));
    assert!(
        !set.has(&[field("spec")]),
        "a parent is not a member unless inserted"
    );
    set.insert(&[]);
    assert_eq!(set.paths().len(), 1, "the whole object is never tracked");
}

#[test]
fn set_operations() {
    let mut a = Set::new();
    a.insert(&[field("spec"), field("replicas")]);
    a.insert(&[field("spec"), field("paused")]);
    a.insert(&[field("metadata"), field("labels"), field("app")]);
    let mut b = Set::new();
    b.insert(&[field("spec"), field("replicas")]);
    b.insert(&[field("metadata")]);

    let both = a.intersection(&b);
    assert_eq!(both.paths(), vec![vec![field("spec"), field("replicas")]]);
    let union = a.union(&b);
    assert_eq!(union.paths().len(), 4);
    let rest = a.difference(&b);
    assert!(!rest.has(&[field("spec"), field("replicas")]));
    assert!(
        rest.has(&[field("metadata"), field("labels"), field("app")]),
        "a parent member keeps its children"
    );
    let rest = a.recursive_difference(&b);
    assert_eq!(rest.paths(), vec![vec![field("spec"), field("paused")]]);
}

#[test]
fn paths_print_as_upstream() {
    let path = vec![
        field("spec"),
        field("template"),
        field("spec"),
        field("containers"),
        key("name", json!("web")),
        field("ports"),
        PathElement::Key(vec![
            ("containerPort".into(), json!(80)),
            ("protocol".into(), json!("TCP")),
        ]),
    ];
    assert_eq!(
        path_string(&path),
        r#".spec.template.spec.containers[name="web"].ports[containerPort=80,protocol="TCP"]"#
    );
    assert_eq!(
        path_string(&[
            field("metadata"),
            field("finalizers"),
            PathElement::Value(json!("a"))
        ]),
        r#".metadata.finalizers[="a"]"#
    );
    assert_eq!(
        path_string(&[field("list"), PathElement::Index(3)]),
        ".list[3]"
    );
}

#[test]
fn fields_v1_round_trips() {
    let encoded = json!({
        "f:metadata": {"f:labels": {".": {}, "f:app": {}}, "f:finalizers": {"v:\"a\"": {}}},
        "f:spec": {
            "f:replicas": {},
            "f:template": {"f:spec": {"f:containers": {
                "k:{\"name\":\"web\"}": {".": {}, "f:image": {}, "f:ports": {
                    "k:{\"containerPort\":80,\"protocol\":\"TCP\"}": {".": {}, "f:containerPort": {}}
                }}
            }}}
        }
    });
    let set = decode(&encoded).unwrap();
    assert!(set.has(&[field("metadata"), field("labels")]));
    assert!(set.has(&[
        field("metadata"),
        field("finalizers"),
        PathElement::Value(json!("a"))
    ]));
    assert!(set.has(&[
        field("spec"),
        field("template"),
        field("spec"),
        field("containers"),
        key("name", json!("web"))
    ]));
    assert!(!set.has(&[field("spec")]));
    assert_eq!(encode(&set), encoded);
}

#[test]
fn unknown_elements_are_dropped_and_bad_ones_refused() {
    let set = decode(&json!({"f:a": {}, "z:whatever": {}})).unwrap();
    assert_eq!(encode(&set), json!({"f:a": {}}));
    assert!(decode(&json!({"nocolon": {}})).is_err());
    assert!(decode(&json!({"k:notjson": {}})).is_err());
    assert!(decode(&json!([])).is_err());
}

#[test]
fn keys_are_sorted_and_escaped_as_go_writes_them() {
    let mut set = Set::new();
    set.insert(&[PathElement::Key(vec![
        ("a".into(), json!(1)),
        ("b".into(), json!("<x>")),
    ])]);
    assert_eq!(
        encode(&set),
        json!({"k:{\"a\":1,\"b\":\"\\u003cx\\u003e\"}": {}})
    );
    // Decoding sorts the key fields.
    let decoded = decode(&json!({"k:{\"b\":\"<x>\",\"a\":1}": {}})).unwrap();
    assert_eq!(decoded, set);
    assert_eq!(
        go_json(&json!({"b": [1, "&"], "a": null})),
        r#"{"a":null,"b":[1,"\u0026"]}"#
    );
}

#[test]
fn path_elements_order_as_upstream() {
    let mut elements = vec![
        PathElement::Index(0),
        PathElement::Value(json!("a")),
        key("port", json!(10)),
        key("port", json!(9)),
        field("b"),
        field("a"),
        PathElement::Value(json!(2)),
    ];
    elements.sort();
    assert_eq!(
        elements,
        vec![
            field("a"),
            field("b"),
            key("port", json!(9)),
            key("port", json!(10)),
            PathElement::Value(json!(2)),
            PathElement::Value(json!("a")),
            PathElement::Index(0),
        ]
    );
}
