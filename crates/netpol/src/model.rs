//! The pure core: (NetworkPolicies, Pods, Namespaces, this node's name) → what to enforce for
//! each pod of this node: whether it is isolated for ingress and for egress, and if so the
//! traffic its policies allow, as upstream defines it:
//!
//! - a pod is isolated in a direction when a policy of its namespace selects it and has that
//!   direction among its policy types; a direction nobody isolates allows everything;
//! - the allowed traffic is the union of the rules of every selecting policy; a rule allows a
//!   packet when the peer matches one of its peers (all, when it has none) and the port one of
//!   its ports (all, when it has none);
//! - named ports resolve against the destination pod: the local pod for ingress, each peer pod
//!   for egress (peers that are only addresses have no port names, so they never match one).
//!
//! Rules are evaluated once per policy, not per pod: a pod is enforced as "the union of these
//! policies", so the kernel holds each policy once, shared by every pod it selects.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::Ipv4Addr;

use k8s_openapi::api::core::v1::{Namespace, Pod};
use k8s_openapi::api::networking::v1::NetworkPolicy;

use crate::addresses::{AddressSet, Ipv4Range};
use crate::policy::{Direction, ParsedPolicy, ParsedRule, Peer};
use crate::ports::{named_ports, resolve, NamedPort, PortMatch, Protocol, RulePort};
use crate::selector::Selector;

/// The label every namespace carries with its own name (the API server sets it upstream; it is
/// added here when missing so that selectors on it work regardless).
pub const NAMESPACE_NAME_LABEL: &str = "kubernetes.io/metadata.name";

/// A policy, by namespace and name.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PolicyId {
    pub namespace: String,
    pub name: String,
}

/// One rule of a policy, evaluated: it allows a packet whose peer (source for ingress,
/// destination for egress) is in `peers`, and whose destination port is in `ports` or whose
/// (destination, protocol, port) is in `named_ports`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleAllow {
    /// The rule's index in the policy's `ingress` or `egress` list.
    pub index: usize,
    /// The peer addresses (pods selected and ipBlocks); None: any address.
    pub peers: Option<AddressSet>,
    /// The numbered ports.
    pub ports: Ports,
    /// Named ports resolved on the destination pods: for ingress on the local pods the policy
    /// selects, for egress on the peer pods the rule selects (addresses have no port names).
    /// None when the rule names no port.
    pub named_ports: Option<BTreeSet<(Ipv4Addr, Protocol, u16)>>,
}

/// The numbered destination ports of a rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ports {
    /// The rule has no `ports`: every port and protocol.
    Any,
    /// Only these (none when the rule lists only names, or nothing valid).
    Listed(Vec<PortMatch>),
}

/// A pod of this node that some policy isolates.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EnforcedPod {
    pub namespace: String,
    pub name: String,
    pub ip: Ipv4Addr,
    /// None: not isolated for ingress. Some: the policies whose ingress rules allow what may
    /// come in (nothing, when they have no rules).
    pub ingress: Option<Vec<PolicyId>>,
    pub egress: Option<Vec<PolicyId>>,
}

impl EnforcedPod {
    pub fn policies(&self, direction: Direction) -> Option<&[PolicyId]> {
        match direction {
            Direction::Ingress => self.ingress.as_deref(),
            Direction::Egress => self.egress.as_deref(),
        }
    }
}

/// Everything the node enforces.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NetpolModel {
    /// Isolated local pods, ordered by namespace and name.
    pub pods: Vec<EnforcedPod>,
    /// The rules of every policy that isolates some local pod, per direction (an empty list
    /// for a policy that only isolates).
    pub rules: BTreeMap<(PolicyId, Direction), Vec<RuleAllow>>,
}

static NO_LABELS: BTreeMap<String, String> = BTreeMap::new();

/// What enforcement needs of a pod that can be a peer or be enforced.
struct PodView<'a> {
    namespace: &'a str,
    name: &'a str,
    labels: &'a BTreeMap<String, String>,
    ip: Ipv4Addr,
    node: Option<&'a str>,
    deleting: bool,
    ports: Vec<NamedPort>,
}

impl<'a> PodView<'a> {
    /// None for pods policies ignore: not yet addressed (no IPv4), on the host network (their
    /// address is the node's), or terminated (their address may already be someone else's).
    fn of(pod: &'a Pod) -> Option<PodView<'a>> {
        let spec = pod.spec.as_ref()?;
        if spec.host_network == Some(true) {
            return None;
        }
        let status = pod.status.as_ref()?;
        if matches!(status.phase.as_deref(), Some("Succeeded" | "Failed")) {
            return None;
        }
        let listed = status.pod_ips.iter().flatten().map(|ip| ip.ip.as_str());
        let ip = listed
            .chain(status.pod_ip.as_deref())
            .find_map(|ip| ip.parse::<Ipv4Addr>().ok())?;
        Some(PodView {
            namespace: pod.metadata.namespace.as_deref()?,
            name: pod.metadata.name.as_deref()?,
            labels: pod.metadata.labels.as_ref().unwrap_or(&NO_LABELS),
            ip,
            node: spec.node_name.as_deref(),
            deleting: pod.metadata.deletion_timestamp.is_some(),
            ports: named_ports(pod),
        })
    }
}

impl NetpolModel {
    pub fn build<'a>(
        policies: impl IntoIterator<Item = &'a NetworkPolicy>,
        pods: impl IntoIterator<Item = &'a Pod>,
        namespaces: impl IntoIterator<Item = &'a Namespace>,
        node_name: &str,
    ) -> NetpolModel {
        let pods: Vec<PodView<'_>> = pods.into_iter().filter_map(PodView::of).collect();
        let cluster = Cluster::new(&pods, namespaces);
        let mut policies: Vec<ParsedPolicy> = policies
            .into_iter()
            .filter_map(ParsedPolicy::parse)
            .collect();
        policies.sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
        let local = local_pods(&pods, node_name);
        let mut local_by_namespace: HashMap<&str, Vec<usize>> = HashMap::new();
        for (index, pod) in local.iter().enumerate() {
            local_by_namespace
                .entry(pod.namespace)
                .or_default()
                .push(index);
        }

        let mut model = NetpolModel::default();
        // By index in `local`.
        let mut enforced: BTreeMap<usize, EnforcedPod> = BTreeMap::new();
        for policy in &policies {
            let in_namespace = local_by_namespace.get(policy.namespace.as_str());
            let selected: Vec<usize> = in_namespace
                .into_iter()
                .flatten()
                .copied()
                .filter(|&index| policy.pod_selector.matches(local[index].labels))
                .collect();
            if selected.is_empty() {
                continue;
            }
            let destinations: Vec<&PodView<'_>> =
                selected.iter().map(|&index| local[index]).collect();
            let id = PolicyId {
                namespace: policy.namespace.clone(),
                name: policy.name.clone(),
            };
            for direction in [Direction::Ingress, Direction::Egress] {
                let Some(rules) = policy.rules(direction) else {
                    continue;
                };
                let allows = rules
                    .iter()
                    .enumerate()
                    .map(|(index, rule)| {
                        cluster.evaluate(policy, index, rule, direction, &destinations)
                    })
                    .collect();
                model.rules.insert((id.clone(), direction), allows);
                for &index in &selected {
                    let pod = enforced.entry(index).or_insert_with(|| EnforcedPod {
                        namespace: local[index].namespace.to_string(),
                        name: local[index].name.to_string(),
                        ip: local[index].ip,
                        ingress: None,
                        egress: None,
                    });
                    let policies = match direction {
                        Direction::Ingress => &mut pod.ingress,
                        Direction::Egress => &mut pod.egress,
                    };
                    policies.get_or_insert_with(Vec::new).push(id.clone());
                }
            }
        }
        model.pods = enforced.into_values().collect();
        model
            .pods
            .sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
        model
    }

    /// Policies isolating at least one local pod.
    pub fn policies_in_effect(&self) -> usize {
        let mut policies: Vec<&PolicyId> = self.rules.keys().map(|(policy, _)| policy).collect();
        policies.dedup();
        policies.len()
    }

    /// The number of (pod, direction) pairs isolated.
    pub fn isolated_count(&self) -> usize {
        self.pods
            .iter()
            .map(|pod| usize::from(pod.ingress.is_some()) + usize::from(pod.egress.is_some()))
            .sum()
    }
}

/// The pods of this node to enforce, one per address: should two claim the same address (one
/// of them being deleted), the one staying wins, then the first by namespace and name.
fn local_pods<'p, 'a>(pods: &'p [PodView<'a>], node_name: &str) -> Vec<&'p PodView<'a>> {
    let mut local: Vec<&PodView<'_>> = pods
        .iter()
        .filter(|pod| pod.node == Some(node_name))
        .collect();
    local.sort_by(|a, b| {
        (a.ip, a.deleting, a.namespace, a.name).cmp(&(b.ip, b.deleting, b.namespace, b.name))
    });
    local.dedup_by_key(|pod| pod.ip);
    local
}

/// The cluster's pods by namespace, and the namespaces' labels: what peers select from.
struct Cluster<'p, 'a> {
    pods_by_namespace: BTreeMap<&'a str, Vec<&'p PodView<'a>>>,
    namespace_labels: HashMap<String, BTreeMap<String, String>>,
}

impl<'p, 'a> Cluster<'p, 'a> {
    fn new(pods: &'p [PodView<'a>], namespaces: impl IntoIterator<Item = &'a Namespace>) -> Self {
        let mut pods_by_namespace: BTreeMap<&str, Vec<&PodView<'_>>> = BTreeMap::new();
        for pod in pods {
            pods_by_namespace
                .entry(pod.namespace)
                .or_default()
                .push(pod);
        }
        let mut namespace_labels = HashMap::new();
        for namespace in namespaces {
            let Some(name) = namespace.metadata.name.clone() else {
                continue;
            };
            let mut labels = namespace.metadata.labels.clone().unwrap_or_default();
            labels
                .entry(NAMESPACE_NAME_LABEL.to_string())
                .or_insert_with(|| name.clone());
            namespace_labels.insert(name, labels);
        }
        // Pods may be seen before their namespace: such a namespace has its name label only.
        for name in pods_by_namespace.keys() {
            namespace_labels.entry(name.to_string()).or_insert_with(|| {
                BTreeMap::from([(NAMESPACE_NAME_LABEL.to_string(), name.to_string())])
            });
        }
        Cluster {
            pods_by_namespace,
            namespace_labels,
        }
    }

    /// Evaluates rule `index` of `policy`; `selected` are the local pods the policy selects
    /// (the destinations of its ingress traffic).
    fn evaluate(
        &self,
        policy: &ParsedPolicy,
        index: usize,
        rule: &ParsedRule,
        direction: Direction,
        selected: &[&PodView<'_>],
    ) -> RuleAllow {
        let mut listed = BTreeSet::new();
        let mut named: Vec<(Protocol, &str)> = Vec::new();
        for port in rule.ports.iter().flatten() {
            match port {
                RulePort::Numbers(numbers) => {
                    listed.insert(*numbers);
                }
                RulePort::Named { protocol, name } => named.push((*protocol, name)),
                RulePort::Invalid(_) => {}
            }
        }
        let ports = match rule.ports {
            None => Ports::Any,
            Some(_) => Ports::Listed(listed.into_iter().collect()),
        };

        let (peers, peer_pods): (Option<AddressSet>, Vec<&PodView<'_>>) = match &rule.peers {
            // Every address; for named ports, every pod.
            None if named.is_empty() || direction == Direction::Ingress => (None, Vec::new()),
            None => (
                None,
                self.pods_by_namespace.values().flatten().copied().collect(),
            ),
            Some(peers) => {
                let mut ranges = Vec::new();
                let mut pods: Vec<&PodView<'_>> = Vec::new();
                for peer in peers {
                    match peer {
                        Peer::Pods {
                            namespaces,
                            pods: selector,
                        } => {
                            pods.extend(self.select_pods(
                                &policy.namespace,
                                namespaces.as_ref(),
                                selector,
                            ));
                        }
                        Peer::Block(block) => ranges.extend_from_slice(block.ranges()),
                        Peer::Invalid(_) => {}
                    }
                }
                ranges.extend(pods.iter().map(|pod| Ipv4Range::single(pod.ip)));
                (Some(AddressSet::from_ranges(ranges)), pods)
            }
        };
        let destinations = match direction {
            Direction::Ingress => selected,
            Direction::Egress => &peer_pods[..],
        };
        RuleAllow {
            index,
            peers,
            ports,
            named_ports: (!named.is_empty()).then(|| named_ports_on(destinations, &named)),
        }
    }

    fn select_pods<'s>(
        &'s self,
        policy_namespace: &'s str,
        namespaces: Option<&'s Selector>,
        pods: &'s Selector,
    ) -> impl Iterator<Item = &'p PodView<'a>> + 's {
        self.pods_by_namespace
            .iter()
            .filter(move |(namespace, _)| match namespaces {
                None => **namespace == policy_namespace,
                Some(selector) => self
                    .namespace_labels
                    .get(**namespace)
                    .is_some_and(|labels| selector.matches(labels)),
            })
            .flat_map(|(_, in_namespace)| in_namespace.iter().copied())
            .filter(move |pod| pods.matches(pod.labels))
    }
}

/// (pod address, protocol, port) for each of `pods` having a port of one of the names.
fn named_ports_on(
    pods: &[&PodView<'_>],
    named: &[(Protocol, &str)],
) -> BTreeSet<(Ipv4Addr, Protocol, u16)> {
    pods.iter()
        .flat_map(|pod| {
            named.iter().filter_map(move |(protocol, name)| {
                resolve(&pod.ports, *protocol, name).map(|port| (pod.ip, *protocol, port))
            })
        })
        .collect()
}

#[cfg(test)]
#[path = "model_tests.rs"]
pub(crate) mod tests;
