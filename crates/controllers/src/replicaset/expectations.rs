//! Upstream's controller expectations (UIDTrackingControllerExpectations):
//! after creating or deleting pods, a controller waits until its watch has
//! shown those changes before it counts pods again, so that a slow watch
//! does not make it create or delete twice. Expectations that are not met
//! within [`TIMEOUT`] are dropped, as upstream's.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long expectations hold before they are given up (upstream's
/// ExpectationsTimeout).
pub const TIMEOUT: Duration = Duration::from_secs(5 * 60);

#[derive(Debug)]
struct Expected {
    /// Creations not yet seen.
    adds: i64,
    /// Pods (`namespace/name`) asked to be deleted whose deletion was not
    /// yet seen.
    deletes: HashSet<String>,
    since: Instant,
}

/// Expectations of every owner of one kind, by `namespace/name`.
#[derive(Debug, Default)]
pub struct Expectations {
    owners: Mutex<HashMap<String, Expected>>,
}

/// Whether an owner may count its pods and act.
#[derive(Debug, PartialEq, Eq)]
pub enum Readiness {
    Satisfied,
    /// Still waiting; look again after this long at the latest.
    Waiting(Duration),
}

impl Expectations {
    fn owners(&self) -> std::sync::MutexGuard<'_, HashMap<String, Expected>> {
        self.owners
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn readiness(&self, owner: &str) -> Readiness {
        self.readiness_at(owner, Instant::now())
    }

    fn readiness_at(&self, owner: &str, now: Instant) -> Readiness {
        let mut owners = self.owners();
        let Some(expected) = owners.get(owner) else {
            return Readiness::Satisfied;
        };
        let age = now.saturating_duration_since(expected.since);
        if (expected.adds <= 0 && expected.deletes.is_empty()) || age >= TIMEOUT {
            owners.remove(owner);
            return Readiness::Satisfied;
        }
        Readiness::Waiting(TIMEOUT - age)
    }

    /// Sets the expectation of `count` creations, replacing any.
    pub fn expect_creations(&self, owner: &str, count: usize) {
        self.owners().insert(
            owner.to_owned(),
            Expected {
                adds: i64::try_from(count).unwrap_or(i64::MAX),
                deletes: HashSet::new(),
                since: Instant::now(),
            },
        );
    }

    /// Sets the expectation that these pods go, replacing any.
    pub fn expect_deletions(&self, owner: &str, pods: impl IntoIterator<Item = String>) {
        self.owners().insert(
            owner.to_owned(),
            Expected {
                adds: 0,
                deletes: pods.into_iter().collect(),
                since: Instant::now(),
            },
        );
    }

    /// A pod of the owner was seen for the first time, or a creation will
    /// not happen after all.
    pub fn creation_observed(&self, owner: &str) {
        if let Some(expected) = self.owners().get_mut(owner) {
            expected.adds -= 1;
        }
    }

    /// A pod of the owner was seen deleted or being deleted, or its
    /// deletion will not happen after all.
    pub fn deletion_observed(&self, owner: &str, pod: &str) {
        if let Some(expected) = self.owners().get_mut(owner) {
            expected.deletes.remove(pod);
        }
    }

    /// The owner is gone: forget it.
    pub fn forget(&self, owner: &str) {
        self.owners().remove(owner);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creations_are_awaited_until_seen() {
        let expectations = Expectations::default();
        assert_eq!(expectations.readiness("ns/a"), Readiness::Satisfied);
        expectations.expect_creations("ns/a", 2);
        assert!(matches!(
            expectations.readiness("ns/a"),
            Readiness::Waiting(_)
        ));
        expectations.creation_observed("ns/a");
        assert!(matches!(
            expectations.readiness("ns/a"),
            Readiness::Waiting(_)
        ));
        expectations.creation_observed("ns/a");
        assert_eq!(expectations.readiness("ns/a"), Readiness::Satisfied);
    }

    #[test]
    fn deletions_are_awaited_by_pod() {
        let expectations = Expectations::default();
        expectations.expect_deletions("ns/a", ["ns/p1".to_string(), "ns/p2".to_string()]);
        expectations.deletion_observed("ns/a", "ns/p1");
        expectations.deletion_observed("ns/a", "ns/p1");
        assert!(matches!(
            expectations.readiness("ns/a"),
            Readiness::Waiting(_)
        ));
        expectations.deletion_observed("ns/a", "ns/p2");
        assert_eq!(expectations.readiness("ns/a"), Readiness::Satisfied);
    }

    #[test]
    fn expectations_expire() {
        let expectations = Expectations::default();
        expectations.expect_creations("ns/a", 1);
        let later = Instant::now() + TIMEOUT + Duration::from_secs(1);
        assert_eq!(
            expectations.readiness_at("ns/a", later),
            Readiness::Satisfied
        );
    }
}
