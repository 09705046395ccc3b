//! The EndpointSlice controller's sync of one Service: plan its slices
//! ([`super::slices::plan`]) and make the changes.

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::api::core::v1::{ObjectReference, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::{Api, DeleteParams, PostParams};
use kube::runtime::controller::Action;
use kube::runtime::events::{Event, EventType};
use kube::ResourceExt;

use super::membership::wants_endpoints;
use super::slices::{
    plan, zone_of, Nodes, CONTROLLER_NAME, LABEL_MANAGED_BY, LABEL_SERVICE_NAME,
    MAX_ENDPOINTS_PER_SLICE,
};
use super::{namespace_terminating, trigger_time, Context};
use crate::{describe, status_code, Error};

/// The nodes as the cache has them.
struct CachedNodes<'a>(&'a Context);

impl Nodes for CachedNodes<'_> {
    fn zone(&self, node: &str) -> Option<Option<String>> {
        let node = self
            .0
            .nodes
            .get(&kube::runtime::reflector::ObjectRef::new(node))?;
        Some(zone_of(node.labels()))
    }
}

/// The slices this controller made for the Service (or for an older
/// Service of the same name).
fn slices_of(context: &Context, namespace: &str, name: &str) -> Vec<Arc<EndpointSlice>> {
    context
        .slices
        .state()
        .into_iter()
        .filter(|slice| slice.namespace().as_deref() == Some(namespace))
        .filter(|slice| {
            let labels = slice.labels();
            labels.get(LABEL_SERVICE_NAME).map(String::as_str) == Some(name)
                && labels.get(LABEL_MANAGED_BY).map(String::as_str) == Some(CONTROLLER_NAME)
        })
        .collect()
}

fn set_trigger_time(slice: &mut EndpointSlice, time: Option<jiff::Timestamp>) {
    let annotations = slice.metadata.annotations.get_or_insert_with(BTreeMap::new);
    match time {
        Some(time) => {
            annotations.insert(trigger_time::ANNOTATION.into(), trigger_time::format(time));
        }
        None => {
            annotations.remove(trigger_time::ANNOTATION);
        }
    }
    if annotations.is_empty() {
        slice.metadata.annotations = None;
    }
}

/// Syncs the EndpointSlices of one Service.
pub async fn sync(service: Arc<Service>, context: Arc<Context>) -> Result<Action, Error> {
    if !wants_endpoints(&service) {
        return Ok(Action::await_change());
    }
    context.ready().await?;
    let namespace = service.namespace().unwrap_or_default();
    let name = service.name_any();
    let pods = context.pods_of(&service);
    let trigger = context.slices_times.compute(&service, &pods);
    let existing = slices_of(&context, &namespace, &name);
    let mut plan = plan(
        &service,
        &pods,
        &existing,
        &CachedNodes(&context),
        MAX_ENDPOINTS_PER_SLICE,
    );
    let api: Api<EndpointSlice> = Api::namespaced(context.client.clone(), &namespace);
    let outcome = async {
        // No new slices for a Service being deleted: the garbage collector
        // would have to chase them.
        if service.metadata.deletion_timestamp.is_none() {
            for mut slice in plan.create.drain(..) {
                set_trigger_time(&mut slice, trigger);
                match api.create(&PostParams::default(), &slice).await {
                    Ok(_) => {}
                    Err(error) if namespace_terminating(&error) => return Ok(()),
                    Err(error) => {
                        let message = format!(
                            "failed to create EndpointSlice for Service {namespace}/{name}: {}",
                            describe(&error)
                        );
                        return Err((message, status_code(&error)));
                    }
                }
            }
        }
        for mut slice in plan.update.drain(..) {
            set_trigger_time(&mut slice, trigger);
            let slice_name = slice.name_any();
            if let Err(error) = api.replace(&slice_name, &PostParams::default(), &slice).await {
                let message = format!(
                    "failed to update {slice_name} EndpointSlice for Service {namespace}/{name}: {}",
                    describe(&error)
                );
                return Err((message, status_code(&error)));
            }
        }
        for slice in plan.delete.drain(..) {
            let slice_name = slice.name_any();
            match api.delete(&slice_name, &DeleteParams::default()).await {
                Ok(_) => {}
                Err(error) if status_code(&error) == Some(404) => {}
                Err(error) => {
                    let message = format!(
                        "failed to delete {slice_name} EndpointSlice for Service {namespace}/{name}: {}",
                        describe(&error)
                    );
                    return Err((message, status_code(&error)));
                }
            }
        }
        Ok(())
    }
    .await;
    if let Err((message, code)) = outcome {
        // A conflict only means the cache was behind; no event for it.
        if code != Some(409) {
            record_failure(&context, &service, &message).await;
        }
        return Err(Error::new(message));
    }
    if !plan.missing_nodes.is_empty() {
        return Err(Error::new(plan.missing_nodes.join("; ")));
    }
    Ok(Action::await_change())
}

async fn record_failure(context: &Context, service: &Service, message: &str) {
    let regarding = ObjectReference {
        api_version: Some("v1".into()),
        kind: Some("Service".into()),
        name: Some(service.name_any()),
        namespace: service.namespace(),
        uid: service.metadata.uid.clone(),
        ..ObjectReference::default()
    };
    let event = Event {
        type_: EventType::Warning,
        reason: "FailedToUpdateEndpointSlices".into(),
        note: Some(format!(
            "Error updating Endpoint Slices for Service {}/{}: {message}",
            service.namespace().unwrap_or_default(),
            service.name_any()
        )),
        action: "Sync".into(),
        secondary: None,
    };
    if let Err(error) = context.slices_recorder.publish(&event, &regarding).await {
        tracing::debug!(%error, "cannot record event");
    }
}
