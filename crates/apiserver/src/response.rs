//! Responses: JSON bodies, `Status` errors, and the shapes a client can ask
//! for with its `Accept` header — the object itself, a `Table` (what
//! `kubectl get` prints) or `PartialObjectMetadata`.

use bytes::Bytes;
use capstan_api::{ApiError, Resource};
use http_body_util::{combinators::BoxBody, BodyExt, Full};
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Response, StatusCode};
use serde_json::{json, Value};

use crate::object;

pub type Body = BoxBody<Bytes, std::io::Error>;

pub fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed()
}

pub fn json_with(status: StatusCode, content_type: &str, value: &Value) -> Response<Body> {
    let mut bytes = serde_json::to_vec(value).unwrap_or_default();
    bytes.push(b'\n');
    let mut response = Response::new(full(bytes));
    *response.status_mut() = status;
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_str(content_type).unwrap_or(HeaderValue::from_static("application/json")),
    );
    response
}

pub fn json(status: StatusCode, value: &Value) -> Response<Body> {
    json_with(status, "application/json", value)
}

pub fn error(error: &ApiError) -> Response<Body> {
    let status = StatusCode::from_u16(error.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = json(status, &error.to_status());
    if let Some(seconds) = error
        .details
        .as_ref()
        .and_then(|d| d.retry_after_seconds)
        .filter(|s| *s > 0)
    {
        response
            .headers_mut()
            .insert("Retry-After", HeaderValue::from(seconds));
    }
    response
}

pub fn text(status: StatusCode, body: &'static str) -> Response<Body> {
    let mut response = Response::new(full(body));
    *response.status_mut() = status;
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

pub fn text_owned(status: StatusCode, content_type: &'static str, body: String) -> Response<Body> {
    let mut response = Response::new(full(body));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

/// What the client asked to receive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    Object,
    /// A `Table`, in `meta.k8s.io/v1` or `v1beta1`, with row objects as
    /// asked by `includeObject`.
    Table {
        v1: bool,
        include: Include,
    },
    PartialMetadata {
        v1: bool,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Include {
    None,
    Metadata,
    Object,
}

impl Shape {
    /// Reads the `Accept` header: the first media type the server can give.
    pub fn negotiate(accept: &str, include_object: Option<&str>) -> Result<Shape, ApiError> {
        let include = match include_object {
            None | Some("Metadata") => Include::Metadata,
            Some("None") => Include::None,
            Some("Object") => Include::Object,
            Some(other) => {
                return Err(ApiError::bad_request(format!(
                    "includeObject: unsupported value {other:?}"
                )))
            }
        };
        if accept.trim().is_empty() {
            return Ok(Shape::Object);
        }
        for media in accept.split(',') {
            let params: Vec<&str> = media.split(';').map(str::trim).collect();
            let mime = params[0];
            if !matches!(
                mime,
                "application/json" | "*/*" | "application/*" | "application/json-patch+json"
            ) {
                continue;
            }
            let get = |name: &str| {
                params
                    .iter()
                    .find_map(|p| p.strip_prefix(name).and_then(|p| p.strip_prefix('=')))
            };
            match (get("as"), get("g"), get("v")) {
                (None, _, _) => return Ok(Shape::Object),
                (Some("Table"), Some("meta.k8s.io"), Some(v @ ("v1" | "v1beta1"))) => {
                    return Ok(Shape::Table {
                        v1: v == "v1",
                        include,
                    })
                }
                (
                    Some("PartialObjectMetadata" | "PartialObjectMetadataList"),
                    Some("meta.k8s.io"),
                    Some(v @ ("v1" | "v1beta1")),
                ) => return Ok(Shape::PartialMetadata { v1: v == "v1" }),
                _ => continue,
            }
        }
        Err(ApiError::not_acceptable(
            "only the following media types are accepted: application/json, application/yaml, application/vnd.kubernetes.protobuf",
        ))
    }

    pub fn content_type(&self) -> &'static str {
        match self {
            Shape::Object => "application/json",
            Shape::Table { v1: true, .. } => "application/json;as=Table;v=v1;g=meta.k8s.io",
            Shape::Table { v1: false, .. } => "application/json;as=Table;v=v1beta1;g=meta.k8s.io",
            Shape::PartialMetadata { v1: true } => {
                "application/json;as=PartialObjectMetadata;v=v1;g=meta.k8s.io"
            }
            Shape::PartialMetadata { v1: false } => {
                "application/json;as=PartialObjectMetadata;v=v1beta1;g=meta.k8s.io"
            }
        }
    }
}

pub fn meta_version(v1: bool) -> &'static str {
    if v1 {
        "meta.k8s.io/v1"
    } else {
        "meta.k8s.io/v1beta1"
    }
}

/// An object as `PartialObjectMetadata`.
pub fn partial_metadata(object: &Value, v1: bool) -> Value {
    json!({
        "kind": "PartialObjectMetadata",
        "apiVersion": meta_version(v1),
        "metadata": object.get("metadata").cloned().unwrap_or_else(|| json!({})),
    })
}

/// [`partial_metadata`] for encoding only: the same JSON, without a copy
/// of the metadata.
pub struct PartialMetadataView<'a> {
    pub metadata: Option<&'a Value>,
    pub v1: bool,
}

impl serde::Serialize for PartialMetadataView<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        // Keys in the order a `json!` map keeps them.
        let mut map = serializer.serialize_map(Some(3))?;
        map.serialize_entry("apiVersion", meta_version(self.v1))?;
        map.serialize_entry("kind", "PartialObjectMetadata")?;
        match self.metadata {
            Some(metadata) => map.serialize_entry("metadata", metadata)?,
            None => map.serialize_entry("metadata", &serde_json::Map::new())?,
        }
        map.end()
    }
}

/// A list as `PartialObjectMetadataList`.
pub fn partial_metadata_list(items: &[Value], list_meta: Value, v1: bool) -> Value {
    let items: Vec<Value> = items
        .iter()
        .map(|item| partial_metadata(item, v1))
        .collect();
    json!({
        "kind": "PartialObjectMetadataList",
        "apiVersion": meta_version(v1),
        "metadata": list_meta,
        "items": items,
    })
}

/// Objects as a `Table` of the resource's columns. `with_columns` is false
/// for the watch events after the first, as upstream sends them.
pub fn table(
    resource: &Resource,
    objects: &[Value],
    list_meta: Value,
    v1: bool,
    include: Include,
    with_columns: bool,
) -> Value {
    let now = jiff::Timestamp::now();
    let rows: Vec<Value> = objects
        .iter()
        .map(|object| {
            let mut row = json!({"cells": capstan_api::table::cells(resource, object, now)});
            let conditions = capstan_api::table::row_conditions(resource, object);
            if !conditions.is_empty() {
                row["conditions"] = conditions.into();
            }
            match include {
                Include::None => {}
                Include::Metadata => row["object"] = partial_metadata(object, v1),
                Include::Object => row["object"] = object.clone(),
            }
            row
        })
        .collect();
    let mut table = json!({
        "kind": "Table",
        "apiVersion": meta_version(v1),
        "metadata": list_meta,
        "rows": rows,
    });
    if with_columns {
        table["columnDefinitions"] = json!(capstan_api::table::columns(resource));
    }
    table
}

/// A `Scale` (of `<workload>/scale`) in the shape asked for: its table
/// has upstream's columns, `DESIREDREPLICAS` and `AVAILABLEREPLICAS`.
pub fn shaped_scale(scale: &Value, shape: Shape) -> Value {
    let (v1, include) = match shape {
        Shape::Object => return scale.clone(),
        Shape::PartialMetadata { v1 } => return partial_metadata(scale, v1),
        Shape::Table { v1, include } => (v1, include),
    };
    let mut row = json!({"cells": [
        scale.pointer("/metadata/name").cloned().unwrap_or_default(),
        scale.pointer("/spec/replicas").cloned().unwrap_or(json!(0)),
        scale.pointer("/status/replicas").cloned().unwrap_or(json!(0)),
    ]});
    match include {
        Include::None => {}
        Include::Metadata => row["object"] = partial_metadata(scale, v1),
        Include::Object => row["object"] = scale.clone(),
    }
    let column = |name: &str, kind: &str, format: &str, description: &str| json!({"name": name, "type": kind, "format": format, "description": description, "priority": 0});
    json!({
        "kind": "Table",
        "apiVersion": meta_version(v1),
        "metadata": {"resourceVersion": object::resource_version(scale).unwrap_or_default()},
        "columnDefinitions": [
            column("Name", "string", "name", "Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended for creation idempotence and configuration definition. Cannot be updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names"),
            column("DesiredReplicas", "integer", "", "replicas is the desired number of instances for the scaled object."),
            column("AvailableReplicas", "integer", "", "replicas is the actual number of observed instances of the scaled object."),
        ],
        "rows": [row],
    })
}

/// A single object in the shape asked for.
pub fn shaped_object(resource: &Resource, object: &Value, shape: Shape) -> Value {
    match shape {
        Shape::Object => object.clone(),
        Shape::PartialMetadata { v1 } => partial_metadata(object, v1),
        Shape::Table { v1, include } => {
            let meta =
                json!({"resourceVersion": object::resource_version(object).unwrap_or_default()});
            table(
                resource,
                std::slice::from_ref(object),
                meta,
                v1,
                include,
                true,
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubectl_get_asks_for_a_table() {
        let accept = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json";
        assert_eq!(
            Shape::negotiate(accept, None).unwrap(),
            Shape::Table {
                v1: true,
                include: Include::Metadata
            }
        );
        assert_eq!(
            Shape::negotiate("application/json", None).unwrap(),
            Shape::Object
        );
        assert_eq!(
            Shape::negotiate("application/vnd.kubernetes.protobuf, */*", None).unwrap(),
            Shape::Object
        );
        assert!(Shape::negotiate("application/vnd.kubernetes.protobuf", None).is_err());
    }
}
