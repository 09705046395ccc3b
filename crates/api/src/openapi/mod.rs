//! The OpenAPI documents the API server publishes at `/openapi/v3` and
//! `/openapi/v2`, and the field checks of `fieldValidation` that use the
//! same schemas.
//!
//! kubectl relies on the documents for three things:
//! - `kubectl apply` computes its strategic merge patch from the schema of
//!   the kind (the `x-kubernetes-patch-*` extensions), once the kind's
//!   PATCH operation accepts `application/strategic-merge-patch+json`;
//! - with `--validate=strict` (the default) it sends `fieldValidation=Strict`
//!   when the kind's PATCH operation lists a `fieldValidation` parameter,
//!   and validates nothing itself;
//! - `kubectl explain` prints the schema of the kind whose
//!   `x-kubernetes-group-version-kind` the resource's operations name.
//!
//! `/openapi/v2` ([`v2_protobuf`]) matters only for `kind: List` files,
//! whose items kubectl validates itself against the v2 definitions.
//!
//! The schemas come from the `k8s-openapi` types, which carry upstream's
//! names and descriptions; the merge extensions from the strategic merge
//! patch's own tables, so that what kubectl computes is what the server
//! applies.

mod catalog;
mod decode;
mod enums;
mod extensions;
mod params;
mod paths;
mod strict;
mod syntax;
mod v2;

#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Map, Value};

use crate::resource::RESOURCES;
use catalog::{Catalog, API_RESOURCE_LIST, DELETE_OPTIONS, PATCH, REF_PREFIX, STATUS, WATCH_EVENT};
pub use decode::{decode_error, typed_error, DecodeError};
pub use strict::{
    duplicate_fields, prune_unknown_fields, strict_decoding_error, strict_errors, unknown_fields,
    StrictError,
};
pub use syntax::syntax_error;
pub use v2::{v2_document, v2_protobuf};

/// The index of `/openapi/v3`: one entry per served group version, e.g.
/// `{"paths": {"apis/apps/v1": {"serverRelativeURL":
/// "/openapi/v3/apis/apps/v1?hash=…"}}}`. The hash changes whenever the
/// document does, which is what lets clients cache documents for good.
pub fn v3_root() -> Value {
    let catalog = Catalog::build();
    let mut paths = Map::new();
    for (group, version) in group_versions() {
        let Some(doc) = document(&catalog, group, version) else {
            continue;
        };
        let key = if group.is_empty() {
            format!("api/{version}")
        } else {
            format!("apis/{group}/{version}")
        };
        let url = format!("/openapi/v3/{key}?hash={}", hash(&doc));
        paths.insert(key, json!({"serverRelativeURL": url}));
    }
    json!({"paths": paths})
}

/// The OpenAPI 3.0 document of one group version (`""` for the core
/// group), or `None` if nothing is served there.
pub fn v3_document(group: &str, version: &str) -> Option<Value> {
    document(&Catalog::build(), group, version)
}

/// The served group versions, in discovery order.
fn group_versions() -> Vec<(&'static str, &'static str)> {
    let mut out: Vec<(&str, &str)> = Vec::new();
    for r in RESOURCES {
        if !out.contains(&(r.group, r.version)) {
            out.push((r.group, r.version));
        }
    }
    out
}

fn document(catalog: &Catalog, group: &str, version: &str) -> Option<Value> {
    let rows: Vec<_> = RESOURCES
        .iter()
        .filter(|r| r.group == group && r.version == version)
        .collect();
    if rows.is_empty() {
        return None;
    }
    let gv = paths::GroupVersion::new(group, version);
    let mut paths = Map::new();
    gv.discovery(&mut paths);
    let mut roots = BTreeSet::new();
    for row in rows {
        let Some(kind) = catalog.kind(row.group, row.version, row.kind) else {
            continue;
        };
        paths::resource(&mut paths, &gv, row, kind, catalog);
        roots.insert(kind.schema.clone());
        roots.extend(kind.list.clone());
    }
    for name in [
        DELETE_OPTIONS,
        STATUS,
        PATCH,
        WATCH_EVENT,
        API_RESOURCE_LIST,
    ] {
        roots.insert(name.to_string());
    }
    // Whatever the operations name (subresource kinds) and everything those
    // schemas refer to.
    let mut refs = BTreeSet::new();
    paths
        .values()
        .for_each(|item| collect_refs(item, &mut refs));
    roots.extend(refs);
    let schemas = closure(&catalog.schemas, roots);
    Some(json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": "unversioned"},
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "BearerToken": {
                    "description": "Bearer Token authentication",
                    "in": "header",
                    "name": "authorization",
                    "type": "apiKey",
                },
            },
        },
        "security": [{"BearerToken": []}],
    }))
}

/// The named schemas and all they refer to, transitively.
fn closure(all: &Map<String, Value>, roots: BTreeSet<String>) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    let mut todo: Vec<String> = roots.into_iter().collect();
    while let Some(name) = todo.pop() {
        if out.contains_key(&name) {
            continue;
        }
        let Some(schema) = all.get(&name) else {
            continue;
        };
        let mut refs = BTreeSet::new();
        collect_refs(schema, &mut refs);
        todo.extend(refs.into_iter().filter(|r| !out.contains_key(r)));
        out.insert(name, schema.clone());
    }
    out
}

fn collect_refs(value: &Value, out: &mut BTreeSet<String>) {
    match value {
        Value::Object(map) => {
            for (key, value) in map {
                match (key.as_str(), value) {
                    ("$ref", Value::String(r)) => {
                        out.extend(r.strip_prefix(REF_PREFIX).map(str::to_string));
                    }
                    _ => collect_refs(value, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| collect_refs(v, out)),
        _ => {}
    }
}

/// A 128-bit FNV-1a digest of the document, in upper-case hex as
/// upstream's (longer) SHA-512 is.
fn hash(doc: &Value) -> String {
    const OFFSET: u128 = 0x6c62272e07bb014262b821756295c58d;
    const PRIME: u128 = 0x0000000001000000000000000000013b;
    let bytes = serde_json::to_vec(doc).unwrap_or_default();
    let digest = bytes
        .iter()
        .fold(OFFSET, |h, b| (h ^ u128::from(*b)).wrapping_mul(PRIME));
    format!("{digest:032X}")
}
