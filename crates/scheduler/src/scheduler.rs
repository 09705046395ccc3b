//! The scheduling loop: one task owns the snapshot and the queue, applies
//! what the watchers report, and schedules pods one at a time; bindings and
//! other writes run beside it.

use std::sync::Arc;
use std::time::Instant;

use k8s_openapi::api::core::v1::Pod;
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender};

use crate::binder::{BindError, BindOutcome, Binder};
use crate::config::Profile;
use crate::framework::{
    filter_node, find_feasible, fit_error_message, num_feasible_nodes_to_find, score_nodes,
    select_host, PodContext, Random,
};
use crate::preemption;
use crate::queue::SchedulingQueue;
use crate::snapshot::{pod_key, NodeChange, Nomination, PodInfo, Snapshot};
use crate::watch::Message;

/// Pods scheduled between looks at the watchers' messages.
const BATCH: usize = 32;

pub struct Scheduler {
    profiles: Vec<Profile>,
    snapshot: Snapshot,
    queue: SchedulingQueue,
    binder: Binder,
    messages: UnboundedReceiver<Message>,
    report: UnboundedSender<Message>,
    next_start: usize,
    random: Random,
}

fn is_terminated(pod: &Pod) -> bool {
    matches!(
        pod.status.as_ref().and_then(|s| s.phase.as_deref()),
        Some("Succeeded" | "Failed")
    )
}

fn node_name(pod: &Pod) -> Option<&str> {
    pod.spec
        .as_ref()
        .and_then(|s| s.node_name.as_deref())
        .filter(|n| !n.is_empty())
}

fn scheduler_name(pod: &Pod) -> &str {
    pod.spec
        .as_ref()
        .and_then(|s| s.scheduler_name.as_deref())
        .unwrap_or(crate::config::DEFAULT_SCHEDULER_NAME)
}

impl Scheduler {
    pub fn new(
        profiles: Vec<Profile>,
        binder: Binder,
        messages: UnboundedReceiver<Message>,
        report: UnboundedSender<Message>,
    ) -> Scheduler {
        Scheduler {
            profiles,
            snapshot: Snapshot::default(),
            queue: SchedulingQueue::default(),
            binder,
            messages,
            report,
            next_start: 0,
            random: Random::seeded(),
        }
    }

    /// Runs until the watchers and binders are gone.
    pub async fn run(mut self) {
        loop {
            while let Ok(message) = self.messages.try_recv() {
                self.handle(message);
            }
            self.queue.flush(Instant::now());
            if self.queue.has_active() {
                for _ in 0..BATCH {
                    if !self.schedule_one().await {
                        break;
                    }
                }
                tokio::task::yield_now().await;
                continue;
            }
            let wake = self.queue.next_wakeup();
            let message = match wake {
                Some(at) => match tokio::time::timeout_at(at.into(), self.messages.recv()).await {
                    Ok(message) => message,
                    Err(_) => continue,
                },
                None => self.messages.recv().await,
            };
            match message {
                Some(message) => self.handle(message),
                None => return,
            }
        }
    }

    fn handle(&mut self, message: Message) {
        match message {
            Message::Pod(pod) => self.on_pod(pod),
            Message::PodGone(key) => self.on_pod_gone(&key),
            Message::Node(node) => {
                if self.snapshot.upsert_node(&node) != NodeChange::None {
                    self.queue.move_all_to_active();
                }
            }
            Message::NodeGone(name) => self.snapshot.remove_node(&name),
            Message::Namespace(name, labels) => {
                self.snapshot.namespaces.insert(name, labels);
            }
            Message::NamespaceGone(name) => {
                self.snapshot.namespaces.remove(&name);
            }
            Message::Budget(key, budget) => {
                self.snapshot.budgets.insert(key, budget);
            }
            Message::BudgetGone(key) => {
                self.snapshot.budgets.remove(&key);
            }
            Message::Bound(outcome) => self.on_bound(outcome),
        }
    }

    fn on_pod(&mut self, pod: Arc<Pod>) {
        let key = pod_key(&pod);
        if is_terminated(&pod) {
            return self.on_pod_gone(&key);
        }
        if let Some(node) = node_name(&pod) {
            self.queue.remove(&key);
            let known = self.snapshot.pod(&key).cloned();
            let info = PodInfo::new(&pod, node);
            // Someone else's pod, or one whose labels changed, may satisfy
            // waiting pods' affinity: let them try again.
            let moved = known
                .as_ref()
                .is_none_or(|k| !k.assumed && k.labels != info.labels);
            let freed = known
                .as_ref()
                .is_some_and(|k| !k.terminating && info.terminating);
            self.snapshot.add_pod(info);
            if moved || freed {
                self.queue.move_all_to_active();
            }
            return;
        }
        if self.snapshot.pod(&key).is_some_and(|p| p.assumed) {
            // Being bound: this is an older view of it.
            return;
        }
        let ours = self
            .profiles
            .iter()
            .any(|p| p.scheduler_name == scheduler_name(&pod));
        if !ours || pod.metadata.deletion_timestamp.is_some() {
            self.queue.remove(&key);
            return;
        }
        match pod
            .status
            .as_ref()
            .and_then(|s| s.nominated_node_name.clone())
        {
            Some(node) if !node.is_empty() => {
                let requests = PodInfo::new(&pod, &node).requests.requests;
                let priority = crate::snapshot::pod_priority(&pod);
                self.snapshot.nominations.insert(
                    key,
                    Nomination {
                        node,
                        priority,
                        requests,
                    },
                );
            }
            _ => {
                self.snapshot.nominations.remove(&key);
            }
        }
        self.queue.add_or_update(pod);
    }

    fn on_pod_gone(&mut self, key: &str) {
        self.queue.remove(key);
        self.snapshot.nominations.remove(key);
        if self.snapshot.remove_pod(key).is_some() {
            self.queue.move_all_to_active();
        }
    }

    fn on_bound(&mut self, outcome: BindOutcome) {
        let key = pod_key(&outcome.pod);
        match outcome.result {
            Ok(()) => {}
            Err(BindError::Stale(reason)) => {
                tracing::debug!(pod = %key, %reason, "binding refused");
                if self.snapshot.pod(&key).is_some_and(|p| p.assumed) {
                    self.snapshot.remove_pod(&key);
                }
            }
            Err(BindError::Failed(reason)) => {
                tracing::warn!(pod = %key, node = %outcome.node, %reason, "binding failed; will retry");
                if self.snapshot.pod(&key).is_some_and(|p| p.assumed) {
                    self.snapshot.remove_pod(&key);
                    self.queue.error(outcome.pod);
                    self.queue.move_all_to_active();
                }
            }
        }
    }

    /// Schedules the next pod; false when the queue had none.
    async fn schedule_one(&mut self) -> bool {
        let Some((pod, _attempts)) = self.queue.pop() else {
            return false;
        };
        let key = pod_key(&pod);
        let Some(profile) = self
            .profiles
            .iter()
            .find(|p| p.scheduler_name == scheduler_name(&pod))
            .cloned()
        else {
            self.queue.done(&key);
            return true;
        };
        let all_nodes = self.snapshot.nodes.len();
        if all_nodes == 0 {
            self.queue.error(pod.clone());
            self.binder.fail(
                &pod,
                "SchedulerError",
                "no nodes available to schedule pods".into(),
                None,
            );
            return true;
        }
        let decision = {
            let ctx = PodContext::new(&pod, &self.snapshot);
            match self.nominated_node_fits(&ctx) {
                Some(node) => Ok(node),
                None => {
                    let wanted =
                        num_feasible_nodes_to_find(profile.percentage_of_nodes_to_score, all_nodes);
                    let start = self.next_start % all_nodes;
                    let filtered = find_feasible(&ctx, &self.snapshot, start, wanted);
                    self.next_start = (start + filtered.examined) % all_nodes;
                    match filtered.feasible.len() {
                        0 => {
                            let outcome =
                                preemption::post_filter(&ctx, &self.snapshot, &filtered.failed);
                            let statuses = filtered.failed.iter().map(|(_, s)| s);
                            let message =
                                fit_error_message(all_nodes, statuses, Some(&outcome.message));
                            Err((
                                message,
                                outcome.preemption,
                                ctx.requests.requests.clone(),
                                ctx.priority,
                            ))
                        }
                        1 => Ok(self.snapshot.nodes[filtered.feasible[0]].name.clone()),
                        _ => {
                            let scores =
                                score_nodes(&ctx, &self.snapshot, &profile, &filtered.feasible);
                            let best = select_host(&scores, &mut self.random).unwrap_or(0);
                            Ok(self.snapshot.nodes[filtered.feasible[best]].name.clone())
                        }
                    }
                }
            }
        };
        match decision {
            Ok(node) => {
                let mut assumed = PodInfo::new(&pod, &node);
                assumed.assumed = true;
                self.snapshot.add_pod(assumed);
                self.queue.done(&key);
                self.binder.bind(pod, node, self.report.clone()).await;
            }
            Err((message, preemption, requests, priority)) => {
                self.queue.unschedulable(&key);
                let nominated = preemption.map(|chosen| {
                    for victim in &chosen.victims {
                        let name = victim.key.split_once('/').map_or("", |(_, n)| n);
                        self.binder.preempt(
                            &victim.namespace,
                            name,
                            &victim.uid,
                            &pod,
                            &chosen.node,
                        );
                    }
                    self.snapshot.nominations.insert(
                        key.clone(),
                        Nomination {
                            node: chosen.node.clone(),
                            priority,
                            requests,
                        },
                    );
                    chosen.node
                });
                self.binder.fail(&pod, "Unschedulable", message, nominated);
            }
        }
        true
    }

    /// A pod nominated by an earlier preemption goes to that node if it
    /// fits there now (upstream's evaluateNominatedNode).
    fn nominated_node_fits(&self, ctx: &PodContext) -> Option<String> {
        let nominated = ctx.pod.status.as_ref()?.nominated_node_name.as_deref()?;
        let node = self.snapshot.node(nominated)?;
        filter_node(ctx, &self.snapshot, node).ok()?;
        Some(node.name.clone())
    }
}
