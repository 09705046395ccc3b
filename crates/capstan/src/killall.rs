//! `capstan killall`: stop every container, shim and mount an agent with
//! this data dir started, and its containerd (k3s-killall.sh's job).

use std::path::PathBuf;

use clap::Args;

#[derive(Args)]
pub struct KillallArgs {
    /// The agent's data dir [default: /var/lib/capstan as root, else
    /// ~/.capstan]
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
}

pub fn run(args: KillallArgs) -> Result<(), String> {
    let data_dir = args.data_dir.unwrap_or_else(crate::default_data_dir);
    if !crate::is_root() {
        eprintln!("capstan: killall without root can stop little; run it as root");
    }
    println!("{}", capstan_agent::containerd::killall(&data_dir));
    // The node's packet rules go too, as k3s-killall.sh flushes its own.
    if let Err(error) = capstan_agent::egress::remove() {
        eprintln!("capstan: removing the egress rules: {error}");
    }
    // As k3s-killall.sh, the VXLAN device goes (and every route through it).
    if let Err(error) = capstan_agent::vxlan::remove() {
        eprintln!(
            "capstan: removing {}: {error}",
            capstan_agent::vxlan::DEVICE
        );
    }
    if let Err(error) = capstan_proxy::remove_rules(&capstan_proxy::ProxyOptions::default()) {
        eprintln!("capstan: removing the service rules: {error}");
    }
    if let Err(error) = capstan_netpol::remove_rules(&capstan_netpol::NetpolOptions::default()) {
        eprintln!("capstan: removing the network policy rules: {error}");
    }
    Ok(())
}
