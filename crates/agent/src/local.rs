//! The agent of this machine: real containers through CRI. By default it
//! starts and supervises its own containerd, as k3s does; given a CRI
//! socket it uses that runtime instead.

use std::collections::BTreeMap;
use std::future::Future;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;

use crate::containerd::{self, ContainerdOptions};
use crate::cri::{ClusterDns, CriRuntime, HostResolvConf};
use crate::events::Events;
use crate::eviction::Thresholds;
use crate::node::NodeSlot;
use crate::server::{self, Finder, ServingTls};
use crate::{agent, images, machine, Taint};

/// How to run this machine's agent.
#[derive(Clone, Debug, Default)]
pub struct NodeOptions {
    /// The data dir; the agent keeps its state in `<data_dir>/agent`.
    pub data_dir: PathBuf,
    /// The node's name [default: the host name].
    pub node_name: Option<String>,
    /// An existing CRI socket to use instead of starting containerd.
    pub container_runtime_endpoint: Option<PathBuf>,
    /// A registries.yaml (mirrors, plain-HTTP and TLS settings).
    pub private_registry: Option<PathBuf>,
    pub labels: BTreeMap<String, String>,
    pub taints: Vec<Taint>,
    /// The port of the node's endpoint (logs) [default: 10250]; 0 picks a
    /// free one. The node posts it as its kubelet endpoint.
    pub kubelet_port: Option<u16>,
    /// The endpoint's certificate; without one it does not run.
    pub kubelet_tls: Option<ServingTls>,
    /// When the node is under pressure (`--eviction-hard`).
    pub eviction_hard: Thresholds,
    /// Cluster DNS servers for pods' resolv.conf (the kubelet's
    /// `--cluster-dns`); none: pods use the host's resolvers.
    pub cluster_dns: Vec<IpAddr>,
    /// The cluster domain [default: cluster.local].
    pub cluster_domain: String,
    /// All pods' addresses (the cluster CIDR): pods' traffic to them keeps
    /// its source address; empty leaves masquerading to the CNI bridge.
    pub cluster_cidr: String,
    /// How pods reach the pods of other nodes (`--flannel-backend`).
    pub flannel_backend: crate::routes::Backend,
}

/// The kubelet's default `--cluster-domain`.
pub const DEFAULT_CLUSTER_DOMAIN: &str = "cluster.local";

/// Runs the agent of this machine until `shutdown` completes. When
/// containers cannot run here (containerd missing), says what to install
/// and returns: the API server goes on serving.
pub async fn run_node(
    client: kube::Client,
    options: NodeOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let agent_dir = options.data_dir.join("agent");
    let mut supervised = None;
    let socket = match &options.container_runtime_endpoint {
        Some(endpoint) => endpoint.clone(),
        None => {
            if !machine::is_root() {
                eprintln!(
                    "capstan: the node agent is not running: running containers needs root \
                     (or --container-runtime-endpoint to a CRI socket this user may use)"
                );
                return;
            }
            let tools = match containerd::check_tools() {
                Ok(tools) => tools,
                Err(message) => {
                    eprintln!("capstan: the node agent is not running: {message}");
                    return;
                }
            };
            let containerd_options = ContainerdOptions {
                agent_dir: agent_dir.clone(),
                sandbox_image: images::PAUSE_IMAGE.to_string(),
                private_registry: options.private_registry.clone(),
            };
            match containerd::start(&containerd_options, &tools).await {
                Ok(started) => {
                    let socket = started.socket().to_path_buf();
                    supervised = Some(started);
                    socket
                }
                Err(message) => {
                    eprintln!("capstan: the node agent is not running: {message}");
                    return;
                }
            }
        }
    };
    if supervised.is_some() {
        import_images(&socket, &agent_dir).await;
    }

    let name = options.node_name.unwrap_or_else(machine::hostname);
    let events = Events::new(client.clone(), &name);
    let (queue, queued) = tokio::sync::mpsc::unbounded_channel();
    let runtime = CriRuntime::new(
        &socket,
        &agent_dir,
        client.clone(),
        queue.clone(),
        events.clone(),
    )
    .with_dns(ClusterDns {
        servers: options.cluster_dns.clone(),
        domain: if options.cluster_domain.is_empty() {
            DEFAULT_CLUSTER_DOMAIN.into()
        } else {
            options.cluster_domain.clone()
        },
        host: HostResolvConf::read(std::path::Path::new("/etc/resolv.conf")),
    })
    .with_cluster_cidr(Some(options.cluster_cidr.clone()))
    .with_mtu(pod_mtu(options.flannel_backend).await);
    let version = match runtime.version().await {
        Ok(version) => version,
        Err(error) => {
            eprintln!("capstan: the node agent is not running: {error}");
            if let Some(containerd) = supervised {
                containerd.stop().await;
            }
            return;
        }
    };
    let mut template = machine::template(&options.data_dir, version);
    template.labels = options.labels;
    template.taints = options.taints;
    template.eviction_hard = options.eviction_hard;
    let port = options.kubelet_port.unwrap_or(server::DEFAULT_PORT);
    template.kubelet_port = i32::from(port);
    let finder = Finder {
        client: client.clone(),
        nodes: vec![name.clone()],
        cri: crate::cri::CriClient::new(&socket),
        agent_dir: agent_dir.clone(),
    };
    let endpoint = match server::start(port, options.kubelet_tls.as_ref(), finder).await {
        Ok((port, task)) => {
            template.kubelet_port = i32::from(port);
            Some(task)
        }
        Err(message) => {
            eprintln!("capstan: the node's endpoint (logs) is not running: {message}");
            None
        }
    };
    // The manifests' mirror pods are bound to this node: the agent runs
    // them as any other pod.
    let static_pods = tokio::spawn(crate::static_pods::run(
        client.clone(),
        name.clone(),
        agent_dir.clone(),
    ));
    let routes = tokio::spawn(crate::routes::run(
        client.clone(),
        name.clone(),
        options.flannel_backend,
        std::future::pending::<()>(),
    ));
    let slot = NodeSlot::new(&name, machine::host_ip());
    let shared = Arc::new(
        agent::Shared::new(client, runtime, template, vec![slot], queue).with_events(events),
    );
    agent::run(shared, queued, shutdown).await;
    static_pods.abort();
    routes.abort();
    if let Some(endpoint) = endpoint {
        endpoint.abort();
    }
    // The containers go on running (their shims hold them); the next
    // agent finds them again.
    if let Some(containerd) = supervised {
        containerd.stop().await;
    }
}

/// Pods' MTU: with VXLAN, what the tunnel carries (as flannel), so that
/// pods never send packets it cannot; else the bridge's default.
async fn pod_mtu(backend: crate::routes::Backend) -> Option<u32> {
    match backend {
        crate::routes::Backend::Vxlan => crate::vxlan::pod_mtu(machine::host_ip()).await,
        crate::routes::Backend::HostGw => None,
    }
}

/// Imports the sandbox image (built into this binary) and any archives
/// in `agent/images`.
async fn import_images(socket: &std::path::Path, agent_dir: &std::path::Path) {
    let archive = agent_dir.join("pause.tar");
    let written = std::fs::write(&archive, images::pause_archive());
    match written {
        Ok(()) => {
            if let Err(error) = containerd::import_image(socket, &archive).await {
                eprintln!("capstan: importing the sandbox image: {error}");
            }
        }
        Err(error) => eprintln!("capstan: writing the sandbox image: {error}"),
    }
    containerd::import_image_dir(socket, agent_dir).await;
}
