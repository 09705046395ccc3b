//! Clients in the server's own process (controller manager, scheduler,
//! hollow nodes) reach the API through the same handler as everyone else,
//! but without a socket: a kube `Client` built on [`LocalTransport`] hands
//! each request to the handler and gets its response back in memory. They
//! stay clients of the API, authorized and validated like any other; only
//! TCP, TLS and HTTP framing are skipped.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::header::{HeaderValue, USER_AGENT};
use hyper::{Request, Response};

use crate::authn::User;
use crate::handler::ApiServer;
use crate::response::Body;

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A request body as the handler reads it, from a socket or in memory.
pub type RequestBody = BoxBody<Bytes, std::io::Error>;

/// `body` as the handler takes it.
pub fn box_body<B>(body: B) -> RequestBody
where
    B: hyper::body::Body<Data = Bytes> + Send + Sync + 'static,
    B::Error: Into<BoxError>,
{
    body.map_err(|error| std::io::Error::other(error.into()))
        .boxed()
}

/// A tower service for kube's `Client::new`.
#[derive(Clone)]
pub struct LocalTransport {
    api: Arc<ApiServer>,
    user: User,
    user_agent: Option<HeaderValue>,
}

impl LocalTransport {
    pub(crate) fn new(api: Arc<ApiServer>, user: User, user_agent: &str) -> LocalTransport {
        LocalTransport {
            api,
            user,
            user_agent: HeaderValue::from_str(user_agent).ok(),
        }
    }
}

impl<B> tower_service::Service<Request<B>> for LocalTransport
where
    B: hyper::body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    type Response = Response<Body>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Response<Body>, BoxError>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let api = self.api.clone();
        let user = self.user.clone();
        let user_agent = self.user_agent.clone();
        Box::pin(async move {
            let (mut parts, body) = request.into_parts();
            // Clients' request bodies are whole objects or patches: read at
            // once, they need not be Sync to cross into the handler.
            let bytes = match body.collect().await {
                Ok(collected) => collected.to_bytes(),
                Err(error) => return Err(error.into()),
            };
            if let Some(agent) = user_agent {
                parts.headers.entry(USER_AGENT).or_insert(agent);
            }
            let request = Request::from_parts(parts, box_body(Full::new(bytes)));
            Ok(api.handle(request, Some(user)).await)
        })
    }
}
