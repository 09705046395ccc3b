//! Watch responses: a stream of `{"type": ..., "object": ...}` lines, fed by
//! a store watch on the resource's prefix, with upstream's semantics for
//! `resourceVersion`, selectors, bookmarks and `sendInitialEvents`.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use capstan_api::{ApiError, Resource};
use capstan_store::{Event, EventKind, KeyValue, Revision, StoreError};
use futures_util::StreamExt;
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::Response;
use serde_json::{json, Value};
use tokio::sync::mpsc;

use crate::registry::{self, ReadAt, Registry};
use crate::response::{self, Body, Shape};
use crate::selectors::Selectors;
use crate::watch_memo::{encode_line, EventMemo};

/// Objects a watcher is interested in; a watch without one takes all.
pub type Filter = Arc<Selectors>;

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
    pub filter: Option<Filter>,
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
/// Lines already queued are sent together up to this size: under load one
/// write (and one TLS record) carries many events.
const FRAME_TARGET: usize = 64 * 1024;

pub async fn serve(registry: &Registry, request: WatchRequest) -> Result<Response<Body>, ApiError> {
    let resource = request.resource;
    let content_type = request.shape.content_type();
    let namespace = request.namespace.as_deref();
    let (initial, from) = match request.start {
        Start::WithCurrentState => {
            let filter = request.filter.clone();
            let keep = move |object: &Value| filter.as_ref().is_none_or(|f| f.matches(object));
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
            let line = encode_line("ERROR", &status);
            let _ = sender.send(line).await;
            None
        }
    };
    if let Some(events) = events {
        let mut watcher = Watcher {
            memo: registry.memo(),
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
            let first = receiver.recv().await?;
            let frame = Frame::data(coalesce(first, &mut receiver));
            Some((Ok::<_, std::io::Error>(frame), receiver))
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
    memo: Arc<EventMemo>,
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
                        let _ = self.sender.send(encode_line("ERROR", &status)).await;
                        return;
                    }
                    None => return,
                },
            }
        }
    }

    /// Sends one store event as the client sees it through its selectors:
    /// an object that starts matching is ADDED, one that stops is DELETED.
    /// Decoding and encoding go through the registry's memo, so the many
    /// watches of one kind share that work; selectors look at the memo's
    /// summaries, which it keeps much longer than decoded objects, so a
    /// watch that lags decodes nothing it does not send.
    async fn deliver(&mut self, event: Event) -> bool {
        self.last_revision = event.revision();
        let resource = self.request.resource;
        let revision = event.revision();
        let was = match (&event.prev, &self.request.filter) {
            (None, _) => false,
            (Some(_), None) => true,
            (Some(prev), Some(filter)) => self
                .memo
                .selectable(resource, prev, prev.mod_revision)
                .is_some_and(|selectable| filter.matches_selectable(&selectable)),
        };
        match event.kind {
            EventKind::Delete => match &event.prev {
                Some(prev) if was => self.send_event("DELETED", prev, revision).await,
                _ => true,
            },
            EventKind::Put => {
                let is = match &self.request.filter {
                    None => true,
                    Some(filter) => match self.memo.selectable(resource, &event.kv, revision) {
                        Some(selectable) => filter.matches_selectable(&selectable),
                        None => return true,
                    },
                };
                let kind = match (was, is) {
                    (true, true) => "MODIFIED",
                    (false, true) => "ADDED",
                    (true, false) => "DELETED",
                    (false, false) => return true,
                };
                self.send_event(kind, &event.kv, revision).await
            }
        }
    }

    /// Sends the line for an event of the object stored as `stored`, at
    /// `revision`; the memo builds it once for all watches of its shape.
    async fn send_event(
        &mut self,
        kind: &'static str,
        stored: &KeyValue,
        revision: Revision,
    ) -> bool {
        let resource = self.request.resource;
        let shape = self.request.shape;
        if let Shape::Table { .. } = shape {
            return match self.memo.object(resource, stored, revision) {
                Some(object) => self.send(kind, &object).await,
                None => true,
            };
        }
        match self.memo.line(resource, stored, revision, kind, shape) {
            Some(line) => self.sender.send(line).await.is_ok(),
            // A stored value that is not an object is skipped.
            None => true,
        }
    }

    async fn send(&mut self, kind: &str, object: &Value) -> bool {
        let resource = self.request.resource;
        let line = match self.request.shape {
            Shape::Table { v1, include } => {
                let meta = json!({"resourceVersion": crate::object::resource_version(object).unwrap_or_default()});
                let table = response::table(
                    resource,
                    std::slice::from_ref(object),
                    meta,
                    v1,
                    include,
                    self.first,
                );
                encode_line(kind, &table)
            }
            Shape::Object => encode_line(kind, object),
            shape => encode_line(kind, &response::shaped_object(resource, object, shape)),
        };
        self.first = false;
        self.sender.send(line).await.is_ok()
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
            .send(encode_line("BOOKMARK", &object))
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

/// `first` and the lines queued behind it, up to [`FRAME_TARGET`] bytes.
fn coalesce(first: Bytes, receiver: &mut mpsc::Receiver<Bytes>) -> Bytes {
    let Ok(second) = receiver.try_recv() else {
        return first;
    };
    let mut frame = bytes::BytesMut::with_capacity(first.len() + second.len());
    frame.extend_from_slice(&first);
    frame.extend_from_slice(&second);
    while frame.len() < FRAME_TARGET {
        match receiver.try_recv() {
            Ok(line) => frame.extend_from_slice(&line),
            Err(_) => break,
        }
    }
    frame.freeze()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn queued_lines_go_out_together() {
        let (sender, mut receiver) = mpsc::channel::<Bytes>(8);
        sender.send(Bytes::from_static(b"b\n")).await.unwrap();
        sender.send(Bytes::from_static(b"c\n")).await.unwrap();
        let frame = coalesce(Bytes::from_static(b"a\n"), &mut receiver);
        assert_eq!(&frame[..], b"a\nb\nc\n");
        // Nothing queued: the line goes alone.
        let alone = coalesce(Bytes::from_static(b"d\n"), &mut receiver);
        assert_eq!(&alone[..], b"d\n");
    }
}
