//! The Kubernetes API server, the only component that touches the store.
//!
//! One generic path serves every resource of `capstan_api`'s table:
//! `handler` reads the request, `rest` gives it upstream's semantics,
//! `registry` keeps objects in the store, `watch` streams changes.

mod access_review;
pub mod allocator;
pub mod authn;
pub mod authz;
pub mod join;
pub mod pki;

mod admission;
mod discovery;
mod handler;
mod impersonation;
mod input;
mod kubelet;
pub mod local;
mod logs;
mod metrics;
mod object;
mod oidc;
mod openapi;
mod registry;
mod request;
mod response;
mod rest;
mod sa_authn;
pub mod sa_token;
mod selectors;
mod services;
mod stored_json;
mod strategy;
mod stream;
mod subresources;
mod token_request;
mod token_review;
mod watch;
mod watch_cache;
mod watch_memo;

pub mod server;

pub use allocator::Cidr;
pub use server::{start, Config, Server};
