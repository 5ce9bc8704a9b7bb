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

/// The API kinds kronjob schedules Jobs for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    /// `batch/v1` CronJob (drop-in mode).
    CronJob,
}

impl Kind {
    pub fn api_version(self) -> &'static str {
        match self {
            Kind::CronJob => "batch/v1",
        }
    }

    pub fn kind(self) -> &'static str {
        match self {
            Kind::CronJob => "CronJob",
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

/// batch/v1 `CronJobStatus`.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Status {
    /// References to the Jobs still running, kept as written.
    pub active: Vec<ObjectReference>,
    pub last_schedule_time: Option<Timestamp>,
    pub last_successful_time: Option<Timestamp>,
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
}

impl JobFacts {
    /// Is this Job's controller the scheduled object `owner` (by kind and UID)?
    pub fn is_controlled_by(&self, owner: &Scheduled) -> bool {
        !owner.uid.is_empty()
            && self.controller.as_ref().is_some_and(|c| {
                c.uid == owner.uid && owner.kind.is_owner_kind(&c.api_version, &c.kind)
            })
    }
}
