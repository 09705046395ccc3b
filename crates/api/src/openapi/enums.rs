//! The enum values upstream's documents give for `+enum` fields, which the
//! `k8s-openapi` types leave out: `enum` on the property and the values
//! described at the end of its description, which is what `kubectl
//! explain` prints (`enum: Recreate, RollingUpdate`).

use serde_json::{Map, Value};

type Values = &'static [(&'static str, &'static str)];

const PULL_POLICY: Values = &[
    ("Always", "means that kubelet always attempts to pull the latest image. Container will fail If the pull fails."),
    ("IfNotPresent", "means that kubelet pulls if the image isn't present on disk. Container will fail if the image isn't present and the pull fails."),
    ("Never", "means that kubelet never pulls an image, but only uses a local image. Container will fail if the image isn't present"),
];

const TERMINATION_MESSAGE_POLICY: Values = &[
    ("FallbackToLogsOnError", "will read the most recent contents of the container logs for the container status message when the container exits with an error and the terminationMessagePath has no contents."),
    ("File", "is the default behavior and will set the container status message to the contents of the container's terminationMessagePath when the container exits."),
];

/// Schema, property and values, in upstream's order.
const ENUMS: &[(&str, &str, Values)] = &[
    (
        "io.k8s.api.apps.v1.DeploymentStrategy",
        "type",
        &[
            ("Recreate", "Kill all existing pods before creating new ones."),
            ("RollingUpdate", "Replace the old ReplicaSets by new one using rolling update i.e gradually scale down the old ReplicaSets and scale up the new one."),
        ],
    ),
    ("io.k8s.api.core.v1.Container", "imagePullPolicy", PULL_POLICY),
    (
        "io.k8s.api.core.v1.Container",
        "terminationMessagePolicy",
        TERMINATION_MESSAGE_POLICY,
    ),
    ("io.k8s.api.core.v1.EphemeralContainer", "imagePullPolicy", PULL_POLICY),
    (
        "io.k8s.api.core.v1.EphemeralContainer",
        "terminationMessagePolicy",
        TERMINATION_MESSAGE_POLICY,
    ),
];

pub(super) fn annotate(schemas: &mut Map<String, Value>) {
    for (schema, property, values) in ENUMS {
        let Some(Value::Object(prop)) = schemas
            .get_mut(*schema)
            .and_then(|s| s.get_mut("properties"))
            .and_then(|p| p.get_mut(*property))
        else {
            continue;
        };
        let mut description = prop
            .get("description")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        description.push_str("\n\nPossible enum values:");
        for (value, meaning) in *values {
            description.push_str(&format!("\n - `\"{value}\"` {meaning}"));
        }
        prop.insert("description".into(), description.into());
        let names: Vec<Value> = values.iter().map(|(v, _)| (*v).into()).collect();
        prop.insert("enum".into(), names.into());
    }
}
