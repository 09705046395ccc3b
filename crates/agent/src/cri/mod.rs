//! The CRI runtime: pods as containerd sandboxes and containers, through
//! CRI v1. It keeps no state of its own: every answer comes from the
//! runtime, found by the pod uid label, so an agent that restarts finds
//! its running containers again.

mod auth;
mod client;
pub mod config;
mod dns;
mod health;
mod relist;
mod status;
mod termination;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use k8s_cri::v1 as cri;
use k8s_openapi::api::core::v1::{Container, Pod};
use tokio::sync::mpsc::UnboundedSender;
use tonic::{Code, Request};

pub use client::CriClient;

use crate::events::{self, Events, Kind};
use crate::pods::env;
use crate::pods::service_env::{self, ServiceCache};
use crate::runtime::{Exited, NodeHealth, Runtime, RuntimeError, RuntimePodStatus};
use crate::volumes;
use config::{PodNames, POD_UID};
pub use dns::{ClusterDns, HostResolvConf};

/// How often files of ConfigMaps and Secrets are brought up to date in
/// running pods (upstream's kubelet takes up to a minute or so).
const VOLUME_REFRESH: Duration = Duration::from_secs(10);
/// How long a container start waits for the first list of Services.
const SERVICES_WAIT: Duration = Duration::from_secs(5);

/// `containerID`s are `<runtime>://<id>`.
const RUNTIME_NAME: &str = "containerd";

/// Pods' containers run by a CRI runtime (containerd).
pub struct CriRuntime {
    client: CriClient,
    /// The API, for what containers read from it (ConfigMaps, Secrets).
    api: kube::Client,
    /// Pods' service account tokens.
    tokens: volumes::TokenManager,
    /// DATA_DIR/agent: pod folders (volumes, hosts files) and logs.
    agent_dir: PathBuf,
    /// The podCIDR the CNI configuration was last written for.
    pod_cidr: Mutex<Option<String>>,
    /// When each pod's volumes were last brought up to date: syncs come
    /// often (probes, status echoes), the API is asked once a period.
    refreshed: Mutex<HashMap<String, tokio::time::Instant>>,
    events: Events,
    /// Cluster DNS, for pods' resolv.conf.
    dns: ClusterDns,
    /// All pods' addresses, when known: traffic to them is not
    /// masqueraded.
    cluster_cidr: Option<String>,
    /// Pods' MTU, when not the bridge's default.
    mtu: Option<u32>,
    /// The Services, for containers' Service variables.
    services: ServiceCache,
}

impl CriRuntime {
    /// A runtime over the CRI socket at `socket`; the uids of pods whose
    /// containers change on their own (exit) are sent to `changed`.
    pub fn new(
        socket: &Path,
        agent_dir: &Path,
        api: kube::Client,
        changed: UnboundedSender<String>,
        events: Events,
    ) -> CriRuntime {
        let client = CriClient::new(socket);
        tokio::spawn(relist::run(client.clone(), changed));
        CriRuntime {
            client,
            tokens: volumes::TokenManager::new(api.clone()),
            services: ServiceCache::start(api.clone()),
            api,
            agent_dir: agent_dir.to_path_buf(),
            pod_cidr: Mutex::new(None),
            refreshed: Mutex::new(HashMap::new()),
            events,
            dns: ClusterDns::default(),
            cluster_cidr: None,
            mtu: None,
        }
    }

    /// Pods' traffic to `cluster_cidr` keeps its source address.
    pub fn with_cluster_cidr(mut self, cluster_cidr: Option<String>) -> CriRuntime {
        self.cluster_cidr = cluster_cidr.filter(|c| !c.is_empty());
        self
    }

    /// Pods' interfaces get `mtu` (smaller than the host's under a tunnel).
    pub fn with_mtu(mut self, mtu: Option<u32>) -> CriRuntime {
        self.mtu = mtu;
        self
    }

    /// Pods' resolv.conf points at `dns` (dnsPolicy ClusterFirst).
    pub fn with_dns(mut self, dns: ClusterDns) -> CriRuntime {
        self.dns = dns;
        self
    }

    /// The runtime's name and version, as a node's `containerRuntimeVersion`.
    pub async fn version(&self) -> Result<String, RuntimeError> {
        let mut runtime = self.client.runtime.clone();
        let version = runtime
            .version(cri::VersionRequest::default())
            .await
            .map_err(|e| error("RuntimeUnavailable", e))?
            .into_inner();
        Ok(format!(
            "{}://{}",
            version.runtime_name, version.runtime_version
        ))
    }

    /// Where the logs of a pod's containers go.
    fn log_directory(&self, pod: &Pod) -> PathBuf {
        PodNames::of(pod).log_directory(&self.agent_dir)
    }

    async fn sandboxes(&self, uid: &str) -> Result<Vec<cri::PodSandbox>, RuntimeError> {
        let mut runtime = self.client.runtime.clone();
        let filter = cri::PodSandboxFilter {
            label_selector: HashMap::from([(POD_UID.to_string(), uid.to_string())]),
            ..Default::default()
        };
        let mut items = runtime
            .list_pod_sandbox(cri::ListPodSandboxRequest {
                filter: Some(filter),
            })
            .await
            .map_err(|e| error("RuntimeUnavailable", e))?
            .into_inner()
            .items;
        // Newest first.
        items.sort_by_key(|s| std::cmp::Reverse(s.created_at));
        Ok(items)
    }

    async fn containers(&self, uid: &str) -> Result<Vec<cri::Container>, RuntimeError> {
        let mut runtime = self.client.runtime.clone();
        let filter = cri::ContainerFilter {
            label_selector: HashMap::from([(POD_UID.to_string(), uid.to_string())]),
            ..Default::default()
        };
        Ok(runtime
            .list_containers(cri::ListContainersRequest {
                filter: Some(filter),
            })
            .await
            .map_err(|e| error("RuntimeUnavailable", e))?
            .into_inner()
            .containers)
    }

    /// The pod's ready sandbox, created if it has none; returns its id and
    /// the config it was made from.
    async fn ensure_sandbox(
        &self,
        pod: &Pod,
    ) -> Result<(String, cri::PodSandboxConfig), RuntimeError> {
        let uid = pod.metadata.uid.as_deref().unwrap_or_default();
        let existing = self.sandboxes(uid).await?;
        let log_directory = self.log_directory(pod);
        let log_text = log_directory.to_string_lossy().into_owned();
        if let Some(ready) = existing
            .iter()
            .find(|s| s.state == cri::PodSandboxState::SandboxReady as i32)
        {
            let attempt = ready.metadata.as_ref().map_or(0, |m| m.attempt);
            return Ok((
                ready.id.clone(),
                config::sandbox(pod, &log_text, attempt, &self.dns),
            ));
        }
        let attempt = existing
            .iter()
            .filter_map(|s| s.metadata.as_ref())
            .map(|m| m.attempt + 1)
            .max()
            .unwrap_or(0);
        // A sandbox that died takes its containers with it; the pod starts
        // over in a new one, as upstream's kubelet does.
        for old in &existing {
            self.remove_sandbox(&old.id).await;
        }
        std::fs::create_dir_all(&log_directory)
            .map_err(|e| RuntimeError::new("CreatePodSandboxError", e.to_string()))?;
        // A volume that cannot be set up keeps the pod creating, as
        // upstream's: the agent records FailedMount and tries again.
        volumes::prepare(&self.agent_dir, pod)
            .map_err(|message| RuntimeError::new("ContainerCreating", message))?;
        let host_network = pod.spec.as_ref().and_then(|s| s.host_network) == Some(true);
        if !host_network {
            self.network_ready().await?;
        }
        let config = config::sandbox(pod, &log_text, attempt, &self.dns);
        let mut runtime = self.client.runtime.clone();
        let id = runtime
            .run_pod_sandbox(cri::RunPodSandboxRequest {
                config: Some(config.clone()),
                runtime_handler: String::new(),
            })
            .await
            .map_err(|status| {
                // The pod keeps creating; the agent records the event.
                RuntimeError::new(
                    "ContainerCreating",
                    format!(
                        "Failed to create pod sandbox: rpc error: code = {:?} desc = {}",
                        status.code(),
                        status.message()
                    ),
                )
            })?
            .into_inner()
            .pod_sandbox_id;
        Ok((id, config))
    }

    /// Whether the runtime can give pods a network (its CNI configuration
    /// is loaded). A sandbox asked for before that fails and keeps its
    /// name reserved, so the agent waits, as upstream's kubelet does.
    async fn network_ready(&self) -> Result<(), RuntimeError> {
        let mut runtime = self.client.runtime.clone();
        let status = runtime
            .status(cri::StatusRequest { verbose: false })
            .await
            .map_err(|e| error("NetworkNotReady", e))?
            .into_inner()
            .status
            .unwrap_or_default();
        match status.conditions.iter().find(|c| c.r#type == "NetworkReady") {
            Some(condition) if condition.status => Ok(()),
            Some(condition) => Err(RuntimeError::new(
                "ContainerCreating",
                format!(
                    "network is not ready: container runtime network not ready: NetworkReady=false reason:{} message:{}",
                    condition.reason, condition.message
                ),
            )),
            None => Ok(()),
        }
    }

    async fn remove_sandbox(&self, id: &str) {
        let mut runtime = self.client.runtime.clone();
        let _ = runtime
            .stop_pod_sandbox(cri::StopPodSandboxRequest {
                pod_sandbox_id: id.into(),
            })
            .await;
        if let Err(status) = runtime
            .remove_pod_sandbox(cri::RemovePodSandboxRequest {
                pod_sandbox_id: id.into(),
            })
            .await
        {
            tracing::warn!(sandbox = id, error = %status.message(), "removing a sandbox");
        }
    }

    /// The image of `container`, pulled as its pull policy says (with the
    /// pod's image pull secrets); returns the image's id and its status.
    /// Records upstream's events on the way.
    async fn ensure_image(
        &self,
        pod: &Pod,
        container: &Container,
        sandbox: &cri::PodSandboxConfig,
    ) -> Result<(String, Option<cri::Image>), RuntimeError> {
        let secrets = auth::pull_secrets(&self.api, &self.events, pod).await;
        let image = container.image.clone().unwrap_or_default();
        let spec = cri::ImageSpec {
            image: image.clone(),
            ..Default::default()
        };
        let policy = container
            .image_pull_policy
            .as_deref()
            .unwrap_or("IfNotPresent");
        let event = |kind: Kind, reason: &str, message: String| {
            self.events
                .container(pod, &container.name, kind, reason, message)
        };
        let mut images = self.client.images.clone();
        if policy != "Always" {
            let present = images
                .image_status(cri::ImageStatusRequest {
                    image: Some(spec.clone()),
                    verbose: false,
                })
                .await
                .map_err(|e| error("ErrImagePull", e))?
                .into_inner()
                .image;
            if let Some(present) = present {
                let message = format!("Container image \"{image}\" already present on machine");
                event(Kind::Normal, "Pulled", message);
                return Ok((present.id.clone(), Some(present)));
            }
            if policy == "Never" {
                let message =
                    format!("Container image \"{image}\" is not present with pull policy of Never");
                event(Kind::Warning, "ErrImageNeverPull", message.clone());
                event(Kind::Warning, "Failed", "Error: ErrImageNeverPull".into());
                return Err(RuntimeError::new("ErrImageNeverPull", message));
            }
        }
        event(
            Kind::Normal,
            "Pulling",
            format!("Pulling image \"{image}\""),
        );
        let started = std::time::Instant::now();
        let image_ref = match auth::pull(&images, &spec, sandbox, &secrets).await {
            Ok(image_ref) => image_ref,
            Err(error) => {
                let message = format!("failed to pull image \"{image}\": {error}");
                event(
                    Kind::Warning,
                    "Failed",
                    format!("Failed to pull image \"{image}\": {error}"),
                );
                event(Kind::Warning, "Failed", "Error: ErrImagePull".into());
                return Err(RuntimeError::new("ErrImagePull", message));
            }
        };
        let took = events::go_duration(started.elapsed());
        let status = images
            .image_status(cri::ImageStatusRequest {
                image: Some(spec),
                verbose: false,
            })
            .await
            .ok()
            .and_then(|s| s.into_inner().image);
        let size = status.as_ref().map_or(0, |i| i.size);
        event(
            Kind::Normal,
            "Pulled",
            format!(
                "Successfully pulled image \"{image}\" in {took} ({took} including waiting). \
                 Image size: {size} bytes."
            ),
        );
        Ok((image_ref, status))
    }

    /// An ephemeral container with a `targetContainerName` joins that
    /// container's process namespace (`kubectl debug --target`), as
    /// upstream's kubelet asks the runtime to.
    async fn target_namespace(
        &self,
        pod: &Pod,
        container: &Container,
        config: &mut cri::ContainerConfig,
    ) {
        let ephemeral = pod
            .spec
            .as_ref()
            .and_then(|s| s.ephemeral_containers.as_ref());
        let target = ephemeral
            .into_iter()
            .flatten()
            .find(|c| c.name == container.name)
            .and_then(|c| c.target_container_name.clone());
        let Some(target) = target else {
            return;
        };
        let uid = pod.metadata.uid.as_deref().unwrap_or_default();
        let Ok(all) = self.containers(uid).await else {
            return;
        };
        let running = all.into_iter().find(|c| {
            c.state == cri::ContainerState::ContainerRunning as i32
                && c.metadata.as_ref().is_some_and(|m| m.name == target)
        });
        let namespaces = config
            .linux
            .as_mut()
            .and_then(|l| l.security_context.as_mut())
            .and_then(|s| s.namespace_options.as_mut());
        if let (Some(running), Some(namespaces)) = (running, namespaces) {
            namespaces.pid = cri::NamespaceMode::Target as i32;
            namespaces.target_id = running.id;
        }
    }

    /// The mounts of `container`: its volumes, and the files the agent
    /// manages in every container (`/etc/hosts`, the termination log).
    fn mounts(
        &self,
        pod: &Pod,
        container: &Container,
        attempt: u32,
        ip: &str,
    ) -> Result<Vec<cri::Mount>, RuntimeError> {
        let config_error =
            |message: String| RuntimeError::new("CreateContainerConfigError", message);
        let mut mounts = volumes::mounts(&self.agent_dir, pod, container).map_err(config_error)?;
        let pod_dir = volumes::pod_dir(&self.agent_dir, pod);
        let host_network = pod.spec.as_ref().and_then(|s| s.host_network) == Some(true);
        let has =
            |mounts: &[cri::Mount], path: &str| mounts.iter().any(|m| m.container_path == path);
        if !host_network && !has(&mounts, "/etc/hosts") {
            let hosts = pod_dir.join("etc-hosts");
            std::fs::write(&hosts, hosts_file(pod, ip))
                .map_err(|e| config_error(format!("writing {}: {e}", hosts.display())))?;
            mounts.push(bind(&hosts, "/etc/hosts", false));
        }
        let message_path = config::termination_message_path(container);
        if !has(&mounts, message_path) {
            let dir = pod_dir.join("containers").join(&container.name);
            std::fs::create_dir_all(&dir)
                .map_err(|e| config_error(format!("creating {}: {e}", dir.display())))?;
            let file = dir.join(format!("termination-log-{attempt}"));
            // Writable by any user the container runs as, as upstream.
            let written = std::fs::write(&file, b"").and_then(|()| {
                std::fs::set_permissions(&file, std::os::unix::fs::PermissionsExt::from_mode(0o666))
            });
            written.map_err(|e| config_error(format!("writing {}: {e}", file.display())))?;
            mounts.push(bind(&file, message_path, false));
        }
        Ok(mounts)
    }

    /// The ConfigMaps and Secrets the container's environment reads.
    async fn env_sources(
        &self,
        pod: &Pod,
        container: &Container,
    ) -> Result<env::Sources, RuntimeError> {
        let namespace = pod.metadata.namespace.as_deref().unwrap_or("default");
        let mut sources = env::Sources::new();
        for (kind, name, _optional) in env::sources_of(container) {
            if sources.contains_key(&(kind, name.clone())) {
                continue;
            }
            let found = crate::sources::read(&self.api, kind, namespace, &name)
                .await
                .map_err(|message| RuntimeError::new("CreateContainerConfigError", message))?;
            // The environment reads `data` alone, as upstream.
            if let Some(found) = found {
                let text = found
                    .data
                    .into_iter()
                    .map(|(k, v)| (k, String::from_utf8_lossy(&v).into_owned()))
                    .collect();
                sources.insert((kind, name), text);
            }
        }
        Ok(sources)
    }

    /// The Service variables of `pod`'s containers; an error, retried at
    /// the next sync, while the Services have not been read yet.
    async fn service_variables(&self, pod: &Pod) -> Result<Vec<(String, String)>, RuntimeError> {
        let services = self.services.services(SERVICES_WAIT).await.ok_or_else(|| {
            RuntimeError::new(
                "CreateContainerConfigError",
                "services have not yet been read at least once, cannot construct envvars",
            )
        })?;
        Ok(service_env::for_pod(
            pod,
            services.iter().map(AsRef::as_ref),
        ))
    }

    async fn sandbox_ip(&self, sandbox_id: &str) -> Option<String> {
        let mut runtime = self.client.runtime.clone();
        let status = runtime
            .pod_sandbox_status(cri::PodSandboxStatusRequest {
                pod_sandbox_id: sandbox_id.into(),
                verbose: false,
            })
            .await
            .ok()?
            .into_inner()
            .status?;
        status.network.map(|n| n.ip).filter(|ip| !ip.is_empty())
    }
}

fn bind(host: &Path, container: &str, readonly: bool) -> cri::Mount {
    cri::Mount {
        container_path: container.into(),
        host_path: host.to_string_lossy().into_owned(),
        readonly,
        ..Default::default()
    }
}

/// The pod's `/etc/hosts`, as upstream's kubelet writes it.
fn hosts_file(pod: &Pod, ip: &str) -> String {
    let mut text = String::from(
        "# Kubernetes-managed hosts file.\n\
         127.0.0.1\tlocalhost\n\
         ::1\tlocalhost ip6-localhost ip6-loopback\n\
         fe00::0\tip6-localnet\n\
         fe00::0\tip6-mcastprefix\n\
         fe00::1\tip6-allnodes\n\
         fe00::2\tip6-allrouters\n",
    );
    if !ip.is_empty() {
        text.push_str(&format!("{ip}\t{}\n", config::hostname(pod)));
    }
    for alias in pod
        .spec
        .as_ref()
        .and_then(|s| s.host_aliases.as_ref())
        .into_iter()
        .flatten()
    {
        let names = alias.hostnames.clone().unwrap_or_default().join("\t");
        text.push_str(&format!(
            "\n# Entries added by HostAliases.\n{}\t{names}\n",
            alias.ip
        ));
    }
    text
}

fn error(reason: &'static str, status: tonic::Status) -> RuntimeError {
    let message = if status.code() == Code::Unavailable {
        format!("container runtime is not answering: {}", status.message())
    } else {
        status.message().to_string()
    };
    RuntimeError::new(reason, message)
}

impl Runtime for CriRuntime {
    async fn start_container(
        &self,
        pod: &Pod,
        container: &Container,
        attempt: u32,
    ) -> Result<(), RuntimeError> {
        let uid = pod.metadata.uid.as_deref().unwrap_or_default();
        let (sandbox_id, sandbox) = self.ensure_sandbox(pod).await?;
        let (image, image_status) = self.ensure_image(pod, container, &sandbox).await?;
        // An instance created but never started (a failed start) holds the
        // name this one needs.
        let mut runtime = self.client.runtime.clone();
        for leftover in self.containers(uid).await? {
            let same = leftover
                .metadata
                .as_ref()
                .is_some_and(|m| m.name == container.name && m.attempt == attempt);
            if same {
                let _ = runtime
                    .remove_container(cri::RemoveContainerRequest {
                        container_id: leftover.id,
                    })
                    .await;
            }
        }
        volumes::project(&self.api, &self.tokens, &self.agent_dir, pod)
            .await
            .map_err(|message| RuntimeError::new("ContainerCreating", message))?;
        let ip = self.sandbox_ip(&sandbox_id).await.unwrap_or_default();
        let mounts = self.mounts(pod, container, attempt, &ip)?;
        let log_path = format!("{}/{attempt}.log", container.name);
        std::fs::create_dir_all(self.log_directory(pod).join(&container.name))
            .map_err(|e| RuntimeError::new("CreateContainerError", e.to_string()))?;
        let sources = self.env_sources(pod, container).await?;
        let services = self.service_variables(pod).await?;
        let env = env::resolve(pod, container, &ip, &sources, &services)
            .map_err(|message| RuntimeError::new("CreateContainerConfigError", message))?;
        config::verify_run_as_non_root(pod, container, image_status.as_ref())
            .map_err(|message| RuntimeError::new("CreateContainerConfigError", message))?;
        let mut config = config::container(
            pod,
            container,
            attempt,
            config::ContainerInputs {
                image: &image,
                env,
                mounts,
                log_path,
            },
        );
        self.target_namespace(pod, container, &mut config).await;
        let event = |kind: Kind, reason: &str, message: String| {
            self.events
                .container(pod, &container.name, kind, reason, message)
        };
        let failed = |reason: &'static str, status: tonic::Status| {
            event(
                Kind::Warning,
                "Failed",
                format!("Error: {}", status.message()),
            );
            error(reason, status)
        };
        let id = runtime
            .create_container(Request::new(cri::CreateContainerRequest {
                pod_sandbox_id: sandbox_id,
                config: Some(config),
                sandbox_config: Some(sandbox),
            }))
            .await
            .map_err(|e| failed("CreateContainerError", e))?
            .into_inner()
            .container_id;
        event(
            Kind::Normal,
            "Created",
            format!("Created container: {}", container.name),
        );
        runtime
            .start_container(cri::StartContainerRequest {
                container_id: id.clone(),
            })
            .await
            .map_err(|e| failed("RunContainerError", e))?;
        event(
            Kind::Normal,
            "Started",
            format!("Started container {}", container.name),
        );
        Ok(())
    }

    async fn stop_pod(&self, pod_uid: &str, grace: Duration) -> Result<(), RuntimeError> {
        let running: Vec<String> = self
            .containers(pod_uid)
            .await?
            .into_iter()
            .filter(|c| c.state == cri::ContainerState::ContainerRunning as i32)
            .map(|c| c.id)
            .collect();
        let timeout = i64::try_from(grace.as_secs()).unwrap_or(i64::MAX);
        let stops = running.into_iter().map(|id| {
            let mut runtime = self.client.runtime.clone();
            async move {
                runtime
                    .stop_container(cri::StopContainerRequest {
                        container_id: id,
                        timeout,
                    })
                    .await
            }
        });
        for result in futures_util::future::join_all(stops).await {
            if let Err(status) = result {
                if status.code() != Code::NotFound {
                    return Err(error("KillContainerError", status));
                }
            }
        }
        let mut runtime = self.client.runtime.clone();
        for sandbox in self.sandboxes(pod_uid).await? {
            if sandbox.state == cri::PodSandboxState::SandboxReady as i32 {
                runtime
                    .stop_pod_sandbox(cri::StopPodSandboxRequest {
                        pod_sandbox_id: sandbox.id,
                    })
                    .await
                    .map_err(|e| error("KillPodSandboxError", e))?;
            }
        }
        Ok(())
    }

    async fn remove_pod(&self, pod_uid: &str) {
        let mut runtime = self.client.runtime.clone();
        let mut log_directory = None;
        for container in self.containers(pod_uid).await.unwrap_or_default() {
            let _ = runtime
                .remove_container(cri::RemoveContainerRequest {
                    container_id: container.id,
                })
                .await;
        }
        for sandbox in self.sandboxes(pod_uid).await.unwrap_or_default() {
            if let Some(metadata) = &sandbox.metadata {
                log_directory = Some(config::log_directory(
                    &self.agent_dir,
                    &metadata.namespace,
                    &metadata.name,
                    &metadata.uid,
                ));
            }
            self.remove_sandbox(&sandbox.id).await;
        }
        volumes::remove_pod_dir(&self.agent_dir, pod_uid);
        self.tokens.forget_pod(pod_uid);
        self.refreshed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(pod_uid);
        if let Some(directory) = log_directory {
            let _ = std::fs::remove_dir_all(directory);
        }
    }

    async fn pod_status(&self, pod_uid: &str) -> RuntimePodStatus {
        let sandboxes = self.sandboxes(pod_uid).await.unwrap_or_default();
        let ready = sandboxes
            .iter()
            .find(|s| s.state == cri::PodSandboxState::SandboxReady as i32);
        let ip = match ready {
            Some(sandbox) => self.sandbox_ip(&sandbox.id).await,
            None => None,
        };
        let listed = self.containers(pod_uid).await.unwrap_or_default();
        let containers = status::containers(&self.client, listed).await;
        RuntimePodStatus {
            sandbox_ready: ready.is_some(),
            ip,
            containers,
        }
    }

    async fn refresh_volumes(&self, pod: &Pod) -> Option<Duration> {
        if !volumes::has_projections(pod) {
            return None;
        }
        let uid = pod.metadata.uid.clone().unwrap_or_default();
        let now = tokio::time::Instant::now();
        {
            let mut refreshed = self.refreshed.lock().unwrap_or_else(|e| e.into_inner());
            match refreshed.get(&uid) {
                Some(last) if now < *last + VOLUME_REFRESH => {
                    return Some(*last + VOLUME_REFRESH - now);
                }
                _ => {
                    refreshed.insert(uid, now);
                }
            }
        }
        let projected = volumes::project(&self.api, &self.tokens, &self.agent_dir, pod).await;
        if let Err(error) = projected {
            tracing::info!(pod = %crate::pods::pod_key(pod), %error, "refreshing volumes");
        }
        Some(VOLUME_REFRESH)
    }

    fn assigns_addresses(&self) -> bool {
        true
    }

    fn runs_probes(&self) -> bool {
        true
    }

    async fn exec_sync(
        &self,
        container_id: &str,
        command: &[String],
        timeout: Duration,
    ) -> Result<Exited, RuntimeError> {
        let mut runtime = self.client.runtime.clone();
        let id = container_id.rsplit("://").next().unwrap_or(container_id);
        let response = runtime
            .exec_sync(cri::ExecSyncRequest {
                container_id: id.into(),
                cmd: command.to_vec(),
                timeout: i64::try_from(timeout.as_secs()).unwrap_or(1),
            })
            .await
            .map_err(|e| error("ExecSyncError", e))?;
        let response = response.into_inner();
        let mut output = String::from_utf8_lossy(&response.stdout).into_owned();
        output.push_str(&String::from_utf8_lossy(&response.stderr));
        Ok(Exited {
            code: response.exit_code,
            output,
        })
    }

    async fn stop_container(
        &self,
        container_id: &str,
        grace: Duration,
    ) -> Result<(), RuntimeError> {
        let mut runtime = self.client.runtime.clone();
        let id = container_id.rsplit("://").next().unwrap_or(container_id);
        runtime
            .stop_container(cri::StopContainerRequest {
                container_id: id.into(),
                timeout: i64::try_from(grace.as_secs()).unwrap_or(i64::MAX),
            })
            .await
            .map_err(|e| error("KillContainerError", e))?;
        Ok(())
    }

    async fn node_health(&self) -> Option<NodeHealth> {
        Some(health::read(&self.client, &self.agent_dir).await)
    }

    fn set_pod_cidr(&self, cidr: &str) {
        let mut written = self.pod_cidr.lock().unwrap_or_else(|e| e.into_inner());
        if written.as_deref() == Some(cidr) {
            return;
        }
        // Pods' traffic within the cluster keeps its source address when
        // this node masquerades only what leaves it.
        let masquerade = match &self.cluster_cidr {
            Some(cluster) => match crate::egress::install(cluster) {
                Ok(()) => false,
                Err(error) => {
                    tracing::warn!(%error, "masquerading pods' outbound traffic by the bridge instead");
                    true
                }
            },
            None => true,
        };
        match crate::containerd::write_cni_config(&self.agent_dir, cidr, masquerade, self.mtu) {
            Ok(()) => *written = Some(cidr.to_string()),
            Err(error) => tracing::warn!(cidr, %error, "writing the CNI configuration"),
        }
    }
}
