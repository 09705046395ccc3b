//! What the Job controller does through the API: create and delete pods,
//! remove tracking finalizers, write status and record events.

use std::sync::Arc;

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{EnvVar, EnvVarSource, ObjectFieldSelector, Pod};
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use kube::runtime::events::EventType;
use kube::runtime::reflector::Store;
use kube::{Client, Resource, ResourceExt};

use super::memory::Memory;
use super::per_index::{
    has_backoff_limit_per_index, new_failure_counts, INDEX_FAILURE_COUNT,
    INDEX_IGNORED_FAILURE_COUNT,
};
use super::policy::{has_tracking_finalizer, COMPLETION_INDEX, TRACKING_FINALIZER};
use crate::events::EventRecorder;
use crate::pods::{controller_ref, from_template};
use crate::{describe, status_code, Error};

/// Shared by every reconcile of the Job controller.
pub struct Context {
    pub client: Client,
    pub pods: Store<Pod>,
    pub memory: Memory,
    pub recorder: EventRecorder,
}

impl Context {
    fn pods_api(&self, namespace: &str) -> Api<Pod> {
        Api::namespaced(self.client.clone(), namespace)
    }

    /// Records an event about the Job; a lost event is only logged.
    pub async fn event(&self, job: &Job, type_: EventType, reason: &str, note: String) {
        self.recorder
            .record(&job.object_ref(&()), type_, reason, &note, None)
            .await;
    }

    /// Creates one pod of the Job, for `index` if the Job is Indexed (in
    /// place of the failed pod `replaced`, if any); remembers it until the
    /// cache shows it.
    pub async fn create_pod(
        &self,
        job: &Job,
        key: &str,
        index: Option<u32>,
        replaced: Option<&Pod>,
    ) -> Result<(), Error> {
        let namespace = job.namespace().unwrap_or_default();
        let pod = pod_for(job, index, replaced);
        match self
            .pods_api(&namespace)
            .create(&PostParams::default(), &pod)
            .await
        {
            Ok(created) => {
                if let Some(uid) = created.metadata.uid.clone() {
                    self.memory.expect_created(key, uid);
                }
                let note = format!("Created pod: {}", created.name_any());
                self.event(job, EventType::Normal, "SuccessfulCreate", note)
                    .await;
                Ok(())
            }
            Err(error) => {
                let message = describe(&error);
                if !message.contains("being terminated") {
                    let note = format!("Error creating: {message}");
                    self.event(job, EventType::Warning, "FailedCreate", note)
                        .await;
                }
                Err(error.into())
            }
        }
    }

    /// Deletes a pod. With `release`, its tracking finalizer goes first so
    /// the pod is not counted as failed (upstream's deleteJobPods); without,
    /// the finalizer stays until the pod is counted (deleteActivePods).
    pub async fn delete_pod(
        &self,
        job: &Job,
        key: &str,
        pod: &Pod,
        release: bool,
    ) -> Result<(), Error> {
        if release && has_tracking_finalizer(pod) {
            self.remove_finalizer(key, pod).await?;
        }
        let namespace = pod.namespace().unwrap_or_default();
        let name = pod.name_any();
        match self
            .pods_api(&namespace)
            .delete(&name, &DeleteParams::default())
            .await
        {
            Ok(_) => {
                if let Some(uid) = pod.metadata.uid.clone() {
                    self.memory.expect_deleted(key, uid);
                }
                let note = format!("Deleted pod: {name}");
                self.event(job, EventType::Normal, "SuccessfulDelete", note)
                    .await;
                Ok(())
            }
            Err(error) if status_code(&error) == Some(404) => Ok(()),
            Err(error) => {
                let note = format!("Error deleting: {}", describe(&error));
                self.event(job, EventType::Warning, "FailedDelete", note)
                    .await;
                Err(error.into())
            }
        }
    }

    /// Removes the tracking finalizer, guarded by the list it was read
    /// with; a pod already gone counts as done.
    pub async fn remove_finalizer(&self, key: &str, pod: &Pod) -> Result<(), Error> {
        // Upstream's removeTrackingFinalizerPatch.
        let patch = serde_json::json!({
            "metadata": {"$deleteFromPrimitiveList/finalizers": [TRACKING_FINALIZER]}
        });
        let namespace = pod.namespace().unwrap_or_default();
        let result = self
            .pods_api(&namespace)
            .patch(
                &pod.name_any(),
                &PatchParams::default(),
                &Patch::Strategic(patch),
            )
            .await;
        match result {
            Ok(_) => {}
            Err(error) if status_code(&error) == Some(404) => {}
            Err(error) => {
                return Err(Error::new(format!(
                    "removing tracking finalizer: {}",
                    describe(&error)
                )))
            }
        }
        if let Some(uid) = pod.metadata.uid.clone() {
            self.memory.finalizer_removed(key, uid);
        }
        Ok(())
    }

    /// Writes the status, guarded by the resourceVersion it was read with.
    pub async fn update_status(&self, job: &Job) -> Result<Job, Error> {
        let namespace = job.namespace().unwrap_or_default();
        let api: Api<Job> = Api::namespaced(self.client.clone(), &namespace);
        let written = api
            .replace_status(&job.name_any(), &PostParams::default(), job)
            .await?;
        let key = format!("{namespace}/{}", job.name_any());
        self.memory
            .set_latest_version(&key, written.metadata.resource_version.clone());
        Ok(written)
    }

    /// The Job as the API server has it when the cache has not yet shown
    /// this controller's last status write: a pod event can arrive before
    /// the Job's, and acting on the older status would, for one, recreate
    /// pods of indexes already given up.
    pub async fn latest(&self, cached: Arc<Job>, key: &str) -> Result<Arc<Job>, Error> {
        let known = self.memory.latest_version(key);
        if known.is_none() || known == cached.metadata.resource_version {
            return Ok(cached);
        }
        let api: Api<Job> =
            Api::namespaced(self.client.clone(), &cached.namespace().unwrap_or_default());
        match api.get_opt(&cached.name_any()).await? {
            Some(fresh) if fresh.metadata.uid == cached.metadata.uid => {
                self.memory
                    .set_latest_version(key, fresh.metadata.resource_version.clone());
                Ok(Arc::new(fresh))
            }
            _ => Ok(cached),
        }
    }
}

/// A pod of the Job from its template, as upstream's manageJob stamps it:
/// the tracking finalizer, and for Indexed Jobs the index annotation and
/// label, the hostname `<job>-<index>`, the JOB_COMPLETION_INDEX variable
/// and the name prefix `<job>-<index>-`; with backoffLimitPerIndex, the
/// index's failure counts so far.
pub fn pod_for(job: &Job, index: Option<u32>, replaced: Option<&Pod>) -> Pod {
    let name = job.name_any();
    let namespace = job.namespace().unwrap_or_default();
    let template = job
        .spec
        .as_ref()
        .map(|s| s.template.clone())
        .unwrap_or_default();
    let prefix = match index {
        Some(ix) => format!("{}-{ix}", truncate_for_index(&name)),
        None => name.clone(),
    };
    let mut pod = from_template(&template, controller_ref(job), &namespace, None, &prefix);
    let finalizers = pod.metadata.finalizers.get_or_insert_with(Vec::new);
    if !finalizers.iter().any(|f| f == TRACKING_FINALIZER) {
        finalizers.push(TRACKING_FINALIZER.into());
    }
    let Some(ix) = index else {
        return pod;
    };
    let annotations = pod
        .metadata
        .annotations
        .get_or_insert_with(Default::default);
    annotations.insert(COMPLETION_INDEX.into(), ix.to_string());
    if has_backoff_limit_per_index(job) {
        let (counted, ignored) = new_failure_counts(job, replaced);
        annotations.insert(INDEX_FAILURE_COUNT.into(), counted.to_string());
        if ignored > 0 {
            annotations.insert(INDEX_IGNORED_FAILURE_COUNT.into(), ignored.to_string());
        }
    }
    pod.metadata
        .labels
        .get_or_insert_with(Default::default)
        .insert(COMPLETION_INDEX.into(), ix.to_string());
    if let Some(spec) = pod.spec.as_mut() {
        spec.hostname = Some(format!("{name}-{ix}"));
        let env = EnvVar {
            name: "JOB_COMPLETION_INDEX".into(),
            value: None,
            value_from: Some(EnvVarSource {
                field_ref: Some(ObjectFieldSelector {
                    api_version: None,
                    field_path: format!("metadata.annotations['{COMPLETION_INDEX}']"),
                }),
                ..Default::default()
            }),
        };
        let containers = spec
            .containers
            .iter_mut()
            .chain(spec.init_containers.iter_mut().flatten());
        for container in containers {
            let vars = container.env.get_or_insert_with(Vec::new);
            if !vars.iter().any(|v| v.name == env.name) {
                vars.push(env.clone());
            }
        }
    }
    pod
}

/// Keeps `<job>-<index>-<random>` within a name's 63 characters, as
/// upstream's podGenerateNameWithIndex trims the Job's name.
fn truncate_for_index(name: &str) -> &str {
    const MAX_PREFIX: usize = 63 - 5 - 1 - 10;
    match name.char_indices().nth(MAX_PREFIX) {
        Some((cut, _)) => &name[..cut],
        None => name,
    }
}
