//! `capstan sim`: hollow nodes in their own process, against any capstan
//! server. Killing the process is how a test loses nodes.

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
}

pub async fn run(args: SimArgs) -> Result<(), String> {
    let stop = Signals::install()?;
    let kubeconfig = std::fs::read_to_string(&args.kubeconfig)
        .map_err(|error| format!("kubeconfig {}: {error}", args.kubeconfig.display()))?;
    let client = admin_client(&kubeconfig).await?;
    let options = capstan_agent::SimOptions {
        nodes: args.nodes,
        name_prefix: args.name_prefix,
    };
    let mut components = Components::default();
    components.spawn(|shutdown| capstan_agent::run_sim(client, options, shutdown));
    stop.wait().await;
    components.stop().await;
    Ok(())
}
