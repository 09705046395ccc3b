//! `capstan images import`: image archives into the running agent's
//! containerd, as `k3s ctr images import` does.

use std::path::PathBuf;

use clap::{Args, Subcommand};

#[derive(Args)]
pub struct ImagesArgs {
    #[command(subcommand)]
    command: ImagesCommand,
}

#[derive(Subcommand)]
enum ImagesCommand {
    /// Import image archives (OCI layout or docker-archive tars) into the
    /// agent's containerd, where pods find them without a pull.
    Import(ImportArgs),
}

#[derive(Args)]
struct ImportArgs {
    /// The archives to import.
    #[arg(required = true, value_name = "FILE.tar")]
    files: Vec<PathBuf>,
    /// The agent's data dir [default: /var/lib/capstan as root, else
    /// ~/.capstan]
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
}

pub async fn run(args: ImagesArgs) -> Result<(), String> {
    match args.command {
        ImagesCommand::Import(args) => import(args).await,
    }
}

async fn import(args: ImportArgs) -> Result<(), String> {
    let data_dir = args.data_dir.unwrap_or_else(crate::default_data_dir);
    let socket = capstan_agent::containerd::socket_for_data_dir(&data_dir);
    for file in &args.files {
        let names = capstan_agent::containerd::import_image(&socket, file).await?;
        for name in names {
            println!("imported {name}");
        }
    }
    Ok(())
}
