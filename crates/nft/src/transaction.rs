//! Rulesets → nft transactions (`nft -f -` input, applied atomically by the kernel).
//!
//! A full transaction replaces the whole table: `add table` + `delete table` (so the delete
//! cannot fail on a missing table) and then everything, as kube-proxy does on its first sync.
//! An incremental one touches only what changed since the last applied ruleset: it declares new
//! chains and sets, rewrites chains whose rules changed, adds and deletes set and map elements,
//! and deletes chains and sets no longer used once nothing refers to them.

use std::fmt::Write as _;

use crate::ruleset::{Chain, Element, Ruleset, Set};

/// Elements per `add element` / `delete element` command: keeps lines reasonable.
const ELEMENTS_PER_COMMAND: usize = 1000;

/// nft input text, ready for `nft -f -`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Transaction {
    /// Replaces the whole table (as opposed to changing it in place).
    pub full: bool,
    pub text: String,
    /// The number of commands (lines) in `text`.
    pub commands: usize,
}

impl Transaction {
    /// Nothing to change.
    pub fn is_empty(&self) -> bool {
        self.text.is_empty()
    }
}

/// The transaction taking the table from `applied` (None: unknown, e.g. at start or after a
/// failed apply) to `desired`. Falls back to a full replace when `applied` is unknown or when
/// something cannot be changed in place (a base chain's hook, a set's declaration, the table's
/// comment).
pub fn plan(table: &str, applied: Option<&Ruleset>, desired: &Ruleset) -> Transaction {
    match applied {
        Some(applied) if can_update_in_place(applied, desired) => {
            incremental(table, applied, desired)
        }
        _ => full(table, desired),
    }
}

/// Replaces the table with `desired`.
pub fn full(table: &str, desired: &Ruleset) -> Transaction {
    let mut out = Writer::new(table, true);
    out.line(format_args!("add table ip {table}"));
    out.line(format_args!("delete table ip {table}"));
    match desired.table_comment {
        Some(comment) => out.line(format_args!(
            "add table ip {table} {{ comment \"{comment}\" ; }}"
        )),
        None => out.line(format_args!("add table ip {table}")),
    }
    for (name, set) in &desired.sets {
        out.add_set(name, set);
    }
    for (name, chain) in &desired.chains {
        out.add_chain(name, chain);
    }
    out.add_rules_anonymous_sets_first(desired.chains.iter());
    for (name, set) in &desired.sets {
        out.add_elements(name, set.elements.iter());
    }
    out.finish()
}

/// Whether a rule holds an inline (anonymous) set or map: `vmap { … }`, `!= { … }`. The
/// kernel walks the whole transaction so far each time it binds one, so those rules go first
/// (a third less kernel time for the service proxy's full table at 10,000 endpoints).
/// `update @set { … }` names a set and is not one.
fn has_anonymous_set(rule: &str) -> bool {
    rule.contains(" { ") && !rule.contains("update @")
}

/// Base chains, set declarations and the table's comment cannot be altered by `add`: those
/// changes need a full replace. Everything else can be done in place.
fn can_update_in_place(applied: &Ruleset, desired: &Ruleset) -> bool {
    let chains_ok = desired
        .chains
        .iter()
        .all(|(name, chain)| match applied.chains.get(name) {
            Some(old) => old.hook == chain.hook,
            None => chain.hook.is_none(),
        });
    let removed_base_chain = applied
        .chains
        .iter()
        .any(|(name, chain)| chain.hook.is_some() && !desired.chains.contains_key(name));
    let sets_ok = desired.sets.iter().all(|(name, set)| {
        applied
            .sets
            .get(name)
            .is_none_or(|old| old.spec == set.spec)
    });
    applied.table_comment == desired.table_comment && chains_ok && !removed_base_chain && sets_ok
}

fn incremental(table: &str, applied: &Ruleset, desired: &Ruleset) -> Transaction {
    let mut out = Writer::new(table, false);

    // 1. Declare what is new, so that rules and elements below may refer to it.
    for (name, set) in &desired.sets {
        if !applied.sets.contains_key(name) {
            out.add_set(name, set);
        }
    }
    for (name, chain) in &desired.chains {
        if !applied.chains.contains_key(name) {
            out.add_chain(name, chain);
        }
    }

    // 2. Write the rules of new chains; rewrite chains whose rules changed.
    let rewritten = desired.chains.iter().filter(|(name, chain)| {
        applied
            .chains
            .get(*name)
            .is_none_or(|old| old.rules != chain.rules)
    });
    for (name, _) in rewritten.clone() {
        if applied.chains.contains_key(name) {
            out.line(format_args!("flush chain ip {table} {name}"));
        }
    }
    out.add_rules_anonymous_sets_first(rewritten);

    // 3. Empty the chains that go away: their rules may refer to other chains and to sets.
    let stale_chains: Vec<&String> = applied
        .chains
        .keys()
        .filter(|name| !desired.chains.contains_key(*name))
        .collect();
    for name in &stale_chains {
        out.line(format_args!("flush chain ip {table} {name}"));
    }

    // 4. Elements: delete the removed and changed ones, then add the new and changed ones
    //    (map elements pointing at stale chains go here, before those chains are deleted).
    for (name, set) in &desired.sets {
        let Some(old) = applied.sets.get(name) else {
            out.add_elements(name, set.elements.iter());
            continue;
        };
        let removed = old
            .elements
            .iter()
            .filter(|(key, element)| set.elements.get(*key) != Some(element))
            .map(|(key, _)| key);
        out.delete_elements(name, removed);
        let added = set
            .elements
            .iter()
            .filter(|(key, element)| old.elements.get(*key) != Some(element));
        out.add_elements(name, added);
    }

    // 5. Delete what is no longer used, now that no rule or element refers to it.
    for name in stale_chains {
        out.line(format_args!("delete chain ip {table} {name}"));
    }
    for (name, set) in &applied.sets {
        if !desired.sets.contains_key(name) {
            let kind = if set.spec.is_map { "map" } else { "set" };
            out.line(format_args!("delete {kind} ip {table} {name}"));
        }
    }
    out.finish()
}

/// Accumulates the commands for one table.
struct Writer<'a> {
    table: &'a str,
    transaction: Transaction,
}

impl<'a> Writer<'a> {
    fn new(table: &'a str, full: bool) -> Self {
        Writer {
            table,
            transaction: Transaction {
                full,
                ..Transaction::default()
            },
        }
    }

    fn line(&mut self, command: std::fmt::Arguments<'_>) {
        let _ = self.transaction.text.write_fmt(command);
        self.transaction.text.push('\n');
        self.transaction.commands += 1;
    }

    fn add_set(&mut self, name: &str, set: &Set) {
        let spec = &set.spec;
        let kind = if spec.is_map { "map" } else { "set" };
        let mut body = format!("type {} ;", spec.type_);
        if let Some(flags) = spec.flags {
            let _ = write!(body, " flags {flags} ;");
        }
        if let Some(timeout) = spec.timeout_seconds {
            let _ = write!(body, " timeout {timeout}s ;");
        }
        if let Some(comment) = spec.comment {
            let _ = write!(body, " comment \"{comment}\" ;");
        }
        let table = self.table;
        self.line(format_args!("add {kind} ip {table} {name} {{ {body} }}"));
    }

    fn add_chain(&mut self, name: &str, chain: &Chain) {
        let table = self.table;
        match chain.hook {
            Some(hook) => self.line(format_args!(
                "add chain ip {table} {name} {{ type {} hook {} priority {} ; policy accept ; }}",
                hook.kind, hook.hook, hook.priority
            )),
            None => self.line(format_args!("add chain ip {table} {name}")),
        }
    }

    fn add_rules(&mut self, chain: &str, rules: &[String]) {
        let table = self.table;
        for rule in rules {
            self.line(format_args!("add rule ip {table} {chain} {rule}"));
        }
    }

    /// The rules of `chains`, those of chains holding anonymous sets first (see
    /// `has_anonymous_set`); the order within each chain is kept.
    fn add_rules_anonymous_sets_first<'c>(
        &mut self,
        chains: impl Iterator<Item = (&'c String, &'c Chain)> + Clone,
    ) {
        let binds = |chain: &Chain| chain.rules.iter().any(|rule| has_anonymous_set(rule));
        for (name, chain) in chains.clone().filter(|(_, chain)| binds(chain)) {
            self.add_rules(name, &chain.rules);
        }
        for (name, chain) in chains.filter(|(_, chain)| !binds(chain)) {
            self.add_rules(name, &chain.rules);
        }
    }

    fn add_elements<'e>(
        &mut self,
        set: &str,
        elements: impl Iterator<Item = (&'e String, &'e Element)>,
    ) {
        self.element_commands(
            "add",
            set,
            elements.map(|(key, element)| element_text(key, element)),
        );
    }

    fn delete_elements<'e>(&mut self, set: &str, keys: impl Iterator<Item = &'e String>) {
        self.element_commands("delete", set, keys.cloned());
    }

    fn element_commands(&mut self, verb: &str, set: &str, elements: impl Iterator<Item = String>) {
        let table = self.table;
        let mut batch: Vec<String> = Vec::new();
        for element in elements {
            batch.push(element);
            if batch.len() == ELEMENTS_PER_COMMAND {
                self.line(format_args!(
                    "{verb} element ip {table} {set} {{ {} }}",
                    batch.join(", ")
                ));
                batch.clear();
            }
        }
        if !batch.is_empty() {
            self.line(format_args!(
                "{verb} element ip {table} {set} {{ {} }}",
                batch.join(", ")
            ));
        }
    }

    fn finish(self) -> Transaction {
        self.transaction
    }
}

/// `key [comment "…"] [: value]`.
fn element_text(key: &str, element: &Element) -> String {
    let mut text = key.to_string();
    if let Some(comment) = &element.comment {
        let _ = write!(text, " comment \"{comment}\"");
    }
    if let Some(value) = &element.value {
        let _ = write!(text, " : {value}");
    }
    text
}

#[cfg(test)]
#[path = "transaction_tests.rs"]
pub(crate) mod tests;
