//! The messages of meta/v1.

use super::super::schema::*;
use super::runtime;

const PKG: &str = "meta/v1";

msg! { APIGroup [
    (1, "name", Keep(Str)),
    (2, "versions", Rep(M(&GroupVersionForDiscovery))),
    (3, "preferredVersion", Keep(M(&GroupVersionForDiscovery))),
    (4, "serverAddressByClientCIDRs", Rep(M(&ServerAddressByClientCIDR))),
] }
msg! { APIGroupList [(1, "groups", Rep(M(&APIGroup)))] }
msg! { APIResource [
    (1, "name", Keep(Str)),
    (2, "namespaced", Keep(Bool)),
    (3, "kind", Keep(Str)),
    (4, "verbs", Keep(M(&Verbs))),
    (5, "shortNames", Rep(Str)),
    (6, "singularName", Keep(Str)),
    (7, "categories", Rep(Str)),
    (8, "group", Omit(Str)),
    (9, "version", Omit(Str)),
    (10, "storageVersionHash", Omit(Str)),
] }
msg! { APIResourceList [(1, "groupVersion", Keep(Str)), (2, "resources", Rep(M(&APIResource)))] }
msg! { APIVersions [
    (1, "versions", Rep(Str)),
    (2, "serverAddressByClientCIDRs", Rep(M(&ServerAddressByClientCIDR))),
] }
msg! { ApplyOptions [
    (1, "dryRun", Rep(Str)),
    (2, "force", Keep(Bool)),
    (3, "fieldManager", Keep(Str)),
] }
msg! { Condition [
    (1, "type", Keep(Str)),
    (2, "status", Keep(Str)),
    (3, "observedGeneration", Omit(I64)),
    (4, "lastTransitionTime", Keep(M(&Time))),
    (5, "reason", Keep(Str)),
    (6, "message", Keep(Str)),
] }
msg! { CreateOptions [
    (1, "dryRun", Rep(Str)),
    (3, "fieldManager", Omit(Str)),
    (4, "fieldValidation", Omit(Str)),
] }
msg! { DeleteOptions [
    (1, "gracePeriodSeconds", Keep(I64)),
    (2, "preconditions", Keep(M(&Preconditions))),
    (3, "orphanDependents", Keep(Bool)),
    (4, "propagationPolicy", Keep(Str)),
    (5, "dryRun", Rep(Str)),
    (6, "ignoreStoreReadErrorWithClusterBreakingPotential", Keep(Bool)),
] }
msg! { FieldSelectorRequirement [
    (1, "key", Keep(Str)),
    (2, "operator", Keep(Str)),
    (3, "values", Rep(Str)),
] }
msg! { FieldsV1 as Unwrap [(1, "Raw", Keep(Json))] }
msg! { GetOptions [(1, "resourceVersion", Omit(Str))] }
msg! { GroupVersionForDiscovery [(1, "groupVersion", Keep(Str)), (2, "version", Keep(Str))] }
msg! { LabelSelector [
    (1, "matchLabels", Map(Str)),
    (2, "matchExpressions", Rep(M(&LabelSelectorRequirement))),
] }
msg! { LabelSelectorRequirement [
    (1, "key", Keep(Str)),
    (2, "operator", Keep(Str)),
    (3, "values", Rep(Str)),
] }
msg! { List [(1, "metadata", Keep(M(&ListMeta))), (2, "items", Rep(M(&runtime::RawExtension)))] }
msg! { ListMeta [
    (1, "selfLink", Omit(Str)),
    (2, "resourceVersion", Omit(Str)),
    (3, "continue", Omit(Str)),
    (4, "remainingItemCount", Keep(I64)),
] }
msg! { ListOptions [
    (1, "labelSelector", Omit(Str)),
    (2, "fieldSelector", Omit(Str)),
    (3, "watch", Omit(Bool)),
    (4, "resourceVersion", Omit(Str)),
    (5, "timeoutSeconds", Keep(I64)),
    (7, "limit", Omit(I64)),
    (8, "continue", Omit(Str)),
    (9, "allowWatchBookmarks", Omit(Bool)),
    (10, "resourceVersionMatch", Omit(Str)),
    (11, "sendInitialEvents", Keep(Bool)),
] }
msg! { ManagedFieldsEntry [
    (1, "manager", Omit(Str)),
    (2, "operation", Omit(Str)),
    (3, "apiVersion", Omit(Str)),
    (4, "time", Keep(M(&Time))),
    (6, "fieldsType", Omit(Str)),
    (7, "fieldsV1", Keep(M(&FieldsV1))),
    (8, "subresource", Omit(Str)),
] }
msg! { MicroTime as MicroTime [(1, "seconds", Keep(I64)), (2, "nanos", Keep(I32))] }
msg! { ObjectMeta [
    (1, "name", Omit(Str)),
    (2, "generateName", Omit(Str)),
    (3, "namespace", Omit(Str)),
    (4, "selfLink", Omit(Str)),
    (5, "uid", Omit(Str)),
    (6, "resourceVersion", Omit(Str)),
    (7, "generation", Omit(I64)),
    (8, "creationTimestamp", Omit(M(&Time))),
    (9, "deletionTimestamp", Keep(M(&Time))),
    (10, "deletionGracePeriodSeconds", Keep(I64)),
    (11, "labels", Map(Str)),
    (12, "annotations", Map(Str)),
    (13, "ownerReferences", Rep(M(&OwnerReference))),
    (14, "finalizers", Rep(Str)),
    (17, "managedFields", Rep(M(&ManagedFieldsEntry))),
] }
msg! { OwnerReference [
    (1, "kind", Keep(Str)),
    (3, "name", Keep(Str)),
    (4, "uid", Keep(Str)),
    (5, "apiVersion", Keep(Str)),
    (6, "controller", Keep(Bool)),
    (7, "blockOwnerDeletion", Keep(Bool)),
] }
msg! { PartialObjectMetadata [(1, "metadata", Keep(M(&ObjectMeta)))] }
msg! { PartialObjectMetadataList [
    (1, "metadata", Keep(M(&ListMeta))),
    (2, "items", Rep(M(&PartialObjectMetadata))),
] }
msg! { PatchOptions [
    (1, "dryRun", Rep(Str)),
    (2, "force", Keep(Bool)),
    (3, "fieldManager", Omit(Str)),
    (4, "fieldValidation", Omit(Str)),
] }
msg! { Preconditions [(1, "uid", Keep(Str)), (2, "resourceVersion", Keep(Str))] }
msg! { ServerAddressByClientCIDR [(1, "clientCIDR", Keep(Str)), (2, "serverAddress", Keep(Str))] }
msg! { Status [
    (1, "metadata", Keep(M(&ListMeta))),
    (2, "status", Omit(Str)),
    (3, "message", Omit(Str)),
    (4, "reason", Omit(Str)),
    (5, "details", Keep(M(&StatusDetails))),
    (6, "code", Omit(I32)),
] }
msg! { StatusCause [(1, "reason", Omit(Str)), (2, "message", Omit(Str)), (3, "field", Omit(Str))] }
msg! { StatusDetails [
    (1, "name", Omit(Str)),
    (2, "group", Omit(Str)),
    (3, "kind", Omit(Str)),
    (4, "causes", Rep(M(&StatusCause))),
    (5, "retryAfterSeconds", Omit(I32)),
    (6, "uid", Omit(Str)),
] }
msg! { TableOptions [(1, "includeObject", Omit(Str))] }
msg! { Time as Time [(1, "seconds", Keep(I64)), (2, "nanos", Keep(I32))] }
msg! { UpdateOptions [
    (1, "dryRun", Rep(Str)),
    (2, "fieldManager", Omit(Str)),
    (3, "fieldValidation", Omit(Str)),
] }
msg! { Verbs as Unwrap [(1, "items", Rep(Str))] }

/// The kinds an object of this group version may have.
pub static KINDS: &[&Msg] = &[
    &APIGroup,
    &APIGroupList,
    &APIResourceList,
    &APIVersions,
    &ApplyOptions,
    &CreateOptions,
    &DeleteOptions,
    &GetOptions,
    &List,
    &ListOptions,
    &PartialObjectMetadata,
    &PartialObjectMetadataList,
    &PatchOptions,
    &Status,
    &TableOptions,
    &UpdateOptions,
];
