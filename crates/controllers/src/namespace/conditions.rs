//! The status conditions of a terminating namespace, as upstream's
//! namespace deleter writes them: each of the five types is always present,
//! `True` with the failure or what remains, `False` with the "ok" reason.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{NamespaceCondition, NamespaceStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

pub const DISCOVERY_FAILURE: &str = "NamespaceDeletionDiscoveryFailure";
pub const GROUP_VERSION_PARSING_FAILURE: &str = "NamespaceDeletionGroupVersionParsingFailure";
pub const CONTENT_FAILURE: &str = "NamespaceDeletionContentFailure";
pub const CONTENT_REMAINING: &str = "NamespaceContentRemaining";
pub const FINALIZERS_REMAINING: &str = "NamespaceFinalizersRemaining";

/// The types this controller owns, in upstream's order, with the reason
/// and message of their "ok" (`False`) variant.
const OWNED: [(&str, &str, &str); 5] = [
    (
        DISCOVERY_FAILURE,
        "ResourcesDiscovered",
        "All resources successfully discovered",
    ),
    (
        GROUP_VERSION_PARSING_FAILURE,
        "ParsedGroupVersions",
        "All legacy kube types successfully parsed",
    ),
    (
        CONTENT_FAILURE,
        "ContentDeleted",
        "All content successfully deleted, may be waiting on finalization",
    ),
    (
        CONTENT_REMAINING,
        "ContentRemoved",
        "All content successfully removed",
    ),
    (
        FINALIZERS_REMAINING,
        "ContentHasNoFinalizers",
        "All content-preserving finalizers finished",
    ),
];

/// What is left in a namespace after a deletion pass.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Remaining {
    /// (group, resource) to the number of objects left.
    pub resources: BTreeMap<(String, String), usize>,
    /// Finalizer to the number of objects left that carry it.
    pub finalizers: BTreeMap<String, usize>,
}

impl Remaining {
    pub fn add(&mut self, group: &str, resource: &str, count: usize, finalizers: &[String]) {
        if count > 0 {
            *self
                .resources
                .entry((group.to_string(), resource.to_string()))
                .or_default() += count;
        }
        for finalizer in finalizers {
            *self.finalizers.entry(finalizer.clone()).or_default() += 1;
        }
    }

    pub fn is_empty(&self) -> bool {
        self.resources.is_empty()
    }
}

/// Collects the failures of one pass, then writes them into a status.
#[derive(Debug, Default)]
pub struct ConditionUpdater {
    failures: Vec<(&'static str, &'static str, String)>,
    content_errors: Vec<String>,
}

impl ConditionUpdater {
    pub fn discovery_failed(&mut self, message: String) {
        self.failures
            .push((DISCOVERY_FAILURE, "DiscoveryFailed", message));
    }

    pub fn group_version_failed(&mut self, message: String) {
        self.failures.push((
            GROUP_VERSION_PARSING_FAILURE,
            "GroupVersionParsingFailed",
            message,
        ));
    }

    pub fn content_failed(&mut self, message: String) {
        self.content_errors.push(message);
    }

    pub fn content_totals(&mut self, remaining: &Remaining) {
        let resources: Vec<String> = remaining
            .resources
            .iter()
            .filter(|(_, count)| **count > 0)
            .map(|((group, resource), count)| {
                format!("{resource}.{group} has {count} resource instances")
            })
            .collect();
        if !remaining.resources.is_empty() {
            self.failures.push((
                CONTENT_REMAINING,
                "SomeResourcesRemain",
                format!("Some resources are remaining: {}", sorted_join(resources)),
            ));
        }
        let finalizers: Vec<String> = remaining
            .finalizers
            .iter()
            .filter(|(_, count)| **count > 0)
            .map(|(finalizer, count)| format!("{finalizer} in {count} resource instances"))
            .collect();
        if !remaining.finalizers.is_empty() {
            self.failures.push((
                FINALIZERS_REMAINING,
                "SomeFinalizersRemain",
                format!(
                    "Some content in the namespace has finalizers remaining: {}",
                    sorted_join(finalizers)
                ),
            ));
        }
    }

    /// Writes the conditions into `status`; true if anything changed. A
    /// condition's transition time moves only when its status flips.
    pub fn update(mut self, status: &mut NamespaceStatus, now: &Time) -> bool {
        if !self.content_errors.is_empty() {
            let count = self.content_errors.len();
            let message = format!(
                "Failed to delete all resource types, {count} remaining: {}",
                sorted_join(std::mem::take(&mut self.content_errors))
            );
            self.failures
                .push((CONTENT_FAILURE, "ContentDeletionFailed", message));
        }
        let conditions = status.conditions.get_or_insert_with(Vec::new);
        let mut changed = false;
        for (kind, ok_reason, ok_message) in OWNED {
            let (state, reason, message) = match self.failures.iter().find(|f| f.0 == kind) {
                Some((_, reason, message)) => ("True", *reason, message.as_str()),
                None => ("False", ok_reason, ok_message),
            };
            match conditions.iter_mut().find(|c| c.type_ == kind) {
                None => {
                    conditions.push(NamespaceCondition {
                        type_: kind.to_string(),
                        status: state.to_string(),
                        reason: Some(reason.to_string()),
                        message: Some(message.to_string()),
                        last_transition_time: Some(now.clone()),
                    });
                    changed = true;
                }
                Some(old) => {
                    let same = old.status == state
                        && old.reason.as_deref() == Some(reason)
                        && old.message.as_deref() == Some(message);
                    if same {
                        continue;
                    }
                    if old.status != state {
                        old.last_transition_time = Some(now.clone());
                    }
                    old.status = state.to_string();
                    old.reason = Some(reason.to_string());
                    old.message = Some(message.to_string());
                    changed = true;
                }
            }
        }
        changed
    }
}

fn sorted_join(mut parts: Vec<String>) -> String {
    parts.sort();
    parts.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::jiff::Timestamp;

    fn at(seconds: i64) -> Time {
        Time(Timestamp::from_second(seconds).unwrap())
    }

    fn find<'a>(status: &'a NamespaceStatus, kind: &str) -> &'a NamespaceCondition {
        status
            .conditions
            .as_ref()
            .unwrap()
            .iter()
            .find(|c| c.type_ == kind)
            .unwrap()
    }

    #[test]
    fn a_clean_pass_sets_every_ok_condition_in_upstream_order() {
        let mut status = NamespaceStatus::default();
        assert!(ConditionUpdater::default().update(&mut status, &at(1)));
        let conditions = status.conditions.as_ref().unwrap();
        let kinds: Vec<&str> = conditions.iter().map(|c| c.type_.as_str()).collect();
        assert_eq!(
            kinds,
            [
                DISCOVERY_FAILURE,
                GROUP_VERSION_PARSING_FAILURE,
                CONTENT_FAILURE,
                CONTENT_REMAINING,
                FINALIZERS_REMAINING
            ]
        );
        assert!(conditions.iter().all(|c| c.status == "False"));
        let remaining = find(&status, FINALIZERS_REMAINING);
        assert_eq!(remaining.reason.as_deref(), Some("ContentHasNoFinalizers"));
        assert_eq!(
            remaining.message.as_deref(),
            Some("All content-preserving finalizers finished")
        );
        // The same pass again changes nothing.
        assert!(!ConditionUpdater::default().update(&mut status, &at(2)));
    }

    #[test]
    fn remaining_content_is_counted_and_sorted() {
        let mut remaining = Remaining::default();
        remaining.add("apps", "deployments", 2, &[]);
        remaining.add("", "configmaps", 1, &["example.com/hold".to_string()]);
        remaining.add(
            "",
            "secrets",
            1,
            &["example.com/hold".to_string(), "a.io/b".to_string()],
        );
        remaining.add("", "services", 0, &[]);
        let mut updater = ConditionUpdater::default();
        updater.content_totals(&remaining);
        let mut status = NamespaceStatus::default();
        updater.update(&mut status, &at(1));
        let content = find(&status, CONTENT_REMAINING);
        assert_eq!(content.status, "True");
        assert_eq!(content.reason.as_deref(), Some("SomeResourcesRemain"));
        assert_eq!(
            content.message.as_deref(),
            Some("Some resources are remaining: configmaps. has 1 resource instances, deployments.apps has 2 resource instances, secrets. has 1 resource instances")
        );
        let finalizers = find(&status, FINALIZERS_REMAINING);
        assert_eq!(finalizers.reason.as_deref(), Some("SomeFinalizersRemain"));
        assert_eq!(
            finalizers.message.as_deref(),
            Some("Some content in the namespace has finalizers remaining: a.io/b in 1 resource instances, example.com/hold in 2 resource instances")
        );
    }

    #[test]
    fn failures_become_true_conditions() {
        let mut updater = ConditionUpdater::default();
        updater.discovery_failed("the server is on fire".into());
        updater.group_version_failed("unexpected GroupVersion string: a/b/c".into());
        updater.content_failed("zeta failed".into());
        updater.content_failed("alpha failed".into());
        let mut status = NamespaceStatus::default();
        updater.update(&mut status, &at(1));
        let discovery = find(&status, DISCOVERY_FAILURE);
        assert_eq!(
            (discovery.status.as_str(), discovery.reason.as_deref()),
            ("True", Some("DiscoveryFailed"))
        );
        let parsing = find(&status, GROUP_VERSION_PARSING_FAILURE);
        assert_eq!(parsing.reason.as_deref(), Some("GroupVersionParsingFailed"));
        let content = find(&status, CONTENT_FAILURE);
        assert_eq!(content.reason.as_deref(), Some("ContentDeletionFailed"));
        assert_eq!(
            content.message.as_deref(),
            Some("Failed to delete all resource types, 2 remaining: alpha failed, zeta failed")
        );
    }

    #[test]
    fn transition_time_moves_only_when_the_status_flips() {
        let mut status = NamespaceStatus::default();
        let mut remaining = Remaining::default();
        remaining.add("", "configmaps", 2, &[]);
        let mut first = ConditionUpdater::default();
        first.content_totals(&remaining);
        first.update(&mut status, &at(10));

        // Still remaining, fewer: message changes, time stays.
        let mut fewer = Remaining::default();
        fewer.add("", "configmaps", 1, &[]);
        let mut second = ConditionUpdater::default();
        second.content_totals(&fewer);
        assert!(second.update(&mut status, &at(20)));
        let content = find(&status, CONTENT_REMAINING);
        assert_eq!(content.last_transition_time, Some(at(10)));
        assert!(content
            .message
            .as_deref()
            .unwrap()
            .contains("has 1 resource"));

        // Gone: status flips, time moves.
        assert!(ConditionUpdater::default().update(&mut status, &at(30)));
        let content = find(&status, CONTENT_REMAINING);
        assert_eq!(content.status, "False");
        assert_eq!(content.last_transition_time, Some(at(30)));
        // Conditions it does not own are left alone.
        assert_eq!(status.conditions.as_ref().unwrap().len(), 5);
    }

    #[test]
    fn foreign_conditions_are_kept() {
        let mut status = NamespaceStatus {
            conditions: Some(vec![NamespaceCondition {
                type_: "Example".into(),
                status: "True".into(),
                ..Default::default()
            }]),
            ..Default::default()
        };
        ConditionUpdater::default().update(&mut status, &at(1));
        let conditions = status.conditions.unwrap();
        assert_eq!(conditions.len(), 6);
        assert_eq!(conditions[0].type_, "Example");
    }
}
