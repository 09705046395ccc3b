//! Values of the wrong type: what upstream's decoder refuses before any
//! validation runs, found with the schemas of the documents.
//!
//! Upstream decodes a body into its Go types, so `replicas: "two"` never
//! reaches validation: a create or update fails with 400 BadRequest,
//! `Deployment in version "v1" cannot be handled as a Deployment: json:
//! cannot unmarshal string into Go struct field DeploymentSpec.spec.replicas
//! of type int32` (Go's `encoding/json` wording: the innermost struct, the
//! path of JSON field names without list indices, the Go type). Server-side
//! apply converts the configuration with structured-merge-diff instead and
//! words the same mistake `.spec.replicas: expected numeric (int or float),
//! got string`. Only the first mistake is reported, as Go's decoder does.

use std::collections::HashMap;
use std::sync::OnceLock;

use serde_json::Value;

use super::catalog::{ref_name, Catalog};
use crate::validation::quantity;

/// The first value of the wrong type in an object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecodeError {
    /// As Go's `encoding/json` (or the type's own decoder) words it.
    pub json: String,
    /// As structured-merge-diff words it for server-side apply.
    pub typed: String,
    /// As upstream's unstructured converter words it, for a strategic
    /// merge patch (`unrecognized type: int32`).
    pub unstructured: String,
}

impl DecodeError {
    /// The same words in every wording: errors of the type's own decoder.
    fn plain(message: String) -> DecodeError {
        DecodeError {
            json: message.clone(),
            typed: message.clone(),
            unstructured: message,
        }
    }
}

/// The first value of `object` that upstream's decoder of the kind would
/// refuse; `None` for kinds without a schema.
pub fn decode_error(group: &str, version: &str, kind: &str, object: &Value) -> Option<DecodeError> {
    walk(group, version, kind, object, false)
}

/// What structured-merge-diff refuses in an applied configuration: the
/// first value of the wrong type or field the schema does not declare
/// (`.spec.foo: field not declared in schema`).
pub fn typed_error(group: &str, version: &str, kind: &str, object: &Value) -> Option<String> {
    walk(group, version, kind, object, true)
        .map(|error| error.typed)
        .filter(|typed| !typed.is_empty())
}

fn walk(
    group: &str,
    version: &str,
    kind: &str,
    object: &Value,
    report_unknown: bool,
) -> Option<DecodeError> {
    let index = index();
    let root = *index
        .kinds
        .get(&(group.to_string(), version.to_string(), kind.to_string()))?;
    let mut walk = Walk {
        index,
        go_struct: kind.to_string(),
        fields: Vec::new(),
        typed: String::new(),
        report_unknown,
    };
    let Node::Struct {
        fields, preserve, ..
    } = &index.nodes[root].node
    else {
        return None;
    };
    let map = object.as_object()?;
    walk.fields_of(fields, *preserve, map)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Scalar {
    Int32,
    Int64,
    Float,
    String,
    /// `[]byte`: a base64 string.
    Bytes,
    Bool,
    IntOrString,
    Quantity,
}

enum Node {
    Struct {
        /// The Go type's name, without its package: `DeploymentSpec`.
        name: String,
        fields: HashMap<String, usize>,
        /// `x-kubernetes-preserve-unknown-fields`.
        preserve: bool,
    },
    List {
        item: usize,
        keys: Vec<String>,
    },
    Map {
        value: usize,
    },
    Scalar(Scalar),
    /// Free-form JSON (`RawExtension`, `FieldsV1`, CRD `JSON`).
    Any,
    /// A named schema, resolved on use (it may not be built yet).
    Ref(usize),
}

struct Typed {
    node: Node,
    /// The Go type as `reflect` prints it: `v1.DeploymentSpec`,
    /// `[]v1.Container`, `map[string]string`, `int32`.
    go: String,
}

struct Index {
    nodes: Vec<Typed>,
    kinds: HashMap<(String, String, String), usize>,
}

fn index() -> &'static Index {
    static INDEX: OnceLock<Index> = OnceLock::new();
    INDEX.get_or_init(|| Index::new(&Catalog::build()))
}

impl Index {
    fn new(catalog: &Catalog) -> Index {
        let names: HashMap<&str, usize> = catalog
            .schemas
            .keys()
            .enumerate()
            .map(|(i, n)| (n.as_str(), i))
            .collect();
        let mut index = Index {
            nodes: (0..names.len())
                .map(|_| Typed {
                    node: Node::Any,
                    go: String::new(),
                })
                .collect(),
            kinds: HashMap::new(),
        };
        for (i, (name, schema)) in catalog.schemas.iter().enumerate() {
            index.nodes[i] = index.named(name, schema, &names);
        }
        for k in &catalog.kinds {
            if let Some(i) = names.get(k.schema.as_str()) {
                let key = (
                    k.group.to_string(),
                    k.version.to_string(),
                    k.kind.to_string(),
                );
                index.kinds.insert(key, *i);
            }
        }
        index
    }

    /// The node of a named schema, e.g. `io.k8s.api.apps.v1.DeploymentSpec`.
    fn named(&mut self, name: &str, schema: &Value, names: &HashMap<&str, usize>) -> Typed {
        let mut parts = name.rsplit('.');
        let short = parts.next().unwrap_or(name).to_string();
        let package = parts.next().unwrap_or_default();
        let go = format!("{package}.{short}");
        let node = match short.as_str() {
            "IntOrString" => Node::Scalar(Scalar::IntOrString),
            "Quantity" => Node::Scalar(Scalar::Quantity),
            _ if schema.get("properties").is_some() => self.structure(short, schema, names),
            // Times decode as strings first: their errors name `string`.
            _ => match self.field(schema, names) {
                Typed {
                    node: Node::Scalar(scalar),
                    go,
                } => {
                    return Typed {
                        node: Node::Scalar(scalar),
                        go,
                    }
                }
                _ => Node::Any,
            },
        };
        Typed { node, go }
    }

    fn structure(&mut self, name: String, schema: &Value, names: &HashMap<&str, usize>) -> Node {
        let mut fields = HashMap::new();
        if let Some(props) = schema.get("properties").and_then(Value::as_object) {
            for (key, prop) in props {
                let typed = self.field(prop, names);
                self.nodes.push(typed);
                fields.insert(key.clone(), self.nodes.len() - 1);
            }
        }
        let preserve =
            schema.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true));
        Node::Struct {
            name,
            fields,
            preserve,
        }
    }

    /// The node of a property (or list item, or map value) schema.
    fn field(&mut self, schema: &Value, names: &HashMap<&str, usize>) -> Typed {
        if let Some(name) = ref_name(schema) {
            let mut parts = name.rsplit('.');
            let short = parts.next().unwrap_or(name);
            let go = match (short, parts.next()) {
                // Times decode as strings first: their errors name `string`.
                ("Time" | "MicroTime", Some("v1")) => "string".to_string(),
                (short, package) => format!("{}.{short}", package.unwrap_or_default()),
            };
            let node = names.get(name).map_or(Node::Any, |i| Node::Ref(*i));
            return Typed { node, go };
        }
        let scalar = |scalar, go: &str| Typed {
            node: Node::Scalar(scalar),
            go: go.to_string(),
        };
        let format = schema.get("format").and_then(Value::as_str);
        match schema.get("type").and_then(Value::as_str) {
            Some("integer") if format == Some("int32") => scalar(Scalar::Int32, "int32"),
            Some("integer") => scalar(Scalar::Int64, "int64"),
            Some("number") => scalar(Scalar::Float, "float64"),
            Some("boolean") => scalar(Scalar::Bool, "bool"),
            Some("string") if format == Some("byte") => scalar(Scalar::Bytes, "[]uint8"),
            Some("string") => scalar(Scalar::String, "string"),
            Some("array") => {
                let item = match schema.get("items") {
                    Some(items) => self.field(items, names),
                    None => Typed {
                        node: Node::Any,
                        go: "interface {}".into(),
                    },
                };
                let go = format!("[]{}", item.go);
                self.nodes.push(item);
                let keys = schema
                    .get("x-kubernetes-list-map-keys")
                    .and_then(Value::as_array)
                    .map(|keys| {
                        keys.iter()
                            .filter_map(Value::as_str)
                            .map(str::to_string)
                            .collect()
                    })
                    .unwrap_or_default();
                Typed {
                    node: Node::List {
                        item: self.nodes.len() - 1,
                        keys,
                    },
                    go,
                }
            }
            Some("object") => match schema.get("additionalProperties") {
                Some(values) if values.is_object() => {
                    let value = self.field(values, names);
                    let go = format!("map[string]{}", value.go);
                    self.nodes.push(value);
                    Typed {
                        node: Node::Map {
                            value: self.nodes.len() - 1,
                        },
                        go,
                    }
                }
                _ if schema.get("properties").is_some() => {
                    let node = self.structure(String::new(), schema, names);
                    Typed {
                        node,
                        go: "struct".into(),
                    }
                }
                _ => Typed {
                    node: Node::Any,
                    go: "map[string]interface {}".into(),
                },
            },
            _ => Typed {
                node: Node::Any,
                go: "interface {}".into(),
            },
        }
    }

    /// Follows a reference to a named schema.
    fn resolve(&self, i: usize) -> &Typed {
        match self.nodes[i].node {
            Node::Ref(target) => &self.nodes[target],
            _ => &self.nodes[i],
        }
    }
}

struct Walk<'a> {
    index: &'a Index,
    /// The innermost struct being decoded.
    go_struct: String,
    /// JSON field names from the root, as Go's error context keeps them.
    fields: Vec<String>,
    /// structured-merge-diff's path: `.spec.containers[name="web"].image`.
    typed: String,
    /// Fields the schema does not have are errors (apply), or ignored as
    /// Go's decoder ignores them.
    report_unknown: bool,
}

impl Walk<'_> {
    fn fields_of(
        &mut self,
        fields: &HashMap<String, usize>,
        preserve: bool,
        map: &serde_json::Map<String, Value>,
    ) -> Option<DecodeError> {
        for (key, value) in map {
            let Some(field) = fields.get(key) else {
                if self.report_unknown && !preserve {
                    return Some(DecodeError {
                        json: String::new(),
                        typed: format!("{}.{key}: field not declared in schema", self.typed),
                        unstructured: String::new(),
                    });
                }
                continue;
            };
            let typed_len = self.typed.len();
            self.fields.push(key.clone());
            self.typed.push('.');
            self.typed.push_str(key);
            let found = self.value(*field, value);
            self.fields.pop();
            self.typed.truncate(typed_len);
            if found.is_some() {
                return found;
            }
        }
        None
    }

    fn value(&mut self, node: usize, value: &Value) -> Option<DecodeError> {
        if value.is_null() {
            return None;
        }
        let index = self.index;
        // The Go type is the field's (`[]v1.Container`); what it holds is
        // the named schema's.
        let go = &index.nodes[node].go;
        let typed = index.resolve(node);
        let go = if go.is_empty() { &typed.go } else { go };
        match (&typed.node, value) {
            (Node::Any | Node::Ref(_), _) => None,
            (
                Node::Struct {
                    name,
                    fields,
                    preserve,
                },
                Value::Object(map),
            ) => {
                let outer = std::mem::replace(&mut self.go_struct, name.clone());
                let found = self.fields_of(fields, *preserve, map);
                self.go_struct = outer;
                found
            }
            (Node::Struct { .. }, _) => Some(self.mismatch(value, go, "expected map")),
            (Node::Map { value: item }, Value::Object(map)) => {
                for (key, child) in map {
                    let len = self.typed.len();
                    self.typed.push('.');
                    self.typed.push_str(key);
                    let found = self.value(*item, child);
                    self.typed.truncate(len);
                    if found.is_some() {
                        return found;
                    }
                }
                None
            }
            (Node::Map { .. }, _) => Some(self.mismatch(value, go, "expected map")),
            (Node::List { item, keys }, Value::Array(items)) => {
                for (i, child) in items.iter().enumerate() {
                    let len = self.typed.len();
                    self.typed.push_str(&list_element(i, child, keys));
                    let found = self.value(*item, child);
                    self.typed.truncate(len);
                    if found.is_some() {
                        return found;
                    }
                }
                None
            }
            (Node::List { .. }, _) => Some(self.mismatch(value, go, "expected list")),
            (Node::Scalar(scalar), value) => self.scalar(*scalar, go, value),
        }
    }

    fn scalar(&self, scalar: Scalar, go: &str, value: &Value) -> Option<DecodeError> {
        let numeric = "expected numeric (int or float)";
        match (scalar, value) {
            (Scalar::Int32 | Scalar::Int64, Value::Number(n)) => {
                let fits = match scalar {
                    Scalar::Int32 => n.as_i64().is_some_and(|v| i32::try_from(v).is_ok()),
                    _ => n.as_i64().is_some(),
                };
                if fits {
                    return None;
                }
                // Go names the number it could not store.
                let json = self.go_error(&format!("number {n}"), go);
                Some(DecodeError {
                    typed: format!("{}: {json}", self.typed),
                    unstructured: format!("cannot convert float64 to {go}"),
                    json,
                })
            }
            (Scalar::Float, Value::Number(_))
            | (Scalar::String, Value::String(_))
            | (Scalar::Bool, Value::Bool(_))
            | (Scalar::IntOrString, Value::String(_)) => None,
            (Scalar::Int32 | Scalar::Int64 | Scalar::Float, _) => {
                Some(self.mismatch(value, go, numeric))
            }
            (Scalar::String, _) => Some(self.mismatch(value, go, "expected string")),
            (Scalar::Bytes, Value::String(text)) => base64_error(text).map(DecodeError::plain),
            (Scalar::Bytes, _) => Some(self.mismatch(value, go, "expected string")),
            (Scalar::Bool, _) => Some(self.mismatch(value, go, "expected boolean")),
            (Scalar::IntOrString, Value::Number(n)) if n.as_i64().is_some() => None,
            // IntOrString decodes anything but a string as an int32, itself.
            (Scalar::IntOrString, _) => {
                let mut error = match value {
                    Value::Number(n) => {
                        DecodeError::plain(self.go_error(&format!("number {n}"), "int32"))
                    }
                    _ => self.mismatch(value, "int32", "expected any scalar"),
                };
                error.unstructured = format!(
                    "json: cannot unmarshal {} into Go value of type int32",
                    json_kind(value)
                );
                if !matches!(value, Value::Number(_)) {
                    error.typed = format!("{}: expected any scalar, got {value}", self.typed);
                }
                Some(error)
            }
            (Scalar::Quantity, Value::String(_) | Value::Number(_)) => {
                quantity::from_json(value).err().map(|message| DecodeError {
                    typed: String::new(),
                    ..DecodeError::plain(message)
                })
            }
            (Scalar::Quantity, _) => Some(DecodeError {
                typed: format!("{}: expected any scalar, got {value}", self.typed),
                ..DecodeError::plain(quantity::QUANTITY_FORMAT_ERROR.to_string())
            }),
        }
    }

    /// A value of the wrong JSON type.
    fn mismatch(&self, value: &Value, go: &str, expected: &str) -> DecodeError {
        let got = if expected.starts_with("expected numeric") {
            match value {
                Value::String(_) => "string".to_string(),
                Value::Bool(_) => "bool".to_string(),
                Value::Array(_) => "[]interface {}".to_string(),
                _ => "map[string]interface {}".to_string(),
            }
        } else {
            value.to_string()
        };
        // What upstream's unstructured converter holds and makes of it.
        let held = match value {
            Value::String(_) => "string",
            Value::Number(n) if n.is_f64() => "float64",
            Value::Number(_) => "int64",
            Value::Bool(_) => "bool",
            Value::Array(_) => "slice",
            _ => "map",
        };
        let unstructured = match expected {
            "expected map" if go.starts_with("map[") => format!("cannot restore map from {held}"),
            "expected map" => format!("cannot restore struct from: {held}"),
            "expected list" => format!("cannot restore slice from {held}"),
            _ if held == "int64" && go == "string" => "cannot convert int64 to string".to_string(),
            _ => format!("unrecognized type: {go}"),
        };
        DecodeError {
            json: self.go_error(json_kind(value), go),
            typed: format!("{}: {expected}, got {got}", self.typed),
            unstructured,
        }
    }

    /// Go's `UnmarshalTypeError` with its context.
    fn go_error(&self, value: &str, go: &str) -> String {
        if self.fields.is_empty() {
            return format!("json: cannot unmarshal {value} into Go value of type {go}");
        }
        format!(
            "json: cannot unmarshal {value} into Go struct field {}.{} of type {go}",
            self.go_struct,
            self.fields.join(".")
        )
    }
}

/// The kind of a JSON value as Go's decoder names it.
fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::String(_) => "string",
        Value::Number(_) => "number",
        Value::Bool(_) => "bool",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
        Value::Null => "null",
    }
}

/// `[name="web"]` for items of lists keyed by fields, `[3]` for the rest.
fn list_element(i: usize, item: &Value, keys: &[String]) -> String {
    let values: Option<Vec<String>> = keys
        .iter()
        .map(|key| item.get(key).map(|v| format!("{key}={v}")))
        .collect();
    match values {
        Some(values) if !values.is_empty() => format!("[{}]", values.join(",")),
        _ => format!("[{i}]"),
    }
}

/// Go's `illegal base64 data at input byte N` for a string that is not
/// standard, padded base64.
fn base64_error(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    // Go's decoder skips line breaks.
    let data: Vec<(usize, u8)> = bytes
        .iter()
        .copied()
        .enumerate()
        .filter(|(_, b)| *b != b'\n' && *b != b'\r')
        .collect();
    let alphabet = |b: u8| b.is_ascii_alphanumeric() || b == b'+' || b == b'/';
    let illegal = |at: usize| Some(format!("illegal base64 data at input byte {at}"));
    let mut padding_from = None;
    for (n, (at, b)) in data.iter().enumerate() {
        match (*b, padding_from) {
            (b'=', None) => {
                // Padding may only end a quantum of four, after two or three
                // data characters.
                if n % 4 < 2 {
                    return illegal(*at);
                }
                padding_from = Some(n);
            }
            (b'=', Some(_)) => {}
            (b, None) if alphabet(b) => {}
            (_, _) => return illegal(*at),
        }
    }
    match padding_from {
        Some(start) => {
            let pads = data.len() - start;
            if !data.len().is_multiple_of(4)
                || (start % 4 == 2 && pads != 2)
                || (start % 4 == 3 && pads != 1)
            {
                return illegal(data.get(start).map_or(bytes.len(), |(at, _)| *at));
            }
            None
        }
        None if !data.len().is_multiple_of(4) => {
            // A short last quantum: Go reports where it ends.
            let quantum_start = data.len() - data.len() % 4;
            illegal(data.get(quantum_start).map_or(bytes.len(), |(at, _)| *at))
        }
        None => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn deployment(spec: Value) -> Value {
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}, "spec": spec})
    }

    #[test]
    fn wrong_scalars_are_worded_as_go_and_structured_merge_diff() {
        let error = decode_error(
            "apps",
            "v1",
            "Deployment",
            &deployment(json!({"replicas": "two"})),
        )
        .unwrap();
        assert_eq!(
            error.json,
            "json: cannot unmarshal string into Go struct field DeploymentSpec.spec.replicas of type int32"
        );
        assert_eq!(
            error.typed,
            ".spec.replicas: expected numeric (int or float), got string"
        );
        assert_eq!(error.unstructured, "unrecognized type: int32");
        let error = decode_error(
            "apps",
            "v1",
            "Deployment",
            &deployment(json!({"replicas": 1.5})),
        )
        .unwrap();
        assert_eq!(
            error.json,
            "json: cannot unmarshal number 1.5 into Go struct field DeploymentSpec.spec.replicas of type int32"
        );
        assert!(decode_error(
            "apps",
            "v1",
            "Deployment",
            &deployment(json!({"replicas": 3}))
        )
        .is_none());
    }

    #[test]
    fn nested_lists_maps_and_structs() {
        let pod = json!({"metadata": {"labels": {"a": 1}}});
        assert_eq!(
            decode_error("", "v1", "Pod", &pod).unwrap().json,
            "json: cannot unmarshal number into Go struct field ObjectMeta.metadata.labels of type string"
        );
        let pod =
            json!({"spec": {"containers": [{"name": "web", "ports": [{"containerPort": "80"}]}]}});
        let error = decode_error("", "v1", "Pod", &pod).unwrap();
        assert_eq!(
            error.json,
            "json: cannot unmarshal string into Go struct field ContainerPort.spec.containers.ports.containerPort of type int32"
        );
        assert!(
            error
                .typed
                .starts_with(".spec.containers[name=\"web\"].ports["),
            "{}",
            error.typed
        );
        let pod = json!({"spec": {"containers": "web"}});
        assert_eq!(
            decode_error("", "v1", "Pod", &pod).unwrap().json,
            "json: cannot unmarshal string into Go struct field PodSpec.spec.containers of type []v1.Container"
        );
        let deploy = deployment(json!({"template": 3}));
        assert_eq!(
            decode_error("apps", "v1", "Deployment", &deploy).unwrap().json,
            "json: cannot unmarshal number into Go struct field DeploymentSpec.spec.template of type v1.PodTemplateSpec"
        );
    }

    #[test]
    fn special_scalars() {
        let deploy = deployment(json!({"strategy": {"rollingUpdate": {"maxSurge": true}}}));
        assert_eq!(
            decode_error("apps", "v1", "Deployment", &deploy).unwrap().json,
            "json: cannot unmarshal bool into Go struct field RollingUpdateDeployment.spec.strategy.rollingUpdate.maxSurge of type int32"
        );
        let fine = deployment(
            json!({"strategy": {"rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 1}}}),
        );
        assert!(decode_error("apps", "v1", "Deployment", &fine).is_none());
        let pod = json!({"spec": {"containers": [{"name": "a", "resources": {"limits": {"cpu": "lots"}}}]}});
        assert_eq!(
            decode_error("", "v1", "Pod", &pod).unwrap().json,
            quantity::QUANTITY_FORMAT_ERROR
        );
        let pod = json!({"spec": {"containers": [{"name": "a", "resources": {"limits": {"cpu": 0.5, "memory": "1Gi"}}}]}});
        assert!(decode_error("", "v1", "Pod", &pod).is_none());
        let secret = json!({"data": {"a": "not base64!"}});
        assert_eq!(
            decode_error("", "v1", "Secret", &secret).unwrap().json,
            "illegal base64 data at input byte 3"
        );
        assert!(decode_error(
            "",
            "v1",
            "Secret",
            &json!({"data": {"a": "aGk=", "b": "aGVsbG8="}})
        )
        .is_none());
        let meta = json!({"metadata": {"creationTimestamp": 5, "name": "x"}});
        assert_eq!(
            decode_error("", "v1", "ConfigMap", &meta).unwrap().json,
            "json: cannot unmarshal number into Go struct field ObjectMeta.metadata.creationTimestamp of type string"
        );
    }

    #[test]
    fn apply_reports_unknown_fields_too() {
        let deploy = deployment(json!({"foo": 1, "replicas": 2}));
        assert!(decode_error("apps", "v1", "Deployment", &deploy).is_none());
        assert_eq!(
            typed_error("apps", "v1", "Deployment", &deploy).unwrap(),
            ".spec.foo: field not declared in schema"
        );
        let pod = json!({"spec": {"containers": [{"name": "web", "bogus": true}]}});
        assert_eq!(
            typed_error("", "v1", "Pod", &pod).unwrap(),
            ".spec.containers[name=\"web\"].bogus: field not declared in schema"
        );
    }

    #[test]
    fn base64_positions_as_go() {
        assert_eq!(base64_error("aGk="), None);
        assert_eq!(base64_error(""), None);
        assert_eq!(
            base64_error("aGk"),
            Some("illegal base64 data at input byte 0".into())
        );
        assert_eq!(
            base64_error("a*=="),
            Some("illegal base64 data at input byte 1".into())
        );
    }
}
