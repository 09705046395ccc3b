//! What one store event becomes for watchers, worked out once for all of
//! them. A pod event reaches a dozen watches at the same moment (the
//! scheduler, the node agent, every controller); without this each would
//! decode the stored bytes and encode the same line again. Entries are kept
//! for the last few hundred revisions only: the watchers of an event handle
//! it within moments of each other, and one that lags simply does the work
//! itself.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use capstan_api::Resource;
use capstan_store::{KeyValue, Revision};
use serde::Serialize;
use serde_json::Value;

use crate::registry;
use crate::response::{self, Shape};
use crate::selectors::Selectable;
use crate::stored_json::{self, LineShape};

/// Revisions remembered per generation; two generations are kept.
const GENERATION: usize = 256;
/// The same for selectable summaries, which are small: watches that lag
/// behind the decoded objects still find them.
const SELECTABLE_GENERATION: usize = 4096;

#[derive(Default)]
pub struct EventMemo {
    generations: Mutex<Generations>,
    selectables: Mutex<SelectableGenerations>,
}

#[derive(Default)]
struct Generations {
    current: HashMap<Revision, Vec<Entry>>,
    previous: HashMap<Revision, Vec<Entry>>,
}

/// Summaries by the revision that wrote the value, then key and version.
type SelectableGeneration = HashMap<Revision, Vec<(String, GroupVersion, Arc<Selectable>)>>;
type GroupVersion = (&'static str, &'static str);

#[derive(Default)]
struct SelectableGenerations {
    current: SelectableGeneration,
    previous: SelectableGeneration,
}

struct Entry {
    key: String,
    what: What,
    value: Memoized,
}

/// What an entry holds, besides the key and revision it is filed under.
#[derive(Clone, Copy, PartialEq, Eq)]
enum What {
    /// The stored value written at `source`, decoded as `group/version`
    /// serves it.
    Object {
        source: Revision,
        group: &'static str,
        version: &'static str,
    },
    /// A whole watch line: `{"type": kind, "object": ...}` and a newline.
    Line {
        kind: &'static str,
        shape: ShapeKey,
        group: &'static str,
        version: &'static str,
    },
}

/// The shapes whose lines are the same for every watcher (tables are not:
/// only a watch's first one carries the column definitions).
#[derive(Clone, Copy, PartialEq, Eq)]
enum ShapeKey {
    Object,
    PartialMetadata { v1: bool },
}

#[derive(Clone)]
enum Memoized {
    Object(Arc<Value>),
    Line(Bytes),
}

#[derive(Serialize)]
struct Line<'a, T: Serialize> {
    #[serde(rename = "type")]
    kind: &'a str,
    object: &'a T,
}

impl EventMemo {
    /// `stored` (written at its mod_revision) as `resource` serves it, with
    /// `metadata.resourceVersion` set to `revision`; `None` if the stored
    /// bytes are not an object.
    pub fn object(
        &self,
        resource: &'static Resource,
        stored: &KeyValue,
        revision: Revision,
    ) -> Option<Arc<Value>> {
        let what = What::Object {
            source: stored.mod_revision,
            group: resource.group,
            version: resource.version,
        };
        if let Some(Memoized::Object(object)) = self.find(&stored.key, revision, what) {
            return Some(object);
        }
        let mut decoded = registry::decode(resource, &stored.value, stored.mod_revision)
            .ok()?
            .object;
        if revision != stored.mod_revision {
            decoded = registry::with_revision(decoded, revision).object;
        }
        let object = Arc::new(decoded);
        self.remember(
            &stored.key,
            revision,
            what,
            Memoized::Object(object.clone()),
        );
        Some(object)
    }

    /// What selectors look at in `stored` (written at its mod_revision),
    /// worked out when the first watcher asks: from just the paths the
    /// selectors read where the kind lists them, else from the object
    /// decoded (at `revision`, as `object` does). `None` if the stored
    /// bytes are not an object.
    pub fn selectable(
        &self,
        resource: &'static Resource,
        stored: &KeyValue,
        revision: Revision,
    ) -> Option<Arc<Selectable>> {
        let source = stored.mod_revision;
        let version = (resource.group, resource.version);
        {
            let selectables = self.selectables.lock().unwrap_or_else(|e| e.into_inner());
            let found = [&selectables.current, &selectables.previous]
                .into_iter()
                .filter_map(|generation| generation.get(&source))
                .flatten()
                .find(|(key, at, _)| *at == version && *key == stored.key)
                .map(|(_, _, selectable)| selectable.clone());
            if found.is_some() {
                return found;
            }
        }
        let pruned = capstan_api::selector::selectable_paths(resource)
            .and_then(|paths| stored_json::pruned(resource, &stored.value, paths));
        let selectable = match pruned {
            Some(pruned) => Selectable::of(resource, &pruned),
            None => Selectable::of(resource, &*self.object(resource, stored, revision)?),
        };
        let selectable = Arc::new(selectable);
        let mut selectables = self.selectables.lock().unwrap_or_else(|e| e.into_inner());
        let mut retired = None;
        if selectables.current.len() >= SELECTABLE_GENERATION
            && !selectables.current.contains_key(&source)
        {
            let current = std::mem::take(&mut selectables.current);
            retired = Some(std::mem::replace(&mut selectables.previous, current));
        }
        selectables.current.entry(source).or_default().push((
            stored.key.clone(),
            version,
            selectable.clone(),
        ));
        drop(selectables);
        drop(retired);
        Some(selectable)
    }

    /// The watch line for `kind` of the object stored as `stored`, served
    /// at `revision`, in `shape`; built by the first watcher that asks, from
    /// the stored bytes where it can and else from the decoded object.
    /// `None` for tables, which each watch builds itself, and for stored
    /// bytes that are not an object.
    pub fn line(
        &self,
        resource: &'static Resource,
        stored: &KeyValue,
        revision: Revision,
        kind: &'static str,
        shape: Shape,
    ) -> Option<Bytes> {
        let key = stored.key.as_str();
        let shape_key = match shape {
            Shape::Object => ShapeKey::Object,
            Shape::PartialMetadata { v1 } => ShapeKey::PartialMetadata { v1 },
            Shape::Table { .. } => return None,
        };
        let what = What::Line {
            kind,
            shape: shape_key,
            group: resource.group,
            version: resource.version,
        };
        if let Some(Memoized::Line(line)) = self.find(key, revision, what) {
            return Some(line);
        }
        let line_shape = match shape_key {
            ShapeKey::Object => LineShape::Object,
            ShapeKey::PartialMetadata { v1 } => LineShape::PartialMetadata { v1 },
        };
        let spliced = stored_json::line(kind, resource, &stored.value, revision, line_shape);
        let line = match spliced {
            Some(line) => line,
            None => {
                let object = self.object(resource, stored, revision)?;
                match shape_key {
                    ShapeKey::Object => encode_line(kind, &*object),
                    ShapeKey::PartialMetadata { v1 } => {
                        let metadata = object.get("metadata");
                        encode_line(kind, &response::PartialMetadataView { metadata, v1 })
                    }
                }
            }
        };
        self.remember(key, revision, what, Memoized::Line(line.clone()));
        Some(line)
    }

    fn find(&self, key: &str, revision: Revision, what: What) -> Option<Memoized> {
        let generations = self.generations.lock().unwrap_or_else(|e| e.into_inner());
        let found = [&generations.current, &generations.previous]
            .into_iter()
            .filter_map(|generation| generation.get(&revision))
            .flatten()
            .find(|entry| entry.what == what && entry.key == key)
            .map(|entry| entry.value.clone());
        found
    }

    fn remember(&self, key: &str, revision: Revision, what: What, value: Memoized) {
        let mut generations = self.generations.lock().unwrap_or_else(|e| e.into_inner());
        let mut retired = None;
        if generations.current.len() >= GENERATION && !generations.current.contains_key(&revision) {
            let current = std::mem::take(&mut generations.current);
            retired = Some(std::mem::replace(&mut generations.previous, current));
        }
        generations
            .current
            .entry(revision)
            .or_default()
            .push(Entry {
                key: key.to_string(),
                what,
                value,
            });
        drop(generations);
        // Freed outside the lock: hundreds of decoded objects.
        drop(retired);
    }
}

/// One line of a watch response.
pub fn encode_line<T: Serialize>(kind: &str, object: &T) -> Bytes {
    let mut bytes = serde_json::to_vec(&Line { kind, object }).unwrap_or_default();
    bytes.push(b'\n');
    Bytes::from(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pods() -> &'static Resource {
        capstan_api::resource::find("", "v1", "pods").expect("pods are served")
    }

    fn stored(key: &str, revision: Revision, name: &str) -> KeyValue {
        KeyValue {
            key: key.into(),
            value: Bytes::from(
                serde_json::to_vec(&serde_json::json!({
                    "apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}
                }))
                .unwrap(),
            ),
            create_revision: revision,
            mod_revision: revision,
            version: 1,
        }
    }

    #[test]
    fn decodes_once_and_shares_the_object() {
        let memo = EventMemo::default();
        let kv = stored("/registry/pods/a/web", 7, "web");
        let first = memo.object(pods(), &kv, 7).unwrap();
        let second = memo.object(pods(), &kv, 7).unwrap();
        assert!(Arc::ptr_eq(&first, &second));
        assert_eq!(first["metadata"]["resourceVersion"], "7");
        // The same value served at a later revision (a delete) is its own entry.
        let gone = memo.object(pods(), &kv, 9).unwrap();
        assert_eq!(gone["metadata"]["resourceVersion"], "9");
    }

    #[test]
    fn builds_each_line_once() {
        let memo = EventMemo::default();
        let kv = stored("/registry/pods/a/web", 7, "web");
        let line = memo.line(pods(), &kv, 7, "ADDED", Shape::Object).unwrap();
        let again = memo.line(pods(), &kv, 7, "ADDED", Shape::Object).unwrap();
        assert_eq!(line.as_ptr(), again.as_ptr(), "the line is remembered");
        let parsed: Value = serde_json::from_slice(&line).unwrap();
        assert_eq!(parsed["type"], "ADDED");
        assert_eq!(parsed["object"]["metadata"]["name"], "web");
        // Another kind of event for the same revision is a different line.
        let modified = memo
            .line(pods(), &kv, 7, "MODIFIED", Shape::Object)
            .unwrap();
        assert_ne!(line, modified);
    }

    #[test]
    fn partial_metadata_lines_match_the_shaped_object() {
        let memo = EventMemo::default();
        let kv = stored("/registry/pods/a/web", 7, "web");
        let object = memo.object(pods(), &kv, 7).unwrap();
        for v1 in [true, false] {
            let shape = Shape::PartialMetadata { v1 };
            let line = memo.line(pods(), &kv, 7, "ADDED", shape).unwrap();
            let shaped = response::shaped_object(pods(), &object, shape);
            assert_eq!(line, encode_line("ADDED", &shaped));
        }
    }

    #[test]
    fn summarizes_once_for_selectors() {
        let memo = EventMemo::default();
        let kv = stored("/registry/pods/a/web", 7, "web");
        let first = memo.selectable(pods(), &kv, 7).unwrap();
        // Long after the decoded object is forgotten, the summary is kept.
        for revision in 8..(8 + 2 * GENERATION as Revision) {
            let other = stored("/registry/pods/a/other", revision, "other");
            memo.object(pods(), &other, revision);
        }
        let again = memo.selectable(pods(), &kv, 7).unwrap();
        assert!(Arc::ptr_eq(&first, &again));
        let object = memo.object(pods(), &kv, 7).unwrap();
        assert_eq!(*first, Selectable::of(pods(), &object));
    }

    #[test]
    fn forgets_old_revisions() {
        let memo = EventMemo::default();
        let first = stored("/registry/pods/a/first", 1, "first");
        let object = memo.object(pods(), &first, 1).unwrap();
        for revision in 2..(2 * GENERATION as Revision + 2) {
            let kv = stored("/registry/pods/a/other", revision, "other");
            memo.object(pods(), &kv, revision);
        }
        let again = memo.object(pods(), &first, 1).unwrap();
        assert!(!Arc::ptr_eq(&object, &again));
        assert_eq!(object, again);
    }

    #[test]
    fn tables_are_left_to_each_watch() {
        let memo = EventMemo::default();
        let shape = Shape::Table {
            v1: true,
            include: response::Include::Metadata,
        };
        let kv = stored("/registry/pods/a/web", 7, "web");
        assert!(memo.line(pods(), &kv, 7, "ADDED", shape).is_none());
    }
}
