//! The verbs beyond plain CRUD: patches of every type (including
//! server-side apply), the `scale` subresource, `pods/binding` and
//! `namespaces/finalize`.

use bytes::Bytes;
use capstan_api::{ApiError, Resource};
use serde_json::{json, Value};

use std::sync::Mutex;

use crate::input::{parse_json, FieldValidation};
use crate::object;
use crate::request::Query;
use crate::rest::{Rest, WriteOptions};

/// A PATCH as received: its media type, body and field validation.
pub struct PatchRequest<'a> {
    pub patch_type: &'a str,
    pub body: &'a Bytes,
    pub validation: FieldValidation,
}

/// The outcome of a PATCH.
pub struct Patched {
    pub object: Value,
    /// An apply created the object.
    pub created: bool,
    /// Unknown or repeated fields, under `fieldValidation=Warn`.
    pub warnings: Vec<String>,
}

/// A PATCH of the object or its status, of any patch type.
#[allow(clippy::too_many_arguments)]
pub async fn patch(
    rest: &Rest,
    resource: &'static Resource,
    namespace: Option<&str>,
    name: &str,
    subresource: Option<&str>,
    request: &PatchRequest<'_>,
    options: &WriteOptions,
    query: &Query,
) -> Result<Patched, ApiError> {
    let (group, kind) = (resource.group, resource.kind);
    let body = request.body;
    // Repeated keys can only be seen in the body itself.
    let duplicates = match request.validation {
        FieldValidation::Ignore => Vec::new(),
        _ => capstan_api::openapi::duplicate_fields(body).unwrap_or_default(),
    };
    let warnings = Mutex::new(Vec::new());
    // Upstream reports a patched object it cannot decode as an invalid
    // `patch`, showing the patch map (strategic merge) or the patched JSON.
    let strategic = request.patch_type == "application/strategic-merge-patch+json";
    let patch_map = strategic
        .then(|| serde_json::from_slice::<Value>(body).ok())
        .flatten()
        .map(|patch| go_format(&patch));
    let checked = |patched: Value| -> Result<Value, ApiError> {
        let shown = || patch_map.clone().unwrap_or_else(|| patched.to_string());
        let invalid_patch = |detail: String| {
            ApiError::invalid(
                "",
                "",
                "",
                vec![capstan_api::FieldError::invalid("patch", shown(), detail)],
            )
        };
        if let Some(error) = capstan_api::openapi::decode_error(
            resource.group,
            resource.version,
            resource.kind,
            &patched,
        ) {
            return Err(invalid_patch(if strategic {
                error.unstructured
            } else {
                error.json
            }));
        }
        let found = strict_errors(resource, &duplicates, &patched, request.validation)
            .map_err(|error| invalid_patch(error.message))?;
        *warnings
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = found;
        Ok(patched)
    };
    let (object, created) = match request.patch_type {
        patch_type @ ("application/json-patch+json"
        | "application/merge-patch+json"
        | "application/strategic-merge-patch+json") => {
            let patched = rest
                .patch(resource, namespace, name, subresource, options, |current| {
                    checked(patched(patch_type, group, kind, current, body)?)
                })
                .await?;
            (patched, false)
        }
        "application/apply-patch+yaml" => {
            if query.get("fieldManager").is_none() {
                return Err(ApiError::invalid(
                    "meta.k8s.io",
                    "PatchOptions",
                    "",
                    vec![capstan_api::FieldError::required(
                        "fieldManager",
                        "is required for apply patch",
                    )],
                ));
            }
            // Unknown fields and values of the wrong type fail the apply
            // itself; what is left to field validation is repeated keys.
            let applied = parse_json(body)?;
            let finished = |merged: Value| -> Result<Value, ApiError> {
                if let Some(error) =
                    capstan_api::openapi::decode_error(group, resource.version, kind, &merged)
                {
                    return Err(ApiError::bad_request(error.json));
                }
                let found = strict_errors(resource, &duplicates, &Value::Null, request.validation)?;
                *warnings
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner()) = found;
                Ok(merged)
            };
            let force = query.flag("force");
            let manager = options.field_manager.clone();
            let options = &WriteOptions {
                applying: true,
                ..options.clone()
            };
            let now = object::now();
            match rest.get(resource, namespace, name).await {
                Err(error) if error.code == 404 && subresource.is_none() => {
                    let created = finished(capstan_api::apply::apply(
                        group, kind, None, &applied, &manager, force, &now,
                    )?)?;
                    (
                        rest.create(resource, namespace, created, options).await?,
                        true,
                    )
                }
                Err(error) => return Err(error),
                Ok(_) => {
                    let patched = rest
                        .patch(resource, namespace, name, subresource, options, |current| {
                            finished(match subresource {
                                Some(sub @ ("status" | "ephemeralcontainers")) => {
                                    capstan_api::apply::apply_subresource(
                                        group, kind, sub, current, &applied, &manager, force, &now,
                                    )
                                }
                                _ => capstan_api::apply::apply(
                                    group,
                                    kind,
                                    Some(current),
                                    &applied,
                                    &manager,
                                    force,
                                    &now,
                                ),
                            }?)
                        })
                        .await?;
                    (patched, false)
                }
            }
        }
        other => return Err(ApiError::unsupported_media_type(other)),
    };
    let warnings = warnings
        .into_inner()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    Ok(Patched {
        object,
        created,
        warnings,
    })
}

/// `current` after a JSON, merge or strategic merge patch.
fn patched(
    patch_type: &str,
    group: &str,
    kind: &str,
    current: &Value,
    body: &[u8],
) -> Result<Value, ApiError> {
    match patch_type {
        "application/json-patch+json" => capstan_api::patch::json_patch(current, body),
        "application/merge-patch+json" => capstan_api::patch::merge_patch(current, body),
        "application/strategic-merge-patch+json" => {
            capstan_api::patch::strategic_merge_patch(group, kind, current, body)
        }
        other => Err(ApiError::unsupported_media_type(other)),
    }
}

/// Unknown fields of a patched object (plus repeated keys of the patch):
/// an error under Strict, warnings under Warn.
fn strict_errors(
    resource: &Resource,
    duplicates: &[capstan_api::openapi::StrictError],
    patched: &Value,
    validation: FieldValidation,
) -> Result<Vec<String>, ApiError> {
    if validation == FieldValidation::Ignore {
        return Ok(Vec::new());
    }
    let mut errors = duplicates.to_vec();
    errors.extend(
        capstan_api::openapi::unknown_fields(
            resource.group,
            resource.version,
            resource.kind,
            patched,
        )
        .into_iter()
        .map(capstan_api::openapi::StrictError::UnknownField),
    );
    if errors.is_empty() {
        return Ok(Vec::new());
    }
    if validation == FieldValidation::Strict {
        return Err(ApiError::bad_request(
            capstan_api::openapi::strict_decoding_error(&errors),
        ));
    }
    Ok(errors.iter().map(ToString::to_string).collect())
}

/// A JSON value as Go's `%+v` prints the map it decodes to:
/// `map[spec:map[replicas:two]]`.
fn go_format(value: &Value) -> String {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            let fields: Vec<String> = keys
                .into_iter()
                .map(|key| format!("{key}:{}", go_format(&map[key])))
                .collect();
            format!("map[{}]", fields.join(" "))
        }
        Value::Array(items) => {
            let items: Vec<String> = items.iter().map(go_format).collect();
            format!("[{}]", items.join(" "))
        }
        Value::String(text) => text.clone(),
        Value::Null => "<nil>".into(),
        other => other.to_string(),
    }
}

/// The `Scale` of a workload.
fn scale_of(resource: &Resource, object: &Value) -> Value {
    let meta = object.get("metadata").cloned().unwrap_or_default();
    let pick = |field: &str| meta.get(field).cloned().unwrap_or(Value::Null);
    json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            "name": pick("name"),
            "namespace": pick("namespace"),
            "uid": pick("uid"),
            "resourceVersion": pick("resourceVersion"),
            "creationTimestamp": pick("creationTimestamp"),
        },
        "spec": {"replicas": object.pointer("/spec/replicas").cloned().unwrap_or(json!(0))},
        "status": {
            "replicas": object.pointer("/status/replicas").cloned().unwrap_or(json!(0)),
            "selector": selector_string(resource, object),
        },
    })
}

/// The workload's selector as a label selector string.
fn selector_string(resource: &Resource, object: &Value) -> String {
    let selector = object.pointer("/spec/selector");
    let labels = if resource.kind == "ReplicationController" {
        selector
    } else {
        selector.and_then(|s| s.get("matchLabels"))
    };
    let mut parts: Vec<String> = labels
        .and_then(Value::as_object)
        .map(|map| {
            map.iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                .collect()
        })
        .unwrap_or_default();
    let expressions = selector
        .and_then(|s| s.get("matchExpressions"))
        .and_then(Value::as_array);
    for expression in expressions.into_iter().flatten() {
        let key = expression["key"].as_str().unwrap_or_default();
        let values: Vec<&str> = expression["values"]
            .as_array()
            .map(|v| v.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        parts.push(match expression["operator"].as_str().unwrap_or_default() {
            "In" => format!("{key} in ({})", values.join(",")),
            "NotIn" => format!("{key} notin ({})", values.join(",")),
            "Exists" => key.to_string(),
            _ => format!("!{key}"),
        });
    }
    parts.join(",")
}

/// GET, PUT or PATCH of `<workload>/scale`.
pub async fn scale(
    rest: &Rest,
    resource: &'static Resource,
    namespace: Option<&str>,
    name: &str,
    verb: &str,
    body: Option<(String, Bytes)>,
    options: &WriteOptions,
) -> Result<Value, ApiError> {
    let current = rest.get(resource, namespace, name).await?;
    let wanted = match (verb, body) {
        ("get", _) => return Ok(scale_of(resource, &current)),
        ("update", Some((_, body))) => parse_json(&body)?,
        ("patch", Some((content_type, body))) => {
            let scale = scale_of(resource, &current);
            let patch_type = content_type.split(';').next().unwrap_or_default().trim();
            patched(patch_type, "autoscaling", "Scale", &scale, &body)?
        }
        (verb, _) => {
            return Err(ApiError::method_not_supported(
                &format!("{}/scale", resource.plural),
                verb,
            ))
        }
    };
    let replicas = wanted
        .pointer("/spec/replicas")
        .and_then(Value::as_i64)
        .unwrap_or(0);
    if replicas < 0 {
        return Err(ApiError::invalid(
            "autoscaling",
            "Scale",
            name,
            vec![capstan_api::FieldError::invalid(
                "spec.replicas",
                replicas,
                "must be greater than or equal to 0",
            )],
        ));
    }
    if let Some(version) = object::resource_version(&wanted) {
        if Some(version) != object::resource_version(&current) {
            return Err(ApiError::stale(resource.group, resource.plural, name));
        }
    }
    let updated = rest
        .patch(
            resource,
            namespace,
            name,
            Some("scale"),
            options,
            |object| {
                let mut object = object.clone();
                object["spec"]["replicas"] = replicas.into();
                Ok(object)
            },
        )
        .await?;
    Ok(scale_of(resource, &updated))
}

/// `pods/binding`: assigns a pod to a node, once.
pub async fn bind(
    rest: &Rest,
    namespace: Option<&str>,
    name: &str,
    binding: &Value,
    options: &WriteOptions,
) -> Result<Value, ApiError> {
    let pods = capstan_api::resource::find("", "v1", "pods").expect("pods are served");
    let node = binding
        .pointer("/target/name")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
        .ok_or_else(|| {
            ApiError::invalid(
                "",
                "Binding",
                name,
                vec![capstan_api::FieldError::required("target.name", "")],
            )
        })?
        .to_string();
    // As upstream, the binding is written straight to storage: the pod
    // update rules (which keep `spec.nodeName` as it is) do not apply.
    let mut attempt = 0;
    let mut fresh = false;
    loop {
        attempt += 1;
        // From the watch cache first; a conflict there is checked again
        // against the store.
        let current = match fresh {
            false => rest.registry.get_for_update(pods, namespace, name).await?,
            true => rest.registry.get(pods, namespace, name).await?,
        };
        if current.from_cache && current_is_taken(&current.object) {
            fresh = true;
            continue;
        }
        let pod = &current.object;
        if object::is_deleting(pod) {
            return Err(ApiError::conflict(
                "",
                "pods/binding",
                name,
                &format!("pod {name} is being deleted, cannot be assigned to a host"),
            ));
        }
        if let Some(bound) = pod
            .pointer("/spec/nodeName")
            .and_then(Value::as_str)
            .filter(|n| !n.is_empty())
        {
            return Err(ApiError::conflict(
                "",
                "pods/binding",
                name,
                &format!("pod {name} is already assigned to node {bound:?}"),
            ));
        }
        let mut pod = pod.clone();
        pod["spec"]["nodeName"] = node.clone().into();
        // The binding's annotations are copied onto the pod.
        if let Some(annotations) = binding
            .pointer("/metadata/annotations")
            .and_then(Value::as_object)
        {
            for (key, value) in annotations {
                pod["metadata"]["annotations"][key.as_str()] = value.clone();
            }
        }
        let conditions = pod["status"]["conditions"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let mut conditions: Vec<Value> = conditions
            .into_iter()
            .filter(|c| c["type"] != "PodScheduled")
            .collect();
        conditions.push(json!({"type": "PodScheduled", "status": "True", "lastProbeTime": null, "lastTransitionTime": object::now()}));
        pod["status"]["conditions"] = conditions.into();
        if options.dry_run {
            return Ok(success(201));
        }
        match rest.registry.update(pods, &current, &pod).await {
            Err(_) if current.from_cache => fresh = true,
            Err(error) if error.code == 409 && attempt < 5 => fresh = true,
            Err(error) => return Err(error),
            Ok(_) => return Ok(success(201)),
        }
    }
}

/// Whether a pod can no longer be bound: a cached copy saying so is
/// checked against the store before the binding is refused.
fn current_is_taken(pod: &Value) -> bool {
    object::is_deleting(pod)
        || pod
            .pointer("/spec/nodeName")
            .and_then(Value::as_str)
            .is_some_and(|n| !n.is_empty())
}

/// `namespaces/finalize`: only `spec.finalizers` changes; a terminating
/// namespace with none left is removed.
pub async fn finalize_namespace(
    rest: &Rest,
    name: &str,
    body: Value,
    options: &WriteOptions,
) -> Result<Value, ApiError> {
    let namespaces =
        capstan_api::resource::find("", "v1", "namespaces").expect("namespaces are served");
    let finalizers = body
        .pointer("/spec/finalizers")
        .cloned()
        .unwrap_or(json!([]));
    let current = rest.registry.get(namespaces, None, name).await?;
    let mut updated = current.object.clone();
    updated["spec"]["finalizers"] = finalizers.clone();
    let done = finalizers.as_array().is_none_or(Vec::is_empty)
        && object::is_deleting(&updated)
        && object::finalizers(&updated).is_empty();
    if options.dry_run {
        return Ok(updated);
    }
    if done {
        return Ok(rest.registry.delete(namespaces, &current).await?.object);
    }
    Ok(rest
        .registry
        .update(namespaces, &current, &updated)
        .await?
        .object)
}

/// `pods/eviction`: deletes a pod unless that would break a
/// PodDisruptionBudget covering it, as upstream: a budget with disruptions
/// allowed is charged for this one (in `status.disruptedPods`), one without
/// refuses with 429.
/// Evictions the disruption controller has not confirmed yet, beyond
/// which upstream refuses more.
const MAX_DISRUPTED_PODS: usize = 2000;

pub async fn evict(
    rest: &Rest,
    namespace: Option<&str>,
    name: &str,
    eviction: &Value,
    options: &WriteOptions,
) -> Result<Value, ApiError> {
    let pods = capstan_api::resource::find("", "v1", "pods").expect("pods are served");
    let budgets = capstan_api::resource::find("policy", "v1", "poddisruptionbudgets")
        .expect("PDBs are served");
    let pod = rest.get(pods, namespace, name).await?;
    let delete_options = crate::rest::DeleteOptions {
        dry_run: options.dry_run,
        ..crate::rest::DeleteOptions::from_body(
            eviction.get("deleteOptions").unwrap_or(&Value::Null),
        )
    };
    // A pod already going, or one that finished, needs no budget.
    let phase = pod
        .pointer("/status/phase")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if object::is_deleting(&pod) || matches!(phase, "Succeeded" | "Failed" | "Pending") {
        rest.delete(pods, namespace, name, &delete_options).await?;
        return Ok(success(201));
    }
    let labels = object::labels(&pod);
    let keep = |_: &Value| true;
    let all = rest
        .registry
        .list(
            budgets,
            namespace,
            crate::registry::ReadAt::Latest,
            0,
            None,
            &keep,
        )
        .await?;
    let covering: Vec<&Value> = all
        .items
        .iter()
        .filter(|budget| {
            // In policy/v1 a missing selector matches no pod and an empty
            // one matches every pod of the namespace.
            let Some(selector) = budget.pointer("/spec/selector").filter(|s| !s.is_null()) else {
                return false;
            };
            let selector: Option<k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector> =
                serde_json::from_value(selector.clone()).ok();
            selector.is_some_and(|selector| {
                capstan_api::selector::LabelSelector::from_label_selector(Some(&selector))
                    .is_ok_and(|s| s.matches(&labels))
            })
        })
        .collect();
    if covering.len() > 1 {
        return Err(ApiError::internal(
            "This pod has more than one PodDisruptionBudget, which the eviction subresource does not support.",
        ));
    }
    let ready = object::condition_true(&pod, "Ready");
    if let Some(budget) = covering.first() {
        let budget_name = object::name(budget).unwrap_or_default().to_string();
        let pod_name = name.to_string();
        let status = |current: &Value, field: &str| {
            current
                .pointer(&format!("/status/{field}"))
                .and_then(Value::as_i64)
                .unwrap_or(0)
        };
        // An unready pod does not count as healthy: by the budget's
        // unhealthyPodEvictionPolicy it may go without using the budget up.
        let policy = budget
            .pointer("/spec/unhealthyPodEvictionPolicy")
            .and_then(Value::as_str)
            .unwrap_or("IfHealthyBudget");
        let unhealthy_goes = !ready
            && (policy == "AlwaysAllow"
                || (status(budget, "currentHealthy") >= status(budget, "desiredHealthy")
                    && status(budget, "desiredHealthy") > 0));
        if unhealthy_goes {
            rest.delete(pods, namespace, name, &delete_options).await?;
            return Ok(success(201));
        }
        rest.patch(budgets, namespace, &budget_name, Some("status"), options, |current| {
            let allowed = status(current, "disruptionsAllowed");
            let observed = status(current, "observedGeneration");
            let generation = current.pointer("/metadata/generation").and_then(Value::as_i64).unwrap_or(0);
            let disrupted = current
                .pointer("/status/disruptedPods")
                .and_then(Value::as_object)
                .map_or(0, |pods| pods.len());
            if allowed < 0 {
                return Err(ApiError::forbidden("policy", "poddisruptionbudget", &budget_name, "pdb disruptions allowed is negative"));
            }
            if disrupted > MAX_DISRUPTED_PODS {
                return Err(ApiError::forbidden("policy", "poddisruptionbudget", &budget_name, "DisruptedPods map too big - too many evictions not confirmed by PDB controller"));
            }
            let why = if observed < generation {
                // The disruption controller has not looked at it yet.
                Some(format!("The disruption budget {budget_name} is still being processed by the server."))
            } else if allowed <= 0 {
                Some(format!(
                    "The disruption budget {budget_name} needs {} healthy pods and has {} currently",
                    current.pointer("/status/desiredHealthy").and_then(Value::as_i64).unwrap_or(0),
                    current.pointer("/status/currentHealthy").and_then(Value::as_i64).unwrap_or(0),
                ))
            } else {
                None
            };
            if let Some(why) = why {
                let mut error = ApiError::too_many_requests(0);
                error.message = "Cannot evict pod as it would violate the pod's disruption budget.".into();
                if let Some(details) = &mut error.details {
                    details.causes.push(capstan_api::FieldError::new(
                        capstan_api::FieldErrorKind::DisruptionBudget,
                        "",
                        None,
                        why,
                    ));
                }
                return Err(error);
            }
            let mut updated = current.clone();
            updated["status"]["disruptionsAllowed"] = (allowed - 1).into();
            updated["status"]["disruptedPods"][pod_name.as_str()] = object::now().into();
            Ok(updated)
        })
        .await?;
    }
    rest.delete(pods, namespace, name, &delete_options).await?;
    Ok(success(201))
}

fn success(code: u16) -> Value {
    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": code})
}
