//! Bodies the decoder must refuse, with a clear error and never a panic.

use super::*;

#[test]
fn unknown_field_is_an_error() {
    let body = envelope(
        "apps/v1",
        "Deployment",
        &[
            meta(1, "web", "", &[]),
            msg(
                2,
                &[msg(
                    3,
                    &[pod_spec(2, &[container("c", "i", &[int(99, 1)])])],
                )],
            ),
        ],
    );
    let e = err(&body);
    assert_eq!(e.code, 400);
    assert_eq!(e.reason, "BadRequest");
    assert_eq!(
        e.message,
        "unable to decode the protobuf body: unknown field number 99 in core/v1 Container \
         at spec.template.spec.containers[0]"
    );
}

#[test]
fn wrong_wire_type_is_an_error() {
    let body = envelope("v1", "ConfigMap", &[meta(1, "cm", "", &[]), int(2, 5)]);
    assert!(err(&body).message.contains("expected a map entry"));
    let body = envelope("v1", "ConfigMap", &[string(4, "true")]);
    assert!(
        err(&body).message.contains("expected a bool"),
        "{}",
        err(&body).message
    );
}

#[test]
fn envelope_errors() {
    assert!(err(b"{\"kind\":\"Pod\"}").message.contains("magic"));
    assert!(err(&envelope("v1", "Widget", &[]))
        .message
        .contains("no kind \"Widget\""));
    assert!(err(&envelope("apps/v9", "Deployment", &[]))
        .message
        .contains("apps/v9"));
    assert!(err(&envelope("v1", "", &[])).message.contains("kind"));
    assert!(err(&envelope("v1", "PodSpec", &[]))
        .message
        .contains("no kind"));
    let gzip = [
        MAGIC.to_vec(),
        msg(1, &[string(1, "v1"), string(2, "ConfigMap")]),
        string(3, "gzip"),
    ]
    .concat();
    assert!(err(&gzip).message.contains("gzip"));
    let extra = [
        MAGIC.to_vec(),
        msg(1, &[string(1, "v1"), string(2, "ConfigMap")]),
        int(9, 1),
    ]
    .concat();
    assert!(err(&extra).message.contains("field 9"));
    // An empty object is fine.
    assert_eq!(
        ok(&envelope("v1", "ConfigMap", &[])),
        json!({"apiVersion": "v1", "kind": "ConfigMap"})
    );
}

#[test]
fn invalid_strings_and_json_are_errors() {
    assert!(err(&envelope(
        "v1",
        "ConfigMap",
        &[msg(1, &[bytes(1, &[0xff, 0xfe])])]
    ))
    .message
    .contains("UTF-8"));
    let raw = [meta(1, "c", "", &[]), msg(2, &[bytes(1, b"{not json")])];
    assert!(err(&envelope("apps/v1", "ControllerRevision", &raw))
        .message
        .contains("JSON"));
    let bad = msg(2, &[int(1, 7), int(2, 1)]);
    let body = envelope(
        "apps/v1",
        "Deployment",
        &[msg(2, &[msg(4, &[msg(2, &[bad])])])],
    );
    assert!(err(&body).message.contains("IntOrString"));
}

#[test]
fn truncated_bodies_are_errors() {
    let body = envelope(
        "v1",
        "ConfigMap",
        &[meta(1, "cm", "default", &[]), entry(2, "key", "value")],
    );
    // The envelope is typeMeta, raw, then two empty strings (4 bytes);
    // cutting anywhere but after typeMeta lands inside a field.
    let type_meta_end = MAGIC.len() + msg(1, &[string(1, "v1"), string(2, "ConfigMap")]).len();
    for len in MAGIC.len() + 1..body.len() - 4 {
        if len != type_meta_end {
            assert!(
                decode(&body[..len]).is_err(),
                "prefix of {len} bytes decoded"
            );
        }
    }
    for len in 0..MAGIC.len() {
        assert!(decode(&body[..len]).is_err());
    }
}

#[test]
fn deep_nesting_is_an_error_not_a_crash() {
    let mut schema = string(5, "object");
    for _ in 0..5000 {
        schema = entry_msg(29, "x", &[schema]);
    }
    let body = envelope(
        "apiextensions.k8s.io/v1",
        "CustomResourceDefinition",
        &[msg(2, &[msg(7, &[msg(4, &[msg(1, &[schema])])])])],
    );
    assert!(err(&body).message.contains("nest"));
}

/// xorshift64*, so the test needs no dependency and is reproducible.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

#[test]
fn random_and_mutated_bytes_never_panic() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let seeds = [
        envelope(
            "v1",
            "ConfigMap",
            &[meta(1, "cm", "ns", &[]), entry(2, "a", "b")],
        ),
        envelope(
            "v1",
            "Pod",
            &[pod_spec(
                2,
                &[container(
                    "c",
                    "i",
                    &[msg(8, &[entry_msg(1, "cpu", &[string(1, "1")])])],
                )],
            )],
        ),
        envelope(
            "apps/v1",
            "Deployment",
            &[msg(
                2,
                &[int(1, 3), msg(4, &[msg(2, &[int_or_string_str(2, "25%")])])],
            )],
        ),
        envelope(
            "apiextensions.k8s.io/v1",
            "CustomResourceDefinition",
            &[msg(
                2,
                &[msg(
                    7,
                    &[msg(
                        4,
                        &[msg(1, &[string(5, "object"), msg(30, &[boolean(1, true)])])],
                    )],
                )],
            )],
        ),
    ];
    for round in 0..40_000 {
        let mut body = if round % 4 == 0 {
            let len = rng.below(64);
            let mut random: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
            if round % 8 == 0 {
                random.splice(0..0, MAGIC.iter().copied());
            }
            random
        } else {
            seeds[rng.below(seeds.len())].clone()
        };
        for _ in 0..1 + rng.below(4) {
            if body.is_empty() {
                break;
            }
            let at = MAGIC.len().min(body.len() - 1)
                + rng.below(body.len().saturating_sub(MAGIC.len()).max(1));
            let at = at.min(body.len() - 1);
            match rng.below(4) {
                0 => body[at] ^= 1 << rng.below(8),
                1 => body[at] = rng.next() as u8,
                2 => body.truncate(at),
                _ => body.insert(at, rng.next() as u8),
            }
        }
        let _ = decode(&body);
    }
}

#[test]
fn base64_matches_go() {
    assert_eq!(base64(b""), "");
    assert_eq!(base64(b"f"), "Zg==");
    assert_eq!(base64(b"fo"), "Zm8=");
    assert_eq!(base64(b"foo"), "Zm9v");
    assert_eq!(base64(b"foobar"), "Zm9vYmFy");
    assert_eq!(base64(&[0xfb, 0xff]), "+/8=");
}
