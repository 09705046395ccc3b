//! Names of the chains and sets made for policies and pods. They are built from what they are
//! for (`policy-ingress-prod/allow-web`, `peers-egress-prod/allow-dns/0`) so that `nft list
//! table` reads like the cluster, and are stable across syncs, which is what lets a sync
//! rewrite only what changed.
//!
//! nft takes identifiers of letters, digits and `/-_.`, at most 255 bytes: Kubernetes names
//! fit, but anything else (or a name too long) is replaced with a safe prefix of it plus a
//! hash of the whole, after a `_` that Kubernetes names never contain.

use std::fmt::Write as _;

use crate::model::PolicyId;
use crate::policy::Direction;

/// The base chains: egress of local pods in forward and input, their ingress in forward.
pub const FORWARD_EGRESS_CHAIN: &str = "forward-egress";
pub const FORWARD_INGRESS_CHAIN: &str = "forward-ingress";
pub const INPUT_EGRESS_CHAIN: &str = "input-egress";
/// The verdict maps from an isolated pod's address to its chain.
pub const INGRESS_MAP: &str = "ingress-pods";
pub const EGRESS_MAP: &str = "egress-pods";
/// `address . address` of each isolated pod: its traffic to itself.
pub const SELF_SET: &str = "self-traffic";

/// The longest chain or set name the kernel takes (NFT_NAME_MAXLEN, 256, counts the NUL).
const NAME_LENGTH_MAX: usize = 255;

/// The verdict map that sends traffic of `direction` to the pods' chains.
pub fn pod_map(direction: Direction) -> &'static str {
    match direction {
        Direction::Ingress => INGRESS_MAP,
        Direction::Egress => EGRESS_MAP,
    }
}

/// The chain of the pods of `namespace` isolated in `direction` by exactly `policies`.
pub fn pods_chain(direction: Direction, namespace: &str, policies: &[PolicyId]) -> String {
    let mut name = format!("pods-{}-{namespace}", direction.as_str());
    for policy in policies {
        let _ = write!(name, "/{}", policy.name);
    }
    safe_name(&name)
}

/// The chain accepting what the rules of `policy` allow in `direction`.
pub fn policy_chain(direction: Direction, policy: &PolicyId) -> String {
    safe_name(&format!(
        "policy-{}-{}/{}",
        direction.as_str(),
        policy.namespace,
        policy.name
    ))
}

/// The interval set of the peer addresses of one rule.
pub fn peer_set(direction: Direction, policy: &PolicyId, rule: usize) -> String {
    rule_name("peers", direction, policy, rule)
}

/// The `address . protocol . port` set of one rule's named ports, resolved on the pods.
pub fn named_port_set(direction: Direction, policy: &PolicyId, rule: usize) -> String {
    rule_name("ports", direction, policy, rule)
}

fn rule_name(kind: &str, direction: Direction, policy: &PolicyId, rule: usize) -> String {
    safe_name(&format!(
        "{kind}-{}-{}/{}/{rule}",
        direction.as_str(),
        policy.namespace,
        policy.name
    ))
}

/// `name` itself when nft takes it, else a safe, shortened form that stays unique.
fn safe_name(name: &str) -> String {
    let allowed = |c: char| c.is_ascii_alphanumeric() || "/-.".contains(c);
    if name.len() <= NAME_LENGTH_MAX && name.chars().all(allowed) {
        return name.to_string();
    }
    let hash = format!("_{:016x}", fnv1a(name.as_bytes()));
    let mut safe: String = name
        .chars()
        .map(|c| if allowed(c) { c } else { '.' })
        .take(NAME_LENGTH_MAX - hash.len())
        .collect();
    let _ = write!(safe, "{hash}");
    safe
}

/// 64-bit FNV-1a: small, and the same in every build and on every node.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(namespace: &str, name: &str) -> PolicyId {
        PolicyId {
            namespace: namespace.into(),
            name: name.into(),
        }
    }

    #[test]
    fn names_say_what_they_are_for() {
        let dns = policy("prod", "allow.dns");
        assert_eq!(
            policy_chain(Direction::Ingress, &dns),
            "policy-ingress-prod/allow.dns"
        );
        assert_eq!(
            peer_set(Direction::Egress, &dns, 2),
            "peers-egress-prod/allow.dns/2"
        );
        assert_eq!(
            named_port_set(Direction::Egress, &dns, 2),
            "ports-egress-prod/allow.dns/2"
        );
        assert_eq!(
            pods_chain(Direction::Egress, "prod", &[dns, policy("prod", "deny")]),
            "pods-egress-prod/allow.dns/deny"
        );
    }

    #[test]
    fn odd_or_long_names_are_made_safe_and_stay_distinct() {
        let odd = peer_set(Direction::Egress, &policy("prod", "a b;c}"), 2);
        assert!(odd.starts_with("peers-egress-prod/a.b.c./2_"), "{odd}");
        assert_ne!(
            odd,
            peer_set(Direction::Egress, &policy("prod", "a;b c}"), 2)
        );

        let long_a = policy_chain(Direction::Egress, &policy("ns", &"a".repeat(300)));
        let long_b = policy_chain(
            Direction::Egress,
            &policy("ns", &format!("{}b", "a".repeat(299))),
        );
        assert_eq!(long_a.len(), NAME_LENGTH_MAX);
        assert_ne!(long_a, long_b);
        assert!(long_a
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/-._".contains(c)));

        let many: Vec<PolicyId> = (0..100)
            .map(|index| policy("ns", &format!("policy-{index}")))
            .collect();
        assert_eq!(
            pods_chain(Direction::Ingress, "ns", &many).len(),
            NAME_LENGTH_MAX
        );
        assert_ne!(
            pods_chain(Direction::Ingress, "ns", &many),
            pods_chain(Direction::Ingress, "ns", &many[..99])
        );
    }
}
