//! The messages of core/v1.

mod a_p;
mod p_w;

use super::super::schema::*;
use super::intstr;
use super::meta_v1;
use super::resource;
use super::runtime;
pub use a_p::*;
pub use p_w::*;

const PKG: &str = "core/v1";

/// The kinds an object of this group version may have.
pub static KINDS: &[&Msg] = &[
    &Binding,
    &ComponentStatus,
    &ComponentStatusList,
    &ConfigMap,
    &ConfigMapList,
    &Endpoints,
    &EndpointsList,
    &Event,
    &EventList,
    &LimitRange,
    &LimitRangeList,
    &List,
    &Namespace,
    &NamespaceList,
    &Node,
    &NodeList,
    &NodeProxyOptions,
    &PersistentVolume,
    &PersistentVolumeClaim,
    &PersistentVolumeClaimList,
    &PersistentVolumeList,
    &Pod,
    &PodAttachOptions,
    &PodExecOptions,
    &PodList,
    &PodLogOptions,
    &PodPortForwardOptions,
    &PodProxyOptions,
    &PodStatusResult,
    &PodTemplate,
    &PodTemplateList,
    &RangeAllocation,
    &ReplicationController,
    &ReplicationControllerList,
    &ResourceQuota,
    &ResourceQuotaList,
    &Secret,
    &SecretList,
    &SerializedReference,
    &Service,
    &ServiceAccount,
    &ServiceAccountList,
    &ServiceList,
    &ServiceProxyOptions,
];
