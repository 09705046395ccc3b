//! Which pods a Service's endpoints list and how, shared by the Endpoints
//! and EndpointSlice controllers (upstream's k8s.io/endpointslice/util).

use std::collections::BTreeMap;
use std::net::IpAddr;

use k8s_openapi::api::core::v1::{ObjectReference, Pod, Service, ServicePort};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::ResourceExt;

use crate::pods::{is_ready, is_terminal};

/// Whether the pod belongs in the Service's endpoints at all: it has an
/// address, has not finished, and (unless `include_terminating`) is not
/// being deleted.
pub fn should_be_in_endpoints(pod: &Pod, include_terminating: bool) -> bool {
    if is_terminal(pod) || pod_ips(pod).is_empty() {
        return false;
    }
    include_terminating || pod.metadata.deletion_timestamp.is_none()
}

/// Whether the endpoint carries the pod's hostname: the pod names one and
/// lives under this Service as its subdomain.
pub fn should_set_hostname(pod: &Pod, service: &Service) -> bool {
    let spec = pod.spec.as_ref();
    let hostname = spec.and_then(|s| s.hostname.as_deref()).unwrap_or_default();
    let subdomain = spec
        .and_then(|s| s.subdomain.as_deref())
        .unwrap_or_default();
    !hostname.is_empty()
        && subdomain == service.name_any()
        && pod.namespace() == service.namespace()
}

/// The pod's hostname for its endpoint, when it gets one.
pub fn hostname_for(pod: &Pod, service: &Service) -> Option<String> {
    should_set_hostname(pod, service)
        .then(|| pod.spec.as_ref().and_then(|s| s.hostname.clone()))
        .flatten()
}

/// The container port a Service port reaches on this pod (upstream's
/// FindPort): a number is taken as is, a name is looked up among the
/// ports of the pod's containers and sidecars with the same protocol. An
/// absent targetPort means the Service port itself.
pub fn find_port(pod: &Pod, service_port: &ServicePort) -> Option<i32> {
    match &service_port.target_port {
        None => Some(service_port.port),
        Some(IntOrString::Int(number)) => Some(*number),
        Some(IntOrString::String(name)) => {
            let protocol = protocol_or_tcp(service_port.protocol.as_deref());
            let spec = pod.spec.as_ref()?;
            let sidecars = spec
                .init_containers
                .iter()
                .flatten()
                .filter(|c| c.restart_policy.as_deref() == Some("Always"));
            spec.containers
                .iter()
                .chain(sidecars)
                .flat_map(|c| c.ports.iter().flatten())
                .find(|p| {
                    p.name.as_deref() == Some(name.as_str())
                        && protocol_or_tcp(p.protocol.as_deref()) == protocol
                })
                .map(|p| p.container_port)
        }
    }
}

/// A port's protocol as the API server defaults it.
pub fn protocol_or_tcp(protocol: Option<&str>) -> &str {
    protocol.unwrap_or("TCP")
}

/// The pod's IP addresses, from `status.podIPs` or else `status.podIP`.
pub fn pod_ips(pod: &Pod) -> Vec<&str> {
    let Some(status) = pod.status.as_ref() else {
        return Vec::new();
    };
    let listed: Vec<&str> = status
        .pod_ips
        .iter()
        .flatten()
        .map(|ip| ip.ip.as_str())
        .filter(|ip| !ip.is_empty())
        .collect();
    if !listed.is_empty() {
        return listed;
    }
    status
        .pod_ip
        .as_deref()
        .filter(|ip| !ip.is_empty())
        .into_iter()
        .collect()
}

/// Whether the text is an IPv6 address.
pub fn is_ipv6(address: &str) -> bool {
    matches!(address.parse::<IpAddr>(), Ok(IpAddr::V6(_)))
}

/// Whether the Service has a cluster IP (it is not headless).
pub fn is_service_ip_set(service: &Service) -> bool {
    let ip = service
        .spec
        .as_ref()
        .and_then(|s| s.cluster_ip.as_deref())
        .unwrap_or_default();
    !ip.is_empty() && ip != "None"
}

/// Whether the Service is headless: its cluster IP is `None`.
pub fn is_headless(service: &Service) -> bool {
    service.spec.as_ref().and_then(|s| s.cluster_ip.as_deref()) == Some("None")
}

/// The Service's selector, if it has one. A Service without a selector
/// gets no endpoints from the controllers: its endpoints are made by hand.
pub fn selector(service: &Service) -> Option<&BTreeMap<String, String>> {
    service.spec.as_ref()?.selector.as_ref()
}

/// Whether the Service selects pods with these labels. A Service without a
/// selector selects nothing; an empty selector selects everything.
pub fn selects(service: &Service, labels: &BTreeMap<String, String>) -> bool {
    selector(service).is_some_and(|wanted| {
        wanted
            .iter()
            .all(|(key, value)| labels.get(key) == Some(value))
    })
}

/// Whether the controllers make endpoints for this Service: it has a
/// selector and is not an ExternalName.
pub fn wants_endpoints(service: &Service) -> bool {
    let spec = service.spec.as_ref();
    selector(service).is_some() && spec.and_then(|s| s.type_.as_deref()) != Some("ExternalName")
}

/// Whether the Service publishes addresses of pods that are not ready.
pub fn publishes_not_ready(service: &Service) -> bool {
    service
        .spec
        .as_ref()
        .and_then(|s| s.publish_not_ready_addresses)
        .unwrap_or(false)
}

/// The reference from an endpoint to its pod.
pub fn pod_reference(pod: &Pod) -> ObjectReference {
    ObjectReference {
        kind: Some("Pod".into()),
        namespace: pod.namespace(),
        name: Some(pod.name_any()),
        uid: pod.metadata.uid.clone(),
        ..ObjectReference::default()
    }
}

/// Whether a change from `old` to `new` can change any Service's
/// endpoints: membership (labels, hostname, subdomain) or what an endpoint
/// says (deletion, readiness, addresses, node, phase).
pub fn endpoints_changed(old: &Pod, new: &Pod) -> bool {
    let spec = |pod: &Pod| {
        pod.spec
            .as_ref()
            .map(|s| (s.hostname.clone(), s.subdomain.clone(), s.node_name.clone()))
    };
    let phase = |pod: &Pod| pod.status.as_ref().and_then(|s| s.phase.clone());
    old.metadata.labels != new.metadata.labels
        || spec(old) != spec(new)
        || old.metadata.deletion_timestamp.is_some() != new.metadata.deletion_timestamp.is_some()
        || is_ready(old) != is_ready(new)
        || pod_ips(old) != pod_ips(new)
        || phase(old) != phase(new)
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{Container, ContainerPort, PodSpec, PodStatus};

    fn pod_with_ports(ports: &[(&str, i32, &str)]) -> Pod {
        Pod {
            spec: Some(PodSpec {
                containers: vec![Container {
                    name: "c".into(),
                    ports: Some(
                        ports
                            .iter()
                            .map(|(name, number, protocol)| ContainerPort {
                                name: Some(name.to_string()),
                                container_port: *number,
                                protocol: Some(protocol.to_string()),
                                ..ContainerPort::default()
                            })
                            .collect(),
                    ),
                    ..Container::default()
                }],
                ..PodSpec::default()
            }),
            ..Pod::default()
        }
    }

    fn service_port(target: Option<IntOrString>, protocol: Option<&str>) -> ServicePort {
        ServicePort {
            port: 80,
            target_port: target,
            protocol: protocol.map(str::to_string),
            ..ServicePort::default()
        }
    }

    #[test]
    fn named_target_ports_resolve_per_pod() {
        let pod = pod_with_ports(&[("http", 8080, "TCP"), ("dns", 53, "UDP")]);
        let http = service_port(Some(IntOrString::String("http".into())), Some("TCP"));
        assert_eq!(find_port(&pod, &http), Some(8080));
        // The protocol must match too.
        let dns_tcp = service_port(Some(IntOrString::String("dns".into())), None);
        assert_eq!(find_port(&pod, &dns_tcp), None);
        let dns = service_port(Some(IntOrString::String("dns".into())), Some("UDP"));
        assert_eq!(find_port(&pod, &dns), Some(53));
        let missing = service_port(Some(IntOrString::String("metrics".into())), None);
        assert_eq!(find_port(&pod, &missing), None);
    }

    #[test]
    fn numeric_and_absent_target_ports() {
        let pod = pod_with_ports(&[]);
        let numeric = service_port(Some(IntOrString::Int(9376)), None);
        assert_eq!(find_port(&pod, &numeric), Some(9376));
        assert_eq!(find_port(&pod, &service_port(None, None)), Some(80));
    }

    #[test]
    fn sidecar_ports_count_but_init_containers_do_not() {
        let mut pod = pod_with_ports(&[]);
        let port = ContainerPort {
            name: Some("proxy".into()),
            container_port: 15001,
            ..ContainerPort::default()
        };
        let init = |restart: Option<&str>| Container {
            name: "side".into(),
            restart_policy: restart.map(str::to_string),
            ports: Some(vec![port.clone()]),
            ..Container::default()
        };
        let wanted = service_port(Some(IntOrString::String("proxy".into())), None);
        pod.spec.as_mut().unwrap().init_containers = Some(vec![init(None)]);
        assert_eq!(find_port(&pod, &wanted), None);
        pod.spec.as_mut().unwrap().init_containers = Some(vec![init(Some("Always"))]);
        assert_eq!(find_port(&pod, &wanted), Some(15001));
    }

    #[test]
    fn only_pods_with_addresses_that_are_not_finished() {
        let mut pod = Pod::default();
        assert!(!should_be_in_endpoints(&pod, true));
        pod.status = Some(PodStatus {
            pod_ip: Some("10.42.0.5".into()),
            phase: Some("Running".into()),
            ..PodStatus::default()
        });
        assert!(should_be_in_endpoints(&pod, false));
        pod.metadata.deletion_timestamp =
            Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
                k8s_openapi::jiff::Timestamp::now(),
            ));
        assert!(!should_be_in_endpoints(&pod, false));
        assert!(should_be_in_endpoints(&pod, true));
        pod.status.as_mut().unwrap().phase = Some("Failed".into());
        assert!(!should_be_in_endpoints(&pod, true));
    }

    #[test]
    fn only_changes_to_what_endpoints_read_matter() {
        let mut pod = pod_with_ports(&[("http", 8080, "TCP")]);
        let spec = pod.spec.as_mut().unwrap();
        spec.hostname = Some("db-0".into());
        spec.node_name = Some("sim-1".into());
        pod.status = Some(PodStatus {
            phase: Some("Running".into()),
            pod_ip: Some("10.42.1.7".into()),
            conditions: Some(vec![k8s_openapi::api::core::v1::PodCondition {
                type_: "Ready".into(),
                status: "True".into(),
                ..Default::default()
            }]),
            ..PodStatus::default()
        });
        let before = pod.clone();
        pod.spec.as_mut().unwrap().containers[0].image = Some("registry.local/db:2".into());
        let status = pod.status.as_mut().unwrap();
        status.host_ip = Some("192.0.2.1".into());
        status
            .conditions
            .as_mut()
            .unwrap()
            .push(k8s_openapi::api::core::v1::PodCondition {
                type_: "PodScheduled".into(),
                status: "True".into(),
                ..Default::default()
            });
        assert!(!endpoints_changed(&before, &pod));
        let conditions = pod.status.as_mut().unwrap().conditions.as_mut().unwrap();
        conditions[0].status = "False".into();
        assert!(endpoints_changed(&before, &pod));
    }

    #[test]
    fn selectorless_services_select_nothing() {
        let labels = BTreeMap::from([("app".to_string(), "web".to_string())]);
        let mut service = Service::default();
        assert!(!selects(&service, &labels));
        service.spec = Some(Default::default());
        service.spec.as_mut().unwrap().selector = Some(labels.clone());
        assert!(selects(&service, &labels));
        assert!(!selects(&service, &BTreeMap::new()));
    }
}
