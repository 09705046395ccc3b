//! What the garbage collector does about one object, as upstream's
//! attemptToDeleteItem, processDeletingDependentsItem and
//! orphanDependents: delete dependents whose owners are gone, delete
//! dependents of an owner deleted in the foreground and then let the owner
//! go, or strip an orphaning owner's references from its dependents.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Mutex, MutexGuard, RwLock};
use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::{
    Api, DeleteParams, DynamicObject, Patch, PatchParams, Preconditions, PropagationPolicy,
};
use kube::core::PartialObjectMeta;
use kube::discovery::ApiResource;
use kube::Client;
use serde_json::{json, Value};
use tokio::sync::Notify;

use super::graph::{Graph, Identity, Node, Work, FOREGROUND, ORPHAN};
use crate::{status_code, Error};

/// Owner uids known not to exist are remembered up to this many.
const ABSENT_CACHE: usize = 10_000;

/// A served kind: how to reach it and whether it lives in namespaces.
#[derive(Clone, Debug)]
pub struct Kind {
    pub resource: ApiResource,
    pub namespaced: bool,
}

/// How an owner reference stands.
#[derive(Debug, PartialEq, Eq)]
enum OwnerState {
    /// The owner exists and is not waiting for its dependents.
    Solid,
    /// The owner is gone (or another object now has its name).
    Dangling,
    /// The owner is being deleted in the foreground.
    Waiting,
}

/// Work not yet done, each item once.
#[derive(Default)]
pub struct Queue {
    items: Mutex<(VecDeque<Work>, HashSet<Work>)>,
    ready: Notify,
}

impl Queue {
    fn items(&self) -> MutexGuard<'_, (VecDeque<Work>, HashSet<Work>)> {
        self.items
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn push(&self, work: Work) {
        let mut items = self.items();
        if items.1.insert(work.clone()) {
            items.0.push_back(work);
            drop(items);
            self.ready.notify_one();
        }
    }

    pub async fn pop(&self) -> Work {
        loop {
            let next = {
                let mut items = self.items();
                let next = items.0.pop_front();
                if let Some(work) = &next {
                    items.1.remove(work);
                }
                next
            };
            if let Some(work) = next {
                return work;
            }
            self.ready.notified().await;
        }
    }
}

pub struct Collector {
    pub client: Client,
    pub graph: Mutex<Graph>,
    /// Served kinds by (group, kind), to read owners of any version.
    pub kinds: RwLock<HashMap<(String, String), Kind>>,
    pub queue: Queue,
    absent: Mutex<HashSet<String>>,
    failures: Mutex<HashMap<Work, u32>>,
}

fn group_of(api_version: &str) -> &str {
    api_version.rsplit_once('/').map_or("", |(group, _)| group)
}

impl Collector {
    pub fn new(client: Client) -> Collector {
        Collector {
            client,
            graph: Mutex::default(),
            kinds: RwLock::default(),
            queue: Queue::default(),
            absent: Mutex::default(),
            failures: Mutex::default(),
        }
    }

    pub fn graph(&self) -> MutexGuard<'_, Graph> {
        self.graph
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn enqueue(&self, work: impl IntoIterator<Item = Work>) {
        for item in work {
            self.queue.push(item);
        }
    }

    /// Does one item; on failure it comes back after a growing delay.
    pub async fn process(self: &std::sync::Arc<Self>, work: Work) {
        let result = match &work {
            Work::AttemptToDelete(uid) => self.attempt_to_delete(uid).await,
            Work::Orphan(uid) => self.orphan(uid).await,
        };
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        match result {
            Ok(()) => {
                failures.remove(&work);
            }
            Err(error) => {
                let count = failures.entry(work.clone()).or_default();
                *count += 1;
                let delay = Duration::from_millis(100 * 2u64.pow((*count).min(9)))
                    .min(Duration::from_secs(30));
                tracing::debug!(?work, %error, "garbage collection will be retried");
                let me = self.clone();
                tokio::spawn(async move {
                    tokio::time::sleep(delay).await;
                    me.queue.push(work);
                });
            }
        }
    }

    fn kind_of(&self, api_version: &str, kind: &str) -> Option<Kind> {
        let kinds = self.kinds.read().unwrap_or_else(|p| p.into_inner());
        kinds
            .get(&(group_of(api_version).to_string(), kind.to_string()))
            .cloned()
    }

    fn api(&self, kind: &Kind, namespace: Option<&str>) -> Api<DynamicObject> {
        match namespace.filter(|_| kind.namespaced) {
            Some(namespace) => Api::namespaced_with(self.client.clone(), namespace, &kind.resource),
            None => Api::all_with(self.client.clone(), &kind.resource),
        }
    }

    fn api_for(&self, identity: &Identity) -> Result<Api<DynamicObject>, Error> {
        let kind = self
            .kind_of(&identity.api_version, &identity.kind)
            .ok_or_else(|| {
                Error::new(format!(
                    "unknown kind {} {}",
                    identity.api_version, identity.kind
                ))
            })?;
        Ok(self.api(&kind, identity.namespace.as_deref()))
    }

    /// The object's metadata as it is now, if it is still the same object.
    async fn latest(
        &self,
        identity: &Identity,
    ) -> Result<Option<PartialObjectMeta<DynamicObject>>, Error> {
        let found = self
            .api_for(identity)?
            .get_metadata_opt(&identity.name)
            .await?;
        Ok(found.filter(|f| f.metadata.uid.as_deref() == Some(identity.uid.as_str())))
    }

    async fn attempt_to_delete(&self, uid: &str) -> Result<(), Error> {
        let Some(node) = self.graph().get(uid).cloned() else {
            return Ok(());
        };
        if node.deleting_dependents() {
            return self.process_deleting_dependents(&node).await;
        }
        if node.deleting || node.owners.is_empty() {
            return Ok(());
        }
        let Some(latest) = self.latest(&node.identity).await? else {
            return Ok(());
        };
        let owners = latest.metadata.owner_references.clone().unwrap_or_default();
        if owners.is_empty() {
            return Ok(());
        }
        let mut solid = Vec::new();
        let mut dangling = Vec::new();
        let mut waiting = Vec::new();
        for owner in &owners {
            match self
                .owner_state(owner, node.identity.namespace.as_deref())
                .await?
            {
                OwnerState::Solid => solid.push(owner.uid.clone()),
                OwnerState::Dangling => dangling.push(owner.uid.clone()),
                OwnerState::Waiting => waiting.push(owner.uid.clone()),
            }
        }
        if !solid.is_empty() {
            if dangling.is_empty() && waiting.is_empty() {
                return Ok(());
            }
            // Other owners keep it: only the references to owners that
            // are gone or going are dropped.
            let gone: HashSet<String> = dangling.into_iter().chain(waiting).collect();
            let kept: Vec<&OwnerReference> =
                owners.iter().filter(|o| !gone.contains(&o.uid)).collect();
            return self
                .set_owner_references(&node.identity, &latest, json!(kept))
                .await;
        }
        let has_dependents = !self.graph().dependents(uid).is_empty();
        if !waiting.is_empty() && has_dependents {
            let cycle = self
                .graph()
                .dependents(uid)
                .iter()
                .any(|d| d.deleting_dependents());
            if cycle {
                // A dependent waits for this object while this object's
                // owner waits for it: unblock to break the cycle.
                let unblocked: Vec<OwnerReference> = owners
                    .iter()
                    .cloned()
                    .map(|mut o| {
                        if o.block_owner_deletion == Some(true) {
                            o.block_owner_deletion = Some(false);
                        }
                        o
                    })
                    .collect();
                self.set_owner_references(&node.identity, &latest, json!(unblocked))
                    .await?;
            }
            return self
                .delete(&node.identity, PropagationPolicy::Foreground)
                .await;
        }
        let finalizers = latest.metadata.finalizers.clone().unwrap_or_default();
        let policy = if finalizers.iter().any(|f| f == ORPHAN) {
            PropagationPolicy::Orphan
        } else if finalizers.iter().any(|f| f == FOREGROUND) {
            PropagationPolicy::Foreground
        } else {
            PropagationPolicy::Background
        };
        self.delete(&node.identity, policy).await
    }

    async fn owner_state(
        &self,
        owner: &OwnerReference,
        namespace: Option<&str>,
    ) -> Result<OwnerState, Error> {
        if let Some(node) = self.graph().get(&owner.uid) {
            return Ok(if node.deleting_dependents() {
                OwnerState::Waiting
            } else {
                OwnerState::Solid
            });
        }
        if self
            .absent
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(&owner.uid)
        {
            return Ok(OwnerState::Dangling);
        }
        let Some(kind) = self.kind_of(&owner.api_version, &owner.kind) else {
            // A kind the server does not serve (yet): leave it be.
            tracing::debug!(kind = %owner.kind, api_version = %owner.api_version, "owner of unknown kind");
            return Ok(OwnerState::Solid);
        };
        if kind.namespaced && namespace.is_none() {
            // A cluster-scoped object cannot be owned by a namespaced one.
            return Ok(OwnerState::Solid);
        }
        let found = self
            .api(&kind, namespace)
            .get_metadata_opt(&owner.name)
            .await?;
        match found {
            Some(found) if found.metadata.uid.as_deref() == Some(owner.uid.as_str()) => {
                let foreground = found
                    .metadata
                    .finalizers
                    .iter()
                    .flatten()
                    .any(|f| f == FOREGROUND);
                Ok(
                    if found.metadata.deletion_timestamp.is_some() && foreground {
                        OwnerState::Waiting
                    } else {
                        OwnerState::Solid
                    },
                )
            }
            _ => {
                let mut absent = self.absent.lock().unwrap_or_else(|p| p.into_inner());
                if absent.len() >= ABSENT_CACHE {
                    absent.clear();
                }
                absent.insert(owner.uid.clone());
                Ok(OwnerState::Dangling)
            }
        }
    }

    /// An owner deleted in the foreground: its blocking dependents are
    /// sent to be deleted; once none is left it loses its finalizer.
    async fn process_deleting_dependents(&self, node: &Node) -> Result<(), Error> {
        let uid = &node.identity.uid;
        let waiting_on: Vec<String> = self
            .graph()
            .blocking_dependents(uid)
            .iter()
            .filter(|d| !d.deleting_dependents())
            .map(|d| d.identity.uid.clone())
            .collect();
        let blocked = !self.graph().blocking_dependents(uid).is_empty();
        if !blocked {
            return self.remove_finalizer(&node.identity, FOREGROUND).await;
        }
        self.enqueue(waiting_on.into_iter().map(Work::AttemptToDelete));
        Ok(())
    }

    /// An owner deleted with orphaning: its dependents lose their
    /// references to it, then it loses its finalizer.
    async fn orphan(&self, uid: &str) -> Result<(), Error> {
        let Some(node) = self.graph().get(uid).cloned() else {
            return Ok(());
        };
        if !node.orphaning() {
            return Ok(());
        }
        let dependents: Vec<Identity> = self
            .graph()
            .dependents(uid)
            .iter()
            .map(|d| d.identity.clone())
            .collect();
        for dependent in dependents {
            let Some(latest) = self.latest(&dependent).await? else {
                continue;
            };
            let owners = latest.metadata.owner_references.clone().unwrap_or_default();
            if !owners.iter().any(|o| o.uid == uid) {
                continue;
            }
            let kept: Vec<&OwnerReference> = owners.iter().filter(|o| o.uid != uid).collect();
            self.set_owner_references(&dependent, &latest, json!(kept))
                .await?;
        }
        self.remove_finalizer(&node.identity, ORPHAN).await
    }

    async fn set_owner_references(
        &self,
        identity: &Identity,
        latest: &PartialObjectMeta<DynamicObject>,
        references: Value,
    ) -> Result<(), Error> {
        let references = match &references {
            Value::Array(items) if items.is_empty() => Value::Null,
            _ => references,
        };
        let patch = json!({
            "metadata": {
                "ownerReferences": references,
                "resourceVersion": latest.metadata.resource_version,
                "uid": identity.uid,
            }
        });
        self.patch(identity, &patch).await
    }

    async fn remove_finalizer(&self, identity: &Identity, finalizer: &str) -> Result<(), Error> {
        let Some(latest) = self.latest(identity).await? else {
            return Ok(());
        };
        let finalizers = latest.metadata.finalizers.clone().unwrap_or_default();
        if !finalizers.iter().any(|f| f == finalizer) {
            return Ok(());
        }
        let kept: Vec<&String> = finalizers.iter().filter(|f| *f != finalizer).collect();
        let patch = json!({
            "metadata": {
                "finalizers": if kept.is_empty() { Value::Null } else { json!(kept) },
                "resourceVersion": latest.metadata.resource_version,
                "uid": identity.uid,
            }
        });
        self.patch(identity, &patch).await
    }

    async fn patch(&self, identity: &Identity, patch: &Value) -> Result<(), Error> {
        match self
            .api_for(identity)?
            .patch(
                &identity.name,
                &PatchParams::default(),
                &Patch::Merge(patch),
            )
            .await
        {
            Ok(_) => Ok(()),
            Err(error) if status_code(&error) == Some(404) => Ok(()),
            Err(error) => Err(error.into()),
        }
    }

    async fn delete(&self, identity: &Identity, policy: PropagationPolicy) -> Result<(), Error> {
        let params = DeleteParams {
            propagation_policy: Some(policy),
            preconditions: Some(Preconditions {
                uid: Some(identity.uid.clone()),
                resource_version: None,
            }),
            ..DeleteParams::default()
        };
        tracing::debug!(kind = %identity.kind, name = %identity.name, "garbage collecting");
        match self
            .api_for(identity)?
            .delete(&identity.name, &params)
            .await
        {
            Ok(_) => Ok(()),
            // Gone already, or another object by that name now.
            Err(error) if matches!(status_code(&error), Some(404 | 409)) => Ok(()),
            Err(error) => Err(error.into()),
        }
    }
}
