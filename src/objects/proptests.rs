//! Property tests of the adapters over arbitrary JSON: whatever an object
//! holds, decoding never panics, a Job always decodes (with its problems
//! noted), and a CronJob that decodes can be planned and its status patched.

use proptest::prelude::*;
use serde_json::{Map, Value, json};

use super::job::DecodedJob;
use super::{cronjob, time};
use crate::planner::{self, Observed};

/// Field names the adapters read, so random objects hit them often.
const KEYS: &[&str] = &[
    "metadata",
    "spec",
    "status",
    "name",
    "namespace",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "ownerReferences",
    "controller",
    "apiVersion",
    "kind",
    "schedule",
    "timeZone",
    "startingDeadlineSeconds",
    "concurrencyPolicy",
    "suspend",
    "successfulJobsHistoryLimit",
    "failedJobsHistoryLimit",
    "jobTemplate",
    "labels",
    "annotations",
    "active",
    "lastScheduleTime",
    "lastSuccessfulTime",
    "conditions",
    "type",
    "startTime",
    "completionTime",
];

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| json!(f)),
        ".{0,12}".prop_map(Value::from),
        prop::sample::select(vec![
            "9999-12-31T23:59:00Z",
            "10000-01-01T00:00:00Z",
            "-0001-12-31T23:00:00Z",
            "2026-12-01T10:00:00Z",
            "0000-01-01T00:00:00Z",
            "2026-13-01T00:00:00Z",
            "* * * * *",
            "@every 1s",
            "Forbid",
            "Replace",
            "True",
            "Complete",
            "Failed",
            "CronJob",
            "batch/v1",
        ])
        .prop_map(Value::from),
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(5, 96, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec(
                (
                    prop_oneof![
                        prop::sample::select(KEYS).prop_map(str::to_owned),
                        "[a-z]{1,6}"
                    ],
                    inner
                ),
                0..8
            )
            .prop_map(|kv| Value::Object(kv.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// A sound CronJob with one field replaced by arbitrary JSON.
fn mutated_cronjob() -> impl Strategy<Value = Value> {
    let paths: Vec<Vec<&'static str>> = vec![
        vec!["metadata"],
        vec!["metadata", "name"],
        vec!["metadata", "uid"],
        vec!["metadata", "creationTimestamp"],
        vec!["metadata", "deletionTimestamp"],
        vec!["metadata", "generation"],
        vec!["spec"],
        vec!["spec", "schedule"],
        vec!["spec", "timeZone"],
        vec!["spec", "startingDeadlineSeconds"],
        vec!["spec", "concurrencyPolicy"],
        vec!["spec", "suspend"],
        vec!["spec", "successfulJobsHistoryLimit"],
        vec!["spec", "failedJobsHistoryLimit"],
        vec!["spec", "jobTemplate"],
        vec!["spec", "jobTemplate", "metadata", "labels"],
        vec!["spec", "jobTemplate", "metadata", "annotations"],
        vec!["spec", "jobTemplate", "spec"],
        vec!["status"],
        vec!["status", "active"],
        vec!["status", "lastScheduleTime"],
        vec!["status", "lastSuccessfulTime"],
    ];
    (prop::sample::select(paths), json_value()).prop_map(|(path, value)| {
        let mut v = json!({
            "apiVersion": "batch/v1", "kind": "CronJob",
            "metadata": {"name": "cj", "namespace": "ns", "uid": "u1", "resourceVersion": "1",
                         "creationTimestamp": "2026-11-30T00:00:00Z"},
            "spec": {"schedule": "*/5 * * * *", "jobTemplate": {"spec": {"backoffLimit": 0}}},
            "status": {"lastScheduleTime": "2026-11-30T23:55:00Z",
                       "active": [{"name": "cj-1", "uid": "j1"}]}
        });
        let mut at = &mut v;
        for key in &path[..path.len() - 1] {
            at = at
                .as_object_mut()
                .unwrap()
                .entry(key.to_string())
                .or_insert_with(|| json!({}));
        }
        at.as_object_mut()
            .unwrap()
            .insert(path[path.len() - 1].to_string(), value);
        v
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(
        std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(256)
    ))]

    #[test]
    fn any_cronjob_json_decodes_or_names_the_field_and_then_plans(v in prop_oneof![json_value(), mutated_cronjob()]) {
        if let Ok(object) = cronjob::decode(&v) {
            let now = "2026-12-01T00:00:00Z".parse().unwrap();
            let p = planner::plan(&object, &[], &Observed::default(), now);
            let after = p.status_if_successful(&object);
            if let Some(patch) = cronjob::status_patch(object.resource_version.as_deref(), &object.status, &after) {
                prop_assert!(patch["status"].is_object());
            }
            if let Some(c) = p.creation() {
                prop_assert!(super::job::manifest(&c.job).is_ok());
            }
        }
    }

    #[test]
    fn any_job_json_decodes(v in json_value()) {
        let text = v.to_string();
        let decoded: Result<DecodedJob, _> = serde_json::from_str(&text);
        prop_assert!(decoded.is_ok(), "{:?}", decoded.err());
    }

    #[test]
    fn any_text_reads_as_an_instant_or_an_error(text in prop_oneof![".{0,40}", "[+-]?[0-9]{1,22}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]{1,12})?(Z|[+-][0-9]{2}:[0-9]{2})"]) {
        let _ = time::parse(&text);
    }

    #[test]
    fn explain_reads_any_text_without_panicking(text in prop_oneof![".{0,200}", mutated_cronjob().prop_map(|v| v.to_string())]) {
        let _ = crate::explain::parse_object(&text);
        let _ = crate::explain::parse_jobs(&text);
    }
}
