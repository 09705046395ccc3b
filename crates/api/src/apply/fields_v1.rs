//! The `FieldsV1` encoding of a set of paths, byte for byte as upstream
//! writes it: `{"f:spec":{"f:replicas":{}}}`, `k:{"name":"web"}` for list
//! items by key, `v:"x"` for set items, `.` for a path that is itself
//! owned and has owned paths below it.

use serde_json::{Map, Value};

use super::fieldpath::{PathElement, Set};

/// The `fieldsV1` object of a set.
pub(crate) fn encode(set: &Set) -> Value {
    Value::Object(encode_contents(set, false))
}

fn encode_contents(set: &Set, include_self: bool) -> Map<String, Value> {
    let mut out = Map::new();
    if include_self && !set.is_empty() {
        out.insert(".".into(), Value::Object(Map::new()));
    }
    // Members and children interleave in path element order.
    let mut elements: Vec<&PathElement> = set.members.iter().chain(set.children.keys()).collect();
    elements.sort();
    elements.dedup();
    for element in elements {
        let member = set.members.contains(element);
        let value = match set.children.get(element) {
            Some(child) => encode_contents(child, member),
            None => Map::new(),
        };
        out.insert(encode_element(element), Value::Object(value));
    }
    out
}

fn encode_element(element: &PathElement) -> String {
    match element {
        PathElement::Field(name) => format!("f:{name}"),
        PathElement::Key(fields) => {
            let parts: Vec<String> = fields
                .iter()
                .map(|(name, value)| format!("{}:{}", go_json_string(name), go_json(value)))
                .collect();
            format!("k:{{{}}}", parts.join(","))
        }
        PathElement::Value(value) => format!("v:{}", go_json(value)),
        PathElement::Index(index) => format!("i:{index}"),
    }
}

/// The set a `fieldsV1` object encodes.
pub(crate) fn decode(fields: &Value) -> Result<Set, String> {
    let Value::Object(map) = fields else {
        return Err("fieldsV1 must be an object".into());
    };
    let (set, _) = decode_contents(map)?;
    Ok(set)
}

/// The children of a node, and whether the node itself is a member.
fn decode_contents(map: &Map<String, Value>) -> Result<(Set, bool), String> {
    let mut set = Set::new();
    let mut is_member = false;
    for (key, value) in map {
        if key == "." {
            is_member = true;
            continue;
        }
        let Some(element) = decode_element(key)? else {
            continue;
        };
        let Value::Object(inner) = value else {
            return Err(format!("expected an object for {key:?}"));
        };
        let (child, child_is_member) = decode_contents(inner)?;
        if child_is_member {
            set.members.insert(element.clone());
        }
        if !child.is_empty() {
            set.children.insert(element, child);
        }
    }
    // A leaf is written as `{}`: a member with nothing below.
    if set.is_empty() {
        is_member = true;
    }
    Ok((set, is_member))
}

/// `None` for an element of a kind this version does not know: upstream
/// drops those.
fn decode_element(key: &str) -> Result<Option<PathElement>, String> {
    let Some((kind, rest)) = key.split_once(':') else {
        return Err(format!("missing colon: {key}"));
    };
    Ok(Some(match kind {
        "f" => PathElement::Field(rest.to_string()),
        "k" => {
            let Ok(Value::Object(map)) = serde_json::from_str::<Value>(rest) else {
                return Err(format!("invalid key: {key}"));
            };
            let mut fields: Vec<(String, Value)> = map.into_iter().collect();
            fields.sort_by(|a, b| a.0.cmp(&b.0));
            PathElement::Key(fields)
        }
        "v" => PathElement::Value(serde_json::from_str(rest).map_err(|e| e.to_string())?),
        "i" => PathElement::Index(rest.parse().map_err(|_| format!("invalid index: {key}"))?),
        _ => return Ok(None),
    }))
}

/// JSON as Go's `encoding/json` writes it: keys sorted, no spaces, and
/// `<`, `>`, `&` escaped.
pub(crate) fn go_json(value: &Value) -> String {
    let mut out = String::new();
    write_go_json(value, &mut out);
    out
}

fn write_go_json(value: &Value, out: &mut String) {
    match value {
        Value::String(s) => out.push_str(&go_json_string(s)),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_go_json(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&go_json_string(key));
                out.push(':');
                write_go_json(&map[key], out);
            }
            out.push('}');
        }
        other => out.push_str(&other.to_string()),
    }
}

pub(crate) fn go_json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                out.push_str(&format!("\\u{:04x}", c as u32))
            }
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}
