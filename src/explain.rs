//! `kronjob explain`: what one sync would do now, and why, from the same
//! planner the controller runs, on objects read by the same adapters.
//! Offline (`--file`, `--jobs`) the given Jobs are the whole truth; online
//! it reads the CronJob and its Jobs.

use jiff::Timestamp;
use serde::Serialize;

use crate::model::{JobFacts, Scheduled};
use crate::objects::job::DecodedJob;
use crate::objects::{cronjob, time};
use crate::planner::{self, Decision, Observed, Plan, PlannedEvent, SkipReason, StopReason};
use crate::schedule::{self, Schedule};

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
}

#[derive(Debug, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct StatusReport {
    pub active: Vec<String>,
    pub last_schedule_time: Option<String>,
    pub last_successful_time: Option<String>,
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
        },
    }
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

/// Read one CronJob from YAML or JSON, as the controller's adapter reads it.
pub fn parse_cronjob(text: &str) -> Result<Scheduled, String> {
    let docs = yaml_documents(text)?;
    let mut docs = docs.into_iter().filter(|d| !d.is_null());
    let doc = docs.next().ok_or("the file holds no document")?;
    if docs.next().is_some() {
        return Err("the file must hold exactly one CronJob".into());
    }
    let kind = doc.get("kind").and_then(|k| k.as_str()).unwrap_or("");
    if kind != "CronJob" {
        return Err(format!("expected kind CronJob, found {kind:?}"));
    }
    cronjob::decode(&doc).map_err(|e| format!("not a valid batch/v1 CronJob: {e}"))
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
    serde_norway::Deserializer::from_str(text)
        .map(|d| serde_json::Value::deserialize(d).map_err(|e| format!("invalid YAML/JSON: {e}")))
        .collect()
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
        let cj = parse_cronjob(CRONJOB).unwrap();
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
        let cj = parse_cronjob(CRONJOB).unwrap();
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
        let cj = parse_cronjob(CRONJOB).unwrap();
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
            parse_cronjob("kind: Job\n")
                .unwrap_err()
                .contains("expected kind CronJob")
        );
        assert!(parse_cronjob("a: [").unwrap_err().contains("invalid YAML"));
        let two = format!("{CRONJOB}\n---\n{CRONJOB}");
        assert!(parse_cronjob(&two).unwrap_err().contains("exactly one"));
        let stream = "kind: Job\napiVersion: batch/v1\nmetadata: {name: a}\n---\nkind: Job\napiVersion: batch/v1\nmetadata: {name: b}\n";
        assert_eq!(parse_jobs(stream).unwrap().len(), 2);
    }
}
