//! Planning on hand-made rulesets: what a full replace writes, in which order, and what an
//! incremental change touches.

use super::*;
use crate::ruleset::{BaseChain, SetSpec};

const TABLE: &str = "t";

fn lines(transaction: &Transaction) -> Vec<&str> {
    transaction.text.lines().collect()
}

fn position(transaction: &Transaction, line: &str) -> usize {
    lines(transaction)
        .iter()
        .position(|candidate| *candidate == line)
        .unwrap_or_else(|| panic!("no {line:?} in\n{}", transaction.text))
}

const FILTER_INPUT: BaseChain = BaseChain {
    kind: "filter",
    hook: "input",
    priority: 0,
};

fn map_spec() -> SetSpec {
    SetSpec {
        is_map: true,
        type_: "ipv4_addr : verdict".into(),
        comment: Some("pods"),
        ..SetSpec::default()
    }
}

/// A base chain dispatching through a map to two regular chains, one with an inline set, and
/// an interval set used by one of them.
pub(crate) fn sample() -> Ruleset {
    let mut ruleset = Ruleset {
        table_comment: Some("rules of t"),
        ..Ruleset::default()
    };
    ruleset.chains.insert(
        "input".into(),
        Chain {
            hook: Some(FILTER_INPUT),
            rules: vec!["ip saddr vmap @pods".into()],
        },
    );
    ruleset.add_rule("a", "ip saddr @blocks accept");
    ruleset.add_rule("a", "counter drop");
    ruleset.add_rule("b", "tcp dport { 80, 443 } accept");
    ruleset.add_rule("b", "drop");
    ruleset.declare_set("pods", map_spec());
    ruleset.add_element("pods", "10.0.0.1".into(), Element::value("jump a"));
    ruleset.add_element(
        "pods",
        "10.0.0.2".into(),
        Element {
            value: Some("jump b".into()),
            comment: Some("ns/web".into()),
        },
    );
    ruleset.declare_set(
        "blocks",
        SetSpec {
            type_: "ipv4_addr".into(),
            flags: Some("interval"),
            ..SetSpec::default()
        },
    );
    ruleset.add_element("blocks", "10.1.0.0/16".into(), Element::default());
    ruleset
}

#[test]
fn a_full_replace_declares_everything_then_fills_it() {
    let transaction = plan(TABLE, None, &sample());
    assert!(transaction.full);
    assert_eq!(
        lines(&transaction),
        [
            "add table ip t",
            "delete table ip t",
            "add table ip t { comment \"rules of t\" ; }",
            "add set ip t blocks { type ipv4_addr ; flags interval ; }",
            "add map ip t pods { type ipv4_addr : verdict ; comment \"pods\" ; }",
            "add chain ip t a",
            "add chain ip t b",
            "add chain ip t input { type filter hook input priority 0 ; policy accept ; }",
            // The chain binding an inline set first, each chain's order kept.
            "add rule ip t b tcp dport { 80, 443 } accept",
            "add rule ip t b drop",
            "add rule ip t a ip saddr @blocks accept",
            "add rule ip t a counter drop",
            "add rule ip t input ip saddr vmap @pods",
            "add element ip t blocks { 10.1.0.0/16 }",
            "add element ip t pods { 10.0.0.1 : jump a, 10.0.0.2 comment \"ns/web\" : jump b }",
        ]
    );
    assert_eq!(transaction.commands, transaction.text.lines().count());
}

#[test]
fn without_a_comment_the_table_is_declared_bare() {
    let ruleset = Ruleset {
        table_comment: None,
        ..sample()
    };
    assert_eq!(
        lines(&full(TABLE, &ruleset))[..3],
        ["add table ip t", "delete table ip t", "add table ip t"]
    );
}

#[test]
fn set_declarations_carry_flags_timeouts_and_comments() {
    let mut ruleset = Ruleset::default();
    ruleset.declare_set(
        "affinity",
        SetSpec {
            type_: "ipv4_addr".into(),
            flags: Some("dynamic,timeout"),
            timeout_seconds: Some(10800),
            comment: Some("sticky clients"),
            ..SetSpec::default()
        },
    );
    assert!(full(TABLE, &ruleset).text.contains(
        "add set ip t affinity { type ipv4_addr ; flags dynamic,timeout ; timeout 10800s ; comment \"sticky clients\" ; }\n"
    ));
}

#[test]
fn nothing_changed_is_an_empty_transaction() {
    let transaction = plan(TABLE, Some(&sample()), &sample());
    assert!(transaction.is_empty() && !transaction.full);
    assert_eq!(transaction.commands, 0);
}

#[test]
fn changed_elements_are_deleted_then_added() {
    let applied = sample();
    let mut desired = sample();
    desired.add_element("pods", "10.0.0.1".into(), Element::value("jump b"));
    desired.add_element("pods", "10.0.0.3".into(), Element::value("jump a"));
    desired.add_element("blocks", "10.2.0.0/16".into(), Element::default());
    let transaction = plan(TABLE, Some(&applied), &desired);
    assert!(!transaction.full);
    assert_eq!(
        lines(&transaction),
        [
            "add element ip t blocks { 10.2.0.0/16 }",
            "delete element ip t pods { 10.0.0.1 }",
            "add element ip t pods { 10.0.0.1 : jump b, 10.0.0.3 : jump a }",
        ]
    );
}

#[test]
fn new_things_are_declared_before_use_and_changed_chains_rewritten() {
    let applied = sample();
    let mut desired = sample();
    desired.add_rule("c", "tcp dport 22 accept");
    desired.declare_set(
        "more",
        SetSpec {
            type_: "ipv4_addr".into(),
            ..SetSpec::default()
        },
    );
    desired.add_element("more", "10.0.0.9".into(), Element::default());
    desired.add_element("pods", "10.0.0.3".into(), Element::value("jump c"));
    if let Some(chain) = desired.chains.get_mut("a") {
        chain.rules.insert(0, "ip saddr @more drop".into());
    }
    let transaction = plan(TABLE, Some(&applied), &desired);
    assert_eq!(
        lines(&transaction),
        [
            "add set ip t more { type ipv4_addr ; }",
            "add chain ip t c",
            "flush chain ip t a",
            "add rule ip t a ip saddr @more drop",
            "add rule ip t a ip saddr @blocks accept",
            "add rule ip t a counter drop",
            "add rule ip t c tcp dport 22 accept",
            "add element ip t more { 10.0.0.9 }",
            "add element ip t pods { 10.0.0.3 : jump c }",
        ]
    );
}

#[test]
fn what_goes_away_is_emptied_unlinked_then_deleted() {
    let applied = sample();
    let mut desired = sample();
    desired.chains.remove("a");
    desired.sets.remove("blocks");
    if let Some(pods) = desired.sets.get_mut("pods") {
        pods.elements.remove("10.0.0.1");
    }
    let transaction = plan(TABLE, Some(&applied), &desired);
    assert_eq!(
        lines(&transaction),
        [
            "flush chain ip t a",
            "delete element ip t pods { 10.0.0.1 }",
            "delete chain ip t a",
            "delete set ip t blocks",
        ]
    );
    // And back: declared, filled, then pointed at.
    let back = plan(TABLE, Some(&desired), &applied);
    assert!(
        position(
            &back,
            "add set ip t blocks { type ipv4_addr ; flags interval ; }"
        ) < position(&back, "add rule ip t a ip saddr @blocks accept")
    );
    assert!(
        position(&back, "add chain ip t a")
            < position(&back, "add element ip t pods { 10.0.0.1 : jump a }")
    );
}

#[test]
fn what_cannot_change_in_place_forces_a_full_replace() {
    let applied = sample();
    let mut redeclared = sample();
    if let Some(set) = redeclared.sets.get_mut("blocks") {
        set.spec.flags = None;
    }
    let mut rehooked = sample();
    if let Some(chain) = rehooked.chains.get_mut("input") {
        chain.hook = Some(BaseChain {
            priority: 10,
            ..FILTER_INPUT
        });
    }
    let mut unhooked = sample();
    unhooked.chains.remove("input");
    let mut new_base = sample();
    new_base.chains.insert(
        "forward".into(),
        Chain {
            hook: Some(BaseChain {
                hook: "forward",
                ..FILTER_INPUT
            }),
            rules: Vec::new(),
        },
    );
    let recommented = Ruleset {
        table_comment: Some("other"),
        ..sample()
    };
    for desired in [redeclared, rehooked, unhooked, new_base, recommented] {
        let transaction = plan(TABLE, Some(&applied), &desired);
        assert!(transaction.full, "{}", transaction.text);
    }
}

#[test]
fn element_commands_are_batched() {
    let mut ruleset = Ruleset::default();
    ruleset.declare_set(
        "many",
        SetSpec {
            type_: "ipv4_addr".into(),
            ..SetSpec::default()
        },
    );
    for index in 0..2500u32 {
        let address = std::net::Ipv4Addr::from(0x0a00_0000 + index);
        ruleset.add_element("many", address.to_string(), Element::default());
    }
    let transaction = full(TABLE, &ruleset);
    let commands: Vec<&str> = lines(&transaction)
        .into_iter()
        .filter(|line| line.starts_with("add element ip t many"))
        .collect();
    assert_eq!(commands.len(), 3);
    assert_eq!(commands[0].matches(", ").count(), 999);
    assert_eq!(commands[2].matches(", ").count(), 499);
}
