//! The Events a sync emits: reasons and message texts identical to
//! upstream's CronJob controller, so `kubectl describe` and alerting on
//! reasons keep working when kronjob replaces it.

use serde::Serialize;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub enum EventType {
    Normal,
    Warning,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PlannedEvent {
    #[serde(rename = "type")]
    pub type_: EventType,
    pub reason: &'static str,
    pub message: String,
}

impl PlannedEvent {
    fn normal(reason: &'static str, message: String) -> Self {
        PlannedEvent {
            type_: EventType::Normal,
            reason,
            message,
        }
    }
    fn warning(reason: &'static str, message: String) -> Self {
        PlannedEvent {
            type_: EventType::Warning,
            reason,
            message,
        }
    }

    /// Warnings about the CronJob's own spec; they repeat until the spec
    /// changes, so the controller reports each once per spec generation.
    pub fn is_spec_problem(&self) -> bool {
        matches!(
            self.reason,
            "UnparseableSchedule"
                | "InvalidSchedule"
                | "UnknownTimeZone"
                | "UnsupportedSchedule"
                | "NameTooLong"
        )
    }
}

pub fn successful_create(job: &str) -> PlannedEvent {
    PlannedEvent::normal("SuccessfulCreate", format!("Created job {job}"))
}
pub fn failed_create(err: &str) -> PlannedEvent {
    PlannedEvent::warning("FailedCreate", format!("Error creating job: {err}"))
}
pub fn successful_delete(job: &str) -> PlannedEvent {
    PlannedEvent::normal("SuccessfulDelete", format!("Deleted job {job}"))
}
pub fn failed_delete(err: &str) -> PlannedEvent {
    PlannedEvent::warning("FailedDelete", format!("Deleted job: {err}"))
}
pub fn failed_get(err: &str) -> PlannedEvent {
    PlannedEvent::warning("FailedGet", format!("Get job: {err}"))
}
pub fn saw_completed_job(job: &str, condition: &str) -> PlannedEvent {
    PlannedEvent::normal(
        "SawCompletedJob",
        format!("Saw completed job: {job}, condition: {condition}"),
    )
}
pub fn missing_job(job: &str) -> PlannedEvent {
    PlannedEvent::normal("MissingJob", format!("Active job went missing: {job}"))
}
pub fn unexpected_job(job: &str) -> PlannedEvent {
    PlannedEvent::warning(
        "UnexpectedJob",
        format!("Saw a job that the controller did not create or forgot: {job}"),
    )
}
pub fn job_already_active() -> PlannedEvent {
    PlannedEvent::normal(
        "JobAlreadyActive",
        "Not starting job because prior execution is running and concurrency policy is Forbid"
            .into(),
    )
}
pub fn unknown_time_zone(zone: &str, err: &str) -> PlannedEvent {
    PlannedEvent::warning(
        "UnknownTimeZone",
        format!("invalid timeZone: {}: {err}", go_quote(zone)),
    )
}
pub fn unparseable_schedule(schedule: &str, err: &str) -> PlannedEvent {
    PlannedEvent::warning(
        "UnparseableSchedule",
        format!("unparseable schedule: {} : {err}", go_quote(schedule)),
    )
}
pub fn invalid_schedule(schedule: &str) -> PlannedEvent {
    PlannedEvent::warning(
        "InvalidSchedule",
        format!(
            "invalid schedule: {schedule} : time difference between two schedules is less than 1 second"
        ),
    )
}
pub fn unsupported_schedule(schedule: &str) -> PlannedEvent {
    PlannedEvent::warning(
        "UnsupportedSchedule",
        format!(
            "CRON_TZ or TZ used in schedule {} is not officially supported, see https://kubernetes.io/docs/concepts/workloads/controllers/cron-jobs/ for more details",
            go_quote(schedule)
        ),
    )
}
/// Not an upstream reason: upstream relies on the API server's 52-character
/// limit on CronJob names, which a manifest given to `explain` or another
/// kind need not have passed.
pub fn name_too_long(job: &str) -> PlannedEvent {
    PlannedEvent::warning(
        "NameTooLong",
        format!(
            "job name {} would be longer than {} characters: shorten the name to at most 52 characters",
            go_quote(job),
            super::MAX_JOB_NAME_LEN
        ),
    )
}
pub fn too_many_missed_times() -> PlannedEvent {
    PlannedEvent::warning(
        "TooManyMissedTimes",
        "too many missed start times. Set or decrease .spec.startingDeadlineSeconds or check clock skew".into(),
    )
}

/// Not an upstream reason: an object kronjob cannot read is reported on
/// itself and skipped (`resource` is `cronjobs` or `jobs`).
pub fn undecodable(resource: &str, problem: &str) -> PlannedEvent {
    let what = match resource {
        "jobs" => "this Job's fields (each is taken as absent)",
        _ => "this object; it is not scheduled until it changes",
    };
    PlannedEvent::warning(
        "Undecodable",
        format!("kronjob cannot read {what}: {problem}"),
    )
}
/// Not an upstream reason: a sync that panicked (a bug in kronjob) failed
/// for this object only, which is retried with backoff.
pub fn sync_panicked(message: &str) -> PlannedEvent {
    PlannedEvent::warning(
        "SyncPanicked",
        format!(
            "kronjob hit an internal error syncing this object and retries with backoff: {message}"
        ),
    )
}

/// Not an upstream reason: a run-now request that is not run (recorded as
/// handled, never retried).
pub fn run_now_refused(token: &str, reason: &str) -> PlannedEvent {
    PlannedEvent::warning(
        "RunNowRefused",
        format!("run-now request {} refused: {reason}", go_quote(token)),
    )
}

/// Not an upstream reason: a Job of a CronJob kronjob serves that another
/// controller made for a slot.
pub fn foreign_job(job: &str, creator: &str) -> PlannedEvent {
    PlannedEvent::warning(
        "ForeignJob",
        format!(
            "job {job} was created by {} for a slot, not by kronjob: another CronJob controller (the built-in one?) serves this CronJob too, so slots may run twice. Turn it off (kube-controller-manager --controllers=*,-cronjob-controller) or let kronjob serve only KronJobs (--serve kronjobs)",
            go_quote(creator)
        ),
    )
}

/// Go's `%q` for strings: double-quoted with Go escapes, so messages that
/// quote user input read exactly as upstream's.
pub fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len().saturating_add(2));
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\u{b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c if c.is_control() => {
                let v = c as u32;
                if v <= 0xffff {
                    out.push_str(&format!("\\u{v:04x}"));
                } else {
                    out.push_str(&format!("\\U{v:08x}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_quote_matches_go_percent_q() {
        assert_eq!(go_quote("*/5 * * * *"), "\"*/5 * * * *\"");
        assert_eq!(go_quote("a\"b\\c"), "\"a\\\"b\\\\c\"");
        assert_eq!(go_quote("x\ty\n"), "\"x\\ty\\n\"");
        assert_eq!(go_quote("\u{1}"), "\"\\x01\"");
        assert_eq!(go_quote("Europe/Zürich"), "\"Europe/Zürich\"");
    }

    #[test]
    fn messages_match_upstream() {
        assert_eq!(
            successful_create("hello-29000000").message,
            "Created job hello-29000000"
        );
        assert_eq!(
            saw_completed_job("hello-1", "Complete").message,
            "Saw completed job: hello-1, condition: Complete"
        );
        assert_eq!(
            unparseable_schedule("bad", "expected exactly 5 fields, found 1: [bad]").message,
            "unparseable schedule: \"bad\" : expected exactly 5 fields, found 1: [bad]"
        );
        assert_eq!(
            unknown_time_zone("Mars/Olympus", "unknown time zone Mars/Olympus").message,
            "invalid timeZone: \"Mars/Olympus\": unknown time zone Mars/Olympus"
        );
        assert!(unsupported_schedule("TZ=UTC * * * * *").is_spec_problem());
        assert!(!job_already_active().is_spec_problem());
    }
}
