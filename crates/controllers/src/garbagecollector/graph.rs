//! The garbage collector's picture of the cluster, as upstream's
//! GraphBuilder keeps it: every object that is an owner or a dependent, by
//! uid, with its owner references, and which changes call for work. Pure:
//! the monitors feed it what their watches see, and it answers with the
//! objects to look at.

use std::collections::{HashMap, HashSet};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};

pub const FOREGROUND: &str = "foregroundDeletion";
pub const ORPHAN: &str = "orphan";

/// Which object: enough to read, patch or delete it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Identity {
    pub api_version: String,
    pub kind: String,
    pub namespace: Option<String>,
    pub name: String,
    pub uid: String,
}

/// One observed object.
#[derive(Clone, Debug)]
pub struct Node {
    pub identity: Identity,
    /// The monitor (one per resource) that sees it.
    pub monitor: usize,
    pub owners: Vec<OwnerReference>,
    /// It has a deletionTimestamp.
    pub deleting: bool,
    pub finalizers: Vec<String>,
}

impl Node {
    fn has_finalizer(&self, name: &str) -> bool {
        self.finalizers.iter().any(|f| f == name)
    }

    /// Being deleted in the foreground: waiting for its dependents.
    pub fn deleting_dependents(&self) -> bool {
        self.deleting && self.has_finalizer(FOREGROUND)
    }

    /// Being deleted with its dependents orphaned.
    pub fn orphaning(&self) -> bool {
        self.deleting && self.has_finalizer(ORPHAN)
    }
}

/// What the collector is asked to look at.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Work {
    /// Whether the object should go (its owners are gone or being deleted
    /// in the foreground), or, when it waits for its dependents, whether
    /// they are gone.
    AttemptToDelete(String),
    /// Its dependents lose their references to it, then it goes.
    Orphan(String),
}

#[derive(Debug, Default)]
pub struct Graph {
    nodes: HashMap<String, Node>,
    /// Owner uid to the uids of objects that reference it, whether or not
    /// the owner was seen.
    dependents: HashMap<String, HashSet<String>>,
}

impl Graph {
    pub fn get(&self, uid: &str) -> Option<&Node> {
        self.nodes.get(uid)
    }

    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// The objects that reference `uid` as an owner.
    pub fn dependents(&self, uid: &str) -> Vec<&Node> {
        self.dependents
            .get(uid)
            .into_iter()
            .flatten()
            .filter_map(|d| self.nodes.get(d))
            .collect()
    }

    /// Dependents that block the deletion of `uid` (blockOwnerDeletion).
    pub fn blocking_dependents(&self, uid: &str) -> Vec<&Node> {
        self.dependents(uid)
            .into_iter()
            .filter(|d| {
                d.owners
                    .iter()
                    .any(|o| o.uid == uid && o.block_owner_deletion == Some(true))
            })
            .collect()
    }

    /// An object was seen (added or changed).
    pub fn upsert(&mut self, identity: Identity, monitor: usize, meta: &ObjectMeta) -> Vec<Work> {
        let uid = identity.uid.clone();
        let node = Node {
            identity,
            monitor,
            owners: meta.owner_references.clone().unwrap_or_default(),
            deleting: meta.deletion_timestamp.is_some(),
            finalizers: meta.finalizers.clone().unwrap_or_default(),
        };
        let mut work = Vec::new();
        let old = self.nodes.remove(&uid);
        let old_owners = old.as_ref().map(|o| o.owners.clone()).unwrap_or_default();
        for removed in old_owners
            .iter()
            .filter(|o| !node.owners.iter().any(|n| n.uid == o.uid))
        {
            if let Some(set) = self.dependents.get_mut(&removed.uid) {
                set.remove(&uid);
                if set.is_empty() {
                    self.dependents.remove(&removed.uid);
                }
            }
            // Its owner may have been waiting for it.
            if self
                .nodes
                .get(&removed.uid)
                .is_some_and(Node::deleting_dependents)
            {
                work.push(Work::AttemptToDelete(removed.uid.clone()));
            }
        }
        for owner in &node.owners {
            let before = old_owners.iter().find(|o| o.uid == owner.uid);
            if before.is_none() {
                self.dependents
                    .entry(owner.uid.clone())
                    .or_default()
                    .insert(uid.clone());
            }
            let unblocked = before.is_some_and(|b| b.block_owner_deletion == Some(true))
                && owner.block_owner_deletion != Some(true);
            match self.nodes.get(&owner.uid) {
                // Not seen: it may not exist.
                None => work.push(Work::AttemptToDelete(uid.clone())),
                Some(o) if o.deleting_dependents() => {
                    work.push(Work::AttemptToDelete(uid.clone()));
                    if unblocked {
                        work.push(Work::AttemptToDelete(owner.uid.clone()));
                    }
                }
                Some(_) => {}
            }
        }
        let was_orphaning = old.as_ref().is_some_and(Node::orphaning);
        let was_waiting = old.as_ref().is_some_and(Node::deleting_dependents);
        if node.orphaning() && !was_orphaning {
            work.push(Work::Orphan(uid.clone()));
        }
        if node.deleting_dependents() && !was_waiting {
            for dependent in self.dependents.get(&uid).into_iter().flatten() {
                work.push(Work::AttemptToDelete(dependent.clone()));
            }
            work.push(Work::AttemptToDelete(uid.clone()));
        }
        self.nodes.insert(uid, node);
        dedup(work)
    }

    /// An object is gone.
    pub fn remove(&mut self, uid: &str) -> Vec<Work> {
        let Some(node) = self.nodes.remove(uid) else {
            return Vec::new();
        };
        let mut work = Vec::new();
        for owner in &node.owners {
            if let Some(set) = self.dependents.get_mut(&owner.uid) {
                set.remove(uid);
                if set.is_empty() {
                    self.dependents.remove(&owner.uid);
                }
            }
            if self
                .nodes
                .get(&owner.uid)
                .is_some_and(Node::deleting_dependents)
            {
                work.push(Work::AttemptToDelete(owner.uid.clone()));
            }
        }
        for dependent in self.dependents.get(uid).into_iter().flatten() {
            work.push(Work::AttemptToDelete(dependent.clone()));
        }
        dedup(work)
    }

    /// A monitor re-listed and saw only `seen`: what it held besides is
    /// gone.
    pub fn relisted(&mut self, monitor: usize, seen: &HashSet<String>) -> Vec<Work> {
        let gone: Vec<String> = self
            .nodes
            .values()
            .filter(|n| n.monitor == monitor && !seen.contains(&n.identity.uid))
            .map(|n| n.identity.uid.clone())
            .collect();
        dedup(gone.iter().flat_map(|uid| self.remove(uid)).collect())
    }
}

fn dedup(work: Vec<Work>) -> Vec<Work> {
    let mut seen = HashSet::new();
    work.into_iter()
        .filter(|w| seen.insert(w.clone()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    fn identity(uid: &str) -> Identity {
        Identity {
            api_version: "v1".into(),
            kind: "Pod".into(),
            namespace: Some("default".into()),
            name: uid.into(),
            uid: uid.into(),
        }
    }

    fn meta(owners: &[(&str, bool)], deleting: bool, finalizers: &[&str]) -> ObjectMeta {
        ObjectMeta {
            owner_references: Some(
                owners
                    .iter()
                    .map(|(uid, block)| OwnerReference {
                        uid: uid.to_string(),
                        block_owner_deletion: Some(*block),
                        ..OwnerReference::default()
                    })
                    .collect(),
            ),
            deletion_timestamp: deleting.then(|| Time(jiff::Timestamp::now())),
            finalizers: Some(finalizers.iter().map(|f| f.to_string()).collect()),
            ..ObjectMeta::default()
        }
    }

    fn attempt(uid: &str) -> Work {
        Work::AttemptToDelete(uid.into())
    }

    #[test]
    fn a_dependent_of_an_unseen_owner_is_checked() {
        let mut graph = Graph::default();
        assert_eq!(
            graph.upsert(identity("pod"), 0, &meta(&[("rs", true)], false, &[])),
            [attempt("pod")]
        );
        assert!(graph
            .upsert(identity("rs"), 1, &meta(&[], false, &[]))
            .is_empty());
        // Seen owner: nothing to do on a change of the dependent.
        assert!(graph
            .upsert(identity("pod"), 0, &meta(&[("rs", true)], false, &[]))
            .is_empty());
    }

    #[test]
    fn a_deleted_owner_sends_its_dependents_to_be_checked() {
        let mut graph = Graph::default();
        graph.upsert(identity("rs"), 1, &meta(&[], false, &[]));
        graph.upsert(identity("a"), 0, &meta(&[("rs", true)], false, &[]));
        graph.upsert(identity("b"), 0, &meta(&[("rs", false)], false, &[]));
        let mut work = graph.remove("rs");
        work.sort_by_key(|w| format!("{w:?}"));
        assert_eq!(work, [attempt("a"), attempt("b")]);
    }

    #[test]
    fn foreground_deletion_waits_for_blocking_dependents() {
        let mut graph = Graph::default();
        graph.upsert(identity("rs"), 1, &meta(&[], false, &[]));
        graph.upsert(identity("a"), 0, &meta(&[("rs", true)], false, &[]));
        graph.upsert(identity("b"), 0, &meta(&[("rs", false)], false, &[]));
        let mut work = graph.upsert(identity("rs"), 1, &meta(&[], true, &[FOREGROUND]));
        work.sort_by_key(|w| format!("{w:?}"));
        assert_eq!(work, [attempt("a"), attempt("b"), attempt("rs")]);
        let blocking: Vec<_> = graph
            .blocking_dependents("rs")
            .iter()
            .map(|n| n.identity.uid.clone())
            .collect();
        assert_eq!(blocking, ["a"]);
        // The blocking dependent going wakes the owner.
        assert_eq!(graph.remove("a"), [attempt("rs")]);
        assert!(graph.blocking_dependents("rs").is_empty());
    }

    #[test]
    fn orphaning_is_asked_once() {
        let mut graph = Graph::default();
        graph.upsert(identity("rs"), 1, &meta(&[], false, &[]));
        assert_eq!(
            graph.upsert(identity("rs"), 1, &meta(&[], true, &[ORPHAN])),
            [Work::Orphan("rs".into())]
        );
        assert!(graph
            .upsert(identity("rs"), 1, &meta(&[], true, &[ORPHAN]))
            .is_empty());
    }

    #[test]
    fn a_released_dependent_wakes_a_waiting_owner() {
        let mut graph = Graph::default();
        graph.upsert(identity("rs"), 1, &meta(&[], true, &[FOREGROUND]));
        graph.upsert(identity("a"), 0, &meta(&[("rs", true)], false, &[]));
        assert_eq!(
            graph.upsert(identity("a"), 0, &meta(&[], false, &[])),
            [attempt("rs")]
        );
    }

    #[test]
    fn a_relist_removes_what_it_did_not_see() {
        let mut graph = Graph::default();
        graph.upsert(identity("rs"), 1, &meta(&[], false, &[]));
        graph.upsert(identity("a"), 0, &meta(&[("rs", true)], false, &[]));
        let work = graph.relisted(1, &HashSet::new());
        assert_eq!(work, [attempt("a")]);
        assert!(graph.get("rs").is_none());
        assert_eq!(graph.len(), 1);
    }
}
