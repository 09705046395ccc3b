//! capstan's cluster DNS: what CoreDNS's `kubernetes` plugin and
//! `forward . /etc/resolv.conf` do in a k3s cluster, following the
//! [Kubernetes DNS specification](https://github.com/kubernetes/dns/blob/master/docs/specification.md).
//!
//! - `<svc>.<ns>.svc.<zone>`: the ClusterIPs of a Service, the ready
//!   endpoint addresses of a headless one, a CNAME for an ExternalName one;
//!   `<endpoint>.<svc>.<ns>.svc.<zone>` for each endpoint (its hostname or
//!   its dashed IP); SRV records under `_<port>._<proto>.<svc>.<ns>.svc.<zone>`.
//! - `a-b-c-d.<ns>.pod.<zone>`: the address the name spells (CoreDNS's
//!   `pods insecure`).
//! - PTR records for ClusterIPs and endpoint addresses; other reverse names,
//!   and every name outside the zone, go to the host's resolvers.
//!
//! The layout keeps the answering logic pure: `records` turns Services,
//! EndpointSlices and Namespaces into a snapshot, `lookup` finds what a
//! name in the zone means, `answer` turns a query into a reply, and
//! `wire` sizes it for its transport. The edges are `watch` (kube
//! reflectors feeding snapshots), `forward` (the upstream resolvers) and
//! `server` (the UDP and TCP sockets).

mod answer;
mod forward;
mod handle;
mod lookup;
mod options;
mod records;
mod reverse;
mod server;
#[cfg(test)]
mod testing;
mod watch;
mod wire;

pub use options::DnsOptions;
pub use server::Dns;
