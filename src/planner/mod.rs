//! The per-sync decision for one scheduled object (a batch/v1 CronJob, in
//! the planner's model), as a pure function of (object, its Jobs, what live
//! lookups confirmed, now).
//!
//! The controller asks [`lookups_needed`] which facts it must confirm against
//! the API server (active Jobs missing from the cache, unexpected Jobs), then
//! calls [`plan`] and carries out the returned [`Plan`] in order. `kronjob
//! explain` calls the same functions offline, so what it prints is what the
//! controller does.
//!
//! Every value of the object is input from someone we do not control: the
//! arithmetic is checked (a deadline reaching before the start of time is no
//! deadline), and a plan costs time linear in the number of Jobs and active
//! references, plus a sort of the finished Jobs.

// Input from the API reaches every line here: no unchecked arithmetic,
// indexing, unwrap or panic outside the tests.
#![cfg_attr(
    not(test),
    warn(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::indexing_slicing,
        clippy::panic,
        clippy::arithmetic_side_effects
    )
)]

pub mod conditions;
pub mod events;
pub mod jobs;
pub mod retry;
pub mod run_now;
pub mod status;

use std::collections::HashSet;

use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::core::v1::ObjectReference;

use crate::model::{ConcurrencyPolicy, Finished, JobFacts, LastRun, Scheduled, Status};
use crate::schedule::{self, Schedule};
pub use events::{EventType, PlannedEvent};
pub use jobs::{MAX_JOB_NAME_LEN, NewJob, SCHEDULED_TIMESTAMP_ANNOTATION, job_for_slot, job_name};
pub use status::StatusDelta;

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
    pub job: NewJob,
    /// The slot, or the moment a run-now request was handled.
    pub slot: Timestamp,
    pub trigger: Trigger,
}

/// What a Job is created for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Trigger {
    /// A slot of the schedule: it becomes `lastScheduleTime`.
    Schedule,
    /// A run-now request with this token: the token is recorded as handled.
    RunNow(String),
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
    /// `<name>-<minutes>` would be longer than a Job name may be (only
    /// possible where the API server did not check the name's length).
    NameTooLong,
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
    /// What became of a pending run-now request.
    pub run_now: Option<run_now::Outcome>,
    /// Why the schedule (or time zone, or name) cannot run, if it cannot;
    /// known even while suspended.
    pub schedule_problem: Option<PlannedEvent>,
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
                Effect::Create(c) => events::successful_create(&c.job.name),
            })
            .collect()
    }

    /// The status after the sync if every API call succeeds. Created Jobs
    /// get a placeholder reference (their UID is the server's to give).
    pub fn status_if_successful(&self, object: &Scheduled) -> Status {
        let mut status = object.status.clone();
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
                    created_delta(c, None, None).apply(&mut status);
                }
                _ => {}
            }
        }
        status
    }
}

/// The status change for a Job we created (or found already created, not
/// yet finished): it enters `active` and becomes the last run; its slot
/// becomes `lastScheduleTime`, or its run-now token is recorded as handled.
pub fn created_delta(
    creation: &JobCreation,
    uid: Option<String>,
    resource_version: Option<String>,
) -> StatusDelta {
    let job = &creation.job;
    let name = job.name.clone();
    let mut delta = handled_delta(creation);
    delta.add_active = vec![ObjectReference {
        api_version: Some("batch/v1".into()),
        kind: Some("Job".into()),
        namespace: Some(job.namespace.clone()),
        uid: Some(uid.unwrap_or_else(|| format!("planned:{name}"))),
        resource_version,
        name: Some(name.clone()),
        ..Default::default()
    }];
    delta.last_run = Some(LastRun {
        job_name: name,
        scheduled_time: Some(creation.slot),
        manual: matches!(creation.trigger, Trigger::RunNow(_)),
        start_time: None,
        completion_time: None,
        result: None,
    });
    delta
}

/// The status change that records a creation as done, when its Job turned
/// out to exist already (and has finished, or is recorded): the slot, or
/// the run-now token.
pub fn handled_delta(creation: &JobCreation) -> StatusDelta {
    match &creation.trigger {
        Trigger::Schedule => StatusDelta {
            last_schedule_time: Some(creation.slot),
            ..Default::default()
        },
        Trigger::RunNow(token) => StatusDelta {
            run_now_token: Some(token.clone()),
            ..Default::default()
        },
    }
}

/// The Jobs this object controls (by kind and UID).
pub fn owned_jobs<'a>(object: &Scheduled, jobs: &'a [JobFacts]) -> Vec<&'a JobFacts> {
    jobs.iter().filter(|j| j.is_controlled_by(object)).collect()
}

/// The UIDs listed in `status.active`.
fn active_uids(active: &[ObjectReference]) -> HashSet<&str> {
    active.iter().filter_map(|r| r.uid.as_deref()).collect()
}

/// Which live lookups [`plan`] needs before it can decide.
pub fn lookups_needed(object: &Scheduled, jobs: &[JobFacts]) -> Lookups {
    let owned = owned_jobs(object, jobs);
    let owned_uids: HashSet<&str> = owned.iter().map(|j| j.uid.as_str()).collect();
    let active = &object.status.active;
    let listed = active_uids(active);
    Lookups {
        unknown_active: active
            .iter()
            .filter(|r| r.uid.as_deref().is_none_or(|u| !owned_uids.contains(u)))
            .cloned()
            .collect(),
        unexpected: owned
            .iter()
            .filter(|j| j.finished.is_none() && !listed.contains(j.uid.as_str()))
            .map(|j| j.name.clone())
            .collect(),
    }
}

/// The earliest instant a slot may have to still run: `now - deadline`, or
/// None when the deadline reaches back before the start of time (no
/// deadline, mathematically) or there is none.
fn deadline_start(now: Timestamp, deadline_seconds: Option<i64>) -> Option<Timestamp> {
    let d = deadline_seconds?;
    let span = SignedDuration::new(d, 0);
    now.checked_sub(span).ok()
}

/// The whole decision for one sync. `jobs` may hold Jobs of other owners;
/// only those controlled by `object` are considered.
pub fn plan(object: &Scheduled, jobs: &[JobFacts], observed: &Observed, now: Timestamp) -> Plan {
    let mut plan = plan_slots(object, jobs, observed, now);
    let owned = owned_jobs(object, jobs);
    record_runs(&mut plan, object, &owned, now);
    run_now::handle(&mut plan, object, now);
    plan
}

/// The facts of the status that describe the Jobs rather than decide
/// anything: the last run and the last failure, the next slot, the
/// generation seen and the conditions.
fn record_runs(plan: &mut Plan, object: &Scheduled, owned: &[&JobFacts], now: Timestamp) {
    let delta = &mut plan.delta;
    let latest = owned
        .iter()
        .max_by(|a, b| (a.run_time(), &a.name).cmp(&(b.run_time(), &b.name)));
    if let Some(job) = latest {
        let run = job.as_last_run();
        if object.status.last_run.as_ref() != Some(&run) {
            delta.last_run = Some(run);
        }
    }
    let failed = owned
        .iter()
        .filter(|j| j.finished == Some(Finished::Failed))
        .filter_map(|j| j.finished_at())
        .max();
    if failed > object.status.last_failure_time {
        delta.last_failure_time = failed;
    }
    delta.next_schedule_time = Some(plan.next_schedule_time);
    delta.observed_generation = Some(object.generation);
    delta.conditions = Some(conditions::Inputs {
        schedule_problem: plan.schedule_problem.clone(),
        suspended: object.spec.suspend,
        generation: object.generation,
    });
    delta.conditions_at = Some(now);
}

/// The schedule part of the plan: history, bookkeeping of the Jobs, and
/// which slot runs.
fn plan_slots(object: &Scheduled, jobs: &[JobFacts], observed: &Observed, now: Timestamp) -> Plan {
    let owned = owned_jobs(object, jobs);
    let spec = &object.spec;
    let mut effects = Vec::new();
    let mut delta = StatusDelta::default();
    let status = &object.status;
    let original_active = &status.active;
    let listed = active_uids(original_active);
    // UIDs leaving `active` in this sync.
    let mut removed: HashSet<&str> = HashSet::new();

    // 1. History cleanup: runs even when suspended or being deleted. Jobs
    // already being deleted are neither counted nor deleted again.
    let mut history_deleted: HashSet<&str> = HashSet::new();
    for (outcome, limit) in [
        (Finished::Complete, spec.successful_jobs_history_limit),
        (Finished::Failed, spec.failed_jobs_history_limit),
    ] {
        let mut finished: Vec<&JobFacts> = owned
            .iter()
            .copied()
            .filter(|j| j.finished == Some(outcome) && !j.being_deleted)
            .collect();
        let keep = usize::try_from(limit.max(0)).unwrap_or(usize::MAX);
        let excess = finished.len().saturating_sub(keep);
        if excess == 0 {
            continue;
        }
        finished.sort_by(|a, b| jobs::history_order(a, b));
        for job in finished.into_iter().take(excess) {
            history_deleted.insert(job.name.as_str());
            effects.push(Effect::Delete(JobDeletion {
                name: job.name.clone(),
                uid: Some(job.uid.clone()),
                purpose: DeletePurpose::History,
            }));
            if listed.contains(job.uid.as_str()) && removed.insert(job.uid.as_str()) {
                delta.remove_active.push(job.uid.clone());
            }
        }
    }

    // 2. Owned Jobs against status.active.
    let mut last_successful = status.last_successful_time;
    for job in &owned {
        let found = listed.contains(job.uid.as_str());
        match job.finished {
            None if !found => effects.push(Effect::Event(events::unexpected_job(&job.name))),
            None => {}
            Some(outcome) => {
                if found && !history_deleted.contains(job.name.as_str()) {
                    if removed.insert(job.uid.as_str()) {
                        delta.remove_active.push(job.uid.clone());
                    }
                    effects.push(Effect::Event(events::saw_completed_job(
                        &job.name,
                        outcome.as_str(),
                    )));
                }
                if outcome == Finished::Complete
                    && let Some(done) = job.completion_time
                    && last_successful.is_none_or(|cur| done > cur)
                {
                    last_successful = Some(done);
                    delta.last_successful_time = Some(done);
                }
            }
        }
    }

    // 3. Active references whose Job the API server confirmed gone.
    let owned_uids: HashSet<&str> = owned.iter().map(|j| j.uid.as_str()).collect();
    let gone: HashSet<&str> = observed.gone.iter().map(String::as_str).collect();
    for r in original_active {
        let Some(uid) = r.uid.as_deref() else {
            continue;
        };
        if owned_uids.contains(uid) || !gone.contains(uid) {
            continue;
        }
        effects.push(Effect::Event(events::missing_job(
            r.name.as_deref().unwrap_or(""),
        )));
        if removed.insert(uid) {
            delta.remove_active.push(uid.to_string());
        }
    }
    let active: Vec<&ObjectReference> = original_active
        .iter()
        .filter(|r| r.uid.as_deref().is_none_or(|u| !removed.contains(u)))
        .collect();

    let stop = |effects: Vec<Effect>, delta: StatusDelta, reason| {
        let schedule_problem = match reason {
            StopReason::BeingDeleted => None,
            StopReason::Suspended => schedule_problem(object),
            _ => effects.iter().rev().find_map(|e| match e {
                Effect::Event(ev) if ev.is_spec_problem() => Some(ev.clone()),
                _ => None,
            }),
        };
        Plan {
            effects,
            delta,
            decision: Decision::Stop(reason),
            next_schedule_time: None,
            wake_at: None,
            missed_slot: None,
            too_many_missed: false,
            superseded_slots: 0,
            run_now: None,
            schedule_problem,
        }
    };

    // 4. Conditions that stop the object until its spec changes.
    if object.being_deleted {
        return stop(effects, delta, StopReason::BeingDeleted);
    }
    let time_zone = spec.time_zone.as_deref();
    if let Some(zone) = time_zone
        && let Err(err) = schedule::load_location(zone)
    {
        effects.push(Effect::Event(events::unknown_time_zone(zone, &err)));
        return stop(effects, delta, StopReason::UnknownTimeZone);
    }
    if spec.suspend {
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
    let anchor = status.last_schedule_time.or(object.created).unwrap_or(now);
    let after = match deadline_start(now, spec.starting_deadline_seconds) {
        Some(earliest) => anchor.max(earliest),
        None => anchor,
    };
    // Nothing can be due before the anchor: a lastScheduleTime (or creation)
    // in the future, even at the end of time, only means waiting, as
    // upstream does; whether the schedule can fire at all is only asked
    // of a window that is open.
    let window = if after > now {
        schedule::Window::EMPTY
    } else {
        match sched.window(anchor, after, now) {
            Ok(w) => w,
            Err(schedule::NeverFires) => {
                effects.push(Effect::Event(events::invalid_schedule(schedule_text)));
                return stop(effects, delta, StopReason::InvalidSchedule);
            }
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
        let name = job_name(&object.name, slot);
        if name.len() > MAX_JOB_NAME_LEN {
            effects.push(Effect::Event(events::name_too_long(&name)));
            return stop(effects, delta, StopReason::NameTooLong);
        }
        let handled = status.last_schedule_time == Some(slot)
            || active.iter().any(|r| r.name.as_deref() == Some(&name));
        let policy = spec.concurrency_policy;
        if handled {
            decision = Decision::Wait;
        } else if policy == ConcurrencyPolicy::Forbid && !active.is_empty() {
            effects.push(Effect::Event(events::job_already_active()));
            decision = Decision::Skip {
                slot,
                reason: SkipReason::ConcurrencyForbid,
            };
        } else if owned.iter().any(|j| j.name == name && j.finished.is_some()) {
            delta.last_schedule_time = Some(slot);
            decision = Decision::Skip {
                slot,
                reason: SkipReason::NameTaken,
            };
        } else {
            if policy == ConcurrencyPolicy::Replace {
                for r in &active {
                    effects.push(Effect::Delete(JobDeletion {
                        name: r.name.clone().unwrap_or_default(),
                        uid: r.uid.clone(),
                        purpose: DeletePurpose::Replace,
                    }));
                }
            }
            let job = job_for_slot(object, slot, &name);
            effects.push(Effect::Create(Box::new(JobCreation {
                job,
                slot,
                trigger: Trigger::Schedule,
            })));
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
        run_now: None,
        schedule_problem: None,
    }
}

/// Why the object's time zone or schedule cannot run, asked of a suspended
/// object too (its `ScheduleValid` condition): the event the sync would
/// emit once resumed.
fn schedule_problem(object: &Scheduled) -> Option<PlannedEvent> {
    let spec = &object.spec;
    if let Some(zone) = spec.time_zone.as_deref()
        && let Err(err) = schedule::load_location(zone)
    {
        return Some(events::unknown_time_zone(zone, &err));
    }
    let effective = schedule::effective_spec(&spec.schedule, spec.time_zone.as_deref());
    match Schedule::parse_standard(&effective.spec) {
        Err(err) => Some(events::unparseable_schedule(
            &spec.schedule,
            &err.to_string(),
        )),
        Ok(_) => None,
    }
}

/// How many steps [`next_slot_after`] follows a sequence that does not
/// pass `now` at once (robfig's `Next` can step back after a fall-back
/// transition); far more than any zone's rules need.
const MAX_CATCH_UP_STEPS: usize = 1000;

/// The first slot after `now` in the sequence that starts at `anchor`:
/// never a time at or before `now`, so a timer can never be set in the past.
pub fn next_slot_after(sched: &Schedule, anchor: Timestamp, now: Timestamp) -> Option<Timestamp> {
    let start = if anchor > now {
        anchor
    } else {
        let latest = sched.window(anchor, anchor, now).ok()?.latest;
        latest.unwrap_or(anchor)
    };
    std::iter::successors(sched.next(start), |t| sched.next(*t))
        .take(MAX_CATCH_UP_STEPS)
        .find(|t| *t > now)
}

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;
