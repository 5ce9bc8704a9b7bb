//! Facts about Jobs that the planner reads: ownership, finished state,
//! history order. Pure helpers over k8s-openapi types.

use std::cmp::Ordering;

use jiff::Timestamp;
use k8s_openapi::api::batch::v1::{CronJob, Job};

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

/// The first `Complete` or `Failed` condition that is True, as upstream's
/// `jobutil.FinishedCondition` reads it.
pub fn finished(job: &Job) -> Option<Finished> {
    let conditions = job.status.as_ref()?.conditions.as_ref()?;
    conditions
        .iter()
        .find_map(|c| Finished::from_condition(&c.type_, &c.status))
}

pub fn uid(job: &Job) -> &str {
    job.metadata.uid.as_deref().unwrap_or("")
}

pub fn name(job: &Job) -> &str {
    job.metadata.name.as_deref().unwrap_or("")
}

/// True when the Job's controller ownerReference points at this CronJob (by UID).
pub fn is_controlled_by(job: &Job, cronjob: &CronJob) -> bool {
    let Some(cj_uid) = cronjob.metadata.uid.as_deref() else {
        return false;
    };
    job.metadata
        .owner_references
        .iter()
        .flatten()
        .any(|r| r.controller == Some(true) && r.kind == "CronJob" && r.uid == cj_uid)
}

pub fn start_time(job: &Job) -> Option<Timestamp> {
    job.status.as_ref()?.start_time.as_ref().map(|t| t.0)
}

pub fn completion_time(job: &Job) -> Option<Timestamp> {
    job.status.as_ref()?.completion_time.as_ref().map(|t| t.0)
}

pub fn is_being_deleted(job: &Job) -> bool {
    job.metadata.deletion_timestamp.is_some()
}

/// Upstream's history order: by status.startTime ascending, Jobs without a
/// start time last, ties broken by name.
pub fn history_order(a: &Job, b: &Job) -> Ordering {
    match (start_time(a), start_time(b)) {
        (Some(x), Some(y)) => x.cmp(&y).then_with(|| name(a).cmp(name(b))),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => name(a).cmp(name(b)),
    }
}
