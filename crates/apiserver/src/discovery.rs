//! Discovery: what groups, versions and resources the server has, both as
//! the legacy documents (`/api`, `/apis`, `/apis/GROUP/VERSION`) and as the
//! aggregated `apidiscovery.k8s.io/v2` list kubectl asks for first.

use capstan_api::resource::RESOURCES;
use capstan_api::Resource;
use serde_json::{json, Value};

/// The media type of aggregated discovery.
pub const AGGREGATED: &str = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";

const VERBS: &[&str] = &[
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];

/// Whether the client accepts aggregated discovery.
pub fn wants_aggregated(accept: &str) -> bool {
    accept.split(',').any(|media| {
        let params: Vec<&str> = media.split(';').map(str::trim).collect();
        params.contains(&"g=apidiscovery.k8s.io")
            && params.contains(&"v=v2")
            && params.contains(&"as=APIGroupDiscoveryList")
    })
}

/// The API groups other than core, in upstream's order, each with its
/// versions, preferred first.
pub fn groups() -> Vec<(&'static str, &'static [&'static str])> {
    let mut groups: Vec<(&'static str, &'static [&'static str])> = capstan_api::resource::groups()
        .iter()
        .filter(|group| !group.name.is_empty())
        .map(|group| (group.name, group.versions))
        .collect();
    for review in REVIEWS {
        if !groups.iter().any(|(name, _)| *name == review.group) {
            groups.push((review.group, &["v1"]));
        }
    }
    groups
}

/// A create-only resource that is never stored: the API server answers
/// the object posted with its status filled in.
struct Review {
    group: &'static str,
    namespaced: bool,
    plural: &'static str,
    singular: &'static str,
    kind: &'static str,
}

/// The reviews this server answers (all v1).
const REVIEWS: &[Review] = &[
    Review {
        group: "authentication.k8s.io",
        namespaced: false,
        plural: "selfsubjectreviews",
        singular: "selfsubjectreview",
        kind: "SelfSubjectReview",
    },
    Review {
        group: "authentication.k8s.io",
        namespaced: false,
        plural: "tokenreviews",
        singular: "tokenreview",
        kind: "TokenReview",
    },
    Review {
        group: "authorization.k8s.io",
        namespaced: true,
        plural: "localsubjectaccessreviews",
        singular: "localsubjectaccessreview",
        kind: "LocalSubjectAccessReview",
    },
    Review {
        group: "authorization.k8s.io",
        namespaced: false,
        plural: "selfsubjectaccessreviews",
        singular: "selfsubjectaccessreview",
        kind: "SelfSubjectAccessReview",
    },
    Review {
        group: "authorization.k8s.io",
        namespaced: false,
        plural: "selfsubjectrulesreviews",
        singular: "selfsubjectrulesreview",
        kind: "SelfSubjectRulesReview",
    },
    Review {
        group: "authorization.k8s.io",
        namespaced: false,
        plural: "subjectaccessreviews",
        singular: "subjectaccessreview",
        kind: "SubjectAccessReview",
    },
];

fn reviews<'a>(group: &'a str, version: &'a str) -> impl Iterator<Item = &'static Review> + 'a {
    REVIEWS
        .iter()
        .filter(move |review| review.group == group && version == "v1")
}

pub fn api_versions(server_address: &str) -> Value {
    json!({
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}],
    })
}

fn group_document(name: &str, versions: &[&str]) -> Value {
    let listed: Vec<Value> = versions
        .iter()
        .map(|v| json!({"groupVersion": format!("{name}/{v}"), "version": v}))
        .collect();
    json!({
        "name": name,
        "versions": listed,
        "preferredVersion": listed[0],
    })
}

pub fn api_group_list() -> Value {
    let groups: Vec<Value> = groups()
        .iter()
        .map(|(name, versions)| group_document(name, versions))
        .collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

pub fn api_group(group: &str) -> Option<Value> {
    let (name, versions) = groups().into_iter().find(|(name, _)| *name == group)?;
    let mut document = group_document(name, versions);
    document["kind"] = "APIGroup".into();
    document["apiVersion"] = "v1".into();
    Some(document)
}

fn served<'a>(group: &'a str, version: &'a str) -> impl Iterator<Item = &'static Resource> + 'a {
    RESOURCES
        .iter()
        .filter(move |r| r.group == group && r.version == version)
}

/// What a subresource answers with and which verbs it takes.
fn subresource_kind(
    resource: &Resource,
    subresource: &str,
) -> (String, String, &'static str, &'static [&'static str]) {
    let own = (resource.group.to_string(), resource.version.to_string());
    match subresource {
        "status" | "ephemeralcontainers" => {
            (own.0, own.1, resource.kind, &["get", "patch", "update"])
        }
        "scale" => (
            "autoscaling".into(),
            "v1".into(),
            "Scale",
            &["get", "patch", "update"],
        ),
        "binding" => (own.0, own.1, "Binding", &["create"]),
        "eviction" => ("policy".into(), "v1".into(), "Eviction", &["create"]),
        "log" => (own.0, own.1, resource.kind, &["get"]),
        "exec" => (own.0, own.1, "PodExecOptions", &["create", "get"]),
        "attach" => (own.0, own.1, "PodAttachOptions", &["create", "get"]),
        "portforward" => (own.0, own.1, "PodPortForwardOptions", &["create", "get"]),
        "proxy" => (
            own.0,
            own.1,
            match resource.kind {
                "Node" => "NodeProxyOptions",
                "Service" => "ServiceProxyOptions",
                _ => "PodProxyOptions",
            },
            &["create", "delete", "get", "patch", "update"],
        ),
        "token" => (
            "authentication.k8s.io".into(),
            "v1".into(),
            "TokenRequest",
            &["create"],
        ),
        "finalize" => (own.0, own.1, resource.kind, &["update"]),
        "approval" => (own.0, own.1, resource.kind, &["get", "patch", "update"]),
        _ => (own.0, own.1, resource.kind, &["get", "patch", "update"]),
    }
}

/// `/api/v1` or `/apis/GROUP/VERSION`: an `APIResourceList`.
pub fn api_resource_list(group: &str, version: &str) -> Option<Value> {
    let mut resources = Vec::new();
    for resource in served(group, version) {
        let mut entry = json!({
            "name": resource.plural,
            "singularName": resource.singular,
            "namespaced": resource.namespaced,
            "kind": resource.kind,
            "verbs": VERBS,
        });
        if !resource.short_names.is_empty() {
            entry["shortNames"] = json!(resource.short_names);
        }
        if !resource.categories.is_empty() {
            entry["categories"] = json!(resource.categories);
        }
        resources.push(entry);
        for subresource in resource.subresources {
            let (sub_group, sub_version, kind, verbs) = subresource_kind(resource, subresource);
            let mut entry = json!({
                "name": format!("{}/{subresource}", resource.plural),
                "singularName": "",
                "namespaced": resource.namespaced,
                "kind": kind,
                "verbs": verbs,
            });
            if sub_group != resource.group || sub_version != resource.version {
                entry["group"] = sub_group.into();
                entry["version"] = sub_version.into();
            }
            resources.push(entry);
        }
    }
    for review in reviews(group, version) {
        resources.push(json!({
            "name": review.plural,
            "singularName": review.singular,
            "namespaced": review.namespaced,
            "kind": review.kind,
            "verbs": ["create"],
        }));
    }
    if resources.is_empty() {
        return None;
    }
    let group_version = if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    };
    Some(json!({
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": group_version,
        "resources": resources,
    }))
}

fn aggregated_version(group: &str, version: &str) -> Value {
    let mut resources: Vec<Value> = served(group, version)
        .map(|resource| {
            let subresources: Vec<Value> = resource
                .subresources
                .iter()
                .map(|subresource| {
                    let (sub_group, sub_version, kind, verbs) = subresource_kind(resource, subresource);
                    json!({
                        "subresource": subresource,
                        "responseKind": {"group": sub_group, "version": sub_version, "kind": kind},
                        "verbs": verbs,
                    })
                })
                .collect();
            let mut entry = json!({
                "resource": resource.plural,
                "responseKind": {"group": resource.group, "version": resource.version, "kind": resource.kind},
                "scope": if resource.namespaced { "Namespaced" } else { "Cluster" },
                "singularResource": resource.singular,
                "verbs": VERBS,
            });
            if !resource.short_names.is_empty() {
                entry["shortNames"] = json!(resource.short_names);
            }
            if !resource.categories.is_empty() {
                entry["categories"] = json!(resource.categories);
            }
            if !subresources.is_empty() {
                entry["subresources"] = subresources.into();
            }
            entry
        })
        .collect();
    for review in reviews(group, version) {
        resources.push(json!({
            "resource": review.plural,
            "responseKind": {"group": review.group, "version": version, "kind": review.kind},
            "scope": if review.namespaced { "Namespaced" } else { "Cluster" },
            "singularResource": review.singular,
            "verbs": ["create"],
        }));
    }
    json!({"version": version, "resources": resources, "freshness": "Current"})
}

/// The aggregated discovery document of `/api` (legacy) or `/apis`.
pub fn aggregated(legacy: bool) -> Value {
    let items: Vec<Value> = if legacy {
        vec![json!({"metadata": {"name": ""}, "versions": [aggregated_version("", "v1")]})]
    } else {
        groups()
            .iter()
            .map(|(name, versions)| {
                let versions: Vec<Value> = versions
                    .iter()
                    .map(|v| aggregated_version(name, v))
                    .collect();
                json!({"metadata": {"name": name}, "versions": versions})
            })
            .collect()
    };
    json!({
        "kind": "APIGroupDiscoveryList",
        "apiVersion": "apidiscovery.k8s.io/v2",
        "metadata": {},
        "items": items,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aggregated_discovery_is_recognised() {
        let kubectl = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json";
        assert!(wants_aggregated(kubectl));
        assert!(!wants_aggregated("application/json"));
    }
}
