//! A container's environment, as upstream's kubelet builds it
//! (`makeEnvironmentVariables`): `envFrom` first, then `env` in order,
//! each value expanded with `$(VAR)` references to the variables before
//! it; fields and resources of the pod through `valueFrom`.

use std::collections::BTreeMap;

use capstan_api::validation::quantity::Quantity;
use k8s_openapi::api::core::v1::{Container, Pod};

/// Values of ConfigMaps and Secrets the environment refers to, fetched
/// by the caller: `(kind, name) -> data`, kind `ConfigMap` or `Secret`.
pub type Sources = BTreeMap<(&'static str, String), BTreeMap<String, String>>;

/// The ConfigMaps and Secrets `container`'s environment reads, with
/// whether each is optional.
pub fn sources_of(container: &Container) -> Vec<(&'static str, String, bool)> {
    let mut out = Vec::new();
    for from in container.env_from.iter().flatten() {
        if let Some(source) = &from.config_map_ref {
            out.push((
                "ConfigMap",
                source.name.clone(),
                source.optional == Some(true),
            ));
        }
        if let Some(source) = &from.secret_ref {
            out.push(("Secret", source.name.clone(), source.optional == Some(true)));
        }
    }
    for var in container.env.iter().flatten() {
        let Some(from) = &var.value_from else {
            continue;
        };
        if let Some(key) = &from.config_map_key_ref {
            out.push(("ConfigMap", key.name.clone(), key.optional == Some(true)));
        }
        if let Some(key) = &from.secret_key_ref {
            out.push(("Secret", key.name.clone(), key.optional == Some(true)));
        }
    }
    out
}

/// The environment of `container`; an error (upstream's
/// CreateContainerConfigError message) when a required source is missing.
/// `services` are the Service variables ([`super::service_env`]): `$(VAR)`
/// may name them, and the container's own variables win over them.
pub fn resolve(
    pod: &Pod,
    container: &Container,
    pod_ip: &str,
    sources: &Sources,
    services: &[(String, String)],
) -> Result<Vec<(String, String)>, String> {
    let namespace = pod.metadata.namespace.as_deref().unwrap_or_default();
    let mut vars: Vec<(String, String)> = Vec::new();
    let set = |vars: &mut Vec<(String, String)>, name: String, value: String| match vars
        .iter_mut()
        .find(|(n, _)| *n == name)
    {
        Some(existing) => existing.1 = value,
        None => vars.push((name, value)),
    };
    for from in container.env_from.iter().flatten() {
        let prefix = from.prefix.clone().unwrap_or_default();
        let (kind, name, optional) = match (&from.config_map_ref, &from.secret_ref) {
            (Some(c), _) => ("ConfigMap", &c.name, c.optional == Some(true)),
            (None, Some(s)) => ("Secret", &s.name, s.optional == Some(true)),
            (None, None) => continue,
        };
        match sources.get(&(kind, name.clone())) {
            Some(data) => {
                for (key, value) in data {
                    set(&mut vars, format!("{prefix}{key}"), value.clone());
                }
            }
            None if optional => {}
            None => return Err(missing(kind, name)),
        }
    }
    for var in container.env.iter().flatten() {
        let value = match &var.value_from {
            None => expand(var.value.as_deref().unwrap_or_default(), &vars, services),
            Some(from) => {
                if let Some(field) = &from.field_ref {
                    field_value(pod, &field.field_path, pod_ip)?
                } else if let Some(resource) = &from.resource_field_ref {
                    resource_value(
                        pod,
                        resource
                            .container_name
                            .as_deref()
                            .unwrap_or(&container.name),
                        &resource.resource,
                        resource.divisor.as_ref().map(|d| d.0.as_str()),
                    )?
                } else if let Some(key) = &from.config_map_key_ref {
                    match lookup(
                        sources,
                        namespace,
                        "ConfigMap",
                        &key.name,
                        &key.key,
                        key.optional,
                    )? {
                        Some(value) => value,
                        None => continue,
                    }
                } else if let Some(key) = &from.secret_key_ref {
                    match lookup(
                        sources,
                        namespace,
                        "Secret",
                        &key.name,
                        &key.key,
                        key.optional,
                    )? {
                        Some(value) => value,
                        None => continue,
                    }
                } else {
                    String::new()
                }
            }
        };
        set(&mut vars, var.name.clone(), value);
    }
    for (name, value) in services {
        if !vars.iter().any(|(n, _)| n == name) {
            vars.push((name.clone(), value.clone()));
        }
    }
    Ok(vars)
}

/// Upstream's message for a ConfigMap or Secret that does not exist.
pub(crate) fn missing(kind: &str, name: &str) -> String {
    let kind = if kind == "ConfigMap" {
        "configmap"
    } else {
        "secret"
    };
    format!("{kind} \"{name}\" not found")
}

fn lookup(
    sources: &Sources,
    namespace: &str,
    kind: &'static str,
    name: &str,
    key: &str,
    optional: Option<bool>,
) -> Result<Option<String>, String> {
    let optional = optional == Some(true);
    match sources.get(&(kind, name.to_string())) {
        None if optional => Ok(None),
        None => Err(missing(kind, name)),
        Some(data) => match data.get(key) {
            Some(value) => Ok(Some(value.clone())),
            None if optional => Ok(None),
            None => Err(format!(
                "couldn't find key {key} in {kind} {namespace}/{name}"
            )),
        },
    }
}

/// `$(VAR)` replaced by the value of VAR in `vars`, else in `more`;
/// `$$(VAR)` escapes; an unknown reference stays as written (upstream's
/// `expansion.Expand`).
pub fn expand(text: &str, vars: &[(String, String)], more: &[(String, String)]) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some(inner) = after.strip_prefix('(') {
            match inner.find(')') {
                Some(end) => {
                    let name = &inner[..end];
                    match vars.iter().chain(more).find(|(n, _)| n == name) {
                        Some((_, value)) => out.push_str(value),
                        None => {
                            out.push_str("$(");
                            out.push_str(name);
                            out.push(')');
                        }
                    }
                    rest = &inner[end + 1..];
                }
                None => {
                    out.push_str("$(");
                    rest = inner;
                }
            }
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

/// A `fieldRef` (upstream's `podFieldSelectorRuntimeValue`).
pub(crate) fn field_value(pod: &Pod, path: &str, pod_ip: &str) -> Result<String, String> {
    let meta = &pod.metadata;
    let spec = pod.spec.clone().unwrap_or_default();
    let status = pod.status.clone().unwrap_or_default();
    let keyed = |prefix: &str, map: &Option<BTreeMap<String, String>>| {
        let key = path.strip_prefix(prefix)?.strip_suffix("']")?;
        Some(
            map.as_ref()
                .and_then(|m| m.get(key))
                .cloned()
                .unwrap_or_default(),
        )
    };
    if let Some(value) = keyed("metadata.labels['", &meta.labels) {
        return Ok(value);
    }
    if let Some(value) = keyed("metadata.annotations['", &meta.annotations) {
        return Ok(value);
    }
    Ok(match path {
        "metadata.name" => meta.name.clone().unwrap_or_default(),
        "metadata.namespace" => meta.namespace.clone().unwrap_or_default(),
        "metadata.uid" => meta.uid.clone().unwrap_or_default(),
        "spec.nodeName" => spec.node_name.unwrap_or_default(),
        "spec.serviceAccountName" => spec.service_account_name.unwrap_or_default(),
        "status.hostIP" | "status.hostIPs" => status.host_ip.unwrap_or_default(),
        "status.podIP" | "status.podIPs" => pod_ip.to_string(),
        other => return Err(format!("unsupported fieldRef {other:?}")),
    })
}

/// A `resourceFieldRef`: the container's request or limit in units of
/// the divisor, rounded up (upstream's `ExtractContainerResourceValue`).
pub(crate) fn resource_value(
    pod: &Pod,
    container_name: &str,
    resource: &str,
    divisor: Option<&str>,
) -> Result<String, String> {
    let spec = pod.spec.clone().unwrap_or_default();
    let container = spec
        .containers
        .iter()
        .chain(spec.init_containers.iter().flatten())
        .find(|c| c.name == container_name)
        .ok_or_else(|| format!("container {container_name:?} not found"))?;
    let resources = container.resources.clone().unwrap_or_default();
    let (list, name) = match resource.split_once('.') {
        Some(("limits", name)) => (resources.limits, name),
        Some(("requests", name)) => (resources.requests, name),
        _ => return Err(format!("unsupported resource {resource:?}")),
    };
    let amount = list
        .as_ref()
        .and_then(|l| l.get(name))
        .and_then(|q| Quantity::parse(&q.0).ok());
    let divisor = divisor
        .and_then(|d| Quantity::parse(d).ok())
        .unwrap_or_else(|| Quantity::from_int(1));
    let (value, per) = if name == "cpu" {
        (amount.map(|q| q.milli_value()), divisor.milli_value())
    } else {
        (amount.map(|q| q.value()), divisor.value())
    };
    // A limit not set is the node's allocatable upstream; the agent does
    // not know it here, so an unset limit reads as 0 only for requests.
    let value = value.unwrap_or(0);
    if per <= 0 {
        return Err(format!("invalid divisor for {resource}"));
    }
    Ok(((value + per - 1) / per).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod() -> Pod {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": "web", "namespace": "ns", "uid": "u", "labels": {"app": "a"}},
            "spec": {"nodeName": "n1", "containers": [{"name": "c",
                "resources": {"limits": {"cpu": "500m", "memory": "64Mi"}},
                "envFrom": [{"configMapRef": {"name": "cfg"}, "prefix": "CFG_"}],
                "env": [
                    {"name": "A", "value": "one"},
                    {"name": "B", "value": "$(A)-two $$(A) $(NOPE)"},
                    {"name": "NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                    {"name": "APP", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['app']"}}},
                    {"name": "IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
                    {"name": "CPU", "valueFrom": {"resourceFieldRef": {"resource": "limits.cpu"}}},
                    {"name": "MEM", "valueFrom": {"resourceFieldRef": {"resource": "limits.memory", "divisor": "1Mi"}}},
                    {"name": "PW", "valueFrom": {"secretKeyRef": {"name": "s", "key": "pw"}}},
                    {"name": "API", "value": "https://$(KUBERNETES_SERVICE_HOST):$(KUBERNETES_SERVICE_PORT)"},
                    {"name": "WEB_SERVICE_PORT", "value": "mine"}
                ]}]}
        }))
        .unwrap()
    }

    #[test]
    fn values_fields_resources_and_sources() {
        let pod = pod();
        let container = &pod.spec.as_ref().unwrap().containers[0];
        let mut sources = Sources::new();
        sources.insert(
            ("ConfigMap", "cfg".into()),
            BTreeMap::from([("mode".into(), "fast".into())]),
        );
        sources.insert(
            ("Secret", "s".into()),
            BTreeMap::from([("pw".into(), "hunter2".into())]),
        );
        let services = [
            ("KUBERNETES_SERVICE_HOST", "10.43.0.1"),
            ("KUBERNETES_SERVICE_PORT", "443"),
            ("WEB_SERVICE_PORT", "80"),
        ]
        .map(|(k, v)| (k.to_string(), v.to_string()));
        let env: BTreeMap<_, _> = resolve(&pod, container, "10.42.0.5", &sources, &services)
            .unwrap()
            .into_iter()
            .collect();
        assert_eq!(env["CFG_mode"], "fast");
        assert_eq!(env["B"], "one-two $(A) $(NOPE)");
        assert_eq!(env["NAME"], "web");
        assert_eq!(env["APP"], "a");
        assert_eq!(env["IP"], "10.42.0.5");
        assert_eq!(env["CPU"], "1");
        assert_eq!(env["MEM"], "64");
        assert_eq!(env["PW"], "hunter2");
        // Service variables: referable, and the container's own win.
        assert_eq!(env["API"], "https://10.43.0.1:443");
        assert_eq!(env["KUBERNETES_SERVICE_HOST"], "10.43.0.1");
        assert_eq!(env["WEB_SERVICE_PORT"], "mine");
        assert_eq!(sources_of(container).len(), 2);
    }

    #[test]
    fn a_missing_source_is_a_config_error() {
        let pod = pod();
        let container = &pod.spec.as_ref().unwrap().containers[0];
        let error = resolve(&pod, container, "", &Sources::new(), &[]).unwrap_err();
        assert_eq!(error, "configmap \"cfg\" not found");
    }
}
