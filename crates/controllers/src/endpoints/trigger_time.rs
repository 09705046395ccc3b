//! The `endpoints.kubernetes.io/last-change-trigger-time` annotation, as
//! upstream's TriggerTimeTracker computes it: the earliest change, among
//! those not yet seen by a sync, of the Service (its creation) and of its
//! pods (when their readiness last changed). kube-proxy measures
//! programming latency from it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use jiff::Timestamp;
use k8s_openapi::api::core::v1::{Pod, Service};
use kube::ResourceExt;

/// The annotation's name.
pub const ANNOTATION: &str = "endpoints.kubernetes.io/last-change-trigger-time";

/// What the last sync of each Service saw.
#[derive(Default)]
pub struct TriggerTimes {
    services: Mutex<HashMap<(String, String), Seen>>,
}

#[derive(Default)]
struct Seen {
    service: Option<Timestamp>,
    pods: HashMap<String, Timestamp>,
}

/// When the pod last changed in a way that matters to endpoints: the last
/// transition of its Ready condition.
fn pod_trigger_time(pod: &Pod) -> Option<Timestamp> {
    let conditions = pod.status.as_ref()?.conditions.as_ref()?;
    let ready = conditions.iter().find(|c| c.type_ == "Ready")?;
    ready.last_transition_time.as_ref().map(|t| t.0)
}

impl TriggerTimes {
    /// The trigger time for this sync of the Service, if anything changed
    /// since the last one; remembers what this sync saw.
    pub fn compute(&self, service: &Service, pods: &[Arc<Pod>]) -> Option<Timestamp> {
        let key = (service.namespace().unwrap_or_default(), service.name_any());
        let mut services = self.services.lock().unwrap_or_else(PoisonError::into_inner);
        let before = services.remove(&key).unwrap_or_default();
        let mut now = Seen::default();
        let mut earliest: Option<Timestamp> = None;
        let mut consider = |time: Timestamp| {
            earliest = Some(earliest.map_or(time, |e| e.min(time)));
        };
        for pod in pods {
            if let Some(time) = pod_trigger_time(pod) {
                let name = pod.name_any();
                if before.pods.get(&name).is_none_or(|seen| time > *seen) {
                    consider(time);
                }
                now.pods.insert(name, time);
            }
        }
        let created = service.metadata.creation_timestamp.as_ref().map(|t| t.0);
        if let Some(created) = created {
            if before.service.is_none_or(|seen| created > seen) {
                consider(created);
            }
        }
        now.service = created;
        services.insert(key, now);
        earliest
    }

    /// Forgets a deleted Service.
    pub fn forget(&self, namespace: &str, name: &str) {
        let mut services = self.services.lock().unwrap_or_else(PoisonError::into_inner);
        services.remove(&(namespace.to_string(), name.to_string()));
    }
}

/// The annotation's value for a time, as upstream formats it (RFC 3339
/// with nanoseconds as needed, in UTC).
pub fn format(time: Timestamp) -> String {
    time.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{PodCondition, PodStatus};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};

    fn at(second: i64) -> Timestamp {
        Timestamp::from_second(second).unwrap()
    }

    fn pod(name: &str, ready_at: i64) -> Arc<Pod> {
        Arc::new(Pod {
            metadata: ObjectMeta {
                name: Some(name.into()),
                ..ObjectMeta::default()
            },
            status: Some(PodStatus {
                conditions: Some(vec![PodCondition {
                    type_: "Ready".into(),
                    status: "True".into(),
                    last_transition_time: Some(Time(at(ready_at))),
                    ..PodCondition::default()
                }]),
                ..PodStatus::default()
            }),
            ..Pod::default()
        })
    }

    #[test]
    fn earliest_unseen_change() {
        let service = Service {
            metadata: ObjectMeta {
                name: Some("web".into()),
                namespace: Some("default".into()),
                creation_timestamp: Some(Time(at(100))),
                ..ObjectMeta::default()
            },
            ..Service::default()
        };
        let times = TriggerTimes::default();
        assert_eq!(times.compute(&service, &[pod("a", 110)]), Some(at(100)));
        // Nothing new.
        assert_eq!(times.compute(&service, &[pod("a", 110)]), None);
        // Two pods changed: the earlier one.
        assert_eq!(
            times.compute(&service, &[pod("a", 130), pod("b", 120)]),
            Some(at(120))
        );
        times.forget("default", "web");
        assert_eq!(times.compute(&service, &[pod("a", 130)]), Some(at(100)));
        assert_eq!(format(at(100)), "1970-01-01T00:01:40Z");
    }
}
