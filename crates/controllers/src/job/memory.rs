//! What the Job controller remembers between reconciles, as upstream keeps
//! it in memory: pods it created or deleted that the cache has not shown
//! yet (expectations), finalizers it removed that the cache still shows,
//! the failures since the last success that set the back-off, and the
//! newest resourceVersion of the Job it knows of.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Pod;

use super::policy::has_tracking_finalizer;

/// Expectations older than this are dropped, as upstream's
/// ExpectationsTimeout, so a lost watch event cannot wedge a Job.
const EXPECTATIONS_TIMEOUT: Duration = Duration::from_secs(300);

/// Consecutive failures since the last success (upstream's backoffRecord).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Backoff {
    pub failures: u32,
    pub last_failure: Option<jiff::Timestamp>,
}

impl Backoff {
    /// The record after pods newly seen finished, given their finish times
    /// (upstream's newBackoffRecord).
    pub fn after(
        self,
        mut succeeded: Vec<jiff::Timestamp>,
        mut failed: Vec<jiff::Timestamp>,
    ) -> Backoff {
        succeeded.sort();
        failed.sort();
        let Some(last_success) = succeeded.last() else {
            return match failed.last() {
                None => self,
                Some(last) => Backoff {
                    failures: self.failures + failed.len() as u32,
                    last_failure: Some(*last),
                },
            };
        };
        let after_success: Vec<_> = failed.iter().filter(|t| *t > last_success).collect();
        Backoff {
            failures: after_success.len() as u32,
            last_failure: after_success.last().map(|t| **t),
        }
    }
}

#[derive(Default)]
struct JobMemory {
    created: HashSet<String>,
    deleted: HashSet<String>,
    expected_since: Option<Instant>,
    removed_finalizers: HashSet<String>,
    backoff: Backoff,
    latest_version: Option<String>,
}

/// The memory of all Jobs, keyed by `namespace/name`.
#[derive(Default)]
pub struct Memory(Mutex<HashMap<String, JobMemory>>);

fn uid(pod: &Pod) -> &str {
    pod.metadata.uid.as_deref().unwrap_or("")
}

impl Memory {
    fn with<T>(&self, key: &str, f: impl FnOnce(&mut JobMemory) -> T) -> T {
        let mut all = self.0.lock().unwrap_or_else(|e| e.into_inner());
        f(all.entry(key.to_owned()).or_default())
    }

    /// Whether every pod created or deleted is seen so in `pods`, so that
    /// counting active pods is safe (upstream's SatisfiedExpectations).
    pub fn satisfied(&self, key: &str, pods: &[&Pod]) -> bool {
        self.with(key, |memory| {
            let by_uid: HashMap<&str, &Pod> = pods.iter().map(|p| (uid(p), *p)).collect();
            memory.created.retain(|u| !by_uid.contains_key(u.as_str()));
            memory.deleted.retain(|u| {
                by_uid
                    .get(u.as_str())
                    .is_some_and(|p| p.metadata.deletion_timestamp.is_none())
            });
            let pending = !memory.created.is_empty() || !memory.deleted.is_empty();
            let expired = memory
                .expected_since
                .is_some_and(|since| since.elapsed() > EXPECTATIONS_TIMEOUT);
            if !pending || expired {
                memory.created.clear();
                memory.deleted.clear();
                memory.expected_since = None;
                return true;
            }
            false
        })
    }

    pub fn expect_created(&self, key: &str, uid: String) {
        self.with(key, |m| {
            m.created.insert(uid);
            m.expected_since.get_or_insert_with(Instant::now);
        });
    }

    pub fn expect_deleted(&self, key: &str, uid: String) {
        self.with(key, |m| {
            m.deleted.insert(uid);
            m.expected_since.get_or_insert_with(Instant::now);
        });
    }

    /// The pods whose tracking finalizer was removed while the cache still
    /// shows it: they are counted already.
    pub fn removed_finalizers(&self, key: &str, pods: &[&Pod]) -> HashSet<String> {
        self.with(key, |m| {
            let still_shown: HashSet<&str> = pods
                .iter()
                .filter(|p| has_tracking_finalizer(p))
                .map(|p| uid(p))
                .collect();
            m.removed_finalizers
                .retain(|u| still_shown.contains(u.as_str()));
            m.removed_finalizers.clone()
        })
    }

    pub fn finalizer_removed(&self, key: &str, uid: String) {
        self.with(key, |m| {
            m.removed_finalizers.insert(uid);
        });
    }

    pub fn backoff(&self, key: &str) -> Backoff {
        self.with(key, |m| m.backoff)
    }

    pub fn set_backoff(&self, key: &str, backoff: Backoff) {
        self.with(key, |m| m.backoff = backoff);
    }

    /// The resourceVersion of the Job's last status write (or read), which
    /// tells when the cache has not caught up with it yet.
    pub fn latest_version(&self, key: &str) -> Option<String> {
        self.with(key, |m| m.latest_version.clone())
    }

    pub fn set_latest_version(&self, key: &str, version: Option<String>) {
        self.with(key, |m| m.latest_version = version);
    }

    pub fn forget(&self, key: &str) {
        let mut all = self.0.lock().unwrap_or_else(|e| e.into_inner());
        all.remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(second: i64) -> jiff::Timestamp {
        jiff::Timestamp::from_second(second).unwrap()
    }

    #[test]
    fn backoff_counts_failures_since_the_last_success() {
        let start = Backoff::default();
        let one = start.after(vec![], vec![at(10)]);
        assert_eq!(
            one,
            Backoff {
                failures: 1,
                last_failure: Some(at(10))
            }
        );
        let two = one.after(vec![], vec![at(30), at(20)]);
        assert_eq!(
            two,
            Backoff {
                failures: 3,
                last_failure: Some(at(30))
            }
        );
        let reset = two.after(vec![at(40)], vec![at(35), at(50)]);
        assert_eq!(
            reset,
            Backoff {
                failures: 1,
                last_failure: Some(at(50))
            }
        );
        assert_eq!(reset.after(vec![at(60)], vec![]), Backoff::default());
    }

    #[test]
    fn expectations_wait_for_the_cache() {
        let memory = Memory::default();
        let mut pod = Pod::default();
        pod.metadata.uid = Some("u1".into());
        memory.expect_created("ns/j", "u1".into());
        assert!(!memory.satisfied("ns/j", &[]));
        assert!(memory.satisfied("ns/j", &[&pod]));
        memory.expect_deleted("ns/j", "u1".into());
        assert!(!memory.satisfied("ns/j", &[&pod]));
        pod.metadata.deletion_timestamp = Some(
            k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(jiff::Timestamp::now()),
        );
        assert!(memory.satisfied("ns/j", &[&pod]));
    }
}
