//! A pod's resolv.conf by its dnsPolicy and dnsConfig, as upstream's
//! kubelet builds it (`pkg/kubelet/network/dns/dns.go`): the runtime
//! writes what the sandbox's DNS config says.

use std::net::IpAddr;
use std::path::Path;

use k8s_cri::v1 as cri;
use k8s_openapi::api::core::v1::{Pod, PodDNSConfig};

/// Upstream's limits on what goes into a resolv.conf.
const MAX_NAMESERVERS: usize = 3;
const MAX_SEARCHES: usize = 32;
const MAX_SEARCH_CHARS: usize = 2048;

/// What the node knows of cluster DNS (the kubelet's `--cluster-dns`,
/// `--cluster-domain` and `--resolv-conf`).
#[derive(Clone, Debug, Default)]
pub struct ClusterDns {
    /// The `kube-dns` Service's address; none means ClusterFirst falls
    /// back to the host's resolvers, as upstream does.
    pub servers: Vec<IpAddr>,
    pub domain: String,
    /// The host's resolv.conf.
    pub host: HostResolvConf,
}

/// What a resolv.conf says.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct HostResolvConf {
    pub nameservers: Vec<String>,
    pub searches: Vec<String>,
    pub options: Vec<String>,
}

impl HostResolvConf {
    /// Reads `path`; an unreadable file is an empty one, as upstream.
    pub fn read(path: &Path) -> HostResolvConf {
        HostResolvConf::parse(&std::fs::read_to_string(path).unwrap_or_default())
    }

    pub fn parse(text: &str) -> HostResolvConf {
        let mut conf = HostResolvConf::default();
        for line in text.lines() {
            let line = line.split(['#', ';']).next().unwrap_or_default();
            let mut words = line.split_whitespace();
            match words.next() {
                Some("nameserver") => conf.nameservers.extend(words.next().map(str::to_string)),
                // The last search (or domain) line wins, as in resolv.conf(5).
                Some("search") | Some("domain") => {
                    conf.searches = words.map(str::to_string).collect();
                }
                Some("options") => conf.options.extend(words.map(str::to_string)),
                _ => {}
            }
        }
        conf
    }
}

/// The sandbox's DNS config for `pod`. Default copies the host's file
/// explicitly rather than leaving it to the runtime, so that the node's
/// notion of the host's resolvers is the one that counts.
pub fn dns_config(pod: &Pod, cluster: &ClusterDns) -> cri::DnsConfig {
    let spec = pod.spec.as_ref();
    let host_network = spec.and_then(|s| s.host_network).unwrap_or(false);
    let policy = spec
        .and_then(|s| s.dns_policy.as_deref())
        .unwrap_or("ClusterFirst");
    let namespace = pod.metadata.namespace.as_deref().unwrap_or("default");
    let cluster_first = match policy {
        "ClusterFirstWithHostNet" => true,
        "ClusterFirst" => !host_network,
        _ => false,
    };
    let mut config = match policy {
        "None" => cri::DnsConfig::default(),
        _ if cluster_first && !cluster.servers.is_empty() => {
            let domain = &cluster.domain;
            let mut searches = vec![
                format!("{namespace}.svc.{domain}"),
                format!("svc.{domain}"),
                domain.clone(),
            ];
            searches.extend(cluster.host.searches.iter().cloned());
            cri::DnsConfig {
                servers: cluster.servers.iter().map(IpAddr::to_string).collect(),
                searches,
                options: vec!["ndots:5".into()],
            }
        }
        _ => cri::DnsConfig {
            servers: cluster.host.nameservers.clone(),
            searches: cluster.host.searches.clone(),
            options: cluster.host.options.clone(),
        },
    };
    if let Some(extra) = spec.and_then(|s| s.dns_config.as_ref()) {
        merge(&mut config, extra);
    }
    limit(&mut config);
    config
}

/// Adds the pod's own dnsConfig: nameservers and searches appended once
/// each, options by name with the pod's value winning.
fn merge(config: &mut cri::DnsConfig, extra: &PodDNSConfig) {
    for server in extra.nameservers.iter().flatten() {
        if !config.servers.contains(server) {
            config.servers.push(server.clone());
        }
    }
    for search in extra.searches.iter().flatten() {
        if !config.searches.contains(search) {
            config.searches.push(search.clone());
        }
    }
    for option in extra.options.iter().flatten() {
        let Some(name) = option.name.as_deref() else {
            continue;
        };
        let text = match option.value.as_deref() {
            Some(value) => format!("{name}:{value}"),
            None => name.to_string(),
        };
        let same = |o: &String| o.split(':').next() == Some(name);
        match config.options.iter_mut().find(|o| same(o)) {
            Some(existing) => *existing = text,
            None => config.options.push(text),
        }
    }
}

/// Upstream's limits: three nameservers, 32 search domains of at most
/// 2048 characters together; what does not fit is dropped.
fn limit(config: &mut cri::DnsConfig) {
    config.servers.truncate(MAX_NAMESERVERS);
    config.searches.truncate(MAX_SEARCHES);
    let mut total = 0;
    let fits = config.searches.iter().position(|search| {
        total += search.len() + 1;
        total > MAX_SEARCH_CHARS
    });
    if let Some(first_over) = fits {
        config.searches.truncate(first_over);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cluster() -> ClusterDns {
        ClusterDns {
            servers: vec!["10.43.0.10".parse().unwrap()],
            domain: "cluster.local".into(),
            host: HostResolvConf::parse(
                "# host\nnameserver 192.0.2.53\nnameserver 192.0.2.54\nsearch corp.example\noptions edns0\n",
            ),
        }
    }

    fn pod(spec: serde_json::Value) -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": "p", "namespace": "shop"},
            "spec": spec,
        }))
        .unwrap()
    }

    #[test]
    fn cluster_first_uses_cluster_dns_and_search_path() {
        let config = dns_config(&pod(json!({"containers": []})), &cluster());
        assert_eq!(config.servers, ["10.43.0.10"]);
        assert_eq!(
            config.searches,
            [
                "shop.svc.cluster.local",
                "svc.cluster.local",
                "cluster.local",
                "corp.example"
            ]
        );
        assert_eq!(config.options, ["ndots:5"]);
    }

    #[test]
    fn host_network_cluster_first_is_default_unless_with_host_net() {
        let host = dns_config(
            &pod(json!({"containers": [], "hostNetwork": true})),
            &cluster(),
        );
        assert_eq!(host.servers, ["192.0.2.53", "192.0.2.54"]);
        assert_eq!(host.options, ["edns0"]);
        let with = dns_config(
            &pod(
                json!({"containers": [], "hostNetwork": true, "dnsPolicy": "ClusterFirstWithHostNet"}),
            ),
            &cluster(),
        );
        assert_eq!(with.servers, ["10.43.0.10"]);
    }

    #[test]
    fn default_copies_the_host() {
        let config = dns_config(
            &pod(json!({"containers": [], "dnsPolicy": "Default"})),
            &cluster(),
        );
        assert_eq!(config.servers, ["192.0.2.53", "192.0.2.54"]);
        assert_eq!(config.searches, ["corp.example"]);
    }

    #[test]
    fn none_takes_only_dns_config_and_merges_options() {
        let config = dns_config(
            &pod(json!({"containers": [], "dnsPolicy": "None", "dnsConfig": {
                "nameservers": ["1.2.3.4"], "searches": ["a.example"],
                "options": [{"name": "ndots", "value": "2"}, {"name": "edns0"}]
            }})),
            &cluster(),
        );
        assert_eq!(config.servers, ["1.2.3.4"]);
        assert_eq!(config.searches, ["a.example"]);
        assert_eq!(config.options, ["ndots:2", "edns0"]);
        let merged = dns_config(
            &pod(json!({"containers": [], "dnsConfig": {
                "nameservers": ["10.43.0.10", "1.2.3.4", "5.6.7.8"],
                "options": [{"name": "ndots", "value": "1"}]
            }})),
            &cluster(),
        );
        assert_eq!(merged.servers, ["10.43.0.10", "1.2.3.4", "5.6.7.8"]);
        assert_eq!(merged.options, ["ndots:1"]);
    }

    #[test]
    fn without_cluster_dns_cluster_first_falls_back_to_the_host() {
        let mut cluster = cluster();
        cluster.servers.clear();
        let config = dns_config(&pod(json!({"containers": []})), &cluster);
        assert_eq!(config.servers, ["192.0.2.53", "192.0.2.54"]);
    }

    #[test]
    fn limits_are_upstream_s() {
        let mut config = cri::DnsConfig {
            servers: vec!["1.1.1.1".into(); 5],
            searches: (0..40).map(|i| format!("s{i}.example")).collect(),
            options: vec![],
        };
        limit(&mut config);
        assert_eq!(config.servers.len(), 3);
        assert_eq!(config.searches.len(), 32);
    }
}
