//! Objects in the store: how a resource's objects are keyed, encoded and
//! read back, with `metadata.resourceVersion` being the store revision, as
//! upstream's etcd3 storage layer. REST semantics live above, in `rest`.

use std::sync::Arc;

use base64::Engine;
use capstan_api::{ApiError, Resource};
use capstan_store::{Bytes, RangeRequest, Revision, Store, StoreError, WatchStream};
use serde_json::{json, Value};

use crate::object;
use crate::watch_cache::WatchCache;
use crate::watch_memo::EventMemo;

pub struct Registry {
    store: Arc<dyn Store>,
    cache: Option<Arc<WatchCache>>,
    memo: Arc<EventMemo>,
}

/// An object as read from the store, with its revision.
#[derive(Clone, Debug)]
pub struct Stored {
    pub object: Value,
    pub revision: Revision,
    /// Read from the watch cache, which may lag the store: a write based
    /// on it is checked against the store's revision, and anything that
    /// goes wrong with it is retried from a fresh read.
    pub from_cache: bool,
}

/// Which revision a list reads, from `resourceVersion` and
/// `resourceVersionMatch`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReadAt {
    Latest,
    /// At least this revision: the latest, once it has caught up.
    NotOlderThan(Revision),
    Exact(Revision),
}

pub struct ListPage {
    pub items: Vec<Value>,
    pub revision: Revision,
    pub continue_token: Option<String>,
}

/// Most items read from the store at once while filling a page.
const LIST_CHUNK: usize = 500;

impl Registry {
    /// Objects in `store`, listed and watched through `cache` when given.
    pub fn new(store: Arc<dyn Store>, cache: Option<Arc<WatchCache>>) -> Registry {
        Registry {
            store,
            cache,
            memo: Arc::default(),
        }
    }

    /// Decoded objects and encoded lines of recent events, shared by all
    /// watches.
    pub fn memo(&self) -> Arc<EventMemo> {
        self.memo.clone()
    }

    /// Every change under `prefix` from `start` on: from the watch cache
    /// when its window reaches back that far, else from the store.
    pub async fn watch(&self, prefix: &str, start: Revision) -> capstan_store::Result<WatchStream> {
        if let Some(events) = self
            .cache
            .as_ref()
            .and_then(|cache| cache.watch(prefix, start))
        {
            return Ok(events);
        }
        self.store.watch(prefix, start).await
    }

    pub async fn get(
        &self,
        resource: &Resource,
        namespace: Option<&str>,
        name: &str,
    ) -> Result<Stored, ApiError> {
        let key = resource.key(namespace, name);
        match self
            .store
            .get(&key, 0)
            .await
            .map_err(|e| store_error(resource, name, e))?
        {
            Some(kv) => decode(resource, &kv.value, kv.mod_revision),
            None => Err(ApiError::not_found(resource.group, resource.plural, name)),
        }
    }

    /// The object as the watch cache has it when it has it, else as the
    /// store has it: a starting point for a read-modify-write (upstream's
    /// cached existing object), never an answer to a read.
    pub async fn get_for_update(
        &self,
        resource: &Resource,
        namespace: Option<&str>,
        name: &str,
    ) -> Result<Stored, ApiError> {
        match self.get_cached(resource, namespace, name) {
            Some(cached) => cached,
            None => self.get(resource, namespace, name).await,
        }
    }

    /// The object as the watch cache has it, which may lag the store (an
    /// informer's copy, to upstream); `None` when the cache does not have
    /// it.
    pub fn get_cached(
        &self,
        resource: &Resource,
        namespace: Option<&str>,
        name: &str,
    ) -> Option<Result<Stored, ApiError>> {
        let key = resource.key(namespace, name);
        let kv = self.cache.as_ref()?.get(&key)?;
        Some(
            decode(resource, &kv.value, kv.mod_revision).map(|mut stored| {
                stored.from_cache = true;
                stored
            }),
        )
    }

    pub async fn create(&self, resource: &Resource, object: &Value) -> Result<Stored, ApiError> {
        let name = object::name(object).unwrap_or_default().to_string();
        let key = resource.key(object::namespace(object), &name);
        let kv = self
            .store
            .create(&key, encode(resource, object)?)
            .await
            .map_err(|e| store_error(resource, &name, e))?;
        Ok(with_revision(object.clone(), kv.mod_revision))
    }

    /// Writes `object` over the stored one if that is still at `expected`.
    /// Unchanged bytes are not written again, as upstream.
    pub async fn update(
        &self,
        resource: &Resource,
        current: &Stored,
        object: &Value,
    ) -> Result<Stored, ApiError> {
        let name = object::name(object).unwrap_or_default().to_string();
        let key = resource.key(object::namespace(object), &name);
        if same_apart_from_revision(object, &current.object) {
            if current.from_cache {
                // Unchanged against what may be an old copy: the caller
                // reads afresh and tries again.
                return Err(ApiError::stale(resource.group, resource.plural, &name));
            }
            return Ok(current.clone());
        }
        let value = encode(resource, object)?;
        let kv = self
            .store
            .update(&key, value, current.revision)
            .await
            .map_err(|e| store_error(resource, &name, e))?;
        Ok(with_revision(object.clone(), kv.mod_revision))
    }

    /// Removes the object if it is still at `current.revision`; returns it as
    /// it was, with the revision of the delete.
    pub async fn delete(&self, resource: &Resource, current: &Stored) -> Result<Stored, ApiError> {
        let name = object::name(&current.object)
            .unwrap_or_default()
            .to_string();
        let key = resource.key(object::namespace(&current.object), &name);
        let deleted = self
            .store
            .delete(&key, Some(current.revision))
            .await
            .map_err(|e| store_error(resource, &name, e))?;
        Ok(with_revision(current.object.clone(), deleted.revision))
    }

    /// One page of a list: up to `limit` objects (0: all) that pass
    /// `keep`, from the continue token on, all read at one revision.
    pub async fn list(
        &self,
        resource: &Resource,
        namespace: Option<&str>,
        read_at: ReadAt,
        limit: usize,
        continue_token: Option<&str>,
        keep: &(dyn Fn(&Value) -> bool + Send + Sync),
    ) -> Result<ListPage, ApiError> {
        let prefix = resource.prefix(namespace);
        if let (Some(cache), None) = (&self.cache, continue_token) {
            let wanted = match read_at {
                ReadAt::Latest => Some(None),
                ReadAt::NotOlderThan(revision) => {
                    self.revision_for(read_at).await?;
                    Some(Some(revision))
                }
                ReadAt::Exact(_) => None,
            };
            if let Some(wanted) = wanted {
                if let Some((kvs, revision)) = cache.list(&prefix, wanted).await {
                    return page_from(resource, &prefix, kvs, revision, limit, keep);
                }
            }
        }
        let (mut revision, mut after) = match continue_token {
            Some(token) => {
                let (revision, start) = decode_continue(token)?;
                (revision, Some(format!("{prefix}{start}")))
            }
            None => (self.revision_for(read_at).await?, None),
        };
        let mut items = Vec::new();
        loop {
            let want = if limit == 0 {
                0
            } else {
                (limit - items.len()).max(LIST_CHUNK.min(limit))
            };
            let page = self
                .store
                .range(RangeRequest {
                    prefix: prefix.clone(),
                    after: after.clone(),
                    limit: want,
                    revision,
                })
                .await
                .map_err(|error| list_error(error, continue_token.is_some()))?;
            revision = page.revision;
            let mut last_key = None;
            for kv in &page.kvs {
                last_key = Some(kv.key.clone());
                let object = decode(resource, &kv.value, kv.mod_revision)?.object;
                if keep(&object) {
                    items.push(object);
                    if limit > 0 && items.len() == limit {
                        break;
                    }
                }
            }
            let more = page.more || last_key.as_ref() != page.kvs.last().map(|kv| &kv.key);
            if limit > 0 && items.len() == limit && more {
                let last = last_key.expect("a full page has a last key");
                let start = last.strip_prefix(&prefix).unwrap_or(&last);
                return Ok(ListPage {
                    items,
                    revision,
                    continue_token: Some(encode_continue(revision, start)),
                });
            }
            if !page.more {
                return Ok(ListPage {
                    items,
                    revision,
                    continue_token: None,
                });
            }
            after = last_key;
        }
    }
}

/// One page of a list from the keys read by the watch cache.
fn page_from(
    resource: &Resource,
    prefix: &str,
    kvs: Vec<capstan_store::KeyValue>,
    revision: Revision,
    limit: usize,
    keep: &(dyn Fn(&Value) -> bool + Send + Sync),
) -> Result<ListPage, ApiError> {
    let mut items = Vec::new();
    let mut kvs = kvs.into_iter().peekable();
    while let Some(kv) = kvs.next() {
        let object = decode(resource, &kv.value, kv.mod_revision)?.object;
        if !keep(&object) {
            continue;
        }
        items.push(object);
        if limit > 0 && items.len() == limit && kvs.peek().is_some() {
            // The rest comes from the store at the same revision.
            let start = kv.key.strip_prefix(prefix).unwrap_or(&kv.key);
            return Ok(ListPage {
                items,
                revision,
                continue_token: Some(encode_continue(revision, start)),
            });
        }
    }
    Ok(ListPage {
        items,
        revision,
        continue_token: None,
    })
}

impl Registry {
    /// The revision a read at `read_at` is served at.
    async fn revision_for(&self, read_at: ReadAt) -> Result<Revision, ApiError> {
        match read_at {
            ReadAt::Latest => Ok(0),
            ReadAt::Exact(revision) => Ok(revision),
            ReadAt::NotOlderThan(wanted) => {
                let current = self.current_revision().await?;
                if wanted > current {
                    return Err(too_large_resource_version(wanted, current));
                }
                Ok(0)
            }
        }
    }

    pub async fn current_revision(&self) -> Result<Revision, ApiError> {
        self.store
            .current_revision()
            .await
            .map_err(store_error_unnamed)
    }
}

/// Upstream's answer to a read at a revision the store has not reached:
/// 504, with a hint to retry in a second.
pub fn too_large_resource_version(wanted: Revision, current: Revision) -> ApiError {
    let mut error = ApiError::timeout(format!(
        "Too large resource version: {wanted}, current: {current}"
    ));
    error.details = Some(Box::new(capstan_api::status::Details {
        retry_after_seconds: Some(1),
        ..Default::default()
    }));
    error
}

/// An object as the store keeps it: in the resource's storage version,
/// without its revision.
fn encode(resource: &Resource, object: &Value) -> Result<Bytes, ApiError> {
    let (group, version) = capstan_api::convert::storage_version(resource);
    let bytes = if (group, version) == (resource.group, resource.version) {
        serde_json::to_vec(&WithoutRevision(object))
    } else {
        let converted = capstan_api::convert::convert(object.clone(), group, version);
        serde_json::to_vec(&WithoutRevision(&converted))
    };
    // The value lives on in the watch cache: no spare capacity from the
    // buffer's growth.
    bytes
        .map(|bytes| Bytes::from(bytes.into_boxed_slice()))
        .map_err(|error| ApiError::internal(error.to_string()))
}

/// An object as stored: `metadata.resourceVersion` is the store's
/// revision, not part of the value.
struct WithoutRevision<'a>(&'a Value);

impl serde::Serialize for WithoutRevision<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let Value::Object(fields) = self.0 else {
            return self.0.serialize(serializer);
        };
        let mut map = serializer.serialize_map(Some(fields.len()))?;
        for (key, value) in fields {
            match (key.as_str(), value) {
                ("metadata", Value::Object(meta)) => {
                    map.serialize_entry(key, &WithoutKey(meta, "resourceVersion"))?
                }
                _ => map.serialize_entry(key, value)?,
            }
        }
        map.end()
    }
}

/// A map with one key left out.
struct WithoutKey<'a>(&'a serde_json::Map<String, Value>, &'static str);

impl serde::Serialize for WithoutKey<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let kept = self.0.iter().filter(|(key, _)| key.as_str() != self.1);
        let mut map = serializer.serialize_map(None)?;
        for (key, value) in kept {
            map.serialize_entry(key, value)?;
        }
        map.end()
    }
}

/// Whether two objects would be stored as the same bytes.
fn same_apart_from_revision(a: &Value, b: &Value) -> bool {
    let (Value::Object(a), Value::Object(b)) = (a, b) else {
        return a == b;
    };
    a.len() == b.len()
        && a.iter()
            .all(|(key, value)| match (key.as_str(), value, b.get(key)) {
                ("metadata", Value::Object(x), Some(Value::Object(y))) => {
                    same_apart_from(x, y, "resourceVersion")
                }
                (_, value, other) => other == Some(value),
            })
}

fn same_apart_from(
    a: &serde_json::Map<String, Value>,
    b: &serde_json::Map<String, Value>,
    skipped: &str,
) -> bool {
    let kept = |map: &serde_json::Map<String, Value>| map.keys().filter(|k| *k != skipped).count();
    kept(a) == kept(b)
        && a.iter()
            .filter(|(key, _)| *key != skipped)
            .all(|(key, value)| b.get(key) == Some(value))
}

/// A stored object as `resource`'s version serves it.
pub fn decode(resource: &Resource, value: &[u8], revision: Revision) -> Result<Stored, ApiError> {
    let object: Value = serde_json::from_slice(value)
        .map_err(|error| ApiError::internal(format!("stored object is not JSON: {error}")))?;
    let object = capstan_api::convert::convert(object, resource.group, resource.version);
    Ok(with_revision(object, revision))
}

pub fn with_revision(mut object: Value, revision: Revision) -> Stored {
    object::set_meta(&mut object, "resourceVersion", revision.to_string());
    Stored {
        object,
        revision,
        from_cache: false,
    }
}

/// Upstream's continue token: base64 of `{"v":"meta.k8s.io/v1","rv":N,"start":KEY}`
/// where KEY is the next key to read, relative to the list's prefix.
fn encode_continue(revision: Revision, last: &str) -> String {
    let token = json!({"v": "meta.k8s.io/v1", "rv": revision, "start": format!("{last}\u{0}")});
    base64::engine::general_purpose::URL_SAFE.encode(token.to_string())
}

fn decode_continue(token: &str) -> Result<(Revision, String), ApiError> {
    let invalid = || ApiError::bad_request(format!("invalid continue token: {token:?}"));
    let bytes = base64::engine::general_purpose::URL_SAFE
        .decode(token)
        .map_err(|_| invalid())?;
    let token: Value = serde_json::from_slice(&bytes).map_err(|_| invalid())?;
    if token["v"] != "meta.k8s.io/v1" {
        return Err(invalid());
    }
    let revision = token["rv"]
        .as_i64()
        .filter(|rv| *rv > 0)
        .ok_or_else(invalid)?;
    let start = token["start"].as_str().ok_or_else(invalid)?;
    // The range stays inside the list's prefix whatever the key says.
    let last = start.strip_suffix('\u{0}').unwrap_or(start);
    Ok((revision, last.to_string()))
}

fn list_error(error: StoreError, continuing: bool) -> ApiError {
    match error {
        StoreError::Compacted { .. } if continuing => ApiError::gone(
            "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.",
        ),
        other => store_error_unnamed(other),
    }
}

/// Maps a store error for a request about one named object.
pub fn store_error(resource: &Resource, name: &str, error: StoreError) -> ApiError {
    match error {
        StoreError::NotFound { .. } => ApiError::not_found(resource.group, resource.plural, name),
        StoreError::AlreadyExists { .. } => {
            ApiError::already_exists(resource.group, resource.plural, name)
        }
        StoreError::Conflict { .. } => ApiError::stale(resource.group, resource.plural, name),
        other => store_error_unnamed(other),
    }
}

pub fn store_error_unnamed(error: StoreError) -> ApiError {
    match error {
        StoreError::Compacted {
            requested,
            compacted,
        } => ApiError::gone(format!(
            "too old resource version: {requested} ({compacted})"
        )),
        StoreError::FutureRevision { requested, current } => {
            too_large_resource_version(requested, current)
        }
        StoreError::TooLarge { .. } => ApiError::too_large("etcdserver: request is too large"),
        StoreError::Unavailable(message) => ApiError::service_unavailable(message),
        StoreError::NotFound { key } => ApiError::internal(format!("key not found: {key}")),
        StoreError::AlreadyExists { key } => ApiError::internal(format!("key exists: {key}")),
        StoreError::Conflict { current, .. } => {
            ApiError::internal(format!("conflict on {}", current.key))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn continue_tokens_round_trip_and_reject_garbage() {
        let token = encode_continue(42, "default/web");
        assert_eq!(decode_continue(&token).unwrap(), (42, "default/web".into()));
        assert!(decode_continue("not-base64!").is_err());
        let foreign =
            base64::engine::general_purpose::URL_SAFE.encode(r#"{"v":"x","rv":1,"start":"a"}"#);
        assert!(decode_continue(&foreign).is_err());
    }

    fn config_maps() -> &'static Resource {
        capstan_api::resource::find("", "v1", "configmaps").expect("configmaps are served")
    }

    #[tokio::test]
    async fn writes_from_a_cached_copy_are_checked_against_the_store() {
        let store: Arc<dyn Store> = Arc::new(capstan_store::memory::MemoryStore::new());
        let (cache, _task) = WatchCache::start(store.clone());
        let registry = Registry::new(store.clone(), Some(cache));
        let object = json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "c", "namespace": "a"}, "data": {"k": "1"}});
        registry.create(config_maps(), &object).await.unwrap();
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
        let cached = loop {
            let read = registry
                .get_for_update(config_maps(), Some("a"), "c")
                .await
                .unwrap();
            if read.from_cache || tokio::time::Instant::now() > deadline {
                break read;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        };
        assert!(cached.from_cache, "the watch cache serves the read");

        // Someone else writes meanwhile: the cached copy is old now.
        let mut newer = object.clone();
        newer["data"]["k"] = json!("2");
        let fresh = registry.get(config_maps(), Some("a"), "c").await.unwrap();
        registry
            .update(config_maps(), &fresh, &newer)
            .await
            .unwrap();

        let mut mine = object.clone();
        mine["data"]["k"] = json!("3");
        let error = registry
            .update(config_maps(), &cached, &mine)
            .await
            .unwrap_err();
        assert_eq!(error.code, 409);
        // Unchanged against the cached copy proves nothing either.
        let error = registry
            .update(config_maps(), &cached, &cached.object)
            .await
            .unwrap_err();
        assert_eq!(error.code, 409);
        let now = registry.get(config_maps(), Some("a"), "c").await.unwrap();
        assert_eq!(now.object["data"]["k"], "2");
    }

    #[test]
    fn stored_bytes_leave_out_the_revision_only() {
        let object = json!({"kind": "ConfigMap", "metadata": {"name": "c", "resourceVersion": "7"}, "data": {"k": "v"}});
        let bytes = encode(config_maps(), &object).unwrap();
        let stored: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(
            stored,
            json!({"kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"k": "v"}})
        );

        let mut other = object.clone();
        other["metadata"]["resourceVersion"] = json!("9");
        assert!(same_apart_from_revision(&object, &other));
        other["data"]["k"] = json!("w");
        assert!(!same_apart_from_revision(&object, &other));
        let mut labelled = object.clone();
        labelled["metadata"]["labels"] = json!({"a": "b"});
        assert!(!same_apart_from_revision(&object, &labelled));
        assert!(!same_apart_from_revision(&labelled, &object));
    }
}
