//! What a request asks for, read from its method, path and query the way
//! upstream's `RequestInfoFactory` reads them.

use std::collections::HashMap;

use capstan_api::ApiError;
use hyper::Method;

/// A request to the resource API (`/api/v1/...`, `/apis/GROUP/VERSION/...`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ResourceRequest {
    /// get, list, watch, create, update, patch, delete, deletecollection.
    pub verb: &'static str,
    pub group: String,
    pub version: String,
    pub namespace: Option<String>,
    pub resource: String,
    pub name: Option<String>,
    pub subresource: Option<String>,
}

/// Where a path leads.
#[derive(Debug, PartialEq, Eq)]
pub enum Route {
    /// `/api` or `/apis`.
    GroupList {
        legacy: bool,
    },
    /// `/api/v1` or `/apis/GROUP/VERSION`.
    ResourceList {
        group: String,
        version: String,
    },
    /// `/apis/GROUP`.
    Group {
        group: String,
    },
    Resource(ResourceRequest),
    /// Everything else: health, version, metrics, openapi.
    Other,
}

/// Subresources of a namespace, which are not resources inside it.
const NAMESPACE_SUBRESOURCES: &[&str] = &["status", "finalize"];

pub fn route(method: &Method, path: &str, query: &Query) -> Result<Route, ApiError> {
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (group, version, rest) = match parts.as_slice() {
        ["api"] => return Ok(Route::GroupList { legacy: true }),
        ["apis"] => return Ok(Route::GroupList { legacy: false }),
        ["api", version] => {
            return Ok(Route::ResourceList {
                group: String::new(),
                version: version.to_string(),
            })
        }
        ["apis", group] => {
            return Ok(Route::Group {
                group: group.to_string(),
            })
        }
        ["apis", group, version] => {
            return Ok(Route::ResourceList {
                group: group.to_string(),
                version: version.to_string(),
            })
        }
        ["api", version, rest @ ..] => ("", *version, rest),
        ["apis", group, version, rest @ ..] => (*group, *version, rest),
        _ => return Ok(Route::Other),
    };
    let mut rest: &[&str] = rest;
    if rest.iter().any(|part| part.is_empty()) {
        return Err(ApiError::not_found_path());
    }
    let mut watch_path = false;
    if rest.first() == Some(&"watch") {
        watch_path = true;
        rest = &rest[1..];
    }
    let mut namespace = None;
    if rest.first() == Some(&"namespaces") && rest.len() > 1 {
        namespace = Some(rest[1].to_string());
        if rest.len() > 2 && !NAMESPACE_SUBRESOURCES.contains(&rest[2]) {
            rest = &rest[2..];
        }
    }
    let (resource, name, subresource) = match rest {
        [resource] => (*resource, None, None),
        [resource, name] => (*resource, Some(name.to_string()), None),
        [resource, name, subresource] => (
            *resource,
            Some(name.to_string()),
            Some(subresource.to_string()),
        ),
        _ => return Err(ApiError::not_found_path()),
    };
    let verb = if watch_path || (*method == Method::GET && query.flag("watch")) {
        "watch"
    } else {
        match (method.as_str(), name.is_some()) {
            ("GET" | "HEAD", true) => "get",
            ("GET" | "HEAD", false) => "list",
            ("POST", _) => "create",
            ("PUT", _) => "update",
            ("PATCH", _) => "patch",
            ("DELETE", true) => "delete",
            ("DELETE", false) => "deletecollection",
            _ => return Err(ApiError::method_not_supported(resource, method.as_str())),
        }
    };
    Ok(Route::Resource(ResourceRequest {
        verb,
        group: group.to_string(),
        version: version.to_string(),
        namespace,
        resource: resource.to_string(),
        name,
        subresource,
    }))
}

/// The query string, decoded.
#[derive(Clone, Debug, Default)]
pub struct Query {
    values: HashMap<String, String>,
}

impl Query {
    pub fn parse(query: Option<&str>) -> Query {
        let values = form_urlencoded::parse(query.unwrap_or_default().as_bytes())
            .into_owned()
            .collect();
        Query { values }
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.values
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    /// A boolean parameter: `true` or `1`.
    pub fn flag(&self, name: &str) -> bool {
        matches!(self.get(name), Some("true" | "1"))
    }

    pub fn number<T: std::str::FromStr>(&self, name: &str) -> Result<Option<T>, ApiError> {
        match self.get(name) {
            None => Ok(None),
            Some(text) => text.parse().map(Some).map_err(|_| {
                ApiError::bad_request(format!("invalid value {text:?} for parameter {name}"))
            }),
        }
    }

    /// `dryRun=All` asks for everything but the write.
    pub fn dry_run(&self) -> Result<bool, ApiError> {
        match self.get("dryRun") {
            None => Ok(false),
            Some("All") => Ok(true),
            Some(other) => Err(ApiError::bad_request(format!(
                "Invalid dry run value: {other:?}: supported values: \"All\""
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resource(method: Method, path: &str) -> ResourceRequest {
        let query = Query::parse(path.split_once('?').map(|(_, q)| q));
        let path = path.split('?').next().unwrap();
        match route(&method, path, &query).unwrap() {
            Route::Resource(request) => request,
            other => panic!("{path}: {other:?}"),
        }
    }

    #[test]
    fn paths_read_as_upstream() {
        let pods = resource(Method::GET, "/api/v1/namespaces/default/pods");
        assert_eq!(
            (pods.verb, pods.namespace.as_deref(), pods.resource.as_str()),
            ("list", Some("default"), "pods")
        );
        let log = resource(Method::GET, "/api/v1/namespaces/ns/pods/web/log");
        assert_eq!(log.name.as_deref(), Some("web"));
        assert_eq!(log.subresource.as_deref(), Some("log"));
        let namespace = resource(Method::GET, "/api/v1/namespaces/kube-system");
        assert_eq!(
            (namespace.resource.as_str(), namespace.name.as_deref()),
            ("namespaces", Some("kube-system"))
        );
        let finalize = resource(Method::PUT, "/api/v1/namespaces/x/finalize");
        assert_eq!(
            (
                finalize.verb,
                finalize.resource.as_str(),
                finalize.subresource.as_deref()
            ),
            ("update", "namespaces", Some("finalize"))
        );
        let watch = resource(Method::GET, "/apis/apps/v1/deployments?watch=true");
        assert_eq!((watch.verb, watch.group.as_str()), ("watch", "apps"));
        let old_watch = resource(Method::GET, "/api/v1/watch/namespaces/a/pods");
        assert_eq!(old_watch.verb, "watch");
        let collection = resource(Method::DELETE, "/api/v1/namespaces/a/pods");
        assert_eq!(collection.verb, "deletecollection");
        let query = Query::default();
        assert_eq!(
            route(&Method::GET, "/apis", &query).unwrap(),
            Route::GroupList { legacy: false }
        );
        assert_eq!(
            route(&Method::GET, "/healthz", &query).unwrap(),
            Route::Other
        );
    }
}
