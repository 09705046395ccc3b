//! The endpoints controller's sync of one Service (upstream's
//! syncService): make its Endpoints list the addresses of the pods it
//! selects, ready or not, or leave it alone if it has no selector.

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::api::core::v1::{Endpoints, ObjectReference, Service};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, PostParams};
use kube::runtime::controller::Action;
use kube::runtime::events::{Event, EventType};
use kube::runtime::reflector::ObjectRef;
use kube::ResourceExt;

use super::membership::{is_service_ip_set, wants_endpoints};
use super::subsets::{desired_subsets, same_subsets, truncate};
use super::{namespace_terminating, trigger_time, Context};
use crate::{describe, Error};

/// The label marking Endpoints this controller manages.
pub const LABEL_MANAGED_BY: &str = "endpoints.kubernetes.io/managed-by";
/// Its value.
pub const CONTROLLER_NAME: &str = "endpoint-controller";
/// The annotation set when addresses were cut to capacity.
pub const OVER_CAPACITY: &str = "endpoints.kubernetes.io/over-capacity";
/// The label marking Endpoints of a headless Service.
const LABEL_HEADLESS: &str = "service.kubernetes.io/headless";

/// The labels the Service's Endpoints carry: the Service's, the headless
/// mark, and the manager.
pub fn endpoints_labels(service: &Service) -> BTreeMap<String, String> {
    let mut labels = service.labels().clone();
    if is_service_ip_set(service) {
        labels.remove(LABEL_HEADLESS);
    } else {
        labels.insert(LABEL_HEADLESS.into(), String::new());
    }
    labels.insert(LABEL_MANAGED_BY.into(), CONTROLLER_NAME.into());
    labels
}

/// Syncs the Endpoints of one Service.
pub async fn sync(service: Arc<Service>, context: Arc<Context>) -> Result<Action, Error> {
    if !wants_endpoints(&service) {
        return Ok(Action::await_change());
    }
    context.ready().await?;
    let namespace = service.namespace().unwrap_or_default();
    let name = service.name_any();
    let pods = context.pods_of(&service);
    // Computed even when nothing is written, to keep the tracker current.
    let trigger_time = context.endpoints_times.compute(&service, &pods);
    let mut subsets = desired_subsets(&service, &pods);
    let labels = endpoints_labels(&service);
    let current = context
        .endpoints
        .get(&ObjectRef::new(&name).within(&namespace));
    if let Some(current) = &current {
        let capacity_noted = current.annotations().contains_key(OVER_CAPACITY);
        let count: usize = subsets
            .iter()
            .map(|s| {
                s.addresses.as_ref().map_or(0, Vec::len)
                    + s.not_ready_addresses.as_ref().map_or(0, Vec::len)
            })
            .sum();
        let over = count > super::subsets::MAX_CAPACITY;
        if !over
            && !capacity_noted
            && current.labels() == &labels
            && same_subsets(current.subsets.as_deref().unwrap_or_default(), &subsets)
        {
            return Ok(Action::await_change());
        }
    }

    let mut annotations = current
        .as_ref()
        .and_then(|c| c.metadata.annotations.clone())
        .unwrap_or_default();
    match trigger_time {
        Some(time) => {
            annotations.insert(trigger_time::ANNOTATION.into(), trigger_time::format(time));
        }
        None => {
            annotations.remove(trigger_time::ANNOTATION);
        }
    }
    if truncate(&mut subsets) {
        annotations.insert(OVER_CAPACITY.into(), "truncated".into());
    } else {
        annotations.remove(OVER_CAPACITY);
    }
    let wanted = Endpoints {
        metadata: ObjectMeta {
            name: Some(name.clone()),
            namespace: Some(namespace.clone()),
            labels: Some(labels),
            annotations: (!annotations.is_empty()).then_some(annotations),
            ..current
                .as_ref()
                .map(|c| c.metadata.clone())
                .unwrap_or_default()
        },
        subsets: (!subsets.is_empty()).then_some(subsets),
    };
    let api: Api<Endpoints> = Api::namespaced(context.client.clone(), &namespace);
    let result = match &current {
        None => api.create(&PostParams::default(), &wanted).await,
        Some(_) => api.replace(&name, &PostParams::default(), &wanted).await,
    };
    match result {
        Ok(_) => Ok(Action::await_change()),
        Err(error) if current.is_none() && namespace_terminating(&error) => {
            Ok(Action::await_change())
        }
        Err(error) => {
            let (reason, note) = if current.is_none() {
                (
                    "FailedToCreateEndpoint",
                    format!(
                        "Failed to create endpoint for service {namespace}/{name}: {}",
                        describe(&error)
                    ),
                )
            } else {
                (
                    "FailedToUpdateEndpoint",
                    format!(
                        "Failed to update endpoint {namespace}/{name}: {}",
                        describe(&error)
                    ),
                )
            };
            // A conflict only means the cache was behind; no event for it.
            if crate::status_code(&error) != Some(409) {
                let regarding = ObjectReference {
                    api_version: Some("v1".into()),
                    kind: Some("Endpoints".into()),
                    name: Some(name.clone()),
                    namespace: Some(namespace.clone()),
                    uid: current.as_ref().and_then(|c| c.metadata.uid.clone()),
                    ..ObjectReference::default()
                };
                let event = Event {
                    type_: EventType::Warning,
                    reason: reason.into(),
                    note: Some(note),
                    action: "Sync".into(),
                    secondary: None,
                };
                if let Err(failed) = context.endpoints_recorder.publish(&event, &regarding).await {
                    tracing::debug!(error = %failed, "cannot record event");
                }
            }
            Err(Error::new(describe(&error)))
        }
    }
}
