//! The sync loop with a source whose content the test sets, and the recording stand-in for nft.

use std::collections::BTreeSet;

use tokio::sync::watch;

use super::*;
use crate::ruleset::{Element, SetSpec};
use crate::testing::{FakeNft, RunningLoop};

const TABLE: &str = "t";
const MIN_SYNC_PERIOD: Duration = Duration::from_millis(300);

/// Addresses to block, as a set and a rule using it; ready once the test says so.
#[derive(Clone)]
struct Blocklist {
    addresses: Arc<Mutex<BTreeSet<String>>>,
    /// None until the "caches" have listed; then whether they did (false: closed first).
    listed: watch::Receiver<Option<bool>>,
    /// (full, commands) of each successful sync, as logged.
    reports: Arc<Mutex<Vec<(bool, usize)>>>,
}

impl RuleSource for Blocklist {
    type Summary = usize;
    const COMPONENT: &'static str = "test blocker";
    const RULES: &'static str = "test rules";

    fn ready(&self) -> impl Future<Output = bool> + Send {
        let mut listed = self.listed.clone();
        async move {
            match listed.wait_for(Option::is_some).await {
                Ok(listed) => listed.unwrap_or(false),
                Err(_) => false,
            }
        }
    }

    fn render(&self) -> (Ruleset, usize) {
        let mut ruleset = Ruleset::default();
        ruleset.add_rule("input", "ip saddr @blocked drop");
        ruleset.declare_set(
            "blocked",
            SetSpec {
                type_: "ipv4_addr".into(),
                ..SetSpec::default()
            },
        );
        let addresses = lock(&self.addresses).clone();
        for address in &addresses {
            ruleset.add_element("blocked", address.clone(), Element::default());
        }
        (ruleset, addresses.len())
    }

    fn log_synced(&self, report: &SyncReport<usize>) {
        lock(&self.reports).push((report.full, report.commands));
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

struct Harness {
    nft: FakeNft,
    source: Blocklist,
    listed: watch::Sender<Option<bool>>,
    sync: RunningLoop,
}

impl Harness {
    fn start() -> Harness {
        let nft = FakeNft::new(TABLE);
        let (listed, listed_receiver) = watch::channel(None);
        let source = Blocklist {
            addresses: Arc::default(),
            listed: listed_receiver,
            reports: Arc::default(),
        };
        let syncer = Syncer::new(TABLE.into(), nft.command(), source.clone());
        Harness {
            nft,
            source,
            listed,
            sync: RunningLoop::start(syncer, MIN_SYNC_PERIOD),
        }
    }

    fn list(&self, addresses: &[&str]) {
        self.block(addresses);
        let _ = self.listed.send(Some(true));
    }

    fn block(&self, addresses: &[&str]) {
        lock(&self.source.addresses).extend(addresses.iter().map(ToString::to_string));
        self.sync.changes.notify_one();
    }
}

#[tokio::test]
async fn waits_for_the_caches_then_syncs_fully_then_incrementally_and_batches() {
    let harness = Harness::start();
    harness.block(&["10.0.0.1"]);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(
        harness.nft.transactions().is_empty(),
        "no sync before the initial lists"
    );

    harness.list(&["10.0.0.2"]);
    let first = harness.nft.wait_for_transactions(1).await;
    assert!(
        first[0]
            .text
            .starts_with("add table ip t\ndelete table ip t\n"),
        "{}",
        first[0].text
    );
    assert!(first[0]
        .text
        .contains("add element ip t blocked { 10.0.0.1, 10.0.0.2 }"));

    // Two changes in quick succession: the first syncs at once (or after the period), the
    // second waits for the period; together at most two syncs, the last seeing both.
    harness.block(&["10.0.0.3"]);
    harness.block(&["10.0.0.4"]);
    tokio::time::sleep(MIN_SYNC_PERIOD * 4).await;
    let all = harness.nft.transactions();
    assert!((2..=3).contains(&all.len()), "{} transactions", all.len());
    let later = harness.nft.text_after(1);
    assert!(!later.contains("add table"), "incremental: {later}");
    assert!(
        later.contains("10.0.0.3") && later.contains("10.0.0.4"),
        "{later}"
    );
    for pair in all.windows(2) {
        let gap = pair[1].ended_ns.saturating_sub(pair[0].ended_ns);
        let gap = Duration::from_nanos(u64::try_from(gap).unwrap_or(u64::MAX));
        assert!(
            gap >= MIN_SYNC_PERIOD - Duration::from_millis(50),
            "syncs {gap:?} apart"
        );
    }

    // No change, no transaction (and no nft run), though the sync is logged.
    let logged = lock(&harness.source.reports).len();
    harness.sync.changes.notify_one();
    tokio::time::sleep(MIN_SYNC_PERIOD * 2).await;
    assert_eq!(harness.nft.transactions().len(), all.len());
    let reports = lock(&harness.source.reports).clone();
    assert_eq!(reports.len(), logged + 1);
    assert_eq!(reports[0], (true, first[0].text.lines().count()));
    assert_eq!(reports.last(), Some(&(false, 0)));
    harness.sync.stop().await;
}

#[tokio::test]
async fn a_failed_apply_is_retried_as_a_full_replace() {
    let harness = Harness::start();
    harness.list(&["10.0.0.1"]);
    harness.nft.wait_for_transactions(1).await;

    harness.nft.set_failing(true);
    harness.block(&["10.0.0.5"]);
    // Let it fail at least once, then let it through.
    tokio::time::sleep(MIN_SYNC_PERIOD * 2).await;
    assert_eq!(harness.nft.transactions().len(), 1);
    harness.nft.set_failing(false);

    let all = harness.nft.wait_for_transactions(2).await;
    let retry = &all[1].text;
    assert!(
        retry.starts_with("add table ip t\ndelete table ip t\n"),
        "full after a failure: {retry}"
    );
    assert!(retry.contains("10.0.0.5"), "{retry}");
    harness.sync.stop().await;
}

#[tokio::test]
async fn shutdown_before_the_caches_are_ready_returns() {
    let harness = Harness::start();
    harness.sync.stop().await;
}

#[tokio::test]
async fn caches_closed_before_listing_end_the_loop_without_rules() {
    let harness = Harness::start();
    let _ = harness.listed.send(Some(false));
    harness.sync.finished().await;
    assert!(harness.nft.transactions().is_empty());
}

#[test]
fn a_deleted_table_is_noticed_and_replaced() {
    let nft = FakeNft::new(TABLE);
    let (_listed, listed) = watch::channel(Some(true));
    let source = Blocklist {
        addresses: Arc::default(),
        listed,
        reports: Arc::default(),
    };
    let mut syncer = Syncer::new(TABLE.into(), nft.command(), source);
    assert!(syncer.sync().expect("first sync").full);
    assert!(!syncer.check_table(), "the table is there");
    assert_eq!(syncer.sync().expect("no change").commands, 0);

    nft.set_table_gone(true);
    assert!(syncer.check_table(), "the table is gone: sync again");
    let report = syncer.sync().expect("rewrite");
    assert!(report.full && report.commands > 0);
    assert_eq!(nft.transactions().len(), 2);
}
