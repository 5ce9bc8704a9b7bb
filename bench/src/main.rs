//! `make bench`: kronjob against kube-controller-manager's CronJob controller,
//! one contender at a time, on the local control plane (started by
//! hack/bench.sh without the job controller, so Jobs are only created).
//!
//! Workloads (see docs/benchmarks.md):
//!   raw      - N Job creates issued by this driver with many in flight, once over
//!              HTTP/1.1 and once over HTTP/2: the better of the two is the ceiling
//!              (with `latency`, measured in every round, beside the contenders)
//!   writes   - API server and etcd CPU per status patch and per Event create
//!   latency  - N CronJobs `* * * * *` firing at the same minute boundary, in
//!              rounds whose contender order rotates: time until all Jobs exist,
//!              until every status records the slot, creation skew
//!   apf      - a burst while a noisy client floods the API server, kronjob as its
//!              ServiceAccount with and without the chart's FlowSchema
//!   steady   - 5000 CronJobs and 15000 finished Jobs: start-up, idle RSS, CPU and
//!              API requests, RSS during a forced relist
//!   scale    - the same with 50 000 CronJobs and 150 000 finished Jobs
//!
//! Every Job appearance and status change is timestamped by this driver's own
//! watches, with its own clock, in milliseconds.

mod apf;
mod burst;
mod objects;
mod procs;
mod prom;
mod raw;
mod record;
mod results;
mod steady;

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, anyhow, bail};
use kube::{Client, Config};
use serde_json::json;

use crate::burst::Env;
use crate::prom::Metrics;
use crate::raw::{RawCeiling, Transport};
use crate::record::Recorder;
use crate::results::Results;

pub const K8S_VERSION: &str = "v1.36.3";
pub const RUN_LABEL: &str = "kronjob-bench/run";
pub const SCHEDULED_ANNOTATION: &str = "batch.kubernetes.io/cronjob-scheduled-timestamp";
pub const NAMESPACES: usize = 10;
pub const CREATE_CONCURRENCY: usize = 128;

pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

pub fn ns_name(i: usize) -> String {
    format!("bench-{}", i % NAMESPACES)
}

pub fn log(msg: impl AsRef<str>) {
    let t = jiff::Timestamp::now();
    eprintln!("[bench {}] {}", t.strftime("%H:%M:%S%.3f"), msg.as_ref());
}

// ---------------------------------------------------------------- options

pub struct Opts {
    pub quick: bool,
    pub kubeconfig: PathBuf,
    pub kronjob: PathBuf,
    pub kcm: PathBuf,
    pub kubectl: PathBuf,
    pub out: PathBuf,
    pub logs: PathBuf,
    pub ns: Vec<usize>,
    /// Rounds of the burst workloads; each contender runs once per round,
    /// in an order rotated by the round.
    pub rounds: usize,
    /// Consecutive minute boundaries per contender start.
    pub boundaries: usize,
    pub steady_cronjobs: usize,
    pub scale_cronjobs: usize,
    pub scale_contenders: Vec<String>,
    pub idle_secs: u64,
    /// The least a forced-relist window lasts (0: no forced relist).
    pub relist_secs: u64,
    pub workloads: Vec<String>,
    pub contenders: Vec<String>,
    /// The control plane's pid files (hack/cluster-lib.sh's $PIDS), to
    /// account the API server's and etcd's CPU during a burst.
    pub pids: Option<PathBuf>,
    pub etcd_port: Option<u16>,
    /// hack/cluster-restart.sh, to force a relist.
    pub restart_script: Option<PathBuf>,
    pub apf_n: usize,
    pub apf_configs: Vec<String>,
    pub apf_rbac: Option<PathBuf>,
    pub apf_flowschema: Option<PathBuf>,
    /// NAMESPACE:NAME of the chart's ServiceAccount.
    pub apf_sa: Option<String>,
    pub noise_users: usize,
    pub noise_concurrency: usize,
    /// Remove the bench objects at the end (hack/bench.sh turns it off when
    /// it stops the control plane anyway).
    pub final_cleanup: bool,
}

fn parse_opts(args: Vec<String>) -> Result<Opts> {
    let mut quick = std::env::var("BENCH_QUICK").is_ok_and(|v| v == "1");
    let mut args = args.into_iter();
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
    fn num<T: std::str::FromStr>(what: &str, s: Option<String>, default: T) -> Result<T> {
        match s {
            None => Ok(default),
            Some(s) => s
                .parse()
                .map_err(|_| anyhow!("{what}: not a number: {s:?}")),
        }
    }
    let ns = match get("ns", "BENCH_NS") {
        Some(s) => list(s)
            .iter()
            .map(|x| x.parse().map_err(|_| anyhow!("BENCH_NS: {x:?}")))
            .collect::<Result<_>>()?,
        None if quick => vec![1, 100],
        None => vec![1, 100, 1000, 5000],
    };
    let contenders = list(
        get("contenders", "BENCH_CONTENDERS")
            .unwrap_or("kronjob,upstream-default,upstream-tuned".into()),
    );
    // The scale workload compares kronjob with upstream-tuned: upstream's
    // default client settings make no difference to memory or to an idle
    // controller, and each contender costs minutes at that size.
    let scale_contenders = match get("scale-contenders", "BENCH_SCALE_CONTENDERS") {
        Some(s) => list(s),
        None => contenders
            .iter()
            .filter(|c| *c != "upstream-default")
            .cloned()
            .collect(),
    };
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
        kubectl: get("kubectl", "BENCH_KUBECTL")
            .unwrap_or("kubectl".into())
            .into(),
        out: get("out", "BENCH_OUT")
            .unwrap_or("target/bench/results.json".into())
            .into(),
        logs: get("logs", "BENCH_LOGS")
            .unwrap_or("target/bench/logs".into())
            .into(),
        ns,
        rounds: num(
            "BENCH_ROUNDS",
            get("rounds", "BENCH_ROUNDS"),
            if quick { 1 } else { 3 },
        )?,
        boundaries: num("BENCH_BOUNDARIES", get("boundaries", "BENCH_BOUNDARIES"), 1)?,
        steady_cronjobs: num(
            "BENCH_STEADY",
            get("steady", "BENCH_STEADY"),
            if quick { 500 } else { 5000 },
        )?,
        scale_cronjobs: num(
            "BENCH_SCALE",
            get("scale", "BENCH_SCALE"),
            if quick { 2000 } else { 50_000 },
        )?,
        scale_contenders,
        idle_secs: num(
            "BENCH_IDLE_SECS",
            get("idle", "BENCH_IDLE_SECS"),
            if quick { 20 } else { 60 },
        )?,
        relist_secs: num(
            "BENCH_RELIST_SECS",
            get("relist", "BENCH_RELIST_SECS"),
            if quick { 20 } else { 60 },
        )?,
        workloads: list(
            get("workloads", "BENCH_WORKLOADS")
                .unwrap_or("raw,writes,latency,apf,steady,scale".into()),
        ),
        contenders,
        pids: get("pids", "BENCH_PIDS").map(PathBuf::from),
        etcd_port: get("etcd-port", "BENCH_ETCD_PORT").and_then(|p| p.parse().ok()),
        restart_script: get("restart", "BENCH_CLUSTER_RESTART").map(PathBuf::from),
        apf_n: num(
            "BENCH_APF_N",
            get("apf-n", "BENCH_APF_N"),
            if quick { 100 } else { 1000 },
        )?,
        apf_configs: list(
            get("apf-configs", "BENCH_APF_CONFIGS")
                .unwrap_or("quiet,noise,noise+flowschema,upstream-noise".into()),
        ),
        apf_rbac: get("apf-rbac", "BENCH_APF_RBAC").map(PathBuf::from),
        apf_flowschema: get("apf-flowschema", "BENCH_APF_FLOWSCHEMA").map(PathBuf::from),
        apf_sa: get("apf-sa", "BENCH_APF_SA"),
        noise_users: num(
            "BENCH_NOISE_USERS",
            get("noise-users", "BENCH_NOISE_USERS"),
            16,
        )?,
        noise_concurrency: num(
            "BENCH_NOISE_CONCURRENCY",
            get("noise-concurrency", "BENCH_NOISE_CONCURRENCY"),
            16,
        )?,
        final_cleanup: get("final-cleanup", "BENCH_FINAL_CLEANUP").is_none_or(|v| v != "0"),
    })
}

/// `kronjob-bench noise --kubeconfig K --users U --concurrency C` (started
/// by the apf workload).
async fn noise_main(args: Vec<String>) -> Result<()> {
    let mut kv: HashMap<String, String> = HashMap::new();
    let mut it = args.into_iter();
    while let Some(a) = it.next() {
        let k = a
            .strip_prefix("--")
            .ok_or_else(|| anyhow!("noise: unknown argument {a}"))?;
        kv.insert(k.into(), it.next().context("noise: value missing")?);
    }
    let get = |k: &str| kv.get(k).context(format!("noise: --{k} missing"));
    apf::run_noise(
        &PathBuf::from(get("kubeconfig")?),
        get("users")?.parse()?,
        get("concurrency")?.parse()?,
    )
    .await
}

#[tokio::main]
async fn main() -> Result<()> {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().is_some_and(|a| a == "noise") {
        args.remove(0);
        return noise_main(args).await;
    }
    let opts = parse_opts(args)?;
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
    let contenders: Vec<procs::Contender> = opts
        .contenders
        .iter()
        .map(|n| procs::contender(&opts, n, None))
        .collect::<Result<_>>()?;
    let run = json!({
        "k8s_version": K8S_VERSION, "quick": opts.quick, "ns": opts.ns, "rounds": opts.rounds,
        "boundaries": opts.boundaries, "steady_cronjobs": opts.steady_cronjobs,
        "scale_cronjobs": opts.scale_cronjobs, "scale_contenders": opts.scale_contenders,
        "idle_secs": opts.idle_secs, "relist_secs": opts.relist_secs, "workloads": opts.workloads,
        "contenders": opts.contenders, "apf_n": opts.apf_n, "apf_configs": opts.apf_configs,
        "noise_users": opts.noise_users, "noise_concurrency": opts.noise_concurrency,
        "started": jiff::Timestamp::now().to_string(),
        "cpus": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        "mem_total_kib": std::fs::read_to_string("/proc/meminfo").ok().and_then(|s| s.lines().next().and_then(|l| l.split_whitespace().nth(1)).and_then(|v| v.parse::<u64>().ok())),
    });
    log(format!("settings: {run}"));
    let mut res = Results {
        path: opts.out.clone(),
        rows: Vec::new(),
        run,
    };
    objects::ensure_namespaces(&client).await?;
    let m = Metrics {
        api: client.clone(),
        admin_cfg,
    };
    let wl = |w: &str| opts.workloads.iter().any(|x| x == w);
    for w in &opts.workloads {
        if !["raw", "writes", "latency", "apf", "steady", "scale"].contains(&w.as_str()) {
            bail!("unknown workload {w}");
        }
    }

    // The burst workloads need the driver's own watches; the steady ones
    // run without them (they would list 150 000 Jobs during the measurement).
    if wl("raw") || wl("writes") || wl("latency") || wl("apf") {
        let rec = Recorder::start(client.clone()).await?;
        let env = Env {
            opts: &opts,
            m: &m,
            rec: &rec,
        };
        let mut ceiling = RawCeiling::default();
        if wl("raw") && !wl("latency") {
            for &n in &opts.ns {
                for round in 0..opts.rounds {
                    for t in burst::rotated(&[Transport::Http1, Transport::Http2], round) {
                        raw::raw_burst(
                            &opts,
                            &client,
                            &m.admin_cfg,
                            t,
                            &rec,
                            n,
                            round,
                            &mut ceiling,
                            &mut res,
                        )
                        .await?;
                    }
                }
                ceiling.summarize_n(n, &mut res)?;
            }
        }
        if wl("writes") {
            let writer = Transport::Http2.client(&m.admin_cfg)?;
            raw::write_costs(&opts, &client, &writer, 1000, &mut res).await?;
        }
        if wl("latency") {
            burst::latency(&env, &contenders, wl("raw"), &mut ceiling, &mut res).await?;
        }
        if wl("apf") {
            apf::apf(&env, &mut res).await?;
        }
    }
    for (label, n, names) in [
        ("steady", opts.steady_cronjobs, &opts.contenders),
        ("scale", opts.scale_cronjobs, &opts.scale_contenders),
    ] {
        if !wl(label) {
            continue;
        }
        steady::setup(&opts, &client, n, label, &mut res).await?;
        steady::baseline(&opts, &m, n, label, &mut res).await?;
        for name in names {
            let c = procs::contender(&opts, name, None)?;
            steady::measure(&opts, &m, &c, n, label, &mut res).await?;
        }
    }
    // BENCH_KEEP_OBJECTS=1 leaves the last workload's objects in place, so a
    // profiler can be pointed at a contender against them (docs/benchmarks.md).
    if std::env::var_os("BENCH_KEEP_OBJECTS").is_none_or(|v| v != "1") && opts.final_cleanup {
        objects::cleanup(&client).await?;
    }
    log(format!("results in {}", opts.out.display()));
    Ok(())
}
