//! The files of configMap, secret, downwardAPI and projected volumes, as
//! upstream's volume plugins lay them out: every key (or the listed
//! `items`) as a file, with `defaultMode` or the item's mode; projected
//! service account tokens from the token manager.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{DownwardAPIVolumeFile, KeyToPath, Pod, Volume, VolumeProjection};

use super::atomic::File;
use super::tokens::TokenManager;
use crate::pods::env;

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
    tokens: &TokenManager,
    pod: &Pod,
    volume: &Volume,
) -> Result<Option<BTreeMap<String, File>>, String> {
    let namespace = pod.metadata.namespace.as_deref().unwrap_or("default");
    let mut out = BTreeMap::new();
    if let Some(source) = &volume.config_map {
        let mode = source.default_mode.unwrap_or(DEFAULT_MODE);
        let data = keys_of(api, "ConfigMap", namespace, &source.name, source.optional).await?;
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
        let data = keys_of(api, "Secret", namespace, &name, source.optional).await?;
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
            add_projection(api, tokens, &mut out, pod, namespace, projection, mode).await?;
        }
    } else {
        return Ok(None);
    }
    Ok(Some(out))
}

async fn add_projection(
    api: &kube::Client,
    tokens: &TokenManager,
    out: &mut BTreeMap<String, File>,
    pod: &Pod,
    namespace: &str,
    projection: &VolumeProjection,
    mode: i32,
) -> Result<(), String> {
    if let Some(source) = &projection.config_map {
        let data = keys_of(api, "ConfigMap", namespace, &source.name, source.optional).await?;
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
        let data = keys_of(api, "Secret", namespace, &source.name, source.optional).await?;
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
    if let Some(source) = &projection.service_account_token {
        let audience = source.audience.as_deref();
        let token = tokens
            .token(pod, audience, source.expiration_seconds)
            .await?;
        let file = File {
            contents: token.into_bytes(),
            mode: u32::try_from(mode).unwrap_or(0o644) & 0o777,
        };
        out.insert(source.path.clone(), file);
    }
    Ok(())
}

/// The keys of a ConfigMap (binaryData included) or Secret; `None` when
/// an optional one does not exist.
async fn keys_of(
    api: &kube::Client,
    kind: &str,
    namespace: &str,
    name: &str,
    optional: Option<bool>,
) -> Result<Option<BTreeMap<String, Vec<u8>>>, String> {
    match crate::sources::read(api, kind, namespace, name).await? {
        Some(found) => {
            let mut data = found.data;
            data.extend(found.binary);
            Ok(Some(data))
        }
        None if optional == Some(true) => Ok(None),
        None => Err(crate::pods::env::missing(kind, name)),
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
                let ip = pod.status.as_ref().and_then(|s| s.pod_ip.as_deref());
                env::field_value(pod, path, ip.unwrap_or_default())
                    .map_err(|e| format!("downwardAPI {path}: {e}"))?
            }
        }
    } else if let Some(resource) = &item.resource_field_ref {
        env::resource_value(
            pod,
            resource.container_name.as_deref().unwrap_or_default(),
            &resource.resource,
            resource.divisor.as_ref().map(|d| d.0.as_str()),
        )?
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
