//! The Kubernetes client: kube's configuration, connector and layers, with
//! TCP_NODELAY on its sockets.
//!
//! kube's default connector leaves Nagle's algorithm on. On a new TLS
//! connection the request then waits for the server's delayed ACK of the
//! handshake, ~40 ms, which measured as most of the latency of a Job
//! created at its slot (docs/benchmarks.md).

use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use kube::client::ConfigExt;
use kube::{Client, Config};
use tower::ServiceBuilder;

/// A client for the cluster named by $KUBECONFIG, ~/.kube/config or the
/// in-cluster service account, as `Client::try_default` would find it.
pub async fn connect() -> anyhow::Result<Client> {
    let config = Config::infer().await?;
    from_config(config)
}

pub fn from_config(config: Config) -> anyhow::Result<Client> {
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_nodelay(true);
    let https = config.rustls_https_connector_with_connector(http)?;
    let mut connector = hyper_timeout::TimeoutConnector::new(https);
    connector.set_connect_timeout(config.connect_timeout);
    connector.set_read_timeout(config.read_timeout);
    connector.set_write_timeout(config.write_timeout);
    let http_client =
        hyper_util::client::legacy::Client::builder(TokioExecutor::new()).build(connector);
    let service = ServiceBuilder::new()
        .layer(config.base_uri_layer())
        .option_layer(config.auth_layer()?)
        .layer(config.extra_headers_layer()?)
        .map_err(tower::BoxError::from)
        .service(http_client);
    Ok(Client::new(service, config.default_namespace))
}
