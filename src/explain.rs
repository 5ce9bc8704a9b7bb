//! `kronjob explain`: what one sync would do now, and why, from the same
//! planner the controller runs, on objects read by the same adapters.
//! Offline (`--file`, `--jobs`) the given Jobs are the whole truth; online
//! it reads the KronJob or CronJob and its Jobs.
//!
//! Files are bounded before they reach the YAML parser: their size (an API
//! object is at most 1.5 MiB, etcd's limit) and the nesting of flow
//! collections, on which the parser takes time quadratic in the depth
//! (20 000 nested `[` took 12 s). Block nesting needs no check of its own:
//! each level costs its indentation, so the size cap bounds it, and the
//! parser refuses more than 128 levels in linear time.

use std::io::Read as _;
use std::path::Path;

use jiff::Timestamp;
use serde::Serialize;

use crate::model::{Finished, JobFacts, Kind, LastRun, Scheduled};
use crate::objects::job::DecodedJob;
use crate::objects::{cronjob, kronjob, time};
use crate::planner::run_now::Outcome;
use crate::planner::{self, Decision, Observed, Plan, PlannedEvent, SkipReason, StopReason};
use crate::schedule::{self, Schedule};

/// The largest `--file` read: more than any API object may be.
pub const MAX_OBJECT_BYTES: u64 = 4 << 20;
/// The largest `--jobs` read: a list of some thousands of Jobs.
pub const MAX_JOBS_BYTES: u64 = 64 << 20;
/// The deepest nesting of flow collections (`[...]`, `{...}`) read; the
/// YAML deserializer stops at 128 levels anyway, after parsing them all.
pub const MAX_FLOW_DEPTH: usize = 100;

/// The JSON document `explain --output json` prints.
#[derive(Debug, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    /// create | wait | skip | stop
    pub action: &'static str,
    pub scheduled_time: Option<String>,
    pub job_name: Option<String>,
    pub delete_jobs: Vec<String>,
    pub events: Vec<PlannedEvent>,
    pub requeue_after_seconds: Option<f64>,
    pub next_schedule_time: Option<String>,
    pub status: StatusReport,
    /// CronJob or KronJob.
    pub kind: &'static str,
    /// A pending run-now request and what this sync does with it.
    pub run_now: Option<RunNowReport>,
}

#[derive(Debug, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct StatusReport {
    pub active: Vec<String>,
    pub last_schedule_time: Option<String>,
    pub last_successful_time: Option<String>,
    /// The rest is kept in a KronJob's status; for a CronJob kronjob
    /// computes it the same way, but the batch/v1 status has no field.
    pub last_failure_time: Option<String>,
    pub next_schedule_time: Option<String>,
    pub last_run: Option<LastRunReport>,
    pub run_now_token: Option<String>,
    /// Conditions (KronJob only; empty for a CronJob).
    pub conditions: Vec<ConditionReport>,
}

#[derive(Debug, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct LastRunReport {
    pub job_name: String,
    pub scheduled_time: Option<String>,
    /// Schedule or Manual.
    pub trigger: &'static str,
    pub start_time: Option<String>,
    pub completion_time: Option<String>,
    /// Running, Succeeded or Failed.
    pub result: &'static str,
}

#[derive(Debug, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ConditionReport {
    #[serde(rename = "type")]
    pub type_: String,
    pub status: String,
    pub reason: String,
    pub message: String,
}

#[derive(Debug, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RunNowReport {
    pub token: String,
    /// run | refused | deferred (after this sync's slot) | handled (already)
    pub action: &'static str,
    pub job_name: Option<String>,
    pub reason: Option<String>,
}

/// RFC3339 in UTC with whole seconds, as Kubernetes writes metav1.Time.
pub fn rfc3339(t: Timestamp) -> String {
    time::format(t)
}

/// Plan offline: Jobs absent from `jobs` but named in status.active are gone.
pub fn plan_offline(cronjob: &Scheduled, jobs: &[JobFacts], now: Timestamp) -> Plan {
    let lookups = planner::lookups_needed(cronjob, jobs);
    let observed = Observed {
        gone: lookups
            .unknown_active
            .iter()
            .filter_map(|r| r.uid.clone())
            .collect(),
    };
    planner::plan(cronjob, jobs, &observed, now)
}

pub fn report(cronjob: &Scheduled, plan: &Plan, now: Timestamp) -> Report {
    let status = plan.status_if_successful(cronjob);
    let (action, scheduled_time, job_name) = match &plan.decision {
        Decision::Create { slot, job_name } => {
            ("create", Some(rfc3339(*slot)), Some(job_name.clone()))
        }
        Decision::Wait => ("wait", None, None),
        Decision::Skip { slot, .. } => ("skip", Some(rfc3339(*slot)), None),
        Decision::Stop(_) => ("stop", None, None),
    };
    Report {
        action,
        scheduled_time,
        job_name,
        delete_jobs: plan.deletions().map(|d| d.name.clone()).collect(),
        events: plan.events_if_successful(),
        requeue_after_seconds: plan
            .wake_at
            .map(|w| (w.duration_since(now).as_secs_f64().max(0.0) * 1000.0).round() / 1000.0),
        next_schedule_time: plan.next_schedule_time.map(rfc3339),
        status: StatusReport {
            active: status.active.into_iter().filter_map(|r| r.name).collect(),
            last_schedule_time: status.last_schedule_time.map(rfc3339),
            last_successful_time: status.last_successful_time.map(rfc3339),
            last_failure_time: status.last_failure_time.map(rfc3339),
            next_schedule_time: status.next_schedule_time.map(rfc3339),
            last_run: status.last_run.as_ref().map(last_run_report),
            run_now_token: status.run_now_token.clone(),
            conditions: match cronjob.kind {
                Kind::KronJob => status
                    .conditions
                    .iter()
                    .map(|c| ConditionReport {
                        type_: c.type_.clone(),
                        status: c.status.clone(),
                        reason: c.reason.clone(),
                        message: c.message.clone(),
                    })
                    .collect(),
                Kind::CronJob => Vec::new(),
            },
        },
        kind: cronjob.kind.kind(),
        run_now: run_now_report(cronjob, plan),
    }
}

fn last_run_report(run: &LastRun) -> LastRunReport {
    LastRunReport {
        job_name: run.job_name.clone(),
        scheduled_time: run.scheduled_time.map(rfc3339),
        trigger: if run.manual { "Manual" } else { "Schedule" },
        start_time: run.start_time.map(rfc3339),
        completion_time: run.completion_time.map(rfc3339),
        result: match run.result {
            None => "Running",
            Some(Finished::Complete) => "Succeeded",
            Some(Finished::Failed) => "Failed",
        },
    }
}

fn run_now_report(object: &Scheduled, plan: &Plan) -> Option<RunNowReport> {
    let token = object.run_now.clone()?;
    let (action, job_name, reason) = match &plan.run_now {
        Some(Outcome::Run { job_name }) => ("run", Some(job_name.clone()), None),
        Some(Outcome::Refused { reason }) => ("refused", None, Some(reason.clone())),
        Some(Outcome::Deferred) => ("deferred", None, None),
        None => ("handled", None, None),
    };
    Some(RunNowReport {
        token,
        action,
        job_name,
        reason,
    })
}

/// The CronJob's schedule as the controller parses it, if it parses.
pub fn schedule_of(cronjob: &Scheduled) -> Option<Schedule> {
    let effective =
        schedule::effective_spec(&cronjob.spec.schedule, cronjob.spec.time_zone.as_deref());
    Schedule::parse_standard(&effective.spec).ok()
}

/// Up to `n` fire times after `from`, following the schedule's sequence.
pub fn upcoming(sched: &Schedule, first: Option<Timestamp>, n: usize) -> Vec<Timestamp> {
    std::iter::successors(first, |t| sched.next(*t))
        .take(n)
        .collect()
}

/// The plain-words explanation.
pub fn render_text(cronjob: &Scheduled, plan: &Plan, now: Timestamp) -> String {
    use std::fmt::Write;
    let r = report(cronjob, plan, now);
    let spec = &cronjob.spec;
    let mut out = String::new();
    let ns = match cronjob.namespace.as_str() {
        "" => "default",
        ns => ns,
    };
    let _ = writeln!(out, "{} {ns}/{}", cronjob.kind.kind(), cronjob.name);
    let _ = writeln!(
        out,
        "  schedule {:?} in time zone {}, concurrencyPolicy {}, startingDeadlineSeconds {}",
        spec.schedule,
        spec.time_zone
            .as_deref()
            .unwrap_or("UTC (controller default)"),
        spec.concurrency_policy.as_str(),
        spec.starting_deadline_seconds
            .map_or("unset".to_string(), |d| d.to_string()),
    );
    let _ = writeln!(out, "  now {}", rfc3339(now));
    let _ = writeln!(out);
    let last = cronjob
        .status
        .last_schedule_time
        .map(|t| format!("the last scheduled run at {}", rfc3339(t)))
        .unwrap_or_else(|| "the CronJob's creation (it has never run)".to_string());
    let decision = match &plan.decision {
        Decision::Create { slot, job_name } => format!(
            "RUN NOW: the slot {} is due (the most recent slot since {last}{}), so kronjob creates Job {job_name}.",
            rfc3339(*slot),
            spec.starting_deadline_seconds.map_or(String::new(), |d| format!(", within the {d}s starting deadline")),
        ),
        Decision::Skip { slot, reason: SkipReason::ConcurrencyForbid } => format!(
            "SKIP: the slot {} is due, but concurrencyPolicy is Forbid and {} still active. It runs when they finish, if still inside the starting deadline.",
            rfc3339(*slot),
            plural_jobs(&r.status.active),
        ),
        Decision::Skip { slot, reason: SkipReason::NameTaken } => format!(
            "SKIP: the slot {} is due, but Job names have minute resolution and this minute's Job already ran; the slot is recorded as handled.",
            rfc3339(*slot),
        ),
        Decision::Wait => match plan.missed_slot {
            Some(missed) => format!(
                "WAIT: the most recent slot {} is older than startingDeadlineSeconds ({}s) and will not run; nothing else is due since {last}.",
                rfc3339(missed),
                spec.starting_deadline_seconds.unwrap_or(0),
            ),
            None => format!("WAIT: no slot is due since {last} that has not been handled."),
        },
        Decision::Stop(reason) => match reason {
            StopReason::Suspended => "STOPPED: spec.suspend is true; no Jobs are created and no timer is set until it is resumed.".into(),
            StopReason::BeingDeleted => "STOPPED: the CronJob is being deleted; its Jobs are garbage-collected.".into(),
            StopReason::UnknownTimeZone => "STOPPED: spec.timeZone is not a time zone kronjob knows; fix it to resume.".into(),
            StopReason::UnparseableSchedule => "STOPPED: the schedule cannot be parsed; fix it to resume.".into(),
            StopReason::InvalidSchedule => "STOPPED: the schedule can never fire (e.g. February 30th); fix it to resume.".into(),
            StopReason::NameTooLong => format!("STOPPED: the name is too long for its Jobs' names (<name>-<minutes> must fit {} characters).", planner::MAX_JOB_NAME_LEN),
        },
    };
    let _ = writeln!(out, "{decision}");
    if let Some(w) = r.requeue_after_seconds {
        let _ = writeln!(
            out,
            "Next wake-up in {w:.3}s, at {}.",
            r.next_schedule_time.as_deref().unwrap_or("?")
        );
    } else {
        let _ = writeln!(out, "No timer is set: a change to the CronJob wakes it.");
    }
    if !r.delete_jobs.is_empty() {
        let _ = writeln!(
            out,
            "Jobs deleted by this sync: {}",
            r.delete_jobs.join(", ")
        );
    }
    if !r.events.is_empty() {
        let _ = writeln!(out, "\nEvents this sync emits:");
        for e in &r.events {
            let _ = writeln!(out, "  {:?} {}: {}", e.type_, e.reason, e.message);
        }
    }
    let _ = writeln!(out, "\nStatus after this sync:");
    let _ = writeln!(
        out,
        "  active: {}",
        if r.status.active.is_empty() {
            "none".into()
        } else {
            r.status.active.join(", ")
        }
    );
    let _ = writeln!(
        out,
        "  lastScheduleTime: {}",
        r.status.last_schedule_time.as_deref().unwrap_or("never")
    );
    let _ = writeln!(
        out,
        "  lastSuccessfulTime: {}",
        r.status.last_successful_time.as_deref().unwrap_or("never")
    );
    let _ = writeln!(
        out,
        "  lastFailureTime: {}",
        r.status.last_failure_time.as_deref().unwrap_or("never")
    );
    let _ = writeln!(
        out,
        "  nextScheduleTime: {}",
        r.status.next_schedule_time.as_deref().unwrap_or("none")
    );
    let _ = writeln!(
        out,
        "  lastRun: {}",
        r.status
            .last_run
            .as_ref()
            .map_or("none".to_string(), |l| format!(
                "Job {} ({}, scheduled {}): {}",
                l.job_name,
                l.trigger,
                l.scheduled_time.as_deref().unwrap_or("?"),
                l.result
            ))
    );
    for c in &r.status.conditions {
        let _ = writeln!(
            out,
            "  condition {}={} ({}){}",
            c.type_,
            c.status,
            c.reason,
            if c.message.is_empty() {
                String::new()
            } else {
                format!(": {}", c.message)
            }
        );
    }
    if cronjob.kind == Kind::CronJob {
        let _ = writeln!(
            out,
            "  (a CronJob's status holds only active, lastScheduleTime and lastSuccessfulTime)"
        );
    }
    if let Some(rn) = &r.run_now {
        let what = match rn.action {
            "run" => format!("runs now as Job {}", rn.job_name.as_deref().unwrap_or("?")),
            "refused" => format!("refused: {}", rn.reason.as_deref().unwrap_or("?")),
            "deferred" => "runs in the next sync (this one creates a slot's Job)".into(),
            _ => "already handled".into(),
        };
        let _ = writeln!(out, "\nRun-now request {:?}: {what}.", rn.token);
    }
    if let Some(sched) = schedule_of(cronjob) {
        let first = plan.next_schedule_time.or_else(|| sched.next(now));
        let times = upcoming(&sched, first, 5);
        let _ = writeln!(
            out,
            "\nNext {} fire times{}:",
            times.len(),
            if matches!(plan.decision, Decision::Stop(_)) {
                " (none run while stopped)"
            } else {
                ""
            }
        );
        for t in times {
            let _ = writeln!(out, "  {}", sched.location().format_rfc3339(t));
        }
    }
    out
}

fn plural_jobs(active: &[String]) -> String {
    match active {
        [one] => format!("Job {one} is"),
        many => format!("Jobs {} are", many.join(", ")),
    }
}

/// Read a file of at most `max` bytes as text, with clear errors.
pub fn read_limited(path: &Path, max: u64) -> anyhow::Result<String> {
    use anyhow::Context as _;
    let file = std::fs::File::open(path).with_context(|| format!("reading {}", path.display()))?;
    let mut bytes = Vec::new();
    file.take(max.saturating_add(1))
        .read_to_end(&mut bytes)
        .with_context(|| format!("reading {}", path.display()))?;
    if u64::try_from(bytes.len()).unwrap_or(u64::MAX) > max {
        anyhow::bail!(
            "{} is larger than {} MiB: not an object kronjob explains",
            path.display(),
            max >> 20
        );
    }
    String::from_utf8(bytes)
        .map_err(|e| anyhow::anyhow!("{} is not UTF-8 text: {e}", path.display()))
}

/// Read one CronJob or KronJob from YAML or JSON, as the controller's
/// adapter for its kind reads it.
pub fn parse_object(text: &str) -> Result<Scheduled, String> {
    let docs = yaml_documents(text)?;
    let mut docs = docs.into_iter().filter(|d| !d.is_null());
    let doc = docs.next().ok_or("the file holds no document")?;
    if docs.next().is_some() {
        return Err("the file must hold exactly one CronJob or KronJob".into());
    }
    match doc.get("kind").and_then(|k| k.as_str()).unwrap_or("") {
        "CronJob" => {
            cronjob::decode(&doc).map_err(|e| format!("not a valid batch/v1 CronJob: {e}"))
        }
        "KronJob" => kronjob::decode(&doc).map_err(|e| format!("not a valid KronJob: {e}")),
        kind => Err(format!("expected kind CronJob or KronJob, found {kind:?}")),
    }
}

/// Read Jobs from a `List`/`JobList` or a multi-document YAML stream.
pub fn parse_jobs(text: &str) -> Result<Vec<JobFacts>, String> {
    let decode = |doc: serde_json::Value| -> Result<JobFacts, String> {
        let decoded: DecodedJob =
            serde_json::from_value(doc).map_err(|e| format!("not a valid Job: {e}"))?;
        match decoded.problems.first() {
            Some(p) => Err(format!("Job {:?}: {p}", decoded.facts.name)),
            None => Ok(decoded.facts),
        }
    };
    let mut jobs = Vec::new();
    for doc in yaml_documents(text)?.into_iter().filter(|d| !d.is_null()) {
        let kind = doc
            .get("kind")
            .and_then(|k| k.as_str())
            .unwrap_or("")
            .to_string();
        if kind.ends_with("List") {
            let items = match doc.get("items") {
                None | Some(serde_json::Value::Null) => Vec::new(),
                Some(serde_json::Value::Array(items)) => items.clone(),
                Some(_) => return Err("the list's items must be a list".into()),
            };
            for item in items {
                jobs.push(decode(item)?);
            }
        } else if kind == "Job" {
            jobs.push(decode(doc)?);
        } else {
            return Err(format!("expected Job or List, found kind {kind:?}"));
        }
    }
    Ok(jobs)
}

fn yaml_documents(text: &str) -> Result<Vec<serde_json::Value>, String> {
    use serde::Deserialize;
    check_flow_depth(text, MAX_FLOW_DEPTH)?;
    serde_norway::Deserializer::from_str(text)
        .map(|d| serde_json::Value::deserialize(d).map_err(|e| format!("invalid YAML/JSON: {e}")))
        .collect()
}

/// Refuses text whose flow collections nest deeper than `max`, in one
/// linear pass, before the parser spends quadratic time on them. Quoted
/// scalars and comments are skipped where a YAML parser sees them (a
/// quote that opens a node, a `#` after white space); a bracket elsewhere
/// in block context (inside a plain scalar) opens nothing.
pub fn check_flow_depth(text: &str, max: usize) -> Result<(), String> {
    let b = text.as_bytes();
    let at = |i: usize| b.get(i).copied();
    let blank = |c: Option<u8>| matches!(c, None | Some(b' ' | b'\t' | b'\r' | b'\n'));
    let mut depth = 0usize;
    // May a node (scalar or collection) start here?
    let mut node_start = true;
    let mut i = 0usize;
    let mut line = 1usize;
    while let Some(c) = at(i) {
        let after_blank = i == 0 || blank(at(i.wrapping_sub(1)));
        match c {
            b'#' if after_blank => {
                while !matches!(at(i), None | Some(b'\n')) {
                    i += 1;
                }
                continue;
            }
            b'\n' => {
                line += 1;
                if depth == 0 {
                    node_start = true;
                }
            }
            b' ' | b'\t' | b'\r' => {}
            b'"' | b'\'' if node_start => {
                i += 1;
                while let Some(q) = at(i) {
                    match q {
                        b'\\' if c == b'"' => i += 1,
                        b'\'' if c == b'\'' && at(i + 1) == Some(b'\'') => i += 1,
                        q if q == c => break,
                        b'\n' => line += 1,
                        _ => {}
                    }
                    i += 1;
                }
                node_start = false;
            }
            b'[' | b'{' if node_start || depth > 0 => {
                depth += 1;
                if depth > max {
                    return Err(format!(
                        "invalid YAML/JSON: collections nested deeper than {max} levels at line {line}"
                    ));
                }
                node_start = true;
            }
            b']' | b'}' if depth > 0 => {
                depth -= 1;
                node_start = false;
            }
            b',' if depth > 0 => node_start = true,
            b':' => node_start = depth > 0 || blank(at(i + 1)),
            b'-' | b'?' if node_start => node_start = blank(at(i + 1)),
            // Tags and anchors precede a node: it may still start after them.
            b'!' | b'&' if node_start => {
                while !blank(at(i + 1))
                    && !matches!(at(i + 1), Some(b',' | b'[' | b']' | b'{' | b'}'))
                {
                    i += 1;
                }
            }
            _ => node_start = false,
        }
        i += 1;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const CRONJOB: &str = r#"
apiVersion: batch/v1
kind: CronJob
metadata:
  name: hello
  namespace: team-a
  uid: cj-uid
  creationTimestamp: "2026-01-05T09:58:00Z"
spec:
  schedule: "*/5 * * * *"
  concurrencyPolicy: Forbid
  jobTemplate:
    spec:
      template:
        spec:
          containers: [{name: c, image: busybox}]
          restartPolicy: Never
status:
  active:
  - {apiVersion: batch/v1, kind: Job, name: hello-29460115, namespace: team-a, uid: j1}
  lastScheduleTime: "2026-01-05T09:55:00Z"
"#;

    const RUNNING_JOB: &str = r#"
apiVersion: v1
kind: List
items:
- apiVersion: batch/v1
  kind: Job
  metadata:
    name: hello-29460115
    namespace: team-a
    uid: j1
    ownerReferences: [{apiVersion: batch/v1, kind: CronJob, name: hello, uid: cj-uid, controller: true}]
"#;

    #[test]
    fn offline_forbid_with_running_job_skips() {
        let cj = parse_object(CRONJOB).unwrap();
        let jobs = parse_jobs(RUNNING_JOB).unwrap();
        let now: Timestamp = "2026-01-05T10:00:00Z".parse().unwrap();
        let r = report(&cj, &plan_offline(&cj, &jobs, now), now);
        assert_eq!(r.action, "skip");
        assert_eq!(r.scheduled_time.as_deref(), Some("2026-01-05T10:00:00Z"));
        assert_eq!(r.events[0].reason, "JobAlreadyActive");
        assert_eq!(r.requeue_after_seconds, Some(300.0));
        assert_eq!(r.status.active, ["hello-29460115"]);
    }

    #[test]
    fn offline_absent_active_job_is_gone() {
        let cj = parse_object(CRONJOB).unwrap();
        let now: Timestamp = "2026-01-05T10:00:00Z".parse().unwrap();
        let r = report(&cj, &plan_offline(&cj, &[], now), now);
        assert_eq!(r.action, "create");
        let reasons: Vec<_> = r.events.iter().map(|e| e.reason).collect();
        assert_eq!(reasons, ["MissingJob", "SuccessfulCreate"]);
        assert_eq!(r.status.active, ["hello-29460120"]);
        assert_eq!(
            r.status.last_schedule_time.as_deref(),
            Some("2026-01-05T10:00:00Z")
        );
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["jobName"], "hello-29460120");
        assert_eq!(json["events"][0]["type"], "Normal");
        assert!(json["deleteJobs"].as_array().unwrap().is_empty());
    }

    #[test]
    fn text_explains_and_lists_five_fire_times() {
        let cj = parse_object(CRONJOB).unwrap();
        let jobs = parse_jobs(RUNNING_JOB).unwrap();
        let now: Timestamp = "2026-01-05T10:00:00Z".parse().unwrap();
        let text = render_text(&cj, &plan_offline(&cj, &jobs, now), now);
        assert!(
            text.contains(
                "SKIP: the slot 2026-01-05T10:00:00Z is due, but concurrencyPolicy is Forbid"
            ),
            "{text}"
        );
        assert!(
            text.contains("Next 5 fire times:\n  2026-01-05T10:05:00Z\n  2026-01-05T10:10:00Z"),
            "{text}"
        );
    }

    #[test]
    fn rejects_wrong_documents_clearly() {
        assert!(
            parse_object("kind: Job\n")
                .unwrap_err()
                .contains("expected kind CronJob")
        );
        assert!(parse_object("a: [").unwrap_err().contains("invalid YAML"));
        let two = format!("{CRONJOB}\n---\n{CRONJOB}");
        assert!(parse_object(&two).unwrap_err().contains("exactly one"));
        let stream = "kind: Job\napiVersion: batch/v1\nmetadata: {name: a}\n---\nkind: Job\napiVersion: batch/v1\nmetadata: {name: b}\n";
        assert_eq!(parse_jobs(stream).unwrap().len(), 2);
    }

    const KRONJOB: &str = r#"
apiVersion: kronjob.dev/v1alpha1
kind: KronJob
metadata:
  name: hello
  namespace: team-a
  uid: kj-uid
  generation: 2
  creationTimestamp: "2026-01-05T09:58:00Z"
  annotations: {kronjob.dev/run-now: "t2"}
spec:
  schedule: "*/5 * * * *"
  concurrencyPolicy: Forbid
  jobTemplate: {spec: {template: {spec: {containers: [{name: c, image: busybox}], restartPolicy: Never}}}}
status:
  lastScheduleTime: "2026-01-05T09:55:00Z"
  lastFailureTime: "2026-01-05T09:51:00Z"
  runNowToken: t1
"#;

    const FAILED_JOB: &str = r#"
kind: Job
apiVersion: batch/v1
metadata:
  name: hello-29460115
  namespace: team-a
  uid: j1
  ownerReferences: [{apiVersion: kronjob.dev/v1alpha1, kind: KronJob, name: hello, uid: kj-uid, controller: true}]
  annotations: {batch.kubernetes.io/cronjob-scheduled-timestamp: "2026-01-05T09:55:00Z"}
status:
  conditions: [{type: Failed, status: "True", lastTransitionTime: "2026-01-05T09:56:00Z"}]
"#;

    #[test]
    fn a_kronjob_with_its_new_facts_and_a_run_now_request() {
        let kj = parse_object(KRONJOB).unwrap();
        assert_eq!(kj.kind, Kind::KronJob);
        let jobs = parse_jobs(FAILED_JOB).unwrap();
        let now: Timestamp = "2026-01-05T09:57:00Z".parse().unwrap();
        let plan = plan_offline(&kj, &jobs, now);
        let r = report(&kj, &plan, now);
        assert_eq!(r.kind, "KronJob");
        let rn = r.run_now.as_ref().unwrap();
        assert_eq!((rn.token.as_str(), rn.action), ("t2", "run"));
        let job = rn.job_name.clone().unwrap();
        assert_eq!(job, planner::run_now::manual_job_name("hello", "t2"));
        assert_eq!(r.status.run_now_token.as_deref(), Some("t2"));
        assert_eq!(
            r.status.last_failure_time.as_deref(),
            Some("2026-01-05T09:56:00Z")
        );
        assert_eq!(
            r.status.next_schedule_time.as_deref(),
            Some("2026-01-05T10:00:00Z")
        );
        let last = r.status.last_run.as_ref().unwrap();
        assert_eq!(
            (last.job_name.as_str(), last.trigger, last.result),
            (job.as_str(), "Manual", "Running")
        );
        assert!(
            r.status
                .conditions
                .iter()
                .any(|c| c.type_ == "ScheduleValid" && c.status == "True")
        );
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["runNow"]["action"], "run");
        assert_eq!(json["status"]["lastRun"]["trigger"], "Manual");

        let text = render_text(&kj, &plan, now);
        for line in [
            "KronJob team-a/hello\n",
            "  lastFailureTime: 2026-01-05T09:56:00Z\n",
            "  nextScheduleTime: 2026-01-05T10:00:00Z\n",
            "  condition ScheduleValid=True",
            &format!("Run-now request \"t2\": runs now as Job {job}."),
        ] {
            assert!(text.contains(line), "{line:?} in\n{text}");
        }
    }

    #[test]
    fn a_refused_and_a_handled_run_now_request() {
        let kj = parse_object(&KRONJOB.replace(
            "concurrencyPolicy: Forbid",
            "concurrencyPolicy: Forbid\n  suspend: true",
        ))
        .unwrap();
        let now: Timestamp = "2026-01-05T09:57:00Z".parse().unwrap();
        let plan = plan_offline(&kj, &[], now);
        let r = report(&kj, &plan, now);
        let rn = r.run_now.unwrap();
        assert_eq!(
            (rn.action, rn.reason.as_deref()),
            ("refused", Some("the object is suspended"))
        );
        assert!(
            render_text(&kj, &plan, now)
                .contains("Run-now request \"t2\": refused: the object is suspended.")
        );

        let handled = parse_object(&KRONJOB.replace("runNowToken: t1", "runNowToken: t2")).unwrap();
        let r = report(&handled, &plan_offline(&handled, &[], now), now);
        assert_eq!(r.run_now.unwrap().action, "handled");
        let cj = parse_object(CRONJOB).unwrap();
        let r = report(&cj, &plan_offline(&cj, &[], now), now);
        assert_eq!((r.kind, r.run_now), ("CronJob", None));
        assert!(r.status.conditions.is_empty());
    }

    #[test]
    fn deep_nesting_is_refused_before_the_parser_sees_it() {
        // H1: 20 000 nested `[` took the parser 12 s.
        for deep in [
            "[".repeat(20_000),
            "{a: ".repeat(20_000),
            format!("kind: CronJob\nspec: {}", "[".repeat(200_000)),
        ] {
            let start = std::time::Instant::now();
            let err = parse_object(&deep).unwrap_err();
            assert!(err.contains("nested deeper than 100 levels"), "{err}");
            assert!(
                start.elapsed() < std::time::Duration::from_secs(1),
                "{:?}",
                start.elapsed()
            );
        }
        // Brackets inside quoted scalars, comments and plain scalars nest nothing.
        let brackets = "[".repeat(500);
        let fine = format!(
            "kind: CronJob\nmetadata: {{name: a, annotations: {{x: \"{brackets}\", y: '{brackets}'}}}}\n# {brackets}\nspec:\n  schedule: echo {brackets}\n  z: [\"]\", ']', \"\\\"]\"]\n"
        );
        assert_eq!(check_flow_depth(&fine, MAX_FLOW_DEPTH), Ok(()));
        assert_eq!(
            parse_object(&fine).unwrap().spec.schedule,
            format!("echo {brackets}")
        );
        // Quoted closers do not hide openers.
        let sneaky = "[ \"]\" ".repeat(200);
        assert!(check_flow_depth(&sneaky, MAX_FLOW_DEPTH).is_err());
        let tagged = "[ !t \"]\" ".repeat(200);
        assert!(check_flow_depth(&tagged, MAX_FLOW_DEPTH).is_err());
        // JSON (kubectl -o json) is flow style throughout: the object,
        // spec, four arrays, an object and an array are 8 levels.
        let json = serde_json::to_string_pretty(&serde_json::json!({"kind": "CronJob", "spec": {"schedule": "* * * * *", "a": [[[[{"b": [1]}]]]]}})).unwrap();
        assert_eq!(check_flow_depth(&json, 8), Ok(()));
        assert!(check_flow_depth(&json, 7).is_err());
    }

    #[test]
    fn deep_block_nesting_is_refused_clearly_and_quickly() {
        // Block nesting costs indentation: d levels take d²/2 bytes, so the
        // size cap bounds it (2 000 levels are 2 MB), and the parser stops
        // at 128 levels. 400 levels (80 kB) take milliseconds; the bound
        // leaves room for a loaded test machine.
        let mut deep = String::from("kind: CronJob\nspec:\n");
        for level in 1..=400 {
            deep += &format!("{}k:\n", " ".repeat(level));
        }
        assert!(deep.len() < MAX_OBJECT_BYTES as usize);
        let start = std::time::Instant::now();
        let err = parse_object(&deep).unwrap_err();
        assert!(
            err.starts_with("invalid YAML/JSON: recursion limit exceeded"),
            "{err}"
        );
        assert!(
            start.elapsed() < std::time::Duration::from_secs(3),
            "{:?}",
            start.elapsed()
        );
    }

    #[test]
    fn files_are_read_up_to_a_limit() {
        let dir = std::env::temp_dir().join(format!("kronjob-explain-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let small = dir.join("small.yaml");
        std::fs::write(&small, CRONJOB).unwrap();
        assert_eq!(read_limited(&small, MAX_OBJECT_BYTES).unwrap(), CRONJOB);
        let big = dir.join("big.yaml");
        std::fs::write(&big, vec![b'#'; 5 << 20]).unwrap();
        let err = read_limited(&big, MAX_OBJECT_BYTES)
            .unwrap_err()
            .to_string();
        assert!(err.contains("larger than 4 MiB"), "{err}");
        std::fs::write(&big, [0xff, 0xfe]).unwrap();
        assert!(
            read_limited(&big, MAX_OBJECT_BYTES)
                .unwrap_err()
                .to_string()
                .contains("not UTF-8")
        );
        let _ = std::fs::remove_dir_all(dir);
    }
}
