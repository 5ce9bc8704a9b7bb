//! Command line: argument parsing and dispatch of `kronjob run | explain |
//! next | run-now | migrate | crd`. The same binary is the kubectl plugin
//! `kubectl kronjob` (installed as `kubectl-kronjob`): the client-side
//! commands take kubectl's global flags (`--kubeconfig`, `--context`,
//! `-n/--namespace`), anywhere on the line, as kubectl passes them on.

use std::ffi::OsString;
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail};
use clap::{Args, CommandFactory as _, FromArgMatches as _, Parser, Subcommand, ValueEnum};
use jiff::{SignedDuration, Timestamp};
use kube::api::ListParams;
use kube::{Api, Client};
use tokio::sync::watch;
use tracing::{error, info};

use crate::client::Target;
use crate::controller::compact::CompactJob;
use crate::controller::{self, Settings, Shared};
use crate::explain;
use crate::health::Health;
use crate::leader::{Elector, LeaderConfig};
use crate::lookup::{self, parse_kind};
use crate::metrics::Metrics;
use crate::migrate;
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
    #[command(flatten)]
    pub cluster: ClusterArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// kubectl's flags that choose the cluster, accepted by every command.
#[derive(Args, Debug, Clone, Default)]
pub struct ClusterArgs {
    /// The kubeconfig file; default: $KUBECONFIG, else ~/.kube/config, else
    /// the in-cluster service account.
    #[arg(long, global = true, value_name = "PATH")]
    pub kubeconfig: Option<PathBuf>,
    /// The kubeconfig context; default: its current context.
    #[arg(long, global = true, value_name = "NAME")]
    pub context: Option<String>,
}

impl ClusterArgs {
    pub fn target(&self) -> Target {
        Target {
            kubeconfig: self.kubeconfig.clone(),
            context: self.context.clone(),
        }
    }

    pub async fn connect(&self) -> anyhow::Result<Client> {
        crate::client::connect_with(&self.target())
            .await
            .context("connecting to the cluster")
    }
}

/// Parses the command line. Run as `kubectl-kronjob` (kubectl's plugin
/// name), help and errors say `kubectl kronjob`; `-n NS` given before the
/// command (`kubectl kronjob -n team-a run-now backup`) is moved after it.
pub fn parse<I: IntoIterator<Item = OsString>>(args: I) -> Cli {
    let args: Vec<OsString> = args.into_iter().collect();
    let invoked_as = args
        .first()
        .and_then(|a| std::path::Path::new(a).file_name())
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut command = Cli::command();
    if let Some(plugin) = invoked_as.strip_prefix("kubectl-") {
        command = command.bin_name(format!("kubectl {}", plugin.replace('-', " ")));
    }
    let matches = command.get_matches_from(namespace_after_command(args));
    Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit())
}

/// Moves `-n NS` / `--namespace NS` found before the subcommand to just
/// after it, where each command defines it.
pub fn namespace_after_command(args: Vec<OsString>) -> Vec<OsString> {
    let mut out = Vec::with_capacity(args.len());
    let mut moved = Vec::new();
    let mut it = args.into_iter();
    out.extend(it.next()); // argv[0]
    while let Some(arg) = it.next() {
        let text = arg.to_string_lossy().into_owned();
        match text.as_str() {
            "-n" | "--namespace" => {
                moved.push(arg);
                moved.extend(it.next());
            }
            t if t.starts_with("--namespace=")
                || (t.starts_with("-n") && t.len() > 2 && !t.starts_with("--")) =>
            {
                moved.push(arg)
            }
            "--kubeconfig" | "--context" => {
                out.push(arg);
                out.extend(it.next());
            }
            t if t.starts_with('-') => out.push(arg),
            _ => {
                // The subcommand.
                out.push(arg);
                out.append(&mut moved);
                out.extend(it);
                return out;
            }
        }
    }
    out.append(&mut moved);
    out
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the controller.
    Run(RunArgs),
    /// Explain what the controller does with a CronJob now, and why.
    Explain(ExplainArgs),
    /// Print the next fire times of a schedule.
    Next(NextArgs),
    /// Ask for one immediate run of a KronJob or CronJob and print the Job's name.
    RunNow(RunNowArgs),
    /// Move CronJobs to KronJobs or back, with their Jobs, losing no slot.
    Migrate(MigrateArgs),
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
    /// CronJobs synced at once. 128 keeps as many Job creates in flight
    /// in a burst as the API server's raw ceiling needs (docs/benchmarks.md).
    #[arg(long, default_value_t = 128, env = "KRONJOB_CONCURRENCY")]
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
    /// The CronJob or KronJob (YAML or JSON, with its status); offline mode.
    #[arg(long, conflicts_with_all = ["namespace", "name", "kind"])]
    pub file: Option<PathBuf>,
    /// Its Jobs, as a List or a multi-document YAML stream (offline mode).
    #[arg(long, requires = "file")]
    pub jobs: Option<PathBuf>,
    /// Namespace of the object to read from the cluster; default: the
    /// kubeconfig context's.
    #[arg(long, short = 'n', requires = "name")]
    pub namespace: Option<String>,
    /// Name of the KronJob or CronJob to read from the cluster.
    pub name: Option<String>,
    /// Which kind NAME is: kronjob or cronjob; default: the KronJob of that
    /// name, else the CronJob.
    #[arg(long, value_parser = parse_kind, requires = "name")]
    pub kind: Option<Kind>,
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
    /// Accepted (and unused) so that `kubectl kronjob -n NS next ...` works.
    #[arg(long, short = 'n', hide = true)]
    pub namespace: Option<String>,
}

#[derive(Args, Debug)]
pub struct RunNowArgs {
    /// Namespace; default: the kubeconfig context's.
    #[arg(long, short = 'n')]
    pub namespace: Option<String>,
    /// Name of the KronJob or CronJob.
    pub name: String,
    /// Which kind NAME is: kronjob or cronjob; default: the KronJob of that
    /// name, else the CronJob.
    #[arg(long, value_parser = parse_kind)]
    pub kind: Option<Kind>,
    /// The request's token; default: the time and a random suffix. A token
    /// already handled is not run again: its outcome is printed.
    #[arg(long)]
    pub token: Option<String>,
    /// How long to wait for the controller.
    #[arg(long, default_value = "60s", value_parser = duration)]
    pub timeout: Duration,
}

#[derive(Args, Debug)]
pub struct MigrateArgs {
    /// Namespace; default: the kubeconfig context's.
    #[arg(long, short = 'n')]
    pub namespace: Option<String>,
    /// The object to migrate (of the kind other than --to).
    #[arg(required_unless_present = "all", conflicts_with = "all")]
    pub name: Option<String>,
    /// Every object of the other kind in the namespace.
    #[arg(long)]
    pub all: bool,
    /// The kind to move to: kronjob or cronjob.
    #[arg(long, value_parser = parse_kind)]
    pub to: Kind,
    /// Print what would be done; change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// How long a CronJob's controller may take to see its suspension
    /// (a CronJob reports nothing when it does; a KronJob does, and is
    /// waited for up to --timeout).
    #[arg(long, default_value = "2s", value_parser = duration)]
    pub settle: Duration,
    /// Bound on each wait of the migration.
    #[arg(long, default_value = "60s", value_parser = duration)]
    pub timeout: Duration,
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

pub async fn explain(args: &ExplainArgs, cluster: &ClusterArgs) -> anyhow::Result<String> {
    let now = args.now.unwrap_or_else(Timestamp::now);
    let (object, plan) = match (&args.file, &args.name) {
        (Some(file), _) => {
            let text = explain::read_limited(file, explain::MAX_OBJECT_BYTES)?;
            let object = explain::parse_object(&text).map_err(anyhow::Error::msg)?;
            let jobs = match &args.jobs {
                Some(p) => {
                    let text = explain::read_limited(p, explain::MAX_JOBS_BYTES)?;
                    explain::parse_jobs(&text).map_err(anyhow::Error::msg)?
                }
                None => Vec::new(),
            };
            let plan = explain::plan_offline(&object, &jobs, now);
            (object, plan)
        }
        (None, Some(name)) => {
            let client = cluster.connect().await?;
            let ns = namespace_or_default(&args.namespace, &client);
            let object = lookup::find(&client, &ns, name, args.kind).await?;
            let jobs_api = Api::<CompactJob>::namespaced(client, &ns);
            let jobs: Vec<_> = jobs_api
                .list(&ListParams::default())
                .await
                .context("listing Jobs")?
                .items
                .iter()
                .map(|j| j.facts().clone())
                .collect();
            let lookups = planner::lookups_needed(&object, &jobs);
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
            let plan = planner::plan(&object, &jobs, &observed, now);
            (object, plan)
        }
        (None, None) => bail!("give --file OBJECT.yaml, or -n NAMESPACE NAME"),
    };
    Ok(match args.output {
        Output::Json => serde_json::to_string_pretty(&explain::report(&object, &plan, now))? + "\n",
        Output::Text => explain::render_text(&object, &plan, now),
    })
}

fn namespace_or_default(ns: &Option<String>, client: &Client) -> String {
    ns.clone()
        .unwrap_or_else(|| client.default_namespace().to_string())
}

/// `kronjob run-now`: the token sent and what became of it.
pub async fn run_now(
    args: &RunNowArgs,
    cluster: &ClusterArgs,
) -> anyhow::Result<(String, crate::run_now_cli::Outcome)> {
    let client = cluster.connect().await?;
    let ns = namespace_or_default(&args.namespace, &client);
    crate::run_now_cli::request(
        &client,
        &ns,
        &args.name,
        args.kind,
        args.token.clone(),
        args.timeout,
    )
    .await
}

/// `kronjob migrate`: progress on `out`.
pub async fn migrate(
    args: &MigrateArgs,
    cluster: &ClusterArgs,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let client = cluster.connect().await?;
    let ns = namespace_or_default(&args.namespace, &client);
    let opts = migrate::Options {
        to: args.to,
        dry_run: args.dry_run,
        settle: args.settle,
        timeout: args.timeout,
    };
    match &args.name {
        Some(name) => migrate::migrate(&client, &ns, name, &opts, out).await,
        None => migrate::migrate_all(&client, &ns, &opts, out)
            .await
            .map(drop),
    }
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
pub async fn run(args: RunArgs, cluster: &ClusterArgs) -> anyhow::Result<()> {
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
    let client = crate::client::connect_observed(&cluster.target(), metrics.api_metrics())
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

#[cfg(test)]
mod tests {
    use super::*;

    fn args(line: &str) -> Vec<OsString> {
        line.split_whitespace().map(OsString::from).collect()
    }

    #[test]
    fn namespace_before_the_command_moves_after_it() {
        for (given, expected) in [
            (
                "kubectl-kronjob -n team-a run-now backup",
                "kubectl-kronjob run-now -n team-a backup",
            ),
            (
                "kubectl-kronjob --namespace=team-a --context dev explain backup",
                "kubectl-kronjob --context dev explain --namespace=team-a backup",
            ),
            (
                "kubectl-kronjob -nteam-a --kubeconfig /k migrate backup --to kronjob",
                "kubectl-kronjob --kubeconfig /k migrate -nteam-a backup --to kronjob",
            ),
            (
                "kronjob run-now -n team-a backup",
                "kronjob run-now -n team-a backup",
            ),
        ] {
            assert_eq!(
                namespace_after_command(args(given)),
                args(expected),
                "{given}"
            );
        }
    }

    #[test]
    fn kubectl_flags_are_accepted_anywhere() {
        let cli = parse(args(
            "/home/u/.krew/bin/kubectl-kronjob --context dev -n team-a run-now backup --kubeconfig /k --kind cj",
        ));
        assert_eq!(cli.cluster.context.as_deref(), Some("dev"));
        assert_eq!(cli.cluster.kubeconfig, Some(PathBuf::from("/k")));
        let Command::RunNow(run_now) = cli.command else {
            panic!("{:?}", cli.command)
        };
        assert_eq!(run_now.namespace.as_deref(), Some("team-a"));
        assert_eq!(run_now.name, "backup");
        assert_eq!(run_now.kind, Some(Kind::CronJob));

        let cli = parse(args("kubectl-kronjob -n team-a next --schedule @daily"));
        assert!(matches!(cli.command, Command::Next(_)));
        let cli = parse(args(
            "kronjob migrate --all -n team-a --to kronjob --dry-run",
        ));
        let Command::Migrate(m) = cli.command else {
            panic!("{:?}", cli.command)
        };
        assert!(m.all && m.dry_run && m.name.is_none() && m.to == Kind::KronJob);
    }
}
