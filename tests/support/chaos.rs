//! The fault-injection suite's harness (tests/chaos.rs; docs/testing.md):
//!
//! * [`cluster`]: a control plane of its own in `target/cluster-chaos`,
//!   whose API server and etcd the suite kills and restarts without
//!   disturbing the suites that share `target/cluster`.
//! * [`check`]: the invariant. For every CronJob and every slot whose
//!   deadline has passed, exactly one Job; at most one for a slot still in
//!   progress; none for a time that is not a slot, and none created after
//!   its slot's deadline.
//! * [`JobRecorder`]: every Job that ever existed during a test (a watch), so
//!   that a Job deleted by the history limit still counts, and a slot run
//!   twice (a Job created, deleted and created again) shows as two UIDs.
//! * [`Rng`]: a seeded generator for fault times (seed printed, env override).
//! * Leadership intervals and actions read back from kronjob's JSON logs.
#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use futures::StreamExt;
use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::events::v1::Event;
use kronjob::schedule::{Schedule, effective_spec};
use kube::ResourceExt;
use kube::api::{Api, ListParams, PostParams};
use kube::runtime::{WatchStreamExt, watcher};

use crate::common;
use crate::support::cluster::OwnCluster;

/// State directory of the chaos control plane (hack/cluster-lib.sh).
pub const CLUSTER_DIR: &str = "target/cluster-chaos";

/// Whether the fault tests run here (`KRONJOB_CHAOS`, see
/// [`crate::support::cluster::enabled`]): they kill and restart their own
/// API server.
pub fn enabled(test: &str) -> bool {
    crate::support::cluster::enabled("KRONJOB_CHAOS", &format!("[chaos] {test}"))
}

/// The chaos control plane, started (or reused) once per test binary. It is
/// left running afterwards, like the shared one: `make test` and `make
/// chaos` stop it (`KRONJOB_CLUSTER_DIR=target/cluster-chaos hack/cluster-down.sh`).
/// Blocking.
pub fn cluster() -> &'static OwnCluster {
    static CLUSTER: OnceLock<OwnCluster> = OnceLock::new();
    CLUSTER.get_or_init(|| OwnCluster::start(CLUSTER_DIR, &[]))
}

/// The knobs of a run: the reduced round by default (what `cargo test`
/// runs), the full one with `KRONJOB_CHAOS_FULL=1` (`make chaos`).
#[derive(Clone, Debug)]
pub struct Knobs {
    pub full: bool,
    /// Minute boundaries (bursts) each fault test goes through.
    pub minutes: Option<u32>,
    /// CronJobs per test, overriding each test's default.
    pub cronjobs: Option<usize>,
}

impl Knobs {
    pub fn from_env() -> Knobs {
        let num = |k: &str| -> Option<u64> { std::env::var(k).ok().and_then(|v| v.parse().ok()) };
        Knobs {
            full: std::env::var("KRONJOB_CHAOS_FULL").is_ok_and(|v| v == "1"),
            minutes: num("KRONJOB_CHAOS_MINUTES").map(|n| n as u32),
            cronjobs: num("KRONJOB_CHAOS_CRONJOBS").map(|n| n as usize),
        }
    }

    /// `reduced` or `full` minutes, unless KRONJOB_CHAOS_MINUTES says.
    pub fn minutes(&self, reduced: u32, full: u32) -> u32 {
        self.minutes
            .unwrap_or(if self.full { full } else { reduced })
            .max(1)
    }

    pub fn cronjobs(&self, default: usize) -> usize {
        self.cronjobs.unwrap_or(default).max(1)
    }
}

/// SplitMix64: small, seedable, good enough to pick fault times.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn with_seed(seed: u64) -> Rng {
        Rng(seed)
    }

    /// The suite's seed (KRONJOB_CHAOS_SEED, else from the clock, printed
    /// so a run can be replayed), mixed with the test's name so each test
    /// has its own sequence whatever the order they run in.
    pub fn for_test(test: &str) -> Rng {
        static SEED: OnceLock<u64> = OnceLock::new();
        let seed = *SEED.get_or_init(|| {
            let seed = std::env::var("KRONJOB_CHAOS_SEED")
                .ok()
                .and_then(|s| s.parse().ok())
                .unwrap_or_else(|| Timestamp::now().as_nanosecond() as u64);
            eprintln!("[chaos] seed {seed} (KRONJOB_CHAOS_SEED={seed} replays the fault times)");
            seed
        });
        let mut h = seed;
        for b in test.bytes() {
            h = (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
        }
        Rng(h)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [lo, hi).
    pub fn f64(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// A duration uniform in [lo, hi) seconds.
    pub fn secs(&mut self, lo: f64, hi: f64) -> Duration {
        Duration::from_secs_f64(self.f64(lo, hi))
    }
}

/// The first whole minute at or after `t`.
pub fn minute_at_or_after(t: Timestamp) -> Timestamp {
    let s = t.as_second();
    let m = if s % 60 == 0 && t.subsec_nanosecond() == 0 {
        s
    } else {
        (s.div_euclid(60) + 1) * 60
    };
    Timestamp::from_second(m).unwrap()
}

/// Sleep until the wall clock reads `t` (at once if it has passed). Used
/// only to *schedule* a fault at a chosen moment, never to wait for the
/// cluster (that is `common::wait_for`).
pub async fn sleep_until(t: Timestamp) {
    let left = t.duration_since(Timestamp::now());
    if left > SignedDuration::ZERO {
        tokio::time::sleep(Duration::try_from(left).unwrap()).await;
    }
}

/// Seconds from `a` to `b`.
pub fn secs_between(a: Timestamp, b: Timestamp) -> f64 {
    b.duration_since(a).as_secs_f64()
}

// ---- the invariant ---------------------------------------------------------

/// What the checker needs of a CronJob.
#[derive(Clone, Debug)]
pub struct CronJobUnderTest {
    pub name: String,
    pub uid: String,
    pub schedule: String,
    pub time_zone: Option<String>,
    pub deadline_seconds: i64,
    pub created: Timestamp,
}

impl CronJobUnderTest {
    pub fn from_cronjob(cj: &CronJob) -> CronJobUnderTest {
        CronJobUnderTest {
            name: cj.name_any(),
            uid: cj.uid().expect("uid"),
            schedule: cj.spec.schedule.clone(),
            time_zone: cj.spec.time_zone.clone(),
            deadline_seconds: cj
                .spec
                .starting_deadline_seconds
                .expect("the chaos suite sets startingDeadlineSeconds"),
            created: cj.metadata.creation_timestamp.as_ref().expect("created").0,
        }
    }
}

/// What the checker needs of a Job.
#[derive(Clone, Debug, PartialEq)]
pub struct SeenJob {
    pub name: String,
    pub uid: String,
    pub owner_uid: Option<String>,
    /// The `batch.kubernetes.io/cronjob-scheduled-timestamp` annotation.
    pub scheduled: Option<String>,
    pub created: Option<Timestamp>,
}

impl SeenJob {
    pub fn from_job(job: &Job) -> SeenJob {
        SeenJob {
            name: job.name_any(),
            uid: job.uid().unwrap_or_default(),
            owner_uid: job
                .metadata
                .owner_references
                .iter()
                .flatten()
                .find(|r| r.controller == Some(true))
                .map(|r| r.uid.clone()),
            scheduled: job
                .annotations()
                .get("batch.kubernetes.io/cronjob-scheduled-timestamp")
                .cloned(),
            created: job.metadata.creation_timestamp.as_ref().map(|t| t.0),
        }
    }
}

/// The checker's findings. `assert_ok` fails the test with all of them.
#[derive(Debug, Default)]
pub struct Verdict {
    /// Slots verified to have exactly one Job.
    pub slots_checked: usize,
    /// Slots still inside their deadline at the check with no Job yet.
    pub slots_pending: usize,
    pub jobs: usize,
    pub lost: Vec<String>,
    pub duplicated: Vec<String>,
    /// Jobs for a time that is not a slot (or before the CronJob existed,
    /// or in the future), with a name that does not match their slot, or
    /// owned by no CronJob under test.
    pub strays: Vec<String>,
    /// Jobs created after their slot's deadline (plus the tolerance).
    pub late: Vec<String>,
    /// Largest delay from a slot to its Job's creation, in seconds.
    pub max_delay_seconds: i64,
}

impl Verdict {
    pub fn summary(&self) -> String {
        format!(
            "{} slots with exactly one Job, {} still inside their deadline without one, {} Jobs; lost {}, duplicated {}, stray {}, late {}; slowest Job {} s after its slot",
            self.slots_checked,
            self.slots_pending,
            self.jobs,
            self.lost.len(),
            self.duplicated.len(),
            self.strays.len(),
            self.late.len(),
            self.max_delay_seconds
        )
    }

    pub fn is_ok(&self) -> bool {
        self.lost.is_empty()
            && self.duplicated.is_empty()
            && self.strays.is_empty()
            && self.late.is_empty()
    }

    pub fn assert_ok(&self, context: &str) {
        assert!(
            self.is_ok(),
            "{context}: the invariant failed: {}\nlost: {:?}\nduplicated: {:?}\nstray: {:?}\nlate: {:?}",
            self.summary(),
            self.lost,
            self.duplicated,
            self.strays,
            self.late
        );
    }
}

/// Check the invariant at `now` over every Job seen (`jobs`, each UID
/// once), with `tolerance` seconds for a create that was decided inside the
/// deadline but landed later (a request in flight, a slow API server).
///
/// A slot counts from the first one strictly after the CronJob's creation
/// (the controller never runs earlier ones). It is *settled* when its
/// deadline and the tolerance have passed: it must have exactly one Job. A
/// slot at or before `now` but not settled is in progress (the one being
/// run when the test stopped): zero or one Job. A Job for any other time is
/// a stray.
pub fn check(
    cronjobs: &[CronJobUnderTest],
    jobs: &[SeenJob],
    now: Timestamp,
    tolerance: i64,
) -> Verdict {
    let mut v = Verdict {
        jobs: jobs.len(),
        ..Verdict::default()
    };
    let by_uid: HashMap<&str, &CronJobUnderTest> =
        cronjobs.iter().map(|c| (c.uid.as_str(), c)).collect();
    // (cronjob uid, slot) -> Job names
    let mut per_slot: HashMap<(&str, i64), Vec<&str>> = HashMap::new();
    for job in jobs {
        let Some(cj) = job.owner_uid.as_deref().and_then(|u| by_uid.get(u)) else {
            v.strays
                .push(format!("{}: owned by no CronJob under test", job.name));
            continue;
        };
        let schedule = parse(cj);
        let Some(slot) = job
            .scheduled
            .as_deref()
            .and_then(|s| s.parse::<Timestamp>().ok())
        else {
            v.strays.push(format!(
                "{}: scheduled-timestamp annotation {:?}",
                job.name, job.scheduled
            ));
            continue;
        };
        let is_slot =
            slot > cj.created && schedule.next(slot - SignedDuration::from_secs(1)) == Some(slot);
        if !is_slot || slot > now {
            v.strays.push(format!(
                "{}: {slot} is not a slot of {} (created {}, schedule {:?}, now {now})",
                job.name, cj.name, cj.created, cj.schedule
            ));
            continue;
        }
        let expected_name = format!("{}-{}", cj.name, slot.as_second().div_euclid(60));
        if job.name != expected_name {
            v.strays.push(format!(
                "{}: name for slot {slot} should be {expected_name}",
                job.name
            ));
        }
        if let Some(created) = job.created {
            let delay = created.as_second() - slot.as_second();
            v.max_delay_seconds = v.max_delay_seconds.max(delay);
            if delay > cj.deadline_seconds + tolerance {
                v.late.push(format!(
                    "{}: created {created}, {delay} s after its slot {slot} (deadline {} s)",
                    job.name, cj.deadline_seconds
                ));
            }
        }
        per_slot
            .entry((cj.uid.as_str(), slot.as_second()))
            .or_default()
            .push(job.name.as_str());
    }
    for cj in cronjobs {
        let schedule = parse(cj);
        let mut t = cj.created;
        while let Some(slot) = schedule.next(t) {
            if slot > now {
                break;
            }
            t = slot;
            let names = per_slot
                .get(&(cj.uid.as_str(), slot.as_second()))
                .cloned()
                .unwrap_or_default();
            let settled = slot.as_second() + cj.deadline_seconds + tolerance < now.as_second();
            match names.len() {
                0 if settled => v.lost.push(format!("{} slot {slot}", cj.name)),
                0 => v.slots_pending += 1,
                1 => v.slots_checked += 1,
                _ => v
                    .duplicated
                    .push(format!("{} slot {slot}: {names:?}", cj.name)),
            }
        }
    }
    v
}

fn parse(cj: &CronJobUnderTest) -> Schedule {
    let spec = effective_spec(&cj.schedule, cj.time_zone.as_deref()).spec;
    Schedule::parse_standard(&spec).unwrap_or_else(|e| panic!("schedule {spec:?}: {e}"))
}

/// Every Job that existed in a namespace while the recorder ran, by UID
/// (a watch; Jobs deleted later, e.g. by the history limit, stay recorded).
pub struct JobRecorder {
    api: Api<Job>,
    seen: Arc<Mutex<BTreeMap<String, SeenJob>>>,
    task: tokio::task::JoinHandle<()>,
}

impl JobRecorder {
    pub fn start(api: Api<Job>) -> JobRecorder {
        let seen: Arc<Mutex<BTreeMap<String, SeenJob>>> = Arc::default();
        let record = seen.clone();
        let stream = watcher(api.clone(), watcher::Config::default()).default_backoff();
        let task = tokio::spawn(async move {
            stream
                .for_each(|ev| {
                    if let Ok(
                        watcher::Event::Apply(j)
                        | watcher::Event::InitApply(j)
                        | watcher::Event::Delete(j),
                    ) = ev
                    {
                        let job = SeenJob::from_job(&j);
                        record.lock().unwrap().entry(job.uid.clone()).or_insert(job);
                    }
                    futures::future::ready(())
                })
                .await
        });
        JobRecorder { api, seen, task }
    }

    /// Add what a list shows now (nothing if the API server does not answer).
    pub async fn refresh(&self) {
        if let Ok(Ok(list)) = tokio::time::timeout(
            Duration::from_secs(5),
            self.api.list(&ListParams::default()),
        )
        .await
        {
            let mut seen = self.seen.lock().unwrap();
            for j in &list.items {
                let job = SeenJob::from_job(j);
                seen.entry(job.uid.clone()).or_insert(job);
            }
        }
    }

    /// Everything recorded, plus a fresh list (retried until the API
    /// server answers), so nothing the watch has not delivered yet is missed.
    pub async fn all(&self) -> Vec<SeenJob> {
        let listed = common::wait_for("a list of Jobs", Duration::from_secs(60), || async {
            self.api
                .list(&ListParams::default())
                .await
                .map_err(|e| e.to_string())
        })
        .await;
        let mut seen = self.seen.lock().unwrap();
        for j in &listed.items {
            let job = SeenJob::from_job(j);
            seen.entry(job.uid.clone()).or_insert(job);
        }
        seen.values().cloned().collect()
    }
}

impl Drop for JobRecorder {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Create `n` CronJobs `<prefix>-<i>` on `* * * * *` whose pods succeed,
/// with the given deadline and history limits, and return them as created.
pub async fn create_cronjobs(
    api: &Api<CronJob>,
    prefix: &str,
    n: usize,
    deadline_seconds: i64,
    history: i32,
) -> Vec<CronJob> {
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let mut cj = crate::support::cronjob(
            &format!("{prefix}-{i:03}"),
            "* * * * *",
            common::TestPod::Succeed,
        );
        cj.spec.starting_deadline_seconds = Some(deadline_seconds);
        cj.spec.successful_jobs_history_limit = Some(history);
        cj.spec.failed_jobs_history_limit = Some(history);
        out.push(
            api.create(&PostParams::default(), &cj)
                .await
                .expect("create cronjob"),
        );
    }
    out
}

// ---- what kronjob's JSON logs say ------------------------------------------

/// One line of `kronjob run --log-format json`.
#[derive(Clone, Debug)]
pub struct LogLine {
    pub at: Timestamp,
    pub message: String,
    pub json: serde_json::Value,
}

pub fn log_lines(path: &Path) -> Vec<LogLine> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|json| {
            Some(LogLine {
                at: json["timestamp"].as_str()?.parse().ok()?,
                message: json["message"].as_str()?.to_owned(),
                json,
            })
        })
        .collect()
}

/// When a replica led, from its log: [became leader, stepped down or
/// stopped), the last interval open (None) if it still leads.
pub fn leadership(lines: &[LogLine]) -> Vec<(Timestamp, Option<Timestamp>)> {
    let mut out: Vec<(Timestamp, Option<Timestamp>)> = vec![];
    for l in lines {
        if l.message == "became leader" {
            out.push((l.at, None));
        } else if (l.message.ends_with("stepping down") || l.message == "released the lease")
            && let Some(last) = out.last_mut()
            && last.1.is_none()
        {
            last.1 = Some(l.at);
        }
    }
    out
}

/// Events (events.k8s.io/v1) of a namespace whose note repeats, counting
/// series: the same Job created or deleted twice.
pub async fn repeated_events(api: &Api<Event>, reasons: &[&str]) -> (usize, Vec<String>) {
    let events = common::wait_for("a list of Events", Duration::from_secs(60), || async {
        api.list(&ListParams::default())
            .await
            .map_err(|e| e.to_string())
    })
    .await;
    let mut count: BTreeMap<(String, String), (i32, Vec<String>)> = BTreeMap::new();
    for e in events.items {
        let reason = e.reason.clone().unwrap_or_default();
        // The job controller reports SuccessfulCreate ("Created pod") on Jobs.
        let about_cronjob = e.regarding.as_ref().and_then(|r| r.kind.as_deref()) == Some("CronJob");
        if !about_cronjob || !reasons.contains(&reason.as_str()) {
            continue;
        }
        let n = e.series.as_ref().map_or(1, |s| s.count);
        let entry = count
            .entry((reason, e.note.clone().unwrap_or_default()))
            .or_default();
        entry.0 += n;
        entry
            .1
            .push(e.reporting_instance.clone().unwrap_or_default());
    }
    let total = count.len();
    let repeated = count
        .into_iter()
        .filter(|(_, (n, _))| *n > 1)
        .map(|((reason, note), (n, by))| format!("{reason} {note:?} {n} times, by {by:?}"))
        .collect();
    (total, repeated)
}

// ---- replicas with leader election ------------------------------------------

/// Lease timings of the chaos replicas: short, so that faults show quickly
/// (the same as tests/operations.rs).
pub const LEASE_DURATION: f64 = 4.0;
pub const RENEW_DEADLINE: f64 = 3.0;
pub const RETRY_PERIOD: f64 = 0.5;

/// One `kronjob run --leader-elect` process of a test, alive or not.
pub struct Replica {
    pub identity: String,
    pub process: crate::support::Kronjob,
    /// When the test killed or stopped it.
    pub ended_at: Option<Timestamp>,
}

/// The replicas of one test: started, killed and inspected by name.
pub struct Replicas {
    namespace: String,
    prefix: String,
    pub all: Vec<Replica>,
}

impl Replicas {
    pub fn new(namespace: &str, prefix: &str) -> Replicas {
        Replicas {
            namespace: namespace.to_owned(),
            prefix: prefix.to_owned(),
            all: vec![],
        }
    }

    /// Start one more replica connecting with `kubeconfig` (ready when this
    /// returns); returns its index.
    pub async fn start(&mut self, kubeconfig: &Path) -> usize {
        self.start_with(kubeconfig, &self.namespace.clone()).await
    }

    /// The same, with the Lease in `lease_namespace`.
    pub async fn start_with(&mut self, kubeconfig: &Path, lease_namespace: &str) -> usize {
        let identity = format!("{}-{}", self.prefix, self.all.len());
        let (ld, rd, rp) = (
            format!("{LEASE_DURATION}s"),
            format!("{RENEW_DEADLINE}s"),
            format!("{}ms", (RETRY_PERIOD * 1000.0) as u64),
        );
        let process = crate::support::Kronjob::start_with_kubeconfig(
            &self.namespace,
            kubeconfig,
            &[
                "--leader-elect",
                "--leader-elect-lease-namespace",
                lease_namespace,
                "--leader-elect-lease-duration",
                &ld,
                "--leader-elect-renew-deadline",
                &rd,
                "--leader-elect-retry-period",
                &rp,
                "--identity",
                &identity,
                "--log-format",
                "json",
            ],
        )
        .await;
        eprintln!("[chaos] started {identity} (log {})", process.log.display());
        self.all.push(Replica {
            identity,
            process,
            ended_at: None,
        });
        self.all.len() - 1
    }

    pub fn alive(&self) -> impl Iterator<Item = usize> + '_ {
        (0..self.all.len()).filter(|i| self.all[*i].ended_at.is_none())
    }

    /// Its kronjob_leader gauge is 1.
    pub fn is_leader(&self, i: usize) -> bool {
        self.all[i].ended_at.is_none()
            && crate::support::sum_metric(&self.all[i].process.metrics(), "kronjob_leader", None)
                == 1.0
    }

    /// The replicas whose gauge says they lead, read one after the other.
    pub fn leaders(&self) -> Vec<usize> {
        self.alive().filter(|i| self.is_leader(*i)).collect()
    }

    /// Wait until one replica leads; two at once fails the test at once.
    pub async fn wait_leader(&self, timeout: Duration) -> usize {
        common::wait_for("a leader", timeout, || async {
            match self.leaders()[..] {
                [one] => Ok(one),
                [] => Err("no leader".to_string()),
                ref many => panic!(
                    "two leaders at once: {:?}",
                    many.iter()
                        .map(|i| &self.all[*i].identity)
                        .collect::<Vec<_>>()
                ),
            }
        })
        .await
    }

    /// SIGKILL replica `i` (no Lease release); returns when.
    pub fn kill(&mut self, i: usize) -> Timestamp {
        self.all[i].process.kill();
        let at = Timestamp::now();
        self.all[i].ended_at = Some(at);
        eprintln!("[chaos] killed {} at {at}", self.all[i].identity);
        at
    }

    /// SIGTERM replica `i` (it releases the Lease) and wait for its exit.
    pub fn terminate(&mut self, i: usize) -> Timestamp {
        let status = self.all[i].process.terminate();
        assert!(
            status.success(),
            "{} exited with {status:?}",
            self.all[i].identity
        );
        let at = Timestamp::now();
        self.all[i].ended_at = Some(at);
        at
    }

    pub fn log(&self, i: usize) -> Vec<LogLine> {
        log_lines(&self.all[i].process.log)
    }

    /// When replica `i` logged "became leader" after `after`.
    pub fn became_leader_after(&self, i: usize, after: Timestamp) -> Option<Timestamp> {
        self.log(i)
            .iter()
            .find(|l| l.message == "became leader" && l.at > after)
            .map(|l| l.at)
    }

    /// When replica `i` stepped down after `after`.
    pub fn stepped_down_after(&self, i: usize, after: Timestamp) -> Option<Timestamp> {
        self.log(i)
            .iter()
            .find(|l| l.message.ends_with("stepping down") && l.at > after)
            .map(|l| l.at)
    }

    /// Every replica's leadership intervals from its log (an interval still
    /// open ends when the test killed it, or now): do two overlap, and did a
    /// replica log creating a Job outside its own?
    pub fn leadership(&self) -> Leadership {
        let now = Timestamp::now();
        let mut intervals: Vec<(Timestamp, Timestamp, &str)> = vec![];
        let mut outside = vec![];
        for (i, r) in self.all.iter().enumerate() {
            let lines = self.log(i);
            let own: Vec<(Timestamp, Timestamp)> = leadership(&lines)
                .into_iter()
                .map(|(from, to)| (from, to.or(r.ended_at).unwrap_or(now)))
                .collect();
            for l in lines.iter().filter(|l| l.message == "created job") {
                if !own.iter().any(|(from, to)| *from <= l.at && l.at <= *to) {
                    outside.push(format!("{} at {}: {}", r.identity, l.at, l.json));
                }
            }
            intervals.extend(own.into_iter().map(|(a, b)| (a, b, r.identity.as_str())));
        }
        intervals.sort();
        let overlaps: Vec<String> = intervals
            .windows(2)
            .filter(|w| w[1].0 < w[0].1)
            .map(|w| {
                format!(
                    "{} led {}..{} and {} from {}",
                    w[0].2, w[0].0, w[0].1, w[1].2, w[1].0
                )
            })
            .collect();
        Leadership {
            intervals: intervals.len(),
            overlaps,
            outside,
        }
    }
}

/// What the replicas' logs say about who led when (`Replicas::leadership`).
#[derive(Debug)]
pub struct Leadership {
    pub intervals: usize,
    pub overlaps: Vec<String>,
    pub outside: Vec<String>,
}

impl Leadership {
    pub fn summary(&self) -> String {
        format!(
            "{} leadership intervals ({} overlapping, {} Job creates logged outside one)",
            self.intervals,
            self.overlaps.len(),
            self.outside.len()
        )
    }

    pub fn assert_ok(&self) {
        assert!(
            self.overlaps.is_empty(),
            "two leaders at once (from the logs): {:#?}",
            self.overlaps
        );
        assert!(
            self.outside.is_empty(),
            "a replica created Jobs while not leading: {:#?}",
            self.outside
        );
    }
}

/// Wait (without failing) until every CronJob has a Job for `slot` in the
/// recorder, or the slot's deadline and the tolerance have passed; the
/// checker reports what is missing. Returns how long after the slot the
/// last of its Jobs was created (whole seconds, as the API server records
/// it), NaN if some are missing.
pub async fn wait_slot(
    recorder: &JobRecorder,
    cronjobs: &[CronJobUnderTest],
    slot: Timestamp,
    tolerance: i64,
) -> f64 {
    let deadline = cronjobs
        .iter()
        .map(|c| c.deadline_seconds)
        .max()
        .unwrap_or(0)
        + tolerance;
    let give_up = slot + SignedDuration::from_secs(deadline);
    for round in 0u64.. {
        // The recorder's watch may itself be backing off after a fault on
        // the API server: list every second as well.
        if round % 10 == 9 {
            recorder.refresh().await;
        }
        let missing = recorder.missing(cronjobs, slot);
        if missing == 0 {
            return recorder
                .last_created(slot)
                .map_or(f64::NAN, |t| secs_between(slot, t));
        }
        if Timestamp::now() > give_up {
            eprintln!("[chaos] slot {slot}: {missing} CronJobs without a Job past the deadline");
            return f64::NAN;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    unreachable!()
}

impl JobRecorder {
    /// The creation time of the last Job recorded for `slot`.
    pub fn last_created(&self, slot: Timestamp) -> Option<Timestamp> {
        let seen = self.seen.lock().unwrap();
        seen.values()
            .filter(|j| {
                j.scheduled
                    .as_deref()
                    .and_then(|s| s.parse::<Timestamp>().ok())
                    == Some(slot)
            })
            .filter_map(|j| j.created)
            .max()
    }

    /// How many of `cronjobs` have no recorded Job for `slot`.
    pub fn missing(&self, cronjobs: &[CronJobUnderTest], slot: Timestamp) -> usize {
        let seen = self.seen.lock().unwrap();
        let have: std::collections::HashSet<&str> = seen
            .values()
            .filter(|j| {
                j.scheduled
                    .as_deref()
                    .and_then(|s| s.parse::<Timestamp>().ok())
                    == Some(slot)
            })
            .filter_map(|j| j.owner_uid.as_deref())
            .collect();
        cronjobs
            .iter()
            .filter(|c| !have.contains(c.uid.as_str()))
            .count()
    }
}

/// Append a line to target/test-logs/chaos-summary.log (and stderr): the
/// figures docs/testing.md reports for a `make chaos` run.
pub fn summary(test: &str, text: &str) {
    let line = format!("{} {test}: {text}", Timestamp::now());
    eprintln!("[chaos summary] {line}");
    let dir = common::repo_root().join("target/test-logs");
    let _ = std::fs::create_dir_all(&dir);
    use std::io::Write;
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("chaos-summary.log"))
    {
        let _ = writeln!(f, "{line}");
    }
}

/// min / median / max of some durations in seconds.
pub fn spread(xs: &[f64]) -> String {
    if xs.is_empty() {
        return "-".into();
    }
    let mut v = xs.to_vec();
    v.sort_by(f64::total_cmp);
    format!("{:.2}/{:.2}/{:.2} s", v[0], v[v.len() / 2], v[v.len() - 1])
}

/// Two phases for the tests of one binary: faults on one kronjob process
/// (`shared`) run side by side; faults on the control plane (`exclusive`)
/// run alone. Unlike a fair RwLock, a waiting exclusive test does not hold
/// back shared ones that arrive after it, so the shared tests all run in
/// one phase and the exclusive one before or after them, never in between.
pub struct Gate {
    /// (shared tests running, an exclusive test running)
    state: Mutex<(usize, bool)>,
    changed: tokio::sync::Notify,
}

pub struct GateGuard {
    gate: &'static Gate,
    exclusive: bool,
}

impl Gate {
    pub const fn new() -> Gate {
        Gate {
            state: Mutex::new((0, false)),
            changed: tokio::sync::Notify::const_new(),
        }
    }

    pub async fn shared(&'static self) -> GateGuard {
        self.enter(false).await
    }

    pub async fn exclusive(&'static self) -> GateGuard {
        self.enter(true).await
    }

    async fn enter(&'static self, exclusive: bool) -> GateGuard {
        loop {
            let notified = self.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let mut s = self.state.lock().unwrap();
                let free = !s.1 && (!exclusive || s.0 == 0);
                if free {
                    if exclusive {
                        s.1 = true;
                    } else {
                        s.0 += 1;
                    }
                    return GateGuard {
                        gate: self,
                        exclusive,
                    };
                }
            }
            notified.await;
        }
    }
}

impl Drop for GateGuard {
    fn drop(&mut self) {
        let mut s = self.gate.state.lock().unwrap_or_else(|e| e.into_inner());
        if self.exclusive {
            s.1 = false;
        } else {
            s.0 -= 1;
        }
        drop(s);
        self.gate.changed.notify_waiters();
    }
}

/// Every version of the Leases of a namespace (a watch), to check each
/// takeover: the new holder's acquireTime is at least a lease duration
/// after the last renewTime the previous holder wrote. Both are written
/// from the same machine's clock, so this is exactly the safety rule a
/// standby follows (it waits a whole lease duration after the last change
/// it saw), whatever the load did to the renewals before.
pub struct LeaseRecorder {
    versions: Arc<Mutex<Vec<LeaseVersion>>>,
    task: tokio::task::JoinHandle<()>,
}

/// (holder, renewTime, acquireTime) of one version of a Lease.
type LeaseVersion = (String, Option<Timestamp>, Option<Timestamp>);

impl LeaseRecorder {
    pub fn start(api: Api<k8s_openapi::api::coordination::v1::Lease>) -> LeaseRecorder {
        let versions: Arc<Mutex<Vec<_>>> = Arc::default();
        let record = versions.clone();
        let stream = watcher(api, watcher::Config::default()).default_backoff();
        let task = tokio::spawn(async move {
            stream
                .for_each(|ev| {
                    if let Ok(watcher::Event::Apply(l) | watcher::Event::InitApply(l)) = ev {
                        let spec = l.spec.unwrap_or_default();
                        record.lock().unwrap().push((
                            spec.holder_identity.unwrap_or_default(),
                            spec.renew_time.map(|t| t.0),
                            spec.acquire_time.map(|t| t.0),
                        ));
                    }
                    futures::future::ready(())
                })
                .await
        });
        LeaseRecorder { versions, task }
    }

    /// For each change of holder from one replica to another (not through a
    /// release): seconds from the old holder's last renewal to the new
    /// holder's acquisition.
    pub fn takeover_gaps(&self) -> Vec<(String, String, f64)> {
        let versions = self.versions.lock().unwrap();
        let mut gaps = vec![];
        for w in versions.windows(2) {
            let ((old, renewed, _), (new, _, acquired)) = (&w[0], &w[1]);
            if !old.is_empty()
                && !new.is_empty()
                && old != new
                && let (Some(r), Some(a)) = (renewed, acquired)
            {
                gaps.push((old.clone(), new.clone(), secs_between(*r, *a)));
            }
        }
        gaps
    }

    /// The takeovers, and those that came less than `lease_duration` after
    /// the previous holder's last renewal (there must be none).
    pub fn takeovers(&self, lease_duration: f64) -> Takeovers {
        let gaps = self.takeover_gaps();
        Takeovers {
            early: gaps
                .iter()
                .filter(|g| g.2 < lease_duration)
                .map(|g| format!("{g:?}"))
                .collect(),
            gaps: gaps.into_iter().map(|g| g.2).collect(),
            lease_duration,
        }
    }
}

/// Each change of holder of a Lease, from `LeaseRecorder::takeovers`.
#[derive(Debug)]
pub struct Takeovers {
    /// Seconds from the old holder's last renewal to the acquisition.
    pub gaps: Vec<f64>,
    pub early: Vec<String>,
    lease_duration: f64,
}

impl Takeovers {
    pub fn summary(&self) -> String {
        format!(
            "{} takeovers of the Lease, {} after the old holder's last renewal (lease {} s; {} earlier)",
            self.gaps.len(),
            spread(&self.gaps),
            self.lease_duration,
            self.early.len()
        )
    }

    pub fn assert_ok(&self) {
        assert!(
            self.early.is_empty(),
            "a standby took the Lease less than a lease duration ({} s) after the holder's last renewal: {:#?}",
            self.lease_duration,
            self.early
        );
    }
}

impl Drop for LeaseRecorder {
    fn drop(&mut self) {
        self.task.abort();
    }
}
