//! Model → desired ruleset: the rules kube-proxy's nftables mode writes
//! (pkg/proxy/nftables/proxier.go, `setupNFTables` and `syncProxyRules`), for IPv4.
//!
//! Packet paths, in short:
//! - nat prerouting/output → `services`: `ip daddr . proto . port` through the `service-ips`
//!   map (ClusterIPs, external IPs, load balancer IPs) and, for local destination addresses,
//!   `proto . port` through `service-nodeports`, to a service chain (ClusterIP) or an external
//!   chain (the rest), then a random pick of an endpoint chain that DNATs.
//! - filter input/forward/output → `*-endpoints-check`: services without usable endpoints are
//!   rejected (none anywhere) or dropped (none for a Local policy) through `no-endpoint-*` maps.
//! - nat postrouting → `masquerading`: packets marked by `mark-for-masquerade` are masqueraded.

use std::fmt::Write as _;

use capstan_nft::{BaseChain, Chain, Element, Ruleset, Set, SetSpec};

use crate::cidr::Ipv4Cidr;
use crate::model::{CategorizedEndpoints, Endpoint, ProxyModel, ServicePort};
use crate::names;

// Fixed chains.
pub const SERVICES_CHAIN: &str = "services";
pub const MASQUERADING_CHAIN: &str = "masquerading";
pub const MARK_MASQ_CHAIN: &str = "mark-for-masquerade";
pub const REJECT_CHAIN: &str = "reject-chain";
pub const SERVICE_ENDPOINTS_CHECK_CHAIN: &str = "service-endpoints-check";
pub const NODEPORT_ENDPOINTS_CHECK_CHAIN: &str = "nodeport-endpoints-check";
pub const FIREWALL_CHECK_CHAIN: &str = "firewall-check";
pub const CLUSTER_IPS_CHECK_CHAIN: &str = "cluster-ips-check";

// Fixed sets and maps.
pub const CLUSTER_IPS_SET: &str = "cluster-ips";
pub const SERVICE_IPS_MAP: &str = "service-ips";
pub const SERVICE_NODEPORTS_MAP: &str = "service-nodeports";
pub const NO_ENDPOINT_SERVICES_MAP: &str = "no-endpoint-services";
pub const NO_ENDPOINT_NODEPORTS_MAP: &str = "no-endpoint-nodeports";
pub const FIREWALL_IPS_MAP: &str = "firewall-ips";

/// The packet mark asking for masquerade: bit 14, kube-proxy's default `--masquerade-bit`.
pub const MASQUERADE_MARK: &str = "0x4000";

/// nftables' standard priorities, as numbers.
const DSTNAT: i32 = -100;
const SRCNAT: i32 = 100;

/// The base chains: filter chains run just before DNAT so they see the service address.
const BASE_CHAINS: [(&str, BaseChain); 8] = [
    (
        "filter-prerouting",
        base("filter", "prerouting", DSTNAT - 10),
    ),
    ("filter-input", base("filter", "input", DSTNAT - 10)),
    ("filter-forward", base("filter", "forward", DSTNAT - 10)),
    ("filter-output", base("filter", "output", DSTNAT - 10)),
    (
        "filter-output-post-dnat",
        base("filter", "output", DSTNAT + 10),
    ),
    ("nat-prerouting", base("nat", "prerouting", DSTNAT)),
    ("nat-output", base("nat", "output", DSTNAT)),
    ("nat-postrouting", base("nat", "postrouting", SRCNAT)),
];

const fn base(kind: &'static str, hook: &'static str, priority: i32) -> BaseChain {
    BaseChain {
        kind,
        hook,
        priority,
    }
}

/// Jumps from base chains to the fixed regular chains: (from, condition, to).
const JUMPS: &[(&str, &str, &str)] = &[
    (
        "filter-input",
        "ct state new",
        NODEPORT_ENDPOINTS_CHECK_CHAIN,
    ),
    (
        "filter-input",
        "ct state new",
        SERVICE_ENDPOINTS_CHECK_CHAIN,
    ),
    (
        "filter-forward",
        "ct state new",
        SERVICE_ENDPOINTS_CHECK_CHAIN,
    ),
    (
        "filter-output",
        "ct state new",
        SERVICE_ENDPOINTS_CHECK_CHAIN,
    ),
    ("filter-prerouting", "ct state new", FIREWALL_CHECK_CHAIN),
    ("filter-output", "ct state new", FIREWALL_CHECK_CHAIN),
    ("nat-output", "", SERVICES_CHAIN),
    ("nat-prerouting", "", SERVICES_CHAIN),
    ("nat-postrouting", "", MASQUERADING_CHAIN),
    ("filter-forward", "ct state new", CLUSTER_IPS_CHECK_CHAIN),
    (
        "filter-output-post-dnat",
        "ct state new",
        CLUSTER_IPS_CHECK_CHAIN,
    ),
];

const SERVICE_MAP_TYPE: &str = "ipv4_addr . inet_proto . inet_service : verdict";
const NODEPORT_MAP_TYPE: &str = "inet_proto . inet_service : verdict";

/// The table's comment, naming its owner to whoever lists the kernel's tables.
const TABLE_COMMENT: &str = "rules for capstan-proxy";

/// The longest comment nft takes on an element.
const COMMENT_LENGTH_MAX: usize = 128;

/// Builds the whole desired table for `model`. `cluster_cidrs` tell pod traffic from the rest:
/// with none, ClusterIP traffic is never masqueraded and pod traffic to external addresses
/// gets no short-circuit, as kube-proxy without a local-traffic detector.
pub fn render(model: &ProxyModel, cluster_cidrs: &[Ipv4Cidr]) -> Ruleset {
    let mut ruleset = fixed_ruleset();
    let pods = PodMatch::new(cluster_cidrs);
    for port in &model.service_ports {
        render_service_port(&mut ruleset, port, &pods);
    }
    ruleset
}

/// Matches on the source being (or not being) a pod address.
struct PodMatch {
    /// `10.42.0.0/16` or `{ 10.42.0.0/16, 10.44.0.0/16 }`; None without cluster CIDRs.
    cidrs: Option<String>,
}

impl PodMatch {
    fn new(cidrs: &[Ipv4Cidr]) -> PodMatch {
        let cidrs = match cidrs {
            [] => None,
            [one] => Some(one.to_string()),
            many => Some(format!(
                "{{ {} }}",
                many.iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        };
        PodMatch { cidrs }
    }

    fn source_is_pod(&self) -> Option<String> {
        self.cidrs.as_ref().map(|cidrs| format!("ip saddr {cidrs}"))
    }

    fn source_is_not_pod(&self) -> Option<String> {
        self.cidrs
            .as_ref()
            .map(|cidrs| format!("ip saddr != {cidrs}"))
    }
}

/// The chains, sets and maps every sync has, whatever the services.
fn fixed_ruleset() -> Ruleset {
    let mut ruleset = Ruleset {
        table_comment: Some(TABLE_COMMENT),
        ..Ruleset::default()
    };
    for (name, hook) in BASE_CHAINS {
        ruleset.chains.insert(
            name.to_string(),
            Chain {
                hook: Some(hook),
                rules: Vec::new(),
            },
        );
    }
    for (from, condition, to) in JUMPS {
        let rule = if condition.is_empty() {
            format!("jump {to}")
        } else {
            format!("{condition} jump {to}")
        };
        ruleset.add_rule(from, rule);
    }

    ruleset.add_rule(
        MARK_MASQ_CHAIN,
        format!("mark set mark or {MASQUERADE_MARK}"),
    );
    ruleset.add_rule(
        MASQUERADING_CHAIN,
        format!("mark and {MASQUERADE_MARK} == 0 return"),
    );
    ruleset.add_rule(
        MASQUERADING_CHAIN,
        format!("mark set mark xor {MASQUERADE_MARK}"),
    );
    ruleset.add_rule(MASQUERADING_CHAIN, "masquerade fully-random");

    let declare =
        |ruleset: &mut Ruleset, name: &str, is_map: bool, type_: &str, comment: &'static str| {
            ruleset.declare_set(
                name,
                SetSpec {
                    is_map,
                    type_: type_.to_string(),
                    comment: Some(comment),
                    ..SetSpec::default()
                },
            );
        };
    declare(
        &mut ruleset,
        CLUSTER_IPS_SET,
        false,
        "ipv4_addr",
        "Active ClusterIPs",
    );
    declare(
        &mut ruleset,
        SERVICE_IPS_MAP,
        true,
        SERVICE_MAP_TYPE,
        "ClusterIP, ExternalIP and LoadBalancer IP traffic",
    );
    declare(
        &mut ruleset,
        SERVICE_NODEPORTS_MAP,
        true,
        NODEPORT_MAP_TYPE,
        "NodePort traffic",
    );
    declare(
        &mut ruleset,
        NO_ENDPOINT_SERVICES_MAP,
        true,
        SERVICE_MAP_TYPE,
        "vmap to drop or reject packets to services with no endpoints",
    );
    declare(
        &mut ruleset,
        NO_ENDPOINT_NODEPORTS_MAP,
        true,
        NODEPORT_MAP_TYPE,
        "vmap to drop or reject packets to service nodeports with no endpoints",
    );
    declare(
        &mut ruleset,
        FIREWALL_IPS_MAP,
        true,
        SERVICE_MAP_TYPE,
        "destinations that are subject to LoadBalancerSourceRanges",
    );

    ruleset.add_rule(REJECT_CHAIN, "reject");
    ruleset.add_rule(
        CLUSTER_IPS_CHECK_CHAIN,
        format!("ip daddr @{CLUSTER_IPS_SET} reject"),
    );
    ruleset.add_rule(
        SERVICE_ENDPOINTS_CHECK_CHAIN,
        format!("ip daddr . meta l4proto . th dport vmap @{NO_ENDPOINT_SERVICES_MAP}"),
    );
    // Node ports are served on every local address but loopback, which nftables mode cannot
    // DNAT (route_localnet would be needed).
    ruleset.add_rule(
        NODEPORT_ENDPOINTS_CHECK_CHAIN,
        format!(
            "ip daddr != 127.0.0.0/8 meta l4proto . th dport vmap @{NO_ENDPOINT_NODEPORTS_MAP}"
        ),
    );
    ruleset.add_rule(
        FIREWALL_CHECK_CHAIN,
        format!("ip daddr . meta l4proto . th dport vmap @{FIREWALL_IPS_MAP}"),
    );
    ruleset.add_rule(
        SERVICES_CHAIN,
        format!("ip daddr . meta l4proto . th dport vmap @{SERVICE_IPS_MAP}"),
    );
    ruleset.add_rule(
        SERVICES_CHAIN,
        format!("fib daddr type local ip daddr != 127.0.0.0/8 meta l4proto . th dport vmap @{SERVICE_NODEPORTS_MAP}"),
    );
    ruleset
}

/// The chains, sets and elements of one service port, following kube-proxy's `syncProxyRules`.
fn render_service_port(ruleset: &mut Ruleset, port: &ServicePort, pods: &PodMatch) {
    let plan = PortPlan::new(port);
    add_dispatch_elements(ruleset, &plan);
    add_service_chains(ruleset, &plan, pods);
    add_endpoint_chains(ruleset, &plan);
}

/// What kube-proxy decides for one service port before writing anything: which chains it
/// uses and where each kind of traffic goes.
struct PortPlan<'a> {
    port: &'a ServicePort,
    endpoints: CategorizedEndpoints<'a>,
    /// Endpoints for Cluster policy (named `service-…`, as kube-proxy does).
    cluster_chain: String,
    /// Endpoints for Local policy.
    local_chain: String,
    external_chain: String,
    firewall_chain: String,
    uses_cluster_chain: bool,
    uses_local_chain: bool,
    /// Even with no external endpoints on this node, the external chain short-circuits
    /// traffic from the node and from pods to the cluster endpoints.
    uses_external_chain: bool,
    uses_firewall_chain: bool,
    has_internal_endpoints: bool,
    has_external_endpoints: bool,
}

impl<'a> PortPlan<'a> {
    fn new(port: &'a ServicePort) -> Self {
        let endpoints = port.categorize();
        let has_local = !endpoints.local.is_empty();
        let has_any = endpoints.has_any;
        PortPlan {
            cluster_chain: names::service_chain(&port.name),
            local_chain: names::local_chain(&port.name),
            external_chain: names::external_chain(&port.name),
            firewall_chain: names::firewall_chain(&port.name),
            uses_cluster_chain: !endpoints.cluster.is_empty() && port.uses_cluster_endpoints(),
            uses_local_chain: has_local && port.uses_local_endpoints(),
            uses_external_chain: has_any && port.externally_accessible(),
            uses_firewall_chain: !port.load_balancer_ips.is_empty()
                && !port.load_balancer_source_ranges.is_empty(),
            has_internal_endpoints: has_any && (has_local || !port.internal_policy_local),
            has_external_endpoints: has_any && (has_local || !port.external_policy_local),
            port,
            endpoints,
        }
    }

    /// Where ClusterIP traffic goes.
    fn internal_chain(&self) -> &str {
        if self.port.internal_policy_local {
            &self.local_chain
        } else {
            &self.cluster_chain
        }
    }

    /// Where external traffic goes after the external chain.
    fn external_policy_chain(&self) -> &str {
        if self.port.external_policy_local {
            &self.local_chain
        } else {
            &self.cluster_chain
        }
    }

    /// No endpoints anywhere: reject. None for a Local policy on this node: drop.
    fn no_endpoint_verdict(&self, has_policy_endpoints: bool) -> Option<String> {
        if !self.endpoints.has_any {
            Some(format!("goto {REJECT_CHAIN}"))
        } else if !has_policy_endpoints {
            Some("drop".to_string())
        } else {
            None
        }
    }

    /// `<address> . <protocol> . <port>`: a key of the address-keyed maps.
    fn address_key(&self, ip: impl std::fmt::Display) -> String {
        format!(
            "{ip} . {} . {}",
            self.port.name.protocol.as_nft(),
            self.port.port
        )
    }
}

/// The elements sending the service's addresses and node port to its chains, or to a drop or
/// reject verdict when there is no endpoint to send them to.
fn add_dispatch_elements(ruleset: &mut Ruleset, plan: &PortPlan<'_>) {
    let port = plan.port;
    let goto = |chain: &str| Element {
        value: Some(format!("goto {chain}")),
        comment: None,
    };
    let comment = truncate_comment(&port.name.to_string());
    let verdict = |verdict: &String| Element {
        value: Some(verdict.clone()),
        comment: Some(comment.clone()),
    };
    let internal_verdict = plan.no_endpoint_verdict(plan.has_internal_endpoints);
    let external_verdict = plan.no_endpoint_verdict(plan.has_external_endpoints);

    ruleset.add_element(
        CLUSTER_IPS_SET,
        port.cluster_ip.to_string(),
        Element::default(),
    );
    let cluster_key = plan.address_key(port.cluster_ip);
    match &internal_verdict {
        None => ruleset.add_element(SERVICE_IPS_MAP, cluster_key, goto(plan.internal_chain())),
        Some(internal_verdict) => ruleset.add_element(
            NO_ENDPOINT_SERVICES_MAP,
            cluster_key,
            verdict(internal_verdict),
        ),
    }
    for ip in port.external_ips.iter().chain(&port.load_balancer_ips) {
        let key = plan.address_key(ip);
        if plan.endpoints.has_any {
            ruleset.add_element(SERVICE_IPS_MAP, key.clone(), goto(&plan.external_chain));
        }
        if let Some(external_verdict) = &external_verdict {
            ruleset.add_element(NO_ENDPOINT_SERVICES_MAP, key, verdict(external_verdict));
        }
    }
    if plan.uses_firewall_chain {
        for ip in &port.load_balancer_ips {
            ruleset.add_element(
                FIREWALL_IPS_MAP,
                plan.address_key(ip),
                goto(&plan.firewall_chain),
            );
        }
    }
    if let Some(node_port) = port.node_port {
        let key = format!("{} . {node_port}", port.name.protocol.as_nft());
        if plan.endpoints.has_any {
            ruleset.add_element(
                SERVICE_NODEPORTS_MAP,
                key.clone(),
                goto(&plan.external_chain),
            );
        }
        if let Some(external_verdict) = &external_verdict {
            ruleset.add_element(NO_ENDPOINT_NODEPORTS_MAP, key, verdict(external_verdict));
        }
    }
}

/// The policy chains (random pick of an endpoint), the external chain and the firewall chain.
fn add_service_chains(ruleset: &mut Ruleset, plan: &PortPlan<'_>, pods: &PodMatch) {
    let port = plan.port;
    let protocol = port.name.protocol.as_nft();

    // Internal traffic from outside the pod network (the node itself, or a host routing the
    // service range to this node) is masqueraded so replies come back through this node.
    if plan.has_internal_endpoints {
        if let Some(not_pod) = pods.source_is_not_pod() {
            ruleset.add_rule(
                plan.internal_chain(),
                format!(
                    "ip daddr {} {protocol} dport {} {not_pod} jump {MARK_MASQ_CHAIN}",
                    port.cluster_ip, port.port
                ),
            );
        }
    }

    if plan.uses_external_chain {
        let external = &plan.external_chain;
        if !port.external_policy_local {
            // Endpoints may be on other nodes: masquerade so replies return through here.
            ruleset.add_rule(external, format!("jump {MARK_MASQ_CHAIN}"));
        } else {
            // Local policy keeps the client address, but traffic from pods and from the node
            // itself is treated as cluster traffic, as if it had gone out to the load balancer
            // and come back.
            let cluster = &plan.cluster_chain;
            if let Some(pod) = pods.source_is_pod() {
                ruleset.add_rule(
                    external,
                    format!("{pod} goto {cluster} comment \"short-circuit pod traffic\""),
                );
            }
            ruleset.add_rule(
                external,
                format!("fib saddr type local jump {MARK_MASQ_CHAIN} comment \"masquerade local traffic\""),
            );
            ruleset.add_rule(
                external,
                format!(
                    "fib saddr type local goto {cluster} comment \"short-circuit local traffic\""
                ),
            );
        }
        if plan.has_external_endpoints {
            ruleset.add_rule(external, format!("goto {}", plan.external_policy_chain()));
        }
    }

    if plan.uses_firewall_chain {
        let ranges: Vec<String> = port
            .load_balancer_source_ranges
            .iter()
            .map(ToString::to_string)
            .collect();
        ruleset.add_rule(
            &plan.firewall_chain,
            format!("ip saddr != {{ {} }} drop", ranges.join(", ")),
        );
    }

    if plan.uses_cluster_chain {
        add_endpoint_dispatch(ruleset, port, &plan.cluster_chain, &plan.endpoints.cluster);
    }
    if plan.uses_local_chain {
        add_endpoint_dispatch(ruleset, port, &plan.local_chain, &plan.endpoints.local);
    }
}

/// A chain per reachable endpoint, DNATing to it, and its affinity set.
fn add_endpoint_chains(ruleset: &mut Ruleset, plan: &PortPlan<'_>) {
    let port = plan.port;
    for endpoint in &plan.endpoints.reachable {
        let chain = names::endpoint_chain(&port.name, endpoint.ip, endpoint.port);
        // Hairpin: a pod reaching itself through the service must see the reply come from
        // the service, so its own address is masqueraded.
        ruleset.add_rule(
            &chain,
            format!("ip saddr {} jump {MARK_MASQ_CHAIN}", endpoint.ip),
        );
        if let Some(timeout) = port.affinity_timeout_seconds {
            let set = names::affinity_set(&port.name, endpoint.ip, endpoint.port);
            ruleset.add_rule(&chain, format!("update @{set} {{ ip saddr }}"));
            ruleset.sets.insert(set, affinity_set(timeout));
        }
        ruleset.add_rule(
            &chain,
            format!(
                "meta l4proto {} dnat to {}:{}",
                port.name.protocol.as_nft(),
                endpoint.ip,
                endpoint.port
            ),
        );
    }
}

/// The set of client addresses stuck to one endpoint, each forgotten `timeout` seconds after
/// its last connection.
fn affinity_set(timeout: u32) -> Set {
    Set {
        spec: SetSpec {
            is_map: false,
            type_: "ipv4_addr".to_string(),
            // "dynamic" because the kernel adds it anyway to sets updated from rules, and a
            // later "add set" without it would then fail.
            flags: Some("dynamic,timeout"),
            timeout_seconds: Some(timeout),
            comment: None,
        },
        elements: Default::default(),
    }
}

/// Session affinity lookups, then a random pick among `endpoints`.
fn add_endpoint_dispatch(
    ruleset: &mut Ruleset,
    port: &ServicePort,
    chain: &str,
    endpoints: &[&Endpoint],
) {
    if port.affinity_timeout_seconds.is_some() {
        for endpoint in endpoints {
            let set = names::affinity_set(&port.name, endpoint.ip, endpoint.port);
            let target = names::endpoint_chain(&port.name, endpoint.ip, endpoint.port);
            ruleset.add_rule(chain, format!("ip saddr @{set} goto {target}"));
        }
    }
    let mut rule = format!("numgen random mod {} vmap {{ ", endpoints.len());
    for (index, endpoint) in endpoints.iter().enumerate() {
        if index > 0 {
            rule.push_str(", ");
        }
        let target = names::endpoint_chain(&port.name, endpoint.ip, endpoint.port);
        let _ = write!(rule, "{index} : goto {target}");
    }
    rule.push_str(" }");
    ruleset.add_rule(chain, rule);
}

/// Element comments are at most 128 bytes; names are ASCII, so any cut is on a boundary, but
/// stay safe with whatever the API holds.
fn truncate_comment(text: &str) -> String {
    let mut out: String = text
        .chars()
        .map(|c| if c == '"' || c.is_control() { '_' } else { c })
        .collect();
    while out.len() > COMMENT_LENGTH_MAX {
        out.pop();
    }
    out
}

#[cfg(test)]
#[path = "render_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "plan_tests.rs"]
mod plan_tests;
