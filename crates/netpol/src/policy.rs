//! NetworkPolicy objects, parsed once per sync into what enforcement needs: which pods a
//! policy selects, for which directions, and its rules' peers and ports. Parsing never fails:
//! a part the API server would have refused selects or allows nothing.

use k8s_openapi::api::networking::v1::{
    NetworkPolicy, NetworkPolicyPeer, NetworkPolicyPort, NetworkPolicySpec,
};

use crate::addresses::{AddressSet, Ipv4Range};
use crate::ports::RulePort;
use crate::selector::Selector;

/// The direction of traffic a rule is about, seen from the selected pod.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Direction {
    Ingress,
    Egress,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Ingress => "ingress",
            Direction::Egress => "egress",
        }
    }
}

/// One NetworkPolicy.
#[derive(Clone, Debug)]
pub struct ParsedPolicy {
    pub namespace: String,
    pub name: String,
    /// `spec.podSelector`: the pods of `namespace` the policy applies to.
    pub pod_selector: Selector,
    /// None when the policy does not isolate for ingress (policyTypes); else its rules, which
    /// may be none (then it only isolates).
    pub ingress: Option<Vec<ParsedRule>>,
    pub egress: Option<Vec<ParsedRule>>,
}

/// One `ingress` or `egress` rule: traffic allowed when it matches a peer and a port.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParsedRule {
    /// `from` / `to`; None when absent or empty: every peer.
    pub peers: Option<Vec<Peer>>,
    /// `ports`; None when absent or empty: every port and protocol.
    pub ports: Option<Vec<RulePort>>,
}

/// One entry of `from` / `to`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Peer {
    /// Pods matching `pods` in the namespaces matching `namespaces` (None: the policy's own).
    Pods {
        namespaces: Option<Selector>,
        pods: Selector,
    },
    /// Addresses of an `ipBlock`: its CIDR minus its exceptions.
    Block(AddressSet),
    /// A peer the API server refuses (no selector and no block, a bad CIDR, …): matches nothing.
    Invalid(String),
}

impl ParsedPolicy {
    /// Parses a policy; None for one without namespace or name (not a stored object).
    pub fn parse(policy: &NetworkPolicy) -> Option<ParsedPolicy> {
        let namespace = policy.metadata.namespace.clone()?;
        let name = policy.metadata.name.clone()?;
        let no_spec = NetworkPolicySpec::default();
        let spec = policy.spec.as_ref().unwrap_or(&no_spec);
        let pod_selector = spec
            .pod_selector
            .as_ref()
            .map_or_else(Selector::everything, Selector::parse);
        let ingress_rules = spec.ingress.as_deref().unwrap_or_default();
        let egress_rules = spec.egress.as_deref().unwrap_or_default();
        let (isolates_ingress, isolates_egress) = match spec.policy_types.as_deref() {
            // Upstream's defaulting: Ingress always, Egress when there are egress rules.
            None | Some([]) => (true, !egress_rules.is_empty()),
            Some(types) => (
                types.iter().any(|kind| kind == "Ingress"),
                types.iter().any(|kind| kind == "Egress"),
            ),
        };
        let ingress = isolates_ingress.then(|| {
            ingress_rules
                .iter()
                .map(|rule| ParsedRule::parse(rule.from.as_deref(), rule.ports.as_deref()))
                .collect()
        });
        let egress = isolates_egress.then(|| {
            egress_rules
                .iter()
                .map(|rule| ParsedRule::parse(rule.to.as_deref(), rule.ports.as_deref()))
                .collect()
        });
        Some(ParsedPolicy {
            namespace,
            name,
            pod_selector,
            ingress,
            egress,
        })
    }

    pub fn rules(&self, direction: Direction) -> Option<&[ParsedRule]> {
        match direction {
            Direction::Ingress => self.ingress.as_deref(),
            Direction::Egress => self.egress.as_deref(),
        }
    }
}

impl ParsedRule {
    fn parse(
        peers: Option<&[NetworkPolicyPeer]>,
        ports: Option<&[NetworkPolicyPort]>,
    ) -> ParsedRule {
        ParsedRule {
            peers: peers
                .filter(|peers| !peers.is_empty())
                .map(|peers| peers.iter().map(Peer::parse).collect()),
            ports: ports
                .filter(|ports| !ports.is_empty())
                .map(|ports| ports.iter().map(RulePort::parse).collect()),
        }
    }
}

impl Peer {
    fn parse(peer: &NetworkPolicyPeer) -> Peer {
        if let Some(block) = &peer.ip_block {
            if peer.pod_selector.is_some() || peer.namespace_selector.is_some() {
                return Peer::Invalid("ipBlock with a selector".to_string());
            }
            let cidr = match Ipv4Range::parse_cidr(&block.cidr) {
                Ok(cidr) => cidr,
                // IPv6 blocks land here too: this table is IPv4 only.
                Err(err) => return Peer::Invalid(err),
            };
            let mut except = Vec::new();
            for text in block.except.iter().flatten() {
                match Ipv4Range::parse_cidr(text) {
                    Ok(range) => except.push(range),
                    Err(err) => return Peer::Invalid(err),
                }
            }
            return Peer::Block(AddressSet::block_except(cidr, &except));
        }
        if peer.pod_selector.is_none() && peer.namespace_selector.is_none() {
            return Peer::Invalid(
                "a peer needs a podSelector, a namespaceSelector or an ipBlock".to_string(),
            );
        }
        Peer::Pods {
            namespaces: peer.namespace_selector.as_ref().map(Selector::parse),
            pods: peer
                .pod_selector
                .as_ref()
                .map_or_else(Selector::everything, Selector::parse),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::{PortMatch, Protocol};
    use serde_json::json;

    fn policy(spec: serde_json::Value) -> ParsedPolicy {
        let object: NetworkPolicy = serde_json::from_value(
            json!({"metadata": {"namespace": "ns", "name": "p"}, "spec": spec}),
        )
        .unwrap();
        ParsedPolicy::parse(&object).unwrap()
    }

    #[test]
    fn policy_types_default_as_upstream() {
        let ingress_only = policy(json!({"podSelector": {}}));
        assert_eq!(
            ingress_only.ingress.as_deref(),
            Some(&[][..]),
            "isolates ingress, allows nothing"
        );
        assert!(ingress_only.egress.is_none());

        let both = policy(json!({"podSelector": {}, "egress": [{}]}));
        assert!(both.ingress.is_some());
        assert_eq!(both.egress.as_ref().map(Vec::len), Some(1));

        let empty_egress = policy(json!({"podSelector": {}, "egress": []}));
        assert!(
            empty_egress.egress.is_none(),
            "an empty egress list does not imply Egress"
        );

        let egress_only =
            policy(json!({"podSelector": {}, "policyTypes": ["Egress"], "ingress": [{}]}));
        assert!(
            egress_only.ingress.is_none(),
            "ingress rules without the Ingress type are ignored"
        );
        assert_eq!(egress_only.egress.as_deref(), Some(&[][..]));

        let no_spec: NetworkPolicy =
            serde_json::from_value(json!({"metadata": {"namespace": "ns", "name": "p"}})).unwrap();
        let no_spec = ParsedPolicy::parse(&no_spec).unwrap();
        assert_eq!(no_spec.pod_selector, Selector::everything());
        assert!(no_spec.ingress.is_some() && no_spec.egress.is_none());

        let nameless: NetworkPolicy = serde_json::from_value(json!({"spec": {}})).unwrap();
        assert!(ParsedPolicy::parse(&nameless).is_none());
    }

    #[test]
    fn empty_peers_and_ports_mean_everything() {
        let parsed = policy(json!({"podSelector": {}, "ingress": [{"from": [], "ports": []}, {}]}));
        let all = ParsedRule {
            peers: None,
            ports: None,
        };
        assert_eq!(parsed.ingress, Some(vec![all.clone(), all]));
    }

    #[test]
    fn peers() {
        let parsed = policy(json!({"podSelector": {}, "ingress": [{"from": [
            {"podSelector": {"matchLabels": {"app": "a"}}},
            {"namespaceSelector": {}},
            {"namespaceSelector": {"matchLabels": {"team": "x"}}, "podSelector": {}},
            {"ipBlock": {"cidr": "10.0.0.0/8", "except": ["10.1.0.0/16"]}},
            {"ipBlock": {"cidr": "fd00::/8"}},
            {"ipBlock": {"cidr": "10.0.0.0/8", "except": ["bad"]}},
            {"ipBlock": {"cidr": "10.0.0.0/8"}, "podSelector": {}},
            {},
        ], "ports": [{"port": 80}]}]}));
        let rules = parsed.ingress.unwrap();
        let peers = rules[0].peers.as_ref().unwrap();
        assert!(
            matches!(&peers[0], Peer::Pods { namespaces: None, pods } if *pods != Selector::everything())
        );
        assert!(
            matches!(&peers[1], Peer::Pods { namespaces: Some(ns), pods }
            if *ns == Selector::everything() && *pods == Selector::everything())
        );
        assert!(
            matches!(&peers[2], Peer::Pods { namespaces: Some(ns), .. } if *ns != Selector::everything())
        );
        match &peers[3] {
            Peer::Block(set) => {
                assert!(set.contains("10.2.0.1".parse().unwrap()));
                assert!(!set.contains("10.1.0.1".parse().unwrap()));
            }
            other => panic!("{other:?}"),
        }
        for invalid in &peers[4..] {
            assert!(matches!(invalid, Peer::Invalid(_)), "{invalid:?}");
        }
        assert_eq!(
            rules[0].ports,
            Some(vec![RulePort::Numbers(PortMatch::single(
                Protocol::Tcp,
                80
            ))])
        );
    }
}
