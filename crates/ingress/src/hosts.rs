//! Host names as Ingress rules and TLS entries match them: case-insensitive,
//! without port or trailing dot, and `*.example.com` standing for exactly
//! one more label.

use std::borrow::Cow;

/// The host of a `Host` header or request authority, as rules are keyed:
/// lower case, without the port or a trailing dot. An IPv6 literal keeps
/// its brackets.
pub(crate) fn normalize(raw: &str) -> Cow<'_, str> {
    let without_port = if raw.starts_with('[') {
        match raw.find(']') {
            Some(end) => &raw[..=end],
            None => raw,
        }
    } else {
        match raw.rsplit_once(':') {
            Some((host, port)) if port.bytes().all(|byte| byte.is_ascii_digit()) => host,
            _ => raw,
        }
    };
    let host = without_port.strip_suffix('.').unwrap_or(without_port);
    if host.bytes().any(|byte| byte.is_ascii_uppercase()) {
        Cow::Owned(host.to_ascii_lowercase())
    } else {
        Cow::Borrowed(host)
    }
}

/// A host as written in a rule or TLS entry, in the form [`normalize`]
/// gives request hosts.
pub(crate) fn normalize_configured(host: &str) -> String {
    let host = host.trim();
    host.strip_suffix('.').unwrap_or(host).to_ascii_lowercase()
}

/// The domain a wildcard must name for `host` to match it: `b.c` for
/// `a.b.c`, so that `*.b.c` matches `a.b.c` but not `b.c` or `x.a.b.c`.
pub(crate) fn wildcard_parent(host: &str) -> Option<&str> {
    let (label, parent) = host.split_once('.')?;
    (!label.is_empty() && !parent.is_empty()).then_some(parent)
}

/// The domain a configured wildcard host (`*.b.c`) covers, if it is one.
pub(crate) fn wildcard_domain(configured: &str) -> Option<&str> {
    configured
        .strip_prefix("*.")
        .filter(|domain| !domain.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize_drops_port_case_and_trailing_dot() {
        assert_eq!(normalize("Foo.Example.COM:8080"), "foo.example.com");
        assert_eq!(normalize("foo.example.com."), "foo.example.com");
        assert_eq!(normalize("foo.example.com"), "foo.example.com");
        assert_eq!(normalize("[::1]:443"), "[::1]");
        assert_eq!(normalize(""), "");
        // Not a port: kept, and simply matches no rule.
        assert_eq!(normalize("a:b"), "a:b");
    }

    #[test]
    fn wildcard_parent_takes_exactly_one_label() {
        assert_eq!(wildcard_parent("a.example.com"), Some("example.com"));
        assert_eq!(wildcard_parent("example.com"), Some("com"));
        assert_eq!(wildcard_parent("localhost"), None);
        assert_eq!(wildcard_parent(".example.com"), None);
        assert_eq!(wildcard_domain("*.example.com"), Some("example.com"));
        assert_eq!(wildcard_domain("example.com"), None);
        assert_eq!(wildcard_domain("*."), None);
    }
}
