//! `/metrics`: what the server did, in Prometheus text with upstream's
//! metric names, so existing dashboards read it: requests by verb,
//! resource and code with latency histograms, open watches, and store
//! latency per operation.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use capstan_store::{
    Bytes, Deleted, KeyValue, RangeRequest, RangeResponse, Result, Revision, Store, WatchStream,
};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Default, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub verb: String,
    pub group: String,
    pub version: String,
    pub resource: String,
    pub subresource: String,
    pub scope: String,
    pub code: String,
}

#[derive(Clone, Debug, Default, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LatencyLabels {
    verb: String,
    group: String,
    version: String,
    resource: String,
    subresource: String,
    scope: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct WatchLabels {
    verb: String,
    group: String,
    version: String,
    resource: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StoreLabels {
    operation: String,
    r#type: String,
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: HistogramFamily<LatencyLabels>,
    watches: Family<WatchLabels, Gauge>,
    store: HistogramFamily<StoreLabels>,
}

fn request_buckets() -> Histogram {
    // Upstream's buckets for apiserver_request_duration_seconds.
    Histogram::new([
        0.005, 0.025, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 1.0, 1.25, 1.5, 2.0, 3.0, 4.0, 5.0, 6.0, 8.0,
        10.0, 15.0, 20.0, 30.0, 45.0, 60.0,
    ])
}

fn store_buckets() -> Histogram {
    Histogram::new([
        0.0001, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
    ])
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::default();
        let requests = Family::<RequestLabels, Counter>::default();
        let latency: HistogramFamily<LatencyLabels> = Family::new_with_constructor(request_buckets);
        let watches = Family::<WatchLabels, Gauge>::default();
        let store: HistogramFamily<StoreLabels> = Family::new_with_constructor(store_buckets);
        registry.register(
            "apiserver_request",
            "Counter of apiserver requests broken out for each verb, group, version, resource, scope, component, and HTTP response code.",
            requests.clone(),
        );
        registry.register(
            "apiserver_request_duration_seconds",
            "Response latency distribution in seconds for each verb, group, version, resource, subresource, scope and component.",
            latency.clone(),
        );
        registry.register(
            "apiserver_longrunning_requests",
            "Gauge of all active long-running apiserver requests broken out by verb, group, version, resource.",
            watches.clone(),
        );
        registry.register(
            "etcd_request_duration_seconds",
            "Store request latency in seconds for each operation and object type.",
            store.clone(),
        );
        Metrics {
            registry,
            requests,
            latency,
            watches,
            store,
        }
    }
}

impl Metrics {
    pub fn record_request(&self, labels: RequestLabels, elapsed: Duration) {
        let latency = LatencyLabels {
            verb: labels.verb.clone(),
            group: labels.group.clone(),
            version: labels.version.clone(),
            resource: labels.resource.clone(),
            subresource: labels.subresource.clone(),
            scope: labels.scope.clone(),
        };
        self.requests.get_or_create(&labels).inc();
        self.latency
            .get_or_create(&latency)
            .observe(elapsed.as_secs_f64());
    }

    /// Counts an open watch until the guard drops.
    pub fn watch_opened(
        self: &Arc<Self>,
        group: &str,
        version: &str,
        resource: &str,
    ) -> WatchGuard {
        let labels = WatchLabels {
            verb: "WATCH".into(),
            group: group.into(),
            version: version.into(),
            resource: resource.into(),
        };
        self.watches.get_or_create(&labels).inc();
        WatchGuard {
            metrics: self.clone(),
            labels,
        }
    }

    fn observe_store(&self, operation: &str, key: &str, started: Instant) {
        let labels = StoreLabels {
            operation: operation.into(),
            r#type: object_type(key).into(),
        };
        self.store
            .get_or_create(&labels)
            .observe(started.elapsed().as_secs_f64());
    }

    pub fn encode(&self) -> String {
        let mut text = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
    }
}

pub struct WatchGuard {
    metrics: Arc<Metrics>,
    labels: WatchLabels,
}

impl Drop for WatchGuard {
    fn drop(&mut self) {
        self.metrics.watches.get_or_create(&self.labels).dec();
    }
}

/// The resource part of a store key: `/registry/pods/ns/name` → `pods`.
fn object_type(key: &str) -> &str {
    key.strip_prefix("/registry/")
        .and_then(|rest| rest.split('/').next())
        .unwrap_or("other")
}

/// The store, timed.
pub struct MeteredStore {
    pub inner: Arc<dyn Store>,
    pub metrics: Arc<Metrics>,
}

#[async_trait]
impl Store for MeteredStore {
    async fn get(&self, key: &str, revision: Revision) -> Result<Option<KeyValue>> {
        let started = Instant::now();
        let result = self.inner.get(key, revision).await;
        self.metrics.observe_store("get", key, started);
        result
    }

    async fn range(&self, request: RangeRequest) -> Result<RangeResponse> {
        let started = Instant::now();
        let prefix = request.prefix.clone();
        let result = self.inner.range(request).await;
        self.metrics.observe_store("list", &prefix, started);
        result
    }

    async fn create(&self, key: &str, value: Bytes) -> Result<KeyValue> {
        let started = Instant::now();
        let result = self.inner.create(key, value).await;
        self.metrics.observe_store("create", key, started);
        result
    }

    async fn update(&self, key: &str, value: Bytes, expected: Revision) -> Result<KeyValue> {
        let started = Instant::now();
        let result = self.inner.update(key, value, expected).await;
        self.metrics.observe_store("update", key, started);
        result
    }

    async fn delete(&self, key: &str, expected: Option<Revision>) -> Result<Deleted> {
        let started = Instant::now();
        let result = self.inner.delete(key, expected).await;
        self.metrics.observe_store("delete", key, started);
        result
    }

    async fn watch(&self, prefix: &str, start_revision: Revision) -> Result<WatchStream> {
        self.inner.watch(prefix, start_revision).await
    }

    async fn compact(&self, revision: Revision) -> Result<()> {
        self.inner.compact(revision).await
    }

    async fn current_revision(&self) -> Result<Revision> {
        self.inner.current_revision().await
    }

    async fn count(&self, prefix: &str) -> Result<i64> {
        let started = Instant::now();
        let result = self.inner.count(prefix).await;
        self.metrics.observe_store("count", prefix, started);
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_encode_with_upstream_names() {
        let metrics = Arc::new(Metrics::default());
        metrics.record_request(
            RequestLabels {
                verb: "GET".into(),
                resource: "pods".into(),
                version: "v1".into(),
                scope: "resource".into(),
                code: "200".into(),
                ..Default::default()
            },
            Duration::from_millis(3),
        );
        let guard = metrics.watch_opened("", "v1", "pods");
        let text = metrics.encode();
        assert!(
            text.contains("apiserver_request_total{verb=\"GET\""),
            "{text}"
        );
        assert!(
            text.contains("apiserver_request_duration_seconds_bucket"),
            "{text}"
        );
        assert!(text.contains("apiserver_longrunning_requests{verb=\"WATCH\",group=\"\",version=\"v1\",resource=\"pods\"} 1"), "{text}");
        drop(guard);
        assert!(metrics.encode().contains("resource=\"pods\"} 0"));
        assert_eq!(
            object_type("/registry/services/specs/default/x"),
            "services"
        );
    }
}
