//! The scale of the controllers of a budget's pods (upstream's
//! getExpectedScale): the sum of `spec.replicas` over the distinct
//! controllers of the pods, each found as a ReplicationController, a
//! Deployment (through its ReplicaSet), a ReplicaSet, a StatefulSet, or
//! else through the `scale` subresource of whatever kind it is.

use std::collections::HashMap;
use std::sync::Arc;

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::core::v1::{Pod, ReplicationController};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::{Api, DynamicObject};
use kube::core::GroupVersionKind;
use kube::{Client, ResourceExt};

use crate::pods::controller_of;
use crate::{describe, status_code};

/// The group of an apiVersion: `apps/v1` → `apps`, `v1` → ``.
fn group_of(api_version: &str) -> &str {
    api_version.rsplit_once('/').map_or("", |(group, _)| group)
}

/// The sum of the scales of the pods' controllers, and the names of pods
/// that have no controller.
pub async fn expected_scale(
    client: &Client,
    namespace: &str,
    pods: &[Arc<Pod>],
) -> Result<(i32, Vec<String>), String> {
    let mut scales: HashMap<String, i32> = HashMap::new();
    let mut unmanaged = Vec::new();
    for pod in pods {
        let Some(owner) = controller_of(&pod.metadata) else {
            unmanaged.push(pod.name_any());
            continue;
        };
        if scales.contains_key(&owner.uid) {
            continue;
        }
        match scale_of(client, namespace, owner).await? {
            Some((uid, scale)) => {
                scales.insert(uid, scale);
            }
            None => return Err(format!("found no controllers for pod {:?}", pod.name_any())),
        }
    }
    Ok((scales.values().sum(), unmanaged))
}

/// The uid and replicas of the controller `owner` names, if it exists and
/// is the one named (same uid).
async fn scale_of(
    client: &Client,
    namespace: &str,
    owner: &OwnerReference,
) -> Result<Option<(String, i32)>, String> {
    let group = group_of(&owner.api_version);
    let same = |uid: Option<&String>| uid.map(String::as_str) == Some(owner.uid.as_str());
    let failed = |error: kube::Error| describe(&error);
    match (owner.kind.as_str(), group) {
        ("ReplicationController", "") => {
            let api: Api<ReplicationController> = Api::namespaced(client.clone(), namespace);
            let found = api.get_opt(&owner.name).await.map_err(failed)?;
            Ok(found.filter(|rc| same(rc.metadata.uid.as_ref())).map(|rc| {
                let replicas = rc.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
                (owner.uid.clone(), replicas)
            }))
        }
        ("ReplicaSet", "apps" | "extensions") => {
            let api: Api<ReplicaSet> = Api::namespaced(client.clone(), namespace);
            let Some(set) = api
                .get_opt(&owner.name)
                .await
                .map_err(failed)?
                .filter(|rs| same(rs.metadata.uid.as_ref()))
            else {
                return Ok(None);
            };
            // A Deployment's ReplicaSet counts as its Deployment.
            if let Some(parent) = controller_of(&set.metadata).filter(|p| p.kind == "Deployment") {
                let api: Api<Deployment> = Api::namespaced(client.clone(), namespace);
                let deployment = api.get_opt(&parent.name).await.map_err(failed)?;
                if let Some(deployment) =
                    deployment.filter(|d| d.metadata.uid.as_deref() == Some(&parent.uid))
                {
                    let replicas = deployment
                        .spec
                        .as_ref()
                        .and_then(|s| s.replicas)
                        .unwrap_or(1);
                    return Ok(Some((parent.uid.clone(), replicas)));
                }
            }
            let replicas = set.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
            Ok(Some((owner.uid.clone(), replicas)))
        }
        ("StatefulSet", "apps") => {
            let api: Api<StatefulSet> = Api::namespaced(client.clone(), namespace);
            let found = api.get_opt(&owner.name).await.map_err(failed)?;
            Ok(found.filter(|s| same(s.metadata.uid.as_ref())).map(|set| {
                let replicas = set.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
                (owner.uid.clone(), replicas)
            }))
        }
        _ => scale_subresource(client, namespace, owner).await,
    }
}

/// The controller's `scale` subresource, for kinds not known here.
async fn scale_subresource(
    client: &Client,
    namespace: &str,
    owner: &OwnerReference,
) -> Result<Option<(String, i32)>, String> {
    let (group, version) = owner
        .api_version
        .rsplit_once('/')
        .unwrap_or(("", owner.api_version.as_str()));
    let kind = GroupVersionKind::gvk(group, version, &owner.kind);
    let (resource, capabilities) = kube::discovery::pinned_kind(client, &kind)
        .await
        .map_err(|error| describe(&error))?;
    let plural = resource.plural.clone();
    if !capabilities
        .subresources
        .iter()
        .any(|(sub, _)| sub.plural == "scale")
    {
        let group = if resource.group.is_empty() {
            plural
        } else {
            format!("{plural}.{}", resource.group)
        };
        return Err(format!("{group} does not implement the scale subresource"));
    }
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), namespace, &resource);
    let scale = match api.get_subresource("scale", &owner.name).await {
        Ok(scale) => scale,
        Err(error) if status_code(&error) == Some(404) => return Ok(None),
        Err(error) => return Err(describe(&error)),
    };
    if scale.metadata.uid.as_deref() != Some(owner.uid.as_str()) {
        return Ok(None);
    }
    let replicas = scale
        .data
        .pointer("/spec/replicas")
        .and_then(serde_json::Value::as_i64)
        .and_then(|r| i32::try_from(r).ok())
        .unwrap_or(0);
    Ok(Some((owner.uid.clone(), replicas)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_of_api_versions() {
        assert_eq!(group_of("apps/v1"), "apps");
        assert_eq!(group_of("v1"), "");
        assert_eq!(group_of("example.com/v1beta1"), "example.com");
    }
}
