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
    Ok(())
}
