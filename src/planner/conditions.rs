//! The conditions of a scheduled object (written by the kinds whose status
//! holds them): `ScheduleValid`, `Suspended`, `LastRunSucceeded`, with
//! Kubernetes' conventions (CamelCase reasons, a transition time that moves
//! only when the status does).

use crate::model::{Condition, Finished, LastRun};

use super::PlannedEvent;

/// What the conditions are made of, apart from the last run (which the
/// effects of the sync may change).
#[derive(Clone, Debug, PartialEq)]
pub struct Inputs {
    /// The Warning the sync reports about the schedule, time zone or name.
    pub schedule_problem: Option<PlannedEvent>,
    pub suspended: bool,
    pub generation: i64,
}

/// The conditions, without transition times.
pub fn conditions(inputs: &Inputs, last_run: Option<&LastRun>) -> Vec<Condition> {
    let condition = |type_: &str, status: &str, reason: &str, message: String| Condition {
        type_: type_.into(),
        status: status.into(),
        reason: reason.into(),
        message,
        last_transition_time: None,
        observed_generation: Some(inputs.generation),
    };
    let schedule = match &inputs.schedule_problem {
        None => condition("ScheduleValid", "True", "Valid", String::new()),
        Some(ev) => condition("ScheduleValid", "False", ev.reason, ev.message.clone()),
    };
    let suspended = if inputs.suspended {
        condition(
            "Suspended",
            "True",
            "Suspended",
            "spec.suspend is true: no slot runs".into(),
        )
    } else {
        condition("Suspended", "False", "NotSuspended", String::new())
    };
    let last = match last_run {
        None => condition("LastRunSucceeded", "Unknown", "NoRunYet", String::new()),
        Some(run) => match run.result {
            None => condition(
                "LastRunSucceeded",
                "Unknown",
                "JobRunning",
                format!("job {} is running", run.job_name),
            ),
            Some(Finished::Complete) => condition(
                "LastRunSucceeded",
                "True",
                "JobSucceeded",
                format!("job {} succeeded", run.job_name),
            ),
            Some(Finished::Failed) => condition(
                "LastRunSucceeded",
                "False",
                "JobFailed",
                format!("job {} failed", run.job_name),
            ),
        },
    };
    vec![schedule, suspended, last]
}
