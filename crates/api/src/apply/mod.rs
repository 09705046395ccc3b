//! Server-side apply and field ownership, as upstream's
//! structured-merge-diff does them.
//!
//! Every write records in `metadata.managedFields` which manager set which
//! fields ([`record_update`] for creates, updates and patches, [`apply`]
//! for `kubectl apply --server-side` and kube-rs `Patch::Apply`). An apply
//! owns exactly the fields of its configuration: fields it applied before
//! and no longer does are removed unless someone else owns them, and
//! changing a field another manager owns is a conflict unless forced.
//!
//! Lists merge by the keys of upstream's `listType=map` markers, atomic
//! structs and maps (`LabelSelector`, `nodeSelector`, ...) are owned as a
//! whole; kinds that are not built in are handled without a schema:
//! objects field by field, lists as one value.

// `ApiError` is the crate's error type; it is returned once per request,
// so its size does not matter.
#![allow(clippy::result_large_err)]

mod conflict;
mod fieldpath;
mod fields_v1;
mod lastapplied;
mod managed;
mod merge;
mod typed;

#[cfg(test)]
mod tests;

use serde_json::{Map, Value};

use crate::patch::schema::{self, Ty};
use crate::status::ApiError;
use conflict::{conflict_error, Conflict};
use fieldpath::{PathElement, Set};
use managed::{Managed, Manager, Operation};

/// Upstream keeps at most this many `Update` managers per object.
const MAX_UPDATERS: usize = 10;

/// The manager of the fields an object had before its first apply.
const BEFORE_FIRST_APPLY: &str = "before-first-apply";

/// Applies the configuration `applied` of `manager` to `live` (or creates
/// the object from it when `live` is `None`) and returns the new object,
/// with its `managedFields`. `now` is the RFC 3339 time of the write.
///
/// The caller still defaults, validates and resets what its strategy
/// resets (e.g. `status`, which a main-resource apply never owns).
///
/// Errors: 400 for a configuration of another kind or one carrying
/// `managedFields`; 409 `Apply failed with N conflict(s): ...` when fields
/// other managers own would change and `force` is off; 500 as upstream for
/// list items without their keys or with duplicate keys.
pub fn apply(
    group: &str,
    kind: &str,
    live: Option<&Value>,
    applied: &Value,
    manager: &str,
    force: bool,
    now: &str,
) -> Result<Value, ApiError> {
    let write = Write {
        group,
        kind,
        subresource: None,
        manager,
        now,
    };
    write.apply(live, applied, force)
}

/// [`apply`] to the `status` subresource (kube-rs `patch_status` with
/// `Patch::Apply`): the manager's entry carries `subresource: status` and
/// owns nothing of `spec`, which the status strategy resets.
pub fn apply_status(
    group: &str,
    kind: &str,
    live: &Value,
    applied: &Value,
    manager: &str,
    force: bool,
    now: &str,
) -> Result<Value, ApiError> {
    apply_subresource(group, kind, "status", live, applied, manager, force, now)
}

/// [`apply`] to a subresource of an existing object (`status`,
/// `ephemeralcontainers`): the manager's entry carries the subresource
/// and owns only what that subresource writes.
#[allow(clippy::too_many_arguments)]
pub fn apply_subresource(
    group: &str,
    kind: &str,
    subresource: &str,
    live: &Value,
    applied: &Value,
    manager: &str,
    force: bool,
    now: &str,
) -> Result<Value, ApiError> {
    let write = Write {
        group,
        kind,
        subresource: Some(subresource),
        manager,
        now,
    };
    write.apply(Some(live), applied, force)
}

/// Who writes what, where.
struct Write<'a> {
    group: &'a str,
    kind: &'a str,
    subresource: Option<&'a str>,
    manager: &'a str,
    now: &'a str,
}

impl Write<'_> {
    fn apply(&self, live: Option<&Value>, applied: &Value, force: bool) -> Result<Value, ApiError> {
        let (group, kind, manager, now) = (self.group, self.kind, self.manager, self.now);
        let ty = schema::root(group, kind);
        check_applied(group, kind, applied, ty)?;
        let api_version = text(applied, "/apiVersion").to_string();
        let managed = Managed::decode(live_fields(live))
            .map_err(|e| unknown_error(format!("failed to decode managed fields: {e}")))?;
        let live = live.map(without_managed_fields);
        let request = Request {
            group,
            kind,
            ty,
            subresource: self.subresource,
            live: live.as_ref(),
            applied,
            manager,
            api_version: &api_version,
            now,
        };
        let (mut object, managed) = match request.apply_once(managed.clone(), force) {
            Ok(done) => done,
            // Fields kubectl set with client-side apply, still as it set them,
            // pass to `kubectl apply --server-side` without a conflict.
            Err(conflicts) if manager == "kubectl" => {
                let allowed = live
                    .as_ref()
                    .and_then(|live| lastapplied::allowed_conflicts(live, &api_version, ty));
                let Some(allowed) = allowed else {
                    return Err(conflict_error(&conflicts));
                };
                let remaining: Vec<Conflict> = conflicts
                    .into_iter()
                    .filter(|c| !allowed.has(&c.path))
                    .collect();
                if !remaining.is_empty() {
                    return Err(conflict_error(&remaining));
                }
                request
                    .apply_once(managed, true)
                    .map_err(|conflicts| conflict_error(&conflicts))?
            }
            Err(conflicts) => return Err(conflict_error(&conflicts)),
        };
        if manager == "kubectl" && lastapplied::has_last_applied(&object) {
            lastapplied::update_annotation(&mut object, applied);
        }
        set_managed_fields(&mut object, &managed);
        Ok(object)
    }
}

/// Records in `new.metadata.managedFields` the fields this create (`old`
/// is `None`), update or patch changed, as owned by `manager` with
/// operation `Update`, taking them from the managers that owned them.
/// Writes to a subresource (`status`, `scale`) are recorded with it.
///
/// Call it with the object as it will be stored: defaulted, and with what
/// the strategy resets already reset. As upstream, objects stored without
/// `managedFields` stay without them, and a client may send its own
/// `managedFields` (an empty list clears them).
pub fn record_update(
    group: &str,
    kind: &str,
    old: Option<&Value>,
    new: &mut Value,
    manager: &str,
    subresource: Option<&str>,
    now: &str,
) {
    let ty = schema::root(group, kind);
    let old_managed = || Managed::decode(live_fields(old)).unwrap_or_default();
    let sent = new.pointer("/metadata/managedFields").cloned();
    let mut managed = if subresource.is_some() {
        old_managed()
    } else if is_reset(sent.as_ref()) {
        Managed::default()
    } else {
        match Managed::decode(sent.as_ref()) {
            Ok(managed) if !managed.is_empty() => managed,
            _ => old_managed(),
        }
    };
    remove_managed_fields(new);
    if managed.is_empty() && old.is_some() {
        return;
    }
    // `record` compares without `managedFields`: no copy of `old` needed.
    let zero;
    let lhs = match old {
        Some(old) => old,
        None => {
            zero = schema::zero_object(group, kind);
            &zero
        }
    };
    let me = Manager::new(
        manager,
        Operation::Update,
        text(new, "/apiVersion"),
        subresource.unwrap_or(""),
    );
    let owned = Owned::of(group, kind, subresource);
    record(&mut managed, &me, lhs, new, ty, &owned, now);
    managed.cap_updaters(MAX_UPDATERS);
    set_managed_fields(new, &managed);
}

/// One apply, with what it needs at hand.
struct Request<'a> {
    group: &'a str,
    kind: &'a str,
    subresource: Option<&'a str>,
    ty: Ty,
    /// Without its `managedFields`.
    live: Option<&'a Value>,
    applied: &'a Value,
    manager: &'a str,
    api_version: &'a str,
    now: &'a str,
}

impl Request<'_> {
    /// The object and managers after applying, or the conflicts.
    fn apply_once(
        &self,
        mut managed: Managed,
        force: bool,
    ) -> Result<(Value, Managed), Vec<Conflict>> {
        let owned = Owned::of(self.group, self.kind, self.subresource);
        let subresource = self.subresource.unwrap_or("");
        if let (true, Some(live)) = (managed.is_empty(), self.live) {
            // An object written without field tracking: what it has belongs
            // to a manager of its own, so an apply may conflict with it.
            let zero = schema::zero_object(self.group, self.kind);
            let before = Manager::new(
                BEFORE_FIRST_APPLY,
                Operation::Update,
                self.api_version,
                subresource,
            );
            record(
                &mut managed,
                &before,
                &zero,
                live,
                self.ty,
                &owned,
                self.now,
            );
        }
        let me = Manager::new(
            self.manager,
            Operation::Apply,
            self.api_version,
            subresource,
        );
        let base = self
            .live
            .cloned()
            .unwrap_or_else(|| Value::Object(Map::new()));
        let mut merged = merge::merge(Some(&base), Some(self.applied), self.ty).unwrap_or_default();
        let last = managed.get(&me).map(|entry| entry.set.clone());
        managed.set(&me, owned.keep(&typed::field_set(self.applied, self.ty)));
        if let Some(last) = last.filter(|last| !last.is_empty()) {
            merged = merge::prune(merged, &last, &managed.union(), self.ty);
        }

        let comparison = typed::compare(&base, &merged, self.ty).filtered(|s| owned.keep(s));
        let changed = comparison.modified.union(&comparison.added);
        let mut conflicts = Vec::new();
        for entry in managed.entries.iter().filter(|e| !e.manager.same(&me)) {
            for path in entry.set.intersection(&changed).paths() {
                conflicts.push(Conflict {
                    manager: entry.manager.clone(),
                    path,
                });
            }
        }
        if !force && !conflicts.is_empty() {
            return Err(conflicts);
        }
        for entry in managed.entries.iter_mut().filter(|e| !e.manager.same(&me)) {
            entry.set = entry
                .set
                .difference(&changed)
                .difference(&comparison.removed);
        }
        if let Some(entry) = managed.get_mut(&me) {
            entry.set = entry.set.difference(&strip_set());
        }
        managed.drop_empty();

        merge::drop_applied_nulls(&mut merged, self.applied, self.ty);
        if merged != base {
            if let Some(entry) = managed.get_mut(&me) {
                entry.time = Some(self.now.to_string());
            }
        }
        Ok((merged, managed))
    }
}

/// Upstream's `Update` of field ownership: what changed from `lhs` to
/// `rhs` leaves its previous owners and joins `manager`'s fields. The
/// `managedFields` of either are left out of the comparison.
fn record(
    managed: &mut Managed,
    manager: &Manager,
    lhs: &Value,
    rhs: &Value,
    ty: Ty,
    owned: &Owned,
    now: &str,
) {
    let comparison = typed::compare_untracked(lhs, rhs, ty).filtered(|s| owned.keep(s));
    let changed = comparison.modified.union(&comparison.added);
    for entry in &mut managed.entries {
        entry.set = entry
            .set
            .difference(&changed)
            .difference(&comparison.removed);
    }
    managed.drop_empty();
    let current = changed.difference(&strip_set());
    if current.is_empty() {
        return;
    }
    let previous = managed
        .get(manager)
        .map(|e| e.set.clone())
        .unwrap_or_default();
    managed.set(manager, current.union(&previous));
    if let Some(entry) = managed.get_mut(manager) {
        entry.time = Some(now.to_string());
    }
}

/// Refuses what upstream refuses before merging anything.
fn check_applied(group: &str, kind: &str, applied: &Value, ty: Ty) -> Result<(), ApiError> {
    let api_version = text(applied, "/apiVersion");
    let applied_group = api_version.rsplit_once('/').map_or("", |(group, _)| group);
    if !applied.is_object() || applied_group != group || text(applied, "/kind") != kind {
        return Err(ApiError::bad_request(format!(
            "invalid object type: {}",
            gvk(applied)
        )));
    }
    if applied
        .pointer("/metadata/managedFields")
        .is_some_and(Value::is_array)
    {
        return Err(ApiError::bad_request("metadata.managedFields must be nil"));
    }
    let version = api_version.rsplit('/').next().unwrap_or_default();
    typed::validate(applied, ty)
        .and_then(
            |()| match crate::openapi::typed_error(group, version, kind, applied) {
                Some(message) => Err(message),
                None => Ok(()),
            },
        )
        .map_err(|message| {
            let object = format!(
                "{}/{}; {}",
                text(applied, "/metadata/namespace"),
                text(applied, "/metadata/name"),
                gvk(applied)
            );
            unknown_error(format!(
                "failed to create typed patch object ({object}): {message}"
            ))
        })
}

/// `apps/v1, Kind=Deployment`, `/v1, Kind=Pod`.
fn gvk(object: &Value) -> String {
    let api_version = text(object, "/apiVersion");
    let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
    format!("{group}/{version}, Kind={}", text(object, "/kind"))
}

/// What a write may own, as upstream's reset fields of its strategy.
enum Owned {
    /// All but these paths and what lies below them: `status` goes
    /// through its subresource, and a status write owns nothing of `spec`.
    AllBut(Set),
    /// Only what lies under this path: `pods/ephemeralcontainers` writes
    /// `spec.ephemeralContainers` alone.
    Under(Vec<PathElement>),
}

impl Owned {
    fn of(group: &str, kind: &str, subresource: Option<&str>) -> Owned {
        let field = |name: &str| PathElement::Field(name.into());
        let mut set = Set::new();
        match subresource {
            None if schema::has_status(group, kind) => set.insert(&[field("status")]),
            Some("status") => set.insert(&[field("spec")]),
            Some("ephemeralcontainers") => {
                return Owned::Under(vec![field("spec"), field("ephemeralContainers")])
            }
            _ => {}
        }
        Owned::AllBut(set)
    }

    fn keep(&self, set: &Set) -> Set {
        match self {
            Owned::AllBut(excluded) => set.recursive_difference(excluded),
            Owned::Under(prefix) => set.only_under(prefix),
        }
    }
}

/// Fields no manager owns: identity and bookkeeping set by the server.
fn strip_set() -> Set {
    let mut set = Set::new();
    for top in ["apiVersion", "kind", "metadata"] {
        set.insert(&[PathElement::Field(top.into())]);
    }
    for field in [
        "name",
        "namespace",
        "creationTimestamp",
        "selfLink",
        "uid",
        "clusterName",
        "generation",
        "managedFields",
        "resourceVersion",
    ] {
        set.insert(&[
            PathElement::Field("metadata".into()),
            PathElement::Field(field.into()),
        ]);
    }
    set
}

/// `managedFields: []` or `[{}]`: a client asking to clear them.
fn is_reset(sent: Option<&Value>) -> bool {
    match sent {
        Some(Value::Array(items)) => match items.as_slice() {
            [] => true,
            [only] => only.as_object().is_some_and(Map::is_empty),
            _ => false,
        },
        _ => false,
    }
}

fn live_fields(object: Option<&Value>) -> Option<&Value> {
    object.and_then(|o| o.pointer("/metadata/managedFields"))
}

fn without_managed_fields(object: &Value) -> Value {
    let mut object = object.clone();
    remove_managed_fields(&mut object);
    object
}

fn remove_managed_fields(object: &mut Value) {
    if let Some(Value::Object(metadata)) = object.get_mut("metadata") {
        metadata.remove("managedFields");
    }
}

fn set_managed_fields(object: &mut Value, managed: &Managed) {
    remove_managed_fields(object);
    let Some(encoded) = managed.encode() else {
        return;
    };
    if let Value::Object(map) = object {
        let metadata = map
            .entry("metadata")
            .or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(metadata) = metadata {
            metadata.insert("managedFields".into(), encoded);
        }
    }
}

fn text<'a>(object: &'a Value, pointer: &str) -> &'a str {
    object
        .pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or("")
}

/// A 500 with reason `Unknown`, as upstream answers errors of its merge
/// code that are not statuses.
fn unknown_error(message: String) -> ApiError {
    ApiError {
        code: 500,
        reason: "",
        message,
        details: None,
    }
}
