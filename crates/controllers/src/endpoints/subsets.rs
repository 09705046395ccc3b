//! The subsets of a Service's Endpoints, computed from its pods as
//! upstream's endpoints controller does: one address per pod and Service
//! port, repacked into the canonical layout (addresses grouped by the set
//! of ports they offer), then truncated to the capacity of one object.

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::api::core::v1::{
    EndpointAddress, EndpointPort, EndpointSubset, Pod, Service, ServicePort,
};

use super::membership::{
    find_port, hostname_for, is_headless, is_ipv6, pod_ips, pod_reference, publishes_not_ready,
    should_be_in_endpoints,
};
use crate::pods::is_ready;

/// The most addresses one Endpoints object holds.
pub const MAX_CAPACITY: usize = 1000;

/// The address of the pod for this Service: of the Service's first IP
/// family (for a headless Service without families, of the pod's first
/// address's family).
pub fn address_for(service: &Service, pod: &Pod) -> Option<EndpointAddress> {
    let ips = pod_ips(pod);
    let spec = service.spec.as_ref();
    let want_v6 = match spec
        .and_then(|s| s.ip_families.as_ref())
        .and_then(|f| f.first())
    {
        Some(family) => family == "IPv6",
        None => match spec.and_then(|s| s.cluster_ip.as_deref()) {
            Some(ip) if !ip.is_empty() && ip != "None" => is_ipv6(ip),
            _ => ips.first().is_some_and(|ip| is_ipv6(ip)),
        },
    };
    let ip = ips.into_iter().find(|ip| is_ipv6(ip) == want_v6)?;
    Some(EndpointAddress {
        ip: ip.to_string(),
        hostname: hostname_for(pod, service),
        node_name: pod.spec.as_ref().and_then(|s| s.node_name.clone()),
        target_ref: Some(pod_reference(pod)),
    })
}

fn endpoint_port(service_port: &ServicePort, number: i32) -> EndpointPort {
    EndpointPort {
        name: service_port.name.clone(),
        port: number,
        protocol: service_port.protocol.clone(),
        app_protocol: service_port.app_protocol.clone(),
    }
}

/// The subsets of the Service's Endpoints for these pods (those of its
/// namespace that its selector matches), repacked and sorted.
pub fn desired_subsets(service: &Service, pods: &[Arc<Pod>]) -> Vec<EndpointSubset> {
    let tolerate_unready = publishes_not_ready(service);
    let service_ports = service
        .spec
        .as_ref()
        .and_then(|s| s.ports.clone())
        .unwrap_or_default();
    let mut subsets = Vec::new();
    for pod in pods {
        if !should_be_in_endpoints(pod, tolerate_unready) {
            continue;
        }
        let Some(address) = address_for(service, pod) else {
            continue;
        };
        let ready = tolerate_unready || is_ready(pod);
        let subset = |ports: Vec<EndpointPort>| {
            let (addresses, not_ready) = if ready {
                (Some(vec![address.clone()]), None)
            } else {
                (None, Some(vec![address.clone()]))
            };
            EndpointSubset {
                addresses,
                not_ready_addresses: not_ready,
                ports: Some(ports),
            }
        };
        if service_ports.is_empty() {
            // A headless Service may have no ports.
            if is_headless(service) {
                subsets.push(subset(Vec::new()));
            }
            continue;
        }
        for service_port in &service_ports {
            // A pod without the named port is left out for that port.
            if let Some(number) = find_port(pod, service_port) {
                subsets.push(subset(vec![endpoint_port(service_port, number)]));
            }
        }
    }
    repack(&subsets)
}

/// What tells two addresses apart: the IP and the pod.
type AddressKey = (String, String);

fn address_key(address: &EndpointAddress) -> AddressKey {
    let uid = address
        .target_ref
        .as_ref()
        .and_then(|r| r.uid.clone())
        .unwrap_or_default();
    (address.ip.clone(), uid)
}

/// What tells two ports apart, in the order they are listed.
type PortKey = (Option<String>, i32, Option<String>, Option<String>);

fn port_key(port: &EndpointPort) -> PortKey {
    (
        port.name.clone(),
        port.port,
        port.protocol.clone(),
        port.app_protocol.clone(),
    )
}

/// The canonical layout of these subsets (upstream's RepackSubsets): each
/// address once per port, grouped into one subset per distinct set of
/// addresses, with an address that is not ready for some port listed as
/// not ready there. Addresses and subsets are sorted so equal content
/// compares equal. Subsets without ports (headless Services without
/// ports) are kept.
pub fn repack(subsets: &[EndpointSubset]) -> Vec<EndpointSubset> {
    let mut all_addresses: BTreeMap<AddressKey, EndpointAddress> = BTreeMap::new();
    // For each port (None for "no ports"), each address and whether ready.
    let mut by_port: BTreeMap<Option<PortKey>, BTreeMap<AddressKey, bool>> = BTreeMap::new();
    let mut ports_by_key: BTreeMap<PortKey, EndpointPort> = BTreeMap::new();
    for subset in subsets {
        let ports = subset.ports.as_deref().unwrap_or_default();
        let port_keys: Vec<Option<PortKey>> = if ports.is_empty() {
            vec![None]
        } else {
            ports
                .iter()
                .map(|port| {
                    let key = port_key(port);
                    ports_by_key
                        .entry(key.clone())
                        .or_insert_with(|| port.clone());
                    Some(key)
                })
                .collect()
        };
        let ready = subset.addresses.iter().flatten().map(|a| (a, true));
        let not_ready = subset
            .not_ready_addresses
            .iter()
            .flatten()
            .map(|a| (a, false));
        for (address, is_ready) in ready.chain(not_ready) {
            let key = address_key(address);
            all_addresses
                .entry(key.clone())
                .or_insert_with(|| address.clone());
            for port in &port_keys {
                let readiness = by_port.entry(port.clone()).or_default();
                // Not ready wins over ready.
                let entry = readiness.entry(key.clone()).or_insert(is_ready);
                *entry = *entry && is_ready;
            }
        }
    }
    // Ports that share exactly the same addresses share a subset.
    let mut groups: BTreeMap<Vec<(AddressKey, bool)>, Vec<Option<PortKey>>> = BTreeMap::new();
    for (port, addresses) in by_port {
        groups
            .entry(addresses.into_iter().collect())
            .or_default()
            .push(port);
    }
    groups
        .into_iter()
        .map(|(addresses, ports)| {
            let pick = |ready: bool| {
                let chosen: Vec<EndpointAddress> = addresses
                    .iter()
                    .filter(|(_, r)| *r == ready)
                    .filter_map(|(key, _)| all_addresses.get(key).cloned())
                    .collect();
                (!chosen.is_empty()).then_some(chosen)
            };
            let ports: Vec<EndpointPort> = ports
                .iter()
                .flatten()
                .filter_map(|key| ports_by_key.get(key).cloned())
                .collect();
            EndpointSubset {
                addresses: pick(true),
                not_ready_addresses: pick(false),
                ports: (!ports.is_empty()).then_some(ports),
            }
        })
        .collect()
}

/// Cuts the subsets down to [`MAX_CAPACITY`] addresses as upstream does:
/// ready addresses are kept before not-ready ones, and the cut is shared
/// among subsets in proportion to their size. Whether anything was cut.
pub fn truncate(subsets: &mut [EndpointSubset]) -> bool {
    let count = |list: &Option<Vec<EndpointAddress>>| list.as_ref().map_or(0, Vec::len);
    let total_ready: usize = subsets.iter().map(|s| count(&s.addresses)).sum();
    let total_not_ready: usize = subsets.iter().map(|s| count(&s.not_ready_addresses)).sum();
    if total_ready + total_not_ready <= MAX_CAPACITY {
        return false;
    }
    let truncate_ready = total_ready > MAX_CAPACITY;
    let (room, total) = if truncate_ready {
        (MAX_CAPACITY, total_ready)
    } else {
        (MAX_CAPACITY - total_ready, total_not_ready)
    };
    let mut left = room;
    for subset in subsets.iter_mut() {
        let in_subset = if truncate_ready {
            count(&subset.addresses)
        } else {
            count(&subset.not_ready_addresses)
        };
        // Each subset's share is rounded up; the last ones get what is left.
        let share = (in_subset * room).div_ceil(total).min(left);
        if truncate_ready {
            if let Some(addresses) = subset.addresses.as_mut() {
                addresses.truncate(share);
            }
            subset.not_ready_addresses = None;
            left -= count(&subset.addresses);
        } else {
            if let Some(addresses) = subset.not_ready_addresses.as_mut() {
                addresses.truncate(share);
            }
            left -= count(&subset.not_ready_addresses);
        }
    }
    true
}

/// Whether two lists of subsets say the same, ignoring the pods'
/// resourceVersions in target references.
pub fn same_subsets(a: &[EndpointSubset], b: &[EndpointSubset]) -> bool {
    fn normalized(subsets: &[EndpointSubset]) -> Vec<EndpointSubset> {
        let mut subsets = subsets.to_vec();
        for subset in &mut subsets {
            for address in subset
                .addresses
                .iter_mut()
                .flatten()
                .chain(subset.not_ready_addresses.iter_mut().flatten())
            {
                if let Some(target) = address.target_ref.as_mut() {
                    target.resource_version = None;
                }
            }
            for list in [&mut subset.addresses, &mut subset.not_ready_addresses] {
                if list.as_ref().is_some_and(Vec::is_empty) {
                    *list = None;
                }
            }
            if subset.ports.as_ref().is_some_and(Vec::is_empty) {
                subset.ports = None;
            }
        }
        subsets
    }
    normalized(a) == normalized(b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{
        Container, ContainerPort, PodCondition, PodSpec, PodStatus, ServiceSpec,
    };
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
    use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

    fn pod(name: &str, ip: &str, ready: bool, http_port: Option<i32>) -> Arc<Pod> {
        Arc::new(Pod {
            metadata: ObjectMeta {
                name: Some(name.into()),
                namespace: Some("default".into()),
                uid: Some(format!("uid-{name}")),
                ..ObjectMeta::default()
            },
            spec: Some(PodSpec {
                node_name: Some("sim-0".into()),
                containers: vec![Container {
                    name: "c".into(),
                    ports: http_port.map(|number| {
                        vec![ContainerPort {
                            name: Some("http".into()),
                            container_port: number,
                            protocol: Some("TCP".into()),
                            ..ContainerPort::default()
                        }]
                    }),
                    ..Container::default()
                }],
                ..PodSpec::default()
            }),
            status: Some(PodStatus {
                phase: Some("Running".into()),
                pod_ip: Some(ip.into()),
                conditions: Some(vec![PodCondition {
                    type_: "Ready".into(),
                    status: if ready { "True" } else { "False" }.into(),
                    ..PodCondition::default()
                }]),
                ..PodStatus::default()
            }),
        })
    }

    fn service(target: IntOrString, publish_not_ready: bool) -> Service {
        Service {
            metadata: ObjectMeta {
                name: Some("web".into()),
                namespace: Some("default".into()),
                ..ObjectMeta::default()
            },
            spec: Some(ServiceSpec {
                cluster_ip: Some("10.43.0.10".into()),
                selector: Some([("app".to_string(), "web".to_string())].into()),
                publish_not_ready_addresses: Some(publish_not_ready),
                ports: Some(vec![ServicePort {
                    name: Some("http".into()),
                    port: 80,
                    protocol: Some("TCP".into()),
                    target_port: Some(target),
                    ..ServicePort::default()
                }]),
                ..ServiceSpec::default()
            }),
            ..Service::default()
        }
    }

    fn ips(list: &Option<Vec<EndpointAddress>>) -> Vec<&str> {
        list.iter().flatten().map(|a| a.ip.as_str()).collect()
    }

    #[test]
    fn ready_and_not_ready_pods_share_a_subset() {
        let pods = [
            pod("b", "10.42.0.2", true, None),
            pod("a", "10.42.0.1", true, None),
            pod("c", "10.42.0.3", false, None),
        ];
        let subsets = desired_subsets(&service(IntOrString::Int(8080), false), &pods);
        assert_eq!(subsets.len(), 1);
        assert_eq!(ips(&subsets[0].addresses), ["10.42.0.1", "10.42.0.2"]);
        assert_eq!(ips(&subsets[0].not_ready_addresses), ["10.42.0.3"]);
        let ports = subsets[0].ports.as_ref().unwrap();
        assert_eq!(
            (ports[0].name.as_deref(), ports[0].port),
            (Some("http"), 8080)
        );
        let address = &subsets[0].addresses.as_ref().unwrap()[0];
        assert_eq!(address.node_name.as_deref(), Some("sim-0"));
        let target = address.target_ref.as_ref().unwrap();
        assert_eq!(
            (target.kind.as_deref(), target.name.as_deref()),
            (Some("Pod"), Some("a"))
        );
    }

    #[test]
    fn publish_not_ready_addresses_lists_all_as_ready() {
        let pods = [pod("a", "10.42.0.1", false, None)];
        let subsets = desired_subsets(&service(IntOrString::Int(8080), true), &pods);
        assert_eq!(ips(&subsets[0].addresses), ["10.42.0.1"]);
        assert!(subsets[0].not_ready_addresses.is_none());
    }

    #[test]
    fn pods_group_by_the_port_their_named_target_port_resolves_to() {
        let pods = [
            pod("a", "10.42.0.1", true, Some(8080)),
            pod("b", "10.42.0.2", true, Some(9090)),
            pod("c", "10.42.0.3", true, Some(8080)),
            pod("d", "10.42.0.4", true, None),
        ];
        let subsets = desired_subsets(&service(IntOrString::String("http".into()), false), &pods);
        assert_eq!(subsets.len(), 2, "{subsets:?}");
        let by_port: BTreeMap<i32, Vec<&str>> = subsets
            .iter()
            .map(|s| (s.ports.as_ref().unwrap()[0].port, ips(&s.addresses)))
            .collect();
        assert_eq!(by_port[&8080], ["10.42.0.1", "10.42.0.3"]);
        assert_eq!(by_port[&9090], ["10.42.0.2"]);
    }

    #[test]
    fn terminating_and_addressless_pods_are_left_out() {
        let mut going = (*pod("a", "10.42.0.1", true, None)).clone();
        going.metadata.deletion_timestamp =
            Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
                k8s_openapi::jiff::Timestamp::now(),
            ));
        let mut pending = (*pod("b", "", false, None)).clone();
        pending.status.as_mut().unwrap().pod_ip = None;
        let subsets = desired_subsets(
            &service(IntOrString::Int(80), false),
            &[Arc::new(going), Arc::new(pending)],
        );
        assert!(subsets.is_empty(), "{subsets:?}");
    }

    #[test]
    fn repack_merges_ports_offered_by_the_same_addresses() {
        let address = |ip: &str| EndpointAddress {
            ip: ip.into(),
            ..EndpointAddress::default()
        };
        let port = |number: i32| EndpointPort {
            port: number,
            ..EndpointPort::default()
        };
        let subsets = [
            EndpointSubset {
                addresses: Some(vec![address("10.0.0.1")]),
                ports: Some(vec![port(80)]),
                ..EndpointSubset::default()
            },
            EndpointSubset {
                addresses: Some(vec![address("10.0.0.1")]),
                ports: Some(vec![port(443)]),
                ..EndpointSubset::default()
            },
            // Not ready for port 80 wins over ready.
            EndpointSubset {
                not_ready_addresses: Some(vec![address("10.0.0.2")]),
                ports: Some(vec![port(80)]),
                ..EndpointSubset::default()
            },
            EndpointSubset {
                addresses: Some(vec![address("10.0.0.2")]),
                ports: Some(vec![port(80)]),
                ..EndpointSubset::default()
            },
        ];
        let packed = repack(&subsets);
        assert_eq!(packed.len(), 2, "{packed:?}");
        let of = |number: i32| {
            packed
                .iter()
                .find(|s| s.ports.as_ref().unwrap().iter().any(|p| p.port == number))
                .unwrap()
        };
        assert_eq!(ips(&of(80).addresses), ["10.0.0.1"]);
        assert_eq!(ips(&of(80).not_ready_addresses), ["10.0.0.2"]);
        assert_eq!(ips(&of(443).addresses), ["10.0.0.1"]);
        assert!(of(443).not_ready_addresses.is_none());
    }

    #[test]
    fn headless_services_without_ports_keep_their_addresses() {
        let mut headless = service(IntOrString::Int(80), false);
        let spec = headless.spec.as_mut().unwrap();
        spec.cluster_ip = Some("None".into());
        spec.ports = None;
        let subsets = desired_subsets(&headless, &[pod("a", "10.42.0.1", true, None)]);
        assert_eq!(subsets.len(), 1);
        assert_eq!(ips(&subsets[0].addresses), ["10.42.0.1"]);
        assert!(subsets[0].ports.is_none());
    }

    #[test]
    fn over_capacity_keeps_ready_addresses_first() {
        let addresses = |prefix: &str, count: usize| {
            Some(
                (0..count)
                    .map(|i| EndpointAddress {
                        ip: format!("{prefix}.{}.{}", i / 250, i % 250),
                        ..EndpointAddress::default()
                    })
                    .collect::<Vec<_>>(),
            )
        };
        let mut subsets = vec![
            EndpointSubset {
                addresses: addresses("10.1", 600),
                not_ready_addresses: addresses("10.2", 300),
                ..EndpointSubset::default()
            },
            EndpointSubset {
                addresses: addresses("10.3", 200),
                not_ready_addresses: addresses("10.4", 100),
                ..EndpointSubset::default()
            },
        ];
        assert!(truncate(&mut subsets));
        let ready: usize = subsets.iter().map(|s| ips(&s.addresses).len()).sum();
        let not_ready: usize = subsets
            .iter()
            .map(|s| ips(&s.not_ready_addresses).len())
            .sum();
        assert_eq!((ready, not_ready), (800, 200));
        // 200 not-ready places shared 3:1.
        assert_eq!(ips(&subsets[0].not_ready_addresses).len(), 150);
        assert_eq!(ips(&subsets[1].not_ready_addresses).len(), 50);

        let mut small = vec![EndpointSubset {
            addresses: addresses("10.1", 10),
            ..EndpointSubset::default()
        }];
        assert!(!truncate(&mut small));
    }

    #[test]
    fn over_capacity_of_ready_addresses_drops_not_ready_ones() {
        let many = (0..1500)
            .map(|i| EndpointAddress {
                ip: format!("10.1.{}.{}", i / 250, i % 250),
                ..EndpointAddress::default()
            })
            .collect();
        let mut subsets = vec![EndpointSubset {
            addresses: Some(many),
            not_ready_addresses: Some(vec![EndpointAddress::default()]),
            ..EndpointSubset::default()
        }];
        assert!(truncate(&mut subsets));
        assert_eq!(ips(&subsets[0].addresses).len(), MAX_CAPACITY);
        assert!(subsets[0].not_ready_addresses.is_none());
    }
}
