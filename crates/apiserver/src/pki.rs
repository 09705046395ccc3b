//! The cluster's certificates, made on first start and kept in the data dir:
//! a CA, the API server's serving certificate, the admin's client
//! certificate and the API server's client certificate for nodes
//! (`apiserver-kubelet-client`), plus the admin kubeconfig that uses them.
//! Nodes' serving certificates are issued on demand.
//!
//! The CA and the admin certificate are reused as long as they exist. The
//! serving certificate is made again whenever the names it must cover
//! change (a new host address, another service CIDR), signed by the same CA.

use std::fs;
use std::io;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use base64::Engine;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};

/// Paths of the cluster's certificates under `DATA_DIR/tls`.
#[derive(Clone, Debug)]
pub struct Pki {
    pub dir: PathBuf,
}

impl Pki {
    pub fn new(data_dir: &Path) -> Pki {
        Pki {
            dir: data_dir.join("tls"),
        }
    }
    pub fn ca_cert(&self) -> PathBuf {
        self.dir.join("ca.crt")
    }
    pub fn ca_key(&self) -> PathBuf {
        self.dir.join("ca.key")
    }
    pub fn serving_cert(&self) -> PathBuf {
        self.dir.join("serving.crt")
    }
    pub fn serving_key(&self) -> PathBuf {
        self.dir.join("serving.key")
    }
    fn serving_names(&self) -> PathBuf {
        self.dir.join("serving.names")
    }
    pub fn admin_cert(&self) -> PathBuf {
        self.dir.join("admin.crt")
    }
    pub fn admin_key(&self) -> PathBuf {
        self.dir.join("admin.key")
    }
    /// The API server's client certificate for nodes' endpoints.
    pub fn kubelet_client_cert(&self) -> PathBuf {
        self.dir.join("apiserver-kubelet-client.crt")
    }
    pub fn kubelet_client_key(&self) -> PathBuf {
        self.dir.join("apiserver-kubelet-client.key")
    }

    /// The key service account tokens are signed with (PKCS#8, made by
    /// `sa_token` on first start, as k3s' `service.key`).
    pub fn service_account_key(&self) -> PathBuf {
        self.dir.join("service.key")
    }

    /// Makes whatever is missing or out of date. `names` are the serving
    /// certificate's subject alternative names (DNS names and addresses).
    pub fn ensure(&self, names: &[String]) -> io::Result<()> {
        fs::create_dir_all(&self.dir)?;
        restrict(&self.dir, 0o700)?;
        if !self.ca_cert().exists() || !self.ca_key().exists() {
            let key = KeyPair::generate().map_err(tls_error)?;
            let mut params = CertificateParams::default();
            params.distinguished_name = name("capstan-ca", None);
            params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
            params.key_usages = vec![
                KeyUsagePurpose::KeyCertSign,
                KeyUsagePurpose::CrlSign,
                KeyUsagePurpose::DigitalSignature,
            ];
            params.not_after = rcgen::date_time_ymd(2036, 1, 1);
            let cert = params.self_signed(&key).map_err(tls_error)?;
            write_secret(&self.ca_key(), &key.serialize_pem())?;
            fs::write(self.ca_cert(), cert.pem())?;
            // A new CA invalidates everything it signed before.
            let _ = fs::remove_file(self.serving_cert());
            let _ = fs::remove_file(self.admin_cert());
            let _ = fs::remove_file(self.kubelet_client_cert());
        }
        let ca_key = KeyPair::from_pem(&fs::read_to_string(self.ca_key())?).map_err(tls_error)?;
        let ca = Issuer::from_ca_cert_pem(&fs::read_to_string(self.ca_cert())?, ca_key)
            .map_err(tls_error)?;

        let wanted = names.join("\n");
        let current = fs::read_to_string(self.serving_names()).unwrap_or_default();
        if current != wanted || !self.serving_cert().exists() || !self.serving_key().exists() {
            let mut params = CertificateParams::default();
            params.distinguished_name = name("kube-apiserver", None);
            params.subject_alt_names = names.iter().map(|n| san(n)).collect::<io::Result<_>>()?;
            params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
            params.key_usages = vec![
                KeyUsagePurpose::DigitalSignature,
                KeyUsagePurpose::KeyEncipherment,
            ];
            params.not_after = rcgen::date_time_ymd(2036, 1, 1);
            self.issue(&params, &ca, &self.serving_cert(), &self.serving_key())?;
            fs::write(self.serving_names(), wanted)?;
        }

        if !self.admin_cert().exists() || !self.admin_key().exists() {
            let params = client_params("system:admin", &["system:masters"]);
            self.issue(&params, &ca, &self.admin_cert(), &self.admin_key())?;
        }

        if !self.kubelet_client_cert().exists() || !self.kubelet_client_key().exists() {
            // As upstream's kubeadm names it.
            let params = client_params("kube-apiserver-kubelet-client", &["system:masters"]);
            let (cert, key) = (self.kubelet_client_cert(), self.kubelet_client_key());
            self.issue(&params, &ca, &cert, &key)?;
        }
        Ok(())
    }

    /// A serving certificate for the endpoint of node `node` (what its
    /// kubelet serves on port 10250), covering `names` (its addresses and
    /// host names), signed by the cluster CA; not kept.
    pub fn node_serving(&self, node: &str, names: &[String]) -> io::Result<NodeServing> {
        let ca_cert = fs::read_to_string(self.ca_cert())?;
        let ca_key = KeyPair::from_pem(&fs::read_to_string(self.ca_key())?).map_err(tls_error)?;
        let ca = Issuer::from_ca_cert_pem(&ca_cert, ca_key).map_err(tls_error)?;
        let mut params = CertificateParams::default();
        params.distinguished_name = name(&format!("system:node:{node}"), Some(&["system:nodes"]));
        params.subject_alt_names = names.iter().map(|n| san(n)).collect::<io::Result<_>>()?;
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        params.not_after = rcgen::date_time_ymd(2036, 1, 1);
        let key = KeyPair::generate().map_err(tls_error)?;
        let cert = params.signed_by(&key, &ca).map_err(tls_error)?;
        Ok(NodeServing {
            ca_cert,
            cert: cert.pem(),
            key: key.serialize_pem(),
        })
    }

    /// A client certificate for node `node`'s agent: user
    /// `system:node:<node>` in group `system:nodes`, as upstream's kubelets
    /// are; not kept. Returns the certificate and key, PEM.
    pub fn node_client(&self, node: &str) -> io::Result<(String, String)> {
        let ca_cert = fs::read_to_string(self.ca_cert())?;
        let ca_key = KeyPair::from_pem(&fs::read_to_string(self.ca_key())?).map_err(tls_error)?;
        let ca = Issuer::from_ca_cert_pem(&ca_cert, ca_key).map_err(tls_error)?;
        let params = client_params(&format!("system:node:{node}"), &["system:nodes"]);
        let key = KeyPair::generate().map_err(tls_error)?;
        let cert = params.signed_by(&key, &ca).map_err(tls_error)?;
        Ok((cert.pem(), key.serialize_pem()))
    }

    fn issue(
        &self,
        params: &CertificateParams,
        ca: &Issuer<'_, KeyPair>,
        cert_path: &Path,
        key_path: &Path,
    ) -> io::Result<()> {
        let key = KeyPair::generate().map_err(tls_error)?;
        let cert = params.signed_by(&key, ca).map_err(tls_error)?;
        write_secret(key_path, &key.serialize_pem())?;
        fs::write(cert_path, cert.pem())
    }

    /// A kubeconfig for the admin, pointing at `server` (an https URL).
    pub fn admin_kubeconfig(&self, server: &str) -> io::Result<String> {
        Ok(kubeconfig(
            server,
            "admin",
            &fs::read_to_string(self.ca_cert())?,
            &fs::read_to_string(self.admin_cert())?,
            &fs::read_to_string(self.admin_key())?,
        ))
    }
}

/// A kubeconfig for `server` (an https URL) trusting `ca`, as `user` with
/// client certificate `cert` and key `key` (all PEM).
pub fn kubeconfig(server: &str, user: &str, ca: &str, cert: &str, key: &str) -> String {
    let encode = |pem: &str| base64::engine::general_purpose::STANDARD.encode(pem);
    format!(
        "apiVersion: v1
kind: Config
clusters:
- name: capstan
  cluster:
    server: {server}
    certificate-authority-data: {ca}
users:
- name: {user}
  user:
    client-certificate-data: {cert}
    client-key-data: {key}
contexts:
- name: capstan
  context:
    cluster: capstan
    user: {user}
current-context: capstan
preferences: {{}}
",
        ca = encode(ca),
        cert = encode(cert),
        key = encode(key),
    )
}

/// A node's serving certificate and key and the CA that signed it, PEM.
pub struct NodeServing {
    pub ca_cert: String,
    pub cert: String,
    pub key: String,
}

/// Writes the admin kubeconfig to `path`, readable by its owner only.
pub fn write_kubeconfig(path: &Path, contents: &str) -> io::Result<()> {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent)?;
    }
    write_secret(path, contents)
}

/// Parameters of a client certificate: CN is the user, O the groups, as
/// Kubernetes reads them.
fn client_params(user: &str, groups: &[&str]) -> CertificateParams {
    let mut params = CertificateParams::default();
    params.distinguished_name = name(user, Some(groups));
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    params.not_after = rcgen::date_time_ymd(2036, 1, 1);
    params
}

fn name(common_name: &str, organizations: Option<&[&str]>) -> DistinguishedName {
    let mut name = DistinguishedName::new();
    for organization in organizations.unwrap_or_default() {
        name.push(DnType::OrganizationName, *organization);
    }
    name.push(DnType::CommonName, common_name);
    name
}

fn san(name: &str) -> io::Result<SanType> {
    match name.parse::<IpAddr>() {
        Ok(address) => Ok(SanType::IpAddress(address)),
        Err(_) => Ok(SanType::DnsName(name.try_into().map_err(tls_error)?)),
    }
}

/// The names the serving certificate covers: loopback, the host's name and
/// addresses, the in-cluster names of the `kubernetes` Service and its
/// address, plus any extra ones asked for.
pub fn serving_names(service_ip: IpAddr, extra: &[String]) -> Vec<String> {
    let mut names: Vec<String> = [
        "localhost",
        "kubernetes",
        "kubernetes.default",
        "kubernetes.default.svc",
        "kubernetes.default.svc.cluster.local",
        "127.0.0.1",
        "::1",
    ]
    .iter()
    .map(|name| name.to_string())
    .collect();
    names.push(service_ip.to_string());
    if let Some(host) = hostname() {
        names.push(host);
    }
    if let Ok(interfaces) = if_addrs::get_if_addrs() {
        names.extend(
            interfaces
                .iter()
                .map(|interface| interface.ip().to_string()),
        );
    }
    names.extend(extra.iter().cloned());
    let mut seen = std::collections::BTreeSet::new();
    names.retain(|name| seen.insert(name.clone()));
    names
}

fn hostname() -> Option<String> {
    let name = fs::read_to_string("/proc/sys/kernel/hostname").ok()?;
    let name = name.trim().to_lowercase();
    (!name.is_empty()).then_some(name)
}

/// Writes a file only its owner may read, whole: it is made 0600 before
/// anything is written, and renamed into place once synced.
pub fn write_secret(path: &Path, contents: &str) -> io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut staged = path.as_os_str().to_owned();
    staged.push(".tmp");
    let staged = std::path::PathBuf::from(staged);
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&staged)?;
    file.write_all(contents.as_bytes())?;
    file.sync_all()?;
    fs::rename(staged, path)
}

fn restrict(path: &Path, mode: u32) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
}

fn tls_error(error: impl std::fmt::Display) -> io::Error {
    io::Error::other(format!("certificate: {error}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn certificates_are_made_once_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let pki = Pki::new(dir.path());
        let names = serving_names("10.43.0.1".parse().unwrap(), &[]);
        pki.ensure(&names).unwrap();
        let ca = fs::read(pki.ca_cert()).unwrap();
        let admin = fs::read(pki.admin_cert()).unwrap();
        let serving = fs::read(pki.serving_cert()).unwrap();
        pki.ensure(&names).unwrap();
        assert_eq!(fs::read(pki.ca_cert()).unwrap(), ca);
        assert_eq!(fs::read(pki.admin_cert()).unwrap(), admin);
        assert_eq!(fs::read(pki.serving_cert()).unwrap(), serving);
        // New names: a new serving certificate from the same CA.
        let more = serving_names("10.43.0.1".parse().unwrap(), &["api.example".into()]);
        pki.ensure(&more).unwrap();
        assert_eq!(fs::read(pki.ca_cert()).unwrap(), ca);
        assert_ne!(fs::read(pki.serving_cert()).unwrap(), serving);
        let kubeconfig = pki.admin_kubeconfig("https://127.0.0.1:6443").unwrap();
        assert!(kubeconfig.contains("server: https://127.0.0.1:6443"));
    }

    #[test]
    fn nodes_get_certificates_of_the_cluster_ca() {
        let dir = tempfile::tempdir().unwrap();
        let pki = Pki::new(dir.path());
        pki.ensure(&serving_names("10.43.0.1".parse().unwrap(), &[]))
            .unwrap();
        let client = fs::read(pki.kubelet_client_cert()).unwrap();
        let (_, parsed) = x509_parser::pem::parse_x509_pem(&client).unwrap();
        let cert = parsed.parse_x509().unwrap();
        let subject = cert.subject().to_string();
        assert!(
            subject.contains("CN=kube-apiserver-kubelet-client"),
            "{subject}"
        );
        assert!(subject.contains("O=system:masters"), "{subject}");
        let names = ["node-1".to_string(), "192.0.2.7".to_string()];
        let serving = pki.node_serving("node-1", &names).unwrap();
        assert_eq!(serving.ca_cert, fs::read_to_string(pki.ca_cert()).unwrap());
        let (_, parsed) = x509_parser::pem::parse_x509_pem(serving.cert.as_bytes()).unwrap();
        let cert = parsed.parse_x509().unwrap();
        assert!(cert.subject().to_string().contains("CN=system:node:node-1"));
        let sans = cert.subject_alternative_name().unwrap().unwrap().value;
        assert_eq!(sans.general_names.len(), 2);
    }
}
