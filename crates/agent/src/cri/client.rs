//! The CRI v1 gRPC clients (runtime and image services) over a Unix
//! socket.

use std::path::{Path, PathBuf};
use std::time::Duration;

use hyper_util::rt::TokioIo;
use k8s_cri::v1::image_service_client::ImageServiceClient;
use k8s_cri::v1::runtime_service_client::RuntimeServiceClient;
use tonic::transport::{Channel, Endpoint, Uri};

/// How long one CRI call may take, image pulls included: a runtime that
/// hangs must not hold a pod's sync for good.
const CALL_TIMEOUT: Duration = Duration::from_secs(300);

/// Both CRI services over one connection.
#[derive(Clone)]
pub struct CriClient {
    pub runtime: RuntimeServiceClient<Channel>,
    pub images: ImageServiceClient<Channel>,
}

impl CriClient {
    /// A client of the CRI socket at `socket`. It connects on first use
    /// and reconnects when the runtime restarts.
    pub fn new(socket: &Path) -> CriClient {
        let socket: PathBuf = socket.to_path_buf();
        // The URI is required by tonic but unused: the connector dials the
        // socket.
        let channel = Endpoint::from_static("http://cri.local")
            .connect_timeout(Duration::from_secs(5))
            .timeout(CALL_TIMEOUT)
            .connect_with_connector_lazy(tower::service_fn(move |_: Uri| {
                let socket = socket.clone();
                async move {
                    let stream = tokio::net::UnixStream::connect(socket).await?;
                    Ok::<_, std::io::Error>(TokioIo::new(stream))
                }
            }));
        CriClient {
            runtime: RuntimeServiceClient::new(channel.clone()),
            images: ImageServiceClient::new(channel),
        }
    }
}
