//! The controllers' event recorder: kube's `Recorder` behind upstream's
//! spam filter (client-go's EventSourceObjectSpamFilter). Each object an
//! event is about gets a token bucket of 25 events, refilled at one every
//! five minutes; events beyond it are dropped. A ReplicaSet creating ten
//! thousand pods thus records a few dozen events, not ten thousand writes.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::ObjectReference;
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::Client;

/// Events per object recorded at once (upstream's defaultSpamBurst).
const BURST: f64 = 25.0;
/// One more event allowed per this much time (upstream's defaultSpamQPS,
/// 1/300).
const REFILL_EVERY: Duration = Duration::from_secs(300);
/// Buckets kept; past this, full ones are forgotten (as upstream's LRU).
const MAX_BUCKETS: usize = 4096;

#[derive(Clone)]
pub struct EventRecorder {
    recorder: Recorder,
    buckets: Arc<Mutex<HashMap<String, Bucket>>>,
}

#[derive(Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl EventRecorder {
    pub fn new(client: Client, reporter: Reporter) -> EventRecorder {
        EventRecorder {
            recorder: Recorder::new(client, reporter),
            buckets: Arc::default(),
        }
    }

    /// Records `event` about `regarding`, unless that object has had its
    /// share of events lately.
    pub async fn publish(
        &self,
        event: &Event,
        regarding: &ObjectReference,
    ) -> Result<(), kube::Error> {
        if !self.allow(regarding, Instant::now()) {
            tracing::debug!(reason = %event.reason, "event dropped by the spam filter");
            return Ok(());
        }
        self.recorder.publish(event, regarding).await
    }

    /// Records an event about `regarding`, with `reason` as its action too.
    /// `related` names the object it concerns (a pod, a claim), which also
    /// keeps events about different objects apart: the recorder folds
    /// events with the same reason and related object into one series. A
    /// failure to record is logged, not returned.
    pub async fn record(
        &self,
        regarding: &ObjectReference,
        type_: EventType,
        reason: &str,
        note: &str,
        related: Option<ObjectReference>,
    ) {
        let event = Event {
            type_,
            reason: reason.into(),
            note: Some(note.into()),
            action: reason.into(),
            secondary: related,
        };
        if let Err(error) = self.publish(&event, regarding).await {
            tracing::debug!(%error, "cannot record event");
        }
    }

    fn allow(&self, regarding: &ObjectReference, now: Instant) -> bool {
        let key = format!(
            "{}/{}/{}/{}/{}",
            regarding.api_version.as_deref().unwrap_or_default(),
            regarding.kind.as_deref().unwrap_or_default(),
            regarding.namespace.as_deref().unwrap_or_default(),
            regarding.name.as_deref().unwrap_or_default(),
            regarding.uid.as_deref().unwrap_or_default(),
        );
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        if buckets.len() >= MAX_BUCKETS && !buckets.contains_key(&key) {
            buckets.retain(|_, bucket| bucket.refilled(now).tokens < BURST);
        }
        let bucket = buckets.entry(key).or_insert(Bucket {
            tokens: BURST,
            at: now,
        });
        *bucket = bucket.refilled(now);
        if bucket.tokens < 1.0 {
            return false;
        }
        bucket.tokens -= 1.0;
        true
    }
}

/// A reference to a core/v1 object, for events about it.
pub fn core_reference(kind: &str, namespace: &str, name: &str) -> ObjectReference {
    ObjectReference {
        api_version: Some("v1".into()),
        kind: Some(kind.into()),
        namespace: Some(namespace.into()),
        name: Some(name.into()),
        ..ObjectReference::default()
    }
}

impl Bucket {
    fn refilled(self, now: Instant) -> Bucket {
        let earned = now.duration_since(self.at).as_secs_f64() / REFILL_EVERY.as_secs_f64();
        Bucket {
            tokens: (self.tokens + earned).min(BURST),
            at: now,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recorder() -> EventRecorder {
        // The client is never used by `allow`.
        let config = kube::Config::new("http://127.0.0.1:1".parse().unwrap());
        let client = Client::try_from(config).unwrap();
        EventRecorder::new(client, Reporter::from("test"))
    }

    fn about(name: &str) -> ObjectReference {
        ObjectReference {
            api_version: Some("apps/v1".into()),
            kind: Some("ReplicaSet".into()),
            namespace: Some("default".into()),
            name: Some(name.into()),
            uid: Some(format!("uid-{name}")),
            ..ObjectReference::default()
        }
    }

    #[tokio::test]
    async fn each_object_gets_a_burst_then_one_every_five_minutes() {
        let recorder = recorder();
        let start = Instant::now();
        let allowed = (0..40)
            .filter(|_| recorder.allow(&about("web"), start))
            .count();
        assert_eq!(allowed, 25);
        // Another object has its own bucket.
        assert!(recorder.allow(&about("api"), start));
        assert!(!recorder.allow(&about("web"), start + Duration::from_secs(100)));
        assert!(recorder.allow(&about("web"), start + Duration::from_secs(301)));
        assert!(!recorder.allow(&about("web"), start + Duration::from_secs(302)));
    }
}
