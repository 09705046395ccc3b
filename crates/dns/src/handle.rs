//! One query from bytes to reply bytes: decode, answer from the current
//! snapshot, ask the upstream resolvers where needed, and size the reply
//! for the transport. Shared by the UDP and TCP servers.

use std::net::SocketAddr;
use std::sync::Arc;

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::{Name, RecordType};
use tokio::sync::watch;

use crate::answer::{answer, error_reply, Outcome};
use crate::forward::{Transport, Upstreams};
use crate::records::Records;
use crate::wire::{self, MAX_MESSAGE};

/// Answers queries from the latest snapshot of the zone.
pub(crate) struct Handler {
    records: watch::Receiver<Arc<Records>>,
    upstreams: Upstreams,
}

impl Handler {
    pub(crate) fn new(records: watch::Receiver<Arc<Records>>, upstreams: Upstreams) -> Handler {
        Handler { records, upstreams }
    }

    /// The reply to `packet` from `peer`, or `None` when there is none to
    /// give (not even a readable header, or not a query).
    pub(crate) async fn handle(
        &self,
        packet: &[u8],
        transport: Transport,
        peer: SocketAddr,
    ) -> Option<Vec<u8>> {
        let query = match Message::from_vec(packet) {
            Ok(query) => query,
            Err(error) => {
                tracing::debug!(%peer, %transport, %error, "unreadable query");
                return wire::format_error(packet);
            }
        };
        let limit = match transport {
            Transport::Udp => wire::udp_limit(&query),
            Transport::Tcp => MAX_MESSAGE,
        };
        if let Some(question) = query.query() {
            tracing::debug!(
                %peer,
                %transport,
                name = %question.name(),
                query_type = %question.query_type(),
                "query"
            );
        }
        // The snapshot is cloned out so that no lock is held while waiting
        // on upstreams.
        let records = Arc::clone(&self.records.borrow());
        let reply = match answer(&records, &query) {
            Outcome::Drop => return None,
            Outcome::Reply(reply) => reply,
            Outcome::Forward => return self.forward(packet, &query, transport, limit).await,
            Outcome::Chase {
                reply,
                target,
                query_type,
            } => self.chase(reply, &target, query_type, transport).await,
        };
        encode_or_fail(&reply, &query, limit)
    }

    /// The upstream's reply to `packet`, or SERVFAIL.
    async fn forward(
        &self,
        packet: &[u8],
        query: &Message,
        transport: Transport,
        limit: usize,
    ) -> Option<Vec<u8>> {
        let question = query.query()?;
        match self.upstreams.exchange(packet, question, transport).await {
            Some(reply) if reply.len() <= limit => Some(reply),
            // Bigger than the client said it takes: cut down like our own.
            Some(reply) => match Message::from_vec(&reply) {
                Ok(reply) => encode_or_fail(&reply, query, limit),
                Err(_) => {
                    let mut truncated = error_reply(query, ResponseCode::NoError);
                    truncated.set_truncated(true);
                    wire::encode(&truncated, limit)
                }
            },
            None => wire::encode(&error_reply(query, ResponseCode::ServFail), limit),
        }
    }

    /// Completes a CNAME to a name outside the zone with the upstreams'
    /// answers for it; left as the bare CNAME if they have none.
    async fn chase(
        &self,
        mut reply: Message,
        target: &Name,
        query_type: RecordType,
        transport: Transport,
    ) -> Message {
        if let Some(upstream) = self.upstreams.resolve(target, query_type, transport).await {
            if upstream.truncated() {
                reply.set_truncated(true);
            }
            reply.add_answers(upstream.answers().iter().cloned());
        }
        reply
    }
}

/// `reply` within `limit` bytes, or SERVFAIL if it cannot be written.
fn encode_or_fail(reply: &Message, query: &Message, limit: usize) -> Option<Vec<u8>> {
    wire::encode(reply, limit).or_else(|| {
        tracing::warn!(?reply, "cannot encode a reply");
        wire::encode(&error_reply(query, ResponseCode::ServFail), limit)
    })
}
