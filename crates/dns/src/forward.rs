//! The upstream resolvers: what the cluster does not own is asked of the
//! host's resolvers, each in turn, over the transport the client used
//! (CoreDNS's `forward . /etc/resolv.conf`).

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hickory_proto::op::{Edns, Header, Message, MessageType, Query};
use hickory_proto::rr::{Name, RecordType};
use hickory_proto::serialize::binary::{BinDecodable, BinDecoder};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

use crate::wire::{self, MAX_MESSAGE};

/// How long one upstream gets to answer before the next is tried.
const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(2);

/// The UDP payload size asked for in queries this server makes itself.
const EDNS_PAYLOAD: u16 = 1232;

/// How a query reached this server, and so how it is passed on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Transport {
    Udp,
    Tcp,
}

impl std::fmt::Display for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Transport::Udp => "udp",
            Transport::Tcp => "tcp",
        })
    }
}

/// The resolvers names outside the cluster go to.
#[derive(Clone, Debug)]
pub(crate) struct Upstreams {
    servers: Vec<SocketAddr>,
    timeout: Duration,
}

impl Upstreams {
    /// `configured` without this server's own addresses, which would send
    /// queries round in a loop: the addresses it listens on (`own`), and
    /// when it listens on a wildcard address, any of the host's addresses
    /// (`host_ips`) or loopback on that port.
    pub(crate) fn new(
        configured: &[SocketAddr],
        own: &[SocketAddr],
        host_ips: &[IpAddr],
    ) -> Upstreams {
        let loops = |upstream: &SocketAddr| {
            own.iter().any(|listen| {
                listen.port() == upstream.port()
                    && (listen.ip() == upstream.ip()
                        || (listen.ip().is_unspecified()
                            && (upstream.ip().is_loopback() || host_ips.contains(&upstream.ip()))))
            })
        };
        let mut servers = Vec::new();
        for upstream in configured {
            if loops(upstream) {
                tracing::warn!(%upstream, "not forwarding to an upstream resolver that is this DNS server");
            } else if !servers.contains(upstream) {
                servers.push(*upstream);
            }
        }
        Upstreams {
            servers,
            timeout: UPSTREAM_TIMEOUT,
        }
    }

    pub(crate) fn servers(&self) -> &[SocketAddr] {
        &self.servers
    }

    /// Asks each upstream in turn for `query` (whose question is
    /// `question`) until one answers; the reply carries `query`'s id.
    /// `None` when none answers.
    pub(crate) async fn exchange(
        &self,
        query: &[u8],
        question: &Query,
        transport: Transport,
    ) -> Option<Vec<u8>> {
        let client_id = wire::message_id(query)?;
        for server in &self.servers {
            let id = random_id();
            let mut packet = query.to_vec();
            wire::set_message_id(&mut packet, id);
            let attempt = async {
                match transport {
                    Transport::Udp => ask_over_udp(*server, &packet, id, question).await,
                    Transport::Tcp => ask_over_tcp(*server, &packet, id, question).await,
                }
            };
            match tokio::time::timeout(self.timeout, attempt).await {
                Ok(Ok(mut reply)) => {
                    wire::set_message_id(&mut reply, client_id);
                    return Some(reply);
                }
                Ok(Err(error)) => {
                    tracing::debug!(upstream = %server, %transport, %error, "upstream resolver failed")
                }
                Err(_) => {
                    tracing::debug!(upstream = %server, %transport, "upstream resolver timed out")
                }
            }
        }
        tracing::warn!(
            name = %question.name(),
            query_type = %question.query_type(),
            upstreams = ?self.servers,
            "no upstream resolver answered"
        );
        None
    }

    /// Asks the upstreams for `name`'s `query_type` records, recursively.
    pub(crate) async fn resolve(
        &self,
        name: &Name,
        query_type: RecordType,
        transport: Transport,
    ) -> Option<Message> {
        let question = Query::query(name.clone(), query_type);
        let mut query = Message::new();
        query
            .set_message_type(MessageType::Query)
            .set_recursion_desired(true)
            .add_query(question.clone());
        if transport == Transport::Udp {
            let mut edns = Edns::new();
            edns.set_max_payload(EDNS_PAYLOAD);
            query.set_edns(edns);
        }
        let reply = self
            .exchange(&query.to_vec().ok()?, &question, transport)
            .await?;
        Message::from_vec(&reply).ok()
    }
}

async fn ask_over_udp(
    server: SocketAddr,
    packet: &[u8],
    id: u16,
    question: &Query,
) -> Result<Vec<u8>, String> {
    let any: IpAddr = match server {
        SocketAddr::V4(_) => Ipv4Addr::UNSPECIFIED.into(),
        SocketAddr::V6(_) => Ipv6Addr::UNSPECIFIED.into(),
    };
    let socket = UdpSocket::bind((any, 0))
        .await
        .map_err(|e| format!("bind: {e}"))?;
    // Connected, so only the upstream's datagrams arrive (and an ICMP
    // "port unreachable" fails fast).
    socket
        .connect(server)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    socket
        .send(packet)
        .await
        .map_err(|e| format!("send: {e}"))?;
    let mut buffer = vec![0; MAX_MESSAGE];
    loop {
        let length = socket
            .recv(&mut buffer)
            .await
            .map_err(|e| format!("receive: {e}"))?;
        let reply = &buffer[..length];
        if is_reply(reply, id, question) {
            return Ok(reply.to_vec());
        }
        tracing::debug!(upstream = %server, "ignoring a datagram that is not the reply");
    }
}

async fn ask_over_tcp(
    server: SocketAddr,
    packet: &[u8],
    id: u16,
    question: &Query,
) -> Result<Vec<u8>, String> {
    let length = u16::try_from(packet.len()).map_err(|_| "query too long".to_string())?;
    let mut stream = TcpStream::connect(server)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let mut framed = Vec::with_capacity(packet.len() + 2);
    framed.extend_from_slice(&length.to_be_bytes());
    framed.extend_from_slice(packet);
    stream
        .write_all(&framed)
        .await
        .map_err(|e| format!("send: {e}"))?;
    let length = stream
        .read_u16()
        .await
        .map_err(|e| format!("receive: {e}"))?;
    let mut reply = vec![0; usize::from(length)];
    stream
        .read_exact(&mut reply)
        .await
        .map_err(|e| format!("receive: {e}"))?;
    if is_reply(&reply, id, question) {
        Ok(reply)
    } else {
        Err("the reply does not match the query".to_string())
    }
}

/// Whether `packet` is the reply to the query with `id` and `question`:
/// a response with that id, echoing the question (or none, as some servers
/// do on errors).
fn is_reply(packet: &[u8], id: u16, question: &Query) -> bool {
    let mut decoder = BinDecoder::new(packet);
    let Ok(header) = Header::read(&mut decoder) else {
        return false;
    };
    if header.id() != id || header.message_type() != MessageType::Response {
        return false;
    }
    if header.query_count() == 0 {
        return true;
    }
    match Query::read(&mut decoder) {
        Ok(echoed) => {
            echoed.name() == question.name()
                && echoed.query_type() == question.query_type()
                && echoed.query_class() == question.query_class()
        }
        Err(_) => false,
    }
}

/// A fresh message id for each upstream query, so that a reply cannot be
/// guessed from the client's id.
fn random_id() -> u16 {
    // RandomState is seeded randomly per process and varies per instance.
    let mut hasher = RandomState::new().build_hasher();
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.subsec_nanos());
    hasher.write_u32(nanos);
    hasher.finish() as u16
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(text: &str) -> SocketAddr {
        text.parse().unwrap()
    }

    #[test]
    fn own_addresses_are_never_upstreams() {
        let configured = [
            addr("10.0.0.5:53"),
            addr("10.0.0.9:53"),
            addr("10.0.0.5:5353"),
            addr("10.0.0.9:53"),
        ];
        let upstreams = Upstreams::new(&configured, &[addr("10.0.0.5:53")], &[]);
        assert_eq!(
            upstreams.servers(),
            &[addr("10.0.0.9:53"), addr("10.0.0.5:5353")]
        );

        let configured = [
            addr("127.0.0.53:53"),
            addr("10.0.0.5:53"),
            addr("10.0.0.9:53"),
        ];
        let host_ips = ["10.0.0.5".parse().unwrap()];
        let upstreams = Upstreams::new(&configured, &[addr("0.0.0.0:53")], &host_ips);
        assert_eq!(upstreams.servers(), &[addr("10.0.0.9:53")]);
    }

    #[test]
    fn replies_must_match_the_query() {
        let name = Name::from_ascii("example.com.").unwrap();
        let question = Query::query(name.clone(), RecordType::A);
        let mut reply = Message::new();
        reply
            .set_id(9)
            .set_message_type(MessageType::Response)
            .add_query(Query::query(
                Name::from_ascii("EXAMPLE.com.").unwrap(),
                RecordType::A,
            ));
        let bytes = reply.to_vec().unwrap();
        assert!(is_reply(&bytes, 9, &question));
        assert!(!is_reply(&bytes, 10, &question));
        assert!(!is_reply(&bytes, 9, &Query::query(name, RecordType::AAAA)));
        assert!(!is_reply(&bytes[..5], 9, &question));
        reply.set_message_type(MessageType::Query);
        assert!(!is_reply(&reply.to_vec().unwrap(), 9, &question));
    }

    #[tokio::test]
    async fn all_upstreams_failing_gives_none() {
        // A bound socket that never answers, and then a closed port.
        let silent = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let closed = {
            let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
            socket.local_addr().unwrap()
        };
        let mut upstreams = Upstreams::new(&[silent.local_addr().unwrap(), closed], &[], &[]);
        upstreams.timeout = Duration::from_millis(200);
        let question = Query::query(Name::from_ascii("example.com.").unwrap(), RecordType::A);
        let mut query = Message::new();
        query.add_query(question.clone());
        let bytes = query.to_vec().unwrap();
        assert_eq!(
            upstreams.exchange(&bytes, &question, Transport::Udp).await,
            None
        );
        assert_eq!(
            upstreams.exchange(&bytes, &question, Transport::Tcp).await,
            None
        );
    }
}
