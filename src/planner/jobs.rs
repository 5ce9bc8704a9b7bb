//! The Jobs the planner reads and the Job it asks for: history order,
//! upstream's naming and the Job made from a template for a slot.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use jiff::Timestamp;

use crate::model::{ControllerRef, JobFacts, Scheduled};
use crate::schedule;

/// Annotation upstream puts on every Job: the slot, in the CronJob's zone.
pub const SCHEDULED_TIMESTAMP_ANNOTATION: &str = "batch.kubernetes.io/cronjob-scheduled-timestamp";

/// The longest Job name the API server accepts (a DNS-1123 label, as the
/// Job's name becomes its pods' `job-name` label value).
pub const MAX_JOB_NAME_LEN: usize = 63;

/// Upstream's history order: by status.startTime ascending, Jobs without a
/// start time last, ties broken by name.
pub fn history_order(a: &JobFacts, b: &JobFacts) -> Ordering {
    match (a.start_time, b.start_time) {
        (Some(x), Some(y)) => x.cmp(&y).then_with(|| a.name.cmp(&b.name)),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => a.name.cmp(&b.name),
    }
}

/// The deterministic Job name for a slot: `<name>-<minutes since epoch>`
/// (Go's truncating division, as upstream's `getJobName`). The name is the
/// lock that keeps a slot from running twice.
pub fn job_name(owner_name: &str, slot: Timestamp) -> String {
    format!("{}-{}", owner_name, slot.as_second() / 60)
}

/// A Job the planner asks to create.
#[derive(Clone, Debug, PartialEq)]
pub struct NewJob {
    pub name: String,
    pub namespace: String,
    pub labels: Option<BTreeMap<String, String>>,
    pub annotations: BTreeMap<String, String>,
    /// Its one controller ownerReference (with `blockOwnerDeletion`).
    pub owner: ControllerRef,
    /// JSON text of the Job's spec: the template's, unchanged.
    pub spec_json: Box<str>,
}

/// kubectl's annotation on a Job made by hand from a CronJob (`kubectl
/// create job --from=cronjob/...`), which run-now Jobs carry too.
pub const INSTANTIATE_ANNOTATION: &str = "cronjob.kubernetes.io/instantiate";

/// The Job upstream creates for a slot: template labels and annotations, the
/// scheduled-timestamp annotation, one controller ownerReference, the
/// template's spec.
pub fn job_for_slot(owner: &Scheduled, slot: Timestamp, name: &str) -> NewJob {
    job_from_template(owner, slot, name, false)
}

/// The Job made from the template for `at` (a slot, or the moment of a
/// run-now request when `manual`, which adds kubectl's manual annotation).
pub fn job_from_template(owner: &Scheduled, at: Timestamp, name: &str, manual: bool) -> NewJob {
    let template = &owner.spec.job_template;
    let mut annotations = template.annotations.clone().unwrap_or_default();
    // The annotation is in spec.timeZone if set, else UTC (a TZ= prefix in
    // the schedule does not count, as upstream).
    let zone = owner
        .spec
        .time_zone
        .as_deref()
        .and_then(|z| schedule::load_location(z).ok())
        .unwrap_or_else(schedule::Location::utc);
    annotations.insert(
        SCHEDULED_TIMESTAMP_ANNOTATION.to_string(),
        zone.format_rfc3339(at),
    );
    if manual {
        annotations.insert(INSTANTIATE_ANNOTATION.to_string(), "manual".to_string());
    }
    NewJob {
        name: name.to_string(),
        namespace: owner.namespace.clone(),
        labels: template.labels.clone(),
        annotations,
        owner: ControllerRef {
            api_version: owner.kind.api_version().into(),
            kind: owner.kind.kind().into(),
            name: owner.name.clone(),
            uid: owner.uid.clone(),
        },
        spec_json: template.spec_json.clone(),
    }
}
