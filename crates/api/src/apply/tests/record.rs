//! Ownership recorded by ordinary writes.

use serde_json::{json, Value};

use super::{deployment, entry, fields, managers, stored, LATER, NOW};
use crate::apply::record_update;

const CSA: &str = "kubectl-client-side-apply";

fn create(manager: &str, mut object: Value) -> Value {
    record_update("apps", "Deployment", None, &mut object, manager, None, NOW);
    object
}

fn update(old: &Value, mut new: Value, manager: &str, subresource: Option<&str>) -> Value {
    record_update(
        "apps",
        "Deployment",
        Some(old),
        &mut new,
        manager,
        subresource,
        LATER,
    );
    new
}

#[test]
fn a_create_owns_what_it_set_as_upstream_records_it() {
    let mut object = stored(deployment("nginx:1.14.2", 1));
    object["metadata"]["annotations"] =
        json!({"kubectl.kubernetes.io/last-applied-configuration": "{}\n"});
    let object = create(CSA, object);
    let csa = entry(&object, CSA).unwrap();
    assert_eq!(csa["operation"], "Update");
    assert_eq!(csa["apiVersion"], "apps/v1");
    assert_eq!(csa["time"], NOW);
    assert_eq!(csa["fieldsType"], "FieldsV1");
    assert!(csa.get("subresource").is_none());
    assert_eq!(
        csa["fieldsV1"],
        json!({
            "f:metadata": {
                "f:annotations": {".": {}, "f:kubectl.kubernetes.io/last-applied-configuration": {}},
                "f:labels": {".": {}, "f:app": {}}
            },
            "f:spec": {
                "f:progressDeadlineSeconds": {},
                "f:replicas": {},
                "f:revisionHistoryLimit": {},
                "f:selector": {},
                "f:strategy": {
                    "f:rollingUpdate": {".": {}, "f:maxSurge": {}, "f:maxUnavailable": {}},
                    "f:type": {}
                },
                "f:template": {
                    "f:metadata": {"f:labels": {".": {}, "f:app": {}}},
                    "f:spec": {
                        "f:containers": {
                            "k:{\"name\":\"nginx\"}": {
                                ".": {},
                                "f:image": {},
                                "f:imagePullPolicy": {},
                                "f:name": {},
                                "f:ports": {
                                    ".": {},
                                    "k:{\"containerPort\":80,\"protocol\":\"TCP\"}": {
                                        ".": {},
                                        "f:containerPort": {},
                                        "f:protocol": {}
                                    }
                                },
                                "f:resources": {},
                                "f:terminationMessagePath": {},
                                "f:terminationMessagePolicy": {}
                            }
                        },
                        "f:dnsPolicy": {},
                        "f:restartPolicy": {},
                        "f:schedulerName": {},
                        "f:securityContext": {},
                        "f:terminationGracePeriodSeconds": {}
                    }
                }
            }
        })
    );
}

#[test]
fn an_update_takes_the_fields_it_changes() {
    let created = create(CSA, stored(deployment("nginx:1", 1)));
    let mut edited = created.clone();
    edited["spec"]["replicas"] = json!(3);
    edited["metadata"]["labels"]["tier"] = json!("web");
    let edited = update(&created, edited, "kubectl-edit", None);
    assert_eq!(managers(&edited), [CSA, "kubectl-edit"]);
    assert_eq!(
        fields(&edited, "kubectl-edit"),
        json!({"f:metadata": {"f:labels": {"f:tier": {}}}, "f:spec": {"f:replicas": {}}})
    );
    assert!(fields(&edited, CSA)["f:spec"].get("f:replicas").is_none());
    assert_eq!(entry(&edited, CSA).unwrap()["time"], NOW);
    assert_eq!(entry(&edited, "kubectl-edit").unwrap()["time"], LATER);
}

#[test]
fn an_update_that_changes_nothing_records_nothing() {
    let created = create(CSA, stored(deployment("nginx:1", 1)));
    let same = update(&created, created.clone(), "kubectl-edit", None);
    assert_eq!(
        same["metadata"]["managedFields"],
        created["metadata"]["managedFields"]
    );
}

#[test]
fn removed_fields_leave_their_owners() {
    let created = create(CSA, stored(deployment("nginx:1", 1)));
    let mut new = created.clone();
    new["metadata"].as_object_mut().unwrap().remove("labels");
    let new = update(&created, new, "kubectl-edit", None);
    assert!(
        fields(&new, CSA)["f:metadata"].is_null(),
        "{}",
        fields(&new, CSA)
    );
    assert!(
        entry(&new, "kubectl-edit").is_none(),
        "removing owns nothing"
    );
}

#[test]
fn status_writes_are_recorded_with_their_subresource() {
    let created = create(CSA, stored(deployment("nginx:1", 1)));
    let mut new = created.clone();
    new["status"]["readyReplicas"] = json!(1);
    let new = update(&created, new, "kube-controller-manager", Some("status"));
    let status_entry = entry(&new, "kube-controller-manager").unwrap();
    assert_eq!(status_entry["subresource"], "status");
    assert_eq!(
        status_entry["fieldsV1"],
        json!({"f:status": {"f:readyReplicas": {}}})
    );
    // A main-resource write never owns status.
    let mut new = created.clone();
    new["status"]["readyReplicas"] = json!(1);
    let new = update(&created, new, "kubectl-edit", None);
    assert!(entry(&new, "kubectl-edit").is_none());
}

#[test]
fn a_scale_write_owns_replicas_through_its_subresource() {
    let created = create(CSA, stored(deployment("nginx:1", 1)));
    let mut new = created.clone();
    new["spec"]["replicas"] = json!(4);
    let new = update(&created, new, "kubectl", Some("scale"));
    let scale_entry = entry(&new, "kubectl").unwrap();
    assert_eq!(scale_entry["subresource"], "scale");
    assert_eq!(
        scale_entry["fieldsV1"],
        json!({"f:spec": {"f:replicas": {}}})
    );
}

#[test]
fn objects_stored_without_managed_fields_stay_so() {
    let old = stored(deployment("nginx:1", 1));
    let mut new = old.clone();
    new["spec"]["replicas"] = json!(2);
    let new = update(&old, new, "kubectl-edit", None);
    assert!(new["metadata"].get("managedFields").is_none());
}

#[test]
fn clients_may_send_or_clear_managed_fields() {
    let created = create(CSA, stored(deployment("nginx:1", 1)));
    for reset in [json!([]), json!([{}])] {
        let mut new = created.clone();
        new["metadata"]["managedFields"] = reset;
        new["spec"]["replicas"] = json!(2);
        let new = update(&created, new, "kubectl-edit", None);
        assert!(new["metadata"].get("managedFields").is_none());
    }
    let mut new = created.clone();
    new["metadata"]["managedFields"] = json!([{
        "manager": "someone", "operation": "Update", "apiVersion": "apps/v1",
        "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": {"f:paused": {}}}
    }]);
    let new = update(&created, new, "kubectl-edit", None);
    assert_eq!(managers(&new), ["someone"]);
}

#[test]
fn a_create_of_a_config_map() {
    let mut object = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"k": "v"}});
    record_update(
        "",
        "ConfigMap",
        None,
        &mut object,
        "kubectl-create",
        None,
        NOW,
    );
    assert_eq!(
        fields(&object, "kubectl-create"),
        json!({"f:data": {".": {}, "f:k": {}}})
    );
}

#[test]
fn at_most_ten_updaters_are_kept() {
    let mut object = create("m0", stored(deployment("nginx:1", 1)));
    for i in 1..=11 {
        let mut new = object.clone();
        new["metadata"]["labels"][format!("l{i}")] = json!("x");
        let time = format!("2024-05-01T10:{i:02}:00Z");
        record_update(
            "apps",
            "Deployment",
            Some(&object),
            &mut new,
            &format!("m{i}"),
            None,
            &time,
        );
        object = new;
    }
    let names = managers(&object);
    assert_eq!(names.len(), 10, "{names:?}");
    assert!(names.contains(&"ancient-changes".to_string()));
    assert!(
        !names.contains(&"m0".to_string())
            && !names.contains(&"m1".to_string())
            && !names.contains(&"m2".to_string())
    );
    let ancient = fields(&object, "ancient-changes");
    assert!(ancient["f:metadata"]["f:labels"].get("f:l1").is_some());
    assert!(ancient["f:metadata"]["f:labels"].get("f:l2").is_some());
}
