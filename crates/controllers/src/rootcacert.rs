//! Upstream's root-ca-cert-publisher: every active namespace has a
//! ConfigMap `kube-root-ca.crt` whose `ca.crt` is the cluster CA, for pods
//! to verify the API server with (the `kube-api-access` volume mounts it).
//! A deleted or changed one is made right again.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;

use futures_util::StreamExt;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::api::{Api, ObjectMeta, PostParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use kube::{Client, ResourceExt};

use crate::informers::Subscription;
use crate::serviceaccount::wants_accounts;
use crate::{describe, status_code, Error};

pub const NAME: &str = "kube-root-ca.crt";
const KEY: &str = "ca.crt";
const DESCRIPTION_ANNOTATION: &str = "kubernetes.io/description";
const DESCRIPTION: &str = "Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across distributions of Kubernetes clusters.";

struct Context {
    client: Client,
    /// The cluster CA, PEM.
    ca: String,
}

/// Runs the controller until `shutdown` completes, from the shared
/// Namespaces.
pub async fn run(
    client: Client,
    ca: String,
    namespaces: Subscription<Namespace>,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) {
    let cache = namespaces.store();
    let maps: Api<ConfigMap> = Api::all(client.clone());
    let ours = watcher::Config::default().fields(&format!("metadata.name={NAME}"));
    Controller::for_shared_stream(namespaces.applied(), cache)
        .watches(maps, ours, |map| {
            map.namespace()
                .map(|namespace| ObjectRef::<Namespace>::new(&namespace))
        })
        .graceful_shutdown_on(shutdown)
        .run(reconcile, error_policy, Arc::new(Context { client, ca }))
        .for_each(|result| async move {
            if let Err(error) = result {
                tracing::debug!(%error, "root-ca-cert-publisher");
            }
        })
        .await;
}

async fn reconcile(namespace: Arc<Namespace>, context: Arc<Context>) -> Result<Action, Error> {
    if !wants_accounts(&namespace) {
        return Ok(Action::await_change());
    }
    let name = namespace.name_any();
    let maps: Api<ConfigMap> = Api::namespaced(context.client.clone(), &name);
    let result = match maps.get_opt(NAME).await? {
        None => maps
            .create(&PostParams::default(), &wanted(&name, &context.ca))
            .await
            .map(|_| ()),
        Some(current) => match repaired(current, &context.ca) {
            Some(map) => maps
                .replace(NAME, &PostParams::default(), &map)
                .await
                .map(|_| ()),
            None => Ok(()),
        },
    };
    match result {
        Ok(()) => Ok(Action::await_change()),
        // Made or changed by someone else meanwhile: the watch brings us back.
        Err(error) if matches!(status_code(&error), Some(409)) => Ok(Action::await_change()),
        // The namespace began terminating after we looked.
        Err(error) if status_code(&error) == Some(403) => Ok(Action::await_change()),
        Err(error) => Err(Error::new(describe(&error))),
    }
}

fn wanted(namespace: &str, ca: &str) -> ConfigMap {
    ConfigMap {
        metadata: ObjectMeta {
            name: Some(NAME.into()),
            namespace: Some(namespace.into()),
            annotations: Some(BTreeMap::from([(
                DESCRIPTION_ANNOTATION.to_string(),
                DESCRIPTION.to_string(),
            )])),
            ..ObjectMeta::default()
        },
        data: Some(BTreeMap::from([(KEY.to_string(), ca.to_string())])),
        ..ConfigMap::default()
    }
}

/// The ConfigMap made right, or None when it is right: `ca.crt` alone with
/// the CA, and the description annotation, other metadata kept.
fn repaired(mut current: ConfigMap, ca: &str) -> Option<ConfigMap> {
    let data_right = current
        .data
        .as_ref()
        .is_some_and(|data| data.len() == 1 && data.get(KEY).map(String::as_str) == Some(ca))
        && current.binary_data.as_ref().is_none_or(BTreeMap::is_empty);
    let annotations = current
        .metadata
        .annotations
        .get_or_insert_with(BTreeMap::new);
    let described =
        annotations.get(DESCRIPTION_ANNOTATION).map(String::as_str) == Some(DESCRIPTION);
    if data_right && described {
        return None;
    }
    annotations.insert(DESCRIPTION_ANNOTATION.into(), DESCRIPTION.into());
    current.data = Some(BTreeMap::from([(KEY.to_string(), ca.to_string())]));
    current.binary_data = None;
    Some(current)
}

fn error_policy(namespace: Arc<Namespace>, error: &Error, _: Arc<Context>) -> Action {
    tracing::info!(namespace = %namespace.name_any(), %error, "cannot publish the root CA");
    Action::requeue(std::time::Duration::from_secs(5))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_changed_map_is_rewritten() {
        let right = wanted("ns", "PEM");
        assert!(repaired(right.clone(), "PEM").is_none());
        let mut changed = right.clone();
        changed.data = Some(BTreeMap::from([
            (KEY.to_string(), "other".to_string()),
            ("extra".to_string(), "x".to_string()),
        ]));
        changed.metadata.labels = Some(BTreeMap::from([("keep".into(), "me".into())]));
        let fixed = repaired(changed, "PEM").unwrap();
        assert_eq!(fixed.data, right.data);
        assert_eq!(fixed.metadata.labels.unwrap()["keep"], "me");
        let mut bare = right.clone();
        bare.metadata.annotations = None;
        let fixed = repaired(bare, "PEM").unwrap();
        assert_eq!(fixed.metadata.annotations, right.metadata.annotations);
        // A new CA is published.
        assert_eq!(repaired(right, "NEW").unwrap().data.unwrap()[KEY], "NEW");
    }
}
