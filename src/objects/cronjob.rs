//! The `batch/v1` CronJob adapter: its JSON into the planner's model, and
//! the planner's status changes back into a status patch (and, for the
//! run-now token its status has no field for, an annotation patch). The
//! spec, identity and batch/v1 status readers are shared with the KronJob
//! adapter, whose spec and status are supersets.

use jiff::Timestamp;
use k8s_openapi::api::core::v1::ObjectReference;
use serde_json::{Map, Value, json};

use super::fields::{self, FieldError};
use super::{Identity, time};
use crate::model::{
    ConcurrencyPolicy, DEFAULT_FAILED_JOBS_HISTORY_LIMIT, DEFAULT_SUCCESSFUL_JOBS_HISTORY_LIMIT,
    JobTemplate, Kind, RUN_NOW_ANNOTATION, RUN_NOW_HANDLED_ANNOTATION, Scheduled, Spec, Status,
};

/// A CronJob's JSON as the planner's model. Missing fields take the API
/// server's defaults; a field of the wrong type is an error naming it.
pub fn decode(v: &Value) -> Result<Scheduled, FieldError> {
    let mut status = decode_status(v)?;
    status.run_now_token =
        fields::string(v, &["metadata", "annotations", RUN_NOW_HANDLED_ANNOTATION])?;
    decode_object(Kind::CronJob, v, status)
}

/// Identity, spec and the run-now request of an object of `kind` with the
/// given (already decoded) status.
pub fn decode_object(kind: Kind, v: &Value, status: Status) -> Result<Scheduled, FieldError> {
    let id = Identity::of(v);
    Ok(Scheduled {
        kind,
        created: fields::time(v, &["metadata", "creationTimestamp"])?,
        being_deleted: fields::get(v, &["metadata", "deletionTimestamp"]).is_some(),
        run_now: fields::string(v, &["metadata", "annotations", RUN_NOW_ANNOTATION])?,
        spec: decode_spec(v)?,
        status,
        name: id.name,
        namespace: id.namespace,
        uid: id.uid,
        resource_version: id.resource_version,
        generation: id.generation,
    })
}

/// `spec` of a CronJob (and of anything with the same spec fields).
pub fn decode_spec(v: &Value) -> Result<Spec, FieldError> {
    let spec = |key| ["spec", key];
    let template = ["spec", "jobTemplate"];
    let template_spec = fields::get(v, &["spec", "jobTemplate", "spec"]);
    Ok(Spec {
        schedule: fields::string(v, &spec("schedule"))?.unwrap_or_default(),
        time_zone: fields::string(v, &spec("timeZone"))?,
        starting_deadline_seconds: fields::integer(v, &spec("startingDeadlineSeconds"))?,
        concurrency_policy: ConcurrencyPolicy::from_api(
            fields::string(v, &spec("concurrencyPolicy"))?.as_deref(),
        ),
        suspend: fields::boolean(v, &spec("suspend"))?.unwrap_or(false),
        successful_jobs_history_limit: fields::integer(v, &spec("successfulJobsHistoryLimit"))?
            .unwrap_or(DEFAULT_SUCCESSFUL_JOBS_HISTORY_LIMIT),
        failed_jobs_history_limit: fields::integer(v, &spec("failedJobsHistoryLimit"))?
            .unwrap_or(DEFAULT_FAILED_JOBS_HISTORY_LIMIT),
        job_template: JobTemplate {
            labels: fields::string_map(v, &[&template[..], &["metadata", "labels"]].concat())?,
            annotations: fields::string_map(
                v,
                &[&template[..], &["metadata", "annotations"]].concat(),
            )?,
            spec_json: match template_spec {
                Some(s) if !s.is_object() => {
                    return Err(FieldError::new(
                        &["spec", "jobTemplate", "spec"],
                        "expected an object",
                    ));
                }
                Some(s) => s.to_string().into_boxed_str(),
                None => "null".into(),
            },
        },
    })
}

/// The batch/v1 status fields (`active`, `lastScheduleTime`,
/// `lastSuccessfulTime`).
pub fn decode_status(v: &Value) -> Result<Status, FieldError> {
    let active = fields::array(v, &["status", "active"])?
        .iter()
        .enumerate()
        .map(|(i, item)| {
            serde_json::from_value::<ObjectReference>(item.clone())
                .map_err(|e| FieldError::new(&["status", "active", &i.to_string()], e.to_string()))
        })
        .collect::<Result<_, _>>()?;
    Ok(Status {
        active,
        last_schedule_time: fields::time(v, &["status", "lastScheduleTime"])?,
        last_successful_time: fields::time(v, &["status", "lastSuccessfulTime"])?,
        ..Status::default()
    })
}

/// A merge patch of the batch/v1 status fields that differ between
/// `before` and `after`, guarded by the resourceVersion `before` was read
/// at; None when none differs. Fields that did not change are left out, so
/// a value this process could not represent exactly (see [`time`]) is never
/// rewritten.
pub fn status_patch(
    resource_version: Option<&str>,
    before: &Status,
    after: &Status,
) -> Option<Value> {
    let mut status = Map::new();
    batch_status_changes(&mut status, before, after);
    guarded(resource_version, status)
}

/// The batch/v1 status fields that differ, into `status`.
pub fn batch_status_changes(status: &mut Map<String, Value>, before: &Status, after: &Status) {
    if before.active != after.active {
        status.insert(
            "active".into(),
            if after.active.is_empty() {
                Value::Null
            } else {
                json!(after.active)
            },
        );
    }
    set_time(
        status,
        "lastScheduleTime",
        before.last_schedule_time,
        after.last_schedule_time,
    );
    set_time(
        status,
        "lastSuccessfulTime",
        before.last_successful_time,
        after.last_successful_time,
    );
}

/// Put `key: after` into `status` if it differs from `before`.
pub fn set_time(
    status: &mut Map<String, Value>,
    key: &str,
    before: Option<Timestamp>,
    after: Option<Timestamp>,
) {
    if after != before {
        status.insert(
            key.into(),
            after.map_or(Value::Null, |t| time::format(t).into()),
        );
    }
}

/// The status patch for these changes, guarded by `resource_version`.
pub fn guarded(resource_version: Option<&str>, status: Map<String, Value>) -> Option<Value> {
    (!status.is_empty()).then(|| {
        json!({
            "metadata": { "resourceVersion": resource_version },
            "status": status,
        })
    })
}

/// The annotation patch that records a handled run-now token, if it changed.
pub fn metadata_patch(before: &Status, after: &Status) -> Option<Value> {
    (before.run_now_token != after.run_now_token).then(
        || json!({"metadata": {"annotations": {RUN_NOW_HANDLED_ANNOTATION: after.run_now_token}}}),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wire() -> Value {
        json!({
            "apiVersion": "batch/v1", "kind": "CronJob",
            "metadata": {"name": "cj", "namespace": "ns", "uid": "u1", "resourceVersion": "7",
                         "generation": 2, "creationTimestamp": "2026-11-22T09:00:00Z"},
            "spec": {
                "schedule": "*/5 * * * *", "timeZone": "Europe/Berlin", "suspend": false,
                "startingDeadlineSeconds": 30, "concurrencyPolicy": "Forbid",
                "successfulJobsHistoryLimit": 5, "failedJobsHistoryLimit": 2,
                "jobTemplate": {
                    "metadata": {"labels": {"t": "1"}, "annotations": {"a": "b"}},
                    "spec": {"backoffLimit": 2, "futureField": {"x": 1}}
                }
            },
            "status": {
                "lastScheduleTime": "2026-11-22T10:00:00Z",
                "active": [{"kind": "Job", "name": "cj-1", "uid": "j1", "namespace": "ns"}]
            }
        })
    }

    #[test]
    fn decodes_every_field_the_planner_reads() {
        let s = decode(&wire()).unwrap();
        assert_eq!(
            (s.name.as_str(), s.namespace.as_str(), s.uid.as_str()),
            ("cj", "ns", "u1")
        );
        assert_eq!(
            (s.generation, s.resource_version.as_deref()),
            (2, Some("7"))
        );
        assert_eq!(s.created, Some("2026-11-22T09:00:00Z".parse().unwrap()));
        assert!(!s.being_deleted);
        assert_eq!(s.spec.schedule, "*/5 * * * *");
        assert_eq!(s.spec.time_zone.as_deref(), Some("Europe/Berlin"));
        assert_eq!(s.spec.starting_deadline_seconds, Some(30));
        assert_eq!(s.spec.concurrency_policy, ConcurrencyPolicy::Forbid);
        assert_eq!(
            (
                s.spec.successful_jobs_history_limit,
                s.spec.failed_jobs_history_limit
            ),
            (5, 2)
        );
        assert_eq!(s.spec.job_template.labels.as_ref().unwrap()["t"], "1");
        assert_eq!(s.spec.job_template.annotations.as_ref().unwrap()["a"], "b");
        let spec: Value = serde_json::from_str(&s.spec.job_template.spec_json).unwrap();
        assert_eq!(
            spec,
            json!({"backoffLimit": 2, "futureField": {"x": 1}}),
            "fields newer than kronjob's types pass through"
        );
        assert_eq!(s.status.active.len(), 1);
        assert_eq!(s.status.active[0].uid.as_deref(), Some("j1"));
        assert_eq!(
            s.status.last_schedule_time,
            Some("2026-11-22T10:00:00Z".parse().unwrap())
        );
        assert_eq!(s.status.last_successful_time, None);
    }

    #[test]
    fn missing_fields_take_the_api_servers_defaults() {
        let s =
            decode(&json!({"metadata": {"name": "bare"}, "spec": {"schedule": "@daily"}})).unwrap();
        assert_eq!(s.spec.concurrency_policy, ConcurrencyPolicy::Allow);
        assert!(!s.spec.suspend);
        assert_eq!(
            (
                s.spec.successful_jobs_history_limit,
                s.spec.failed_jobs_history_limit
            ),
            (3, 1)
        );
        assert_eq!(&*s.spec.job_template.spec_json, "null");
        assert_eq!(s.status, Status::default());
        assert_eq!(s.created, None);
    }

    #[test]
    fn hostile_values_decode_to_what_they_mean() {
        let mut v = wire();
        v["spec"]["startingDeadlineSeconds"] = json!(999_999_999_999i64);
        v["status"]["lastScheduleTime"] = json!("9999-12-31T23:59:00Z");
        v["metadata"]["deletionTimestamp"] = json!("10000-01-01T00:00:00Z");
        let s = decode(&v).unwrap();
        assert_eq!(s.spec.starting_deadline_seconds, Some(999_999_999_999));
        assert_eq!(s.status.last_schedule_time, Some(Timestamp::MAX));
        assert!(s.being_deleted);
    }

    #[test]
    fn a_field_of_the_wrong_type_is_an_error_naming_it() {
        let mut v = wire();
        v["spec"]["suspend"] = json!("yes");
        assert_eq!(decode(&v).unwrap_err().path, "spec.suspend");
        let mut v = wire();
        v["status"]["active"][0]["uid"] = json!(5);
        assert_eq!(decode(&v).unwrap_err().path, "status.active.0");
        let mut v = wire();
        v["status"]["lastScheduleTime"] = json!("soon");
        assert_eq!(decode(&v).unwrap_err().path, "status.lastScheduleTime");
        let mut v = wire();
        v["spec"]["jobTemplate"]["spec"] = json!([1]);
        assert_eq!(decode(&v).unwrap_err().path, "spec.jobTemplate.spec");
    }

    #[test]
    fn status_patch_holds_only_what_changed() {
        let before = decode(&wire()).unwrap().status;
        let mut after = before.clone();
        after.last_successful_time = Some("2026-11-22T10:01:00Z".parse().unwrap());
        assert_eq!(status_patch(Some("7"), &before, &before), None);
        assert_eq!(
            status_patch(Some("7"), &before, &after),
            Some(json!({"metadata": {"resourceVersion": "7"},
                   "status": {"lastSuccessfulTime": "2026-11-22T10:01:00Z"}}))
        );
        after.active.clear();
        after.last_schedule_time = Some("2026-11-22T10:05:00Z".parse().unwrap());
        // What a batch/v1 status cannot hold is not written.
        after.next_schedule_time = Some("2026-11-22T10:10:00Z".parse().unwrap());
        let patch = status_patch(Some("7"), &before, &after).unwrap();
        assert!(
            !patch["status"]
                .as_object()
                .unwrap()
                .contains_key("nextScheduleTime")
        );
        assert_eq!(patch["status"]["active"], Value::Null);
        assert!(patch["status"].as_object().unwrap().contains_key("active"));
        assert_eq!(patch["status"]["lastScheduleTime"], "2026-11-22T10:05:00Z");
    }
}
