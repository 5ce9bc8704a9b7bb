//! One sync of one CronJob: gather the facts the planner asks for, plan,
//! carry out the plan's effects in order, write status once.

use std::borrow::Cow;
use std::collections::HashMap;

use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::batch::v1::Job;
use kube::api::{DeleteParams, Patch, PatchParams, PostParams, Preconditions};
use kube::{Api, Resource};
use tracing::{debug, info, warn};

use super::Context;
use super::api_errors::{self as errs, message};
use super::compact::{Cached, CompactJob};
use super::kinds::ServedKind;
use crate::model::{FIELD_MANAGER, JobFacts, Scheduled, Status};
use crate::objects;
use crate::planner::retry::RetryBounds;
use crate::planner::{
    self, DeletePurpose, Effect, JobCreation, Observed, Plan, StatusDelta, events,
};

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error("{action}: {source}")]
    Api {
        action: &'static str,
        #[source]
        source: kube::Error,
    },
    #[error("could not replace job {0}")]
    Replace(String),
    #[error("encode job {0}: {1}")]
    Encode(String, #[source] serde_json::Error),
    #[error("sync panicked: {0}")]
    Panicked(String),
}

/// A failed sync, with what bounds its retry (`planner::retry`): known
/// once the sync got as far as a plan.
#[derive(Debug, thiserror::Error)]
#[error("{error}")]
pub struct SyncFailure {
    pub error: Box<SyncError>,
    pub retry: RetryBounds,
}

impl From<SyncError> for SyncFailure {
    fn from(error: SyncError) -> Self {
        SyncFailure {
            error: Box::new(error),
            retry: RetryBounds::default(),
        }
    }
}

fn api_err(action: &'static str) -> impl FnOnce(kube::Error) -> SyncError {
    move |source| SyncError::Api { action, source }
}

/// What a finished sync decided about the next wake-up.
pub struct Synced {
    pub wake_at: Option<Timestamp>,
}

/// The object read again from the API server, if it still is the same
/// object and can be decoded.
async fn reread<K: ServedKind>(
    api: &Api<Cached<K>>,
    object: &Scheduled,
) -> Result<Option<Scheduled>, SyncError> {
    let fresh = api
        .get_opt(&object.name)
        .await
        .map_err(api_err("get object"))?;
    Ok(fresh
        .and_then(|f| f.scheduled().ok().cloned())
        .filter(|f| f.uid == object.uid))
}

pub async fn sync<K: ServedKind>(object: &Scheduled, ctx: &Context) -> Result<Synced, SyncFailure> {
    crate::failpoints::sync_panic(&object.name);
    ctx.jobs.wait_synced().await;
    let ns = object.namespace.as_str();
    let cronjobs: Api<Cached<K>> = Api::namespaced(ctx.client.clone(), ns);
    let jobs_api: Api<CompactJob> = Api::namespaced(ctx.client.clone(), ns);
    let jobs = ctx.jobs.owned_by(&object.uid);

    // Plan on the status as it is once the changes still waiting to be
    // written are (status_writer.rs).
    let mut object = Cow::Borrowed(object);
    if ctx.pending.has(&object.uid) {
        ctx.pending.overlay(object.to_mut());
    }
    // An unfinished Job missing from status.active is usually our own status
    // write not yet seen by the watch: re-read the CronJob once before
    // calling the Job unexpected.
    let mut lookups = planner::lookups_needed(&object, &jobs);
    let ours_in_flight = |name: &String| {
        jobs.iter()
            .find(|j| &j.name == name)
            .is_some_and(|j| ctx.recorded_by_own_write(&j.uid))
    };
    if !lookups.unexpected.is_empty() && lookups.unexpected.iter().all(ours_in_flight) {
        // The cache has the Jobs we just created but not yet our status
        // write that lists them; that write's watch event triggers the real
        // sync. Check again shortly in case it does not.
        debug!("cache behind our own status write; syncing when it arrives");
        return Ok(Synced {
            wake_at: Some(Timestamp::now() + SignedDuration::from_secs(1)),
        });
    }
    if !lookups.unexpected.is_empty() {
        match reread(&cronjobs, &object).await? {
            Some(mut fresh) => {
                ctx.pending.overlay(&mut fresh);
                lookups = planner::lookups_needed(&fresh, &jobs);
                object = Cow::Owned(fresh);
            }
            None => return Ok(Synced { wake_at: None }),
        }
    }
    // Active Jobs the cache does not hold: ask the API server, so a slow
    // watch never makes a running Job look missing. Unless the watch saw it
    // deleted (it is gone), or we created it moments ago and recorded it
    // ourselves (it exists: its watch event is on its way and will sync this
    // CronJob again). In a burst of 5000 slots, a GET for one Job in five
    // went to such Jobs.
    let mut observed = Observed::default();
    for r in &lookups.unknown_active {
        let Some(ref_uid) = r.uid.clone() else {
            continue;
        };
        if ctx.jobs.deleted_lately(&ref_uid) {
            observed.gone.push(ref_uid);
            continue;
        }
        if ctx.recorded_by_own_write(&ref_uid) {
            continue;
        }
        let job_ns = r.namespace.as_deref().unwrap_or(ns);
        let api: Api<CompactJob> = Api::namespaced(ctx.client.clone(), job_ns);
        let found = api
            .get_opt(r.name.as_deref().unwrap_or_default())
            .await
            .map_err(api_err("get job"))?;
        if found.is_none_or(|j| j.facts().uid != ref_uid) {
            observed.gone.push(ref_uid);
        }
    }

    let now = Timestamp::now();
    let plan = planner::plan(&object, &jobs, &observed, now);
    debug!(decision = ?plan.decision, wake_at = ?plan.wake_at, "planned");
    let mut delta = plan.delta.clone();
    let outcome = carry_out(&plan, &object, &jobs_api, ctx, &mut delta).await;

    // The status change, even when an effect failed part-way (what did
    // happen is recorded), is written behind the creates of a burst, merged
    // with any other change of this object still waiting.
    let mut status_now = object.status.clone();
    delta.apply(&mut status_now);
    ctx.pending.add(&object, delta);
    outcome.map_err(|error| SyncFailure {
        error: Box::new(error),
        retry: planner::retry::bounds(&plan, &object),
    })?;
    record_gauges(ctx, &object, &status_now, &plan);
    record_counters(ctx, &object, &plan);
    Ok(Synced {
        wake_at: plan.wake_at,
    })
}

/// Delete one Job, only if it still is the one planned (UID precondition):
/// a Job recreated under the same name is never deleted in its place.
async fn delete_job(
    jobs_api: &Api<CompactJob>,
    name: &str,
    uid: Option<&str>,
) -> Result<(), kube::Error> {
    let mut params = DeleteParams::background();
    if let Some(uid) = uid.filter(|u| !u.starts_with("planned:")) {
        params = params.preconditions(Preconditions {
            uid: Some(uid.to_owned()),
            resource_version: None,
        });
    }
    jobs_api.delete(name, &params).await.map(|_| ())
}

async fn carry_out(
    plan: &Plan,
    object: &Scheduled,
    jobs_api: &Api<CompactJob>,
    ctx: &Context,
    delta: &mut StatusDelta,
) -> Result<(), SyncError> {
    for effect in &plan.effects {
        match effect {
            Effect::Event(ev) => ctx.emit(object, ev),
            Effect::Delete(d) => {
                if d.purpose == DeletePurpose::Replace
                    && let Err(e) = jobs_api.get(&d.name).await
                {
                    ctx.emit(object, &events::failed_get(&message(&e)));
                    return Err(SyncError::Api {
                        action: "get job to replace",
                        source: e,
                    });
                }
                match delete_job(jobs_api, &d.name, d.uid.as_deref()).await {
                    Ok(()) => {
                        ctx.emit(object, &events::successful_delete(&d.name));
                        let reason = match d.purpose {
                            DeletePurpose::History => "history",
                            DeletePurpose::Replace => "replace",
                        };
                        ctx.metrics.jobs_deleted.with_label_values(&[reason]).inc();
                        if d.purpose == DeletePurpose::Replace {
                            delta.remove_active.extend(d.uid.clone());
                        }
                    }
                    // Deleted by someone else first (e.g. the TTL controller),
                    // or the name now belongs to another Job: the planned one
                    // is gone.
                    Err(e) if errs::is_not_found(&e) || errs::is_conflict(&e) => {
                        if d.purpose == DeletePurpose::Replace {
                            delta.remove_active.extend(d.uid.clone());
                        }
                    }
                    Err(e) => {
                        ctx.emit(object, &events::failed_delete(&message(&e)));
                        if d.purpose == DeletePurpose::Replace {
                            return Err(SyncError::Replace(d.name.clone()));
                        }
                    }
                }
            }
            Effect::Create(c) => create(c, object, jobs_api, ctx, delta).await?,
        }
    }
    Ok(())
}

async fn create(
    c: &JobCreation,
    object: &Scheduled,
    jobs_api: &Api<CompactJob>,
    ctx: &Context,
    delta: &mut StatusDelta,
) -> Result<(), SyncError> {
    let job_name = c.job.name.as_str();
    if ctx.rejected_before(object, c.slot) {
        // Refused already (and reported): retrying cannot succeed.
        debug!(job = %job_name, slot = %c.slot, "job already rejected for this spec");
        return Ok(());
    }
    let body = objects::job::manifest(&c.job)
        .and_then(|m| serde_json::to_vec(&m))
        .map_err(|e| SyncError::Encode(job_name.to_owned(), e))?;
    let params = PostParams {
        field_manager: Some(FIELD_MANAGER.into()),
        ..Default::default()
    };
    let request = kube::core::Request::new(Job::url_path(&(), Some(&c.job.namespace)))
        .create(&params, body)
        .map_err(|e| SyncError::Api {
            action: "create job",
            source: kube::Error::BuildRequest(e),
        })?;
    let creating = ctx.creates.creating();
    let response = ctx.client.request::<CompactJob>(request).await;
    drop(creating);
    match response {
        Ok(created) => {
            crate::failpoints::crash_after_create(&object.name);
            let skew = Timestamp::now().duration_since(c.slot).as_secs_f64();
            ctx.metrics.creation_skew.observe(skew.max(0.0));
            ctx.metrics.jobs_created.inc();
            info!(job = %job_name, slot = %c.slot, skew_seconds = skew, "created job");
            ctx.emit(object, &events::successful_create(job_name));
            delta.merge(planner::created_delta(
                c,
                Some(created.facts().uid.clone()),
                kube::Resource::meta(&created).resource_version.clone(),
            ));
        }
        Err(e) if errs::is_already_exists(&e) => {
            // Created earlier by us (a restart between create and status
            // write, or another replica): record it; never adopt a Job
            // someone else controls.
            let existing = jobs_api
                .get(job_name)
                .await
                .map_err(api_err("get existing job"))?;
            let facts: &JobFacts = existing.facts();
            let ours = facts.is_controlled_by(object);
            let listed = object
                .status
                .active
                .iter()
                .any(|r| r.uid.as_deref() == Some(facts.uid.as_str()));
            info!(job = %job_name, ours, listed, "job already exists");
            if ours && !listed && facts.finished.is_none() {
                delta.merge(planner::created_delta(
                    c,
                    Some(facts.uid.clone()),
                    kube::Resource::meta(&existing).resource_version.clone(),
                ));
            } else if ours || matches!(c.trigger, planner::Trigger::RunNow(_)) {
                // Already ran (a finished Job is not put back into active)
                // or already recorded: record the slot, or the request as
                // handled. A run-now whose name someone else's Job holds is
                // recorded too, never retried.
                delta.merge(planner::handled_delta(c));
            }
        }
        Err(e) if errs::is_namespace_terminating(&e) => {
            ctx.metrics
                .job_create_errors
                .with_label_values(&["namespace_terminating"])
                .inc();
            return Err(SyncError::Api {
                action: "create job",
                source: e,
            });
        }
        Err(e) => {
            ctx.emit(object, &events::failed_create(&message(&e)));
            if errs::is_permanent(&e) {
                // Retrying the same request cannot succeed: wait for the
                // next slot or a spec change instead.
                ctx.remember_rejected(object, c.slot);
                ctx.metrics
                    .job_create_errors
                    .with_label_values(&["invalid"])
                    .inc();
                warn!(job = %job_name, error = %message(&e), "job rejected by the API server");
            } else {
                ctx.metrics
                    .job_create_errors
                    .with_label_values(&["other"])
                    .inc();
                return Err(SyncError::Api {
                    action: "create job",
                    source: e,
                });
            }
        }
    }
    Ok(())
}

/// Apply `delta` to the object's status and write what changed, guarded
/// by the resourceVersion we read. On a 409 the object is read again and
/// the same delta applied to the fresh copy: other writers' changes are
/// kept. What the kind's status cannot hold (a CronJob's run-now token) is
/// written to its metadata afterwards.
pub async fn write_status<K: ServedKind>(
    api: &Api<Cached<K>>,
    object: &Scheduled,
    delta: &StatusDelta,
) -> Result<Option<Scheduled>, SyncError> {
    if delta.is_empty() {
        return Ok(None);
    }
    let params = PatchParams {
        field_manager: Some(FIELD_MANAGER.into()),
        ..Default::default()
    };
    let mut base = Cow::Borrowed(object);
    for _attempt in 0..5 {
        let mut status = base.status.clone();
        delta.apply(&mut status);
        if let Some(patch) = K::metadata_patch(&base.status, &status) {
            api.patch(&base.name, &params, &Patch::Merge(&patch))
                .await
                .map_err(api_err("annotate object"))?;
        }
        let Some(patch) = K::status_patch(base.resource_version.as_deref(), &base.status, &status)
        else {
            return Ok(None);
        };
        match api
            .patch_status(&base.name, &params, &Patch::Merge(&patch))
            .await
        {
            Ok(updated) => return Ok(updated.scheduled().ok().cloned()),
            Err(e) if errs::is_conflict(&e) => {
                debug!("status conflict, re-reading the object");
                match reread(api, object).await? {
                    Some(fresh) => base = Cow::Owned(fresh),
                    None => return Ok(None),
                }
            }
            Err(e) if errs::is_not_found(&e) => return Ok(None),
            Err(e) => {
                return Err(SyncError::Api {
                    action: "update status",
                    source: e,
                });
            }
        }
    }
    Err(SyncError::Api {
        action: "update status",
        source: kube::Error::Api(Box::new(kube::core::Status::failure(
            "too many conflicts",
            "Conflict",
        ))),
    })
}

fn record_gauges(ctx: &Context, object: &Scheduled, status: &Status, plan: &Plan) {
    let secs = |t: Option<Timestamp>| t.map(|t| t.as_second()).unwrap_or(0);
    ctx.record_cronjob(object, |g| {
        g.next_schedule_time = secs(plan.next_schedule_time);
        g.last_schedule_time = secs(status.last_schedule_time);
        g.last_successful_time = secs(status.last_successful_time);
        // A CronJob's status has no lastFailureTime: the plan's comes from
        // the failed Jobs it sees, and the gauge keeps the latest after the
        // history limit deleted them.
        let latest = status.last_failure_time.max(plan.delta.last_failure_time);
        g.last_failure_time = g.last_failure_time.max(secs(latest));
        g.active_jobs = i64::try_from(status.active.len()).unwrap_or(i64::MAX);
        g.suspended = i64::from(object.spec.suspend);
    });
}

fn record_counters(ctx: &Context, object: &Scheduled, plan: &Plan) {
    if let planner::Decision::Skip { reason, .. } = plan.decision {
        let label = match reason {
            planner::SkipReason::ConcurrencyForbid => "concurrency_forbid",
            planner::SkipReason::NameTaken => "name_taken",
        };
        ctx.metrics.slots_skipped.with_label_values(&[label]).inc();
    }
    if let Some(missed) = plan.missed_slot {
        // Count each missed slot once, however many syncs notice it.
        let mut seen = ctx.shared.missed_slots.lock();
        if seen.get(&object.uid) != Some(&missed) {
            seen.insert(object.uid.clone(), missed);
            ctx.metrics
                .slots_missed
                .with_label_values(&["deadline_exceeded"])
                .inc();
        }
    }
    if plan.superseded_slots > 0 {
        // Count each superseded slot once: a Forbid skip is planned again at
        // every sync with the same (or a growing) set of superseded slots.
        let seen = SupersededSeen {
            anchor: (object.status.last_schedule_time)
                .or(object.created)
                .unwrap_or(Timestamp::UNIX_EPOCH),
            latest: match plan.decision {
                planner::Decision::Create { slot, .. } | planner::Decision::Skip { slot, .. } => {
                    Some(slot)
                }
                _ => None,
            },
            count: plan.superseded_slots,
        };
        let new = count_superseded(
            &mut ctx.shared.superseded_slots.lock(),
            object.uid.clone(),
            seen,
        );
        if new > 0 {
            ctx.metrics
                .slots_missed
                .with_label_values(&["superseded"])
                .inc_by(u64::from(new));
        }
    }
}

/// The superseded slots of one plan: `count` slots older than `latest` (the
/// slot run or skipped; None when the plan names none) under `anchor`, the
/// CronJob's lastScheduleTime (or creation time).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SupersededSeen {
    pub anchor: Timestamp,
    pub latest: Option<Timestamp>,
    pub count: u32,
}

/// Remember `now` for the CronJob `uid`; how many of its superseded slots
/// are new.
fn count_superseded(
    counted: &mut HashMap<String, SupersededSeen>,
    uid: String,
    now: SupersededSeen,
) -> u32 {
    let before = counted.get(&uid).copied();
    let new = newly_superseded(before.as_ref(), &now);
    let latest = now.latest.or(before.and_then(|b| b.latest));
    counted.insert(uid, SupersededSeen { latest, ..now });
    new
}

/// How many of `now`'s superseded slots were not counted under `before`.
/// Under the same anchor the set only grows with the newest due slot, so the
/// growth is new; when the due slot moved on, the previous one (skipped,
/// never run) is superseded now even if startingDeadlineSeconds let as many
/// old slots slide out of the window as new ones came in. A new anchor (a
/// Job ran) starts a new set.
fn newly_superseded(before: Option<&SupersededSeen>, now: &SupersededSeen) -> u32 {
    match before {
        Some(b) if b.anchor == now.anchor => {
            let grown = now.count.saturating_sub(b.count);
            match (b.latest, now.latest) {
                (Some(was), Some(is)) if is != was => grown.max(1),
                _ => grown,
            }
        }
        _ => now.count,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(minute: i64) -> Timestamp {
        Timestamp::from_second(minute * 60).unwrap()
    }

    fn seen(anchor: i64, latest: Option<i64>, count: u32) -> SupersededSeen {
        SupersededSeen {
            anchor: t(anchor),
            latest: latest.map(t),
            count,
        }
    }

    /// Feeds the plans of successive syncs; the total counted.
    fn total(plans: &[SupersededSeen]) -> u32 {
        let mut counted = HashMap::new();
        plans
            .iter()
            .map(|p| count_superseded(&mut counted, "uid".into(), *p))
            .sum()
    }

    #[test]
    fn a_forbid_skip_counts_each_superseded_slot_once() {
        // Every minute, a Job that runs on: the slot of minute 1 is skipped,
        // superseded at minute 2, the one of minute 2 at minute 3. Every
        // skip is planned again at many syncs (Job events, resyncs).
        let mut plans = vec![];
        for minute in 2..=3 {
            for _ in 0..5 {
                plans.push(seen(0, Some(minute), (minute - 1) as u32));
            }
        }
        assert_eq!(total(&plans), 2);
    }

    #[test]
    fn a_sliding_deadline_window_counts_the_slot_that_moved_on() {
        // startingDeadlineSeconds keeps 5 slots in the window: 4 superseded
        // at each sync, one of them new whenever the due slot moves on.
        let plans: Vec<_> = (5..=8)
            .flat_map(|m| [seen(0, Some(m), 4), seen(0, Some(m), 4)])
            .collect();
        assert_eq!(total(&plans), 4 + 3);
    }

    #[test]
    fn a_resync_that_names_no_slot_counts_nothing_again() {
        // Six slots missed while the controller was down: the most recent
        // runs, 5 superseded. A sync on a cache that has not yet seen the
        // status write plans Wait on the same anchor and slots.
        assert_eq!(total(&[seen(0, Some(6), 5), seen(0, None, 5)]), 5);
        // ... and a later skip at the same slot neither.
        assert_eq!(
            total(&[seen(0, Some(6), 5), seen(0, None, 5), seen(0, Some(6), 5)]),
            5
        );
    }

    #[test]
    fn a_new_anchor_starts_a_new_set() {
        // A Job ran at minute 6 (lastScheduleTime moved): the next burst of
        // missed slots is counted in full.
        assert_eq!(total(&[seen(0, Some(6), 5), seen(6, Some(10), 3)]), 8);
    }

    #[test]
    fn each_cronjob_is_counted_on_its_own() {
        let mut counted = HashMap::new();
        let p = seen(0, Some(3), 2);
        assert_eq!(count_superseded(&mut counted, "a".into(), p), 2);
        assert_eq!(count_superseded(&mut counted, "b".into(), p), 2);
        assert_eq!(count_superseded(&mut counted, "a".into(), p), 0);
    }
}
