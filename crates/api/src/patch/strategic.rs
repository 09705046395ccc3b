//! Strategic merge patch as the API server applies it: upstream's
//! `mergeMap` with `MergeParallelList` and `IgnoreUnmatchedNulls`.

use std::collections::{HashMap, HashSet};

use serde_json::{Map, Value};

use super::order::{identity, normalize_element_order, partition, slice_element_kind, ElementKind};
use super::schema::Ty;

const DIRECTIVE: &str = "$patch";
const DELETE: &str = "delete";
const REPLACE: &str = "replace";
const MERGE: &str = "merge";
const RETAIN_KEYS: &str = "$retainKeys";
const DELETE_FROM_PRIMITIVE_LIST: &str = "$deleteFromPrimitiveList";
const SET_ELEMENT_ORDER: &str = "$setElementOrder";

/// Why a strategic merge patch failed, sorted by the status upstream
/// answers with.
#[derive(Debug, PartialEq)]
pub(crate) enum SmpError {
    /// 400: a malformed directive.
    BadRequest(&'static str),
    /// 422 with upstream's generic message.
    Unprocessable,
    /// 500 with the message upstream's merge code returns.
    Internal(String),
}

pub(crate) const BAD_RETAIN_KEYS: &str = "invalid patch format of retainKeys";
pub(crate) const BAD_PRIMITIVE_LIST: &str = "invalid patch format of primitive list";
pub(crate) const BAD_SET_ELEMENT_ORDER: &str = "invalid patch format of setElementOrder list";

/// Merges `patch` into `original`, a map of type `ty`.
pub(crate) fn merge_map(
    mut original: Map<String, Value>,
    mut patch: Map<String, Value>,
    ty: Ty,
) -> Result<Map<String, Value>, SmpError> {
    if let Some(directive) = patch.get(DIRECTIVE) {
        return match directive.as_str() {
            Some(REPLACE) => {
                patch.remove(DIRECTIVE);
                Ok(patch)
            }
            Some(DELETE) => Ok(Map::new()),
            _ => Err(bad_patch_type(directive, &patch)),
        };
    }
    apply_retain_keys(&mut original, &mut patch)?;
    merge_element_orders(&mut original, &mut patch, ty)?;

    // Deletion lists go last so that a key both added and deleted from a
    // list ends up deleted; upstream's order here is that of a Go map.
    let mut entries: Vec<(String, Value)> = patch.into_iter().collect();
    entries.sort_by_key(|(key, _)| key.starts_with(DELETE_FROM_PRIMITIVE_LIST));
    for (key, patch_value) in entries {
        let (key, delete_list) = match key.strip_prefix(DELETE_FROM_PRIMITIVE_LIST) {
            Some(rest) => match rest.strip_prefix('/') {
                Some(field) => (field.to_string(), true),
                None => return Err(SmpError::BadRequest(BAD_PRIMITIVE_LIST)),
            },
            None => (key, false),
        };
        if patch_value.is_null() {
            original.remove(&key);
            continue;
        }
        let Some(original_value) = original.remove(&key) else {
            if !delete_list {
                insert_clean(&mut original, key, patch_value);
            }
            continue;
        };
        let merged = match (original_value, patch_value) {
            (Value::Object(left), Value::Object(right)) => {
                let (field_ty, _) = ty.field(&key);
                if matches!(field_ty, Ty::Atomic { replace: true }) {
                    Value::Object(right)
                } else {
                    Value::Object(merge_map(left, right, field_ty)?)
                }
            }
            (Value::Array(left), Value::Array(right)) => {
                let (field_ty, _) = ty.field(&key);
                match merge_key(field_ty) {
                    Some(merge_key) => {
                        Value::Array(merge_slice(left, right, field_ty, merge_key, delete_list)?)
                    }
                    None if delete_list => {
                        Value::Array(merge_slice(left, right, field_ty, "", true)?)
                    }
                    None => Value::Array(right),
                }
            }
            (original_value, patch_value) => {
                if delete_list {
                    original.insert(key, original_value);
                } else {
                    insert_clean(&mut original, key, patch_value);
                }
                continue;
            }
        };
        original.insert(key, merged);
    }
    Ok(original)
}

/// Takes a patch value where the original has none (or another type):
/// nulls and directives dropped, as upstream.
fn insert_clean(original: &mut Map<String, Value>, key: String, mut value: Value) {
    discard_nulls(&mut value);
    if let Some(value) = remove_directives(value) {
        original.insert(key, value);
    }
}

/// The merge key of a list field merged by strategy, `""` for lists of
/// primitives; `None` when the list is replaced.
fn merge_key(ty: Ty) -> Option<&'static str> {
    match ty {
        Ty::List(list) => list.merge_key,
        _ => None,
    }
}

/// `$retainKeys`: keys of the original missing from the list are cleared,
/// and the patch may only set keys from the list.
fn apply_retain_keys(
    original: &mut Map<String, Value>,
    patch: &mut Map<String, Value>,
) -> Result<(), SmpError> {
    let Some(retain) = patch.remove(RETAIN_KEYS) else {
        return Ok(());
    };
    let Value::Array(retain) = retain else {
        return Err(SmpError::BadRequest(BAD_RETAIN_KEYS));
    };
    let keep = |key: &str| retain.iter().any(|item| item.as_str() == Some(key));
    for (key, value) in patch.iter() {
        if value.is_null()
            || key.starts_with(DELETE_FROM_PRIMITIVE_LIST)
            || key.starts_with(SET_ELEMENT_ORDER)
        {
            continue;
        }
        if !keep(key) {
            return Err(SmpError::BadRequest(BAD_RETAIN_KEYS));
        }
    }
    original.retain(|key, _| keep(key));
    Ok(())
}

/// `$setElementOrder/<list>`: merges the list now and orders it as the
/// directive says, server-only items kept near their neighbours.
fn merge_element_orders(
    original: &mut Map<String, Value>,
    patch: &mut Map<String, Value>,
    ty: Ty,
) -> Result<(), SmpError> {
    let keys: Vec<String> = patch
        .keys()
        .filter(|key| key.starts_with(SET_ELEMENT_ORDER))
        .cloned()
        .collect();
    for key in keys {
        let Some(order) = patch.remove(&key) else {
            continue;
        };
        let Value::Array(order) = order else {
            return Err(bad_arg_type("[]interface {}", &order));
        };
        let field = match key[SET_ELEMENT_ORDER.len()..].strip_prefix('/') {
            Some(field) => field.to_string(),
            None => return Err(SmpError::BadRequest(BAD_SET_ELEMENT_ORDER)),
        };
        let original_list = match original.get(&field) {
            Some(Value::Array(items)) => Some(items.clone()),
            Some(other) => return Err(bad_arg_type("[]interface {}", other)),
            None => None,
        };
        let patch_list = match patch.remove(&field) {
            Some(Value::Array(items)) => Some(items),
            Some(other) => return Err(bad_arg_type("[]interface {}", &other)),
            None => None,
        };
        let (field_ty, _) = ty.field(&field);
        let merge_key = merge_key(field_ty);
        let key_name = merge_key.unwrap_or("");
        validate_order(patch_list.as_deref().unwrap_or(&[]), &order, key_name)?;

        let merged = match (&original_list, patch_list.clone()) {
            (Some(left), None) => left.clone(),
            (None, Some(right)) => match remove_directives(Value::Array(right)) {
                Some(Value::Array(items)) => items,
                _ => continue,
            },
            (Some(left), Some(right)) => match merge_key {
                Some(merge_key) => merge_slice(left.clone(), right, field_ty, merge_key, false)?,
                None => right,
            },
            (None, None) => continue,
        };
        let (in_order, server_only) = partition(merged, &order, key_name)?;
        let original_items = original_list.unwrap_or_default();
        let kind = slice_element_kind(&[&original_items, patch_list.as_deref().unwrap_or(&[])])?;
        let all = normalize_element_order(
            in_order,
            server_only,
            &order,
            &original_items,
            key_name,
            kind,
        )?;
        original.insert(field, Value::Array(all));
    }
    Ok(())
}

/// The relative order of the patch's items must follow the order list,
/// and the patch may only hold items that list names.
fn validate_order(patch: &[Value], order: &[Value], merge_key: &str) -> Result<(), SmpError> {
    if patch.is_empty() || order.is_empty() {
        return Ok(());
    }
    let non_deleted: Vec<&Value> = if merge_key.is_empty() {
        patch.iter().collect()
    } else {
        let mut kept = Vec::new();
        for item in patch {
            let Value::Object(map) = item else {
                return Err(bad_arg_type("map[string]interface {}", item));
            };
            if map.get(DIRECTIVE).and_then(Value::as_str) != Some(DELETE) {
                kept.push(item);
            }
        }
        kept
    };
    let (mut p, mut o) = (0, 0);
    while p < non_deleted.len() && o < order.len() {
        if is_directive(non_deleted[p]) {
            p += 1;
            continue;
        }
        if merge_key_equal(non_deleted[p], &order[o], merge_key)? {
            p += 1;
        }
        o += 1;
    }
    if p < non_deleted.len() && o >= order.len() {
        return Err(SmpError::Internal(format!(
            "The order in patch list:\n{}\n doesn't match {SET_ELEMENT_ORDER} list:\n{}\n",
            go_format(&Value::Array(patch.to_vec())),
            go_format(&Value::Array(order.to_vec())),
        )));
    }
    Ok(())
}

fn is_directive(item: &Value) -> bool {
    item.as_object()
        .is_some_and(|map| map.contains_key(DIRECTIVE))
}

fn merge_key_equal(left: &Value, right: &Value, merge_key: &str) -> Result<bool, SmpError> {
    if merge_key.is_empty() {
        return Ok(left == right);
    }
    let (Value::Object(left), Value::Object(right)) = (left, right) else {
        let odd = if left.is_object() { right } else { left };
        return Err(bad_arg_type("map[string]interface {}", odd));
    };
    let left_key = left
        .get(merge_key)
        .ok_or_else(|| no_merge_key(left, merge_key))?;
    let right_key = right
        .get(merge_key)
        .ok_or_else(|| no_merge_key(right, merge_key))?;
    Ok(left_key == right_key)
}

/// Merges two lists merged by strategy: items of maps by `merge_key`,
/// primitives as a set (or, for a deletion list, removed).
fn merge_slice(
    original: Vec<Value>,
    patch: Vec<Value>,
    ty: Ty,
    merge_key: &str,
    delete_list: bool,
) -> Result<Vec<Value>, SmpError> {
    if original.is_empty() && patch.is_empty() {
        return Ok(original);
    }
    let kind = slice_element_kind(&[&original, &patch])?;
    let (original, patch, merged) = if kind != ElementKind::Map {
        if delete_list {
            let doomed: HashSet<String> = patch.iter().map(Value::to_string).collect();
            return Ok(original
                .into_iter()
                .filter(|item| !doomed.contains(&item.to_string()))
                .collect());
        }
        let mut seen = HashSet::new();
        let merged: Vec<Value> = original
            .iter()
            .chain(patch.iter())
            .filter(|item| seen.insert(item.to_string()))
            .cloned()
            .collect();
        (original, patch, merged)
    } else {
        if merge_key.is_empty() {
            return Err(SmpError::Internal(
                "cannot merge lists without merge key".into(),
            ));
        }
        let (original, patch) = merge_special_elements(original, patch, merge_key)?;
        let merged = merge_plain_elements(original.clone(), &patch, ty, merge_key)?;
        (original, patch, merged)
    };
    let (in_patch, server_only) = partition(merged, &patch, merge_key)?;
    normalize_element_order(in_patch, server_only, &patch, &original, merge_key, kind)
}

/// Handles the `$patch` items of a list of maps: `delete` removes the
/// matching original items, `replace` makes the patch the whole list.
/// Returns the new original and the patch without those items.
fn merge_special_elements(
    mut original: Vec<Value>,
    patch: Vec<Value>,
    merge_key: &str,
) -> Result<(Vec<Value>, Vec<Value>), SmpError> {
    let mut plain = Vec::new();
    let mut replace = false;
    let mut doomed = HashSet::new();
    for item in patch {
        let Value::Object(map) = &item else {
            plain.push(item);
            continue;
        };
        let Some(directive) = map.get(DIRECTIVE) else {
            plain.push(item);
            continue;
        };
        match directive.as_str() {
            Some(DELETE) => match map.get(merge_key) {
                Some(wanted) => {
                    doomed.insert(wanted.to_string());
                }
                None => return Err(no_merge_key(map, merge_key)),
            },
            Some(REPLACE) => replace = true,
            Some(MERGE) => {
                return Err(SmpError::Internal(
                    "merging lists cannot yet be specified in the patch".into(),
                ))
            }
            _ => return Err(bad_patch_type(directive, map)),
        }
    }
    if replace {
        return Ok((plain, Vec::new()));
    }
    if !doomed.is_empty() {
        original.retain(|item| !identity(item, merge_key).is_some_and(|id| doomed.contains(&id)));
    }
    Ok((original, plain))
}

/// Merges each patch item into the original item with the same key, or
/// appends it.
fn merge_plain_elements(
    mut original: Vec<Value>,
    patch: &[Value],
    ty: Ty,
    merge_key: &str,
) -> Result<Vec<Value>, SmpError> {
    if !patch.is_empty() {
        if let Some(index) = original.iter().position(|item| !item.is_object()) {
            return Err(SmpError::Internal(format!(
                "value for key {index} is not a map"
            )));
        }
    }
    let mut by_key: HashMap<String, usize> = HashMap::new();
    for (index, item) in original.iter().enumerate() {
        if let Some(id) = identity(item, merge_key) {
            by_key.entry(id).or_insert(index);
        }
    }
    for item in patch {
        let Value::Object(map) = item else {
            return Err(bad_arg_type("map[string]interface {}", item));
        };
        let Some(id) = identity(item, merge_key) else {
            return Err(no_merge_key(map, merge_key));
        };
        match by_key.get(&id) {
            Some(&index) => {
                let Value::Object(left) = std::mem::take(&mut original[index]) else {
                    unreachable!("checked above");
                };
                original[index] = Value::Object(merge_map(left, map.clone(), ty.item())?);
            }
            None => {
                by_key.insert(id, original.len());
                original.push(item.clone());
            }
        }
    }
    Ok(original)
}

/// Drops `$patch` maps (and the items and fields holding them); `None`
/// when `value` itself is one.
pub(crate) fn remove_directives(value: Value) -> Option<Value> {
    match value {
        Value::Object(map) => {
            if map.contains_key(DIRECTIVE) {
                return None;
            }
            let cleaned = map
                .into_iter()
                .filter_map(|(key, value)| remove_directives(value).map(|value| (key, value)))
                .collect();
            Some(Value::Object(cleaned))
        }
        Value::Array(items) => Some(Value::Array(
            items.into_iter().filter_map(remove_directives).collect(),
        )),
        other => Some(other),
    }
}

/// Removes every `null` field, at any depth.
fn discard_nulls(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.retain(|_, value| !value.is_null());
            map.values_mut().for_each(discard_nulls);
        }
        Value::Array(items) => items.iter_mut().for_each(discard_nulls),
        _ => {}
    }
}

pub(crate) fn no_merge_key(map: &Map<String, Value>, key: &str) -> SmpError {
    SmpError::Internal(format!(
        "map: {} does not contain declared merge key: {key}",
        go_format(&Value::Object(map.clone()))
    ))
}

fn bad_patch_type(directive: &Value, map: &Map<String, Value>) -> SmpError {
    SmpError::Internal(format!(
        "unknown patch type: {} in map: {}",
        go_format(directive),
        go_format(&Value::Object(map.clone()))
    ))
}

pub(crate) fn bad_arg_type(expected: &str, actual: &Value) -> SmpError {
    let actual = match actual {
        Value::Null => "%!s(<nil>)",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_f64() => "float64",
        Value::Number(_) => "int64",
        Value::String(_) => "string",
        Value::Array(_) => "[]interface {}",
        Value::Object(_) => "map[string]interface {}",
    };
    SmpError::Internal(format!("expected a {expected}, but received a {actual}"))
}

/// A value as Go's `%v` prints a decoded JSON value, for messages.
pub(crate) fn go_format(value: &Value) -> String {
    match value {
        Value::Null => "<nil>".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.clone(),
        Value::Array(items) => {
            let inner: Vec<String> = items.iter().map(go_format).collect();
            format!("[{}]", inner.join(" "))
        }
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            let inner: Vec<String> = keys
                .iter()
                .map(|key| format!("{key}:{}", go_format(&map[*key])))
                .collect();
            format!("map[{}]", inner.join(" "))
        }
    }
}
