//! Every schema the documents name: generated from the `k8s-openapi` types
//! (which carry upstream's names and descriptions), plus the list types and
//! the Kubernetes extensions that k8s-openapi leaves out.

use k8s_openapi::api;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1 as apiextensions;
use k8s_openapi::apimachinery::pkg::apis::meta::v1 as meta;
use k8s_openapi::{ListableResource, Resource};
use schemars::generate::{SchemaGenerator, SchemaSettings};
use schemars::JsonSchema;
use serde_json::{json, Map, Value};

pub(super) const REF_PREFIX: &str = "#/components/schemas/";

pub(super) const DELETE_OPTIONS: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions";
pub(super) const STATUS: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.Status";
pub(super) const PATCH: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.Patch";
pub(super) const WATCH_EVENT: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.WatchEvent";
pub(super) const API_RESOURCE_LIST: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.APIResourceList";
const LIST_META: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.ListMeta";
const INT_OR_STRING: &str = "io.k8s.apimachinery.pkg.util.intstr.IntOrString";
const QUANTITY: &str = "io.k8s.apimachinery.pkg.api.resource.Quantity";
const JSON: &str = "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.JSON";

/// A kind with a schema of its own, and the schema of its list if it has one.
pub(super) struct Kind {
    pub group: &'static str,
    pub version: &'static str,
    pub kind: &'static str,
    pub schema: String,
    pub list: Option<String>,
}

impl Kind {
    pub fn gvk(&self) -> Value {
        gvk(self.group, self.version, self.kind)
    }
}

pub(super) fn gvk(group: &str, version: &str, kind: &str) -> Value {
    json!({"group": group, "version": version, "kind": kind})
}

/// All schemas by upstream name, with their extensions, and the kinds.
pub(super) struct Catalog {
    pub schemas: Map<String, Value>,
    pub kinds: Vec<Kind>,
}

impl Catalog {
    pub fn kind(&self, group: &str, version: &str, kind: &str) -> Option<&Kind> {
        self.kinds
            .iter()
            .find(|k| k.group == group && k.version == version && k.kind == kind)
    }

    pub fn build() -> Catalog {
        let mut generator = SchemaSettings::openapi3().into_generator();
        let kinds = kinds(&mut generator);
        // Bodies and responses every document refers to.
        generator.subschema_for::<meta::DeleteOptions>();
        generator.subschema_for::<meta::Status>();
        generator.subschema_for::<meta::Patch>();
        generator.subschema_for::<meta::WatchEvent<api::core::v1::Pod>>();
        generator.subschema_for::<meta::APIResourceList>();
        generator.subschema_for::<meta::ListMeta>();
        let mut schemas = generator.take_definitions(true);
        for kind in &kinds {
            if let Some(list) = &kind.list {
                schemas.insert(list.clone(), list_schema(kind));
            }
        }
        let mut catalog = Catalog { schemas, kinds };
        catalog.fix_scalars();
        catalog.add_gvks();
        super::extensions::annotate(&mut catalog);
        super::enums::annotate(&mut catalog.schemas);
        catalog
    }

    /// IntOrString, Quantity and CRD `JSON` values as upstream's v3
    /// documents describe them.
    fn fix_scalars(&mut self) {
        if let Some(Value::Object(s)) = self.schemas.get_mut(INT_OR_STRING) {
            s.insert("format".into(), "int-or-string".into());
            s.insert(
                "oneOf".into(),
                json!([{"type": "integer"}, {"type": "string"}]),
            );
            s.insert("x-kubernetes-int-or-string".into(), true.into());
        }
        if let Some(Value::Object(s)) = self.schemas.get_mut(QUANTITY) {
            s.remove("x-kubernetes-int-or-string");
            s.insert(
                "oneOf".into(),
                json!([{"type": "string"}, {"type": "number"}]),
            );
        }
        // Any JSON value, not only objects.
        if let Some(Value::Object(s)) = self.schemas.get_mut(JSON) {
            s.remove("type");
        }
    }

    /// `x-kubernetes-group-version-kind` on every top-level type: what
    /// `kubectl explain` and `kubectl apply` find a kind's schema by.
    fn add_gvks(&mut self) {
        let mut marks: Vec<(String, Vec<Value>)> = Vec::new();
        for k in &self.kinds {
            marks.push((k.schema.clone(), vec![k.gvk()]));
            if let Some(list) = &k.list {
                marks.push((
                    list.clone(),
                    vec![gvk(k.group, k.version, &format!("{}List", k.kind))],
                ));
            }
        }
        // Options and events are registered in every served group version.
        let mut versions = vec![("", "v1")];
        for g in crate::resource::groups() {
            versions.extend(g.versions.iter().map(|v| (g.name, *v)));
        }
        versions.sort();
        versions.dedup();
        for (name, kind) in [
            (DELETE_OPTIONS, "DeleteOptions"),
            (WATCH_EVENT, "WatchEvent"),
        ] {
            let all = versions.iter().map(|(g, v)| gvk(g, v, kind)).collect();
            marks.push((name.to_string(), all));
        }
        marks.push((STATUS.to_string(), vec![gvk("", "v1", "Status")]));
        marks.push((
            API_RESOURCE_LIST.to_string(),
            vec![gvk("", "v1", "APIResourceList")],
        ));
        for (name, gvks) in marks {
            if let Some(Value::Object(s)) = self.schemas.get_mut(&name) {
                s.insert("x-kubernetes-group-version-kind".into(), Value::Array(gvks));
            }
        }
    }
}

fn list_schema(kind: &Kind) -> Value {
    let api_version = "APIVersion defines the versioned schema of this representation of an object. Servers should convert recognized schemas to the latest internal value, and may reject unrecognized values. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#resources";
    let kind_text = "Kind is a string value representing the REST resource this object represents. Servers may infer this from the endpoint the client submits requests to. Cannot be updated. In CamelCase. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds";
    json!({
        "description": format!("{}List is a list of {} objects.", kind.kind, kind.kind),
        "type": "object",
        "properties": {
            "apiVersion": {"description": api_version, "type": "string"},
            "items": {
                "description": format!("Items is the list of {} objects.", kind.kind),
                "type": "array",
                "items": {"$ref": format!("{REF_PREFIX}{}", kind.schema)},
            },
            "kind": {"description": kind_text, "type": "string"},
            "metadata": {
                "description": "Standard list metadata. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds",
                "allOf": [{"$ref": format!("{REF_PREFIX}{LIST_META}")}],
            },
        },
        "required": ["items"],
    })
}

fn listed<T: ListableResource + JsonSchema>(generator: &mut SchemaGenerator) -> Kind {
    let mut kind = single::<T>(generator);
    kind.list = Some(format!("{}List", kind.schema));
    kind
}

fn single<T: Resource + JsonSchema>(generator: &mut SchemaGenerator) -> Kind {
    generator.subschema_for::<T>();
    Kind {
        group: T::GROUP,
        version: T::VERSION,
        kind: T::KIND,
        schema: T::schema_name().into_owned(),
        list: None,
    }
}

macro_rules! kinds {
    ($generator:ident; listed: $($listed:ty),*; single: $($single:ty),* $(;)?) => {
        vec![$(listed::<$listed>($generator)),*, $(single::<$single>($generator)),*]
    };
}

/// The kinds with schemas: every row of the resource table (a test checks
/// that), the kinds of subresources, and a few kinds the merge tables
/// already know of.
fn kinds(g: &mut SchemaGenerator) -> Vec<Kind> {
    use api::{
        admissionregistration::v1 as admission, apps::v1 as apps, autoscaling, batch::v1 as batch,
        certificates::v1 as certificates, coordination::v1 as coordination, core::v1 as core,
        discovery::v1 as discovery, events::v1 as events, networking::v1 as networking,
        node::v1 as node, policy::v1 as policy, rbac::v1 as rbac, scheduling::v1 as scheduling,
        storage::v1 as storage,
    };
    kinds![g;
        listed:
            core::Namespace, core::Pod, core::Service, core::Endpoints, core::ConfigMap,
            core::Secret, core::ServiceAccount, core::Node, core::Event,
            core::ReplicationController, core::LimitRange, core::ResourceQuota,
            core::PersistentVolume, core::PersistentVolumeClaim, core::PodTemplate,
            apps::Deployment, apps::ReplicaSet, apps::DaemonSet, apps::StatefulSet,
            apps::ControllerRevision, events::Event, autoscaling::v1::HorizontalPodAutoscaler,
            autoscaling::v2::HorizontalPodAutoscaler, batch::Job, batch::CronJob,
            certificates::CertificateSigningRequest, networking::Ingress, networking::IngressClass,
            networking::NetworkPolicy, policy::PodDisruptionBudget, rbac::ClusterRoleBinding,
            rbac::ClusterRole, rbac::RoleBinding, rbac::Role, storage::CSIDriver, storage::CSINode,
            storage::StorageClass, storage::VolumeAttachment, storage::CSIStorageCapacity,
            admission::MutatingWebhookConfiguration, admission::ValidatingWebhookConfiguration,
            admission::ValidatingAdmissionPolicy, admission::ValidatingAdmissionPolicyBinding,
            apiextensions::CustomResourceDefinition, scheduling::PriorityClass,
            coordination::Lease, discovery::EndpointSlice, node::RuntimeClass;
        single:
            autoscaling::v1::Scale, core::Binding, policy::Eviction,
            api::authentication::v1::TokenRequest;
    ]
}

/// The schema name a `$ref` (or a one-element `allOf` wrapping one) points
/// to.
pub(super) fn ref_name(schema: &Value) -> Option<&str> {
    ref_of(schema.as_object()?)
}

pub(super) fn ref_of(schema: &Map<String, Value>) -> Option<&str> {
    let reference = match schema.get("$ref") {
        Some(r) => r,
        None => schema.get("allOf")?.get(0)?.get("$ref")?,
    };
    reference.as_str()?.strip_prefix(REF_PREFIX)
}
