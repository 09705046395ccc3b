//! What one pass over a StatefulSet does, without I/O (upstream's
//! updateStatefulSet): create missing pods, replace finished ones, delete
//! pods beyond the replica count from the highest ordinal down, then roll
//! pods to the update revision from the highest ordinal down to the
//! partition. With OrderedReady each step waits until every earlier pod is
//! Running and Ready; Parallel does all it can at once.

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::api::apps::v1::{StatefulSet, StatefulSetStatus};
use k8s_openapi::api::core::v1::Pod;
use kube::ResourceExt;

use super::identity::{missing_identity_labels, revision_of, start_ordinal, wanted_ordinals};
use crate::pods::{is_available, is_ready};

/// Which revision a new pod is made from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Revision {
    Current,
    Update,
}

/// Why a pod is deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Why {
    /// It finished (Succeeded or Failed) and is to be made anew.
    Finished,
    /// Its ordinal is beyond the replica count.
    ScaleDown,
    /// It is at an old revision.
    Update,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    Create {
        ordinal: i32,
        revision: Revision,
    },
    Delete {
        name: String,
        why: Why,
    },
    /// A pending pod whose claims may be missing.
    EnsureClaims {
        ordinal: i32,
    },
    /// A pod missing identity labels.
    Relabel {
        name: String,
        labels: BTreeMap<String, String>,
    },
}

/// The inputs of a pass.
pub struct Pass<'a> {
    pub set: &'a StatefulSet,
    /// The set's pods (claimed, named after it), by ordinal.
    pub pods: &'a BTreeMap<i32, Arc<Pod>>,
    pub current_revision: &'a str,
    pub update_revision: &'a str,
    pub now: jiff::Timestamp,
}

fn phase(pod: &Pod) -> &str {
    pod.status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .unwrap_or("")
}

fn is_terminating(pod: &Pod) -> bool {
    pod.metadata.deletion_timestamp.is_some()
}

fn running_and_ready(pod: &Pod) -> bool {
    phase(pod) == "Running" && is_ready(pod)
}

/// Upstream's isHealthy: Running, Ready and not terminating.
fn healthy(pod: &Pod) -> bool {
    running_and_ready(pod) && !is_terminating(pod)
}

impl Pass<'_> {
    fn min_ready_seconds(&self) -> i32 {
        self.set
            .spec
            .as_ref()
            .and_then(|s| s.min_ready_seconds)
            .unwrap_or(0)
    }

    fn running_and_available(&self, pod: &Pod) -> bool {
        phase(pod) == "Running" && is_available(pod, self.min_ready_seconds(), self.now)
    }

    /// OrderedReady (the default) waits step by step.
    fn monotonic(&self) -> bool {
        self.set
            .spec
            .as_ref()
            .and_then(|s| s.pod_management_policy.as_deref())
            != Some("Parallel")
    }

    fn strategy(&self) -> &str {
        self.set
            .spec
            .as_ref()
            .and_then(|s| s.update_strategy.as_ref())
            .and_then(|s| s.type_.as_deref())
            .unwrap_or("RollingUpdate")
    }

    fn partition(&self) -> i32 {
        self.set
            .spec
            .as_ref()
            .and_then(|s| s.update_strategy.as_ref())
            .and_then(|s| s.rolling_update.as_ref())
            .and_then(|r| r.partition)
            .unwrap_or(0)
    }

    /// Upstream's newVersionedStatefulSetPod choice: below the partition
    /// new pods keep the current revision.
    fn revision_for(&self, ordinal: i32) -> Revision {
        if self.strategy() == "RollingUpdate"
            && ordinal < start_ordinal(self.set) + self.partition()
        {
            Revision::Current
        } else {
            Revision::Update
        }
    }

    /// The steps of this pass, in order.
    pub fn steps(&self) -> Vec<Step> {
        let mut steps = Vec::new();
        if self.set.metadata.deletion_timestamp.is_some() {
            return steps;
        }
        let monotonic = self.monotonic();
        let wanted = wanted_ordinals(self.set);
        let condemned: Vec<&Arc<Pod>> = self
            .pods
            .iter()
            .filter(|(ordinal, _)| !wanted.contains(ordinal))
            .map(|(_, pod)| pod)
            .collect();
        // The first unhealthy pod, replicas before condemned, lowest
        // ordinal first: the one a scale-down may still delete.
        let first_unhealthy = wanted
            .clone()
            .filter_map(|o| self.pods.get(&o))
            .chain(condemned.iter().copied())
            .find(|p| !healthy(p))
            .map(|p| p.name_any());

        for ordinal in wanted.clone() {
            let Some(pod) = self.pods.get(&ordinal) else {
                steps.push(Step::Create {
                    ordinal,
                    revision: self.revision_for(ordinal),
                });
                if monotonic {
                    return steps;
                }
                continue;
            };
            if matches!(phase(pod), "Failed" | "Succeeded") {
                if !is_terminating(pod) {
                    steps.push(Step::Delete {
                        name: pod.name_any(),
                        why: Why::Finished,
                    });
                }
                if monotonic {
                    return steps;
                }
                continue;
            }
            if matches!(phase(pod), "Pending" | "") {
                steps.push(Step::EnsureClaims { ordinal });
            }
            if monotonic
                && (is_terminating(pod)
                    || !running_and_ready(pod)
                    || !self.running_and_available(pod))
            {
                return steps;
            }
            let labels = missing_identity_labels(pod, ordinal);
            if !labels.is_empty() {
                steps.push(Step::Relabel {
                    name: pod.name_any(),
                    labels,
                });
            }
        }

        for pod in condemned.iter().rev() {
            if is_terminating(pod) {
                if monotonic {
                    return steps;
                }
                continue;
            }
            let first = first_unhealthy.as_deref() == Some(pod.name_any().as_str());
            if monotonic && !first && (!running_and_ready(pod) || !self.running_and_available(pod))
            {
                return steps;
            }
            steps.push(Step::Delete {
                name: pod.name_any(),
                why: Why::ScaleDown,
            });
            if monotonic {
                return steps;
            }
        }
        if !steps.is_empty() && !monotonic {
            // Parallel: scaling goes before updates, as upstream returns
            // early while it created or deleted anything.
            if steps
                .iter()
                .any(|s| matches!(s, Step::Create { .. } | Step::Delete { .. }))
            {
                return steps;
            }
        }
        if self.strategy() != "RollingUpdate" {
            return steps;
        }
        // Roll from the highest ordinal down to the partition, one pod at
        // a time, each waiting for the one before to be healthy.
        let floor = wanted.start.saturating_add(self.partition().max(0));
        for ordinal in wanted.rev().filter(|o| *o >= floor) {
            let Some(pod) = self.pods.get(&ordinal) else {
                return steps;
            };
            if revision_of(pod) != self.update_revision && !is_terminating(pod) {
                steps.push(Step::Delete {
                    name: pod.name_any(),
                    why: Why::Update,
                });
                return steps;
            }
            if !healthy(pod) {
                return steps;
            }
        }
        steps
    }

    /// Upstream's status: counts over all the set's pods, then the
    /// current revision catches up once every pod is updated and ready.
    pub fn status(&self, collision_count: i32) -> StatefulSetStatus {
        let mut status = StatefulSetStatus {
            observed_generation: self.set.metadata.generation,
            current_revision: Some(self.current_revision.to_owned()),
            update_revision: Some(self.update_revision.to_owned()),
            collision_count: Some(collision_count),
            conditions: self.set.status.as_ref().and_then(|s| s.conditions.clone()),
            ..StatefulSetStatus::default()
        };
        let (mut ready, mut available, mut current, mut updated) = (0, 0, 0, 0);
        for pod in self.pods.values() {
            let created = !phase(pod).is_empty();
            if created {
                status.replicas += 1;
            }
            if running_and_ready(pod) {
                ready += 1;
                if self.running_and_available(pod) {
                    available += 1;
                }
            }
            if created && !is_terminating(pod) {
                if revision_of(pod) == self.current_revision {
                    current += 1;
                }
                if revision_of(pod) == self.update_revision {
                    updated += 1;
                }
            }
        }
        status.ready_replicas = Some(ready);
        status.available_replicas = Some(available);
        status.current_replicas = Some(current);
        status.updated_replicas = Some(updated);
        if self.strategy() == "RollingUpdate"
            && updated == status.replicas
            && ready == status.replicas
        {
            status.current_replicas = Some(updated);
            status.current_revision = Some(self.update_revision.to_owned());
        }
        status
    }
}

#[cfg(test)]
#[path = "plan_tests.rs"]
mod tests;
