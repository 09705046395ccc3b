//! Objects and queries for the tests.

use std::net::IpAddr;
use std::sync::Arc;

use hickory_proto::op::{Edns, Message, MessageType, Query};
use hickory_proto::rr::{Name, RecordType};
use k8s_openapi::api::core::v1::{Namespace, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use serde_json::{json, Value};

use crate::records::{Records, Zone};

/// The zone of the tests: `cluster.local`, served on 10.43.0.10.
pub(crate) fn zone() -> Arc<Zone> {
    Arc::new(Zone::new("cluster.local", vec!["10.43.0.10".parse().unwrap()]).unwrap())
}

/// A Service with this spec.
pub(crate) fn service(namespace: &str, name: &str, spec: Value) -> Arc<Service> {
    Arc::new(
        serde_json::from_value(json!({
            "metadata": {"namespace": namespace, "name": name},
            "spec": spec,
        }))
        .unwrap(),
    )
}

/// A ClusterIP Service with these addresses and ports.
pub(crate) fn cluster_ip(namespace: &str, name: &str, ips: &[&str], ports: Value) -> Arc<Service> {
    service(
        namespace,
        name,
        json!({"clusterIP": ips[0], "clusterIPs": ips, "ports": ports}),
    )
}

/// An EndpointSlice of `service` with these endpoints and ports.
pub(crate) fn slice(
    namespace: &str,
    name: &str,
    service: &str,
    address_type: &str,
    endpoints: Value,
    ports: Value,
) -> Arc<EndpointSlice> {
    Arc::new(
        serde_json::from_value(json!({
            "metadata": {
                "namespace": namespace,
                "name": name,
                "labels": {"kubernetes.io/service-name": service},
            },
            "addressType": address_type,
            "endpoints": endpoints,
            "ports": ports,
        }))
        .unwrap(),
    )
}

pub(crate) fn namespace(name: &str) -> Arc<Namespace> {
    Arc::new(serde_json::from_value(json!({"metadata": {"name": name}})).unwrap())
}

/// A synced snapshot of these objects in [`zone`].
pub(crate) fn records(
    services: &[Arc<Service>],
    slices: &[Arc<EndpointSlice>],
    namespaces: &[Arc<Namespace>],
) -> Records {
    Records::build(zone(), services, slices, namespaces, true)
}

/// A recursive query for `name`'s `query_type` records.
pub(crate) fn query(name: &str, query_type: RecordType) -> Message {
    let mut query = Message::new();
    query
        .set_id(0x5a5a)
        .set_message_type(MessageType::Query)
        .set_recursion_desired(true)
        .add_query(Query::query(Name::from_ascii(name).unwrap(), query_type));
    query
}

/// [`query`] with an EDNS OPT record advertising `payload` bytes.
pub(crate) fn edns_query(name: &str, query_type: RecordType, payload: u16) -> Message {
    let mut query = query(name, query_type);
    let mut edns = Edns::new();
    edns.set_max_payload(payload);
    query.set_edns(edns);
    query
}

pub(crate) fn ip(text: &str) -> IpAddr {
    text.parse().unwrap()
}

/// A small cluster: a dual-stack ClusterIP Service with one endpoint, a
/// headless StatefulSet-like Service across two slices, ExternalNames, the
/// DNS Service itself.
pub(crate) fn cluster() -> Records {
    let services = vec![
        cluster_ip(
            "default",
            "web",
            &["10.43.0.20", "fd00:43::20"],
            json!([
                {"name": "http", "port": 80, "protocol": "TCP"},
                {"name": "metrics", "port": 9090, "protocol": "UDP"},
            ]),
        ),
        service(
            "default",
            "db",
            json!({"clusterIP": "None", "ports": [{"name": "pg", "port": 5432}]}),
        ),
        service(
            "default",
            "warm",
            json!({"clusterIP": "None", "publishNotReadyAddresses": true}),
        ),
        service("default", "lonely", json!({"clusterIP": "None"})),
        service("default", "bare", json!({"clusterIP": "None"})),
        service(
            "default",
            "ext",
            json!({"type": "ExternalName", "externalName": "example.com"}),
        ),
        service(
            "default",
            "alias",
            json!({"type": "ExternalName", "externalName": "web.default.svc.cluster.local."}),
        ),
        service(
            "default",
            "by-ip",
            json!({"type": "ExternalName", "externalName": "192.0.2.1"}),
        ),
        cluster_ip(
            "kube-system",
            "kube-dns",
            &["10.43.0.10"],
            json!([{"name": "dns", "port": 53, "protocol": "UDP"}]),
        ),
    ];
    let slices = vec![
        slice(
            "default",
            "web-1",
            "web",
            "IPv4",
            json!([{"addresses": ["10.42.0.5"], "conditions": {"ready": true}}]),
            json!([{"name": "http", "port": 8080, "protocol": "TCP"}]),
        ),
        slice(
            "default",
            "db-1",
            "db",
            "IPv4",
            json!([
                {"addresses": ["10.42.0.7"], "hostname": "db-0", "conditions": {"ready": true}},
                {"addresses": ["10.42.0.8"]},
                {"addresses": ["10.42.0.9"], "hostname": "db-2", "conditions": {"ready": false}},
            ]),
            json!([{"name": "pg", "port": 5432, "protocol": "TCP"}]),
        ),
        slice(
            "default",
            "db-2",
            "db",
            "IPv6",
            json!([{"addresses": ["fd00:42::7"], "hostname": "db-1"}]),
            json!([{"name": "pg", "port": 15432, "protocol": "TCP"}]),
        ),
        slice(
            "default",
            "warm-1",
            "warm",
            "IPv4",
            json!([{"addresses": ["10.42.2.1"], "hostname": "warm-0", "conditions": {"ready": false}}]),
            json!([]),
        ),
        slice(
            "default",
            "bare-1",
            "bare",
            "IPv4",
            json!([{"addresses": ["10.42.3.1"]}]),
            json!(null),
        ),
        slice(
            "default",
            "names-1",
            "db",
            "FQDN",
            json!([{"addresses": ["db.example.com"]}]),
            json!([]),
        ),
    ];
    let namespaces = vec![
        namespace("default"),
        namespace("kube-system"),
        namespace("quiet"),
    ];
    records(&services, &slices, &namespaces)
}
