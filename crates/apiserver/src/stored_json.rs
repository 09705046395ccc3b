//! Reading stored objects without decoding them whole. A pod event goes out
//! to every watch of pods; decoding its bytes into a `Value` and encoding
//! it again was the largest share of the API server's work in a rollout.
//! Here a watch line is the stored bytes with `metadata.resourceVersion`
//! spliced in, and a selector's fields come from a parse that keeps only
//! the paths it reads.

use std::borrow::Cow;
use std::fmt;

use bytes::Bytes;
use capstan_api::Resource;
use capstan_store::Revision;
use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

/// What a watch line carries of the object.
#[derive(Clone, Copy)]
pub enum LineShape {
    /// The whole object.
    Object,
    /// Its metadata as a `PartialObjectMetadata` of `meta.k8s.io/v1` (or
    /// `v1beta1`).
    PartialMetadata { v1: bool },
}

/// The watch line `{"type": kind, "object": ...}` for the object stored as
/// `stored`, served at `revision`, in `shape`: the same bytes as encoding
/// the decoded object (keys in order, `resourceVersion` set), built from
/// the stored text. `None` when the object must be decoded: stored at
/// another version than `resource` serves (conversion), or not an object
/// with metadata.
pub fn line(
    kind: &str,
    resource: &Resource,
    stored: &[u8],
    revision: Revision,
    shape: LineShape,
) -> Option<Bytes> {
    let top = entries(stored)?;
    let (_, api_version) = top.iter().find(|(key, _)| key == "apiVersion")?;
    let api_version: Cow<str> = serde_json::from_str(api_version.get()).ok()?;
    if !serves(resource, &api_version) {
        return None;
    }
    let (_, metadata) = top.iter().find(|(key, _)| key == "metadata")?;
    let mut metadata = entries(metadata.get().as_bytes())?;
    metadata.retain(|(key, _)| key != "resourceVersion");
    let version = serde_json::value::to_raw_value(&revision.to_string()).ok()?;
    metadata.push((Cow::Borrowed("resourceVersion"), &version));
    let metadata = sorted(metadata);

    let mut line = Vec::with_capacity(stored.len() + 64);
    line.extend_from_slice(b"{\"type\":");
    push_string(&mut line, kind);
    line.extend_from_slice(b",\"object\":");
    match shape {
        LineShape::Object => {
            let mut members = top.iter().map(|(key, value)| match key.as_ref() {
                "metadata" => (key.as_ref(), Member::Object(&metadata)),
                _ => (key.as_ref(), Member::Raw(value)),
            });
            push_object(&mut line, &mut members);
        }
        LineShape::PartialMetadata { v1 } => {
            // The keys in the order `PartialMetadataView` writes them.
            line.extend_from_slice(b"{\"apiVersion\":");
            push_string(&mut line, crate::response::meta_version(v1));
            line.extend_from_slice(b",\"kind\":\"PartialObjectMetadata\",\"metadata\":");
            push_object(&mut line, &mut raw_members(&metadata));
            line.push(b'}');
        }
    }
    line.extend_from_slice(b"}\n");
    Some(Bytes::from(line))
}

/// A member's value as written out: stored text, or an object of members.
enum Member<'a> {
    Raw(&'a RawValue),
    Object(&'a [(Cow<'a, str>, &'a RawValue)]),
}

fn push_object<'a>(out: &mut Vec<u8>, members: &mut dyn Iterator<Item = (&'a str, Member<'a>)>) {
    out.push(b'{');
    for (index, (key, value)) in members.enumerate() {
        if index > 0 {
            out.push(b',');
        }
        push_string(out, key);
        out.push(b':');
        match value {
            Member::Raw(value) => out.extend_from_slice(value.get().as_bytes()),
            Member::Object(members) => push_object(out, &mut raw_members(members)),
        }
    }
    out.push(b'}');
}

fn raw_members<'a>(
    members: &'a [(Cow<'a, str>, &'a RawValue)],
) -> impl Iterator<Item = (&'a str, Member<'a>)> {
    members
        .iter()
        .map(|(key, value)| (key.as_ref(), Member::Raw(value)))
}

/// The object stored as `stored` with only `paths` (dotted; each keeps its
/// whole value) and `apiVersion`; `None` if it is stored at another
/// version than `resource` serves, or is not a JSON object.
pub fn pruned(resource: &Resource, stored: &[u8], paths: &[&str]) -> Option<Value> {
    let mut kept = paths.to_vec();
    kept.push("apiVersion");
    let mut deserializer = serde_json::Deserializer::from_slice(stored);
    let object = Pruned { paths: &kept }
        .deserialize(&mut deserializer)
        .ok()?;
    deserializer.end().ok()?;
    let api_version = object.get("apiVersion").and_then(Value::as_str);
    if !object.is_object() || api_version.is_some_and(|v| !serves(resource, v)) {
        return None;
    }
    Some(object)
}

/// Whether `api_version` is the group/version `resource` is served at.
fn serves(resource: &Resource, api_version: &str) -> bool {
    match api_version.split_once('/') {
        Some((group, version)) => group == resource.group && version == resource.version,
        None => resource.group.is_empty() && api_version == resource.version,
    }
}

/// A JSON object's members, keys decoded, values as their text; sorted and
/// without repeats (the last one counts), as a decoded `Map` holds them.
fn entries(text: &[u8]) -> Option<Vec<(Cow<'_, str>, &RawValue)>> {
    let members: Members = serde_json::from_slice(text).ok()?;
    Some(sorted(members.0))
}

fn sorted<'a>(mut members: Vec<(Cow<'a, str>, &'a RawValue)>) -> Vec<(Cow<'a, str>, &'a RawValue)> {
    // Last written first; the sort is stable, so of equal keys it is the
    // one kept.
    members.reverse();
    members.sort_by(|(a, _), (b, _)| a.cmp(b));
    members.dedup_by(|(a, _), (b, _)| a == b);
    members
}

fn push_string(out: &mut Vec<u8>, text: &str) {
    // Writing a string into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, text);
}

/// An object's members in the order written.
struct Members<'a>(Vec<(Cow<'a, str>, &'a RawValue)>);

impl<'de> Deserialize<'de> for Members<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct MembersVisitor;
        impl<'de> Visitor<'de> for MembersVisitor {
            type Value = Members<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Members<'de>, A::Error> {
                let mut members = Vec::new();
                while let Some(Key(key)) = map.next_key()? {
                    members.push((key, map.next_value()?));
                }
                Ok(Members(members))
            }
        }
        deserializer.deserialize_map(MembersVisitor)
    }
}

/// A member's name, borrowed from the input when it has no escapes.
struct Key<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E>(self, text: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(text)))
            }
            fn visit_str<E>(self, text: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(text.to_string())))
            }
        }
        deserializer.deserialize_str(KeyVisitor)
    }
}

/// Reads a value keeping only the members on `paths` (dotted, what is
/// still to go; an empty one keeps the whole value there) and skipping the
/// rest without building it.
struct Pruned<'p> {
    paths: &'p [&'p str],
}

impl<'de> DeserializeSeed<'de> for Pruned<'_> {
    type Value = Value;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Pruned<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut kept = Map::new();
        while let Some(Key(key)) = map.next_key()? {
            let tails: Vec<&str> = self
                .paths
                .iter()
                .filter_map(|path| match path.strip_prefix(key.as_ref())? {
                    "" => Some(""),
                    rest => rest.strip_prefix('.'),
                })
                .collect();
            if tails.is_empty() {
                map.next_value::<IgnoredAny>()?;
            } else if tails.iter().any(|tail| tail.is_empty()) {
                kept.insert(key.into_owned(), map.next_value()?);
            } else {
                kept.insert(
                    key.into_owned(),
                    map.next_value_seed(Pruned { paths: &tails })?,
                );
            }
        }
        Ok(Value::Object(kept))
    }

    // Where an object was expected and something else is: nothing on the
    // paths below it exists, as a decoded value would read it.
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Value::Null)
    }
    fn visit_bool<E>(self, _: bool) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_str<E>(self, _: &str) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
}

#[cfg(test)]
#[path = "stored_json_tests.rs"]
mod tests;
