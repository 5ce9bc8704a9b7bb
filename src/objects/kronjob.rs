//! The `kronjob.dev/v1alpha1` KronJob adapter. Its spec is batch/v1's, read
//! by the same code ([`cronjob::decode_spec`]); its status is batch/v1's
//! plus what upstream never recorded (next slot, last failure, last run,
//! the run-now token, observed generation, conditions), all written here.

use serde_json::{Map, Value, json};

use super::cronjob::{self, batch_status_changes, guarded, set_time};
use super::fields::{self, FieldError};
use super::time;
use crate::model::{Condition, Finished, Kind, LastRun, Scheduled, Status};

/// A KronJob's JSON as the planner's model.
pub fn decode(v: &Value) -> Result<Scheduled, FieldError> {
    let mut status = cronjob::decode_status(v)?;
    let st = |key: &'static str| ["status", key];
    status.last_failure_time = fields::time(v, &st("lastFailureTime"))?;
    status.next_schedule_time = fields::time(v, &st("nextScheduleTime"))?;
    status.run_now_token = fields::string(v, &st("runNowToken"))?;
    status.observed_generation = fields::integer(v, &st("observedGeneration"))?;
    status.last_run = match fields::get(v, &st("lastRun")) {
        None => None,
        Some(run) => Some(decode_last_run(run)?),
    };
    status.conditions = fields::array(v, &st("conditions"))?
        .iter()
        .map(decode_condition)
        .collect::<Result<_, _>>()?;
    cronjob::decode_object(Kind::KronJob, v, status)
}

fn decode_last_run(run: &Value) -> Result<LastRun, FieldError> {
    let at = |e: FieldError| FieldError::new(&["status", "lastRun", &e.path], e.problem);
    let text = |key| fields::string(run, &[key]).map_err(at);
    let instant = |key| fields::time(run, &[key]).map_err(at);
    Ok(LastRun {
        job_name: text("jobName")?.unwrap_or_default(),
        scheduled_time: instant("scheduledTime")?,
        manual: text("trigger")?.as_deref() == Some("Manual"),
        start_time: instant("startTime")?,
        completion_time: instant("completionTime")?,
        result: match text("result")?.as_deref() {
            Some("Succeeded") => Some(Finished::Complete),
            Some("Failed") => Some(Finished::Failed),
            _ => None,
        },
    })
}

fn decode_condition(c: &Value) -> Result<Condition, FieldError> {
    let at = |e: FieldError| FieldError::new(&["status", "conditions", &e.path], e.problem);
    let text = |key| {
        fields::string(c, &[key])
            .map_err(at)
            .map(Option::unwrap_or_default)
    };
    Ok(Condition {
        type_: text("type")?,
        status: text("status")?,
        reason: text("reason")?,
        message: text("message")?,
        last_transition_time: fields::time(c, &["lastTransitionTime"]).map_err(at)?,
        observed_generation: fields::integer(c, &["observedGeneration"]).map_err(at)?,
    })
}

fn encode_last_run(run: &LastRun) -> Value {
    let t = |t: Option<jiff::Timestamp>| t.map(time::format);
    json!({
        "jobName": run.job_name,
        "scheduledTime": t(run.scheduled_time),
        "trigger": if run.manual { "Manual" } else { "Schedule" },
        "startTime": t(run.start_time),
        "completionTime": t(run.completion_time),
        "result": match run.result {
            None => "Running",
            Some(Finished::Complete) => "Succeeded",
            Some(Finished::Failed) => "Failed",
        },
    })
}

fn encode_condition(c: &Condition) -> Value {
    json!({
        "type": c.type_,
        "status": c.status,
        "reason": c.reason,
        "message": c.message,
        "lastTransitionTime": c.last_transition_time.map(time::format),
        "observedGeneration": c.observed_generation,
    })
}

/// A merge patch of every status field that differs, guarded by the
/// resourceVersion `before` was read at; None when nothing differs.
pub fn status_patch(
    resource_version: Option<&str>,
    before: &Status,
    after: &Status,
) -> Option<Value> {
    let mut status = Map::new();
    batch_status_changes(&mut status, before, after);
    if before.active.len() != after.active.len() || status.contains_key("active") {
        status.insert("activeCount".into(), json!(after.active.len()));
    }
    set_time(
        &mut status,
        "lastFailureTime",
        before.last_failure_time,
        after.last_failure_time,
    );
    set_time(
        &mut status,
        "nextScheduleTime",
        before.next_schedule_time,
        after.next_schedule_time,
    );
    if before.last_run != after.last_run {
        status.insert(
            "lastRun".into(),
            after.last_run.as_ref().map_or(Value::Null, encode_last_run),
        );
    }
    if before.run_now_token != after.run_now_token {
        status.insert("runNowToken".into(), json!(after.run_now_token));
    }
    if before.observed_generation != after.observed_generation {
        status.insert(
            "observedGeneration".into(),
            json!(after.observed_generation),
        );
    }
    if before.conditions != after.conditions {
        let list: Vec<Value> = after.conditions.iter().map(encode_condition).collect();
        status.insert("conditions".into(), Value::Array(list));
    }
    guarded(resource_version, status)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wire() -> Value {
        json!({
            "apiVersion": "kronjob.dev/v1alpha1", "kind": "KronJob",
            "metadata": {"name": "kj", "namespace": "ns", "uid": "u1", "resourceVersion": "7",
                         "generation": 4, "creationTimestamp": "2026-11-22T09:00:00Z",
                         "annotations": {"kronjob.dev/run-now": "t2"}},
            "spec": {"schedule": "*/5 * * * *", "concurrencyPolicy": "Replace",
                     "jobTemplate": {"spec": {"backoffLimit": 2}}},
            "status": {
                "lastScheduleTime": "2026-11-22T10:00:00Z",
                "lastFailureTime": "2026-11-22T09:55:30Z",
                "nextScheduleTime": "2026-11-22T10:05:00Z",
                "active": [{"name": "kj-1", "uid": "j1"}],
                "activeCount": 1,
                "runNowToken": "t1",
                "observedGeneration": 3,
                "lastRun": {"jobName": "kj-1", "scheduledTime": "2026-11-22T10:00:00Z",
                            "trigger": "Schedule", "startTime": "2026-11-22T10:00:01Z",
                            "result": "Running"},
                "conditions": [{"type": "ScheduleValid", "status": "True", "reason": "Valid",
                                "message": "", "lastTransitionTime": "2026-11-22T09:00:00Z",
                                "observedGeneration": 3}]
            }
        })
    }

    #[test]
    fn decodes_the_batch_fields_and_the_rest() {
        let s = decode(&wire()).unwrap();
        assert_eq!(s.kind, Kind::KronJob);
        assert_eq!(s.run_now.as_deref(), Some("t2"));
        assert_eq!(
            s.spec.concurrency_policy,
            crate::model::ConcurrencyPolicy::Replace
        );
        let st = &s.status;
        assert_eq!(st.active.len(), 1);
        assert_eq!(st.run_now_token.as_deref(), Some("t1"));
        assert_eq!(st.observed_generation, Some(3));
        assert_eq!(
            st.next_schedule_time,
            Some("2026-11-22T10:05:00Z".parse().unwrap())
        );
        let run = st.last_run.as_ref().unwrap();
        assert_eq!(
            (run.job_name.as_str(), run.manual, run.result),
            ("kj-1", false, None)
        );
        assert_eq!(st.conditions[0].type_, "ScheduleValid");
    }

    #[test]
    fn the_status_round_trips_through_a_patch() {
        let before = decode(&wire()).unwrap().status;
        let mut after = before.clone();
        after.last_run.as_mut().unwrap().result = Some(Finished::Failed);
        after.active.clear();
        after.run_now_token = Some("t2".into());
        let patch = status_patch(Some("7"), &before, &after).unwrap();
        let st = &patch["status"];
        assert_eq!(st["active"], Value::Null);
        assert_eq!(st["activeCount"], 0);
        assert_eq!(st["lastRun"]["result"], "Failed");
        assert_eq!(st["runNowToken"], "t2");
        assert!(
            st.get("nextScheduleTime").is_none(),
            "unchanged fields are left out"
        );
        let mut v = wire();
        for (k, val) in st.as_object().unwrap() {
            v["status"][k] = val.clone();
        }
        assert_eq!(decode(&v).unwrap().status, after);
        assert_eq!(status_patch(Some("7"), &after, &after), None);
    }
}
