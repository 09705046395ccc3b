//! The files of configMap, secret, downwardAPI and projected volumes, as
//! upstream's volume plugins lay them out: every key (or the listed
//! `items`) as a file, with `defaultMode` or the item's mode.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    ConfigMap, DownwardAPIVolumeFile, KeyToPath, Pod, Secret, Volume, VolumeProjection,
};
use kube::Api;

use super::atomic::File;

/// Upstream's default mode of projected files (0644).
const DEFAULT_MODE: i32 = 0o644;

/// Whether the agent projects this volume's files.
pub fn is_projected(volume: &Volume) -> bool {
    volume.config_map.is_some()
        || volume.secret.is_some()
        || volume.downward_api.is_some()
        || volume.projected.is_some()
}

/// The files `volume` should show; `Ok(None)` for other kinds.
pub async fn files(
    api: &kube::Client,
    pod: &Pod,
    volume: &Volume,
) -> Result<Option<BTreeMap<String, File>>, String> {
    let namespace = pod.metadata.namespace.as_deref().unwrap_or("default");
    let mut out = BTreeMap::new();
    if let Some(source) = &volume.config_map {
        let mode = source.default_mode.unwrap_or(DEFAULT_MODE);
        let data = config_map(api, namespace, &source.name, source.optional).await?;
        add_keys(
            &mut out,
            data,
            source.items.as_deref(),
            mode,
            "configmap",
            &source.name,
            source.optional,
        )?;
    } else if let Some(source) = &volume.secret {
        let mode = source.default_mode.unwrap_or(DEFAULT_MODE);
        let name = source.secret_name.clone().unwrap_or_default();
        let data = secret(api, namespace, &name, source.optional).await?;
        add_keys(
            &mut out,
            data,
            source.items.as_deref(),
            mode,
            "secret",
            &name,
            source.optional,
        )?;
    } else if let Some(source) = &volume.downward_api {
        let mode = source.default_mode.unwrap_or(DEFAULT_MODE);
        for item in source.items.iter().flatten() {
            add_downward(&mut out, pod, item, mode)?;
        }
    } else if let Some(source) = &volume.projected {
        let mode = source.default_mode.unwrap_or(DEFAULT_MODE);
        for projection in source.sources.iter().flatten() {
            add_projection(api, &mut out, pod, namespace, projection, mode).await?;
        }
    } else {
        return Ok(None);
    }
    Ok(Some(out))
}

async fn add_projection(
    api: &kube::Client,
    out: &mut BTreeMap<String, File>,
    pod: &Pod,
    namespace: &str,
    projection: &VolumeProjection,
    mode: i32,
) -> Result<(), String> {
    if let Some(source) = &projection.config_map {
        let data = config_map(api, namespace, &source.name, source.optional).await?;
        add_keys(
            out,
            data,
            source.items.as_deref(),
            mode,
            "configmap",
            &source.name,
            source.optional,
        )?;
    }
    if let Some(source) = &projection.secret {
        let data = secret(api, namespace, &source.name, source.optional).await?;
        add_keys(
            out,
            data,
            source.items.as_deref(),
            mode,
            "secret",
            &source.name,
            source.optional,
        )?;
    }
    if let Some(source) = &projection.downward_api {
        for item in source.items.iter().flatten() {
            add_downward(out, pod, item, mode)?;
        }
    }
    if projection.service_account_token.is_some() {
        return Err("serviceAccountToken projections are not supported by this node yet".into());
    }
    Ok(())
}

/// A ConfigMap's data (binaryData included); `None` when it does not
/// exist.
async fn config_map(
    api: &kube::Client,
    namespace: &str,
    name: &str,
    optional: Option<bool>,
) -> Result<Option<BTreeMap<String, Vec<u8>>>, String> {
    let maps: Api<ConfigMap> = Api::namespaced(api.clone(), namespace);
    match maps.get_opt(name).await {
        Ok(Some(map)) => {
            let mut data: BTreeMap<String, Vec<u8>> = map
                .data
                .unwrap_or_default()
                .into_iter()
                .map(|(k, v)| (k, v.into_bytes()))
                .collect();
            data.extend(
                map.binary_data
                    .unwrap_or_default()
                    .into_iter()
                    .map(|(k, v)| (k, v.0)),
            );
            Ok(Some(data))
        }
        Ok(None) if optional == Some(true) => Ok(None),
        Ok(None) => Err(format!("configmap \"{name}\" not found")),
        Err(error) => Err(format!("reading configmap {namespace}/{name}: {error}")),
    }
}

async fn secret(
    api: &kube::Client,
    namespace: &str,
    name: &str,
    optional: Option<bool>,
) -> Result<Option<BTreeMap<String, Vec<u8>>>, String> {
    let secrets: Api<Secret> = Api::namespaced(api.clone(), namespace);
    match secrets.get_opt(name).await {
        Ok(Some(secret)) => Ok(Some(
            secret
                .data
                .unwrap_or_default()
                .into_iter()
                .map(|(k, v)| (k, v.0))
                .collect(),
        )),
        Ok(None) if optional == Some(true) => Ok(None),
        Ok(None) => Err(format!("secret \"{name}\" not found")),
        Err(error) => Err(format!("reading secret {namespace}/{name}: {error}")),
    }
}

/// Every key, or the listed items, as files.
fn add_keys(
    out: &mut BTreeMap<String, File>,
    data: Option<BTreeMap<String, Vec<u8>>>,
    items: Option<&[KeyToPath]>,
    mode: i32,
    kind: &str,
    name: &str,
    optional: Option<bool>,
) -> Result<(), String> {
    let Some(data) = data else {
        return Ok(());
    };
    let file = |contents: Vec<u8>, mode: i32| File {
        contents,
        mode: u32::try_from(mode).unwrap_or(0o644) & 0o777,
    };
    match items {
        None | Some([]) => {
            for (key, value) in data {
                out.insert(key, file(value, mode));
            }
        }
        Some(items) => {
            for item in items {
                match data.get(&item.key) {
                    Some(value) => {
                        out.insert(
                            item.path.clone(),
                            file(value.clone(), item.mode.unwrap_or(mode)),
                        );
                    }
                    None if optional == Some(true) => {}
                    None => {
                        return Err(format!(
                            "configured to use key {} of {kind} {name}, but it has no such key",
                            item.key
                        ))
                    }
                }
            }
        }
    }
    Ok(())
}

/// A downwardAPI item: a field of the pod, labels and annotations as
/// `key="value"` lines.
fn add_downward(
    out: &mut BTreeMap<String, File>,
    pod: &Pod,
    item: &DownwardAPIVolumeFile,
    mode: i32,
) -> Result<(), String> {
    let contents = if let Some(field) = &item.field_ref {
        let lines = |map: &Option<BTreeMap<String, String>>| {
            map.iter()
                .flatten()
                .map(|(k, v)| format!("{k}={v:?}"))
                .collect::<Vec<_>>()
                .join("\n")
        };
        match field.field_path.as_str() {
            "metadata.labels" => lines(&pod.metadata.labels),
            "metadata.annotations" => lines(&pod.metadata.annotations),
            path => {
                let var = k8s_openapi::api::core::v1::EnvVar {
                    name: "x".into(),
                    value_from: Some(k8s_openapi::api::core::v1::EnvVarSource {
                        field_ref: Some(field.clone()),
                        ..Default::default()
                    }),
                    ..Default::default()
                };
                let ip = pod
                    .status
                    .as_ref()
                    .and_then(|s| s.pod_ip.clone())
                    .unwrap_or_default();
                let container = k8s_openapi::api::core::v1::Container {
                    env: Some(vec![var]),
                    ..Default::default()
                };
                let resolved = crate::pods::env::resolve(pod, &container, &ip, &Default::default())
                    .map_err(|e| format!("downwardAPI {path}: {e}"))?;
                resolved
                    .into_iter()
                    .next()
                    .map(|(_, v)| v)
                    .unwrap_or_default()
            }
        }
    } else if let Some(resource) = &item.resource_field_ref {
        let var = k8s_openapi::api::core::v1::EnvVar {
            name: "x".into(),
            value_from: Some(k8s_openapi::api::core::v1::EnvVarSource {
                resource_field_ref: Some(resource.clone()),
                ..Default::default()
            }),
            ..Default::default()
        };
        let container = k8s_openapi::api::core::v1::Container {
            name: resource.container_name.clone().unwrap_or_default(),
            env: Some(vec![var]),
            ..Default::default()
        };
        let resolved = crate::pods::env::resolve(pod, &container, "", &Default::default())?;
        resolved
            .into_iter()
            .next()
            .map(|(_, v)| v)
            .unwrap_or_default()
    } else {
        return Ok(());
    };
    let mode = u32::try_from(item.mode.unwrap_or(mode)).unwrap_or(0o644) & 0o777;
    out.insert(
        item.path.clone(),
        File {
            contents: contents.into_bytes(),
            mode,
        },
    );
    Ok(())
}
