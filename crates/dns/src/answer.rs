//! A query message in, what to do with it out: names in the cluster zone
//! answered from a [`Records`] snapshot, reverse names of cluster addresses
//! answered, everything else handed to the upstream resolvers (CoreDNS's
//! `kubernetes cluster.local in-addr.arpa ip6.arpa { fallthrough in-addr.arpa
//! ip6.arpa }` followed by `forward`).

use std::net::IpAddr;

use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::rdata::{A, AAAA, CNAME, NS, PTR, SOA, SRV, TXT};
use hickory_proto::rr::{Name, RData, Record, RecordType};

use crate::lookup::{lookup, Host, Node, Target};
use crate::records::{lowercase_labels, Records, TTL};
use crate::reverse::{self, ReverseName};

/// The UDP payload size this server advertises in its EDNS replies (the
/// DNS flag day 2020 value).
const EDNS_PAYLOAD: u16 = 1232;

/// The DNS schema version of the Kubernetes DNS specification, and its TTL.
const SCHEMA_VERSION: &str = "1.1.0";
const SCHEMA_VERSION_TTL: u32 = 28800;

/// How many CNAMEs inside the zone are followed before giving up.
const MAX_CNAME_CHAIN: usize = 8;

/// SOA timers, as CoreDNS writes them.
const SOA_REFRESH: i32 = 7200;
const SOA_RETRY: i32 = 1800;
const SOA_EXPIRE: i32 = 86400;

/// What to do with a query.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// Send this reply.
    Reply(Message),
    /// `reply` ends in a CNAME to `target`, a name outside the zone: ask the
    /// upstream resolvers for `target` and add their answers, as CoreDNS
    /// completes an ExternalName.
    Chase {
        reply: Message,
        target: Name,
        query_type: RecordType,
    },
    /// Not the cluster's: ask the upstream resolvers.
    Forward,
    /// Not a query: no reply at all.
    Drop,
}

/// Decides what to do with `query` given the zone's contents.
pub(crate) fn answer(records: &Records, query: &Message) -> Outcome {
    if query.message_type() != MessageType::Query {
        return Outcome::Drop;
    }
    if query.op_code() != OpCode::Query {
        return Outcome::Reply(error_reply(query, ResponseCode::NotImp));
    }
    let [question] = query.queries() else {
        return Outcome::Reply(error_reply(query, ResponseCode::FormErr));
    };
    if query
        .extensions()
        .as_ref()
        .is_some_and(|edns| edns.version() > 0)
    {
        return Outcome::Reply(error_reply(query, ResponseCode::BADVERS));
    }
    let labels = lowercase_labels(question.name());
    if let Some(relative) = records.zone().relative(&labels) {
        return zone_answer(records, query, question, relative);
    }
    match reverse::classify(&labels) {
        ReverseName::Address(ip) if question.query_type() == RecordType::PTR => {
            reverse_answer(records, query, question, ip)
        }
        // What the cluster does not know, the host's resolvers may.
        _ => Outcome::Forward,
    }
}

/// The reply skeleton to `query`: same id, opcode, RD and CD, the question,
/// and an OPT record if the query had one.
pub(crate) fn reply_to(query: &Message) -> Message {
    let mut reply = Message::new();
    reply
        .set_id(query.id())
        .set_message_type(MessageType::Response)
        .set_op_code(query.op_code())
        .set_recursion_desired(query.recursion_desired())
        .set_checking_disabled(query.checking_disabled());
    reply.add_queries(query.queries().iter().cloned());
    if let Some(asked) = query.extensions() {
        let mut edns = Edns::new();
        edns.set_max_payload(EDNS_PAYLOAD)
            .set_version(0)
            .set_dnssec_ok(asked.flags().dnssec_ok);
        reply.set_edns(edns);
    }
    reply
}

/// A reply with `code` and nothing else.
pub(crate) fn error_reply(query: &Message, code: ResponseCode) -> Message {
    let mut reply = reply_to(query);
    reply.set_response_code(code);
    reply
}

/// What an answer for a name in the zone collects.
#[derive(Default)]
struct Found {
    answers: Vec<Record>,
    additionals: Vec<Record>,
    /// A CNAME target outside the zone still to be resolved.
    chase: Option<Name>,
}

impl Found {
    fn add_answer(&mut self, record: Record) {
        if !self.answers.contains(&record) {
            self.answers.push(record);
        }
    }

    fn add_additional(&mut self, record: Record) {
        if !self.additionals.contains(&record) {
            self.additionals.push(record);
        }
    }
}

fn zone_answer(
    records: &Records,
    query: &Message,
    question: &Query,
    relative: &[String],
) -> Outcome {
    // Until the watches have listed once, a missing name may just not be
    // known yet: fail rather than deny (CoreDNS does the same).
    if !records.synced() {
        return Outcome::Reply(error_reply(query, ResponseCode::ServFail));
    }
    let mut reply = reply_to(query);
    reply.set_authoritative(true);
    let query_type = question.query_type();
    if matches!(query_type, RecordType::AXFR | RecordType::IXFR) {
        reply.set_response_code(ResponseCode::Refused);
        return Outcome::Reply(reply);
    }
    let mut found = Found::default();
    if !resolve(
        records,
        question.name(),
        relative,
        query_type,
        &mut found,
        0,
    ) {
        reply.set_response_code(ResponseCode::NXDomain);
        reply.add_name_server(soa(records));
        return Outcome::Reply(reply);
    }
    if found.answers.is_empty() {
        reply.add_name_server(soa(records));
    }
    reply.add_answers(found.answers);
    reply.add_additionals(found.additionals);
    match found.chase {
        Some(target) => Outcome::Chase {
            reply,
            target,
            query_type,
        },
        None => Outcome::Reply(reply),
    }
}

/// Adds the records of `name` (in the zone, `relative` its labels in front
/// of it) to `found`; false if the name does not exist.
fn resolve(
    records: &Records,
    name: &Name,
    relative: &[String],
    query_type: RecordType,
    found: &mut Found,
    depth: usize,
) -> bool {
    match lookup(records, name, relative) {
        Node::Missing => return false,
        Node::Empty => {}
        Node::Apex => match query_type {
            RecordType::SOA => found.add_answer(soa(records)),
            RecordType::NS => {
                for (server, ip) in records.nameservers() {
                    found.add_answer(record(name, TTL, RData::NS(NS(server.clone()))));
                    found.add_additional(address_record(server, *ip));
                }
            }
            _ => {}
        },
        Node::NameServer => {
            for (_, ip) in records.nameservers() {
                if address_type(*ip) == query_type {
                    found.add_answer(address_record(name, *ip));
                }
            }
        }
        Node::SchemaVersion => {
            if query_type == RecordType::TXT {
                let text = RData::TXT(TXT::new(vec![SCHEMA_VERSION.to_string()]));
                found.add_answer(record(name, SCHEMA_VERSION_TTL, text));
            }
        }
        Node::Targets(targets) => add_targets(records, name, query_type, &targets, found, depth),
    }
    true
}

fn add_targets(
    records: &Records,
    name: &Name,
    query_type: RecordType,
    targets: &[Target],
    found: &mut Found,
    depth: usize,
) {
    let aliases: Vec<&Name> = targets
        .iter()
        .filter_map(|target| match &target.host {
            Host::Alias(alias) => Some(alias),
            Host::Ip(_) => None,
        })
        .collect();
    if !aliases.is_empty() {
        // A CNAME stands for every type at its name.
        for alias in aliases {
            add_alias(records, name, alias, query_type, found, depth);
        }
        return;
    }
    match query_type {
        RecordType::A | RecordType::AAAA => {
            for target in targets {
                if let Host::Ip(ip) = target.host {
                    if address_type(ip) == query_type {
                        found.add_answer(address_record(name, ip));
                    }
                }
            }
        }
        RecordType::SRV => add_services(name, targets, found),
        _ => {}
    }
}

/// The CNAME `name` → `alias`, followed inside the zone or left to the
/// upstream resolvers.
fn add_alias(
    records: &Records,
    name: &Name,
    alias: &Name,
    query_type: RecordType,
    found: &mut Found,
    depth: usize,
) {
    if alias == name {
        return;
    }
    found.add_answer(record(name, TTL, RData::CNAME(CNAME(alias.clone()))));
    if query_type == RecordType::CNAME || depth >= MAX_CNAME_CHAIN {
        return;
    }
    let labels = lowercase_labels(alias);
    match records.zone().relative(&labels) {
        Some(relative) => {
            resolve(records, alias, relative, query_type, found, depth + 1);
        }
        None => found.chase = Some(alias.clone()),
    }
}

/// SRV records of the targets with a port, their addresses in the
/// additional section; weights split 100 between them, as CoreDNS does.
fn add_services(name: &Name, targets: &[Target], found: &mut Found) {
    let share = u16::try_from(100 / targets.len().max(1))
        .unwrap_or(1)
        .max(1);
    for target in targets {
        let (Host::Ip(ip), Some(port)) = (&target.host, target.port) else {
            continue;
        };
        let srv = SRV::new(0, share, port, target.domain.clone());
        found.add_answer(record(name, TTL, RData::SRV(srv)));
        found.add_additional(address_record(&target.domain, *ip));
    }
}

fn reverse_answer(records: &Records, query: &Message, question: &Query, ip: IpAddr) -> Outcome {
    let names = records.reverse(&ip);
    if names.is_empty() {
        return Outcome::Forward;
    }
    let mut reply = reply_to(query);
    reply.set_authoritative(true);
    for target in names {
        reply.add_answer(record(
            question.name(),
            TTL,
            RData::PTR(PTR(target.clone())),
        ));
    }
    Outcome::Reply(reply)
}

/// The zone's SOA record, as CoreDNS writes it.
fn soa(records: &Records) -> Record {
    let origin = records.zone().origin();
    let prefixed = |prefix: &str| {
        records
            .zone()
            .name(prefix)
            .unwrap_or_else(|| origin.clone())
    };
    let soa = SOA::new(
        prefixed("ns.dns"),
        prefixed("hostmaster"),
        records.serial(),
        SOA_REFRESH,
        SOA_RETRY,
        SOA_EXPIRE,
        TTL,
    );
    record(origin, TTL, RData::SOA(soa))
}

fn record(name: &Name, ttl: u32, data: RData) -> Record {
    Record::from_rdata(name.clone(), ttl, data)
}

fn address_record(name: &Name, ip: IpAddr) -> Record {
    let data = match ip {
        IpAddr::V4(v4) => RData::A(A(v4)),
        IpAddr::V6(v6) => RData::AAAA(AAAA(v6)),
    };
    record(name, TTL, data)
}

fn address_type(ip: IpAddr) -> RecordType {
    match ip {
        IpAddr::V4(_) => RecordType::A,
        IpAddr::V6(_) => RecordType::AAAA,
    }
}

#[cfg(test)]
mod tests;
