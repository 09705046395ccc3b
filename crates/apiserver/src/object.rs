//! Reading and writing the metadata of objects kept as JSON, whatever their
//! kind: the server's generic path never needs the typed structs.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

pub fn meta(object: &Value) -> Option<&Map<String, Value>> {
    object.get("metadata")?.as_object()
}

/// The object's metadata, created if missing.
pub fn meta_mut(object: &mut Value) -> &mut Map<String, Value> {
    if !object.get("metadata").is_some_and(Value::is_object) {
        object["metadata"] = Value::Object(Map::new());
    }
    object["metadata"]
        .as_object_mut()
        .expect("metadata was just made an object")
}

pub fn meta_str<'a>(object: &'a Value, field: &str) -> Option<&'a str> {
    meta(object)?.get(field)?.as_str().filter(|s| !s.is_empty())
}

pub fn name(object: &Value) -> Option<&str> {
    meta_str(object, "name")
}

pub fn namespace(object: &Value) -> Option<&str> {
    meta_str(object, "namespace")
}

pub fn resource_version(object: &Value) -> Option<&str> {
    meta_str(object, "resourceVersion")
}

pub fn uid(object: &Value) -> Option<&str> {
    meta_str(object, "uid")
}

pub fn set_meta(object: &mut Value, field: &str, value: impl Into<Value>) {
    meta_mut(object).insert(field.to_string(), value.into());
}

pub fn remove_meta(object: &mut Value, field: &str) {
    meta_mut(object).remove(field);
}

/// The labels (or annotations) as a map; empty when absent.
pub fn string_map(object: &Value, field: &str) -> BTreeMap<String, String> {
    meta(object)
        .and_then(|meta| meta.get(field))
        .and_then(Value::as_object)
        .map(|map| {
            map.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                .collect()
        })
        .unwrap_or_default()
}

pub fn labels(object: &Value) -> BTreeMap<String, String> {
    string_map(object, "labels")
}

pub fn finalizers(object: &Value) -> Vec<String> {
    meta(object)
        .and_then(|meta| meta.get("finalizers"))
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .filter_map(|f| f.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

pub fn is_deleting(object: &Value) -> bool {
    meta_str(object, "deletionTimestamp").is_some()
}

/// Now, as Kubernetes writes times: RFC 3339 in UTC to the second.
/// Whether `status.conditions` has `type_` with status True.
pub fn condition_true(object: &Value, type_: &str) -> bool {
    object
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .is_some_and(|conditions| {
            conditions.iter().any(|condition| {
                condition.get("type").and_then(Value::as_str) == Some(type_)
                    && condition.get("status").and_then(Value::as_str) == Some("True")
            })
        })
}

pub fn now() -> String {
    jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

/// A name for `generateName`: the prefix and five characters from
/// upstream's alphabet (no vowels, no look-alike digits).
pub fn generate_name(prefix: &str) -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let random = uuid::Uuid::new_v4();
    let suffix: String = random.as_bytes()[..5]
        .iter()
        .map(|byte| ALPHABET[*byte as usize % ALPHABET.len()] as char)
        .collect();
    // Upstream cuts the prefix so the name stays within 63 characters.
    let keep = prefix.len().min(58);
    format!("{}{suffix}", &prefix[..keep])
}

/// Everything but `metadata` and `status`: what a change of bumps the
/// generation.
pub fn spec_part(object: &Value) -> Map<String, Value> {
    object
        .as_object()
        .map(|map| {
            map.iter()
                .filter(|(key, _)| {
                    !matches!(key.as_str(), "metadata" | "status" | "apiVersion" | "kind")
                })
                .map(|(key, value)| (key.clone(), value.clone()))
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn metadata_reads_and_writes() {
        let mut pod = json!({"metadata": {"name": "web", "labels": {"app": "x"}}});
        assert_eq!(name(&pod), Some("web"));
        assert_eq!(labels(&pod).get("app").map(String::as_str), Some("x"));
        set_meta(&mut pod, "uid", "u1");
        assert_eq!(uid(&pod), Some("u1"));
        let mut bare = json!({});
        set_meta(&mut bare, "name", "n");
        assert_eq!(name(&bare), Some("n"));
        let generated = generate_name("web-");
        assert!(generated.starts_with("web-") && generated.len() == 9);
        assert_eq!(now().len(), 20);
    }
}
