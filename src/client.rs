//! The Kubernetes client: kube's configuration, TLS settings and layers, on
//! a connector of our own that differs from kube's default in two ways:
//!
//! * TCP_NODELAY. kube's connector leaves Nagle's algorithm on: on a new TLS
//!   connection a request then waits for the server's delayed ACK of the
//!   handshake, ~40 ms, which measured as most of the latency of a Job
//!   created at its slot.
//! * HTTP/2 (offered by ALPN, HTTP/1.1 if the server declines), as client-go
//!   speaks it: every request and watch shares one connection instead of one
//!   TLS connection per request in flight. In a burst of 1000 slots this
//!   cut kronjob's CPU time by over a third and took load off the API
//!   server. Pings every 30 s (15 s to answer) find a dead connection even
//!   when only watches use it, as client-go's HTTP/2 health check does.
//!
//!   Flow control uses hyper's fixed windows (2 MiB per stream, 5 MiB per
//!   connection), not its adaptive window: that one starts at 64 KiB and
//!   grows only as its pings measure the link, which slowed the initial
//!   lists (15000 Jobs) enough that start-up to the 5000th sync took longer
//!   in each of five alternating pairs.
//!
//! All measured in docs/benchmarks.md.

use std::time::Duration;

use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use kube::client::ConfigExt;

use crate::api_metrics::{ApiMetrics, Observed};
use kube::{Client, Config};
use tower::ServiceBuilder;

/// The User-Agent of every request: audit logs and the API server's own
/// metrics name kronjob and its version.
pub const USER_AGENT: &str = concat!("kronjob/", env!("CARGO_PKG_VERSION"));

/// A client for the cluster named by $KUBECONFIG, ~/.kube/config or the
/// in-cluster service account, as `Client::try_default` would find it.
pub async fn connect() -> anyhow::Result<Client> {
    let config = Config::infer().await?;
    from_config(config)
}

/// The same, recording every request into `metrics`.
pub async fn connect_observed(metrics: ApiMetrics) -> anyhow::Result<Client> {
    let config = Config::infer().await?;
    build(config, Some(metrics))
}

pub fn from_config(config: Config) -> anyhow::Result<Client> {
    build(config, None)
}

fn build(mut config: Config, metrics: Option<ApiMetrics>) -> anyhow::Result<Client> {
    config.headers.push((
        http::header::USER_AGENT,
        http::HeaderValue::from_static(USER_AGENT),
    ));
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_nodelay(true);
    let tls = config.rustls_client_config()?;
    let mut builder = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http();
    if let Some(name) = config.tls_server_name.as_ref() {
        builder = builder.with_server_name_resolver(hyper_rustls::FixedServerNameResolver::new(
            name.clone().try_into()?,
        ));
    }
    let https = builder.enable_http1().enable_http2().wrap_connector(http);
    let mut connector = hyper_timeout::TimeoutConnector::new(https);
    connector.set_connect_timeout(config.connect_timeout);
    connector.set_read_timeout(config.read_timeout);
    connector.set_write_timeout(config.write_timeout);
    let http_client = hyper_util::client::legacy::Client::builder(TokioExecutor::new())
        .timer(TokioTimer::new())
        .http2_keep_alive_interval(Duration::from_secs(30))
        .http2_keep_alive_timeout(Duration::from_secs(15))
        .http2_keep_alive_while_idle(true)
        .build(connector);
    let service = ServiceBuilder::new()
        .layer(config.base_uri_layer())
        .option_layer(config.auth_layer()?)
        .layer(config.extra_headers_layer()?)
        .map_err(tower::BoxError::from)
        .service(Observed::new(http_client, metrics));
    Ok(Client::new(service, config.default_namespace))
}

/// Does the API server stream a watch's initial list (`sendInitialEvents`,
/// the WatchList feature: on by default since Kubernetes 1.34)? Asked with a
/// one-second watch of Jobs selected to match none: a server that streams
/// answers with the bookmark that ends the initial events; an older one
/// refuses the parameter or sends nothing.
pub async fn streams_initial_lists(client: &Client, namespace: Option<&str>) -> bool {
    use futures::StreamExt;
    use kube::api::{Api, WatchParams};
    use kube::core::WatchEvent;
    let jobs: Api<crate::controller::compact::CompactJob> = match namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    };
    let params = WatchParams::default()
        .fields("metadata.name=kronjob-streaming-list-probe")
        .timeout(1)
        .initial_events();
    let Ok(events) = jobs.watch(&params, "0").await else {
        return false;
    };
    let first = tokio::time::timeout(Duration::from_secs(5), Box::pin(events).next()).await;
    matches!(first, Ok(Some(Ok(WatchEvent::Bookmark(b))))
        if b.metadata.annotations.get("k8s.io/initial-events-end").map(String::as_str) == Some("true"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    /// Every request names kronjob and its version, and is counted.
    #[tokio::test]
    async fn requests_carry_kronjob_user_agent_and_are_counted() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = std::thread::spawn(move || {
            let (mut conn, _) = listener.accept().unwrap();
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") {
                conn.read_exact(&mut byte).unwrap();
                head.push(byte[0]);
            }
            conn.write_all(
                b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}",
            )
            .unwrap();
            String::from_utf8(head).unwrap()
        });
        let metrics = crate::metrics::Metrics::new();
        let config = Config::new(format!("http://127.0.0.1:{port}").parse().unwrap());
        let client = build(config, Some(metrics.api_metrics())).unwrap();
        let req = http::Request::get("/apis/batch/v1/namespaces/ns/jobs/j")
            .body(Vec::new())
            .unwrap();
        let text = client.request_text(req).await.unwrap();
        assert_eq!(text, "{}");
        let head = server.join().unwrap().to_ascii_lowercase();
        assert!(
            head.contains(&format!(
                "user-agent: {}\r\n",
                USER_AGENT.to_ascii_lowercase()
            )),
            "{head}"
        );
        assert_eq!(
            metrics
                .api_requests
                .with_label_values(&["get", "jobs", "200"])
                .get(),
            1
        );
    }
}
