//! The messages of rbac.authorization.k8s.io/v1.

use super::super::schema::*;
use super::meta_v1;

const PKG: &str = "rbac.authorization.k8s.io/v1";

msg! { AggregationRule [(1, "clusterRoleSelectors", Rep(M(&meta_v1::LabelSelector)))] }
msg! { ClusterRole [
    (1, "metadata", Keep(M(&meta_v1::ObjectMeta))),
    (2, "rules", Rep(M(&PolicyRule))),
    (3, "aggregationRule", Keep(M(&AggregationRule))),
] }
msg! { ClusterRoleBinding [
    (1, "metadata", Keep(M(&meta_v1::ObjectMeta))),
    (2, "subjects", Rep(M(&Subject))),
    (3, "roleRef", Keep(M(&RoleRef))),
] }
msg! { ClusterRoleBindingList [
    (1, "metadata", Keep(M(&meta_v1::ListMeta))),
    (2, "items", Rep(M(&ClusterRoleBinding))),
] }
msg! { ClusterRoleList [
    (1, "metadata", Keep(M(&meta_v1::ListMeta))),
    (2, "items", Rep(M(&ClusterRole))),
] }
msg! { PolicyRule [
    (1, "verbs", Rep(Str)),
    (2, "apiGroups", Rep(Str)),
    (3, "resources", Rep(Str)),
    (4, "resourceNames", Rep(Str)),
    (5, "nonResourceURLs", Rep(Str)),
] }
msg! { Role [(1, "metadata", Keep(M(&meta_v1::ObjectMeta))), (2, "rules", Rep(M(&PolicyRule)))] }
msg! { RoleBinding [
    (1, "metadata", Keep(M(&meta_v1::ObjectMeta))),
    (2, "subjects", Rep(M(&Subject))),
    (3, "roleRef", Keep(M(&RoleRef))),
] }
msg! { RoleBindingList [
    (1, "metadata", Keep(M(&meta_v1::ListMeta))),
    (2, "items", Rep(M(&RoleBinding))),
] }
msg! { RoleList [(1, "metadata", Keep(M(&meta_v1::ListMeta))), (2, "items", Rep(M(&Role)))] }
msg! { RoleRef [(1, "apiGroup", Keep(Str)), (2, "kind", Keep(Str)), (3, "name", Keep(Str))] }
msg! { Subject [
    (1, "kind", Keep(Str)),
    (2, "apiGroup", Omit(Str)),
    (3, "name", Keep(Str)),
    (4, "namespace", Omit(Str)),
] }

/// The kinds an object of this group version may have.
pub static KINDS: &[&Msg] = &[
    &ClusterRole,
    &ClusterRoleBinding,
    &ClusterRoleBindingList,
    &ClusterRoleList,
    &Role,
    &RoleBinding,
    &RoleBindingList,
    &RoleList,
];
