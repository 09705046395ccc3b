//! The messages of storage.k8s.io/v1.

use super::super::schema::*;
use super::core_v1;
use super::meta_v1;
use super::resource;

const PKG: &str = "storage.k8s.io/v1";

msg! { CSIDriver [
    (1, "metadata", Keep(M(&meta_v1::ObjectMeta))),
    (2, "spec", Keep(M(&CSIDriverSpec))),
] }
msg! { CSIDriverList [
    (1, "metadata", Keep(M(&meta_v1::ListMeta))),
    (2, "items", Rep(M(&CSIDriver))),
] }
msg! { CSIDriverSpec [
    (1, "attachRequired", Keep(Bool)),
    (2, "podInfoOnMount", Keep(Bool)),
    (3, "volumeLifecycleModes", Rep(Str)),
    (4, "storageCapacity", Keep(Bool)),
    (5, "fsGroupPolicy", Keep(Str)),
    (6, "tokenRequests", Rep(M(&TokenRequest))),
    (7, "requiresRepublish", Keep(Bool)),
    (8, "seLinuxMount", Keep(Bool)),
    (9, "nodeAllocatableUpdatePeriodSeconds", Keep(I64)),
    (10, "serviceAccountTokenInSecrets", Keep(Bool)),
] }
msg! { CSINode [
    (1, "metadata", Keep(M(&meta_v1::ObjectMeta))),
    (2, "spec", Keep(M(&CSINodeSpec))),
] }
msg! { CSINodeDriver [
    (1, "name", Keep(Str)),
    (2, "nodeID", Keep(Str)),
    (3, "topologyKeys", Rep(Str)),
    (4, "allocatable", Keep(M(&VolumeNodeResources))),
] }
msg! { CSINodeList [(1, "metadata", Keep(M(&meta_v1::ListMeta))), (2, "items", Rep(M(&CSINode)))] }
msg! { CSINodeSpec [(1, "drivers", Rep(M(&CSINodeDriver)))] }
msg! { CSIStorageCapacity [
    (1, "metadata", Keep(M(&meta_v1::ObjectMeta))),
    (2, "nodeTopology", Keep(M(&meta_v1::LabelSelector))),
    (3, "storageClassName", Keep(Str)),
    (4, "capacity", Keep(M(&resource::Quantity))),
    (5, "maximumVolumeSize", Keep(M(&resource::Quantity))),
] }
msg! { CSIStorageCapacityList [
    (1, "metadata", Keep(M(&meta_v1::ListMeta))),
    (2, "items", Rep(M(&CSIStorageCapacity))),
] }
msg! { StorageClass [
    (1, "metadata", Keep(M(&meta_v1::ObjectMeta))),
    (2, "provisioner", Keep(Str)),
    (3, "parameters", Map(Str)),
    (4, "reclaimPolicy", Keep(Str)),
    (5, "mountOptions", Rep(Str)),
    (6, "allowVolumeExpansion", Keep(Bool)),
    (7, "volumeBindingMode", Keep(Str)),
    (8, "allowedTopologies", Rep(M(&core_v1::TopologySelectorTerm))),
] }
msg! { StorageClassList [
    (1, "metadata", Keep(M(&meta_v1::ListMeta))),
    (2, "items", Rep(M(&StorageClass))),
] }
msg! { TokenRequest [(1, "audience", Keep(Str)), (2, "expirationSeconds", Keep(I64))] }
msg! { VolumeAttachment [
    (1, "metadata", Keep(M(&meta_v1::ObjectMeta))),
    (2, "spec", Keep(M(&VolumeAttachmentSpec))),
    (3, "status", Keep(M(&VolumeAttachmentStatus))),
] }
msg! { VolumeAttachmentList [
    (1, "metadata", Keep(M(&meta_v1::ListMeta))),
    (2, "items", Rep(M(&VolumeAttachment))),
] }
msg! { VolumeAttachmentSource [
    (1, "persistentVolumeName", Keep(Str)),
    (2, "inlineVolumeSpec", Keep(M(&core_v1::PersistentVolumeSpec))),
] }
msg! { VolumeAttachmentSpec [
    (1, "attacher", Keep(Str)),
    (2, "source", Keep(M(&VolumeAttachmentSource))),
    (3, "nodeName", Keep(Str)),
] }
msg! { VolumeAttachmentStatus [
    (1, "attached", Keep(Bool)),
    (2, "attachmentMetadata", Map(Str)),
    (3, "attachError", Keep(M(&VolumeError))),
    (4, "detachError", Keep(M(&VolumeError))),
] }
msg! { VolumeAttributesClass [
    (1, "metadata", Keep(M(&meta_v1::ObjectMeta))),
    (2, "driverName", Keep(Str)),
    (3, "parameters", Map(Str)),
] }
msg! { VolumeAttributesClassList [
    (1, "metadata", Keep(M(&meta_v1::ListMeta))),
    (2, "items", Rep(M(&VolumeAttributesClass))),
] }
msg! { VolumeError [
    (1, "time", Keep(M(&meta_v1::Time))),
    (2, "message", Omit(Str)),
    (3, "errorCode", Keep(I32)),
] }
msg! { VolumeNodeResources [(1, "count", Keep(I32))] }

/// The kinds an object of this group version may have.
pub static KINDS: &[&Msg] = &[
    &CSIDriver,
    &CSIDriverList,
    &CSINode,
    &CSINodeList,
    &CSIStorageCapacity,
    &CSIStorageCapacityList,
    &StorageClass,
    &StorageClassList,
    &VolumeAttachment,
    &VolumeAttachmentList,
    &VolumeAttributesClass,
    &VolumeAttributesClassList,
];
