//! The flags of this machine's node, the same for `capstan server` (its
//! embedded agent) and `capstan agent`.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use clap::builder::TypedValueParser;
use clap::Args;

use crate::networking::Part;

#[derive(Args)]
pub struct NodeArgs {
    /// Name of this machine's node [default: the host name].
    #[arg(long, value_name = "NAME")]
    pub node_name: Option<String>,
    /// Port of the node's endpoint (logs, exec), which the node posts as
    /// its kubelet port; 0 picks a free one.
    #[arg(long, default_value_t = 10250, value_name = "PORT")]
    pub kubelet_port: u16,
    /// Use this CRI socket instead of starting containerd.
    #[arg(long, value_name = "SOCKET")]
    pub container_runtime_endpoint: Option<PathBuf>,
    /// When the node is under memory, disk or PID pressure, as the
    /// kubelet's flag: signal<quantity or percentage, comma separated.
    #[arg(
        long,
        value_name = "THRESHOLDS",
        default_value = capstan_agent::eviction::DEFAULT,
        value_parser = capstan_agent::eviction::Thresholds::parse
    )]
    pub eviction_hard: capstan_agent::eviction::Thresholds,
    /// Registry mirrors and settings (registries.yaml, as k3s reads it)
    /// [default: DIR/registries.yaml when it exists]
    #[arg(long, value_name = "FILE")]
    pub private_registry: Option<PathBuf>,
    /// The cluster's DNS domain.
    #[arg(long, default_value = "cluster.local", value_name = "DOMAIN")]
    pub cluster_domain: String,
    /// How pods reach pods of other nodes: vxlan (a VXLAN tunnel to nodes
    /// on other networks, routes to the others) or host-gw (routes only:
    /// the nodes must share a network).
    #[arg(
        long,
        default_value = "vxlan",
        value_name = "BACKEND",
        value_parser = clap::builder::PossibleValuesParser::new(capstan_agent::routes::Backend::NAMES)
            .try_map(|name: String| capstan_agent::routes::Backend::parse(&name))
    )]
    pub flannel_backend: capstan_agent::routes::Backend,
    /// Parts not to run (comma-separated): dns, proxy, network-policy,
    /// ingress, servicelb; an agent runs only proxy, network-policy and
    /// ingress.
    #[arg(long, value_delimiter = ',', value_name = "PARTS")]
    pub disable: Vec<Part>,
}

impl NodeArgs {
    /// The node's name: the flag, or the host name.
    pub fn name(&self) -> String {
        self.node_name
            .clone()
            .unwrap_or_else(capstan_agent::machine::hostname)
    }

    pub fn enabled(&self, part: Part) -> bool {
        !self.disable.contains(&part)
    }

    /// The agent's options for these flags, keeping its state under
    /// `data_dir`; pods resolve names through `cluster_dns`.
    pub fn node_options(
        &self,
        data_dir: &Path,
        cluster_dns: IpAddr,
        cluster_cidr: String,
    ) -> capstan_agent::NodeOptions {
        let default_registries = data_dir.join("registries.yaml");
        capstan_agent::NodeOptions {
            data_dir: data_dir.to_path_buf(),
            node_name: Some(self.name()),
            kubelet_port: Some(self.kubelet_port),
            container_runtime_endpoint: self.container_runtime_endpoint.clone(),
            eviction_hard: self.eviction_hard.clone(),
            private_registry: self
                .private_registry
                .clone()
                .or_else(|| default_registries.exists().then_some(default_registries)),
            cluster_dns: vec![cluster_dns],
            cluster_domain: self.cluster_domain.clone(),
            cluster_cidr,
            flannel_backend: self.flannel_backend,
            ..capstan_agent::NodeOptions::default()
        }
    }
}
