//! Events about pods and their containers, as upstream's kubelet records
//! them (reportingController `kubelet`, the node as instance, a field
//! path such as `spec.containers{web}`): Pulling, Pulled, Created,
//! Started, Killing, BackOff, Unhealthy, Failed. They are written by a
//! task of their own so a pod's sync never waits on them; kube's
//! `Recorder` folds repeats into a series, and when too many are queued
//! the newest are dropped, as upstream's broadcaster does.

use k8s_openapi::api::core::v1::{ObjectReference, Pod};
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use tokio::sync::mpsc;

/// Events queued beyond this are dropped.
const QUEUE: usize = 1024;

/// Where the agent records events; cloned freely.
#[derive(Clone, Default)]
pub struct Events {
    /// None records nothing (hollow nodes: their pods are simulated).
    sender: Option<mpsc::Sender<(ObjectReference, Event)>>,
}

impl Events {
    /// Records events of `node` through `client`.
    pub fn new(client: kube::Client, node: &str) -> Events {
        let reporter = Reporter {
            controller: "kubelet".into(),
            instance: Some(node.to_string()),
        };
        let recorder = Recorder::new(client, reporter);
        let (sender, mut received) = mpsc::channel::<(ObjectReference, Event)>(QUEUE);
        tokio::spawn(async move {
            while let Some((regarding, event)) = received.recv().await {
                if let Err(error) = recorder.publish(&event, &regarding).await {
                    tracing::debug!(%error, reason = %event.reason, "cannot record an event");
                }
            }
        });
        Events {
            sender: Some(sender),
        }
    }

    /// An event about the pod as a whole.
    pub fn pod(&self, pod: &Pod, kind: Kind, reason: &str, message: String) {
        self.send(reference(pod, None), kind, reason, message);
    }

    /// An event about one of the pod's containers.
    pub fn container(&self, pod: &Pod, container: &str, kind: Kind, reason: &str, message: String) {
        self.send(reference(pod, Some(container)), kind, reason, message);
    }

    fn send(&self, regarding: ObjectReference, kind: Kind, reason: &str, message: String) {
        let Some(sender) = &self.sender else {
            return;
        };
        let event = Event {
            type_: match kind {
                Kind::Normal => EventType::Normal,
                Kind::Warning => EventType::Warning,
            },
            reason: reason.into(),
            note: Some(message),
            action: reason.into(),
            secondary: None,
        };
        if sender.try_send((regarding, event)).is_err() {
            tracing::debug!(%reason, "event queue full; event dropped");
        }
    }
}

/// An event's type.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Kind {
    Normal,
    Warning,
}

/// The pod, or with `container` the field path of that container
/// (`spec.containers{web}`, `spec.initContainers{setup}`).
fn reference(pod: &Pod, container: Option<&str>) -> ObjectReference {
    let field_path = container.map(|name| {
        let spec = pod.spec.as_ref();
        let init = spec
            .and_then(|s| s.init_containers.as_ref())
            .is_some_and(|all| all.iter().any(|c| c.name == name));
        let ephemeral = spec
            .and_then(|s| s.ephemeral_containers.as_ref())
            .is_some_and(|all| all.iter().any(|c| c.name == name));
        let list = if init {
            "initContainers"
        } else if ephemeral {
            "ephemeralContainers"
        } else {
            "containers"
        };
        format!("spec.{list}{{{name}}}")
    });
    ObjectReference {
        api_version: Some("v1".into()),
        kind: Some("Pod".into()),
        namespace: pod.metadata.namespace.clone(),
        name: pod.metadata.name.clone(),
        uid: pod.metadata.uid.clone(),
        resource_version: pod.metadata.resource_version.clone(),
        field_path,
    }
}

/// A duration as Go prints one truncated to milliseconds (`523ms`,
/// `1.234s`, `2m3.5s`), as upstream's pull messages show them.
pub fn go_duration(duration: std::time::Duration) -> String {
    let millis = duration.as_millis();
    if millis < 1000 {
        return format!("{millis}ms");
    }
    let (minutes, millis) = (millis / 60_000, millis % 60_000);
    let seconds = format!("{}.{:03}", millis / 1000, millis % 1000);
    let seconds = seconds.trim_end_matches('0').trim_end_matches('.');
    match minutes {
        0 => format!("{seconds}s"),
        m if m < 60 => format!("{m}m{seconds}s"),
        m => format!("{}h{}m{seconds}s", m / 60, m % 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn containers_are_named_by_their_field_path() {
        let pod: Pod = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "web", "namespace": "default", "uid": "u1"},
            "spec": {"initContainers": [{"name": "setup"}], "containers": [{"name": "app"}]}
        }))
        .unwrap();
        let app = reference(&pod, Some("app"));
        assert_eq!(app.field_path.as_deref(), Some("spec.containers{app}"));
        assert_eq!(app.uid.as_deref(), Some("u1"));
        let setup = reference(&pod, Some("setup"));
        assert_eq!(
            setup.field_path.as_deref(),
            Some("spec.initContainers{setup}")
        );
        assert_eq!(reference(&pod, None).field_path, None);
    }

    #[test]
    fn durations_read_as_go_prints_them() {
        assert_eq!(go_duration(Duration::from_micros(523_400)), "523ms");
        assert_eq!(go_duration(Duration::from_millis(1234)), "1.234s");
        assert_eq!(go_duration(Duration::from_millis(2000)), "2s");
        assert_eq!(go_duration(Duration::from_millis(123_500)), "2m3.5s");
        assert_eq!(go_duration(Duration::from_secs(3_600)), "1h0m0s");
        assert_eq!(go_duration(Duration::from_secs(80)), "1m20s");
        assert_eq!(go_duration(Duration::from_secs(300)), "5m0s");
    }
}
