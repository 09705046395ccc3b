//! A pod as the agent keeps it between syncs: its JSON, plus the few
//! fields read without a sync. One process may stand in for thousands of
//! nodes; a decoded k8s-openapi `Pod` takes about 11 KB (its structs are
//! mostly inline, empty options), its JSON about 2 KB. A sync decodes the
//! pod it works on, which costs far less than the API write that follows.

use std::net::Ipv4Addr;
use std::sync::Arc;

use k8s_openapi::api::core::v1::Pod;

pub struct PodRecord {
    /// The node it is bound to.
    pub node: Box<str>,
    /// The address a previous agent run gave it, as its status says.
    pub reported_ip: Option<Ipv4Addr>,
    /// The whole object, without managedFields.
    json: Arc<[u8]>,
}

impl PodRecord {
    /// Keeps `pod`; `None` if it names no node or cannot be encoded.
    pub fn new(mut pod: Pod) -> Option<PodRecord> {
        pod.metadata.managed_fields = None;
        let node = pod.spec.as_ref()?.node_name.as_deref()?.into();
        let reported_ip = pod
            .status
            .as_ref()
            .and_then(|s| s.pod_ip.as_deref())
            .and_then(|ip| ip.parse().ok());
        let json = serde_json::to_vec(&pod).ok()?.into();
        Some(PodRecord {
            node,
            reported_ip,
            json,
        })
    }

    /// The encoded pod, cheap to take out of a lock and decode outside it.
    pub fn encoded(&self) -> Arc<[u8]> {
        self.json.clone()
    }

    /// Decodes what [`PodRecord::encoded`] gave; it was encoded from a
    /// `Pod`, so this fails only on a bug.
    pub fn decode(encoded: &[u8]) -> Option<Pod> {
        serde_json::from_slice(encoded)
            .inspect_err(|error| tracing::error!(%error, "decoding a kept pod"))
            .ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{PodSpec, PodStatus};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ManagedFieldsEntry, ObjectMeta};

    fn pod(node: Option<&str>) -> Pod {
        Pod {
            metadata: ObjectMeta {
                name: Some("web".into()),
                uid: Some("u1".into()),
                managed_fields: Some(vec![ManagedFieldsEntry::default()]),
                ..ObjectMeta::default()
            },
            spec: Some(PodSpec {
                node_name: node.map(Into::into),
                ..PodSpec::default()
            }),
            status: Some(PodStatus {
                pod_ip: Some("10.42.0.7".into()),
                ..PodStatus::default()
            }),
        }
    }

    #[test]
    fn keeps_the_pod_without_managed_fields() {
        let record = PodRecord::new(pod(Some("n1"))).expect("bound");
        assert_eq!(&*record.node, "n1");
        assert_eq!(record.reported_ip, Some(Ipv4Addr::new(10, 42, 0, 7)));
        let back = PodRecord::decode(&record.encoded()).expect("decodes");
        let mut expected = pod(Some("n1"));
        expected.metadata.managed_fields = None;
        assert_eq!(back, expected);
    }

    #[test]
    fn an_unbound_pod_is_not_kept() {
        assert!(PodRecord::new(pod(None)).is_none());
    }
}
