//! Model → ruleset. The table's layout:
//!
//! ```text
//! chain forward-egress  (filter, forward): ct state established,related accept
//!                                          ip saddr . ip daddr @self-traffic accept
//!                                          ip saddr vmap @egress-pods
//! chain forward-ingress (filter, forward): the same, with ip daddr vmap @ingress-pods
//! chain input-egress    (filter, input):   ct state established,related accept
//!                                          ip saddr vmap @egress-pods   (pods to the node)
//! map ingress-pods / egress-pods: isolated pod address : jump pods-<dir>-<ns>/<policy>/<policy>…
//! chain pods-<dir>-<ns>/<policies>: jump policy-<dir>-<ns>/<policy> for each, then counter drop
//! chain policy-<dir>-<ns>/<policy>: one `… accept` per allowed (peers, ports)
//! set peers-<dir>-<ns>/<policy>/<rule>: the rule's peer addresses (interval set)
//! set ports-<dir>-<ns>/<policy>/<rule>: destination pod . protocol . named port resolved on it
//! ```
//!
//! Egress and ingress are checked in two base chains on the forward hook, so that a policy's
//! `accept` ends only its own check: a packet between two isolated pods of this node must pass
//! the sender's egress and the receiver's ingress. Pods isolated by the same policies share a
//! chain, and each policy is written once, so the table grows with the policies rather than
//! with the pods; a pod is an element of a map (and of sets when selected as a peer).
//!
//! Traffic from the node itself leaves through the output hook, which the table leaves alone:
//! the node may always reach its pods (probes), as upstream requires. Pods reaching the node
//! arrive at input, where their egress policies apply.

use std::collections::BTreeMap;

use capstan_nft::{BaseChain, Chain, Element, Ruleset, Set, SetSpec};

use crate::model::{NetpolModel, PolicyId, Ports, RuleAllow};
use crate::names;
use crate::policy::Direction;
use crate::ports::{PortMatch, Protocol};

/// `priority filter`: after the service proxy's DNAT (prerouting/output at dstnat), so rules
/// see backend pod addresses, not ClusterIPs.
const FILTER_PRIORITY: i32 = 0;

/// The table's comment, naming its owner to whoever lists the kernel's tables.
const TABLE_COMMENT: &str = "NetworkPolicy rules of capstan";

pub fn render(model: &NetpolModel) -> Ruleset {
    let mut ruleset = Ruleset {
        table_comment: Some(TABLE_COMMENT),
        ..Ruleset::default()
    };
    add_skeleton(&mut ruleset);

    for ((policy, direction), rules) in &model.rules {
        if rules.is_empty() {
            // Isolation only: no chain to jump to.
            continue;
        }
        let chain_rules = policy_rules(&mut ruleset, *direction, policy, rules);
        ruleset.chains.insert(
            names::policy_chain(*direction, policy),
            Chain {
                hook: None,
                rules: chain_rules,
            },
        );
    }

    for pod in &model.pods {
        for direction in [Direction::Ingress, Direction::Egress] {
            let Some(policies) = pod.policies(direction) else {
                continue;
            };
            let chain = names::pods_chain(direction, &pod.namespace, policies);
            if !ruleset.chains.contains_key(&chain) {
                let mut rules: Vec<String> = policies
                    .iter()
                    .filter(|policy| {
                        model
                            .rules
                            .get(&((*policy).clone(), direction))
                            .is_some_and(|rules| !rules.is_empty())
                    })
                    .map(|policy| format!("jump {}", names::policy_chain(direction, policy)))
                    .collect();
                rules.push("counter drop".to_string());
                ruleset
                    .chains
                    .insert(chain.clone(), Chain { hook: None, rules });
            }
            ruleset.add_element(
                names::pod_map(direction),
                pod.ip.to_string(),
                Element::value(format!("jump {chain}")),
            );
        }
        ruleset.add_element(
            names::SELF_SET,
            format!("{0} . {0}", pod.ip),
            Element::default(),
        );
    }
    ruleset
}

/// The base chains, the verdict maps and the self-traffic set: always there.
fn add_skeleton(ruleset: &mut Ruleset) {
    let established = "ct state established,related accept".to_string();
    let to_itself = format!("ip saddr . ip daddr @{} accept", names::SELF_SET);
    let egress = format!("ip saddr vmap @{}", names::EGRESS_MAP);
    let ingress = format!("ip daddr vmap @{}", names::INGRESS_MAP);
    let chains = [
        (
            names::FORWARD_EGRESS_CHAIN,
            "forward",
            vec![established.clone(), to_itself.clone(), egress.clone()],
        ),
        (
            names::FORWARD_INGRESS_CHAIN,
            "forward",
            vec![established.clone(), to_itself, ingress],
        ),
        (
            names::INPUT_EGRESS_CHAIN,
            "input",
            vec![established, egress],
        ),
    ];
    for (name, hook, rules) in chains {
        let hook = Some(BaseChain {
            kind: "filter",
            hook,
            priority: FILTER_PRIORITY,
        });
        ruleset
            .chains
            .insert(name.to_string(), Chain { hook, rules });
    }
    for map in [names::INGRESS_MAP, names::EGRESS_MAP] {
        let spec = SetSpec {
            is_map: true,
            type_: "ipv4_addr : verdict".into(),
            ..SetSpec::default()
        };
        ruleset.declare_set(map, spec);
    }
    let spec = SetSpec {
        type_: "ipv4_addr . ipv4_addr".into(),
        ..SetSpec::default()
    };
    ruleset.declare_set(names::SELF_SET, spec);
}

/// The rules of one policy's chain, declaring the sets they use.
fn policy_rules(
    ruleset: &mut Ruleset,
    direction: Direction,
    policy: &PolicyId,
    rules: &[RuleAllow],
) -> Vec<String> {
    let peer_field = match direction {
        Direction::Ingress => "saddr",
        Direction::Egress => "daddr",
    };
    let mut chain = Vec::new();
    for rule in rules {
        let peer_match = match &rule.peers {
            None => String::new(),
            Some(addresses) => {
                let name = names::peer_set(direction, policy, rule.index);
                let spec = SetSpec {
                    type_: "ipv4_addr".into(),
                    flags: Some("interval"),
                    ..SetSpec::default()
                };
                let elements = addresses
                    .ranges()
                    .iter()
                    .map(|range| (range.to_string(), Element::default()))
                    .collect();
                ruleset.sets.insert(name.clone(), Set { spec, elements });
                format!("ip {peer_field} @{name} ")
            }
        };
        let mut texts = match &rule.ports {
            Ports::Any => vec![format!("{peer_match}accept")],
            Ports::Listed(ports) => port_matches(ports)
                .into_iter()
                .map(|ports| format!("{peer_match}{ports} accept"))
                .collect(),
        };
        if let Some(named) = &rule.named_ports {
            let name = names::named_port_set(direction, policy, rule.index);
            let spec = SetSpec {
                type_: "ipv4_addr . inet_proto . inet_service".into(),
                ..SetSpec::default()
            };
            let elements = named
                .iter()
                .map(|(address, protocol, port)| {
                    let key = format!("{address} . {protocol} . {port}");
                    (key, Element::default())
                })
                .collect();
            ruleset.sets.insert(name.clone(), Set { spec, elements });
            texts.push(format!(
                "{peer_match}ip daddr . meta l4proto . th dport @{name} accept"
            ));
        }
        for text in texts {
            if !chain.contains(&text) {
                chain.push(text);
            }
        }
    }
    chain
}

/// One match per protocol: `meta l4proto tcp` (every port) or `meta l4proto tcp th dport {
/// 80, 8000-8080 }`, ranges merged (nft refuses overlapping elements in a set).
fn port_matches(ports: &[PortMatch]) -> Vec<String> {
    let mut by_protocol: BTreeMap<Protocol, Option<Vec<(u16, u16)>>> = BTreeMap::new();
    for port in ports {
        let entry = by_protocol
            .entry(port.protocol)
            .or_insert_with(|| Some(Vec::new()));
        match (port.range, entry.as_mut()) {
            (None, _) => *entry = None,
            (Some(range), Some(ranges)) => ranges.push(range),
            (Some(_), None) => {}
        }
    }
    by_protocol
        .into_iter()
        .map(|(protocol, ranges)| match ranges {
            None => format!("meta l4proto {protocol}"),
            Some(ranges) => {
                let ranges: Vec<String> = merge_port_ranges(ranges)
                    .into_iter()
                    .map(|(first, last)| {
                        if first == last {
                            first.to_string()
                        } else {
                            format!("{first}-{last}")
                        }
                    })
                    .collect();
                let ports = if ranges.len() == 1 {
                    ranges.concat()
                } else {
                    format!("{{ {} }}", ranges.join(", "))
                };
                format!("meta l4proto {protocol} th dport {ports}")
            }
        })
        .collect()
}

fn merge_port_ranges(mut ranges: Vec<(u16, u16)>) -> Vec<(u16, u16)> {
    ranges.sort_unstable();
    let mut merged: Vec<(u16, u16)> = Vec::with_capacity(ranges.len());
    for (first, last) in ranges {
        match merged.last_mut() {
            Some(previous) if u32::from(first) <= u32::from(previous.1) + 1 => {
                previous.1 = previous.1.max(last)
            }
            _ => merged.push((first, last)),
        }
    }
    merged
}

#[cfg(test)]
#[path = "render_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "plan_tests.rs"]
mod plan_tests;
