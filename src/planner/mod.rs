//! The per-sync decision for one CronJob, as a pure function of
//! (CronJob, its Jobs, what live lookups confirmed, now).
//!
//! The controller asks [`lookups_needed`] which facts it must confirm against
//! the API server (active Jobs missing from the cache, unexpected Jobs), then
//! calls [`plan`] and carries out the returned [`Plan`] in order. `kronjob
//! explain` calls the same functions offline, so what it prints is what the
//! controller does.

pub mod events;
pub mod jobs;
pub mod status;

use std::collections::BTreeMap;

use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::batch::v1::{CronJob, CronJobStatus, Job};
use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};

use crate::schedule::{self, Schedule};
pub use events::{EventType, PlannedEvent};
pub use jobs::Finished;
pub use status::StatusDelta;

/// Annotation upstream puts on every Job: the slot, in the CronJob's zone.
pub const SCHEDULED_TIMESTAMP_ANNOTATION: &str = "batch.kubernetes.io/cronjob-scheduled-timestamp";

/// API-server defaults, applied when a field is missing (e.g. a hand-written
/// manifest given to `kronjob explain`).
pub const DEFAULT_SUCCESSFUL_JOBS_HISTORY_LIMIT: i32 = 3;
pub const DEFAULT_FAILED_JOBS_HISTORY_LIMIT: i32 = 1;

/// Facts the controller must confirm with the API server before planning.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Lookups {
    /// `status.active` entries with no owned Job in the cache: GET each; a
    /// NotFound means the Job is gone (MissingJob).
    pub unknown_active: Vec<ObjectReference>,
    /// Unfinished owned Jobs absent from `status.active`: re-read the CronJob
    /// once (our own status write may not have reached the cache yet) and plan
    /// from the fresh copy.
    pub unexpected: Vec<String>,
}

/// What the live lookups confirmed.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Observed {
    /// UIDs of `status.active` entries that the API server says do not exist.
    pub gone: Vec<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeletePurpose {
    /// Beyond successfulJobsHistoryLimit / failedJobsHistoryLimit.
    History,
    /// concurrencyPolicy Replace: still running when the next slot came.
    Replace,
}

#[derive(Clone, Debug, PartialEq)]
pub struct JobDeletion {
    pub name: String,
    pub uid: Option<String>,
    pub purpose: DeletePurpose,
}

#[derive(Clone, Debug, PartialEq)]
pub struct JobCreation {
    pub job: Job,
    pub slot: Timestamp,
}

/// One side effect, in the order upstream performs them.
#[derive(Clone, Debug, PartialEq)]
pub enum Effect {
    Event(PlannedEvent),
    /// DELETE with propagationPolicy Background; `Replace` deletions GET the
    /// Job first (FailedGet) and abort the sync on failure.
    Delete(JobDeletion),
    /// POST the Job; on success add it to `status.active` and set
    /// `lastScheduleTime` to the slot.
    Create(Box<JobCreation>),
}

/// Why a due slot is not run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SkipReason {
    /// concurrencyPolicy Forbid with a Job still active.
    ConcurrencyForbid,
    /// The slot's Job name (minute resolution) belongs to a Job that already
    /// finished: an earlier slot of the same minute ran (`@every` under a
    /// minute). The slot is recorded as handled; no second Job is made.
    NameTaken,
}

/// Why a sync sets no timer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StopReason {
    BeingDeleted,
    UnknownTimeZone,
    Suspended,
    UnparseableSchedule,
    InvalidSchedule,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Decision {
    /// A Job is created for `slot`.
    Create { slot: Timestamp, job_name: String },
    /// Nothing is due: sleep until the next slot.
    Wait,
    /// `slot` is due but not run.
    Skip { slot: Timestamp, reason: SkipReason },
    /// No timer until the CronJob changes.
    Stop(StopReason),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    pub effects: Vec<Effect>,
    /// Status changes that hold whatever the effects' outcome.
    pub delta: StatusDelta,
    pub decision: Decision,
    /// The next slot after now, once this plan has been carried out.
    pub next_schedule_time: Option<Timestamp>,
    /// When to sync again; None means no timer (a change wakes it).
    pub wake_at: Option<Timestamp>,
    /// The most recent slot that fell outside startingDeadlineSeconds unrun.
    pub missed_slot: Option<Timestamp>,
    /// More than 100 slots were due at once (TooManyMissedTimes).
    pub too_many_missed: bool,
    /// Due slots older than the one run or skipped now: they will never run
    /// (counted up to 100).
    pub superseded_slots: u32,
}

impl Plan {
    pub fn events(&self) -> impl Iterator<Item = &PlannedEvent> {
        self.effects.iter().filter_map(|e| match e {
            Effect::Event(ev) => Some(ev),
            _ => None,
        })
    }

    pub fn deletions(&self) -> impl Iterator<Item = &JobDeletion> {
        self.effects.iter().filter_map(|e| match e {
            Effect::Delete(d) => Some(d),
            _ => None,
        })
    }

    pub fn creation(&self) -> Option<&JobCreation> {
        self.effects.iter().find_map(|e| match e {
            Effect::Create(c) => Some(&**c),
            _ => None,
        })
    }

    /// The events the sync emits if every API call succeeds, in order.
    pub fn events_if_successful(&self) -> Vec<PlannedEvent> {
        self.effects
            .iter()
            .map(|e| match e {
                Effect::Event(ev) => ev.clone(),
                Effect::Delete(d) => events::successful_delete(&d.name),
                Effect::Create(c) => events::successful_create(jobs::name(&c.job)),
            })
            .collect()
    }

    /// The CronJob status after the sync if every API call succeeds. Created
    /// Jobs get a placeholder reference (their UID is the server's to give).
    pub fn status_if_successful(&self, cronjob: &CronJob) -> CronJobStatus {
        let mut status = cronjob.status.clone().unwrap_or_default();
        self.delta.apply(&mut status);
        for effect in &self.effects {
            match effect {
                Effect::Delete(d) if d.purpose == DeletePurpose::Replace => {
                    let remove = StatusDelta {
                        remove_active: d.uid.iter().cloned().collect(),
                        ..Default::default()
                    };
                    remove.apply(&mut status);
                }
                Effect::Create(c) => {
                    created_delta(&c.job, c.slot, None).apply(&mut status);
                }
                _ => {}
            }
        }
        status
    }
}

/// The status change for a Job we created (or found already created) for `slot`.
pub fn created_delta(job: &Job, slot: Timestamp, uid: Option<String>) -> StatusDelta {
    let name = jobs::name(job).to_string();
    StatusDelta {
        add_active: vec![ObjectReference {
            api_version: Some("batch/v1".into()),
            kind: Some("Job".into()),
            namespace: job.metadata.namespace.clone(),
            uid: Some(uid.unwrap_or_else(|| format!("planned:{name}"))),
            resource_version: job.metadata.resource_version.clone(),
            name: Some(name),
            ..Default::default()
        }],
        last_schedule_time: Some(slot),
        ..Default::default()
    }
}

/// The deterministic Job name for a slot: `<cronjob>-<minutes since epoch>`.
/// The name is the lock that keeps a slot from running twice.
pub fn job_name(cronjob_name: &str, slot: Timestamp) -> String {
    format!("{}-{}", cronjob_name, slot.as_second() / 60)
}

/// Owned Jobs: those whose controller ownerReference is this CronJob's UID.
pub fn owned_jobs<'a>(cronjob: &CronJob, jobs: &'a [Job]) -> Vec<&'a Job> {
    jobs.iter()
        .filter(|j| jobs::is_controlled_by(j, cronjob))
        .collect()
}

/// The CronJob's `status.active` references (empty when unset).
pub fn active_refs(cronjob: &CronJob) -> &[ObjectReference] {
    cronjob
        .status
        .as_ref()
        .and_then(|s| s.active.as_deref())
        .unwrap_or(&[])
}

/// Is the Job with this UID listed in `active`?
pub fn in_active(active: &[ObjectReference], uid: &str) -> bool {
    active.iter().any(|r| r.uid.as_deref() == Some(uid))
}

/// Which live lookups [`plan`] needs before it can decide.
pub fn lookups_needed(cronjob: &CronJob, jobs: &[Job]) -> Lookups {
    let owned = owned_jobs(cronjob, jobs);
    let active = active_refs(cronjob);
    Lookups {
        unknown_active: active
            .iter()
            .filter(|r| !owned.iter().any(|j| Some(jobs::uid(j)) == r.uid.as_deref()))
            .cloned()
            .collect(),
        unexpected: owned
            .iter()
            .filter(|j| jobs::finished(j).is_none() && !in_active(active, jobs::uid(j)))
            .map(|j| jobs::name(j).to_string())
            .collect(),
    }
}

/// The whole decision for one sync. `jobs` may hold Jobs of other owners;
/// only those controlled by `cronjob` are considered.
pub fn plan(cronjob: &CronJob, jobs: &[Job], observed: &Observed, now: Timestamp) -> Plan {
    let owned = owned_jobs(cronjob, jobs);
    let spec = &cronjob.spec;
    let mut effects = Vec::new();
    let mut delta = StatusDelta::default();
    let status = cronjob.status.clone().unwrap_or_default();
    let original_active = active_refs(cronjob);

    // 1. History cleanup: runs even when suspended or being deleted. Jobs
    // already being deleted are neither counted nor deleted again.
    let mut history_deleted: Vec<&str> = Vec::new();
    for (outcome, limit) in [
        (
            Finished::Complete,
            spec.successful_jobs_history_limit
                .unwrap_or(DEFAULT_SUCCESSFUL_JOBS_HISTORY_LIMIT),
        ),
        (
            Finished::Failed,
            spec.failed_jobs_history_limit
                .unwrap_or(DEFAULT_FAILED_JOBS_HISTORY_LIMIT),
        ),
    ] {
        let mut finished: Vec<&Job> = owned
            .iter()
            .copied()
            .filter(|j| jobs::finished(j) == Some(outcome) && !jobs::is_being_deleted(j))
            .collect();
        let excess = finished.len().saturating_sub(limit.max(0) as usize);
        finished.sort_by(|a, b| jobs::history_order(a, b));
        for job in finished.into_iter().take(excess) {
            history_deleted.push(jobs::name(job));
            effects.push(Effect::Delete(JobDeletion {
                name: jobs::name(job).to_string(),
                uid: job.metadata.uid.clone(),
                purpose: DeletePurpose::History,
            }));
            if in_active(original_active, jobs::uid(job)) {
                delta.remove_active.push(jobs::uid(job).to_string());
            }
        }
    }

    // 2. Owned Jobs against status.active.
    let mut last_successful = status.last_successful_time.as_ref().map(|t| t.0);
    for job in &owned {
        let found = in_active(original_active, jobs::uid(job));
        match jobs::finished(job) {
            None if !found => effects.push(Effect::Event(events::unexpected_job(jobs::name(job)))),
            None => {}
            Some(outcome) => {
                if found && !history_deleted.contains(&jobs::name(job)) {
                    delta.remove_active.push(jobs::uid(job).to_string());
                    effects.push(Effect::Event(events::saw_completed_job(
                        jobs::name(job),
                        outcome.as_str(),
                    )));
                }
                if outcome == Finished::Complete
                    && let Some(done) = jobs::completion_time(job)
                    && last_successful.is_none_or(|cur| done > cur)
                {
                    last_successful = Some(done);
                    delta.last_successful_time = Some(done);
                }
            }
        }
    }

    // 3. Active references whose Job the API server confirmed gone.
    for r in original_active {
        let Some(uid) = r.uid.as_deref() else {
            continue;
        };
        if owned.iter().any(|j| jobs::uid(j) == uid) {
            continue;
        }
        if observed.gone.iter().any(|g| g == uid) {
            effects.push(Effect::Event(events::missing_job(
                r.name.as_deref().unwrap_or(""),
            )));
            delta.remove_active.push(uid.to_string());
        }
    }
    let active: Vec<&ObjectReference> = original_active
        .iter()
        .filter(|r| {
            !r.uid
                .as_ref()
                .is_some_and(|u| delta.remove_active.contains(u))
        })
        .collect();

    let stop = |effects: Vec<Effect>, delta: StatusDelta, reason| Plan {
        effects,
        delta,
        decision: Decision::Stop(reason),
        next_schedule_time: None,
        wake_at: None,
        missed_slot: None,
        too_many_missed: false,
        superseded_slots: 0,
    };

    // 4. Conditions that stop the CronJob until its spec changes.
    if cronjob.metadata.deletion_timestamp.is_some() {
        return stop(effects, delta, StopReason::BeingDeleted);
    }
    let time_zone = spec.time_zone.as_deref();
    if let Some(zone) = time_zone
        && let Err(err) = schedule::load_location(zone)
    {
        effects.push(Effect::Event(events::unknown_time_zone(zone, &err)));
        return stop(effects, delta, StopReason::UnknownTimeZone);
    }
    if spec.suspend.unwrap_or(false) {
        return stop(effects, delta, StopReason::Suspended);
    }
    let schedule_text = spec.schedule.as_str();
    let effective = schedule::effective_spec(schedule_text, time_zone);
    if effective.uses_tz_in_schedule {
        effects.push(Effect::Event(events::unsupported_schedule(schedule_text)));
    }
    let sched = match Schedule::parse_standard(&effective.spec) {
        Ok(s) => s,
        Err(err) => {
            effects.push(Effect::Event(events::unparseable_schedule(
                schedule_text,
                &err.to_string(),
            )));
            return stop(effects, delta, StopReason::UnparseableSchedule);
        }
    };

    // 5. Which slot is due.
    let created = cronjob
        .metadata
        .creation_timestamp
        .as_ref()
        .map(|t| t.0)
        .unwrap_or(now);
    let last_scheduled = status.last_schedule_time.as_ref().map(|t| t.0);
    let anchor = last_scheduled.unwrap_or(created);
    let deadline = spec.starting_deadline_seconds;
    let after = match deadline {
        Some(d) => anchor.max(now - SignedDuration::from_secs(d)),
        None => anchor,
    };
    let window = match sched.window(anchor, after, now) {
        Ok(w) => w,
        Err(schedule::NeverFires) => {
            effects.push(Effect::Event(events::invalid_schedule(schedule_text)));
            return stop(effects, delta, StopReason::InvalidSchedule);
        }
    };
    let missed_slot = if after > anchor {
        sched
            .window(anchor, anchor, after)
            .ok()
            .and_then(|w| w.latest)
    } else {
        None
    };
    let too_many_missed = window.latest.is_some() && window.count > 100;

    let mut decision = Decision::Wait;
    if let Some(slot) = window.latest {
        if too_many_missed {
            effects.push(Effect::Event(events::too_many_missed_times()));
        }
        let name = job_name(cronjob.metadata.name.as_deref().unwrap_or(""), slot);
        let handled =
            last_scheduled == Some(slot) || active.iter().any(|r| r.name.as_deref() == Some(&name));
        let policy = spec.concurrency_policy.as_deref().unwrap_or("Allow");
        if handled {
            decision = Decision::Wait;
        } else if policy == "Forbid" && !active.is_empty() {
            effects.push(Effect::Event(events::job_already_active()));
            decision = Decision::Skip {
                slot,
                reason: SkipReason::ConcurrencyForbid,
            };
        } else if owned
            .iter()
            .any(|j| jobs::name(j) == name && jobs::finished(j).is_some())
        {
            delta.last_schedule_time = Some(slot);
            decision = Decision::Skip {
                slot,
                reason: SkipReason::NameTaken,
            };
        } else {
            if policy == "Replace" {
                for r in &active {
                    effects.push(Effect::Delete(JobDeletion {
                        name: r.name.clone().unwrap_or_default(),
                        uid: r.uid.clone(),
                        purpose: DeletePurpose::Replace,
                    }));
                }
            }
            let job = job_for_slot(cronjob, slot, &name);
            effects.push(Effect::Create(Box::new(JobCreation { job, slot })));
            decision = Decision::Create {
                slot,
                job_name: name,
            };
        }
    }

    // 6. Sleep until the next slot of the sequence anchored where this sync
    // leaves lastScheduleTime.
    let new_anchor = match &decision {
        Decision::Create { slot, .. }
        | Decision::Skip {
            slot,
            reason: SkipReason::NameTaken,
        } => *slot,
        _ => anchor,
    };
    let next = next_slot_after(&sched, new_anchor, now);
    Plan {
        effects,
        delta,
        decision,
        next_schedule_time: next,
        wake_at: next,
        missed_slot: missed_slot.filter(|_| window.latest.is_none()),
        too_many_missed,
        superseded_slots: if window.latest.is_some() {
            window.count.saturating_sub(1).min(100)
        } else {
            0
        },
    }
}

/// The first slot after `now` in the sequence that starts at `anchor`.
pub fn next_slot_after(sched: &Schedule, anchor: Timestamp, now: Timestamp) -> Option<Timestamp> {
    if anchor > now {
        return sched.next(anchor);
    }
    let latest = sched.window(anchor, anchor, now).ok()?.latest;
    sched.next(latest.unwrap_or(anchor))
}

/// The Job upstream creates for a slot: template labels and annotations, the
/// scheduled-timestamp annotation, one controller ownerReference, the
/// template's spec.
pub fn job_for_slot(cronjob: &CronJob, slot: Timestamp, name: &str) -> Job {
    let template = &cronjob.spec.job_template;
    let template_meta = template.metadata.as_ref();
    let mut annotations: BTreeMap<String, String> = template_meta
        .and_then(|m| m.annotations.clone())
        .unwrap_or_default();
    // The annotation is in spec.timeZone if set, else UTC (a TZ= prefix in
    // the schedule does not count, as upstream).
    let zone = cronjob
        .spec
        .time_zone
        .as_deref()
        .and_then(|z| schedule::load_location(z).ok());
    let stamp = match zone {
        Some(loc) => loc.format_rfc3339(slot),
        None => schedule::load_location("UTC")
            .map(|l| l.format_rfc3339(slot))
            .unwrap_or_else(|_| slot.to_string()),
    };
    annotations.insert(SCHEDULED_TIMESTAMP_ANNOTATION.to_string(), stamp);
    Job {
        metadata: ObjectMeta {
            name: Some(name.to_string()),
            namespace: cronjob.metadata.namespace.clone(),
            labels: template_meta.and_then(|m| m.labels.clone()),
            annotations: Some(annotations),
            owner_references: Some(vec![OwnerReference {
                api_version: "batch/v1".into(),
                kind: "CronJob".into(),
                name: cronjob.metadata.name.clone().unwrap_or_default(),
                uid: cronjob.metadata.uid.clone().unwrap_or_default(),
                controller: Some(true),
                block_owner_deletion: Some(true),
            }]),
            ..Default::default()
        },
        spec: template.spec.clone(),
        status: None,
    }
}

#[cfg(test)]
mod tests;
