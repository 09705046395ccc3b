//! Rule generation and application at scale: 1,000 services with 10 endpoints each.
//!
//! Prints the time to build the model and render the rules, to apply the full ruleset with
//! nft in a fresh network namespace, and to apply incremental updates (one EndpointSlice; 100
//! services). Needs root and nft for the apply figures; without them only the pure part runs.
//!
//! `cargo bench -p capstan-proxy --bench rules`

use capstan_nft::testing::bench::{
    apply_full_in_fresh_netns, apply_update, build_and_plan, no_change,
};
use capstan_nft::Ruleset;
use capstan_proxy::cidr::Ipv4Cidr;
use capstan_proxy::model::ProxyModel;
use capstan_proxy::render::render;
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use serde_json::json;

const SERVICES: usize = 1000;
const ENDPOINTS_PER_SERVICE: usize = 10;
const TABLE: &str = "capstan-proxy";
const NODE: &str = "node-0";
/// Repetitions of the pure part; the best is reported.
const RUNS: usize = 5;

fn service(index: usize) -> Service {
    // Every tenth service is a NodePort, every twentieth has session affinity.
    let mut spec = json!({
        "clusterIP": format!("10.43.{}.{}", index / 250, index % 250 + 1),
        "ports": [{"name": "http", "port": 80, "protocol": "TCP"}],
    });
    if index.is_multiple_of(10) {
        spec["type"] = json!("NodePort");
        spec["ports"][0]["nodePort"] = json!(30000 + index);
    }
    if index.is_multiple_of(20) {
        spec["sessionAffinity"] = json!("ClientIP");
    }
    serde_json::from_value(json!({
        "metadata": {"namespace": format!("ns-{}", index % 50), "name": format!("svc-{index}")},
        "spec": spec,
    }))
    .expect("Service")
}

/// The slice of service `index`; `generation` shifts its endpoint addresses.
fn slice(index: usize, generation: usize) -> EndpointSlice {
    let endpoints: Vec<_> = (0..ENDPOINTS_PER_SERVICE)
        .map(|n| {
            let host = index * ENDPOINTS_PER_SERVICE + n + generation * 7;
            json!({
                "addresses": [format!("10.42.{}.{}", host / 250 % 250, host % 250 + 1)],
                "nodeName": format!("node-{}", n % 3),
            })
        })
        .collect();
    serde_json::from_value(json!({
        "metadata": {"namespace": format!("ns-{}", index % 50), "name": format!("svc-{index}-abcde"),
                     "labels": {"kubernetes.io/service-name": format!("svc-{index}")}},
        "addressType": "IPv4",
        "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
        "endpoints": endpoints,
    }))
    .expect("EndpointSlice")
}

fn build(
    services: &[Service],
    slices: &[EndpointSlice],
    cidrs: &[Ipv4Cidr],
) -> (ProxyModel, Ruleset) {
    let model = ProxyModel::build(services, slices, NODE);
    let ruleset = render(&model, cidrs);
    (model, ruleset)
}

fn main() {
    let cidrs: Vec<Ipv4Cidr> = vec!["10.42.0.0/16".parse().expect("cidr")];
    let services: Vec<Service> = (0..SERVICES).map(service).collect();
    let mut slices: Vec<EndpointSlice> = (0..SERVICES).map(|i| slice(i, 0)).collect();

    println!("{SERVICES} services x {ENDPOINTS_PER_SERVICE} endpoints");

    // (a) model + render + transaction text, best of RUNS.
    let (_, applied, full) = build_and_plan(
        RUNS,
        TABLE,
        || build(&services, &slices, &cidrs),
        |model| {
            let ports = model.service_ports.len();
            format!(
                "{ports} service ports, {} endpoints",
                model.endpoint_count()
            )
        },
    );

    // (b) the full ruleset into an empty namespace, then again over itself (a restart).
    let Some(netns) = apply_full_in_fresh_netns(&full) else {
        return;
    };
    let nft_command = netns.nft();

    // (c) one EndpointSlice changes.
    slices[500] = slice(500, 1);
    let applied = apply_update(
        "(c) one EndpointSlice:",
        TABLE,
        &nft_command,
        &applied,
        || build(&services, &slices, &cidrs).1,
    );

    // (d) 100 services change.
    for index in (0..SERVICES).step_by(SERVICES / 100) {
        slices[index] = slice(index, 2);
    }
    let applied = apply_update("(d) 100 services:", TABLE, &nft_command, &applied, || {
        build(&services, &slices, &cidrs).1
    });

    // Nothing changed: no nft run at all.
    no_change(TABLE, &applied, || build(&services, &slices, &cidrs).1);
}
