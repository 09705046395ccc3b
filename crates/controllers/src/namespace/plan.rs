//! The pure decisions of namespace deletion: which discovered resources to
//! empty and how, how long content may still take to go, and when to look
//! again.

use std::time::Duration;

use kube::discovery::{verbs, ApiCapabilities, ApiResource, Scope};

/// The finalizer this controller owns in `spec.finalizers`.
pub const FINALIZER: &str = "kubernetes";

/// Seconds upstream allows objects with finalizers to go before it looks
/// again (finalizerEstimateSeconds).
pub const FINALIZER_ESTIMATE_SECONDS: i64 = 15;

/// A resource type whose objects in a terminating namespace are deleted.
#[derive(Debug, Clone)]
pub struct Target {
    pub resource: ApiResource,
    /// `deletecollection` is served; otherwise each object is deleted.
    pub delete_collection: bool,
    /// `list` is served, so what remains can be counted.
    pub list: bool,
}

impl Target {
    pub fn is_pods(&self) -> bool {
        self.resource.group.is_empty() && self.resource.plural == "pods"
    }

    /// As upstream prints a GroupVersionResource: `apps/v1, Resource=deployments`.
    pub fn describe(&self) -> String {
        format!(
            "{}/{}, Resource={}",
            self.resource.group, self.resource.version, self.resource.plural
        )
    }
}

/// The namespaced resources that can be deleted, pods first (upstream's
/// OrderedNamespaceDeletion), the rest sorted by group and resource so passes
/// are repeatable; and one message per resource whose group version does
/// not parse.
pub fn deletable(resources: Vec<(ApiResource, ApiCapabilities)>) -> (Vec<Target>, Vec<String>) {
    let mut targets = Vec::new();
    let mut unparsable = Vec::new();
    for (resource, capabilities) in resources {
        if capabilities.scope != Scope::Namespaced
            || !capabilities.supports_operation(verbs::DELETE)
        {
            continue;
        }
        if !group_version_parses(&resource.api_version) {
            unparsable.push(format!(
                "unexpected GroupVersion string: {}",
                resource.api_version
            ));
            continue;
        }
        targets.push(Target {
            delete_collection: capabilities.supports_operation(verbs::DELETE_COLLECTION),
            list: capabilities.supports_operation(verbs::LIST),
            resource,
        });
    }
    targets.sort_by(|a, b| {
        (!a.is_pods(), &a.resource.group, &a.resource.plural).cmp(&(
            !b.is_pods(),
            &b.resource.group,
            &b.resource.plural,
        ))
    });
    targets.dedup_by(|a, b| {
        a.resource.group == b.resource.group && a.resource.plural == b.resource.plural
    });
    unparsable.sort();
    (targets, unparsable)
}

/// `v1` or `group/version`, as apimachinery's ParseGroupVersion accepts.
fn group_version_parses(api_version: &str) -> bool {
    match api_version.split_once('/') {
        None => !api_version.is_empty(),
        Some((group, version)) => {
            !group.is_empty() && !version.is_empty() && !version.contains('/')
        }
    }
}

/// A pod as the grace estimate sees it.
pub struct PodGrace {
    pub terminal: bool,
    pub grace_seconds: Option<i64>,
}

/// Seconds the pods of a namespace may still take to stop: the longest
/// grace period of a pod still running, or zero once that much time has
/// passed since the namespace was deleted.
pub fn pod_estimate(pods: impl IntoIterator<Item = PodGrace>, since_deletion: Duration) -> i64 {
    let estimate = pods
        .into_iter()
        .filter(|pod| !pod.terminal)
        .filter_map(|pod| pod.grace_seconds)
        .max()
        .unwrap_or(0)
        .max(0);
    if since_deletion >= Duration::from_secs(estimate as u64) {
        0
    } else {
        estimate
    }
}

/// The estimate for one resource type after a deletion pass, as upstream:
/// its grace estimate if any, else the finalizer estimate if the objects
/// left carry finalizers. `None` when objects are left that nothing
/// explains: an error.
pub fn remaining_estimate(estimate: i64, left: usize, with_finalizers: bool) -> Option<i64> {
    match (left, estimate, with_finalizers) {
        (0, _, _) => Some(0),
        (_, estimate, _) if estimate != 0 => Some(estimate),
        (_, _, true) => Some(FINALIZER_ESTIMATE_SECONDS),
        _ => None,
    }
}

/// When to look at a terminating namespace again. Upstream waits half the
/// estimate plus a second; a namespace deleted moments ago is looked at
/// sooner, backing off as it ages, so quick deletions finish quickly and
/// slow ones are not polled hard. Bounded by `ceiling`.
pub fn requeue_after(since_deletion: Duration, ceiling: Duration) -> Duration {
    const FLOOR: Duration = Duration::from_millis(100);
    (since_deletion / 4).clamp(FLOOR, ceiling.max(FLOOR))
}

/// The upstream wait for content estimated to take `estimate` seconds.
pub fn estimate_wait(estimate: i64) -> Duration {
    Duration::from_secs((estimate.max(0) / 2 + 1) as u64)
}

/// `spec.finalizers` without ours, sorted and unique as upstream writes it.
pub fn without_finalizer(finalizers: &[String]) -> Vec<String> {
    let mut rest: Vec<String> = finalizers
        .iter()
        .filter(|f| *f != FINALIZER)
        .cloned()
        .collect();
    rest.sort();
    rest.dedup();
    rest
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resource(
        group: &str,
        version: &str,
        plural: &str,
        scope: Scope,
        ops: &[&str],
    ) -> (ApiResource, ApiCapabilities) {
        let api_version = if group.is_empty() {
            version.to_string()
        } else {
            format!("{group}/{version}")
        };
        (
            ApiResource {
                group: group.into(),
                version: version.into(),
                api_version,
                kind: String::new(),
                plural: plural.into(),
            },
            ApiCapabilities {
                scope,
                subresources: Vec::new(),
                operations: ops.iter().map(|op| op.to_string()).collect(),
            },
        )
    }

    const ALL: &[&str] = &[
        "create",
        "delete",
        "deletecollection",
        "get",
        "list",
        "patch",
        "update",
        "watch",
    ];

    #[test]
    fn only_namespaced_deletable_resources_pods_first() {
        let (targets, unparsable) = deletable(vec![
            resource("apps", "v1", "deployments", Scope::Namespaced, ALL),
            resource("", "v1", "namespaces", Scope::Cluster, ALL),
            resource("", "v1", "bindings", Scope::Namespaced, &["create"]),
            resource("", "v1", "configmaps", Scope::Namespaced, ALL),
            resource("", "v1", "pods", Scope::Namespaced, ALL),
            resource(
                "authorization.k8s.io",
                "v1",
                "localsubjectaccessreviews",
                Scope::Namespaced,
                &["create"],
            ),
            resource(
                "example.com",
                "v1",
                "widgets",
                Scope::Namespaced,
                &["delete", "get"],
            ),
        ]);
        assert!(unparsable.is_empty());
        let names: Vec<String> = targets.iter().map(Target::describe).collect();
        assert_eq!(
            names,
            [
                "/v1, Resource=pods",
                "/v1, Resource=configmaps",
                "apps/v1, Resource=deployments",
                "example.com/v1, Resource=widgets",
            ]
        );
        assert!(targets[0].delete_collection && targets[0].list);
        // Delete but no list or deletecollection: deleted one by one when
        // listable, otherwise only attempted.
        assert!(!targets[3].delete_collection && !targets[3].list);
    }

    #[test]
    fn unparsable_group_versions_are_reported() {
        let mut bad = resource("a", "v1", "things", Scope::Namespaced, ALL);
        bad.0.api_version = "a/b/v1".into();
        let (targets, unparsable) = deletable(vec![bad]);
        assert!(targets.is_empty());
        assert_eq!(unparsable, ["unexpected GroupVersion string: a/b/v1"]);
        assert!(group_version_parses("v1"));
        assert!(group_version_parses("apps/v1"));
        assert!(!group_version_parses(""));
        assert!(!group_version_parses("/v1"));
    }

    #[test]
    fn pod_estimate_is_the_longest_grace_until_it_has_passed() {
        let pods = || {
            vec![
                PodGrace {
                    terminal: false,
                    grace_seconds: Some(30),
                },
                PodGrace {
                    terminal: true,
                    grace_seconds: Some(600),
                },
                PodGrace {
                    terminal: false,
                    grace_seconds: None,
                },
            ]
        };
        assert_eq!(pod_estimate(pods(), Duration::from_secs(5)), 30);
        assert_eq!(pod_estimate(pods(), Duration::from_secs(30)), 0);
        assert_eq!(pod_estimate(Vec::new(), Duration::ZERO), 0);
    }

    #[test]
    fn remaining_objects_need_an_explanation() {
        assert_eq!(remaining_estimate(0, 0, false), Some(0));
        assert_eq!(remaining_estimate(30, 2, false), Some(30));
        assert_eq!(
            remaining_estimate(0, 1, true),
            Some(FINALIZER_ESTIMATE_SECONDS)
        );
        assert_eq!(remaining_estimate(0, 1, false), None);
    }

    #[test]
    fn requeue_backs_off_with_age_within_bounds() {
        let ceiling = estimate_wait(FINALIZER_ESTIMATE_SECONDS);
        assert_eq!(ceiling, Duration::from_secs(8));
        assert_eq!(
            requeue_after(Duration::ZERO, ceiling),
            Duration::from_millis(100)
        );
        assert_eq!(
            requeue_after(Duration::from_secs(2), ceiling),
            Duration::from_millis(500)
        );
        assert_eq!(requeue_after(Duration::from_secs(3600), ceiling), ceiling);
        assert_eq!(
            requeue_after(Duration::from_secs(3600), Duration::ZERO),
            Duration::from_millis(100)
        );
    }

    #[test]
    fn only_our_finalizer_is_removed() {
        let finalizers = vec![
            "kubernetes".to_string(),
            "z.io/x".into(),
            "a.io/y".into(),
            "a.io/y".into(),
        ];
        assert_eq!(without_finalizer(&finalizers), ["a.io/y", "z.io/x"]);
        assert!(without_finalizer(&["kubernetes".to_string()]).is_empty());
    }
}
