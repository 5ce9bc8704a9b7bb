//! Command line: `kronjob run | explain | next`.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail};
use clap::{Args, Parser, Subcommand, ValueEnum};
use jiff::{SignedDuration, Timestamp};
use kube::Api;
use kube::api::ListParams;
use tokio::sync::watch;
use tracing::{error, info};

use crate::controller::compact::{CompactCronJob, CompactJob};
use crate::controller::{self, Settings, Shared};
use crate::explain;
use crate::health::Health;
use crate::leader::{Elector, LeaderConfig};
use crate::metrics::Metrics;
use crate::model::Kind;
use crate::planner::{self, Observed};
use crate::schedule::{self, Schedule};
use crate::telemetry::{self, LogFormat};

#[derive(Parser, Debug)]
#[command(
    name = "kronjob",
    version,
    about = "A drop-in Kubernetes batch/v1 CronJob controller"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the controller.
    Run(RunArgs),
    /// Explain what the controller does with a CronJob now, and why.
    Explain(ExplainArgs),
    /// Print the next fire times of a schedule.
    Next(NextArgs),
    /// Print the KronJob CustomResourceDefinition (YAML).
    Crd,
}

fn served_kind(s: &str) -> Result<Kind, String> {
    Kind::ALL
        .into_iter()
        .find(|k| k.plural() == s)
        .ok_or_else(|| format!("{s:?} is not a kind kronjob serves: cronjobs or kronjobs"))
}

fn duration(s: &str) -> Result<Duration, String> {
    let d: SignedDuration = s
        .parse()
        .map_err(|e| format!("invalid duration {s:?}: {e}"))?;
    Duration::try_from(d).map_err(|_| format!("duration {s:?} must not be negative"))
}

#[derive(Args, Debug)]
pub struct RunArgs {
    /// Watch only this namespace (repeatable); default: all namespaces.
    #[arg(
        long = "namespace",
        short = 'n',
        env = "KRONJOB_NAMESPACES",
        value_delimiter = ','
    )]
    pub namespaces: Vec<String>,
    /// Address of the /metrics, /healthz and /readyz server.
    #[arg(long, default_value = "0.0.0.0:8080", env = "KRONJOB_METRICS_ADDR")]
    pub metrics_addr: SocketAddr,
    /// Elect a leader on a Lease so that only one replica acts.
    #[arg(long, env = "KRONJOB_LEADER_ELECT", num_args = 0..=1, default_missing_value = "true", default_value = "false")]
    pub leader_elect: bool,
    #[arg(
        long,
        default_value = "kronjob",
        env = "KRONJOB_LEADER_ELECT_LEASE_NAME"
    )]
    pub leader_elect_lease_name: String,
    /// Namespace of the Lease; default: the pod's namespace (POD_NAMESPACE), else "default".
    #[arg(long, env = "POD_NAMESPACE")]
    pub leader_elect_lease_namespace: Option<String>,
    #[arg(long, default_value = "15s", value_parser = duration)]
    pub leader_elect_lease_duration: Duration,
    #[arg(long, default_value = "10s", value_parser = duration)]
    pub leader_elect_renew_deadline: Duration,
    #[arg(long, default_value = "2s", value_parser = duration)]
    pub leader_elect_retry_period: Duration,
    /// This replica's identity in the Lease and Events; default: POD_NAME, else the host name.
    #[arg(long, env = "POD_NAME")]
    pub identity: Option<String>,
    /// CronJobs synced at once.
    #[arg(long, default_value_t = 64, env = "KRONJOB_CONCURRENCY")]
    pub concurrency: u16,
    /// The kinds to serve: cronjobs (batch/v1, where the built-in CronJob
    /// controller is off), kronjobs (kronjob.dev KronJobs, on any cluster),
    /// or both, comma-separated.
    #[arg(long, env = "KRONJOB_SERVE", value_delimiter = ',', default_value = "cronjobs", value_parser = served_kind)]
    pub serve: Vec<Kind>,
    /// After SIGTERM, stop within this time whatever the state (caches never
    /// synced, API server unreachable, Events queued): in-flight syncs and
    /// the Lease release get until then, and the process exits (status 1)
    /// when they are not done. Keep it below the pod's
    /// terminationGracePeriodSeconds (chart: 30 s).
    #[arg(long, env = "KRONJOB_SHUTDOWN_TIMEOUT", default_value = "20s", value_parser = duration)]
    pub shutdown_timeout: Duration,
    /// Plan every served object again at least this often, whatever the
    /// events (a safety net for a lost event or a step of the wall clock);
    /// 0 turns it off.
    #[arg(long, env = "KRONJOB_RESYNC_PERIOD", default_value = "10m", value_parser = duration)]
    pub resync_period: Duration,
    #[arg(long, value_enum, default_value = "text", env = "KRONJOB_LOG_FORMAT")]
    pub log_format: LogFormat,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum Output {
    Text,
    Json,
}

#[derive(Args, Debug)]
pub struct ExplainArgs {
    /// The CronJob (YAML or JSON, with its status); offline mode.
    #[arg(long, conflicts_with_all = ["namespace", "name"])]
    pub file: Option<PathBuf>,
    /// Its Jobs, as a List or a multi-document YAML stream (offline mode).
    #[arg(long, requires = "file")]
    pub jobs: Option<PathBuf>,
    /// Namespace of the CronJob to read from the cluster.
    #[arg(long, short = 'n', requires = "name")]
    pub namespace: Option<String>,
    /// Name of the CronJob to read from the cluster.
    pub name: Option<String>,
    /// The time to plan at (RFC3339); default: now.
    #[arg(long)]
    pub now: Option<Timestamp>,
    #[arg(long, short = 'o', value_enum, default_value = "text")]
    pub output: Output,
}

#[derive(Args, Debug)]
pub struct NextArgs {
    #[arg(long)]
    pub schedule: String,
    #[arg(long)]
    pub time_zone: Option<String>,
    /// Start after this instant (RFC3339); default: now.
    #[arg(long)]
    pub after: Option<Timestamp>,
    /// How many fire times to print. Each is printed as soon as it is
    /// computed, so any count is fine: stop early with Ctrl-C or `| head`.
    #[arg(long, default_value_t = 5)]
    pub count: u64,
}

/// Why `kronjob next` stopped without printing everything asked for.
#[derive(Debug, thiserror::Error)]
pub enum NextError {
    /// Bad input (schedule, zone) or a schedule that never fires: exit 2.
    #[error("{0}")]
    Input(String),
    /// Writing a line failed. A closed pipe (`| head -3`) is the reader
    /// saying "enough", not an error: see [`NextError::is_closed_pipe`].
    #[error("writing the output: {0}")]
    Output(#[from] std::io::Error),
}

impl NextError {
    /// The reader went away (EPIPE): stop quietly and successfully.
    pub fn is_closed_pipe(&self) -> bool {
        matches!(self, NextError::Output(e) if e.kind() == std::io::ErrorKind::BrokenPipe)
    }
}

/// `kronjob next`: writes the fire times to `out`, one line each, as they
/// are computed. Nothing is collected, so memory stays constant and a large
/// `--count` streams (until the schedule ends, at the latest at the end of
/// jiff's time range in year 9999) instead of hanging silently.
pub fn next(args: &NextArgs, out: &mut dyn Write) -> Result<(), NextError> {
    if let Some(zone) = args.time_zone.as_deref() {
        schedule::load_location(zone)
            .map_err(|e| NextError::Input(format!("invalid time zone {zone:?}: {e}")))?;
    }
    let effective = schedule::effective_spec(&args.schedule, args.time_zone.as_deref());
    let sched = Schedule::parse_standard(&effective.spec)
        .map_err(|e| NextError::Input(format!("invalid schedule {:?}: {e}", args.schedule)))?;
    let after = args.after.unwrap_or_else(Timestamp::now);
    let first = sched.next(after);
    if first.is_none() && args.count > 0 {
        return Err(NextError::Input(format!(
            "schedule {:?} never fires after {}",
            args.schedule,
            sched.location().format_rfc3339(after)
        )));
    }
    let times = std::iter::successors(first, |t| sched.next(*t));
    for t in times.take(usize::try_from(args.count).unwrap_or(usize::MAX)) {
        writeln!(out, "{}", sched.location().format_rfc3339(t))?;
    }
    out.flush()?;
    Ok(())
}

pub async fn explain(args: &ExplainArgs) -> anyhow::Result<String> {
    let now = args.now.unwrap_or_else(Timestamp::now);
    let (cronjob, plan) = match (&args.file, &args.name) {
        (Some(file), _) => {
            let text = std::fs::read_to_string(file)
                .with_context(|| format!("reading {}", file.display()))?;
            let cronjob = explain::parse_cronjob(&text).map_err(anyhow::Error::msg)?;
            let jobs = match &args.jobs {
                Some(p) => {
                    let text = std::fs::read_to_string(p)
                        .with_context(|| format!("reading {}", p.display()))?;
                    explain::parse_jobs(&text).map_err(anyhow::Error::msg)?
                }
                None => Vec::new(),
            };
            let plan = explain::plan_offline(&cronjob, &jobs, now);
            (cronjob, plan)
        }
        (None, Some(name)) => {
            let client = crate::client::connect()
                .await
                .context("connecting to the cluster")?;
            let ns = args
                .namespace
                .clone()
                .unwrap_or_else(|| client.default_namespace().to_string());
            let cached = Api::<CompactCronJob>::namespaced(client.clone(), &ns)
                .get(name)
                .await
                .with_context(|| format!("reading CronJob {ns}/{name}"))?;
            let cronjob = cached
                .scheduled()
                .map_err(|e| anyhow::anyhow!("CronJob {ns}/{name} cannot be read: {}", e.reason))?
                .clone();
            let jobs_api = Api::<CompactJob>::namespaced(client, &ns);
            let jobs: Vec<_> = jobs_api
                .list(&ListParams::default())
                .await
                .context("listing Jobs")?
                .items
                .iter()
                .map(|j| j.facts().clone())
                .collect();
            let lookups = planner::lookups_needed(&cronjob, &jobs);
            let mut observed = Observed::default();
            for r in &lookups.unknown_active {
                if jobs_api
                    .get_opt(r.name.as_deref().unwrap_or_default())
                    .await?
                    .is_none()
                {
                    observed.gone.extend(r.uid.clone());
                }
            }
            let plan = planner::plan(&cronjob, &jobs, &observed, now);
            (cronjob, plan)
        }
        (None, None) => bail!("give --file CRONJOB.yaml, or -n NAMESPACE NAME"),
    };
    Ok(match args.output {
        Output::Json => {
            serde_json::to_string_pretty(&explain::report(&cronjob, &plan, now))? + "\n"
        }
        Output::Text => explain::render_text(&cronjob, &plan, now),
    })
}

fn shutdown_signal(rx: &watch::Receiver<bool>) -> impl Future<Output = ()> + Send + Sync + 'static {
    let mut rx = rx.clone();
    async move {
        let _ = rx.wait_for(|v| *v).await;
    }
}

async fn wait_for_termination() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("SIGTERM handler");
    tokio::select! {
        _ = term.recv() => info!("SIGTERM received; shutting down"),
        _ = tokio::signal::ctrl_c() => info!("SIGINT received; shutting down"),
    }
}

/// `kronjob run`: serve HTTP at once, elect, reconcile until SIGTERM, then
/// finish in-flight syncs, release the Lease and exit.
pub async fn run(args: RunArgs) -> anyhow::Result<()> {
    telemetry::init(args.log_format);
    let identity = args
        .identity
        .clone()
        .or_else(|| {
            std::fs::read_to_string("/proc/sys/kernel/hostname")
                .ok()
                .map(|h| h.trim().to_string())
        })
        .unwrap_or_else(|| "kronjob".into());
    let metrics = Arc::new(Metrics::new());
    let client = crate::client::connect_observed(metrics.api_metrics())
        .await
        .context("connecting to the cluster")?;
    let health = Arc::new(Health::default());
    health.beat();
    let heartbeat = tokio::spawn(crate::health::heartbeat(health.clone(), metrics.clone()));

    // Stage 1 stops the controller (which finishes in-flight syncs);
    // stage 2, once it has, releases the Lease and stops HTTP.
    let (stop_controller, stop_controller_rx) = watch::channel(false);
    let (stop_rest, stop_rest_rx) = watch::channel(false);
    let http = crate::http::serve(
        args.metrics_addr,
        metrics.clone(),
        health.clone(),
        shutdown_signal(&stop_rest_rx),
    )
    .await
    .with_context(|| format!("binding {}", args.metrics_addr))?;

    // Without election this replica always leads; the sender is held for
    // the whole run so the channel stays open.
    let mut always_leader = None;
    let (leader_rx, elector) = if args.leader_elect {
        let config = LeaderConfig {
            lease_name: args.leader_elect_lease_name.clone(),
            namespace: args
                .leader_elect_lease_namespace
                .clone()
                .unwrap_or_else(|| "default".into()),
            identity: identity.clone(),
            lease_duration: args.leader_elect_lease_duration,
            renew_deadline: args.leader_elect_renew_deadline,
            retry_period: args.leader_elect_retry_period,
        };
        config.validate().map_err(anyhow::Error::msg)?;
        info!(lease = %config.lease_name, namespace = %config.namespace, identity = %identity, "leader election on");
        let (elector, rx) = Elector::new(client.clone(), config);
        (
            rx,
            Some(tokio::spawn(elector.run(shutdown_signal(&stop_rest_rx)))),
        )
    } else {
        let (tx, rx) = watch::channel(true);
        always_leader = Some(tx);
        (rx, None)
    };
    {
        let (metrics, mut rx) = (metrics.clone(), leader_rx.clone());
        tokio::spawn(async move {
            loop {
                let leading = *rx.borrow_and_update();
                metrics.leader.set(i64::from(leading));
                if !leading {
                    // Only the leader exports per-CronJob series (see
                    // Metrics::forget_all_cronjobs).
                    metrics.forget_all_cronjobs();
                }
                if rx.changed().await.is_err() {
                    break;
                }
                metrics.leader_transitions.inc();
            }
        });
    }

    let mut kinds = args.serve.clone();
    kinds.dedup();
    let settings = Settings {
        kinds,
        namespaces: args.namespaces.clone(),
        concurrency: args.concurrency.max(1),
        instance: identity,
        resync: Some(args.resync_period).filter(|p| !p.is_zero()),
    };
    let shared = Arc::new(Shared::new(
        client,
        &settings,
        metrics,
        health.clone(),
        leader_rx,
    ));
    let shutdown_timeout = args.shutdown_timeout;
    tokio::spawn(async move {
        wait_for_termination().await;
        stop_controller.send_replace(true);
        // The graceful path waits on the API server (in-flight syncs, the
        // Lease release, queued Events); it gets this long, then the process
        // ends anyway. Nothing is lost: Job names are deterministic, and a
        // Lease not released expires.
        tokio::time::sleep(shutdown_timeout).await;
        error!(
            timeout = ?shutdown_timeout,
            "not stopped within the shutdown timeout after SIGTERM; exiting now"
        );
        std::process::exit(1);
    });
    controller::run(
        shared.clone(),
        &settings,
        shutdown_signal(&stop_controller_rx),
    )
    .await;
    shared.flush_events(Duration::from_secs(5)).await;
    let clean = *stop_controller_rx.borrow();
    if !clean {
        health.controller_failed();
        error!("controller loop ended unexpectedly");
    }
    stop_rest.send_replace(true);
    if let Some(e) = elector {
        let _ = e.await;
    }
    let _ = http.await;
    heartbeat.abort();
    drop(always_leader);
    info!("stopped");
    if clean {
        Ok(())
    } else {
        bail!("controller loop ended unexpectedly")
    }
}
