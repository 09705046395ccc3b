//! The Service environment variables containers get, as the kubelet makes
//! them (`pkg/kubelet/envvars`): `KUBERNETES_SERVICE_HOST` and friends for
//! the API server's `kubernetes` Service in `default`, always (in-cluster
//! clients find the API through them), and the same for every Service of
//! the pod's namespace unless `enableServiceLinks` is false, with the old
//! Docker link variables (`WEB_PORT_80_TCP_ADDR`, ...).

use std::collections::BTreeMap;
use std::sync::Arc;

use futures_util::StreamExt;
use k8s_openapi::api::core::v1::{Pod, Service};
use kube::runtime::reflector::Store;
use kube::runtime::{reflector, watcher, WatchStreamExt};
use kube::Api;

/// The Service whose variables every pod gets, in `default`.
const API_SERVICE: &str = "kubernetes";

/// The variables for `pod` from the Services in `services`.
pub fn for_pod<'a>(
    pod: &Pod,
    services: impl IntoIterator<Item = &'a Service>,
) -> Vec<(String, String)> {
    let namespace = pod.metadata.namespace.as_deref().unwrap_or("default");
    let links = pod
        .spec
        .as_ref()
        .and_then(|s| s.enable_service_links)
        .unwrap_or(true);
    // By name: a Service of the pod's own namespace called `kubernetes`
    // wins over the API server's, as upstream.
    let mut chosen: BTreeMap<&str, &Service> = BTreeMap::new();
    for service in services {
        let Some(name) = service.metadata.name.as_deref() else {
            continue;
        };
        if !has_cluster_ip(service) {
            continue;
        }
        let in_namespace = service.metadata.namespace.as_deref() == Some(namespace);
        if in_namespace && links {
            chosen.insert(name, service);
        } else if service.metadata.namespace.as_deref() == Some("default") && name == API_SERVICE {
            chosen.entry(name).or_insert(service);
        }
    }
    chosen
        .values()
        .flat_map(|service| variables(service))
        .collect()
}

fn has_cluster_ip(service: &Service) -> bool {
    let ip = service.spec.as_ref().and_then(|s| s.cluster_ip.as_deref());
    !matches!(ip, None | Some("") | Some("None"))
}

/// One Service's variables (upstream's `FromServices`).
fn variables(service: &Service) -> Vec<(String, String)> {
    let name = variable_name(service.metadata.name.as_deref().unwrap_or_default());
    let spec = service.spec.as_ref();
    let ip = spec.and_then(|s| s.cluster_ip.clone()).unwrap_or_default();
    let ports = spec.and_then(|s| s.ports.as_deref()).unwrap_or_default();
    let mut out = vec![(format!("{name}_SERVICE_HOST"), ip.clone())];
    if let Some(first) = ports.first() {
        out.push((format!("{name}_SERVICE_PORT"), first.port.to_string()));
    }
    for port in ports {
        if let Some(port_name) = port.name.as_deref().filter(|n| !n.is_empty()) {
            out.push((
                format!("{name}_SERVICE_PORT_{}", variable_name(port_name)),
                port.port.to_string(),
            ));
        }
    }
    // Docker links.
    let host = if ip.contains(':') {
        format!("[{ip}]")
    } else {
        ip.clone()
    };
    for (index, port) in ports.iter().enumerate() {
        let protocol = port.protocol.as_deref().unwrap_or("TCP").to_lowercase();
        let url = format!("{protocol}://{host}:{}", port.port);
        if index == 0 {
            out.push((format!("{name}_PORT"), url.clone()));
        }
        let prefix = format!("{name}_PORT_{}_{}", port.port, protocol.to_uppercase());
        out.push((format!("{prefix}_PROTO"), protocol.clone()));
        out.push((format!("{prefix}_PORT"), port.port.to_string()));
        out.push((format!("{prefix}_ADDR"), ip.clone()));
        out.push((prefix, url));
    }
    out
}

/// `my-service` → `MY_SERVICE`.
fn variable_name(name: &str) -> String {
    name.to_uppercase().replace('-', "_")
}

/// Every Service of the cluster, as the kubelet's service lister keeps
/// them, for the variables above.
#[derive(Clone)]
pub struct ServiceCache {
    store: Store<Service>,
}

impl ServiceCache {
    /// Starts watching Services through `client`; runs until the process
    /// ends.
    pub fn start(client: kube::Client) -> ServiceCache {
        let (store, writer) = reflector::store();
        let events = watcher(Api::<Service>::all(client), watcher::Config::default())
            .default_backoff()
            .modify(|service: &mut Service| service.metadata.managed_fields = None)
            .reflect(writer)
            .for_each(|_| async {});
        tokio::spawn(events);
        ServiceCache { store }
    }

    /// The Services, once read at least once; `None` if the first list
    /// has not come within `wait` (upstream refuses to start containers
    /// then, as their variables would be missing).
    pub async fn services(&self, wait: std::time::Duration) -> Option<Vec<Arc<Service>>> {
        tokio::time::timeout(wait, self.store.wait_until_ready())
            .await
            .ok()?
            .ok()?;
        Some(self.store.state())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn service(namespace: &str, name: &str, spec: serde_json::Value) -> Service {
        serde_json::from_value(json!({
            "metadata": {"namespace": namespace, "name": name},
            "spec": spec,
        }))
        .unwrap()
    }

    fn pod(namespace: &str, links: Option<bool>) -> Pod {
        serde_json::from_value(json!({
            "metadata": {"namespace": namespace, "name": "p"},
            "spec": {"containers": [], "enableServiceLinks": links},
        }))
        .unwrap()
    }

    fn services() -> Vec<Service> {
        vec![
            service(
                "default",
                "kubernetes",
                json!({"clusterIP": "10.43.0.1", "ports": [{"name": "https", "port": 443, "protocol": "TCP"}]}),
            ),
            service(
                "shop",
                "web-front",
                json!({"clusterIP": "10.43.0.20", "ports": [
                    {"name": "http", "port": 80, "protocol": "TCP"},
                    {"name": "dns", "port": 53, "protocol": "UDP"}]}),
            ),
            service(
                "shop",
                "headless",
                json!({"clusterIP": "None", "ports": [{"port": 80}]}),
            ),
            service(
                "shop",
                "external",
                json!({"type": "ExternalName", "externalName": "example.com"}),
            ),
            service(
                "other",
                "elsewhere",
                json!({"clusterIP": "10.43.0.30", "ports": [{"port": 80}]}),
            ),
        ]
    }

    #[test]
    fn the_api_service_and_the_namespace_services() {
        let all = services();
        let vars: BTreeMap<_, _> = for_pod(&pod("shop", None), &all).into_iter().collect();
        let expected: BTreeMap<String, String> = [
            ("KUBERNETES_SERVICE_HOST", "10.43.0.1"),
            ("KUBERNETES_SERVICE_PORT", "443"),
            ("KUBERNETES_SERVICE_PORT_HTTPS", "443"),
            ("KUBERNETES_PORT", "tcp://10.43.0.1:443"),
            ("KUBERNETES_PORT_443_TCP", "tcp://10.43.0.1:443"),
            ("KUBERNETES_PORT_443_TCP_PROTO", "tcp"),
            ("KUBERNETES_PORT_443_TCP_PORT", "443"),
            ("KUBERNETES_PORT_443_TCP_ADDR", "10.43.0.1"),
            ("WEB_FRONT_SERVICE_HOST", "10.43.0.20"),
            ("WEB_FRONT_SERVICE_PORT", "80"),
            ("WEB_FRONT_SERVICE_PORT_HTTP", "80"),
            ("WEB_FRONT_SERVICE_PORT_DNS", "53"),
            ("WEB_FRONT_PORT", "tcp://10.43.0.20:80"),
            ("WEB_FRONT_PORT_80_TCP", "tcp://10.43.0.20:80"),
            ("WEB_FRONT_PORT_80_TCP_PROTO", "tcp"),
            ("WEB_FRONT_PORT_80_TCP_PORT", "80"),
            ("WEB_FRONT_PORT_80_TCP_ADDR", "10.43.0.20"),
            ("WEB_FRONT_PORT_53_UDP", "udp://10.43.0.20:53"),
            ("WEB_FRONT_PORT_53_UDP_PROTO", "udp"),
            ("WEB_FRONT_PORT_53_UDP_PORT", "53"),
            ("WEB_FRONT_PORT_53_UDP_ADDR", "10.43.0.20"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert_eq!(
            vars, expected,
            "no headless, ExternalName or other namespaces' Services"
        );
    }

    #[test]
    fn without_service_links_only_the_api_service() {
        let all = services();
        let vars = for_pod(&pod("shop", Some(false)), &all);
        assert!(vars.iter().all(|(name, _)| name.starts_with("KUBERNETES_")));
        assert_eq!(vars.len(), 8);
    }

    #[test]
    fn a_namespace_service_named_kubernetes_wins() {
        let mut all = services();
        all.push(service(
            "shop",
            "kubernetes",
            json!({"clusterIP": "10.43.0.99", "ports": [{"port": 8443}]}),
        ));
        let vars: BTreeMap<_, _> = for_pod(&pod("shop", None), &all).into_iter().collect();
        assert_eq!(vars["KUBERNETES_SERVICE_HOST"], "10.43.0.99");
        let vars: BTreeMap<_, _> = for_pod(&pod("default", None), &all).into_iter().collect();
        assert_eq!(vars["KUBERNETES_SERVICE_HOST"], "10.43.0.1");
    }
}
