//! The arithmetic and bookkeeping of rollouts, as upstream's
//! `deployment/util`: surge and unavailability fenceposts, which
//! ReplicaSet is new, revision and replica annotations, proportional
//! scaling, and the Deployment's status and conditions. Pure functions.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{Deployment, DeploymentCondition, DeploymentStatus, ReplicaSet};
use k8s_openapi::api::core::v1::PodTemplateSpec;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde_json::Value;

pub const REVISION: &str = "deployment.kubernetes.io/revision";
pub const REVISION_HISTORY: &str = "deployment.kubernetes.io/revision-history";
pub const DESIRED_REPLICAS: &str = "deployment.kubernetes.io/desired-replicas";
pub const MAX_REPLICAS: &str = "deployment.kubernetes.io/max-replicas";
pub const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";
pub const ROLLBACK_TO: &str = "deprecated.deployment.rollback.to";
/// The label that tells the pods of one ReplicaSet from another's.
pub const POD_TEMPLATE_HASH: &str = "pod-template-hash";
/// The longest revision-history annotation kept.
pub const MAX_REVISION_HISTORY_CHARS: usize = 2000;

pub const PROGRESSING: &str = "Progressing";
pub const AVAILABLE: &str = "Available";
pub const REPLICA_FAILURE: &str = "ReplicaFailure";

pub const REPLICA_SET_UPDATED: &str = "ReplicaSetUpdated";
pub const FAILED_RS_CREATE: &str = "ReplicaSetCreateError";
pub const NEW_REPLICA_SET: &str = "NewReplicaSetCreated";
pub const FOUND_NEW_RS: &str = "FoundNewReplicaSet";
pub const NEW_RS_AVAILABLE: &str = "NewReplicaSetAvailable";
pub const TIMED_OUT: &str = "ProgressDeadlineExceeded";
pub const PAUSED: &str = "DeploymentPaused";
pub const RESUMED: &str = "DeploymentResumed";
pub const MINIMUM_REPLICAS_AVAILABLE: &str = "MinimumReplicasAvailable";
pub const MINIMUM_REPLICAS_UNAVAILABLE: &str = "MinimumReplicasUnavailable";

/// Annotations of a Deployment that are not copied to its ReplicaSets.
const NOT_COPIED: &[&str] = &[
    LAST_APPLIED,
    REVISION,
    REVISION_HISTORY,
    DESIRED_REPLICAS,
    MAX_REPLICAS,
    ROLLBACK_TO,
];

pub fn replicas(d: &Deployment) -> i32 {
    d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1)
}

pub fn rs_replicas(rs: &ReplicaSet) -> i32 {
    rs.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1)
}

pub fn rs_actual(rs: &ReplicaSet) -> i32 {
    rs.status.as_ref().map_or(0, |s| s.replicas)
}

pub fn rs_ready(rs: &ReplicaSet) -> i32 {
    rs.status
        .as_ref()
        .and_then(|s| s.ready_replicas)
        .unwrap_or(0)
}

pub fn rs_available(rs: &ReplicaSet) -> i32 {
    rs.status
        .as_ref()
        .and_then(|s| s.available_replicas)
        .unwrap_or(0)
}

pub fn is_rolling(d: &Deployment) -> bool {
    let kind = d
        .spec
        .as_ref()
        .and_then(|s| s.strategy.as_ref())
        .and_then(|s| s.type_.as_deref());
    matches!(kind, None | Some("RollingUpdate"))
}

pub fn is_recreate(d: &Deployment) -> bool {
    let kind = d
        .spec
        .as_ref()
        .and_then(|s| s.strategy.as_ref())
        .and_then(|s| s.type_.as_deref());
    kind == Some("Recreate")
}

pub fn paused(d: &Deployment) -> bool {
    d.spec.as_ref().and_then(|s| s.paused).unwrap_or(false)
}

pub fn min_ready_seconds(d: &Deployment) -> i32 {
    d.spec
        .as_ref()
        .and_then(|s| s.min_ready_seconds)
        .unwrap_or(0)
}

/// progressDeadlineSeconds, unless absent or "never" (MaxInt32).
pub fn progress_deadline(d: &Deployment) -> Option<i32> {
    d.spec
        .as_ref()
        .and_then(|s| s.progress_deadline_seconds)
        .filter(|s| *s != i32::MAX)
}

pub fn revision_history_limit(d: &Deployment) -> Option<i32> {
    d.spec.as_ref().and_then(|s| s.revision_history_limit)
}

/// Upstream's GetScaledValueFromIntOrPercent.
pub fn scaled_value(value: &IntOrString, total: i32, round_up: bool) -> Result<i32, String> {
    match value {
        IntOrString::Int(n) => Ok(*n),
        IntOrString::String(text) => {
            let Some(number) = text.strip_suffix('%') else {
                return Err(
                    "invalid value for IntOrString: invalid type: string is not a percentage"
                        .into(),
                );
            };
            let percent: i64 = number.parse().map_err(|e| {
                format!("invalid value for IntOrString: invalid value {text:?}: {e}")
            })?;
            let exact = percent as f64 * f64::from(total) / 100.0;
            let scaled = if round_up {
                exact.ceil()
            } else {
                exact.floor()
            };
            Ok(scaled as i32)
        }
    }
}

fn rolling_params(d: &Deployment) -> (IntOrString, IntOrString) {
    let rolling = d
        .spec
        .as_ref()
        .and_then(|s| s.strategy.as_ref())
        .and_then(|s| s.rolling_update.as_ref());
    let default = || IntOrString::String("25%".into());
    match rolling {
        Some(r) => (
            r.max_surge.clone().unwrap_or(IntOrString::Int(0)),
            r.max_unavailable.clone().unwrap_or(IntOrString::Int(0)),
        ),
        // No rolling parameters at all: the API's defaults.
        None => (default(), default()),
    }
}

/// Upstream's ResolveFenceposts: surge rounds up, unavailability rounds
/// down, and when both come to zero one pod may be unavailable.
pub fn resolve_fenceposts(
    surge: &IntOrString,
    unavailable: &IntOrString,
    desired: i32,
) -> Result<(i32, i32), String> {
    let surge = scaled_value(surge, desired, true)?;
    let mut unavailable = scaled_value(unavailable, desired, false)?;
    if surge == 0 && unavailable == 0 {
        unavailable = 1;
    }
    Ok((surge, unavailable))
}

pub fn max_surge(d: &Deployment) -> i32 {
    if !is_rolling(d) {
        return 0;
    }
    let (surge, unavailable) = rolling_params(d);
    resolve_fenceposts(&surge, &unavailable, replicas(d)).map_or(0, |(s, _)| s)
}

pub fn max_unavailable(d: &Deployment) -> i32 {
    if !is_rolling(d) || replicas(d) == 0 {
        return 0;
    }
    let (surge, unavailable) = rolling_params(d);
    let unavailable = resolve_fenceposts(&surge, &unavailable, replicas(d)).map_or(0, |(_, u)| u);
    unavailable.min(replicas(d))
}

pub fn revision(rs: &ReplicaSet) -> Option<i64> {
    rs.metadata
        .annotations
        .as_ref()?
        .get(REVISION)?
        .parse()
        .ok()
}

pub fn max_revision(sets: &[&ReplicaSet]) -> i64 {
    sets.iter().filter_map(|rs| revision(rs)).max().unwrap_or(0)
}

fn creation(rs: &ReplicaSet) -> Option<jiff::Timestamp> {
    rs.metadata.creation_timestamp.as_ref().map(|t| t.0)
}

/// Oldest first, by name when created at the same time.
pub fn by_creation(a: &ReplicaSet, b: &ReplicaSet) -> Ordering {
    creation(a)
        .cmp(&creation(b))
        .then_with(|| a.metadata.name.cmp(&b.metadata.name))
}

/// Lowest revision first, then oldest.
pub fn by_revision(a: &ReplicaSet, b: &ReplicaSet) -> Ordering {
    revision(a)
        .unwrap_or(0)
        .cmp(&revision(b).unwrap_or(0))
        .then_with(|| by_creation(a, b))
}

/// A template as JSON without the pod-template-hash label and without
/// empty values, so that templates compare as upstream's semantic
/// equality does (nil and empty are the same).
fn comparable(template: &PodTemplateSpec) -> Value {
    let mut value = serde_json::to_value(template).unwrap_or(Value::Null);
    if let Some(labels) = value
        .pointer_mut("/metadata/labels")
        .and_then(Value::as_object_mut)
    {
        labels.remove(POD_TEMPLATE_HASH);
    }
    prune_empty(&mut value);
    value
}

fn prune_empty(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.values_mut().for_each(prune_empty);
            map.retain(|_, v| !is_empty(v));
        }
        Value::Array(items) => items.iter_mut().for_each(prune_empty),
        _ => {}
    }
}

fn is_empty(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Object(map) => map.is_empty(),
        Value::Array(items) => items.is_empty(),
        _ => false,
    }
}

/// Upstream's EqualIgnoreHash.
pub fn equal_ignore_hash(a: &PodTemplateSpec, b: &PodTemplateSpec) -> bool {
    comparable(a) == comparable(b)
}

/// The Deployment's new ReplicaSet: the oldest whose template is the
/// Deployment's.
pub fn find_new<'a>(d: &Deployment, sets: &[&'a ReplicaSet]) -> Option<&'a ReplicaSet> {
    let template = &d.spec.as_ref()?.template;
    let mut sorted = sets.to_vec();
    sorted.sort_by(|a, b| by_creation(a, b));
    sorted.into_iter().find(|rs| {
        rs.spec
            .as_ref()
            .and_then(|s| s.template.as_ref())
            .is_some_and(|t| equal_ignore_hash(t, template))
    })
}

pub fn total_replicas(sets: &[&ReplicaSet]) -> i32 {
    sets.iter().map(|rs| rs_replicas(rs)).sum()
}

/// How many replicas the new ReplicaSet may have now, as upstream's
/// NewRSNewReplicas.
pub fn new_rs_new_replicas(
    d: &Deployment,
    all_total: i32,
    new_replicas: i32,
) -> Result<i32, String> {
    if is_recreate(d) {
        return Ok(replicas(d));
    }
    let (surge, _) = rolling_params(d);
    let surge = scaled_value(&surge, replicas(d), true)?;
    let max_total = replicas(d) + surge;
    if all_total >= max_total {
        return Ok(new_replicas);
    }
    let up = (max_total - all_total).min(replicas(d) - new_replicas);
    Ok(new_replicas + up)
}

/// Copies the Deployment's annotations onto a ReplicaSet's, but for the
/// ones kept per ReplicaSet; whether anything changed.
pub fn copy_annotations(d: &Deployment, annotations: &mut BTreeMap<String, String>) -> bool {
    let mut changed = false;
    for (key, value) in d.metadata.annotations.iter().flatten() {
        if NOT_COPIED.contains(&key.as_str()) || annotations.get(key) == Some(value) {
            continue;
        }
        annotations.insert(key.clone(), value.clone());
        changed = true;
    }
    changed
}

/// Upstream's SetNewReplicaSetAnnotations: the Deployment's annotations,
/// the new revision (keeping the replaced one in revision-history when a
/// rollback reuses an old ReplicaSet), and for a ReplicaSet being created
/// the replica annotations.
pub fn set_new_rs_annotations(
    d: &Deployment,
    annotations: &mut BTreeMap<String, String>,
    new_revision: i64,
    exists: bool,
) -> bool {
    let mut changed = copy_annotations(d, annotations);
    let old = annotations.get(REVISION).cloned();
    let old_number = match old.as_deref() {
        None | Some("") => 0,
        Some(text) => match text.parse::<i64>() {
            Ok(n) => n,
            Err(_) => return false,
        },
    };
    if old_number < new_revision {
        annotations.insert(REVISION.into(), new_revision.to_string());
        changed = true;
        if let Some(old) = old.filter(|o| !o.is_empty()) {
            let history = annotations
                .get(REVISION_HISTORY)
                .cloned()
                .unwrap_or_default();
            if history.is_empty() {
                annotations.insert(REVISION_HISTORY.into(), old);
            } else {
                let mut kept: Vec<&str> = history.split(',').collect();
                let mut total = history.len() + old.len() + 1;
                let mut start = 0;
                while total > MAX_REVISION_HISTORY_CHARS && start < kept.len() {
                    total -= kept[start].len() + 1;
                    start += 1;
                }
                if total <= MAX_REVISION_HISTORY_CHARS {
                    kept = kept.split_off(start);
                    kept.push(&old);
                    annotations.insert(REVISION_HISTORY.into(), kept.join(","));
                }
            }
        }
    }
    if !exists && set_replicas_annotations(annotations, replicas(d), replicas(d) + max_surge(d)) {
        changed = true;
    }
    changed
}

pub fn set_replicas_annotations(
    annotations: &mut BTreeMap<String, String>,
    desired: i32,
    max: i32,
) -> bool {
    let mut changed = false;
    for (key, value) in [(DESIRED_REPLICAS, desired), (MAX_REPLICAS, max)] {
        let value = value.to_string();
        if annotations.get(key) != Some(&value) {
            annotations.insert(key.into(), value);
            changed = true;
        }
    }
    changed
}

fn annotation_number(rs: &ReplicaSet, key: &str) -> Option<i32> {
    rs.metadata.annotations.as_ref()?.get(key)?.parse().ok()
}

pub fn desired_annotation(rs: &ReplicaSet) -> Option<i32> {
    annotation_number(rs, DESIRED_REPLICAS)
}

/// Upstream's IsSaturated: the new ReplicaSet has all the replicas and
/// they are available.
pub fn is_saturated(d: &Deployment, rs: Option<&ReplicaSet>) -> bool {
    let Some(rs) = rs else {
        return false;
    };
    let Some(desired) = desired_annotation(rs) else {
        return false;
    };
    rs_replicas(rs) == replicas(d) && desired == replicas(d) && rs_available(rs) == replicas(d)
}

/// How many replicas to add to (or, negative, take from) `rs` when the
/// Deployment is scaled in the middle of a rollout, as upstream's
/// GetProportion.
pub fn proportion(rs: &ReplicaSet, d: &Deployment, to_add: i32, added: i32) -> i32 {
    if rs_replicas(rs) == 0 || to_add == 0 || to_add == added {
        return 0;
    }
    let fraction = fraction(rs, d);
    let allowed = to_add - added;
    if to_add > 0 {
        fraction.min(allowed)
    } else {
        fraction.max(allowed)
    }
}

fn fraction(rs: &ReplicaSet, d: &Deployment) -> i32 {
    if replicas(d) == 0 {
        return -rs_replicas(rs);
    }
    let max_now = replicas(d) + max_surge(d);
    let max_before = match annotation_number(rs, MAX_REPLICAS).filter(|m| *m != 0) {
        Some(max) => max,
        None => {
            let current = d.status.as_ref().and_then(|s| s.replicas).unwrap_or(0);
            if current == 0 {
                return 0;
            }
            current
        }
    };
    let size = f64::from(rs_replicas(rs)) * f64::from(max_now) / f64::from(max_before);
    size.round() as i32 - rs_replicas(rs)
}

/// The sizes the active ReplicaSets get when a rolling Deployment is scaled
/// mid-rollout: the difference shared in proportion, leftovers to the
/// first (largest) one. `active` comes back in the order used.
pub fn proportional_sizes<'a>(
    d: &Deployment,
    active: &[&'a ReplicaSet],
) -> Vec<(&'a ReplicaSet, i32)> {
    let mut sets = active.to_vec();
    let allowed = if replicas(d) > 0 {
        replicas(d) + max_surge(d)
    } else {
        0
    };
    let to_add = allowed - total_replicas(&sets);
    match to_add.cmp(&0) {
        // Larger first; newer first among equals when growing, older
        // first when shrinking.
        Ordering::Greater => sets.sort_by(|a, b| {
            rs_replicas(b)
                .cmp(&rs_replicas(a))
                .then_with(|| by_creation(b, a))
        }),
        Ordering::Less => sets.sort_by(|a, b| {
            rs_replicas(b)
                .cmp(&rs_replicas(a))
                .then_with(|| by_creation(a, b))
        }),
        Ordering::Equal => {}
    }
    let mut added = 0;
    let mut sizes: Vec<(&ReplicaSet, i32)> = sets
        .iter()
        .map(|rs| {
            if to_add == 0 {
                return (*rs, rs_replicas(rs));
            }
            let share = proportion(rs, d, to_add, added);
            added += share;
            (*rs, rs_replicas(rs) + share)
        })
        .collect();
    if let Some(first) = sizes.first_mut() {
        if to_add != 0 {
            first.1 = (first.1 + to_add - added).max(0);
        }
    }
    sizes
}

/// The one active ReplicaSet, or the newest when none is active; `None`
/// when several are active.
pub fn active_or_latest<'a>(
    new: Option<&'a ReplicaSet>,
    old: &[&'a ReplicaSet],
) -> Option<&'a ReplicaSet> {
    let mut all: Vec<&ReplicaSet> = old.to_vec();
    all.extend(new);
    let active: Vec<&ReplicaSet> = all
        .iter()
        .copied()
        .filter(|rs| rs_replicas(rs) > 0)
        .collect();
    match active.len() {
        0 => new.or_else(|| {
            let mut old = old.to_vec();
            old.sort_by(|a, b| by_creation(b, a));
            old.first().copied()
        }),
        1 => Some(active[0]),
        _ => None,
    }
}

pub fn condition<'a>(status: &'a DeploymentStatus, type_: &str) -> Option<&'a DeploymentCondition> {
    status
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == type_)
}

pub fn new_condition(
    type_: &str,
    status: &str,
    reason: &str,
    message: String,
    now: jiff::Timestamp,
) -> DeploymentCondition {
    DeploymentCondition {
        type_: type_.into(),
        status: status.into(),
        reason: Some(reason.into()),
        message: Some(message),
        last_update_time: Some(Time(now)),
        last_transition_time: Some(Time(now)),
    }
}

/// Upstream's SetDeploymentCondition: nothing changes when status and
/// reason are the same; the transition time stays while the status does.
pub fn set_condition(status: &mut DeploymentStatus, mut condition: DeploymentCondition) {
    if let Some(current) = self::condition(status, &condition.type_) {
        if current.status == condition.status && current.reason == condition.reason {
            return;
        }
        if current.status == condition.status {
            condition.last_transition_time = current.last_transition_time.clone();
        }
    }
    remove_condition(status, &condition.type_);
    status
        .conditions
        .get_or_insert_with(Vec::new)
        .push(condition);
}

pub fn remove_condition(status: &mut DeploymentStatus, type_: &str) {
    if let Some(conditions) = status.conditions.as_mut() {
        conditions.retain(|c| c.type_ != type_);
        if conditions.is_empty() {
            status.conditions = None;
        }
    }
}

fn count(n: Option<i32>) -> i32 {
    n.unwrap_or(0)
}

/// Upstream's DeploymentComplete.
pub fn complete(d: &Deployment, status: &DeploymentStatus) -> bool {
    let want = replicas(d);
    count(status.updated_replicas) == want
        && count(status.replicas) == want
        && count(status.available_replicas) == want
        && status.observed_generation.unwrap_or(0) >= d.metadata.generation.unwrap_or(0)
}

/// Upstream's DeploymentProgressing: more updated, fewer old, or more
/// ready or available replicas than last recorded.
pub fn progressing(d: &Deployment, new: &DeploymentStatus) -> bool {
    let old = d.status.clone().unwrap_or_default();
    let old_old = count(old.replicas) - count(old.updated_replicas);
    let new_old = count(new.replicas) - count(new.updated_replicas);
    count(new.updated_replicas) > count(old.updated_replicas)
        || new_old < old_old
        || count(new.ready_replicas) > count(old.ready_replicas)
        || count(new.available_replicas) > count(old.available_replicas)
}

/// Upstream's DeploymentTimedOut.
pub fn timed_out(d: &Deployment, status: &DeploymentStatus, now: jiff::Timestamp) -> bool {
    let Some(deadline) = progress_deadline(d) else {
        return false;
    };
    let Some(condition) = condition(status, PROGRESSING) else {
        return false;
    };
    match condition.reason.as_deref() {
        Some(NEW_RS_AVAILABLE) => false,
        Some(TIMED_OUT) => true,
        _ => condition.last_update_time.as_ref().is_some_and(|from| {
            from.0 + jiff::SignedDuration::from_secs(i64::from(deadline)) < now
        }),
    }
}

/// Upstream's calculateStatus: counts over all ReplicaSets and the
/// Available condition.
pub fn calculate_status(
    all: &[&ReplicaSet],
    new: Option<&ReplicaSet>,
    d: &Deployment,
    now: jiff::Timestamp,
) -> DeploymentStatus {
    let available: i32 = all.iter().map(|rs| rs_available(rs)).sum();
    let total = total_replicas(all);
    let unavailable = (total - available).max(0);
    let old = d.status.clone().unwrap_or_default();
    let some = |n: i32| (n != 0).then_some(n);
    let mut status = DeploymentStatus {
        observed_generation: d.metadata.generation,
        replicas: some(all.iter().map(|rs| rs_actual(rs)).sum()),
        updated_replicas: some(new.map_or(0, rs_actual)),
        ready_replicas: some(all.iter().map(|rs| rs_ready(rs)).sum()),
        available_replicas: some(available),
        unavailable_replicas: some(unavailable),
        collision_count: old.collision_count,
        conditions: old.conditions.clone(),
        terminating_replicas: None,
    };
    if available >= replicas(d) - max_unavailable(d) {
        let condition = new_condition(
            AVAILABLE,
            "True",
            MINIMUM_REPLICAS_AVAILABLE,
            "Deployment has minimum availability.".into(),
            now,
        );
        set_condition(&mut status, condition);
    } else {
        let condition = new_condition(
            AVAILABLE,
            "False",
            MINIMUM_REPLICAS_UNAVAILABLE,
            "Deployment does not have minimum availability.".into(),
            now,
        );
        set_condition(&mut status, condition);
    }
    status
}

/// A ReplicaSet's ReplicaFailure condition as the Deployment reports it,
/// the new ReplicaSet's first.
pub fn replica_failure(
    new: Option<&ReplicaSet>,
    old: &[&ReplicaSet],
) -> Option<DeploymentCondition> {
    new.into_iter().chain(old.iter().copied()).find_map(|rs| {
        let condition = rs
            .status
            .as_ref()?
            .conditions
            .as_ref()?
            .iter()
            .find(|c| c.type_ == REPLICA_FAILURE)?;
        Some(DeploymentCondition {
            type_: condition.type_.clone(),
            status: condition.status.clone(),
            reason: condition.reason.clone(),
            message: condition.message.clone(),
            last_update_time: condition.last_transition_time.clone(),
            last_transition_time: condition.last_transition_time.clone(),
        })
    })
}

#[cfg(test)]
mod tests;
