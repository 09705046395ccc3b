//! Commands and plans in a real kernel: nft run inside network namespaces the tests create
//! (and delete). Skipped, with the reason printed, when not root or without nft.

use crate::command::{apply, delete_table, list_table, table_exists};
use crate::ruleset::{Element, Ruleset, SetSpec};
use crate::testing::{kernel_table, netns_or_skip, Netns};
use crate::transaction::plan;
use crate::transaction::tests::sample;

const TABLE: &str = "t";

/// `sample` grown: more elements, a chain and a set updated from a rule with timeouts.
fn grown() -> Ruleset {
    let mut ruleset = sample();
    ruleset.add_element("pods", "10.0.0.3".into(), Element::value("jump c"));
    ruleset.add_element("blocks", "192.168.0.0/24".into(), Element::default());
    ruleset.declare_set(
        "recent",
        SetSpec {
            type_: "ipv4_addr".into(),
            flags: Some("dynamic,timeout"),
            timeout_seconds: Some(60),
            ..SetSpec::default()
        },
    );
    ruleset.add_rule("c", "update @recent { ip saddr }");
    ruleset.add_rule("c", "accept");
    if let Some(chain) = ruleset.chains.get_mut("a") {
        chain.rules.insert(0, "ip saddr 10.9.9.9 drop".into());
    }
    ruleset
}

/// `sample` shrunk: chain b, the set and an element gone.
fn shrunk() -> Ruleset {
    let mut ruleset = sample();
    ruleset.chains.remove("b");
    ruleset.sets.remove("blocks");
    if let Some(chain) = ruleset.chains.get_mut("a") {
        chain.rules.retain(|rule| !rule.contains("@blocks"));
    }
    if let Some(pods) = ruleset.sets.get_mut("pods") {
        pods.elements.remove("10.0.0.2");
    }
    ruleset
}

/// Applies `transaction` text, showing it when nft refuses it.
fn apply_or_panic(netns: &Netns, text: &str) {
    apply(&netns.nft(), text).unwrap_or_else(|err| panic!("{err}\n{text}"));
}

/// What a full apply of `ruleset` leaves in a fresh namespace.
fn fresh_table(ruleset: &Ruleset) -> std::collections::BTreeMap<String, Vec<String>> {
    let fresh = Netns::create().expect("second namespace");
    apply_or_panic(&fresh, &plan(TABLE, None, ruleset).text);
    kernel_table(&fresh, TABLE)
}

#[test]
fn incremental_changes_leave_what_a_full_apply_gives() {
    let Some(netns) = netns_or_skip() else {
        return;
    };
    let first = sample();
    let full = plan(TABLE, None, &first);
    apply_or_panic(&netns, &full.text);
    // Again over itself: a restart's first sync.
    apply_or_panic(&netns, &full.text);
    let listing = list_table(&netns.nft(), TABLE).expect("list table");
    for expected in [
        "comment \"rules of t\"",
        "type filter hook input priority filter; policy accept;",
        "10.0.0.2 comment \"ns/web\" : jump b",
        "tcp dport { 80, 443 } accept",
    ] {
        assert!(listing.contains(expected), "no {expected:?} in\n{listing}");
    }

    let mut applied = first;
    for desired in [grown(), shrunk(), sample()] {
        let transaction = plan(TABLE, Some(&applied), &desired);
        assert!(!transaction.full && !transaction.is_empty());
        apply_or_panic(&netns, &transaction.text);
        assert_eq!(kernel_table(&netns, TABLE), fresh_table(&desired));
        applied = desired;
    }
}

#[test]
fn delete_table_removes_the_table_and_tolerates_its_absence() {
    let Some(netns) = netns_or_skip() else {
        return;
    };
    assert!(!table_exists(&netns.nft(), TABLE).expect("list tables"));
    apply_or_panic(&netns, &plan(TABLE, None, &sample()).text);
    assert!(table_exists(&netns.nft(), TABLE).expect("list tables"));
    assert!(!table_exists(&netns.nft(), "t2").expect("list tables"));
    delete_table(&netns.nft(), TABLE).expect("delete");
    assert!(!table_exists(&netns.nft(), TABLE).expect("list tables"));
    delete_table(&netns.nft(), TABLE).expect("deleting again is fine");
}

#[test]
fn a_bad_transaction_changes_nothing_and_reports_nft_errors() {
    let Some(netns) = netns_or_skip() else {
        return;
    };
    apply_or_panic(&netns, &plan(TABLE, None, &sample()).text);
    let before = kernel_table(&netns, TABLE);
    let bad = format!("add chain ip {TABLE} extra\nadd rule ip {TABLE} extra goto no-such-chain\n");
    let err = apply(&netns.nft(), &bad).expect_err("bad transaction");
    assert!(
        err.contains("no-such-chain") || err.contains("Error"),
        "{err}"
    );
    assert_eq!(
        kernel_table(&netns, TABLE),
        before,
        "atomic: nothing applied"
    );
}
