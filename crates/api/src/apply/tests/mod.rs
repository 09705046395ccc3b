mod apply;
mod conflicts;
mod fieldpath;
mod record;

use serde_json::{json, Value};

const NOW: &str = "2024-05-01T10:00:00Z";
const LATER: &str = "2024-05-01T11:00:00Z";

/// The managedFields entry of `manager`.
fn entry<'a>(object: &'a Value, manager: &str) -> Option<&'a Value> {
    object["metadata"]["managedFields"]
        .as_array()?
        .iter()
        .find(|e| e["manager"] == manager)
}

/// The fieldsV1 of `manager`, `null` when it has no entry.
fn fields(object: &Value, manager: &str) -> Value {
    entry(object, manager).map_or(Value::Null, |e| e["fieldsV1"].clone())
}

fn managers(object: &Value) -> Vec<String> {
    object["metadata"]["managedFields"]
        .as_array()
        .map(|entries| {
            entries
                .iter()
                .map(|e| e["manager"].as_str().unwrap().to_string())
                .collect()
        })
        .unwrap_or_default()
}

/// A Deployment as `kubectl apply` sends it, before defaulting.
fn deployment(image: &str, replicas: i64) -> Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "nginx", "namespace": "default", "labels": {"app": "nginx"}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "nginx"}},
            "template": {
                "metadata": {"labels": {"app": "nginx"}},
                "spec": {"containers": [{"name": "nginx", "image": image, "ports": [{"containerPort": 80}]}]}
            }
        }
    })
}

/// The same Deployment as the API server stores it: defaulted, with an
/// identity and a status.
fn stored(mut object: Value) -> Value {
    let spec = object["spec"].as_object_mut().unwrap();
    spec.insert("revisionHistoryLimit".into(), json!(10));
    spec.insert("progressDeadlineSeconds".into(), json!(600));
    spec.insert(
        "strategy".into(),
        json!({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}}),
    );
    let pod = object["spec"]["template"]["spec"].as_object_mut().unwrap();
    pod.insert("restartPolicy".into(), json!("Always"));
    pod.insert("terminationGracePeriodSeconds".into(), json!(30));
    pod.insert("dnsPolicy".into(), json!("ClusterFirst"));
    pod.insert("securityContext".into(), json!({}));
    pod.insert("schedulerName".into(), json!("default-scheduler"));
    for container in pod["containers"].as_array_mut().unwrap() {
        let container = container.as_object_mut().unwrap();
        container.insert("resources".into(), json!({}));
        container.insert(
            "terminationMessagePath".into(),
            json!("/dev/termination-log"),
        );
        container.insert("terminationMessagePolicy".into(), json!("File"));
        container.insert("imagePullPolicy".into(), json!("IfNotPresent"));
        if let Some(ports) = container.get_mut("ports") {
            for port in ports.as_array_mut().unwrap() {
                port.as_object_mut()
                    .unwrap()
                    .entry("protocol")
                    .or_insert(json!("TCP"));
            }
        }
    }
    let metadata = object["metadata"].as_object_mut().unwrap();
    metadata.insert("uid".into(), json!("6f1c"));
    metadata.insert("resourceVersion".into(), json!("1"));
    metadata.insert("generation".into(), json!(1));
    metadata.insert("creationTimestamp".into(), json!(NOW));
    object["status"] =
        json!({"replicas": 1, "conditions": [{"type": "Available", "status": "True"}]});
    object
}
