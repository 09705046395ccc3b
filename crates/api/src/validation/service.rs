//! Services and Endpoints (pkg/apis/core/validation).

use std::collections::BTreeSet;

use serde_json::Value;

use super::container::{dns_label, port_num_or_name, PROTOCOLS};
use super::meta::{
    validate_labels, validate_object_meta, validate_object_meta_update, NameRule, IMMUTABLE,
};
use super::names::{
    ip_error_text, is_qualified_name, is_valid_cidr, is_valid_ip, is_valid_port_num,
};
use super::path::{arr, get, go_string_list, int, int0, s, Path};
use crate::status::FieldError;

fn ips(spec: &Value) -> Vec<&str> {
    arr(spec, "clusterIPs")
        .iter()
        .map(|v| v.as_str().unwrap_or(""))
        .collect()
}

fn is_headless(spec: &Value) -> bool {
    ips(spec).first() == Some(&"None")
}

fn externally_accessible(spec: &Value) -> bool {
    let kind = s(spec, "type");
    kind == "LoadBalancer"
        || kind == "NodePort"
        || (kind == "ClusterIP" && !arr(spec, "externalIPs").is_empty())
}

/// Go's `%#v` of the (protocol, port) key upstream reports duplicates with.
fn service_port_key(protocol: &str, port: i64) -> String {
    format!("core.ServicePort{{Name:\"\", Protocol:{protocol:?}, AppProtocol:(*string)(nil), Port:{port}, TargetPort:intstr.IntOrString{{Type:0, IntVal:0, StrVal:\"\"}}, NodePort:0}}")
}

/// Rejects unspecified, loopback and link-local addresses.
pub fn non_special_ip(ip: &str, path: &Path) -> Vec<FieldError> {
    let Ok(addr) = ip.parse::<std::net::IpAddr>() else {
        return vec![path.invalid(ip, "must be a valid IP address")];
    };
    let mut errs = Vec::new();
    if addr.is_unspecified() {
        errs.push(path.invalid(ip, &format!("may not be unspecified ({ip})")));
    }
    if addr.is_loopback() {
        errs.push(path.invalid(
            ip,
            "may not be in the loopback range (127.0.0.0/8, ::1/128)",
        ));
    }
    let link_local = match addr {
        std::net::IpAddr::V4(v4) => v4.is_link_local(),
        std::net::IpAddr::V6(v6) => (v6.segments()[0] & 0xffc0) == 0xfe80,
    };
    if link_local {
        errs.push(path.invalid(
            ip,
            "may not be in the link-local range (169.254.0.0/16, fe80::/10)",
        ));
    }
    let link_local_multicast = match addr {
        std::net::IpAddr::V4(v4) => v4.octets()[..3] == [224, 0, 0],
        std::net::IpAddr::V6(v6) => (v6.segments()[0] & 0xff0f) == 0xff02,
    };
    if link_local_multicast {
        errs.push(path.invalid(
            ip,
            "may not be in the link-local multicast range (224.0.0.0/24, ff02::/10)",
        ));
    }
    errs
}

fn validate_port(
    port: &Value,
    require_name: bool,
    names: &mut BTreeSet<String>,
    path: &Path,
) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let name = s(port, "name");
    if require_name && name.is_empty() {
        errs.push(path.child("name").required(""));
    } else if !name.is_empty() {
        errs.extend(dns_label(name, &path.child("name")));
        if !names.insert(name.to_string()) {
            errs.push(path.child("name").duplicate(name));
        }
    }
    let number = int0(port, "port");
    for msg in is_valid_port_num(number) {
        errs.push(path.child("port").invalid(number, &msg));
    }
    match s(port, "protocol") {
        "" => errs.push(path.child("protocol").required("")),
        p if !PROTOCOLS.contains(&p) => {
            errs.push(path.child("protocol").not_supported(p, PROTOCOLS))
        }
        _ => {}
    }
    errs.extend(port_num_or_name(
        get(port, "targetPort"),
        &path.child("targetPort"),
    ));
    if let Some(app) = port.get("appProtocol").and_then(Value::as_str) {
        errs.extend(
            path.child("appProtocol")
                .invalid_each(app, is_qualified_name(app)),
        );
    }
    errs
}

fn validate_cluster_ips(spec: &Value, path: &Path) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if s(spec, "type") == "ExternalName" {
        return errs;
    }
    let cluster_ips = ips(spec);
    let shown = go_string_list(arr(spec, "clusterIPs"));
    let ips_path = path.child("clusterIPs");
    let cluster_ip = s(spec, "clusterIP");
    if !cluster_ip.is_empty() {
        if cluster_ips.is_empty() {
            errs.push(ips_path.required(""));
        } else if cluster_ips[0] != cluster_ip {
            errs.push(ips_path.invalid_shown(&shown, "first value must match `clusterIP`"));
        }
    } else if !cluster_ips.is_empty() {
        errs.push(
            ips_path.invalid_shown(&shown, "must be empty when `clusterIP` is not specified"),
        );
    }
    let mut seen = BTreeSet::new();
    for (i, family) in arr(spec, "ipFamilies").iter().enumerate() {
        let family = family.as_str().unwrap_or("");
        if family != "IPv4" && family != "IPv6" {
            errs.push(
                path.child("ipFamilies")
                    .index(i)
                    .not_supported(family, &["IPv4", "IPv6"]),
            );
        }
        if !seen.insert(family) {
            errs.push(path.child("ipFamilies").index(i).duplicate(family));
        }
    }
    if let Some(policy) = spec.get("ipFamilyPolicy").and_then(Value::as_str) {
        const POLICIES: &[&str] = &["PreferDualStack", "RequireDualStack", "SingleStack"];
        if !POLICIES.contains(&policy) {
            errs.push(path.child("ipFamilyPolicy").not_supported(policy, POLICIES));
        }
    }
    let mut bad = false;
    for (i, ip) in cluster_ips.iter().enumerate() {
        if i == 0 && *ip == "None" {
            if cluster_ips.len() > 1 {
                bad = true;
                errs.push(
                    ips_path.invalid_shown(&shown, "'None' must be the first and only value"),
                );
            }
            continue;
        }
        if !is_valid_ip(ip) {
            bad = true;
            errs.push(ips_path.index(i).invalid(*ip, ip_error_text()));
        }
    }
    if cluster_ips.len() > 2 {
        errs.push(ips_path.invalid_shown(&shown, "may only hold up to 2 values"));
    }
    if bad {
        return errs;
    }
    let v6 = |ip: &str| ip.contains(':');
    if cluster_ips.len() > 1 && v6(cluster_ips[0]) == v6(cluster_ips[1]) {
        errs.push(
            ips_path.invalid_shown(&shown, "may specify no more than one IP for each IP family"),
        );
    }
    if !is_headless(spec) {
        let families = arr(spec, "ipFamilies");
        for (i, ip) in cluster_ips.iter().enumerate().take(families.len()) {
            let family = families[i].as_str().unwrap_or("");
            if family == "IPv4" && v6(ip) {
                errs.push(ips_path.index(i).invalid(
                    *ip,
                    &format!("expected an IPv4 value as indicated by `ipFamilies[{i}]`"),
                ));
            }
            if family == "IPv6" && !v6(ip) {
                errs.push(ips_path.index(i).invalid(
                    *ip,
                    &format!("expected an IPv6 value as indicated by `ipFamilies[{i}]`"),
                ));
            }
        }
    }
    errs
}

pub fn validate_service(svc: &Value) -> Vec<FieldError> {
    let mut errs = validate_object_meta(svc, NameRule::Dns1035);
    let path = Path::new("spec");
    let empty = Value::Null;
    let spec = get(svc, "spec").unwrap_or(&empty);
    let kind = s(spec, "type");
    let ports = arr(spec, "ports");
    if ports.is_empty() && !is_headless(spec) && kind != "ExternalName" {
        errs.push(path.child("ports").required(""));
    }
    match kind {
        "LoadBalancer" | "NodePort" if is_headless(spec) => {
            errs.push(path.child("clusterIPs").index(0).invalid(
                "None",
                &format!("may not be set to 'None' for {kind} services"),
            ))
        }
        "ExternalName" => {
            if !arr(spec, "clusterIPs").is_empty() {
                errs.push(
                    path.child("clusterIPs")
                        .forbidden("may not be set for ExternalName services"),
                );
            }
            if !arr(spec, "ipFamilies").is_empty() {
                errs.push(
                    path.child("ipFamilies")
                        .forbidden("may not be set for ExternalName services"),
                );
            }
            if get(spec, "ipFamilyPolicy").is_some() {
                errs.push(
                    path.child("ipFamilyPolicy")
                        .forbidden("may not be set for ExternalName services"),
                );
            }
            let cname = s(spec, "externalName");
            let cname = cname.strip_suffix('.').unwrap_or(cname);
            if cname.is_empty() {
                errs.push(path.child("externalName").required(""));
            } else {
                errs.extend(
                    path.child("externalName")
                        .invalid_each(cname, super::names::is_dns1123_subdomain(cname)),
                );
            }
        }
        _ => {}
    }
    let mut names = BTreeSet::new();
    for (i, port) in ports.iter().enumerate() {
        errs.extend(validate_port(
            port,
            ports.len() > 1,
            &mut names,
            &path.child("ports").index(i),
        ));
    }
    if get(spec, "selector").is_some() {
        errs.extend(validate_labels(
            get(spec, "selector"),
            &path.child("selector"),
        ));
    }
    let affinity = s(spec, "sessionAffinity");
    match affinity {
        "" => errs.push(path.child("sessionAffinity").required("")),
        "ClientIP" => {
            let cp = path.child("sessionAffinityConfig");
            let timeout = super::path::dig(
                spec,
                &["sessionAffinityConfig", "clientIP", "timeoutSeconds"],
            );
            match (get(spec, "sessionAffinityConfig"), timeout) {
                (None, _) => errs.push(cp.required("when session affinity type is ClientIP")),
                (Some(c), None) if get(c, "clientIP").is_none() => errs.push(
                    cp.child("clientIP")
                        .required("when session affinity type is ClientIP"),
                ),
                (Some(_), None) => errs.push(
                    cp.child("clientIP")
                        .child("timeoutSeconds")
                        .required("when session affinity type is ClientIP"),
                ),
                (Some(_), Some(t)) => {
                    let t = super::path::as_int(t).unwrap_or(0);
                    if t <= 0 || t > 86400 {
                        errs.push(
                            cp.child("clientIP")
                                .child("timeoutSeconds")
                                .invalid(t, "must be greater than 0 and less than 86400"),
                        );
                    }
                }
            }
        }
        "None" => {
            if get(spec, "sessionAffinityConfig").is_some() {
                errs.push(
                    path.child("sessionAffinityConfig")
                        .forbidden("must not be set when session affinity is None"),
                );
            }
        }
        other => errs.push(
            path.child("sessionAffinity")
                .not_supported(other, &["ClientIP", "None"]),
        ),
    }
    errs.extend(validate_cluster_ips(spec, &path));
    for (i, ip) in arr(spec, "externalIPs").iter().enumerate() {
        let ip = ip.as_str().unwrap_or("");
        let p = path.child("externalIPs").index(i);
        if !is_valid_ip(ip) {
            errs.push(p.invalid(ip, ip_error_text()));
        } else {
            errs.extend(non_special_ip(ip, &p));
        }
    }
    const TYPES: &[&str] = &["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"];
    if kind.is_empty() {
        errs.push(path.child("type").required(""));
    } else if !TYPES.contains(&kind) {
        errs.push(path.child("type").not_supported(kind, TYPES));
    }
    if kind == "ClusterIP" {
        for (i, port) in ports.iter().enumerate() {
            if int0(port, "nodePort") != 0 {
                errs.push(
                    path.child("ports")
                        .index(i)
                        .child("nodePort")
                        .forbidden("may not be used when `type` is 'ClusterIP'"),
                );
            }
        }
    }
    let mut node_ports = BTreeSet::new();
    let mut keys = BTreeSet::new();
    for (i, port) in ports.iter().enumerate() {
        let protocol = s(port, "protocol");
        let node_port = int0(port, "nodePort");
        if node_port != 0 && !node_ports.insert((protocol, node_port)) {
            errs.push(
                path.child("ports")
                    .index(i)
                    .child("nodePort")
                    .duplicate(node_port),
            );
        }
        let number = int0(port, "port");
        if !keys.insert((protocol, number)) {
            errs.push(
                path.child("ports")
                    .index(i)
                    .duplicate_shown(&service_port_key(protocol, number)),
            );
        }
    }
    let ranges = arr(spec, "loadBalancerSourceRanges");
    if !ranges.is_empty() {
        let rp = path.child("LoadBalancerSourceRanges");
        if kind != "LoadBalancer" {
            errs.push(rp.forbidden("may only be used when `type` is 'LoadBalancer'"));
        }
        for (i, range) in ranges.iter().enumerate() {
            let range = range.as_str().unwrap_or("").trim();
            if !is_valid_cidr(range) {
                errs.push(rp.index(i).invalid(
                    range,
                    "must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)",
                ));
            }
        }
    }
    if get(spec, "allocateLoadBalancerNodePorts").is_some() && kind != "LoadBalancer" {
        errs.push(
            path.child("allocateLoadBalancerNodePorts")
                .forbidden("may only be used when `type` is 'LoadBalancer'"),
        );
    }
    if kind == "LoadBalancer" && get(spec, "allocateLoadBalancerNodePorts").is_none() {
        errs.push(Path::new("allocateLoadBalancerNodePorts").required(""));
    }
    let etp = s(spec, "externalTrafficPolicy");
    if !externally_accessible(spec) {
        if !etp.is_empty() {
            errs.push(
                path.child("externalTrafficPolicy")
                    .invalid(etp, "may only be set for externally-accessible services"),
            );
        }
    } else if etp.is_empty() {
        errs.push(path.child("externalTrafficPolicy").required(""));
    } else if etp != "Cluster" && etp != "Local" {
        errs.push(
            path.child("externalTrafficPolicy")
                .not_supported(etp, &["Cluster", "Local"]),
        );
    }
    let needs_health_check = kind == "LoadBalancer" && etp == "Local";
    let health = int0(spec, "healthCheckNodePort");
    if !needs_health_check && health != 0 {
        errs.push(path.child("healthCheckNodePort").invalid(
            health,
            "may only be set when `type` is 'LoadBalancer' and `externalTrafficPolicy` is 'Local'",
        ));
    }
    match spec.get("internalTrafficPolicy").and_then(Value::as_str) {
        None if matches!(kind, "NodePort" | "LoadBalancer" | "ClusterIP") => {
            errs.push(path.child("internalTrafficPolicy").required(""))
        }
        Some(itp) if itp != "Cluster" && itp != "Local" => errs.push(
            path.child("internalTrafficPolicy")
                .not_supported(itp, &["Cluster", "Local"]),
        ),
        _ => {}
    }
    if let Some(distribution) = spec.get("trafficDistribution").and_then(Value::as_str) {
        if distribution != "PreferClose" {
            errs.push(
                path.child("trafficDistribution")
                    .not_supported(distribution, &["PreferClose"]),
            );
        }
    }
    errs
}

pub fn validate_service_update(new: &Value, old: &Value) -> Vec<FieldError> {
    let mut errs = validate_object_meta_update(new, old);
    let empty = Value::Null;
    let (ns, os) = (
        get(new, "spec").unwrap_or(&empty),
        get(old, "spec").unwrap_or(&empty),
    );
    if s(ns, "type") != "ExternalName" && s(os, "type") != "ExternalName" {
        let (new_ips, old_ips) = (ips(ns), ips(os));
        let shown = go_string_list(arr(ns, "clusterIPs"));
        let ips_path = Path::new("spec.clusterIPs");
        if new_ips.len() == old_ips.len() {
            for (i, ip) in old_ips.iter().enumerate() {
                if *ip != new_ips[i] {
                    errs.push(ips_path.index(i).invalid_shown(&shown, IMMUTABLE));
                }
            }
        } else if old_ips.len() > new_ips.len() {
            if new_ips.is_empty() || new_ips[0] != old_ips[0] {
                errs.push(ips_path.index(0).invalid_shown(&shown, IMMUTABLE));
            }
            if new_ips.len() == 1 && s(ns, "ipFamilyPolicy") != "SingleStack" {
                errs.push(ips_path.index(0).invalid_shown(
                    &shown,
                    "`ipFamilyPolicy` must be set to 'SingleStack' when releasing the secondary clusterIP",
                ));
            }
        } else if !old_ips.is_empty() && new_ips[0] != old_ips[0] {
            errs.push(ips_path.index(0).invalid_shown(&shown, IMMUTABLE));
        }
        let (nf, of) = (arr(ns, "ipFamilies"), arr(os, "ipFamilies"));
        if !of.is_empty() && !nf.is_empty() && nf[0] != of[0] {
            errs.push(
                Path::new("spec.ipFamilies")
                    .index(0)
                    .invalid(nf[0].clone(), IMMUTABLE),
            );
        }
    }
    let lb_class = |spec: &Value| {
        spec.get("loadBalancerClass")
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    if s(os, "type") == "LoadBalancer"
        && s(ns, "type") == "LoadBalancer"
        && lb_class(ns) != lb_class(os)
    {
        errs.push(
            Path::new("spec.loadBalancerClass")
                .invalid(lb_class(ns).unwrap_or_default(), "may not change once set"),
        );
    }
    let health = |spec: &Value| {
        s(spec, "type") == "LoadBalancer" && s(spec, "externalTrafficPolicy") == "Local"
    };
    if health(ns) && health(os) && int(ns, "healthCheckNodePort") != int(os, "healthCheckNodePort")
    {
        errs.push(Path::new("spec.healthCheckNodePort").forbidden(IMMUTABLE));
    }
    errs.extend(validate_service(new));
    errs
}

pub fn validate_endpoints(ep: &Value) -> Vec<FieldError> {
    let mut errs = validate_object_meta(ep, NameRule::Subdomain);
    let path = Path::new("subsets");
    for (i, subset) in arr(ep, "subsets").iter().enumerate() {
        let p = path.index(i);
        let (ready, not_ready) = (arr(subset, "addresses"), arr(subset, "notReadyAddresses"));
        if ready.is_empty() && not_ready.is_empty() {
            errs.push(p.required("must specify `addresses` or `notReadyAddresses`"));
        }
        for (field, list) in [("addresses", ready), ("notReadyAddresses", not_ready)] {
            for (j, addr) in list.iter().enumerate() {
                let ap = p.child(field).index(j);
                let ip = s(addr, "ip");
                if !is_valid_ip(ip) {
                    errs.push(ap.child("ip").invalid(ip, ip_error_text()));
                }
                let hostname = s(addr, "hostname");
                if !hostname.is_empty() {
                    errs.extend(dns_label(hostname, &ap.child("hostname")));
                }
                if let Some(node) = addr.get("nodeName").and_then(Value::as_str) {
                    errs.extend(
                        ap.child("nodeName")
                            .invalid_each(node, super::names::is_dns1123_subdomain(node)),
                    );
                }
                errs.extend(non_special_ip(ip, &ap.child("ip")));
            }
        }
        let ports = arr(subset, "ports");
        for (j, port) in ports.iter().enumerate() {
            let pp = p.child("ports").index(j);
            let name = s(port, "name");
            if ports.len() > 1 && name.is_empty() {
                errs.push(pp.child("name").required(""));
            } else if !name.is_empty() {
                errs.extend(dns_label(name, &pp.child("name")));
            }
            let number = int0(port, "port");
            for msg in is_valid_port_num(number) {
                errs.push(pp.child("port").invalid(number, &msg));
            }
            match s(port, "protocol") {
                "" => errs.push(pp.child("protocol").required("")),
                proto if !PROTOCOLS.contains(&proto) => {
                    errs.push(pp.child("protocol").not_supported(proto, PROTOCOLS))
                }
                _ => {}
            }
            if let Some(app) = port.get("appProtocol").and_then(Value::as_str) {
                errs.extend(
                    pp.child("appProtocol")
                        .invalid_each(app, is_qualified_name(app)),
                );
            }
        }
    }
    errs
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn svc(spec: Value) -> Value {
        let mut svc = json!({"metadata": {"name": "web"}, "spec": spec});
        crate::defaults::apply_defaults("", "Service", &mut svc);
        svc
    }

    fn errors(svc: &Value) -> Vec<String> {
        validate_service(svc)
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn a_defaulted_service_is_valid() {
        assert!(errors(&svc(
            json!({"selector": {"app": "web"}, "ports": [{"port": 80}]})
        ))
        .is_empty());
        assert!(errors(&svc(
            json!({"type": "NodePort", "ports": [{"port": 80, "nodePort": 30080}]})
        ))
        .is_empty());
    }

    #[test]
    fn ports_are_checked() {
        let errs = errors(&svc(
            json!({"ports": [{"port": 80}, {"port": 80, "name": "b"}]}),
        ));
        assert_eq!(errs[0], "spec.ports[0].name: Required value");
        assert!(errs.last().unwrap().starts_with(
            "spec.ports[1]: Duplicate value: core.ServicePort{Name:\"\", Protocol:\"TCP\""
        ));
        assert_eq!(errors(&svc(json!({}))), vec!["spec.ports: Required value"]);
    }

    #[test]
    fn names_are_dns1035_labels() {
        let mut s = svc(json!({"ports": [{"port": 80}]}));
        s["metadata"]["name"] = json!("1web");
        assert!(errors(&s)[0]
            .contains("a DNS-1035 label must consist of lower case alphanumeric characters"));
    }

    #[test]
    fn cluster_ip_is_immutable() {
        let mut old = svc(json!({"ports": [{"port": 80}], "clusterIP": "10.43.0.10"}));
        old["metadata"]["uid"] = json!("u");
        let mut new = old.clone();
        new["spec"]["clusterIP"] = json!("10.43.0.11");
        new["spec"]["clusterIPs"] = json!(["10.43.0.11"]);
        let errs: Vec<String> = validate_service_update(&new, &old)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            errs,
            vec!["spec.clusterIPs[0]: Invalid value: []string{\"10.43.0.11\"}: field is immutable"]
        );
    }
}
