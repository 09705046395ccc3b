use super::*;
use crate::resource::resolve;
use serde_json::json;

fn parse_for(resource: &str, text: &str) -> Result<Selector, String> {
    Selector::parse_for(resolve(resource).unwrap(), text).map_err(|e| e.0)
}

#[test]
fn parses_and_prints() {
    let selector = Selector::parse("b==2,a=1,c!=3").unwrap();
    assert_eq!(selector.to_string(), "a=1,b=2,c!=3");
    assert!(Selector::parse("").unwrap().is_empty());
    assert!(Selector::parse("=").unwrap().is_empty());
    assert_eq!(
        Selector::parse("a=x\\,y").unwrap().requirements()[0].value,
        "x,y"
    );
    assert_eq!(Selector::parse("a=x\\,y").unwrap().to_string(), "a=x\\,y");
    assert_eq!(Selector::parse("a=").unwrap().requirements()[0].value, "");
    assert_eq!(
        Selector::parse("a").unwrap_err().0,
        "invalid selector: 'a'; can't understand 'a'"
    );
    assert_eq!(
        Selector::parse("a=b=c").unwrap_err().0,
        "invalid field selector: unescaped character in value: 61"
    );
    assert_eq!(
        Selector::parse("a=b\\x").unwrap_err().0,
        "invalid field selector: invalid escape sequence: \\x"
    );
    assert_eq!(
        Selector::parse("a=b\\").unwrap_err().0,
        "invalid field selector: invalid escape sequence: \\"
    );
}

#[test]
fn checks_labels_per_kind() {
    assert!(parse_for("pods", "spec.nodeName=n1,status.phase!=Running").is_ok());
    assert_eq!(
        parse_for("pods", "spec.host=n1").unwrap().requirements()[0].field,
        "spec.nodeName"
    );
    assert_eq!(
        parse_for("pods", "foo=bar").unwrap_err(),
        "field label not supported: foo"
    );
    assert_eq!(
        parse_for("nodes", "metadata.namespace=x").unwrap_err(),
        "field label not supported: metadata.namespace"
    );
    assert_eq!(
        parse_for("jobs", "foo=1").unwrap_err(),
        "field label \"foo\" not supported for Job"
    );
    assert_eq!(
        parse_for("deployments", "status.replicas=1").unwrap_err(),
        "\"status.replicas\" is not a known field selector: only \"metadata.name\", \"metadata.namespace\""
    );
    assert!(parse_for("configmaps", "metadata.name=a,metadata.namespace=b").is_ok());
    assert!(parse_for("secrets", "type=Opaque").is_ok());
    assert!(parse_for("services", "spec.type=ClusterIP,spec.clusterIP=None").is_ok());
    assert!(parse_for("csr", "spec.signerName=x").is_ok());
    assert_eq!(
        parse_for("events.events.k8s.io", "regarding.name=web")
            .unwrap()
            .to_string(),
        "involvedObject.name=web"
    );
    assert!(parse_for("events.events.k8s.io", "involvedObject.name=web").is_err());
}

#[test]
fn pods_offer_upstreams_fields() {
    let pods = resolve("pods").unwrap();
    let pod = json!({
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {"nodeName": "n1", "restartPolicy": "Always", "schedulerName": "default-scheduler",
                 "serviceAccountName": "default"},
        "status": {"phase": "Running", "podIP": "10.0.0.1", "podIPs": [{"ip": "10.0.0.1"}]},
    });
    let fields = fields_for(pods, &pod);
    let get = |name: &str| {
        fields
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    };
    assert_eq!(get("metadata.namespace"), Some("default"));
    assert_eq!(get("spec.hostNetwork"), Some("false"));
    assert_eq!(get("status.podIP"), Some("10.0.0.1"));
    assert_eq!(get("status.nominatedNodeName"), Some(""));
    let matches = |text: &str| {
        Selector::parse_for(pods, text)
            .unwrap()
            .matches_object(pods, &pod)
    };
    assert!(matches("spec.nodeName=n1"));
    assert!(matches("spec.host=n1,status.phase=Running"));
    assert!(!matches("status.phase!=Running"));
    assert!(matches("spec.hostNetwork=false"));
    assert!(matches("status.nominatedNodeName="));
    // Accepted, but never offered: matches only the empty value.
    assert!(!matches("status.podIPs=10.0.0.1"));
    assert!(matches("status.podIPs="));
}

#[test]
fn other_kinds_offer_upstreams_fields() {
    let event = json!({
        "metadata": {"name": "e", "namespace": "default"},
        "involvedObject": {"kind": "Pod", "name": "web"},
        "reason": "Started", "type": "Normal", "reportingComponent": "kubelet",
    });
    let events = resolve("events").unwrap();
    let fields = fields_for(events, &event);
    assert!(fields.contains(&("involvedObject.kind".into(), "Pod".into())));
    assert!(fields.contains(&("source".into(), "kubelet".into())));
    let new_event = json!({
        "metadata": {"name": "e", "namespace": "default"},
        "regarding": {"kind": "Pod", "name": "web"},
        "reportingController": "kubelet", "deprecatedSource": {"component": "x"},
    });
    let new_events = resolve("events.events.k8s.io").unwrap();
    let selector =
        Selector::parse_for(new_events, "regarding.name=web,reportingController=kubelet").unwrap();
    assert!(selector.matches_object(new_events, &new_event));
    assert!(fields_for(new_events, &new_event).contains(&("source".into(), "x".into())));

    let node = json!({"metadata": {"name": "n1"}, "spec": {"unschedulable": true}});
    let nodes = resolve("nodes").unwrap();
    assert_eq!(
        fields_for(nodes, &node),
        [
            ("metadata.name".to_string(), "n1".to_string()),
            ("spec.unschedulable".to_string(), "true".to_string())
        ]
    );
    let job = json!({"metadata": {"name": "j", "namespace": "a"}, "status": {}});
    let jobs = resolve("jobs").unwrap();
    assert!(fields_for(jobs, &job).contains(&("status.successful".into(), "0".into())));
    let rc = json!({"metadata": {"name": "r", "namespace": "a"}, "status": {"replicas": 3}});
    let rcs = resolve("rc").unwrap();
    assert!(Selector::parse_for(rcs, "status.replicas=3")
        .unwrap()
        .matches_object(rcs, &rc));
    let ns = json!({"metadata": {"name": "default"}, "status": {"phase": "Active"}});
    let namespaces = resolve("ns").unwrap();
    assert!(Selector::parse_for(namespaces, "status.phase=Active")
        .unwrap()
        .matches_object(namespaces, &ns));
    let secret = json!({"metadata": {"name": "s", "namespace": "a"}, "type": "Opaque"});
    assert!(fields_for(resolve("secrets").unwrap(), &secret)
        .contains(&("type".into(), "Opaque".into())));
}

#[test]
fn exact_match() {
    let selector = Selector::parse("spec.nodeName=n1,status.phase!=Failed").unwrap();
    assert_eq!(selector.requires_exact_match("spec.nodeName"), Some("n1"));
    assert_eq!(selector.requires_exact_match("status.phase"), None);
}
