//! The resource table: one row per served resource, the way discovery
//! describes it and the store keeps it.

mod rows;

pub use rows::RESOURCES;

/// One resource the API serves at one group and version.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Resource {
    /// `""` for the core group.
    pub group: &'static str,
    pub version: &'static str,
    pub kind: &'static str,
    /// The URL segment, e.g. `deployments`.
    pub plural: &'static str,
    pub singular: &'static str,
    pub namespaced: bool,
    pub short_names: &'static [&'static str],
    /// e.g. `all` for what `kubectl get all` lists.
    pub categories: &'static [&'static str],
    /// e.g. `status`, `scale`, `binding`.
    pub subresources: &'static [&'static str],
    /// Where objects live in the store, as upstream lays out etcd:
    /// `/registry/<storage>/<namespace>/<name>`, e.g. `services/specs`,
    /// `minions` for nodes, `apiextensions.k8s.io/customresourcedefinitions`.
    /// Versions of one resource (autoscaling v1 and v2) share it.
    pub storage: &'static str,
}

impl Resource {
    /// `v1` or `apps/v1`.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_string()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// The store key of an object: `/registry/pods/default/web`, or
    /// `/registry/namespaces/default` for cluster-scoped resources.
    pub fn key(&self, namespace: Option<&str>, name: &str) -> String {
        match namespace {
            Some(namespace) if self.namespaced => {
                format!("/registry/{}/{namespace}/{name}", self.storage)
            }
            _ => format!("/registry/{}/{name}", self.storage),
        }
    }

    /// The store prefix of a list: all namespaces, or one.
    pub fn prefix(&self, namespace: Option<&str>) -> String {
        match namespace {
            Some(namespace) if self.namespaced => {
                format!("/registry/{}/{namespace}/", self.storage)
            }
            _ => format!("/registry/{}/", self.storage),
        }
    }

    pub fn has_subresource(&self, name: &str) -> bool {
        self.subresources.contains(&name)
    }
}

/// The row of `group/version/plural`, e.g. `("apps", "v1", "deployments")`.
pub fn find(group: &str, version: &str, plural: &str) -> Option<&'static Resource> {
    RESOURCES
        .iter()
        .find(|r| r.group == group && r.version == version && r.plural == plural)
}

/// The row serving `kind` at `group/version`.
pub fn find_kind(group: &str, version: &str, kind: &str) -> Option<&'static Resource> {
    RESOURCES
        .iter()
        .find(|r| r.group == group && r.version == version && r.kind == kind)
}

/// An API group and the versions it serves, the preferred one first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Group {
    /// `""` for the core group, served under `/api`.
    pub name: &'static str,
    pub versions: &'static [&'static str],
}

impl Group {
    pub fn preferred_version(&self) -> &'static str {
        self.versions[0]
    }
}

static GROUPS: &[Group] = &[
    Group {
        name: "",
        versions: &["v1"],
    },
    Group {
        name: "apps",
        versions: &["v1"],
    },
    Group {
        name: "events.k8s.io",
        versions: &["v1"],
    },
    Group {
        name: "autoscaling",
        versions: &["v2", "v1"],
    },
    Group {
        name: "batch",
        versions: &["v1"],
    },
    Group {
        name: "certificates.k8s.io",
        versions: &["v1"],
    },
    Group {
        name: "networking.k8s.io",
        versions: &["v1"],
    },
    Group {
        name: "policy",
        versions: &["v1"],
    },
    Group {
        name: "rbac.authorization.k8s.io",
        versions: &["v1"],
    },
    Group {
        name: "storage.k8s.io",
        versions: &["v1"],
    },
    Group {
        name: "admissionregistration.k8s.io",
        versions: &["v1"],
    },
    Group {
        name: "apiextensions.k8s.io",
        versions: &["v1"],
    },
    Group {
        name: "scheduling.k8s.io",
        versions: &["v1"],
    },
    Group {
        name: "coordination.k8s.io",
        versions: &["v1"],
    },
    Group {
        name: "discovery.k8s.io",
        versions: &["v1"],
    },
];

/// The served groups in upstream's discovery order (the core group first,
/// then by the aggregator's group priority), each with its versions in
/// preference order.
pub fn groups() -> &'static [Group] {
    GROUPS
}

/// What a user types to name a resource, resolved as kubectl's REST mapper
/// does: a plural, singular or short name, optionally qualified as
/// `name.group` or `name.version.group`, case-insensitive. Unqualified names
/// resolve to the first group in discovery order that has them (so `events`
/// is core/v1), at the group's preferred version.
pub fn resolve(name: &str) -> Option<&'static Resource> {
    let name = name.to_ascii_lowercase();
    let named = |r: &Resource, word: &str| {
        r.plural == word || r.singular == word || r.short_names.contains(&word)
    };
    let preferred = |r: &&Resource| {
        GROUPS
            .iter()
            .any(|g| g.name == r.group && g.preferred_version() == r.version)
    };
    if let Some(found) = RESOURCES.iter().filter(preferred).find(|r| named(r, &name)) {
        return Some(found);
    }
    let (word, rest) = name.split_once('.')?;
    // `deployments.apps` or `deployments.v1.apps`.
    if let Some(found) = RESOURCES
        .iter()
        .filter(preferred)
        .find(|r| r.group == rest && named(r, word))
    {
        return Some(found);
    }
    let (version, group) = rest.split_once('.').unwrap_or((rest, ""));
    RESOURCES
        .iter()
        .find(|r| r.version == version && r.group == group && named(r, word))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn rows_are_unique_and_complete() {
        let mut seen = BTreeSet::new();
        for r in RESOURCES {
            assert!(
                seen.insert((r.group, r.version, r.plural)),
                "{} twice",
                r.plural
            );
            assert_eq!(r.singular, r.kind.to_ascii_lowercase(), "{}", r.plural);
            assert!(
                groups()
                    .iter()
                    .any(|g| g.name == r.group && g.versions.contains(&r.version)),
                "{} is in no group",
                r.api_version()
            );
        }
        for g in groups() {
            for v in g.versions {
                assert!(
                    RESOURCES
                        .iter()
                        .any(|r| r.group == g.name && &r.version == v),
                    "{}/{v} serves nothing",
                    g.name
                );
            }
        }
        let served: BTreeSet<String> = RESOURCES
            .iter()
            .map(|r| format!("{}/{}", r.api_version(), r.plural))
            .collect();
        for expected in [
            "v1/namespaces",
            "v1/pods",
            "v1/services",
            "v1/endpoints",
            "v1/configmaps",
            "v1/secrets",
            "v1/serviceaccounts",
            "v1/nodes",
            "v1/events",
            "v1/replicationcontrollers",
            "v1/limitranges",
            "v1/resourcequotas",
            "v1/persistentvolumes",
            "v1/persistentvolumeclaims",
            "v1/podtemplates",
            "apps/v1/deployments",
            "apps/v1/replicasets",
            "apps/v1/daemonsets",
            "apps/v1/statefulsets",
            "apps/v1/controllerrevisions",
            "batch/v1/jobs",
            "batch/v1/cronjobs",
            "autoscaling/v1/horizontalpodautoscalers",
            "autoscaling/v2/horizontalpodautoscalers",
            "policy/v1/poddisruptionbudgets",
            "networking.k8s.io/v1/ingresses",
            "networking.k8s.io/v1/ingressclasses",
            "networking.k8s.io/v1/networkpolicies",
            "storage.k8s.io/v1/storageclasses",
            "storage.k8s.io/v1/csidrivers",
            "storage.k8s.io/v1/csinodes",
            "storage.k8s.io/v1/volumeattachments",
            "rbac.authorization.k8s.io/v1/roles",
            "rbac.authorization.k8s.io/v1/rolebindings",
            "rbac.authorization.k8s.io/v1/clusterroles",
            "rbac.authorization.k8s.io/v1/clusterrolebindings",
            "coordination.k8s.io/v1/leases",
            "scheduling.k8s.io/v1/priorityclasses",
            "discovery.k8s.io/v1/endpointslices",
            "events.k8s.io/v1/events",
            "certificates.k8s.io/v1/certificatesigningrequests",
            "admissionregistration.k8s.io/v1/mutatingwebhookconfigurations",
            "admissionregistration.k8s.io/v1/validatingwebhookconfigurations",
            "apiextensions.k8s.io/v1/customresourcedefinitions",
        ] {
            assert!(served.contains(expected), "{expected} is not served");
        }
    }

    #[test]
    fn short_names_and_categories_are_upstreams() {
        let short = |plural: &str| resolve(plural).unwrap().short_names.to_vec();
        assert_eq!(short("pods"), ["po"]);
        assert_eq!(short("customresourcedefinitions"), ["crd", "crds"]);
        assert_eq!(short("limitranges"), ["limits"]);
        assert_eq!(short("resourcequotas"), ["quota"]);
        assert!(short("jobs").is_empty());
        assert!(short("secrets").is_empty());
        let all: Vec<&str> = RESOURCES
            .iter()
            .filter(|r| r.categories.contains(&"all"))
            .filter(|r| {
                r.version
                    == groups()
                        .iter()
                        .find(|g| g.name == r.group)
                        .unwrap()
                        .versions[0]
            })
            .map(|r| r.plural)
            .collect();
        assert_eq!(
            all,
            [
                "pods",
                "services",
                "replicationcontrollers",
                "deployments",
                "replicasets",
                "daemonsets",
                "statefulsets",
                "horizontalpodautoscalers",
                "jobs",
                "cronjobs",
            ]
        );
    }

    #[test]
    fn storage_follows_etcd_layout() {
        let key = |name: &str, ns: Option<&str>| resolve(name).unwrap().key(ns, "x");
        assert_eq!(key("pods", Some("default")), "/registry/pods/default/x");
        assert_eq!(
            key("svc", Some("default")),
            "/registry/services/specs/default/x"
        );
        assert_eq!(
            key("ep", Some("default")),
            "/registry/services/endpoints/default/x"
        );
        assert_eq!(key("nodes", None), "/registry/minions/x");
        assert_eq!(key("rc", Some("a")), "/registry/controllers/a/x");
        assert_eq!(key("ingresses", Some("a")), "/registry/ingress/a/x");
        assert_eq!(
            key("crd", None),
            "/registry/apiextensions.k8s.io/customresourcedefinitions/x"
        );
        assert_eq!(key("namespaces", Some("ignored")), "/registry/namespaces/x");
        let events: BTreeSet<_> = RESOURCES
            .iter()
            .filter(|r| r.plural == "events")
            .map(|r| r.storage)
            .collect();
        assert_eq!(events.into_iter().collect::<Vec<_>>(), ["events"]);
        let v1 = find("autoscaling", "v1", "horizontalpodautoscalers").unwrap();
        let v2 = find("autoscaling", "v2", "horizontalpodautoscalers").unwrap();
        assert_eq!(v1.prefix(Some("a")), v2.prefix(Some("a")));
    }

    #[test]
    fn lookups() {
        assert_eq!(
            find("apps", "v1", "deployments").unwrap().kind,
            "Deployment"
        );
        assert!(find("apps", "v1beta1", "deployments").is_none());
        assert_eq!(find_kind("", "v1", "Pod").unwrap().plural, "pods");
        assert_eq!(
            find_kind("autoscaling", "v1", "HorizontalPodAutoscaler")
                .unwrap()
                .version,
            "v1"
        );
        let groups = groups();
        assert_eq!(groups[0].name, "");
        assert_eq!(groups[1].name, "apps");
        let autoscaling = groups.iter().find(|g| g.name == "autoscaling").unwrap();
        assert_eq!(autoscaling.preferred_version(), "v2");
    }

    #[test]
    fn resolves_what_users_type() {
        let at = |name: &str| resolve(name).map(|r| format!("{}/{}", r.api_version(), r.plural));
        assert_eq!(at("po").unwrap(), "v1/pods");
        assert_eq!(at("Pod").unwrap(), "v1/pods");
        assert_eq!(at("deploy").unwrap(), "apps/v1/deployments");
        assert_eq!(at("deployment").unwrap(), "apps/v1/deployments");
        assert_eq!(at("deployments.apps").unwrap(), "apps/v1/deployments");
        assert_eq!(at("deployments.v1.apps").unwrap(), "apps/v1/deployments");
        assert_eq!(
            at("hpa").unwrap(),
            "autoscaling/v2/horizontalpodautoscalers"
        );
        assert_eq!(
            at("hpa.v1.autoscaling").unwrap(),
            "autoscaling/v1/horizontalpodautoscalers"
        );
        assert_eq!(at("events").unwrap(), "v1/events");
        assert_eq!(at("ev").unwrap(), "v1/events");
        assert_eq!(
            at("events.events.k8s.io").unwrap(),
            "events.k8s.io/v1/events"
        );
        assert_eq!(
            at("crds").unwrap(),
            "apiextensions.k8s.io/v1/customresourcedefinitions"
        );
        assert_eq!(
            at("netpol").unwrap(),
            "networking.k8s.io/v1/networkpolicies"
        );
        assert_eq!(at("endpoints").unwrap(), "v1/endpoints");
        assert!(at("deployments.core").is_none());
        assert!(at("nothing").is_none());
        assert!(at("").is_none());
    }
}
