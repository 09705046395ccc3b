//! Keeping a table in step with a component's caches: each sync renders the desired ruleset
//! from the caches as they are and applies the difference from what was last applied. Syncs
//! are batched (at most one per `min_sync_period`), failed ones retried with back-off as full
//! replaces, and a missing table (deleted by someone else) noticed and rewritten.
//!
//! What the rules are made from is the component's business: it implements [`RuleSource`],
//! and has its watches notify the loop through [`spawn_change_notifier`].

use std::fmt::Display;
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use futures_util::{Stream, StreamExt};
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use crate::command;
use crate::ruleset::Ruleset;
use crate::transaction::plan;

/// First retry delay after a failed apply; doubled each failure up to `RETRY_MAX`.
const RETRY_INITIAL: Duration = Duration::from_secs(1);
const RETRY_MAX: Duration = Duration::from_secs(30);
/// How often an idle loop checks that its table is still there.
const TABLE_CHECK_PERIOD: Duration = Duration::from_secs(60);

/// A component's side of the sync: its caches, and how it renders them into a ruleset.
pub trait RuleSource: Send + 'static {
    /// What one sync found in the caches (object counts…), for the log.
    type Summary: Send + 'static;

    /// Who keeps the rules, for the log: "service proxy".
    const COMPONENT: &'static str;
    /// What the rules are, for the log: "service rules".
    const RULES: &'static str;

    /// Completes once every cache holds its initial list (true), or when one is closed first
    /// (false). Nothing is applied before: a partial view could cut or open traffic wrongly.
    fn ready(&self) -> impl Future<Output = bool> + Send;

    /// The desired ruleset for the caches as they are now. Blocking is fine (it runs on a
    /// blocking thread); it must not fail: bad objects are the renderer's to skip.
    fn render(&self) -> (Ruleset, Self::Summary);

    /// Logs a successful sync, in the component's words.
    fn log_synced(&self, report: &SyncReport<Self::Summary>);

    /// Work that must follow a successful sync (the service proxy clears stale flows). Runs on
    /// the sync's blocking thread; failures are the source's to log.
    fn after_sync(&self) {}
}

/// What one sync did.
#[derive(Debug)]
pub struct SyncReport<S> {
    pub summary: S,
    /// The table was replaced as a whole.
    pub full: bool,
    /// nft commands applied; 0 when nothing changed (and nft was not run).
    pub commands: usize,
    pub duration: Duration,
}

/// The state carried from sync to sync: where the table is and what it holds now.
pub struct Syncer<S> {
    table: String,
    nft: Vec<String>,
    source: S,
    /// The ruleset the kernel has, if known. None forces the next sync to replace the table.
    applied: Option<Ruleset>,
}

impl<S: RuleSource> Syncer<S> {
    /// Keeps table `ip <table>` in step with `source`, running nft as `nft` (`["nft"]`).
    pub fn new(table: String, nft: Vec<String>, source: S) -> Self {
        Syncer {
            table,
            nft,
            source,
            applied: None,
        }
    }

    /// Brings the table in line with the source. Blocking (runs nft).
    pub fn sync(&mut self) -> Result<SyncReport<S::Summary>, String> {
        let start = Instant::now();
        let (desired, summary) = self.source.render();
        let transaction = plan(&self.table, self.applied.as_ref(), &desired);
        if !transaction.is_empty() {
            // Whatever happened in the kernel is unknown until the apply succeeds.
            self.applied = None;
            command::apply(&self.nft, &transaction.text)?;
        }
        self.applied = Some(desired);
        Ok(SyncReport {
            summary,
            full: transaction.full,
            commands: transaction.commands,
            duration: start.elapsed(),
        })
    }

    /// Checks that the table is still there; if not, the next sync rewrites it. Returns
    /// whether a sync is needed. Blocking (runs nft).
    pub fn check_table(&mut self) -> bool {
        match command::table_exists(&self.nft, &self.table) {
            Ok(true) => false,
            Ok(false) => {
                tracing::warn!(table = %self.table, "nftables table missing; rewriting it");
                self.applied = None;
                true
            }
            Err(err) => {
                tracing::warn!(error = %err, "cannot list nftables tables");
                false
            }
        }
    }
}

/// Runs `events` (the component's watch streams merged, each error tagged with the kind of
/// object it is about) on a task that notifies the returned `changes` at each event, for
/// [`sync_loop`]. Errors are logged only: kube's watchers back off and retry by themselves.
/// Abort the task when the loop ends.
pub fn spawn_change_notifier<E: Display>(
    component: &'static str,
    events: impl Stream<Item = Result<(), (&'static str, E)>> + Send + 'static,
) -> (Arc<Notify>, JoinHandle<()>) {
    let changes = Arc::new(Notify::new());
    let notify = changes.clone();
    let task = tokio::spawn(async move {
        let mut events = std::pin::pin!(events);
        while let Some(event) = events.next().await {
            match event {
                Ok(()) => notify.notify_one(),
                Err((kind, err)) => {
                    tracing::warn!(kind, error = %err, "{component} watch failed; retrying")
                }
            }
        }
    });
    (changes, task)
}

/// Syncs whenever `changes` is notified (batched to one per `min_sync_period`) until
/// `shutdown` completes; rules stay in place then (a restart must not change traffic). Waits
/// for the source's caches first, so that a restart never applies a partial view.
pub async fn sync_loop<S: RuleSource>(
    syncer: Syncer<S>,
    changes: Arc<Notify>,
    min_sync_period: Duration,
    shutdown: impl Future<Output = ()> + Send,
) {
    let mut shutdown = std::pin::pin!(shutdown);
    tokio::select! {
        () = &mut shutdown => return,
        ready = syncer.source.ready() => if !ready {
            tracing::error!("{} caches closed before their initial lists", S::COMPONENT);
            return;
        },
    }

    let syncer = Arc::new(Mutex::new(syncer));
    let mut pending = true;
    let mut next_sync = Instant::now();
    let mut retry_delay = RETRY_INITIAL;
    let mut next_check = Instant::now() + TABLE_CHECK_PERIOD;
    loop {
        let now = Instant::now();
        if pending && now >= next_sync {
            pending = false;
            next_sync = now + min_sync_period;
            let synced = blocking(&syncer, |syncer| {
                let report = syncer.sync();
                if let Ok(report) = &report {
                    syncer.source.log_synced(report);
                    syncer.source.after_sync();
                }
                report.map(drop)
            })
            .await;
            match synced {
                Ok(()) => retry_delay = RETRY_INITIAL,
                Err(err) => {
                    tracing::warn!(error = %err, retry_in = ?retry_delay, "applying {} failed", S::RULES);
                    pending = true;
                    next_sync = next_sync.max(Instant::now() + retry_delay);
                    retry_delay = (retry_delay * 2).min(RETRY_MAX);
                }
            }
            next_check = Instant::now() + TABLE_CHECK_PERIOD;
            continue;
        }
        let wake = if pending { next_sync } else { next_check };
        tokio::select! {
            () = &mut shutdown => break,
            () = changes.notified() => pending = true,
            () = tokio::time::sleep_until(wake.into()) => {
                if !pending {
                    let missing = blocking(&syncer, |syncer| Ok(syncer.check_table())).await;
                    pending = missing.unwrap_or(false);
                    next_check = Instant::now() + TABLE_CHECK_PERIOD;
                }
            }
        }
    }
    tracing::info!("{} stopped; rules left in place", S::COMPONENT);
}

/// Runs `work` on the syncer on a blocking thread: rendering and nft take a while.
async fn blocking<S: RuleSource, T: Send + 'static>(
    syncer: &Arc<Mutex<Syncer<S>>>,
    work: impl FnOnce(&mut Syncer<S>) -> Result<T, String> + Send + 'static,
) -> Result<T, String> {
    let syncer = syncer.clone();
    tokio::task::spawn_blocking(move || {
        // A panic mid-sync leaves `applied` as None (set before applying): safe to reuse.
        let mut syncer = syncer.lock().unwrap_or_else(PoisonError::into_inner);
        work(&mut syncer)
    })
    .await
    .map_err(|err| format!("sync task failed: {err}"))?
}

#[cfg(test)]
#[path = "sync_tests.rs"]
mod tests;
