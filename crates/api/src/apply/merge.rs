//! Merging an applied configuration into a live object, and pruning what
//! an applier stopped applying.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use serde_json::{Map, Value};

use super::fieldpath::{PathElement, Set};
use super::typed::item_element;
use crate::patch::schema::{Key, ListKind, Ty};

/// `lhs` with `rhs` merged in: granular objects and lists merge item by
/// item, everything else is taken from `rhs`. upstream's `Merge`.
pub(crate) fn merge(lhs: Option<&Value>, rhs: Option<&Value>, ty: Ty) -> Option<Value> {
    let Some(rhs) = rhs else {
        return lhs.cloned();
    };
    let Some(lhs) = lhs else {
        return Some(rhs.clone());
    };
    match (ty, lhs, rhs) {
        (Ty::Atomic { .. }, _, _) => Some(rhs.clone()),
        // Null applied to a granular object or list is an empty one: it
        // merges into the live value and leaves it as it is.
        (Ty::List(list), Value::Array(_), Value::Null)
            if !matches!(list.kind, ListKind::Atomic) =>
        {
            Some(lhs.clone())
        }
        (Ty::Struct(_) | Ty::Deduced, Value::Object(_), Value::Null) => Some(lhs.clone()),
        (Ty::List(list), Value::Array(l), Value::Array(r)) => match list.kind {
            ListKind::Atomic => Some(rhs.clone()),
            _ if l.is_empty() && r.is_empty() => Some(rhs.clone()),
            ListKind::Set => Some(Value::Array(merge_items(l, r, &[], ty))),
            ListKind::Map(keys) => Some(Value::Array(merge_items(l, r, keys, ty))),
        },
        (Ty::List(_), _, _) => Some(rhs.clone()),
        (_, Value::Object(l), Value::Object(r)) => {
            if l.is_empty() && r.is_empty() {
                return Some(rhs.clone());
            }
            let mut out = Map::new();
            for (key, value) in l {
                let merged = merge(Some(value), r.get(key), ty.field(key).0);
                out.extend(merged.map(|merged| (key.clone(), merged)));
            }
            for (key, value) in r {
                if !l.contains_key(key) {
                    out.insert(key.clone(), value.clone());
                }
            }
            Some(Value::Object(out))
        }
        _ => Some(rhs.clone()),
    }
}

/// Merges the items of two granular lists. Items of `rhs` keep their
/// order; items only `lhs` has stay where they were relative to them.
fn merge_items(lhs: &[Value], rhs: &[Value], keys: &'static [Key], ty: Ty) -> Vec<Value> {
    let index = |items: &[Value]| -> Vec<(PathElement, usize)> {
        items
            .iter()
            .enumerate()
            .filter_map(|(i, item)| item_element(item, keys).ok().map(|e| (e, i)))
            .collect()
    };
    let left = index(lhs);
    let right = index(rhs);
    // An item `lhs` holds twice is replaced, not merged.
    let mut left_items: BTreeMap<&PathElement, Option<&Value>> = BTreeMap::new();
    for (element, i) in &left {
        left_items
            .entry(element)
            .and_modify(|item| *item = None)
            .or_insert(Some(&lhs[*i]));
    }
    let mut right_items: BTreeMap<&PathElement, &Value> = BTreeMap::new();
    for (element, i) in &right {
        right_items.entry(element).or_insert(&rhs[*i]);
    }
    let left_item = |element: &PathElement| left_items.get(element).copied().flatten();
    let right_item = |element: &PathElement| right_items.get(element).copied();

    let mut shared: VecDeque<&PathElement> = right
        .iter()
        .map(|(e, _)| e)
        .filter(|e| left_items.contains_key(e))
        .collect();
    let mut next_shared = shared.pop_front();
    let mut merged_right: BTreeSet<&PathElement> = BTreeSet::new();
    let mut out = Vec::with_capacity(lhs.len().max(rhs.len()));
    let (mut l, mut r) = (0, 0);
    while l < left.len() || r < right.len() {
        if l < left.len() && r < right.len() {
            let element = &left[l].0;
            if *element == right[r].0 {
                merged_right.insert(element);
                out.extend(merge(left_item(element), right_item(element), ty.item()));
                l += 1;
                r += 1;
                next_shared = shared.pop_front();
                continue;
            }
            if right_items.contains_key(element) && next_shared.is_some_and(|next| next != element)
            {
                l += 1;
                continue;
            }
        }
        if l < left.len() {
            let (element, position) = &left[l];
            if !right_items.contains_key(element) {
                out.extend(merge(Some(&lhs[*position]), None, ty.item()));
                l += 1;
                continue;
            } else if merged_right.contains(element) {
                l += 1;
            }
        }
        if r < right.len() {
            let element = &right[r].0;
            merged_right.insert(element);
            out.extend(merge(left_item(element), right_item(element), ty.item()));
            r += 1;
            if next_shared == Some(element) {
                next_shared = shared.pop_front();
            }
        }
    }
    out
}

/// Removes from `value` the paths of `applier_last` (what the applier
/// applied before) that nobody owns now, with all below them.
pub(crate) fn prune(value: Value, applier_last: &Set, owned: &Set, ty: Ty) -> Value {
    let last = named_fields_as_members(applier_last, ty);
    let owned = named_fields_as_members(owned, ty);
    prune_at(value, &last, &owned, ty).unwrap_or_else(|| Value::Object(Map::new()))
}

/// `None` when everything in the value went away.
fn prune_at(value: Value, last: &Set, owned: &Set, ty: Ty) -> Option<Value> {
    let gone =
        |element: &PathElement| last.members.contains(element) && !owned.members.contains(element);
    match (ty, value) {
        (Ty::Atomic { .. }, value) => Some(value),
        (Ty::List(list), Value::Array(items)) => {
            let keys = match list.kind {
                ListKind::Atomic => return Some(Value::Array(items)),
                ListKind::Set => &[][..],
                ListKind::Map(keys) => keys,
            };
            let mut kept = Vec::with_capacity(items.len());
            for item in items {
                let Ok(element) = item_element(&item, keys) else {
                    kept.push(item);
                    continue;
                };
                if gone(&element) {
                    continue;
                }
                match last.children.get(&element) {
                    Some(below) => {
                        let owned_below = owned.with_prefix(&element);
                        kept.extend(prune_at(item, below, &owned_below, ty.item()));
                    }
                    None => kept.push(item),
                }
            }
            (!kept.is_empty()).then_some(Value::Array(kept))
        }
        (Ty::List(_), value) => Some(value),
        (_, Value::Object(map)) => {
            let mut kept = Map::new();
            for (key, child) in map {
                let element = PathElement::Field(key.clone());
                if gone(&element) {
                    continue;
                }
                match last.children.get(&element) {
                    Some(below) => {
                        let owned_below = owned.with_prefix(&element);
                        let child_ty = ty.field(&key).0;
                        kept.extend(
                            prune_at(child, below, &owned_below, child_ty)
                                .map(|child| (key, child)),
                        );
                    }
                    None => {
                        kept.insert(key, child);
                    }
                }
            }
            (!kept.is_empty()).then_some(Value::Object(kept))
        }
        (_, value) => Some(value),
    }
}

/// `set` with every named field that has members below it a member too:
/// owning `spec.replicas` means owning `spec`, but owning a label does not
/// mean owning a list item or a map key.
pub(crate) fn named_fields_as_members(set: &Set, ty: Ty) -> Set {
    let mut out = Set {
        members: set.members.clone(),
        children: Default::default(),
    };
    for (element, child) in &set.children {
        let child_ty = match element {
            PathElement::Field(name) => {
                let (child_ty, named) = ty.field(name);
                if named && !matches!(ty, Ty::List(_) | Ty::Atomic { .. }) {
                    out.members.insert(element.clone());
                }
                child_ty
            }
            PathElement::Key(_) => ty.item(),
            _ => Ty::Deduced,
        };
        out.children
            .insert(element.clone(), named_fields_as_members(child, child_ty));
    }
    out
}

/// Drops the fields an applied configuration sets to `null`: it owns
/// them, but they end up unset, as upstream's typed objects have them.
pub(crate) fn drop_applied_nulls(value: &mut Value, applied: &Value, ty: Ty) {
    match (value, applied) {
        (Value::Object(out), Value::Object(applied)) => {
            for (key, applied_child) in applied {
                match out.get_mut(key) {
                    Some(Value::Null) if applied_child.is_null() => {
                        out.remove(key);
                    }
                    Some(child) => drop_applied_nulls(child, applied_child, ty.field(key).0),
                    None => {}
                }
            }
        }
        (Value::Array(out), Value::Array(applied)) => {
            let keys = match ty {
                Ty::List(list) => match list.kind {
                    ListKind::Map(keys) => keys,
                    _ => return,
                },
                _ => return,
            };
            let mut positions = BTreeMap::new();
            for (index, item) in out.iter().enumerate() {
                if let Ok(element) = item_element(item, keys) {
                    positions.entry(element).or_insert(index);
                }
            }
            for applied_item in applied {
                let Ok(element) = item_element(applied_item, keys) else {
                    continue;
                };
                if let Some(&index) = positions.get(&element) {
                    drop_applied_nulls(&mut out[index], applied_item, ty.item());
                }
            }
        }
        _ => {}
    }
}
