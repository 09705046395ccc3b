//! What makes Services reachable, started beside a node agent: the
//! service proxy, NetworkPolicy enforcement and the ingress controller on
//! every node, and on the
//! server's machine the cluster DNS behind the `kube-dns` Service.

use std::net::{IpAddr, SocketAddr};

use k8s_openapi::api::core::v1::{Endpoints, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::{Api, Patch, PatchParams};
use serde_json::json;

use crate::server::Components;

/// The parts a cluster can go without (`--disable`), as k3s names its
/// packaged components.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Part {
    /// The cluster DNS (k3s: coredns).
    Dns,
    /// The service proxy (k3s: --disable-kube-proxy).
    Proxy,
    /// The ingress controller (k3s: traefik).
    Ingress,
    /// The service load balancer (k3s: servicelb).
    Servicelb,
    /// NetworkPolicy enforcement (k3s: --disable-network-policy).
    NetworkPolicy,
}

/// The ports the ingress controller holds on every node.
pub const INGRESS_HTTP_PORT: u16 = 80;
pub const INGRESS_HTTPS_PORT: u16 = 443;

/// The DNS port, on the server's node address.
const DNS_PORT: u16 = 53;

/// Whose changes the server's apply of kube-dns are.
const FIELD_MANAGER: &str = "capstan";

/// What a node runs beside its agent.
pub struct NodeNetworking {
    pub node_name: String,
    pub cluster_cidr: String,
    pub proxy: bool,
    pub network_policy: bool,
    pub ingress: bool,
    /// Whether this node's ingress controller writes Ingress status (one
    /// per cluster: the server's).
    pub ingress_status: bool,
}

impl NodeNetworking {
    pub fn spawn(self, components: &mut Components, client: kube::Client) {
        if self.proxy {
            let options = capstan_proxy::ProxyOptions {
                node_name: self.node_name.clone(),
                cluster_cidr: self.cluster_cidr.clone(),
                ..capstan_proxy::ProxyOptions::default()
            };
            let proxy = client.clone();
            components.spawn(|shutdown| capstan_proxy::run(proxy, options, shutdown));
        }
        if self.network_policy {
            let options = capstan_netpol::NetpolOptions {
                node_name: self.node_name.clone(),
                ..capstan_netpol::NetpolOptions::default()
            };
            let policies = client.clone();
            components.spawn(|shutdown| capstan_netpol::run(policies, options, shutdown));
        }
        if self.ingress {
            let any = IpAddr::from([0, 0, 0, 0]);
            let options = capstan_ingress::IngressOptions {
                node_name: self.node_name,
                http: SocketAddr::new(any, INGRESS_HTTP_PORT),
                https: SocketAddr::new(any, INGRESS_HTTPS_PORT),
                manage_status: self.ingress_status,
            };
            // One thread of its own, as nginx's worker: relaying requests
            // on the process's shared runtime would hop between its
            // threads and compete with the API server for them.
            components.spawn(|shutdown| async move {
                let (done, finished) = tokio::sync::oneshot::channel::<()>();
                let spawned = std::thread::Builder::new()
                    .name("ingress".into())
                    .spawn(move || {
                        let runtime = match tokio::runtime::Builder::new_current_thread()
                            .enable_all()
                            .build()
                        {
                            Ok(runtime) => runtime,
                            Err(error) => {
                                eprintln!(
                                    "capstan: the ingress controller is not running: {error}"
                                );
                                return;
                            }
                        };
                        runtime.block_on(async move {
                            match capstan_ingress::Ingress::bind(options).await {
                                Ok(ingress) => ingress.serve(client, shutdown).await,
                                Err(error) => {
                                    eprintln!(
                                        "capstan: the ingress controller is not running: {error}"
                                    )
                                }
                            }
                        });
                        let _ = done.send(());
                    });
                match spawned {
                    Ok(_) => {
                        let _ = finished.await;
                    }
                    Err(error) => {
                        eprintln!("capstan: the ingress controller is not running: {error}")
                    }
                }
            });
        }
    }
}

/// Serves cluster DNS on `node_ip`, port 53, and points the `kube-dns`
/// Service (at `service_ip`) there.
pub fn spawn_dns(
    components: &mut Components,
    client: kube::Client,
    node_name: String,
    node_ip: IpAddr,
    service_ip: IpAddr,
    cluster_domain: String,
) {
    components.spawn(|shutdown| async move {
        let listen = SocketAddr::new(node_ip, DNS_PORT);
        let upstream = capstan_dns::DnsOptions::upstream_from_resolv_conf(std::path::Path::new(
            "/etc/resolv.conf",
        ));
        let options = capstan_dns::DnsOptions {
            listen: vec![listen],
            cluster_domain,
            upstream,
        };
        let dns = match capstan_dns::Dns::bind(options).await {
            Ok(dns) => dns,
            Err(error) => {
                eprintln!("capstan: cluster DNS is not running: {error}");
                return;
            }
        };
        if let Err(error) = publish_kube_dns(&client, &node_name, node_ip, service_ip).await {
            let why = match &error {
                kube::Error::Api(status) => status.message.clone(),
                other => other.to_string(),
            };
            eprintln!("capstan: cannot publish the kube-dns Service: {why}");
        }
        dns.serve(client, shutdown).await;
    });
}

/// The `kube-dns` Service in kube-system, as every cluster has it, with
/// the address this server's DNS listens on as its endpoint. Applied, so a
/// restart on a new address updates it.
async fn publish_kube_dns(
    client: &kube::Client,
    node_name: &str,
    node_ip: IpAddr,
    service_ip: IpAddr,
) -> Result<(), kube::Error> {
    let params = PatchParams::apply(FIELD_MANAGER).force();
    let labels = json!({
        "k8s-app": "kube-dns",
        "kubernetes.io/cluster-service": "true",
        "kubernetes.io/name": "CoreDNS",
    });
    let ports = json!([
        {"name": "dns", "port": DNS_PORT, "protocol": "UDP", "targetPort": DNS_PORT},
        {"name": "dns-tcp", "port": DNS_PORT, "protocol": "TCP", "targetPort": DNS_PORT},
    ]);
    let service = json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "kube-dns", "namespace": "kube-system", "labels": labels},
        "spec": {"clusterIP": service_ip.to_string(), "ports": ports},
    });
    let services: Api<Service> = Api::namespaced(client.clone(), "kube-system");
    services
        .patch("kube-dns", &params, &Patch::Apply(&service))
        .await?;
    let endpoint_ports = json!([
        {"name": "dns", "port": DNS_PORT, "protocol": "UDP"},
        {"name": "dns-tcp", "port": DNS_PORT, "protocol": "TCP"},
    ]);
    let slice = json!({
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "name": "kube-dns",
            "namespace": "kube-system",
            "labels": {
                "kubernetes.io/service-name": "kube-dns",
                "endpointslice.kubernetes.io/managed-by": "capstan-server",
            },
        },
        "addressType": if node_ip.is_ipv4() { "IPv4" } else { "IPv6" },
        "endpoints": [{
            "addresses": [node_ip.to_string()],
            "conditions": {"ready": true, "serving": true, "terminating": false},
            "nodeName": node_name,
        }],
        "ports": endpoint_ports,
    });
    let slices: Api<EndpointSlice> = Api::namespaced(client.clone(), "kube-system");
    slices
        .patch("kube-dns", &params, &Patch::Apply(&slice))
        .await?;
    // `kubectl get endpoints kube-dns` shows the same address.
    let endpoints = json!({
        "apiVersion": "v1",
        "kind": "Endpoints",
        "metadata": {"name": "kube-dns", "namespace": "kube-system", "labels": labels},
        "subsets": [{
            "addresses": [{"ip": node_ip.to_string(), "nodeName": node_name}],
            "ports": endpoint_ports,
        }],
    });
    let api: Api<Endpoints> = Api::namespaced(client.clone(), "kube-system");
    api.patch("kube-dns", &params, &Patch::Apply(&endpoints))
        .await?;
    Ok(())
}
