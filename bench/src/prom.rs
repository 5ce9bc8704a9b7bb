//! Prometheus text from the API server, etcd and the contenders, and the
//! few sums the workloads need from it.

use std::collections::{BTreeMap, HashMap};

use anyhow::Result;
use kube::{Client, Config};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::procs::Running;

/// GET over plain HTTP/1.0: (status code, body).
pub async fn http_get(port: u16, path: &str) -> Result<(u16, String)> {
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
    s.write_all(format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").as_bytes())
        .await?;
    let mut buf = String::new();
    s.read_to_string(&mut buf).await?;
    let code = buf
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = buf
        .split_once("\r\n\r\n")
        .map(|x| x.1.to_string())
        .unwrap_or_default();
    Ok((code, body))
}

pub async fn get_text(client: &Client, path: &str) -> Result<String> {
    let req = http::Request::get(path).body(Vec::new())?;
    Ok(client.request_text(req).await?)
}

/// The labels of one sample line, and its value.
fn samples<'a>(text: &'a str, name: &'a str) -> impl Iterator<Item = (&'a str, f64)> + 'a {
    text.lines().filter_map(move |line| {
        let rest = line.strip_prefix(name)?;
        let (labels, value) = if let Some(r) = rest.strip_prefix('{') {
            r.split_once('}')?
        } else if rest.starts_with(' ') {
            ("", rest)
        } else {
            return None;
        };
        Some((labels, value.trim().parse::<f64>().unwrap_or(0.0)))
    })
}

fn labels_of(labels: &str) -> HashMap<&str, &str> {
    let mut l = HashMap::new();
    for kv in labels.split("\",") {
        if let Some((k, v)) = kv.split_once("=\"") {
            l.insert(k, v.trim_end_matches('"'));
        }
    }
    l
}

/// Sum of the samples of `name` whose labels contain all of `want`.
pub fn metric_sum(text: &str, name: &str, want: &[(&str, &str)]) -> f64 {
    samples(text, name)
        .filter(|(labels, _)| {
            want.iter()
                .all(|(k, v)| labels.contains(&format!("{k}=\"{v}\"")))
        })
        .map(|(_, v)| v)
        .sum()
}

/// Sum of the samples of `name` by the values of the labels `keys`.
pub fn metric_by(text: &str, name: &str, keys: &[&str]) -> BTreeMap<Vec<String>, f64> {
    let mut m = BTreeMap::new();
    for (labels, v) in samples(text, name) {
        let l = labels_of(labels);
        let key = keys
            .iter()
            .map(|k| l.get(k).copied().unwrap_or("").to_string())
            .collect();
        *m.entry(key).or_insert(0.0) += v;
    }
    m
}

#[derive(Default, Debug)]
pub struct ReqDelta {
    /// non-WATCH requests on batch resources and events (only the contender touches them)
    pub attributable: f64,
    /// the same by "VERB resource[/subresource]"
    pub attributable_by: BTreeMap<String, f64>,
    /// the same by HTTP code
    pub attributable_codes: BTreeMap<String, f64>,
    /// every non-WATCH resource request (includes the rest of the control plane)
    pub all_non_watch: f64,
    pub watch_batch: f64,
}

/// apiserver_request_total between two scrapes of the same API server
/// process (a restart resets it: then pass "" as `a`).
pub fn req_delta(a: &str, b: &str) -> ReqDelta {
    let keys = ["verb", "group", "resource", "subresource", "code"];
    let (a, b) = (
        metric_by(a, "apiserver_request_total", &keys),
        metric_by(b, "apiserver_request_total", &keys),
    );
    let mut d = ReqDelta::default();
    for (k, vb) in &b {
        let diff = vb - a.get(k).copied().unwrap_or(0.0);
        let (verb, group, resource, sub, code) = (&k[0], &k[1], &k[2], &k[3], &k[4]);
        if diff <= 0.0 || resource.is_empty() {
            continue;
        }
        let batchish = group == "batch" || resource == "events";
        if verb == "WATCH" || verb == "WATCHLIST" {
            if batchish {
                d.watch_batch += diff;
            }
            continue;
        }
        d.all_non_watch += diff;
        if batchish {
            d.attributable += diff;
            let sub = if sub.is_empty() {
                String::new()
            } else {
                format!("/{sub}")
            };
            *d.attributable_by
                .entry(format!("{verb} {resource}{sub}"))
                .or_insert(0.0) += diff;
            *d.attributable_codes.entry(code.clone()).or_insert(0.0) += diff;
        }
    }
    d
}

/// Delta of the LIST and WATCH requests on batch resources, by
/// "VERB resource" (how a contender listed after a restart).
pub fn list_watch_delta(a: &str, b: &str) -> BTreeMap<String, f64> {
    let keys = ["verb", "group", "resource"];
    let (a, b) = (
        metric_by(a, "apiserver_request_total", &keys),
        metric_by(b, "apiserver_request_total", &keys),
    );
    let mut out = BTreeMap::new();
    for (k, vb) in &b {
        let diff = vb - a.get(k).copied().unwrap_or(0.0);
        if diff > 0.0 && k[1] == "batch" && matches!(k[0].as_str(), "LIST" | "WATCH" | "WATCHLIST")
        {
            *out.entry(format!("{} {}", k[0], k[2])).or_insert(0.0) += diff;
        }
    }
    out
}

pub struct Metrics {
    pub api: Client,
    pub admin_cfg: Config,
}

impl Metrics {
    pub async fn apiserver(&self) -> Result<String> {
        get_text(&self.api, "/metrics").await
    }

    /// The contender's own /metrics (upstream's secure port with the admin
    /// client certificate).
    pub async fn contender(&self, r: &Running) -> Result<String> {
        if r.c.upstream {
            let mut cfg = self.admin_cfg.clone();
            cfg.cluster_url = format!("https://127.0.0.1:{}", r.c.port).parse()?;
            cfg.accept_invalid_certs = true;
            cfg.root_cert = None;
            cfg.auth_info.impersonate = None;
            cfg.auth_info.impersonate_groups = None;
            let c = Client::try_from(cfg)?;
            get_text(&c, "/metrics").await
        } else {
            Ok(http_get(r.c.port, "/metrics").await?.1)
        }
    }

    /// Number of CronJob syncs the contender finished so far. Upstream has
    /// no such counter: its workqueue's processed items are the proxy.
    pub async fn reconciles(&self, r: &Running) -> Result<f64> {
        let t = self.contender(r).await?;
        Ok(if r.c.upstream {
            metric_sum(
                &t,
                "workqueue_work_duration_seconds_count",
                &[("name", "cronjob")],
            )
        } else {
            metric_sum(&t, "kronjob_reconciles_total", &[])
        })
    }

    /// Whether the contender's caches have completed their initial lists:
    /// kronjob's /readyz; upstream's log line "Caches are synced", which
    /// its CronJob controller logs once both informers have synced
    /// (client-go's WaitForNamedCacheSyncWithContext).
    pub async fn caches_synced(&self, r: &Running) -> bool {
        if r.c.upstream {
            tokio::fs::read_to_string(&r.log_path)
                .await
                .is_ok_and(|l| l.contains("\"Caches are synced\""))
        } else {
            http_get(r.c.port, "/readyz")
                .await
                .is_ok_and(|(code, _)| code == 200)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_and_deltas() {
        let a = "apiserver_request_total{code=\"201\",component=\"apiserver\",group=\"batch\",resource=\"jobs\",scope=\"resource\",subresource=\"\",verb=\"POST\",version=\"v1\"} 3\n";
        let b = "apiserver_request_total{code=\"201\",component=\"apiserver\",group=\"batch\",resource=\"jobs\",scope=\"resource\",subresource=\"\",verb=\"POST\",version=\"v1\"} 10\n\
                 apiserver_request_total{code=\"429\",component=\"apiserver\",group=\"batch\",resource=\"jobs\",scope=\"resource\",subresource=\"\",verb=\"POST\",version=\"v1\"} 2\n\
                 apiserver_request_total{code=\"200\",component=\"apiserver\",group=\"batch\",resource=\"jobs\",scope=\"cluster\",subresource=\"\",verb=\"WATCH\",version=\"v1\"} 1\n\
                 apiserver_request_total{code=\"200\",component=\"apiserver\",group=\"\",resource=\"nodes\",scope=\"resource\",subresource=\"status\",verb=\"PATCH\",version=\"v1\"} 4\n";
        let d = req_delta(a, b);
        assert_eq!(d.attributable, 9.0);
        assert_eq!(d.attributable_by["POST jobs"], 9.0);
        assert_eq!(d.attributable_codes["429"], 2.0);
        assert_eq!(d.all_non_watch, 13.0);
        assert_eq!(d.watch_batch, 1.0);
        assert_eq!(
            metric_sum(b, "apiserver_request_total", &[("code", "429")]),
            2.0
        );
        assert_eq!(list_watch_delta("", b)["WATCH jobs"], 1.0);
    }
}
