//! Starting and stopping the API server: certificates, TLS, the accept
//! loop, and the objects every cluster has from its first second.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use capstan_store::Store;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::RootCertStore;
use serde_json::json;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;

use crate::allocator::Cidr;
use crate::authn::{user_from_certificate, TokenAuthenticator};
use crate::authz::{AllowAuthenticated, Chain};
use crate::handler::ApiServer;
use crate::kubelet::KubeletClient;
use crate::metrics::{MeteredStore, Metrics};
use crate::pki::{self, Pki};
use crate::registry::Registry;
use crate::rest::{Rest, WriteOptions};
use crate::sa_authn::ServiceAccountAuthenticator;
use crate::sa_token::TokenSigner;
use crate::services::ServiceAllocators;
use crate::watch_cache::WatchCache;

pub struct Config {
    pub data_dir: PathBuf,
    pub bind_address: IpAddr,
    /// 0 picks a free port.
    pub https_port: u16,
    pub store: Arc<dyn Store>,
    /// Where Service ClusterIPs come from; its first address is the
    /// `kubernetes` Service's.
    pub service_cidr: Cidr,
    /// Ports NodePort Services may use, both ends included.
    pub node_port_range: (u16, u16),
    pub token_auth_file: Option<PathBuf>,
    /// More names for the serving certificate.
    pub extra_names: Vec<String>,
}

/// A running API server.
pub struct Server {
    pub address: SocketAddr,
    api: Arc<ApiServer>,
    /// The admin kubeconfig's contents.
    pub kubeconfig: String,
    /// The cluster CA certificate, PEM.
    ca_cert: String,
    stop: watch::Sender<bool>,
    accept_loop: tokio::task::JoinHandle<()>,
    cache_task: tokio::task::JoinHandle<()>,
}

/// How long a client has to finish its TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The namespaces every cluster has.
const SYSTEM_NAMESPACES: &[&str] = &["default", "kube-system", "kube-public", "kube-node-lease"];

pub async fn start(config: Config) -> Result<Server, String> {
    let pki = Pki::new(&config.data_dir);
    let service_ip = config.service_cidr.address(0);
    let names = pki::serving_names(service_ip, &config.extra_names);
    let made = pki.clone();
    tokio::task::spawn_blocking(move || made.ensure(&names))
        .await
        .map_err(|error| error.to_string())?
        .map_err(|error| format!("{}: {error}", pki.dir.display()))?;
    let tls = tls_config(&pki)?;
    let kubelet = KubeletClient::new(&pki)?;
    let join = crate::join::NodeJoin::load(&config.data_dir)
        .map_err(|error| format!("join token: {error}"))?;
    let key = pki.service_account_key();
    let token_signer = tokio::task::spawn_blocking(move || TokenSigner::load_or_create(&key))
        .await
        .map_err(|error| error.to_string())?
        .map_err(|error| format!("service account key: {error}"))?;
    let token_signer = Arc::new(token_signer);
    let tokens = match &config.token_auth_file {
        Some(path) => TokenAuthenticator::from_file(path)?,
        None => TokenAuthenticator::default(),
    };

    let listener = TcpListener::bind((config.bind_address, config.https_port))
        .await
        .map_err(|error| {
            format!(
                "cannot listen on {}:{}: {error}",
                config.bind_address, config.https_port
            )
        })?;
    let address = listener.local_addr().map_err(|error| error.to_string())?;
    let client_host = match config.bind_address {
        IpAddr::V4(v4) if v4.is_unspecified() => "127.0.0.1".to_string(),
        IpAddr::V6(v6) if v6.is_unspecified() => "127.0.0.1".to_string(),
        IpAddr::V6(v6) => format!("[{v6}]"),
        IpAddr::V4(v4) => v4.to_string(),
    };
    let server_address = format!("{client_host}:{}", address.port());
    let kubeconfig = pki
        .admin_kubeconfig(&format!("https://{server_address}"))
        .map_err(|error| error.to_string())?;
    let ca_cert = std::fs::read_to_string(pki.ca_cert())
        .map_err(|error| format!("{}: {error}", pki.ca_cert().display()))?;

    let metrics = Arc::new(Metrics::default());
    let store: Arc<dyn Store> = Arc::new(MeteredStore {
        inner: config.store.clone(),
        metrics: metrics.clone(),
    });
    let (cache, cache_task) = WatchCache::start(store.clone());
    let services =
        ServiceAllocators::new(store.clone(), config.service_cidr, config.node_port_range);
    let api = Arc::new(ApiServer {
        rest: Rest::new(Registry::new(store, Some(cache)), services),
        tokens,
        service_accounts: ServiceAccountAuthenticator::new(token_signer.clone()),
        token_signer,
        authorizer: Chain::new(vec![Box::new(AllowAuthenticated)]),
        server_address,
        ready: AtomicBool::new(false),
        metrics,
        openapi: Default::default(),
        kubelet,
        join: Some(join),
    });
    let (stop, stopped) = watch::channel(false);
    let accept_loop = tokio::spawn(accept(
        listener,
        TlsAcceptor::from(Arc::new(tls)),
        api.clone(),
        stopped,
    ));
    let advertised = advertise_address(config.bind_address);
    bootstrap(&api.rest, service_ip, advertised, address.port()).await?;
    api.ready.store(true, Ordering::SeqCst);
    Ok(Server {
        address,
        api,
        kubeconfig,
        ca_cert,
        stop,
        accept_loop,
        cache_task,
    })
}

impl Server {
    /// A transport for clients in this process that hands their requests
    /// straight to the API server, as the admin (`system:admin`, group
    /// `system:masters`) naming itself `user_agent`: no TCP, TLS or HTTP
    /// framing, but the same authorization, admission and validation.
    pub fn local_transport(&self, user_agent: &str) -> crate::local::LocalTransport {
        crate::local::LocalTransport::new(self.api.clone(), crate::authn::User::admin(), user_agent)
    }

    /// The cluster CA certificate (PEM), which pods find in the
    /// `kube-root-ca.crt` ConfigMaps.
    pub fn ca_cert(&self) -> &str {
        &self.ca_cert
    }

    /// Stops accepting connections and ends the open ones.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = self.accept_loop.await;
        // The cache's store watch ends with it.
        self.cache_task.abort();
        let _ = self.cache_task.await;
    }
}

fn tls_config(pki: &Pki) -> Result<rustls::ServerConfig, String> {
    let error = |what: &str, e: &dyn std::fmt::Display| format!("{what}: {e}");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(pki.ca_cert()).map_err(|e| error("CA", &e))? {
        roots
            .add(cert.map_err(|e| error("CA", &e))?)
            .map_err(|e| error("CA", &e))?;
    }
    // Client certificates are checked when sent; without one a request may
    // still carry a bearer token.
    let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .allow_unauthenticated()
        .build()
        .map_err(|e| error("client verifier", &e))?;
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(pki.serving_cert())
        .map_err(|e| error("serving certificate", &e))?
        .collect::<Result<_, _>>()
        .map_err(|e| error("serving certificate", &e))?;
    let key =
        PrivateKeyDer::from_pem_file(pki.serving_key()).map_err(|e| error("serving key", &e))?;
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| error("TLS", &e))?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)
        .map_err(|e| error("TLS", &e))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

async fn accept(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    api: Arc<ApiServer>,
    mut stopped: watch::Receiver<bool>,
) {
    let mut connections = tokio::task::JoinSet::new();
    loop {
        let (stream, _) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = stopped.changed() => break,
        };
        let _ = stream.set_nodelay(true);
        let acceptor = acceptor.clone();
        let api = api.clone();
        connections.spawn(async move {
            let tls = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                Ok(Ok(tls)) => tls,
                _ => return,
            };
            let peer = tls
                .get_ref()
                .1
                .peer_certificates()
                .and_then(|chain| chain.first())
                .and_then(|cert| user_from_certificate(cert));
            let service = service_fn(move |request| {
                let api = api.clone();
                let peer = peer.clone();
                let request = request.map(crate::local::box_body);
                async move { Ok::<_, std::convert::Infallible>(api.handle(request, peer).await) }
            });
            let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                .serve_connection_with_upgrades(TokioIo::new(tls), service)
                .await;
        });
        // Reap finished connections as we go.
        while connections.try_join_next().is_some() {}
    }
    connections.abort_all();
}

/// The address other machines reach this server at: the bind address, or
/// the host's first non-loopback IPv4 address when bound to all addresses
/// or to loopback (Endpoints may not point at loopback). None on a host
/// with no other address.
fn advertise_address(bind: IpAddr) -> Option<IpAddr> {
    if !bind.is_unspecified() && !bind.is_loopback() {
        return Some(bind);
    }
    if_addrs::get_if_addrs().ok().and_then(|interfaces| {
        interfaces
            .iter()
            .map(|interface| interface.ip())
            .find(|ip| ip.is_ipv4() && !ip.is_loopback())
    })
}

/// Creates what must exist before anyone uses the cluster: the system
/// namespaces with their `default` ServiceAccounts, and the `kubernetes`
/// Service whose Endpoints point at this server.
async fn bootstrap(
    rest: &Rest,
    service_ip: IpAddr,
    advertised: Option<IpAddr>,
    port: u16,
) -> Result<(), String> {
    let find =
        |plural| capstan_api::resource::find("", "v1", plural).expect("core resources are served");
    let options = WriteOptions {
        field_manager: "kube-apiserver".into(),
        ..WriteOptions::default()
    };
    for name in SYSTEM_NAMESPACES {
        let namespace =
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}});
        ignore_exists(
            rest.create(find("namespaces"), None, namespace, &options)
                .await,
        )?;
        let account =
            json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "default"}});
        ignore_exists(
            rest.create(find("serviceaccounts"), Some(name), account, &options)
                .await,
        )?;
    }
    // Upstream's built-in classes, which system pods name.
    let classes = capstan_api::resource::find("scheduling.k8s.io", "v1", "priorityclasses")
        .expect("priorityclasses are served");
    for (name, value, description) in [
        ("system-node-critical", 2_000_001_000, "Used for system critical pods that must not be moved from their current node."),
        ("system-cluster-critical", 2_000_000_000, "Used for system critical pods that must run in the cluster, but can be moved to another node if necessary."),
    ] {
        let class = json!({
            "apiVersion": "scheduling.k8s.io/v1",
            "kind": "PriorityClass",
            "metadata": {"name": name},
            "value": value,
            "description": description,
        });
        ignore_exists(rest.create(classes, None, class, &options).await)?;
    }
    if rest
        .get(find("services"), Some("default"), "kubernetes")
        .await
        .is_err()
    {
        let service = json!({
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "kubernetes", "labels": {"component": "apiserver", "provider": "kubernetes"}},
            "spec": {
                "type": "ClusterIP",
                "clusterIP": service_ip.to_string(),
                "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": port}],
                "sessionAffinity": "None",
            },
        });
        ignore_exists(
            rest.create(find("services"), Some("default"), service, &options)
                .await,
        )?;
    }
    // The server's address may change between starts: keep it current.
    let subsets = match advertised {
        Some(address) => json!([{
            "addresses": [{"ip": address.to_string()}],
            "ports": [{"name": "https", "port": port, "protocol": "TCP"}],
        }]),
        None => json!([]),
    };
    let endpoints = json!({
        "apiVersion": "v1",
        "kind": "Endpoints",
        "metadata": {"name": "kubernetes", "labels": {"endpointslice.kubernetes.io/skip-mirror": "true"}},
        "subsets": subsets,
    });
    rest.update(
        find("endpoints"),
        Some("default"),
        "kubernetes",
        endpoints,
        None,
        &options,
    )
    .await
    .map_err(|error| format!("bootstrap: {error}"))?;
    Ok(())
}
fn ignore_exists<T>(result: Result<T, capstan_api::ApiError>) -> Result<(), String> {
    match result {
        Ok(_) => Ok(()),
        Err(error) if error.code == 409 => Ok(()),
        Err(error) => Err(format!("bootstrap: {error}")),
    }
}
