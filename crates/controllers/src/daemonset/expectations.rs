//! What the controller has just created and deleted but may not see yet
//! in its pod cache (upstream's ControllerExpectations). Until the cache
//! has caught up a DaemonSet is not managed again, so that a lagging cache
//! never makes it create a second pod on a node.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Pod;
use kube::runtime::reflector::{ObjectRef, Store};

/// How long expectations hold at most, as upstream's ExpectationsTimeout:
/// a watch event that never comes must not stall a DaemonSet for ever.
const TIMEOUT: Duration = Duration::from_secs(5 * 60);

#[derive(Default)]
struct Pending {
    creates: HashSet<String>,
    deletes: HashSet<String>,
    since: Option<Instant>,
}

/// Expectations of every DaemonSet, by `namespace/name`.
#[derive(Default)]
pub struct Expectations {
    pending: Mutex<HashMap<String, Pending>>,
}

impl Expectations {
    /// Remembers pods created and deleted in `namespace` for `key`.
    pub fn expect(&self, key: &str, created: Vec<String>, deleted: Vec<String>) {
        if created.is_empty() && deleted.is_empty() {
            return;
        }
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        let entry = pending.entry(key.to_owned()).or_default();
        entry.creates.extend(created);
        entry.deletes.extend(deleted);
        entry.since = Some(Instant::now());
    }

    /// Whether the cache shows everything expected for `key`: created pods
    /// present, deleted ones gone or being deleted.
    pub fn satisfied(&self, key: &str, namespace: &str, pods: &Store<Pod>) -> bool {
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        let Some(entry) = pending.get_mut(key) else {
            return true;
        };
        let cached = |name: &str| pods.get(&ObjectRef::new(name).within(namespace));
        entry.creates.retain(|name| cached(name).is_none());
        entry
            .deletes
            .retain(|name| cached(name).is_some_and(|p| p.metadata.deletion_timestamp.is_none()));
        let expired = entry.since.is_some_and(|since| since.elapsed() > TIMEOUT);
        if expired || (entry.creates.is_empty() && entry.deletes.is_empty()) {
            pending.remove(key);
            return true;
        }
        false
    }

    /// Forgets a DaemonSet that is gone.
    pub fn forget(&self, key: &str) {
        self.pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(key);
    }
}
