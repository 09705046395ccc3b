//! Writes to the API: bindings (many in flight at once), the PodScheduled
//! condition of pods that do not fit, nominations and preemption victims.

use std::sync::Arc;

use jiff::Timestamp;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{DeleteParams, Patch, PatchParams, PostParams, Preconditions};
use kube::Api;
use serde_json::json;
use tokio::sync::mpsc::UnboundedSender;
use tokio::sync::Semaphore;

use crate::events::{EventRecorder, Note};
use crate::watch::Message;

/// How many bindings may be in flight at once.
const BINDS_IN_FLIGHT: usize = 256;

/// The result of one binding, reported back to the scheduling loop.
#[derive(Debug)]
pub struct BindOutcome {
    pub pod: Arc<Pod>,
    pub node: String,
    pub result: Result<(), BindError>,
}

#[derive(Debug)]
pub enum BindError {
    /// The pod is gone or already bound: the watch will tell the rest.
    Stale(String),
    /// Worth another try after a back-off.
    Failed(String),
}

#[derive(Clone)]
pub struct Binder {
    client: kube::Client,
    slots: Arc<Semaphore>,
    events: EventRecorder,
}

fn api(client: &kube::Client, pod: &Pod) -> Api<Pod> {
    Api::namespaced(
        client.clone(),
        pod.metadata.namespace.as_deref().unwrap_or("default"),
    )
}

fn name(pod: &Pod) -> &str {
    pod.metadata.name.as_deref().unwrap_or_default()
}

impl Binder {
    pub fn new(client: kube::Client, events: EventRecorder) -> Binder {
        Binder {
            client,
            slots: Arc::new(Semaphore::new(BINDS_IN_FLIGHT)),
            events,
        }
    }

    /// Starts binding `pod` to `node`; waits only for a free slot.
    pub async fn bind(&self, pod: Arc<Pod>, node: String, report: UnboundedSender<Message>) {
        let Ok(permit) = self.slots.clone().acquire_owned().await else {
            return;
        };
        let client = self.client.clone();
        let events = self.events.clone();
        tokio::spawn(async move {
            let result = post_binding(&client, &pod, &node).await;
            drop(permit);
            if result.is_ok() {
                let namespace = pod.metadata.namespace.as_deref().unwrap_or_default();
                let note = format!("Successfully assigned {namespace}/{} to {node}", name(&pod));
                events.record(&pod, Note::normal("Scheduled", "Binding", note));
            }
            let _ = report.send(Message::Bound(BindOutcome { pod, node, result }));
        });
    }

    /// Marks a pod PodScheduled=False (reason Unschedulable or
    /// SchedulerError) unless it already says so; with preemption, also
    /// records the nominated node.
    pub fn fail(
        &self,
        pod: &Arc<Pod>,
        reason: &'static str,
        message: String,
        nominated: Option<String>,
    ) {
        self.events.record(
            pod,
            Note::warning("FailedScheduling", "Scheduling", message.clone()),
        );
        let current = pod
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .and_then(|c| c.iter().find(|c| c.type_ == "PodScheduled"));
        let unchanged = current.is_some_and(|c| {
            c.status == "False"
                && c.reason.as_deref() == Some(reason)
                && c.message.as_deref() == Some(message.as_str())
        });
        if unchanged && nominated.is_none() {
            return;
        }
        let mut status = json!({"conditions": [{
            "type": "PodScheduled",
            "status": "False",
            "reason": reason,
            "message": message,
            "lastProbeTime": null,
            "lastTransitionTime": Timestamp::now().to_string(),
        }]});
        if let Some(node) = nominated {
            status["nominatedNodeName"] = node.into();
        }
        let api = api(&self.client, pod);
        let name = name(pod).to_string();
        tokio::spawn(async move {
            let patch = Patch::Strategic(json!({"status": status}));
            if let Err(error) = api
                .patch_status(&name, &PatchParams::default(), &patch)
                .await
            {
                tracing::debug!(%error, pod = %name, "could not record why the pod is unschedulable");
            }
        });
    }

    /// Preemption: marks the victim (DisruptionTarget) and deletes it.
    pub fn preempt(
        &self,
        victim_namespace: &str,
        victim: &str,
        uid: &str,
        preemptor: &Pod,
        node: &str,
    ) {
        let api: Api<Pod> = Api::namespaced(self.client.clone(), victim_namespace);
        let scheduler = preemptor
            .spec
            .as_ref()
            .and_then(|s| s.scheduler_name.clone())
            .unwrap_or_else(|| "default-scheduler".into());
        let condition = json!({"status": {"conditions": [{
            "type": "DisruptionTarget",
            "status": "True",
            "reason": "PreemptionByScheduler",
            "message": format!("{scheduler}: preempting to accommodate a higher priority pod"),
            "lastTransitionTime": Timestamp::now().to_string(),
        }]}});
        let note = format!(
            "Preempted by pod {} on node {node}",
            preemptor.metadata.uid.as_deref().unwrap_or_default()
        );
        let victim_ref = Pod {
            metadata: kube::api::ObjectMeta {
                name: Some(victim.to_string()),
                namespace: Some(victim_namespace.to_string()),
                uid: Some(uid.to_string()),
                ..Default::default()
            },
            ..Pod::default()
        };
        self.events.record(
            &Arc::new(victim_ref),
            Note::normal("Preempted", "Preempting", note),
        );
        let victim = victim.to_string();
        let uid = uid.to_string();
        tokio::spawn(async move {
            let _ = api
                .patch_status(
                    &victim,
                    &PatchParams::default(),
                    &Patch::Strategic(condition),
                )
                .await;
            let params = DeleteParams {
                preconditions: Some(Preconditions {
                    uid: Some(uid),
                    resource_version: None,
                }),
                ..DeleteParams::default()
            };
            if let Err(error) = api.delete(&victim, &params).await {
                tracing::debug!(%error, pod = %victim, "could not delete a preemption victim");
            }
        });
    }
}

async fn post_binding(client: &kube::Client, pod: &Pod, node: &str) -> Result<(), BindError> {
    let binding = json!({
        "apiVersion": "v1",
        "kind": "Binding",
        "metadata": {
            "name": name(pod),
            "namespace": pod.metadata.namespace,
            "uid": pod.metadata.uid,
        },
        "target": {"apiVersion": "v1", "kind": "Node", "name": node},
    });
    let result: Result<serde_json::Value, kube::Error> = api(client, pod)
        .create_subresource("binding", name(pod), &PostParams::default(), &binding)
        .await;
    match result {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(status)) if matches!(status.code, 404 | 409) => {
            Err(BindError::Stale(status.message.clone()))
        }
        Err(error) => Err(BindError::Failed(error.to_string())),
    }
}
