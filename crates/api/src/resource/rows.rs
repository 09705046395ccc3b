//! The rows of the resource table, in upstream's discovery order: the core
//! group first, then the groups by their aggregator priority.

use super::Resource;

const NAMESPACED: bool = true;
const CLUSTER: bool = false;

/// The category `kubectl get all` lists.
const ALL: &[&str] = &["all"];
/// The category `kubectl get api-extensions` lists.
const API_EXTENSIONS: &[&str] = &["api-extensions"];

const STATUS: &[&str] = &["status"];
const STATUS_SCALE: &[&str] = &["status", "scale"];

impl Resource {
    /// A row stored under its plural, with no short names, categories or
    /// subresources; the methods below add those.
    const fn new(
        group: &'static str,
        version: &'static str,
        kind: &'static str,
        plural: &'static str,
        singular: &'static str,
        namespaced: bool,
    ) -> Resource {
        Resource {
            group,
            version,
            kind,
            plural,
            singular,
            namespaced,
            short_names: &[],
            categories: &[],
            subresources: &[],
            storage: plural,
        }
    }

    const fn short(self, short_names: &'static [&'static str]) -> Resource {
        Resource {
            short_names,
            ..self
        }
    }

    const fn in_categories(self, categories: &'static [&'static str]) -> Resource {
        Resource { categories, ..self }
    }

    const fn with(self, subresources: &'static [&'static str]) -> Resource {
        Resource {
            subresources,
            ..self
        }
    }

    const fn stored_at(self, storage: &'static str) -> Resource {
        Resource { storage, ..self }
    }
}

pub static RESOURCES: &[Resource] = &[
    // core/v1
    Resource::new("", "v1", "Namespace", "namespaces", "namespace", CLUSTER)
        .short(&["ns"])
        .with(&["status", "finalize"]),
    Resource::new("", "v1", "Pod", "pods", "pod", NAMESPACED)
        .short(&["po"])
        .in_categories(ALL)
        .with(&[
            "status",
            "binding",
            "eviction",
            "log",
            "exec",
            "attach",
            "portforward",
            "proxy",
            "ephemeralcontainers",
        ]),
    Resource::new("", "v1", "Service", "services", "service", NAMESPACED)
        .short(&["svc"])
        .in_categories(ALL)
        .with(&["status", "proxy"])
        .stored_at("services/specs"),
    Resource::new("", "v1", "Endpoints", "endpoints", "endpoints", NAMESPACED)
        .short(&["ep"])
        .stored_at("services/endpoints"),
    Resource::new("", "v1", "ConfigMap", "configmaps", "configmap", NAMESPACED).short(&["cm"]),
    Resource::new("", "v1", "Secret", "secrets", "secret", NAMESPACED),
    Resource::new(
        "",
        "v1",
        "ServiceAccount",
        "serviceaccounts",
        "serviceaccount",
        NAMESPACED,
    )
    .short(&["sa"])
    .with(&["token"]),
    Resource::new("", "v1", "Node", "nodes", "node", CLUSTER)
        .short(&["no"])
        .with(&["status", "proxy"])
        .stored_at("minions"),
    Resource::new("", "v1", "Event", "events", "event", NAMESPACED).short(&["ev"]),
    Resource::new(
        "",
        "v1",
        "ReplicationController",
        "replicationcontrollers",
        "replicationcontroller",
        NAMESPACED,
    )
    .short(&["rc"])
    .in_categories(ALL)
    .with(STATUS_SCALE)
    .stored_at("controllers"),
    Resource::new(
        "",
        "v1",
        "LimitRange",
        "limitranges",
        "limitrange",
        NAMESPACED,
    )
    .short(&["limits"]),
    Resource::new(
        "",
        "v1",
        "ResourceQuota",
        "resourcequotas",
        "resourcequota",
        NAMESPACED,
    )
    .short(&["quota"])
    .with(STATUS),
    Resource::new(
        "",
        "v1",
        "PersistentVolume",
        "persistentvolumes",
        "persistentvolume",
        CLUSTER,
    )
    .short(&["pv"])
    .with(STATUS),
    Resource::new(
        "",
        "v1",
        "PersistentVolumeClaim",
        "persistentvolumeclaims",
        "persistentvolumeclaim",
        NAMESPACED,
    )
    .short(&["pvc"])
    .with(STATUS),
    Resource::new(
        "",
        "v1",
        "PodTemplate",
        "podtemplates",
        "podtemplate",
        NAMESPACED,
    ),
    // apps/v1
    Resource::new(
        "apps",
        "v1",
        "Deployment",
        "deployments",
        "deployment",
        NAMESPACED,
    )
    .short(&["deploy"])
    .in_categories(ALL)
    .with(STATUS_SCALE),
    Resource::new(
        "apps",
        "v1",
        "ReplicaSet",
        "replicasets",
        "replicaset",
        NAMESPACED,
    )
    .short(&["rs"])
    .in_categories(ALL)
    .with(STATUS_SCALE),
    Resource::new(
        "apps",
        "v1",
        "DaemonSet",
        "daemonsets",
        "daemonset",
        NAMESPACED,
    )
    .short(&["ds"])
    .in_categories(ALL)
    .with(STATUS),
    Resource::new(
        "apps",
        "v1",
        "StatefulSet",
        "statefulsets",
        "statefulset",
        NAMESPACED,
    )
    .short(&["sts"])
    .in_categories(ALL)
    .with(STATUS_SCALE),
    Resource::new(
        "apps",
        "v1",
        "ControllerRevision",
        "controllerrevisions",
        "controllerrevision",
        NAMESPACED,
    ),
    // events.k8s.io/v1 shares the core Events' storage.
    Resource::new(
        "events.k8s.io",
        "v1",
        "Event",
        "events",
        "event",
        NAMESPACED,
    )
    .short(&["ev"]),
    // autoscaling: v2 is preferred; both versions share one storage.
    Resource::new(
        "autoscaling",
        "v2",
        "HorizontalPodAutoscaler",
        "horizontalpodautoscalers",
        "horizontalpodautoscaler",
        NAMESPACED,
    )
    .short(&["hpa"])
    .in_categories(ALL)
    .with(STATUS),
    Resource::new(
        "autoscaling",
        "v1",
        "HorizontalPodAutoscaler",
        "horizontalpodautoscalers",
        "horizontalpodautoscaler",
        NAMESPACED,
    )
    .short(&["hpa"])
    .in_categories(ALL)
    .with(STATUS),
    // batch/v1
    Resource::new("batch", "v1", "Job", "jobs", "job", NAMESPACED)
        .in_categories(ALL)
        .with(STATUS),
    Resource::new("batch", "v1", "CronJob", "cronjobs", "cronjob", NAMESPACED)
        .short(&["cj"])
        .in_categories(ALL)
        .with(STATUS),
    // certificates.k8s.io/v1
    Resource::new(
        "certificates.k8s.io",
        "v1",
        "CertificateSigningRequest",
        "certificatesigningrequests",
        "certificatesigningrequest",
        CLUSTER,
    )
    .short(&["csr"])
    .with(&["status", "approval"]),
    // networking.k8s.io/v1
    Resource::new(
        "networking.k8s.io",
        "v1",
        "Ingress",
        "ingresses",
        "ingress",
        NAMESPACED,
    )
    .short(&["ing"])
    .with(STATUS)
    .stored_at("ingress"),
    Resource::new(
        "networking.k8s.io",
        "v1",
        "IngressClass",
        "ingressclasses",
        "ingressclass",
        CLUSTER,
    ),
    Resource::new(
        "networking.k8s.io",
        "v1",
        "NetworkPolicy",
        "networkpolicies",
        "networkpolicy",
        NAMESPACED,
    )
    .short(&["netpol"]),
    // policy/v1
    Resource::new(
        "policy",
        "v1",
        "PodDisruptionBudget",
        "poddisruptionbudgets",
        "poddisruptionbudget",
        NAMESPACED,
    )
    .short(&["pdb"])
    .with(STATUS),
    // rbac.authorization.k8s.io/v1
    Resource::new(
        "rbac.authorization.k8s.io",
        "v1",
        "ClusterRoleBinding",
        "clusterrolebindings",
        "clusterrolebinding",
        CLUSTER,
    ),
    Resource::new(
        "rbac.authorization.k8s.io",
        "v1",
        "ClusterRole",
        "clusterroles",
        "clusterrole",
        CLUSTER,
    ),
    Resource::new(
        "rbac.authorization.k8s.io",
        "v1",
        "RoleBinding",
        "rolebindings",
        "rolebinding",
        NAMESPACED,
    ),
    Resource::new(
        "rbac.authorization.k8s.io",
        "v1",
        "Role",
        "roles",
        "role",
        NAMESPACED,
    ),
    // storage.k8s.io/v1
    Resource::new(
        "storage.k8s.io",
        "v1",
        "CSIDriver",
        "csidrivers",
        "csidriver",
        CLUSTER,
    ),
    Resource::new(
        "storage.k8s.io",
        "v1",
        "CSINode",
        "csinodes",
        "csinode",
        CLUSTER,
    ),
    Resource::new(
        "storage.k8s.io",
        "v1",
        "StorageClass",
        "storageclasses",
        "storageclass",
        CLUSTER,
    )
    .short(&["sc"]),
    Resource::new(
        "storage.k8s.io",
        "v1",
        "VolumeAttachment",
        "volumeattachments",
        "volumeattachment",
        CLUSTER,
    )
    .with(STATUS),
    // admissionregistration.k8s.io/v1
    Resource::new(
        "admissionregistration.k8s.io",
        "v1",
        "MutatingWebhookConfiguration",
        "mutatingwebhookconfigurations",
        "mutatingwebhookconfiguration",
        CLUSTER,
    )
    .in_categories(API_EXTENSIONS),
    Resource::new(
        "admissionregistration.k8s.io",
        "v1",
        "ValidatingWebhookConfiguration",
        "validatingwebhookconfigurations",
        "validatingwebhookconfiguration",
        CLUSTER,
    )
    .in_categories(API_EXTENSIONS),
    // apiextensions.k8s.io/v1 keeps its group in the key, as upstream.
    Resource::new(
        "apiextensions.k8s.io",
        "v1",
        "CustomResourceDefinition",
        "customresourcedefinitions",
        "customresourcedefinition",
        CLUSTER,
    )
    .short(&["crd", "crds"])
    .in_categories(API_EXTENSIONS)
    .with(STATUS)
    .stored_at("apiextensions.k8s.io/customresourcedefinitions"),
    // scheduling.k8s.io/v1
    Resource::new(
        "scheduling.k8s.io",
        "v1",
        "PriorityClass",
        "priorityclasses",
        "priorityclass",
        CLUSTER,
    )
    .short(&["pc"]),
    // coordination.k8s.io/v1
    Resource::new(
        "coordination.k8s.io",
        "v1",
        "Lease",
        "leases",
        "lease",
        NAMESPACED,
    ),
    // discovery.k8s.io/v1
    Resource::new(
        "discovery.k8s.io",
        "v1",
        "EndpointSlice",
        "endpointslices",
        "endpointslice",
        NAMESPACED,
    ),
];
