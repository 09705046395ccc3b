//! What the rule benches share: timing, and the figures of building rules (a) and applying
//! them with nft (b: a full table; then incremental updates), printed in one format.

use std::time::{Duration, Instant};

use super::netns::Netns;
use crate::command;
use crate::ruleset::Ruleset;
use crate::transaction::{plan, Transaction};

/// Width of the labels, so that the figures line up.
const LABEL_WIDTH: usize = 40;

/// `"    12.3 ms"`.
pub fn ms(duration: Duration) -> String {
    format!("{:8.1} ms", duration.as_secs_f64() * 1000.0)
}

/// `"1234 commands, 56 KiB"`.
pub fn describe(transaction: &Transaction) -> String {
    format!(
        "{} commands, {} KiB",
        transaction.commands,
        transaction.text.len() / 1024
    )
}

/// Runs `work` `runs` times (at least once): the fastest time, and the last result.
pub fn best_of<T>(runs: usize, mut work: impl FnMut() -> T) -> (Duration, T) {
    let start = Instant::now();
    let mut last = work();
    let mut best = start.elapsed();
    for _ in 1..runs {
        let start = Instant::now();
        last = work();
        best = best.min(start.elapsed());
    }
    (best, last)
}

/// (a) Builds the model and its ruleset and plans the full transaction, `runs` times; prints
/// the best time with the sizes (`describe_model` says what the model holds). Returns the last
/// model, ruleset and transaction.
pub fn build_and_plan<M>(
    runs: usize,
    table: &str,
    mut build: impl FnMut() -> (M, Ruleset),
    describe_model: impl FnOnce(&M) -> String,
) -> (M, Ruleset, Transaction) {
    let (best, (model, ruleset, full)) = best_of(runs, || {
        let (model, ruleset) = build();
        let full = plan(table, None, &ruleset);
        (model, ruleset, full)
    });
    let details = format!(
        "({}; {} chains, {} rules, {} elements; {})",
        describe_model(&model),
        ruleset.chains.len(),
        ruleset.rule_count(),
        ruleset.element_count(),
        describe(&full)
    );
    print_figure("(a) model + render + full transaction:", best, &details);
    (model, ruleset, full)
}

/// (b) Applies `full` in a fresh namespace, then again over itself (what a restart does);
/// prints both times and returns the namespace for the updates. None (the reason printed)
/// where nft cannot run: then only the figures of (a) are printed.
pub fn apply_full_in_fresh_netns(full: &Transaction) -> Option<Netns> {
    if let Some(reason) = Netns::unavailable() {
        println!("apply figures skipped: {reason}");
        return None;
    }
    let netns = Netns::create().expect("network namespace");
    let start = Instant::now();
    command::apply(&netns.nft(), &full.text).expect("full apply");
    print_figure("(b) nft apply, full, empty table:", start.elapsed(), "");
    let start = Instant::now();
    command::apply(&netns.nft(), &full.text).expect("full apply over the table");
    print_figure(
        "    nft apply, full, replacing the table:",
        start.elapsed(),
        "",
    );
    Some(netns)
}

/// One update: builds the desired ruleset, plans it against `applied` and applies it with nft;
/// prints the time of each part under `label`; returns the new ruleset.
pub fn apply_update(
    label: &str,
    table: &str,
    nft: &[String],
    applied: &Ruleset,
    build: impl FnOnce() -> Ruleset,
) -> Ruleset {
    let start = Instant::now();
    let desired = build();
    let built = start.elapsed();
    let transaction = plan(table, Some(applied), &desired);
    let planned = start.elapsed();
    command::apply(nft, &transaction.text).expect("incremental apply");
    let details = format!(
        "(model + render {}, diff {}, nft {}; {})",
        ms(built).trim(),
        ms(planned - built).trim(),
        ms(start.elapsed() - planned).trim(),
        describe(&transaction)
    );
    print_figure(label, start.elapsed(), &details);
    desired
}

/// Nothing changed: building and planning give an empty transaction, and nft is not run;
/// prints the time that takes.
pub fn no_change(table: &str, applied: &Ruleset, build: impl FnOnce() -> Ruleset) {
    let start = Instant::now();
    let again = build();
    let transaction = plan(table, Some(applied), &again);
    assert!(transaction.is_empty(), "{}", transaction.text);
    print_figure(
        "    no change (model + render + diff):",
        start.elapsed(),
        "",
    );
}

/// `label  time  details`, aligned.
pub fn print_figure(label: &str, time: Duration, details: &str) {
    let line = format!("{label:<LABEL_WIDTH$} {}  {details}", ms(time));
    println!("{}", line.trim_end());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_and_best_of() {
        assert_eq!(ms(Duration::from_micros(12_345)), "    12.3 ms");
        let transaction = Transaction {
            full: true,
            text: "x".repeat(3000),
            commands: 7,
        };
        assert_eq!(describe(&transaction), "7 commands, 2 KiB");
        let mut calls = 0;
        let (_, last) = best_of(3, || {
            calls += 1;
            calls
        });
        assert_eq!((calls, last), (3, 3));
        assert_eq!(best_of(0, || "once").1, "once");
    }
}
