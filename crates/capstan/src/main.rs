//! `capstan`: Kubernetes in one binary.

mod agent;
mod images;
mod join;
mod killall;
mod leader;
mod networking;
mod node_args;
mod server;
mod sim;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// mimalloc gives the memory of a large response back to the system;
/// glibc's allocator keeps such peaks for good. Without transparent huge
/// pages its idle footprint stays small.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "capstan", version, about = "Kubernetes in one binary")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

// Parsed once; boxing the server's many flags would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
enum Command {
    /// Run the control plane (API server and store) on this machine.
    Server(server::ServerArgs),
    /// Join a cluster as a node: run containers, the service proxy and
    /// the ingress controller on this machine.
    Agent(agent::AgentArgs),
    /// Run hollow nodes (sim runtime, no containers) against a cluster.
    Sim(sim::SimArgs),
    /// Manage the images of the agent's containerd.
    Images(images::ImagesArgs),
    /// Stop every container, shim, mount and the containerd of an agent's
    /// data dir.
    Killall(killall::KillallArgs),
}

fn is_root() -> bool {
    capstan_agent::machine::is_root()
}

/// The data dir when none is given: /var/lib/capstan as root, else
/// ~/.capstan (as `capstan server` chooses it).
fn default_data_dir() -> PathBuf {
    if is_root() {
        PathBuf::from("/var/lib/capstan")
    } else {
        let home = std::env::var_os("HOME")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("."));
        home.join(".capstan")
    }
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => {
            use clap::error::ErrorKind;
            if matches!(
                error.kind(),
                ErrorKind::DisplayHelp | ErrorKind::DisplayVersion
            ) {
                let _ = error.print();
                return ExitCode::SUCCESS;
            }
            // One clear line, as a user wants from a bad flag.
            let text = error.to_string();
            let line = text.lines().next().unwrap_or("invalid arguments");
            eprintln!("capstan: {}", line.trim_start_matches("error: "));
            return ExitCode::from(2);
        }
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
                // An agent joining fetches the CA unverified on purpose
                // (it then checks the token's hash): kube's warning
                // about that would only alarm.
                tracing_subscriber::EnvFilter::new("warn,kube_client::client::tls=error")
            }),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("capstan: cannot start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let result = match cli.command {
        Command::Server(args) => runtime.block_on(server::run(args)),
        Command::Agent(args) => runtime.block_on(agent::run(args)),
        Command::Sim(args) => runtime.block_on(sim::run(args)),
        Command::Images(args) => runtime.block_on(images::run(args)),
        Command::Killall(args) => killall::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("capstan: {message}");
            ExitCode::FAILURE
        }
    }
}
