//! The controller manager: level-triggered control loops with upstream names
//! and semantics. Every controller here is a client of the API server through
//! kube-rs, even when it runs in the server's process, so it can as well run
//! elsewhere.
//!
//! ```no_run
//! # async fn example(client: kube::Client) {
//! let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
//! let options = capstan_controllers::Options::default();
//! let manager = tokio::spawn(capstan_controllers::run(client, options, async {
//!     let _ = stopped.await;
//! }));
//! // ... later:
//! let _ = stop.send(());
//! manager.await.unwrap();
//! # }
//! ```

use std::fmt;
use std::future::Future;

use futures_util::FutureExt;

pub mod cronjob;
pub mod daemonset;
pub mod deployment;
pub mod disruption;
pub mod endpoints;
pub mod events;
pub mod garbagecollector;
pub mod history;
pub mod informers;
pub mod job;
pub mod namespace;
pub mod nodeipam;
pub mod nodelifecycle;
pub mod pods;
pub mod replicaset;
pub mod rootcacert;
pub mod serviceaccount;
pub mod servicelb;
pub mod statefulset;
pub mod watch_util;

/// Settings of the controller manager.
#[derive(Clone, Debug)]
pub struct Options {
    /// Where node IPAM takes each node's podCIDR from, as `ADDRESS/BITS`.
    pub cluster_cidr: String,
    /// How long a node may go without renewing its Lease before it is
    /// marked NotReady (upstream's `--node-monitor-grace-period`).
    pub node_monitor_grace_period: std::time::Duration,
    /// The built-in service load balancer; None leaves LoadBalancer
    /// Services pending for another one.
    pub service_lb: Option<servicelb::ServiceLbOptions>,
    /// The cluster CA (PEM) published as `kube-root-ca.crt` in every
    /// namespace; None publishes nothing.
    pub root_ca_cert: Option<String>,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            cluster_cidr: "10.42.0.0/16".into(),
            node_monitor_grace_period: std::time::Duration::from_secs(40),
            service_lb: Some(servicelb::ServiceLbOptions::default()),
            root_ca_cert: None,
        }
    }
}

/// Runs every controller until `shutdown` completes, then lets the
/// reconciles under way finish and returns.
pub async fn run<F>(client: kube::Client, options: Options, shutdown: F)
where
    F: Future<Output = ()> + Send + 'static,
{
    let shutdown = shutdown.shared();
    // Every subscription is taken here, before anything is polled, so
    // that no controller misses an event of a shared watch.
    let mut informers = informers::Informers::default();
    let replicas = replicaset::run(
        client.clone(),
        informers.pods.subscribe(),
        informers.replica_sets.subscribe(),
        shutdown.clone(),
    );
    let deployments = deployment::run(
        client.clone(),
        informers.replica_sets.subscribe(),
        shutdown.clone(),
    );
    let daemons = daemonset::run(
        client.clone(),
        informers.pods.subscribe(),
        informers.nodes.subscribe(),
        informers.revisions.subscribe(),
        shutdown.clone(),
    );
    let stateful = statefulset::run(
        client.clone(),
        informers.pods.subscribe(),
        informers.revisions.subscribe(),
        shutdown.clone(),
    );
    let jobs = job::run(
        client.clone(),
        informers.jobs.subscribe(),
        informers.pods.subscribe(),
        shutdown.clone(),
    );
    let finished_jobs = job::ttl::run(client.clone(), informers.jobs.subscribe(), shutdown.clone());
    let cron_jobs = cronjob::run(client.clone(), informers.jobs.subscribe(), shutdown.clone());
    let namespaces = namespace::run(
        client.clone(),
        informers.namespaces.subscribe(),
        shutdown.clone(),
    );
    let accounts = serviceaccount::run(
        client.clone(),
        informers.namespaces.subscribe(),
        shutdown.clone(),
    );
    let root_ca = options.root_ca_cert.clone().map(|ca| {
        rootcacert::run(
            client.clone(),
            ca,
            informers.namespaces.subscribe(),
            shutdown.clone(),
        )
    });
    let lifecycle = nodelifecycle::run(
        client.clone(),
        options.node_monitor_grace_period,
        informers.nodes.store(),
        informers.pods.store(),
        shutdown.clone(),
    );
    let ipam = nodeipam::run(
        client.clone(),
        options.cluster_cidr.clone(),
        informers.nodes.subscribe(),
        shutdown.clone(),
    );
    let endpoints = endpoints::run(
        client.clone(),
        informers.pods.subscribe(),
        informers.nodes.store(),
        shutdown.clone(),
    );
    let disruption = disruption::run(client.clone(), informers.pods.subscribe(), shutdown.clone());
    let load_balancer = options.service_lb.clone().map(|lb| {
        servicelb::run(
            client.clone(),
            lb,
            informers.nodes.subscribe(),
            shutdown.clone(),
        )
    });
    // Each controller and the shared watches are tasks of their own, so
    // that decoding and reconciling spread over the runtime's threads.
    let mut tasks = tokio::task::JoinSet::new();
    tasks.spawn(informers.run(client.clone(), shutdown.clone()));
    tasks.spawn(namespaces);
    tasks.spawn(accounts);
    tasks.spawn(replicas);
    tasks.spawn(deployments);
    tasks.spawn(daemons);
    tasks.spawn(stateful);
    tasks.spawn(jobs);
    tasks.spawn(finished_jobs);
    tasks.spawn(cron_jobs);
    tasks.spawn(garbagecollector::run(client, shutdown));
    tasks.spawn(lifecycle);
    tasks.spawn(ipam);
    tasks.spawn(endpoints);
    tasks.spawn(disruption);
    if let Some(load_balancer) = load_balancer {
        tasks.spawn(load_balancer);
    }
    if let Some(root_ca) = root_ca {
        tasks.spawn(root_ca);
    }
    while let Some(finished) = tasks.join_next().await {
        if let Err(error) = finished {
            if error.is_panic() {
                std::panic::resume_unwind(error.into_panic());
            }
        }
    }
}

/// A failed reconcile: retried with back-off by the controller.
#[derive(Debug)]
pub struct Error(String);

impl Error {
    pub fn new(message: impl Into<String>) -> Error {
        Error(message.into())
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

impl From<kube::Error> for Error {
    fn from(error: kube::Error) -> Error {
        Error(describe(&error))
    }
}

/// The server's own words for an API error, as upstream controllers report
/// them in conditions and events; other errors as they display.
pub fn describe(error: &kube::Error) -> String {
    match error {
        kube::Error::Api(status) if !status.message.is_empty() => status.message.clone(),
        other => other.to_string(),
    }
}

/// Writes `status` through the status subresource of `object` unless it
/// holds that already; an object gone meanwhile is no error.
pub(crate) async fn write_status<K, S>(
    client: &kube::Client,
    object: &K,
    current: Option<&S>,
    status: &S,
) -> Result<(), Error>
where
    K: kube::Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + k8s_openapi::serde::de::DeserializeOwned
        + std::fmt::Debug,
    S: PartialEq + k8s_openapi::serde::Serialize,
{
    use kube::ResourceExt;
    if current == Some(status) {
        return Ok(());
    }
    let api: kube::Api<K> =
        kube::Api::namespaced(client.clone(), &object.namespace().unwrap_or_default());
    let patch = serde_json::json!({ "status": status });
    let params = kube::api::PatchParams::default();
    match api
        .patch_status(
            &object.name_any(),
            &params,
            &kube::api::Patch::Merge(&patch),
        )
        .await
    {
        Ok(_) => Ok(()),
        Err(error) if status_code(&error) == Some(404) => Ok(()),
        Err(error) => Err(error.into()),
    }
}

/// The HTTP status code of an API error, if it is one.
pub(crate) fn status_code(error: &kube::Error) -> Option<u16> {
    match error {
        kube::Error::Api(status) => Some(status.code),
        _ => None,
    }
}
