//! The namespace lifecycle controller (upstream's namespace controller and
//! its namespaced-resources deleter): when a namespace has a
//! `deletionTimestamp`, delete everything in it, keep its status conditions
//! telling what is left, and once nothing is, remove the `kubernetes`
//! finalizer through `namespaces/{name}/finalize` so the API server can
//! remove the namespace.

pub mod conditions;
pub mod plan;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use k8s_openapi::api::core::v1::{Namespace, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, DeleteParams, DynamicObject, ListParams, PostParams};
use kube::discovery::{ApiCapabilities, ApiResource, Discovery};
use kube::runtime::controller::{Action, Config, Controller};
use kube::{Client, ResourceExt};

use self::conditions::{ConditionUpdater, Remaining};
use self::plan::{PodGrace, Target, FINALIZER};
use crate::informers::Subscription;
use crate::{describe, status_code, Error};

/// Namespaces deleted at once; upstream's default --concurrent-namespace-syncs.
const CONCURRENCY: u16 = 10;

/// The longest wait before retrying after an error.
const MAX_ERROR_WAIT: Duration = Duration::from_secs(30);

/// Tries at an update that keeps meeting a conflict.
const CONFLICT_RETRIES: usize = 5;

/// Runs the controller until `shutdown` completes, from the shared
/// Namespaces.
pub async fn run(
    client: Client,
    namespaces: Subscription<Namespace>,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) {
    let context = Arc::new(Deleter { client });
    let cache = namespaces.store();
    Controller::for_shared_stream(namespaces.applied(), cache)
        .with_config(Config::default().concurrency(CONCURRENCY))
        .graceful_shutdown_on(shutdown)
        .run(reconcile, error_policy, context)
        .for_each(|result| async move {
            if let Err(error) = result {
                tracing::debug!(%error, "namespace controller");
            }
        })
        .await;
}

async fn reconcile(namespace: Arc<Namespace>, deleter: Arc<Deleter>) -> Result<Action, Error> {
    if namespace.metadata.deletion_timestamp.is_none() {
        return Ok(Action::await_change());
    }
    match deleter.delete(&namespace.name_any()).await? {
        None => Ok(Action::await_change()),
        Some(estimate) => {
            let ceiling = plan::estimate_wait(estimate);
            Ok(Action::requeue(plan::requeue_after(
                since_deletion(&namespace),
                ceiling,
            )))
        }
    }
}

fn error_policy(namespace: Arc<Namespace>, error: &Error, _: Arc<Deleter>) -> Action {
    tracing::info!(namespace = %namespace.name_any(), %error, "namespace deletion will be retried");
    Action::requeue(plan::requeue_after(
        since_deletion(&namespace),
        MAX_ERROR_WAIT,
    ))
}

fn since_deletion(namespace: &Namespace) -> Duration {
    namespace
        .metadata
        .deletion_timestamp
        .as_ref()
        .and_then(|at| Duration::try_from(Timestamp::now().duration_since(at.0)).ok())
        .unwrap_or_default()
}

struct Deleter {
    client: Client,
}

impl Deleter {
    fn namespaces(&self) -> Api<Namespace> {
        Api::all(self.client.clone())
    }

    /// One pass over a namespace: `Some(estimate)` of seconds while
    /// content remains, `None` when there is nothing (more) to do.
    async fn delete(&self, name: &str) -> Result<Option<i64>, Error> {
        // Read afresh: others edit a terminating namespace too.
        let Some(namespace) = self.namespaces().get_opt(name).await? else {
            return Ok(None);
        };
        if namespace.metadata.deletion_timestamp.is_none() {
            return Ok(None);
        }
        let Some(mut namespace) = self.ensure_terminating(namespace).await? else {
            return Ok(None);
        };
        let ours = namespace
            .spec
            .as_ref()
            .and_then(|spec| spec.finalizers.as_ref())
            .is_some_and(|finalizers| finalizers.iter().any(|f| f == FINALIZER));
        if !ours {
            return Ok(None);
        }
        let estimate = self.delete_all_content(&mut namespace).await?;
        if estimate > 0 {
            return Ok(Some(estimate));
        }
        self.finalize(namespace).await?;
        Ok(None)
    }

    /// Sets `status.phase` to Terminating if it is not yet; `None` when the
    /// namespace went away meanwhile.
    async fn ensure_terminating(
        &self,
        mut namespace: Namespace,
    ) -> Result<Option<Namespace>, Error> {
        for _ in 0..CONFLICT_RETRIES {
            let status = namespace.status.get_or_insert_with(Default::default);
            if status.phase.as_deref() == Some("Terminating") {
                return Ok(Some(namespace));
            }
            status.phase = Some("Terminating".into());
            let name = namespace.name_any();
            match self
                .namespaces()
                .replace_status(&name, &PostParams::default(), &namespace)
                .await
            {
                Ok(updated) => return Ok(Some(updated)),
                Err(error) if status_code(&error) == Some(404) => return Ok(None),
                Err(error) if status_code(&error) == Some(409) => {
                    match self.refetch(&namespace).await? {
                        Some(latest) => namespace = latest,
                        None => return Ok(None),
                    }
                }
                Err(error) => return Err(error.into()),
            }
        }
        Err(Error::new(format!(
            "namespace {}: too many conflicts",
            namespace.name_any()
        )))
    }

    /// The namespace again, as long as it is the same one (same uid).
    async fn refetch(&self, namespace: &Namespace) -> Result<Option<Namespace>, Error> {
        let Some(latest) = self.namespaces().get_opt(&namespace.name_any()).await? else {
            return Ok(None);
        };
        if latest.metadata.uid != namespace.metadata.uid {
            return Err(Error::new("namespace uid has changed across retries"));
        }
        Ok(Some(latest))
    }

    /// Deletes what the namespace holds and records what remains in its
    /// conditions. Returns the seconds the remaining content may still
    /// take; an error when some of it could not be deleted.
    async fn delete_all_content(&self, namespace: &mut Namespace) -> Result<i64, Error> {
        let name = namespace.name_any();
        let deleted_at = since_deletion(namespace);
        let mut updater = ConditionUpdater::default();
        let mut errors = Vec::new();
        let resources = match discover(&self.client).await {
            Ok(resources) => resources,
            Err(error) => {
                updater.discovery_failed(error.clone());
                errors.push(error);
                Vec::new()
            }
        };
        let (targets, unparsable) = plan::deletable(resources);
        if !unparsable.is_empty() {
            let message = unparsable.join(", ");
            updater.group_version_failed(message.clone());
            errors.push(message);
        }
        let mut remaining = Remaining::default();
        let mut estimate = 0;
        for target in &targets {
            // Pods go first; the rest waits until they are gone.
            if !target.is_pods()
                && remaining
                    .resources
                    .contains_key(&(String::new(), "pods".into()))
            {
                break;
            }
            let pass = self.empty_resource(target, &name, deleted_at).await;
            estimate = estimate.max(pass.estimate);
            remaining.add(
                &target.resource.group,
                &target.resource.plural,
                pass.left,
                &pass.finalizers,
            );
            if let Some(error) = pass.error {
                updater.content_failed(error.clone());
                errors.push(error);
            }
        }
        updater.content_totals(&remaining);
        let status = namespace.status.get_or_insert_with(Default::default);
        if updater.update(status, &Time(Timestamp::now())) {
            match self
                .namespaces()
                .replace_status(&name, &PostParams::default(), namespace)
                .await
            {
                Ok(updated) => *namespace = updated,
                // The conditions are advice; the next pass writes them again.
                Err(error) => {
                    tracing::info!(namespace = %name, error = %describe(&error), "cannot update namespace conditions")
                }
            }
        }
        if !errors.is_empty() {
            return Err(Error::new(errors.join("; ")));
        }
        Ok(estimate)
    }

    /// Deletes every object of one type in the namespace and counts what
    /// is left.
    async fn empty_resource(&self, target: &Target, namespace: &str, deleted_at: Duration) -> Pass {
        let mut pass = Pass::default();
        if target.is_pods() {
            match self.pod_estimate(namespace, deleted_at).await {
                Ok(estimate) => pass.estimate = estimate,
                Err(error) => {
                    pass.error = Some(error);
                    return pass;
                }
            }
        }
        let api: Api<DynamicObject> =
            Api::namespaced_with(self.client.clone(), namespace, &target.resource);
        let background = DeleteParams::background();
        let mut each = !target.delete_collection;
        if target.delete_collection {
            match api
                .delete_collection(&background, &ListParams::default())
                .await
            {
                Ok(_) => {}
                // Served in discovery but not here: fall back to one by one.
                Err(error) if matches!(status_code(&error), Some(404 | 405)) => each = true,
                Err(error) => {
                    pass.error = Some(describe(&error));
                    return pass;
                }
            }
        }
        if !target.list {
            return pass;
        }
        if each {
            if let Err(error) = delete_each(&api, &background).await {
                pass.error = Some(describe(&error));
                return pass;
            }
        }
        let left = match api.list_metadata(&ListParams::default()).await {
            Ok(list) => list.items,
            Err(error) if matches!(status_code(&error), Some(404 | 405)) => return pass,
            Err(error) => {
                pass.error = Some(describe(&error));
                return pass;
            }
        };
        pass.left = left.len();
        pass.finalizers = left
            .iter()
            .flat_map(|item| item.finalizers().to_vec())
            .collect();
        match plan::remaining_estimate(pass.estimate, pass.left, !pass.finalizers.is_empty()) {
            Some(estimate) => pass.estimate = estimate,
            None => {
                pass.error = Some(format!(
                    "unexpected items still remain in namespace: {namespace} for gvr: {}",
                    target.describe()
                ))
            }
        }
        pass
    }

    /// How long the pods still running in the namespace may take to stop.
    async fn pod_estimate(&self, namespace: &str, deleted_at: Duration) -> Result<i64, String> {
        let pods: Api<Pod> = Api::namespaced(self.client.clone(), namespace);
        let list = pods
            .list(&ListParams::default())
            .await
            .map_err(|error| describe(&error))?;
        let graces = list.items.into_iter().map(|pod| PodGrace {
            terminal: matches!(
                pod.status.as_ref().and_then(|s| s.phase.as_deref()),
                Some("Succeeded" | "Failed")
            ),
            grace_seconds: pod
                .spec
                .and_then(|spec| spec.termination_grace_period_seconds),
        });
        Ok(plan::pod_estimate(graces, deleted_at))
    }

    /// Removes our finalizer through the `finalize` subresource.
    async fn finalize(&self, mut namespace: Namespace) -> Result<(), Error> {
        for _ in 0..CONFLICT_RETRIES {
            let name = namespace.name_any();
            let spec = namespace.spec.get_or_insert_with(Default::default);
            let finalizers = spec.finalizers.take().unwrap_or_default();
            spec.finalizers = Some(plan::without_finalizer(&finalizers));
            match self
                .namespaces()
                .replace_subresource("finalize", &name, &PostParams::default(), &namespace)
                .await
            {
                Ok(_) => return Ok(()),
                // Another deleter finished first.
                Err(error) if status_code(&error) == Some(404) => return Ok(()),
                Err(error) if status_code(&error) == Some(409) => {
                    match self.refetch(&namespace).await? {
                        Some(latest) => namespace = latest,
                        None => return Ok(()),
                    }
                }
                Err(error) => return Err(error.into()),
            }
        }
        Err(Error::new(format!(
            "namespace {}: too many conflicts",
            namespace.name_any()
        )))
    }
}

/// The result of emptying one resource type.
#[derive(Default)]
struct Pass {
    estimate: i64,
    left: usize,
    /// One entry per finalizer per object left.
    finalizers: Vec<String>,
    error: Option<String>,
}

async fn delete_each(api: &Api<DynamicObject>, params: &DeleteParams) -> Result<(), kube::Error> {
    let list = match api.list_metadata(&ListParams::default()).await {
        Ok(list) => list,
        Err(error) if matches!(status_code(&error), Some(404 | 405)) => return Ok(()),
        Err(error) => return Err(error),
    };
    for item in list.items {
        match api.delete(&item.name_any(), params).await {
            Ok(_) => {}
            Err(error) if matches!(status_code(&error), Some(404 | 405)) => {}
            Err(error) => return Err(error),
        }
    }
    Ok(())
}

/// Every served resource type at its most stable version, through
/// aggregated discovery (two requests) or, if the server lacks it, the
/// per-group documents.
async fn discover(client: &Client) -> Result<Vec<(ApiResource, ApiCapabilities)>, String> {
    let discovery = match Discovery::new(client.clone()).run_aggregated().await {
        Ok(discovery) => discovery,
        Err(_) => Discovery::new(client.clone())
            .run()
            .await
            .map_err(|error| describe(&error))?,
    };
    Ok(discovery
        .groups()
        .flat_map(|group| group.resources_by_stability())
        .collect())
}
