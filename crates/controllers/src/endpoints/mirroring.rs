//! What is keyed by an Endpoints or an EndpointSlice rather than by a
//! Service, which the Service-keyed syncs cannot do once the Service is
//! gone:
//!
//! - removing the Endpoints and EndpointSlices of a deleted Service (the
//!   endpoints controller's cleanup; the slices also go with the Service
//!   through their owner reference);
//! - upstream's EndpointSlice mirroring controller: the Endpoints of a
//!   Service without a selector, made by hand, mirrored into
//!   EndpointSlices so that slice readers see them too;
//! - the `kubernetes` Service's slice, which upstream's API server writes
//!   from its Endpoints (labelled to be skipped by mirroring).

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::api::core::v1::{EndpointAddress, Endpoints};
use k8s_openapi::api::discovery::v1::{Endpoint, EndpointConditions, EndpointPort, EndpointSlice};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, DeleteParams, PostParams};
use kube::runtime::controller::Action;
use kube::runtime::reflector::ObjectRef;
use kube::ResourceExt;

use super::endpoints_sync::{
    CONTROLLER_NAME as ENDPOINTS_CONTROLLER, LABEL_MANAGED_BY as ENDPOINTS_MANAGED_BY,
};
use super::membership::{is_ipv6, selector};
use super::slices::{
    CONTROLLER_NAME, LABEL_MANAGED_BY, LABEL_SERVICE_NAME, MAX_ENDPOINTS_PER_SLICE,
};
use super::{namespace_terminating, Context};
use crate::pods::controller_ref;
use crate::{describe, status_code, Error};

/// The `endpointslice.kubernetes.io/managed-by` value of mirrored slices.
pub const MIRRORING_CONTROLLER: &str = "endpointslicemirroring-controller.k8s.io";
/// The label that keeps Endpoints from being mirrored.
pub const LABEL_SKIP_MIRROR: &str = "endpointslice.kubernetes.io/skip-mirror";
/// Endpoints that hold a leader election record are never mirrored.
const LEADER_ANNOTATION: &str = "control-plane.alpha.kubernetes.io/leader";
/// Annotations not copied to mirrored slices.
const NOT_MIRRORED_ANNOTATIONS: &[&str] = &[
    super::trigger_time::ANNOTATION,
    "kubectl.kubernetes.io/last-applied-configuration",
];
/// The most addresses of one subset that are mirrored (upstream's
/// maxEndpointsPerSubset).
const MAX_MIRRORED_PER_SUBSET: usize = 1000;

/// Syncs what hangs on one Endpoints object.
pub async fn sync_endpoints(
    endpoints: Arc<Endpoints>,
    context: Arc<Context>,
) -> Result<Action, Error> {
    context.ready().await?;
    let namespace = endpoints.namespace().unwrap_or_default();
    let name = endpoints.name_any();
    let service = context.service(&namespace, &name);
    let labels = endpoints.labels();
    if labels.get(ENDPOINTS_MANAGED_BY).map(String::as_str) == Some(ENDPOINTS_CONTROLLER) {
        if service.is_none() {
            delete_endpoints(&context, &namespace, &name).await?;
        }
        return Ok(Action::await_change());
    }
    if labels.get(LABEL_SKIP_MIRROR).map(String::as_str) == Some("true") {
        if namespace == "default" && name == "kubernetes" {
            write_api_server_slice(&context, &endpoints).await?;
        }
        return sync_mirror(&context, &namespace, &name, None).await;
    }
    let mirror = service.as_ref().is_some_and(|s| selector(s).is_none())
        && !endpoints.annotations().contains_key(LEADER_ANNOTATION);
    sync_mirror(&context, &namespace, &name, mirror.then_some(&*endpoints)).await
}

/// Syncs one slice whose owner may be gone.
pub async fn sync_slice(slice: Arc<EndpointSlice>, context: Arc<Context>) -> Result<Action, Error> {
    context.ready().await?;
    let namespace = slice.namespace().unwrap_or_default();
    let labels = slice.labels();
    let Some(service) = labels.get(LABEL_SERVICE_NAME) else {
        return Ok(Action::await_change());
    };
    let orphaned = match labels.get(LABEL_MANAGED_BY).map(String::as_str) {
        Some(CONTROLLER_NAME) => context.service(&namespace, service).is_none(),
        Some(MIRRORING_CONTROLLER) => context
            .endpoints
            .get(&ObjectRef::new(service).within(&namespace))
            .is_none(),
        _ => false,
    };
    if orphaned {
        delete_slice(&context, &namespace, &slice.name_any()).await?;
    }
    Ok(Action::await_change())
}

async fn delete_endpoints(context: &Context, namespace: &str, name: &str) -> Result<(), Error> {
    let api: Api<Endpoints> = Api::namespaced(context.client.clone(), namespace);
    match api.delete(name, &DeleteParams::default()).await {
        Ok(_) => {}
        Err(error) if status_code(&error) == Some(404) => {}
        Err(error) => return Err(error.into()),
    }
    context.endpoints_times.forget(namespace, name);
    context.slices_times.forget(namespace, name);
    Ok(())
}

async fn delete_slice(context: &Context, namespace: &str, name: &str) -> Result<(), Error> {
    let api: Api<EndpointSlice> = Api::namespaced(context.client.clone(), namespace);
    match api.delete(name, &DeleteParams::default()).await {
        Ok(_) => Ok(()),
        Err(error) if status_code(&error) == Some(404) => Ok(()),
        Err(error) => Err(error.into()),
    }
}

/// The endpoint of one address, in one address type, if it is of it.
fn endpoint_of(address: &EndpointAddress, ready: bool, address_type: &str) -> Option<Endpoint> {
    let ip: std::net::IpAddr = address.ip.parse().ok()?;
    if ip.is_ipv6() != (address_type == "IPv6") {
        return None;
    }
    Some(Endpoint {
        addresses: vec![ip.to_string()],
        conditions: Some(EndpointConditions {
            ready: Some(ready),
            ..EndpointConditions::default()
        }),
        target_ref: address.target_ref.clone(),
        node_name: address.node_name.clone(),
        hostname: address.hostname.clone().filter(|h| !h.is_empty()),
        ..Endpoint::default()
    })
}

fn slice_ports(subset_ports: &[k8s_openapi::api::core::v1::EndpointPort]) -> Vec<EndpointPort> {
    subset_ports
        .iter()
        .map(|port| EndpointPort {
            name: Some(port.name.clone().unwrap_or_default()),
            port: Some(port.port),
            protocol: Some(port.protocol.clone().unwrap_or_else(|| "TCP".into())),
            app_protocol: port.app_protocol.clone(),
        })
        .collect()
}

/// The mirrored slices of these Endpoints, without names: one or more for
/// each subset and address type, at most [`MAX_ENDPOINTS_PER_SLICE`]
/// endpoints each.
pub fn mirrored_slices(endpoints: &Endpoints) -> Vec<EndpointSlice> {
    let mut labels = endpoints.labels().clone();
    labels.insert(LABEL_SERVICE_NAME.into(), endpoints.name_any());
    labels.insert(LABEL_MANAGED_BY.into(), MIRRORING_CONTROLLER.into());
    let annotations: BTreeMap<String, String> = endpoints
        .annotations()
        .iter()
        .filter(|(key, _)| !NOT_MIRRORED_ANNOTATIONS.contains(&key.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let mut slices = Vec::new();
    for subset in endpoints.subsets.iter().flatten() {
        let ports = slice_ports(subset.ports.as_deref().unwrap_or_default());
        for address_type in ["IPv4", "IPv6"] {
            let ready = subset.addresses.iter().flatten().map(|a| (a, true));
            let not_ready = subset
                .not_ready_addresses
                .iter()
                .flatten()
                .map(|a| (a, false));
            let all: Vec<Endpoint> = ready
                .chain(not_ready)
                .take(MAX_MIRRORED_PER_SUBSET)
                .filter_map(|(address, ready)| endpoint_of(address, ready, address_type))
                .collect();
            for chunk in all.chunks(MAX_ENDPOINTS_PER_SLICE) {
                slices.push(EndpointSlice {
                    metadata: ObjectMeta {
                        generate_name: Some(format!("{}-", endpoints.name_any())),
                        namespace: endpoints.namespace(),
                        labels: Some(labels.clone()),
                        annotations: (!annotations.is_empty()).then(|| annotations.clone()),
                        owner_references: Some(vec![controller_ref(endpoints)]),
                        ..ObjectMeta::default()
                    },
                    address_type: address_type.into(),
                    endpoints: chunk.to_vec(),
                    ports: Some(ports.clone()),
                });
            }
        }
    }
    slices
}

/// Whether an existing slice already says what a wanted one does.
fn same_slice(existing: &EndpointSlice, wanted: &EndpointSlice) -> bool {
    existing.labels() == wanted.labels()
        && existing.annotations() == wanted.annotations()
        && existing.address_type == wanted.address_type
        && existing.endpoints == wanted.endpoints
        && existing.ports.as_deref().unwrap_or_default()
            == wanted.ports.as_deref().unwrap_or_default()
        && existing.owner_references() == wanted.owner_references()
}

/// Makes the mirrored slices of the Service `name` those of `endpoints`,
/// or none.
async fn sync_mirror(
    context: &Context,
    namespace: &str,
    name: &str,
    endpoints: Option<&Endpoints>,
) -> Result<Action, Error> {
    let mut existing: Vec<Arc<EndpointSlice>> = context
        .slices
        .state()
        .into_iter()
        .filter(|slice| slice.namespace().as_deref() == Some(namespace))
        .filter(|slice| {
            let labels = slice.labels();
            labels.get(LABEL_SERVICE_NAME).map(String::as_str) == Some(name)
                && labels.get(LABEL_MANAGED_BY).map(String::as_str) == Some(MIRRORING_CONTROLLER)
        })
        .collect();
    existing.sort_by_key(|slice| slice.name_any());
    let mut wanted = endpoints.map(mirrored_slices).unwrap_or_default();
    let api: Api<EndpointSlice> = Api::namespaced(context.client.clone(), namespace);
    // Slices already right stay; the others are rewritten in place.
    existing.retain(
        |slice| match wanted.iter().position(|w| same_slice(slice, w)) {
            Some(index) => {
                wanted.remove(index);
                false
            }
            None => true,
        },
    );
    let mut existing = existing.into_iter();
    for mut slice in wanted {
        match existing.next() {
            Some(old) if old.address_type == slice.address_type => {
                slice.metadata.name = old.metadata.name.clone();
                slice.metadata.generate_name = None;
                slice.metadata.resource_version = old.metadata.resource_version.clone();
                api.replace(&old.name_any(), &PostParams::default(), &slice)
                    .await?;
            }
            old => {
                if let Some(old) = old {
                    delete_slice(context, namespace, &old.name_any()).await?;
                }
                match api.create(&PostParams::default(), &slice).await {
                    Ok(_) => {}
                    Err(error) if namespace_terminating(&error) => {}
                    Err(error) => return Err(Error::new(describe(&error))),
                }
            }
        }
    }
    for old in existing {
        delete_slice(context, namespace, &old.name_any()).await?;
    }
    Ok(Action::await_change())
}

/// The `kubernetes` slice as upstream's API server writes it from its
/// Endpoints: named `kubernetes`, labelled with the Service name only, all
/// addresses ready.
pub fn api_server_slice(endpoints: &Endpoints) -> EndpointSlice {
    let subset = endpoints.subsets.iter().flatten().next();
    let addresses: Vec<&EndpointAddress> = subset
        .map(|s| s.addresses.iter().flatten().collect())
        .unwrap_or_default();
    let address_type = if addresses.first().is_some_and(|a| is_ipv6(&a.ip)) {
        "IPv6"
    } else {
        "IPv4"
    };
    EndpointSlice {
        metadata: ObjectMeta {
            name: Some(endpoints.name_any()),
            namespace: endpoints.namespace(),
            labels: Some([(LABEL_SERVICE_NAME.to_string(), endpoints.name_any())].into()),
            ..ObjectMeta::default()
        },
        address_type: address_type.into(),
        endpoints: addresses
            .iter()
            .filter_map(|address| endpoint_of(address, true, address_type))
            .map(|mut endpoint| {
                endpoint.target_ref = None;
                endpoint.node_name = None;
                endpoint.hostname = None;
                endpoint
            })
            .collect(),
        ports: Some(slice_ports(
            subset.and_then(|s| s.ports.as_deref()).unwrap_or_default(),
        )),
    }
}

async fn write_api_server_slice(context: &Context, endpoints: &Endpoints) -> Result<(), Error> {
    let namespace = endpoints.namespace().unwrap_or_default();
    let name = endpoints.name_any();
    let mut wanted = api_server_slice(endpoints);
    let current = context
        .slices
        .get(&ObjectRef::new(&name).within(&namespace));
    let api: Api<EndpointSlice> = Api::namespaced(context.client.clone(), &namespace);
    match current {
        None => match api.create(&PostParams::default(), &wanted).await {
            Ok(_) => Ok(()),
            // Written meanwhile; the watch brings it back here.
            Err(error) if status_code(&error) == Some(409) => Ok(()),
            Err(error) => Err(error.into()),
        },
        Some(current) => {
            let same = current.labels() == wanted.labels()
                && current.address_type == wanted.address_type
                && current.endpoints == wanted.endpoints
                && current.ports == wanted.ports;
            if same {
                return Ok(());
            }
            wanted.metadata = ObjectMeta {
                labels: wanted.metadata.labels.take(),
                ..current.metadata.clone()
            };
            api.replace(&name, &PostParams::default(), &wanted).await?;
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{EndpointPort as CorePort, EndpointSubset};

    fn endpoints(ready: &[&str], not_ready: &[&str]) -> Endpoints {
        let addresses = |ips: &[&str]| {
            Some(
                ips.iter()
                    .map(|ip| EndpointAddress {
                        ip: ip.to_string(),
                        ..EndpointAddress::default()
                    })
                    .collect(),
            )
        };
        Endpoints {
            metadata: ObjectMeta {
                name: Some("external".into()),
                namespace: Some("default".into()),
                uid: Some("uid-1".into()),
                labels: Some([("team".to_string(), "db".to_string())].into()),
                ..ObjectMeta::default()
            },
            subsets: Some(vec![EndpointSubset {
                addresses: addresses(ready),
                not_ready_addresses: addresses(not_ready),
                ports: Some(vec![CorePort {
                    name: Some("sql".into()),
                    port: 5432,
                    ..CorePort::default()
                }]),
            }]),
        }
    }

    #[test]
    fn mirrored_slices_split_by_family_and_keep_readiness() {
        let slices = mirrored_slices(&endpoints(&["192.0.2.1", "2001:db8::1"], &["192.0.2.2"]));
        assert_eq!(slices.len(), 2);
        let v4 = slices.iter().find(|s| s.address_type == "IPv4").unwrap();
        let ready: Vec<(String, Option<bool>)> = v4
            .endpoints
            .iter()
            .map(|e| (e.addresses[0].clone(), e.conditions.as_ref().unwrap().ready))
            .collect();
        assert_eq!(
            ready,
            [
                ("192.0.2.1".to_string(), Some(true)),
                ("192.0.2.2".to_string(), Some(false))
            ]
        );
        let labels = v4.labels();
        assert_eq!(labels[LABEL_SERVICE_NAME], "external");
        assert_eq!(labels[LABEL_MANAGED_BY], MIRRORING_CONTROLLER);
        assert_eq!(labels["team"], "db");
        assert_eq!(v4.owner_references()[0].kind, "Endpoints");
        let port = &v4.ports.as_ref().unwrap()[0];
        assert_eq!(
            (port.port, port.protocol.as_deref()),
            (Some(5432), Some("TCP"))
        );
    }

    #[test]
    fn the_api_server_slice_is_named_after_its_service() {
        let mut kubernetes = endpoints(&["192.0.2.10"], &[]);
        kubernetes.metadata.name = Some("kubernetes".into());
        let slice = api_server_slice(&kubernetes);
        assert_eq!(slice.metadata.name.as_deref(), Some("kubernetes"));
        assert_eq!(
            slice.labels(),
            &BTreeMap::from([(LABEL_SERVICE_NAME.to_string(), "kubernetes".to_string())])
        );
        assert!(slice.metadata.owner_references.is_none());
        assert_eq!(slice.endpoints[0].addresses, ["192.0.2.10"]);
        assert_eq!(
            slice.endpoints[0].conditions.as_ref().unwrap().ready,
            Some(true)
        );
    }
}
