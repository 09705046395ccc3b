//! Which syncs a change calls for. Every watched change passes through
//! here once, after the cache has taken it, and is turned into requests
//! for the controllers it concerns, as upstream's event handlers do.

use std::collections::HashSet;
use std::sync::Arc;

use futures_util::stream::{self, BoxStream};
use futures_util::StreamExt;
use k8s_openapi::api::core::v1::{Endpoints, Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::runtime::reflector::ObjectRef;
use kube::ResourceExt;
use tokio::sync::{mpsc, oneshot};

use super::membership::{endpoints_changed, selects};
use super::mirroring::MIRRORING_CONTROLLER;
use super::slices::{CONTROLLER_NAME, LABEL_MANAGED_BY, LABEL_SERVICE_NAME};
use super::Context;
use crate::watch_util::Change;

/// The watched changes, one stream a kind.
pub struct Changes {
    pub services: BoxStream<'static, Change<Service>>,
    pub pods: BoxStream<'static, Change<Pod>>,
    pub endpoints: BoxStream<'static, Change<Endpoints>>,
    pub slices: BoxStream<'static, Change<EndpointSlice>>,
}

/// Where requests go: one queue a controller.
pub struct Queues {
    endpoints: mpsc::UnboundedSender<ObjectRef<Service>>,
    slices: mpsc::UnboundedSender<ObjectRef<Service>>,
    mirror: mpsc::UnboundedSender<ObjectRef<Endpoints>>,
    orphans: mpsc::UnboundedSender<ObjectRef<EndpointSlice>>,
}

/// The controllers' ends of the queues.
pub struct Receivers {
    pub endpoints: mpsc::UnboundedReceiver<ObjectRef<Service>>,
    pub slices: mpsc::UnboundedReceiver<ObjectRef<Service>>,
    pub mirror: mpsc::UnboundedReceiver<ObjectRef<Endpoints>>,
    pub orphans: mpsc::UnboundedReceiver<ObjectRef<EndpointSlice>>,
}

pub fn queues() -> (Queues, Receivers) {
    let (endpoints, endpoints_rx) = mpsc::unbounded_channel();
    let (slices, slices_rx) = mpsc::unbounded_channel();
    let (mirror, mirror_rx) = mpsc::unbounded_channel();
    let (orphans, orphans_rx) = mpsc::unbounded_channel();
    (
        Queues {
            endpoints,
            slices,
            mirror,
            orphans,
        },
        Receivers {
            endpoints: endpoints_rx,
            slices: slices_rx,
            mirror: mirror_rx,
            orphans: orphans_rx,
        },
    )
}

enum Seen {
    Service(Change<Service>),
    Pod(Change<Pod>),
    Endpoints(Change<Endpoints>),
    Slice(Change<EndpointSlice>),
}

/// Keeps the caches filled and routes their changes until `stop`.
pub async fn route(
    changes: Changes,
    queues: Queues,
    context: Arc<Context>,
    stop: oneshot::Receiver<()>,
) {
    let mut all = stream::select_all([
        changes.services.map(Seen::Service).boxed(),
        changes.pods.map(Seen::Pod).boxed(),
        changes.endpoints.map(Seen::Endpoints).boxed(),
        changes.slices.map(Seen::Slice).boxed(),
    ]);
    let mut stop = stop;
    loop {
        let seen = tokio::select! {
            _ = &mut stop => return,
            seen = all.next() => seen,
        };
        match seen {
            Some(seen) => queues.route(seen, &context),
            None => return,
        }
    }
}

fn service_ref(namespace: Option<String>, name: &str) -> ObjectRef<Service> {
    ObjectRef::new(name).within(namespace.as_deref().unwrap_or_default())
}

impl Queues {
    fn route(&self, seen: Seen, context: &Context) {
        match seen {
            Seen::Service(change) => match &change {
                Change::Relisted => self.everything(context),
                _ => {
                    for service in change.versions() {
                        self.service(service, context);
                    }
                }
            },
            Seen::Pod(change) => match &change {
                Change::Relisted => self.all_services(context),
                Change::Applied {
                    old: Some(old),
                    new,
                } if !endpoints_changed(old, new) => {}
                _ => self.pod(&change, context),
            },
            Seen::Endpoints(change) => match &change {
                Change::Relisted => self.everything(context),
                _ => {
                    for endpoints in change.versions() {
                        let name = endpoints.name_any();
                        let _ = self
                            .endpoints
                            .send(service_ref(endpoints.namespace(), &name));
                        let _ = self.mirror.send(ObjectRef::from_obj(&**endpoints));
                    }
                }
            },
            Seen::Slice(change) => match &change {
                Change::Relisted => self.everything(context),
                _ => {
                    for slice in change.versions() {
                        self.slice(slice);
                    }
                }
            },
        }
    }

    /// A Service changed: both of its syncs, the mirroring of its
    /// Endpoints, and its slices in case it is gone.
    fn service(&self, service: &Service, context: &Context) {
        let name = service.name_any();
        let namespace = service.namespace().unwrap_or_default();
        let _ = self
            .endpoints
            .send(service_ref(Some(namespace.clone()), &name));
        let _ = self
            .slices
            .send(service_ref(Some(namespace.clone()), &name));
        let _ = self.mirror.send(ObjectRef::new(&name).within(&namespace));
        for slice in context.slices.state() {
            if slice.namespace().as_deref() == Some(namespace.as_str())
                && slice.labels().get(LABEL_SERVICE_NAME) == Some(&name)
            {
                let _ = self.orphans.send(ObjectRef::from_obj(&*slice));
            }
        }
    }

    /// A pod changed in a way that matters: the Services it was, or now
    /// is, selected by.
    fn pod(&self, change: &Change<Pod>, context: &Context) {
        let mut affected = HashSet::new();
        let services = context.services.state();
        for pod in change.versions() {
            let namespace = pod.namespace();
            for service in &services {
                if service.namespace() == namespace && selects(service, pod.labels()) {
                    affected.insert(service_ref(namespace.clone(), &service.name_any()));
                }
            }
        }
        for service in affected {
            let _ = self.endpoints.send(service.clone());
            let _ = self.slices.send(service);
        }
    }

    /// A slice changed: whoever manages it.
    fn slice(&self, slice: &EndpointSlice) {
        let labels = slice.labels();
        let service = labels.get(LABEL_SERVICE_NAME);
        match (labels.get(LABEL_MANAGED_BY).map(String::as_str), service) {
            (Some(CONTROLLER_NAME), Some(service)) => {
                let _ = self.slices.send(service_ref(slice.namespace(), service));
                let _ = self.orphans.send(ObjectRef::from_obj(slice));
            }
            (Some(MIRRORING_CONTROLLER), Some(service)) => {
                let namespace = slice.namespace().unwrap_or_default();
                let _ = self.mirror.send(ObjectRef::new(service).within(&namespace));
                let _ = self.orphans.send(ObjectRef::from_obj(slice));
            }
            // The API server's own slice of `kubernetes`, mirrored here.
            (None, Some(service)) => {
                let namespace = slice.namespace().unwrap_or_default();
                let _ = self.mirror.send(ObjectRef::new(service).within(&namespace));
            }
            _ => {}
        }
    }

    fn all_services(&self, context: &Context) {
        for service in context.services.state() {
            let key = service_ref(service.namespace(), &service.name_any());
            let _ = self.endpoints.send(key.clone());
            let _ = self.slices.send(key);
        }
    }

    /// After a re-list, deletions may have been missed: look at everything.
    fn everything(&self, context: &Context) {
        self.all_services(context);
        for endpoints in context.endpoints.state() {
            let _ = self.mirror.send(ObjectRef::from_obj(&*endpoints));
        }
        for slice in context.slices.state() {
            let _ = self.orphans.send(ObjectRef::from_obj(&*slice));
        }
    }
}
