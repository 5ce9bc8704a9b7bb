//! The Job side of the controller's state: only Jobs controlled by a
//! CronJob, stripped to the fields the planner reads, indexed by owner UID
//! so a sync reads its own Jobs without scanning every Job in the cluster.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use k8s_openapi::api::batch::v1::{Job, JobCondition, JobStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::runtime::watcher::Event;
use tokio::sync::watch;

/// Reduce a Job to what the planner and the owner lookup need: identity,
/// the controller ownerReference, deletion mark, and finished state. The
/// pod template and managedFields (most of a Job's bytes) are dropped.
pub fn strip_job(job: &mut Job) {
    let meta = std::mem::take(&mut job.metadata);
    job.metadata = ObjectMeta {
        name: meta.name,
        namespace: meta.namespace,
        uid: meta.uid,
        resource_version: meta.resource_version,
        creation_timestamp: meta.creation_timestamp,
        deletion_timestamp: meta.deletion_timestamp,
        owner_references: meta.owner_references.map(|refs| {
            refs.into_iter()
                .filter(|r| r.controller == Some(true))
                .collect()
        }),
        ..Default::default()
    };
    job.spec = None;
    job.status = job.status.take().map(|s| JobStatus {
        conditions: s.conditions.map(|cs| {
            cs.into_iter()
                .filter(|c| c.status == "True" && (c.type_ == "Complete" || c.type_ == "Failed"))
                .map(|c| JobCondition {
                    type_: c.type_,
                    status: c.status,
                    ..Default::default()
                })
                .collect()
        }),
        start_time: s.start_time,
        completion_time: s.completion_time,
        ..Default::default()
    });
}

/// UID of the CronJob that controls this Job, if any.
fn cronjob_owner(job: &Job) -> Option<&str> {
    job.metadata
        .owner_references
        .iter()
        .flatten()
        .find(|r| {
            r.controller == Some(true) && r.kind == "CronJob" && r.api_version.starts_with("batch/")
        })
        .map(|r| r.uid.as_str())
}

fn job_key(job: &Job) -> (String, String) {
    (
        job.metadata.namespace.clone().unwrap_or_default(),
        job.metadata.name.clone().unwrap_or_default(),
    )
}

#[derive(Default)]
struct Index {
    /// owner UID -> (namespace, name) -> Job
    by_owner: HashMap<String, HashMap<(String, String), Arc<Job>>>,
    /// (namespace, name) -> owner UID, to move or drop a Job on update/delete.
    owner_of: HashMap<(String, String), String>,
}

impl Index {
    fn insert(&mut self, job: Job) {
        let key = job_key(&job);
        self.remove(&key);
        if let Some(owner) = cronjob_owner(&job).map(str::to_owned) {
            self.owner_of.insert(key.clone(), owner.clone());
            self.by_owner
                .entry(owner)
                .or_default()
                .insert(key, Arc::new(job));
        }
    }

    fn remove(&mut self, key: &(String, String)) {
        if let Some(owner) = self.owner_of.remove(key)
            && let Some(jobs) = self.by_owner.get_mut(&owner)
        {
            jobs.remove(key);
            if jobs.is_empty() {
                self.by_owner.remove(&owner);
            }
        }
    }
}

/// Jobs owned by CronJobs, fed by a Job watcher's events.
pub struct JobCache {
    live: RwLock<Index>,
    /// A relist in progress (between Init and InitDone).
    relist: RwLock<Option<Index>>,
    synced: watch::Sender<bool>,
}

impl Default for JobCache {
    fn default() -> Self {
        JobCache {
            live: RwLock::default(),
            relist: RwLock::default(),
            synced: watch::channel(false).0,
        }
    }
}

impl JobCache {
    /// Apply one watcher event. A relist is built aside and swapped in at
    /// InitDone, so readers never see a half-listed cache.
    pub fn apply(&self, event: &Event<Job>) {
        match event {
            Event::Apply(job) => self.live.write().unwrap().insert(job.clone()),
            Event::Delete(job) => self.live.write().unwrap().remove(&job_key(job)),
            Event::Init => *self.relist.write().unwrap() = Some(Index::default()),
            Event::InitApply(job) => {
                if let Some(buf) = self.relist.write().unwrap().as_mut() {
                    buf.insert(job.clone());
                }
            }
            Event::InitDone => {
                if let Some(buf) = self.relist.write().unwrap().take() {
                    *self.live.write().unwrap() = buf;
                }
                self.synced.send_replace(true);
            }
        }
    }

    /// The Jobs controlled by the CronJob with this UID.
    pub fn owned_by(&self, owner_uid: &str) -> Vec<Job> {
        let live = self.live.read().unwrap();
        live.by_owner
            .get(owner_uid)
            .map(|jobs| jobs.values().map(|j| Job::clone(j)).collect())
            .unwrap_or_default()
    }

    pub fn len(&self) -> usize {
        self.live.read().unwrap().owner_of.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn is_synced(&self) -> bool {
        *self.synced.borrow()
    }

    /// Wait until the first full list has been applied.
    pub async fn wait_synced(&self) {
        let mut rx = self.synced.subscribe();
        let _ = rx.wait_for(|s| *s).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::batch::v1::JobSpec;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ManagedFieldsEntry, OwnerReference};

    fn job(name: &str, owner: Option<&str>) -> Job {
        Job {
            metadata: ObjectMeta {
                name: Some(name.into()),
                namespace: Some("ns".into()),
                uid: Some(format!("uid-{name}")),
                managed_fields: Some(vec![ManagedFieldsEntry::default()]),
                labels: Some([("a".to_string(), "b".to_string())].into()),
                owner_references: owner.map(|o| {
                    vec![OwnerReference {
                        api_version: "batch/v1".into(),
                        kind: "CronJob".into(),
                        name: "cj".into(),
                        uid: o.into(),
                        controller: Some(true),
                        ..Default::default()
                    }]
                }),
                ..Default::default()
            },
            spec: Some(JobSpec::default()),
            status: Some(JobStatus {
                active: Some(1),
                conditions: Some(vec![
                    JobCondition {
                        type_: "SuccessCriteriaMet".into(),
                        status: "True".into(),
                        ..Default::default()
                    },
                    JobCondition {
                        type_: "Complete".into(),
                        status: "True".into(),
                        message: Some("long".into()),
                        ..Default::default()
                    },
                ]),
                ..Default::default()
            }),
        }
    }

    #[test]
    fn strip_keeps_only_what_the_planner_reads() {
        let mut j = job("a", Some("o1"));
        strip_job(&mut j);
        assert!(j.spec.is_none());
        assert!(j.metadata.managed_fields.is_none() && j.metadata.labels.is_none());
        let conds = j.status.as_ref().unwrap().conditions.as_ref().unwrap();
        assert_eq!(conds.len(), 1);
        assert_eq!(conds[0].type_, "Complete");
        assert!(conds[0].message.is_none());
        assert_eq!(
            crate::planner::jobs::finished(&j),
            Some(crate::planner::Finished::Complete)
        );
    }

    #[test]
    fn indexes_by_owner_and_follows_updates_deletes_and_relists() {
        let cache = JobCache::default();
        cache.apply(&Event::Apply(job("a", Some("o1"))));
        cache.apply(&Event::Apply(job("b", Some("o1"))));
        cache.apply(&Event::Apply(job("c", None)));
        assert_eq!(cache.owned_by("o1").len(), 2);
        assert_eq!(cache.len(), 2, "Jobs without a CronJob owner are not kept");
        // Owner changes move the Job.
        cache.apply(&Event::Apply(job("b", Some("o2"))));
        assert_eq!(cache.owned_by("o1").len(), 1);
        assert_eq!(cache.owned_by("o2").len(), 1);
        cache.apply(&Event::Delete(job("a", Some("o1"))));
        assert!(cache.owned_by("o1").is_empty());
        // A relist replaces the contents only when complete.
        assert!(!cache.is_synced());
        cache.apply(&Event::Init);
        cache.apply(&Event::InitApply(job("z", Some("o9"))));
        assert_eq!(cache.owned_by("o2").len(), 1);
        cache.apply(&Event::InitDone);
        assert!(cache.owned_by("o2").is_empty());
        assert_eq!(cache.owned_by("o9").len(), 1);
        assert!(cache.is_synced());
    }
}
