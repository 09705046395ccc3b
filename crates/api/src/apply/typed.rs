//! Walks over objects guided by their schema, as structured-merge-diff's
//! typed values: the set of fields a value sets, the comparison of two
//! values, the merge of an applied configuration, the removal of fields.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value};

use super::fieldpath::{path_string, Path, PathElement, Set};
use crate::patch::schema::{Key, ListKind, Ty};

/// How a value of some type is tracked.
enum Shape<'a> {
    /// One value, owned whole.
    Leaf,
    /// Fields or map keys owned one by one.
    Object(&'a Map<String, Value>),
    /// Items owned one by one, identified by key or value.
    List(&'a [Value], &'static [Key]),
}

fn shape(value: &Value, ty: Ty) -> Shape<'_> {
    match (ty, value) {
        (Ty::Atomic { .. }, _) => Shape::Leaf,
        (Ty::List(list), Value::Array(items)) => match list.kind {
            ListKind::Atomic => Shape::Leaf,
            ListKind::Set => Shape::List(items, &[]),
            ListKind::Map(keys) => Shape::List(items, keys),
        },
        // Null is an empty list or object to upstream's typed code.
        (Ty::List(list), Value::Null) => match list.kind {
            ListKind::Atomic => Shape::Leaf,
            ListKind::Set => Shape::List(&[], &[]),
            ListKind::Map(keys) => Shape::List(&[], keys),
        },
        (Ty::Struct(_), Value::Null) => Shape::Object(empty_map()),
        (Ty::List(_), _) => Shape::Leaf,
        (_, Value::Object(map)) => Shape::Object(map),
        _ => Shape::Leaf,
    }
}

fn empty_map() -> &'static Map<String, Value> {
    static EMPTY: std::sync::OnceLock<Map<String, Value>> = std::sync::OnceLock::new();
    EMPTY.get_or_init(Map::new)
}

/// The path element of a list item: its key values (with the schema's
/// defaults for missing ones), or itself for sets.
pub(crate) fn item_element(item: &Value, keys: &[Key]) -> Result<PathElement, String> {
    if keys.is_empty() {
        return match item {
            Value::Object(_) => {
                Err("associative list without keys has an element that's a map type".into())
            }
            Value::Array(_) => Err("not supported: associative list with lists as elements".into()),
            Value::Null => {
                Err("associative list without keys has an element that's an explicit null".into())
            }
            other => Ok(PathElement::Value(other.clone())),
        };
    }
    let map = match item {
        Value::Object(map) => map,
        Value::Null => return Err("associative list with keys may not have a null element".into()),
        _ => return Err("associative list with keys may not have non-map elements".into()),
    };
    let mut fields = Vec::with_capacity(keys.len());
    for key in keys {
        match (map.get(key.name), key.default) {
            (Some(value), _) => fields.push((key.name.to_string(), value.clone())),
            (None, Some(default)) => fields.push((key.name.to_string(), Value::String(default.into()))),
            (None, None) => {
                return Err(format!(
                    "associative list with keys has an element that omits key field {:?} (and doesn't have default value)",
                    key.name
                ))
            }
        }
    }
    fields.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(PathElement::Key(fields))
}

/// The path elements of a list's items; items without one are skipped, as
/// upstream skips them in objects it already stores.
fn elements(items: &[Value], keys: &'static [Key]) -> Vec<Option<PathElement>> {
    items
        .iter()
        .map(|item| item_element(item, keys).ok())
        .collect()
}

fn join(path: &Path, element: PathElement) -> Path {
    let mut out = path.clone();
    out.push(element);
    out
}

/// Checks an applied configuration as upstream does before applying it:
/// list items need their keys, and keys must be unique.
pub(crate) fn validate(value: &Value, ty: Ty) -> Result<(), String> {
    let mut errors = Vec::new();
    validate_at(value, ty, &mut Vec::new(), &mut errors);
    match errors.len() {
        0 => Ok(()),
        1 => Err(errors.remove(0)),
        _ => Err(format!("errors:\n  {}", errors.join("\n  "))),
    }
}

fn validate_at(value: &Value, ty: Ty, path: &mut Path, errors: &mut Vec<String>) {
    match shape(value, ty) {
        Shape::Leaf => {}
        Shape::Object(map) => {
            for (key, child) in map {
                path.push(PathElement::Field(key.clone()));
                validate_at(child, ty.field(key).0, path, errors);
                path.pop();
            }
        }
        Shape::List(items, keys) => {
            let mut seen = BTreeSet::new();
            for (index, item) in items.iter().enumerate() {
                match item_element(item, keys) {
                    Err(message) => {
                        errors.push(format!("{}: element {index}: {message}", path_string(path)))
                    }
                    Ok(element) if seen.contains(&element) => errors.push(format!(
                        "{}: duplicate entries for key {element}",
                        path_string(path)
                    )),
                    Ok(element) => {
                        path.push(element.clone());
                        validate_at(item, ty.item(), path, errors);
                        path.pop();
                        seen.insert(element);
                    }
                }
            }
        }
    }
}

/// The paths a value sets: upstream's `ToFieldSet`.
pub(crate) fn field_set(value: &Value, ty: Ty) -> Set {
    let mut set = Set::new();
    collect(value, ty, &Vec::new(), &mut set);
    set
}

fn collect(value: &Value, ty: Ty, path: &Path, set: &mut Set) {
    match shape(value, ty) {
        Shape::Leaf => set.insert(path),
        Shape::Object(map) => {
            for (key, child) in map {
                let (child_ty, named) = ty.field(key);
                let child_path = join(path, PathElement::Field(key.clone()));
                collect(child, child_ty, &child_path, set);
                let empty = child.is_null() || child.as_object().is_some_and(Map::is_empty);
                if empty || !named {
                    set.insert(&child_path);
                }
            }
        }
        Shape::List(items, keys) => {
            let elements = elements(items, keys);
            let mut counts: BTreeMap<&PathElement, usize> = BTreeMap::new();
            for element in elements.iter().flatten() {
                *counts.entry(element).or_default() += 1;
            }
            for (item, element) in items.iter().zip(&elements) {
                let Some(element) = element else {
                    continue;
                };
                let child_path = join(path, element.clone());
                if counts[element] > 1 {
                    // A duplicated item is owned whole, once.
                    set.insert(&child_path);
                    continue;
                }
                collect(item, ty.item(), &child_path, set);
                set.insert(&child_path);
            }
        }
    }
}

/// What changed from one value to another: upstream's `Comparison`.
#[derive(Default)]
pub(crate) struct Comparison {
    pub added: Set,
    pub modified: Set,
    pub removed: Set,
}

impl Comparison {
    /// Keeps what `keep` keeps of each set (the fields a write may own).
    pub fn filtered(mut self, keep: impl Fn(&Set) -> Set) -> Comparison {
        self.added = keep(&self.added);
        self.modified = keep(&self.modified);
        self.removed = keep(&self.removed);
        self
    }
}

pub(crate) fn compare(lhs: &Value, rhs: &Value, ty: Ty) -> Comparison {
    let mut comparison = Comparison::default();
    compare_at(Some(lhs), Some(rhs), ty, &Vec::new(), &mut comparison);
    comparison
}

/// [`compare`] leaving out `metadata.managedFields` of both objects,
/// without copying the rest of either.
pub(crate) fn compare_untracked(lhs: &Value, rhs: &Value, ty: Ty) -> Comparison {
    let (Value::Object(l), Value::Object(r)) = (lhs, rhs) else {
        return compare(
            &super::without_managed_fields(lhs),
            &super::without_managed_fields(rhs),
            ty,
        );
    };
    if l.is_empty() || r.is_empty() {
        return compare(
            &super::without_managed_fields(lhs),
            &super::without_managed_fields(rhs),
            ty,
        );
    }
    // As `compare_at` does for two objects, with each `metadata` stood in
    // for by a copy without `managedFields` where it has them.
    let (l_meta, r_meta) = (metadata_untracked(l), metadata_untracked(r));
    let mut out = Comparison::default();
    let mut keys: Vec<&String> = l.keys().chain(r.keys()).collect();
    keys.sort();
    keys.dedup();
    for key in keys {
        let child_path = vec![PathElement::Field(key.clone())];
        let (mut left, mut right) = (l.get(key), r.get(key));
        if key == "metadata" {
            left = l_meta.as_ref().or(left);
            right = r_meta.as_ref().or(right);
        }
        compare_at(left, right, ty.field(key).0, &child_path, &mut out);
    }
    out
}

/// `metadata` without `managedFields`, if it has them.
fn metadata_untracked(object: &Map<String, Value>) -> Option<Value> {
    let metadata = object.get("metadata")?.as_object()?;
    metadata.contains_key("managedFields").then(|| {
        let kept = metadata
            .iter()
            .filter(|(key, _)| *key != "managedFields")
            .map(|(key, value)| (key.clone(), value.clone()));
        Value::Object(kept.collect())
    })
}

fn compare_at(lhs: Option<&Value>, rhs: Option<&Value>, ty: Ty, path: &Path, out: &mut Comparison) {
    // Equal values add, modify and remove nothing at any depth: most of an
    // object is unchanged by a write, and walking it would only build paths.
    if let (Some(l), Some(r)) = (lhs, rhs) {
        if l == r {
            return;
        }
    }
    let leaf = |out: &mut Comparison| match (lhs, rhs) {
        (None, _) => out.added.insert(path),
        (_, None) => out.removed.insert(path),
        (Some(l), Some(r)) if l != r => out.modified.insert(path),
        _ => {}
    };
    let shapes = (lhs.map(|v| shape(v, ty)), rhs.map(|v| shape(v, ty)));
    match shapes {
        (Some(Shape::Object(l)), Some(Shape::Object(r))) if l.is_empty() && r.is_empty() => {
            return leaf(out)
        }
        (Some(Shape::Object(l)), None) | (None, Some(Shape::Object(l))) if l.is_empty() => {
            return leaf(out)
        }
        (Some(Shape::List(l, _)), Some(Shape::List(r, _))) if l.is_empty() && r.is_empty() => {
            return leaf(out)
        }
        (Some(Shape::List(l, _)), None) | (None, Some(Shape::List(l, _))) if l.is_empty() => {
            return leaf(out)
        }
        (Some(Shape::Object(l)), Some(Shape::Object(r))) => {
            compare_objects(Some(l), Some(r), ty, path, out)
        }
        (Some(Shape::Object(l)), None) => compare_objects(Some(l), None, ty, path, out),
        (None, Some(Shape::Object(r))) => compare_objects(None, Some(r), ty, path, out),
        (Some(Shape::List(l, keys)), Some(Shape::List(r, _))) => {
            compare_lists(l, r, keys, ty, path, out)
        }
        (Some(Shape::List(l, keys)), None) => compare_lists(l, &[], keys, ty, path, out),
        (None, Some(Shape::List(r, keys))) => compare_lists(&[], r, keys, ty, path, out),
        _ => return leaf(out),
    }
    // A granular value that appeared or went away is itself added or
    // removed, besides what is below it.
    match (lhs, rhs) {
        (None, _) => out.added.insert(path),
        (_, None) => out.removed.insert(path),
        _ => {}
    }
}

fn compare_objects(
    lhs: Option<&Map<String, Value>>,
    rhs: Option<&Map<String, Value>>,
    ty: Ty,
    path: &Path,
    out: &mut Comparison,
) {
    let mut keys: Vec<&String> = lhs.into_iter().chain(rhs).flat_map(|m| m.keys()).collect();
    keys.sort();
    keys.dedup();
    for key in keys {
        let child_path = join(path, PathElement::Field(key.clone()));
        let (l, r) = (lhs.and_then(|m| m.get(key)), rhs.and_then(|m| m.get(key)));
        compare_at(l, r, ty.field(key).0, &child_path, out);
    }
}

fn compare_lists(
    lhs: &[Value],
    rhs: &[Value],
    keys: &'static [Key],
    ty: Ty,
    path: &Path,
    out: &mut Comparison,
) {
    let mut order: Vec<PathElement> = Vec::new();
    let mut seen: BTreeSet<PathElement> = BTreeSet::new();
    let mut left: BTreeMap<PathElement, Vec<&Value>> = BTreeMap::new();
    let mut right: BTreeMap<PathElement, Vec<&Value>> = BTreeMap::new();
    for (items, side) in [(lhs, &mut left), (rhs, &mut right)] {
        for (item, element) in items.iter().zip(elements(items, keys)) {
            let Some(element) = element else {
                continue;
            };
            if seen.insert(element.clone()) {
                order.push(element.clone());
            }
            side.entry(element).or_default().push(item);
        }
    }
    for element in order {
        let l = left.get(&element).map(Vec::as_slice).unwrap_or_default();
        let r = right.get(&element).map(Vec::as_slice).unwrap_or_default();
        let child_path = join(path, element);
        match (l.len(), r.len()) {
            (0..=1, 0..=1) => compare_at(
                l.first().copied(),
                r.first().copied(),
                ty.item(),
                &child_path,
                out,
            ),
            (2.., 2..) => {
                if l != r {
                    out.modified.insert(&child_path);
                }
            }
            (2.., _) => {
                if let Some(r) = r.first() {
                    compare_at(None, Some(r), ty.item(), &child_path, out);
                }
                out.removed.insert(&child_path);
            }
            (_, _) => {
                if let Some(l) = l.first() {
                    compare_at(Some(l), None, ty.item(), &child_path, out);
                }
                out.added.insert(&child_path);
            }
        }
    }
}
