//! How a machine joins the cluster as a node, as k3s does: the server
//! keeps a join token in DATA_DIR/node-token, `K10<hash>::server:<secret>`,
//! where the hash is the SHA-256 of the cluster CA (so the agent can check
//! the CA it is served before trusting it) and the secret proves the agent
//! may join. Two open paths serve it:
//!
//! - `GET /cacerts`: the cluster CA, PEM (the agent checks the hash);
//! - `POST /v1-capstan/node-credentials` with `Authorization: Bearer
//!   <token>` and `{"nodeName": N, "addresses": [...]}`: the node's client
//!   certificate (`system:node:N`, group `system:nodes`) and the serving
//!   certificate of its endpoint, signed by the cluster CA.

use std::io;
use std::path::{Path, PathBuf};

use capstan_api::ApiError;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::pki::Pki;

/// Where joining nodes get their certificates.
pub const CREDENTIALS_PATH: &str = "/v1-capstan/node-credentials";

/// The file the join token is kept in, under the data dir.
pub const TOKEN_FILE: &str = "node-token";

/// The user part of the token the server writes, as k3s'.
const TOKEN_USER: &str = "server";

pub struct NodeJoin {
    pki: Pki,
    /// The whole token, as written to the file.
    token: String,
}

/// What an agent asks for.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CredentialsRequest {
    pub node_name: String,
    /// Names and addresses the node's endpoint is reached at.
    #[serde(default)]
    pub addresses: Vec<String>,
}

/// What it gets, PEM.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeCredentials {
    pub ca_cert: String,
    pub client_cert: String,
    pub client_key: String,
    pub serving_cert: String,
    pub serving_key: String,
}

impl NodeJoin {
    /// Reads the token from DATA_DIR/node-token, writing a new one first
    /// if there is none. The CA must exist.
    pub fn load(data_dir: &Path) -> io::Result<NodeJoin> {
        let pki = Pki::new(data_dir);
        let path = token_path(data_dir);
        let token = match std::fs::read_to_string(&path) {
            Ok(text) if !text.trim().is_empty() => text.trim().to_string(),
            _ => {
                let ca = std::fs::read(pki.ca_cert())?;
                let secret = format!(
                    "{}{}",
                    uuid::Uuid::new_v4().simple(),
                    uuid::Uuid::new_v4().simple()
                );
                let token = format!("K10{}::{TOKEN_USER}:{secret}", ca_hash(&ca));
                crate::pki::write_secret(&path, &format!("{token}\n"))?;
                token
            }
        };
        Ok(NodeJoin { pki, token })
    }

    /// The cluster CA, PEM.
    pub fn ca(&self) -> io::Result<String> {
        std::fs::read_to_string(self.pki.ca_cert())
    }

    /// The credentials for `request`, if `presented` is the token (whole,
    /// or only its secret, as k3s also takes it).
    pub fn credentials(
        &self,
        presented: Option<&str>,
        request: &CredentialsRequest,
    ) -> Result<NodeCredentials, ApiError> {
        if !presented.is_some_and(|token| self.accepts(token)) {
            return Err(ApiError::unauthorized());
        }
        let name = request.node_name.trim();
        if name.is_empty() || !capstan_api::validation::is_dns1123_subdomain(name).is_empty() {
            return Err(ApiError::bad_request(format!(
                "invalid node name {name:?}: must be a DNS subdomain"
            )));
        }
        let mut names = vec![name.to_string()];
        names.extend(request.addresses.iter().filter(|a| !a.is_empty()).cloned());
        let failed =
            |error: io::Error| ApiError::internal(format!("issuing certificates: {error}"));
        let serving = self.pki.node_serving(name, &names).map_err(failed)?;
        let (client_cert, client_key) = self.pki.node_client(name).map_err(failed)?;
        Ok(NodeCredentials {
            ca_cert: serving.ca_cert,
            client_cert,
            client_key,
            serving_cert: serving.cert,
            serving_key: serving.key,
        })
    }

    fn accepts(&self, presented: &str) -> bool {
        let secret = |token: &str| token.rsplit(':').next().unwrap_or_default().to_string();
        let presented = presented.trim();
        let ours = secret(&self.token);
        // A full token must also name our CA.
        if presented.starts_with("K10") && presented != self.token {
            return false;
        }
        constant_time_eq(secret(presented).as_bytes(), ours.as_bytes())
    }
}

/// DATA_DIR/node-token.
pub fn token_path(data_dir: &Path) -> PathBuf {
    data_dir.join(TOKEN_FILE)
}

/// The hash a token carries of the CA it was issued under: hex SHA-256 of
/// the CA file's bytes as `/cacerts` serves them.
pub fn ca_hash(ca_pem: &[u8]) -> String {
    Sha256::digest(ca_pem)
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// Compares without stopping at the first difference, so the time taken
/// does not tell how much of a guess was right.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::pki_types::pem::PemObject;

    fn join() -> (tempfile::TempDir, NodeJoin) {
        let dir = tempfile::tempdir().unwrap();
        Pki::new(dir.path()).ensure(&["localhost".into()]).unwrap();
        let join = NodeJoin::load(dir.path()).unwrap();
        (dir, join)
    }

    fn request(name: &str) -> CredentialsRequest {
        CredentialsRequest {
            node_name: name.into(),
            addresses: vec!["192.0.2.7".into()],
        }
    }

    #[test]
    fn token_names_the_ca_and_survives_restarts() {
        let (dir, join) = join();
        let ca = std::fs::read(Pki::new(dir.path()).ca_cert()).unwrap();
        assert!(join
            .token
            .starts_with(&format!("K10{}::server:", ca_hash(&ca))));
        assert_eq!(NodeJoin::load(dir.path()).unwrap().token, join.token);
    }

    #[test]
    fn credentials_need_the_token() {
        let (_dir, join) = join();
        let token = join.token.clone();
        let secret = token.rsplit(':').next().unwrap().to_string();
        assert!(join.credentials(Some(&token), &request("worker-1")).is_ok());
        assert!(join
            .credentials(Some(&secret), &request("worker-1"))
            .is_ok());
        for wrong in [None, Some("nope"), Some("K10abc::server:nope")] {
            let error = join.credentials(wrong, &request("worker-1")).err().unwrap();
            assert_eq!(error.code, 401);
        }
        let error = join
            .credentials(Some(&token), &request("Bad_Name"))
            .err()
            .unwrap();
        assert_eq!(error.code, 400);
    }

    #[test]
    fn client_certificate_is_the_node_s() {
        let (_dir, join) = join();
        let issued = join
            .credentials(Some(&join.token.clone()), &request("worker-1"))
            .unwrap();
        let der = rustls::pki_types::CertificateDer::from_pem_slice(issued.client_cert.as_bytes())
            .unwrap();
        let user = crate::authn::user_from_certificate(&der).unwrap();
        assert_eq!(user.name, "system:node:worker-1");
        assert!(user.groups.iter().any(|g| g == "system:nodes"));
    }
}
