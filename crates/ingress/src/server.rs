//! The two listeners: plain HTTP (HTTP/1.1, and HTTP/2 with prior
//! knowledge) and HTTPS (h2 or http/1.1 by ALPN), each connection served by
//! hyper until shutdown, when open connections are drained for a while.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;

use crate::proxy::{Connection, Proxy};

/// How long a client may take to send a request's headers (ingress-nginx's
/// `client-header-timeout`).
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(60);
/// How often an HTTP/2 client is pinged, so that connections to clients
/// that vanished are closed.
const H2_KEEP_ALIVE_INTERVAL: Duration = Duration::from_secs(60);
/// How long a TLS handshake may take.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long open connections may finish their requests after shutdown.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);
/// The pause after a failed accept (out of file descriptors, say), so that
/// the loop does not spin while the condition lasts.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(100);

/// Serves both listeners until `stop` turns true, then drains.
pub(crate) async fn serve(
    http: TcpListener,
    https: TcpListener,
    proxy: Arc<Proxy>,
    tls: TlsAcceptor,
    stop: watch::Receiver<bool>,
) {
    let graceful = GracefulShutdown::new();
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(H2_KEEP_ALIVE_INTERVAL);
    let server = Arc::new(Server { builder, proxy });
    tokio::join!(
        accept_loop(&http, None, &server, &graceful, stop.clone()),
        accept_loop(&https, Some(&tls), &server, &graceful, stop),
    );
    drop((http, https));
    let open = graceful.count();
    if tokio::time::timeout(DRAIN_TIMEOUT, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            open,
            "connections still open after the drain timeout; closing them"
        );
    }
}

struct Server {
    builder: auto::Builder<TokioExecutor>,
    proxy: Arc<Proxy>,
}

async fn accept_loop(
    listener: &TcpListener,
    tls: Option<&TlsAcceptor>,
    server: &Arc<Server>,
    graceful: &GracefulShutdown,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = stop.wait_for(|stopped| *stopped) => return,
        };
        let (stream, remote) = match accepted {
            Ok(accepted) => accepted,
            Err(error) => {
                tracing::warn!(%error, "accept failed");
                tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
                continue;
            }
        };
        let local = match stream.local_addr() {
            Ok(local) => local,
            Err(error) => {
                tracing::debug!(%error, %remote, "connection closed before it was served");
                continue;
            }
        };
        // Small responses must not wait for Nagle's algorithm.
        let _ = stream.set_nodelay(true);
        let connection = Connection {
            remote,
            local,
            tls: tls.is_some(),
        };
        let server = server.clone();
        let watcher = graceful.watcher();
        let tls = tls.cloned();
        tokio::spawn(async move {
            match tls {
                None => server.serve_connection(stream, connection, watcher).await,
                Some(tls) => {
                    server
                        .serve_tls_connection(stream, tls, connection, watcher)
                        .await
                }
            }
        });
    }
}

impl Server {
    async fn serve_tls_connection(
        &self,
        stream: TcpStream,
        tls: TlsAcceptor,
        connection: Connection,
        watcher: Watcher,
    ) {
        match tokio::time::timeout(HANDSHAKE_TIMEOUT, tls.accept(stream)).await {
            Ok(Ok(stream)) => self.serve_connection(stream, connection, watcher).await,
            Ok(Err(error)) => {
                tracing::debug!(remote = %connection.remote, %error, "TLS handshake failed")
            }
            Err(_) => tracing::debug!(remote = %connection.remote, "TLS handshake timed out"),
        }
    }

    async fn serve_connection<S>(&self, stream: S, connection: Connection, watcher: Watcher)
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static,
    {
        let proxy = self.proxy.clone();
        let service = service_fn(move |request| {
            let proxy = proxy.clone();
            async move { Ok::<_, Infallible>(proxy.handle(connection, request).await) }
        });
        let served = self
            .builder
            .serve_connection_with_upgrades(TokioIo::new(stream), service)
            .into_owned();
        if let Err(error) = watcher.watch(served).await {
            tracing::debug!(remote = %connection.remote, %error, "connection ended with an error");
        }
    }
}
