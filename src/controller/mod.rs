//! The imperative shell: watches CronJobs and the Jobs they own, runs one
//! [`sync`] per CronJob when something changes or its next slot comes, and
//! requeues it for exactly that slot. No polling, no periodic relist.

pub mod api_errors;
pub mod compact;
pub mod event_publisher;
pub mod job_cache;
pub mod kinds;
pub mod relist;
pub mod status_writer;
pub mod sync;

use std::collections::{HashMap, HashSet};
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::{FutureExt, Stream, StreamExt, TryStreamExt, future};
use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::core::v1::ObjectReference;
use kube::runtime::WatchStreamExt;
use kube::runtime::controller::{Action, Config as ControllerConfig, Controller};
use kube::runtime::reflector::{self, ObjectRef};
use kube::runtime::watcher::{self, Event as WatchEvent};
use kube::{Api, Client, Resource, ResourceExt};
use parking_lot::Mutex;
use tokio::sync::{Notify, mpsc, watch};
use tracing::{Instrument, debug, error, info, info_span, warn};

use crate::health::Health;
use crate::metrics::{Metrics, ObjectGauges};
use crate::model::{Kind, Scheduled};
use crate::planner::{EventType, PlannedEvent, events};
use compact::{Cached, CompactJob};
use event_publisher::{EventPublisher, Reporter};
use job_cache::JobCache;
use kinds::{CronJobs, KronJobs, ServedKind};
use sync::{SyncError, SyncFailure};

/// Event source component, as upstream's controller reports it.
pub const COMPONENT: &str = "cronjob-controller";

#[derive(Clone, Debug)]
pub struct Settings {
    /// Namespaces to watch; empty means all namespaces.
    pub namespaces: Vec<String>,
    /// CronJobs synced at once.
    pub concurrency: u16,
    /// This replica's name in Events (reportingInstance) and the Lease.
    pub instance: String,
    /// The kinds this replica serves (`--serve`).
    pub kinds: Vec<Kind>,
    /// Every object is planned again at least this often (`--resync-period`);
    /// None: never, only on changes and timers.
    pub resync: Option<Duration>,
}

/// (spec generation, (reason, message) already reported for it)
type ReportedWarnings = (i64, HashSet<(&'static str, String)>);

/// State shared by every watched scope (namespace or whole cluster).
pub struct Shared {
    pub client: Client,
    events: EventPublisher,
    pub metrics: Arc<Metrics>,
    pub health: Arc<Health>,
    pub leader: watch::Receiver<bool>,
    /// Spec-problem warnings already reported, per CronJob UID and generation.
    reported: Mutex<HashMap<String, ReportedWarnings>>,
    /// Consecutive failures per object UID, for the retry backoff.
    failures: Mutex<HashMap<String, u32>>,
    /// Last slot counted as missed, per CronJob UID.
    pub missed_slots: Mutex<HashMap<String, Timestamp>>,
    /// Superseded slots already counted, per CronJob UID.
    pub superseded_slots: Mutex<HashMap<String, sync::SupersededSeen>>,
    /// Jobs this process created and recorded in a successful status write
    /// (UID -> when): while the CronJob cache lags behind our own write, such
    /// a Job is known to be in status.active and needs no re-read.
    own_writes: Mutex<HashMap<String, Instant>>,
    /// UIDs of deleted CronJobs; held while their per-CronJob series are
    /// written or dropped, so a sync that finishes after the deletion cannot
    /// bring the series back.
    deleted: Mutex<HashSet<String>>,
    /// Objects reported as undecodable: UID -> resourceVersion reported, so
    /// each version is reported once however often it is listed.
    undecodable: Mutex<HashMap<String, Option<String>>>,
    /// UIDs of Jobs reported as made by another CronJob controller.
    foreign: Mutex<HashSet<String>>,
    /// Job creates in flight: status writes wait behind them.
    pub creates: status_writer::CreateGate,
    /// Per object UID, the (spec generation, slot) whose Job the API server
    /// last refused as invalid: not asked for again until the spec changes,
    /// also when our own status write (a KronJob's next slot) syncs the
    /// object again while that slot is still due.
    rejected: Mutex<HashMap<String, (i64, Timestamp)>>,
    /// The safety resync period (`Settings::resync`).
    resync: Option<Duration>,
    /// When this process started (see [`Shared::foreign_since`]).
    started: Timestamp,
}

/// How far before the start a Job of another controller still counts as
/// the sign of a second controller (see [`Shared::foreign_since`]).
const FOREIGN_LOOKBACK: SignedDuration = SignedDuration::from_secs(120);

/// How long a Job counts as recorded by our own write.
const OWN_WRITE_MEMORY: Duration = Duration::from_secs(30);

/// What one reconcile sees: the shared state plus its scope's Job cache
/// and status changes waiting to be written.
pub struct Context {
    pub shared: Arc<Shared>,
    pub jobs: Arc<JobCache>,
    pub pending: Arc<status_writer::PendingStatus>,
}

impl std::ops::Deref for Context {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.shared
    }
}

impl Shared {
    pub fn new(
        client: Client,
        settings: &Settings,
        metrics: Arc<Metrics>,
        health: Arc<Health>,
        leader: watch::Receiver<bool>,
    ) -> Self {
        let reporter = Reporter {
            controller: COMPONENT.into(),
            instance: settings.instance.clone(),
        };
        Shared {
            events: EventPublisher::new(client.clone(), reporter, metrics.clone()),
            client,
            metrics,
            health,
            leader,
            reported: Mutex::default(),
            failures: Mutex::default(),
            missed_slots: Mutex::default(),
            superseded_slots: Mutex::default(),
            own_writes: Mutex::default(),
            deleted: Mutex::default(),
            undecodable: Mutex::default(),
            foreign: Mutex::default(),
            creates: status_writer::CreateGate::default(),
            rejected: Mutex::default(),
            resync: settings.resync,
            started: Timestamp::now(),
        }
    }

    /// Set the per-CronJob gauges, unless the CronJob has been deleted or
    /// this replica no longer leads (a sync finishing after the loss must
    /// not bring back the series `cli` dropped then).
    pub fn record_cronjob(&self, object: &Scheduled, record: impl FnOnce(&mut ObjectGauges)) {
        let deleted = self.deleted.lock();
        if !self.is_leader() || deleted.contains(&object.uid) {
            return;
        }
        self.metrics
            .per_object
            .record(object.kind, &object.namespace, &object.name, record);
    }

    /// Drop what is kept about a deleted CronJob: its per-CronJob series
    /// for good, its reported warnings, its last missed slot and its retry
    /// count (a process that sees many CronJobs come and go must not keep
    /// an entry for each).
    fn forget_cronjob<K: ServedKind>(&self, cronjob: &Cached<K>) {
        let uid = cronjob.uid().unwrap_or_default();
        self.reported.lock().remove(&uid);
        self.missed_slots.lock().remove(&uid);
        self.superseded_slots.lock().remove(&uid);
        self.undecodable.lock().remove(&uid);
        self.failures.lock().remove(&uid);
        self.rejected.lock().remove(&uid);
        let mut deleted = self.deleted.lock();
        if deleted.len() >= 100_000 {
            deleted.clear(); // UIDs are never reused; this only bounds memory
        }
        deleted.insert(uid);
        self.metrics.forget_cronjob(
            K::KIND,
            &cronjob.namespace().unwrap_or_default(),
            &cronjob.name_any(),
        );
    }

    /// Jobs of another controller created since this instant are reported:
    /// from shortly before this process started on. Older ones are history
    /// (a cluster that moved from the built-in controller has one per past
    /// slot, up to the history limits); newer ones, or ones made just before
    /// the start, mean another controller is (or was just now) at work.
    pub fn foreign_since(&self) -> Timestamp {
        self.started
            .checked_sub(FOREIGN_LOOKBACK)
            .unwrap_or(self.started)
    }

    /// Did the API server already refuse the Job of this slot of this
    /// object as invalid, for the object's current spec?
    pub fn rejected_before(&self, object: &Scheduled, slot: Timestamp) -> bool {
        self.rejected.lock().get(&object.uid) == Some(&(object.generation, slot))
    }

    /// Remember that the API server refused the Job of this slot as invalid.
    pub fn remember_rejected(&self, object: &Scheduled, slot: Timestamp) {
        self.rejected
            .lock()
            .insert(object.uid.clone(), (object.generation, slot));
    }

    /// Remember Jobs recorded in status.active by a write that succeeded.
    pub fn remember_own_write(&self, job_uids: impl IntoIterator<Item = String>) {
        let now = Instant::now();
        let mut own = self.own_writes.lock();
        own.retain(|_, at| now.duration_since(*at) < OWN_WRITE_MEMORY);
        own.extend(job_uids.into_iter().map(|u| (u, now)));
    }

    /// Did our own, successful status write put this Job in status.active?
    pub fn recorded_by_own_write(&self, job_uid: &str) -> bool {
        self.own_writes
            .lock()
            .get(job_uid)
            .is_some_and(|at| at.elapsed() < OWN_WRITE_MEMORY)
    }

    /// Wait (up to `timeout`) for Events still being published.
    pub async fn flush_events(&self, timeout: Duration) {
        self.events.flush(timeout).await;
    }

    fn is_leader(&self) -> bool {
        *self.leader.borrow()
    }

    /// Publish an Event about the CronJob, in the background so the sync
    /// does not wait for it (`event_publisher`). Warnings about its spec are
    /// reported once per spec generation, not at every sync. A failure to
    /// publish is logged and never fails the sync.
    pub fn emit(&self, object: &Scheduled, ev: &PlannedEvent) {
        if ev.is_spec_problem() {
            let generation = object.generation;
            let mut reported = self.reported.lock();
            let entry = reported
                .entry(object.uid.clone())
                .or_insert_with(|| (generation, HashSet::new()));
            if entry.0 != generation {
                *entry = (generation, HashSet::new());
            }
            if !entry.1.insert((ev.reason, ev.message.clone())) {
                debug!(
                    reason = ev.reason,
                    "spec warning already reported for this generation"
                );
                return;
            }
        }
        match ev.type_ {
            EventType::Normal => info!(reason = ev.reason, message = %ev.message, "event"),
            EventType::Warning => warn!(reason = ev.reason, message = %ev.message, "event"),
        }
        self.events.publish(object_ref(object), ev);
    }

    /// Report an object kronjob cannot read, once per resourceVersion: a
    /// log line, `kronjob_undecodable_objects_total`, and a Warning Event
    /// on it (by the leader only, so replicas do not repeat it).
    pub fn report_undecodable(
        &self,
        resource: &'static str,
        regarding: ObjectReference,
        problem: &str,
    ) {
        let uid = regarding.uid.clone().unwrap_or_default();
        {
            let mut seen = self.undecodable.lock();
            if seen.get(&uid) == Some(&regarding.resource_version) {
                return;
            }
            seen.insert(uid, regarding.resource_version.clone());
        }
        self.metrics
            .undecodable_objects
            .with_label_values(&[resource])
            .inc();
        warn!(
            resource,
            namespace = regarding.namespace.as_deref().unwrap_or_default(),
            name = regarding.name.as_deref().unwrap_or_default(),
            problem,
            "object cannot be read"
        );
        if self.is_leader() {
            self.events
                .publish(regarding, &events::undecodable(resource, problem));
        }
    }

    /// Forget a deleted Job's reports.
    fn forget_job(&self, uid: &str) {
        self.undecodable.lock().remove(uid);
        self.foreign.lock().remove(uid);
    }

    /// A Job of a CronJob this replica serves was made for a slot by
    /// another controller (its creator is not kronjob): most likely the
    /// built-in CronJob controller still runs, and every slot runs twice.
    /// Reported once per Job: `kronjob_foreign_jobs_total`, a log line and a
    /// Warning `ForeignJob` on the CronJob (by the leader).
    fn report_foreign_job(&self, job: &CompactJob) {
        let f = job.facts();
        let (Some(owner), Some(creator)) = (&f.controller, &f.creator) else {
            return;
        };
        if !self.foreign.lock().insert(f.uid.clone()) {
            return;
        }
        self.metrics.foreign_jobs.inc();
        warn!(namespace = %f.namespace, cronjob = %owner.name, job = %f.name, creator = %creator,
            "a CronJob's Job was made by another controller");
        if self.is_leader() {
            let regarding = ObjectReference {
                api_version: Some(owner.api_version.clone()),
                kind: Some(owner.kind.clone()),
                name: Some(owner.name.clone()),
                namespace: Some(f.namespace.clone()),
                uid: Some(owner.uid.clone()),
                ..Default::default()
            };
            self.events
                .publish(regarding, &events::foreign_job(&f.name, creator));
        }
    }
}

/// The reference Events about a scheduled object carry.
fn object_ref(object: &Scheduled) -> ObjectReference {
    ObjectReference {
        api_version: Some(object.kind.api_version().into()),
        kind: Some(object.kind.kind().into()),
        name: Some(object.name.clone()),
        namespace: Some(object.namespace.clone()),
        uid: Some(object.uid.clone()),
        resource_version: object.resource_version.clone(),
        ..Default::default()
    }
}

/// The reference of a cached object, from its kube metadata.
fn cached_ref<K: Resource<DynamicType = ()>>(obj: &K) -> ObjectReference {
    let meta = obj.meta();
    ObjectReference {
        api_version: Some(K::api_version(&()).into_owned()),
        kind: Some(K::kind(&()).into_owned()),
        name: meta.name.clone(),
        namespace: meta.namespace.clone(),
        uid: meta.uid.clone(),
        resource_version: meta.resource_version.clone(),
        ..Default::default()
    }
}

/// The text of a caught panic's payload.
fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".to_owned())
}

async fn reconcile<K: ServedKind>(
    cached: Arc<Cached<K>>,
    ctx: Arc<Context>,
) -> Result<Action, SyncFailure> {
    if !ctx.is_leader() {
        // A standby keeps its caches warm but acts on nothing; taking the
        // lease triggers a sync of every object.
        return Ok(Action::await_change());
    }
    let object = match cached.scheduled() {
        Ok(object) => object,
        Err(undecodable) => {
            // Not scheduled until it changes; every other object goes on.
            ctx.report_undecodable(K::KIND.plural(), cached_ref(&*cached), &undecodable.reason);
            return Ok(Action::await_change());
        }
    };
    let span = info_span!("reconcile", namespace = %object.namespace, cronjob = %object.name, kind = K::KIND.kind());
    let started = std::time::Instant::now();
    let mut leadership = ctx.leader.clone();
    // A panic in one sync (a bug: there should be none) is caught here, so
    // it fails that sync only: the object backs off, the process, its Lease
    // and every other object go on.
    let guarded =
        AssertUnwindSafe(sync::sync::<K>(object, &ctx).instrument(span.clone())).catch_unwind();
    let result = tokio::select! {
        r = guarded => r.unwrap_or_else(|payload| {
            let message = panic_message(&*payload);
            span.in_scope(|| error!(panic = %message, "sync panicked; backing off"));
            ctx.metrics.sync_panics.inc();
            ctx.emit(object, &events::sync_panicked(&message));
            Err(SyncError::Panicked(message).into())
        }),
        // Lost the lease: stop at once. Whatever was half done is finished
        // by the next leader (Job names are deterministic, AlreadyExists is
        // handled), so nothing is duplicated or lost.
        _ = leadership.wait_for(|l| !*l) => {
            span.in_scope(|| warn!("lost leadership during sync; stopping"));
            return Ok(Action::await_change());
        }
    };
    let outcome = if result.is_ok() { "success" } else { "error" };
    ctx.metrics.reconciles.with_label_values(&[outcome]).inc();
    ctx.metrics
        .reconcile_duration
        .with_label_values(&[outcome])
        .observe(started.elapsed().as_secs_f64());
    let synced = result?;
    ctx.failures.lock().remove(&object.uid);
    Ok(match synced.wake_at {
        Some(at) => Action::requeue(requeue_delay(at, Timestamp::now())),
        None => Action::await_change(),
    })
}

/// How long to sleep until `at`. The planner never returns a time at or
/// before the moment it planned; by the time the sync is done that moment
/// may have passed, and a zero delay would be a hot loop should anything
/// ever return the past again, so a wake-up is at least a millisecond away.
fn requeue_delay(at: Timestamp, now: Timestamp) -> Duration {
    Duration::try_from(at.duration_since(now))
        .unwrap_or(Duration::ZERO)
        .max(Duration::from_millis(1))
}

/// Retry a failed sync with exponential backoff, never past the failed
/// slot's deadline or the next slot (`planner::retry`).
fn error_policy<K: ServedKind>(
    cronjob: Arc<Cached<K>>,
    err: &SyncFailure,
    ctx: Arc<Context>,
) -> Action {
    let mut failures = ctx.failures.lock();
    let n = failures
        .entry(cronjob.uid().unwrap_or_default())
        .or_insert(0);
    *n = n.saturating_add(1);
    let delay = crate::planner::retry::delay(*n, err.retry, Timestamp::now());
    warn!(namespace = %cronjob.namespace().unwrap_or_default(), name = %cronjob.name_any(), error = %err, retry_in = ?delay, "sync failed");
    Action::requeue(delay)
}

/// Count watch traffic and errors for a resource, mark its cache synced,
/// and tell readiness whether the watch works (`crate::health`).
fn observe_watch<K, S>(
    stream: S,
    resource: &'static str,
    scope: Option<String>,
    metrics: Arc<Metrics>,
    health: Arc<Health>,
) -> impl Stream<Item = Result<WatchEvent<K>, watcher::Error>>
where
    S: Stream<Item = Result<WatchEvent<K>, watcher::Error>>,
{
    stream.inspect(move |ev| match ev {
        Ok(e) => {
            metrics.watch_events.with_label_values(&[resource]).inc();
            if matches!(e, WatchEvent::InitDone) {
                metrics.watch_lists.with_label_values(&[resource]).inc();
                metrics.cache_synced.with_label_values(&[resource]).set(1);
                health.mark_synced(resource, scope.as_deref());
            }
            // Init comes before the list request: no sign the server answers.
            if !matches!(e, WatchEvent::Init) {
                health.watch_progress(resource, scope.as_deref());
            }
        }
        Err(err) => {
            metrics.watch_errors.with_label_values(&[resource]).inc();
            health.watch_error(resource, scope.as_deref(), &err.to_string());
            warn!(resource, error = %err, "watch error; retrying with backoff");
        }
    })
}

/// Run the controller until `shutdown` resolves, then finish in-flight syncs.
pub async fn run(
    shared: Arc<Shared>,
    settings: &Settings,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) {
    let shutdown = futures::FutureExt::shared(Box::pin(shutdown));
    let scopes: Vec<Option<String>> = if settings.namespaces.is_empty() {
        vec![None]
    } else {
        settings.namespaces.iter().cloned().map(Some).collect()
    };
    // Per scope: a watch of each served kind, and one of Jobs.
    shared
        .health
        .expect_watches(scopes.len() * (settings.kinds.len() + 1));
    future::join_all(scopes.into_iter().map(|scope| {
        run_scope(
            shared.clone(),
            scope,
            settings.kinds.clone(),
            settings.concurrency,
            shutdown.clone(),
        )
    }))
    .await;
}

/// A queue of objects of kind `K` to sync, fed by the Jobs they own.
type Triggers<K> = mpsc::UnboundedReceiver<ObjectRef<Cached<K>>>;

/// One scope (a namespace, or all): one Job watch whose changes sync the
/// objects owning the Jobs, and a controller per served kind.
async fn run_scope(
    shared: Arc<Shared>,
    scope: Option<String>,
    kinds: Vec<Kind>,
    concurrency: u16,
    shutdown: impl Future<Output = ()> + Send + Sync + Clone + 'static,
) {
    let client = shared.client.clone();
    // Stream the initial lists where the API server can (no paged LIST:
    // less memory on both sides at start-up and at every relist).
    let streaming = crate::client::streams_initial_lists(&client, scope.as_deref()).await;
    info!(
        scope = scope.as_deref().unwrap_or("all namespaces"),
        streaming, "initial lists are streamed (sendInitialEvents)"
    );
    let watch_config = if streaming {
        watcher::Config::default().streaming_lists()
    } else {
        watcher::Config::default()
    };
    let jobs: Api<CompactJob> = match &scope {
        Some(ns) => Api::namespaced(client, ns),
        None => Api::all(client),
    };
    let cache = Arc::new(JobCache::default());
    let ctx = Arc::new(Context {
        shared: shared.clone(),
        jobs: cache.clone(),
        pending: Arc::default(),
    });

    let job_metrics = shared.metrics.clone();
    let job_cache = cache.clone();
    let job_shared = shared.clone();
    let job_kinds = kinds.clone();
    let job_events = observe_watch(
        watcher::watcher(jobs, watch_config.clone()).default_backoff(),
        "jobs",
        scope.clone(),
        shared.metrics.clone(),
        shared.health.clone(),
    )
    .inspect_ok(move |ev| {
        job_cache.apply(ev);
        match ev {
            WatchEvent::Apply(job) | WatchEvent::InitApply(job)
                if !job.problems().is_empty() && job_cache::may_be_ours(job) =>
            {
                job_shared.report_undecodable("jobs", cached_ref(job), &job.problems().join("; "));
            }
            WatchEvent::Delete(job) => job_shared.forget_job(&job.facts().uid),
            _ => {}
        }
        if let WatchEvent::Apply(job) | WatchEvent::InitApply(job) = ev
            && job_cache::made_by_another_controller(job, &job_kinds, job_shared.foreign_since())
        {
            job_shared.report_foreign_job(job);
        }
        job_metrics
            .cache_objects
            .with_label_values(&["jobs"])
            .set(job_cache.len() as i64);
    });

    // A changed Job syncs the object that controls it, whatever its kind.
    let (cronjob_tx, cronjob_rx) = mpsc::unbounded_channel();
    let (kronjob_tx, kronjob_rx) = mpsc::unbounded_channel();
    let route_jobs = relist::settle_relists(job_events, cache.clone())
        .touched_objects()
        .take_until(shutdown.clone())
        .for_each(move |job| {
            if let Ok(job) = job
                && let Some((kind, name, namespace)) = job_cache::owner_of(&job)
            {
                // A closed queue means that kind is not served.
                match kind {
                    Kind::CronJob => {
                        let _ = cronjob_tx.send(ObjectRef::new(&name).within(&namespace));
                    }
                    Kind::KronJob => {
                        let _ = kronjob_tx.send(ObjectRef::new(&name).within(&namespace));
                    }
                }
            }
            future::ready(())
        });

    let serves = |k| kinds.contains(&k);
    let cronjobs = serves(Kind::CronJob).then(|| {
        run_kind::<CronJobs>(
            ctx.clone(),
            &scope,
            &watch_config,
            cronjob_rx,
            concurrency,
            shutdown.clone(),
        )
    });
    let kronjobs = serves(Kind::KronJob).then(|| {
        run_kind::<KronJobs>(
            ctx.clone(),
            &scope,
            &watch_config,
            kronjob_rx,
            concurrency,
            shutdown.clone(),
        )
    });
    futures::join!(
        route_jobs,
        async {
            if let Some(c) = cronjobs {
                c.await
            }
        },
        async {
            if let Some(k) = kronjobs {
                k.await
            }
        }
    );
    info!(
        scope = scope.as_deref().unwrap_or("all namespaces"),
        "controller stopped"
    );
}

/// The controller of one served kind in one scope.
async fn run_kind<K: ServedKind>(
    ctx: Arc<Context>,
    scope: &Option<String>,
    watch_config: &watcher::Config,
    triggers: Triggers<K>,
    concurrency: u16,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) {
    let shared = ctx.shared.clone();
    let api: Api<Cached<K>> = match scope {
        Some(ns) => Api::namespaced(shared.client.clone(), ns),
        None => Api::all(shared.client.clone()),
    };
    let resource = K::KIND.plural();
    let (reader, writer) = reflector::store();
    let metrics = shared.metrics.clone();
    let forget = {
        let shared = shared.clone();
        move |ev: &WatchEvent<Cached<K>>| {
            if let WatchEvent::Delete(obj) = ev {
                shared.forget_cronjob(obj);
            }
        }
    };
    let objects = relist::settle_relists(
        observe_watch(
            watcher::watcher(api, watch_config.clone()).default_backoff(),
            resource,
            scope.clone(),
            metrics.clone(),
            shared.health.clone(),
        )
        .reflect(writer),
        relist::StoreRelist::new(reader.clone()),
    )
    .inspect_ok(forget)
    .touched_objects();
    let by_jobs = futures::stream::unfold(triggers, |mut rx| async move {
        rx.recv().await.map(|r| (r, rx))
    });

    let cache_gauge = reader.clone();
    let store = reader.clone();
    let writer_ctx = ctx.clone();
    let stopped = Arc::new(Notify::new());
    let controller = Controller::for_stream(objects, reader)
        .reconcile_on(by_jobs)
        // Every time this replica becomes leader, sync every object.
        .reconcile_all_on(leader_gains(shared.leader.clone()))
        // And every resync period: a lost event or a step of the wall clock
        // delays a decision by at most that.
        .reconcile_all_on(resyncs(shared.resync))
        .with_config(ControllerConfig::default().concurrency(concurrency))
        .graceful_shutdown_on(shutdown)
        .run(reconcile::<K>, error_policy::<K>, ctx)
        .for_each(|res| {
            metrics
                .cache_objects
                .with_label_values(&[resource])
                .set(cache_gauge.len() as i64);
            if let Err(e) = res {
                debug!(error = %e, "controller");
            }
            future::ready(())
        })
        .then(|()| {
            stopped.notify_one();
            future::ready(())
        });
    // The status writer runs until the controller has stopped (its last
    // syncs done), then writes what is left.
    let write = |batch| write_pending::<K>(writer_ctx.clone(), store.clone(), batch);
    let writer = status_writer::run(
        K::KIND,
        &writer_ctx.pending,
        &writer_ctx.shared.creates,
        write,
        stopped.notified(),
    );
    futures::join!(controller, writer);
}

/// Write one object's waiting status change (see `status_writer`), on its
/// cached copy; true when done (written, or moot: the object is gone or
/// this replica no longer leads, and the next leader works it out).
async fn write_pending<K: ServedKind>(
    ctx: Arc<Context>,
    store: reflector::Store<Cached<K>>,
    batch: status_writer::Batch,
) -> (String, bool) {
    if !ctx.is_leader() {
        return (batch.uid, true);
    }
    let key = ObjectRef::new(&batch.name).within(&batch.namespace);
    let base = store
        .get(&key)
        .and_then(|c| c.scheduled().ok().cloned())
        .filter(|o| o.uid == batch.uid);
    let Some(base) = base else {
        return (batch.uid, true);
    };
    let api: Api<Cached<K>> = Api::namespaced(ctx.client.clone(), &batch.namespace);
    match sync::write_status::<K>(&api, &base, &batch.delta).await {
        Ok(written) => {
            if written.is_some() {
                ctx.remember_own_write(batch.delta.add_active.iter().filter_map(|r| r.uid.clone()));
            }
            (batch.uid, true)
        }
        Err(e) => {
            warn!(namespace = %batch.namespace, name = %batch.name, error = %e, "status write failed; retrying");
            ctx.metrics.status_write_errors.inc();
            (batch.uid, false)
        }
    }
}

/// A stream that yields once each time leadership goes from false to true.
/// A tick every `period` (the first one a period from now), or never.
fn resyncs(period: Option<Duration>) -> impl Stream<Item = ()> + Send {
    match period.filter(|p| !p.is_zero()) {
        Some(period) => {
            let start = tokio::time::Instant::now() + period;
            let mut ticks = tokio::time::interval_at(start, period);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            futures::stream::unfold(ticks, |mut t| async move {
                t.tick().await;
                Some(((), t))
            })
            .left_stream()
        }
        None => futures::stream::pending().right_stream(),
    }
}

fn leader_gains(rx: watch::Receiver<bool>) -> impl Stream<Item = ()> + Send {
    futures::stream::unfold((rx, false), |(mut rx, mut was)| async move {
        loop {
            let now = *rx.borrow_and_update();
            if now && !was {
                return Some(((), (rx, true)));
            }
            was = now;
            rx.changed().await.ok()?;
        }
    })
}

#[cfg(test)]
mod tests {
    use futures::StreamExt;

    #[tokio::test(start_paused = true)]
    async fn resyncs_tick_once_per_period_and_never_when_off() {
        let start = tokio::time::Instant::now();
        let mut ticks = Box::pin(resyncs(Some(Duration::from_secs(600))));
        for n in 1..=3u32 {
            ticks.next().await;
            assert_eq!(start.elapsed(), Duration::from_secs(600) * n);
        }
        for off in [None, Some(Duration::ZERO)] {
            let mut never = Box::pin(resyncs(off));
            let waited = tokio::time::timeout(Duration::from_secs(86_400), never.next()).await;
            assert!(waited.is_err(), "{off:?} ticked");
        }
    }

    use super::*;
    use serde_json::json;

    /// Shared state on a client that is never used (nothing listens there).
    fn shared() -> Shared {
        let config = kube::Config::new("http://127.0.0.1:9".parse().unwrap());
        let settings = Settings {
            namespaces: vec![],
            concurrency: 1,
            instance: "test".into(),
            kinds: vec![Kind::CronJob],
            resync: None,
        };
        Shared::new(
            Client::try_from(config).unwrap(),
            &settings,
            Arc::new(Metrics::new()),
            Arc::new(Health::default()),
            watch::channel(true).1,
        )
    }

    #[tokio::test]
    async fn a_replica_that_does_not_lead_records_no_per_cronjob_series() {
        let mut shared = shared();
        let cronjob = crate::objects::cronjob::decode(&json!({
            "metadata": {"name": "cj", "namespace": "ns", "uid": "u1"},
            "spec": {"schedule": "* * * * *", "jobTemplate": {}}
        }))
        .unwrap();
        let record = |g: &mut ObjectGauges| g.suspended = 1;
        shared.record_cronjob(&cronjob, record);
        assert!(shared.metrics.render().contains("cronjob=\"cj\""));
        // Leadership lost (cli drops the series then); a sync that finishes
        // afterwards must not bring them back.
        shared.metrics.forget_all_cronjobs();
        shared.leader = watch::channel(false).1;
        shared.record_cronjob(&cronjob, record);
        assert!(!shared.metrics.render().contains("cronjob=\"cj\""));
    }

    #[tokio::test]
    async fn a_deleted_cronjob_leaves_nothing_behind() {
        let shared = shared();
        let cronjob: compact::CompactCronJob = serde_json::from_value(json!({
            "metadata": {"name": "gone", "namespace": "ns", "uid": "u1"},
            "spec": {"schedule": "* * * * *", "jobTemplate": {}}
        }))
        .unwrap();
        shared
            .reported
            .lock()
            .insert("u1".into(), (1, HashSet::new()));
        shared
            .missed_slots
            .lock()
            .insert("u1".into(), Timestamp::UNIX_EPOCH);
        shared.superseded_slots.lock().insert(
            "u1".into(),
            sync::SupersededSeen {
                anchor: Timestamp::UNIX_EPOCH,
                latest: None,
                count: 1,
            },
        );
        shared.failures.lock().insert("u1".into(), 3);
        shared
            .rejected
            .lock()
            .insert("u1".into(), (1, Timestamp::UNIX_EPOCH));

        shared.forget_cronjob(&cronjob);

        assert!(shared.reported.lock().is_empty());
        assert!(shared.missed_slots.lock().is_empty());
        assert!(shared.superseded_slots.lock().is_empty());
        assert!(shared.failures.lock().is_empty());
        assert!(shared.rejected.lock().is_empty());
        assert!(shared.deleted.lock().contains("u1"));
    }
}
