//! Admission of new objects: what upstream's admission plugins check and
//! add before validation. NamespaceLifecycle (no new objects in a missing
//! or terminating namespace) for every kind; for pods ServiceAccount (the
//! account name, its `kube-api-access` token volume and image pull
//! secrets), Priority (the priority from the PriorityClass) and
//! DefaultTolerationSeconds (tolerating not-ready and unreachable nodes
//! for five minutes).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use capstan_api::resource::{self, Resource};
use capstan_api::status::ApiError;
use serde_json::{json, Value};

use crate::object;
use crate::registry::{ReadAt, Registry};

/// How long after this server deleted a namespace its cached copy is not
/// trusted: upstream's `forceLiveLookupTTL`.
const FORCE_LIVE_LOOKUP: Duration = Duration::from_secs(30);

/// Upstream's NamespaceLifecycle admission. The namespace is looked up in
/// the watch cache, as upstream looks it up in its informer's; the store
/// is read when the cache does not have it (just created) or when this
/// server deleted it lately (the cache may not show that yet).
#[derive(Default)]
pub struct NamespaceLifecycle {
    deleted: Mutex<HashMap<String, Instant>>,
}

impl NamespaceLifecycle {
    /// Notes a delete of the namespace `name` through this server.
    pub fn deleting(&self, name: &str) {
        let mut deleted = self.deleted.lock().unwrap_or_else(|e| e.into_inner());
        deleted.retain(|_, at| at.elapsed() < FORCE_LIVE_LOOKUP);
        deleted.insert(name.to_string(), Instant::now());
    }

    fn deleted_lately(&self, name: &str) -> bool {
        let deleted = self.deleted.lock().unwrap_or_else(|e| e.into_inner());
        deleted
            .get(name)
            .is_some_and(|at| at.elapsed() < FORCE_LIVE_LOOKUP)
    }

    /// Refuses `name` of `resource` in a namespace that is missing (404)
    /// or terminating (403).
    pub async fn admit(
        &self,
        registry: &Registry,
        resource: &Resource,
        name: &str,
        namespace: &str,
    ) -> Result<(), ApiError> {
        let namespaces = resource::find("", "v1", "namespaces").expect("namespaces are served");
        let cached = match self.deleted_lately(namespace) {
            true => None,
            false => registry.get_cached(namespaces, None, namespace),
        };
        let found = match cached {
            Some(Ok(found)) => found.object,
            _ => registry.get(namespaces, None, namespace).await?.object,
        };
        if object::is_deleting(&found) {
            return Err(ApiError::forbidden(
                resource.group,
                resource.plural,
                name,
                &format!("unable to create new content in namespace {namespace} because it is being terminated"),
            ));
        }
        Ok(())
    }
}

/// How long pods stay on a node that became not-ready or unreachable,
/// unless they say otherwise (upstream's `--default-not-ready-toleration-seconds`).
const DEFAULT_TOLERATION_SECONDS: i64 = 300;

/// Where containers find their service account's token, CA and namespace.
const API_ACCESS_MOUNT_PATH: &str = "/var/run/secrets/kubernetes.io/serviceaccount";
const API_ACCESS_VOLUME_PREFIX: &str = "kube-api-access-";

const NOT_READY_TAINT: &str = "node.kubernetes.io/not-ready";
const UNREACHABLE_TAINT: &str = "node.kubernetes.io/unreachable";

/// Runs the admission plugins on a pod being created.
pub async fn admit_pod(registry: &Registry, pod: &mut Value) -> Result<(), ApiError> {
    if !pod.get("spec").is_some_and(Value::is_object) {
        return Ok(()); // validation explains what is missing
    }
    if default_service_account(pod) {
        admit_service_account(registry, pod).await?;
    }
    resolve_priority(registry, pod).await?;
    add_default_tolerations(pod);
    Ok(())
}

/// ServiceAccount admission: pods run as `default` unless they name an
/// account. Mirror pods of static pods are left as they are, as upstream.
/// Whether the pod has an account now.
fn default_service_account(pod: &mut Value) -> bool {
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
    if mirror {
        return false;
    }
    let account = account.unwrap_or_else(|| "default".to_string());
    spec["serviceAccountName"] = account.clone().into();
    spec["serviceAccount"] = account.into();
    true
}

/// The rest of ServiceAccount admission: the account must exist; unless
/// the pod or the account turns automounting off, its token, the cluster
/// CA and the namespace are mounted in every container; the account's
/// image pull secrets are the pod's when it has none.
async fn admit_service_account(registry: &Registry, pod: &mut Value) -> Result<(), ApiError> {
    let accounts = resource::find("", "v1", "serviceaccounts").expect("serviceaccounts are served");
    let name = pod["spec"]["serviceAccountName"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let namespace = object::namespace(pod).unwrap_or("default").to_string();
    let account = match registry
        .get_for_update(accounts, Some(&namespace), &name)
        .await
    {
        Ok(found) => Some(found.object),
        // The `default` account of a namespace made a moment ago may not
        // be there yet; its pods still get the token volume.
        Err(error) if error.code == 404 && name == "default" => None,
        Err(error) => {
            let why = match error.code {
                404 => format!("serviceaccount {name:?} not found"),
                _ => error.message.clone(),
            };
            let why = format!("error looking up service account {namespace}/{name}: {why}");
            return Err(forbidden(pod, &why));
        }
    };
    let automount = pod["spec"]
        .get("automountServiceAccountToken")
        .and_then(Value::as_bool)
        .or_else(|| {
            account
                .as_ref()
                .and_then(|a| a.get("automountServiceAccountToken"))
                .and_then(Value::as_bool)
        })
        .unwrap_or(true);
    if automount {
        mount_api_access(pod);
    }
    let pull_secrets = account
        .as_ref()
        .and_then(|a| a.get("imagePullSecrets"))
        .and_then(Value::as_array)
        .filter(|secrets| !secrets.is_empty());
    let has_own = pod["spec"]
        .get("imagePullSecrets")
        .and_then(Value::as_array)
        .is_some_and(|secrets| !secrets.is_empty());
    if let (Some(secrets), false) = (pull_secrets, has_own) {
        pod["spec"]["imagePullSecrets"] = Value::Array(secrets.clone());
    }
    Ok(())
}

/// Mounts the `kube-api-access-xxxxx` projected volume read-only at the
/// service account path of every init and app container that has nothing
/// mounted there, adding the volume when one of them needs it.
fn mount_api_access(pod: &mut Value) {
    let spec = &mut pod["spec"];
    let existing = spec
        .get("volumes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|volume| volume.get("name").and_then(Value::as_str))
        .find(|name| name.starts_with(API_ACCESS_VOLUME_PREFIX))
        .map(str::to_string);
    let name = existing
        .clone()
        .unwrap_or_else(|| object::generate_name(API_ACCESS_VOLUME_PREFIX));
    let mount = json!({"name": name, "readOnly": true, "mountPath": API_ACCESS_MOUNT_PATH});
    let mut needed = false;
    for list in ["initContainers", "containers"] {
        let Some(containers) = spec.get_mut(list).and_then(Value::as_array_mut) else {
            continue;
        };
        for container in containers.iter_mut().filter(|c| c.is_object()) {
            let mounted = container
                .get("volumeMounts")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .any(|m| m.get("mountPath").and_then(Value::as_str) == Some(API_ACCESS_MOUNT_PATH));
            if mounted {
                continue;
            }
            match container
                .get_mut("volumeMounts")
                .and_then(Value::as_array_mut)
            {
                Some(mounts) => mounts.push(mount.clone()),
                None => container["volumeMounts"] = json!([mount.clone()]),
            }
            needed = true;
        }
    }
    if !needed || existing.is_some() {
        return;
    }
    let volume = json!({
        "name": name,
        "projected": {
            "defaultMode": 420,
            "sources": [
                {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
                {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}},
            ],
        },
    });
    match spec.get_mut("volumes").and_then(Value::as_array_mut) {
        Some(volumes) => volumes.push(volume),
        None => spec["volumes"] = json!([volume]),
    }
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
    use std::sync::Arc;

    #[tokio::test]
    async fn namespaces_deleted_here_are_read_from_the_store() {
        use std::sync::Arc;
        let store: Arc<dyn capstan_store::Store> =
            Arc::new(capstan_store::memory::MemoryStore::new());
        let (cache, _task) = crate::watch_cache::WatchCache::start(store.clone());
        let registry = Registry::new(store, Some(cache));
        let namespaces = resource::find("", "v1", "namespaces").unwrap();
        let pods = resource::find("", "v1", "pods").unwrap();
        let lifecycle = NamespaceLifecycle::default();
        let missing = lifecycle.admit(&registry, pods, "p", "a").await;
        assert_eq!(missing.unwrap_err().code, 404);

        let active = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "a"}});
        registry.create(namespaces, &active).await.unwrap();
        // Just created: the store answers when the cache has not caught up.
        lifecycle.admit(&registry, pods, "p", "a").await.unwrap();

        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while registry.get_cached(namespaces, None, "a").is_none() {
            assert!(tokio::time::Instant::now() < deadline, "the cache fills");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let current = registry.get(namespaces, None, "a").await.unwrap();
        let mut deleting = current.object.clone();
        deleting["metadata"]["deletionTimestamp"] = json!("2024-01-01T00:00:00Z");
        lifecycle.deleting("a");
        registry
            .update(namespaces, &current, &deleting)
            .await
            .unwrap();
        // Whatever the cache shows yet, the delete is seen.
        let refused = lifecycle.admit(&registry, pods, "p", "a").await;
        assert_eq!(refused.unwrap_err().code, 403);
    }

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

    fn registry() -> Registry {
        Registry::new(Arc::new(capstan_store::memory::MemoryStore::new()), None)
    }

    async fn add_account(registry: &Registry, account: Value) {
        let accounts = resource::find("", "v1", "serviceaccounts").unwrap();
        registry.create(accounts, &account).await.unwrap();
    }

    fn pod(spec: Value) -> Value {
        json!({"metadata": {"name": "web", "namespace": "ns"}, "spec": spec})
    }

    #[tokio::test]
    async fn the_api_access_volume_is_mounted_everywhere() {
        let registry = registry();
        let mut pod = pod(json!({
            "initContainers": [{"name": "init"}],
            "containers": [
                {"name": "app", "volumeMounts": [{"name": "data", "mountPath": "/data"}]},
                {"name": "own", "volumeMounts": [{"name": "mine", "mountPath": API_ACCESS_MOUNT_PATH}]},
            ],
            "volumes": [{"name": "data", "emptyDir": {}}],
        }));
        admit_pod(&registry, &mut pod).await.unwrap();
        let volumes = pod["spec"]["volumes"].as_array().unwrap();
        assert_eq!(volumes.len(), 2);
        let name = volumes[1]["name"].as_str().unwrap();
        let suffix = name.strip_prefix(API_ACCESS_VOLUME_PREFIX).unwrap();
        assert_eq!(suffix.len(), 5);
        assert!(suffix
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit()));
        let sources = &volumes[1]["projected"]["sources"];
        assert_eq!(
            sources[0]["serviceAccountToken"],
            json!({"expirationSeconds": 3607, "path": "token"})
        );
        assert_eq!(sources[1]["configMap"]["name"], "kube-root-ca.crt");
        assert_eq!(
            sources[2]["downwardAPI"]["items"][0]["fieldRef"]["fieldPath"],
            "metadata.namespace"
        );
        assert_eq!(volumes[1]["projected"]["defaultMode"], 420);
        let mount = json!({"name": name, "readOnly": true, "mountPath": API_ACCESS_MOUNT_PATH});
        assert_eq!(
            pod["spec"]["initContainers"][0]["volumeMounts"],
            json!([mount])
        );
        assert_eq!(pod["spec"]["containers"][0]["volumeMounts"][1], mount);
        // A container with its own mount there keeps it alone.
        let own = pod["spec"]["containers"][1]["volumeMounts"]
            .as_array()
            .unwrap();
        assert_eq!(own.len(), 1);
        assert_eq!(own[0]["name"], "mine");
    }

    #[tokio::test]
    async fn automounting_can_be_turned_off() {
        let registry = registry();
        let mut off =
            pod(json!({"automountServiceAccountToken": false, "containers": [{"name": "c"}]}));
        admit_pod(&registry, &mut off).await.unwrap();
        assert!(off["spec"].get("volumes").is_none());
        assert!(off["spec"]["containers"][0].get("volumeMounts").is_none());
        add_account(
            &registry,
            json!({"apiVersion": "v1", "kind": "ServiceAccount",
            "metadata": {"name": "quiet", "namespace": "ns"}, "automountServiceAccountToken": false,
            "imagePullSecrets": [{"name": "pull"}]}),
        )
        .await;
        let mut quiet = pod(json!({"serviceAccountName": "quiet", "containers": [{"name": "c"}]}));
        admit_pod(&registry, &mut quiet).await.unwrap();
        assert!(quiet["spec"].get("volumes").is_none());
        assert_eq!(quiet["spec"]["imagePullSecrets"], json!([{"name": "pull"}]));
        // The pod's own word wins over the account's.
        let mut on = pod(
            json!({"serviceAccountName": "quiet", "automountServiceAccountToken": true,
            "containers": [{"name": "c"}]}),
        );
        admit_pod(&registry, &mut on).await.unwrap();
        assert_eq!(on["spec"]["volumes"].as_array().unwrap().len(), 1);
        // Mirror pods get nothing.
        let mut mirror = pod(json!({"containers": [{"name": "c"}]}));
        mirror["metadata"]["annotations"] = json!({"kubernetes.io/config.mirror": "x"});
        admit_pod(&registry, &mut mirror).await.unwrap();
        assert!(mirror["spec"].get("volumes").is_none());
    }

    #[tokio::test]
    async fn a_named_account_must_exist() {
        let registry = registry();
        let mut pod = pod(json!({"serviceAccountName": "builder", "containers": [{"name": "c"}]}));
        let error = admit_pod(&registry, &mut pod).await.unwrap_err();
        assert_eq!(error.code, 403);
        assert_eq!(error.message, "pods \"web\" is forbidden: error looking up service account ns/builder: serviceaccount \"builder\" not found");
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
