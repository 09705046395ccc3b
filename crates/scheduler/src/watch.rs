//! kube-rs watchers of pods, nodes, namespaces and PodDisruptionBudgets, turned
//! into messages for the scheduling loop. A re-list reports the objects
//! that vanished meanwhile as deleted.

use std::collections::{BTreeMap, HashSet};
use std::fmt::Debug;
use std::sync::Arc;

use futures_util::StreamExt;
use k8s_openapi::api::core::v1::{Namespace, Node, Pod};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::runtime::watcher::{self, watcher, Event};
use kube::runtime::WatchStreamExt;
use kube::{Api, Resource, ResourceExt};
use serde::de::DeserializeOwned;
use tokio::sync::mpsc::UnboundedSender;

use crate::binder::BindOutcome;
use crate::budgets::DisruptionBudget;
use crate::snapshot::{pod_key, PodKey};

/// What the scheduling loop hears about.
#[derive(Debug)]
pub enum Message {
    Pod(Arc<Pod>),
    PodGone(PodKey),
    Node(Box<Node>),
    NodeGone(String),
    Namespace(String, BTreeMap<String, String>),
    NamespaceGone(String),
    Budget(String, DisruptionBudget),
    BudgetGone(String),
    Bound(BindOutcome),
}

/// Starts every watcher; each ends when the loop stops listening.
pub fn spawn_all(
    client: &kube::Client,
    sender: &UnboundedSender<Message>,
) -> Vec<tokio::task::JoinHandle<()>> {
    vec![
        tokio::spawn(watch(
            Api::<Pod>::all(client.clone()),
            sender.clone(),
            pod_key,
            |pod| Message::Pod(Arc::new(pod)),
            Message::PodGone,
        )),
        tokio::spawn(watch(
            Api::<Node>::all(client.clone()),
            sender.clone(),
            |node: &Node| node.name_any(),
            |node| Message::Node(Box::new(node)),
            Message::NodeGone,
        )),
        tokio::spawn(watch(
            Api::<Namespace>::all(client.clone()),
            sender.clone(),
            |ns: &Namespace| ns.name_any(),
            |ns| Message::Namespace(ns.name_any(), ns.metadata.labels.unwrap_or_default()),
            Message::NamespaceGone,
        )),
        tokio::spawn(watch(
            Api::<PodDisruptionBudget>::all(client.clone()),
            sender.clone(),
            budget_key,
            |budget| Message::Budget(budget_key(&budget), DisruptionBudget::new(&budget)),
            Message::BudgetGone,
        )),
    ]
}

fn budget_key(budget: &PodDisruptionBudget) -> String {
    format!(
        "{}/{}",
        budget.namespace().unwrap_or_default(),
        budget.name_any()
    )
}

async fn watch<K>(
    api: Api<K>,
    sender: UnboundedSender<Message>,
    key_of: fn(&K) -> String,
    applied: fn(K) -> Message,
    gone: fn(String) -> Message,
) where
    K: Resource + Clone + DeserializeOwned + Debug + Send + 'static,
{
    let mut known: HashSet<String> = HashSet::new();
    let mut listed: HashSet<String> = HashSet::new();
    // managedFields are never read here and are much of a pod's size.
    let stream = watcher(api, watcher::Config::default())
        .default_backoff()
        .modify(|object| object.meta_mut().managed_fields = None);
    let mut stream = std::pin::pin!(stream);
    while let Some(event) = stream.next().await {
        let message = match event {
            Ok(Event::Init) => {
                listed.clear();
                continue;
            }
            Ok(Event::InitApply(object)) => {
                listed.insert(key_of(&object));
                applied(object)
            }
            Ok(Event::InitDone) => {
                for key in known.difference(&listed) {
                    if sender.send(gone(key.clone())).is_err() {
                        return;
                    }
                }
                known = std::mem::take(&mut listed);
                continue;
            }
            Ok(Event::Apply(object)) => {
                known.insert(key_of(&object));
                applied(object)
            }
            Ok(Event::Delete(object)) => {
                let key = key_of(&object);
                known.remove(&key);
                gone(key)
            }
            Err(error) => {
                tracing::debug!(%error, "scheduler watch interrupted");
                continue;
            }
        };
        if sender.send(message).is_err() {
            return;
        }
    }
}
