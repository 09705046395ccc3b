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

use crate::networking::{NodeNetworking, Part, INGRESS_HTTPS_PORT, INGRESS_HTTP_PORT};
use crate::node_args::NodeArgs;

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
    #[command(flatten)]
    node: NodeArgs,
    /// Static bearer tokens: CSV lines of token,user,uid,"group1,group2".
    #[arg(long, value_name = "FILE")]
    token_auth_file: Option<PathBuf>,
    /// More names or addresses for the serving certificate.
    #[arg(long = "tls-san", value_name = "NAME")]
    tls_sans: Vec<String>,
    /// Run this many hollow nodes in this process (sim runtime, no
    /// containers) instead of this machine's agent.
    #[arg(long, default_value_t = 0, value_name = "N")]
    sim_nodes: usize,
    /// Run no controller manager in this server (API semantics alone).
    #[arg(long)]
    disable_controller_manager: bool,
    /// Run no scheduler in this server.
    #[arg(long)]
    disable_scheduler: bool,
    /// How long a node may miss Lease renewals before it is NotReady.
    #[arg(long, default_value = "40s", value_name = "DURATION", value_parser = parse_duration)]
    node_monitor_grace_period: Duration,
    /// A KubeSchedulerConfiguration file for the scheduler.
    #[arg(long, value_name = "FILE")]
    scheduler_config: Option<PathBuf>,
    /// Address of the cluster DNS (the kube-dns Service) [default: the
    /// tenth address of --service-cidr]
    #[arg(long, value_name = "IP")]
    cluster_dns: Option<IpAddr>,
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

/// A duration as Go writes them: `40s`, `5m`, `1m30s`, `500ms`.
fn parse_duration(text: &str) -> Result<Duration, String> {
    let invalid = || format!("invalid duration {text:?}: want for example 40s or 1m30s");
    let mut total = Duration::ZERO;
    let mut rest = text.trim();
    if rest.is_empty() {
        return Err(invalid());
    }
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .ok_or_else(invalid)?;
        let value: u64 = rest[..digits].parse().map_err(|_| invalid())?;
        let unit_end = rest[digits..]
            .find(|c: char| c.is_ascii_digit())
            .map_or(rest.len(), |at| digits + at);
        let unit = match &rest[digits..unit_end] {
            "ms" => Duration::from_millis(1),
            "s" => Duration::from_secs(1),
            "m" => Duration::from_secs(60),
            "h" => Duration::from_secs(3600),
            _ => return Err(invalid()),
        };
        total += unit * u32::try_from(value).map_err(|_| invalid())?;
        rest = &rest[unit_end..];
    }
    Ok(total)
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
    let data_dir = args
        .data_dir
        .clone()
        .unwrap_or_else(crate::default_data_dir);
    prepare_data_dir(&data_dir)?;
    // A bad scheduler configuration stops the start, as upstream's does.
    let scheduler = capstan_scheduler::SchedulerOptions {
        config_file: args.scheduler_config.clone(),
    };
    scheduler.profiles()?;
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
    // After the ready line: the components are clients and need not delay it.
    // One client per component, each named in its User-Agent as upstream's
    // binaries are, which is also the field manager of its writes.
    // In this process they reach it without a socket (no TCP, TLS or
    // HTTP framing), through the same handler, authorization and admission.
    let (client, scheduling, kubelet) = (
        local_client(&server, "kube-controller-manager"),
        local_client(&server, "kube-scheduler"),
        local_client(&server, "kubelet"),
    );
    let mut components = Components::default();
    let enabled = |part: Part| args.node.enabled(part);
    // The ingress controller holds 80 and 443 on every node: a
    // LoadBalancer Service cannot have them, as with k3s' Traefik.
    let reserved = if enabled(Part::Ingress) {
        vec![
            (i32::from(INGRESS_HTTP_PORT), "TCP".to_string()),
            (i32::from(INGRESS_HTTPS_PORT), "TCP".to_string()),
        ]
    } else {
        Vec::new()
    };
    let controllers = capstan_controllers::Options {
        cluster_cidr: args.cluster_cidr.to_string(),
        node_monitor_grace_period: args.node_monitor_grace_period,
        service_lb: enabled(Part::Servicelb)
            .then_some(capstan_controllers::servicelb::ServiceLbOptions { reserved }),
        root_ca_cert: Some(server.ca_cert().to_string()),
    };
    let cluster_dns = args
        .cluster_dns
        .unwrap_or_else(|| args.service_cidr.address(9));
    // One controller manager and one scheduler among the servers sharing
    // the store: each runs while this server holds its Lease.
    let identity = crate::leader::identity();
    let (manager, options) = (client.clone(), controllers);
    if !args.disable_controller_manager {
        components.spawn(|shutdown| {
            crate::leader::run_elected(
                client.clone(),
                "kube-controller-manager",
                identity.clone(),
                move |stop| capstan_controllers::run(manager.clone(), options.clone(), stop),
                shutdown,
            )
        });
    }
    let elector = scheduling.clone();
    if !args.disable_scheduler {
        components.spawn(|shutdown| {
            crate::leader::run_elected(
                elector,
                "kube-scheduler",
                identity.clone(),
                move |stop| capstan_scheduler::run(scheduling.clone(), scheduler.clone(), stop),
                shutdown,
            )
        });
    }
    if args.sim_nodes > 0 {
        let sim = capstan_agent::SimOptions {
            nodes: args.sim_nodes,
            name_prefix: "sim-".into(),
            ..capstan_agent::SimOptions::default()
        };
        components.spawn(|shutdown| capstan_agent::run_sim(kubelet, sim, shutdown));
    } else if !args.disable_agent {
        let mut node =
            args.node
                .node_options(&data_dir, cluster_dns, args.cluster_cidr.to_string());
        node.kubelet_tls = node_serving(&data_dir, args.node.node_name.as_deref());
        // Cluster networking comes with a real node: hollow nodes and a
        // control plane alone have no traffic to carry.
        let node_name = args.node.name();
        if enabled(Part::Dns) {
            crate::networking::spawn_dns(
                &mut components,
                local_client(&server, "coredns"),
                node_name.clone(),
                IpAddr::V4(capstan_agent::machine::host_ip()),
                cluster_dns,
                args.node.cluster_domain.clone(),
            );
        }
        NodeNetworking {
            node_name,
            cluster_cidr: args.cluster_cidr.to_string(),
            proxy: enabled(Part::Proxy),
            network_policy: enabled(Part::NetworkPolicy),
            ingress: enabled(Part::Ingress),
            ingress_status: true,
        }
        .spawn(&mut components, local_client(&server, "kube-proxy"));
        components.spawn(|shutdown| capstan_agent::run_node(kubelet, node, shutdown));
    }

    stop.wait().await;
    say("capstan: shutting down");
    components.stop().await;
    server.shutdown().await;
    if let Some(sqlite) = sqlite {
        sqlite.close().await;
    }
    Ok(())
}

/// The serving certificate of this machine's node endpoint, from the
/// cluster CA, for its name and addresses; None (and why) on failure.
fn node_serving(
    data_dir: &Path,
    node_name: Option<&str>,
) -> Option<capstan_agent::server::ServingTls> {
    let name = node_name.map_or_else(capstan_agent::machine::hostname, str::to_string);
    let host_ip = capstan_agent::machine::host_ip().to_string();
    let names = [
        name.clone(),
        host_ip,
        "localhost".into(),
        "127.0.0.1".into(),
    ];
    match capstan_apiserver::pki::Pki::new(data_dir).node_serving(&name, &names) {
        Ok(issued) => Some(capstan_agent::server::ServingTls {
            ca_cert: issued.ca_cert,
            cert: issued.cert,
            key: issued.key,
        }),
        Err(error) => {
            eprintln!("capstan: no certificate for the node's endpoint: {error}");
            None
        }
    }
}

/// A client of the API server in this process, as the admin, naming
/// itself `agent` in its User-Agent (its field manager) as upstream's
/// binaries do.
fn local_client(server: &capstan_apiserver::server::Server, agent: &str) -> kube::Client {
    kube::Client::new(server.local_transport(&user_agent(agent)), "default")
}

/// A component's User-Agent, in upstream's form.
fn user_agent(agent: &str) -> String {
    format!(
        "{agent}/v1.33.0 ({}/{}) capstan/{}",
        std::env::consts::OS,
        std::env::consts::ARCH,
        env!("CARGO_PKG_VERSION")
    )
}

/// A client of the API server through the admin kubeconfig, naming itself
/// `agent`: the components of `capstan sim`, which run in another process.
pub async fn admin_client(kubeconfig: &str, agent: &str) -> Result<kube::Client, String> {
    let invalid = |error: &dyn std::fmt::Display| format!("admin kubeconfig: {error}");
    let kubeconfig = kube::config::Kubeconfig::from_yaml(kubeconfig).map_err(|e| invalid(&e))?;
    let config = kube::Config::from_custom_kubeconfig(
        kubeconfig,
        &kube::config::KubeConfigOptions::default(),
    )
    .await
    .map_err(|e| invalid(&e))?;
    let mut config = config;
    if let Ok(value) = user_agent(agent).parse() {
        config.headers.push((http::header::USER_AGENT, value));
    }
    kube::Client::try_from(config).map_err(|e| invalid(&e))
}

/// The control loops in this process (controller manager, scheduler, hollow
/// nodes), each told to stop through its own shutdown future.
#[derive(Default)]
pub struct Components {
    running: Vec<(
        tokio::sync::oneshot::Sender<()>,
        tokio::task::JoinHandle<()>,
    )>,
}

impl Components {
    /// How long work under way may take to finish at shutdown.
    const STOP_TIMEOUT: Duration = Duration::from_secs(5);

    pub fn spawn<F, Fut>(&mut self, component: F)
    where
        F: FnOnce(futures_util::future::BoxFuture<'static, ()>) -> Fut,
        Fut: std::future::Future<Output = ()> + Send + 'static,
    {
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let shutdown = Box::pin(async move {
            let _ = stopped.await;
        });
        self.running.push((stop, tokio::spawn(component(shutdown))));
    }

    /// Stops taking new work, lets what is under way finish (bounded),
    /// before the API server they talk to goes away.
    pub async fn stop(self) {
        let (stops, tasks): (Vec<_>, Vec<_>) = self.running.into_iter().unzip();
        for stop in stops {
            let _ = stop.send(());
        }
        let deadline = tokio::time::Instant::now() + Self::STOP_TIMEOUT;
        for mut task in tasks {
            if tokio::time::timeout_at(deadline, &mut task).await.is_err() {
                task.abort();
            }
        }
    }
}

/// A line on standard output; a closed stdout must not stop the server.
pub(crate) fn say(line: &str) {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "{line}");
    let _ = stdout.flush();
}

/// SIGTERM and SIGINT, which stop the server.
pub struct Signals {
    terminate: tokio::signal::unix::Signal,
    interrupt: tokio::signal::unix::Signal,
}

impl Signals {
    pub fn install() -> Result<Signals, String> {
        use tokio::signal::unix::{signal, SignalKind};
        let error = |e: std::io::Error| format!("cannot handle signals: {e}");
        Ok(Signals {
            terminate: signal(SignalKind::terminate()).map_err(error)?,
            interrupt: signal(SignalKind::interrupt()).map_err(error)?,
        })
    }

    pub async fn wait(mut self) {
        tokio::select! {
            _ = self.terminate.recv() => {}
            _ = self.interrupt.recv() => {}
        }
    }
}
