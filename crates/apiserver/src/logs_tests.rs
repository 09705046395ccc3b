use serde_json::json;

use super::*;

fn options(query: &str) -> Result<LogOptions, ApiError> {
    LogOptions::from_query("web", &Query::parse(Some(query)))
}

#[test]
fn options_are_validated_as_upstream() {
    let parsed = options("container=app&follow=true&tailLines=2&sinceSeconds=10").unwrap();
    assert_eq!(parsed.container.as_deref(), Some("app"));
    assert!(parsed.follow && !parsed.previous);
    assert_eq!(
        parsed.node_query(),
        "follow=true&sinceSeconds=10&tailLines=2"
    );
    let since = options("sinceTime=2024-01-01T10:00:00Z&timestamps=true&limitBytes=5").unwrap();
    assert_eq!(
        since.node_query(),
        "limitBytes=5&sinceTime=2024-01-01T10%3A00%3A00Z&timestamps=true"
    );
    assert_eq!(options("").unwrap().node_query(), "");

    let invalid = options("tailLines=-1").unwrap_err();
    assert_eq!((invalid.code, invalid.reason), (422, "Invalid"));
    assert_eq!(
        invalid.message,
        r#"PodLogOptions "web" is invalid: tailLines: Invalid value: -1: must be greater than or equal to 0"#
    );
    assert_eq!(
        options("limitBytes=0").unwrap_err().message,
        r#"PodLogOptions "web" is invalid: limitBytes: Invalid value: 0: must be greater than 0"#
    );
    assert_eq!(
        options("sinceSeconds=0").unwrap_err().message,
        r#"PodLogOptions "web" is invalid: sinceSeconds: Invalid value: 0: must be greater than 0"#
    );
    assert_eq!(
        options("sinceSeconds=5&sinceTime=2024-01-01T10:00:00Z")
            .unwrap_err()
            .message,
        r#"PodLogOptions "web" is invalid: : Forbidden: at most one of `sinceTime` or `sinceSeconds` may be specified"#
    );
    assert_eq!(options("tailLines=x").unwrap_err().code, 400);
    assert_eq!(options("follow=perhaps").unwrap_err().code, 400);
    assert_eq!(options("sinceTime=yesterday").unwrap_err().code, 400);
}

fn pod(spec: serde_json::Value) -> Pod {
    serde_json::from_value(json!({"metadata": {"name": "web"}, "spec": spec})).unwrap()
}

#[test]
fn the_container_is_the_one_asked_for_or_the_only_one() {
    let one = pod(json!({"containers": [{"name": "app"}]}));
    assert_eq!(choose_container(&one, "web", None).unwrap(), "app");
    assert_eq!(choose_container(&one, "web", Some("app")).unwrap(), "app");
    let wrong = choose_container(&one, "web", Some("db")).unwrap_err();
    assert_eq!((wrong.code, wrong.reason), (400, "BadRequest"));
    assert_eq!(wrong.message, "container db is not valid for pod web");

    let two = pod(json!({
        "initContainers": [{"name": "setup"}],
        "containers": [{"name": "a"}, {"name": "b"}],
    }));
    let error = choose_container(&two, "web", None).unwrap_err();
    assert_eq!((error.code, error.reason), (400, "BadRequest"));
    assert_eq!(
        error.message,
        "a container name must be specified for pod web, choose one of: [a b] or one of the init containers: [setup]"
    );
    assert_eq!(
        choose_container(&two, "web", Some("setup")).unwrap(),
        "setup"
    );
}

#[test]
fn nodes_are_reached_at_their_address_and_kubelet_port() {
    let node: Node = serde_json::from_value(json!({
        "metadata": {"name": "n"},
        "status": {
            "addresses": [
                {"type": "Hostname", "address": "n"},
                {"type": "InternalIP", "address": "192.0.2.7"},
            ],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10255}},
        },
    }))
    .unwrap();
    assert_eq!(node_location(&node).unwrap(), ("192.0.2.7".into(), 10255));
    let bare: Node = serde_json::from_value(json!({
        "metadata": {"name": "n"},
        "status": {"addresses": [{"type": "Hostname", "address": "n"}]},
    }))
    .unwrap();
    assert_eq!(node_location(&bare).unwrap(), ("n".into(), 10250));
    let nowhere: Node = serde_json::from_value(json!({"metadata": {"name": "n"}})).unwrap();
    assert!(node_location(&nowhere)
        .unwrap_err()
        .message
        .contains("no preferred addresses found"));
}

#[test]
fn node_errors_read_as_upstream() {
    let waiting = r#"container "app" in pod "web" is waiting to start: ContainerCreating"#;
    let error = node_error(400, waiting, "web");
    assert_eq!((error.code, error.reason), (400, "BadRequest"));
    assert_eq!(error.message, waiting);
    let missing = node_error(404, r#"pod "web" does not exist"#, "web");
    assert_eq!((missing.code, missing.reason), (404, "NotFound"));
    assert_eq!(
        missing.message,
        "the server could not find the requested resource ( pods/log web)"
    );
    let broken = node_error(500, "boom", "web");
    assert_eq!(broken.message, "Internal error occurred: boom");
    assert_eq!(node_error(401, "Unauthorized", "web").code, 401);
}
