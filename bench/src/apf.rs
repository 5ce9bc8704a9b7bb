//! API Priority and Fairness: a burst while a noisy client floods the API
//! server with LISTs from ServiceAccounts (which the bootstrap FlowSchema
//! `service-accounts` puts in the priority level workload-low), with
//! kronjob running as the chart's ServiceAccount, with and without the
//! chart's FlowSchema (`priorityAndFairness.enabled`), and upstream as the
//! ServiceAccount kube-controller-manager gives its CronJob controller.
//!
//! The noise runs in a child process (`kronjob-bench noise`), so that its
//! work does not delay the driver's own watches, which timestamp the Jobs.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, PostParams};
use kube::{Client, Config};
use serde_json::{Value, json};
use tokio::io::AsyncReadExt;

use crate::burst::{Burst, Env, rotated, session, summary};
use crate::objects::{ensure_namespace, impersonating_kubeconfig, kubectl, with_retry};
use crate::procs::contender;
use crate::prom::metric_by;
use crate::results::Results;
use crate::{K8S_VERSION, Opts, log};

/// The namespace of the noisy ServiceAccounts and of the ConfigMaps they list.
pub const NOISE_NAMESPACE: &str = "bench-noise";
/// ConfigMaps in it, and the size of each (every LIST returns them all).
const NOISE_OBJECTS: usize = 500;
const NOISE_OBJECT_BYTES: usize = 2048;

/// The flood: `users` ServiceAccounts, `concurrency` LISTs in flight each.
pub struct Noise {
    pub users: usize,
    pub concurrency: usize,
}

pub struct RunningNoise {
    child: tokio::process::Child,
}

#[derive(Debug, Clone)]
pub struct NoiseStats {
    pub ok: u64,
    pub throttled: u64,
    pub errors: u64,
    pub secs: f64,
}

impl NoiseStats {
    pub fn per_second(&self) -> f64 {
        self.ok as f64 / self.secs.max(0.001)
    }
    pub fn json(&self) -> Value {
        json!({"ok": self.ok, "throttled_429": self.throttled, "errors": self.errors, "secs": self.secs,
               "ok_per_s": self.per_second()})
    }
}

impl Noise {
    pub async fn start(&self, opts: &Opts) -> Result<RunningNoise> {
        let exe = std::env::current_exe()?;
        let child = tokio::process::Command::new(exe)
            .args([
                "noise",
                "--kubeconfig",
                &opts.kubeconfig.display().to_string(),
                "--users",
                &self.users.to_string(),
                "--concurrency",
                &self.concurrency.to_string(),
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()?;
        log(format!(
            "noise started: {} ServiceAccounts × {} LISTs in flight",
            self.users, self.concurrency
        ));
        Ok(RunningNoise { child })
    }
}

impl RunningNoise {
    /// SIGTERM, then the totals the noise process prints as it exits.
    pub async fn stop(mut self) -> Result<NoiseStats> {
        let pid = self.child.id().context("noise pid")?;
        let _ = tokio::process::Command::new("kill")
            .arg("-TERM")
            .arg(pid.to_string())
            .status()
            .await;
        let mut out = String::new();
        if let Some(mut so) = self.child.stdout.take() {
            tokio::time::timeout(Duration::from_secs(10), so.read_to_string(&mut out))
                .await
                .context("noise did not stop")??;
        }
        let _ = self.child.wait().await;
        let v: Value = serde_json::from_str(out.lines().last().unwrap_or("{}"))?;
        let u = |k: &str| v[k].as_u64().unwrap_or(0);
        let stats = NoiseStats {
            ok: u("ok"),
            throttled: u("throttled"),
            errors: u("errors"),
            secs: v["secs"].as_f64().unwrap_or(0.0),
        };
        log(format!("noise stopped: {stats:?}"));
        Ok(stats)
    }
}

/// `kronjob-bench noise`: LIST the noise namespace's ConfigMaps, as
/// `users` ServiceAccounts (impersonated) with `concurrency` requests in
/// flight each, one HTTP/1.1 connection per request in flight, until
/// SIGTERM; then print the totals as one JSON line.
pub async fn run_noise(kubeconfig: &Path, users: usize, concurrency: usize) -> Result<()> {
    let kc = kube::config::Kubeconfig::read_from(kubeconfig)?;
    let admin = Config::from_custom_kubeconfig(kc, &Default::default()).await?;
    let (ok, throttled, errors) = (
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicU64::new(0)),
    );
    let t0 = Instant::now();
    let mut tasks = Vec::new();
    for u in 0..users {
        let mut cfg = admin.clone();
        cfg.auth_info.impersonate =
            Some(format!("system:serviceaccount:{NOISE_NAMESPACE}:noise-{u}"));
        let client = Client::try_from(cfg)?;
        for _ in 0..concurrency {
            let (client, ok, throttled, errors) = (
                client.clone(),
                ok.clone(),
                throttled.clone(),
                errors.clone(),
            );
            tasks.push(tokio::spawn(async move {
                let path = format!("/api/v1/namespaces/{NOISE_NAMESPACE}/configmaps");
                loop {
                    let req = match http::Request::get(&path).body(Vec::new()) {
                        Ok(r) => r,
                        Err(_) => return,
                    };
                    match client.request_text(req).await {
                        Ok(_) => ok.fetch_add(1, Ordering::Relaxed),
                        Err(kube::Error::Api(e)) if e.code == 429 => {
                            throttled.fetch_add(1, Ordering::Relaxed)
                        }
                        Err(_) => {
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            errors.fetch_add(1, Ordering::Relaxed)
                        }
                    };
                }
            }));
        }
    }
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    term.recv().await;
    for t in &tasks {
        t.abort();
    }
    println!(
        "{}",
        json!({"ok": ok.load(Ordering::Relaxed), "throttled": throttled.load(Ordering::Relaxed),
               "errors": errors.load(Ordering::Relaxed), "secs": t0.elapsed().as_secs_f64()})
    );
    Ok(())
}

/// The APF counters between two scrapes, by "flow schema / priority level":
/// requests dispatched, rejected (429) and their mean wait in the queue.
pub fn apf_delta(a: &str, b: &str) -> Value {
    let keys = ["flow_schema", "priority_level"];
    let d = |name: &str| -> BTreeMap<Vec<String>, f64> {
        let (x, y) = (metric_by(a, name, &keys), metric_by(b, name, &keys));
        y.into_iter()
            .map(|(k, v)| {
                let before = x.get(&k).copied().unwrap_or(0.0);
                (k, v - before)
            })
            .filter(|(_, v)| *v > 0.0)
            .collect()
    };
    let dispatched = d("apiserver_flowcontrol_dispatched_requests_total");
    let rejected = d("apiserver_flowcontrol_rejected_requests_total");
    let wait_sum = d("apiserver_flowcontrol_request_wait_duration_seconds_sum");
    let wait_count = d("apiserver_flowcontrol_request_wait_duration_seconds_count");
    let mut out = serde_json::Map::new();
    for k in dispatched.keys().chain(rejected.keys()) {
        let name = format!("{}/{}", k[0], k[1]);
        let wc = wait_count.get(k).copied().unwrap_or(0.0);
        out.insert(
            name,
            json!({
                "dispatched": dispatched.get(k).copied().unwrap_or(0.0),
                "rejected": rejected.get(k).copied().unwrap_or(0.0),
                "wait_ms_mean": if wc > 0.0 { Some(1000.0 * wait_sum.get(k).copied().unwrap_or(0.0) / wc) } else { None },
            }),
        );
    }
    Value::Object(out)
}

/// One configuration of the APF workload.
struct ApfConfig {
    name: String,
    upstream: bool,
    noise: bool,
    flowschema: bool,
}

fn parse_config(name: &str) -> Result<ApfConfig> {
    let (upstream, noise, flowschema) = match name {
        "quiet" => (false, false, false),
        "noise" => (false, true, false),
        "noise+flowschema" => (false, true, true),
        "quiet+flowschema" => (false, false, true),
        "upstream-noise" => (true, true, false),
        _ => bail!(
            "unknown APF configuration {name} (quiet, noise, noise+flowschema, quiet+flowschema, upstream-noise)"
        ),
    };
    Ok(ApfConfig {
        name: name.into(),
        upstream,
        noise,
        flowschema,
    })
}

/// The ConfigMaps the noise lists, and RBAC for the noisy ServiceAccounts
/// (all of the noise namespace, by group) to list them.
async fn noise_setup(opts: &Opts, client: &Client) -> Result<()> {
    ensure_namespace(client, NOISE_NAMESPACE).await?;
    let rbac = json!({"apiVersion": "v1", "kind": "List", "items": [
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
         "metadata": {"name": "noise", "namespace": NOISE_NAMESPACE},
         "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list"]}]},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
         "metadata": {"name": "noise", "namespace": NOISE_NAMESPACE},
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "noise"},
         "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group",
                       "name": format!("system:serviceaccounts:{NOISE_NAMESPACE}")}]},
    ]});
    let f = opts.logs.join("noise-rbac.json");
    std::fs::create_dir_all(&opts.logs)?;
    std::fs::write(&f, rbac.to_string())?;
    kubectl(
        &opts.kubectl,
        &opts.kubeconfig,
        &["apply", "-f", &f.display().to_string()],
    )
    .await?;
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), NOISE_NAMESPACE);
    let payload = "x".repeat(NOISE_OBJECT_BYTES);
    futures::stream::iter(0..NOISE_OBJECTS)
        .map(|i| {
            let (api, payload) = (api.clone(), payload.clone());
            async move {
                let cm: ConfigMap = serde_json::from_value(json!({
                    "metadata": {"name": format!("noise-{i}")}, "data": {"payload": payload}
                }))?;
                match api.create(&PostParams::default(), &cm).await {
                    Ok(_) => Ok(()),
                    Err(kube::Error::Api(e)) if e.code == 409 => Ok(()),
                    Err(e) => Err(anyhow::Error::from(e)),
                }
            }
        })
        .buffer_unordered(32)
        .try_collect::<Vec<_>>()
        .await?;
    Ok(())
}

pub async fn apf(env: &Env<'_>, res: &mut Results) -> Result<()> {
    let opts = env.opts;
    let client = &env.m.api;
    let (Some(rbac), Some(fs), Some(sa)) = (&opts.apf_rbac, &opts.apf_flowschema, &opts.apf_sa)
    else {
        bail!(
            "the apf workload needs BENCH_APF_RBAC, BENCH_APF_FLOWSCHEMA and BENCH_APF_SA (hack/bench.sh sets them)"
        );
    };
    let (sa_ns, _) = sa
        .split_once(':')
        .context("BENCH_APF_SA is NAMESPACE:NAME")?;
    ensure_namespace(client, sa_ns).await?;
    kubectl(
        &opts.kubectl,
        &opts.kubeconfig,
        &["apply", "-f", &rbac.display().to_string()],
    )
    .await?;
    noise_setup(opts, client).await?;
    let dir: PathBuf = opts.logs.join("kubeconfigs");
    let kronjob_kc = dir.join("kronjob-sa.kubeconfig");
    impersonating_kubeconfig(
        &opts.kubeconfig,
        &format!("system:serviceaccount:{sa}"),
        &kronjob_kc,
    )?;
    // What upstream's CronJob controller runs as in a cluster
    // (--use-service-account-credentials): its own ServiceAccount in
    // kube-system, classified by the bootstrap FlowSchema
    // kube-system-service-accounts (workload-high).
    let upstream_kc = dir.join("cronjob-controller.kubeconfig");
    impersonating_kubeconfig(
        &opts.kubeconfig,
        "system:serviceaccount:kube-system:cronjob-controller",
        &upstream_kc,
    )?;
    let configs: Vec<ApfConfig> = opts
        .apf_configs
        .iter()
        .map(|c| parse_config(c))
        .collect::<Result<_>>()?;
    let noise = Noise {
        users: opts.noise_users,
        concurrency: opts.noise_concurrency,
    };
    let n = opts.apf_n;
    let mut all: BTreeMap<String, Vec<Burst>> = BTreeMap::new();
    let names: Vec<String> = configs.iter().map(|c| c.name.clone()).collect();
    for round in 0..opts.rounds {
        for (pos, name) in rotated(&names, round).iter().enumerate() {
            let cfg = configs.iter().find(|c| &c.name == name).context("config")?;
            let c = if cfg.upstream {
                contender(opts, "upstream-tuned", Some(&upstream_kc))?
            } else {
                contender(opts, "kronjob", Some(&kronjob_kc))?
            };
            if cfg.flowschema {
                kubectl(
                    &opts.kubectl,
                    &opts.kubeconfig,
                    &["apply", "-f", &fs.display().to_string()],
                )
                .await?;
            }
            let tag = format!("apf-{}-r{round}", cfg.name.replace('+', "-"));
            let bursts = session(env, &c, n, 1, &tag, cfg.noise.then_some(&noise)).await;
            if cfg.flowschema {
                kubectl(
                    &opts.kubectl,
                    &opts.kubeconfig,
                    &[
                        "delete",
                        "--ignore-not-found",
                        "-f",
                        &fs.display().to_string(),
                    ],
                )
                .await?;
            }
            for b in bursts? {
                let mut row = b.row();
                row["workload"] = json!("apf-burst");
                row["config"] = json!(cfg.name);
                row["contender"] = json!(c.name);
                row["round"] = json!(round);
                row["order"] = json!(pos);
                row["command"] = json!(c.command());
                res.push(row)?;
                all.entry(cfg.name.clone()).or_default().push(b);
            }
        }
    }
    for cfg in &configs {
        let bursts = all.remove(&cfg.name).unwrap_or_default();
        let mut row = summary(&bursts);
        row["workload"] = json!("apf");
        row["k8s_version"] = json!(K8S_VERSION);
        row["config"] = json!(cfg.name);
        row["n"] = json!(n);
        row["noise_users"] = json!(if cfg.noise { opts.noise_users } else { 0 });
        row["noise_concurrency"] = json!(opts.noise_concurrency);
        let rejected: f64 = bursts
            .iter()
            .map(|b| b.codes.get("429").copied().unwrap_or(0.0))
            .sum();
        row["contender_429s"] = json!(rejected);
        let noise_rates: Vec<f64> = bursts
            .iter()
            .filter_map(|b| b.noise.as_ref().map(|s| s.per_second()))
            .collect();
        row["noise_requests_per_s"] = crate::record::spread(&noise_rates);
        res.push(row)?;
    }
    // Leave nothing for the next workloads.
    let _ = with_retry("delete noise namespace", || {
        let api: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(client.clone());
        async move {
            api.delete(NOISE_NAMESPACE, &Default::default())
                .await
                .map(drop)
        }
    })
    .await;
    let _ = kubectl(
        &opts.kubectl,
        &opts.kubeconfig,
        &[
            "delete",
            "--ignore-not-found",
            "-f",
            &rbac.display().to_string(),
        ],
    )
    .await;
    Ok(())
}
