use std::sync::Arc;

use hickory_proto::op::{Message, MessageType, OpCode, ResponseCode};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use serde_json::json;

use super::{answer, Outcome};
use crate::records::{Records, Zone, TTL};
use crate::testing::{cluster, cluster_ip, edns_query, ip, query, records, service, slice, zone};

fn reply_of(records: &Records, query: &Message) -> Message {
    match answer(records, query) {
        Outcome::Reply(reply) => reply,
        other => panic!("expected a reply, got {other:?}"),
    }
}

/// The reply to a plain query in the cluster zone, checked for what every
/// such reply has.
fn ask(records: &Records, qname: &str, query_type: RecordType) -> Message {
    let reply = reply_of(records, &query(qname, query_type));
    assert_eq!(reply.id(), 0x5a5a);
    assert_eq!(reply.message_type(), MessageType::Response);
    assert!(
        reply.authoritative(),
        "{qname}: answers in the zone are authoritative"
    );
    assert!(reply.recursion_desired());
    assert!(!reply.truncated());
    assert!(
        reply.extensions().is_none(),
        "no OPT without one in the query"
    );
    reply
}

fn addresses(records: &[Record]) -> Vec<String> {
    let mut found: Vec<String> = records
        .iter()
        .filter_map(|record| match record.data() {
            RData::A(a) => Some(a.0.to_string()),
            RData::AAAA(aaaa) => Some(aaaa.0.to_string()),
            _ => None,
        })
        .collect();
    found.sort();
    found
}

/// (priority, weight, port, target) of the SRV answers, sorted.
fn services(reply: &Message) -> Vec<(u16, u16, u16, String)> {
    let mut found: Vec<_> = reply
        .answers()
        .iter()
        .filter_map(|record| match record.data() {
            RData::SRV(srv) => Some((
                srv.priority(),
                srv.weight(),
                srv.port(),
                srv.target().to_ascii(),
            )),
            _ => None,
        })
        .collect();
    found.sort();
    found
}

fn targets(reply: &Message) -> Vec<String> {
    reply
        .answers()
        .iter()
        .filter_map(|record| match record.data() {
            RData::CNAME(cname) => Some(format!("CNAME {}", cname.0.to_ascii())),
            RData::PTR(ptr) => Some(format!("PTR {}", ptr.0.to_ascii())),
            RData::NS(ns) => Some(format!("NS {}", ns.0.to_ascii())),
            _ => None,
        })
        .collect()
}

/// Asserts a NOERROR reply without answers and with the SOA in authority.
fn assert_no_data(reply: &Message) {
    assert_eq!(reply.response_code(), ResponseCode::NoError);
    assert!(reply.answers().is_empty(), "{:?}", reply.answers());
    assert_soa_authority(reply);
}

fn assert_nxdomain(records: &Records, qname: &str, query_type: RecordType) {
    let reply = ask(records, qname, query_type);
    assert_eq!(reply.response_code(), ResponseCode::NXDomain, "{qname}");
    assert!(reply.answers().is_empty());
    assert_soa_authority(&reply);
}

fn assert_soa_authority(reply: &Message) {
    let [soa] = reply.name_servers() else {
        panic!("expected one SOA in authority: {:?}", reply.name_servers());
    };
    assert_eq!(soa.name().to_ascii(), "cluster.local.");
    assert_eq!(soa.ttl(), TTL);
    let RData::SOA(soa) = soa.data() else {
        panic!("not an SOA: {soa:?}");
    };
    assert_eq!(soa.mname().to_ascii(), "ns.dns.cluster.local.");
    assert_eq!(soa.rname().to_ascii(), "hostmaster.cluster.local.");
    assert_eq!(
        (soa.refresh(), soa.retry(), soa.expire(), soa.minimum()),
        (7200, 1800, 86400, 5)
    );
}

#[test]
fn cluster_ip_services_resolve_to_their_cluster_ips_by_family() {
    let records = cluster();
    let reply = ask(&records, "web.default.svc.cluster.local.", RecordType::A);
    assert_eq!(reply.response_code(), ResponseCode::NoError);
    assert!(!reply.recursion_available());
    assert_eq!(addresses(reply.answers()), ["10.43.0.20"]);
    let [record] = reply.answers() else { panic!() };
    assert_eq!(record.ttl(), TTL);
    assert_eq!(record.name().to_ascii(), "web.default.svc.cluster.local.");
    assert!(reply.name_servers().is_empty());

    let reply = ask(&records, "web.default.svc.cluster.local.", RecordType::AAAA);
    assert_eq!(addresses(reply.answers()), ["fd00:43::20"]);

    // An IPv4-only Service has no AAAA: NODATA.
    let reply = ask(
        &records,
        "kube-dns.kube-system.svc.cluster.local.",
        RecordType::AAAA,
    );
    assert_no_data(&reply);
}

#[test]
fn names_are_case_insensitive_and_keep_the_asked_case() {
    let records = cluster();
    let reply = ask(&records, "Web.DEFAULT.Svc.Cluster.Local.", RecordType::A);
    assert_eq!(addresses(reply.answers()), ["10.43.0.20"]);
    assert_eq!(
        reply.answers()[0].name().to_string(),
        "Web.DEFAULT.Svc.Cluster.Local."
    );
    let reply = ask(
        &records,
        "_HTTP._Tcp.web.default.svc.cluster.local.",
        RecordType::SRV,
    );
    assert_eq!(services(&reply).len(), 1);
}

#[test]
fn headless_services_resolve_to_ready_endpoints_of_all_their_slices() {
    let records = cluster();
    let reply = ask(&records, "db.default.svc.cluster.local.", RecordType::A);
    // 10.42.0.9 is not ready; 10.42.0.8 has no conditions, so counts as ready.
    assert_eq!(addresses(reply.answers()), ["10.42.0.7", "10.42.0.8"]);
    let reply = ask(&records, "db.default.svc.cluster.local.", RecordType::AAAA);
    assert_eq!(addresses(reply.answers()), ["fd00:42::7"]);
}

#[test]
fn publish_not_ready_addresses_publishes_every_endpoint() {
    let records = cluster();
    let reply = ask(&records, "warm.default.svc.cluster.local.", RecordType::A);
    assert_eq!(addresses(reply.answers()), ["10.42.2.1"]);
    let reply = ask(
        &records,
        "warm-0.warm.default.svc.cluster.local.",
        RecordType::A,
    );
    assert_eq!(addresses(reply.answers()), ["10.42.2.1"]);
}

#[test]
fn headless_services_without_endpoints_do_not_exist() {
    // As in CoreDNS: no endpoint matched, so NXDOMAIN.
    assert_nxdomain(
        &cluster(),
        "lonely.default.svc.cluster.local.",
        RecordType::A,
    );
}

#[test]
fn endpoints_resolve_by_hostname_or_dashed_address() {
    let records = cluster();
    let reply = ask(
        &records,
        "db-0.db.default.svc.cluster.local.",
        RecordType::A,
    );
    assert_eq!(addresses(reply.answers()), ["10.42.0.7"]);
    let reply = ask(
        &records,
        "10-42-0-8.db.default.svc.cluster.local.",
        RecordType::A,
    );
    assert_eq!(addresses(reply.answers()), ["10.42.0.8"]);
    let reply = ask(
        &records,
        "db-1.db.default.svc.cluster.local.",
        RecordType::AAAA,
    );
    assert_eq!(addresses(reply.answers()), ["fd00:42::7"]);
    // Endpoints with a hostname are not also named by address; not-ready
    // endpoints are not named at all.
    assert_nxdomain(
        &records,
        "10-42-0-7.db.default.svc.cluster.local.",
        RecordType::A,
    );
    assert_nxdomain(
        &records,
        "db-2.db.default.svc.cluster.local.",
        RecordType::A,
    );
    // CoreDNS names the endpoints of ClusterIP Services too.
    let reply = ask(
        &records,
        "10-42-0-5.web.default.svc.cluster.local.",
        RecordType::A,
    );
    assert_eq!(addresses(reply.answers()), ["10.42.0.5"]);
    // Slices without ports still publish addresses.
    let reply = ask(&records, "bare.default.svc.cluster.local.", RecordType::A);
    assert_eq!(addresses(reply.answers()), ["10.42.3.1"]);
}

#[test]
fn srv_records_of_a_cluster_ip_service_point_at_the_service() {
    let records = cluster();
    let reply = ask(
        &records,
        "_http._tcp.web.default.svc.cluster.local.",
        RecordType::SRV,
    );
    // Weight 100 split between the two ClusterIPs' identical records.
    assert_eq!(
        services(&reply),
        [(0, 50, 80, "web.default.svc.cluster.local.".to_string())]
    );
    assert_eq!(
        addresses(reply.additionals()),
        ["10.43.0.20", "fd00:43::20"]
    );
    assert!(reply
        .additionals()
        .iter()
        .all(|r| r.name().to_ascii() == "web.default.svc.cluster.local."));

    let reply = ask(
        &records,
        "_dns._udp.kube-dns.kube-system.svc.cluster.local.",
        RecordType::SRV,
    );
    assert_eq!(
        services(&reply),
        [(
            0,
            100,
            53,
            "kube-dns.kube-system.svc.cluster.local.".to_string()
        )]
    );
    assert_eq!(addresses(reply.additionals()), ["10.43.0.10"]);

    // The protocol must match too.
    assert_nxdomain(
        &records,
        "_http._udp.web.default.svc.cluster.local.",
        RecordType::SRV,
    );
    assert_nxdomain(
        &records,
        "_nope._tcp.web.default.svc.cluster.local.",
        RecordType::SRV,
    );
    // Address queries on an SRV name answer the Service's addresses.
    let reply = ask(
        &records,
        "_metrics._udp.web.default.svc.cluster.local.",
        RecordType::A,
    );
    assert_eq!(addresses(reply.answers()), ["10.43.0.20"]);
}

#[test]
fn srv_records_of_a_headless_service_point_at_each_endpoint() {
    let records = cluster();
    let reply = ask(
        &records,
        "_pg._tcp.db.default.svc.cluster.local.",
        RecordType::SRV,
    );
    assert_eq!(
        services(&reply),
        [
            (
                0,
                33,
                5432,
                "10-42-0-8.db.default.svc.cluster.local.".to_string()
            ),
            (
                0,
                33,
                5432,
                "db-0.db.default.svc.cluster.local.".to_string()
            ),
            (
                0,
                33,
                15432,
                "db-1.db.default.svc.cluster.local.".to_string()
            ),
        ]
    );
    let glue: Vec<(String, String)> = reply
        .additionals()
        .iter()
        .map(|record| {
            (
                record.name().to_ascii(),
                addresses(std::slice::from_ref(record)).join(""),
            )
        })
        .collect();
    assert!(glue.contains(&(
        "db-0.db.default.svc.cluster.local.".into(),
        "10.42.0.7".into()
    )));
    assert!(glue.contains(&(
        "db-1.db.default.svc.cluster.local.".into(),
        "fd00:42::7".into()
    )));
    assert_eq!(glue.len(), 3);
}

#[test]
fn plain_srv_queries_list_every_port() {
    let records = cluster();
    let reply = ask(&records, "web.default.svc.cluster.local.", RecordType::SRV);
    let ports: Vec<u16> = services(&reply).iter().map(|srv| srv.2).collect();
    assert_eq!(ports, [80, 9090]);
    // A Service without ports has addresses but no SRV records.
    let reply = ask(&records, "bare.default.svc.cluster.local.", RecordType::SRV);
    assert_no_data(&reply);
}

#[test]
fn external_names_are_cnames_for_every_type() {
    let records = cluster();
    let qname = "ext.default.svc.cluster.local.";
    for query_type in [
        RecordType::A,
        RecordType::AAAA,
        RecordType::MX,
        RecordType::SRV,
    ] {
        match answer(&records, &query(qname, query_type)) {
            Outcome::Chase {
                reply,
                target,
                query_type: chased,
            } => {
                assert_eq!(target.to_ascii(), "example.com.");
                assert_eq!(chased, query_type);
                assert!(reply.authoritative());
                assert_eq!(targets(&reply), ["CNAME example.com."]);
                assert!(reply.name_servers().is_empty());
            }
            other => panic!("{query_type}: expected a chase, got {other:?}"),
        }
    }
    // Asked for the CNAME itself, nothing is chased.
    let reply = ask(&records, qname, RecordType::CNAME);
    assert_eq!(targets(&reply), ["CNAME example.com."]);
    assert_eq!(reply.answers()[0].ttl(), TTL);
    // An ExternalName has no ports or endpoints.
    assert_nxdomain(
        &records,
        "_http._tcp.ext.default.svc.cluster.local.",
        RecordType::SRV,
    );
    // CoreDNS ignores IP addresses as external names.
    assert_nxdomain(&records, "by-ip.default.svc.cluster.local.", RecordType::A);
}

#[test]
fn external_names_inside_the_zone_are_followed() {
    let records = cluster();
    let reply = ask(&records, "alias.default.svc.cluster.local.", RecordType::A);
    assert_eq!(targets(&reply), ["CNAME web.default.svc.cluster.local."]);
    assert_eq!(addresses(reply.answers()), ["10.43.0.20"]);
    let address = &reply.answers()[1];
    assert_eq!(address.name().to_ascii(), "web.default.svc.cluster.local.");
}

#[test]
fn cname_loops_end() {
    let services = vec![
        service(
            "default",
            "a",
            json!({"type": "ExternalName", "externalName": "b.default.svc.cluster.local"}),
        ),
        service(
            "default",
            "b",
            json!({"type": "ExternalName", "externalName": "a.default.svc.cluster.local"}),
        ),
        service(
            "default",
            "self",
            json!({"type": "ExternalName", "externalName": "self.default.svc.cluster.local"}),
        ),
    ];
    let records = records(&services, &[], &[]);
    let reply = ask(&records, "a.default.svc.cluster.local.", RecordType::A);
    assert_eq!(
        targets(&reply),
        [
            "CNAME b.default.svc.cluster.local.",
            "CNAME a.default.svc.cluster.local."
        ]
    );
    let reply = ask(&records, "self.default.svc.cluster.local.", RecordType::A);
    assert_no_data(&reply);
}

#[test]
fn pod_names_spell_their_address() {
    let records = cluster();
    let reply = ask(
        &records,
        "10-42-0-99.default.pod.cluster.local.",
        RecordType::A,
    );
    assert_eq!(addresses(reply.answers()), ["10.42.0.99"]);
    // Any existing namespace will do, with or without Services.
    let reply = ask(
        &records,
        "fd00--1.quiet.pod.cluster.local.",
        RecordType::AAAA,
    );
    assert_eq!(addresses(reply.answers()), ["fd00::1"]);
    assert_no_data(&ask(
        &records,
        "fd00--1.quiet.pod.cluster.local.",
        RecordType::A,
    ));
    assert_nxdomain(
        &records,
        "10-42-0-99.missing.pod.cluster.local.",
        RecordType::A,
    );
    assert_nxdomain(
        &records,
        "not-an-ip.default.pod.cluster.local.",
        RecordType::A,
    );
}

#[test]
fn structural_names_exist_without_records() {
    let records = cluster();
    for qname in [
        "cluster.local.",
        "svc.cluster.local.",
        "pod.cluster.local.",
        "default.svc.cluster.local.",
        "quiet.svc.cluster.local.",
        "quiet.pod.cluster.local.",
    ] {
        assert_no_data(&ask(&records, qname, RecordType::A));
    }
    // Existing names asked for a type they lack.
    assert_no_data(&ask(
        &records,
        "web.default.svc.cluster.local.",
        RecordType::MX,
    ));
    assert_no_data(&ask(
        &records,
        "web.default.svc.cluster.local.",
        RecordType::TXT,
    ));
    assert_no_data(&ask(
        &records,
        "web.default.svc.cluster.local.",
        RecordType::PTR,
    ));
}

#[test]
fn missing_names_are_nxdomain_with_the_soa() {
    let records = cluster();
    for qname in [
        "nope.default.svc.cluster.local.",
        "web.missing.svc.cluster.local.",
        "missing.svc.cluster.local.",
        "nope.db.default.svc.cluster.local.",
        "a.b.c.web.default.svc.cluster.local.",
        "web.default.cluster.local.",
        "anything.cluster.local.",
    ] {
        assert_nxdomain(&records, qname, RecordType::A);
    }
}

#[test]
fn the_apex_answers_soa_and_ns() {
    let records = cluster();
    let reply = ask(&records, "cluster.local.", RecordType::SOA);
    let [soa] = reply.answers() else {
        panic!("{reply:?}")
    };
    assert_eq!(soa.record_type(), RecordType::SOA);
    assert!(reply.name_servers().is_empty());

    let reply = ask(&records, "Cluster.Local.", RecordType::NS);
    assert_eq!(targets(&reply), ["NS ns.dns.cluster.local."]);
    assert_eq!(addresses(reply.additionals()), ["10.43.0.10"]);
    let reply = ask(&records, "ns.dns.cluster.local.", RecordType::A);
    assert_eq!(addresses(reply.answers()), ["10.43.0.10"]);
    assert_no_data(&ask(&records, "ns.dns.cluster.local.", RecordType::AAAA));
}

#[test]
fn the_name_server_is_the_service_whose_endpoint_it_is() {
    // As CoreDNS finds itself: the DNS server at 10.42.0.53 is an endpoint
    // of kube-dns.
    let zone = Arc::new(Zone::new("cluster.local", vec![ip("10.42.0.53")]).unwrap());
    let services = [cluster_ip(
        "kube-system",
        "kube-dns",
        &["10.43.0.10"],
        json!([{"port": 53}]),
    )];
    let slices = [slice(
        "kube-system",
        "kube-dns-1",
        "kube-dns",
        "IPv4",
        json!([{"addresses": ["10.42.0.53"]}]),
        json!([{"port": 53}]),
    )];
    let records = Records::build(zone, &services, &slices, &[], true);
    let reply = ask(&records, "cluster.local.", RecordType::NS);
    assert_eq!(
        targets(&reply),
        ["NS kube-dns.kube-system.svc.cluster.local."]
    );
    assert_eq!(addresses(reply.additionals()), ["10.43.0.10"]);
}

#[test]
fn the_schema_version_is_published() {
    let records = cluster();
    let reply = ask(&records, "dns-version.cluster.local.", RecordType::TXT);
    let [txt] = reply.answers() else {
        panic!("{reply:?}")
    };
    assert_eq!(txt.ttl(), 28800);
    let RData::TXT(txt) = txt.data() else {
        panic!()
    };
    assert_eq!(txt.txt_data(), [b"1.1.0".to_vec().into_boxed_slice()]);
}

#[test]
fn zone_transfers_are_refused() {
    let reply = ask(&cluster(), "cluster.local.", RecordType::AXFR);
    assert_eq!(reply.response_code(), ResponseCode::Refused);
}

#[test]
fn reverse_names_of_cluster_addresses_are_answered() {
    let records = cluster();
    let ptr = |address: &str| {
        let qname = Name::from(ip(address)).to_ascii();
        ask(&records, &qname, RecordType::PTR)
    };
    assert_eq!(
        targets(&ptr("10.43.0.20")),
        ["PTR web.default.svc.cluster.local."]
    );
    assert_eq!(
        targets(&ptr("fd00:43::20")),
        ["PTR web.default.svc.cluster.local."]
    );
    assert_eq!(
        targets(&ptr("10.42.0.7")),
        ["PTR db-0.db.default.svc.cluster.local."]
    );
    assert_eq!(
        targets(&ptr("fd00:42::7")),
        ["PTR db-1.db.default.svc.cluster.local."]
    );
    // Endpoints without a hostname, as CoreDNS: by their dashed address.
    assert_eq!(
        targets(&ptr("10.42.0.5")),
        ["PTR 10-42-0-5.web.default.svc.cluster.local."]
    );
    let reply = ptr("10.43.0.20");
    assert_eq!(reply.answers()[0].ttl(), TTL);
    assert_eq!(
        reply.answers()[0].name().to_ascii(),
        "20.0.43.10.in-addr.arpa."
    );
}

#[test]
fn other_reverse_names_go_upstream() {
    let records = cluster();
    for (qname, query_type) in [
        ("1.2.0.192.in-addr.arpa.", RecordType::PTR),
        // A not-ready endpoint is not published.
        ("9.0.42.10.in-addr.arpa.", RecordType::PTR),
        ("20.0.43.10.in-addr.arpa.", RecordType::A),
        ("0.43.10.in-addr.arpa.", RecordType::PTR),
        ("in-addr.arpa.", RecordType::SOA),
    ] {
        assert!(
            matches!(
                answer(&records, &query(qname, query_type)),
                Outcome::Forward
            ),
            "{qname} {query_type}"
        );
    }
}

#[test]
fn names_outside_the_zone_go_upstream() {
    let records = cluster();
    for qname in ["example.com.", "local.", ".", "cluster.local.example.com."] {
        assert!(
            matches!(
                answer(&records, &query(qname, RecordType::A)),
                Outcome::Forward
            ),
            "{qname}"
        );
    }
}

#[test]
fn until_synced_the_zone_fails_but_the_world_resolves() {
    let records = Records::unsynced(zone());
    let reply = reply_of(
        &records,
        &query("web.default.svc.cluster.local.", RecordType::A),
    );
    assert_eq!(reply.response_code(), ResponseCode::ServFail);
    assert!(matches!(
        answer(&records, &query("example.com.", RecordType::A)),
        Outcome::Forward
    ));
    let reverse = query("1.0.43.10.in-addr.arpa.", RecordType::PTR);
    assert!(matches!(answer(&records, &reverse), Outcome::Forward));
}

#[test]
fn edns_queries_get_an_opt_record() {
    let records = cluster();
    let mut query = edns_query("web.default.svc.cluster.local.", RecordType::A, 4096);
    if let Some(edns) = query.extensions_mut() {
        edns.set_dnssec_ok(true);
    }
    let reply = reply_of(&records, &query);
    let edns = reply.extensions().as_ref().expect("an OPT record");
    assert_eq!(edns.version(), 0);
    assert!(edns.flags().dnssec_ok);
    assert_eq!(addresses(reply.answers()), ["10.43.0.20"]);

    let mut future = edns_query("web.default.svc.cluster.local.", RecordType::A, 4096);
    if let Some(edns) = future.extensions_mut() {
        edns.set_version(1);
    }
    let reply = reply_of(&records, &future);
    assert_eq!(reply.response_code(), ResponseCode::BADVERS);
    // The extended code survives the wire.
    let decoded = Message::from_vec(&reply.to_vec().unwrap()).unwrap();
    assert_eq!(u16::from(decoded.response_code()), 16);
}

#[test]
fn odd_messages() {
    let records = cluster();
    let mut response = query("web.default.svc.cluster.local.", RecordType::A);
    response.set_message_type(MessageType::Response);
    assert!(matches!(answer(&records, &response), Outcome::Drop));

    let mut two = query("web.default.svc.cluster.local.", RecordType::A);
    two.add_query(query("example.com.", RecordType::A).queries()[0].clone());
    assert_eq!(
        reply_of(&records, &two).response_code(),
        ResponseCode::FormErr
    );

    let mut none = query("web.default.svc.cluster.local.", RecordType::A);
    none.take_queries();
    assert_eq!(
        reply_of(&records, &none).response_code(),
        ResponseCode::FormErr
    );

    let mut update = query("web.default.svc.cluster.local.", RecordType::A);
    update.set_op_code(OpCode::Update);
    assert_eq!(
        reply_of(&records, &update).response_code(),
        ResponseCode::NotImp
    );
}

#[test]
fn large_answers_are_truncated_for_udp() {
    let endpoints: Vec<_> = (0..100)
        .map(|i| json!({"addresses": [format!("10.42.1.{i}")]}))
        .collect();
    let services = [service("default", "big", json!({"clusterIP": "None"}))];
    let slices = [slice(
        "default",
        "big-1",
        "big",
        "IPv4",
        json!(endpoints),
        json!([]),
    )];
    let records = records(&services, &slices, &[]);
    let query = query("big.default.svc.cluster.local.", RecordType::A);
    let reply = reply_of(&records, &query);
    assert_eq!(reply.answers().len(), 100);
    let bytes = crate::wire::encode(&reply, crate::wire::udp_limit(&query)).unwrap();
    assert!(bytes.len() <= 512);
    let truncated = Message::from_vec(&bytes).unwrap();
    assert!(truncated.truncated());
    // With EDNS and room, all of it.
    let query = edns_query("big.default.svc.cluster.local.", RecordType::A, 4096);
    let reply = reply_of(&records, &query);
    let bytes = crate::wire::encode(&reply, crate::wire::udp_limit(&query)).unwrap();
    assert!(!Message::from_vec(&bytes).unwrap().truncated());
}
