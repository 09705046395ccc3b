//! The header rewriting of a reverse proxy: hop-by-hop headers dropped in
//! both directions (RFC 9110 §7.6.1), `X-Forwarded-*` set on requests.

use std::net::IpAddr;

use http::header::{HeaderMap, HeaderName, HeaderValue, CONNECTION, UPGRADE};

/// Headers that describe one connection, not the message, besides those
/// the `Connection` header names.
const HOP_BY_HOP: [&str; 8] = [
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// Whether `Connection` lists `token` (case-insensitive, comma-separated,
/// possibly over several header lines).
fn connection_has(headers: &HeaderMap, token: &str) -> bool {
    headers
        .get_all(CONNECTION)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|listed| listed.trim().eq_ignore_ascii_case(token))
}

/// The protocol an HTTP/1.1 message asks to switch to (`Upgrade`, e.g.
/// `websocket`), if it asks.
pub(crate) fn requested_upgrade(headers: &HeaderMap) -> Option<HeaderValue> {
    let upgrade = headers.get(UPGRADE)?;
    connection_has(headers, "upgrade").then(|| upgrade.clone())
}

/// Removes the hop-by-hop headers; when `keep_upgrade` holds the protocol
/// of an upgrade being passed through, the upgrade headers are put back.
pub(crate) fn remove_hop_by_hop(headers: &mut HeaderMap, keep_upgrade: Option<HeaderValue>) {
    let named: Vec<HeaderName> = headers
        .get_all(CONNECTION)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .filter_map(|token| HeaderName::from_bytes(token.trim().as_bytes()).ok())
        .collect();
    for name in named {
        headers.remove(name);
    }
    headers.remove(CONNECTION);
    for name in HOP_BY_HOP {
        headers.remove(name);
    }
    if let Some(protocol) = keep_upgrade {
        headers.insert(CONNECTION, HeaderValue::from_static("upgrade"));
        headers.insert(UPGRADE, protocol);
    }
}

/// What the backend learns of the client's request through `X-Forwarded-*`.
pub(crate) struct Forwarded<'a> {
    pub(crate) client: IpAddr,
    /// `http` or `https`.
    pub(crate) proto: &'static str,
    /// The host the client asked for, as it wrote it.
    pub(crate) host: Option<&'a str>,
    /// The port the client connected to.
    pub(crate) port: u16,
}

/// Sets the `X-Forwarded-*` and `X-Real-IP` headers. Values a client sent
/// are replaced, not extended: the proxy is the edge and does not trust
/// them (ingress-nginx's default, `use-forwarded-headers: false`).
pub(crate) fn set_forwarded(headers: &mut HeaderMap, forwarded: &Forwarded<'_>) {
    let client = forwarded.client.to_canonical().to_string();
    headers.remove("x-forwarded-host");
    let mut set = |name: &'static str, value: &str| match HeaderValue::from_str(value) {
        Ok(value) => {
            headers.insert(name, value);
        }
        Err(_) => {
            headers.remove(name);
        }
    };
    set("x-forwarded-for", &client);
    set("x-real-ip", &client);
    set("x-forwarded-proto", forwarded.proto);
    set("x-forwarded-port", &forwarded.port.to_string());
    if let Some(host) = forwarded.host {
        set("x-forwarded-host", host);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                HeaderName::from_bytes(name.as_bytes()).expect("name"),
                HeaderValue::from_str(value).expect("value"),
            );
        }
        map
    }

    #[test]
    fn hop_by_hop_and_connection_listed_headers_go() {
        let mut map = headers(&[
            ("connection", "keep-alive, X-Secret"),
            ("keep-alive", "timeout=5"),
            ("x-secret", "1"),
            ("transfer-encoding", "chunked"),
            ("te", "trailers"),
            ("accept", "*/*"),
        ]);
        remove_hop_by_hop(&mut map, None);
        let names: Vec<&str> = map.keys().map(HeaderName::as_str).collect();
        assert_eq!(names, ["accept"]);
    }

    #[test]
    fn upgrade_is_detected_and_kept_when_asked() {
        let mut map = headers(&[
            ("connection", "keep-alive, Upgrade"),
            ("upgrade", "websocket"),
        ]);
        let protocol = requested_upgrade(&map);
        assert_eq!(
            protocol.as_ref().and_then(|value| value.to_str().ok()),
            Some("websocket")
        );
        remove_hop_by_hop(&mut map, protocol);
        assert_eq!(
            map.get("connection").and_then(|value| value.to_str().ok()),
            Some("upgrade")
        );
        assert_eq!(
            map.get("upgrade").and_then(|value| value.to_str().ok()),
            Some("websocket")
        );
        // Upgrade without Connection: upgrade is no upgrade request.
        assert!(requested_upgrade(&headers(&[("upgrade", "websocket")])).is_none());
    }

    #[test]
    fn forwarded_headers_replace_what_the_client_sent() {
        let mut map = headers(&[("x-forwarded-for", "6.6.6.6"), ("x-forwarded-host", "evil")]);
        let client = "::ffff:192.0.2.7".parse().expect("address");
        set_forwarded(
            &mut map,
            &Forwarded {
                client,
                proto: "https",
                host: Some("shop.test:8443"),
                port: 8443,
            },
        );
        let get = |name| map.get(name).and_then(|value| value.to_str().ok());
        assert_eq!(get("x-forwarded-for"), Some("192.0.2.7"));
        assert_eq!(get("x-real-ip"), Some("192.0.2.7"));
        assert_eq!(get("x-forwarded-proto"), Some("https"));
        assert_eq!(get("x-forwarded-host"), Some("shop.test:8443"));
        assert_eq!(get("x-forwarded-port"), Some("8443"));
    }
}
