use super::*;
use crate::resource::{resolve, RESOURCES};
use serde_json::json;

mod kinds;
mod pods;

const NOW: &str = "2024-06-01T12:00:00Z";

fn now() -> Timestamp {
    NOW.parse().unwrap()
}

/// `seconds` before NOW, as a timestamp string.
fn ago(seconds: i64) -> String {
    (now() - SignedDuration::from_secs(seconds)).to_string()
}

fn row(resource: &str, object: Value) -> Vec<Value> {
    cells(resolve(resource).unwrap(), &object, now())
}

fn names(resource: &str) -> Vec<&'static str> {
    columns(resolve(resource).unwrap())
        .iter()
        .map(|c| c.name)
        .collect()
}

#[test]
fn human_durations_match_upstream() {
    let cases: &[(i64, i64, &str)] = &[
        // (seconds, extra milliseconds, expected)
        (1, 0, "1s"),
        (70, 0, "70s"),
        (190, 0, "3m10s"),
        (70 * 60, 0, "70m"),
        (47 * 3600, 0, "47h"),
        (49 * 3600, 0, "2d1h"),
        ((8 * 24 + 2) * 3600, 0, "8d"),
        (367 * 24 * 3600, 0, "367d"),
        ((365 * 2 * 24 + 25) * 3600, 0, "2y1d"),
        ((365 * 8 * 24 + 2) * 3600, 0, "8y"),
        (-2, 0, "<invalid>"),
        (-2, 1, "0s"),
        (0, 0, "0s"),
        (1, -1, "0s"),
        (120, -1, "119s"),
        (120, 0, "2m"),
        (121, 0, "2m1s"),
        (600, -1, "9m59s"),
        (600, 0, "10m"),
        (601, 0, "10m"),
        (3 * 3600, -1, "179m"),
        (3 * 3600, 0, "3h"),
        (3 * 3600 + 60, 0, "3h1m"),
        (8 * 3600, -1, "7h59m"),
        (8 * 3600, 0, "8h"),
        (8 * 3600 + 59 * 60, 0, "8h"),
        (48 * 3600, -1, "47h"),
        (48 * 3600, 0, "2d"),
        (8 * 24 * 3600, -1, "7d23h"),
        (8 * 24 * 3600, 0, "8d"),
        (2 * 365 * 24 * 3600, -1, "729d"),
        (2 * 365 * 24 * 3600, 0, "2y"),
        (2 * 365 * 24 * 3600 + 24 * 3600, -1, "2y"),
        (2 * 365 * 24 * 3600 + 24 * 3600, 0, "2y1d"),
        (3 * 365 * 24 * 3600, 0, "3y"),
    ];
    for &(seconds, millis, want) in cases {
        let duration = SignedDuration::from_secs(seconds) + SignedDuration::from_millis(millis);
        assert_eq!(human_duration(duration), want, "{seconds}s {millis}ms");
    }
}

#[test]
fn every_resource_has_a_cell_per_column() {
    let rich = json!({
        "metadata": {
            "name": "x", "namespace": "default", "creationTimestamp": ago(30),
            "labels": {"app": "x"}, "annotations": {"a": "b"},
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "DaemonSet", "name": "d", "controller": true}],
        },
        "spec": {"selector": {"matchLabels": {"app": "x"}}, "template": {"spec": {"containers": [{"name": "c", "image": "i"}]}}},
        "status": {"conditions": [{"type": "Ready", "status": "True"}]},
    });
    for resource in RESOURCES {
        let columns = columns(resource);
        assert!(!columns.is_empty());
        assert_eq!(columns[0].priority, 0);
        for object in [json!({}), rich.clone()] {
            let cells = cells(resource, &object, now());
            assert_eq!(
                cells.len(),
                columns.len(),
                "{} {:?}",
                resource.api_version(),
                resource.plural
            );
        }
        let named = columns.iter().filter(|c| c.format == "name").count();
        assert!(named >= 1, "{}", resource.plural);
    }
}

#[test]
fn columns_serialise_as_table_column_definitions() {
    let pods = columns(resolve("pods").unwrap());
    let json = serde_json::to_value(pods[0]).unwrap();
    assert_eq!(json["name"], "Name");
    assert_eq!(json["type"], "string");
    assert_eq!(json["format"], "name");
    assert_eq!(json["priority"], 0);
    assert!(json["description"]
        .as_str()
        .unwrap()
        .starts_with("Name must be unique"));
    let ip = serde_json::to_value(pods[5]).unwrap();
    assert_eq!(
        ip,
        json!({"name": "IP", "type": "string", "format": "", "priority": 1,
        "description": ip["description"]})
    );
}

#[test]
fn column_names_are_upstreams() {
    assert_eq!(
        names("pods"),
        [
            "Name",
            "Ready",
            "Status",
            "Restarts",
            "Age",
            "IP",
            "Node",
            "Nominated Node",
            "Readiness Gates"
        ]
    );
    assert_eq!(
        names("deploy"),
        [
            "Name",
            "Ready",
            "Up-to-date",
            "Available",
            "Age",
            "Containers",
            "Images",
            "Selector"
        ]
    );
    assert_eq!(
        names("svc"),
        [
            "Name",
            "Type",
            "Cluster-IP",
            "External-IP",
            "Port(s)",
            "Age",
            "Selector"
        ]
    );
    assert_eq!(
        names("events"),
        [
            "Last Seen",
            "Type",
            "Reason",
            "Object",
            "Subobject",
            "Source",
            "Message",
            "First Seen",
            "Count",
            "Name"
        ]
    );
    assert_eq!(names("events.events.k8s.io"), names("events"));
    assert_eq!(names("cm"), ["Name", "Data", "Age"]);
    assert_eq!(names("secrets"), ["Name", "Type", "Data", "Age"]);
    assert_eq!(names("roles"), ["Name", "Created At"]);
    assert_eq!(names("clusterroles"), ["Name", "Created At"]);
    assert_eq!(names("limits"), ["Name", "Created At"]);
    assert_eq!(names("crd"), ["Name", "Created At"]);
    assert_eq!(
        names("jobs"),
        [
            "Name",
            "Status",
            "Completions",
            "Duration",
            "Age",
            "Containers",
            "Images",
            "Selector"
        ]
    );
    assert_eq!(
        names("cj"),
        [
            "Name",
            "Schedule",
            "Timezone",
            "Suspend",
            "Active",
            "Last Schedule",
            "Age",
            "Containers",
            "Images",
            "Selector"
        ]
    );
    assert_eq!(names("hpa"), names("hpa.v1.autoscaling"));
    let wide: Vec<&str> = columns(resolve("nodes").unwrap())
        .iter()
        .filter(|c| c.priority == 1)
        .map(|c| c.name)
        .collect();
    assert_eq!(
        wide,
        [
            "Internal-IP",
            "External-IP",
            "OS-Image",
            "Kernel-Version",
            "Container-Runtime"
        ]
    );
}

#[test]
fn default_printer_shows_creation_time() {
    let role = json!({"metadata": {"name": "r", "creationTimestamp": "2024-05-01T10:11:12.345Z"}});
    assert_eq!(
        row("roles", role),
        [json!("r"), json!("2024-05-01T10:11:12Z")]
    );
    assert_eq!(
        row("crd", json!({"metadata": {"name": "c"}}))[1],
        "0001-01-01T00:00:00Z"
    );
}

#[test]
fn age_is_unknown_without_a_creation_time() {
    assert_eq!(
        row("cm", json!({"metadata": {"name": "c"}}))[2],
        "<unknown>"
    );
    assert_eq!(
        row(
            "cm",
            json!({"metadata": {"name": "c", "creationTimestamp": ago(150)}})
        )[2],
        "2m30s"
    );
}
