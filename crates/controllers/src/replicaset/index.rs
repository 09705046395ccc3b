//! The pods an owner may claim, found without walking every pod: those
//! whose controller is the owner (by UID) and the orphans of its
//! namespace. With tens of thousands of pods a pass over the whole cache
//! for each reconcile would cost more than the reconcile itself. The index
//! holds the pods themselves (the cache's `Arc`s, as of the last change it
//! followed), so a reconcile reads no cache entry by name.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use k8s_openapi::api::core::v1::Pod;
use kube::runtime::reflector::Store;

use crate::pods::controller_of;
use crate::watch_util::Change;

/// `(namespace, name)` of a pod.
type PodName = (String, String);

/// Where a pod is filed.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Slot {
    /// Controlled by the object with this UID.
    Controller(String),
    /// No controller, in this namespace.
    Orphan(String),
}

#[derive(Default)]
pub struct PodIndex {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    slot_of: HashMap<PodName, Slot>,
    members: HashMap<Slot, HashMap<PodName, Arc<Pod>>>,
}

impl PodIndex {
    /// Follows one change of the pod cache.
    pub fn apply(&self, change: &Change<Pod>, cache: &Store<Pod>) {
        let mut inner = self.lock();
        match change {
            Change::Applied { new, .. } => inner.file(new.clone()),
            Change::Deleted(pod) => inner.remove(&name_of(pod)),
            Change::Relisted => {
                *inner = Inner::default();
                for pod in cache.state() {
                    inner.file(pod);
                }
            }
        }
    }

    /// The pods controlled by `uid` and the orphans of `namespace`.
    pub fn candidates(&self, uid: &str, namespace: &str) -> Vec<Arc<Pod>> {
        let inner = self.lock();
        let slots = [
            Slot::Controller(uid.to_string()),
            Slot::Orphan(namespace.to_string()),
        ];
        slots
            .iter()
            .filter_map(|slot| inner.members.get(slot))
            .flat_map(|members| members.values().cloned())
            .collect()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Inner {
    fn file(&mut self, pod: Arc<Pod>) {
        let name = name_of(&pod);
        let slot = match controller_of(&pod.metadata) {
            Some(reference) => Slot::Controller(reference.uid.clone()),
            None => Slot::Orphan(name.0.clone()),
        };
        if self.slot_of.get(&name) != Some(&slot) {
            self.remove(&name);
            self.slot_of.insert(name.clone(), slot.clone());
        }
        self.members.entry(slot).or_default().insert(name, pod);
    }

    fn remove(&mut self, name: &PodName) {
        let Some(slot) = self.slot_of.remove(name) else {
            return;
        };
        if let Some(members) = self.members.get_mut(&slot) {
            members.remove(name);
            if members.is_empty() {
                self.members.remove(&slot);
            }
        }
    }
}

fn name_of(pod: &Pod) -> PodName {
    (
        pod.metadata.namespace.clone().unwrap_or_default(),
        pod.metadata.name.clone().unwrap_or_default(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
    use kube::runtime::reflector::store::Writer;
    use kube::runtime::watcher::Event;

    fn pod(namespace: &str, name: &str, controller: Option<&str>) -> Pod {
        Pod {
            metadata: ObjectMeta {
                namespace: Some(namespace.into()),
                name: Some(name.into()),
                owner_references: controller.map(|uid| {
                    vec![OwnerReference {
                        api_version: "apps/v1".into(),
                        kind: "ReplicaSet".into(),
                        name: "web".into(),
                        uid: uid.into(),
                        controller: Some(true),
                        ..OwnerReference::default()
                    }]
                }),
                ..ObjectMeta::default()
            },
            ..Pod::default()
        }
    }

    fn names(pods: Vec<Arc<Pod>>) -> Vec<String> {
        let mut names: Vec<String> = pods
            .iter()
            .map(|p| p.metadata.name.clone().unwrap_or_default())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn finds_owned_pods_and_orphans_of_the_namespace() {
        let mut writer = Writer::<Pod>::default();
        let cache = writer.as_reader();
        let index = PodIndex::default();
        let pods = [
            pod("a", "owned", Some("u1")),
            pod("a", "other", Some("u2")),
            pod("a", "orphan", None),
            pod("b", "elsewhere", None),
        ];
        for pod in &pods {
            writer.apply_watcher_event(&Event::Apply(pod.clone()));
            index.apply(
                &Change::Applied {
                    old: None,
                    new: Arc::new(pod.clone()),
                },
                &cache,
            );
        }
        assert_eq!(names(index.candidates("u1", "a")), ["orphan", "owned"]);

        // Adopted: the orphan moves to its new controller.
        let adopted = pod("a", "orphan", Some("u2"));
        writer.apply_watcher_event(&Event::Apply(adopted.clone()));
        index.apply(
            &Change::Applied {
                old: None,
                new: Arc::new(adopted),
            },
            &cache,
        );
        assert_eq!(names(index.candidates("u1", "a")), ["owned"]);
        assert_eq!(names(index.candidates("u2", "a")), ["orphan", "other"]);

        // Deleted pods leave the index; a relist rebuilds it from the cache.
        index.apply(&Change::Deleted(Arc::new(pods[0].clone())), &cache);
        assert!(index.candidates("u1", "x").is_empty());
        index.apply(&Change::Relisted, &cache);
        assert_eq!(names(index.candidates("u1", "a")), ["owned"]);
    }
}
