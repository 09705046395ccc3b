//! k3s's registries.yaml, written as containerd 1.6 registry hosts
//! (`certs.d/<host>/hosts.toml`) plus auth tables in config.toml.
//!
//! What containerd 1.6.20 does with `config_path` set (checked against its
//! source and, for plain HTTP and auth, by the `pulls_through_a_plain_http_
//! mirror_with_auth` test):
//! - it refuses `registry.mirrors` and `registry.configs."host".tls` in
//!   config.toml ("cannot be set when config_path is provided"), so mirrors
//!   and TLS go to hosts.toml, as k3s writes them: `server` is the registry
//!   itself (tried last), each mirror endpoint a `[host."<url>"]` tried in
//!   order before it;
//! - hosts.toml has no auth, but the CRI still asks
//!   `registry.configs."<host>".auth` for the credentials of each host it
//!   pulls from, `<host>` being the host (and port) of the endpoint URL
//!   tried. So a `configs` entry's auth goes there, under the same key as
//!   in registries.yaml (as k3s does); a mirror's credentials are keyed by
//!   the mirror's host, not by the registry it stands in for;
//! - an `http://` endpoint is pulled from over plain HTTP. A registry
//!   without hosts.toml is HTTPS, but for localhost and 127.0.0.1, which
//!   containerd tries over HTTP as well;
//! - mirror `*` is the folder `_default`, which containerd (1.6.20
//!   included) reads for registries without a folder of their own;
//! - `rewrite` needs k3s's patched containerd; it is ignored with a
//!   warning.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::Path;

use serde::Deserialize;

use super::config::quote;

/// registries.yaml.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Registries {
    /// Registry host (or `*` for every registry) → where to pull from.
    pub mirrors: BTreeMap<String, Mirror>,
    /// Registry or endpoint host → TLS and credentials.
    pub configs: BTreeMap<String, RegistryConfig>,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Mirror {
    /// URLs tried in order, then the registry itself.
    pub endpoint: Vec<String>,
    /// Repository rewrites; containerd 1.6 cannot do them.
    pub rewrite: BTreeMap<String, String>,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct RegistryConfig {
    pub auth: Option<Auth>,
    pub tls: Option<Tls>,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Auth {
    pub username: String,
    pub password: String,
    /// base64 of `username:password`.
    pub auth: String,
    pub identity_token: String,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Tls {
    pub ca_file: String,
    pub cert_file: String,
    pub key_file: String,
    pub insecure_skip_verify: bool,
}

impl Registries {
    /// Parses registries.yaml; an empty file is no registries.
    pub fn parse(text: &str) -> Result<Registries, String> {
        if text.trim().is_empty() {
            return Ok(Registries::default());
        }
        // The parser's message, without its multi-line source excerpt.
        serde_saphyr::from_str(text).map_err(|error| {
            let text = error.to_string();
            let first = text.lines().next().unwrap_or("invalid YAML");
            first.trim_start_matches("error: ").to_string()
        })
    }

    /// Reads and parses `path`.
    pub fn load(path: &Path) -> Result<Registries, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|error| format!("registries file {}: {error}", path.display()))?;
        Registries::parse(&text)
            .map_err(|error| format!("registries file {}: {error}", path.display()))
    }

    /// Things the file asks for that containerd 1.6 cannot do.
    pub fn warnings(&self) -> Vec<String> {
        self.mirrors
            .iter()
            .filter(|(_, mirror)| !mirror.rewrite.is_empty())
            .map(|(host, _)| {
                format!("registries: the rewrite of mirror {host:?} is ignored (containerd 1.6 cannot rewrite)")
            })
            .collect()
    }

    /// The hosts.toml of each registry: `(folder name, contents)`. The
    /// folder of mirror `*` is `_default`. A registry with neither mirror
    /// endpoints nor TLS settings gets none (its auth is in config.toml).
    pub fn hosts_files(&self) -> BTreeMap<String, String> {
        let mut hosts: Vec<&str> = self.mirrors.keys().map(String::as_str).collect();
        hosts.extend(self.configs.keys().map(String::as_str));
        hosts.sort_unstable();
        hosts.dedup();
        hosts
            .into_iter()
            .filter(|host| valid_host_dir(host))
            .filter_map(|host| {
                let dir = if host == "*" { "_default" } else { host };
                Some((dir.to_string(), self.hosts_toml(host)?))
            })
            .collect()
    }

    /// As k3s (pkg/agent/containerd/config.go) writes it: `server` is the
    /// registry itself (`http` for a loopback host with a port, else
    /// `https`; Docker Hub at registry-1.docker.io), none for `*`; each
    /// mirror endpoint a `[host]` tried before it, but for a last endpoint
    /// that is the registry itself, which stays `server`.
    fn hosts_toml(&self, host: &str) -> Option<String> {
        let server = (host != "*").then(|| Endpoint::parse(host));
        let mut endpoints: Vec<Endpoint> = Vec::new();
        let listed = self.mirrors.get(host).map(|m| m.endpoint.as_slice());
        let listed = listed.unwrap_or_default();
        for (at, text) in listed.iter().enumerate() {
            let endpoint = Endpoint::parse(text);
            let is_server = server.as_ref().is_some_and(|s| s.url == endpoint.url);
            if (at + 1 == listed.len() && is_server)
                || endpoints.iter().any(|seen| seen.url == endpoint.url)
            {
                continue;
            }
            endpoints.push(endpoint);
        }
        let server_tls = server.as_ref().and_then(|s| self.tls_for(&s.registry));
        if endpoints.is_empty() && server_tls.is_none() {
            return None;
        }
        let mut out = String::from("# Written by capstan from registries.yaml; edits are lost.\n");
        if let Some(server) = &server {
            let _ = writeln!(out, "server = {}", quote(&server.url));
            if let Some(tls) = server_tls {
                write_tls(&mut out, "", tls);
            }
        }
        for endpoint in &endpoints {
            let _ = write!(
                out,
                "\n[host.{}]\n  capabilities = [\"pull\", \"resolve\"]\n",
                quote(&endpoint.url)
            );
            if endpoint.override_path {
                out.push_str("  override_path = true\n");
            }
            if let Some(tls) = self.tls_for(&endpoint.registry) {
                write_tls(&mut out, "  ", tls);
            }
        }
        Some(out)
    }

    /// The TLS settings of `registry` (Docker Hub's under either name).
    fn tls_for(&self, registry: &str) -> Option<&Tls> {
        let config = match registry {
            "docker.io" => self
                .configs
                .get("registry-1.docker.io")
                .or_else(|| self.configs.get("docker.io")),
            _ => self.configs.get(registry),
        };
        config.and_then(|config| config.tls.as_ref())
    }

    /// `[plugins."io.containerd.grpc.v1.cri".registry.configs."host".auth]`
    /// tables for config.toml.
    pub fn auth_toml(&self) -> String {
        let mut out = String::new();
        let mut entries: Vec<(&str, &Auth)> = self
            .configs
            .iter()
            .filter_map(|(host, config)| Some((host.as_str(), config.auth.as_ref()?)))
            .collect();
        // CRI asks for the host it talks to: Docker Hub's is another name.
        if let Some(auth) = self.configs.get("docker.io").and_then(|c| c.auth.as_ref()) {
            if !self.configs.contains_key("registry-1.docker.io") {
                entries.push(("registry-1.docker.io", auth));
            }
        }
        for (host, auth) in entries {
            let _ = writeln!(
                out,
                "[plugins.\"io.containerd.grpc.v1.cri\".registry.configs.{}.auth]",
                quote(host)
            );
            for (key, value) in [
                ("username", &auth.username),
                ("password", &auth.password),
                ("auth", &auth.auth),
                ("identitytoken", &auth.identity_token),
            ] {
                if !value.is_empty() {
                    let _ = writeln!(out, "  {key} = {}", quote(value));
                }
            }
        }
        out
    }

    /// Replaces `certs_d` with the hosts files of these registries.
    pub fn write_hosts(&self, certs_d: &Path) -> std::io::Result<()> {
        match std::fs::remove_dir_all(certs_d) {
            Err(error) if error.kind() != std::io::ErrorKind::NotFound => return Err(error),
            _ => {}
        }
        std::fs::create_dir_all(certs_d)?;
        for (dir, contents) in self.hosts_files() {
            let dir = certs_d.join(dir);
            std::fs::create_dir_all(&dir)?;
            std::fs::write(dir.join("hosts.toml"), contents)?;
        }
        Ok(())
    }
}

/// A registry host is one path component.
fn valid_host_dir(host: &str) -> bool {
    !host.is_empty() && host != "." && host != ".." && !host.contains('/')
}

/// A registry endpoint, normalized as containerd and k3s do.
#[derive(Debug, PartialEq)]
struct Endpoint {
    /// `scheme://host[:port][/path]`; the path only when it is not `/v2`.
    url: String,
    /// The registry it is (`host[:port]`, `docker.io` for Docker Hub), whose
    /// `configs` apply.
    registry: String,
    /// A path of its own replaces containerd's `/v2`.
    override_path: bool,
}

impl Endpoint {
    fn parse(text: &str) -> Endpoint {
        let text = text.trim();
        let (scheme, rest) = match text.split_once("://") {
            Some((scheme, rest)) => (Some(scheme), rest),
            None => (None, text),
        };
        let (authority, path) = match rest.find('/') {
            Some(at) => (&rest[..at], rest[at..].trim_end_matches('/')),
            None => (rest, ""),
        };
        let scheme = scheme.unwrap_or(if plain_http_by_default(authority) {
            "http"
        } else {
            "https"
        });
        let (host, registry) = match authority {
            "docker.io" | "registry-1.docker.io" => ("registry-1.docker.io", "docker.io"),
            other => (other, other),
        };
        let override_path = !(path.is_empty() || path == "/v2");
        let path = if override_path { path } else { "" };
        Endpoint {
            url: format!("{scheme}://{host}{path}"),
            registry: registry.to_string(),
            override_path,
        }
    }
}

/// containerd (and k3s) speak plain HTTP to a loopback host on a port
/// other than 443.
fn plain_http_by_default(authority: &str) -> bool {
    let (host, port) = match authority.rsplit_once(':') {
        Some((host, port)) if !port.contains(']') => (host, Some(port)),
        _ => (authority, None),
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let loopback = host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    loopback && port.is_some_and(|port| !port.is_empty() && port != "443")
}

fn write_tls(out: &mut String, indent: &str, tls: &Tls) {
    if !tls.ca_file.is_empty() {
        let _ = writeln!(out, "{indent}ca = [{}]", quote(&tls.ca_file));
    }
    if !tls.cert_file.is_empty() || !tls.key_file.is_empty() {
        let _ = writeln!(
            out,
            "{indent}client = [[{}, {}]]",
            quote(&tls.cert_file),
            quote(&tls.key_file)
        );
    }
    if tls.insecure_skip_verify {
        let _ = writeln!(out, "{indent}skip_verify = true");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const YAML: &str = r#"
mirrors:
  docker.io:
    endpoint:
      - "https://mirror.example.com:5000"
      - "http://10.0.0.5:5000"
  "registry.local:5000":
    endpoint:
      - "http://registry.local:5000"
  "*":
    endpoint:
      - "https://cache.example.com/v2/proxy"
configs:
  "mirror.example.com:5000":
    tls:
      ca_file: /etc/ssl/mirror-ca.pem
      cert_file: /etc/ssl/client.pem
      key_file: /etc/ssl/client-key.pem
    auth:
      username: user
      password: "pa\"ss"
  "secure.example.com":
    tls:
      insecure_skip_verify: true
"#;

    #[test]
    fn parses_the_k3s_format() {
        let registries = Registries::parse(YAML).unwrap();
        assert_eq!(
            registries.mirrors["docker.io"].endpoint,
            ["https://mirror.example.com:5000", "http://10.0.0.5:5000"]
        );
        let config = &registries.configs["mirror.example.com:5000"];
        assert_eq!(config.auth.as_ref().unwrap().username, "user");
        assert_eq!(
            config.tls.as_ref().unwrap().ca_file,
            "/etc/ssl/mirror-ca.pem"
        );
        assert!(
            registries.configs["secure.example.com"]
                .tls
                .as_ref()
                .unwrap()
                .insecure_skip_verify
        );
        assert_eq!(Registries::parse("\n").unwrap(), Registries::default());
    }

    #[test]
    fn bad_yaml_is_a_clear_error() {
        assert!(Registries::parse("mirrors: [").is_err());
        let error = Registries::parse("mirrors:\n  docker.io:\n    endpoints: [x]\n").unwrap_err();
        assert!(error.contains("endpoints"), "{error}");
        assert!(Registries::parse("mirrors:\n  docker.io:\n    endpoint: 5\n").is_err());
        let temp = tempfile::tempdir().unwrap();
        let path = temp.path().join("registries.yaml");
        std::fs::write(&path, "configs: {a: {tls: {insecure_skip_verify: maybe}}}").unwrap();
        let error = Registries::load(&path).unwrap_err();
        assert!(
            error.starts_with(&format!("registries file {}: ", path.display())),
            "{error}"
        );
        assert!(Registries::load(&temp.path().join("none")).is_err());
        assert_eq!(
            Registries::parse("- a\n").unwrap_err(),
            "line 1 column 1: expected mapping start"
        );
    }

    #[test]
    fn hosts_files() {
        let files = Registries::parse(YAML).unwrap().hosts_files();
        assert_eq!(
            files.keys().collect::<Vec<_>>(),
            [
                "_default",
                "docker.io",
                "mirror.example.com:5000",
                "registry.local:5000",
                "secure.example.com"
            ]
        );
        let header = "# Written by capstan from registries.yaml; edits are lost.\n";
        assert_eq!(
            files["docker.io"],
            format!(
                "{header}server = \"https://registry-1.docker.io\"\n\
                 \n[host.\"https://mirror.example.com:5000\"]\n  capabilities = [\"pull\", \"resolve\"]\n\
                 \x20 ca = [\"/etc/ssl/mirror-ca.pem\"]\n\
                 \x20 client = [[\"/etc/ssl/client.pem\", \"/etc/ssl/client-key.pem\"]]\n\
                 \n[host.\"http://10.0.0.5:5000\"]\n  capabilities = [\"pull\", \"resolve\"]\n"
            )
        );
        assert_eq!(
            files["registry.local:5000"],
            format!(
                "{header}server = \"https://registry.local:5000\"\n\
                 \n[host.\"http://registry.local:5000\"]\n  capabilities = [\"pull\", \"resolve\"]\n"
            )
        );
        assert_eq!(
            files["_default"],
            format!(
                "{header}\n[host.\"https://cache.example.com/v2/proxy\"]\n  capabilities = [\"pull\", \"resolve\"]\n\
                 \x20 override_path = true\n"
            )
        );
        assert_eq!(
            files["secure.example.com"],
            format!("{header}server = \"https://secure.example.com\"\nskip_verify = true\n")
        );
    }

    #[test]
    fn endpoints_normalized() {
        let parse = |text: &str| {
            let endpoint = Endpoint::parse(text);
            (endpoint.url, endpoint.registry, endpoint.override_path)
        };
        let expect = |url: &str, registry: &str, override_path| {
            (url.to_string(), registry.to_string(), override_path)
        };
        assert_eq!(
            parse("reg:5000/"),
            expect("https://reg:5000", "reg:5000", false)
        );
        assert_eq!(parse("http://reg/v2"), expect("http://reg", "reg", false));
        assert_eq!(
            parse("https://reg/mirror/"),
            expect("https://reg/mirror", "reg", true)
        );
        assert_eq!(
            parse("docker.io"),
            expect("https://registry-1.docker.io", "docker.io", false)
        );
        // Loopback with a port is plain HTTP unless told otherwise.
        assert_eq!(
            parse("127.0.0.1:5000"),
            expect("http://127.0.0.1:5000", "127.0.0.1:5000", false)
        );
        assert_eq!(parse("localhost:443").0, "https://localhost:443");
        assert_eq!(parse("[::1]:5000").0, "http://[::1]:5000");
        assert_eq!(parse("localhost").0, "https://localhost");
        assert_eq!(parse("https://127.0.0.1:5000").0, "https://127.0.0.1:5000");
        assert!(!Registries::parse("mirrors: {\"../x\": {endpoint: [a]}}")
            .unwrap()
            .hosts_files()
            .contains_key("../x"));
    }

    #[test]
    fn the_registry_itself_last_stays_server() {
        let registries = Registries::parse(
            "mirrors:\n\
             \x20 \"127.0.0.1:5000\": {endpoint: [\"http://127.0.0.1:5000\"]}\n\
             \x20 quay.io: {endpoint: [\"https://quay.io\", \"https://mirror.example.com\"]}\n\
             \x20 ghcr.io: {endpoint: [\"https://mirror.example.com\", \"ghcr.io\"]}\n\
             configs:\n\
             \x20 only-auth.example.com: {auth: {username: a, password: b}}\n",
        )
        .unwrap();
        let files = registries.hosts_files();
        let header = "# Written by capstan from registries.yaml; edits are lost.\n";
        let host =
            |url: &str| format!("\n[host.\"{url}\"]\n  capabilities = [\"pull\", \"resolve\"]\n");
        // A plain-HTTP local registry: nothing but itself, no HTTPS tried.
        assert_eq!(files.get("127.0.0.1:5000"), None);
        assert_eq!(
            files["quay.io"],
            format!(
                "{header}server = \"https://quay.io\"\n{}{}",
                host("https://quay.io"),
                host("https://mirror.example.com")
            )
        );
        assert_eq!(
            files["ghcr.io"],
            format!(
                "{header}server = \"https://ghcr.io\"\n{}",
                host("https://mirror.example.com")
            )
        );
        // Auth alone needs no hosts file: it is in config.toml.
        assert!(!files.contains_key("only-auth.example.com"));
        let with_tls = Registries::parse(
            "mirrors: {\"127.0.0.1:5000\": {endpoint: [\"http://127.0.0.1:5000\"]}}\n\
             configs: {\"127.0.0.1:5000\": {tls: {insecure_skip_verify: true}}}\n",
        )
        .unwrap();
        assert_eq!(
            with_tls.hosts_files()["127.0.0.1:5000"],
            format!("{header}server = \"http://127.0.0.1:5000\"\nskip_verify = true\n")
        );
    }

    #[test]
    fn auth_goes_to_config_toml() {
        let registries = Registries::parse(YAML).unwrap();
        assert_eq!(
            registries.auth_toml(),
            "[plugins.\"io.containerd.grpc.v1.cri\".registry.configs.\"mirror.example.com:5000\".auth]\n\
             \x20 username = \"user\"\n  password = \"pa\\\"ss\"\n"
        );
        assert!(registries.warnings().is_empty());
        let hub = Registries::parse("configs: {docker.io: {auth: {auth: dTpw}}}").unwrap();
        assert_eq!(
            hub.auth_toml(),
            "[plugins.\"io.containerd.grpc.v1.cri\".registry.configs.\"docker.io\".auth]\n\
             \x20 auth = \"dTpw\"\n\
             [plugins.\"io.containerd.grpc.v1.cri\".registry.configs.\"registry-1.docker.io\".auth]\n\
             \x20 auth = \"dTpw\"\n"
        );
        let rewrite =
            Registries::parse("mirrors: {docker.io: {rewrite: {\"^a/(.*)\": \"b/$1\"}}}").unwrap();
        assert_eq!(rewrite.warnings().len(), 1);
    }

    #[test]
    fn write_hosts_replaces_the_folder() {
        let temp = tempfile::tempdir().unwrap();
        let certs_d = temp.path().join("certs.d");
        std::fs::create_dir_all(certs_d.join("old.example.com")).unwrap();
        Registries::parse(YAML)
            .unwrap()
            .write_hosts(&certs_d)
            .unwrap();
        assert!(!certs_d.join("old.example.com").exists());
        let text = std::fs::read_to_string(certs_d.join("docker.io/hosts.toml")).unwrap();
        assert!(text.contains("registry-1.docker.io"));
        Registries::default().write_hosts(&certs_d).unwrap();
        assert_eq!(std::fs::read_dir(&certs_d).unwrap().count(), 0);
    }
}
