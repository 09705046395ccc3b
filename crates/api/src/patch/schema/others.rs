//! Merge strategies of The types of the remaining built-in groups.

use super::*;

pub(crate) static ADMISSION_MUTATING_WEBHOOK: TypeDef = TypeDef {
    fields: &[
        f("namespaceSelector", ATOMIC),
        f("objectSelector", ATOMIC),
        f(
            "matchConditions",
            list(ListKind::Map(&[key("name")]), Elem::Deduced, Some("name")),
        ),
    ],
};

pub(crate) static ADMISSION_MUTATING_WEBHOOK_CONFIGURATION: TypeDef = TypeDef {
    fields: &[
        f("metadata", Shape::Struct(&super::meta::META_OBJECT_META)).zero(),
        f(
            "webhooks",
            list(
                ListKind::Map(&[key("name")]),
                Elem::Struct(&ADMISSION_MUTATING_WEBHOOK),
                Some("name"),
            ),
        ),
    ],
};

pub(crate) static ADMISSION_VALIDATING_ADMISSION_POLICY: TypeDef = TypeDef {
    fields: &[
        f("metadata", Shape::Struct(&super::meta::META_OBJECT_META)).zero(),
        f(
            "spec",
            Shape::Struct(&ADMISSION_VALIDATING_ADMISSION_POLICY_SPEC),
        )
        .zero(),
        f(
            "status",
            Shape::Struct(&ADMISSION_VALIDATING_ADMISSION_POLICY_STATUS),
        )
        .zero(),
    ],
};

pub(crate) static ADMISSION_VALIDATING_ADMISSION_POLICY_BINDING: TypeDef = TypeDef {
    fields: &[
        f("metadata", Shape::Struct(&super::meta::META_OBJECT_META)).zero(),
        f(
            "spec",
            Shape::Struct(&ADMISSION_VALIDATING_ADMISSION_POLICY_BINDING_SPEC),
        )
        .zero(),
    ],
};

pub(crate) static ADMISSION_VALIDATING_ADMISSION_POLICY_BINDING_SPEC: TypeDef = TypeDef {
    fields: &[
        f("paramRef", ATOMIC),
        f("matchResources", ATOMIC),
        f(
            "validationActions",
            list(ListKind::Set, Elem::Deduced, None),
        ),
    ],
};

pub(crate) static ADMISSION_VALIDATING_ADMISSION_POLICY_SPEC: TypeDef = TypeDef {
    fields: &[
        f("paramKind", ATOMIC),
        f("matchConstraints", ATOMIC),
        f(
            "matchConditions",
            list(ListKind::Map(&[key("name")]), Elem::Deduced, Some("name")),
        ),
        f(
            "variables",
            list(ListKind::Map(&[key("name")]), Elem::Atomic, Some("name")),
        ),
    ],
};

pub(crate) static ADMISSION_VALIDATING_ADMISSION_POLICY_STATUS: TypeDef = TypeDef {
    fields: &[f(
        "conditions",
        list(ListKind::Map(&[key("type")]), Elem::Deduced, None),
    )],
};

pub(crate) static ADMISSION_VALIDATING_WEBHOOK: TypeDef = TypeDef {
    fields: &[
        f("namespaceSelector", ATOMIC),
        f("objectSelector", ATOMIC),
        f(
            "matchConditions",
            list(ListKind::Map(&[key("name")]), Elem::Deduced, Some("name")),
        ),
    ],
};

pub(crate) static ADMISSION_VALIDATING_WEBHOOK_CONFIGURATION: TypeDef = TypeDef {
    fields: &[
        f("metadata", Shape::Struct(&super::meta::META_OBJECT_META)).zero(),
        f(
            "webhooks",
            list(
                ListKind::Map(&[key("name")]),
                Elem::Struct(&ADMISSION_VALIDATING_WEBHOOK),
                Some("name"),
            ),
        ),
    ],
};

pub(crate) static APIEXT_CUSTOM_RESOURCE_DEFINITION: TypeDef = TypeDef {
    fields: &[
        f("metadata", Shape::Struct(&super::meta::META_OBJECT_META)).zero(),
        f(
            "spec",
            Shape::Struct(&APIEXT_CUSTOM_RESOURCE_DEFINITION_SPEC),
        )
        .zero(),
        f(
            "status",
            Shape::Struct(&APIEXT_CUSTOM_RESOURCE_DEFINITION_STATUS),
        )
        .zero(),
    ],
};

pub(crate) static APIEXT_CUSTOM_RESOURCE_DEFINITION_SPEC: TypeDef = TypeDef {
    fields: &[
        f("names", Shape::Struct(&EMPTY)).zero(),
        f("versions", ATOMIC).zero(),
    ],
};

pub(crate) static APIEXT_CUSTOM_RESOURCE_DEFINITION_STATUS: TypeDef = TypeDef {
    fields: &[
        f(
            "conditions",
            list(ListKind::Map(&[key("type")]), Elem::Deduced, None),
        )
        .zero(),
        f("acceptedNames", Shape::Struct(&EMPTY)).zero(),
        f("storedVersions", ATOMIC).zero(),
    ],
};

pub(crate) static CERTIFICATES_CERTIFICATE_SIGNING_REQUEST: TypeDef = TypeDef {
    fields: &[
        f("metadata", Shape::Struct(&super::meta::META_OBJECT_META)).zero(),
        f("spec", Shape::Struct(&EMPTY)).zero(),
        f(
            "status",
            Shape::Struct(&CERTIFICATES_CERTIFICATE_SIGNING_REQUEST_STATUS),
        )
        .zero(),
    ],
};

pub(crate) static CERTIFICATES_CERTIFICATE_SIGNING_REQUEST_STATUS: TypeDef = TypeDef {
    fields: &[f(
        "conditions",
        list(ListKind::Map(&[key("type")]), Elem::Deduced, None),
    )],
};

pub(crate) static COORDINATION_LEASE: TypeDef = TypeDef {
    fields: &[
        f("metadata", Shape::Struct(&super::meta::META_OBJECT_META)).zero(),
        f("spec", Shape::Struct(&EMPTY)).zero(),
    ],
};

pub(crate) static DISCOVERY_ENDPOINT_SLICE: TypeDef = TypeDef {
    fields: &[
        f("metadata", Shape::Struct(&super::meta::META_OBJECT_META)).zero(),
        f("endpoints", ATOMIC).zero(),
        f("ports", ATOMIC).zero(),
    ],
};

pub(crate) static EVENTS_EVENT: TypeDef = TypeDef {
    fields: &[
        f("metadata", Shape::Struct(&super::meta::META_OBJECT_META)).zero(),
        f("regarding", ATOMIC).zero(),
        f("related", ATOMIC),
        f("deprecatedSource", Shape::Struct(&EMPTY)).zero(),
    ],
};

pub(crate) static NETWORKING_INGRESS: TypeDef = TypeDef {
    fields: &[
        f("metadata", Shape::Struct(&super::meta::META_OBJECT_META)).zero(),
        f("spec", Shape::Struct(&NETWORKING_INGRESS_SPEC)).zero(),
        f("status", Shape::Struct(&NETWORKING_INGRESS_STATUS)).zero(),
    ],
};

pub(crate) static NETWORKING_INGRESS_BACKEND: TypeDef = TypeDef {
    fields: &[
        f(
            "service",
            Shape::Struct(&NETWORKING_INGRESS_SERVICE_BACKEND),
        ),
        f("resource", ATOMIC),
    ],
};

pub(crate) static NETWORKING_INGRESS_CLASS: TypeDef = TypeDef {
    fields: &[
        f("metadata", Shape::Struct(&super::meta::META_OBJECT_META)).zero(),
        f("spec", Shape::Struct(&EMPTY)).zero(),
    ],
};

pub(crate) static NETWORKING_INGRESS_SERVICE_BACKEND: TypeDef = TypeDef {
    fields: &[f("port", ATOMIC)],
};

pub(crate) static NETWORKING_INGRESS_SPEC: TypeDef = TypeDef {
    fields: &[f(
        "defaultBackend",
        Shape::Struct(&NETWORKING_INGRESS_BACKEND),
    )],
};

pub(crate) static NETWORKING_INGRESS_STATUS: TypeDef = TypeDef {
    fields: &[f("loadBalancer", Shape::Struct(&EMPTY)).zero()],
};

pub(crate) static NETWORKING_NETWORK_POLICY: TypeDef = TypeDef {
    fields: &[
        f("metadata", Shape::Struct(&super::meta::META_OBJECT_META)).zero(),
        f("spec", Shape::Struct(&NETWORKING_NETWORK_POLICY_SPEC)).zero(),
    ],
};

pub(crate) static NETWORKING_NETWORK_POLICY_SPEC: TypeDef = TypeDef {
    fields: &[f("podSelector", ATOMIC).zero()],
};

pub(crate) static NODE_RUNTIME_CLASS: TypeDef = TypeDef {
    fields: &[
        f("metadata", Shape::Struct(&super::meta::META_OBJECT_META)).zero(),
        f("scheduling", Shape::Struct(&NODE_SCHEDULING)),
    ],
};

pub(crate) static NODE_SCHEDULING: TypeDef = TypeDef {
    fields: &[f("nodeSelector", ATOMIC)],
};

pub(crate) static RBAC_CLUSTER_ROLE: TypeDef = TypeDef {
    fields: &[
        f("metadata", Shape::Struct(&super::meta::META_OBJECT_META)).zero(),
        f("rules", ATOMIC).zero(),
    ],
};

pub(crate) static RBAC_CLUSTER_ROLE_BINDING: TypeDef = TypeDef {
    fields: &[
        f("metadata", Shape::Struct(&super::meta::META_OBJECT_META)).zero(),
        f("roleRef", ATOMIC).zero(),
    ],
};

pub(crate) static RBAC_ROLE: TypeDef = TypeDef {
    fields: &[
        f("metadata", Shape::Struct(&super::meta::META_OBJECT_META)).zero(),
        f("rules", ATOMIC).zero(),
    ],
};

pub(crate) static RBAC_ROLE_BINDING: TypeDef = TypeDef {
    fields: &[
        f("metadata", Shape::Struct(&super::meta::META_OBJECT_META)).zero(),
        f("roleRef", ATOMIC).zero(),
    ],
};

pub(crate) static SCHEDULING_PRIORITY_CLASS: TypeDef = TypeDef {
    fields: &[f("metadata", Shape::Struct(&super::meta::META_OBJECT_META)).zero()],
};

pub(crate) static STORAGE_CSI_DRIVER: TypeDef = TypeDef {
    fields: &[
        f("metadata", Shape::Struct(&super::meta::META_OBJECT_META)).zero(),
        f("spec", Shape::Struct(&STORAGE_CSI_DRIVER_SPEC)).zero(),
    ],
};

pub(crate) static STORAGE_CSI_DRIVER_SPEC: TypeDef = TypeDef {
    fields: &[f(
        "volumeLifecycleModes",
        list(ListKind::Set, Elem::Deduced, None),
    )],
};

pub(crate) static STORAGE_CSI_NODE: TypeDef = TypeDef {
    fields: &[
        f("metadata", Shape::Struct(&super::meta::META_OBJECT_META)).zero(),
        f("spec", Shape::Struct(&STORAGE_CSI_NODE_SPEC)).zero(),
    ],
};

pub(crate) static STORAGE_CSI_NODE_SPEC: TypeDef = TypeDef {
    fields: &[f(
        "drivers",
        list(ListKind::Map(&[key("name")]), Elem::Deduced, Some("name")),
    )
    .zero()],
};

pub(crate) static STORAGE_CSI_STORAGE_CAPACITY: TypeDef = TypeDef {
    fields: &[
        f("metadata", Shape::Struct(&super::meta::META_OBJECT_META)).zero(),
        f("nodeTopology", ATOMIC),
    ],
};

pub(crate) static STORAGE_STORAGE_CLASS: TypeDef = TypeDef {
    fields: &[f("metadata", Shape::Struct(&super::meta::META_OBJECT_META)).zero()],
};

pub(crate) static STORAGE_VOLUME_ATTACHMENT: TypeDef = TypeDef {
    fields: &[
        f("metadata", Shape::Struct(&super::meta::META_OBJECT_META)).zero(),
        f("spec", Shape::Struct(&STORAGE_VOLUME_ATTACHMENT_SPEC)).zero(),
        f("status", Shape::Struct(&EMPTY)).zero(),
    ],
};

pub(crate) static STORAGE_VOLUME_ATTACHMENT_SOURCE: TypeDef = TypeDef {
    fields: &[f(
        "inlineVolumeSpec",
        Shape::Struct(&super::core_v1::CORE_PERSISTENT_VOLUME_SPEC),
    )],
};

pub(crate) static STORAGE_VOLUME_ATTACHMENT_SPEC: TypeDef = TypeDef {
    fields: &[f("source", Shape::Struct(&STORAGE_VOLUME_ATTACHMENT_SOURCE)).zero()],
};
