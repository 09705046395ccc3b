//! Resource names and quantities in requests, limits and quotas.

use std::collections::BTreeMap;

use serde_json::Value;

use super::names::is_qualified_name;
use super::path::{obj, Path};
use super::quantity::{from_json, Quantity};
use crate::status::FieldError;

const STANDARD_RESOURCES: &[&str] = &[
    "cpu",
    "memory",
    "ephemeral-storage",
    "requests.cpu",
    "requests.memory",
    "requests.ephemeral-storage",
    "limits.cpu",
    "limits.memory",
    "limits.ephemeral-storage",
    "pods",
    "services",
    "replicationcontrollers",
    "resourcequotas",
    "secrets",
    "persistentvolumeclaims",
    "configmaps",
    "requests.storage",
    "services.nodeports",
    "services.loadbalancers",
    "storage",
];

fn is_native(name: &str) -> bool {
    !name.contains('/') || name.contains("kubernetes.io/")
}

fn is_huge_pages(name: &str) -> bool {
    name.starts_with("hugepages-")
}

pub fn is_standard_resource(name: &str) -> bool {
    STANDARD_RESOURCES.contains(&name)
        || name.starts_with("hugepages-")
        || name.starts_with("requests.hugepages-")
}

fn is_extended(name: &str) -> bool {
    !is_native(name)
        && !name.starts_with("requests.")
        && is_qualified_name(&format!("requests.{name}")).is_empty()
}

pub fn is_integer_resource(name: &str) -> bool {
    matches!(
        name,
        "pods"
            | "services"
            | "replicationcontrollers"
            | "resourcequotas"
            | "secrets"
            | "configmaps"
            | "persistentvolumeclaims"
            | "services.nodeports"
            | "services.loadbalancers"
    ) || is_extended(name)
}

/// `validateResourceName`, optionally with the container-only rules.
pub fn validate_resource_name(name: &str, container: bool, path: &Path) -> Vec<FieldError> {
    let errs = path.invalid_each(name, is_qualified_name(name));
    if !errs.is_empty() {
        return errs;
    }
    let unprefixed = !name.contains('/');
    if unprefixed && !is_standard_resource(name) {
        return vec![path.invalid(name, "must be a standard resource type or fully qualified")];
    }
    if container {
        if unprefixed {
            if !matches!(name, "cpu" | "memory" | "ephemeral-storage") && !is_huge_pages(name) {
                return vec![path.invalid(name, "must be a standard resource for containers")];
            }
        } else if !is_native(name) && !is_extended(name) {
            return vec![path.invalid(name, "doesn't follow extended resource name standard")];
        }
    }
    Vec::new()
}

/// `ValidateResourceQuantityValue`: non-negative, integral where needed.
pub fn validate_quantity_value(
    name: &str,
    value: &Value,
    path: &Path,
) -> (Option<Quantity>, Vec<FieldError>) {
    let quantity = match from_json(value) {
        Ok(q) => q,
        Err(msg) => return (None, vec![path.invalid(value.clone(), &msg)]),
    };
    let mut errs = Vec::new();
    if quantity.is_negative() {
        errs.push(path.invalid(quantity.canonical(), super::meta::NEGATIVE));
    }
    if is_integer_resource(name) && quantity.milli_value() % 1000 != 0 {
        errs.push(path.invalid_shown(&quantity.canonical(), "must be an integer"));
    }
    (Some(quantity), errs)
}

/// Requests and limits: names, quantities, requests ≤ limits.
pub fn validate_resource_requirements(r: &Value, path: &Path, container: bool) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let lim_path = path.child("limits");
    let req_path = path.child("requests");
    let mut limits = BTreeMap::new();
    let mut has_cpu_mem = false;
    let mut has_huge = false;
    if let Some(map) = obj(r, "limits") {
        for (name, value) in map {
            let p = lim_path.key(name);
            errs.extend(validate_resource_name(name, container, &p));
            let (q, e) = validate_quantity_value(name, value, &p);
            errs.extend(e);
            if let Some(q) = q {
                limits.insert(name.clone(), q);
            }
            has_cpu_mem |= name == "cpu" || name == "memory";
            has_huge |= is_huge_pages(name);
        }
    }
    if let Some(map) = obj(r, "requests") {
        for (name, value) in map {
            let p = req_path.key(name);
            errs.extend(validate_resource_name(name, container, &p));
            let (q, e) = validate_quantity_value(name, value, &p);
            errs.extend(e);
            let overcommit = is_native(name) && !is_huge_pages(name);
            if let (Some(q), Some(limit)) = (q, limits.get(name)) {
                let order = q.cmp_value(limit);
                if order != std::cmp::Ordering::Equal && !overcommit {
                    errs.push(req_path.invalid(
                        q.canonical(),
                        &format!("must be equal to {name} limit of {limit}"),
                    ));
                } else if order == std::cmp::Ordering::Greater {
                    errs.push(req_path.invalid(
                        q.canonical(),
                        &format!("must be less than or equal to {name} limit of {limit}"),
                    ));
                }
            } else if !limits.contains_key(name) && !overcommit {
                errs.push(lim_path.required("Limit must be set for non overcommitable resources"));
            }
            has_cpu_mem |= name == "cpu" || name == "memory";
            has_huge |= is_huge_pages(name);
        }
    }
    if has_huge && !has_cpu_mem {
        errs.push(path.forbidden("HugePages require cpu or memory"));
    }
    errs
}
