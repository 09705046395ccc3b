//! Resource amounts as the scheduler counts them: what a pod requests
//! (upstream's `resourcehelper.PodRequests`) and what a node offers.

use std::collections::BTreeMap;

use capstan_api::validation::quantity::Quantity;
use k8s_openapi::api::core::v1::{Container, Node, Pod};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity as ApiQuantity;

/// The CPU a container without a CPU request counts as when scoring
/// (upstream's `DefaultMilliCPURequest`).
pub const DEFAULT_MILLI_CPU_REQUEST: i64 = 100;
/// The memory a container without a memory request counts as when scoring
/// (upstream's `DefaultMemoryRequest`, 200 MiB).
pub const DEFAULT_MEMORY_REQUEST: i64 = 200 * 1024 * 1024;

/// An amount of each resource: CPU in millicores, the rest in units.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Resources {
    pub milli_cpu: i64,
    pub memory: i64,
    pub ephemeral_storage: i64,
    /// Only meaningful for node allocatable: how many pods fit.
    pub allowed_pods: i64,
    /// Extended resources, hugepages and attachable volumes.
    pub scalar: BTreeMap<String, i64>,
}

impl Resources {
    /// Reads a resource list (requests, allocatable, overhead).
    pub fn from_list(list: Option<&BTreeMap<String, ApiQuantity>>) -> Resources {
        let mut resources = Resources::default();
        resources.add_list(list);
        resources
    }

    fn add_list(&mut self, list: Option<&BTreeMap<String, ApiQuantity>>) {
        for (name, quantity) in list.into_iter().flatten() {
            let Ok(quantity) = Quantity::parse(&quantity.0) else {
                continue;
            };
            match name.as_str() {
                "cpu" => self.milli_cpu = self.milli_cpu.saturating_add(quantity.milli_value()),
                "memory" => self.memory = self.memory.saturating_add(quantity.value()),
                "ephemeral-storage" => {
                    self.ephemeral_storage = self.ephemeral_storage.saturating_add(quantity.value())
                }
                "pods" => self.allowed_pods = self.allowed_pods.saturating_add(quantity.value()),
                other if is_scalar_resource(other) => {
                    let entry = self.scalar.entry(other.to_string()).or_default();
                    *entry = entry.saturating_add(quantity.value());
                }
                _ => {}
            }
        }
    }

    pub fn add(&mut self, other: &Resources) {
        self.milli_cpu = self.milli_cpu.saturating_add(other.milli_cpu);
        self.memory = self.memory.saturating_add(other.memory);
        self.ephemeral_storage = self
            .ephemeral_storage
            .saturating_add(other.ephemeral_storage);
        self.allowed_pods = self.allowed_pods.saturating_add(other.allowed_pods);
        for (name, value) in &other.scalar {
            let entry = self.scalar.entry(name.clone()).or_default();
            *entry = entry.saturating_add(*value);
        }
    }

    pub fn subtract(&mut self, other: &Resources) {
        self.milli_cpu = self.milli_cpu.saturating_sub(other.milli_cpu);
        self.memory = self.memory.saturating_sub(other.memory);
        self.ephemeral_storage = self
            .ephemeral_storage
            .saturating_sub(other.ephemeral_storage);
        self.allowed_pods = self.allowed_pods.saturating_sub(other.allowed_pods);
        for (name, value) in &other.scalar {
            let entry = self.scalar.entry(name.clone()).or_default();
            *entry = entry.saturating_sub(*value);
        }
        self.scalar.retain(|_, value| *value != 0);
    }

    /// Each resource the larger of the two (init containers against the
    /// rest of the pod).
    fn set_max(&mut self, other: &Resources) {
        self.milli_cpu = self.milli_cpu.max(other.milli_cpu);
        self.memory = self.memory.max(other.memory);
        self.ephemeral_storage = self.ephemeral_storage.max(other.ephemeral_storage);
        for (name, value) in &other.scalar {
            let entry = self.scalar.entry(name.clone()).or_default();
            *entry = (*entry).max(*value);
        }
    }

    pub fn scalar(&self, name: &str) -> i64 {
        self.scalar.get(name).copied().unwrap_or(0)
    }

    pub fn is_zero(&self) -> bool {
        self.milli_cpu == 0
            && self.memory == 0
            && self.ephemeral_storage == 0
            && self.scalar.values().all(|v| *v == 0)
    }
}

/// Upstream's `IsScalarResourceName`: extended resources (a domain other
/// than kubernetes.io), hugepages and attachable volumes.
pub fn is_scalar_resource(name: &str) -> bool {
    if name.starts_with("hugepages-") || name.starts_with("attachable-volumes-") {
        return true;
    }
    match name.split_once('/') {
        Some((domain, _)) => {
            !(domain == "kubernetes.io" || domain.ends_with(".kubernetes.io"))
                || domain == "requests"
        }
        None => false,
    }
}

/// What a pod asks of a node.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PodRequests {
    /// Filtered against allocatable minus what the node's pods request.
    pub requests: Resources,
    /// Requests with upstream's defaults for containers asking for no CPU or
    /// memory: what scoring counts, so empty pods still spread.
    pub non_zero: Resources,
}

impl PodRequests {
    pub fn of(pod: &Pod) -> PodRequests {
        let Some(spec) = pod.spec.as_ref() else {
            return PodRequests::default();
        };
        let overhead = Resources::from_list(spec.overhead.as_ref());
        let mut requests = aggregate(&spec.containers, spec.init_containers.as_deref(), false);
        let mut non_zero = aggregate(&spec.containers, spec.init_containers.as_deref(), true);
        requests.add(&overhead);
        non_zero.add(&overhead);
        PodRequests { requests, non_zero }
    }
}

/// Upstream's `PodRequests`: the app containers and sidecars (restartable
/// init containers) add up; each ordinary init container runs alone beside
/// the sidecars started before it, so the pod needs the larger of the two.
fn aggregate(containers: &[Container], init: Option<&[Container]>, non_zero: bool) -> Resources {
    let mut total = Resources::default();
    for container in containers {
        total.add(&container_requests(container, non_zero));
    }
    let mut sidecars = Resources::default();
    let mut init_peak = Resources::default();
    for container in init.into_iter().flatten() {
        let requests = container_requests(container, non_zero);
        if container.restart_policy.as_deref() == Some("Always") {
            sidecars.add(&requests);
            let mut with_sidecars = sidecars.clone();
            with_sidecars.set_max(&init_peak);
            init_peak = with_sidecars;
        } else {
            let mut alone = requests;
            alone.add(&sidecars);
            init_peak.set_max(&alone);
        }
    }
    total.add(&sidecars);
    total.set_max(&init_peak);
    total
}

fn container_requests(container: &Container, non_zero: bool) -> Resources {
    let requests = container
        .resources
        .as_ref()
        .and_then(|r| r.requests.as_ref());
    let mut resources = Resources::from_list(requests);
    if non_zero {
        let asks = |name: &str| requests.is_some_and(|r| r.contains_key(name));
        if !asks("cpu") {
            resources.milli_cpu = DEFAULT_MILLI_CPU_REQUEST;
        }
        if !asks("memory") {
            resources.memory = DEFAULT_MEMORY_REQUEST;
        }
    }
    resources
}

/// What a node offers pods: `status.allocatable` (a node reporting none
/// offers nothing, as upstream).
pub fn node_allocatable(node: &Node) -> Resources {
    Resources::from_list(node.status.as_ref().and_then(|s| s.allocatable.as_ref()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(spec: serde_json::Value) -> Pod {
        serde_json::from_value(json!({"metadata": {"name": "p"}, "spec": spec})).unwrap()
    }

    fn container(name: &str, cpu: &str, memory: &str) -> serde_json::Value {
        json!({"name": name, "image": "x", "resources": {"requests": {"cpu": cpu, "memory": memory}}})
    }

    #[test]
    fn app_containers_add_up() {
        let p = pod(
            json!({"containers": [container("a", "100m", "1Gi"), container("b", "1", "512Mi")]}),
        );
        let r = PodRequests::of(&p).requests;
        assert_eq!(r.milli_cpu, 1100);
        assert_eq!(r.memory, 1536 * 1024 * 1024);
    }

    #[test]
    fn an_init_container_larger_than_the_app_containers_sets_the_request() {
        let p = pod(json!({
            "initContainers": [container("init", "2", "64Mi")],
            "containers": [container("a", "500m", "1Gi"), container("b", "500m", "1Gi")],
        }));
        let r = PodRequests::of(&p).requests;
        assert_eq!(r.milli_cpu, 2000, "max of init (2) and the sum of apps (1)");
        assert_eq!(r.memory, 2 * 1024 * 1024 * 1024, "apps' memory is larger");
    }

    #[test]
    fn sidecars_add_to_the_app_containers_and_to_later_init_containers() {
        let mut sidecar = container("side", "300m", "100Mi");
        sidecar["restartPolicy"] = json!("Always");
        let p = pod(json!({
            "initContainers": [sidecar, container("init", "1", "10Mi")],
            "containers": [container("a", "200m", "10Mi")],
        }));
        let r = PodRequests::of(&p).requests;
        // init after the sidecar needs 1 + 0.3; apps with the sidecar 0.5.
        assert_eq!(r.milli_cpu, 1300);
        assert_eq!(r.memory, 110 * 1024 * 1024);
    }

    #[test]
    fn overhead_is_added() {
        let p = pod(json!({
            "containers": [container("a", "100m", "10Mi")],
            "overhead": {"cpu": "250m", "memory": "64Mi"},
        }));
        let r = PodRequests::of(&p).requests;
        assert_eq!(r.milli_cpu, 350);
        assert_eq!(r.memory, 74 * 1024 * 1024);
    }

    #[test]
    fn containers_without_requests_count_as_defaults_when_scoring() {
        let p = pod(json!({"containers": [{"name": "a", "image": "x"}]}));
        let r = PodRequests::of(&p);
        assert!(r.requests.is_zero());
        assert_eq!(r.non_zero.milli_cpu, DEFAULT_MILLI_CPU_REQUEST);
        assert_eq!(r.non_zero.memory, DEFAULT_MEMORY_REQUEST);
    }

    #[test]
    fn extended_resources_are_scalar_and_native_ones_are_not() {
        assert!(is_scalar_resource("example.com/gpu"));
        assert!(is_scalar_resource("nvidia.com/gpu"));
        assert!(is_scalar_resource("hugepages-2Mi"));
        assert!(!is_scalar_resource("kubernetes.io/something"));
        assert!(!is_scalar_resource("cpu"));
    }
}
