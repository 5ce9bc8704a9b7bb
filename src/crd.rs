//! The `KronJob` custom resource (`kronjob.dev/v1alpha1`): a batch/v1
//! CronJob that kronjob serves beside the built-in controller, on clusters
//! where that one cannot be turned off. The contract is
//! `shared/spec/kronjob-api.md`.
//!
//! These types exist to generate the CRD (`kronjob crd`, committed as
//! `charts/kronjob/crds/kronjobs.yaml`; a test fails when it is stale) and
//! for clients. The controller reads KronJobs through its lenient adapter
//! (`objects::kronjob`), like every other object.
//!
//! The spec is batch/v1 `CronJobSpec`, field for field, with its defaults and
//! what its validation checks where a structural schema and CEL can say it.
//! The job template's `spec` is kept as an object the API server does not
//! look into: the whole pod template schema would make the CRD about a
//! megabyte, and the Job's own validation applies when the Job is created
//! (a refused Job gives `FailedCreate`, as in drop-in mode).

use std::collections::BTreeMap;

use kube::{CustomResource, KubeSchema};
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Serialize};

/// The API group and version of the resource.
pub const API_VERSION: &str = "kronjob.dev/v1alpha1";

/// The spec of a KronJob: batch/v1 `CronJobSpec`.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[kube(
    group = "kronjob.dev",
    version = "v1alpha1",
    kind = "KronJob",
    plural = "kronjobs",
    shortname = "kj",
    category = "all",
    namespaced,
    status = "KronJobStatus",
    derive = "PartialEq",
    derive = "Default",
    validation = Rule::new("size(self.metadata.name) <= 52").message("must be no more than 52 characters, so that a Job name <name>-<minutes> fits 63"),
    printcolumn(name = "Schedule", type_ = "string", json_path = ".spec.schedule"),
    printcolumn(name = "Timezone", type_ = "string", json_path = ".spec.timeZone"),
    printcolumn(name = "Suspend", type_ = "boolean", json_path = ".spec.suspend"),
    printcolumn(name = "Active", type_ = "integer", json_path = ".status.activeCount"),
    printcolumn(name = "Last Schedule", type_ = "date", json_path = ".status.lastScheduleTime"),
    printcolumn(name = "Next Schedule", type_ = "string", json_path = ".status.nextScheduleTime"),
    printcolumn(name = "Last Result", type_ = "string", json_path = ".status.lastRun.result"),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp")
)]
#[serde(rename_all = "camelCase")]
pub struct KronJobSpec {
    /// The schedule in Cron format, exactly as batch/v1 CronJob reads it
    /// (robfig/cron v3 `ParseStandard`).
    #[x_kube(validation = Rule::new("size(self) > 0").message("must not be empty"))]
    pub schedule: String,
    /// The IANA time zone of the schedule; UTC when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<String>,
    /// How late a slot may still start, in seconds; unset: no deadline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub starting_deadline_seconds: Option<i64>,
    /// Allow, Forbid or Replace concurrent runs.
    #[serde(default)]
    pub concurrency_policy: ConcurrencyPolicy,
    /// No new runs while true.
    #[serde(default)]
    pub suspend: bool,
    /// Successful finished Jobs kept.
    #[serde(default = "default_successful_history")]
    #[schemars(range(min = 0))]
    pub successful_jobs_history_limit: i32,
    /// Failed finished Jobs kept.
    #[serde(default = "default_failed_history")]
    #[schemars(range(min = 0))]
    pub failed_jobs_history_limit: i32,
    /// The Job each run creates.
    pub job_template: JobTemplate,
}

fn default_successful_history() -> i32 {
    3
}

fn default_failed_history() -> i32 {
    1
}

/// `spec.concurrencyPolicy`.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ConcurrencyPolicy {
    #[default]
    Allow,
    Forbid,
    Replace,
}

/// batch/v1 `JobTemplateSpec`.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, Default, PartialEq)]
pub struct JobTemplate {
    /// Labels and annotations copied onto each Job.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<TemplateMetadata>,
    /// batch/v1 `JobSpec`, checked by the API server when the Job is created.
    #[schemars(schema_with = "any_object")]
    pub spec: serde_json::Value,
}

/// The template metadata a Job gets.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, Default, PartialEq)]
pub struct TemplateMetadata {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
}

/// batch/v1 `CronJobStatus` and what upstream's status never had.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct KronJobStatus {
    /// The Jobs still running.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active: Option<Vec<JobReference>>,
    /// How many Jobs are running (the length of `active`, for `kubectl get`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active_count: Option<i64>,
    /// The last slot a Job was made for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "date_time")]
    pub last_schedule_time: Option<String>,
    /// When the last successful Job completed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "date_time")]
    pub last_successful_time: Option<String>,
    /// When the last failed Job failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "date_time")]
    pub last_failure_time: Option<String>,
    /// The next slot kronjob has a timer for; unset while there is none
    /// (suspended, invalid schedule).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "date_time")]
    pub next_schedule_time: Option<String>,
    /// The most recent Job.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_run: Option<LastRun>,
    /// The last `kronjob.dev/run-now` token handled (run or refused).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_now_token: Option<String>,
    /// The generation this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// `ScheduleValid`, `Suspended`, `LastRunSucceeded`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Option<Vec<Condition>>,
}

/// A reference to a Job, as batch/v1 `status.active` holds it.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct JobReference {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_version: Option<String>,
}

/// The most recent Job and how it went.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct LastRun {
    pub job_name: String,
    /// The slot, or the time of the run-now request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "date_time")]
    pub scheduled_time: Option<String>,
    /// Schedule or Manual.
    pub trigger: Trigger,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "date_time")]
    pub start_time: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "date_time")]
    pub completion_time: Option<String>,
    /// Running, Succeeded or Failed.
    pub result: RunResult,
}

/// What made a Job.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Trigger {
    #[default]
    Schedule,
    Manual,
}

/// How a Job went.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RunResult {
    #[default]
    Running,
    Succeeded,
    Failed,
}

/// A Kubernetes condition (`metav1.Condition`).
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    #[serde(rename = "type")]
    pub type_: String,
    /// True, False or Unknown.
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    #[schemars(schema_with = "date_time")]
    pub last_transition_time: String,
    pub reason: String,
    pub message: String,
}

/// An RFC 3339 instant, as Kubernetes writes `metav1.Time`.
fn date_time(_: &mut SchemaGenerator) -> Schema {
    json_schema!({"type": "string", "format": "date-time"})
}

/// Any JSON object, kept as given.
fn any_object(_: &mut SchemaGenerator) -> Schema {
    json_schema!({"type": "object", "x-kubernetes-preserve-unknown-fields": true})
}

/// The CRD manifest as YAML, as `kronjob crd` prints it and the chart ships it.
pub fn manifest_yaml() -> String {
    use kube::CustomResourceExt;
    let crd = serde_json::to_value(KronJob::crd()).unwrap_or_default();
    let header = "# Generated by `kronjob crd` from src/crd.rs; do not edit.\n";
    format!(
        "{header}{}",
        serde_norway::to_string(&crd).unwrap_or_default()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::CustomResourceExt;

    #[test]
    fn names_and_printer_columns_follow_the_contract() {
        let crd = KronJob::crd();
        assert_eq!(crd.metadata.name.as_deref(), Some("kronjobs.kronjob.dev"));
        let names = &crd.spec.names;
        assert_eq!(names.kind, "KronJob");
        assert_eq!(names.short_names.as_deref(), Some(&["kj".to_string()][..]));
        assert_eq!(names.categories.as_deref(), Some(&["all".to_string()][..]));
        assert_eq!(crd.spec.scope, "Namespaced");
        let v = &crd.spec.versions[0];
        assert_eq!(v.name, "v1alpha1");
        assert!(v.subresources.as_ref().unwrap().status.is_some());
        let columns: Vec<_> = v
            .additional_printer_columns
            .iter()
            .flatten()
            .map(|c| c.name.to_uppercase())
            .collect();
        assert_eq!(
            columns,
            [
                "SCHEDULE",
                "TIMEZONE",
                "SUSPEND",
                "ACTIVE",
                "LAST SCHEDULE",
                "NEXT SCHEDULE",
                "LAST RESULT",
                "AGE"
            ]
        );
    }

    #[test]
    fn the_schema_has_batch_v1s_defaults_and_checks() {
        let crd = serde_json::to_value(KronJob::crd()).unwrap();
        let spec = &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"];
        let props = &spec["properties"];
        assert_eq!(props["successfulJobsHistoryLimit"]["default"], 3);
        assert_eq!(props["failedJobsHistoryLimit"]["default"], 1);
        assert_eq!(props["concurrencyPolicy"]["default"], "Allow");
        assert_eq!(props["suspend"]["default"], false);
        assert_eq!(props["startingDeadlineSeconds"]["minimum"], 0.0);
        assert_eq!(
            props["jobTemplate"]["properties"]["spec"]["x-kubernetes-preserve-unknown-fields"],
            true
        );
        let text = crd.to_string();
        assert!(text.contains("size(self.metadata.name) <= 52"), "{text}");
    }

    /// The chart ships the CRD generated from these types; regenerate it with
    /// `cargo run -- crd > charts/kronjob/crds/kronjobs.yaml`.
    #[test]
    fn the_committed_crd_is_generated_from_these_types() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/charts/kronjob/crds/kronjobs.yaml"
        );
        let committed = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            committed == manifest_yaml(),
            "{path} is stale: run `cargo run -- crd > charts/kronjob/crds/kronjobs.yaml`"
        );
    }
}
