//! The CRI configurations of a pod's sandbox and containers, from the pod
//! spec, as upstream's kubelet builds them (`kuberuntime_sandbox.go`,
//! `kuberuntime_container_linux.go`).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use capstan_api::validation::quantity::Quantity;
use k8s_cri::v1 as cri;
use k8s_openapi::api::core::v1::{Container, Pod, PodSpec};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity as ApiQuantity;

use super::dns::{dns_config, ClusterDns};
use crate::pods::qos_class;

/// Labels that tie CRI objects to their pod and container, as upstream's.
pub const POD_NAME: &str = "io.kubernetes.pod.name";
pub const POD_NAMESPACE: &str = "io.kubernetes.pod.namespace";
pub const POD_UID: &str = "io.kubernetes.pod.uid";
pub const CONTAINER_NAME: &str = "io.kubernetes.container.name";
/// Container annotations the runtime keeps and status reads back.
pub const TERMINATION_MESSAGE_PATH: &str = "io.kubernetes.container.terminationMessagePath";
pub const TERMINATION_MESSAGE_POLICY: &str = "io.kubernetes.container.terminationMessagePolicy";

/// CFS period the CPU limit is a share of (upstream's default).
const CPU_PERIOD: i64 = 100_000;
const MIN_SHARES: i64 = 2;

/// The pod's name, namespace and uid.
pub struct PodNames<'a> {
    pub name: &'a str,
    pub namespace: &'a str,
    pub uid: &'a str,
}

impl<'a> PodNames<'a> {
    pub fn of(pod: &'a Pod) -> PodNames<'a> {
        PodNames {
            name: pod.metadata.name.as_deref().unwrap_or_default(),
            namespace: pod.metadata.namespace.as_deref().unwrap_or_default(),
            uid: pod.metadata.uid.as_deref().unwrap_or_default(),
        }
    }

    fn labels(&self) -> HashMap<String, String> {
        HashMap::from([
            (POD_NAME.to_string(), self.name.to_string()),
            (POD_NAMESPACE.to_string(), self.namespace.to_string()),
            (POD_UID.to_string(), self.uid.to_string()),
        ])
    }

    /// The folder of the pod's container logs under `agent_dir`.
    pub fn log_directory(&self, agent_dir: &Path) -> PathBuf {
        log_directory(agent_dir, self.namespace, self.name, self.uid)
    }
}

/// The folder of a pod's container logs, named as upstream's
/// (`pod-logs/<namespace>_<name>_<uid>`).
pub fn log_directory(agent_dir: &Path, namespace: &str, name: &str, uid: &str) -> PathBuf {
    agent_dir
        .join("pod-logs")
        .join(format!("{namespace}_{name}_{uid}"))
}

/// The sandbox of `pod`; `log_directory` is where its containers' logs go.
pub fn sandbox(
    pod: &Pod,
    log_directory: &str,
    attempt: u32,
    dns: &ClusterDns,
) -> cri::PodSandboxConfig {
    let names = PodNames::of(pod);
    let spec = pod.spec.clone().unwrap_or_default();
    let mut labels = names.labels();
    for (key, value) in pod.metadata.labels.iter().flatten() {
        labels.entry(key.clone()).or_insert_with(|| value.clone());
    }
    let port_mappings = spec
        .containers
        .iter()
        .flat_map(|c| c.ports.iter().flatten())
        .filter(|p| p.host_port.is_some_and(|port| port > 0))
        .map(|p| cri::PortMapping {
            protocol: protocol(p.protocol.as_deref()) as i32,
            container_port: p.container_port,
            host_port: p.host_port.unwrap_or_default(),
            host_ip: p.host_ip.clone().unwrap_or_default(),
        })
        .collect();
    let pod_security = spec.security_context.clone().unwrap_or_default();
    let privileged = all_containers(&spec).any(|c| {
        c.security_context
            .as_ref()
            .and_then(|s| s.privileged)
            .unwrap_or(false)
    });
    cri::PodSandboxConfig {
        metadata: Some(cri::PodSandboxMetadata {
            name: names.name.into(),
            uid: names.uid.into(),
            namespace: names.namespace.into(),
            attempt,
        }),
        hostname: if spec.host_network == Some(true) {
            String::new()
        } else {
            hostname(pod)
        },
        log_directory: log_directory.into(),
        dns_config: Some(dns_config(pod, dns)),
        port_mappings,
        labels,
        annotations: pod
            .metadata
            .annotations
            .clone()
            .unwrap_or_default()
            .into_iter()
            .collect(),
        linux: Some(cri::LinuxPodSandboxConfig {
            cgroup_parent: cgroup_parent(pod),
            security_context: Some(cri::LinuxSandboxSecurityContext {
                namespace_options: Some(namespaces(&spec)),
                run_as_user: pod_security
                    .run_as_user
                    .map(|value| cri::Int64Value { value }),
                run_as_group: pod_security
                    .run_as_group
                    .map(|value| cri::Int64Value { value }),
                supplemental_groups: pod_security.supplemental_groups.unwrap_or_default(),
                privileged,
                ..Default::default()
            }),
            sysctls: pod_security
                .sysctls
                .into_iter()
                .flatten()
                .map(|s| (s.name, s.value))
                .collect(),
            ..Default::default()
        }),
        windows: None,
    }
}

/// What a container needs beyond the pod spec.
pub struct ContainerInputs<'a> {
    /// The image as pulled (its reference by id).
    pub image: &'a str,
    /// The container's environment, resolved.
    pub env: Vec<(String, String)>,
    pub mounts: Vec<cri::Mount>,
    /// Relative to the sandbox's log directory.
    pub log_path: String,
}

fn expand_all(texts: Option<&[String]>, env: &[(String, String)]) -> Vec<String> {
    texts
        .unwrap_or_default()
        .iter()
        .map(|text| crate::pods::env::expand(text, env, &[]))
        .collect()
}

/// The config of one instance of `container`.
pub fn container(
    pod: &Pod,
    container: &Container,
    attempt: u32,
    inputs: ContainerInputs<'_>,
) -> cri::ContainerConfig {
    let names = PodNames::of(pod);
    let spec = pod.spec.clone().unwrap_or_default();
    let mut labels = names.labels();
    labels.insert(CONTAINER_NAME.into(), container.name.clone());
    let annotations = HashMap::from([
        (
            "io.kubernetes.container.restartCount".to_string(),
            attempt.to_string(),
        ),
        (
            TERMINATION_MESSAGE_PATH.to_string(),
            termination_message_path(container).to_string(),
        ),
        (
            TERMINATION_MESSAGE_POLICY.to_string(),
            container
                .termination_message_policy
                .clone()
                .unwrap_or_else(|| "File".into()),
        ),
        (
            "io.kubernetes.pod.terminationGracePeriod".to_string(),
            spec.termination_grace_period_seconds
                .unwrap_or(30)
                .to_string(),
        ),
    ]);
    let pod_security = spec.security_context.clone().unwrap_or_default();
    let security = container.security_context.clone().unwrap_or_default();
    let capabilities = security.capabilities.clone().unwrap_or_default();
    cri::ContainerConfig {
        metadata: Some(cri::ContainerMetadata {
            name: container.name.clone(),
            attempt,
        }),
        image: Some(cri::ImageSpec {
            image: inputs.image.into(),
            user_specified_image: container.image.clone().unwrap_or_default(),
            ..Default::default()
        }),
        // As the kubelet, `$(VAR)` in command and args names the
        // container's environment.
        command: expand_all(container.command.as_deref(), &inputs.env),
        args: expand_all(container.args.as_deref(), &inputs.env),
        working_dir: container.working_dir.clone().unwrap_or_default(),
        envs: inputs
            .env
            .into_iter()
            .map(|(key, value)| cri::KeyValue { key, value })
            .collect(),
        mounts: inputs.mounts,
        labels,
        annotations,
        log_path: inputs.log_path,
        stdin: container.stdin.unwrap_or(false),
        stdin_once: container.stdin_once.unwrap_or(false),
        tty: container.tty.unwrap_or(false),
        linux: Some(cri::LinuxContainerConfig {
            resources: Some(resources(pod, container)),
            security_context: Some(cri::LinuxContainerSecurityContext {
                capabilities: Some(cri::Capability {
                    add_capabilities: capabilities.add.unwrap_or_default(),
                    drop_capabilities: capabilities.drop.unwrap_or_default(),
                    ..Default::default()
                }),
                privileged: security.privileged.unwrap_or(false),
                namespace_options: Some(namespaces(&spec)),
                run_as_user: security
                    .run_as_user
                    .or(pod_security.run_as_user)
                    .map(|value| cri::Int64Value { value }),
                run_as_group: security
                    .run_as_group
                    .or(pod_security.run_as_group)
                    .map(|value| cri::Int64Value { value }),
                readonly_rootfs: security.read_only_root_filesystem.unwrap_or(false),
                supplemental_groups: pod_security.supplemental_groups.unwrap_or_default(),
                no_new_privs: security.allow_privilege_escalation == Some(false),
                ..Default::default()
            }),
        }),
        ..Default::default()
    }
}

/// Upstream's `verifyRunAsNonRoot`: when the container's effective
/// security context (its own over the pod's) asks for `runAsNonRoot`, the
/// user it runs as must not be root. Without `runAsUser` that is the
/// image's user as the runtime reports it (`image`; none is root), and a
/// user given by name cannot be checked.
pub fn verify_run_as_non_root(
    pod: &Pod,
    container: &Container,
    image: Option<&cri::Image>,
) -> Result<(), String> {
    let pod_security = pod.spec.as_ref().and_then(|s| s.security_context.as_ref());
    let security = container.security_context.as_ref();
    let non_root = security
        .and_then(|s| s.run_as_non_root)
        .or(pod_security.and_then(|s| s.run_as_non_root));
    if non_root != Some(true) {
        return Ok(());
    }
    let names = PodNames::of(pod);
    let at = format!(
        "(pod: {:?}, container: {})",
        format!("{}_{}({})", names.name, names.namespace, names.uid),
        container.name
    );
    let run_as_user = security
        .and_then(|s| s.run_as_user)
        .or(pod_security.and_then(|s| s.run_as_user));
    if let Some(user) = run_as_user {
        if user == 0 {
            return Err(format!("container's runAsUser breaks non-root policy {at}"));
        }
        return Ok(());
    }
    let uid = image.and_then(|i| i.uid.as_ref()).map(|u| u.value);
    let username = image.map_or("", |i| i.username.as_str());
    match (uid, username) {
        (None, name) if !name.is_empty() => Err(format!(
            "container has runAsNonRoot and image has non-numeric user ({name}), \
             cannot verify user is non-root {at}"
        )),
        // An image that names no user runs as root.
        (None, _) | (Some(0), _) => Err(format!(
            "container has runAsNonRoot and image will run as root {at}"
        )),
        (Some(uid), _) if !(0..=i64::from(i32::MAX)).contains(&uid) => Err(format!(
            "container has runAsNonRoot and image has an invalid user id ({uid}). \
             (Must be 1-({max})): must be between 0 and {max}, inclusive {at}",
            max = i32::MAX
        )),
        _ => Ok(()),
    }
}

/// Where the container writes its termination message.
pub fn termination_message_path(container: &Container) -> &str {
    container
        .termination_message_path
        .as_deref()
        .unwrap_or("/dev/termination-log")
}

/// The pod's hostname: `spec.hostname`, else its name cut to 63
/// characters (upstream's `GeneratePodHostNameAndDomain`).
pub fn hostname(pod: &Pod) -> String {
    if let Some(name) = pod.spec.as_ref().and_then(|s| s.hostname.clone()) {
        return name;
    }
    let name = pod.metadata.name.as_deref().unwrap_or_default();
    let cut = &name[..name.len().min(63)];
    cut.trim_end_matches(['-', '.']).to_string()
}

fn all_containers(spec: &PodSpec) -> impl Iterator<Item = &Container> {
    spec.init_containers
        .iter()
        .flatten()
        .chain(spec.containers.iter())
}

fn protocol(name: Option<&str>) -> cri::Protocol {
    match name {
        Some("UDP") => cri::Protocol::Udp,
        Some("SCTP") => cri::Protocol::Sctp,
        _ => cri::Protocol::Tcp,
    }
}

/// Which namespaces the pod's containers share with the node or the pod.
fn namespaces(spec: &PodSpec) -> cri::NamespaceOption {
    let mode = |node: Option<bool>, pod: bool| {
        if node == Some(true) {
            cri::NamespaceMode::Node
        } else if pod {
            cri::NamespaceMode::Pod
        } else {
            cri::NamespaceMode::Container
        }
    };
    cri::NamespaceOption {
        network: mode(spec.host_network, true) as i32,
        pid: mode(spec.host_pid, spec.share_process_namespace == Some(true)) as i32,
        ipc: mode(spec.host_ipc, true) as i32,
        ..Default::default()
    }
}

/// The pod's cgroup, under its QoS class's as upstream's cgroupfs layout.
fn cgroup_parent(pod: &Pod) -> String {
    let uid = pod.metadata.uid.as_deref().unwrap_or_default();
    match qos_class(pod) {
        "Guaranteed" => format!("/kubepods/pod{uid}"),
        "Burstable" => format!("/kubepods/burstable/pod{uid}"),
        _ => format!("/kubepods/besteffort/pod{uid}"),
    }
}

fn amount(
    list: Option<&std::collections::BTreeMap<String, ApiQuantity>>,
    name: &str,
) -> Option<Quantity> {
    Quantity::parse(&list?.get(name)?.0).ok()
}

/// CPU shares and quota and the memory limit, as upstream's
/// `generateLinuxContainerResources`.
pub fn resources(pod: &Pod, container: &Container) -> cri::LinuxContainerResources {
    let resources = container.resources.clone().unwrap_or_default();
    let (requests, limits) = (resources.requests.as_ref(), resources.limits.as_ref());
    let cpu_request = amount(requests, "cpu").or_else(|| amount(limits, "cpu"));
    let cpu_limit = amount(limits, "cpu");
    let memory_limit = amount(limits, "memory");
    let cpu_shares = cpu_request
        .map(|q| (q.milli_value() * 1024 / 1000).max(MIN_SHARES))
        .unwrap_or(MIN_SHARES);
    let cpu_quota = cpu_limit
        .map(|q| (q.milli_value() * CPU_PERIOD / 1000).max(1000))
        .unwrap_or(0);
    let oom_score_adj = match qos_class(pod) {
        "Guaranteed" => -997,
        "BestEffort" => 1000,
        _ => 999,
    };
    cri::LinuxContainerResources {
        cpu_period: if cpu_quota > 0 { CPU_PERIOD } else { 0 },
        cpu_quota,
        cpu_shares,
        memory_limit_in_bytes: memory_limit.map(|q| q.value()).unwrap_or(0),
        oom_score_adj,
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(yaml: serde_json::Value) -> Pod {
        serde_json::from_value(yaml).unwrap()
    }

    #[test]
    fn the_sandbox_names_its_pod_and_maps_host_ports() {
        let pod = pod(serde_json::json!({
            "metadata": {"name": "web", "namespace": "default", "uid": "u1", "labels": {"app": "web"}},
            "spec": {"containers": [{"name": "c", "image": "busybox",
                "ports": [{"containerPort": 80, "hostPort": 8080}, {"containerPort": 53, "protocol": "UDP"}]}]}
        }));
        let config = sandbox(&pod, "/logs/default_web_u1", 0, &ClusterDns::default());
        let metadata = config.metadata.unwrap();
        assert_eq!(
            (metadata.name.as_str(), metadata.uid.as_str()),
            ("web", "u1")
        );
        assert_eq!(config.hostname, "web");
        assert_eq!(config.labels[POD_UID], "u1");
        assert_eq!(config.labels["app"], "web");
        assert_eq!(config.port_mappings.len(), 1);
        assert_eq!(config.port_mappings[0].host_port, 8080);
        let linux = config.linux.unwrap();
        assert_eq!(linux.cgroup_parent, "/kubepods/besteffort/podu1");
        let namespaces = linux.security_context.unwrap().namespace_options.unwrap();
        assert_eq!(namespaces.network, cri::NamespaceMode::Pod as i32);
        assert_eq!(namespaces.pid, cri::NamespaceMode::Container as i32);
    }

    #[test]
    fn limits_become_cgroup_settings() {
        let pod = pod(serde_json::json!({
            "metadata": {"name": "p", "uid": "u"},
            "spec": {"containers": [{"name": "c", "resources": {
                "requests": {"cpu": "250m", "memory": "64Mi"},
                "limits": {"cpu": "500m", "memory": "128Mi"}}}]}
        }));
        let spec = pod.spec.clone().unwrap();
        let config = resources(&pod, &spec.containers[0]);
        assert_eq!(config.cpu_shares, 256);
        assert_eq!(config.cpu_quota, 50_000);
        assert_eq!(config.cpu_period, 100_000);
        assert_eq!(config.memory_limit_in_bytes, 128 * 1024 * 1024);
        assert_eq!(config.oom_score_adj, 999);
    }

    #[test]
    fn run_as_non_root_is_verified_against_the_user() {
        let pod = |pod_security: serde_json::Value, security: serde_json::Value| {
            pod(serde_json::json!({
                "metadata": {"name": "p", "namespace": "ns", "uid": "u1"},
                "spec": {"securityContext": pod_security,
                    "containers": [{"name": "c", "securityContext": security}]}
            }))
        };
        let image = |uid: Option<i64>, username: &str| cri::Image {
            uid: uid.map(|value| cri::Int64Value { value }),
            username: username.into(),
            ..Default::default()
        };
        let verify = |pod: &Pod, image: Option<&cri::Image>| {
            let container = &pod.spec.as_ref().unwrap().containers[0];
            verify_run_as_non_root(pod, container, image)
        };
        let at = "(pod: \"p_ns(u1)\", container: c)";
        let root = image(Some(0), "");
        let user = image(Some(1000), "");
        let named = image(None, "app");

        // Not asked for: anything runs.
        let plain = pod(serde_json::json!({}), serde_json::json!({}));
        assert_eq!(verify(&plain, Some(&root)), Ok(()));
        let allowed = pod(
            serde_json::json!({"runAsNonRoot": true}),
            serde_json::json!({"runAsNonRoot": false}),
        );
        assert_eq!(verify(&allowed, Some(&root)), Ok(()));

        let asked = pod(
            serde_json::json!({"runAsNonRoot": true}),
            serde_json::json!({}),
        );
        assert_eq!(
            verify(&asked, Some(&root)).unwrap_err(),
            format!("container has runAsNonRoot and image will run as root {at}")
        );
        assert_eq!(
            verify(&asked, Some(&image(None, ""))).unwrap_err(),
            format!("container has runAsNonRoot and image will run as root {at}")
        );
        assert_eq!(
            verify(&asked, Some(&named)).unwrap_err(),
            format!(
                "container has runAsNonRoot and image has non-numeric user (app), \
                 cannot verify user is non-root {at}"
            )
        );
        assert!(verify(&asked, Some(&image(Some(-1), "")))
            .unwrap_err()
            .starts_with("container has runAsNonRoot and image has an invalid user id (-1)."));
        assert_eq!(verify(&asked, Some(&user)), Ok(()));

        // runAsUser decides over the image's user; the container's over the pod's.
        let as_user = pod(
            serde_json::json!({"runAsUser": 0}),
            serde_json::json!({"runAsNonRoot": true, "runAsUser": 1000}),
        );
        assert_eq!(verify(&as_user, Some(&root)), Ok(()));
        let as_root = pod(
            serde_json::json!({"runAsNonRoot": true, "runAsUser": 1000}),
            serde_json::json!({"runAsUser": 0}),
        );
        assert_eq!(
            verify(&as_root, Some(&user)).unwrap_err(),
            format!("container's runAsUser breaks non-root policy {at}")
        );
    }

    #[test]
    fn hostnames_are_cut_to_63_characters() {
        let long = format!("{}-x", "a".repeat(62));
        let pod = pod(serde_json::json!({"metadata": {"name": long}}));
        assert_eq!(hostname(&pod), "a".repeat(62));
    }

    #[test]
    fn command_and_args_expand_the_containers_environment() {
        let pod = pod(serde_json::json!({
            "metadata": {"name": "web", "namespace": "default", "uid": "u1"},
            "spec": {"containers": [{"name": "c", "image": "busybox",
                "command": ["sh", "-c", "echo $(GREETING) $$(GREETING) $(MISSING)"],
                "args": ["$(KUBERNETES_SERVICE_HOST)"]}]}
        }));
        let container = &pod.spec.as_ref().unwrap().containers[0];
        let inputs = ContainerInputs {
            image: "sha256:1",
            env: vec![
                ("GREETING".into(), "hello".into()),
                ("KUBERNETES_SERVICE_HOST".into(), "10.43.0.1".into()),
            ],
            mounts: Vec::new(),
            log_path: "c/0.log".into(),
        };
        let config = super::container(&pod, container, 0, inputs);
        assert_eq!(
            config.command,
            ["sh", "-c", "echo hello $(GREETING) $(MISSING)"]
        );
        assert_eq!(config.args, ["10.43.0.1"]);
    }
}
