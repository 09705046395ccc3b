//! An agent joining a server with its token, as a k3s agent does: fetch
//! the cluster CA from `/cacerts` and check it against the hash the token
//! carries (`K10<sha256 of the CA>::server:<secret>`), then, trusting only
//! that CA, trade the token for the node's certificates. They are kept in
//! DATA_DIR/agent so that a restarted agent comes back without the server.

use std::path::{Path, PathBuf};

use base64::Engine;
use capstan_apiserver::join::{ca_hash, NodeCredentials, CREDENTIALS_PATH};
use serde_json::json;

/// What joining gives the agent.
pub struct Joined {
    /// A kubeconfig for the server, as the node's user.
    pub kubeconfig: String,
    pub credentials: NodeCredentials,
}

/// The file the node's credentials are kept in.
fn credentials_path(agent_dir: &Path) -> PathBuf {
    agent_dir.join("node-credentials.json")
}

/// Joins `server` as node `node_name`, reached at `addresses`, or reuses
/// the credentials of an earlier join of the same node.
pub async fn join(
    server: &str,
    token: &str,
    node_name: &str,
    addresses: &[String],
    agent_dir: &Path,
) -> Result<Joined, String> {
    let kept = credentials_path(agent_dir);
    if let Some(credentials) = read_kept(&kept, server, node_name) {
        return Ok(Joined {
            kubeconfig: kubeconfig(server, &credentials),
            credentials,
        });
    }
    let ca = fetch_ca(server).await?;
    if let Some(expected) = token_ca_hash(token) {
        let served = ca_hash(ca.as_bytes());
        if served != expected {
            return Err(format!(
                "the CA served by {server} (sha256 {served}) is not the one the token names ({expected}): \
                 wrong server or token"
            ));
        }
    }
    let credentials = fetch_credentials(server, &ca, token, node_name, addresses).await?;
    std::fs::create_dir_all(agent_dir)
        .map_err(|error| format!("{}: {error}", agent_dir.display()))?;
    let record = json!({ "server": server, "nodeName": node_name, "credentials": &credentials });
    capstan_apiserver::pki::write_secret(&kept, &record.to_string())
        .map_err(|error| format!("{}: {error}", kept.display()))?;
    Ok(Joined {
        kubeconfig: kubeconfig(server, &credentials),
        credentials,
    })
}

fn read_kept(path: &Path, server: &str, node_name: &str) -> Option<NodeCredentials> {
    let text = std::fs::read_to_string(path).ok()?;
    let record: serde_json::Value = serde_json::from_str(&text).ok()?;
    if record["server"] != server || record["nodeName"] != node_name {
        return None;
    }
    serde_json::from_value(record["credentials"].clone()).ok()
}

/// The CA hash a full token carries.
fn token_ca_hash(token: &str) -> Option<String> {
    let rest = token.trim().strip_prefix("K10")?;
    let (hash, _) = rest.split_once("::")?;
    Some(hash.to_string())
}

/// `/cacerts`, before the CA is trusted: the hash check is what makes it
/// safe.
async fn fetch_ca(server: &str) -> Result<String, String> {
    let url = server
        .parse::<http::Uri>()
        .map_err(|error| format!("invalid --server {server:?}: {error}"))?;
    let mut config = kube::Config::new(url);
    config.accept_invalid_certs = true;
    let client = kube::Client::try_from(config).map_err(|e| format!("{server}: {e}"))?;
    let request = http::Request::get("/cacerts")
        .body(Vec::new())
        .map_err(|e| e.to_string())?;
    client
        .request_text(request)
        .await
        .map_err(|error| format!("cannot fetch the cluster CA from {server}: {error}"))
}

async fn fetch_credentials(
    server: &str,
    ca: &str,
    token: &str,
    node_name: &str,
    addresses: &[String],
) -> Result<NodeCredentials, String> {
    let text = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: capstan\n  cluster:\n    server: {server}\n    \
         certificate-authority-data: {}\nusers:\n- name: joining\n  user: {{}}\ncontexts:\n- name: capstan\n  \
         context:\n    cluster: capstan\n    user: joining\ncurrent-context: capstan\n",
        base64::engine::general_purpose::STANDARD.encode(ca)
    );
    let client = crate::server::admin_client(&text, "kubelet").await?;
    let body = json!({ "nodeName": node_name, "addresses": addresses }).to_string();
    let request = http::Request::post(CREDENTIALS_PATH)
        .header(
            http::header::AUTHORIZATION,
            format!("Bearer {}", token.trim()),
        )
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(body.into_bytes())
        .map_err(|e| e.to_string())?;
    let answer = client
        .request_text(request)
        .await
        .map_err(|error| match &error {
            kube::Error::Api(status) if status.code == 401 => {
                format!("{server} refused the token: check --token against the server's node-token")
            }
            _ => format!("cannot join {server}: {error}"),
        })?;
    serde_json::from_str(&answer)
        .map_err(|error| format!("{server} answered the join oddly: {error}"))
}

/// A kubeconfig for the server as the node.
fn kubeconfig(server: &str, credentials: &NodeCredentials) -> String {
    capstan_apiserver::pki::kubeconfig(
        server,
        "node",
        &credentials.ca_cert,
        &credentials.client_cert,
        &credentials.client_key,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_of_a_full_token() {
        assert_eq!(
            token_ca_hash("K10abc::server:secret").as_deref(),
            Some("abc")
        );
        assert_eq!(token_ca_hash("secret"), None);
    }
}
