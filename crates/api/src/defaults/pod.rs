//! Pod and pod template defaults (`SetDefaults_Pod`, `SetDefaults_PodSpec`
//! and what the generated defaulter applies to volumes and containers).

use serde_json::{json, Map, Value};

use super::{
    child, default, default_nonzero, default_str, each, existing, is_empty, resource_list,
};

/// `Always` for `:latest` or no tag, `IfNotPresent` otherwise, as the
/// image reference parser upstream uses decides.
pub fn pull_policy(image: &str) -> &'static str {
    let (name, digest) = match image.split_once('@') {
        Some((name, digest)) => (name, Some(digest)),
        None => (image, None),
    };
    let slash = name.rfind('/').map_or(0, |i| i + 1);
    let (repo, tag) = match name[slash..].split_once(':') {
        Some((_, tag)) => (&name[..name.len() - tag.len() - 1], Some(tag)),
        None => (name, None),
    };
    // The registry host may hold capitals; the repository path may not.
    let path = match repo.split_once('/') {
        Some((host, rest)) if host.contains(['.', ':']) || host == "localhost" => rest,
        _ => repo,
    };
    if path.is_empty() || path.chars().any(|c| c.is_ascii_uppercase()) {
        return "IfNotPresent";
    }
    match (tag, digest) {
        (Some("latest"), _) | (None, None) => "Always",
        _ => "IfNotPresent",
    }
}

fn field_ref(item: &mut Map<String, Value>) {
    if let Some(fr) = existing(item, "fieldRef") {
        default_str(fr, "apiVersion", "v1");
    }
}

fn http_get(handler: &mut Map<String, Value>) {
    if let Some(get) = existing(handler, "httpGet") {
        default_str(get, "path", "/");
        default_str(get, "scheme", "HTTP");
    }
}

fn container(c: &mut Map<String, Value>) {
    let image = c
        .get("image")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    default_str(c, "imagePullPolicy", pull_policy(&image));
    default_str(c, "terminationMessagePath", "/dev/termination-log");
    default_str(c, "terminationMessagePolicy", "File");
    for port in each(c, "ports") {
        default_str(port, "protocol", "TCP");
    }
    for env in each(c, "env") {
        if let Some(from) = existing(env, "valueFrom") {
            field_ref(from);
        }
    }
    if let Some(resources) = existing(c, "resources") {
        resource_list(resources, "limits");
        resource_list(resources, "requests");
    }
    for probe in ["livenessProbe", "readinessProbe", "startupProbe"] {
        if let Some(p) = existing(c, probe) {
            default_nonzero(p, "timeoutSeconds", 1);
            default_nonzero(p, "periodSeconds", 10);
            default_nonzero(p, "successThreshold", 1);
            default_nonzero(p, "failureThreshold", 3);
            http_get(p);
        }
    }
    if let Some(lifecycle) = existing(c, "lifecycle") {
        for hook in ["postStart", "preStop"] {
            if let Some(h) = existing(lifecycle, hook) {
                http_get(h);
            }
        }
    }
}

/// Every source a pod volume may name; one missing means `emptyDir`.
const VOLUME_SOURCES: &[&str] = &[
    "hostPath",
    "emptyDir",
    "gcePersistentDisk",
    "awsElasticBlockStore",
    "gitRepo",
    "secret",
    "nfs",
    "iscsi",
    "glusterfs",
    "persistentVolumeClaim",
    "rbd",
    "flexVolume",
    "cinder",
    "cephfs",
    "flocker",
    "downwardAPI",
    "fc",
    "azureFile",
    "configMap",
    "vsphereVolume",
    "quobyte",
    "azureDisk",
    "photonPersistentDisk",
    "projected",
    "portworxVolume",
    "scaleIO",
    "storageos",
    "csi",
    "ephemeral",
    "image",
];

fn volume(v: &mut Map<String, Value>) {
    if VOLUME_SOURCES
        .iter()
        .all(|s| v.get(*s).is_none_or(Value::is_null))
    {
        v.insert("emptyDir".into(), json!({}));
    }
    if let Some(host) = existing(v, "hostPath") {
        default(host, "type", "");
    }
    for source in ["secret", "configMap", "downwardAPI", "projected"] {
        if let Some(s) = existing(v, source) {
            default(s, "defaultMode", 420);
        }
    }
    if let Some(d) = existing(v, "downwardAPI") {
        for item in each(d, "items") {
            field_ref(item);
        }
    }
    if let Some(p) = existing(v, "projected") {
        for source in each(p, "sources") {
            if let Some(d) = existing(source, "downwardAPI") {
                for item in each(d, "items") {
                    field_ref(item);
                }
            }
            if let Some(token) = existing(source, "serviceAccountToken") {
                default(token, "expirationSeconds", 3600);
            }
        }
    }
    if let Some(iscsi) = existing(v, "iscsi") {
        default_str(iscsi, "iscsiInterface", "default");
    }
    if let Some(rbd) = existing(v, "rbd") {
        default_str(rbd, "pool", "rbd");
        default_str(rbd, "user", "admin");
        default_str(rbd, "keyring", "/etc/ceph/keyring");
    }
    if let Some(disk) = existing(v, "azureDisk") {
        default(disk, "cachingMode", "ReadWrite");
        default(disk, "fsType", "ext4");
        default(disk, "readOnly", false);
        default(disk, "kind", "Shared");
    }
    if let Some(scale) = existing(v, "scaleIO") {
        default_str(scale, "storageMode", "ThinProvisioned");
        default_str(scale, "fsType", "xfs");
    }
    if let Some(template) =
        existing(v, "ephemeral").and_then(|e| existing(e, "volumeClaimTemplate"))
    {
        if let Some(spec) = existing(template, "spec") {
            super::core::claim_spec(spec);
        }
    }
    if let Some(image) = existing(v, "image") {
        let reference = image
            .get("reference")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        default_str(image, "pullPolicy", pull_policy(&reference));
    }
}

/// `SetDefaults_PodSpec` plus nested defaults: for pods and templates.
pub fn spec(spec: &mut Map<String, Value>) {
    default_str(spec, "dnsPolicy", "ClusterFirst");
    default_str(spec, "restartPolicy", "Always");
    default(spec, "securityContext", json!({}));
    default(spec, "terminationGracePeriodSeconds", 30);
    default_str(spec, "schedulerName", "default-scheduler");
    for v in each(spec, "volumes") {
        volume(v);
    }
    for list in ["initContainers", "containers", "ephemeralContainers"] {
        for c in each(spec, list) {
            container(c);
        }
    }
    resource_list(spec, "overhead");
}

/// A pod template: `spec` gets pod spec defaults.
pub fn template(template: &mut Map<String, Value>) {
    if let Some(s) = child(template, "spec") {
        spec(s);
    }
}

/// `SetDefaults_Pod`: what only real pods get.
pub fn pod(root: &mut Map<String, Value>) {
    let Some(s) = child(root, "spec") else {
        return;
    };
    for list in ["containers", "initContainers"] {
        for c in each(s, list) {
            let Some(resources) = existing(c, "resources") else {
                continue;
            };
            let Some(limits) = resources.get("limits").and_then(Value::as_object).cloned() else {
                continue;
            };
            if let Some(requests) = child(resources, "requests") {
                for (name, value) in limits {
                    requests.entry(name).or_insert(value);
                }
            }
        }
    }
    default(s, "enableServiceLinks", true);
    if s.get("hostNetwork").and_then(Value::as_bool) == Some(true) {
        for list in ["containers", "initContainers"] {
            for c in each(s, list) {
                for port in each(c, "ports") {
                    let unset = port
                        .get("hostPort")
                        .is_none_or(|v| v.as_i64().unwrap_or(0) == 0);
                    if let Some(container_port) =
                        port.get("containerPort").cloned().filter(|_| unset)
                    {
                        port.insert("hostPort".into(), container_port);
                    }
                }
            }
        }
    }
    spec(s);
}

fn is_best_effort(list: Option<&Value>) -> bool {
    list.and_then(Value::as_object).is_none_or(|m| {
        m.iter()
            .filter(|(name, _)| *name == "cpu" || *name == "memory")
            .all(|(_, v)| crate::validation::quantity::from_json(v).is_ok_and(|q| q.is_zero()))
    })
}

/// The QoS class upstream computes: Guaranteed when every container sets
/// equal cpu and memory requests and limits, BestEffort when none sets any.
fn qos_class(spec: &Map<String, Value>) -> &'static str {
    let containers: Vec<&Value> = ["containers", "initContainers"]
        .iter()
        .filter_map(|k| spec.get(*k).and_then(Value::as_array))
        .flatten()
        .collect();
    let mut best_effort = true;
    let mut guaranteed = true;
    for c in &containers {
        let requests = c.pointer("/resources/requests");
        let limits = c.pointer("/resources/limits");
        if !is_best_effort(requests) || !is_best_effort(limits) {
            best_effort = false;
        }
        for name in ["cpu", "memory"] {
            let parse = |list: Option<&Value>| {
                list.and_then(|l| l.get(name))
                    .and_then(|v| crate::validation::quantity::from_json(v).ok())
            };
            match (parse(requests), parse(limits)) {
                (Some(r), Some(l)) if r == l && !l.is_zero() => {}
                (None, Some(l)) if !l.is_zero() => {}
                _ => guaranteed = false,
            }
        }
    }
    if best_effort {
        "BestEffort"
    } else if guaranteed && !containers.is_empty() {
        "Guaranteed"
    } else {
        "Burstable"
    }
}

pub fn pod_on_create(root: &mut Map<String, Value>) {
    let class = root
        .get("spec")
        .and_then(Value::as_object)
        .map_or("BestEffort", qos_class);
    if is_empty(root.get("status")) {
        root.insert(
            "status".into(),
            json!({"phase": "Pending", "qosClass": class}),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pull_policy_follows_the_tag() {
        assert_eq!(pull_policy("nginx"), "Always");
        assert_eq!(pull_policy("nginx:latest"), "Always");
        assert_eq!(pull_policy("nginx:1.27"), "IfNotPresent");
        assert_eq!(pull_policy("localhost:5000/app"), "Always");
        assert_eq!(pull_policy("localhost:5000/app:v2"), "IfNotPresent");
        assert_eq!(pull_policy("busybox@sha256:abcd"), "IfNotPresent");
        assert_eq!(pull_policy("Bad/Name"), "IfNotPresent");
    }

    #[test]
    fn pods_get_upstreams_defaults() {
        let mut p = json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "nginx",
            "ports": [{"containerPort": 80}], "resources": {"limits": {"cpu": "0.5", "memory": "1024Mi"}},
            "readinessProbe": {"httpGet": {"port": 80}}, "custom": "kept"}],
            "volumes": [{"name": "v"}, {"name": "s", "secret": {"secretName": "x"}}]}});
        crate::defaults::apply_defaults("", "Pod", &mut p);
        let c = &p["spec"]["containers"][0];
        assert_eq!(c["imagePullPolicy"], "Always");
        assert_eq!(c["terminationMessagePath"], "/dev/termination-log");
        assert_eq!(c["ports"][0]["protocol"], "TCP");
        assert_eq!(
            c["resources"]["requests"],
            json!({"cpu": "500m", "memory": "1Gi"})
        );
        assert_eq!(
            c["readinessProbe"],
            json!({"httpGet": {"port": 80, "path": "/", "scheme": "HTTP"},
            "timeoutSeconds": 1, "periodSeconds": 10, "successThreshold": 1, "failureThreshold": 3})
        );
        assert_eq!(c["custom"], "kept");
        let s = &p["spec"];
        assert_eq!(s["restartPolicy"], "Always");
        assert_eq!(s["dnsPolicy"], "ClusterFirst");
        assert_eq!(s["terminationGracePeriodSeconds"], 30);
        assert_eq!(s["schedulerName"], "default-scheduler");
        assert_eq!(s["enableServiceLinks"], true);
        assert_eq!(s["securityContext"], json!({}));
        assert_eq!(s["volumes"][0]["emptyDir"], json!({}));
        assert_eq!(s["volumes"][1]["secret"]["defaultMode"], 420);
    }

    #[test]
    fn qos_classes() {
        let mut p = json!({"spec": {"containers": [{"name": "c", "image": "x", "resources": {"limits": {"cpu": "1", "memory": "1Gi"}}}]}});
        crate::defaults::apply_defaults("", "Pod", &mut p);
        crate::defaults::prepare_for_create("", "Pod", &mut p);
        assert_eq!(
            p["status"],
            json!({"phase": "Pending", "qosClass": "Guaranteed"})
        );
        let mut p = json!({"spec": {"containers": [{"name": "c", "image": "x"}]}});
        crate::defaults::prepare_for_create("", "Pod", &mut p);
        assert_eq!(p["status"]["qosClass"], "BestEffort");
    }
}
