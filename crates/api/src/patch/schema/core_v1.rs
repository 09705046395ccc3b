//! Merge strategies of core/v1 types.

use super::*;

pub(crate) static CORE_AFFINITY: TypeDef = TypeDef {
    fields: &[f("nodeAffinity", Shape::Struct(&CORE_NODE_AFFINITY))],
};

pub(crate) static CORE_CSI_PERSISTENT_VOLUME_SOURCE: TypeDef = TypeDef {
    fields: &[
        f("controllerPublishSecretRef", ATOMIC),
        f("nodeStageSecretRef", ATOMIC),
        f("nodePublishSecretRef", ATOMIC),
        f("controllerExpandSecretRef", ATOMIC),
        f("nodeExpandSecretRef", ATOMIC),
    ],
};

pub(crate) static CORE_CSI_VOLUME_SOURCE: TypeDef = TypeDef {
    fields: &[f("nodePublishSecretRef", ATOMIC)],
};

pub(crate) static CORE_CEPH_FS_PERSISTENT_VOLUME_SOURCE: TypeDef = TypeDef {
    fields: &[f("secretRef", ATOMIC)],
};

pub(crate) static CORE_CEPH_FS_VOLUME_SOURCE: TypeDef = TypeDef {
    fields: &[f("secretRef", ATOMIC)],
};

pub(crate) static CORE_CINDER_PERSISTENT_VOLUME_SOURCE: TypeDef = TypeDef {
    fields: &[f("secretRef", ATOMIC)],
};

pub(crate) static CORE_CINDER_VOLUME_SOURCE: TypeDef = TypeDef {
    fields: &[f("secretRef", ATOMIC)],
};

pub(crate) static CORE_CONFIG_MAP: TypeDef = TypeDef {
    fields: &[f("metadata", Shape::Struct(&super::meta::META_OBJECT_META)).zero()],
};

pub(crate) static CORE_CONTAINER: TypeDef = TypeDef {
    fields: &[
        f(
            "ports",
            list(
                ListKind::Map(&[key("containerPort"), key_or("protocol", "TCP")]),
                Elem::Deduced,
                Some("containerPort"),
            ),
        ),
        f(
            "env",
            list(
                ListKind::Map(&[key("name")]),
                Elem::Struct(&CORE_ENV_VAR),
                Some("name"),
            ),
        ),
        f("resources", Shape::Struct(&CORE_RESOURCE_REQUIREMENTS)),
        f(
            "volumeMounts",
            list(
                ListKind::Map(&[key("mountPath")]),
                Elem::Deduced,
                Some("mountPath"),
            ),
        ),
        f(
            "volumeDevices",
            list(
                ListKind::Map(&[key("devicePath")]),
                Elem::Deduced,
                Some("devicePath"),
            ),
        ),
    ],
};

pub(crate) static CORE_ENDPOINTS: TypeDef = TypeDef {
    fields: &[f("metadata", Shape::Struct(&super::meta::META_OBJECT_META)).zero()],
};

pub(crate) static CORE_ENV_VAR: TypeDef = TypeDef {
    fields: &[f("valueFrom", Shape::Struct(&CORE_ENV_VAR_SOURCE))],
};

pub(crate) static CORE_ENV_VAR_SOURCE: TypeDef = TypeDef {
    fields: &[
        f("fieldRef", ATOMIC),
        f("resourceFieldRef", ATOMIC),
        f("configMapKeyRef", ATOMIC),
        f("secretKeyRef", ATOMIC),
    ],
};

pub(crate) static CORE_EPHEMERAL_CONTAINER: TypeDef = TypeDef {
    fields: &[
        f(
            "ports",
            list(
                ListKind::Map(&[key("containerPort"), key_or("protocol", "TCP")]),
                Elem::Deduced,
                Some("containerPort"),
            ),
        ),
        f(
            "env",
            list(
                ListKind::Map(&[key("name")]),
                Elem::Struct(&CORE_ENV_VAR),
                Some("name"),
            ),
        ),
        f("resources", Shape::Struct(&CORE_RESOURCE_REQUIREMENTS)),
        f(
            "volumeMounts",
            list(
                ListKind::Map(&[key("mountPath")]),
                Elem::Deduced,
                Some("mountPath"),
            ),
        ),
        f(
            "volumeDevices",
            list(
                ListKind::Map(&[key("devicePath")]),
                Elem::Deduced,
                Some("devicePath"),
            ),
        ),
    ],
};

pub(crate) static CORE_EPHEMERAL_VOLUME_SOURCE: TypeDef = TypeDef {
    fields: &[f(
        "volumeClaimTemplate",
        Shape::Struct(&CORE_PERSISTENT_VOLUME_CLAIM_TEMPLATE),
    )],
};

pub(crate) static CORE_EVENT: TypeDef = TypeDef {
    fields: &[
        f("metadata", Shape::Struct(&super::meta::META_OBJECT_META)).zero(),
        f("involvedObject", ATOMIC).zero(),
        f("source", Shape::Struct(&EMPTY)).zero(),
        f("related", ATOMIC),
    ],
};

pub(crate) static CORE_FLEX_PERSISTENT_VOLUME_SOURCE: TypeDef = TypeDef {
    fields: &[f("secretRef", ATOMIC)],
};

pub(crate) static CORE_FLEX_VOLUME_SOURCE: TypeDef = TypeDef {
    fields: &[f("secretRef", ATOMIC)],
};

pub(crate) static CORE_ISCSI_PERSISTENT_VOLUME_SOURCE: TypeDef = TypeDef {
    fields: &[f("secretRef", ATOMIC)],
};

pub(crate) static CORE_ISCSI_VOLUME_SOURCE: TypeDef = TypeDef {
    fields: &[f("secretRef", ATOMIC)],
};

pub(crate) static CORE_LIMIT_RANGE: TypeDef = TypeDef {
    fields: &[
        f("metadata", Shape::Struct(&super::meta::META_OBJECT_META)).zero(),
        f("spec", Shape::Struct(&CORE_LIMIT_RANGE_SPEC)).zero(),
    ],
};

pub(crate) static CORE_LIMIT_RANGE_SPEC: TypeDef = TypeDef {
    fields: &[f("limits", ATOMIC).zero()],
};

pub(crate) static CORE_NAMESPACE: TypeDef = TypeDef {
    fields: &[
        f("metadata", Shape::Struct(&super::meta::META_OBJECT_META)).zero(),
        f("spec", Shape::Struct(&EMPTY)).zero(),
        f("status", Shape::Struct(&CORE_NAMESPACE_STATUS)).zero(),
    ],
};

pub(crate) static CORE_NAMESPACE_STATUS: TypeDef = TypeDef {
    fields: &[f(
        "conditions",
        list(ListKind::Map(&[key("type")]), Elem::Deduced, Some("type")),
    )],
};

pub(crate) static CORE_NODE: TypeDef = TypeDef {
    fields: &[
        f("metadata", Shape::Struct(&super::meta::META_OBJECT_META)).zero(),
        f("spec", Shape::Struct(&CORE_NODE_SPEC)).zero(),
        f("status", Shape::Struct(&CORE_NODE_STATUS)).zero(),
    ],
};

pub(crate) static CORE_NODE_AFFINITY: TypeDef = TypeDef {
    fields: &[f("requiredDuringSchedulingIgnoredDuringExecution", ATOMIC)],
};

pub(crate) static CORE_NODE_DAEMON_ENDPOINTS: TypeDef = TypeDef {
    fields: &[f("kubeletEndpoint", Shape::Struct(&EMPTY)).zero()],
};

pub(crate) static CORE_NODE_SPEC: TypeDef = TypeDef {
    fields: &[f("podCIDRs", list(ListKind::Set, Elem::Deduced, Some("")))],
};

pub(crate) static CORE_NODE_STATUS: TypeDef = TypeDef {
    fields: &[
        f(
            "conditions",
            list(ListKind::Map(&[key("type")]), Elem::Deduced, Some("type")),
        ),
        f(
            "addresses",
            list(ListKind::Map(&[key("type")]), Elem::Deduced, Some("type")),
        ),
        f(
            "daemonEndpoints",
            Shape::Struct(&CORE_NODE_DAEMON_ENDPOINTS),
        )
        .zero(),
        f("nodeInfo", Shape::Struct(&EMPTY)).zero(),
    ],
};

pub(crate) static CORE_PERSISTENT_VOLUME: TypeDef = TypeDef {
    fields: &[
        f("metadata", Shape::Struct(&super::meta::META_OBJECT_META)).zero(),
        f("spec", Shape::Struct(&CORE_PERSISTENT_VOLUME_SPEC)).zero(),
        f("status", Shape::Struct(&EMPTY)).zero(),
    ],
};

pub(crate) static CORE_PERSISTENT_VOLUME_CLAIM: TypeDef = TypeDef {
    fields: &[
        f("metadata", Shape::Struct(&super::meta::META_OBJECT_META)).zero(),
        f("spec", Shape::Struct(&CORE_PERSISTENT_VOLUME_CLAIM_SPEC)).zero(),
        f(
            "status",
            Shape::Struct(&CORE_PERSISTENT_VOLUME_CLAIM_STATUS),
        )
        .zero(),
    ],
};

pub(crate) static CORE_PERSISTENT_VOLUME_CLAIM_SPEC: TypeDef = TypeDef {
    fields: &[
        f("selector", ATOMIC),
        f("resources", Shape::Struct(&EMPTY)).zero(),
        f("dataSource", ATOMIC),
    ],
};

pub(crate) static CORE_PERSISTENT_VOLUME_CLAIM_STATUS: TypeDef = TypeDef {
    fields: &[f(
        "conditions",
        list(ListKind::Map(&[key("type")]), Elem::Deduced, Some("type")),
    )],
};

pub(crate) static CORE_PERSISTENT_VOLUME_CLAIM_TEMPLATE: TypeDef = TypeDef {
    fields: &[
        f("metadata", Shape::Struct(&super::meta::META_OBJECT_META)),
        f("spec", Shape::Struct(&CORE_PERSISTENT_VOLUME_CLAIM_SPEC)),
    ],
};

pub(crate) static CORE_PERSISTENT_VOLUME_SPEC: TypeDef = TypeDef {
    fields: &[
        f("rbd", Shape::Struct(&CORE_RBD_PERSISTENT_VOLUME_SOURCE)),
        f("iscsi", Shape::Struct(&CORE_ISCSI_PERSISTENT_VOLUME_SOURCE)),
        f(
            "cinder",
            Shape::Struct(&CORE_CINDER_PERSISTENT_VOLUME_SOURCE),
        ),
        f(
            "cephfs",
            Shape::Struct(&CORE_CEPH_FS_PERSISTENT_VOLUME_SOURCE),
        ),
        f(
            "flexVolume",
            Shape::Struct(&CORE_FLEX_PERSISTENT_VOLUME_SOURCE),
        ),
        f(
            "scaleIO",
            Shape::Struct(&CORE_SCALE_IO_PERSISTENT_VOLUME_SOURCE),
        ),
        f(
            "storageos",
            Shape::Struct(&CORE_STORAGE_OS_PERSISTENT_VOLUME_SOURCE),
        ),
        f("csi", Shape::Struct(&CORE_CSI_PERSISTENT_VOLUME_SOURCE)),
        f("nodeAffinity", Shape::Struct(&CORE_VOLUME_NODE_AFFINITY)),
    ],
};

pub(crate) static CORE_POD: TypeDef = TypeDef {
    fields: &[
        f("metadata", Shape::Struct(&super::meta::META_OBJECT_META)).zero(),
        f("spec", Shape::Struct(&CORE_POD_SPEC)).zero(),
        f("status", Shape::Struct(&CORE_POD_STATUS)).zero(),
    ],
};

pub(crate) static CORE_POD_SPEC: TypeDef = TypeDef {
    fields: &[
        f(
            "volumes",
            list(
                ListKind::Map(&[key("name")]),
                Elem::Struct(&CORE_VOLUME),
                Some("name"),
            ),
        ),
        f(
            "initContainers",
            list(
                ListKind::Map(&[key("name")]),
                Elem::Struct(&CORE_CONTAINER),
                Some("name"),
            ),
        ),
        f(
            "containers",
            list(
                ListKind::Map(&[key("name")]),
                Elem::Struct(&CORE_CONTAINER),
                Some("name"),
            ),
        )
        .zero(),
        f(
            "ephemeralContainers",
            list(
                ListKind::Map(&[key("name")]),
                Elem::Struct(&CORE_EPHEMERAL_CONTAINER),
                Some("name"),
            ),
        ),
        f("nodeSelector", ATOMIC),
        f(
            "imagePullSecrets",
            list(
                ListKind::Map(&[key_or("name", "")]),
                Elem::Atomic,
                Some("name"),
            ),
        ),
        f("affinity", Shape::Struct(&CORE_AFFINITY)),
        f(
            "hostAliases",
            list(ListKind::Map(&[key("ip")]), Elem::Deduced, Some("ip")),
        ),
        f(
            "topologySpreadConstraints",
            list(
                ListKind::Map(&[key("topologyKey"), key("whenUnsatisfiable")]),
                Elem::Struct(&CORE_TOPOLOGY_SPREAD_CONSTRAINT),
                Some("topologyKey"),
            ),
        ),
        f(
            "schedulingGates",
            list(ListKind::Map(&[key("name")]), Elem::Deduced, Some("name")),
        ),
        f(
            "resourceClaims",
            list(ListKind::Map(&[key("name")]), Elem::Deduced, Some("name")),
        ),
        f("resources", Shape::Struct(&CORE_RESOURCE_REQUIREMENTS)),
    ],
};

pub(crate) static CORE_POD_STATUS: TypeDef = TypeDef {
    fields: &[
        f(
            "conditions",
            list(ListKind::Map(&[key("type")]), Elem::Deduced, Some("type")),
        ),
        f("hostIPs", list(ListKind::Atomic, Elem::Deduced, Some("ip"))),
        f(
            "podIPs",
            list(ListKind::Map(&[key("ip")]), Elem::Deduced, Some("ip")),
        ),
        f(
            "resourceClaimStatuses",
            list(ListKind::Map(&[key("name")]), Elem::Deduced, Some("name")),
        ),
    ],
};

pub(crate) static CORE_POD_TEMPLATE: TypeDef = TypeDef {
    fields: &[
        f("metadata", Shape::Struct(&super::meta::META_OBJECT_META)).zero(),
        f("template", Shape::Struct(&CORE_POD_TEMPLATE_SPEC)).zero(),
    ],
};

pub(crate) static CORE_POD_TEMPLATE_SPEC: TypeDef = TypeDef {
    fields: &[
        f("metadata", Shape::Struct(&super::meta::META_OBJECT_META)).zero(),
        f("spec", Shape::Struct(&CORE_POD_SPEC)).zero(),
    ],
};

pub(crate) static CORE_RBD_PERSISTENT_VOLUME_SOURCE: TypeDef = TypeDef {
    fields: &[f("secretRef", ATOMIC)],
};

pub(crate) static CORE_RBD_VOLUME_SOURCE: TypeDef = TypeDef {
    fields: &[f("secretRef", ATOMIC)],
};

pub(crate) static CORE_REPLICATION_CONTROLLER: TypeDef = TypeDef {
    fields: &[
        f("metadata", Shape::Struct(&super::meta::META_OBJECT_META)).zero(),
        f("spec", Shape::Struct(&CORE_REPLICATION_CONTROLLER_SPEC)).zero(),
        f("status", Shape::Struct(&CORE_REPLICATION_CONTROLLER_STATUS)).zero(),
    ],
};

pub(crate) static CORE_REPLICATION_CONTROLLER_SPEC: TypeDef = TypeDef {
    fields: &[
        f("selector", ATOMIC),
        f("template", Shape::Struct(&CORE_POD_TEMPLATE_SPEC)),
    ],
};

pub(crate) static CORE_REPLICATION_CONTROLLER_STATUS: TypeDef = TypeDef {
    fields: &[f(
        "conditions",
        list(ListKind::Map(&[key("type")]), Elem::Deduced, Some("type")),
    )],
};

pub(crate) static CORE_RESOURCE_QUOTA: TypeDef = TypeDef {
    fields: &[
        f("metadata", Shape::Struct(&super::meta::META_OBJECT_META)).zero(),
        f("spec", Shape::Struct(&CORE_RESOURCE_QUOTA_SPEC)).zero(),
        f("status", Shape::Struct(&EMPTY)).zero(),
    ],
};

pub(crate) static CORE_RESOURCE_QUOTA_SPEC: TypeDef = TypeDef {
    fields: &[f("scopeSelector", ATOMIC)],
};

pub(crate) static CORE_RESOURCE_REQUIREMENTS: TypeDef = TypeDef {
    fields: &[f(
        "claims",
        list(ListKind::Map(&[key("name")]), Elem::Deduced, None),
    )],
};

pub(crate) static CORE_SCALE_IO_PERSISTENT_VOLUME_SOURCE: TypeDef = TypeDef {
    fields: &[f("secretRef", ATOMIC)],
};

pub(crate) static CORE_SCALE_IO_VOLUME_SOURCE: TypeDef = TypeDef {
    fields: &[f("secretRef", ATOMIC)],
};

pub(crate) static CORE_SECRET: TypeDef = TypeDef {
    fields: &[f("metadata", Shape::Struct(&super::meta::META_OBJECT_META)).zero()],
};

pub(crate) static CORE_SERVICE: TypeDef = TypeDef {
    fields: &[
        f("metadata", Shape::Struct(&super::meta::META_OBJECT_META)).zero(),
        f("spec", Shape::Struct(&CORE_SERVICE_SPEC)).zero(),
        f("status", Shape::Struct(&CORE_SERVICE_STATUS)).zero(),
    ],
};

pub(crate) static CORE_SERVICE_ACCOUNT: TypeDef = TypeDef {
    fields: &[
        f("metadata", Shape::Struct(&super::meta::META_OBJECT_META)).zero(),
        f(
            "secrets",
            list(ListKind::Map(&[key("name")]), Elem::Atomic, Some("name")),
        ),
    ],
};

pub(crate) static CORE_SERVICE_SPEC: TypeDef = TypeDef {
    fields: &[
        f(
            "ports",
            list(
                ListKind::Map(&[key("port"), key_or("protocol", "TCP")]),
                Elem::Deduced,
                Some("port"),
            ),
        ),
        f("selector", ATOMIC),
    ],
};

pub(crate) static CORE_SERVICE_STATUS: TypeDef = TypeDef {
    fields: &[
        f("loadBalancer", Shape::Struct(&EMPTY)).zero(),
        f(
            "conditions",
            list(ListKind::Map(&[key("type")]), Elem::Deduced, Some("type")),
        ),
    ],
};

pub(crate) static CORE_STORAGE_OS_PERSISTENT_VOLUME_SOURCE: TypeDef = TypeDef {
    fields: &[f("secretRef", ATOMIC)],
};

pub(crate) static CORE_STORAGE_OS_VOLUME_SOURCE: TypeDef = TypeDef {
    fields: &[f("secretRef", ATOMIC)],
};

pub(crate) static CORE_TOPOLOGY_SPREAD_CONSTRAINT: TypeDef = TypeDef {
    fields: &[f("labelSelector", ATOMIC)],
};

pub(crate) static CORE_VOLUME: TypeDef = TypeDef {
    fields: &[
        f("iscsi", Shape::Struct(&CORE_ISCSI_VOLUME_SOURCE)),
        f("rbd", Shape::Struct(&CORE_RBD_VOLUME_SOURCE)),
        f("flexVolume", Shape::Struct(&CORE_FLEX_VOLUME_SOURCE)),
        f("cinder", Shape::Struct(&CORE_CINDER_VOLUME_SOURCE)),
        f("cephfs", Shape::Struct(&CORE_CEPH_FS_VOLUME_SOURCE)),
        f("scaleIO", Shape::Struct(&CORE_SCALE_IO_VOLUME_SOURCE)),
        f("storageos", Shape::Struct(&CORE_STORAGE_OS_VOLUME_SOURCE)),
        f("csi", Shape::Struct(&CORE_CSI_VOLUME_SOURCE)),
        f("ephemeral", Shape::Struct(&CORE_EPHEMERAL_VOLUME_SOURCE)),
    ],
};

pub(crate) static CORE_VOLUME_NODE_AFFINITY: TypeDef = TypeDef {
    fields: &[f("required", ATOMIC)],
};
