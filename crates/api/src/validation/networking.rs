//! Ingresses, IngressClasses and NetworkPolicies (networking.k8s.io).

use serde_json::Value;

use super::meta::{
    validate_label_selector, validate_object_meta, validate_object_meta_update, NameRule, IMMUTABLE,
};
use super::names::{
    is_dns1035_label, is_dns1123_subdomain, is_valid_cidr, is_valid_ip, is_valid_port_name,
    is_valid_port_num, is_wildcard_dns1123_subdomain,
};
use super::path::{arr, dig_or_null, get, int, s, Path};
use crate::status::FieldError;

fn backend(backend: &Value, path: &Path) -> Vec<FieldError> {
    let mut errs = Vec::new();
    match (get(backend, "resource"), get(backend, "service")) {
        (Some(_), Some(_)) => {
            return vec![path.invalid("", "cannot set both resource and service backends")]
        }
        (Some(resource), None) => {
            let rp = path.child("resource");
            if s(resource, "kind").is_empty() {
                errs.push(rp.child("kind").required(""));
            }
            if s(resource, "name").is_empty() {
                errs.push(rp.child("name").required(""));
            }
        }
        (None, Some(service)) => {
            let sp = path.child("service");
            let name = s(service, "name");
            if name.is_empty() {
                errs.push(sp.child("name").required(""));
            } else {
                errs.extend(sp.child("name").invalid_each(name, is_dns1035_label(name)));
            }
            let port = dig_or_null(service, &["port"]);
            let port_name = s(port, "name");
            let number = int(port, "number").unwrap_or(0);
            if !port_name.is_empty() && number != 0 {
                errs.push(path.invalid("", "cannot set both port name & port number"));
            } else if !port_name.is_empty() {
                errs.extend(
                    sp.child("port")
                        .child("name")
                        .invalid_each(port_name, is_valid_port_name(port_name)),
                );
            } else if number != 0 {
                for msg in is_valid_port_num(number) {
                    errs.push(sp.child("port").child("number").invalid(number, &msg));
                }
            } else {
                errs.push(path.required("port name or number is required"));
            }
        }
        (None, None) => errs.push(path.invalid("", "resource or service backend is required")),
    }
    errs
}

fn http_path(p: &Value, path: &Path) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let Some(path_type) = p.get("pathType").and_then(Value::as_str) else {
        return vec![path
            .child("pathType")
            .required("pathType must be specified")];
    };
    let text = s(p, "path");
    let pp = path.child("path");
    match path_type {
        "Exact" | "Prefix" => {
            if !text.starts_with('/') {
                errs.push(pp.invalid(text, "must be an absolute path"));
            }
            if !text.is_empty() {
                for seq in ["//", "/./", "/../", "%2f", "%2F"] {
                    if text.contains(seq) {
                        errs.push(pp.invalid(text, &format!("must not contain '{seq}'")));
                    }
                }
                for suffix in ["/..", "/."] {
                    if text.ends_with(suffix) {
                        errs.push(pp.invalid(text, &format!("cannot end with '{suffix}'")));
                    }
                }
            }
        }
        "ImplementationSpecific" => {
            if !text.is_empty() && !text.starts_with('/') {
                errs.push(pp.invalid(text, "must be an absolute path"));
            }
        }
        other => errs.push(
            path.child("pathType")
                .not_supported(other, &["Exact", "ImplementationSpecific", "Prefix"]),
        ),
    }
    errs.extend(backend(
        dig_or_null(p, &["backend"]),
        &path.child("backend"),
    ));
    errs
}

fn host(host: &str, path: &Path) -> Vec<FieldError> {
    if host.contains('*') {
        path.invalid_each(host, is_wildcard_dns1123_subdomain(host))
    } else {
        path.invalid_each(host, is_dns1123_subdomain(host))
    }
}

pub fn validate_ingress(ing: &Value) -> Vec<FieldError> {
    let mut errs = validate_object_meta(ing, NameRule::Subdomain);
    let spec = dig_or_null(ing, &["spec"]);
    let path = Path::new("spec");
    let rules = arr(spec, "rules");
    if rules.is_empty() && get(spec, "defaultBackend").is_none() {
        errs.push(path.invalid_shown(
            "[]networking.IngressRule(nil)",
            "either `defaultBackend` or `rules` must be specified",
        ));
    }
    if let Some(default) = get(spec, "defaultBackend") {
        errs.extend(backend(default, &path.child("defaultBackend")));
    }
    for (i, rule) in rules.iter().enumerate() {
        let rp = path.child("rules").index(i);
        let h = s(rule, "host");
        if !h.is_empty() {
            if is_valid_ip(h) {
                errs.push(
                    rp.child("host")
                        .invalid(h, "must be a DNS name, not an IP address"),
                );
            }
            errs.extend(host(h, &rp.child("host")));
        }
        if let Some(http) = get(rule, "http") {
            let hp = rp.child("http");
            let paths = arr(http, "paths");
            if paths.is_empty() {
                errs.push(hp.child("paths").required(""));
            }
            for (j, p) in paths.iter().enumerate() {
                errs.extend(http_path(p, &hp.child("paths").index(j)));
            }
        }
    }
    for (i, tls) in arr(spec, "tls").iter().enumerate() {
        let tp = path.child("tls").index(i);
        for (j, h) in arr(tls, "hosts").iter().enumerate() {
            errs.extend(host(h.as_str().unwrap_or(""), &tp.child("hosts").index(j)));
        }
        let secret = s(tls, "secretName");
        if !secret.is_empty() {
            errs.extend(
                tp.child("secretName")
                    .invalid_each(secret, is_dns1123_subdomain(secret)),
            );
        }
    }
    if let Some(class) = spec.get("ingressClassName").and_then(Value::as_str) {
        errs.extend(
            path.child("ingressClassName")
                .invalid_each(class, is_dns1123_subdomain(class)),
        );
    }
    errs
}

pub fn validate_ingress_class(ic: &Value) -> Vec<FieldError> {
    let mut errs = validate_object_meta(ic, NameRule::Subdomain);
    let spec = dig_or_null(ic, &["spec"]);
    let controller = s(spec, "controller");
    let cp = Path::new("spec.controller");
    if controller.is_empty() {
        errs.push(cp.required(""));
    } else if controller.len() > 250 {
        errs.push(cp.too_long(250));
    } else {
        match controller.split_once('/') {
            Some((domain, rest)) if !domain.is_empty() && !rest.is_empty() => {
                errs.extend(cp.invalid_each(domain, is_dns1123_subdomain(domain)));
            }
            _ => errs.push(cp.invalid(
                controller,
                "must be a domain-prefixed path (such as \"acme.io/foo\")",
            )),
        }
    }
    if let Some(params) = get(spec, "parameters") {
        let pp = Path::new("spec.parameters");
        if s(params, "kind").is_empty() {
            errs.push(pp.child("kind").required(""));
        }
        if s(params, "name").is_empty() {
            errs.push(pp.child("name").required(""));
        }
        if let Some(scope) = params.get("scope").and_then(Value::as_str) {
            if scope != "Cluster" && scope != "Namespace" {
                errs.push(
                    pp.child("scope")
                        .not_supported(scope, &["Cluster", "Namespace"]),
                );
            }
        }
    }
    errs
}

pub fn validate_ingress_class_update(new: &Value, old: &Value) -> Vec<FieldError> {
    let mut errs = validate_object_meta_update(new, old);
    let controller = s(dig_or_null(new, &["spec"]), "controller");
    if controller != s(dig_or_null(old, &["spec"]), "controller") {
        errs.push(Path::new("spec.controller").invalid(controller, IMMUTABLE));
    }
    errs.extend(validate_ingress_class(new));
    errs
}

fn policy_port(port: &Value, path: &Path) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if let Some(protocol) = port.get("protocol").and_then(Value::as_str) {
        if !["TCP", "UDP", "SCTP"].contains(&protocol) {
            errs.push(
                path.child("protocol")
                    .not_supported(protocol, &["TCP", "UDP", "SCTP"]),
            );
        }
    }
    let end = int(port, "endPort");
    match get(port, "port") {
        Some(Value::String(name)) => {
            if let Some(end) = end {
                errs.push(
                    path.child("endPort")
                        .invalid(end, "may not be specified when `port` is non-numeric"),
                );
            }
            errs.extend(
                path.child("port")
                    .invalid_each(name, is_valid_port_name(name)),
            );
        }
        Some(p) => {
            let number = super::path::as_int(p).unwrap_or(0);
            for msg in is_valid_port_num(number) {
                errs.push(path.child("port").invalid(number, &msg));
            }
            if let Some(end) = end {
                if end < number {
                    errs.push(
                        path.child("endPort")
                            .invalid(number, "must be greater than or equal to `port`"),
                    );
                }
                for msg in is_valid_port_num(end) {
                    errs.push(path.child("endPort").invalid(end, &msg));
                }
            }
        }
        None => {
            if let Some(end) = end {
                errs.push(
                    path.child("endPort")
                        .invalid(end, "may not be specified when `port` is not specified"),
                );
            }
        }
    }
    errs
}

fn policy_peer(peer: &Value, path: &Path) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let mut count = 0;
    for field in ["podSelector", "namespaceSelector"] {
        if let Some(selector) = get(peer, field) {
            count += 1;
            errs.extend(validate_label_selector(Some(selector), &path.child(field)));
        }
    }
    if let Some(block) = get(peer, "ipBlock") {
        count += 1;
        let bp = path.child("ipBlock");
        let cidr = s(block, "cidr");
        if cidr.is_empty() {
            errs.push(bp.child("cidr").required(""));
        } else if !is_valid_cidr(cidr) {
            errs.push(bp.child("cidr").invalid(
                cidr,
                "must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)",
            ));
        }
        for (i, except) in arr(block, "except").iter().enumerate() {
            let except = except.as_str().unwrap_or("");
            if !is_valid_cidr(except) {
                errs.push(bp.child("except").index(i).invalid(
                    except,
                    "must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)",
                ));
            }
        }
    }
    if count == 0 {
        errs.push(path.required("must specify a peer"));
    } else if count > 1 && get(peer, "ipBlock").is_some() {
        errs.push(path.forbidden("may not specify both ipBlock and another peer"));
    }
    errs
}

pub fn validate_network_policy(np: &Value) -> Vec<FieldError> {
    let mut errs = validate_object_meta(np, NameRule::Subdomain);
    let spec = dig_or_null(np, &["spec"]);
    let path = Path::new("spec");
    errs.extend(validate_label_selector(
        get(spec, "podSelector"),
        &path.child("podSelector"),
    ));
    for (direction, peers) in [("ingress", "from"), ("egress", "to")] {
        for (i, rule) in arr(spec, direction).iter().enumerate() {
            let rp = path.child(direction).index(i);
            for (j, port) in arr(rule, "ports").iter().enumerate() {
                errs.extend(policy_port(port, &rp.child("ports").index(j)));
            }
            for (j, peer) in arr(rule, peers).iter().enumerate() {
                errs.extend(policy_peer(peer, &rp.child(peers).index(j)));
            }
        }
    }
    let types = arr(spec, "policyTypes");
    if types.len() > 2 {
        errs.push(path.child("policyTypes").invalid_shown(
            &super::path::go_string_list(types).replace("[]string", "&[]networking.PolicyType"),
            "may not specify more than two policyTypes",
        ));
        return errs;
    }
    for (i, t) in types.iter().enumerate() {
        let t = t.as_str().unwrap_or("");
        if t != "Ingress" && t != "Egress" {
            errs.push(
                path.child("policyTypes")
                    .index(i)
                    .not_supported(t, &["Ingress", "Egress"]),
            );
        }
    }
    errs
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ingress_paths_need_a_type() {
        let ing = json!({"metadata": {"name": "i"}, "spec": {"rules": [{"host": "a.example.com", "http": {"paths": [
            {"path": "/", "backend": {"service": {"name": "web", "port": {"number": 80}}}}]}}]}});
        let errs: Vec<String> = validate_ingress(&ing)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            errs,
            vec![
                "spec.rules[0].http.paths[0].pathType: Required value: pathType must be specified"
            ]
        );
    }

    #[test]
    fn ingress_needs_rules_or_default() {
        let ing = json!({"metadata": {"name": "i"}, "spec": {}});
        assert_eq!(validate_ingress(&ing)[0].to_string(), "spec: Invalid value: []networking.IngressRule(nil): either `defaultBackend` or `rules` must be specified");
    }

    #[test]
    fn network_policy_peers() {
        let np = json!({"metadata": {"name": "n"}, "spec": {"podSelector": {}, "ingress": [{"from": [{}], "ports": [{"port": 70000}]}], "policyTypes": ["Ingress"]}});
        let errs: Vec<String> = validate_network_policy(&np)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(errs, vec![
            "spec.ingress[0].ports[0].port: Invalid value: 70000: must be between 1 and 65535, inclusive",
            "spec.ingress[0].from[0]: Required value: must specify a peer",
        ]);
    }
}
