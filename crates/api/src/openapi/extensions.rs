//! The merge extensions of upstream's documents, taken from the merge
//! tables the strategic merge patch uses (`crate::patch::schema`), so that
//! `kubectl apply` computes the patches the server applies.

use std::collections::HashSet;

use serde_json::{json, Map, Value};

use super::catalog::{ref_name, ref_of, Catalog};
use crate::patch::schema::{self, Elem, ListKind, Shape, Ty, TypeDef};

/// `patchStrategy` tags with `retainKeys`, which the merge tables do not
/// record: kubectl sends `$retainKeys` for these, which clears the fields
/// of the old variant (a Deployment switching to `Recreate` drops
/// `rollingUpdate`).
const RETAIN_KEYS: &[(&str, &str, &str)] = &[
    (
        "io.k8s.api.apps.v1.DeploymentSpec",
        "strategy",
        "retainKeys",
    ),
    ("io.k8s.api.core.v1.PodSpec", "volumes", "merge,retainKeys"),
    (
        "io.k8s.api.core.v1.PodSpec",
        "resourceClaims",
        "merge,retainKeys",
    ),
];

pub(super) fn annotate(catalog: &mut Catalog) {
    let roots: Vec<(String, &'static TypeDef)> = catalog
        .kinds
        .iter()
        .filter_map(|k| match schema::root(k.group, k.kind) {
            Ty::Struct(def) => Some((k.schema.clone(), def)),
            _ => None,
        })
        .collect();
    let mut seen = HashSet::new();
    for (name, def) in roots {
        walk(&mut catalog.schemas, &name, def, &mut seen);
    }
    for (name, field, strategy) in RETAIN_KEYS {
        if let Some(prop) = property(&mut catalog.schemas, name, field) {
            prop.insert("x-kubernetes-patch-strategy".into(), (*strategy).into());
        }
    }
}

/// Marks the fields of schema `name` that `def` lists, and the types they
/// lead to.
fn walk(
    schemas: &mut Map<String, Value>,
    name: &str,
    def: &'static TypeDef,
    seen: &mut HashSet<(String, usize)>,
) {
    if !seen.insert((name.to_string(), def as *const TypeDef as usize)) {
        return;
    }
    for field in def.fields {
        let Some(prop) = property(schemas, name, field.name) else {
            continue;
        };
        let mut next: Vec<(String, &'static TypeDef)> = Vec::new();
        let mut atomic_type = None;
        match field.shape {
            Shape::Struct(def) => next.extend(ref_of(prop).map(|n| (n.to_string(), def))),
            Shape::Atomic { replace } => {
                if replace {
                    prop.insert("x-kubernetes-patch-strategy".into(), "replace".into());
                }
                // A struct is atomic as a type (`+structType=atomic`), a map
                // as a field (`+mapType=atomic`).
                match ref_of(prop).map(str::to_string) {
                    Some(target) => atomic_type = Some(target),
                    None if prop.contains_key("additionalProperties") => {
                        prop.insert("x-kubernetes-map-type".into(), "atomic".into());
                    }
                    None => {}
                }
            }
            Shape::List(list) => {
                match list.kind {
                    ListKind::Atomic => {
                        prop.insert("x-kubernetes-list-type".into(), "atomic".into());
                    }
                    ListKind::Set => {
                        prop.insert("x-kubernetes-list-type".into(), "set".into());
                    }
                    ListKind::Map(keys) => {
                        let names: Vec<&str> = keys.iter().map(|k| k.name).collect();
                        prop.insert("x-kubernetes-list-type".into(), "map".into());
                        prop.insert("x-kubernetes-list-map-keys".into(), json!(names));
                    }
                }
                match list.merge_key {
                    Some("") => {
                        prop.insert("x-kubernetes-patch-strategy".into(), "merge".into());
                    }
                    Some(key) => {
                        prop.insert("x-kubernetes-patch-merge-key".into(), key.into());
                        prop.insert("x-kubernetes-patch-strategy".into(), "merge".into());
                    }
                    None => {}
                }
                let item = prop.get("items").and_then(ref_name).map(str::to_string);
                match (list.elem, item) {
                    (Elem::Struct(def), Some(item)) => next.push((item, def)),
                    (Elem::Atomic, Some(item)) => atomic_type = Some(item),
                    _ => {}
                }
            }
        }
        if let Some(Value::Object(target)) = atomic_type.and_then(|t| schemas.get_mut(&t)) {
            target.insert("x-kubernetes-map-type".into(), "atomic".into());
        }
        for (target, def) in next {
            walk(schemas, &target, def, seen);
        }
    }
}

fn property<'a>(
    schemas: &'a mut Map<String, Value>,
    name: &str,
    field: &str,
) -> Option<&'a mut Map<String, Value>> {
    match schemas
        .get_mut(name)?
        .get_mut("properties")?
        .get_mut(field)?
    {
        Value::Object(prop) => Some(prop),
        _ => None,
    }
}
