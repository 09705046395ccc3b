//! What a DaemonSet needs done, from its nodes and pods, without I/O:
//! upstream's manage (one pod on each node that should run one, none on
//! the others), rollingUpdate (replace old pods within maxUnavailable, or
//! surge within maxSurge) and the status counts.

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::api::apps::v1::{DaemonSet, DaemonSetStatus};
use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::eligibility::{placement, target_node, Placement};
use crate::history::POD_REVISION_LABEL;
use crate::pods::{is_available, is_ready};

/// The label on daemon pods with the template generation they were made
/// from.
pub const TEMPLATE_GENERATION_LABEL: &str = "pod-template-generation";

/// The annotation upstream's API server keeps the DaemonSet's template
/// generation in.
const TEMPLATE_GENERATION_ANNOTATION: &str = "deprecated.daemonset.template.generation";

/// Why a pod is deleted; failed pods are reported in an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Removal {
    Failed { node: String },
    Other,
}

/// Pods to create (by node) and to delete (by name).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Plan {
    pub create_on: Vec<String>,
    pub delete: Vec<(String, Removal)>,
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.create_on.is_empty() && self.delete.is_empty()
    }
}

/// A DaemonSet's view of the cluster: its nodes and, by node, its pods.
pub struct View<'a> {
    pub ds: &'a DaemonSet,
    pub nodes: &'a [Arc<Node>],
    pub pods_by_node: BTreeMap<String, Vec<Arc<Pod>>>,
    /// The current revision's hash: pods with it are up to date.
    pub hash: &'a str,
    pub now: jiff::Timestamp,
}

/// The template generation pods are labelled with: the annotation
/// upstream's API server keeps, else the object's generation.
pub fn template_generation(ds: &DaemonSet) -> Option<i64> {
    let annotated = ds
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(TEMPLATE_GENERATION_ANNOTATION))
        .and_then(|g| g.parse().ok());
    annotated.or(ds.metadata.generation)
}

fn label<'p>(pod: &'p Pod, key: &str) -> Option<&'p str> {
    pod.metadata.labels.as_ref()?.get(key).map(String::as_str)
}

/// Upstream's IsPodUpdated: the pod has the current hash or generation.
pub fn is_updated(pod: &Pod, hash: &str, generation: Option<i64>) -> bool {
    let by_generation = generation
        .is_some_and(|g| label(pod, TEMPLATE_GENERATION_LABEL) == Some(g.to_string().as_str()));
    let by_hash = !hash.is_empty() && label(pod, POD_REVISION_LABEL) == Some(hash);
    by_hash || by_generation
}

/// Scheduled pods first, then oldest, then by name (upstream's
/// podByCreationTimestampAndPhase).
pub fn sort_oldest_first(pods: &mut [Arc<Pod>]) {
    pods.sort_by(|a, b| {
        let unscheduled = |p: &Pod| {
            p.spec
                .as_ref()
                .and_then(|s| s.node_name.as_deref())
                .is_none_or(str::is_empty)
        };
        unscheduled(a)
            .cmp(&unscheduled(b))
            .then_with(|| {
                let created = |p: &Pod| p.metadata.creation_timestamp.as_ref().map(|t| t.0);
                created(a).cmp(&created(b))
            })
            .then_with(|| a.metadata.name.cmp(&b.metadata.name))
    });
}

fn phase(pod: &Pod) -> &str {
    pod.status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .unwrap_or("")
}

fn name(pod: &Pod) -> String {
    pod.metadata.name.clone().unwrap_or_default()
}

/// Groups pods by the node they are for; pods for no node are dropped.
pub fn by_node(pods: impl IntoIterator<Item = Arc<Pod>>) -> BTreeMap<String, Vec<Arc<Pod>>> {
    let mut groups: BTreeMap<String, Vec<Arc<Pod>>> = BTreeMap::new();
    for pod in pods {
        if let Some(node) = target_node(&pod) {
            groups.entry(node.to_owned()).or_default().push(pod.clone());
        }
    }
    groups
}

impl View<'_> {
    fn template(&self) -> Option<&k8s_openapi::api::core::v1::PodSpec> {
        self.ds.spec.as_ref().and_then(|s| s.template.spec.as_ref())
    }

    fn min_ready_seconds(&self) -> i32 {
        self.ds
            .spec
            .as_ref()
            .and_then(|s| s.min_ready_seconds)
            .unwrap_or(0)
    }

    fn available(&self, pod: &Pod) -> bool {
        is_available(pod, self.min_ready_seconds(), self.now)
    }

    fn rolling(&self) -> Option<&k8s_openapi::api::apps::v1::RollingUpdateDaemonSet> {
        let strategy = self.ds.spec.as_ref()?.update_strategy.as_ref()?;
        match strategy.type_.as_deref() {
            Some("RollingUpdate") | None => strategy.rolling_update.as_ref(),
            _ => None,
        }
    }

    fn allows_surge(&self) -> bool {
        self.rolling()
            .and_then(|r| r.max_surge.as_ref())
            .is_some_and(|surge| scaled(surge, 1).is_ok_and(|n| n > 0))
    }

    fn node(&self, name: &str) -> Option<&Node> {
        self.nodes
            .iter()
            .find(|n| n.metadata.name.as_deref() == Some(name))
            .map(|n| &**n)
    }

    /// Upstream's manage: pods created on nodes that should have one and
    /// lack it, deleted where they should not be, failed, or in excess.
    pub fn manage(&self) -> Plan {
        let mut plan = Plan::default();
        let surge = self.allows_surge();
        for node in self.nodes {
            let node_name = node.metadata.name.clone().unwrap_or_default();
            let here = self
                .pods_by_node
                .get(&node_name)
                .map(Vec::as_slice)
                .unwrap_or(&[]);
            let Placement {
                should_run,
                should_continue_running,
            } = placement(node, self.template());
            if should_run && here.is_empty() {
                plan.create_on.push(node_name);
            } else if should_continue_running {
                let mut running = Vec::new();
                for pod in here
                    .iter()
                    .filter(|p| p.metadata.deletion_timestamp.is_none())
                {
                    match phase(pod) {
                        "Failed" => plan.delete.push((
                            name(pod),
                            Removal::Failed {
                                node: node_name.clone(),
                            },
                        )),
                        "Succeeded" => plan.delete.push((name(pod), Removal::Other)),
                        _ => running.push(pod.clone()),
                    }
                }
                sort_oldest_first(&mut running);
                if !surge {
                    // One pod a node: the oldest stays.
                    plan.delete
                        .extend(running.iter().skip(1).map(|p| (name(p), Removal::Other)));
                } else if running.is_empty() && should_run {
                    plan.create_on.push(node_name);
                } else if running.len() > 1 {
                    self.prune_surge(&running, &mut plan);
                }
            } else {
                plan.delete.extend(
                    here.iter()
                        .filter(|p| p.metadata.deletion_timestamp.is_none())
                        .map(|p| (name(p), Removal::Other)),
                );
            }
        }
        // Pods for nodes that are gone.
        for (node, pods) in &self.pods_by_node {
            if self.node(node).is_none() {
                plan.delete.extend(
                    pods.iter()
                        .filter(|p| p.metadata.deletion_timestamp.is_none())
                        .map(|p| (name(p), Removal::Other)),
                );
            }
        }
        plan
    }

    /// While surging a node may have one old and one new pod: the old one
    /// goes when it is not ready or the new one is available; any others go
    /// at once.
    fn prune_surge(&self, running: &[Arc<Pod>], plan: &mut Plan) {
        let mut oldest_new = None;
        let mut oldest_old = None;
        for pod in running {
            let slot = if label(pod, POD_REVISION_LABEL) == Some(self.hash) {
                &mut oldest_new
            } else {
                &mut oldest_old
            };
            if slot.is_none() {
                *slot = Some(pod);
            } else {
                plan.delete.push((name(pod), Removal::Other));
            }
        }
        if let (Some(new), Some(old)) = (oldest_new, oldest_old) {
            if !is_ready(old) || self.available(new) {
                plan.delete.push((name(old), Removal::Other));
            }
        }
    }

    /// The number of nodes that should run a daemon pod.
    pub fn desired(&self) -> i32 {
        let count = self
            .nodes
            .iter()
            .filter(|n| placement(n, self.template()).should_run)
            .count();
        i32::try_from(count).unwrap_or(i32::MAX)
    }

    /// Upstream's findUpdatedPodsOnNode: the new and the old pod on a
    /// node, or None if there is more than one of either.
    fn updated_and_old<'p>(
        &self,
        pods: &'p [Arc<Pod>],
    ) -> Option<(Option<&'p Pod>, Option<&'p Pod>)> {
        let generation = template_generation(self.ds);
        let (mut new, mut old) = (None, None);
        for pod in pods
            .iter()
            .filter(|p| p.metadata.deletion_timestamp.is_none())
        {
            let slot = if is_updated(pod, self.hash, generation) {
                &mut new
            } else {
                &mut old
            };
            if slot.is_some() {
                return None;
            }
            *slot = Some(&**pod);
        }
        Some((new, old))
    }

    /// Upstream's rollingUpdate: which old pods to delete (and, when
    /// surging, on which nodes to start new ones first).
    pub fn rolling_update(&self) -> Result<Plan, String> {
        let Some(rolling) = self.rolling() else {
            return Ok(Plan::default());
        };
        let desired = self.desired();
        let mut max_unavailable = match &rolling.max_unavailable {
            Some(value) => scaled(value, desired)?,
            None => 1,
        };
        let max_surge = match &rolling.max_surge {
            Some(value) => scaled(value, desired)?,
            None => 0,
        };
        if desired > 0 && max_unavailable == 0 && max_surge == 0 {
            max_unavailable = 1;
        }
        // Nodes that should run a pod take part even without one.
        let mut groups = self.pods_by_node.clone();
        for node in self.nodes {
            if placement(node, self.template()).should_run {
                groups
                    .entry(node.metadata.name.clone().unwrap_or_default())
                    .or_default();
            }
        }
        if max_surge == 0 {
            Ok(self.replace_within_unavailability(&groups, max_unavailable))
        } else {
            Ok(self.surge(&groups, max_surge, desired))
        }
    }

    fn replace_within_unavailability(
        &self,
        groups: &BTreeMap<String, Vec<Arc<Pod>>>,
        max_unavailable: i32,
    ) -> Plan {
        let mut unavailable = 0;
        let mut replacements = Vec::new();
        let mut candidates = Vec::new();
        for pods in groups.values() {
            match self.updated_and_old(pods) {
                None | Some((None, None)) | Some((Some(_), Some(_))) => unavailable += 1,
                Some((Some(new), None)) => {
                    if !self.available(new) {
                        unavailable += 1;
                    }
                }
                Some((None, Some(old))) => {
                    if !self.available(old) {
                        replacements.push(name(old));
                    } else if unavailable < max_unavailable {
                        candidates.push(name(old));
                    }
                }
            }
        }
        let room = usize::try_from(max_unavailable - unavailable)
            .unwrap_or(0)
            .min(candidates.len());
        replacements.extend(candidates.into_iter().take(room));
        Plan {
            create_on: Vec::new(),
            delete: replacements
                .into_iter()
                .map(|n| (n, Removal::Other))
                .collect(),
        }
    }

    fn surge(
        &self,
        groups: &BTreeMap<String, Vec<Arc<Pod>>>,
        max_surge: i32,
        desired: i32,
    ) -> Plan {
        let mut plan = Plan::default();
        let mut should_not_run = Vec::new();
        let mut candidates = Vec::new();
        let mut surging = 0;
        let mut available = 0;
        let runs_here = |node: &str| {
            self.node(node)
                .is_some_and(|n| placement(n, self.template()).should_run)
        };
        for (node, pods) in groups {
            let Some((new, old)) = self.updated_and_old(pods) else {
                surging += 1;
                continue;
            };
            if let Some(pod) = old.or(new) {
                if self.available(pod) {
                    available += 1;
                }
            }
            match (new, old) {
                (_, None) => {}
                (None, Some(old)) if !self.available(old) => {
                    if runs_here(node) {
                        plan.create_on.push(node.clone());
                    } else {
                        plan.delete.push((name(old), Removal::Other));
                    }
                }
                (None, Some(old)) => {
                    if !runs_here(node) {
                        should_not_run.push(name(old));
                    } else if surging < max_surge {
                        candidates.push(node.clone());
                    }
                }
                (Some(new), Some(old)) => {
                    if self.available(new) {
                        plan.delete.push((name(old), Removal::Other));
                    } else {
                        surging += 1;
                    }
                }
            }
        }
        // Pods on nodes the DaemonSet left go only once enough others are
        // available elsewhere.
        let deletable = usize::try_from(available - desired).unwrap_or(0);
        plan.delete.extend(
            should_not_run
                .into_iter()
                .take(deletable)
                .map(|n| (n, Removal::Other)),
        );
        let room = usize::try_from(max_surge - surging)
            .unwrap_or(0)
            .min(candidates.len());
        plan.create_on.extend(candidates.into_iter().take(room));
        plan
    }

    /// Upstream's updateDaemonSetStatus counts.
    pub fn status(&self, previous: Option<&DaemonSetStatus>) -> DaemonSetStatus {
        let generation = template_generation(self.ds);
        let mut status = DaemonSetStatus {
            collision_count: previous.and_then(|s| s.collision_count),
            conditions: previous.and_then(|s| s.conditions.clone()),
            observed_generation: self.ds.metadata.generation,
            ..DaemonSetStatus::default()
        };
        let mut updated = 0;
        let mut available = 0;
        let mut ready = 0;
        for node in self.nodes {
            let node_name = node.metadata.name.as_deref().unwrap_or("");
            let mut here = self
                .pods_by_node
                .get(node_name)
                .cloned()
                .unwrap_or_default();
            if placement(node, self.template()).should_run {
                status.desired_number_scheduled += 1;
                sort_oldest_first(&mut here);
                let Some(pod) = here.first() else {
                    continue;
                };
                status.current_number_scheduled += 1;
                if is_ready(pod) {
                    ready += 1;
                    if self.available(pod) {
                        available += 1;
                    }
                }
                if is_updated(pod, self.hash, generation) {
                    updated += 1;
                }
            } else if !here.is_empty() {
                status.number_misscheduled += 1;
            }
        }
        status.number_ready = ready;
        status.number_available = Some(available);
        status.updated_number_scheduled = Some(updated);
        status.number_unavailable = Some(status.desired_number_scheduled - available);
        status
    }
}

/// Upstream's GetScaledValueFromIntOrPercent rounding up: an absolute
/// number, or a percentage of `total`.
pub fn scaled(value: &IntOrString, total: i32) -> Result<i32, String> {
    match value {
        IntOrString::Int(n) => Ok(*n),
        IntOrString::String(text) => {
            let percent: i64 = text
                .strip_suffix('%')
                .and_then(|n| n.parse().ok())
                .ok_or_else(|| format!("invalid value for IntOrString: invalid value {text:?}"))?;
            let scaled = (percent * i64::from(total) + 99).div_euclid(100);
            Ok(i32::try_from(scaled).unwrap_or(i32::MAX))
        }
    }
}

#[cfg(test)]
#[path = "plan_tests.rs"]
mod tests;
