//! What a request carries besides its path: its body (JSON, or protobuf
//! for built-in types), checked against the schema as `fieldValidation`
//! asks, and the options of its query string for deletes, lists and
//! watches.

use std::sync::Arc;
use std::time::Duration;

use crate::local::RequestBody;
use bytes::Bytes;
use capstan_api::{ApiError, Resource};
use http_body_util::{BodyExt, Limited};
use hyper::{Request, Response};
use serde_json::{json, Value};

use crate::registry::ReadAt;
use crate::request::Query;
use crate::response::{Body, Shape};
use crate::rest::DeleteOptions;
use crate::selectors::Selectors;
use crate::watch::{Start, WatchRequest};

/// Largest request body accepted, as upstream (3 MiB).
const MAX_BODY_BYTES: usize = 3 * 1024 * 1024;

pub(crate) async fn read_body(request: Request<RequestBody>) -> Result<Bytes, ApiError> {
    match Limited::new(request.into_body(), MAX_BODY_BYTES)
        .collect()
        .await
    {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(error)
            if error
                .downcast_ref::<http_body_util::LengthLimitError>()
                .is_some() =>
        {
            Err(ApiError::too_large(
                "Request entity too large: limit is 3145728",
            ))
        }
        Err(error) => Err(ApiError::bad_request(format!(
            "reading the request body: {error}"
        ))),
    }
}

/// The body of a create or update, as JSON: clients send JSON, or
/// Kubernetes' protobuf for built-in types (kubectl's generators do). With
/// `fieldValidation`, unknown and repeated fields of a JSON body are
/// refused (Strict) or returned as warnings (Warn).
pub(crate) async fn read_object(
    request: Request<RequestBody>,
    content_type: &str,
    resource: &Resource,
    validation: FieldValidation,
) -> Result<(Value, Vec<String>), ApiError> {
    let media = content_type.split(';').next().unwrap_or_default().trim();
    let body = read_body(request).await?;
    match media {
        "" | "application/json" | "*/*" => {}
        capstan_api::protobuf::CONTENT_TYPE => {
            return Ok((capstan_api::protobuf::decode(&body)?, Vec::new()))
        }
        _ => return Err(ApiError::unsupported_media_type(content_type)),
    }
    let object = parse_object(&body, resource)?;
    // What does not fit the kind's types is refused whatever the field
    // validation, as upstream's decoder refuses it.
    if let Some(error) =
        capstan_api::openapi::decode_error(resource.group, resource.version, resource.kind, &object)
    {
        let kind = resource.kind;
        return Err(ApiError::bad_request(format!(
            "{kind} in version {:?} cannot be handled as a {kind}: {}",
            resource.version, error.json
        )));
    }
    if validation == FieldValidation::Ignore {
        return Ok((object, Vec::new()));
    }
    let errors =
        capstan_api::openapi::strict_errors(resource.group, resource.version, resource.kind, &body)
            .unwrap_or_default();
    if errors.is_empty() {
        return Ok((object, Vec::new()));
    }
    if validation == FieldValidation::Strict {
        let kind = resource.kind;
        return Err(ApiError::bad_request(format!(
            "{kind} in version {:?} cannot be handled as a {kind}: {}",
            resource.version,
            capstan_api::openapi::strict_decoding_error(&errors)
        )));
    }
    Ok((object, errors.iter().map(ToString::to_string).collect()))
}

/// What to do with fields the schema does not know (`fieldValidation`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FieldValidation {
    Strict,
    /// Upstream's default: accept, with a warning per field.
    Warn,
    Ignore,
}

impl FieldValidation {
    pub(crate) fn from_query(query: &Query) -> Result<FieldValidation, ApiError> {
        match query.get("fieldValidation") {
            None | Some("Warn") => Ok(FieldValidation::Warn),
            Some("Strict") => Ok(FieldValidation::Strict),
            Some("Ignore") => Ok(FieldValidation::Ignore),
            Some(other) => Err(ApiError::bad_request(format!(
                "fieldValidation: Unsupported value: {other:?}: supported values: \"Ignore\", \"Strict\", \"Warn\""
            ))),
        }
    }
}

/// Adds a `Warning` header per warning, as upstream (`299 - "..."`).
pub(crate) fn with_warnings(mut response: Response<Body>, warnings: &[String]) -> Response<Body> {
    for warning in warnings {
        let text = format!("299 - {:?}", warning);
        if let Ok(value) = hyper::header::HeaderValue::from_str(&text) {
            response.headers_mut().append("Warning", value);
        }
    }
    response
}

/// The body of a create or update: a JSON object, or upstream's words for
/// what is not one (Go's JSON errors, then a summary of the body).
pub(crate) fn parse_object(body: &[u8], resource: &Resource) -> Result<Value, ApiError> {
    let unrecognized = |error: String| {
        ApiError::bad_request(format!(
            "the object provided is unrecognized (must be of type {}): couldn't get version/kind; json parse error: {error} ({})",
            resource.kind,
            summarize(body)
        ))
    };
    if let Some(error) = capstan_api::openapi::syntax_error(body) {
        return Err(unrecognized(error));
    }
    let object: Value =
        serde_json::from_slice(body).map_err(|error| unrecognized(error.to_string()))?;
    let kind = match &object {
        Value::Object(_) => return Ok(object),
        Value::Array(_) => "array",
        Value::String(_) => "string",
        Value::Number(_) => "number",
        Value::Bool(_) => "bool",
        Value::Null => return Err(unrecognized("Object 'Kind' is missing".into())),
    };
    Err(unrecognized(format!(
        "json: cannot unmarshal {kind} into Go value of type struct {{ APIVersion string \"json:\\\"apiVersion,omitempty\\\"\"; Kind string \"json:\\\"kind,omitempty\\\"\" }}"
    )))
}

/// Upstream's `summarizeData`: the first 30 bytes of a body, as text when
/// it looks like JSON, else in hex.
pub(crate) fn summarize(body: &[u8]) -> String {
    const MAX: usize = 30;
    let cut = &body[..body.len().min(MAX)];
    let more = if body.len() > MAX { " ..." } else { "" };
    match body.first() {
        None => "<empty>".into(),
        Some(b'{') => format!("{}{more}", String::from_utf8_lossy(cut)),
        Some(_) => {
            let hex: String = cut.iter().map(|b| format!("{b:02x}")).collect();
            format!("{hex}{more}")
        }
    }
}

pub fn parse_json(body: &[u8]) -> Result<Value, ApiError> {
    serde_json::from_slice(body).map_err(|error| {
        ApiError::bad_request(format!(
            "error decoding request body: couldn't get version/kind; json parse error: {error}"
        ))
    })
}

pub(crate) fn delete_options(body: &[u8], query: &Query) -> Result<DeleteOptions, ApiError> {
    let body = if body.iter().all(u8::is_ascii_whitespace) {
        json!({})
    } else {
        parse_json(body)?
    };
    let mut options = DeleteOptions::from_body(&body);
    if let Some(grace) = query.number::<i64>("gracePeriodSeconds")? {
        options.grace_period_seconds = Some(grace);
    }
    if let Some(policy) = query.get("propagationPolicy") {
        options.propagation_policy = Some(policy.to_string());
    }
    options.dry_run |= query.dry_run()?;
    Ok(options)
}

/// Which revision a list reads, from `resourceVersion` and
/// `resourceVersionMatch`, as upstream.
pub(crate) fn read_at(query: &Query) -> Result<ReadAt, ApiError> {
    let version = query.get("resourceVersion");
    let exact = match query.get("resourceVersionMatch") {
        None => false,
        Some("Exact") => true,
        Some("NotOlderThan") => false,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "resourceVersionMatch: unsupported value {other:?}: supported values: \"Exact\", \"NotOlderThan\""
            )))
        }
    };
    match version {
        None | Some("0") if exact => Err(ApiError::bad_request(
            "resourceVersionMatch: Forbidden: resourceVersionMatch \"Exact\" is forbidden for resourceVersion \"0\"",
        )),
        None | Some("0") => Ok(ReadAt::Latest),
        Some(text) => {
            let revision: i64 = text
                .parse()
                .map_err(|_| ApiError::bad_request(format!("invalid resource version: {text:?}")))?;
            Ok(if exact {
                ReadAt::Exact(revision)
            } else {
                ReadAt::NotOlderThan(revision)
            })
        }
    }
}

pub(crate) fn watch_request(
    resource: &'static Resource,
    namespace: Option<&str>,
    query: &Query,
    shape: Shape,
) -> Result<WatchRequest, ApiError> {
    let selectors = Selectors::from_query(resource, query)?;
    let send_initial = query.get("sendInitialEvents");
    let start = match (send_initial, query.get("resourceVersion")) {
        (Some("true"), _) => {
            if query.get("resourceVersionMatch") != Some("NotOlderThan") {
                return Err(ApiError::bad_request(
                    "sendInitialEvents is forbidden for resourceVersionMatch other than \"NotOlderThan\"",
                ));
            }
            Start::WithCurrentState
        }
        (_, None | Some("0")) if send_initial != Some("false") => Start::WithCurrentState,
        (_, None | Some("0")) => Start::After(0),
        (_, Some(text)) => {
            Start::After(text.parse().map_err(|_| {
                ApiError::bad_request(format!("invalid resource version: {text:?}"))
            })?)
        }
    };
    let timeout = match query.number::<u64>("timeoutSeconds")? {
        Some(seconds) => Duration::from_secs(seconds),
        // Upstream spreads watch lifetimes between 30 and 60 minutes.
        None => Duration::from_secs(1800 + u64::from(uuid::Uuid::new_v4().as_bytes()[0]) * 7),
    };
    Ok(WatchRequest {
        resource,
        namespace: namespace.map(str::to_string),
        start,
        filter: (!selectors.select_everything()).then(|| Arc::new(selectors)),
        bookmarks: query.flag("allowWatchBookmarks"),
        initial_events_end: send_initial == Some("true"),
        timeout,
        shape,
        guard: None,
    })
}
