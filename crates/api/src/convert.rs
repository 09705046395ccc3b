//! Conversion between the versions of a resource that share one storage,
//! as upstream's conversion functions: HorizontalPodAutoscalers are kept as
//! autoscaling/v2 and served as v1 too; Events are kept as core/v1 and
//! served as events.k8s.io/v1 too.

use serde_json::{json, Map, Value};

use crate::resource::Resource;

/// The group and version objects of `resource` are stored in.
pub fn storage_version(resource: &Resource) -> (&'static str, &'static str) {
    match (resource.group, resource.kind) {
        ("autoscaling", "HorizontalPodAutoscaler") => ("autoscaling", "v2"),
        ("events.k8s.io", "Event") => ("", "v1"),
        (group, _) => (group, resource.version),
    }
}

/// `object` as the given group and version; unchanged when it already is,
/// or when the pair has no conversion.
pub fn convert(object: Value, group: &str, version: &str) -> Value {
    let target = if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    };
    let source = object
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let kind = object
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    if source == target || source.is_empty() {
        return object;
    }
    match (kind.as_str(), source.as_str(), target.as_str()) {
        ("HorizontalPodAutoscaler", "autoscaling/v1", "autoscaling/v2") => hpa_v1_to_v2(object),
        ("HorizontalPodAutoscaler", "autoscaling/v2", "autoscaling/v1") => hpa_v2_to_v1(object),
        ("Event", "v1", "events.k8s.io/v1") => event_core_to_events(object),
        ("Event", "events.k8s.io/v1", "v1") => event_events_to_core(object),
        _ => object,
    }
}

fn take(map: &mut Map<String, Value>, field: &str) -> Option<Value> {
    map.remove(field)
}

/// Moves `from` in `source` to `to` in `target`, when present.
fn carry(source: &mut Map<String, Value>, from: &str, target: &mut Map<String, Value>, to: &str) {
    if let Some(value) = take(source, from) {
        target.insert(to.to_string(), value);
    }
}

fn hpa_v1_to_v2(mut object: Value) -> Value {
    object["apiVersion"] = "autoscaling/v2".into();
    if let Some(spec) = object.get_mut("spec").and_then(Value::as_object_mut) {
        if let Some(percent) = take(spec, "targetCPUUtilizationPercentage") {
            spec.insert(
                "metrics".into(),
                json!([{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": percent}}}]),
            );
        }
    }
    if let Some(status) = object.get_mut("status").and_then(Value::as_object_mut) {
        if let Some(percent) = take(status, "currentCPUUtilizationPercentage") {
            status.insert(
                "currentMetrics".into(),
                json!([{"type": "Resource", "resource": {"name": "cpu", "current": {"averageUtilization": percent}}}]),
            );
        }
    }
    object
}

/// The cpu utilization metric of a v2 metric list, what v1 can express.
fn cpu_utilization(metrics: &Value, value: &str) -> Option<Value> {
    metrics.as_array()?.iter().find_map(|metric| {
        let resource = metric.get("resource")?;
        (metric["type"] == "Resource" && resource["name"] == "cpu")
            .then(|| resource.get(value)?.get("averageUtilization").cloned())
            .flatten()
    })
}

fn hpa_v2_to_v1(mut object: Value) -> Value {
    object["apiVersion"] = "autoscaling/v1".into();
    if let Some(spec) = object.get_mut("spec").and_then(Value::as_object_mut) {
        let metrics = take(spec, "metrics").unwrap_or(Value::Null);
        spec.remove("behavior");
        if let Some(percent) = cpu_utilization(&metrics, "target") {
            spec.insert("targetCPUUtilizationPercentage".into(), percent);
        }
    }
    if let Some(status) = object.get_mut("status").and_then(Value::as_object_mut) {
        let metrics = take(status, "currentMetrics").unwrap_or(Value::Null);
        status.remove("conditions");
        if let Some(percent) = cpu_utilization(&metrics, "current") {
            status.insert("currentCPUUtilizationPercentage".into(), percent);
        }
    }
    object
}

/// Field names of core/v1 Events and their events.k8s.io/v1 names.
const EVENT_FIELDS: &[(&str, &str)] = &[
    ("involvedObject", "regarding"),
    ("message", "note"),
    ("reportingComponent", "reportingController"),
    ("source", "deprecatedSource"),
    ("firstTimestamp", "deprecatedFirstTimestamp"),
    ("lastTimestamp", "deprecatedLastTimestamp"),
    ("count", "deprecatedCount"),
];

/// Fields both versions name alike.
const EVENT_SHARED: &[&str] = &[
    "metadata",
    "reason",
    "type",
    "eventTime",
    "series",
    "action",
    "related",
    "reportingInstance",
];

fn rename_event(object: Value, api_version: &str, to_events: bool) -> Value {
    let Value::Object(mut source) = object else {
        return object;
    };
    let mut target = Map::new();
    target.insert("apiVersion".into(), api_version.into());
    target.insert("kind".into(), "Event".into());
    for field in EVENT_SHARED {
        carry(&mut source, field, &mut target, field);
    }
    for (core, events) in EVENT_FIELDS {
        let (from, to) = if to_events {
            (core, events)
        } else {
            (events, core)
        };
        carry(&mut source, from, &mut target, to);
    }
    Value::Object(target)
}

fn event_core_to_events(object: Value) -> Value {
    let mut converted = rename_event(object, "events.k8s.io/v1", true);
    // Upstream fills the v1 series' time in from the old count fields.
    if converted.get("eventTime").is_none_or(Value::is_null) {
        if let Some(first) = converted.get("deprecatedFirstTimestamp").cloned() {
            converted["eventTime"] = first;
        }
    }
    converted
}

fn event_events_to_core(object: Value) -> Value {
    rename_event(object, "v1", false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hpa_round_trips_the_cpu_target() {
        let v1 = json!({
            "apiVersion": "autoscaling/v1",
            "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": "web"},
            "spec": {"maxReplicas": 5, "targetCPUUtilizationPercentage": 70, "scaleTargetRef": {"kind": "Deployment", "name": "web"}},
        });
        let v2 = convert(v1.clone(), "autoscaling", "v2");
        assert_eq!(
            v2["spec"]["metrics"][0]["resource"]["target"]["averageUtilization"],
            70
        );
        assert!(v2["spec"].get("targetCPUUtilizationPercentage").is_none());
        assert_eq!(convert(v2, "autoscaling", "v1"), v1);
    }

    #[test]
    fn events_rename_their_fields_both_ways() {
        let core = json!({
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": "e", "namespace": "default"},
            "involvedObject": {"kind": "Pod", "name": "web"},
            "reason": "Started",
            "message": "Started container",
            "type": "Normal",
            "count": 2,
            "source": {"component": "kubelet"},
        });
        let events = convert(core.clone(), "events.k8s.io", "v1");
        assert_eq!(events["regarding"]["name"], "web");
        assert_eq!(events["note"], "Started container");
        assert_eq!(events["deprecatedCount"], 2);
        assert_eq!(convert(events, "", "v1"), core);
        // Other kinds and versions are left alone.
        let pod = json!({"apiVersion": "v1", "kind": "Pod"});
        assert_eq!(convert(pod.clone(), "apps", "v1"), pod);
    }
}
