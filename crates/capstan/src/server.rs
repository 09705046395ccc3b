//! `capstan server`: the control plane on this machine.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use capstan_store::etcd::{EtcdOptions, EtcdStore, EtcdTls};
use capstan_store::sqlite::{SqliteOptions, SqliteStore};
use capstan_store::Store;
use clap::{Args, ValueEnum};

use capstan_apiserver::Cidr;

#[derive(Args)]
pub struct ServerArgs {
    /// Where the cluster keeps its state [default: /var/lib/capstan as
    /// root, else ~/.capstan]
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Port of the HTTPS API.
    #[arg(long, default_value_t = 6443, value_name = "PORT")]
    https_port: u16,
    /// Address the API listens on.
    #[arg(long, default_value = "0.0.0.0", value_name = "IP")]
    bind_address: IpAddr,
    /// Also write the admin kubeconfig here (it is always in DIR/admin.kubeconfig).
    #[arg(long, value_name = "PATH")]
    write_kubeconfig: Option<PathBuf>,
    /// Where objects are kept.
    #[arg(long, value_enum, default_value_t = StoreKind::Sqlite)]
    store: StoreKind,
    /// etcd client URLs, comma-separated, for --store etcd.
    #[arg(long, value_delimiter = ',', value_name = "URLS")]
    etcd_endpoints: Vec<String>,
    /// Prefix of every key in etcd.
    #[arg(long, default_value = "", value_name = "PREFIX")]
    etcd_prefix: String,
    /// CA of etcd's serving certificates.
    #[arg(long, value_name = "FILE")]
    etcd_cafile: Option<PathBuf>,
    /// Client certificate for etcd.
    #[arg(long, value_name = "FILE")]
    etcd_certfile: Option<PathBuf>,
    /// Client key for etcd.
    #[arg(long, value_name = "FILE")]
    etcd_keyfile: Option<PathBuf>,
    /// Addresses of Services.
    #[arg(long, default_value = "10.43.0.0/16", value_name = "CIDR")]
    service_cidr: Cidr,
    /// Addresses of pods.
    #[arg(long, default_value = "10.42.0.0/16", value_name = "CIDR")]
    cluster_cidr: Cidr,
    /// Ports NodePort Services may use.
    #[arg(long, default_value = "30000-32767", value_name = "RANGE", value_parser = parse_port_range)]
    service_node_port_range: (u16, u16),
    /// Run no node agent on this machine.
    #[arg(long)]
    disable_agent: bool,
    /// Static bearer tokens: CSV lines of token,user,uid,"group1,group2".
    #[arg(long, value_name = "FILE")]
    token_auth_file: Option<PathBuf>,
    /// More names or addresses for the serving certificate.
    #[arg(long = "tls-san", value_name = "NAME")]
    tls_sans: Vec<String>,
}

#[derive(Clone, Copy, ValueEnum)]
enum StoreKind {
    Sqlite,
    Etcd,
}

fn parse_port_range(text: &str) -> Result<(u16, u16), String> {
    let invalid = || format!("invalid port range {text:?}: want FIRST-LAST");
    let (first, last) = text.split_once('-').ok_or_else(invalid)?;
    let first: u16 = first.trim().parse().map_err(|_| invalid())?;
    let last: u16 = last.trim().parse().map_err(|_| invalid())?;
    if first == 0 || first > last {
        return Err(invalid());
    }
    Ok((first, last))
}

fn default_data_dir() -> PathBuf {
    // The effective user, read from /proc rather than through libc.
    let root = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|line| line.starts_with("Uid:"))
                .and_then(|line| line.split_whitespace().nth(2).map(|uid| uid == "0"))
        })
        .unwrap_or(false);
    if root {
        PathBuf::from("/var/lib/capstan")
    } else {
        let home = std::env::var_os("HOME")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("."));
        home.join(".capstan")
    }
}

/// Makes sure the data dir exists and can be written.
fn prepare_data_dir(dir: &Path) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|error| format!("data dir {}: {error}", dir.display()))?;
    let probe = dir.join(".write-test");
    std::fs::write(&probe, b"").map_err(|error| format!("data dir {}: {error}", dir.display()))?;
    let _ = std::fs::remove_file(probe);
    Ok(())
}

async fn open_store(
    args: &ServerArgs,
    data_dir: &Path,
) -> Result<(Arc<dyn Store>, Option<SqliteStore>), String> {
    match args.store {
        StoreKind::Sqlite => {
            let dir = data_dir.join("db");
            std::fs::create_dir_all(&dir)
                .map_err(|error| format!("data dir {}: {error}", dir.display()))?;
            let store = SqliteStore::open(dir.join("state.db"), SqliteOptions::default())
                .await
                .map_err(|error| error.to_string())?;
            Ok((Arc::new(store.clone()), Some(store)))
        }
        StoreKind::Etcd => {
            if args.etcd_endpoints.is_empty() {
                return Err("--store etcd needs --etcd-endpoints".into());
            }
            let tls = args.etcd_cafile.as_ref().map(|ca| EtcdTls {
                ca_file: ca.clone(),
                cert_file: args.etcd_certfile.clone(),
                key_file: args.etcd_keyfile.clone(),
            });
            let store = EtcdStore::connect(EtcdOptions {
                endpoints: args.etcd_endpoints.clone(),
                prefix: args.etcd_prefix.clone(),
                tls,
            })
            .await
            .map_err(|error| error.to_string())?;
            Ok((Arc::new(store), None))
        }
    }
}

pub async fn run(args: ServerArgs) -> Result<(), String> {
    let started = Instant::now();
    // Listen for signals before anything starts, so that a SIGTERM during
    // start-up still shuts down cleanly.
    let stop = Signals::install()?;
    let data_dir = args.data_dir.clone().unwrap_or_else(default_data_dir);
    prepare_data_dir(&data_dir)?;
    let (store, sqlite) = open_store(&args, &data_dir).await?;
    let server = capstan_apiserver::start(capstan_apiserver::Config {
        data_dir: data_dir.clone(),
        bind_address: args.bind_address,
        https_port: args.https_port,
        store,
        service_cidr: args.service_cidr,
        node_port_range: args.service_node_port_range,
        token_auth_file: args.token_auth_file.clone(),
        extra_names: args.tls_sans.clone(),
    })
    .await?;
    let kubeconfig = data_dir.join("admin.kubeconfig");
    for path in std::iter::once(&kubeconfig).chain(args.write_kubeconfig.as_ref()) {
        capstan_apiserver::pki::write_kubeconfig(path, &server.kubeconfig)
            .map_err(|error| format!("kubeconfig {}: {error}", path.display()))?;
    }
    let shown = args.write_kubeconfig.as_ref().unwrap_or(&kubeconfig);
    say(&format!(
        "capstan: API server ready at https://{} in {} ms",
        server.address,
        started.elapsed().as_millis()
    ));
    say(&format!(
        "capstan: kubeconfig written to {}",
        shown.display()
    ));
    say(&format!(
        "capstan: try: KUBECONFIG={} kubectl get namespaces",
        shown.display()
    ));
    // Accepted now; the node agent and pod networking use them.
    let _ = (args.cluster_cidr, args.disable_agent);
    // After the ready line: the controllers are clients and need not delay it.
    let controllers = match Controllers::start(&server.kubeconfig).await {
        Ok(controllers) => controllers,
        Err(error) => {
            server.shutdown().await;
            return Err(error);
        }
    };

    stop.wait().await;
    say("capstan: shutting down");
    controllers.stop().await;
    server.shutdown().await;
    if let Some(sqlite) = sqlite {
        sqlite.close().await;
    }
    Ok(())
}

/// The controller manager in this process: a client of the API server
/// through the admin kubeconfig, like one running anywhere else.
struct Controllers {
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

impl Controllers {
    /// How long reconciles under way may take to finish at shutdown.
    const STOP_TIMEOUT: Duration = Duration::from_secs(5);

    async fn start(kubeconfig: &str) -> Result<Controllers, String> {
        let invalid =
            |error: &dyn std::fmt::Display| format!("controllers: admin kubeconfig: {error}");
        let kubeconfig =
            kube::config::Kubeconfig::from_yaml(kubeconfig).map_err(|e| invalid(&e))?;
        let config = kube::Config::from_custom_kubeconfig(
            kubeconfig,
            &kube::config::KubeConfigOptions::default(),
        )
        .await
        .map_err(|e| invalid(&e))?;
        let client = kube::Client::try_from(config).map_err(|e| invalid(&e))?;
        let (stop, stopped) = tokio::sync::oneshot::channel();
        let task = tokio::spawn(capstan_controllers::run(client, async move {
            let _ = stopped.await;
        }));
        Ok(Controllers { stop, task })
    }

    /// Stops taking new work, lets what is under way finish (bounded),
    /// before the API server they talk to goes away.
    async fn stop(self) {
        let _ = self.stop.send(());
        let mut task = self.task;
        if tokio::time::timeout(Self::STOP_TIMEOUT, &mut task)
            .await
            .is_err()
        {
            task.abort();
        }
    }
}

/// A line on standard output; a closed stdout must not stop the server.
fn say(line: &str) {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "{line}");
    let _ = stdout.flush();
}

/// SIGTERM and SIGINT, which stop the server.
struct Signals {
    terminate: tokio::signal::unix::Signal,
    interrupt: tokio::signal::unix::Signal,
}

impl Signals {
    fn install() -> Result<Signals, String> {
        use tokio::signal::unix::{signal, SignalKind};
        let error = |e: std::io::Error| format!("cannot handle signals: {e}");
        Ok(Signals {
            terminate: signal(SignalKind::terminate()).map_err(error)?,
            interrupt: signal(SignalKind::interrupt()).map_err(error)?,
        })
    }

    async fn wait(mut self) {
        tokio::select! {
            _ = self.terminate.recv() => {}
            _ = self.interrupt.recv() => {}
        }
    }
}
