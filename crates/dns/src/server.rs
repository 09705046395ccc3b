//! The sockets: each listen address served over UDP and TCP, until
//! shutdown.

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::forward::{Transport, Upstreams};
use crate::handle::Handler;
use crate::options::DnsOptions;
use crate::records::{Records, Zone};
use crate::wire::MAX_MESSAGE;

/// UDP queries answered at once; more are dropped (the client retries).
const MAX_UDP_IN_FLIGHT: usize = 1024;

/// TCP connections served at once; more are closed on accept.
const MAX_TCP_CONNECTIONS: usize = 256;

/// How long a TCP connection may wait between queries, and for the rest of
/// a query or the reply's delivery, before it is closed.
const TCP_IDLE_TIMEOUT: Duration = Duration::from_secs(8);
const TCP_IO_TIMEOUT: Duration = Duration::from_secs(2);

/// How often a port-0 listen address is retried when the port the UDP
/// socket got is taken for TCP.
const PORT_ZERO_ATTEMPTS: usize = 16;

/// A pause after a failed accept or receive, so that a persistent error
/// (out of file descriptors) does not spin.
const ERROR_PAUSE: Duration = Duration::from_millis(10);

/// The cluster DNS server: bound, ready to serve.
pub struct Dns {
    udp: Vec<UdpSocket>,
    tcp: Vec<TcpListener>,
    local_addrs: Vec<SocketAddr>,
    zone: Arc<Zone>,
    upstreams: Upstreams,
}

impl Dns {
    /// Binds every listen address (UDP and TCP) at once so a taken port is reported now, as an error string
    /// naming the address.
    pub async fn bind(options: DnsOptions) -> Result<Dns, String> {
        if options.listen.is_empty() {
            return Err("the DNS server has no address to listen on".to_string());
        }
        let mut udp = Vec::new();
        let mut tcp = Vec::new();
        let mut local_addrs = Vec::new();
        for address in &options.listen {
            let (udp_socket, tcp_listener, bound) = bind_both(*address).await?;
            udp.push(udp_socket);
            tcp.push(tcp_listener);
            local_addrs.push(bound);
        }
        let host_ips = if local_addrs
            .iter()
            .any(|address| address.ip().is_unspecified())
        {
            host_ips()
        } else {
            Vec::new()
        };
        let mut zone_ips: Vec<IpAddr> = Vec::new();
        for address in &local_addrs {
            if address.ip().is_unspecified() {
                zone_ips.extend(host_ips.iter().filter(|ip| !ip.is_loopback()));
            } else {
                zone_ips.push(address.ip());
            }
        }
        zone_ips.sort();
        zone_ips.dedup();
        let zone = Arc::new(Zone::new(&options.cluster_domain, zone_ips)?);
        let upstreams = Upstreams::new(&options.upstream, &local_addrs, &host_ips);
        if upstreams.servers().is_empty() {
            tracing::warn!(
                "the DNS server has no upstream resolvers: names outside the cluster will fail"
            );
        }
        Ok(Dns {
            udp,
            tcp,
            local_addrs,
            zone,
            upstreams,
        })
    }

    /// The bound addresses (useful with port 0).
    pub fn local_addrs(&self) -> Vec<std::net::SocketAddr> {
        self.local_addrs.clone()
    }

    /// Watches Services and EndpointSlices (all namespaces) through `client` with kube reflectors and answers
    /// queries until `shutdown` completes.
    ///
    /// Namespaces are watched too: like CoreDNS, names under a namespace
    /// exist once the Namespace does, Services or not.
    pub async fn serve(
        self,
        client: kube::Client,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) {
        let (publish, records) = watch::channel(Arc::new(Records::unsynced(self.zone.clone())));
        let zone = self.zone.clone();
        let follow = async move {
            crate::watch::follow_cluster(client, zone, publish).await;
            // Watch streams do not end; should one, keep answering from the
            // last snapshot rather than stop the server.
            tracing::error!("the DNS watches ended; records are no longer updated");
            std::future::pending::<()>().await;
        };
        tokio::select! {
            () = follow => {}
            () = self.serve_records(records, shutdown) => {}
        }
    }

    /// Answers queries from whatever snapshots `records` is given, until
    /// `shutdown` completes: `serve` without the watches.
    pub(crate) async fn serve_records(
        self,
        records: watch::Receiver<Arc<Records>>,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) {
        tracing::info!(addresses = ?self.local_addrs, zone = %self.zone.origin(), upstreams = ?self.upstreams.servers(), "serving DNS");
        let handler = Arc::new(Handler::new(records, self.upstreams));
        let mut servers = JoinSet::new();
        for socket in self.udp {
            servers.spawn(serve_udp(socket, handler.clone()));
        }
        for listener in self.tcp {
            servers.spawn(serve_tcp(listener, handler.clone()));
        }
        tokio::select! {
            () = shutdown => {}
            Some(ended) = servers.join_next() => {
                // Servers loop forever; only a panic ends one.
                tracing::error!(?ended, "a DNS server task ended");
            }
        }
        // Aborting the servers drops their sockets and every query and
        // connection task they own.
        servers.shutdown().await;
        tracing::info!("DNS server stopped");
    }
}

/// A UDP socket and a TCP listener on `address`, on the same port when it
/// asks for port 0.
async fn bind_both(address: SocketAddr) -> Result<(UdpSocket, TcpListener, SocketAddr), String> {
    let attempts = if address.port() == 0 {
        PORT_ZERO_ATTEMPTS
    } else {
        1
    };
    let mut last_error = String::new();
    for _ in 0..attempts {
        let udp = UdpSocket::bind(address)
            .await
            .map_err(|error| format!("cannot listen on {address} (UDP): {error}"))?;
        let bound = udp
            .local_addr()
            .map_err(|error| format!("cannot listen on {address} (UDP): {error}"))?;
        match TcpListener::bind(bound).await {
            Ok(tcp) => return Ok((udp, tcp, bound)),
            Err(error) => last_error = format!("cannot listen on {address} (TCP): {error}"),
        }
    }
    Err(last_error)
}

/// The host's interface addresses; loopback answers for a wildcard listen
/// address too.
fn host_ips() -> Vec<IpAddr> {
    match if_addrs::get_if_addrs() {
        Ok(interfaces) => interfaces.iter().map(|interface| interface.ip()).collect(),
        Err(error) => {
            tracing::warn!(%error, "cannot list the host's addresses");
            Vec::new()
        }
    }
}

async fn serve_udp(socket: UdpSocket, handler: Arc<Handler>) {
    let socket = Arc::new(socket);
    let mut in_flight = JoinSet::new();
    let mut buffer = vec![0; MAX_MESSAGE];
    loop {
        let received = socket.recv_from(&mut buffer).await;
        while let Some(done) = in_flight.try_join_next() {
            if let Err(error) = done {
                tracing::error!(%error, "a UDP query task failed");
            }
        }
        let (length, peer) = match received {
            Ok(received) => received,
            Err(error) => {
                tracing::debug!(%error, "UDP receive failed");
                tokio::time::sleep(ERROR_PAUSE).await;
                continue;
            }
        };
        if in_flight.len() >= MAX_UDP_IN_FLIGHT {
            tracing::debug!(%peer, "too many UDP queries in flight; dropping one");
            continue;
        }
        let packet = buffer[..length].to_vec();
        let (socket, handler) = (socket.clone(), handler.clone());
        in_flight.spawn(async move {
            let Some(reply) = handler.handle(&packet, Transport::Udp, peer).await else {
                return;
            };
            if let Err(error) = socket.send_to(&reply, peer).await {
                tracing::debug!(%peer, %error, "cannot send a UDP reply");
            }
        });
    }
}

async fn serve_tcp(listener: TcpListener, handler: Arc<Handler>) {
    let mut connections = JoinSet::new();
    loop {
        let accepted = listener.accept().await;
        while let Some(done) = connections.try_join_next() {
            if let Err(error) = done {
                tracing::error!(%error, "a TCP connection task failed");
            }
        }
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(error) => {
                tracing::debug!(%error, "TCP accept failed");
                tokio::time::sleep(ERROR_PAUSE).await;
                continue;
            }
        };
        if connections.len() >= MAX_TCP_CONNECTIONS {
            tracing::debug!(%peer, "too many TCP connections; closing one");
            continue;
        }
        connections.spawn(serve_connection(stream, peer, handler.clone()));
    }
}

/// Answers the length-prefixed queries of one connection in turn, until the
/// client closes it, idles, or sends what cannot be answered.
async fn serve_connection(mut stream: TcpStream, peer: SocketAddr, handler: Arc<Handler>) {
    loop {
        let Ok(Ok(length)) = tokio::time::timeout(TCP_IDLE_TIMEOUT, stream.read_u16()).await else {
            return;
        };
        let mut packet = vec![0; usize::from(length)];
        let Ok(Ok(_)) = tokio::time::timeout(TCP_IO_TIMEOUT, stream.read_exact(&mut packet)).await
        else {
            return;
        };
        let Some(reply) = handler.handle(&packet, Transport::Tcp, peer).await else {
            tracing::debug!(%peer, "closing a TCP connection that sent no query");
            return;
        };
        let Ok(reply_length) = u16::try_from(reply.len()) else {
            return;
        };
        let mut framed = Vec::with_capacity(reply.len() + 2);
        framed.extend_from_slice(&reply_length.to_be_bytes());
        framed.extend_from_slice(&reply);
        let Ok(Ok(())) = tokio::time::timeout(TCP_IO_TIMEOUT, stream.write_all(&framed)).await
        else {
            return;
        };
    }
}

#[cfg(test)]
mod tests;
