use super::*;
use k8s_openapi::api::core::v1::{
    Container, ContainerPort, PodCondition, PodSpec, PodStatus, ServicePort, ServiceSpec,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

fn service() -> Service {
    Service {
        metadata: ObjectMeta {
            name: Some("web".into()),
            namespace: Some("default".into()),
            uid: Some("svc-uid".into()),
            labels: Some([("tier".to_string(), "front".to_string())].into()),
            ..ObjectMeta::default()
        },
        spec: Some(ServiceSpec {
            cluster_ip: Some("10.43.0.10".into()),
            ip_families: Some(vec!["IPv4".into()]),
            selector: Some([("app".to_string(), "web".to_string())].into()),
            ports: Some(vec![ServicePort {
                name: Some("http".into()),
                port: 80,
                protocol: Some("TCP".into()),
                target_port: Some(IntOrString::String("http".into())),
                ..ServicePort::default()
            }]),
            ..ServiceSpec::default()
        }),
        ..Service::default()
    }
}

fn pod(index: usize, ready: bool, port: i32) -> Arc<Pod> {
    Arc::new(Pod {
        metadata: ObjectMeta {
            name: Some(format!("web-{index}")),
            namespace: Some("default".into()),
            uid: Some(format!("uid-{index}")),
            ..ObjectMeta::default()
        },
        spec: Some(PodSpec {
            node_name: Some(format!("sim-{}", index % 3)),
            containers: vec![Container {
                name: "web".into(),
                ports: Some(vec![ContainerPort {
                    name: Some("http".into()),
                    container_port: port,
                    protocol: Some("TCP".into()),
                    ..ContainerPort::default()
                }]),
                ..Container::default()
            }],
            ..PodSpec::default()
        }),
        status: Some(PodStatus {
            phase: Some("Running".into()),
            pod_ip: Some(format!("10.42.{}.{}", index / 200, index % 200 + 2)),
            conditions: Some(vec![PodCondition {
                type_: "Ready".into(),
                status: if ready { "True" } else { "False" }.into(),
                ..PodCondition::default()
            }]),
            ..PodStatus::default()
        }),
    })
}

fn nodes() -> BTreeMap<String, BTreeMap<String, String>> {
    (0..3)
        .map(|i| {
            let labels = if i == 0 {
                [(LABEL_ZONE.to_string(), "zone-a".to_string())].into()
            } else {
                BTreeMap::new()
            };
            (format!("sim-{i}"), labels)
        })
        .collect()
}

/// Gives planned slices names, as the API server would, to feed them back.
fn created(plan: Plan) -> Vec<Arc<EndpointSlice>> {
    plan.create
        .into_iter()
        .enumerate()
        .map(|(i, mut slice)| {
            slice.metadata.name = Some(format!("web-{i:05}"));
            slice.metadata.resource_version = Some("1".into());
            Arc::new(slice)
        })
        .collect()
}

fn endpoint_count(slices: &[Arc<EndpointSlice>]) -> usize {
    slices.iter().map(|s| s.endpoints.len()).sum()
}

#[test]
fn new_slices_carry_labels_owner_conditions_and_zone() {
    let pods = [pod(0, true, 8080), pod(1, false, 8080)];
    let plan = plan(&service(), &pods, &[], &nodes(), MAX_ENDPOINTS_PER_SLICE);
    assert!(plan.update.is_empty() && plan.delete.is_empty());
    assert_eq!(plan.create.len(), 1);
    let slice = &plan.create[0];
    assert_eq!(slice.metadata.generate_name.as_deref(), Some("web-"));
    assert_eq!(slice.address_type, "IPv4");
    let labels = slice.labels();
    assert_eq!(labels[LABEL_SERVICE_NAME], "web");
    assert_eq!(labels[LABEL_MANAGED_BY], CONTROLLER_NAME);
    assert_eq!(labels["tier"], "front");
    assert!(!labels.contains_key(LABEL_HEADLESS));
    let owner = &slice.owner_references()[0];
    assert_eq!(
        (owner.kind.as_str(), owner.uid.as_str()),
        ("Service", "svc-uid")
    );
    let port = &slice.ports.as_ref().unwrap()[0];
    assert_eq!(
        (port.name.as_deref(), port.port),
        (Some("http"), Some(8080))
    );
    let by_pod: BTreeMap<String, &Endpoint> = slice
        .endpoints
        .iter()
        .map(|e| (e.target_ref.as_ref().unwrap().name.clone().unwrap(), e))
        .collect();
    let ready = by_pod["web-0"].conditions.as_ref().unwrap();
    assert_eq!(
        (ready.ready, ready.serving, ready.terminating),
        (Some(true), Some(true), Some(false))
    );
    assert_eq!(by_pod["web-0"].zone.as_deref(), Some("zone-a"));
    assert_eq!(by_pod["web-0"].node_name.as_deref(), Some("sim-0"));
    assert_eq!(
        by_pod["web-1"].conditions.as_ref().unwrap().ready,
        Some(false)
    );
    assert_eq!(by_pod["web-1"].zone, None);
}

#[test]
fn terminating_pods_stay_listed_as_terminating() {
    let mut going = (*pod(0, true, 8080)).clone();
    going.metadata.deletion_timestamp = Some(Time(jiff::Timestamp::now()));
    let plan = plan(
        &service(),
        &[Arc::new(going)],
        &[],
        &nodes(),
        MAX_ENDPOINTS_PER_SLICE,
    );
    let conditions = plan.create[0].endpoints[0].conditions.clone().unwrap();
    assert_eq!(
        (conditions.ready, conditions.serving, conditions.terminating),
        (Some(false), Some(true), Some(true))
    );
}

#[test]
fn at_most_a_hundred_endpoints_a_slice() {
    let pods: Vec<_> = (0..250).map(|i| pod(i, true, 8080)).collect();
    let first = plan(&service(), &pods, &[], &nodes(), MAX_ENDPOINTS_PER_SLICE);
    let mut sizes: Vec<usize> = first.create.iter().map(|s| s.endpoints.len()).collect();
    sizes.sort();
    assert_eq!(sizes, [50, 100, 100]);
}

#[test]
fn an_unchanged_service_needs_no_writes() {
    let pods: Vec<_> = (0..150).map(|i| pod(i, true, 8080)).collect();
    let existing = created(plan(
        &service(),
        &pods,
        &[],
        &nodes(),
        MAX_ENDPOINTS_PER_SLICE,
    ));
    let again = plan(
        &service(),
        &pods,
        &existing,
        &nodes(),
        MAX_ENDPOINTS_PER_SLICE,
    );
    assert!(again.create.is_empty() && again.update.is_empty() && again.delete.is_empty());
}

#[test]
fn one_pod_changing_rewrites_only_its_slice() {
    let mut pods: Vec<_> = (0..150).map(|i| pod(i, true, 8080)).collect();
    let existing = created(plan(
        &service(),
        &pods,
        &[],
        &nodes(),
        MAX_ENDPOINTS_PER_SLICE,
    ));
    pods[7] = pod(7, false, 8080);
    let next = plan(
        &service(),
        &pods,
        &existing,
        &nodes(),
        MAX_ENDPOINTS_PER_SLICE,
    );
    assert!(next.create.is_empty() && next.delete.is_empty());
    assert_eq!(next.update.len(), 1);
    let holder = existing
        .iter()
        .find(|s| {
            s.endpoints.iter().any(|e| {
                e.addresses
                    == pods[7]
                        .status
                        .as_ref()
                        .unwrap()
                        .pod_ip
                        .clone()
                        .into_iter()
                        .collect::<Vec<_>>()
            })
        })
        .unwrap();
    assert_eq!(next.update[0].metadata.name, holder.metadata.name);
    assert_eq!(next.update[0].endpoints.len(), holder.endpoints.len());
}

#[test]
fn new_pods_fill_an_existing_slice_before_a_new_one() {
    let pods: Vec<_> = (0..30).map(|i| pod(i, true, 8080)).collect();
    let existing = created(plan(
        &service(),
        &pods,
        &[],
        &nodes(),
        MAX_ENDPOINTS_PER_SLICE,
    ));
    let more: Vec<_> = (0..40).map(|i| pod(i, true, 8080)).collect();
    let next = plan(
        &service(),
        &more,
        &existing,
        &nodes(),
        MAX_ENDPOINTS_PER_SLICE,
    );
    assert!(next.create.is_empty() && next.delete.is_empty());
    assert_eq!(next.update.len(), 1);
    assert_eq!(next.update[0].endpoints.len(), 40);
}

#[test]
fn scaling_to_zero_leaves_one_placeholder() {
    let pods: Vec<_> = (0..3).map(|i| pod(i, true, 8080)).collect();
    let existing = created(plan(
        &service(),
        &pods,
        &[],
        &nodes(),
        MAX_ENDPOINTS_PER_SLICE,
    ));
    let emptied = plan(
        &service(),
        &[],
        &existing,
        &nodes(),
        MAX_ENDPOINTS_PER_SLICE,
    );
    // The slice is reused as the placeholder rather than deleted and made anew.
    assert!(
        emptied.create.is_empty() && emptied.delete.is_empty(),
        "{emptied:?}"
    );
    assert_eq!(emptied.update.len(), 1);
    assert!(emptied.update[0].endpoints.is_empty());
    assert!(emptied.update[0].ports.as_ref().unwrap().is_empty());
    let placeholder: Vec<_> = emptied.update.into_iter().map(Arc::new).collect();
    let settled = plan(
        &service(),
        &[],
        &placeholder,
        &nodes(),
        MAX_ENDPOINTS_PER_SLICE,
    );
    assert!(settled.create.is_empty() && settled.update.is_empty() && settled.delete.is_empty());
    assert_eq!(endpoint_count(&placeholder), 0);
}

#[test]
fn pods_on_unknown_nodes_wait() {
    let mut lost = (*pod(0, true, 8080)).clone();
    lost.spec.as_mut().unwrap().node_name = Some("gone".into());
    let plan = plan(
        &service(),
        &[Arc::new(lost)],
        &[],
        &nodes(),
        MAX_ENDPOINTS_PER_SLICE,
    );
    assert_eq!(plan.missing_nodes.len(), 1);
    assert!(plan.create.iter().all(|s| s.endpoints.is_empty()));
}

#[test]
fn slices_of_an_older_service_of_the_same_name_are_replaced() {
    let pods = [pod(0, true, 8080)];
    let mut stale = (*created(plan(
        &service(),
        &pods,
        &[],
        &nodes(),
        MAX_ENDPOINTS_PER_SLICE,
    ))[0])
        .clone();
    stale.metadata.owner_references.as_mut().unwrap()[0].uid = "old-uid".into();
    let next = plan(
        &service(),
        &pods,
        &[Arc::new(stale)],
        &nodes(),
        MAX_ENDPOINTS_PER_SLICE,
    );
    assert_eq!(next.delete.len(), 1);
    assert_eq!(next.create.len(), 1);
}

#[test]
fn different_target_ports_make_different_slices() {
    let pods = [pod(0, true, 8080), pod(1, true, 9090), pod(2, true, 8080)];
    let plan = plan(&service(), &pods, &[], &nodes(), MAX_ENDPOINTS_PER_SLICE);
    let mut by_port: Vec<(Option<i32>, usize)> = plan
        .create
        .iter()
        .map(|s| (s.ports.as_ref().unwrap()[0].port, s.endpoints.len()))
        .collect();
    by_port.sort();
    assert_eq!(by_port, [(Some(8080), 2), (Some(9090), 1)]);
}

#[test]
fn headless_services_are_marked() {
    let mut headless = service();
    headless.spec.as_mut().unwrap().cluster_ip = Some("None".into());
    let plan = plan(
        &headless,
        &[pod(0, true, 8080)],
        &[],
        &nodes(),
        MAX_ENDPOINTS_PER_SLICE,
    );
    assert_eq!(
        plan.create[0]
            .labels()
            .get(LABEL_HEADLESS)
            .map(String::as_str),
        Some("")
    );
}
