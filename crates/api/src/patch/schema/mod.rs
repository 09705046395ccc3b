//! How each built-in kind merges: upstream's `patchStrategy` and
//! `patchMergeKey` struct tags (strategic merge patch) and its
//! `listType`, `listMapKey`, `mapType` and `structType` markers (server-side
//! apply), for the fields where they differ from the defaults.
//!
//! Fields absent here merge by default: objects field by field, lists as
//! one value. The tables were taken from the Go types of Kubernetes 1.32.

mod core_v1;
mod meta;
mod others;
mod workloads;

/// A struct type: only its fields that do not merge by default.
pub(crate) struct TypeDef {
    pub fields: &'static [Field],
}

pub(crate) struct Field {
    pub name: &'static str,
    pub shape: Shape,
    /// Present, as `{}` or `null`, in a zero-valued Go object: such fields
    /// exist before a create, so creating them does not own them.
    pub zero: bool,
}

#[derive(Clone, Copy)]
pub(crate) enum Shape {
    /// A struct merged field by field.
    Struct(&'static TypeDef),
    /// Owned as a whole by apply; strategic merge patch still merges a map
    /// or struct unless `replace` (`patchStrategy:"replace"`).
    Atomic {
        replace: bool,
    },
    List(List),
}

#[derive(Clone, Copy)]
pub(crate) struct List {
    pub kind: ListKind,
    pub elem: Elem,
    /// Strategic merge patch: `Some(key)` merges items by `key`, `Some("")`
    /// merges a list of primitives, `None` replaces the list.
    pub merge_key: Option<&'static str>,
}

#[derive(Clone, Copy)]
pub(crate) enum ListKind {
    /// `listType=atomic`: one value for apply.
    Atomic,
    /// `listType=set`: primitives owned one by one.
    Set,
    /// `listType=map`: items identified by these keys.
    Map(&'static [Key]),
}

#[derive(Clone, Copy)]
pub(crate) struct Key {
    pub name: &'static str,
    /// The value an item without this key has (e.g. `protocol: TCP`).
    pub default: Option<&'static str>,
}

#[derive(Clone, Copy)]
pub(crate) enum Elem {
    /// No schema: the defaults.
    Deduced,
    /// Each item is one value (`structType=atomic`).
    Atomic,
    Struct(&'static TypeDef),
}

/// The merge behaviour of a value at some place in an object.
#[derive(Clone, Copy)]
pub(crate) enum Ty {
    /// Unknown: objects merge field by field, lists are atomic.
    Deduced,
    Struct(&'static TypeDef),
    Atomic {
        replace: bool,
    },
    List(List),
}

impl Ty {
    /// The type of field `name` of an object of this type, and whether it
    /// is a named field. The maps of built-in kinds hold scalars (labels,
    /// quantities) or are atomic, so every key of an object is taken for a
    /// field: the two differ only for maps of objects.
    pub fn field(self, name: &str) -> (Ty, bool) {
        match self {
            Ty::Struct(def) => match def.fields.iter().find(|f| f.name == name) {
                Some(field) => (Ty::from_shape(field.shape), true),
                None => (Ty::Deduced, true),
            },
            _ => (Ty::Deduced, true),
        }
    }

    /// The type of the items of a list of this type.
    pub fn item(self) -> Ty {
        match self {
            Ty::List(list) => match list.elem {
                Elem::Deduced => Ty::Deduced,
                Elem::Atomic => Ty::Atomic { replace: false },
                Elem::Struct(def) => Ty::Struct(def),
            },
            _ => Ty::Deduced,
        }
    }

    fn from_shape(shape: Shape) -> Ty {
        match shape {
            Shape::Struct(def) => Ty::Struct(def),
            Shape::Atomic { replace } => Ty::Atomic { replace },
            Shape::List(list) => Ty::List(list),
        }
    }
}

/// The type of a whole object of `group` and `kind`; `Deduced` for kinds
/// not built in.
pub(crate) fn root(group: &str, kind: &str) -> Ty {
    root_def(group, kind).map_or(Ty::Deduced, Ty::Struct)
}

/// Whether `status` of this kind is written through the status
/// subresource only, so that main-resource writes do not own it.
pub(crate) fn has_status(group: &str, kind: &str) -> bool {
    root_def(group, kind).is_some_and(|def| def.fields.iter().any(|f| f.name == "status"))
}

/// A zero-valued object of the kind, as upstream's typed code sees one
/// before a create: the non-pointer structs, and `null` lists.
pub(crate) fn zero_object(group: &str, kind: &str) -> serde_json::Value {
    match root_def(group, kind) {
        Some(def) => zero_struct(def),
        None => serde_json::Value::Object(serde_json::Map::new()),
    }
}

fn zero_struct(def: &TypeDef) -> serde_json::Value {
    let mut out = serde_json::Map::new();
    for field in def.fields.iter().filter(|f| f.zero) {
        let value = match field.shape {
            Shape::Struct(def) => zero_struct(def),
            Shape::Atomic { .. } => serde_json::Value::Object(serde_json::Map::new()),
            Shape::List(_) => serde_json::Value::Null,
        };
        out.insert(field.name.to_string(), value);
    }
    serde_json::Value::Object(out)
}

fn root_def(group: &str, kind: &str) -> Option<&'static TypeDef> {
    Some(match (group, kind) {
        ("", "ConfigMap") => &core_v1::CORE_CONFIG_MAP,
        ("", "Endpoints") => &core_v1::CORE_ENDPOINTS,
        ("", "Event") => &core_v1::CORE_EVENT,
        ("", "LimitRange") => &core_v1::CORE_LIMIT_RANGE,
        ("", "Namespace") => &core_v1::CORE_NAMESPACE,
        ("", "Node") => &core_v1::CORE_NODE,
        ("", "PersistentVolume") => &core_v1::CORE_PERSISTENT_VOLUME,
        ("", "PersistentVolumeClaim") => &core_v1::CORE_PERSISTENT_VOLUME_CLAIM,
        ("", "Pod") => &core_v1::CORE_POD,
        ("", "PodTemplate") => &core_v1::CORE_POD_TEMPLATE,
        ("", "ReplicationController") => &core_v1::CORE_REPLICATION_CONTROLLER,
        ("", "ResourceQuota") => &core_v1::CORE_RESOURCE_QUOTA,
        ("", "Secret") => &core_v1::CORE_SECRET,
        ("", "Service") => &core_v1::CORE_SERVICE,
        ("", "ServiceAccount") => &core_v1::CORE_SERVICE_ACCOUNT,
        ("admissionregistration.k8s.io", "MutatingWebhookConfiguration") => {
            &others::ADMISSION_MUTATING_WEBHOOK_CONFIGURATION
        }
        ("admissionregistration.k8s.io", "ValidatingAdmissionPolicy") => {
            &others::ADMISSION_VALIDATING_ADMISSION_POLICY
        }
        ("admissionregistration.k8s.io", "ValidatingAdmissionPolicyBinding") => {
            &others::ADMISSION_VALIDATING_ADMISSION_POLICY_BINDING
        }
        ("admissionregistration.k8s.io", "ValidatingWebhookConfiguration") => {
            &others::ADMISSION_VALIDATING_WEBHOOK_CONFIGURATION
        }
        ("apiextensions.k8s.io", "CustomResourceDefinition") => {
            &others::APIEXT_CUSTOM_RESOURCE_DEFINITION
        }
        ("apps", "ControllerRevision") => &workloads::APPS_CONTROLLER_REVISION,
        ("apps", "DaemonSet") => &workloads::APPS_DAEMON_SET,
        ("apps", "Deployment") => &workloads::APPS_DEPLOYMENT,
        ("apps", "ReplicaSet") => &workloads::APPS_REPLICA_SET,
        ("apps", "StatefulSet") => &workloads::APPS_STATEFUL_SET,
        ("autoscaling", "HorizontalPodAutoscaler") => {
            &workloads::AUTOSCALING_HORIZONTAL_POD_AUTOSCALER
        }
        ("batch", "CronJob") => &workloads::BATCH_CRON_JOB,
        ("batch", "Job") => &workloads::BATCH_JOB,
        ("certificates.k8s.io", "CertificateSigningRequest") => {
            &others::CERTIFICATES_CERTIFICATE_SIGNING_REQUEST
        }
        ("coordination.k8s.io", "Lease") => &others::COORDINATION_LEASE,
        ("discovery.k8s.io", "EndpointSlice") => &others::DISCOVERY_ENDPOINT_SLICE,
        ("events.k8s.io", "Event") => &others::EVENTS_EVENT,
        ("networking.k8s.io", "Ingress") => &others::NETWORKING_INGRESS,
        ("networking.k8s.io", "IngressClass") => &others::NETWORKING_INGRESS_CLASS,
        ("networking.k8s.io", "NetworkPolicy") => &others::NETWORKING_NETWORK_POLICY,
        ("node.k8s.io", "RuntimeClass") => &others::NODE_RUNTIME_CLASS,
        ("policy", "PodDisruptionBudget") => &workloads::POLICY_POD_DISRUPTION_BUDGET,
        ("rbac.authorization.k8s.io", "ClusterRole") => &others::RBAC_CLUSTER_ROLE,
        ("rbac.authorization.k8s.io", "ClusterRoleBinding") => &others::RBAC_CLUSTER_ROLE_BINDING,
        ("rbac.authorization.k8s.io", "Role") => &others::RBAC_ROLE,
        ("rbac.authorization.k8s.io", "RoleBinding") => &others::RBAC_ROLE_BINDING,
        ("scheduling.k8s.io", "PriorityClass") => &others::SCHEDULING_PRIORITY_CLASS,
        ("storage.k8s.io", "CSIDriver") => &others::STORAGE_CSI_DRIVER,
        ("storage.k8s.io", "CSINode") => &others::STORAGE_CSI_NODE,
        ("storage.k8s.io", "CSIStorageCapacity") => &others::STORAGE_CSI_STORAGE_CAPACITY,
        ("storage.k8s.io", "StorageClass") => &others::STORAGE_STORAGE_CLASS,
        ("storage.k8s.io", "VolumeAttachment") => &others::STORAGE_VOLUME_ATTACHMENT,
        // Both autoscaling versions share the v2 table: v1 has nothing to merge.
        _ => return None,
    })
}

const EMPTY: TypeDef = TypeDef { fields: &[] };
const ATOMIC: Shape = Shape::Atomic { replace: false };
const REPLACE: Shape = Shape::Atomic { replace: true };

const fn f(name: &'static str, shape: Shape) -> Field {
    Field {
        name,
        shape,
        zero: false,
    }
}

impl Field {
    const fn zero(mut self) -> Field {
        self.zero = true;
        self
    }
}

const fn list(kind: ListKind, elem: Elem, merge_key: Option<&'static str>) -> Shape {
    Shape::List(List {
        kind,
        elem,
        merge_key,
    })
}

const fn key(name: &'static str) -> Key {
    Key {
        name,
        default: None,
    }
}

const fn key_or(name: &'static str, default: &'static str) -> Key {
    Key {
        name,
        default: Some(default),
    }
}
