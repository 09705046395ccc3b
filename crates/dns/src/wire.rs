//! Messages to and from bytes: replies sized to what the client can take,
//! and the FORMERR reply to a query that cannot be read.

use hickory_proto::op::{Header, Message, MessageType, ResponseCode};
use hickory_proto::rr::Record;
use hickory_proto::serialize::binary::{BinDecodable, BinDecoder, BinEncodable, BinEncoder};

/// The largest DNS message: what TCP's two-byte length can carry.
pub(crate) const MAX_MESSAGE: usize = u16::MAX as usize;

/// The largest UDP reply `query`'s sender takes: its EDNS payload size, or
/// 512 bytes without EDNS.
pub(crate) fn udp_limit(query: &Message) -> usize {
    usize::from(query.max_payload())
}

/// `reply` as bytes of at most `limit`. When it does not fit, it keeps as
/// many answer, then authority, then additional records as fit, and sets
/// TC so the client retries over TCP (what CoreDNS's `Truncate` does); the
/// question and OPT record always stay. `None` if the message cannot be
/// written at all.
pub(crate) fn encode(reply: &Message, limit: usize) -> Option<Vec<u8>> {
    let full = reply.to_vec().ok()?;
    if full.len() <= limit {
        return Some(full);
    }
    let mut kept = reply.clone();
    let sections = [
        (Section::Answer, kept.take_answers()),
        (Section::Authority, kept.take_name_servers()),
        (Section::Additional, kept.take_additionals()),
    ];
    kept.set_truncated(true);
    for (section, records) in &sections {
        let fitting = largest_fitting(&kept, *section, records, limit)?;
        section.add(&mut kept, &records[..fitting]);
        if fitting < records.len() {
            break;
        }
    }
    kept.to_vec().ok()
}

#[derive(Clone, Copy)]
enum Section {
    Answer,
    Authority,
    Additional,
}

impl Section {
    fn add(self, message: &mut Message, records: &[Record]) {
        let records = records.iter().cloned();
        match self {
            Section::Answer => message.add_answers(records),
            Section::Authority => message.add_name_servers(records),
            Section::Additional => message.add_additionals(records),
        };
    }
}

/// How many of `records`, added to `section` of `message`, fit in `limit`
/// bytes, found by bisection.
fn largest_fitting(
    message: &Message,
    section: Section,
    records: &[Record],
    limit: usize,
) -> Option<usize> {
    let (mut fits, mut too_many) = (0, records.len() + 1);
    while too_many - fits > 1 {
        let middle = fits + (too_many - fits) / 2;
        let mut candidate = message.clone();
        section.add(&mut candidate, &records[..middle]);
        if candidate.to_vec().ok()?.len() <= limit {
            fits = middle;
        } else {
            too_many = middle;
        }
    }
    Some(fits)
}

/// The FORMERR reply to bytes that are no readable query but start with a
/// query header; `None` when there is nothing to reply to (too short, or a
/// response, which must never be answered).
pub(crate) fn format_error(packet: &[u8]) -> Option<Vec<u8>> {
    let header = Header::read(&mut BinDecoder::new(packet)).ok()?;
    if header.message_type() != MessageType::Query {
        return None;
    }
    let mut reply = Header::response_from_request(&header);
    reply.set_response_code(ResponseCode::FormErr);
    let mut bytes = Vec::with_capacity(Header::len());
    reply.emit(&mut BinEncoder::new(&mut bytes)).ok()?;
    Some(bytes)
}

/// The message id of a DNS message (its first two bytes).
pub(crate) fn message_id(packet: &[u8]) -> Option<u16> {
    let bytes = packet.get(..2)?;
    Some(u16::from_be_bytes([bytes[0], bytes[1]]))
}

/// Overwrites the message id of a DNS message.
pub(crate) fn set_message_id(packet: &mut [u8], id: u16) {
    if let Some(bytes) = packet.get_mut(..2) {
        bytes.copy_from_slice(&id.to_be_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::op::{Edns, Query};
    use hickory_proto::rr::rdata::A;
    use hickory_proto::rr::{Name, RData, Record, RecordType};
    use std::net::Ipv4Addr;

    fn reply_with(answers: usize, additionals: usize) -> Message {
        let name = Name::from_ascii("web.default.svc.cluster.local.").unwrap();
        let mut reply = Message::new();
        reply
            .set_id(7)
            .set_message_type(MessageType::Response)
            .add_query(Query::query(name.clone(), RecordType::A));
        for i in 0..answers {
            let ip = Ipv4Addr::from(0x0a00_0000 + i as u32);
            reply.add_answer(Record::from_rdata(name.clone(), 5, RData::A(A(ip))));
        }
        for i in 0..additionals {
            let ip = Ipv4Addr::from(0x0b00_0000 + i as u32);
            reply.add_additional(Record::from_rdata(name.clone(), 5, RData::A(A(ip))));
        }
        reply
    }

    #[test]
    fn small_replies_are_untouched() {
        let reply = reply_with(3, 1);
        assert_eq!(encode(&reply, 512).unwrap(), reply.to_vec().unwrap());
    }

    #[test]
    fn additionals_that_do_not_fit_are_dropped_with_tc() {
        let reply = reply_with(10, 40);
        let bytes = encode(&reply, 512).unwrap();
        assert!(bytes.len() <= 512);
        let decoded = Message::from_vec(&bytes).unwrap();
        assert!(decoded.truncated());
        assert_eq!(decoded.answers().len(), 10);
        assert!(!decoded.additionals().is_empty() && decoded.additionals().len() < 40);
    }

    #[test]
    fn too_many_answers_are_truncated_with_tc() {
        let mut reply = reply_with(100, 0);
        reply.set_edns(Edns::new());
        let bytes = encode(&reply, 512).unwrap();
        assert!(bytes.len() <= 512, "{} bytes", bytes.len());
        let decoded = Message::from_vec(&bytes).unwrap();
        assert!(decoded.truncated());
        assert!(!decoded.answers().is_empty() && decoded.answers().len() < 100);
        assert!(decoded.extensions().is_some(), "the OPT record stays");
        // Every answer kept fits, and one more would not.
        let mut more = decoded.clone();
        more.add_answer(reply.answers()[decoded.answers().len()].clone());
        assert!(more.to_vec().unwrap().len() > 512);
    }

    #[test]
    fn format_errors() {
        let mut query = Message::new();
        query.set_id(0x1234).set_recursion_desired(true);
        let mut bytes = query.to_vec().unwrap();
        bytes[5] = 1; // claims a question that is not there
        assert!(Message::from_vec(&bytes).is_err());
        let reply = Message::from_vec(&format_error(&bytes).unwrap()).unwrap();
        assert_eq!(reply.id(), 0x1234);
        assert_eq!(reply.response_code(), ResponseCode::FormErr);
        assert_eq!(reply.message_type(), MessageType::Response);
        assert!(reply.recursion_desired());

        assert_eq!(format_error(&[1, 2, 3]), None);
        let mut response = Message::new();
        response.set_message_type(MessageType::Response);
        assert_eq!(format_error(&response.to_vec().unwrap()), None);
    }

    #[test]
    fn message_ids() {
        let mut bytes = vec![0x12, 0x34, 0];
        assert_eq!(message_id(&bytes), Some(0x1234));
        set_message_id(&mut bytes, 0xabcd);
        assert_eq!(bytes, vec![0xab, 0xcd, 0]);
        assert_eq!(message_id(&[1]), None);
        set_message_id(&mut [1], 2);
    }
}
