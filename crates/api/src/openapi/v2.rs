//! `/openapi/v2`: the same schemas as a Swagger 2.0 document, which kubectl
//! fetches (as protobuf) only to validate the items of a `kind: List` file
//! on the client. It carries the definitions, not the paths: kubectl finds
//! everything else in the v3 documents.

use serde_json::{json, Map, Value};

use super::catalog::{Catalog, REF_PREFIX};

const DEFINITIONS: &str = "#/definitions/";

/// The Swagger 2.0 document, as JSON.
pub fn v2_document() -> Value {
    let catalog = Catalog::build();
    let definitions: Map<String, Value> = catalog
        .schemas
        .iter()
        .map(|(name, schema)| (name.clone(), to_v2(schema)))
        .collect();
    json!({
        "swagger": "2.0",
        "info": {"title": "Kubernetes", "version": "unversioned"},
        "paths": {},
        "definitions": definitions,
    })
}

/// The Swagger 2.0 document in gnostic's protobuf encoding
/// (`openapi_v2.Document`), what kubectl asks for with
/// `Accept: application/com.github.proto-openapi.spec.v2@v1.0+protobuf`.
pub fn v2_protobuf() -> Vec<u8> {
    let doc = v2_document();
    let mut out = Pb::default();
    out.string(1, "2.0");
    out.message(2, |info| {
        info.string(1, "Kubernetes");
        info.string(2, "unversioned");
    });
    out.message(8, |_| {});
    out.message(9, |definitions| {
        for (name, schema) in doc["definitions"].as_object().into_iter().flatten() {
            definitions.message(1, |named| named_schema(named, name, schema));
        }
    });
    out.0
}

/// A v3 schema in v2's terms: `$ref` to `#/definitions/` instead of a
/// one-element `allOf`, and no `oneOf` (int-or-string values and quantities
/// are strings; the CRD schema's unions are free-form).
fn to_v2(schema: &Value) -> Value {
    let Value::Object(map) = schema else {
        return schema.clone();
    };
    let mut out = Map::new();
    for (key, value) in map {
        match key.as_str() {
            "$ref" => {
                out.insert(key.clone(), rewrite(value));
            }
            "allOf" => match value.as_array().map(Vec::as_slice) {
                Some([only]) if only.get("$ref").is_some() => {
                    out.insert("$ref".into(), rewrite(&only["$ref"]));
                }
                _ => {
                    out.insert(
                        key.clone(),
                        value.as_array().into_iter().flatten().map(to_v2).collect(),
                    );
                }
            },
            "oneOf" | "anyOf" => {
                let alternatives = value.as_array().into_iter().flatten();
                let scalar =
                    |s: &Value| matches!(s["type"].as_str(), Some("string" | "integer" | "number"));
                if alternatives.clone().all(scalar) {
                    out.insert("type".into(), "string".into());
                }
            }
            "properties" => {
                let props = value.as_object().into_iter().flatten();
                out.insert(
                    key.clone(),
                    props.map(|(k, v)| (k.clone(), to_v2(v))).collect(),
                );
            }
            "items" | "additionalProperties" => {
                out.insert(key.clone(), to_v2(value));
            }
            _ => {
                out.insert(key.clone(), value.clone());
            }
        }
    }
    out.remove("x-kubernetes-int-or-string");
    Value::Object(out)
}

fn rewrite(reference: &Value) -> Value {
    match reference.as_str().and_then(|r| r.strip_prefix(REF_PREFIX)) {
        Some(name) => format!("{DEFINITIONS}{name}").into(),
        None => reference.clone(),
    }
}

/// A protobuf message being written.
#[derive(Default)]
pub(super) struct Pb(pub(super) Vec<u8>);

impl Pb {
    fn varint(&mut self, mut value: u64) {
        while value >= 0x80 {
            self.0.push((value as u8) | 0x80);
            value >>= 7;
        }
        self.0.push(value as u8);
    }

    fn tag(&mut self, field: u64, wire: u64) {
        self.varint(field << 3 | wire);
    }

    fn bytes(&mut self, field: u64, bytes: &[u8]) {
        self.tag(field, 2);
        self.varint(bytes.len() as u64);
        self.0.extend_from_slice(bytes);
    }

    fn string(&mut self, field: u64, value: &str) {
        if !value.is_empty() {
            self.bytes(field, value.as_bytes());
        }
    }

    fn bool(&mut self, field: u64, value: bool) {
        if value {
            self.tag(field, 0);
            self.varint(1);
        }
    }

    fn message(&mut self, field: u64, write: impl FnOnce(&mut Pb)) {
        let mut inner = Pb::default();
        write(&mut inner);
        self.bytes(field, &inner.0);
    }
}

fn named_schema(out: &mut Pb, name: &str, schema: &Value) {
    out.string(1, name);
    out.message(2, |s| encode_schema(s, schema));
}

/// `openapi_v2.Any`: gnostic keeps extension values as YAML, of which JSON
/// is a part.
fn any(out: &mut Pb, value: &Value) {
    out.string(2, &value.to_string());
}

/// `openapi_v2.Schema`, for the keywords the catalog's schemas use.
pub(super) fn encode_schema(out: &mut Pb, schema: &Value) {
    let Value::Object(map) = schema else {
        return;
    };
    let text = |key: &str| map.get(key).and_then(Value::as_str).unwrap_or_default();
    out.string(1, text("$ref"));
    out.string(2, text("format"));
    out.string(3, text("title"));
    out.string(4, text("description"));
    out.bool(16, map.get("uniqueItems") == Some(&Value::Bool(true)));
    for required in map
        .get("required")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        out.string(19, required.as_str().unwrap_or_default());
    }
    for value in map
        .get("enum")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        out.message(20, |a| any(a, value));
    }
    match map.get("additionalProperties") {
        Some(Value::Bool(allowed)) => out.message(21, |a| {
            a.tag(2, 0);
            a.varint(u64::from(*allowed));
        }),
        Some(values @ Value::Object(_)) => {
            out.message(21, |a| a.message(1, |s| encode_schema(s, values)))
        }
        _ => {}
    }
    match map.get("type") {
        Some(Value::String(ty)) => out.message(22, |t| t.string(1, ty)),
        Some(Value::Array(types)) => out.message(22, |t| {
            types
                .iter()
                .filter_map(Value::as_str)
                .for_each(|ty| t.string(1, ty));
        }),
        _ => {}
    }
    if let Some(items) = map.get("items") {
        out.message(23, |i| i.message(1, |s| encode_schema(s, items)));
    }
    for part in map
        .get("allOf")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        out.message(24, |s| encode_schema(s, part));
    }
    if let Some(Value::Object(props)) = map.get("properties") {
        out.message(25, |p| {
            for (name, schema) in props {
                p.message(1, |named| named_schema(named, name, schema));
            }
        });
    }
    for (key, value) in map.iter().filter(|(k, _)| k.starts_with("x-")) {
        out.message(31, |named| {
            named.string(1, key);
            named.message(2, |a| any(a, value));
        });
    }
}
