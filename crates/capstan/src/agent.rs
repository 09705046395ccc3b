//! `capstan agent`: this machine joins a cluster as a node, with its
//! containers, service proxy and ingress controller.

use std::net::IpAddr;
use std::path::PathBuf;

use clap::Args;

use crate::networking::{NodeNetworking, Part};
use crate::node_args::NodeArgs;
use crate::server::{admin_client, say, Components, Signals};

#[derive(Args)]
pub struct AgentArgs {
    /// The server to join, https://HOST:PORT.
    #[arg(long, value_name = "URL")]
    server: String,
    /// The join token: the server's DATA_DIR/node-token.
    #[arg(long, value_name = "TOKEN", required_unless_present = "token_file")]
    token: Option<String>,
    /// A file holding the join token.
    #[arg(long, value_name = "FILE", conflicts_with = "token")]
    token_file: Option<PathBuf>,
    /// Where the agent keeps its state [default: /var/lib/capstan as
    /// root, else ~/.capstan]
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    #[command(flatten)]
    node: NodeArgs,
    /// Labels this node registers with, KEY=VALUE, comma-separated.
    #[arg(long, value_delimiter = ',', value_name = "LABELS", value_parser = crate::sim::parse_label)]
    node_labels: Vec<(String, String)>,
    /// Taints this node registers with, KEY[=VALUE]:EFFECT, comma-separated.
    #[arg(long, value_delimiter = ',', value_name = "TAINTS", value_parser = capstan_agent::parse_taint)]
    register_with_taints: Vec<capstan_agent::Taint>,
    /// Address of the cluster DNS for pods' resolv.conf.
    #[arg(long, default_value = "10.43.0.10", value_name = "IP")]
    cluster_dns: IpAddr,
    /// Addresses of pods (the server's --cluster-cidr): traffic from
    /// elsewhere to a Service is masqueraded.
    #[arg(long, default_value = "10.42.0.0/16", value_name = "CIDR")]
    cluster_cidr: String,
}

pub async fn run(args: AgentArgs) -> Result<(), String> {
    let stop = Signals::install()?;
    let data_dir = args
        .data_dir
        .clone()
        .unwrap_or_else(crate::default_data_dir);
    std::fs::create_dir_all(&data_dir)
        .map_err(|error| format!("data dir {}: {error}", data_dir.display()))?;
    let token = match (&args.token, &args.token_file) {
        (Some(token), _) => token.clone(),
        (None, Some(file)) => std::fs::read_to_string(file)
            .map_err(|error| format!("token file {}: {error}", file.display()))?,
        (None, None) => return Err("--token or --token-file is needed".into()),
    };
    let name = args.node.name();
    let host_ip = capstan_agent::machine::host_ip().to_string();
    let addresses = vec![
        host_ip,
        capstan_agent::machine::hostname(),
        "localhost".into(),
        "127.0.0.1".into(),
    ];
    let agent_dir = data_dir.join("agent");
    let joined = crate::join::join(&args.server, &token, &name, &addresses, &agent_dir).await?;
    let client = admin_client(&joined.kubeconfig, "kubelet").await?;
    say(&format!("capstan: joined {} as node {name}", args.server));

    let mut node = args
        .node
        .node_options(&data_dir, args.cluster_dns, args.cluster_cidr.clone());
    node.kubelet_tls = Some(capstan_agent::server::ServingTls {
        ca_cert: joined.credentials.ca_cert.clone(),
        cert: joined.credentials.serving_cert.clone(),
        key: joined.credentials.serving_key.clone(),
    });
    node.labels = args.node_labels.iter().cloned().collect();
    node.taints = args.register_with_taints.clone();
    let mut components = Components::default();
    NodeNetworking {
        node_name: name,
        cluster_cidr: args.cluster_cidr.clone(),
        proxy: args.node.enabled(Part::Proxy),
        network_policy: args.node.enabled(Part::NetworkPolicy),
        ingress: args.node.enabled(Part::Ingress),
        ingress_status: false,
    }
    .spawn(&mut components, client.clone());
    components.spawn(|shutdown| capstan_agent::run_node(client, node, shutdown));
    stop.wait().await;
    say("capstan: shutting down");
    components.stop().await;
    Ok(())
}
