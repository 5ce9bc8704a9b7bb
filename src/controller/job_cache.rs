//! The Job side of the controller's state: only Jobs controlled by a
//! CronJob, as what was read of them (`objects::job::DecodedJob`, without
//! the `ObjectMeta` the watcher's `CompactJob` carries), indexed by owner
//! UID so a sync reads its own Jobs without scanning every Job in the
//! cluster.

use parking_lot::{Mutex, RwLock};
use std::collections::HashMap;
use std::time::{Duration, Instant};

use kube::runtime::watcher::Event;
use tokio::sync::watch;

use super::compact::CompactJob;
use super::relist::RelistedCache;
use jiff::Timestamp;

use crate::model::{FIELD_MANAGER, JobFacts, Kind};
use crate::objects::job::DecodedJob;

/// The kind of a served object that controls this Job, if any.
fn owner_kind(job: &JobFacts) -> Option<Kind> {
    let c = job.controller.as_ref()?;
    Kind::ALL
        .into_iter()
        .find(|k| k.is_owner_kind(&c.api_version, &c.kind))
}

/// UID of the CronJob (or KronJob) that controls this Job, if any.
fn cronjob_owner(job: &JobFacts) -> Option<&str> {
    owner_kind(job)?;
    job.controller.as_ref().map(|c| c.uid.as_str())
}

/// Is this Job controlled by a CronJob, or might it be (its owner
/// references could not be read)? Problems of other Jobs are not ours to
/// report.
pub fn may_be_ours(job: &CompactJob) -> bool {
    cronjob_owner(job.facts()).is_some()
        || job.problems().iter().any(|p| p.contains("ownerReferences"))
}

/// Was this Job, controlled by an object of a kind served here, made for a
/// slot (it has the scheduled-timestamp annotation and is not a manual run)
/// by a field manager other than kronjob, at or after `since` (shortly
/// before this process started)? Only batch/v1 CronJobs have another
/// controller: kube-controller-manager's. Jobs from before are history (a
/// cluster that moved from the built-in controller to kronjob has many),
/// not a second controller at work.
pub fn made_by_another_controller(job: &CompactJob, served: &[Kind], since: Timestamp) -> bool {
    let f = job.facts();
    f.created.is_some_and(|c| c >= since)
        && owner_kind(f).is_some_and(|k| k == Kind::CronJob && served.contains(&k))
        && f.scheduled_time.is_some()
        && !f.manual
        && f.creator.as_deref().is_some_and(|c| c != FIELD_MANAGER)
}

/// The object to sync when this Job changes: (kind, name, namespace).
pub fn owner_of(job: &CompactJob) -> Option<(Kind, String, String)> {
    let kind = owner_kind(job.facts())?;
    let c = job.facts().controller.as_ref()?;
    Some((kind, c.name.clone(), job.facts().namespace.clone()))
}

fn job_key(job: &JobFacts) -> (String, String) {
    (job.namespace.clone(), job.name.clone())
}

#[derive(Default)]
struct Index {
    /// owner UID -> (namespace, name) -> Job
    by_owner: HashMap<String, HashMap<(String, String), DecodedJob>>,
    /// (namespace, name) -> owner UID, to move or drop a Job on update/delete.
    owner_of: HashMap<(String, String), String>,
}

impl Index {
    fn get(&self, key: &(String, String)) -> Option<&DecodedJob> {
        self.by_owner.get(self.owner_of.get(key)?)?.get(key)
    }

    fn insert(&mut self, job: &CompactJob) {
        let key = job_key(job.facts());
        self.remove(&key);
        if let Some(owner) = cronjob_owner(job.facts()).map(str::to_owned) {
            self.owner_of.insert(key.clone(), owner.clone());
            self.by_owner
                .entry(owner)
                .or_default()
                .insert(key, job.decoded().clone());
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

/// How long the cache remembers that the watch saw a Job deleted.
const DELETED_MEMORY: Duration = Duration::from_secs(60);

/// UIDs of Jobs the watch saw deleted lately, and when.
#[derive(Default)]
struct Deleted {
    at: HashMap<String, Instant>,
    pruned: Option<Instant>,
}

/// Jobs owned by CronJobs, fed by a Job watcher's events.
pub struct JobCache {
    live: RwLock<Index>,
    /// A relist in progress (between Init and InitDone).
    relist: RwLock<Option<Index>>,
    /// Jobs the last relist dropped, for [`RelistedCache::vanished`].
    vanished: Mutex<Vec<CompactJob>>,
    /// So that an active reference to a Job seen deleted is known gone
    /// without asking the API server.
    deleted: Mutex<Deleted>,
    synced: watch::Sender<bool>,
}

impl Default for JobCache {
    fn default() -> Self {
        JobCache {
            live: RwLock::default(),
            relist: RwLock::default(),
            vanished: Mutex::default(),
            deleted: Mutex::default(),
            synced: watch::channel(false).0,
        }
    }
}

impl JobCache {
    /// Apply one watcher event. A relist is built aside and swapped in at
    /// InitDone, so readers never see a half-listed cache.
    pub fn apply(&self, event: &Event<CompactJob>) {
        match event {
            Event::Apply(job) => self.live.write().insert(job),
            Event::Delete(job) => {
                self.live.write().remove(&job_key(job.facts()));
                self.remember_deleted(job.facts());
            }
            Event::Init => *self.relist.write() = Some(Index::default()),
            Event::InitApply(job) => {
                if let Some(buf) = self.relist.write().as_mut() {
                    buf.insert(job);
                }
            }
            Event::InitDone => {
                if let Some(buf) = self.relist.write().take() {
                    let old = std::mem::replace(&mut *self.live.write(), buf);
                    let vanished = self.dropped_by_relist(old);
                    for job in &vanished {
                        self.remember_deleted(job.facts());
                    }
                    *self.vanished.lock() = vanished;
                }
                self.synced.send_replace(true);
            }
        }
    }

    /// The Jobs of `old` that the live index no longer holds (or holds as
    /// another object of the same name): deleted while the watch was down.
    fn dropped_by_relist(&self, old: Index) -> Vec<CompactJob> {
        let live = self.live.read();
        old.by_owner
            .into_values()
            .flat_map(HashMap::into_values)
            .filter(|job| {
                live.get(&job_key(&job.facts))
                    .is_none_or(|now| now.facts.uid != job.facts.uid)
            })
            .map(CompactJob::from)
            .collect()
    }

    fn remember_deleted(&self, job: &JobFacts) {
        let uid = job.uid.clone();
        if uid.is_empty() {
            return;
        }
        let now = Instant::now();
        let mut deleted = self.deleted.lock();
        // Pruned at most once per memory span, not at every delete.
        if deleted
            .pruned
            .is_none_or(|t| now.duration_since(t) >= DELETED_MEMORY)
        {
            deleted
                .at
                .retain(|_, at| now.duration_since(*at) < DELETED_MEMORY);
            deleted.pruned = Some(now);
        }
        deleted.at.insert(uid, now);
    }

    /// Did the watch report the Job with this UID deleted in the last
    /// minute? (UIDs are never reused, so such a Job is gone for good.)
    pub fn deleted_lately(&self, job_uid: &str) -> bool {
        self.deleted
            .lock()
            .at
            .get(job_uid)
            .is_some_and(|at| at.elapsed() < DELETED_MEMORY)
    }

    /// The Jobs controlled by the CronJob with this UID.
    pub fn owned_by(&self, owner_uid: &str) -> Vec<JobFacts> {
        let live = self.live.read();
        live.by_owner
            .get(owner_uid)
            .map(|jobs| jobs.values().map(|j| j.facts.clone()).collect())
            .unwrap_or_default()
    }

    pub fn len(&self) -> usize {
        self.live.read().owner_of.len()
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

impl RelistedCache<CompactJob> for std::sync::Arc<JobCache> {
    fn version_before(&self, job: &CompactJob) -> Option<String> {
        self.live
            .read()
            .get(&job_key(job.facts()))?
            .resource_version
            .clone()
    }

    fn current(&self, namespace: Option<&str>, name: &str) -> Option<CompactJob> {
        let key = (namespace.unwrap_or_default().to_owned(), name.to_owned());
        self.live.read().get(&key).cloned().map(CompactJob::from)
    }

    fn vanished(&self) -> Vec<CompactJob> {
        std::mem::take(&mut *self.vanished.lock())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn job(name: &str, owner: Option<&str>) -> CompactJob {
        let owners = owner.map(|o| {
            json!([{"apiVersion": "batch/v1", "kind": "CronJob", "name": "cj", "uid": o, "controller": true}])
        });
        serde_json::from_value(json!({
            "metadata": {"name": name, "namespace": "ns", "uid": format!("uid-{name}"), "ownerReferences": owners},
        }))
        .unwrap()
    }

    #[test]
    fn a_slot_job_created_by_another_manager_is_foreign() {
        let with = |annotations: serde_json::Value, manager: &str| -> CompactJob {
            serde_json::from_value(json!({
                "metadata": {"name": "cj-1", "namespace": "ns", "uid": "j1",
                    "creationTimestamp": "2026-12-01T10:00:01Z",
                    "annotations": annotations,
                    "managedFields": [{"manager": manager, "operation": "Update", "fieldsV1": {"f:spec": {}}},
                                      {"manager": "kube-controller-manager", "operation": "Update", "subresource": "status"}],
                    "ownerReferences": [{"apiVersion": "batch/v1", "kind": "CronJob", "name": "cj", "uid": "o", "controller": true}]}
            }))
            .unwrap()
        };
        let slot =
            json!({"batch.kubernetes.io/cronjob-scheduled-timestamp": "2026-12-01T10:00:00Z"});
        let served = [Kind::CronJob];
        let since: Timestamp = "2026-12-01T10:00:00Z".parse().unwrap();
        assert!(made_by_another_controller(
            &with(slot.clone(), "kube-controller-manager"),
            &served,
            since
        ));
        // Made before this process started: history, not a second controller.
        assert!(!made_by_another_controller(
            &with(slot.clone(), "kube-controller-manager"),
            &served,
            "2026-12-01T10:05:00Z".parse().unwrap()
        ));
        assert!(!made_by_another_controller(
            &with(slot.clone(), "kronjob"),
            &served,
            since
        ));
        assert!(!made_by_another_controller(
            &with(slot.clone(), "kube-controller-manager"),
            &[Kind::KronJob],
            since
        ));
        // kubectl create job --from=cronjob/cj: a manual run, not a controller.
        let manual = json!({"cronjob.kubernetes.io/instantiate": "manual"});
        assert!(!made_by_another_controller(
            &with(manual, "kubectl-create"),
            &served,
            since
        ));
    }

    #[test]
    fn a_relist_reads_back_the_jobs_it_keeps() {
        let cache = std::sync::Arc::new(JobCache::default());
        cache.apply(&Event::Apply(job("a", Some("o1"))));
        cache.apply(&Event::Apply(job("c", None)));
        let a = cache
            .current(Some("ns"), "a")
            .expect("an owned Job is kept");
        assert_eq!(a.facts().uid, "uid-a");
        assert_eq!(kube::Resource::meta(&a).name.as_deref(), Some("a"));
        assert!(
            cache.current(Some("ns"), "c").is_none(),
            "not kept: no owner"
        );
        assert!(cache.current(Some("other"), "a").is_none());
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
        assert!(!cache.deleted_lately("uid-a"));
        cache.apply(&Event::Delete(job("a", Some("o1"))));
        assert!(cache.owned_by("o1").is_empty());
        assert!(cache.deleted_lately("uid-a"), "a deleted Job is known gone");
        assert!(!cache.deleted_lately("uid-b"));
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
