//! What the caches keep of each object: only the fields enforcement reads. Every node caches
//! every pod of the cluster (they are the peers policies select), so the rest — env, volumes,
//! conditions, managed fields — would be most of the agent's memory for nothing.

use k8s_openapi::api::core::v1::{Container, Namespace, Pod, PodSpec, PodStatus};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use kube::api::ObjectMeta;

/// Keeps name, namespace, labels, deletion time; the node, host networking and named
/// container ports; the phase and addresses.
pub(crate) fn pod(pod: &mut Pod) {
    slim_metadata(&mut pod.metadata);
    if let Some(spec) = pod.spec.take() {
        pod.spec = Some(PodSpec {
            node_name: spec.node_name,
            host_network: spec.host_network,
            containers: spec.containers.into_iter().map(container).collect(),
            init_containers: spec
                .init_containers
                .map(|containers| containers.into_iter().map(container).collect()),
            ..PodSpec::default()
        });
    }
    if let Some(status) = pod.status.take() {
        pod.status = Some(PodStatus {
            phase: status.phase,
            pod_ip: status.pod_ip,
            pod_ips: status.pod_ips,
            ..PodStatus::default()
        });
    }
}

pub(crate) fn namespace(namespace: &mut Namespace) {
    slim_metadata(&mut namespace.metadata);
    namespace.spec = None;
    namespace.status = None;
}

pub(crate) fn policy(policy: &mut NetworkPolicy) {
    policy.metadata.managed_fields = None;
    policy.metadata.annotations = None;
}

fn container(container: Container) -> Container {
    Container {
        name: container.name,
        ports: container.ports,
        ..Container::default()
    }
}

fn slim_metadata(metadata: &mut ObjectMeta) {
    metadata.managed_fields = None;
    metadata.annotations = None;
    metadata.owner_references = None;
    metadata.finalizers = None;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::NetpolModel;
    use serde_json::json;

    #[test]
    fn slim_pods_give_the_same_enforcement() {
        let full: Pod = serde_json::from_value(json!({
            "metadata": {"namespace": "ns", "name": "web", "labels": {"app": "web"},
                         "annotations": {"big": "x".repeat(1000)},
                         "managedFields": [{"manager": "kubectl", "operation": "Apply"}]},
            "spec": {"nodeName": "node-a", "containers": [{"name": "c", "image": "busybox",
                     "env": [{"name": "A", "value": "B"}],
                     "ports": [{"name": "http", "containerPort": 8080}]}]},
            "status": {"phase": "Running", "podIP": "10.0.0.2", "podIPs": [{"ip": "10.0.0.2"}],
                       "conditions": [{"type": "Ready", "status": "True"}]},
        }))
        .unwrap();
        let mut slim = full.clone();
        pod(&mut slim);
        assert!(slim.metadata.annotations.is_none() && slim.metadata.managed_fields.is_none());
        let spec = slim.spec.as_ref().unwrap();
        assert!(spec.containers[0].env.is_none() && spec.containers[0].image.is_none());
        assert!(slim.status.as_ref().unwrap().conditions.is_none());

        let policy: NetworkPolicy = serde_json::from_value(json!({
            "metadata": {"namespace": "ns", "name": "p"},
            "spec": {"podSelector": {"matchLabels": {"app": "web"}}, "ingress": [{"ports": [{"port": "http"}]}]},
        }))
        .unwrap();
        let with = |pod: &Pod| NetpolModel::build([&policy], [pod], [], "node-a");
        assert_eq!(with(&full), with(&slim));
        assert_eq!(with(&slim).pods.len(), 1);
    }
}
