use serde_json::{json, Value};

use super::*;
use crate::resource::RESOURCES;

fn doc(group: &str, version: &str) -> Value {
    v3_document(group, version).unwrap()
}

fn schema<'a>(doc: &'a Value, name: &str) -> &'a Value {
    &doc["components"]["schemas"][name]
}

/// Follows `$ref`, or a one-element `allOf`, the way kubectl does.
fn resolve<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
    match catalog::ref_name(schema) {
        Some(name) => resolve(doc, &doc["components"]["schemas"][name]),
        None => schema,
    }
}

/// The schema of a field path from a kind's schema, as `kubectl explain`
/// walks it: through refs, array items and map values.
fn field<'a>(doc: &'a Value, root: &str, path: &[&str]) -> &'a Value {
    let mut current = schema(doc, root);
    for name in path {
        let mut resolved = resolve(doc, current);
        while resolved.get("properties").is_none() {
            resolved = resolve(doc, resolved.get("items").expect("no fields and no items"));
        }
        current = &resolved["properties"][*name];
        assert!(current.is_object(), "no field {name} in {path:?}");
    }
    current
}

/// Every operation of a document with its path and method.
fn operations(doc: &Value) -> Vec<(String, String, Value)> {
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            if method != "parameters" {
                out.push((path.clone(), method.clone(), op.clone()));
            }
        }
    }
    out
}

fn param_names(op: &Value) -> Vec<String> {
    op["parameters"]
        .as_array()
        .map(|ps| {
            ps.iter()
                .map(|p| p["name"].as_str().unwrap().to_string())
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn every_row_has_a_schema() {
    let catalog = catalog::Catalog::build();
    for r in RESOURCES {
        let kind = catalog.kind(r.group, r.version, r.kind);
        let kind = kind.unwrap_or_else(|| panic!("no schema for {} {}", r.api_version(), r.kind));
        assert!(
            catalog.schemas.contains_key(&kind.schema),
            "{}",
            kind.schema
        );
        assert!(catalog.schemas.contains_key(kind.list.as_ref().unwrap()));
    }
}

#[test]
fn document_shape() {
    let apps = doc("apps", "v1");
    assert_eq!(apps["openapi"], "3.0.0");
    let paths = apps["paths"].as_object().unwrap();
    for path in [
        "/apis/apps/v1/",
        "/apis/apps/v1/namespaces/{namespace}/deployments",
        "/apis/apps/v1/namespaces/{namespace}/deployments/{name}",
        "/apis/apps/v1/namespaces/{namespace}/deployments/{name}/status",
        "/apis/apps/v1/namespaces/{namespace}/deployments/{name}/scale",
        "/apis/apps/v1/deployments",
        "/apis/apps/v1/watch/namespaces/{namespace}/deployments/{name}",
    ] {
        assert!(paths.contains_key(path), "{path}");
    }
    let item = &paths["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"];
    for method in ["get", "put", "patch", "delete"] {
        assert!(item[method].is_object(), "{method}");
    }
    assert_eq!(
        item["patch"]["operationId"],
        "patchAppsV1NamespacedDeployment"
    );
    assert_eq!(item["patch"]["x-kubernetes-action"], "patch");
    assert_eq!(item["get"]["x-kubernetes-action"], "get");
    let collection = &paths["/apis/apps/v1/namespaces/{namespace}/deployments"];
    assert_eq!(collection["get"]["x-kubernetes-action"], "list");
    assert_eq!(collection["post"]["x-kubernetes-action"], "post");
    assert_eq!(
        collection["delete"]["x-kubernetes-action"],
        "deletecollection"
    );
    assert_eq!(
        collection["get"]["responses"]["200"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/io.k8s.api.apps.v1.DeploymentList"
    );
    for name in [
        "io.k8s.api.apps.v1.Deployment",
        "io.k8s.api.apps.v1.DeploymentList",
        "io.k8s.api.core.v1.PodSpec",
        "io.k8s.api.autoscaling.v1.Scale",
        "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta",
        "io.k8s.apimachinery.pkg.apis.meta.v1.Patch",
        "io.k8s.apimachinery.pkg.util.intstr.IntOrString",
    ] {
        assert!(schema(&apps, name).is_object(), "{name}");
    }
    // Only what the group version refers to.
    assert!(schema(&apps, "io.k8s.api.batch.v1.Job").is_null());
    assert!(v3_document("apps", "v9").is_none());

    let core = doc("", "v1");
    let paths = core["paths"].as_object().unwrap();
    for path in [
        "/api/v1/namespaces/{namespace}/pods",
        "/api/v1/namespaces/{namespace}/pods/{name}",
        "/api/v1/pods",
        "/api/v1/namespaces/{namespace}/pods/{name}/log",
        "/api/v1/namespaces/{namespace}/pods/{name}/exec",
        "/api/v1/namespaces/{namespace}/pods/{name}/binding",
        "/api/v1/namespaces/{namespace}/pods/{name}/eviction",
        "/api/v1/namespaces/{namespace}/pods/{name}/proxy/{path}",
        "/api/v1/nodes/{name}",
        "/api/v1/namespaces/{name}/finalize",
    ] {
        assert!(paths.contains_key(path), "{path}");
    }
    assert!(!paths.contains_key("/api/v1/namespaces/{namespace}/nodes"));
    assert!(paths["/api/v1/namespaces"].get("delete").is_none());
    assert_eq!(
        paths["/api/v1/namespaces/{namespace}/pods/{name}/exec"]["post"]["operationId"],
        "connectCoreV1PostNamespacedPodExec"
    );
    assert!(!paths.keys().any(|p| p.starts_with("/apis/")));
    let rbac = doc("rbac.authorization.k8s.io", "v1");
    assert_eq!(
        rbac["paths"]["/apis/rbac.authorization.k8s.io/v1/clusterroles/{name}"]["get"]
            ["operationId"],
        "readRbacAuthorizationV1ClusterRole"
    );
}

#[test]
fn every_reference_resolves() {
    for (group, version) in group_versions() {
        let doc = doc(group, version);
        let mut refs = BTreeSet::new();
        collect_refs(&doc, &mut refs);
        for name in refs {
            assert!(schema(&doc, &name).is_object(), "{group}/{version}: {name}");
        }
    }
}

#[test]
fn kinds_carry_their_group_version_kind() {
    let apps = doc("apps", "v1");
    assert_eq!(
        schema(&apps, "io.k8s.api.apps.v1.Deployment")["x-kubernetes-group-version-kind"],
        json!([{"group": "apps", "kind": "Deployment", "version": "v1"}])
    );
    assert_eq!(
        schema(&apps, "io.k8s.api.apps.v1.DeploymentList")["x-kubernetes-group-version-kind"],
        json!([{"group": "apps", "kind": "DeploymentList", "version": "v1"}])
    );
    assert!(schema(&apps, "io.k8s.api.apps.v1.DeploymentSpec")
        .get("x-kubernetes-group-version-kind")
        .is_none());
    let scale = &apps["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}/scale"];
    assert_eq!(
        scale["patch"]["x-kubernetes-group-version-kind"],
        json!({"group": "autoscaling", "kind": "Scale", "version": "v1"})
    );
    let core = doc("", "v1");
    assert_eq!(
        schema(&core, "io.k8s.api.core.v1.Pod")["x-kubernetes-group-version-kind"],
        json!([{"group": "", "kind": "Pod", "version": "v1"}])
    );
    let hpa = doc("autoscaling", "v1");
    assert_eq!(
        schema(&hpa, "io.k8s.api.autoscaling.v1.HorizontalPodAutoscaler")
            ["x-kubernetes-group-version-kind"][0]["version"],
        "v1"
    );
}

/// kubectl's `QueryParamVerifierV3` and `gvkSupportsPatchOpenAPIV3` take
/// the first PATCH whose GVK is the kind's, in no particular order: every
/// such PATCH must list `fieldValidation` and accept a strategic merge patch.
#[test]
fn writes_take_field_validation() {
    for (group, version) in group_versions() {
        let doc = doc(group, version);
        for (path, method, op) in operations(&doc) {
            let params = param_names(&op);
            let connect = op["x-kubernetes-action"] == "connect";
            if matches!(method.as_str(), "post" | "put" | "patch") && !connect {
                assert!(
                    params.contains(&"fieldValidation".into()),
                    "{method} {path}"
                );
                assert!(params.contains(&"dryRun".into()), "{method} {path}");
                assert!(params.contains(&"fieldManager".into()), "{method} {path}");
            }
            if method == "patch" && !connect {
                assert!(params.contains(&"force".into()), "{path}");
                let content = &op["requestBody"]["content"];
                assert!(
                    content["application/strategic-merge-patch+json"].is_object(),
                    "{path}"
                );
                assert!(
                    content["application/apply-patch+yaml"].is_object(),
                    "{path}"
                );
            }
        }
        for r in RESOURCES
            .iter()
            .filter(|r| r.group == group && r.version == version)
        {
            let gvk = json!({"group": r.group, "version": r.version, "kind": r.kind});
            let patches: Vec<_> = operations(&doc)
                .into_iter()
                .filter(|(_, method, op)| {
                    method == "patch" && op["x-kubernetes-group-version-kind"] == gvk
                })
                .collect();
            assert!(!patches.is_empty(), "no PATCH for {}", r.kind);
        }
    }
}

#[test]
fn explain_finds_nested_fields_and_descriptions() {
    let apps = doc("apps", "v1");
    let deployment = "io.k8s.api.apps.v1.Deployment";
    let spec = field(&apps, deployment, &["spec"]);
    // The field's own description beside the type's, as upstream's allOf.
    assert!(spec["description"]
        .as_str()
        .unwrap()
        .starts_with("Specification of the desired behavior"));
    assert_eq!(
        catalog::ref_name(spec),
        Some("io.k8s.api.apps.v1.DeploymentSpec")
    );
    let containers = field(
        &apps,
        deployment,
        &["spec", "template", "spec", "containers"],
    );
    assert_eq!(containers["type"], "array");
    assert!(containers["description"]
        .as_str()
        .unwrap()
        .starts_with("List of containers belonging to the pod."));
    let image = field(
        &apps,
        deployment,
        &["spec", "template", "spec", "containers", "image"],
    );
    assert!(image["description"]
        .as_str()
        .unwrap()
        .starts_with("Container image name."));
    assert_eq!(image["type"], "string");
    assert_eq!(
        resolve(&apps, &containers["items"])["required"],
        json!(["name"])
    );
    let surge = field(
        &apps,
        deployment,
        &["spec", "strategy", "rollingUpdate", "maxSurge"],
    );
    let int_or_string = resolve(&apps, surge);
    assert_eq!(int_or_string["format"], "int-or-string");
    assert_eq!(int_or_string["x-kubernetes-int-or-string"], true);
    // kubectl prints `<IntOrString>`: a ref'd schema without a type.
    assert!(int_or_string.get("type").is_none());
    let created = field(&apps, deployment, &["metadata", "creationTimestamp"]);
    assert_eq!(resolve(&apps, created)["type"], "string");
}

#[test]
fn merge_keys_follow_the_patch_tables() {
    let apps = doc("apps", "v1");
    let containers = &schema(&apps, "io.k8s.api.core.v1.PodSpec")["properties"]["containers"];
    assert_eq!(containers["x-kubernetes-patch-merge-key"], "name");
    assert_eq!(containers["x-kubernetes-patch-strategy"], "merge");
    assert_eq!(containers["x-kubernetes-list-type"], "map");
    assert_eq!(containers["x-kubernetes-list-map-keys"], json!(["name"]));
    let volumes = &schema(&apps, "io.k8s.api.core.v1.PodSpec")["properties"]["volumes"];
    assert_eq!(volumes["x-kubernetes-patch-strategy"], "merge,retainKeys");
    let ports = &schema(&apps, "io.k8s.api.core.v1.Container")["properties"]["ports"];
    assert_eq!(ports["x-kubernetes-patch-merge-key"], "containerPort");
    assert_eq!(
        ports["x-kubernetes-list-map-keys"],
        json!(["containerPort", "protocol"])
    );
    let env = &schema(&apps, "io.k8s.api.core.v1.Container")["properties"]["env"];
    assert_eq!(env["x-kubernetes-patch-merge-key"], "name");
    let strategy = &schema(&apps, "io.k8s.api.apps.v1.DeploymentSpec")["properties"]["strategy"];
    assert_eq!(strategy["x-kubernetes-patch-strategy"], "retainKeys");
    let meta = &schema(&apps, "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta")["properties"];
    assert_eq!(meta["finalizers"]["x-kubernetes-patch-strategy"], "merge");
    assert_eq!(meta["finalizers"]["x-kubernetes-list-type"], "set");
    assert_eq!(
        meta["ownerReferences"]["x-kubernetes-patch-merge-key"],
        "uid"
    );
    assert!(meta["labels"].get("x-kubernetes-patch-strategy").is_none());
    let selector = schema(&apps, "io.k8s.apimachinery.pkg.apis.meta.v1.LabelSelector");
    assert_eq!(selector["x-kubernetes-map-type"], "atomic");
    let node_selector = &schema(&apps, "io.k8s.api.core.v1.PodSpec")["properties"]["nodeSelector"];
    assert_eq!(node_selector["x-kubernetes-map-type"], "atomic");
    let pdb = doc("policy", "v1");
    let selector =
        &schema(&pdb, "io.k8s.api.policy.v1.PodDisruptionBudgetSpec")["properties"]["selector"];
    assert_eq!(selector["x-kubernetes-patch-strategy"], "replace");
    let core = doc("", "v1");
    let service_ports = &schema(&core, "io.k8s.api.core.v1.ServiceSpec")["properties"]["ports"];
    assert_eq!(service_ports["x-kubernetes-patch-merge-key"], "port");
}

fn deployment_with_typos() -> Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": "web",
            "labels": {"any-key": "is fine"},
            "managedFields": [{"manager": "kubectl", "fieldsV1": {"f:spec": {"f:replicas": {}}}}],
        },
        "spec": {
            "replica": 3,
            "selector": {"matchLabels": {"app": "web"}},
            "strategy": {"rollingUpdate": {"maxSurge": "25%"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {
                    "containers": [
                        {"name": "a", "image": "nginx"},
                        {"name": "b", "image": "nginx", "imagePullPolicyy": "Always",
                         "resources": {"limits": {"cpu": "1"}}},
                    ],
                },
            },
        },
        "statuss": {},
    })
}

#[test]
fn unknown_fields_of_a_deployment() {
    assert_eq!(
        unknown_fields("apps", "v1", "Deployment", &deployment_with_typos()),
        [
            "spec.replica",
            "spec.template.spec.containers[1].imagePullPolicyy",
            "statuss"
        ]
    );
    let mut fine = deployment_with_typos();
    fine["spec"].as_object_mut().unwrap().remove("replica");
    fine.as_object_mut().unwrap().remove("statuss");
    fine["spec"]["template"]["spec"]["containers"][1]
        .as_object_mut()
        .unwrap()
        .remove("imagePullPolicyy");
    assert!(unknown_fields("apps", "v1", "Deployment", &fine).is_empty());
    assert!(unknown_fields("example.com", "v1", "Widget", &deployment_with_typos()).is_empty());
    // Free-form values take anything.
    let revision =
        json!({"metadata": {"name": "r"}, "revision": 1, "data": {"anything": {"goes": 1}}});
    assert!(unknown_fields("apps", "v1", "ControllerRevision", &revision).is_empty());
}

#[test]
fn strict_errors_in_document_order_with_duplicates() {
    let body = br#"{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web","labels":{"a":"1","a":"2"}},
        "spec":{"replicas":1,"replicas":2,"zzz":1,"template":{"spec":{"containers":[{"name":"c","imagee":"x"}]}},"aaa":{"x":1,"x":2}}}"#;
    let errors = strict_errors("apps", "v1", "Deployment", body).unwrap();
    let text: Vec<String> = errors.iter().map(ToString::to_string).collect();
    assert_eq!(
        text,
        [
            r#"duplicate field "metadata.labels.a""#,
            r#"duplicate field "spec.replicas""#,
            r#"unknown field "spec.zzz""#,
            r#"unknown field "spec.template.spec.containers[0].imagee""#,
            r#"unknown field "spec.aaa""#,
        ]
    );
    assert_eq!(
        strict_decoding_error(&errors[2..3]),
        r#"strict decoding error: unknown field "spec.zzz""#
    );
    assert!(strict_errors("apps", "v1", "Deployment", b"{").is_err());
    let patch = br#"{"spec":{"template":{"spec":{"$setElementOrder/containers":[{"name":"c"}],"containers":[{"name":"c","x":1,"x":2}]}},"replicas":1,"replicas":2}}"#;
    assert_eq!(
        duplicate_fields(patch).unwrap(),
        [
            StrictError::DuplicateField("spec.template.spec.containers[0].x".into()),
            StrictError::DuplicateField("spec.replicas".into()),
        ]
    );
}

#[test]
fn root_lists_every_group_version_with_a_hash() {
    let root = v3_root();
    let paths = root["paths"].as_object().unwrap();
    for r in RESOURCES {
        let key = if r.group.is_empty() {
            format!("api/{}", r.version)
        } else {
            format!("apis/{}/{}", r.group, r.version)
        };
        let url = paths[&key]["serverRelativeURL"].as_str().unwrap();
        let (path, hash) = url.split_once("?hash=").unwrap();
        assert_eq!(path, format!("/openapi/v3/{key}"));
        assert_eq!(hash.len(), 32);
        assert!(hash
            .chars()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_lowercase()));
    }
    assert_eq!(v3_root(), root, "stable across builds of the catalog");
}

/// The rules kubectl's `proto.NewOpenAPIData` applies to every definition;
/// one broken definition fails the validation of every `kind: List` file.
fn check_v2_schema(definitions: &serde_json::Map<String, Value>, at: &str, schema: &Value) {
    let ty = schema.get("type").and_then(Value::as_str);
    if let Some(reference) = schema.get("$ref") {
        let name = reference
            .as_str()
            .unwrap()
            .strip_prefix("#/definitions/")
            .unwrap();
        assert!(definitions.contains_key(name), "{at}: {name}");
        assert!(ty.is_none() && schema.get("properties").is_none(), "{at}");
        return;
    }
    assert!(
        schema.get("oneOf").is_none() && schema.get("allOf").is_none(),
        "{at}"
    );
    match ty {
        Some("array") => check_v2_schema(definitions, &format!("{at}[]"), &schema["items"]),
        Some("object") | None => {
            for (name, field) in schema
                .get("properties")
                .and_then(Value::as_object)
                .into_iter()
                .flatten()
            {
                check_v2_schema(definitions, &format!("{at}.{name}"), field);
            }
            if let Some(values) = schema.get("additionalProperties").filter(|v| v.is_object()) {
                check_v2_schema(definitions, &format!("{at}{{}}"), values);
            }
        }
        Some(other) => assert!(
            ["string", "integer", "number", "boolean"].contains(&other),
            "{at}: {other}"
        ),
    }
}

#[test]
fn v2_definitions_parse_as_kubectl_does() {
    let doc = v2_document();
    assert_eq!(doc["swagger"], "2.0");
    let definitions = doc["definitions"].as_object().unwrap();
    for (name, schema) in definitions {
        check_v2_schema(definitions, name, schema);
    }
    let deployment = &definitions["io.k8s.api.apps.v1.Deployment"];
    assert_eq!(
        deployment["x-kubernetes-group-version-kind"],
        json!([{"group": "apps", "kind": "Deployment", "version": "v1"}])
    );
    assert_eq!(
        deployment["properties"]["spec"]["$ref"],
        "#/definitions/io.k8s.api.apps.v1.DeploymentSpec"
    );
    let int_or_string = &definitions["io.k8s.apimachinery.pkg.util.intstr.IntOrString"];
    assert_eq!(int_or_string["type"], "string");
    assert_eq!(int_or_string["format"], "int-or-string");
    assert_eq!(
        definitions["io.k8s.apimachinery.pkg.api.resource.Quantity"]["type"],
        "string"
    );
    // Free-form: any value at all.
    let json_value = &definitions["io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.JSON"];
    assert!(json_value.get("type").is_none());
}

#[test]
fn v2_protobuf_is_gnostics_encoding() {
    let bytes = v2_protobuf();
    // Document.swagger (1) = "2.0", then Document.info (2).
    assert_eq!(&bytes[..5], b"\x0a\x032.0");
    assert_eq!(bytes[5], 0x12);
    let mut schema = v2::Pb::default();
    v2::encode_schema(&mut schema, &json!({"type": "string", "x-a": 1}));
    // Schema.type (22) = TypeItem{value: "string"}; Schema.vendor_extension
    // (31) = NamedAny{name: "x-a", value: Any{yaml: "1"}}.
    let expected: &[u8] = b"\xb2\x01\x08\x0a\x06string\xfa\x01\x0a\x0a\x03x-a\x12\x03\x12\x011";
    assert_eq!(schema.0, expected);
}
