//! `fieldValidation`: the unknown and duplicate fields upstream's strict
//! decoding reports, found with the schemas of the documents.
//!
//! Upstream words each as `unknown field "spec.template.spec.containers[0].foo"`
//! or `duplicate field "spec.replicas"` (map keys and struct fields joined
//! by dots, list items as `[i]`). With `fieldValidation=Strict` a create or
//! update fails with 400 BadRequest, `<Kind> in version "<v>" cannot be
//! handled as a <Kind>: strict decoding error: unknown field "spec.foo",
//! …`; a patch fails with 422, an invalid `patch` whose detail is
//! `strict decoding error: …` (its duplicates found in the patch body, its
//! unknown fields in the patched object). With `Warn` each error is one
//! `Warning` header
//! (`299 - "unknown field \"spec.foo\""`) and the request goes on.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::OnceLock;

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

use super::catalog::{ref_name, Catalog};

/// Upstream stops collecting strict errors after this many.
const MAX_ERRORS: usize = 100;

/// One strict decoding error.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum StrictError {
    UnknownField(String),
    DuplicateField(String),
}

impl fmt::Display for StrictError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StrictError::UnknownField(path) => write!(f, "unknown field {}", go_quote(path)),
            StrictError::DuplicateField(path) => write!(f, "duplicate field {}", go_quote(path)),
        }
    }
}

/// `strict decoding error: unknown field "spec.foo", duplicate field "spec.replicas"`.
pub fn strict_decoding_error(errors: &[StrictError]) -> String {
    let list: Vec<String> = errors.iter().map(ToString::to_string).collect();
    format!("strict decoding error: {}", list.join(", "))
}

/// The paths of the fields of `object` that the schema of the kind does not
/// have, as upstream words them (`spec.template.spec.containers[0].foo`).
/// Maps, free-form values (`RawExtension`, `FieldsV1`, CRD `JSON`) and
/// `x-kubernetes-preserve-unknown-fields` take anything. Empty for kinds
/// without a schema.
pub fn unknown_fields(group: &str, version: &str, kind: &str, object: &Value) -> Vec<String> {
    let index = index();
    let Some(root) = index
        .kinds
        .get(&(group.to_string(), version.to_string(), kind.to_string()))
    else {
        return Vec::new();
    };
    let mut out = Vec::new();
    unknown_in(
        index,
        &Field::Type(*root),
        object,
        &mut String::new(),
        &mut out,
    );
    out
}

/// Drops the fields the schema of the kind does not have, as decoding into
/// upstream's Go types does (what `fieldValidation=Ignore` and `Warn`
/// accept is not kept).
pub fn prune_unknown_fields(group: &str, version: &str, kind: &str, object: &mut Value) {
    let index = index();
    if let Some(root) = index
        .kinds
        .get(&(group.to_string(), version.to_string(), kind.to_string()))
    {
        prune_in(index, &Field::Type(*root), object);
    }
}

fn prune_in(index: &Index, field: &Field, value: &mut Value) {
    match (field, value) {
        (Field::Array(item), Value::Array(values)) => {
            values.iter_mut().for_each(|v| prune_in(index, item, v));
        }
        (Field::Map(item), Value::Object(map)) => {
            map.values_mut().for_each(|v| prune_in(index, item, v));
        }
        (Field::Type(_), Value::Object(map)) => {
            let Some((fields, preserve)) = index.fields(field) else {
                return;
            };
            if !preserve {
                map.retain(|key, _| fields.contains_key(key));
            }
            for (key, value) in map.iter_mut() {
                if let Some(field) = fields.get(key) {
                    prune_in(index, field, value);
                }
            }
        }
        _ => {}
    }
}

/// The strict errors of a create or update body, in the order upstream
/// finds them: unknown fields and repeated keys. Err if the body is not
/// JSON.
pub fn strict_errors(
    group: &str,
    version: &str,
    kind: &str,
    body: &[u8],
) -> Result<Vec<StrictError>, serde_json::Error> {
    let index = index();
    let root = match index
        .kinds
        .get(&(group.to_string(), version.to_string(), kind.to_string()))
    {
        Some(root) => Field::Type(*root),
        None => Field::Any,
    };
    walk_bytes(index, &root, body)
}

/// The repeated keys of a patch body, which upstream reports along with
/// the unknown fields of the patched object.
pub fn duplicate_fields(body: &[u8]) -> Result<Vec<StrictError>, serde_json::Error> {
    walk_bytes(index(), &Field::Any, body)
}

/// What decoding knows of each schema: the fields of structs, nothing of
/// the rest.
struct Index {
    types: Vec<Type>,
    kinds: HashMap<(String, String, String), usize>,
}

enum Type {
    Struct {
        fields: HashMap<String, Field>,
        preserve: bool,
    },
    /// Scalars and free-form objects.
    Leaf,
}

enum Field {
    Leaf,
    /// Untyped JSON: repeated keys still count.
    Any,
    Type(usize),
    Array(Box<Field>),
    Map(Box<Field>),
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
            types: (0..names.len()).map(|_| Type::Leaf).collect(),
            kinds: HashMap::new(),
        };
        for (i, schema) in catalog.schemas.values().enumerate() {
            index.types[i] = index.type_of(schema, &names);
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

    fn type_of(&mut self, schema: &Value, names: &HashMap<&str, usize>) -> Type {
        match schema.get("properties").and_then(Value::as_object) {
            Some(props) => Type::Struct {
                fields: props
                    .iter()
                    .map(|(k, v)| (k.clone(), self.field_of(v, names)))
                    .collect(),
                preserve: schema.get("x-kubernetes-preserve-unknown-fields")
                    == Some(&Value::Bool(true)),
            },
            None => Type::Leaf,
        }
    }

    fn field_of(&mut self, schema: &Value, names: &HashMap<&str, usize>) -> Field {
        if let Some(name) = ref_name(schema) {
            return names.get(name).map_or(Field::Leaf, |i| Field::Type(*i));
        }
        if schema.get("type").and_then(Value::as_str) == Some("array") {
            return Field::Array(Box::new(
                schema
                    .get("items")
                    .map_or(Field::Leaf, |s| self.field_of(s, names)),
            ));
        }
        if let Some(values) = schema.get("additionalProperties").filter(|v| v.is_object()) {
            return Field::Map(Box::new(self.field_of(values, names)));
        }
        if schema.get("properties").is_some() {
            let inline = self.type_of(schema, names);
            self.types.push(inline);
            return Field::Type(self.types.len() - 1);
        }
        Field::Leaf
    }

    fn fields(&self, field: &Field) -> Option<(&HashMap<String, Field>, bool)> {
        match field {
            Field::Type(i) => match &self.types[*i] {
                Type::Struct { fields, preserve } => Some((fields, *preserve)),
                Type::Leaf => None,
            },
            _ => None,
        }
    }
}

fn push_key(path: &mut String, key: &str) {
    if !path.is_empty() {
        path.push('.');
    }
    path.push_str(key);
}

fn joined(path: &str, key: &str) -> String {
    let mut out = path.to_string();
    push_key(&mut out, key);
    out
}

fn unknown_in(
    index: &Index,
    field: &Field,
    value: &Value,
    path: &mut String,
    out: &mut Vec<String>,
) {
    let len = path.len();
    match (field, value) {
        (Field::Array(item), Value::Array(values)) => {
            for (i, value) in values.iter().enumerate() {
                path.push_str(&format!("[{i}]"));
                unknown_in(index, item, value, path, out);
                path.truncate(len);
            }
        }
        (Field::Map(item), Value::Object(map)) => {
            for (key, value) in map {
                push_key(path, key);
                unknown_in(index, item, value, path, out);
                path.truncate(len);
            }
        }
        (Field::Type(_), Value::Object(map)) => {
            let Some((fields, preserve)) = index.fields(field) else {
                return;
            };
            for (key, value) in map {
                match fields.get(key) {
                    Some(field) => {
                        push_key(path, key);
                        unknown_in(index, field, value, path, out);
                        path.truncate(len);
                    }
                    None if !preserve => out.push(joined(path, key)),
                    None => {}
                }
            }
        }
        _ => {}
    }
}

struct State {
    path: String,
    errors: Vec<StrictError>,
    seen: HashSet<StrictError>,
}

impl State {
    fn report(&mut self, error: StrictError) {
        if self.errors.len() < MAX_ERRORS && self.seen.insert(error.clone()) {
            self.errors.push(error);
        }
    }
}

fn walk_bytes(
    index: &Index,
    root: &Field,
    body: &[u8],
) -> Result<Vec<StrictError>, serde_json::Error> {
    let mut state = State {
        path: String::new(),
        errors: Vec::new(),
        seen: HashSet::new(),
    };
    let mut de = serde_json::Deserializer::from_slice(body);
    Walk {
        index,
        field: root,
        state: &mut state,
    }
    .deserialize(&mut de)?;
    de.end()?;
    Ok(state.errors)
}

/// Reads one JSON value the way upstream's strict decoder does, noting
/// unknown and repeated keys.
struct Walk<'a> {
    index: &'a Index,
    field: &'a Field,
    state: &'a mut State,
}

impl<'de> DeserializeSeed<'de> for Walk<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Walk<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }

    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }

    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }

    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }

    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }

    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let Walk {
            index,
            field,
            state,
        } = self;
        let item = match field {
            Field::Array(item) => Some(&**item),
            Field::Any => Some(field),
            _ => None,
        };
        let Some(item) = item else {
            while seq.next_element::<IgnoredAny>()?.is_some() {}
            return Ok(());
        };
        let len = state.path.len();
        for i in 0.. {
            state.path.push_str(&format!("[{i}]"));
            let walk = Walk {
                index,
                field: item,
                state: &mut *state,
            };
            let more = seq.next_element_seed(walk)?.is_some();
            state.path.truncate(len);
            if !more {
                break;
            }
        }
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let Walk {
            index,
            field,
            state,
        } = self;
        let fields = index.fields(field);
        let values = match field {
            Field::Map(values) => Some(&**values),
            Field::Any => Some(field),
            _ => None,
        };
        let mut keys = HashSet::new();
        while let Some(key) = map.next_key::<String>()? {
            let child = match (fields, values) {
                (Some((fields, preserve)), _) => match fields.get(&key) {
                    Some(child) => Some(child),
                    None => {
                        if !preserve {
                            state.report(StrictError::UnknownField(joined(&state.path, &key)));
                        }
                        None
                    }
                },
                (None, Some(values)) => Some(values),
                (None, None) => None,
            };
            let Some(child) = child else {
                map.next_value::<IgnoredAny>()?;
                continue;
            };
            if !keys.insert(key.clone()) {
                state.report(StrictError::DuplicateField(joined(&state.path, &key)));
            }
            let len = state.path.len();
            push_key(&mut state.path, &key);
            map.next_value_seed(Walk {
                index,
                field: child,
                state: &mut *state,
            })?;
            state.path.truncate(len);
        }
        Ok(())
    }
}

/// Go's `strconv.Quote`, which upstream's messages use.
fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}
