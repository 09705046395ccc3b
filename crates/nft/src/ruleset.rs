//! The desired content of one nftables table, as plain data: chains with their rules, sets
//! and maps with their elements. Each user renders its own; [`crate::transaction`] turns it, or
//! the difference between two of them, into nft commands.

use std::collections::BTreeMap;

/// Everything in the table. Maps are ordered so that the generated text is deterministic.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Ruleset {
    /// The table's comment (`rules for capstan-proxy`), telling whoever lists the kernel's
    /// tables whose this one is.
    pub table_comment: Option<&'static str>,
    pub chains: BTreeMap<String, Chain>,
    /// Named sets and maps (a map is a set whose elements carry a value).
    pub sets: BTreeMap<String, Set>,
}

/// A chain: a base chain (attached to a netfilter hook) or a regular one (reached by jump,
/// goto or a verdict map).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Chain {
    pub hook: Option<BaseChain>,
    /// Rule bodies, in order, in nft syntax (`ip saddr 10.0.0.1 jump mark-for-masquerade`).
    pub rules: Vec<String>,
}

/// Where a base chain hangs; its policy is always accept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BaseChain {
    /// `filter` or `nat`.
    pub kind: &'static str,
    /// `prerouting`, `input`, `forward`, `output` or `postrouting`.
    pub hook: &'static str,
    /// Numeric: nft 1.0.6 takes names such as `dstnat` only for some hooks.
    pub priority: i32,
}

/// A named set or map.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Set {
    pub spec: SetSpec,
    /// Key → element. Keys are in nft syntax (`10.0.0.0/8`, `10.43.0.1 . tcp . 80`).
    pub elements: BTreeMap<String, Element>,
}

/// What a set or map is declared as; changing it means recreating the table.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SetSpec {
    pub is_map: bool,
    /// `ipv4_addr`, or for maps `ipv4_addr . inet_proto . inet_service : verdict`.
    pub type_: String,
    /// `interval` for ranges and prefixes, `dynamic,timeout` for sets updated from rules.
    pub flags: Option<&'static str>,
    pub timeout_seconds: Option<u32>,
    pub comment: Option<&'static str>,
}

/// One element of a set (no value) or map.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Element {
    /// For maps: the value, such as a verdict (`goto service-…`, `drop`).
    pub value: Option<String>,
    pub comment: Option<String>,
}

impl Element {
    /// A map element's value, without a comment.
    pub fn value(value: impl Into<String>) -> Element {
        Element {
            value: Some(value.into()),
            comment: None,
        }
    }
}

impl Ruleset {
    /// The number of rules across all chains.
    pub fn rule_count(&self) -> usize {
        self.chains.values().map(|chain| chain.rules.len()).sum()
    }

    /// The number of elements across all sets and maps.
    pub fn element_count(&self) -> usize {
        self.sets.values().map(|set| set.elements.len()).sum()
    }

    /// Adds a rule to a chain, creating the (regular) chain if needed.
    pub fn add_rule(&mut self, chain: &str, rule: impl Into<String>) {
        self.chains
            .entry(chain.to_string())
            .or_default()
            .rules
            .push(rule.into());
    }

    /// Declares an empty set or map (replacing one of that name).
    pub fn declare_set(&mut self, name: &str, spec: SetSpec) {
        let elements = BTreeMap::new();
        self.sets.insert(name.to_string(), Set { spec, elements });
    }

    /// Adds an element to a declared set or map; ignored for an undeclared one, which
    /// renderers never ask for (the kernel would refuse it).
    pub fn add_element(&mut self, set: &str, key: String, element: Element) {
        if let Some(set) = self.sets.get_mut(set) {
            set.elements.insert(key, element);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn building_and_counting() {
        let mut ruleset = Ruleset::default();
        ruleset.add_rule("a", "accept");
        ruleset.add_rule("a", "drop");
        ruleset.add_rule("b", "accept");
        ruleset.declare_set(
            "s",
            SetSpec {
                type_: "ipv4_addr".into(),
                ..SetSpec::default()
            },
        );
        ruleset.add_element("s", "10.0.0.1".into(), Element::default());
        ruleset.add_element("undeclared", "10.0.0.2".into(), Element::default());
        assert_eq!(ruleset.chains["a"].rules, ["accept", "drop"]);
        assert_eq!(ruleset.chains["b"].hook, None);
        assert_eq!((ruleset.rule_count(), ruleset.element_count()), (3, 1));
        assert!(!ruleset.sets.contains_key("undeclared"));
        assert_eq!(Element::value("drop").value.as_deref(), Some("drop"));
    }
}
