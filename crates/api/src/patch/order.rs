//! The order of merged lists: patch items in the order the patch (or its
//! `$setElementOrder`) gives, items only the server has kept next to the
//! neighbours they had, as upstream's `normalizeElementOrder`.
//!
//! Lookups go through hash maps keyed by the JSON of an item (or of its
//! merge key), so that long lists cost linear time.

use std::collections::{HashMap, HashSet};

use serde_json::Value;

use super::strategic::{bad_arg_type, go_format, no_merge_key, SmpError};

/// The type all items of some lists share.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum ElementKind {
    Map,
    List,
    String,
    Int,
    Float,
    Bool,
    Null,
}

/// The element type of `slices`; lists of lists and mixed lists are
/// refused as upstream refuses them.
pub(crate) fn slice_element_kind(slices: &[&[Value]]) -> Result<ElementKind, SmpError> {
    let mut seen: Option<ElementKind> = None;
    for item in slices.iter().flat_map(|slice| slice.iter()) {
        let kind = match item {
            // Upstream refuses a list of lists only when it sees a list
            // first; a list later is a mixed list.
            Value::Array(_) if seen.is_none() => return Err(SmpError::Unprocessable),
            Value::Array(_) => ElementKind::List,
            Value::Object(_) => ElementKind::Map,
            Value::String(_) => ElementKind::String,
            Value::Number(n) if n.is_f64() => ElementKind::Float,
            Value::Number(_) => ElementKind::Int,
            Value::Bool(_) => ElementKind::Bool,
            Value::Null => ElementKind::Null,
        };
        match seen {
            None => seen = Some(kind),
            Some(previous) if previous != kind => {
                let all: Vec<Value> = slices
                    .iter()
                    .map(|slice| Value::Array(slice.to_vec()))
                    .collect();
                return Err(SmpError::Internal(format!(
                    "list element types are not identical: {}",
                    go_format(&Value::Array(all))
                )));
            }
            Some(_) => {}
        }
    }
    seen.ok_or_else(|| SmpError::Internal("no elements in any of the given slices".into()))
}

/// What identifies an item: its merge key's value for maps, itself
/// otherwise; `None` for a map without the key.
pub(crate) fn identity(item: &Value, merge_key: &str) -> Option<String> {
    if merge_key.is_empty() {
        return Some(item.to_string());
    }
    item.as_object()?.get(merge_key).map(Value::to_string)
}

/// Splits `items` into those `by` names (by merge key, or by value for
/// primitives) and the others, keeping their order.
pub(crate) fn partition(
    items: Vec<Value>,
    by: &[Value],
    merge_key: &str,
) -> Result<(Vec<Value>, Vec<Value>), SmpError> {
    let mut named = Vec::new();
    let mut others = Vec::new();
    if items.is_empty() {
        return Ok((named, others));
    }
    if !merge_key.is_empty() {
        if let Some(index) = by.iter().position(|item| !item.is_object()) {
            return Err(SmpError::Internal(format!(
                "value for key {index} is not a map"
            )));
        }
    }
    let wanted: HashSet<String> = by
        .iter()
        .filter_map(|item| identity(item, merge_key))
        .collect();
    for item in items {
        if !merge_key.is_empty() {
            let Value::Object(map) = &item else {
                return Err(bad_arg_type("map[string]interface {}", &item));
            };
            if !map.contains_key(merge_key) {
                return Err(no_merge_key(map, merge_key));
            }
        }
        let found = identity(&item, merge_key).is_some_and(|id| wanted.contains(&id));
        if found {
            named.push(item);
        } else {
            others.push(item);
        }
    }
    Ok((named, others))
}

/// Sorts the patch items by `patch_order` and the server-only items by
/// `server_order`, then interleaves them.
pub(crate) fn normalize_element_order(
    patch: Vec<Value>,
    server_only: Vec<Value>,
    patch_order: &[Value],
    server_order: &[Value],
    merge_key: &str,
    kind: ElementKind,
) -> Result<Vec<Value>, SmpError> {
    let key = if kind == ElementKind::Map {
        merge_key
    } else {
        ""
    };
    let patch = sort_by_order(patch, patch_order, key, kind)?;
    let server_only = sort_by_order(server_only, server_order, key, kind)?;
    Ok(merge_sorted(server_only, patch, server_order, key))
}

/// Where each item of `list` first appears.
fn positions(list: &[Value], key: &str) -> HashMap<String, usize> {
    let mut out = HashMap::with_capacity(list.len());
    for (index, item) in list.iter().enumerate() {
        out.entry(identity(item, key).unwrap_or_else(|| "null".into()))
            .or_insert(index);
    }
    out
}

fn position(positions: &HashMap<String, usize>, item: &Value, key: &str) -> Option<usize> {
    positions
        .get(&identity(item, key).unwrap_or_else(|| "null".into()))
        .copied()
}

fn sort_by_order(
    items: Vec<Value>,
    order: &[Value],
    key: &str,
    kind: ElementKind,
) -> Result<Vec<Value>, SmpError> {
    let mut items = items;
    let mut deleted = Vec::new();
    if kind == ElementKind::Map {
        for item in items.iter().chain(order.iter()) {
            let Value::Object(map) = item else {
                return Err(bad_arg_type("map[string]interface {}", item));
            };
            if !map.contains_key(key) {
                return Err(no_merge_key(map, key));
            }
        }
        let (kept, removed): (Vec<Value>, Vec<Value>) = items
            .into_iter()
            .partition(|item| item.get("$patch").and_then(Value::as_str) != Some("delete"));
        items = kept;
        deleted = removed;
    }
    // Items missing from `order` do not happen in what upstream sorts; they
    // go first, where its comparator pushes them.
    let positions = positions(order, key);
    items.sort_by_cached_key(|item| position(&positions, item, key));
    items.extend(deleted);
    Ok(items)
}

/// Inserts the `left` items (server-only) among the `right` items (from
/// the patch); both keep their relative order, and a left item goes before
/// a right item only when `server_order` puts it there.
fn merge_sorted(
    left: Vec<Value>,
    right: Vec<Value>,
    server_order: &[Value],
    key: &str,
) -> Vec<Value> {
    let positions = positions(server_order, key);
    let mut out = Vec::with_capacity(left.len() + right.len());
    let mut left = left.into_iter().peekable();
    let mut right = right.into_iter().peekable();
    loop {
        let take_left = match (left.peek(), right.peek()) {
            (None, None) => break,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (Some(l), Some(r)) => matches!(
                (position(&positions, l, key), position(&positions, r, key)),
                (Some(i), Some(j)) if i < j
            ),
        };
        let next = if take_left { left.next() } else { right.next() };
        out.extend(next);
    }
    out
}
