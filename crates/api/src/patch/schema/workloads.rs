//! Merge strategies of apps/v1, batch/v1, autoscaling/v2 and policy/v1 types.

use super::*;

pub(crate) static APPS_CONTROLLER_REVISION: TypeDef = TypeDef {
    fields: &[f("metadata", Shape::Struct(&super::meta::META_OBJECT_META)).zero()],
};

pub(crate) static APPS_DAEMON_SET: TypeDef = TypeDef {
    fields: &[
        f("metadata", Shape::Struct(&super::meta::META_OBJECT_META)).zero(),
        f("spec", Shape::Struct(&APPS_DAEMON_SET_SPEC)).zero(),
        f("status", Shape::Struct(&APPS_DAEMON_SET_STATUS)).zero(),
    ],
};

pub(crate) static APPS_DAEMON_SET_SPEC: TypeDef = TypeDef {
    fields: &[
        f("selector", ATOMIC),
        f(
            "template",
            Shape::Struct(&super::core_v1::CORE_POD_TEMPLATE_SPEC),
        )
        .zero(),
        f("updateStrategy", Shape::Struct(&EMPTY)).zero(),
    ],
};

pub(crate) static APPS_DAEMON_SET_STATUS: TypeDef = TypeDef {
    fields: &[f(
        "conditions",
        list(ListKind::Map(&[key("type")]), Elem::Deduced, Some("type")),
    )],
};

pub(crate) static APPS_DEPLOYMENT: TypeDef = TypeDef {
    fields: &[
        f("metadata", Shape::Struct(&super::meta::META_OBJECT_META)).zero(),
        f("spec", Shape::Struct(&APPS_DEPLOYMENT_SPEC)).zero(),
        f("status", Shape::Struct(&APPS_DEPLOYMENT_STATUS)).zero(),
    ],
};

pub(crate) static APPS_DEPLOYMENT_SPEC: TypeDef = TypeDef {
    fields: &[
        f("selector", ATOMIC),
        f(
            "template",
            Shape::Struct(&super::core_v1::CORE_POD_TEMPLATE_SPEC),
        )
        .zero(),
        f("strategy", Shape::Struct(&EMPTY)).zero(),
    ],
};

pub(crate) static APPS_DEPLOYMENT_STATUS: TypeDef = TypeDef {
    fields: &[f(
        "conditions",
        list(ListKind::Map(&[key("type")]), Elem::Deduced, Some("type")),
    )],
};

pub(crate) static APPS_REPLICA_SET: TypeDef = TypeDef {
    fields: &[
        f("metadata", Shape::Struct(&super::meta::META_OBJECT_META)).zero(),
        f("spec", Shape::Struct(&APPS_REPLICA_SET_SPEC)).zero(),
        f("status", Shape::Struct(&APPS_REPLICA_SET_STATUS)).zero(),
    ],
};

pub(crate) static APPS_REPLICA_SET_SPEC: TypeDef = TypeDef {
    fields: &[
        f("selector", ATOMIC),
        f(
            "template",
            Shape::Struct(&super::core_v1::CORE_POD_TEMPLATE_SPEC),
        )
        .zero(),
    ],
};

pub(crate) static APPS_REPLICA_SET_STATUS: TypeDef = TypeDef {
    fields: &[f(
        "conditions",
        list(ListKind::Map(&[key("type")]), Elem::Deduced, Some("type")),
    )],
};

pub(crate) static APPS_STATEFUL_SET: TypeDef = TypeDef {
    fields: &[
        f("metadata", Shape::Struct(&super::meta::META_OBJECT_META)).zero(),
        f("spec", Shape::Struct(&APPS_STATEFUL_SET_SPEC)).zero(),
        f("status", Shape::Struct(&APPS_STATEFUL_SET_STATUS)).zero(),
    ],
};

pub(crate) static APPS_STATEFUL_SET_SPEC: TypeDef = TypeDef {
    fields: &[
        f("selector", ATOMIC),
        f(
            "template",
            Shape::Struct(&super::core_v1::CORE_POD_TEMPLATE_SPEC),
        )
        .zero(),
        f("updateStrategy", Shape::Struct(&EMPTY)).zero(),
    ],
};

pub(crate) static APPS_STATEFUL_SET_STATUS: TypeDef = TypeDef {
    fields: &[f(
        "conditions",
        list(ListKind::Map(&[key("type")]), Elem::Deduced, Some("type")),
    )],
};

pub(crate) static AUTOSCALING_HORIZONTAL_POD_AUTOSCALER: TypeDef = TypeDef {
    fields: &[
        f("metadata", Shape::Struct(&super::meta::META_OBJECT_META)).zero(),
        f(
            "spec",
            Shape::Struct(&AUTOSCALING_HORIZONTAL_POD_AUTOSCALER_SPEC),
        )
        .zero(),
        f(
            "status",
            Shape::Struct(&AUTOSCALING_HORIZONTAL_POD_AUTOSCALER_STATUS),
        )
        .zero(),
    ],
};

pub(crate) static AUTOSCALING_HORIZONTAL_POD_AUTOSCALER_SPEC: TypeDef = TypeDef {
    fields: &[f("scaleTargetRef", Shape::Struct(&EMPTY)).zero()],
};

pub(crate) static AUTOSCALING_HORIZONTAL_POD_AUTOSCALER_STATUS: TypeDef = TypeDef {
    fields: &[
        f("currentMetrics", ATOMIC).zero(),
        f(
            "conditions",
            list(ListKind::Map(&[key("type")]), Elem::Deduced, Some("type")),
        ),
    ],
};

pub(crate) static BATCH_CRON_JOB: TypeDef = TypeDef {
    fields: &[
        f("metadata", Shape::Struct(&super::meta::META_OBJECT_META)).zero(),
        f("spec", Shape::Struct(&BATCH_CRON_JOB_SPEC)).zero(),
        f("status", Shape::Struct(&EMPTY)).zero(),
    ],
};

pub(crate) static BATCH_CRON_JOB_SPEC: TypeDef = TypeDef {
    fields: &[f("jobTemplate", Shape::Struct(&BATCH_JOB_TEMPLATE_SPEC)).zero()],
};

pub(crate) static BATCH_JOB: TypeDef = TypeDef {
    fields: &[
        f("metadata", Shape::Struct(&super::meta::META_OBJECT_META)).zero(),
        f("spec", Shape::Struct(&BATCH_JOB_SPEC)).zero(),
        f("status", Shape::Struct(&BATCH_JOB_STATUS)).zero(),
    ],
};

pub(crate) static BATCH_JOB_SPEC: TypeDef = TypeDef {
    fields: &[
        f("selector", ATOMIC),
        f(
            "template",
            Shape::Struct(&super::core_v1::CORE_POD_TEMPLATE_SPEC),
        )
        .zero(),
    ],
};

pub(crate) static BATCH_JOB_STATUS: TypeDef = TypeDef {
    fields: &[
        f(
            "conditions",
            list(ListKind::Atomic, Elem::Deduced, Some("type")),
        ),
        f(
            "uncountedTerminatedPods",
            Shape::Struct(&BATCH_UNCOUNTED_TERMINATED_PODS),
        ),
    ],
};

pub(crate) static BATCH_JOB_TEMPLATE_SPEC: TypeDef = TypeDef {
    fields: &[
        f("metadata", Shape::Struct(&super::meta::META_OBJECT_META)).zero(),
        f("spec", Shape::Struct(&BATCH_JOB_SPEC)).zero(),
    ],
};

pub(crate) static BATCH_UNCOUNTED_TERMINATED_PODS: TypeDef = TypeDef {
    fields: &[
        f("succeeded", list(ListKind::Set, Elem::Deduced, None)),
        f("failed", list(ListKind::Set, Elem::Deduced, None)),
    ],
};

pub(crate) static POLICY_POD_DISRUPTION_BUDGET: TypeDef = TypeDef {
    fields: &[
        f("metadata", Shape::Struct(&super::meta::META_OBJECT_META)).zero(),
        f("spec", Shape::Struct(&POLICY_POD_DISRUPTION_BUDGET_SPEC)).zero(),
        f(
            "status",
            Shape::Struct(&POLICY_POD_DISRUPTION_BUDGET_STATUS),
        )
        .zero(),
    ],
};

pub(crate) static POLICY_POD_DISRUPTION_BUDGET_SPEC: TypeDef = TypeDef {
    fields: &[f("selector", REPLACE)],
};

pub(crate) static POLICY_POD_DISRUPTION_BUDGET_STATUS: TypeDef = TypeDef {
    fields: &[f(
        "conditions",
        list(ListKind::Map(&[key("type")]), Elem::Deduced, Some("type")),
    )],
};
