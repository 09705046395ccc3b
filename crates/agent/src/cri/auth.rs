//! Registry logins from a pod's `imagePullSecrets`, as upstream's kubelet
//! uses them (`pkg/credentialprovider`: the keyring and its secrets;
//! `kuberuntime_image.go`'s `PullImage`): the logins whose registry matches
//! the image are tried in turn; an image no login matches is pulled with
//! none, which leaves the node's own registry configuration to the runtime.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;

use k8s_cri::v1 as cri;
use k8s_cri::v1::image_service_client::ImageServiceClient;
use k8s_openapi::api::core::v1::Pod;
use serde_json::{Map, Value};
use tonic::transport::Channel;

use crate::events::{Events, Kind};

const DOCKER_CONFIG_JSON: &str = "kubernetes.io/dockerconfigjson";
const DOCKER_CONFIG_JSON_KEY: &str = ".dockerconfigjson";
const DOCKERCFG: &str = "kubernetes.io/dockercfg";
const DOCKERCFG_KEY: &str = ".dockercfg";
/// Docker Hub's key in docker configs (`https://index.docker.io/v1/`).
const DEFAULT_REGISTRY: &str = "index.docker.io";

/// One registry login.
#[derive(Clone, Debug, PartialEq)]
pub struct Credential {
    pub username: String,
    pub password: String,
}

/// An image pull secret as read: its type and data.
pub struct PullSecret {
    pub secret_type: String,
    pub data: BTreeMap<String, Vec<u8>>,
}

/// Reads the pod's image pull secrets; for those that cannot be read
/// records upstream's warning on the pod and goes on without them.
pub async fn pull_secrets(api: &kube::Client, events: &Events, pod: &Pod) -> Vec<PullSecret> {
    let namespace = pod.metadata.namespace.as_deref().unwrap_or("default");
    let names = pod
        .spec
        .as_ref()
        .and_then(|s| s.image_pull_secrets.as_ref())
        .into_iter()
        .flatten()
        .map(|r| r.name.as_str())
        // The API accepted empty names once; upstream skips them quietly.
        .filter(|name| !name.is_empty());
    let mut secrets = Vec::new();
    let mut failed = Vec::new();
    for name in names {
        match crate::sources::read(api, "Secret", namespace, name).await {
            Ok(Some(found)) => secrets.push(PullSecret {
                secret_type: found.secret_type.unwrap_or_default(),
                data: found.data,
            }),
            Ok(None) => failed.push(name.to_string()),
            Err(error) => {
                tracing::info!(%error, secret = name, "cannot read an image pull secret");
                failed.push(name.to_string());
            }
        }
    }
    if !failed.is_empty() {
        let message = format!(
            "Unable to retrieve some image pull secrets ({}); attempting to pull the image may not succeed.",
            failed.join(", ")
        );
        events.pod(
            pod,
            Kind::Warning,
            "FailedToRetrieveImagePullSecret",
            message,
        );
    }
    secrets
}

/// Pulls `spec` with each login of `secrets` that matches it until one
/// succeeds, or with none when none matches; returns the image's ref, or
/// the error (every login's, as upstream aggregates them).
pub async fn pull(
    images: &ImageServiceClient<Channel>,
    spec: &cri::ImageSpec,
    sandbox: &cri::PodSandboxConfig,
    secrets: &[PullSecret],
) -> Result<String, String> {
    let credentials = Keyring::from_secrets(secrets)?.lookup(&spec.image);
    try_each(&credentials, |auth| {
        let mut images = images.clone();
        let request = cri::PullImageRequest {
            image: Some(spec.clone()),
            auth,
            sandbox_config: Some(sandbox.clone()),
        };
        async move {
            images
                .pull_image(request)
                .await
                .map(|pulled| pulled.into_inner().image_ref)
                .map_err(|status| status.message().to_string())
        }
    })
    .await
}

/// Calls `pull` with each credential in order until one succeeds, or once
/// without any when there are none.
async fn try_each<F, Fut>(credentials: &[Credential], mut pull: F) -> Result<String, String>
where
    F: FnMut(Option<cri::AuthConfig>) -> Fut,
    Fut: Future<Output = Result<String, String>>,
{
    if credentials.is_empty() {
        return pull(None).await;
    }
    let mut errors: Vec<String> = Vec::new();
    for credential in credentials {
        let auth = cri::AuthConfig {
            username: credential.username.clone(),
            password: credential.password.clone(),
            ..Default::default()
        };
        match pull(Some(auth)).await {
            Ok(image_ref) => return Ok(image_ref),
            Err(error) => errors.push(error),
        }
    }
    Err(aggregate(errors))
}

/// Several errors as Go's `utilerrors.NewAggregate` prints them: one
/// alone, else the distinct ones in brackets.
fn aggregate(errors: Vec<String>) -> String {
    let mut distinct: Vec<String> = Vec::new();
    for error in errors {
        if !distinct.contains(&error) {
            distinct.push(error);
        }
    }
    if distinct.len() == 1 {
        return distinct.remove(0);
    }
    format!("[{}]", distinct.join(", "))
}

/// Logins by registry location, as upstream's `BasicDockerKeyring`.
#[derive(Debug, Default)]
pub struct Keyring {
    /// Locations, most specific first (reverse order of their text).
    index: Vec<String>,
    creds: HashMap<String, Vec<Credential>>,
}

impl Keyring {
    /// The logins of the secrets of the two docker types; other secrets
    /// are passed over. A docker secret that does not parse fails the pull,
    /// as upstream's.
    pub fn from_secrets(secrets: &[PullSecret]) -> Result<Keyring, String> {
        let mut keyring = Keyring::default();
        for secret in secrets {
            if let Some(entries) = docker_config(secret)? {
                keyring.add(entries);
            }
        }
        Ok(keyring)
    }

    fn add(&mut self, entries: Vec<(String, Credential)>) {
        for (location, credential) in entries {
            let Some(key) = location_key(&location) else {
                tracing::warn!(%location, "image pull secret entry is not a registry location; ignored");
                continue;
            };
            self.creds.entry(key.clone()).or_default().push(credential);
            if !self.index.contains(&key) {
                self.index.push(key);
            }
        }
        // More specific locations first: `quay.io/coreos` before `quay.io`.
        self.index.sort_by(|a, b| b.cmp(a));
    }

    /// The logins for `image`, in the order they are to be tried.
    pub fn lookup(&self, image: &str) -> Vec<Credential> {
        let target = repository(image);
        let found: Vec<Credential> = self
            .index
            .iter()
            .filter(|key| urls_match(key, &target))
            .flat_map(|key| self.creds[key.as_str()].iter().cloned())
            .collect();
        if found.is_empty() && is_default_registry(&target) {
            return self
                .creds
                .get(DEFAULT_REGISTRY)
                .cloned()
                .unwrap_or_default();
        }
        found
    }
}

/// The `registry → login` entries of a docker secret; `None` for other
/// secrets and for docker secrets without their key.
fn docker_config(secret: &PullSecret) -> Result<Option<Vec<(String, Credential)>>, String> {
    let data = |key: &str| secret.data.get(key).filter(|bytes| !bytes.is_empty());
    let (config, nested) = match secret.secret_type.as_str() {
        DOCKER_CONFIG_JSON => match data(DOCKER_CONFIG_JSON_KEY) {
            Some(bytes) => (bytes, true),
            None => return Ok(None),
        },
        DOCKERCFG => match data(DOCKERCFG_KEY) {
            Some(bytes) => (bytes, false),
            None => return Ok(None),
        },
        _ => return Ok(None),
    };
    let parsed: Value = serde_json::from_slice(config).map_err(|e| e.to_string())?;
    let auths = if nested {
        let outer = object(&parsed, "credentialprovider.DockerConfigJSON")?;
        match field(outer, "auths") {
            None | Some(Value::Null) => return Ok(Some(Vec::new())),
            Some(auths) => auths,
        }
    } else {
        &parsed
    };
    if auths.is_null() {
        return Ok(Some(Vec::new()));
    }
    let entries = object(auths, "credentialprovider.DockerConfig")?;
    entries
        .iter()
        .map(|(location, entry)| Ok((location.clone(), credential(entry)?)))
        .collect::<Result<_, String>>()
        .map(Some)
}

/// One entry: `username` and `password`, or `auth` (base64 of
/// `username:password`), which wins when set, as upstream decodes it.
fn credential(entry: &Value) -> Result<Credential, String> {
    let fields = object(entry, "credentialprovider.dockerConfigEntryWithAuth")?;
    let text = |name: &str| -> Result<String, String> {
        match field(fields, name) {
            None | Some(Value::Null) => Ok(String::new()),
            Some(Value::String(text)) => Ok(text.clone()),
            Some(other) => Err(format!(
                "json: cannot unmarshal {} into Go struct field dockerConfigEntryWithAuth.{name} of type string",
                json_kind(other)
            )),
        }
    };
    let (username, password) = (text("username")?, text("password")?);
    let auth = text("auth")?;
    if auth.is_empty() {
        return Ok(Credential { username, password });
    }
    let decoded = capstan_api::validation::base64_decode(auth.trim())
        .ok_or_else(|| "illegal base64 data in the auth field".to_string())?;
    let decoded = String::from_utf8_lossy(&decoded);
    let (username, password) = decoded
        .split_once(':')
        .ok_or_else(|| "must be formatted as base64(username:password)".to_string())?;
    Ok(Credential {
        username: username.to_string(),
        password: password.to_string(),
    })
}

fn object<'a>(value: &'a Value, go_type: &str) -> Result<&'a Map<String, Value>, String> {
    value.as_object().ok_or_else(|| {
        format!(
            "json: cannot unmarshal {} into Go value of type {go_type}",
            json_kind(value)
        )
    })
}

/// A field by name; Go's decoder also takes other cases of it.
fn field<'a>(fields: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    fields.get(name).or_else(|| {
        fields
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value)
    })
}

fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// The keyring's key of a config location: its host and path, without
/// scheme; docker's `/v1/` and `/v2/` stand for the host alone.
fn location_key(location: &str) -> Option<String> {
    let rest = location
        .strip_prefix("https://")
        .or_else(|| location.strip_prefix("http://"))
        .unwrap_or(location);
    let (host, path) = split_url(rest)?;
    let path = if path.starts_with("/v2/") || path.starts_with("/v1/") {
        &path[3..]
    } else {
        path
    };
    Some(if path.is_empty() || path == "/" {
        host.to_string()
    } else {
        format!("{host}{path}")
    })
}

/// A schemeless URL's host (with port) and path; `None` when the host
/// cannot be one.
fn split_url(url: &str) -> Option<(&str, &str)> {
    let url = url.split(['#', '?']).next().unwrap_or_default();
    let (authority, path) = match url.find('/') {
        Some(at) => url.split_at(at),
        None => (url, ""),
    };
    let host = authority.rsplit('@').next().unwrap_or_default();
    if host.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return None;
    }
    Some((host, path))
}

/// The repository an image names, normalized as docker references are
/// (`busybox:1` is `docker.io/library/busybox`), without tag or digest.
pub fn repository(image: &str) -> String {
    let name = image.split_once('@').map_or(image, |(name, _)| name);
    let name = match name.rfind(':') {
        Some(at) if !name[at..].contains('/') => &name[..at],
        _ => name,
    };
    let (domain, rest) = match name.split_once('/') {
        Some((first, rest))
            if first.contains(['.', ':'])
                || first == "localhost"
                || first.to_lowercase() != first =>
        {
            (first, rest)
        }
        _ => ("docker.io", name),
    };
    let domain = if domain == "index.docker.io" {
        "docker.io"
    } else {
        domain
    };
    if domain == "docker.io" && !rest.contains('/') {
        format!("docker.io/library/{rest}")
    } else {
        format!("{domain}/{rest}")
    }
}

/// Whether `image` (a repository) is pulled from Docker Hub.
fn is_default_registry(image: &str) -> bool {
    let first = image.split('/').next().unwrap_or_default();
    if first.is_empty() {
        return false;
    }
    if !image.contains('/') || first == "docker.io" || first == "index.docker.io" {
        return true;
    }
    !first.contains(['.', ':'])
}

/// Whether the location `glob` (its host parts may be globs, such as
/// `*.example.com`) covers `target`: same port, as many host parts, each
/// matching, and its path a prefix of the target's.
fn urls_match(glob: &str, target: &str) -> bool {
    let (Some((glob_host, glob_path)), Some((target_host, target_path))) =
        (split_url(glob), split_url(target))
    else {
        return false;
    };
    let (glob_parts, glob_port) = split_host(glob_host);
    let (target_parts, target_port) = split_host(target_host);
    if glob_port != target_port
        || glob_parts.len() != target_parts.len()
        || !target_path.starts_with(glob_path)
    {
        return false;
    }
    glob_parts.iter().zip(&target_parts).all(|(pattern, part)| {
        let pattern: Vec<char> = pattern.chars().collect();
        let part: Vec<char> = part.chars().collect();
        glob_match(&pattern, &part) == Some(true)
    })
}

/// A host's dot-separated parts and its port, as Go's `SplitHostPort`
/// splits them (a host it cannot split has no port).
fn split_host(authority: &str) -> (Vec<&str>, &str) {
    let split = if let Some(inner) = authority.strip_prefix('[') {
        inner
            .split_once("]:")
            .filter(|(_, port)| !port.contains([':', ']']))
    } else {
        authority
            .split_once(':')
            .filter(|(_, port)| !port.contains(':'))
    };
    let (host, port) = split.unwrap_or((authority, ""));
    (host.split('.').collect(), port)
}

/// Go's `filepath.Match` on one host part: `*`, `?`, `[classes]` and `\`
/// escapes; `None` for a malformed pattern.
fn glob_match(pattern: &[char], text: &[char]) -> Option<bool> {
    match pattern.split_first() {
        None => Some(text.is_empty()),
        Some(('*', rest)) => {
            for skip in 0..=text.len() {
                if glob_match(rest, &text[skip..])? {
                    return Some(true);
                }
            }
            Some(false)
        }
        Some(('?', rest)) => match text.split_first() {
            Some((_, text_rest)) => glob_match(rest, text_rest),
            None => Some(false),
        },
        Some(('[', rest)) => {
            let (matched, after) = class(rest, text.first().copied())?;
            match matched {
                true => glob_match(after, &text[1..]),
                false => Some(false),
            }
        }
        Some(('\\', rest)) => {
            let (&literal, rest) = rest.split_first()?;
            match text.split_first() {
                Some((&c, text_rest)) if c == literal => glob_match(rest, text_rest),
                _ => Some(false),
            }
        }
        Some((&literal, rest)) => match text.split_first() {
            Some((&c, text_rest)) if c == literal => glob_match(rest, text_rest),
            _ => Some(false),
        },
    }
}

/// A `[...]` class (after its `[`) against `c`: whether it matches and
/// the pattern after the class; `None` when malformed.
fn class(pattern: &[char], c: Option<char>) -> Option<(bool, &[char])> {
    let (negated, mut rest) = match pattern.split_first() {
        Some(('^', rest)) => (true, rest),
        _ => (false, pattern),
    };
    let mut matched = false;
    let mut first = true;
    loop {
        match rest.split_first() {
            None => return None,
            Some((']', after)) if !first => {
                let matched = c.is_some() && matched != negated;
                return Some((matched, after));
            }
            _ => {}
        }
        let (low, after) = class_char(rest)?;
        rest = after;
        let high = match rest.split_first() {
            Some(('-', after)) => {
                let (high, after) = class_char(after)?;
                rest = after;
                high
            }
            _ => low,
        };
        if c.is_some_and(|c| low <= c && c <= high) {
            matched = true;
        }
        first = false;
    }
}

fn class_char(pattern: &[char]) -> Option<(char, &[char])> {
    match pattern.split_first()? {
        ('\\', rest) => rest.split_first().map(|(&c, rest)| (c, rest)),
        (']', _) | ('-', _) => None,
        (&c, rest) => Some((c, rest)),
    }
}

#[cfg(test)]
#[path = "auth_tests.rs"]
mod tests;
