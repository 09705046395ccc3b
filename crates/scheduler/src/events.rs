//! Events about pods (events.k8s.io/v1, reportingController
//! default-scheduler), written in the background so scheduling never waits
//! on them. A repeat of a pod's last event becomes a series count, as
//! kube-rs's Recorder does; when too many are queued, events are dropped,
//! as upstream's broadcaster does.

use std::collections::HashMap;
use std::sync::Arc;

use futures_util::StreamExt;
use jiff::Timestamp;
use k8s_openapi::api::core::v1::{ObjectReference, Pod};
use k8s_openapi::api::events::v1::{Event, EventSeries};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use kube::api::{Patch, PatchParams, PostParams};
use kube::Api;
use serde_json::json;
use tokio::sync::mpsc;

use crate::config::DEFAULT_SCHEDULER_NAME;

/// Events queued beyond this are dropped.
const QUEUE: usize = 8192;
/// Event writes in flight at once.
const WRITERS: usize = 32;
/// Remembered last events (for series); forgotten all at once beyond this.
const REMEMBERED: usize = 20_000;

/// What happened to a pod.
#[derive(Clone, Debug)]
pub struct Note {
    pub warning: bool,
    pub reason: &'static str,
    pub action: &'static str,
    pub message: String,
}

impl Note {
    pub fn normal(reason: &'static str, action: &'static str, message: String) -> Note {
        Note {
            warning: false,
            reason,
            action,
            message,
        }
    }

    pub fn warning(reason: &'static str, action: &'static str, message: String) -> Note {
        Note {
            warning: true,
            reason,
            action,
            message,
        }
    }
}

struct Pending {
    pod: Arc<Pod>,
    note: Note,
}

#[derive(Clone)]
pub struct EventRecorder {
    queue: mpsc::Sender<Pending>,
}

impl EventRecorder {
    /// Starts the writer; it stops when every recorder is dropped.
    pub fn start(client: kube::Client) -> EventRecorder {
        let (queue, pending) = mpsc::channel(QUEUE);
        tokio::spawn(write_events(client, pending));
        EventRecorder { queue }
    }

    pub fn record(&self, pod: &Arc<Pod>, note: Note) {
        let _ = self.queue.try_send(Pending {
            pod: pod.clone(),
            note,
        });
    }
}

fn reporting_instance() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_default();
    if host.is_empty() {
        DEFAULT_SCHEDULER_NAME.to_string()
    } else {
        format!("{DEFAULT_SCHEDULER_NAME}-{host}")
    }
}

/// The last event written per pod: (reason, message) → (name, count).
type Last = HashMap<String, (String, String, String, i32)>;

async fn write_events(client: kube::Client, pending: mpsc::Receiver<Pending>) {
    let instance = reporting_instance();
    let last = std::sync::Mutex::new(Last::new());
    stream_of(pending)
        .for_each_concurrent(WRITERS, |event| {
            let client = client.clone();
            let instance = instance.as_str();
            let last = &last;
            async move {
                write_one(&client, instance, last, event).await;
            }
        })
        .await;
}

fn stream_of<T: Send + 'static>(
    mut receiver: mpsc::Receiver<T>,
) -> impl futures_util::Stream<Item = T> {
    futures_util::stream::poll_fn(move |cx| receiver.poll_recv(cx))
}

async fn write_one(
    client: &kube::Client,
    instance: &str,
    last: &std::sync::Mutex<Last>,
    event: Pending,
) {
    let pod = &event.pod;
    let namespace = pod
        .metadata
        .namespace
        .clone()
        .unwrap_or_else(|| "default".into());
    let name = pod.metadata.name.clone().unwrap_or_default();
    let key = format!("{namespace}/{name}");
    let api: Api<Event> = Api::namespaced(client.clone(), &namespace);
    let now = Timestamp::now();
    let repeat = {
        let mut last = last.lock().unwrap_or_else(|e| e.into_inner());
        if last.len() > REMEMBERED {
            last.clear();
        }
        match last.get_mut(&key) {
            Some((reason, message, event_name, count))
                if reason == event.note.reason && *message == event.note.message =>
            {
                *count += 1;
                Some((event_name.clone(), *count))
            }
            _ => None,
        }
    };
    if let Some((event_name, count)) = repeat {
        let series = EventSeries {
            count,
            last_observed_time: MicroTime(now),
        };
        let patch = Patch::Merge(json!({"series": series}));
        if api
            .patch(&event_name, &PatchParams::default(), &patch)
            .await
            .is_ok()
        {
            return;
        }
    }
    let event_name = format!("{name}.{:x}", now.as_nanosecond());
    let object = Event {
        metadata: kube::api::ObjectMeta {
            name: Some(event_name.clone()),
            namespace: Some(namespace.clone()),
            ..Default::default()
        },
        event_time: Some(MicroTime(now)),
        action: Some(event.note.action.into()),
        reason: Some(event.note.reason.into()),
        note: Some(event.note.message.clone()),
        type_: Some(
            if event.note.warning {
                "Warning"
            } else {
                "Normal"
            }
            .into(),
        ),
        reporting_controller: Some(DEFAULT_SCHEDULER_NAME.into()),
        reporting_instance: Some(instance.into()),
        regarding: Some(ObjectReference {
            api_version: Some("v1".into()),
            kind: Some("Pod".into()),
            name: Some(name),
            namespace: Some(namespace),
            uid: pod.metadata.uid.clone(),
            resource_version: pod.metadata.resource_version.clone(),
            ..ObjectReference::default()
        }),
        ..Event::default()
    };
    match api.create(&PostParams::default(), &object).await {
        Ok(_) => {
            let mut last = last.lock().unwrap_or_else(|e| e.into_inner());
            last.insert(
                key,
                (
                    event.note.reason.to_string(),
                    event.note.message,
                    event_name,
                    1,
                ),
            );
        }
        Err(error) => tracing::debug!(%error, "could not write a scheduler event"),
    }
}
