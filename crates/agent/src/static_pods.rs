//! Static pods: Pod manifests in `<agent dir>/pod-manifests`, each run on
//! this node through a mirror pod in the API, as upstream's kubelet does
//! with `staticPodPath`.
//!
//! Upstream's kubelet runs a static pod from its file even while the API
//! server is unreachable, and the mirror pod only shows it. Here the API
//! server lives in the same process as the local agent, so the mirror pod
//! is what runs: the agent's pod loop runs every pod bound to this node,
//! and creating the mirror pod is enough. Deleting the mirror pod
//! therefore restarts the static pod's containers (upstream's keep
//! running); it is created again as soon as the old one is gone.
//!
//! Each scan reads the folder again and makes the API agree with it:
//! - a manifest without its mirror pod gets one;
//! - a mirror pod from an older version of its manifest (another
//!   `config.hash`) is deleted, and the new one created once it is gone;
//! - a mirror pod on this node whose manifest is gone is deleted, with
//!   the grace period the pod asks for, also those left from before a
//!   restart.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use k8s_openapi::api::core::v1::{Node, Pod, Toleration};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, DeleteParams, ListParams, PostParams, Preconditions};
use kube::Client;
use sha2::{Digest, Sha256};

/// The folder of manifests, inside the agent's dir.
pub const MANIFEST_DIR: &str = "pod-manifests";

/// Where a pod came from (`file` for static pods from a folder).
pub const CONFIG_SOURCE: &str = "kubernetes.io/config.source";
/// When this agent first saw the manifest.
pub const CONFIG_SEEN: &str = "kubernetes.io/config.seen";
/// The hash of the manifest.
pub const CONFIG_HASH: &str = "kubernetes.io/config.hash";
/// Marks a mirror pod; its value is the hash of the manifest it mirrors.
pub const CONFIG_MIRROR: &str = "kubernetes.io/config.mirror";

/// How often the folder is read again. Upstream's kubelet re-reads it
/// every 20 s and also watches it with inotify to react at once; without
/// a watch, a scan every few seconds keeps the reaction quick. A scan is
/// cheap: a few small files, one read of the Node and one list of this
/// node's pods from the API server's cache. The scan is also when a
/// deleted mirror pod is created again.
const SCAN_INTERVAL: Duration = Duration::from_secs(5);
/// The next scan after one that left work waiting (a mirror pod still
/// terminating, the Node not registered yet, an API error).
const RETRY_INTERVAL: Duration = Duration::from_secs(1);

/// One manifest, made into the mirror pod it asks for (without its
/// `config.seen` annotation and owner, which come when it is created).
#[derive(Clone, Debug)]
pub struct StaticPod {
    pub file: PathBuf,
    pub hash: String,
    pub pod: Pod,
}

impl StaticPod {
    pub fn namespace(&self) -> &str {
        self.pod.metadata.namespace.as_deref().unwrap_or("default")
    }

    pub fn name(&self) -> &str {
        self.pod.metadata.name.as_deref().unwrap_or_default()
    }

    /// The mirror pod to create: seen at `seen`, owned by the Node (a
    /// controller reference, as upstream's mirror client sets it).
    pub fn mirror(&self, seen: &str, node_name: &str, node_uid: &str) -> Pod {
        let mut pod = self.pod.clone();
        pod.metadata
            .annotations
            .get_or_insert_with(Default::default)
            .insert(CONFIG_SEEN.into(), seen.into());
        pod.metadata.owner_references = Some(vec![OwnerReference {
            api_version: "v1".into(),
            kind: "Node".into(),
            name: node_name.into(),
            uid: node_uid.into(),
            controller: Some(true),
            block_owner_deletion: None,
        }]);
        pod
    }
}

/// Reads the manifest `file` holding `text` into the mirror pod for node
/// `node_name`; an error says what is wrong with it.
pub fn parse_manifest(file: &Path, text: &str, node_name: &str) -> Result<StaticPod, String> {
    // JSON is YAML too, so one parser reads both.
    let value: serde_json::Value = serde_saphyr::from_str(text).map_err(|error| {
        // The parser's first line says where; a snippet of the file follows.
        let error = error.to_string();
        let first = error.lines().next().unwrap_or_default();
        format!("not YAML or JSON: {}", first.trim_start_matches("error: "))
    })?;
    if !value.is_object() {
        return Err("not a Pod: the manifest is not an object".into());
    }
    let field = |name: &str| value.get(name).and_then(|v| v.as_str()).unwrap_or_default();
    if (field("apiVersion"), field("kind")) != ("v1", "Pod") {
        return Err(format!(
            "not a Pod: apiVersion {:?}, kind {:?} (want v1, Pod)",
            field("apiVersion"),
            field("kind")
        ));
    }
    let manifest: Pod =
        serde_json::from_value(value).map_err(|error| format!("not a valid Pod: {error}"))?;
    let name = manifest.metadata.name.clone().unwrap_or_default();
    if name.is_empty() {
        return Err("metadata.name: Required value".into());
    }
    if manifest.spec.is_none() {
        return Err("spec: Required value".into());
    }
    let hash = manifest_hash(file, &manifest, node_name);

    let mut pod = manifest;
    let meta = &mut pod.metadata;
    meta.name = Some(format!("{name}-{}", node_name.to_lowercase()));
    if meta.namespace.as_deref().unwrap_or_default().is_empty() {
        meta.namespace = Some("default".into());
    }
    // What the API server sets, and what the agent sets on create.
    meta.uid = None;
    meta.resource_version = None;
    meta.creation_timestamp = None;
    meta.deletion_timestamp = None;
    meta.deletion_grace_period_seconds = None;
    meta.generation = None;
    meta.managed_fields = None;
    meta.owner_references = None;
    meta.self_link = None;
    let annotations = meta.annotations.get_or_insert_with(Default::default);
    annotations.insert(CONFIG_SOURCE.into(), "file".into());
    annotations.insert(CONFIG_HASH.into(), hash.clone());
    annotations.insert(CONFIG_MIRROR.into(), hash.clone());
    pod.status = None;
    if let Some(spec) = pod.spec.as_mut() {
        spec.node_name = Some(node_name.into());
        // Static pods tolerate every NoExecute taint, so that node
        // problems do not evict them.
        let tolerate_all = Toleration {
            operator: Some("Exists".into()),
            effect: Some("NoExecute".into()),
            ..Toleration::default()
        };
        let tolerations = spec.tolerations.get_or_insert_with(Vec::new);
        if !tolerations.contains(&tolerate_all) {
            tolerations.push(tolerate_all);
        }
    }
    validate(&pod)?;
    Ok(StaticPod {
        file: file.to_path_buf(),
        hash,
        pod,
    })
}

/// As upstream's kubelet refuses a manifest that would not pass the API
/// server's validation, so that the file is the one to blame.
fn validate(pod: &Pod) -> Result<(), String> {
    let mut value = serde_json::to_value(pod).map_err(|error| error.to_string())?;
    capstan_api::defaults::apply_defaults("", "Pod", &mut value);
    let errors = capstan_api::validation::validate_create("", "Pod", &value);
    if errors.is_empty() {
        return Ok(());
    }
    let errors: Vec<String> = errors.iter().map(ToString::to_string).collect();
    Err(format!("invalid Pod: {}", errors.join("; ")))
}

/// The manifest's hash, from the node, the file and the pod as parsed (so
/// that comments and layout do not count), as upstream's: 32 hex digits.
fn manifest_hash(file: &Path, manifest: &Pod, node_name: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(format!("host:{node_name}").as_bytes());
    hasher.update(format!("file:{}", file.display()).as_bytes());
    hasher.update(serde_json::to_vec(manifest).unwrap_or_default());
    let digest = hasher.finalize();
    digest[..16].iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether `path` names a manifest: `*.yaml`, `*.yml` or `*.json`, not
/// hidden (editors and tools keep their temporary files hidden).
fn is_manifest(path: &Path) -> bool {
    let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
        return false;
    };
    let extension = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or_default();
    !name.starts_with('.') && matches!(extension, "yaml" | "yml" | "json")
}

/// What a scan of the folder found: the static pods, and the files that
/// could not be used with the reason.
#[derive(Debug, Default)]
pub struct Scan {
    pub pods: Vec<StaticPod>,
    pub bad: Vec<(PathBuf, String)>,
}

/// Reads every manifest in `dir`, in name order. Two manifests for one pod
/// name: the first wins and the second is bad.
pub fn read_manifests(dir: &Path, node_name: &str) -> Result<Scan, String> {
    let entries =
        std::fs::read_dir(dir).map_err(|error| format!("cannot read the folder: {error}"))?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| is_manifest(path) && path.is_file())
        .collect();
    files.sort();
    let mut scan = Scan::default();
    let mut taken: HashMap<(String, String), PathBuf> = HashMap::new();
    for file in files {
        let parsed = std::fs::read_to_string(&file)
            .map_err(|error| error.to_string())
            .and_then(|text| parse_manifest(&file, &text, node_name));
        let pod = match parsed {
            Ok(pod) => pod,
            Err(error) => {
                scan.bad.push((file, error));
                continue;
            }
        };
        let key = (pod.namespace().to_string(), pod.name().to_string());
        if let Some(first) = taken.get(&key) {
            let error = format!(
                "pod {}/{} is already given by {}",
                key.0,
                key.1,
                first.display()
            );
            scan.bad.push((file, error));
            continue;
        }
        taken.insert(key, file.clone());
        scan.pods.push(pod);
    }
    Ok(scan)
}

/// Keeps the mirror pods of this node's static pods until the task is
/// aborted. Creates the folder if missing.
pub async fn run(client: Client, node_name: String, agent_dir: PathBuf) {
    let dir = agent_dir.join(MANIFEST_DIR);
    if let Err(error) = std::fs::create_dir_all(&dir) {
        tracing::warn!(dir = %dir.display(), %error, "static pods: creating the manifest folder");
    }
    let mut sync = MirrorSync {
        client,
        node_name,
        dir,
        seen: HashMap::new(),
        reported: HashMap::new(),
    };
    loop {
        let settled = sync.pass().await;
        let pause = if settled {
            SCAN_INTERVAL
        } else {
            RETRY_INTERVAL
        };
        tokio::time::sleep(pause).await;
    }
}

struct MirrorSync {
    client: Client,
    node_name: String,
    dir: PathBuf,
    /// When each manifest (by hash) was first seen.
    seen: HashMap<String, String>,
    /// The last problem logged for each file, so that a scan repeats no
    /// warning.
    reported: HashMap<PathBuf, String>,
}

impl MirrorSync {
    /// One scan; whether nothing is left waiting.
    async fn pass(&mut self) -> bool {
        let scan = match read_manifests(&self.dir, &self.node_name) {
            Ok(scan) => scan,
            Err(error) => {
                self.report(&self.dir.clone(), error);
                return false;
            }
        };
        // Forget the problems of files gone, so that they are told again
        // should the files come back.
        let present: HashSet<&Path> = (scan.bad.iter().map(|(file, _)| file.as_path()))
            .chain(scan.pods.iter().map(|pod| pod.file.as_path()))
            .collect();
        self.reported
            .retain(|file, _| present.contains(file.as_path()));
        for (file, error) in &scan.bad {
            self.report(file, error.clone());
        }
        let hashes: HashSet<&str> = scan.pods.iter().map(|p| p.hash.as_str()).collect();
        self.seen.retain(|hash, _| hashes.contains(hash.as_str()));

        let nodes: Api<Node> = Api::all(self.client.clone());
        let node_uid = match nodes.get_opt(&self.node_name).await {
            Ok(Some(node)) => node.metadata.uid.unwrap_or_default(),
            // The agent registers the Node; its mirror pods wait for it.
            Ok(None) => return false,
            Err(error) => {
                tracing::debug!(%error, "static pods: reading the node");
                return false;
            }
        };
        let pods: Api<Pod> = Api::all(self.client.clone());
        let on_node = ListParams::default().fields(&format!("spec.nodeName={}", self.node_name));
        let existing = match pods.list(&on_node).await {
            Ok(list) => list.items,
            Err(error) => {
                tracing::debug!(%error, "static pods: listing the node's pods");
                return false;
            }
        };
        let existing: HashMap<(String, String), Pod> = existing
            .into_iter()
            .map(|pod| {
                let key = (
                    pod.metadata.namespace.clone().unwrap_or_default(),
                    pod.metadata.name.clone().unwrap_or_default(),
                );
                (key, pod)
            })
            .collect();

        let mut settled = true;
        let mut wanted = HashSet::new();
        for static_pod in &scan.pods {
            let key = (
                static_pod.namespace().to_string(),
                static_pod.name().to_string(),
            );
            wanted.insert(key.clone());
            match existing.get(&key) {
                None => settled &= self.create(static_pod, &node_uid).await,
                Some(pod) if pod.metadata.deletion_timestamp.is_some() => settled = false,
                Some(pod) => match annotation(pod, CONFIG_MIRROR) {
                    Some(hash) if hash == static_pod.hash => {
                        self.reported.remove(&static_pod.file);
                    }
                    // The manifest changed: the old pod goes first.
                    Some(_) => {
                        self.delete(pod).await;
                        settled = false;
                    }
                    None => self.report(&static_pod.file, taken(static_pod)),
                },
            }
        }
        // Mirror pods on this node whose manifest is gone, also those left
        // from before a restart.
        for (key, pod) in &existing {
            let orphan = annotation(pod, CONFIG_MIRROR).is_some()
                && pod.metadata.deletion_timestamp.is_none()
                && !wanted.contains(key);
            if orphan {
                self.delete(pod).await;
            }
        }
        settled
    }

    /// Creates the mirror pod of `static_pod`; whether it was created.
    async fn create(&mut self, static_pod: &StaticPod, node_uid: &str) -> bool {
        let seen = self
            .seen
            .entry(static_pod.hash.clone())
            .or_insert_with(|| format!("{:.9}", Timestamp::now()))
            .clone();
        let mirror = static_pod.mirror(&seen, &self.node_name, node_uid);
        let pods: Api<Pod> = Api::namespaced(self.client.clone(), static_pod.namespace());
        match pods.create(&PostParams::default(), &mirror).await {
            Ok(_) => {
                self.reported.remove(&static_pod.file);
                true
            }
            Err(error) => {
                let message = match &error {
                    kube::Error::Api(status) if status.code == 409 => taken(static_pod),
                    _ => format!("creating the mirror pod {}: {error}", static_pod.name()),
                };
                self.report(&static_pod.file, message);
                false
            }
        }
    }

    /// Deletes a mirror pod with the grace period it asks for, only this
    /// very pod (not one of the same name created since).
    async fn delete(&self, pod: &Pod) {
        let (Some(namespace), Some(name)) = (
            pod.metadata.namespace.as_deref(),
            pod.metadata.name.as_deref(),
        ) else {
            return;
        };
        let params = DeleteParams {
            preconditions: Some(Preconditions {
                uid: pod.metadata.uid.clone(),
                resource_version: None,
            }),
            ..DeleteParams::default()
        };
        let pods: Api<Pod> = Api::namespaced(self.client.clone(), namespace);
        match pods.delete(name, &params).await {
            Ok(_) => {}
            Err(kube::Error::Api(status)) if matches!(status.code, 404 | 409) => {}
            // The next scan tries again.
            Err(error) => {
                tracing::debug!(%error, pod = %name, "static pods: deleting a mirror pod")
            }
        }
    }

    /// Logs a problem with `file` unless it was the last one logged for it.
    fn report(&mut self, file: &Path, message: String) {
        if self.reported.get(file) != Some(&message) {
            tracing::warn!("static pods: {}: {message}", file.display());
            self.reported.insert(file.to_path_buf(), message);
        }
    }
}

/// Why a static pod whose name another pod has does not run.
fn taken(static_pod: &StaticPod) -> String {
    format!(
        "pod {}/{} already exists and is not a mirror pod; not replacing it",
        static_pod.namespace(),
        static_pod.name()
    )
}

fn annotation<'a>(pod: &'a Pod, key: &str) -> Option<&'a str> {
    pod.metadata
        .annotations
        .as_ref()?
        .get(key)
        .map(String::as_str)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NODE: &str = "node-1";

    fn manifest(image: &str) -> String {
        format!(
            r#"
# a comment
apiVersion: v1
kind: Pod
metadata:
  name: web
  labels: {{app: web}}
spec:
  enableServiceLinks: false
  containers:
  - name: web
    image: {image}
"#
        )
    }

    fn parse(text: &str) -> Result<StaticPod, String> {
        parse_manifest(Path::new("/manifests/web.yaml"), text, NODE)
    }

    #[test]
    fn a_manifest_becomes_a_mirror_pod_bound_to_the_node() {
        let static_pod = parse(&manifest("busybox")).unwrap();
        let pod = &static_pod.pod;
        assert_eq!(pod.metadata.name.as_deref(), Some("web-node-1"));
        assert_eq!(pod.metadata.namespace.as_deref(), Some("default"));
        let spec = pod.spec.as_ref().unwrap();
        assert_eq!(spec.node_name.as_deref(), Some(NODE));
        assert_eq!(spec.enable_service_links, Some(false));
        let tolerations = spec.tolerations.as_ref().unwrap();
        assert_eq!(tolerations.len(), 1);
        assert_eq!(tolerations[0].operator.as_deref(), Some("Exists"));
        assert_eq!(tolerations[0].effect.as_deref(), Some("NoExecute"));
        assert_eq!(tolerations[0].key, None);
        let annotations = pod.metadata.annotations.as_ref().unwrap();
        assert_eq!(annotations[CONFIG_SOURCE], "file");
        assert_eq!(annotations[CONFIG_HASH], static_pod.hash);
        assert_eq!(annotations[CONFIG_MIRROR], static_pod.hash);
        assert_eq!(static_pod.hash.len(), 32);
        assert_eq!(pod.metadata.labels.as_ref().unwrap()["app"], "web");

        let mirror = static_pod.mirror("2024-05-01T10:00:00.000000000Z", NODE, "node-uid");
        let owner = &mirror.metadata.owner_references.as_ref().unwrap()[0];
        assert_eq!(
            (owner.api_version.as_str(), owner.kind.as_str()),
            ("v1", "Node")
        );
        assert_eq!(
            (owner.name.as_str(), owner.uid.as_str()),
            (NODE, "node-uid")
        );
        assert_eq!(owner.controller, Some(true));
        let annotations = mirror.metadata.annotations.as_ref().unwrap();
        assert_eq!(annotations[CONFIG_SEEN], "2024-05-01T10:00:00.000000000Z");
    }

    #[test]
    fn json_manifests_keep_their_namespace_and_tolerations() {
        let text = r#"{"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "etcd", "namespace": "kube-system", "uid": "x", "resourceVersion": "7"},
            "spec": {"containers": [{"name": "etcd", "image": "etcd"}],
                     "tolerations": [{"operator": "Exists", "effect": "NoExecute"}]}}"#;
        let static_pod = parse_manifest(Path::new("/manifests/etcd.json"), text, "node-1").unwrap();
        let meta = &static_pod.pod.metadata;
        assert_eq!(meta.name.as_deref(), Some("etcd-node-1"));
        assert_eq!(meta.namespace.as_deref(), Some("kube-system"));
        assert_eq!(
            (meta.uid.as_deref(), meta.resource_version.as_deref()),
            (None, None)
        );
        let spec = static_pod.pod.spec.as_ref().unwrap();
        assert_eq!(spec.tolerations.as_ref().unwrap().len(), 1);
        assert_eq!(spec.enable_service_links, None);
    }

    #[test]
    fn the_hash_follows_the_pod_not_the_layout() {
        let first = parse(&manifest("busybox")).unwrap().hash;
        assert_eq!(parse(&manifest("busybox")).unwrap().hash, first);
        let relaid = manifest("busybox").replace("# a comment", "# another");
        assert_eq!(parse(&relaid).unwrap().hash, first);
        assert_ne!(parse(&manifest("busybox:2")).unwrap().hash, first);
        let elsewhere = parse_manifest(
            Path::new("/manifests/web2.yaml"),
            &manifest("busybox"),
            NODE,
        );
        assert_ne!(elsewhere.unwrap().hash, first);
    }

    #[test]
    fn bad_manifests_say_why() {
        let error = parse("kind: [").unwrap_err();
        assert!(error.starts_with("not YAML or JSON"), "{error}");
        let error = parse("apiVersion: apps/v1\nkind: Deployment\n").unwrap_err();
        assert!(error.contains("not a Pod"), "{error}");
        let error = parse("apiVersion: v1\nkind: Pod\nspec: {containers: []}\n").unwrap_err();
        assert!(error.contains("metadata.name"), "{error}");
        let error =
            parse("apiVersion: v1\nkind: Pod\nmetadata: {name: x}\nspec: {containers: 3}\n")
                .unwrap_err();
        assert!(error.starts_with("not a valid Pod"), "{error}");
        let error = parse("apiVersion: v1\nkind: Pod\nmetadata: {name: x}\nspec: {containers: [{name: Web, image: a}]}\n")
            .unwrap_err();
        assert!(error.contains("spec.containers[0].name"), "{error}");
    }

    #[test]
    fn a_scan_skips_bad_and_hidden_files() {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, text: &str| std::fs::write(dir.path().join(name), text).unwrap();
        write("web.yaml", &manifest("busybox"));
        write("again.yml", &manifest("busybox")); // the same pod name
        write("broken.json", "{");
        write("deployment.yaml", "apiVersion: apps/v1\nkind: Deployment\n");
        write(".web.yaml.swp", "binary");
        write("README.txt", "notes");
        std::fs::create_dir(dir.path().join("sub.yaml")).unwrap();
        let scan = read_manifests(dir.path(), NODE).unwrap();
        let names: Vec<&str> = scan.pods.iter().map(StaticPod::name).collect();
        assert_eq!(names, ["web-node-1"]);
        assert_eq!(scan.pods[0].file, dir.path().join("again.yml"));
        let bad: Vec<String> = scan
            .bad
            .iter()
            .map(|(file, _)| file.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(bad, ["broken.json", "deployment.yaml", "web.yaml"]);
        assert!(scan.bad[2].1.contains("already given by"), "{:?}", scan.bad);
    }

    #[test]
    fn seen_times_are_rfc3339_with_nanoseconds() {
        let seen = format!("{:.9}", Timestamp::now());
        assert!(seen.ends_with('Z'), "{seen}");
        assert_eq!(seen.split('.').nth(1).unwrap().len(), 10, "{seen}");
        assert!(seen.parse::<Timestamp>().is_ok());
    }
}
