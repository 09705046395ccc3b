//! Bodies are built here the way client-go's generated marshallers write
//! them: value fields (empty strings, zero numbers, empty structs) always
//! on the wire, pointers and slices only when set.

use serde_json::{json, Value};

use super::*;

/// A minimal protobuf encoder.
fn varint(mut v: u64) -> Vec<u8> {
    let mut out = Vec::new();
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
    out
}

fn key(tag: u32, wire_type: u8) -> Vec<u8> {
    varint(u64::from(tag) << 3 | u64::from(wire_type))
}

fn int(tag: u32, v: i64) -> Vec<u8> {
    [key(tag, 0), varint(v as u64)].concat()
}

fn boolean(tag: u32, v: bool) -> Vec<u8> {
    int(tag, i64::from(v))
}

fn double(tag: u32, v: f64) -> Vec<u8> {
    [key(tag, 1), v.to_bits().to_le_bytes().to_vec()].concat()
}

fn bytes(tag: u32, b: &[u8]) -> Vec<u8> {
    [key(tag, 2), varint(b.len() as u64), b.to_vec()].concat()
}

fn string(tag: u32, s: &str) -> Vec<u8> {
    bytes(tag, s.as_bytes())
}

fn msg(tag: u32, parts: &[Vec<u8>]) -> Vec<u8> {
    bytes(tag, &parts.concat())
}

/// A map entry with a string value.
fn entry(tag: u32, k: &str, v: &str) -> Vec<u8> {
    msg(tag, &[string(1, k), string(2, v)])
}

/// A map entry with a message value.
fn entry_msg(tag: u32, k: &str, v: &[Vec<u8>]) -> Vec<u8> {
    msg(tag, &[string(1, k), msg(2, v)])
}

fn int_or_string_int(tag: u32, v: i64) -> Vec<u8> {
    msg(tag, &[int(1, 0), int(2, v), string(3, "")])
}

fn int_or_string_str(tag: u32, v: &str) -> Vec<u8> {
    msg(tag, &[int(1, 1), int(2, 0), string(3, v)])
}

/// `metav1.ObjectMeta` with every value field written, as Go writes it.
fn meta(tag: u32, name: &str, namespace: &str, extra: &[Vec<u8>]) -> Vec<u8> {
    let mut parts = vec![
        string(1, name),
        string(2, ""),
        string(3, namespace),
        string(4, ""),
        string(5, ""),
        string(6, ""),
        int(7, 0),
        msg(8, &[]),
    ];
    parts.extend_from_slice(extra);
    msg(tag, &parts)
}

fn envelope(api_version: &str, kind: &str, raw: &[Vec<u8>]) -> Vec<u8> {
    let unknown = [
        msg(1, &[string(1, api_version), string(2, kind)]),
        bytes(2, &raw.concat()),
        string(3, ""),
        string(4, ""),
    ]
    .concat();
    [MAGIC.to_vec(), unknown].concat()
}

fn container(name: &str, image: &str, extra: &[Vec<u8>]) -> Vec<u8> {
    let mut parts = vec![
        string(1, name),
        string(2, image),
        string(5, ""),
        msg(8, &[]),
        string(13, ""),
        string(14, ""),
        boolean(16, false),
        boolean(17, false),
        boolean(18, false),
        string(20, ""),
    ];
    parts.extend_from_slice(extra);
    msg(2, &parts)
}

/// `PodSpec` value fields, then `extra`.
fn pod_spec(tag: u32, extra: &[Vec<u8>]) -> Vec<u8> {
    let mut parts = vec![
        string(3, ""),
        string(6, ""),
        string(8, ""),
        string(9, ""),
        string(10, ""),
        boolean(11, false),
        boolean(12, false),
        boolean(13, false),
        string(16, ""),
        string(17, ""),
        string(19, ""),
        string(24, ""),
    ];
    parts.extend_from_slice(extra);
    msg(tag, &parts)
}

fn ok(body: &[u8]) -> Value {
    decode(body).unwrap_or_else(|e| panic!("{}", e.message))
}

fn err(body: &[u8]) -> ApiError {
    match decode(body) {
        Ok(v) => panic!("decoded {v}"),
        Err(e) => e,
    }
}

#[test]
fn configmap() {
    let body = envelope(
        "v1",
        "ConfigMap",
        &[
            meta(1, "cm", "default", &[]),
            entry(2, "a", "1"),
            entry(2, "b", ""),
            msg(3, &[string(1, "bin"), bytes(2, &[0, 1, 2, 255])]),
        ],
    );
    assert_eq!(
        ok(&body),
        json!({
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "cm", "namespace": "default"},
            "data": {"a": "1", "b": ""},
            "binaryData": {"bin": "AAEC/w=="},
        })
    );
}

#[test]
fn secret_bytes_are_base64() {
    let body = envelope(
        "v1",
        "Secret",
        &[
            meta(1, "s", "", &[]),
            msg(2, &[string(1, "password"), bytes(2, b"hello")]),
            msg(2, &[string(1, "one"), bytes(2, b"a")]),
            msg(2, &[string(1, "two"), bytes(2, b"ab")]),
            msg(2, &[string(1, "empty")]),
            string(3, "Opaque"),
        ],
    );
    assert_eq!(
        ok(&body),
        json!({
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "s"},
            "data": {"password": "aGVsbG8=", "one": "YQ==", "two": "YWI=", "empty": ""},
            "type": "Opaque",
        })
    );
}

#[test]
fn deployment_with_pod_template() {
    let labels = entry(11, "app", "web");
    let template = msg(
        3,
        &[
            meta(1, "", "", std::slice::from_ref(&labels)),
            pod_spec(
                2,
                &[container(
                    "nginx",
                    "nginx:1.27",
                    &[
                        msg(
                            6,
                            &[
                                string(1, ""),
                                int(2, 0),
                                int(3, 80),
                                string(4, "TCP"),
                                string(5, ""),
                            ],
                        ),
                        msg(
                            8,
                            &[
                                entry_msg(1, "cpu", &[string(1, "500m")]),
                                entry_msg(2, "memory", &[string(1, "128Mi")]),
                            ],
                        ),
                    ],
                )],
            ),
        ],
    );
    let spec = msg(
        2,
        &[
            int(1, 0),
            msg(2, &[entry(1, "app", "web")]),
            template,
            msg(
                4,
                &[
                    string(1, "RollingUpdate"),
                    msg(2, &[int_or_string_int(1, 0), int_or_string_str(2, "25%")]),
                ],
            ),
            int(5, 0),
            boolean(7, false),
        ],
    );
    let body = envelope(
        "apps/v1",
        "Deployment",
        &[
            meta(1, "web", "default", std::slice::from_ref(&labels)),
            spec,
            msg(3, &[]),
        ],
    );
    assert_eq!(
        ok(&body),
        json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "default", "labels": {"app": "web"}},
            "spec": {
                "replicas": 0,
                "selector": {"matchLabels": {"app": "web"}},
                "template": {
                    "metadata": {"labels": {"app": "web"}},
                    "spec": {
                        "containers": [{
                            "name": "nginx",
                            "image": "nginx:1.27",
                            "ports": [{"containerPort": 80, "protocol": "TCP"}],
                            "resources": {
                                "limits": {"cpu": "500m"},
                                "requests": {"memory": "128Mi"},
                            },
                        }],
                    },
                },
                "strategy": {
                    "type": "RollingUpdate",
                    "rollingUpdate": {"maxUnavailable": 0, "maxSurge": "25%"},
                },
            },
            "status": {},
        })
    );
}

#[test]
fn service_target_ports() {
    let port = |name: &str, number: i64, target: Vec<u8>| {
        msg(
            1,
            &[
                string(1, name),
                string(2, "TCP"),
                int(3, number),
                target,
                int(5, 0),
            ],
        )
    };
    let body = envelope(
        "v1",
        "Service",
        &[
            meta(1, "web", "", &[]),
            msg(
                2,
                &[
                    port("80-8080", 80, int_or_string_int(4, 8080)),
                    port("https", 443, int_or_string_str(4, "https")),
                    entry(2, "app", "web"),
                    string(3, ""),
                    string(4, "ClusterIP"),
                ],
            ),
            msg(3, &[msg(1, &[])]),
        ],
    );
    assert_eq!(
        ok(&body),
        json!({
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "web"},
            "spec": {
                "ports": [
                    {"name": "80-8080", "protocol": "TCP", "port": 80, "targetPort": 8080},
                    {"name": "https", "protocol": "TCP", "port": 443, "targetPort": "https"},
                ],
                "selector": {"app": "web"},
                "type": "ClusterIP",
            },
            "status": {"loadBalancer": {}},
        })
    );
}

#[test]
fn namespace() {
    let body = envelope(
        "v1",
        "Namespace",
        &[
            meta(1, "team-a", "", &[]),
            msg(2, &[]),
            msg(3, &[string(1, "")]),
        ],
    );
    assert_eq!(
        ok(&body),
        json!({
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": "team-a"},
            "spec": {},
            "status": {},
        })
    );
}

#[test]
fn job_and_cronjob() {
    let pod = msg(
        6,
        &[
            meta(1, "", "", &[]),
            pod_spec(
                2,
                &[
                    container(
                        "pi",
                        "perl",
                        &[string(3, "perl"), string(3, "-e"), string(3, "1")],
                    ),
                    string(3, "Never"),
                ],
            ),
        ],
    );
    let job = envelope(
        "batch/v1",
        "Job",
        &[
            meta(1, "pi", "", &[]),
            msg(2, &[pod.clone(), int(7, 0)]),
            msg(3, &[]),
        ],
    );
    let expected_pod = json!({
        "metadata": {},
        "spec": {
            "containers": [{"name": "pi", "image": "perl", "command": ["perl", "-e", "1"], "resources": {}}],
            "restartPolicy": "Never",
        },
    });
    assert_eq!(
        ok(&job),
        json!({
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {"name": "pi"},
            "spec": {"template": expected_pod, "backoffLimit": 0},
            "status": {},
        })
    );

    let cron = envelope(
        "batch/v1",
        "CronJob",
        &[
            meta(1, "tick", "", &[]),
            msg(
                2,
                &[
                    string(1, "*/1 * * * *"),
                    string(3, ""),
                    boolean(4, false),
                    msg(5, &[meta(1, "tick", "", &[]), msg(2, &[pod])]),
                ],
            ),
            msg(3, &[]),
        ],
    );
    assert_eq!(
        ok(&cron),
        json!({
            "apiVersion": "batch/v1",
            "kind": "CronJob",
            "metadata": {"name": "tick"},
            "spec": {
                "schedule": "*/1 * * * *",
                "suspend": false,
                "jobTemplate": {"metadata": {"name": "tick"}, "spec": {"template": expected_pod}},
            },
            "status": {},
        })
    );
}

#[test]
fn rolebinding() {
    let body = envelope(
        "rbac.authorization.k8s.io/v1",
        "RoleBinding",
        &[
            meta(1, "view-bob", "dev", &[]),
            msg(
                2,
                &[
                    string(1, "User"),
                    string(2, "rbac.authorization.k8s.io"),
                    string(3, "bob"),
                    string(4, ""),
                ],
            ),
            msg(
                2,
                &[
                    string(1, "ServiceAccount"),
                    string(2, ""),
                    string(3, "ci"),
                    string(4, "dev"),
                ],
            ),
            msg(
                3,
                &[
                    string(1, "rbac.authorization.k8s.io"),
                    string(2, "ClusterRole"),
                    string(3, "view"),
                ],
            ),
        ],
    );
    assert_eq!(
        ok(&body),
        json!({
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": "view-bob", "namespace": "dev"},
            "subjects": [
                {"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": "bob"},
                {"kind": "ServiceAccount", "name": "ci", "namespace": "dev"},
            ],
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
        })
    );
}

#[test]
fn times() {
    let seconds = 1_704_164_645; // 2024-01-02T03:04:05Z
    let body = envelope(
        "coordination.k8s.io/v1",
        "Lease",
        &[
            meta(
                1,
                "node-1",
                "kube-node-lease",
                &[msg(9, &[int(1, seconds), int(2, 0)])],
            ),
            msg(
                2,
                &[
                    string(1, "node-1"),
                    int(2, 40),
                    msg(3, &[int(1, seconds), int(2, 123_456_789)]),
                    msg(4, &[int(1, 0), int(2, 0)]),
                ],
            ),
        ],
    );
    // A zero creationTimestamp (empty message) is left out; an explicit
    // epoch is not.
    assert_eq!(
        ok(&body),
        json!({
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {
                "name": "node-1",
                "namespace": "kube-node-lease",
                "deletionTimestamp": "2024-01-02T03:04:05Z",
            },
            "spec": {
                "holderIdentity": "node-1",
                "leaseDurationSeconds": 40,
                "acquireTime": "2024-01-02T03:04:05.123456Z",
                "renewTime": "1970-01-01T00:00:00.000000Z",
            },
        })
    );
    assert_eq!(time(-1, 0, false).unwrap(), "1969-12-31T23:59:59Z");
    assert_eq!(
        time(0, 1_500_000_000, false).unwrap(),
        "1970-01-01T00:00:01Z"
    );
    assert_eq!(
        time(-62_135_596_800, 0, false).unwrap(),
        "0001-01-01T00:00:00Z"
    );
    assert!(time(253_402_300_800, 0, false).is_err());
    assert!(time(i64::MAX, i64::MAX, true).is_err());
}

#[test]
fn pod_volumes_are_inlined() {
    let body = envelope(
        "v1",
        "Pod",
        &[
            meta(1, "p", "", &[]),
            pod_spec(
                2,
                &[
                    msg(
                        1,
                        &[string(1, "scratch"), msg(2, &[msg(2, &[string(1, "")])])],
                    ),
                    msg(
                        1,
                        &[
                            string(1, "config"),
                            msg(
                                2,
                                &[msg(19, &[msg(1, &[string(1, "app-config")]), int(3, 420)])],
                            ),
                        ],
                    ),
                    container("c", "busybox", &[]),
                    // Unpacked and packed repeated int64.
                    msg(
                        14,
                        &[
                            int(4, 1000),
                            int(4, 2000),
                            bytes(4, &[varint(3000), varint(4000)].concat()),
                        ],
                    ),
                ],
            ),
        ],
    );
    let pod = ok(&body);
    assert_eq!(
        pod["spec"]["volumes"],
        json!([
            {"name": "scratch", "emptyDir": {}},
            {"name": "config", "configMap": {"name": "app-config", "defaultMode": 420}},
        ])
    );
    assert_eq!(
        pod["spec"]["securityContext"],
        json!({"supplementalGroups": [1000, 2000, 3000, 4000]})
    );
}

#[test]
fn certificate_signing_request() {
    let body = envelope(
        "certificates.k8s.io/v1",
        "CertificateSigningRequest",
        &[
            meta(1, "csr", "", &[]),
            msg(
                2,
                &[
                    bytes(1, b"PEM"),
                    string(2, "alice"),
                    string(3, ""),
                    string(4, "devs"),
                    entry_msg(6, "scopes", &[string(1, "a"), string(1, "b")]),
                    string(7, "kubernetes.io/kube-apiserver-client"),
                    int(8, 86400),
                ],
            ),
            msg(3, &[]),
        ],
    );
    assert_eq!(
        ok(&body)["spec"],
        json!({
            "request": "UEVN",
            "username": "alice",
            "groups": ["devs"],
            "extra": {"scopes": ["a", "b"]},
            "signerName": "kubernetes.io/kube-apiserver-client",
            "expirationSeconds": 86400,
        })
    );
}

#[test]
fn custom_resource_definition_schema() {
    let leaf = |ty: &str| vec![string(5, ty)];
    let schema = [
        string(5, "object"),
        double(11, 0.0),
        double(9, 2.5),
        entry_msg(
            29,
            "spec",
            &[
                string(5, "object"),
                msg(8, &[bytes(1, br#"{"size": 1}"#)]),
                entry_msg(
                    29,
                    "size",
                    &[
                        leaf("integer"),
                        vec![msg(20, &[bytes(1, b"1")]), msg(20, &[bytes(1, b"\"two\"")])],
                    ]
                    .concat(),
                ),
                entry_msg(
                    29,
                    "tags",
                    &[string(5, "array"), msg(24, &[msg(1, &leaf("string"))])],
                ),
                msg(30, &[boolean(1, false)]),
                boolean(38, true),
            ],
        ),
        entry_msg(
            29,
            "status",
            &[
                string(5, "object"),
                msg(30, &[boolean(1, true), msg(2, &leaf("string"))]),
            ],
        ),
        entry_msg(32, "spec", &[string(2, "status")]),
    ];
    let body = envelope(
        "apiextensions.k8s.io/v1",
        "CustomResourceDefinition",
        &[
            meta(1, "widgets.example.com", "", &[]),
            msg(
                2,
                &[
                    string(1, "example.com"),
                    msg(
                        3,
                        &[
                            string(1, "widgets"),
                            string(2, ""),
                            string(4, "Widget"),
                            string(5, ""),
                        ],
                    ),
                    string(4, "Namespaced"),
                    msg(
                        7,
                        &[
                            string(1, "v1"),
                            boolean(2, true),
                            boolean(3, true),
                            msg(4, &[msg(1, &schema)]),
                            msg(5, &[msg(1, &[])]),
                            boolean(7, false),
                        ],
                    ),
                    boolean(10, false),
                ],
            ),
            msg(3, &[msg(2, &[string(1, ""), string(4, "")])]),
        ],
    );
    let crd = ok(&body);
    assert_eq!(
        crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"],
        json!({
            "type": "object",
            "minimum": 0,
            "maximum": 2.5,
            "properties": {
                "spec": {
                    "type": "object",
                    "default": {"size": 1},
                    "properties": {
                        "size": {"type": "integer", "enum": [1, "two"]},
                        "tags": {"type": "array", "items": {"type": "string"}},
                    },
                    "additionalProperties": false,
                    "x-kubernetes-preserve-unknown-fields": true,
                },
                "status": {"type": "object", "additionalProperties": {"type": "string"}},
            },
            "dependencies": {"spec": ["status"]},
        })
    );
    assert_eq!(
        crd["spec"]["versions"][0]["subresources"],
        json!({"status": {}})
    );
    assert_eq!(
        crd["spec"]["names"],
        json!({"plural": "widgets", "kind": "Widget"})
    );
}

#[test]
fn managed_fields_embed_json() {
    let body = envelope(
        "v1",
        "ConfigMap",
        &[meta(
            1,
            "cm",
            "",
            &[msg(
                17,
                &[
                    string(1, "kubectl"),
                    string(2, "Apply"),
                    string(3, "v1"),
                    msg(4, &[int(1, 0), int(2, 0)]),
                    string(6, "FieldsV1"),
                    msg(7, &[bytes(1, br#"{"f:data":{".":{}}}"#)]),
                    string(8, ""),
                ],
            )],
        )],
    );
    assert_eq!(
        ok(&body)["metadata"]["managedFields"],
        json!([{
            "manager": "kubectl",
            "operation": "Apply",
            "apiVersion": "v1",
            "time": "1970-01-01T00:00:00Z",
            "fieldsType": "FieldsV1",
            "fieldsV1": {"f:data": {".": {}}},
        }])
    );
}

#[test]
fn meta_kinds_in_any_group_version() {
    let body = envelope(
        "apps/v1",
        "DeleteOptions",
        &[int(1, 0), string(4, "Foreground"), string(5, "All")],
    );
    assert_eq!(
        ok(&body),
        json!({
            "apiVersion": "apps/v1",
            "kind": "DeleteOptions",
            "gracePeriodSeconds": 0,
            "propagationPolicy": "Foreground",
            "dryRun": ["All"],
        })
    );
    let eviction = envelope(
        "policy/v1",
        "Eviction",
        &[meta(1, "p", "ns", &[]), msg(2, &[int(1, 30)])],
    );
    assert_eq!(
        ok(&eviction),
        json!({
            "apiVersion": "policy/v1",
            "kind": "Eviction",
            "metadata": {"name": "p", "namespace": "ns"},
            "deleteOptions": {"gracePeriodSeconds": 30},
        })
    );
}

#[test]
fn repeated_singular_message_merges() {
    let body = envelope(
        "v1",
        "ConfigMap",
        &[
            meta(1, "cm", "", &[]),
            msg(1, &[string(3, "ns")]),
            boolean(4, true),
        ],
    );
    assert_eq!(
        ok(&body),
        json!({
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "cm", "namespace": "ns"},
            "immutable": true,
        })
    );
}

#[test]
fn negative_and_large_integers() {
    let body = envelope(
        "v1",
        "Pod",
        &[pod_spec(2, &[int(4, -1), int(25, -5), int(5, i64::MAX)])],
    );
    let pod = ok(&body);
    assert_eq!(pod["spec"]["terminationGracePeriodSeconds"], json!(-1));
    assert_eq!(pod["spec"]["priority"], json!(-5));
    assert_eq!(pod["spec"]["activeDeadlineSeconds"], json!(i64::MAX));
}

mod errors;
