//! The scheduling queue (upstream's PriorityQueue): pods waiting to be
//! tried, highest priority first then oldest; pods that did not fit wait as
//! unschedulable until the cluster changes, and then no sooner than their
//! back-off (1 s doubling to 10 s) allows.

use std::cmp::{Ordering, Reverse};
use std::collections::{BinaryHeap, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Pod;

use crate::snapshot::{pod_key, pod_priority, PodKey};

const INITIAL_BACKOFF: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(10);
/// Unschedulable pods are retried at least this often even if nothing
/// seems to change (upstream's podMaxInUnschedulablePodsDuration).
const MAX_UNSCHEDULABLE: Duration = Duration::from_secs(5 * 60);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Active,
    Backoff,
    Unschedulable,
    /// Popped and being scheduled.
    InFlight,
}

struct Entry {
    pod: Arc<Pod>,
    state: State,
    attempts: u32,
    /// Bumped on every state change, so stale heap entries are skipped.
    generation: u64,
    backoff_until: Option<Instant>,
    unschedulable_since: Instant,
    /// The move counter when the pod was popped: a cluster change while it
    /// was being scheduled sends it to back-off rather than to wait.
    popped_at_move: u64,
}

/// Orders the active heap: higher priority, then older, then first queued.
#[derive(PartialEq, Eq)]
struct Ranked {
    priority: i32,
    created: i64,
    sequence: u64,
    generation: u64,
    key: PodKey,
}

impl Ord for Ranked {
    fn cmp(&self, other: &Self) -> Ordering {
        self.priority
            .cmp(&other.priority)
            .then_with(|| other.created.cmp(&self.created))
            .then_with(|| other.sequence.cmp(&self.sequence))
    }
}

impl PartialOrd for Ranked {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

#[derive(Default)]
pub struct SchedulingQueue {
    entries: HashMap<PodKey, Entry>,
    active: BinaryHeap<Ranked>,
    backoff: BinaryHeap<Reverse<(Instant, u64, PodKey)>>,
    /// The pods in state Unschedulable, so a cluster change costs only
    /// as much as there are pods waiting for one.
    waiting: HashSet<PodKey>,
    sequence: u64,
    moves: u64,
}

/// Whether an update can change where the pod fits: not our own status
/// writes, which would otherwise retry the pod in a loop.
fn scheduling_relevant_change(old: &Pod, new: &Pod) -> bool {
    old.spec != new.spec || old.metadata.labels != new.metadata.labels
}

impl SchedulingQueue {
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn contains(&self, key: &str) -> bool {
        self.entries.contains_key(key)
    }

    fn push_active(&mut self, key: &PodKey) {
        let Some(entry) = self.entries.get_mut(key) else {
            return;
        };
        self.sequence += 1;
        entry.generation += 1;
        entry.state = State::Active;
        self.waiting.remove(key);
        self.active.push(Ranked {
            priority: pod_priority(&entry.pod),
            created: entry
                .pod
                .metadata
                .creation_timestamp
                .as_ref()
                .map(|t| t.0.as_millisecond())
                .unwrap_or(0),
            sequence: self.sequence,
            generation: entry.generation,
            key: key.clone(),
        });
    }

    fn push_backoff(&mut self, key: &PodKey, until: Instant) {
        let Some(entry) = self.entries.get_mut(key) else {
            return;
        };
        entry.generation += 1;
        entry.state = State::Backoff;
        self.waiting.remove(key);
        self.backoff
            .push(Reverse((until, entry.generation, key.clone())));
    }

    /// A pending pod was added or changed.
    pub fn add_or_update(&mut self, pod: Arc<Pod>) {
        let key = pod_key(&pod);
        match self.entries.get_mut(&key) {
            None => {
                self.entries.insert(
                    key.clone(),
                    Entry {
                        pod,
                        state: State::Active,
                        attempts: 0,
                        generation: 0,
                        backoff_until: None,
                        unschedulable_since: Instant::now(),
                        popped_at_move: 0,
                    },
                );
                self.push_active(&key);
            }
            Some(entry) => {
                let relevant = scheduling_relevant_change(&entry.pod, &pod);
                entry.pod = pod;
                if entry.state == State::Unschedulable && relevant {
                    self.requeue(&key, Instant::now());
                }
            }
        }
    }

    pub fn remove(&mut self, key: &str) {
        self.entries.remove(key);
        self.waiting.remove(key);
    }

    /// The next pod to schedule, with how many times it was tried before.
    pub fn pop(&mut self) -> Option<(Arc<Pod>, u32)> {
        while let Some(ranked) = self.active.pop() {
            let Some(entry) = self.entries.get_mut(&ranked.key) else {
                continue;
            };
            if entry.state != State::Active || entry.generation != ranked.generation {
                continue;
            }
            entry.state = State::InFlight;
            entry.popped_at_move = self.moves;
            return Some((entry.pod.clone(), entry.attempts));
        }
        None
    }

    /// The pod was placed: it leaves the queue.
    pub fn done(&mut self, key: &str) {
        self.remove(key);
    }

    /// The pod fits nowhere: it waits for a cluster change (or, if one
    /// happened while it was being scheduled, only for its back-off).
    pub fn unschedulable(&mut self, key: &PodKey) {
        let moves = self.moves;
        let Some(entry) = self.entries.get_mut(key) else {
            return;
        };
        entry.attempts += 1;
        let until = Instant::now() + backoff(entry.attempts);
        entry.backoff_until = Some(until);
        if entry.popped_at_move != moves {
            self.push_backoff(key, until);
            return;
        }
        entry.generation += 1;
        entry.state = State::Unschedulable;
        entry.unschedulable_since = Instant::now();
        self.waiting.insert(key.clone());
    }

    /// Scheduling or binding failed for a reason other than fit: retry
    /// after the back-off.
    pub fn error(&mut self, pod: Arc<Pod>) {
        let key = pod_key(&pod);
        let entry = self.entries.entry(key.clone()).or_insert_with(|| Entry {
            pod: pod.clone(),
            state: State::InFlight,
            attempts: 0,
            generation: 0,
            backoff_until: None,
            unschedulable_since: Instant::now(),
            popped_at_move: 0,
        });
        entry.pod = pod;
        entry.attempts += 1;
        let until = Instant::now() + backoff(entry.attempts);
        entry.backoff_until = Some(until);
        self.push_backoff(&key, until);
    }

    fn requeue(&mut self, key: &PodKey, now: Instant) {
        let until = self.entries.get(key).and_then(|e| e.backoff_until);
        match until {
            Some(until) if until > now => self.push_backoff(key, until),
            _ => self.push_active(key),
        }
    }

    /// The cluster changed in a way that may let waiting pods fit.
    pub fn move_all_to_active(&mut self) {
        self.moves += 1;
        let now = Instant::now();
        let waiting: Vec<PodKey> = self.waiting.drain().collect();
        for key in waiting {
            self.requeue(&key, now);
        }
    }

    /// Moves pods whose back-off ended, and pods unschedulable for long,
    /// to the active queue.
    pub fn flush(&mut self, now: Instant) {
        while let Some(Reverse((until, generation, key))) = self.backoff.peek().cloned() {
            if until > now {
                break;
            }
            self.backoff.pop();
            let current = self
                .entries
                .get(&key)
                .is_some_and(|e| e.state == State::Backoff && e.generation == generation);
            if current {
                self.push_active(&key);
            }
        }
        let stale: Vec<PodKey> = self
            .entries
            .iter()
            .filter(|(_, e)| {
                e.state == State::Unschedulable
                    && now.duration_since(e.unschedulable_since) >= MAX_UNSCHEDULABLE
            })
            .map(|(k, _)| k.clone())
            .collect();
        for key in stale {
            self.push_active(&key);
        }
    }

    /// When `flush` next has work: the earliest back-off to end.
    pub fn next_wakeup(&self) -> Option<Instant> {
        self.backoff.peek().map(|Reverse((until, _, _))| *until)
    }

    pub fn has_active(&self) -> bool {
        !self.active.is_empty()
    }

    /// Keys of pods waiting as unschedulable (for tests and metrics).
    pub fn unschedulable_keys(&self) -> Vec<PodKey> {
        self.waiting.iter().cloned().collect()
    }
}

fn backoff(attempts: u32) -> Duration {
    let factor = 1u32 << attempts.saturating_sub(1).min(8);
    (INITIAL_BACKOFF * factor).min(MAX_BACKOFF)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(name: &str, priority: i32, created: &str) -> Arc<Pod> {
        Arc::new(
            serde_json::from_value(json!({
                "metadata": {"name": name, "namespace": "default", "creationTimestamp": created},
                "spec": {"priority": priority, "containers": []},
            }))
            .unwrap(),
        )
    }

    fn pop_name(queue: &mut SchedulingQueue) -> Option<String> {
        queue.pop().map(|(p, _)| p.metadata.name.clone().unwrap())
    }

    #[test]
    fn higher_priority_first_then_older() {
        let mut queue = SchedulingQueue::default();
        queue.add_or_update(pod("low-old", 0, "2024-01-01T00:00:00Z"));
        queue.add_or_update(pod("high", 100, "2024-01-03T00:00:00Z"));
        queue.add_or_update(pod("low-new", 0, "2024-01-02T00:00:00Z"));
        assert_eq!(pop_name(&mut queue).as_deref(), Some("high"));
        assert_eq!(pop_name(&mut queue).as_deref(), Some("low-old"));
        assert_eq!(pop_name(&mut queue).as_deref(), Some("low-new"));
        assert_eq!(pop_name(&mut queue), None);
    }

    #[test]
    fn unschedulable_pods_wait_for_a_change_and_their_back_off() {
        let mut queue = SchedulingQueue::default();
        queue.add_or_update(pod("p", 0, "2024-01-01T00:00:00Z"));
        let (p, attempts) = queue.pop().unwrap();
        assert_eq!(attempts, 0);
        queue.unschedulable(&pod_key(&p));
        queue.flush(Instant::now());
        assert!(queue.pop().is_none(), "waits for a cluster change");
        assert_eq!(queue.unschedulable_keys(), vec!["default/p".to_string()]);
        queue.move_all_to_active();
        assert!(queue.pop().is_none(), "still backing off");
        queue.flush(Instant::now() + Duration::from_millis(1100));
        let (_, attempts) = queue.pop().expect("back-off over");
        assert_eq!(attempts, 1);
    }

    #[test]
    fn a_change_during_the_attempt_means_back_off_only() {
        let mut queue = SchedulingQueue::default();
        queue.add_or_update(pod("p", 0, "2024-01-01T00:00:00Z"));
        let (p, _) = queue.pop().unwrap();
        queue.move_all_to_active();
        queue.unschedulable(&pod_key(&p));
        queue.flush(Instant::now() + Duration::from_millis(1100));
        assert!(queue.pop().is_some());
    }

    #[test]
    fn own_status_writes_do_not_requeue_but_spec_changes_do() {
        let mut queue = SchedulingQueue::default();
        queue.add_or_update(pod("p", 0, "2024-01-01T00:00:00Z"));
        let (p, _) = queue.pop().unwrap();
        queue.unschedulable(&pod_key(&p));
        let mut status_only = (*p).clone();
        status_only.status = Some(Default::default());
        queue.add_or_update(Arc::new(status_only.clone()));
        queue.flush(Instant::now() + Duration::from_secs(2));
        assert!(queue.pop().is_none());
        let mut relabelled = status_only;
        relabelled.metadata.labels = Some([("a".to_string(), "b".to_string())].into());
        queue.add_or_update(Arc::new(relabelled));
        queue.flush(Instant::now() + Duration::from_secs(2));
        assert!(queue.pop().is_some());
    }

    #[test]
    fn back_off_doubles_up_to_ten_seconds() {
        assert_eq!(backoff(1), Duration::from_secs(1));
        assert_eq!(backoff(2), Duration::from_secs(2));
        assert_eq!(backoff(4), Duration::from_secs(8));
        assert_eq!(backoff(5), MAX_BACKOFF);
        assert_eq!(backoff(40), MAX_BACKOFF);
    }
}
