//! `make bench`: kronjob against kube-controller-manager's CronJob controller,
//! one contender at a time, on the local control plane (started by
//! hack/bench.sh without the job controller, so Jobs are only created).
//!
//! Workloads (see docs/benchmarks.md):
//!   raw      - N Job creates issued by this driver with many in flight, once over
//!              HTTP/1.1 and once over HTTP/2: the better of the two is the ceiling
//!   writes   - API server and etcd CPU per status patch and per Event create
//!   latency  - N CronJobs `* * * * *` firing at the same minute boundaries
//!   steady   - 5000 CronJobs an hour from their slot and 15000 finished Jobs:
//!              start-up time, then 60 idle seconds (RSS, CPU, API requests)
//!
//! Every Job appearance is timestamped by this driver's own watch, with its
//! own clock, in milliseconds.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, anyhow, bail};
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::runtime::watcher;
use kube::{Client, Config};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const K8S_VERSION: &str = "v1.36.3";
const RUN_LABEL: &str = "kronjob-bench/run";
const SCHEDULED_ANNOTATION: &str = "batch.kubernetes.io/cronjob-scheduled-timestamp";
const NAMESPACES: usize = 10;
const CREATE_CONCURRENCY: usize = 128;

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

fn ns_name(i: usize) -> String {
    format!("bench-{}", i % NAMESPACES)
}

fn log(msg: impl AsRef<str>) {
    let t = jiff::Timestamp::now();
    eprintln!("[bench {}] {}", t.strftime("%H:%M:%S%.3f"), msg.as_ref());
}

// ---------------------------------------------------------------- options

struct Opts {
    quick: bool,
    kubeconfig: PathBuf,
    kronjob: PathBuf,
    kcm: PathBuf,
    out: PathBuf,
    logs: PathBuf,
    ns: Vec<usize>,
    boundaries: usize,
    steady_cronjobs: usize,
    idle_secs: u64,
    workloads: Vec<String>,
    contenders: Vec<String>,
    /// The control plane's pid files (hack/cluster-lib.sh's $PIDS), to
    /// account the API server's and etcd's CPU during a burst.
    pids: Option<PathBuf>,
}

fn parse_opts() -> Result<Opts> {
    let mut quick = std::env::var("BENCH_QUICK").is_ok_and(|v| v == "1");
    let mut args = std::env::args().skip(1);
    let mut kv: HashMap<String, String> = HashMap::new();
    while let Some(a) = args.next() {
        if a == "--quick" {
            quick = true;
        } else if let Some(k) = a.strip_prefix("--") {
            let v = args.next().ok_or_else(|| anyhow!("{a} needs a value"))?;
            kv.insert(k.to_string(), v);
        } else {
            bail!("unknown argument {a}");
        }
    }
    let get = |k: &str, env: &str| kv.get(k).cloned().or_else(|| std::env::var(env).ok());
    let list = |s: String| -> Vec<String> {
        s.split(',')
            .filter(|x| !x.is_empty())
            .map(String::from)
            .collect()
    };
    let ns = get("ns", "BENCH_NS")
        .map(|s| list(s).iter().map(|x| x.parse().unwrap()).collect())
        .unwrap_or_else(|| {
            if quick {
                vec![1, 100]
            } else {
                vec![1, 100, 1000, 5000]
            }
        });
    Ok(Opts {
        quick,
        kubeconfig: get("kubeconfig", "KUBECONFIG")
            .context("--kubeconfig or KUBECONFIG")?
            .into(),
        kronjob: get("kronjob", "BENCH_KRONJOB")
            .unwrap_or("target/release/kronjob".into())
            .into(),
        kcm: get("kcm", "BENCH_KCM")
            .context("--kcm or BENCH_KCM")?
            .into(),
        out: get("out", "BENCH_OUT")
            .unwrap_or("target/bench/results.json".into())
            .into(),
        logs: get("logs", "BENCH_LOGS")
            .unwrap_or("target/bench/logs".into())
            .into(),
        ns,
        boundaries: get("boundaries", "BENCH_BOUNDARIES")
            .map(|s| s.parse().unwrap())
            .unwrap_or(if quick { 1 } else { 2 }),
        steady_cronjobs: get("steady", "BENCH_STEADY")
            .map(|s| s.parse().unwrap())
            .unwrap_or(if quick { 500 } else { 5000 }),
        idle_secs: get("idle", "BENCH_IDLE_SECS")
            .map(|s| s.parse().unwrap())
            .unwrap_or(if quick { 20 } else { 60 }),
        workloads: list(
            get("workloads", "BENCH_WORKLOADS").unwrap_or("raw,writes,steady,latency".into()),
        ),
        contenders: list(
            get("contenders", "BENCH_CONTENDERS")
                .unwrap_or("kronjob,upstream-default,upstream-tuned".into()),
        ),
        pids: get("pids", "BENCH_PIDS").map(PathBuf::from),
    })
}

// ---------------------------------------------------------------- contenders

#[derive(Clone)]
struct Contender {
    name: String,
    argv: Vec<String>,
    env_kubeconfig: bool,
    /// kronjob: http metrics port; upstream: https secure port.
    port: u16,
    upstream: bool,
}

impl Contender {
    fn command(&self) -> String {
        let mut s = String::new();
        if self.env_kubeconfig {
            s.push_str("KUBECONFIG=target/cluster/kubeconfig ");
        }
        s.push_str(&self.argv.join(" "));
        s
    }
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

fn contender(opts: &Opts, name: &str) -> Result<Contender> {
    let port = free_port();
    let kc = opts.kubeconfig.display().to_string();
    let upstream = |extra: &[&str]| -> Vec<String> {
        let mut v = vec![
            opts.kcm.display().to_string(),
            format!("--kubeconfig={kc}"),
            format!("--authentication-kubeconfig={kc}"),
            format!("--authorization-kubeconfig={kc}"),
            "--controllers=cronjob-controller".into(),
            "--leader-elect=false".into(),
            "--use-service-account-credentials=false".into(),
            "--bind-address=127.0.0.1".into(),
            format!("--secure-port={port}"),
            "--profiling=false".into(),
        ];
        v.extend(extra.iter().map(|s| s.to_string()));
        v
    };
    let kronjob = |binary: &str| Contender {
        name: name.into(),
        argv: vec![
            binary.to_string(),
            "run".into(),
            "--metrics-addr".into(),
            format!("127.0.0.1:{port}"),
        ],
        env_kubeconfig: true,
        port,
        upstream: false,
    };
    Ok(match name {
        "kronjob" => kronjob(&opts.kronjob.display().to_string()),
        "upstream-default" => Contender {
            name: name.into(),
            argv: upstream(&[]),
            env_kubeconfig: false,
            port,
            upstream: true,
        },
        "upstream-tuned" => Contender {
            name: name.into(),
            argv: upstream(&[
                "--kube-api-qps=1000",
                "--kube-api-burst=2000",
                "--concurrent-cron-job-syncs=64",
            ]),
            env_kubeconfig: false,
            port,
            upstream: true,
        },
        // `kronjob@PATH`: another kronjob binary, to compare two builds.
        _ if name.starts_with("kronjob@") => kronjob(&name["kronjob@".len()..]),
        _ => bail!("unknown contender {name}"),
    })
}

struct Running {
    child: tokio::process::Child,
    pid: u32,
    started: Instant,
    c: Contender,
}

async fn start(opts: &Opts, c: &Contender, tag: &str) -> Result<Running> {
    tokio::fs::create_dir_all(&opts.logs).await?;
    // `kronjob@PATH` contenders name a path: keep the file name flat.
    let file_name: String = c
        .name
        .chars()
        .map(|ch| {
            if ch.is_ascii_alphanumeric() || ch == '-' {
                ch
            } else {
                '_'
            }
        })
        .collect();
    let logf = std::fs::File::create(opts.logs.join(format!("{file_name}-{tag}.log")))?;
    let mut cmd = tokio::process::Command::new(&c.argv[0]);
    cmd.args(&c.argv[1..])
        .stdin(Stdio::null())
        .stdout(logf.try_clone()?)
        .stderr(logf)
        .kill_on_drop(true);
    if c.env_kubeconfig {
        cmd.env("KUBECONFIG", &opts.kubeconfig);
    }
    let started = Instant::now();
    let child = cmd
        .spawn()
        .with_context(|| format!("starting {}", c.argv[0]))?;
    let pid = child.id().unwrap();
    log(format!("started {} (pid {pid})", c.name));
    Ok(Running {
        child,
        pid,
        started,
        c: c.clone(),
    })
}

async fn stop(mut r: Running) {
    let _ = tokio::process::Command::new("kill")
        .arg("-TERM")
        .arg(r.pid.to_string())
        .status()
        .await;
    if tokio::time::timeout(Duration::from_secs(5), r.child.wait())
        .await
        .is_err()
    {
        let _ = r.child.kill().await;
    }
    log(format!("stopped {} (pid {})", r.c.name, r.pid));
}

fn proc_rss_kb(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// utime+stime in clock ticks (USER_HZ = 100 on Linux).
fn proc_cpu_ticks(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &s[s.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    Some(f[11].parse::<u64>().ok()? + f[12].parse::<u64>().ok()?)
}

/// The pid of a control-plane component, from hack/cluster-up.sh's pid file.
fn component_pid(opts: &Opts, name: &str) -> Option<u32> {
    let dir = opts.pids.as_ref()?;
    std::fs::read_to_string(dir.join(format!("{name}.pid")))
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// CPU ticks of the contender, the API server and etcd, read together.
#[derive(Clone, Copy, Default)]
struct CpuTicks([u64; 3]);

impl CpuTicks {
    fn read(pids: [Option<u32>; 3]) -> Self {
        CpuTicks(pids.map(|p| p.and_then(proc_cpu_ticks).unwrap_or(0)))
    }
    /// Seconds of CPU per part between `self` and `later`, added to `acc`.
    fn add_delta(&self, later: &CpuTicks, acc: &mut [f64; 3]) {
        for ((acc, before), after) in acc.iter_mut().zip(self.0).zip(later.0) {
            *acc += after.saturating_sub(before) as f64 / 100.0;
        }
    }
}

/// CPU seconds per process; `first` names the client process.
fn cpu_json(first: &str, secs: [f64; 3]) -> Value {
    json!({first: secs[0], "kube-apiserver": secs[1], "etcd": secs[2]})
}

// ---------------------------------------------------------------- metrics

async fn http_get_plain(port: u16, path: &str) -> Result<String> {
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
    s.write_all(format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").as_bytes())
        .await?;
    let mut buf = String::new();
    s.read_to_string(&mut buf).await?;
    Ok(buf
        .split_once("\r\n\r\n")
        .map(|x| x.1.to_string())
        .unwrap_or_default())
}

async fn get_text(client: &Client, path: &str) -> Result<String> {
    let req = http::Request::get(path).body(Vec::new())?;
    Ok(client.request_text(req).await?)
}

/// Sum of the samples of `name` whose labels contain all of `want`.
fn metric_sum(text: &str, name: &str, want: &[(&str, &str)]) -> f64 {
    let mut sum = 0.0;
    for line in text.lines() {
        let Some(rest) = line.strip_prefix(name) else {
            continue;
        };
        let (labels, value) = if let Some(r) = rest.strip_prefix('{') {
            let Some((l, v)) = r.split_once('}') else {
                continue;
            };
            (l, v)
        } else if rest.starts_with(' ') {
            ("", rest)
        } else {
            continue;
        };
        if want
            .iter()
            .all(|(k, v)| labels.contains(&format!("{k}=\"{v}\"")))
        {
            sum += value.trim().parse::<f64>().unwrap_or(0.0);
        }
    }
    sum
}

/// apiserver_request_total by (verb, group, resource, subresource).
fn request_counts(text: &str) -> BTreeMap<(String, String, String, String), f64> {
    let mut m = BTreeMap::new();
    for line in text.lines() {
        let Some(r) = line.strip_prefix("apiserver_request_total{") else {
            continue;
        };
        let Some((labels, v)) = r.split_once('}') else {
            continue;
        };
        let mut l: HashMap<&str, &str> = HashMap::new();
        for kv in labels.split("\",") {
            if let Some((k, v)) = kv.split_once("=\"") {
                l.insert(k, v.trim_end_matches('"'));
            }
        }
        let key = |k: &str| l.get(k).copied().unwrap_or("").to_string();
        *m.entry((
            key("verb"),
            key("group"),
            key("resource"),
            key("subresource"),
        ))
        .or_insert(0.0) += v.trim().parse::<f64>().unwrap_or(0.0);
    }
    m
}

#[derive(Default, Debug)]
struct ReqDelta {
    /// non-WATCH requests on batch resources and events (only the contender touches them)
    attributable: f64,
    attributable_by: BTreeMap<String, f64>,
    /// every non-WATCH resource request (includes the rest of the control plane)
    all_non_watch: f64,
    watch_batch: f64,
}

fn req_delta(a: &str, b: &str) -> ReqDelta {
    let (a, b) = (request_counts(a), request_counts(b));
    let mut d = ReqDelta::default();
    for (k, vb) in &b {
        let diff = vb - a.get(k).copied().unwrap_or(0.0);
        if diff <= 0.0 || k.2.is_empty() {
            continue;
        }
        let batchish = k.1 == "batch" || k.2 == "events";
        if k.0 == "WATCH" || k.0 == "WATCHLIST" {
            if batchish {
                d.watch_batch += diff;
            }
            continue;
        }
        d.all_non_watch += diff;
        if batchish {
            d.attributable += diff;
            let sub = if k.3.is_empty() {
                String::new()
            } else {
                format!("/{}", k.3)
            };
            *d.attributable_by
                .entry(format!("{} {}{}", k.0, k.2, sub))
                .or_insert(0.0) += diff;
        }
    }
    d
}

struct Metrics {
    api: Client,
    admin_cfg: Config,
}

impl Metrics {
    async fn apiserver(&self) -> Result<String> {
        get_text(&self.api, "/metrics").await
    }
    /// Number of CronJob syncs the contender finished so far.
    async fn reconciles(&self, r: &Running) -> Result<f64> {
        if r.c.upstream {
            let mut cfg = self.admin_cfg.clone();
            cfg.cluster_url = format!("https://127.0.0.1:{}", r.c.port).parse()?;
            cfg.accept_invalid_certs = true;
            cfg.root_cert = None;
            let c = Client::try_from(cfg)?;
            let t = get_text(&c, "/metrics").await?;
            Ok(metric_sum(
                &t,
                "workqueue_work_duration_seconds_count",
                &[("name", "cronjob")],
            ))
        } else {
            let t = http_get_plain(r.c.port, "/metrics").await?;
            Ok(metric_sum(&t, "kronjob_reconciles_total", &[]))
        }
    }
}

// ---------------------------------------------------------------- job watch

#[derive(Clone, Copy, Debug)]
struct Seen {
    at_ms: i64,
    slot_ms: Option<i64>,
}

#[derive(Clone, Default)]
struct Recorder {
    /// run label -> job key -> first time seen
    seen: Arc<Mutex<HashMap<String, HashMap<String, Seen>>>>,
}

impl Recorder {
    fn spawn(client: Client) -> (Self, tokio::sync::watch::Receiver<bool>) {
        let rec = Recorder::default();
        let r2 = rec.clone();
        let (ready_tx, ready_rx) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            let api: Api<Job> = Api::all(client);
            let cfg = watcher::Config::default().labels(RUN_LABEL);
            let mut s = watcher(api, cfg).boxed();
            while let Some(ev) = s.next().await {
                let at_ms = now_ms();
                match ev {
                    Ok(watcher::Event::Apply(j)) | Ok(watcher::Event::InitApply(j)) => {
                        r2.record(&j, at_ms)
                    }
                    Ok(watcher::Event::InitDone) => {
                        let _ = ready_tx.send(true);
                    }
                    Ok(_) => {}
                    Err(e) => {
                        log(format!("job watch error: {e}"));
                        tokio::time::sleep(Duration::from_millis(200)).await;
                    }
                }
            }
        });
        (rec, ready_rx)
    }

    fn record(&self, j: &Job, at_ms: i64) {
        let Some(run) = j.metadata.labels.as_ref().and_then(|l| l.get(RUN_LABEL)) else {
            return;
        };
        let key = format!(
            "{}/{}",
            j.metadata.namespace.as_deref().unwrap_or(""),
            j.metadata.name.as_deref().unwrap_or("")
        );
        let slot_ms = j
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(SCHEDULED_ANNOTATION))
            .and_then(|s| s.parse::<jiff::Timestamp>().ok())
            .map(|t| t.as_millisecond());
        let mut m = self.seen.lock().unwrap();
        m.entry(run.clone())
            .or_default()
            .entry(key)
            .or_insert(Seen { at_ms, slot_ms });
    }

    fn snapshot(&self, run: &str) -> Vec<Seen> {
        self.seen
            .lock()
            .unwrap()
            .get(run)
            .map(|m| m.values().copied().collect())
            .unwrap_or_default()
    }

    fn count_slot(&self, run: &str, slot: i64) -> usize {
        self.seen
            .lock()
            .unwrap()
            .get(run)
            .map(|m| m.values().filter(|s| s.slot_ms == Some(slot)).count())
            .unwrap_or(0)
    }
}

fn pct(sorted: &[i64], p: f64) -> i64 {
    if sorted.is_empty() {
        return -1;
    }
    let idx = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[idx]
}

// ---------------------------------------------------------------- object helpers

async fn with_retry<T, F, Fut>(what: &str, mut f: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = kube::Result<T>>,
{
    let mut last = None;
    for attempt in 0..8 {
        match f().await {
            Ok(v) => return Ok(v),
            Err(e) => {
                last = Some(e);
                tokio::time::sleep(Duration::from_millis(100 << attempt.min(4))).await;
            }
        }
    }
    Err(anyhow!("{what}: {}", last.unwrap()))
}

fn job_template(run: &str) -> Value {
    json!({
        "metadata": {"labels": {RUN_LABEL: run}},
        "spec": {"template": {"spec": {
            "restartPolicy": "Never",
            "containers": [{"name": "c", "image": "busybox:1.36", "command": ["true"]}]
        }}}
    })
}

fn cronjob(i: usize, run: &str, schedule: &str) -> Result<CronJob> {
    Ok(serde_json::from_value(json!({
        "apiVersion": "batch/v1", "kind": "CronJob",
        "metadata": {"name": format!("cj-{i}"), "namespace": ns_name(i), "labels": {RUN_LABEL: run}},
        "spec": {"schedule": schedule, "timeZone": "Etc/UTC", "jobTemplate": job_template(run)}
    }))?)
}

async fn ensure_namespaces(client: &Client) -> Result<()> {
    let api: Api<Namespace> = Api::all(client.clone());
    for i in 0..NAMESPACES {
        let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": ns_name(i)}}))?;
        match api.create(&PostParams::default(), &ns).await {
            Ok(_) => {}
            Err(kube::Error::Api(e)) if e.code == 409 => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// Deletes every bench Job and CronJob and waits until they are gone.
async fn cleanup(client: &Client) -> Result<()> {
    let t = Instant::now();
    let lp = ListParams::default().labels(RUN_LABEL);
    let dp = DeleteParams::background();
    futures::future::try_join_all((0..NAMESPACES).map(|i| {
        let (client, lp, dp) = (client.clone(), lp.clone(), dp.clone());
        async move {
            let jobs: Api<Job> = Api::namespaced(client.clone(), &ns_name(i));
            let cjs: Api<CronJob> = Api::namespaced(client, &ns_name(i));
            with_retry("delete jobs", || jobs.delete_collection(&dp, &lp)).await?;
            with_retry("delete cronjobs", || cjs.delete_collection(&dp, &lp)).await?;
            anyhow::Ok(())
        }
    }))
    .await?;
    let jobs: Api<Job> = Api::all(client.clone());
    let cjs: Api<CronJob> = Api::all(client.clone());
    loop {
        let lp1 = lp.clone().limit(1);
        let j = jobs.list_metadata(&lp1).await?;
        let c = cjs.list_metadata(&lp1).await?;
        if j.items.is_empty() && c.items.is_empty() {
            break;
        }
        // Jobs created by a contender that is already stopped, or by GC lag.
        let _ = futures::future::join_all((0..NAMESPACES).map(|i| {
            let (client, lp, dp) = (client.clone(), lp.clone(), dp.clone());
            async move {
                let jobs: Api<Job> = Api::namespaced(client, &ns_name(i));
                jobs.delete_collection(&dp, &lp).await
            }
        }))
        .await;
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    log(format!(
        "cleanup done in {:.1} s",
        t.elapsed().as_secs_f64()
    ));
    Ok(())
}

async fn create_cronjobs(
    client: &Client,
    n: usize,
    run: &str,
    schedule: &str,
) -> Result<Vec<(String, String, String)>> {
    let t = Instant::now();
    let out: Vec<(String, String, String)> = futures::stream::iter(0..n)
        .map(|i| {
            let client = client.clone();
            async move {
                let cj = cronjob(i, run, schedule)?;
                let api: Api<CronJob> = Api::namespaced(client, &ns_name(i));
                let created = with_retry("create cronjob", || async {
                    api.create(&PostParams::default(), &cj).await
                })
                .await?;
                anyhow::Ok((
                    ns_name(i),
                    format!("cj-{i}"),
                    created.metadata.uid.unwrap_or_default(),
                ))
            }
        })
        .buffer_unordered(CREATE_CONCURRENCY)
        .try_collect()
        .await?;
    log(format!(
        "created {n} CronJobs in {:.1} s",
        t.elapsed().as_secs_f64()
    ));
    Ok(out)
}

// ---------------------------------------------------------------- results

struct Results {
    path: PathBuf,
    rows: Vec<Value>,
}

impl Results {
    fn push(&mut self, row: Value) -> Result<()> {
        println!("{}", table_line(&row));
        self.rows.push(row);
        if let Some(d) = self.path.parent() {
            std::fs::create_dir_all(d)?;
        }
        std::fs::write(
            &self.path,
            serde_json::to_string_pretty(&json!({"rows": self.rows}))?,
        )?;
        Ok(())
    }
}

fn f(v: &Value, k: &str) -> String {
    match v.get(k) {
        Some(Value::Number(n)) => {
            if let Some(i) = n.as_i64() {
                i.to_string()
            } else {
                format!("{:.3}", n.as_f64().unwrap())
            }
        }
        Some(Value::String(s)) => s.clone(),
        Some(Value::Bool(b)) => b.to_string(),
        _ => "-".into(),
    }
}

fn table_line(r: &Value) -> String {
    match r["workload"].as_str().unwrap_or("") {
        "raw" => format!(
            "| raw | driver ({} in flight, {}) | {} | {} | all in {} ms | {} Jobs/s | k8s {} | {} |",
            CREATE_CONCURRENCY,
            f(r, "transport"),
            f(r, "n"),
            f(r, "jobs_seen"),
            f(r, "all_exist_ms"),
            f(r, "jobs_per_s"),
            f(r, "k8s_version"),
            f(r, "command")
        ),
        "latency" => format!(
            "| latency | {} | {} | seen {}/{} | p50 {} ms | p99 {} ms | max {} ms | all in {} ms | {} Jobs/s = {} of raw | burst CPU s: contender {} apiserver {} etcd {} | requests {} | k8s {} | `{}` |",
            f(r, "contender"),
            f(r, "n"),
            f(r, "jobs_seen"),
            f(r, "jobs_expected"),
            f(r, "p50_ms"),
            f(r, "p99_ms"),
            f(r, "max_ms"),
            f(r, "all_exist_ms"),
            f(r, "burst_jobs_per_s"),
            f(r, "fraction_of_raw"),
            f(&r["burst_cpu_s"], "contender"),
            f(&r["burst_cpu_s"], "kube-apiserver"),
            f(&r["burst_cpu_s"], "etcd"),
            r["burst_requests"],
            f(r, "k8s_version"),
            f(r, "command")
        ),
        "writes" => format!(
            "| writes | {} | {} | {} requests/s | apiserver {} ms CPU/request | etcd {} ms CPU/request | k8s {} |",
            f(r, "request"),
            f(r, "n"),
            f(r, "requests_per_s"),
            f(r, "apiserver_cpu_ms_per_request"),
            f(r, "etcd_cpu_ms_per_request"),
            f(r, "k8s_version"),
        ),
        "steady" => format!(
            "| steady | {} | {} | start-up {} ms | RSS peak {} KiB end {} KiB | CPU {} s ({} % core) | idle requests {} (watch {}) | k8s {} | `{}` |",
            f(r, "contender"),
            f(r, "n"),
            f(r, "startup_ms"),
            f(r, "rss_peak_kib"),
            f(r, "rss_end_kib"),
            f(r, "cpu_s"),
            f(r, "cpu_pct_core"),
            f(r, "idle_requests"),
            f(r, "idle_watch_requests"),
            f(r, "k8s_version"),
            f(r, "command")
        ),
        _ => r.to_string(),
    }
}

// ---------------------------------------------------------------- workloads

async fn wait_until_ms(t: i64) {
    let d = t - now_ms();
    if d > 0 {
        tokio::time::sleep(Duration::from_millis(d as u64)).await;
    }
}

/// Waits until the clock is in [1 s, 8 s) past a minute boundary.
async fn wait_minute_start() {
    loop {
        let s = now_ms().rem_euclid(60_000);
        if (1_000..8_000).contains(&s) {
            return;
        }
        let next = now_ms() - s + if s < 1_000 { 1_000 } else { 61_000 };
        log(format!(
            "waiting {:.1} s for the start of a minute",
            (next - now_ms()) as f64 / 1000.0
        ));
        wait_until_ms(next).await;
    }
}

/// How the driver's raw creates reach the API server. kube's default client
/// opens one HTTP/1.1 connection per request in flight; kronjob's client
/// (`kronjob::client`) multiplexes them on one HTTP/2 connection. Which is
/// faster depends on N (docs/benchmarks.md), so the ceiling is the better of
/// the two: no contender is measured against a ceiling its own transport beats.
#[derive(Clone, Copy)]
enum Transport {
    Http1,
    Http2,
}

impl Transport {
    fn name(self) -> &'static str {
        match self {
            Transport::Http1 => "http1",
            Transport::Http2 => "http2",
        }
    }

    fn client(self, admin_cfg: &Config) -> Result<Client> {
        match self {
            Transport::Http1 => Ok(Client::try_from(admin_cfg.clone())?),
            Transport::Http2 => kronjob::client::from_config(admin_cfg.clone()),
        }
    }
}

/// N Job creates by the driver: the API server's ceiling over `transport`.
/// `admin` cleans up before and after; the creates go through a client of
/// `transport` made from `admin_cfg`.
async fn raw_capacity(
    opts: &Opts,
    admin: &Client,
    admin_cfg: &Config,
    transport: Transport,
    rec: &Recorder,
    n: usize,
    res: &mut Results,
) -> Result<f64> {
    cleanup(admin).await?;
    let client = &transport.client(admin_cfg)?;
    let run = format!("raw-{n}-{}", now_ms());
    let jobs: Vec<Job> = (0..n)
        .map(|i| {
            serde_json::from_value(json!({
                "apiVersion": "batch/v1", "kind": "Job",
                "metadata": {"name": format!("raw-{i}"), "namespace": ns_name(i), "labels": {RUN_LABEL: run}},
                "spec": job_template(&run)["spec"]
            }))
            .unwrap()
        })
        .collect();
    // The driver itself stands in the contender's place.
    let pids = [
        Some(std::process::id()),
        component_pid(opts, "kube-apiserver"),
        component_pid(opts, "etcd"),
    ];
    let cpu0 = CpuTicks::read(pids);
    let t0 = now_ms();
    futures::stream::iter(jobs)
        .map(|j| {
            let client = client.clone();
            async move {
                let api: Api<Job> =
                    Api::namespaced(client, j.metadata.namespace.as_deref().unwrap());
                with_retry("create job", || async {
                    api.create(&PostParams::default(), &j).await
                })
                .await
            }
        })
        .buffer_unordered(CREATE_CONCURRENCY)
        .try_collect::<Vec<_>>()
        .await?;
    let client_done = now_ms() - t0;
    let deadline = now_ms() + 60_000;
    while rec.snapshot(&run).len() < n && now_ms() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut cpu = [0.0; 3];
    cpu0.add_delta(&CpuTicks::read(pids), &mut cpu);
    let seen = rec.snapshot(&run);
    let last = seen.iter().map(|s| s.at_ms).max().unwrap_or(t0);
    let all = (last - t0).max(1);
    let thr = n as f64 / (all as f64 / 1000.0);
    res.push(json!({
        "workload": "raw", "transport": transport.name(), "k8s_version": K8S_VERSION, "n": n, "jobs_seen": seen.len(),
        "all_exist_ms": all, "client_done_ms": client_done, "jobs_per_s": thr,
        "concurrency": CREATE_CONCURRENCY,
        "burst_cpu_s": cpu_json("driver", cpu),
        "apiserver_cpu_ms_per_request": 1000.0 * cpu[1] / n as f64,
        "etcd_cpu_ms_per_request": 1000.0 * cpu[2] / n as f64,
        "command": format!("kronjob-bench: {n} Job creates over {}, {CREATE_CONCURRENCY} in flight, driver's own watch", transport.name()),
    }))?;
    cleanup(admin).await?;
    Ok(thr)
}

/// What one request of each write a CronJob controller makes per Job costs
/// the API server and etcd in CPU: N status merge patches (kronjob's status
/// write), N status PUTs (upstream's) and N Event creates, 128 in flight
/// over HTTP/2 (`writer`, the transport of both controllers), on N CronJobs
/// made beforehand.
/// With `raw` (one Job create each) this bounds any controller's burst rate
/// on this machine (docs/benchmarks.md).
async fn write_costs(
    opts: &Opts,
    client: &Client,
    writer: &Client,
    n: usize,
    res: &mut Results,
) -> Result<()> {
    cleanup(client).await?;
    let run = format!("writes-{n}-{}", now_ms());
    let cronjobs = create_cronjobs(client, n, &run, "0 0 1 1 *").await?;
    let slot = jiff::Timestamp::now().to_string();
    let patches = cronjobs.iter().map(|(ns, name, uid)| {
        let api: Api<CronJob> = Api::namespaced(writer.clone(), ns);
        let status = json!({"status": {
            "active": [{"apiVersion": "batch/v1", "kind": "Job", "namespace": ns,
                        "name": format!("{name}-1"), "uid": format!("{uid}-job")}],
            "lastScheduleTime": slot,
        }});
        async move {
            let patch = Patch::Merge(&status);
            let pp = PatchParams::default();
            with_retry("patch status", || api.patch_status(name, &pp, &patch))
                .await
                .map(drop)
        }
    });
    measure_writes(opts, res, n, "PATCH cronjobs/status (merge)", patches).await?;
    // The same status change as upstream writes it: PUT of the whole CronJob
    // (spec and all) to the status subresource, guarded by resourceVersion.
    let mut listed = Vec::new();
    for i in 0..NAMESPACES {
        let api: Api<CronJob> = Api::namespaced(client.clone(), &ns_name(i));
        let lp = ListParams::default().labels(&format!("{RUN_LABEL}={run}"));
        listed.extend(api.list(&lp).await?.items);
    }
    let puts = listed.into_iter().map(|mut cj| {
        let (ns, name) = (
            cj.metadata.namespace.clone().unwrap_or_default(),
            cj.metadata.name.clone().unwrap_or_default(),
        );
        let api: Api<CronJob> = Api::namespaced(writer.clone(), &ns);
        let status = cj.status.get_or_insert_with(Default::default);
        for a in status.active.iter_mut().flatten() {
            a.name = Some(format!("{name}-2"));
        }
        async move {
            let pp = PostParams::default();
            with_retry("replace status", || api.replace_status(&name, &pp, &cj))
                .await
                .map(drop)
        }
    });
    measure_writes(opts, res, n, "PUT cronjobs/status", puts).await?;
    let events = cronjobs.iter().map(|(ns, name, uid)| {
        let api: Api<k8s_openapi::api::events::v1::Event> = Api::namespaced(writer.clone(), ns);
        let event = serde_json::from_value(json!({
            "metadata": {"name": format!("{name}.{:x}", now_ms()), "namespace": ns},
            "eventTime": jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%S%.6fZ").to_string(),
            "type": "Normal", "reason": "SuccessfulCreate", "action": "Create",
            "note": format!("Created job {name}-1"),
            "reportingController": "cronjob-controller", "reportingInstance": "kronjob-bench",
            "regarding": {"apiVersion": "batch/v1", "kind": "CronJob", "namespace": ns, "name": name, "uid": uid},
        }));
        async move {
            let (event, pp) = (event?, PostParams::default());
            with_retry("create event", || api.create(&pp, &event))
                .await
                .map(drop)
        }
    });
    measure_writes(opts, res, n, "POST events", events).await?;
    cleanup(client).await
}

/// Runs `ops` (n requests) 128 at a time and records the API server's and
/// etcd's CPU per request.
async fn measure_writes<F>(
    opts: &Opts,
    res: &mut Results,
    n: usize,
    what: &str,
    ops: impl Iterator<Item = F>,
) -> Result<()>
where
    F: std::future::Future<Output = Result<()>>,
{
    let pids = [
        Some(std::process::id()),
        component_pid(opts, "kube-apiserver"),
        component_pid(opts, "etcd"),
    ];
    let cpu0 = CpuTicks::read(pids);
    let t0 = Instant::now();
    futures::stream::iter(ops)
        .buffer_unordered(CREATE_CONCURRENCY)
        .try_collect::<Vec<_>>()
        .await?;
    let secs = t0.elapsed().as_secs_f64();
    let mut cpu = [0.0; 3];
    cpu0.add_delta(&CpuTicks::read(pids), &mut cpu);
    res.push(json!({
        "workload": "writes", "transport": "http2", "k8s_version": K8S_VERSION, "n": n, "request": what,
        "requests_per_s": n as f64 / secs,
        "apiserver_cpu_ms_per_request": 1000.0 * cpu[1] / n as f64,
        "etcd_cpu_ms_per_request": 1000.0 * cpu[2] / n as f64,
        "cpu_s": cpu_json("driver", cpu),
        "command": format!("kronjob-bench: {n} × {what}, {CREATE_CONCURRENCY} in flight over http2"),
    }))
}

async fn latency(
    opts: &Opts,
    m: &Metrics,
    rec: &Recorder,
    c: &Contender,
    n: usize,
    raw: Option<f64>,
    res: &mut Results,
) -> Result<()> {
    let client = &m.api;
    wait_minute_start().await;
    let minute0 = now_ms() - now_ms().rem_euclid(60_000);
    cleanup(client).await?;
    let run = format!("lat-{n}-{}", now_ms());
    create_cronjobs(client, n, &run, "* * * * *").await?;
    let r = start(opts, c, &format!("latency-{n}")).await?;
    let ready_at = now_ms();
    let mut note = String::new();
    if ready_at - minute0 > 45_000 {
        note = format!(
            "setup ended {} ms after the minute start (late)",
            ready_at - minute0
        );
        log(&note);
    }
    let window_ms = 55_000;
    let mut lat: Vec<i64> = Vec::new();
    let mut all_ms: Vec<i64> = Vec::new();
    let mut seen_total = 0;
    let mut complete = true;
    let mut slots = Vec::new();
    // What the bursts cost: CPU seconds per process and API requests, from
    // each slot until its last Job was seen.
    let pids = [
        Some(r.pid),
        component_pid(opts, "kube-apiserver"),
        component_pid(opts, "etcd"),
    ];
    let mut burst_cpu = [0.0; 3];
    let mut burst_requests: BTreeMap<String, f64> = BTreeMap::new();
    for b in 0..opts.boundaries {
        let slot = minute0 + 60_000 * (b as i64 + 1);
        slots.push(slot);
        // Read the request counters before the slot, off the burst's path.
        wait_until_ms(slot - 3_000).await;
        let requests_before = m.apiserver().await?;
        wait_until_ms(slot).await;
        let cpu_at_slot = CpuTicks::read(pids);
        while rec.count_slot(&run, slot) < n && now_ms() < slot + window_ms {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        cpu_at_slot.add_delta(&CpuTicks::read(pids), &mut burst_cpu);
        let d = req_delta(&requests_before, &m.apiserver().await?);
        for (k, v) in d.attributable_by {
            *burst_requests.entry(k).or_insert(0.0) += v;
        }
        let seen: Vec<Seen> = rec
            .snapshot(&run)
            .into_iter()
            .filter(|s| s.slot_ms == Some(slot))
            .collect();
        seen_total += seen.len();
        lat.extend(seen.iter().map(|s| s.at_ms - slot));
        let last = seen.iter().map(|s| s.at_ms - slot).max().unwrap_or(-1);
        log(format!(
            "{} N={n} slot {}: {}/{n} Jobs, last at +{last} ms",
            c.name,
            b + 1,
            seen.len()
        ));
        if seen.len() < n {
            complete = false;
            all_ms.push(-1);
            log(
                "not all Jobs within the window: the next boundary would start with a backlog, skipping it",
            );
            break;
        }
        all_ms.push(last);
    }
    stop(r).await;
    let unannotated = rec
        .snapshot(&run)
        .iter()
        .filter(|s| s.slot_ms.is_none())
        .count();
    lat.sort();
    let worst_all = if complete {
        *all_ms.iter().max().unwrap_or(&-1)
    } else {
        -1
    };
    let burst = if complete && worst_all > 0 {
        Some(n as f64 / (worst_all as f64 / 1000.0))
    } else {
        None
    };
    res.push(json!({
        "workload": "latency", "k8s_version": K8S_VERSION, "contender": c.name, "n": n,
        "boundaries": slots.len(), "jobs_expected": n * slots.len(), "jobs_seen": seen_total,
        "complete": complete, "window_ms": window_ms,
        "p50_ms": pct(&lat, 0.50), "p99_ms": pct(&lat, 0.99), "max_ms": lat.last().copied().unwrap_or(-1),
        "all_exist_ms": if complete { json!(worst_all) } else { json!(format!(">{window_ms}")) },
        "all_exist_ms_per_boundary": all_ms,
        "burst_jobs_per_s": burst, "fraction_of_raw": burst.zip(raw).map(|(b, r)| b / r),
        "jobs_without_scheduled_annotation": unannotated,
        "burst_cpu_s": cpu_json("contender", burst_cpu),
        "burst_requests": burst_requests,
        "note": note, "command": c.command(),
    }))?;
    Ok(())
}

/// 5000 CronJobs an hour from their slot, each owning 3 finished Jobs.
async fn steady_setup(client: &Client, n: usize) -> Result<String> {
    cleanup(client).await?;
    let run = format!("steady-{}", now_ms());
    let next = jiff::Timestamp::now() + jiff::SignedDuration::from_hours(1);
    let z = next.to_zoned(jiff::tz::TimeZone::UTC);
    let schedule = format!("{} {} * * *", z.minute(), z.hour());
    let cjs = create_cronjobs(client, n, &run, &schedule).await?;
    let t = Instant::now();
    let base = jiff::Timestamp::now() - jiff::SignedDuration::from_hours(4);
    let ts = |h: i64, s: i64| {
        (base + jiff::SignedDuration::from_hours(h) + jiff::SignedDuration::from_secs(s))
            .to_string()
    };
    let items: Vec<(usize, usize)> = (0..n).flat_map(|i| (0..3).map(move |k| (i, k))).collect();
    let run2 = run.clone();
    futures::stream::iter(items)
        .map(|(i, k)| {
            let client = client.clone();
            let (ns, name, uid) = cjs[i].clone();
            let run = run2.clone();
            let (start, end) = (ts(k as i64, 0), ts(k as i64, 5));
            async move {
                let api: Api<Job> = Api::namespaced(client, &ns);
                let mut spec = job_template(&run)["spec"].clone();
                spec["template"]["metadata"] = json!({});
                let job: Job = serde_json::from_value(json!({
                    "apiVersion": "batch/v1", "kind": "Job",
                    "metadata": {
                        "name": format!("{name}-{k}"), "namespace": ns, "labels": {RUN_LABEL: run},
                        "annotations": {SCHEDULED_ANNOTATION: start},
                        "ownerReferences": [{"apiVersion": "batch/v1", "kind": "CronJob", "name": name, "uid": uid,
                            "controller": true, "blockOwnerDeletion": true}]
                    },
                    "spec": spec
                }))?;
                with_retry("create job", || async { api.create(&PostParams::default(), &job).await }).await?;
                let status = json!({"status": {
                    "startTime": start, "completionTime": end, "succeeded": 1,
                    "conditions": [
                        {"type": "SuccessCriteriaMet", "status": "True", "lastTransitionTime": end},
                        {"type": "Complete", "status": "True", "lastTransitionTime": end}
                    ]
                }});
                let jn = format!("{name}-{k}");
                with_retry("job status", || async { api.patch_status(&jn, &PatchParams::default(), &Patch::Merge(&status)).await })
                    .await?;
                anyhow::Ok(())
            }
        })
        .buffer_unordered(CREATE_CONCURRENCY)
        .try_collect::<Vec<_>>()
        .await?;
    // The CronJobs' status as a controller that ran them would have left it,
    // so that no contender has status to catch up on at start-up.
    let (last_sched, last_ok) = (ts(2, 0), ts(2, 5));
    futures::stream::iter(cjs)
        .map(|(ns, name, _)| {
            let client = client.clone();
            let st =
                json!({"status": {"lastScheduleTime": last_sched, "lastSuccessfulTime": last_ok}});
            async move {
                let api: Api<CronJob> = Api::namespaced(client, &ns);
                with_retry("cronjob status", || async {
                    api.patch_status(&name, &PatchParams::default(), &Patch::Merge(&st))
                        .await
                })
                .await?;
                anyhow::Ok(())
            }
        })
        .buffer_unordered(CREATE_CONCURRENCY)
        .try_collect::<Vec<_>>()
        .await?;
    log(format!(
        "{} finished Jobs and CronJob status in {:.1} s (schedule `{schedule}`)",
        3 * n,
        t.elapsed().as_secs_f64()
    ));
    Ok(run)
}

async fn steady(
    opts: &Opts,
    m: &Metrics,
    c: Option<&Contender>,
    n: usize,
    res: &mut Results,
) -> Result<()> {
    let Some(c) = c else {
        // Baseline: the same window with no contender.
        let a = m.apiserver().await?;
        tokio::time::sleep(Duration::from_secs(opts.idle_secs)).await;
        let d = req_delta(&a, &m.apiserver().await?);
        res.push(json!({
            "workload": "steady-baseline", "k8s_version": K8S_VERSION, "n": n, "idle_s": opts.idle_secs,
            "idle_requests": d.attributable, "idle_requests_all_resources": d.all_non_watch,
            "idle_watch_requests": d.watch_batch, "command": "no contender running",
        }))?;
        return Ok(());
    };
    let before_start = m.apiserver().await?;
    let r = start(opts, c, "steady").await?;
    let mut startup_ms: Option<u128> = None;
    let deadline = Instant::now() + Duration::from_secs(300);
    let mut rss_startup_peak = 0;
    while Instant::now() < deadline {
        rss_startup_peak = rss_startup_peak.max(proc_rss_kb(r.pid).unwrap_or(0));
        if let Ok(k) = m.reconciles(&r).await
            && k >= n as f64
        {
            startup_ms = Some(r.started.elapsed().as_millis());
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let startup_cpu = proc_cpu_ticks(r.pid).unwrap_or(0);
    log(format!("{} start-up: {:?} ms", c.name, startup_ms));
    // Let anything queued behind the first syncs finish before the idle window.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let a = m.apiserver().await?;
    let startup_req = req_delta(&before_start, &a);
    let cpu0 = proc_cpu_ticks(r.pid).unwrap_or(0);
    let t0 = Instant::now();
    let mut peak = 0;
    while t0.elapsed() < Duration::from_secs(opts.idle_secs) {
        peak = peak.max(proc_rss_kb(r.pid).unwrap_or(0));
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let cpu1 = proc_cpu_ticks(r.pid).unwrap_or(0);
    let secs = t0.elapsed().as_secs_f64();
    let end_rss = proc_rss_kb(r.pid).unwrap_or(0);
    let b = m.apiserver().await?;
    let d = req_delta(&a, &b);
    stop(r).await;
    let cpu_s = (cpu1 - cpu0) as f64 / 100.0;
    res.push(json!({
        "workload": "steady", "k8s_version": K8S_VERSION, "contender": c.name, "n": n, "finished_jobs": 3 * n,
        "startup_ms": startup_ms,
        "startup_proxy": if c.upstream { "kcm /metrics workqueue_work_duration_seconds_count{name=\"cronjob\"} >= N (N CronJob syncs processed)" } else { "kronjob /metrics kronjob_reconciles_total >= N" },
        "startup_cpu_s": startup_cpu as f64 / 100.0,
        "startup_requests": startup_req.attributable_by,
        "idle_s": secs, "rss_peak_kib": peak.max(end_rss), "rss_end_kib": end_rss, "rss_startup_peak_kib": rss_startup_peak,
        "cpu_s": cpu_s, "cpu_pct_core": 100.0 * cpu_s / secs,
        "idle_requests": d.attributable, "idle_requests_by": d.attributable_by,
        "idle_requests_all_resources": d.all_non_watch, "idle_watch_requests": d.watch_batch,
        "command": c.command(),
    }))?;
    Ok(())
}

#[tokio::main]
async fn main() -> Result<()> {
    let opts = parse_opts()?;
    let kc = kube::config::Kubeconfig::read_from(&opts.kubeconfig)?;
    let mut admin_cfg = Config::from_custom_kubeconfig(kc, &Default::default()).await?;
    if !admin_cfg
        .cluster_url
        .host()
        .is_some_and(|h| h == "127.0.0.1" || h == "localhost")
    {
        bail!(
            "refusing to run against {}: the bench only talks to 127.0.0.1",
            admin_cfg.cluster_url
        );
    }
    admin_cfg.read_timeout = Some(Duration::from_secs(120));
    let client = Client::try_from(admin_cfg.clone())?;
    let contenders: Vec<Contender> = opts
        .contenders
        .iter()
        .map(|n| contender(&opts, n))
        .collect::<Result<_>>()?;
    let mut res = Results {
        path: opts.out.clone(),
        rows: Vec::new(),
    };
    log(format!(
        "quick={} N={:?} boundaries={} steady={} idle={} s workloads={:?} contenders={:?}",
        opts.quick,
        opts.ns,
        opts.boundaries,
        opts.steady_cronjobs,
        opts.idle_secs,
        opts.workloads,
        opts.contenders
    ));
    ensure_namespaces(&client).await?;
    let (rec, mut ready) = Recorder::spawn(client.clone());
    ready.wait_for(|r| *r).await?;
    let m = Metrics {
        api: client.clone(),
        admin_cfg,
    };
    let wl = |w: &str| opts.workloads.iter().any(|x| x == w);

    let mut raw: HashMap<usize, f64> = HashMap::new();
    if wl("raw") {
        for &n in &opts.ns {
            for t in [Transport::Http1, Transport::Http2] {
                let thr = raw_capacity(&opts, &client, &m.admin_cfg, t, &rec, n, &mut res).await?;
                let best = raw.entry(n).or_insert(0.0);
                *best = best.max(thr);
            }
        }
    }
    if wl("writes") {
        let writer = Transport::Http2.client(&m.admin_cfg)?;
        write_costs(&opts, &client, &writer, 1000, &mut res).await?;
    }
    if wl("steady") {
        let n = opts.steady_cronjobs;
        steady_setup(&client, n).await?;
        steady(&opts, &m, None, n, &mut res).await?;
        for c in &contenders {
            steady(&opts, &m, Some(c), n, &mut res).await?;
        }
    }
    if wl("latency") {
        for &n in &opts.ns {
            for c in &contenders {
                latency(&opts, &m, &rec, c, n, raw.get(&n).copied(), &mut res).await?;
            }
        }
    }
    // BENCH_KEEP_OBJECTS=1 leaves the last workload's objects in place, so a
    // profiler can be pointed at a contender against them (docs/benchmarks.md).
    if std::env::var_os("BENCH_KEEP_OBJECTS").is_none_or(|v| v != "1") {
        cleanup(&client).await?;
    }
    log(format!("results in {}", opts.out.display()));
    Ok(())
}
