//! The pod-level runtime interface the agent drives: the sim runtime
//! implements it without containers, the CRI runtime with containerd.
//!
//! The agent decides what should run (restart policy, back-off, init
//! container order); a runtime only does what it is told and reports what
//! its containers are doing, like upstream's kubelet and its CRI runtime.

use std::fmt;
use std::future::Future;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Container, Pod};
use k8s_openapi::jiff::Timestamp;

/// A runtime that runs pods' containers.
pub trait Runtime: Send + Sync + 'static {
    /// Creates the pod's sandbox if it has none yet and starts a new
    /// instance of `container` in it; `attempt` counts the instances of
    /// this container before this one (the restart count).
    fn start_container(
        &self,
        pod: &Pod,
        container: &Container,
        attempt: u32,
    ) -> impl Future<Output = Result<(), RuntimeError>> + Send;

    /// Stops every running container of the pod, giving each `grace` to
    /// exit after it is asked to.
    fn stop_pod(
        &self,
        pod_uid: &str,
        grace: Duration,
    ) -> impl Future<Output = Result<(), RuntimeError>> + Send;

    /// Forgets a stopped pod: its sandbox and its exited containers.
    fn remove_pod(&self, pod_uid: &str) -> impl Future<Output = ()> + Send;

    /// The pod's containers as the runtime sees them: for each container
    /// name its current instance and the one before it.
    fn pod_status(&self, pod_uid: &str) -> impl Future<Output = RuntimePodStatus> + Send;

    /// Lets the runtime take over containers that a previous agent run
    /// reported in `pod`'s status. Runtimes that keep state of their own
    /// (CRI) know them already and need not do anything.
    fn adopt(&self, pod: &Pod) -> impl Future<Output = ()> + Send {
        let _ = pod;
        async {}
    }

    /// Brings files the pod's volumes show from the API (ConfigMaps,
    /// Secrets) up to date in a running pod; returns when to do it again.
    fn refresh_volumes(&self, pod: &Pod) -> impl Future<Output = Option<Duration>> + Send {
        let _ = pod;
        async { None }
    }

    /// Whether the agent runs the pods' probes against this runtime's
    /// containers (the sim runtime stands in for them).
    fn runs_probes(&self) -> bool {
        false
    }

    /// Runs `command` in the container (`<runtime>://<id>`), for exec
    /// probes and hooks.
    fn exec_sync(
        &self,
        container_id: &str,
        command: &[String],
        timeout: Duration,
    ) -> impl Future<Output = Result<Exited, RuntimeError>> + Send {
        let _ = (container_id, command, timeout);
        async { Ok(Exited::default()) }
    }

    /// Stops one container instance, giving it `grace` to exit (a failed
    /// liveness probe).
    fn stop_container(
        &self,
        container_id: &str,
        grace: Duration,
    ) -> impl Future<Output = Result<(), RuntimeError>> + Send {
        let _ = (container_id, grace);
        async { Ok(()) }
    }

    /// Whether pods get their addresses from the runtime (CNI, called by
    /// containerd) rather than from the agent's own allocator (sim).
    fn assigns_addresses(&self) -> bool {
        false
    }

    /// The health of the machine and the runtime, for the node's
    /// conditions and image list; None where there is no machine (sim).
    fn node_health(&self) -> impl Future<Output = Option<NodeHealth>> + Send {
        async { None }
    }

    /// The node's podCIDR arrived: runtimes that set up pod networking
    /// configure it (upstream's CRI `UpdateRuntimeConfig`).
    fn set_pod_cidr(&self, cidr: &str) {
        let _ = cidr;
    }
}

/// How a command run in a container ended: its exit code and its output
/// (stdout then stderr).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Exited {
    pub code: i32,
    pub output: String,
}

/// What a real node measures for its status: the runtime's problems,
/// the machine's free resources, the images it holds.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct NodeHealth {
    /// Why the runtime cannot run pods (down, or its network not ready).
    pub runtime_problem: Option<String>,
    /// Memory available and total, in bytes.
    pub memory: Option<(u64, u64)>,
    /// The filesystem of the data dir (and the images).
    pub disk: Option<DiskStats>,
    /// PIDs available and the maximum.
    pub pids: Option<(u64, u64)>,
    /// Images by size, largest first: their names and size in bytes.
    pub images: Vec<(Vec<String>, i64)>,
}

/// Space and inodes of a filesystem.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct DiskStats {
    pub capacity: u64,
    pub available: u64,
    pub inodes: u64,
    pub inodes_free: u64,
}

/// What a runtime reports about one pod.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RuntimePodStatus {
    /// Whether the pod has a sandbox (network set up, containers can start).
    pub sandbox_ready: bool,
    /// The sandbox's address, from runtimes that assign addresses.
    pub ip: Option<String>,
    pub containers: Vec<RuntimeContainer>,
}

impl RuntimePodStatus {
    /// The current instance of the named container, if it ever started.
    pub fn container(&self, name: &str) -> Option<&RuntimeContainer> {
        self.containers.iter().find(|c| c.name == name)
    }
}

/// One container of a pod, as the runtime sees it.
#[derive(Clone, Debug, PartialEq)]
pub struct RuntimeContainer {
    pub name: String,
    /// `<runtime>://<id>`, as in `containerStatuses[].containerID`.
    pub id: String,
    pub image: String,
    /// The image by digest, as in `containerStatuses[].imageID`.
    pub image_id: String,
    /// How many instances of this container ran before this one.
    pub attempt: u32,
    pub state: ContainerState,
    /// The instance before this one, once it exited.
    pub previous: Option<ExitedContainer>,
    /// A readiness verdict from runtimes that stand in for probes (sim);
    /// `None` leaves readiness to the agent's probes.
    pub ready: Option<bool>,
}

/// Where a container instance is in its life.
#[derive(Clone, Debug, PartialEq)]
pub enum ContainerState {
    Running { started_at: Timestamp },
    Exited(ExitedContainer),
}

/// A container instance that has exited.
#[derive(Clone, Debug, PartialEq)]
pub struct ExitedContainer {
    pub id: String,
    pub started_at: Timestamp,
    pub finished_at: Timestamp,
    pub exit_code: i32,
    /// The runtime's reason for the exit (`OOMKilled`), if it gave one.
    pub reason: Option<String>,
    /// The termination message: what the container wrote to its
    /// terminationMessagePath, or its log's tail, as its policy says.
    pub message: Option<String>,
}

impl ExitedContainer {
    /// The reason upstream reports for an exit: the runtime's
    /// (`OOMKilled`), else `Completed` or `Error`.
    pub fn reason(&self) -> &str {
        match self.reason.as_deref() {
            Some(reason) if !reason.is_empty() => reason,
            _ if self.exit_code == 0 => "Completed",
            _ => "Error",
        }
    }
}

/// A runtime call that failed, with the reason a waiting container
/// reports for it (`ErrImagePull`, `CreateContainerError`, ...).
#[derive(Clone, Debug, PartialEq)]
pub struct RuntimeError {
    pub reason: &'static str,
    pub message: String,
}

impl RuntimeError {
    pub fn new(reason: &'static str, message: impl Into<String>) -> RuntimeError {
        RuntimeError {
            reason,
            message: message.into(),
        }
    }
}

impl fmt::Display for RuntimeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.reason, self.message)
    }
}

impl std::error::Error for RuntimeError {}
