//! The Node object an agent registers and the status it posts: capacity,
//! conditions, addresses and system info, as a kubelet reports them.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::sync::Mutex;

use k8s_openapi::api::core::v1::{
    ContainerImage, DaemonEndpoint, Node, NodeAddress, NodeCondition, NodeDaemonEndpoints,
    NodeSpec, NodeStatus, NodeSystemInfo, Taint,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use k8s_openapi::jiff::Timestamp;

use crate::eviction::Thresholds;
use crate::ipam::PodNetwork;

/// The version nodes report, matching the API server's.
pub const KUBELET_VERSION: &str = concat!("v1.33.0+capstan-", env!("CARGO_PKG_VERSION"));

/// What every node of an agent process has in common.
#[derive(Clone, Debug)]
pub struct NodeTemplate {
    pub cpu: String,
    pub memory: String,
    pub pods: String,
    /// More labels, besides the well-known ones every node gets.
    pub labels: BTreeMap<String, String>,
    /// Taints the node registers with.
    pub taints: Vec<Taint>,
    /// `containerRuntimeVersion` in the node's system info.
    pub runtime_version: String,
    pub os_image: String,
    pub kernel_version: String,
    /// `ephemeral-storage` capacity, where the node knows its disk.
    pub ephemeral_storage: Option<String>,
    /// The machine's ids (`/etc/machine-id`, the boot id); hollow nodes
    /// make theirs up from their names.
    pub machine_id: Option<String>,
    pub boot_id: Option<String>,
    /// The port of the node's endpoint (`daemonEndpoints.kubeletEndpoint`).
    pub kubelet_port: i32,
    /// When the machine's measurements mean pressure.
    pub eviction_hard: Thresholds,
}

impl Default for NodeTemplate {
    fn default() -> NodeTemplate {
        NodeTemplate {
            cpu: "8".into(),
            memory: "32Gi".into(),
            pods: "110".into(),
            labels: BTreeMap::new(),
            taints: Vec::new(),
            runtime_version: "sim://0.1.0".into(),
            os_image: "capstan hollow node".into(),
            kernel_version: "capstan".into(),
            ephemeral_storage: None,
            machine_id: None,
            boot_id: None,
            kubelet_port: 10250,
            eviction_hard: Thresholds::default(),
        }
    }
}

/// One node this process runs: what the pods of that node need to know
/// (addresses) and what the heartbeat keeps (whether to post status).
#[derive(Debug)]
pub struct NodeSlot {
    pub name: Box<str>,
    pub host_ip: Ipv4Addr,
    /// Pod addresses, once node IPAM gave the node a podCIDR.
    pub network: Mutex<Option<PodNetwork>>,
    pub state: Mutex<NodeState>,
}

/// What the agent remembers about its node between heartbeats.
#[derive(Debug, Default)]
pub struct NodeState {
    pub registered: bool,
    pub uid: Option<Box<str>>,
    /// The Ready status last posted and since when it holds.
    pub ready: Option<(bool, Timestamp)>,
    /// The pressures last posted (memory, disk, PID), each since when.
    pub pressures: Option<[(bool, Timestamp); 3]>,
    /// The runtime's and machine's health last posted.
    pub judged: Option<Judged>,
    /// When status was last posted.
    pub posted: Option<std::time::Instant>,
    /// Something changed that the next heartbeat should post.
    pub stale: bool,
    pub posting: bool,
}

impl NodeSlot {
    pub fn new(name: &str, host_ip: Ipv4Addr) -> NodeSlot {
        NodeSlot {
            name: name.into(),
            host_ip,
            network: Mutex::new(None),
            state: Mutex::new(NodeState::default()),
        }
    }

    pub fn state(&self) -> std::sync::MutexGuard<'_, NodeState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn network(&self) -> std::sync::MutexGuard<'_, Option<PodNetwork>> {
        self.network.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The architecture as Go names it.
pub fn arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64le",
        other => other,
    }
}

/// The Node a fresh agent registers.
pub fn registration(slot: &NodeSlot, template: &NodeTemplate) -> Node {
    let mut labels = template.labels.clone();
    labels.extend(well_known_labels(&slot.name));
    let annotations = BTreeMap::from([
        ("node.alpha.kubernetes.io/ttl".to_string(), "0".to_string()),
        (
            "volumes.kubernetes.io/controller-managed-attach-detach".to_string(),
            "true".to_string(),
        ),
    ]);
    Node {
        metadata: ObjectMeta {
            name: Some(slot.name.to_string()),
            labels: Some(labels),
            annotations: Some(annotations),
            ..ObjectMeta::default()
        },
        spec: Some(NodeSpec {
            taints: (!template.taints.is_empty()).then(|| template.taints.clone()),
            ..NodeSpec::default()
        }),
        status: None,
    }
}

/// Labels a kubelet puts on its node (and puts back on re-registration).
pub fn well_known_labels(name: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("kubernetes.io/hostname".to_string(), name.to_string()),
        ("kubernetes.io/os".to_string(), "linux".to_string()),
        ("kubernetes.io/arch".to_string(), arch().to_string()),
        ("beta.kubernetes.io/os".to_string(), "linux".to_string()),
        ("beta.kubernetes.io/arch".to_string(), arch().to_string()),
    ])
}

/// Why a node without a podCIDR is not ready, in the kubelet's words.
pub const NETWORK_NOT_READY: &str = "container runtime network not ready: NetworkReady=false reason:NetworkPluginNotReady message:Network plugin returns error: cni plugin not initialized";

/// A real node's health as its status tells it: the runtime's problem,
/// the pressures (memory, disk, PID) and the images.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Judged {
    pub problem: Option<String>,
    pub pressed: [bool; 3],
    pub images: Vec<(Vec<String>, i64)>,
}

/// What a node's status says beyond its template: each condition with
/// since when it holds, and the images the node holds.
#[derive(Clone, Debug)]
pub struct Observed<'a> {
    pub ready: (bool, Timestamp),
    /// Why the node is not ready when the runtime says (else the pod
    /// network is missing).
    pub not_ready_message: Option<&'a str>,
    pub memory_pressure: (bool, Timestamp),
    pub disk_pressure: (bool, Timestamp),
    pub pid_pressure: (bool, Timestamp),
    pub images: &'a [(Vec<String>, i64)],
}

/// The status to post.
pub fn status(
    slot: &NodeSlot,
    template: &NodeTemplate,
    observed: &Observed<'_>,
    now: Timestamp,
) -> NodeStatus {
    let mut resources = BTreeMap::from([
        ("cpu".to_string(), Quantity(template.cpu.clone())),
        ("memory".to_string(), Quantity(template.memory.clone())),
        ("pods".to_string(), Quantity(template.pods.clone())),
    ]);
    if let Some(storage) = &template.ephemeral_storage {
        resources.insert("ephemeral-storage".into(), Quantity(storage.clone()));
    }
    let condition = |type_: &str, status: &str, reason: &str, message: &str, since| NodeCondition {
        type_: type_.into(),
        status: status.into(),
        reason: Some(reason.into()),
        message: Some(message.into()),
        last_heartbeat_time: Some(Time(now)),
        last_transition_time: Some(Time(since)),
    };
    // Upstream's words for each pressure, without and with it.
    let pressure = |type_: &str, (under, since): (bool, Timestamp), words: [&str; 4]| {
        if under {
            condition(type_, "True", words[2], words[3], since)
        } else {
            condition(type_, "False", words[0], words[1], since)
        }
    };
    let (ready, ready_since) = observed.ready;
    let ready_condition = if ready {
        condition(
            "Ready",
            "True",
            "KubeletReady",
            "kubelet is posting ready status",
            ready_since,
        )
    } else {
        let message = observed.not_ready_message.unwrap_or(NETWORK_NOT_READY);
        condition("Ready", "False", "KubeletNotReady", message, ready_since)
    };
    let images = observed
        .images
        .iter()
        .map(|(names, size)| ContainerImage {
            names: Some(names.clone()),
            size_bytes: Some(*size),
        })
        .collect::<Vec<_>>();
    let id = format!("{:032x}", name_hash(&slot.name));
    NodeStatus {
        capacity: Some(resources.clone()),
        allocatable: Some(resources),
        conditions: Some(vec![
            pressure(
                "MemoryPressure",
                observed.memory_pressure,
                [
                    "KubeletHasSufficientMemory",
                    "kubelet has sufficient memory available",
                    "KubeletHasInsufficientMemory",
                    "kubelet has insufficient memory available",
                ],
            ),
            pressure(
                "DiskPressure",
                observed.disk_pressure,
                [
                    "KubeletHasNoDiskPressure",
                    "kubelet has no disk pressure",
                    "KubeletHasDiskPressure",
                    "kubelet has disk pressure",
                ],
            ),
            pressure(
                "PIDPressure",
                observed.pid_pressure,
                [
                    "KubeletHasSufficientPID",
                    "kubelet has sufficient PID available",
                    "KubeletHasInsufficientPID",
                    "kubelet has insufficient PID available",
                ],
            ),
            ready_condition,
        ]),
        addresses: Some(vec![
            NodeAddress {
                type_: "InternalIP".into(),
                address: slot.host_ip.to_string(),
            },
            NodeAddress {
                type_: "Hostname".into(),
                address: slot.name.to_string(),
            },
        ]),
        daemon_endpoints: Some(NodeDaemonEndpoints {
            kubelet_endpoint: Some(DaemonEndpoint {
                port: template.kubelet_port,
            }),
        }),
        node_info: Some(NodeSystemInfo {
            architecture: arch().into(),
            boot_id: template.boot_id.clone().unwrap_or_else(|| id.clone()),
            container_runtime_version: template.runtime_version.clone(),
            kernel_version: template.kernel_version.clone(),
            kube_proxy_version: String::new(),
            kubelet_version: KUBELET_VERSION.into(),
            machine_id: template.machine_id.clone().unwrap_or_else(|| id.clone()),
            operating_system: "linux".into(),
            os_image: template.os_image.clone(),
            system_uuid: id,
            ..NodeSystemInfo::default()
        }),
        images: (!images.is_empty()).then_some(images),
        ..NodeStatus::default()
    }
}

/// A stable number from a node name (for made-up machine ids and addresses).
pub fn name_hash(name: &str) -> u128 {
    use std::hash::{Hash, Hasher};
    let half = |seed: u64| {
        let mut hasher = std::hash::DefaultHasher::new();
        seed.hash(&mut hasher);
        name.hash(&mut hasher);
        hasher.finish()
    };
    (u128::from(half(1)) << 64) | u128::from(half(2))
}

/// A made-up address for a hollow node in 100.64.0.0/10 (shared address
/// space, never routed here), stable for its name.
pub fn hollow_host_ip(name: &str) -> Ipv4Addr {
    let offset = (name_hash(name) as u32) & 0x003f_ffff;
    let offset = offset.clamp(1, 0x003f_fffe);
    Ipv4Addr::from(u32::from(Ipv4Addr::new(100, 64, 0, 0)) + offset)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registration_has_the_well_known_labels() {
        let slot = NodeSlot::new("sim-0", hollow_host_ip("sim-0"));
        let node = registration(&slot, &NodeTemplate::default());
        let labels = node.metadata.labels.unwrap();
        assert_eq!(labels["kubernetes.io/hostname"], "sim-0");
        assert_eq!(labels["kubernetes.io/os"], "linux");
        assert!(labels.contains_key("kubernetes.io/arch"));
    }

    #[test]
    fn hollow_addresses_are_stable_and_in_range() {
        let ip = hollow_host_ip("sim-7");
        assert_eq!(ip, hollow_host_ip("sim-7"));
        assert_eq!(ip.octets()[0], 100);
        assert!((64..128).contains(&ip.octets()[1]));
    }

    #[test]
    fn status_reports_capacity_and_readiness() {
        let slot = NodeSlot::new("n", Ipv4Addr::new(10, 0, 0, 1));
        let now = Timestamp::now();
        let observed = Observed {
            ready: (false, now),
            not_ready_message: None,
            memory_pressure: (false, now),
            disk_pressure: (true, now),
            pid_pressure: (false, now),
            images: &[(vec!["busybox:test".into()], 2_000_000)],
        };
        let status = status(&slot, &NodeTemplate::default(), &observed, now);
        assert_eq!(status.capacity.as_ref().unwrap()["cpu"].0, "8");
        assert_eq!(status.allocatable.as_ref().unwrap()["memory"].0, "32Gi");
        let conditions = status.conditions.unwrap();
        let ready = conditions.iter().find(|c| c.type_ == "Ready").unwrap();
        assert_eq!(ready.status, "False");
        assert_eq!(ready.message.as_deref(), Some(NETWORK_NOT_READY));
        let disk = conditions
            .iter()
            .find(|c| c.type_ == "DiskPressure")
            .unwrap();
        assert_eq!(disk.status, "True");
        assert_eq!(disk.reason.as_deref(), Some("KubeletHasDiskPressure"));
        assert_eq!(status.images.unwrap()[0].size_bytes, Some(2_000_000));
        assert_eq!(status.node_info.unwrap().kubelet_version, KUBELET_VERSION);
    }
}
