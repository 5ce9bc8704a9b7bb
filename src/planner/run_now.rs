//! Run now: the annotation `kronjob.dev/run-now: <token>` asks for one
//! immediate run per distinct token (`shared/spec/kronjob-api.md`).
//!
//! The Job's name is derived from the token, so a request is run at most
//! once whatever restarts, failovers or re-syncs happen between the create
//! and the write that records the token as handled (a second create finds
//! the first Job: AlreadyExists). concurrencyPolicy applies as to a slot;
//! a suspended object refuses the request. Refused requests are recorded
//! too, and never retried.

use jiff::{SignedDuration, Timestamp};

use super::jobs::{MAX_JOB_NAME_LEN, job_from_template};
use super::{DeletePurpose, Effect, JobCreation, JobDeletion, Plan, StatusDelta, Trigger, events};
use crate::model::{ConcurrencyPolicy, Scheduled};

/// What a sync did with a pending request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// A Job of this name is created.
    Run { job_name: String },
    /// Not run, and recorded as handled.
    Refused { reason: String },
    /// A slot's Job is created in this sync; the request is handled in the
    /// next one (one Job per sync), which this sync's status write wakes.
    Deferred,
}

/// The Job name for a request: `<name>-m<9 hex digits of the token's
/// hash>`. It can never be a slot's name (those end in `-<digits>`), and a
/// 52-character name (the most the API allows) still fits 63 characters.
pub fn manual_job_name(owner: &str, token: &str) -> String {
    // FNV-1a: stable across versions and platforms, unlike std's hasher.
    let hash = token.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    });
    format!("{owner}-m{:09x}", hash >> 28)
}

/// Adds the request's effects to `plan`, if a request is pending.
pub fn handle(plan: &mut Plan, object: &Scheduled, now: Timestamp) {
    let Some(token) = object.run_now.as_deref() else {
        return;
    };
    if object.status.run_now_token.as_deref() == Some(token) || object.being_deleted {
        return;
    }
    if plan.creation().is_some() {
        plan.run_now = Some(Outcome::Deferred);
        // The status write of this sync wakes the next one; a timer a
        // second away makes sure (none at the end of time).
        if let Ok(soon) = now.checked_add(SignedDuration::from_secs(1)) {
            plan.wake_at = Some(plan.wake_at.map_or(soon, |w| w.min(soon)));
        }
        return;
    }
    let name = manual_job_name(&object.name, token);
    let active = plan.status_if_successful(object).active;
    let refusal = if object.spec.suspend {
        Some("the object is suspended".to_string())
    } else if name.len() > MAX_JOB_NAME_LEN {
        Some(format!(
            "job name {name:?} would be longer than {MAX_JOB_NAME_LEN} characters"
        ))
    } else if object.spec.concurrency_policy == ConcurrencyPolicy::Forbid && !active.is_empty() {
        let names: Vec<&str> = active.iter().filter_map(|r| r.name.as_deref()).collect();
        Some(format!(
            "concurrencyPolicy is Forbid and {} still active",
            names.join(", ")
        ))
    } else {
        None
    };
    if let Some(reason) = refusal {
        plan.effects
            .push(Effect::Event(events::run_now_refused(token, &reason)));
        plan.delta.merge(StatusDelta {
            run_now_token: Some(token.to_string()),
            ..Default::default()
        });
        plan.run_now = Some(Outcome::Refused { reason });
        return;
    }
    if object.spec.concurrency_policy == ConcurrencyPolicy::Replace {
        for r in &active {
            plan.effects.push(Effect::Delete(JobDeletion {
                name: r.name.clone().unwrap_or_default(),
                uid: r.uid.clone(),
                purpose: DeletePurpose::Replace,
            }));
        }
    }
    let job = job_from_template(object, now, &name, true);
    plan.effects.push(Effect::Create(Box::new(JobCreation {
        job,
        slot: now,
        trigger: Trigger::RunNow(token.to_string()),
    })));
    plan.run_now = Some(Outcome::Run { job_name: name });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_names_fit_and_never_look_like_slots() {
        let name = manual_job_name(&"a".repeat(52), "2026-12-01T10:00:00Z");
        assert_eq!(name.len(), 63);
        let suffix = name.rsplit('-').next().unwrap();
        assert!(suffix.starts_with('m') && suffix.len() == 10, "{name}");
        assert_eq!(
            manual_job_name("x", "token"),
            manual_job_name("x", "token"),
            "the same token, the same Job"
        );
        assert_ne!(
            manual_job_name("x", "token"),
            manual_job_name("x", "token2")
        );
    }
}
