//! Watch responses: a stream of `{"type": ..., "object": ...}` lines, fed by
//! a store watch on the resource's prefix, with upstream's semantics for
//! `resourceVersion`, selectors, bookmarks and `sendInitialEvents`.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use capstan_api::{ApiError, Resource};
use capstan_store::{Event, EventKind, Revision, StoreError};
use futures_util::StreamExt;
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::Response;
use serde_json::{json, Value};
use tokio::sync::mpsc;

use crate::registry::{self, ReadAt, Registry};
use crate::response::{self, Body, Shape};

/// Objects a watcher is interested in.
pub type Filter = Arc<dyn Fn(&Value) -> bool + Send + Sync>;

/// Where a watch starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Start {
    /// `resourceVersion` unset or `"0"`: the current objects as ADDED events
    /// first, then changes.
    WithCurrentState,
    /// Changes after this revision.
    After(Revision),
}

pub struct WatchRequest {
    pub resource: &'static Resource,
    pub namespace: Option<String>,
    pub start: Start,
    pub filter: Filter,
    pub bookmarks: bool,
    /// `sendInitialEvents=true`: the initial events end with a bookmark
    /// annotated `k8s.io/initial-events-end`.
    pub initial_events_end: bool,
    pub timeout: Duration,
    pub shape: Shape,
    /// Counts the watch as open while it runs.
    pub guard: Option<crate::metrics::WatchGuard>,
}

const BOOKMARK_INTERVAL: Duration = Duration::from_secs(60);
const BOOKMARK_BEFORE_TIMEOUT: Duration = Duration::from_secs(2);
const EVENT_BUFFER: usize = 64;

pub async fn serve(registry: &Registry, request: WatchRequest) -> Result<Response<Body>, ApiError> {
    let resource = request.resource;
    let content_type = request.shape.content_type();
    let namespace = request.namespace.as_deref();
    let (initial, from) = match request.start {
        Start::WithCurrentState => {
            let filter = request.filter.clone();
            let keep = move |object: &Value| filter(object);
            let page = registry
                .list(resource, namespace, ReadAt::Latest, 0, None, &keep)
                .await?;
            (page.items, page.revision)
        }
        Start::After(0) => (Vec::new(), registry.current_revision().await?),
        Start::After(revision) => (Vec::new(), revision),
    };
    let (sender, receiver) = mpsc::channel::<Bytes>(EVENT_BUFFER);
    let prefix = resource.prefix(namespace);
    let events = match registry.watch(&prefix, from + 1).await {
        Ok(events) => Some(events),
        Err(error) => {
            // Upstream answers 200 and reports an expired start in the
            // stream, naming the version asked for and the oldest one a
            // watch can still start from.
            let error = match error {
                StoreError::Compacted {
                    requested,
                    compacted,
                } => ApiError::gone(format!(
                    "too old resource version: {} ({})",
                    requested - 1,
                    compacted - 1
                )),
                other => registry::store_error_unnamed(other),
            };
            let status = error.to_status();
            let line = encode(&json!({"type": "ERROR", "object": status}));
            let _ = sender.send(line).await;
            None
        }
    };
    if let Some(events) = events {
        let mut watcher = Watcher {
            request,
            sender,
            first: true,
            last_revision: from,
        };
        tokio::spawn(async move {
            for object in initial {
                if !watcher.send("ADDED", &object).await {
                    return;
                }
            }
            let announce = watcher.request.initial_events_end && watcher.request.bookmarks;
            if announce && !watcher.bookmark(true).await {
                return;
            }
            watcher.follow(events).await;
        });
    }
    let body = StreamBody::new(futures_util::stream::unfold(
        receiver,
        |mut receiver| async move {
            receiver
                .recv()
                .await
                .map(|bytes| (Ok::<_, std::io::Error>(Frame::data(bytes)), receiver))
        },
    ));
    let mut response = Response::new(BodyExt::boxed(body));
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    Ok(response)
}

struct Watcher {
    request: WatchRequest,
    sender: mpsc::Sender<Bytes>,
    /// Tables carry their column definitions in the first event only.
    first: bool,
    /// The newest revision seen in the prefix, for bookmarks.
    last_revision: Revision,
}

impl Watcher {
    async fn follow(&mut self, mut events: capstan_store::WatchStream) {
        let end = tokio::time::Instant::now() + self.request.timeout;
        let deadline = tokio::time::sleep_until(end);
        tokio::pin!(deadline);
        let mut next_bookmark = next_bookmark(end);
        let bookmark = tokio::time::sleep_until(next_bookmark.unwrap_or(end));
        tokio::pin!(bookmark);
        loop {
            tokio::select! {
                _ = &mut deadline => return,
                _ = self.sender.closed() => return,
                _ = &mut bookmark, if self.request.bookmarks && next_bookmark.is_some() => {
                    if !self.bookmark(false).await {
                        return;
                    }
                    next_bookmark = next_bookmark_after(end, next_bookmark);
                    if let Some(at) = next_bookmark {
                        bookmark.as_mut().reset(at);
                    }
                }
                next = events.next() => match next {
                    Some(Ok(event)) => {
                        if !self.deliver(event).await {
                            return;
                        }
                    }
                    Some(Err(error)) => {
                        let status = registry::store_error_unnamed(error).to_status();
                        let _ = self.sender.send(encode(&json!({"type": "ERROR", "object": status}))).await;
                        return;
                    }
                    None => return,
                },
            }
        }
    }

    /// Sends one store event as the client sees it through its selectors:
    /// an object that starts matching is ADDED, one that stops is DELETED.
    async fn deliver(&mut self, event: Event) -> bool {
        self.last_revision = event.revision();
        let filter = self.request.filter.clone();
        let prev = match &event.prev {
            Some(prev) => {
                match registry::decode(self.request.resource, &prev.value, prev.mod_revision) {
                    Ok(stored) => Some(stored.object),
                    Err(_) => None,
                }
            }
            None => None,
        };
        let was = prev.as_ref().is_some_and(|object| filter(object));
        match event.kind {
            EventKind::Delete => match prev {
                Some(prev) if was => {
                    let gone = registry::with_revision(prev, event.revision()).object;
                    self.send("DELETED", &gone).await
                }
                _ => true,
            },
            EventKind::Put => {
                let Ok(current) =
                    registry::decode(self.request.resource, &event.kv.value, event.revision())
                else {
                    return true;
                };
                let object = current.object;
                let is = filter(&object);
                match (was, is) {
                    (true, true) => self.send("MODIFIED", &object).await,
                    (false, true) => self.send("ADDED", &object).await,
                    (true, false) => self.send("DELETED", &object).await,
                    (false, false) => true,
                }
            }
        }
    }

    async fn send(&mut self, kind: &str, object: &Value) -> bool {
        let resource = self.request.resource;
        let object = match self.request.shape {
            Shape::Table { v1, include } => {
                let meta = json!({"resourceVersion": crate::object::resource_version(object).unwrap_or_default()});
                response::table(
                    resource,
                    std::slice::from_ref(object),
                    meta,
                    v1,
                    include,
                    self.first,
                )
            }
            shape => response::shaped_object(resource, object, shape),
        };
        self.first = false;
        self.sender
            .send(encode(&json!({"type": kind, "object": object})))
            .await
            .is_ok()
    }

    async fn bookmark(&mut self, initial_events_end: bool) -> bool {
        let resource = self.request.resource;
        let mut metadata = json!({"resourceVersion": self.last_revision.to_string()});
        if initial_events_end {
            metadata["annotations"] = json!({"k8s.io/initial-events-end": "true"});
        }
        let object = json!({
            "kind": resource.kind,
            "apiVersion": resource.api_version(),
            "metadata": metadata,
        });
        self.sender
            .send(encode(&json!({"type": "BOOKMARK", "object": object})))
            .await
            .is_ok()
    }
}

/// When the next bookmark is due, as upstream's watch cache: about every
/// minute, and once more two seconds before the watch times out; none when
/// that moment has passed.
fn next_bookmark(end: tokio::time::Instant) -> Option<tokio::time::Instant> {
    let now = tokio::time::Instant::now();
    let heartbeat = now + BOOKMARK_INTERVAL;
    let before_timeout = end.checked_sub(BOOKMARK_BEFORE_TIMEOUT)?;
    let at = heartbeat.min(before_timeout);
    (at > now).then_some(at)
}

/// The bookmark after one sent at `last`.
fn next_bookmark_after(
    end: tokio::time::Instant,
    last: Option<tokio::time::Instant>,
) -> Option<tokio::time::Instant> {
    let next = next_bookmark(end)?;
    // Never twice for the same moment.
    (Some(next) > last).then_some(next)
}

fn encode(value: &Value) -> Bytes {
    let mut bytes = serde_json::to_vec(value).unwrap_or_default();
    bytes.push(b'\n');
    Bytes::from(bytes)
}
