//! The forms in which the caches hold CronJobs and Jobs.
//!
//! A k8s-openapi `CronJob` lays out every optional field of its Job and pod
//! template inline: about 3 KB for the CronJob plus 2 KB per container before
//! any string is stored, so 5000 one-container CronJobs cost over 30 MB in a
//! reflector store. [`CompactCronJob`] keeps the metadata as is (the
//! controller keys, owner lookups and log fields read it) and the spec and
//! status as their JSON text, which is a few hundred bytes. A sync decodes the
//! full `CronJob` again with [`CompactCronJob::to_cronjob`]; that is a few
//! microseconds, paid once per sync, not once per cached object.
//!
//! Jobs are decoded straight from the wire into [`CompactJob`]: only the
//! fields the planner and the owner lookup read are kept, and the pod
//! template, labels and managedFields (most of a Job's bytes) are skipped by
//! the parser without ever being allocated.

use std::borrow::Cow;

use k8s_openapi::api::batch::v1::{
    CronJob, CronJobSpec, CronJobStatus, Job, JobCondition, JobStatus,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference, Time};
use k8s_openapi::{NamespaceResourceScope, Resource as _};
use serde::{Deserialize, Deserializer, Serialize};

use crate::planner::Finished;

/// A `batch/v1` CronJob as cached: metadata decoded, spec and status as JSON.
#[derive(Clone, Debug)]
pub struct CompactCronJob {
    metadata: ObjectMeta,
    body: Box<str>,
}

/// The part of a CronJob kept as text.
#[derive(Serialize, Deserialize)]
struct Body {
    #[serde(default)]
    spec: CronJobSpec,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    status: Option<CronJobStatus>,
}

impl CompactCronJob {
    /// Drop what no sync reads (managedFields, kubectl's last-applied copy)
    /// and encode spec and status.
    pub fn new(cronjob: CronJob) -> Result<Self, serde_json::Error> {
        let CronJob {
            mut metadata,
            spec,
            status,
        } = cronjob;
        metadata.managed_fields = None;
        if let Some(ann) = metadata.annotations.as_mut() {
            ann.remove("kubectl.kubernetes.io/last-applied-configuration");
        }
        let body = serde_json::to_string(&Body { spec, status })?.into_boxed_str();
        Ok(CompactCronJob { metadata, body })
    }

    /// The full CronJob, as [`CompactCronJob::new`] received it (minus what
    /// it dropped).
    pub fn to_cronjob(&self) -> Result<CronJob, serde_json::Error> {
        let Body { spec, status } = serde_json::from_str(&self.body)?;
        Ok(CronJob {
            metadata: self.metadata.clone(),
            spec,
            status,
        })
    }
}

/// Decodes a CronJob from the API (list items and watch events) straight
/// into the compact form.
impl<'de> Deserialize<'de> for CompactCronJob {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let cronjob = CronJob::deserialize(deserializer)?;
        CompactCronJob::new(cronjob).map_err(serde::de::Error::custom)
    }
}

/// `kube::Resource` for a compact type that stands for a k8s-openapi type.
macro_rules! resource_as {
    ($compact:ty, $full:ty) => {
        impl kube::Resource for $compact {
            type DynamicType = ();
            type Scope = NamespaceResourceScope;

            fn kind(_: &()) -> Cow<'_, str> {
                Cow::Borrowed(<$full>::KIND)
            }
            fn group(_: &()) -> Cow<'_, str> {
                Cow::Borrowed(<$full>::GROUP)
            }
            fn version(_: &()) -> Cow<'_, str> {
                Cow::Borrowed(<$full>::VERSION)
            }
            fn api_version(_: &()) -> Cow<'_, str> {
                Cow::Borrowed(<$full>::API_VERSION)
            }
            fn plural(_: &()) -> Cow<'_, str> {
                Cow::Borrowed(<$full>::URL_PATH_SEGMENT)
            }
            fn meta(&self) -> &ObjectMeta {
                &self.metadata
            }
            fn meta_mut(&mut self) -> &mut ObjectMeta {
                &mut self.metadata
            }
        }
    };
}

resource_as!(CompactCronJob, CronJob);
resource_as!(CompactJob, Job);

/// A `batch/v1` Job reduced to identity, the controller ownerReference, the
/// deletion mark and how (and when) it ran. [`CompactJob::to_job`] gives the
/// planner a k8s-openapi `Job` with just those fields set.
#[derive(Clone, Debug, PartialEq)]
pub struct CompactJob {
    /// name, namespace, uid, resourceVersion, creation and deletion
    /// timestamps, and only the ownerReferences with `controller: true`.
    metadata: ObjectMeta,
    status: Option<Box<RunState>>,
}

#[derive(Clone, Debug, PartialEq)]
struct RunState {
    /// The first `Complete`/`Failed` condition with status True: all the
    /// planner reads of a Job's conditions (`planner::jobs::finished`).
    finished: Option<Finished>,
    start_time: Option<Time>,
    completion_time: Option<Time>,
}

/// The Job fields read from the wire; serde skips every other field.
#[derive(Deserialize)]
struct WireJob {
    #[serde(default)]
    metadata: WireMeta,
    #[serde(default)]
    status: Option<WireStatus>,
}

#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireMeta {
    name: Option<String>,
    namespace: Option<String>,
    uid: Option<String>,
    resource_version: Option<String>,
    creation_timestamp: Option<Time>,
    deletion_timestamp: Option<Time>,
    owner_references: Option<Vec<OwnerReference>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireStatus {
    conditions: Option<Vec<WireCondition>>,
    start_time: Option<Time>,
    completion_time: Option<Time>,
}

#[derive(Deserialize)]
struct WireCondition {
    #[serde(rename = "type")]
    type_: String,
    status: String,
}

impl From<WireJob> for CompactJob {
    fn from(wire: WireJob) -> Self {
        let m = wire.metadata;
        CompactJob {
            metadata: ObjectMeta {
                name: m.name,
                namespace: m.namespace,
                uid: m.uid,
                resource_version: m.resource_version,
                creation_timestamp: m.creation_timestamp,
                deletion_timestamp: m.deletion_timestamp,
                owner_references: m.owner_references.map(|refs| {
                    refs.into_iter()
                        .filter(|r| r.controller == Some(true))
                        .collect()
                }),
                ..Default::default()
            },
            status: wire.status.map(|s| {
                Box::new(RunState {
                    finished: s
                        .conditions
                        .iter()
                        .flatten()
                        .find_map(|c| Finished::from_condition(&c.type_, &c.status)),
                    start_time: s.start_time,
                    completion_time: s.completion_time,
                })
            }),
        }
    }
}

impl<'de> Deserialize<'de> for CompactJob {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        WireJob::deserialize(deserializer).map(CompactJob::from)
    }
}

impl CompactJob {
    /// The Job as the planner reads it: only the kept fields are set.
    pub fn to_job(&self) -> Job {
        Job {
            metadata: self.metadata.clone(),
            spec: None,
            status: self.status.as_ref().map(|s| JobStatus {
                conditions: s.finished.map(|f| {
                    vec![JobCondition {
                        type_: f.as_str().into(),
                        status: "True".into(),
                        ..Default::default()
                    }]
                }),
                start_time: s.start_time.clone(),
                completion_time: s.completion_time.clone(),
                ..Default::default()
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ManagedFieldsEntry;
    use serde_json::json;

    fn wire() -> serde_json::Value {
        json!({
            "apiVersion": "batch/v1", "kind": "CronJob",
            "metadata": {
                "name": "cj", "namespace": "ns", "uid": "u1", "resourceVersion": "7",
                "labels": {"a": "b"},
                "annotations": {"keep": "me", "kubectl.kubernetes.io/last-applied-configuration": "{}"},
                "managedFields": [{"manager": "kubectl", "operation": "Apply"}]
            },
            "spec": {
                "schedule": "*/5 * * * *", "timeZone": "Europe/Berlin", "suspend": false,
                "startingDeadlineSeconds": 30, "concurrencyPolicy": "Forbid",
                "successfulJobsHistoryLimit": 3, "failedJobsHistoryLimit": 1,
                "jobTemplate": {
                    "metadata": {"labels": {"t": "1"}},
                    "spec": {"backoffLimit": 2, "template": {"spec": {
                        "restartPolicy": "Never",
                        "containers": [{"name": "c", "image": "busybox", "command": ["true"],
                                        "env": [{"name": "X", "value": "y"}]}]
                    }}}
                }
            },
            "status": {
                "lastScheduleTime": "2026-11-22T10:00:00Z",
                "active": [{"kind": "Job", "name": "cj-1", "uid": "j1", "namespace": "ns"}]
            }
        })
    }

    #[test]
    fn decodes_from_the_wire_and_gives_back_the_same_cronjob() {
        let compact: CompactCronJob = serde_json::from_value(wire()).unwrap();
        let mut expected: CronJob = serde_json::from_value(wire()).unwrap();
        expected.metadata.managed_fields = None;
        expected
            .metadata
            .annotations
            .as_mut()
            .unwrap()
            .remove("kubectl.kubernetes.io/last-applied-configuration");
        assert_eq!(compact.to_cronjob().unwrap(), expected);
        assert_eq!(kube::Resource::meta(&compact).uid.as_deref(), Some("u1"));
        assert!(kube::Resource::meta(&compact).managed_fields.is_none());
    }

    #[test]
    fn keeps_absent_spec_and_status_absent() {
        let cj = CronJob {
            metadata: ObjectMeta {
                name: Some("bare".into()),
                managed_fields: Some(vec![ManagedFieldsEntry::default()]),
                ..Default::default()
            },
            ..Default::default()
        };
        let back = CompactCronJob::new(cj).unwrap().to_cronjob().unwrap();
        assert_eq!(back.spec, CronJobSpec::default());
        assert_eq!(back.status, None);
        assert_eq!(back.metadata.name.as_deref(), Some("bare"));
        assert!(back.metadata.managed_fields.is_none());
    }

    #[test]
    fn resource_identity_is_batch_v1_cronjobs() {
        use kube::Resource;
        assert_eq!(CompactCronJob::api_version(&()), "batch/v1");
        assert_eq!(CompactCronJob::kind(&()), "CronJob");
        assert_eq!(CompactCronJob::plural(&()), "cronjobs");
        assert_eq!(
            CompactCronJob::url_path(&(), Some("ns")),
            "/apis/batch/v1/namespaces/ns/cronjobs"
        );
    }

    fn wire_job() -> serde_json::Value {
        json!({
            "apiVersion": "batch/v1", "kind": "Job",
            "metadata": {
                "name": "cj-29000000", "namespace": "ns", "uid": "j1", "resourceVersion": "9",
                "creationTimestamp": "2026-11-22T10:00:00Z",
                "deletionTimestamp": "2026-11-22T10:05:00Z",
                "labels": {"a": "b"},
                "managedFields": [{"manager": "kube-controller-manager", "operation": "Update"}],
                "ownerReferences": [
                    {"apiVersion": "batch/v1", "kind": "CronJob", "name": "cj", "uid": "u1", "controller": true, "blockOwnerDeletion": true},
                    {"apiVersion": "v1", "kind": "ConfigMap", "name": "x", "uid": "u2"}
                ]
            },
            "spec": {"template": {"spec": {"containers": [{"name": "c", "image": "busybox"}]}}},
            "status": {
                "active": 1,
                "startTime": "2026-11-22T10:00:01Z",
                "completionTime": "2026-11-22T10:00:09Z",
                "conditions": [
                    {"type": "SuccessCriteriaMet", "status": "True"},
                    {"type": "Failed", "status": "False"},
                    {"type": "Complete", "status": "True", "message": "long", "reason": "Done"}
                ]
            }
        })
    }

    #[test]
    fn job_keeps_only_what_the_planner_reads() {
        let compact: CompactJob = serde_json::from_value(wire_job()).unwrap();
        let job = compact.to_job();
        let full: Job = serde_json::from_value(wire_job()).unwrap();
        let (m, fm) = (&job.metadata, &full.metadata);
        assert_eq!(
            (&m.name, &m.namespace, &m.uid, &m.resource_version),
            (&fm.name, &fm.namespace, &fm.uid, &fm.resource_version)
        );
        assert_eq!(m.creation_timestamp, fm.creation_timestamp);
        assert_eq!(m.deletion_timestamp, fm.deletion_timestamp);
        assert!(m.labels.is_none() && m.managed_fields.is_none() && job.spec.is_none());
        assert_eq!(
            m.owner_references.as_deref(),
            Some(&fm.owner_references.as_ref().unwrap()[..1]),
            "only the controller reference is kept"
        );
        let status = job.status.as_ref().unwrap();
        let conditions = status.conditions.as_ref().unwrap();
        assert_eq!(conditions.len(), 1);
        assert_eq!(
            (conditions[0].type_.as_str(), conditions[0].status.as_str()),
            ("Complete", "True")
        );
        assert!(conditions[0].message.is_none());
        let full_status = full.status.as_ref().unwrap();
        assert_eq!(status.start_time, full_status.start_time);
        assert_eq!(status.completion_time, full_status.completion_time);
        assert_eq!(
            crate::planner::jobs::finished(&job),
            crate::planner::jobs::finished(&full)
        );
        assert_eq!(
            crate::planner::jobs::history_order(&job, &full),
            std::cmp::Ordering::Equal
        );
    }

    #[test]
    fn job_without_status_or_conditions_stays_without() {
        let bare: CompactJob = serde_json::from_value(json!({"metadata": {"name": "j"}})).unwrap();
        assert!(bare.to_job().status.is_none());
        assert!(bare.to_job().metadata.owner_references.is_none());
        let running: CompactJob =
            serde_json::from_value(json!({"metadata": {"name": "j"}, "status": {"active": 1}}))
                .unwrap();
        let status = running.to_job().status.unwrap();
        assert!(status.conditions.is_none());
        assert_eq!(crate::planner::jobs::finished(&running.to_job()), None);
    }

    #[test]
    fn job_resource_identity_is_batch_v1_jobs() {
        use kube::Resource;
        assert_eq!(CompactJob::api_version(&()), "batch/v1");
        assert_eq!(CompactJob::kind(&()), "Job");
        assert_eq!(CompactJob::url_path(&(), None), "/apis/batch/v1/jobs");
    }
}
