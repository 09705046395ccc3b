//! `GET pods/NAME/log`: upstream's `LogREST` and `LogLocation`. The
//! options are checked, the container chosen, and the request proxied to
//! the endpoint of the pod's node (`/containerLogs/NS/NAME/CONTAINER`),
//! whose answer streams back as it comes.

use capstan_api::{ApiError, FieldError};
use http_body_util::BodyExt;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Response, StatusCode};
use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::jiff::Timestamp;

use crate::kubelet::KubeletClient;
use crate::request::Query;
use crate::response::{self, Body};
use crate::rest::Rest;

/// The port nodes serve on when they post none.
const DEFAULT_KUBELET_PORT: u16 = 10250;

/// Most of a node's error answer that is read.
const MAX_ERROR_BODY: usize = 50_000;

/// `PodLogOptions` from the query.
#[derive(Debug, Default, PartialEq)]
pub struct LogOptions {
    pub container: Option<String>,
    pub follow: bool,
    pub previous: bool,
    pub timestamps: bool,
    pub since_seconds: Option<i64>,
    pub since_time: Option<Timestamp>,
    pub tail_lines: Option<i64>,
    pub limit_bytes: Option<i64>,
    pub insecure_skip_tls_verify_backend: bool,
}

impl LogOptions {
    /// Decodes the query (400 for what does not parse) and validates it
    /// as upstream's `ValidatePodLogOptions` (422).
    pub fn from_query(name: &str, query: &Query) -> Result<LogOptions, ApiError> {
        let flag = |key: &str| match query.get(key) {
            None | Some("false" | "False" | "FALSE" | "f" | "F" | "0") => Ok(false),
            Some("true" | "True" | "TRUE" | "t" | "T" | "1") => Ok(true),
            Some(other) => Err(ApiError::bad_request(format!(
                "strconv.ParseBool: parsing {other:?}: invalid syntax"
            ))),
        };
        let since_time = match query.get("sinceTime") {
            None => None,
            Some(text) => Some(text.parse::<Timestamp>().map_err(|_| {
                ApiError::bad_request(format!(
                    "parsing time {text:?} as \"2006-01-02T15:04:05Z07:00\": cannot parse {text:?} as RFC 3339"
                ))
            })?),
        };
        let options = LogOptions {
            container: query.get("container").map(str::to_string),
            follow: flag("follow")?,
            previous: flag("previous")?,
            timestamps: flag("timestamps")?,
            since_seconds: query.number("sinceSeconds")?,
            since_time,
            tail_lines: query.number("tailLines")?,
            limit_bytes: query.number("limitBytes")?,
            insecure_skip_tls_verify_backend: flag("insecureSkipTLSVerifyBackend")?,
        };
        let mut causes = Vec::new();
        if let Some(lines) = options.tail_lines.filter(|n| *n < 0) {
            causes.push(FieldError::invalid(
                "tailLines",
                lines,
                "must be greater than or equal to 0",
            ));
        }
        if let Some(bytes) = options.limit_bytes.filter(|n| *n < 1) {
            causes.push(FieldError::invalid(
                "limitBytes",
                bytes,
                "must be greater than 0",
            ));
        }
        match (options.since_seconds, options.since_time) {
            (Some(_), Some(_)) => causes.push(FieldError::forbidden(
                "",
                "at most one of `sinceTime` or `sinceSeconds` may be specified",
            )),
            (Some(seconds), None) if seconds < 1 => causes.push(FieldError::invalid(
                "sinceSeconds",
                seconds,
                "must be greater than 0",
            )),
            _ => {}
        }
        if !causes.is_empty() {
            return Err(ApiError::invalid("", "PodLogOptions", name, causes));
        }
        Ok(options)
    }

    /// The query the node is sent, as upstream's `LogLocation` builds it.
    fn node_query(&self) -> String {
        let mut query = form_urlencoded::Serializer::new(String::new());
        if self.follow {
            query.append_pair("follow", "true");
        }
        if let Some(bytes) = self.limit_bytes {
            query.append_pair("limitBytes", &bytes.to_string());
        }
        if self.previous {
            query.append_pair("previous", "true");
        }
        if let Some(seconds) = self.since_seconds {
            query.append_pair("sinceSeconds", &seconds.to_string());
        }
        if let Some(time) = self.since_time {
            query.append_pair(
                "sinceTime",
                &time.strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
            );
        }
        if let Some(lines) = self.tail_lines {
            query.append_pair("tailLines", &lines.to_string());
        }
        if self.timestamps {
            query.append_pair("timestamps", "true");
        }
        query.finish()
    }
}

/// Serves `GET pods/NAME/log`.
pub async fn serve(
    rest: &Rest,
    kubelet: &KubeletClient,
    namespace: &str,
    name: &str,
    query: &Query,
) -> Result<Response<Body>, ApiError> {
    let options = LogOptions::from_query(name, query)?;
    let pods = capstan_api::resource::find("", "v1", "pods").expect("pods are served");
    let pod: Pod = decode(rest.get(pods, Some(namespace), name).await?)?;
    let container = choose_container(&pod, name, options.container.as_deref())?;
    let node_name = pod.spec.as_ref().and_then(|s| s.node_name.clone());
    let Some(node_name) = node_name.filter(|n| !n.is_empty()) else {
        // Not scheduled yet: no logs, and no error (upstream's empty
        // location answers 204).
        let mut response = Response::new(response::full(""));
        *response.status_mut() = StatusCode::NO_CONTENT;
        return Ok(response);
    };
    let nodes = capstan_api::resource::find("", "v1", "nodes").expect("nodes are served");
    let node: Node = decode(rest.get(nodes, None, &node_name).await?)?;
    let (host, port) = node_location(&node)?;
    let path = format!("/containerLogs/{namespace}/{name}/{container}");
    let node_query = options.node_query();
    let path = if node_query.is_empty() {
        path
    } else {
        format!("{path}?{node_query}")
    };
    let skip_verify = options.insecure_skip_tls_verify_backend;
    let answer = kubelet
        .get(&host, port, &path, skip_verify)
        .await
        .map_err(|message| ApiError {
            code: 500,
            reason: "",
            message,
            details: None,
        })?;
    let status = answer.status();
    if !(200..=206).contains(&status.as_u16()) {
        let body = read_limited(answer.into_body()).await;
        return Err(node_error(status.as_u16(), &body, name));
    }
    let body = answer.into_body().map_err(std::io::Error::other).boxed();
    let mut response = Response::new(body);
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    Ok(response)
}

pub(crate) fn decode<T: serde::de::DeserializeOwned>(
    value: serde_json::Value,
) -> Result<T, ApiError> {
    serde_json::from_value(value).map_err(|e| ApiError::internal(e.to_string()))
}

/// Upstream's container choice for logs and streams: the container
/// asked for (any kind), or the only one. (kubectl itself picks the
/// default container of a pod with more.)
pub fn choose_container(pod: &Pod, name: &str, asked: Option<&str>) -> Result<String, ApiError> {
    let spec = pod.spec.clone().unwrap_or_default();
    let names = |containers: &[k8s_openapi::api::core::v1::Container]| {
        containers
            .iter()
            .map(|c| c.name.as_str())
            .collect::<Vec<_>>()
            .join(" ")
    };
    let init = spec.init_containers.as_deref().unwrap_or_default();
    let ephemeral = spec.ephemeral_containers.iter().flatten().map(|c| &c.name);
    match asked {
        Some(container) => {
            let known = spec
                .containers
                .iter()
                .chain(init)
                .map(|c| &c.name)
                .chain(ephemeral)
                .any(|c| c == container);
            if known {
                Ok(container.to_string())
            } else {
                Err(ApiError::bad_request(format!(
                    "container {container} is not valid for pod {name}"
                )))
            }
        }
        None => match spec.containers.as_slice() {
            [only] => Ok(only.name.clone()),
            [] => Err(ApiError::bad_request(format!(
                "a container name must be specified for pod {name}"
            ))),
            containers => {
                let mut message = format!(
                    "a container name must be specified for pod {name}, choose one of: [{}]",
                    names(containers)
                );
                if !init.is_empty() {
                    message += &format!(" or one of the init containers: [{}]", names(init));
                }
                Err(ApiError::bad_request(message))
            }
        },
    }
}

/// Where a node's endpoint is: its preferred address (InternalIP, then
/// ExternalIP, then Hostname) and its posted kubelet port.
pub fn node_location(node: &Node) -> Result<(String, u16), ApiError> {
    let status = node.status.clone().unwrap_or_default();
    let addresses = status.addresses.unwrap_or_default();
    let preferred = ["InternalIP", "ExternalIP", "Hostname"]
        .iter()
        .find_map(|kind| {
            addresses
                .iter()
                .find(|a| a.type_ == *kind && !a.address.is_empty())
        });
    let Some(address) = preferred else {
        let known: Vec<String> = addresses
            .iter()
            .map(|a| format!("{{{} {}}}", a.type_, a.address))
            .collect();
        return Err(ApiError::internal(format!(
            "no preferred addresses found; known addresses: [{}]",
            known.join(" ")
        )));
    };
    let port = status
        .daemon_endpoints
        .and_then(|d| d.kubelet_endpoint)
        .map(|e| e.port)
        .and_then(|p| u16::try_from(p).ok())
        .filter(|p| *p > 0)
        .unwrap_or(DEFAULT_KUBELET_PORT);
    Ok((address.address.clone(), port))
}

async fn read_limited(mut body: hyper::body::Incoming) -> String {
    let mut collected = Vec::new();
    while collected.len() < MAX_ERROR_BODY {
        match body.frame().await {
            Some(Ok(frame)) => {
                if let Ok(data) = frame.into_data() {
                    collected.extend_from_slice(&data);
                }
            }
            _ => break,
        }
    }
    collected.truncate(MAX_ERROR_BODY);
    String::from_utf8_lossy(&collected).into_owned()
}

/// A node's error answer as the API server reports it (upstream's
/// `GenericHttpResponseChecker`).
pub fn node_error(code: u16, body: &str, name: &str) -> ApiError {
    let generic = |reason: &'static str, message: String| {
        let code = if (100..=599).contains(&code) {
            code
        } else {
            500
        };
        ApiError {
            code,
            reason,
            message: format!("{message} ( pods/log {name})"),
            details: None,
        }
    };
    match code {
        500 => ApiError::internal(body),
        400 => ApiError::bad_request(body),
        404 => generic(
            "NotFound",
            "the server could not find the requested resource".into(),
        ),
        401 => generic(
            "Unauthorized",
            "the server has asked for the client to provide credentials".into(),
        ),
        403 => generic("Forbidden", body.to_string()),
        422 => generic(
            "Invalid",
            "the server rejected our request due to an error in our request".into(),
        ),
        503 => generic(
            "ServiceUnavailable",
            "the server is currently unable to handle the request".into(),
        ),
        code if code >= 500 => generic(
            "InternalError",
            format!("an error on the server ({body:?}) has prevented the request from succeeding"),
        ),
        code => generic(
            "",
            format!("the server responded with the status code {code} but did not return more information"),
        ),
    }
}

#[cfg(test)]
#[path = "logs_tests.rs"]
mod tests;
