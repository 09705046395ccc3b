//! `capstan sim`: hollow nodes in their own process, against any capstan
//! server. Killing the process is how a test loses nodes.

use std::collections::BTreeMap;
use std::path::PathBuf;

use clap::Args;

use crate::server::{admin_client, Components, Signals};

#[derive(Args)]
pub struct SimArgs {
    /// Kubeconfig of the cluster to join.
    #[arg(long, value_name = "PATH")]
    kubeconfig: PathBuf,
    /// How many hollow nodes to run.
    #[arg(long, default_value_t = 1, value_name = "N")]
    nodes: usize,
    /// Node names are PREFIX0, PREFIX1, ...
    #[arg(long, default_value = "hollow-", value_name = "PREFIX")]
    name_prefix: String,
    /// CPU capacity of each node.
    #[arg(long, default_value = "8", value_name = "QUANTITY")]
    cpu: String,
    /// Memory capacity of each node.
    #[arg(long, default_value = "32Gi", value_name = "QUANTITY")]
    memory: String,
    /// How many pods each node takes.
    #[arg(long, default_value = "110", value_name = "N")]
    max_pods: String,
    /// More labels on each node, KEY=VALUE, comma-separated.
    #[arg(long, value_delimiter = ',', value_name = "LABELS", value_parser = parse_label)]
    node_labels: Vec<(String, String)>,
    /// Taints each node registers with, KEY[=VALUE]:EFFECT, comma-separated.
    #[arg(long, value_delimiter = ',', value_name = "TAINTS", value_parser = capstan_agent::parse_taint)]
    register_with_taints: Vec<capstan_agent::Taint>,
}

pub(crate) fn parse_label(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, value)) if !key.is_empty() => Ok((key.to_string(), value.to_string())),
        _ => Err(format!("invalid label {text:?}: want KEY=VALUE")),
    }
}

pub async fn run(args: SimArgs) -> Result<(), String> {
    let stop = Signals::install()?;
    let kubeconfig = std::fs::read_to_string(&args.kubeconfig)
        .map_err(|error| format!("kubeconfig {}: {error}", args.kubeconfig.display()))?;
    let client = admin_client(&kubeconfig, "kubelet").await?;
    let options = capstan_agent::SimOptions {
        nodes: args.nodes,
        name_prefix: args.name_prefix,
        cpu: args.cpu,
        memory: args.memory,
        pods: args.max_pods,
        labels: args.node_labels.into_iter().collect::<BTreeMap<_, _>>(),
        taints: args.register_with_taints,
    };
    let mut components = Components::default();
    components.spawn(|shutdown| capstan_agent::run_sim(client, options, shutdown));
    stop.wait().await;
    components.stop().await;
    Ok(())
}
