//! The `paths` of a group-version document: upstream's URLs and operations
//! for each resource, with the `x-kubernetes-action` and
//! `x-kubernetes-group-version-kind` extensions kubectl searches them by.

use serde_json::{json, Map, Value};

use super::catalog::{
    gvk, Catalog, Kind, API_RESOURCE_LIST, DELETE_OPTIONS, PATCH, REF_PREFIX, STATUS, WATCH_EVENT,
};
use super::params;
use crate::resource::Resource;

/// The patch types of built-in kinds; kubectl computes a strategic merge
/// patch only for kinds whose PATCH accepts one.
const PATCH_TYPES: &[&str] = &[
    "application/apply-patch+yaml",
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/strategic-merge-patch+json",
];

/// Names of one group version as upstream spells them: `/apis/apps/v1`,
/// `AppsV1` in operation ids and `apps_v1` as the tag.
pub(super) struct GroupVersion {
    pub prefix: String,
    id: String,
    tag: String,
}

impl GroupVersion {
    pub fn new(group: &str, version: &str) -> GroupVersion {
        let prefix = if group.is_empty() {
            format!("/api/{version}")
        } else {
            format!("/apis/{group}/{version}")
        };
        let name = if group.is_empty() {
            "core"
        } else {
            group.strip_suffix(".k8s.io").unwrap_or(group)
        };
        let id: String = name.split('.').map(capitalize).collect();
        let tag: String = name
            .split('.')
            .enumerate()
            .map(|(i, part)| {
                if i == 0 {
                    part.to_string()
                } else {
                    capitalize(part)
                }
            })
            .collect();
        GroupVersion {
            prefix,
            id: format!("{id}{}", capitalize(version)),
            tag: format!("{tag}_{version}"),
        }
    }

    /// `GET /apis/apps/v1/`: the resources of the group version.
    pub fn discovery(&self, paths: &mut Map<String, Value>) {
        let op = json!({
            "description": "get available resources",
            "operationId": format!("get{}APIResources", self.id),
            "responses": ok(API_RESOURCE_LIST, &["application/json", "application/yaml"]),
            "tags": [self.tag],
        });
        paths.insert(format!("{}/", self.prefix), json!({"get": op}));
    }
}

fn capitalize(word: &str) -> String {
    let mut chars = word.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

fn content(schema: &str, types: &[&str]) -> Value {
    let reference = json!({"schema": {"$ref": format!("{REF_PREFIX}{schema}")}});
    Value::Object(
        types
            .iter()
            .map(|t| (t.to_string(), reference.clone()))
            .collect(),
    )
}

const OBJECT_TYPES: &[&str] = &["application/json", "application/yaml"];
const LIST_TYPES: &[&str] = &[
    "application/json",
    "application/json;stream=watch",
    "application/yaml",
];
const WATCH_TYPES: &[&str] = &["application/json", "application/json;stream=watch"];

fn ok(schema: &str, types: &[&str]) -> Value {
    json!({"200": {"content": content(schema, types), "description": "OK"}})
}

fn responses(schema: &str, codes: &[(&str, &str)]) -> Value {
    let content = content(schema, OBJECT_TYPES);
    Value::Object(
        codes
            .iter()
            .map(|(code, text)| {
                (
                    code.to_string(),
                    json!({"content": content, "description": text}),
                )
            })
            .collect(),
    )
}

const TEXT: &str = "text/plain";

fn text_ok() -> Value {
    json!({"200": {"content": {TEXT: {"schema": {"type": "string"}}}, "description": "OK"}})
}

/// Builds the operations of one resource row.
struct Ops<'a> {
    gv: &'a GroupVersion,
    row: &'a Resource,
    kind: &'a Kind,
    /// `Namespaced` in operation ids of namespaced resources.
    scope: &'static str,
}

impl Ops<'_> {
    fn op(&self, verb: &str, action: &str, description: String, gvk: &Value) -> Map<String, Value> {
        let mut op = Map::new();
        op.insert("description".into(), description.into());
        op.insert("operationId".into(), format!("{verb}{}", self.gv.id).into());
        op.insert("tags".into(), json!([self.gv.tag]));
        op.insert("x-kubernetes-action".into(), action.into());
        op.insert("x-kubernetes-group-version-kind".into(), gvk.clone());
        op
    }

    fn named(
        &self,
        verb: &str,
        action: &str,
        description: String,
        suffix: &str,
    ) -> Map<String, Value> {
        let mut op = self.op(verb, action, description, &self.kind.gvk());
        let id = format!(
            "{}{}{}{suffix}",
            op["operationId"].as_str().unwrap_or_default(),
            self.scope,
            self.row.kind
        );
        op.insert("operationId".into(), id.into());
        op
    }

    /// `/namespaces/{namespace}/deployments` (or `/nodes`) and the watch
    /// path of the list.
    fn collection(&self, paths: &mut Map<String, Value>, list: &str) {
        let kind = self.row.kind;
        let mut list_op = self.named(
            "list",
            "list",
            format!("list or watch objects of kind {kind}"),
            "",
        );
        list_op.insert("parameters".into(), params::list().into());
        list_op.insert("responses".into(), ok(list, LIST_TYPES));
        let mut create = self.named("create", "post", format!("create {}", article(kind)), "");
        create.insert("parameters".into(), params::write().into());
        create.insert("requestBody".into(), body(&self.kind.schema));
        create.insert(
            "responses".into(),
            responses(
                &self.kind.schema,
                &[("200", "OK"), ("201", "Created"), ("202", "Accepted")],
            ),
        );
        let mut item =
            json!({"get": list_op, "post": create, "parameters": self.scope_params(false)});
        if self.row.kind != "Namespace" {
            let mut delete = self.named(
                "delete",
                "deletecollection",
                format!("delete collection of {kind}"),
                "",
            );
            delete.insert(
                "operationId".into(),
                format!("delete{}Collection{}{kind}", self.gv.id, self.scope).into(),
            );
            let mut parameters = params::delete();
            parameters.extend(params::list());
            delete.insert("parameters".into(), parameters.into());
            delete.insert("requestBody".into(), body(DELETE_OPTIONS));
            delete.insert("responses".into(), ok(STATUS, OBJECT_TYPES));
            item["delete"] = delete.into();
        }
        paths.insert(self.path(false), item);

        let mut watch = self.named(
            "watch",
            "watchlist",
            format!("watch individual changes to a list of {kind}. deprecated: use the 'watch' parameter with a list operation instead."),
            "List",
        );
        watch.insert("responses".into(), ok(WATCH_EVENT, WATCH_TYPES));
        paths.insert(self.watch_path(false), self.watch_item(watch, false));
    }

    /// `/namespaces/{namespace}/deployments/{name}` and its watch path.
    fn object(&self, paths: &mut Map<String, Value>) {
        let kind = self.row.kind;
        let schema = &self.kind.schema;
        let mut read = self.named("read", "get", format!("read the specified {kind}"), "");
        read.insert("responses".into(), ok(schema, OBJECT_TYPES));
        let mut replace = self.named(
            "replace",
            "put",
            format!("replace the specified {kind}"),
            "",
        );
        replace.insert("parameters".into(), params::write().into());
        replace.insert("requestBody".into(), body(schema));
        replace.insert(
            "responses".into(),
            responses(schema, &[("200", "OK"), ("201", "Created")]),
        );
        let mut patch = self.named(
            "patch",
            "patch",
            format!("partially update the specified {kind}"),
            "",
        );
        patch.insert("parameters".into(), params::patch().into());
        patch.insert("requestBody".into(), patch_body());
        patch.insert(
            "responses".into(),
            responses(schema, &[("200", "OK"), ("201", "Created")]),
        );
        let mut delete = self.named("delete", "delete", format!("delete {}", article(kind)), "");
        delete.insert("parameters".into(), params::delete().into());
        delete.insert("requestBody".into(), body(DELETE_OPTIONS));
        delete.insert(
            "responses".into(),
            responses(STATUS, &[("200", "OK"), ("202", "Accepted")]),
        );
        let item = json!({
            "get": read, "put": replace, "patch": patch, "delete": delete,
            "parameters": self.scope_params(true),
        });
        paths.insert(self.path(true), item);

        let mut watch = self.named(
            "watch",
            "watch",
            format!("watch changes to an object of kind {kind}. deprecated: use the 'watch' parameter with a list operation instead, filtered to a single item with the 'fieldSelector' parameter."),
            "",
        );
        watch.insert("responses".into(), ok(WATCH_EVENT, WATCH_TYPES));
        paths.insert(self.watch_path(true), self.watch_item(watch, true));
    }

    /// `GET /api/v1/pods`: the list across namespaces.
    fn all_namespaces(&self, paths: &mut Map<String, Value>, list: &str) {
        let kind = self.row.kind;
        let mut op = self.op(
            "list",
            "list",
            format!("list or watch objects of kind {kind}"),
            &self.kind.gvk(),
        );
        op.insert(
            "operationId".into(),
            format!("list{}{kind}ForAllNamespaces", self.gv.id).into(),
        );
        op.insert("responses".into(), ok(list, LIST_TYPES));
        let mut parameters = params::list();
        parameters.push(params::pretty());
        paths.insert(
            format!("{}/{}", self.gv.prefix, self.row.plural),
            json!({"get": op, "parameters": parameters}),
        );
        let mut watch = self.op(
            "watch",
            "watchlist",
            format!("watch individual changes to a list of {kind}. deprecated: use the 'watch' parameter with a list operation instead."),
            &self.kind.gvk(),
        );
        watch.insert(
            "operationId".into(),
            format!("watch{}{kind}ListForAllNamespaces", self.gv.id).into(),
        );
        watch.insert("responses".into(), ok(WATCH_EVENT, WATCH_TYPES));
        let mut parameters = params::list();
        parameters.push(params::pretty());
        paths.insert(
            format!("{}/watch/{}", self.gv.prefix, self.row.plural),
            json!({"get": watch, "parameters": parameters}),
        );
    }

    /// `.../{name}/<sub>`, for the subresources upstream documents.
    fn subresource(&self, paths: &mut Map<String, Value>, catalog: &Catalog, sub: &str) {
        let kind = self.row.kind;
        let suffix = capitalize(sub);
        let mut item = Map::new();
        // Reads and writes of a part of the object itself.
        let own = |item: &mut Map<String, Value>, ops: &[&str], target: &Kind| {
            for verb in ops {
                let (id, action, text) = match *verb {
                    "get" => ("read", "get", format!("read {sub} of the specified {kind}")),
                    "put" => (
                        "replace",
                        "put",
                        format!("replace {sub} of the specified {kind}"),
                    ),
                    _ => (
                        "patch",
                        "patch",
                        format!("partially update {sub} of the specified {kind}"),
                    ),
                };
                let mut op = self.named(id, action, text, &suffix);
                op.insert("x-kubernetes-group-version-kind".into(), target.gvk());
                let codes: &[(&str, &str)] = if *verb == "get" {
                    &[("200", "OK")]
                } else {
                    &[("200", "OK"), ("201", "Created")]
                };
                op.insert("responses".into(), responses(&target.schema, codes));
                match *verb {
                    "put" => {
                        op.insert("parameters".into(), params::write().into());
                        op.insert("requestBody".into(), body(&target.schema));
                    }
                    "patch" => {
                        op.insert("parameters".into(), params::patch().into());
                        op.insert("requestBody".into(), patch_body());
                    }
                    _ => {}
                }
                item.insert((*verb).into(), op.into());
            }
        };
        // A POST of another kind: a binding, an eviction, a token.
        let create = |item: &mut Map<String, Value>, target: &Kind| {
            let mut op = self.named(
                "create",
                "post",
                format!("create {sub} of {}", article(kind)),
                &suffix,
            );
            op.insert("x-kubernetes-group-version-kind".into(), target.gvk());
            op.insert("parameters".into(), params::write().into());
            op.insert("requestBody".into(), body(&target.schema));
            op.insert(
                "responses".into(),
                responses(
                    &target.schema,
                    &[("200", "OK"), ("201", "Created"), ("202", "Accepted")],
                ),
            );
            item.insert("post".into(), op.into());
        };
        let connect =
            |item: &mut Map<String, Value>, verbs: &[&str], options: &str, extra: Vec<Value>| {
                for verb in verbs {
                    let method = capitalize(verb);
                    let text = format!(
                        "connect {} requests to {sub} of {kind}",
                        verb.to_uppercase()
                    );
                    let mut op = self.op("connect", "connect", text, &gvk("", "v1", options));
                    let id = format!("connect{}{method}{}{kind}{suffix}", self.gv.id, self.scope);
                    op.insert("operationId".into(), id.into());
                    op.insert("parameters".into(), extra.clone().into());
                    op.insert("responses".into(), text_ok());
                    item.insert((*verb).into(), op.into());
                }
            };
        let same = self.kind;
        match sub {
            "status" | "ephemeralcontainers" | "approval" | "resize" => {
                own(&mut item, &["get", "put", "patch"], same)
            }
            "finalize" => own(&mut item, &["put"], same),
            "scale" => match catalog.kind("autoscaling", "v1", "Scale") {
                Some(scale) => own(&mut item, &["get", "put", "patch"], scale),
                None => return,
            },
            "binding" | "eviction" | "token" => {
                let target = match sub {
                    "binding" => catalog.kind("", "v1", "Binding"),
                    "eviction" => catalog.kind("policy", "v1", "Eviction"),
                    _ => catalog.kind("authentication.k8s.io", "v1", "TokenRequest"),
                };
                match target {
                    Some(target) => create(&mut item, target),
                    None => return,
                }
            }
            "log" => {
                let mut op = self.named(
                    "read",
                    "get",
                    format!("read log of the specified {kind}"),
                    "Log",
                );
                op.insert("parameters".into(), params::log().into());
                op.insert("responses".into(), text_ok());
                item.insert("get".into(), op.into());
            }
            "exec" | "attach" => {
                let options = if sub == "exec" {
                    "PodExecOptions"
                } else {
                    "PodAttachOptions"
                };
                connect(
                    &mut item,
                    &["get", "post"],
                    options,
                    params::streams(sub == "exec"),
                );
            }
            "portforward" => connect(
                &mut item,
                &["get", "post"],
                "PodPortForwardOptions",
                params::ports(),
            ),
            "proxy" => {
                let options = format!("{kind}ProxyOptions");
                let verbs = ["delete", "get", "head", "options", "patch", "post", "put"];
                let mut with_path = Map::new();
                connect(&mut item, &verbs, &options, params::proxy_path());
                connect(&mut with_path, &verbs, &options, params::proxy_path());
                for op in with_path.values_mut() {
                    let id = format!("{}WithPath", op["operationId"].as_str().unwrap_or_default());
                    op["operationId"] = id.into();
                }
                let mut parameters = self.scope_params(true);
                parameters.push(params::path("path", "path to the resource"));
                with_path.insert("parameters".into(), parameters.into());
                paths.insert(
                    format!("{}/{sub}/{{path}}", self.path(true)),
                    with_path.into(),
                );
            }
            _ => return,
        }
        item.insert("parameters".into(), self.scope_params(true).into());
        paths.insert(format!("{}/{sub}", self.path(true)), item.into());
    }

    fn path(&self, named: bool) -> String {
        let mut path = self.gv.prefix.clone();
        if self.row.namespaced {
            path.push_str("/namespaces/{namespace}");
        }
        path.push('/');
        path.push_str(self.row.plural);
        if named {
            path.push_str("/{name}");
        }
        path
    }

    fn watch_path(&self, named: bool) -> String {
        let path = self.path(named);
        format!("{}/watch{}", self.gv.prefix, &path[self.gv.prefix.len()..])
    }

    fn scope_params(&self, named: bool) -> Vec<Value> {
        let mut params = Vec::new();
        if named {
            params.push(params::path(
                "name",
                &format!("name of the {}", self.row.kind),
            ));
        }
        if self.row.namespaced {
            params.push(params::namespace());
        }
        params.push(params::pretty());
        params
    }

    fn watch_item(&self, op: Map<String, Value>, named: bool) -> Value {
        let mut parameters = params::list();
        parameters.extend(self.scope_params(named));
        json!({"get": op, "parameters": parameters})
    }
}

fn body(schema: &str) -> Value {
    json!({"content": content(schema, &["*/*"]), "required": true})
}

fn patch_body() -> Value {
    json!({"content": content(PATCH, PATCH_TYPES), "required": true})
}

fn article(kind: &str) -> String {
    match kind.chars().next() {
        Some('A' | 'E' | 'I' | 'O' | 'U') => format!("an {kind}"),
        _ => format!("a {kind}"),
    }
}

/// Every path of one resource row.
pub(super) fn resource(
    paths: &mut Map<String, Value>,
    gv: &GroupVersion,
    row: &Resource,
    kind: &Kind,
    catalog: &Catalog,
) {
    let ops = Ops {
        gv,
        row,
        kind,
        scope: if row.namespaced { "Namespaced" } else { "" },
    };
    let list = kind.list.as_deref().unwrap_or(&kind.schema);
    ops.collection(paths, list);
    ops.object(paths);
    if row.namespaced {
        ops.all_namespaces(paths, list);
    }
    for sub in row.subresources {
        ops.subresource(paths, catalog, sub);
    }
}
