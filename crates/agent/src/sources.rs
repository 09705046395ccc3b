//! The ConfigMaps and Secrets pods read, for their environment and their
//! volumes, fetched from the API.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::Api;

/// What a ConfigMap or Secret holds: `data` (a Secret's decoded), and a
/// ConfigMap's `binaryData` apart, since only volumes show it.
#[derive(Default)]
pub struct Data {
    pub data: BTreeMap<String, Vec<u8>>,
    pub binary: BTreeMap<String, Vec<u8>>,
    /// A Secret's `type` (image pull secrets are read by it).
    pub secret_type: Option<String>,
}

/// Reads the ConfigMap or Secret (`kind`) `namespace/name`; `None` when
/// it does not exist.
pub async fn read(
    api: &kube::Client,
    kind: &str,
    namespace: &str,
    name: &str,
) -> Result<Option<Data>, String> {
    let fetched = if kind == "ConfigMap" {
        let maps: Api<ConfigMap> = Api::namespaced(api.clone(), namespace);
        maps.get_opt(name).await.map(|found| {
            found.map(|map| Data {
                data: map
                    .data
                    .unwrap_or_default()
                    .into_iter()
                    .map(|(k, v)| (k, v.into_bytes()))
                    .collect(),
                binary: map
                    .binary_data
                    .unwrap_or_default()
                    .into_iter()
                    .map(|(k, v)| (k, v.0))
                    .collect(),
                secret_type: None,
            })
        })
    } else {
        let secrets: Api<Secret> = Api::namespaced(api.clone(), namespace);
        secrets.get_opt(name).await.map(|found| {
            found.map(|secret| Data {
                data: secret
                    .data
                    .unwrap_or_default()
                    .into_iter()
                    .map(|(k, v)| (k, v.0))
                    .collect(),
                binary: BTreeMap::new(),
                secret_type: secret.type_,
            })
        })
    };
    let what = if kind == "ConfigMap" {
        "configmap"
    } else {
        "secret"
    };
    fetched.map_err(|error| format!("reading {what} {namespace}/{name}: {error}"))
}
