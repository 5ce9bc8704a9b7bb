//! What the planner reads: one model of a scheduled object (its identity,
//! spec and status) and of the Jobs it owns, whatever API kind it came
//! from. Each kind's adapter in [`crate::objects`] decodes its objects into
//! this model, leniently, and writes the planner's status changes back in
//! its own shape; the planner never sees a kind-specific type.
//!
//! Adding a scheduling feature means a field here, a line in each adapter
//! and a rule in the planner.

use std::collections::BTreeMap;

use jiff::Timestamp;
use k8s_openapi::api::core::v1::ObjectReference;

/// API-server defaults, applied by the adapters when a field is missing (a
/// hand-written manifest given to `kronjob explain`).
pub const DEFAULT_SUCCESSFUL_JOBS_HISTORY_LIMIT: i64 = 3;
pub const DEFAULT_FAILED_JOBS_HISTORY_LIMIT: i64 = 1;

/// The field manager of every object kronjob writes.
pub const FIELD_MANAGER: &str = "kronjob";

/// The annotation that asks for one immediate run per distinct value.
pub const RUN_NOW_ANNOTATION: &str = "kronjob.dev/run-now";
/// Where a CronJob records the run-now token handled (its batch/v1 status
/// has no field for it; a KronJob records it in `status.runNowToken`).
pub const RUN_NOW_HANDLED_ANNOTATION: &str = "kronjob.dev/run-now-handled";

/// The API kinds kronjob schedules Jobs for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    /// `batch/v1` CronJob (drop-in mode).
    CronJob,
    /// `kronjob.dev/v1alpha1` KronJob (resource mode).
    KronJob,
}

impl Kind {
    pub const ALL: [Kind; 2] = [Kind::CronJob, Kind::KronJob];

    pub fn api_version(self) -> &'static str {
        match self {
            Kind::CronJob => "batch/v1",
            Kind::KronJob => crate::crd::API_VERSION,
        }
    }

    pub fn kind(self) -> &'static str {
        match self {
            Kind::CronJob => "CronJob",
            Kind::KronJob => "KronJob",
        }
    }

    pub fn group(self) -> &'static str {
        self.api_version().rsplit_once('/').map_or("", |(g, _)| g)
    }

    pub fn version(self) -> &'static str {
        self.api_version()
            .rsplit_once('/')
            .map_or(self.api_version(), |(_, v)| v)
    }

    /// The resource name (`cronjobs`, `kronjobs`), as flags and metrics name it.
    pub fn plural(self) -> &'static str {
        match self {
            Kind::CronJob => "cronjobs",
            Kind::KronJob => "kronjobs",
        }
    }

    /// Does this controller ownerReference (apiVersion, kind) name an
    /// object of this kind? Any version of the kind's API group counts, as
    /// the garbage collector sees it.
    pub fn is_owner_kind(self, api_version: &str, kind: &str) -> bool {
        let group = |v: &str| v.rsplit_once('/').map_or("", |(g, _)| g).to_owned();
        kind == self.kind() && group(api_version) == group(self.api_version())
    }
}

/// A CronJob (or another kind with the same meaning), as the planner reads it.
#[derive(Clone, Debug, PartialEq)]
pub struct Scheduled {
    pub kind: Kind,
    pub name: String,
    pub namespace: String,
    pub uid: String,
    pub resource_version: Option<String>,
    /// `metadata.generation`: spec warnings are reported once per generation.
    pub generation: i64,
    /// `metadata.creationTimestamp`; the first slot's anchor.
    pub created: Option<Timestamp>,
    /// `metadata.deletionTimestamp` is set.
    pub being_deleted: bool,
    /// The `kronjob.dev/run-now` annotation: a request for one immediate run.
    pub run_now: Option<String>,
    pub spec: Spec,
    pub status: Status,
}

/// batch/v1 `CronJobSpec`, with the API server's defaults applied.
#[derive(Clone, Debug, PartialEq)]
pub struct Spec {
    pub schedule: String,
    pub time_zone: Option<String>,
    /// Any value the API accepted, including ones far beyond the time
    /// since the epoch (the planner treats those as "no deadline").
    pub starting_deadline_seconds: Option<i64>,
    pub concurrency_policy: ConcurrencyPolicy,
    pub suspend: bool,
    pub successful_jobs_history_limit: i64,
    pub failed_jobs_history_limit: i64,
    pub job_template: JobTemplate,
}

/// `spec.concurrencyPolicy`. A value the API server would reject acts as
/// `Allow`, as in upstream's controller (it only tests for the other two).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum ConcurrencyPolicy {
    #[default]
    Allow,
    Forbid,
    Replace,
}

impl ConcurrencyPolicy {
    pub fn from_api(value: Option<&str>) -> Self {
        match value {
            Some("Forbid") => ConcurrencyPolicy::Forbid,
            Some("Replace") => ConcurrencyPolicy::Replace,
            _ => ConcurrencyPolicy::Allow,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ConcurrencyPolicy::Allow => "Allow",
            ConcurrencyPolicy::Forbid => "Forbid",
            ConcurrencyPolicy::Replace => "Replace",
        }
    }
}

/// `spec.jobTemplate`: the labels and annotations copied onto each Job, and
/// the Job spec passed through as the JSON the API server gave us, so that
/// fields newer than kronjob's types reach the Job unchanged.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct JobTemplate {
    pub labels: Option<BTreeMap<String, String>>,
    pub annotations: Option<BTreeMap<String, String>>,
    /// JSON text of `jobTemplate.spec` (`null` when absent).
    pub spec_json: Box<str>,
}

/// batch/v1 `CronJobStatus` and what upstream never recorded. Each kind's
/// adapter writes the fields its object can hold: a CronJob the batch/v1
/// ones (and the run-now token, as an annotation); a KronJob all of them.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Status {
    /// References to the Jobs still running, kept as written.
    pub active: Vec<ObjectReference>,
    pub last_schedule_time: Option<Timestamp>,
    pub last_successful_time: Option<Timestamp>,
    /// When the latest failed Job failed.
    pub last_failure_time: Option<Timestamp>,
    /// The next slot with a timer (None: no timer).
    pub next_schedule_time: Option<Timestamp>,
    /// The most recent Job.
    pub last_run: Option<LastRun>,
    /// The last run-now token handled (run, or refused).
    pub run_now_token: Option<String>,
    /// The generation the status describes.
    pub observed_generation: Option<i64>,
    /// `ScheduleValid`, `Suspended`, `LastRunSucceeded`.
    pub conditions: Vec<Condition>,
}

/// A condition, with Kubernetes' conventions (`metav1.Condition`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Condition {
    pub type_: String,
    /// `True`, `False` or `Unknown`.
    pub status: String,
    pub reason: String,
    pub message: String,
    /// When `status` last changed.
    pub last_transition_time: Option<Timestamp>,
    pub observed_generation: Option<i64>,
}

/// The most recent Job of a scheduled object and how it went.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LastRun {
    pub job_name: String,
    /// The slot, or the time of the run-now request.
    pub scheduled_time: Option<Timestamp>,
    /// Made by a run-now request rather than the schedule.
    pub manual: bool,
    pub start_time: Option<Timestamp>,
    pub completion_time: Option<Timestamp>,
    /// None while it runs.
    pub result: Option<Finished>,
}

/// How a Job ended, from its `Complete`/`Failed` condition with status True.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Finished {
    Complete,
    Failed,
}

impl Finished {
    /// The condition type as Kubernetes spells it (used in event messages).
    pub fn as_str(self) -> &'static str {
        match self {
            Finished::Complete => "Complete",
            Finished::Failed => "Failed",
        }
    }

    /// What one Job condition says: finished only for `Complete` or
    /// `Failed` with status True.
    pub fn from_condition(type_: &str, status: &str) -> Option<Finished> {
        match (type_, status) {
            ("Complete", "True") => Some(Finished::Complete),
            ("Failed", "True") => Some(Finished::Failed),
            _ => None,
        }
    }
}

/// A Job's controller ownerReference.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ControllerRef {
    pub api_version: String,
    pub kind: String,
    pub name: String,
    pub uid: String,
}

/// What the planner reads of a Job.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct JobFacts {
    pub name: String,
    pub namespace: String,
    pub uid: String,
    /// The ownerReference with `controller: true`, if any.
    pub controller: Option<ControllerRef>,
    /// `metadata.deletionTimestamp` is set.
    pub being_deleted: bool,
    /// The first `Complete` or `Failed` condition that is True, as
    /// upstream's `jobutil.FinishedCondition` reads it.
    pub finished: Option<Finished>,
    pub start_time: Option<Timestamp>,
    pub completion_time: Option<Timestamp>,
    /// When the `Failed` condition became True.
    pub failed_at: Option<Timestamp>,
    pub created: Option<Timestamp>,
    /// The `batch.kubernetes.io/cronjob-scheduled-timestamp` annotation.
    pub scheduled_time: Option<Timestamp>,
    /// Annotated `cronjob.kubernetes.io/instantiate: manual` (a run-now or
    /// `kubectl create job --from`).
    pub manual: bool,
    /// The field manager that wrote its metadata and spec first (managed
    /// fields without a subresource): kronjob writes as [`FIELD_MANAGER`],
    /// kube-controller-manager as itself.
    pub creator: Option<String>,
}

impl JobFacts {
    /// When it ran for, for ordering runs: its slot, else its creation.
    pub fn run_time(&self) -> Option<Timestamp> {
        self.scheduled_time.or(self.created)
    }

    /// When it finished, if it did.
    pub fn finished_at(&self) -> Option<Timestamp> {
        match self.finished? {
            Finished::Complete => self.completion_time,
            Finished::Failed => self.failed_at.or(self.completion_time),
        }
    }

    /// This Job as the last run of its owner.
    pub fn as_last_run(&self) -> LastRun {
        LastRun {
            job_name: self.name.clone(),
            scheduled_time: self.scheduled_time,
            manual: self.manual,
            start_time: self.start_time,
            completion_time: self.finished_at(),
            result: self.finished,
        }
    }

    /// Is this Job's controller the scheduled object `owner` (by kind and UID)?
    pub fn is_controlled_by(&self, owner: &Scheduled) -> bool {
        !owner.uid.is_empty()
            && self.controller.as_ref().is_some_and(|c| {
                c.uid == owner.uid && owner.kind.is_owner_kind(&c.api_version, &c.kind)
            })
    }
}
