//! Admission of new pods: what upstream's admission plugins add before
//! validation. ServiceAccount (the account name), Priority (the priority
//! from the PriorityClass) and DefaultTolerationSeconds (tolerating
//! not-ready and unreachable nodes for five minutes).

use capstan_api::resource::{self, Resource};
use capstan_api::status::ApiError;
use serde_json::{json, Value};

use crate::object;
use crate::registry::{ReadAt, Registry};

/// How long pods stay on a node that became not-ready or unreachable,
/// unless they say otherwise (upstream's `--default-not-ready-toleration-seconds`).
const DEFAULT_TOLERATION_SECONDS: i64 = 300;

const NOT_READY_TAINT: &str = "node.kubernetes.io/not-ready";
const UNREACHABLE_TAINT: &str = "node.kubernetes.io/unreachable";

/// Runs the admission plugins on a pod being created.
pub async fn admit_pod(registry: &Registry, pod: &mut Value) -> Result<(), ApiError> {
    if !pod.get("spec").is_some_and(Value::is_object) {
        return Ok(()); // validation explains what is missing
    }
    default_service_account(pod);
    resolve_priority(registry, pod).await?;
    add_default_tolerations(pod);
    Ok(())
}

/// ServiceAccount admission: pods run as `default` unless they name an
/// account. Mirror pods of static pods keep none, as upstream.
fn default_service_account(pod: &mut Value) {
    let mirror = pod
        .pointer("/metadata/annotations/kubernetes.io~1config.mirror")
        .is_some();
    let spec = &mut pod["spec"];
    let named = |field: &str| {
        spec.get(field)
            .and_then(Value::as_str)
            .filter(|name| !name.is_empty())
            .map(str::to_string)
    };
    // `serviceAccount` is the deprecated spelling of the same field.
    let account = named("serviceAccountName").or_else(|| named("serviceAccount"));
    let account = match (account, mirror) {
        (Some(account), _) => account,
        (None, true) => return,
        (None, false) => "default".to_string(),
    };
    spec["serviceAccountName"] = account.clone().into();
    spec["serviceAccount"] = account.into();
}

/// Priority admission: `spec.priority` and `spec.preemptionPolicy` come
/// from the PriorityClass the pod names, or from the global default class,
/// or are 0 and PreemptLowerPriority.
async fn resolve_priority(registry: &Registry, pod: &mut Value) -> Result<(), ApiError> {
    let classes = resource::find("scheduling.k8s.io", "v1", "priorityclasses")
        .expect("priorityclasses are served");
    let named = pod
        .pointer("/spec/priorityClassName")
        .and_then(Value::as_str)
        .filter(|name| !name.is_empty())
        .map(str::to_string);
    let class = match &named {
        Some(name) => match registry.get(classes, None, name).await {
            Ok(found) => Some(found.object),
            Err(error) if error.code == 404 => {
                return Err(forbidden(
                    pod,
                    &format!("no PriorityClass with name {name} was found"),
                ))
            }
            Err(error) => return Err(error),
        },
        None => global_default(registry, classes).await?,
    };
    let (class_name, priority, policy) = match &class {
        Some(class) => (
            object::name(class).map(str::to_string),
            class.get("value").and_then(Value::as_i64).unwrap_or(0),
            class
                .get("preemptionPolicy")
                .and_then(Value::as_str)
                .unwrap_or("PreemptLowerPriority")
                .to_string(),
        ),
        None => (None, 0, "PreemptLowerPriority".to_string()),
    };
    if let Some(given) = pod.pointer("/spec/priority").and_then(Value::as_i64) {
        if given != priority {
            return Err(forbidden(pod, &format!("the integer value of priority ({given}) must not be provided in pod spec; priority admission controller computed {priority} from the given PriorityClass name")));
        }
    }
    if let Some(given) = pod
        .pointer("/spec/preemptionPolicy")
        .and_then(Value::as_str)
    {
        if given != policy {
            return Err(forbidden(pod, &format!("the string value of PreemptionPolicy ({given}) must not be provided in pod spec; priority admission controller computed {policy} from the given PriorityClass name")));
        }
    }
    let spec = &mut pod["spec"];
    if let Some(class_name) = class_name {
        spec["priorityClassName"] = class_name.into();
    }
    spec["priority"] = priority.into();
    spec["preemptionPolicy"] = policy.into();
    Ok(())
}

/// The PriorityClass marked `globalDefault`; with several, the lowest
/// value, as upstream.
async fn global_default(
    registry: &Registry,
    classes: &Resource,
) -> Result<Option<Value>, ApiError> {
    let page = registry
        .list(classes, None, ReadAt::Latest, 0, None, &|class: &Value| {
            class.get("globalDefault").and_then(Value::as_bool) == Some(true)
        })
        .await?;
    Ok(page
        .items
        .into_iter()
        .min_by_key(|class| class.get("value").and_then(Value::as_i64).unwrap_or(0)))
}

/// DefaultTolerationSeconds: tolerate the not-ready and unreachable
/// NoExecute taints for five minutes, unless the pod already tolerates them.
fn add_default_tolerations(pod: &mut Value) {
    let tolerations = pod["spec"]
        .get("tolerations")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let tolerates = |taint: &str| {
        tolerations.iter().any(|toleration| {
            let key = toleration.get("key").and_then(Value::as_str).unwrap_or("");
            let effect = toleration
                .get("effect")
                .and_then(Value::as_str)
                .unwrap_or("");
            (key == taint || key.is_empty()) && (effect == "NoExecute" || effect.is_empty())
        })
    };
    let mut added = tolerations.clone();
    for taint in [NOT_READY_TAINT, UNREACHABLE_TAINT] {
        if !tolerates(taint) {
            added.push(json!({
                "key": taint,
                "operator": "Exists",
                "effect": "NoExecute",
                "tolerationSeconds": DEFAULT_TOLERATION_SECONDS,
            }));
        }
    }
    if added.len() != tolerations.len() {
        pod["spec"]["tolerations"] = added.into();
    }
}

fn forbidden(pod: &Value, why: &str) -> ApiError {
    ApiError::forbidden("", "pods", object::name(pod).unwrap_or_default(), why)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_tolerations_are_added_once() {
        let mut pod = json!({"spec": {"containers": []}});
        add_default_tolerations(&mut pod);
        let tolerations = pod["spec"]["tolerations"].as_array().unwrap();
        assert_eq!(tolerations.len(), 2);
        assert_eq!(tolerations[0]["key"], NOT_READY_TAINT);
        assert_eq!(tolerations[1]["tolerationSeconds"], 300);
        add_default_tolerations(&mut pod);
        assert_eq!(pod["spec"]["tolerations"].as_array().unwrap().len(), 2);
    }

    #[test]
    fn own_tolerations_of_the_taints_are_kept() {
        let mut pod = json!({"spec": {"tolerations": [
            {"key": UNREACHABLE_TAINT, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 5}
        ]}});
        add_default_tolerations(&mut pod);
        let tolerations = pod["spec"]["tolerations"].as_array().unwrap();
        assert_eq!(tolerations.len(), 2);
        assert_eq!(tolerations[0]["tolerationSeconds"], 5);
        assert_eq!(tolerations[1]["key"], NOT_READY_TAINT);
        // A toleration of every taint covers both.
        let mut pod = json!({"spec": {"tolerations": [{"operator": "Exists"}]}});
        add_default_tolerations(&mut pod);
        assert_eq!(pod["spec"]["tolerations"].as_array().unwrap().len(), 1);
    }

    #[test]
    fn service_account_defaults_to_default() {
        let mut pod = json!({"spec": {}});
        default_service_account(&mut pod);
        assert_eq!(pod["spec"]["serviceAccountName"], "default");
        assert_eq!(pod["spec"]["serviceAccount"], "default");
        let mut pod = json!({"spec": {"serviceAccount": "builder"}});
        default_service_account(&mut pod);
        assert_eq!(pod["spec"]["serviceAccountName"], "builder");
        let mut mirror =
            json!({"metadata": {"annotations": {"kubernetes.io/config.mirror": "x"}}, "spec": {}});
        default_service_account(&mut mirror);
        assert!(mirror["spec"].get("serviceAccountName").is_none());
    }
}
