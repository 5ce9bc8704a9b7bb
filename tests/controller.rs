//! End-to-end behaviour of `kronjob run` against a real API server: each
//! test gets its own namespace and its own controller watching only it, and
//! checks what a user sees with kubectl: Jobs, CronJob status, Events.

mod common;
mod support;

use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::Event;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use serde_json::json;

use common::{TestNamespace, TestPod, wait_for};
use support::*;

const SLOT_WAIT: Duration = Duration::from_secs(90);

struct Fixture {
    ns: TestNamespace,
    cronjobs: Api<CronJob>,
    jobs: Api<Job>,
    events: Api<Event>,
    kronjob: Kronjob,
}

async fn setup(prefix: &str) -> Fixture {
    let client = common::client().await;
    let ns = TestNamespace::new(&client, prefix).await;
    let kronjob = Kronjob::start(ns.name(), &[]).await;
    Fixture {
        cronjobs: ns.api(),
        jobs: ns.api(),
        events: ns.api(),
        kronjob,
        ns,
    }
}

impl Fixture {
    async fn create(&self, cj: CronJob) -> CronJob {
        self.cronjobs
            .create(&PostParams::default(), &cj)
            .await
            .expect("create cronjob")
    }

    async fn patch_spec(&self, name: &str, spec: serde_json::Value) {
        self.cronjobs
            .patch(
                name,
                &PatchParams::default(),
                &Patch::Merge(json!({ "spec": spec })),
            )
            .await
            .expect("patch cronjob");
    }

    async fn wait_jobs(&self, cj: &CronJob, n: usize, timeout: Duration) -> Vec<Job> {
        wait_for(
            &format!("{n} Jobs of {}", cj.metadata.name.as_deref().unwrap()),
            timeout,
            || async {
                let jobs = owned_jobs(&self.jobs, cj).await;
                if jobs.len() >= n {
                    Ok(jobs)
                } else {
                    Err(format!("{} jobs", jobs.len()))
                }
            },
        )
        .await
    }

    /// Counts syncs this controller finished (a standby's no-op counts too).
    fn reconciles(&self) -> f64 {
        self.kronjob.counter("kronjob_reconciles_total")
    }
}

fn slot_of(job: &Job) -> Timestamp {
    scheduled_annotation(job)
        .parse()
        .expect("scheduled-timestamp annotation is RFC3339")
}

/// Wait for `d` of wall time: used only to observe that something does NOT
/// happen during a window, never to wait for something to happen.
async fn observe_for(d: Duration) {
    tokio::time::sleep(d).await;
}

#[tokio::test]
async fn every_minute_creates_the_job_at_the_boundary_and_records_success() {
    let f = setup("minute").await;
    let cj = f
        .create(cronjob("minutely", "*/1 * * * *", TestPod::Succeed))
        .await;
    let job = f.wait_jobs(&cj, 1, SLOT_WAIT).await.remove(0);

    // Upstream's naming, annotation and ownership.
    let slot = slot_of(&job);
    assert_eq!(slot.as_second() % 60, 0, "slot on a minute boundary");
    assert_eq!(
        job.metadata.name.as_deref().unwrap(),
        format!("minutely-{}", slot.as_second() / 60)
    );
    assert_eq!(
        scheduled_annotation(&job),
        slot.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
    );
    let owner = &job.metadata.owner_references.as_ref().unwrap()[0];
    assert_eq!(
        (owner.kind.as_str(), owner.name.as_str()),
        ("CronJob", "minutely")
    );
    assert_eq!(
        (owner.controller, owner.block_owner_deletion),
        (Some(true), Some(true))
    );
    assert_eq!(job.metadata.labels.as_ref().unwrap()["app"], "minutely");
    assert_eq!(
        job.metadata.annotations.as_ref().unwrap()["from-template"],
        "yes"
    );
    // Created within a second of the boundary (creationTimestamp has whole seconds).
    let created = job.metadata.creation_timestamp.as_ref().unwrap().0;
    assert!(
        created.as_second() - slot.as_second() <= 1,
        "created {created}, slot {slot}"
    );
    wait_for(
        "the creation skew to be observed",
        Duration::from_secs(10),
        || async {
            let n = f
                .kronjob
                .counter("cronjob_controller_job_creation_skew_duration_seconds_count");
            if n >= 1.0 {
                Ok(())
            } else {
                Err(format!("{n}"))
            }
        },
    )
    .await;

    let name = job.metadata.name.clone().unwrap();
    common::wait_for_job_condition(&f.jobs, &name, "Complete", Duration::from_secs(60)).await;
    let status = wait_for(
        "status to record the success",
        Duration::from_secs(30),
        || async {
            let cj = get_cronjob(&f.cronjobs, "minutely").await;
            let st = cj.status.clone().unwrap_or_default();
            if st.last_successful_time.is_some() && active_names(&cj).is_empty() {
                Ok(st)
            } else {
                Err(format!("{st:?}"))
            }
        },
    )
    .await;
    assert_eq!(status.last_schedule_time.unwrap().0, slot);
    let evs = events(&f.events, "minutely").await;
    assert!(
        evs.contains(&(
            "Normal".into(),
            "SuccessfulCreate".into(),
            format!("Created job {name}")
        )),
        "{evs:?}"
    );
    assert!(
        evs.contains(&(
            "Normal".into(),
            "SawCompletedJob".into(),
            format!("Saw completed job: {name}, condition: Complete")
        )),
        "{evs:?}"
    );
    drop(f.ns);
}

/// Two slots of one CronJob: `kubectl describe` names both Jobs (an Event
/// series keyed without the message would show the first name twice).
#[tokio::test]
async fn each_created_job_gets_its_own_event() {
    let f = setup("twice").await;
    let cj = f
        .create(cronjob("twice", "* * * * *", TestPod::RunForever))
        .await;
    let jobs = f
        .wait_jobs(&cj, 2, SLOT_WAIT + Duration::from_secs(60))
        .await;
    for job in &jobs {
        let want = (
            "Normal".to_string(),
            "SuccessfulCreate".to_string(),
            format!("Created job {}", job.metadata.name.as_deref().unwrap()),
        );
        wait_for(
            &format!("the event {want:?}"),
            Duration::from_secs(10),
            || async {
                let evs = events(&f.events, "twice").await;
                if evs.contains(&want) {
                    Ok(())
                } else {
                    Err(format!("{evs:?}"))
                }
            },
        )
        .await;
    }
    drop(f.ns);
}

#[tokio::test]
async fn forbid_skips_while_a_job_runs_and_resumes_when_it_is_gone() {
    let f = setup("forbid").await;
    let mut cj = cronjob("forbid", "@every 2s", TestPod::RunForever);
    cj.spec.concurrency_policy = Some("Forbid".into());
    let cj = f.create(cj).await;
    let first = f.wait_jobs(&cj, 1, Duration::from_secs(30)).await.remove(0);
    // Slots in the same minute share the running Job's name (already handled,
    // as upstream); the first slot of the next minute is the one skipped.
    let (ty, _, msg) = wait_for_event(&f.events, "forbid", "JobAlreadyActive", SLOT_WAIT).await;
    assert_eq!(ty, "Normal");
    assert_eq!(
        msg,
        "Not starting job because prior execution is running and concurrency policy is Forbid"
    );
    assert_eq!(
        owned_jobs(&f.jobs, &cj).await.len(),
        1,
        "Forbid must not start a second Job"
    );
    wait_for(
        "the skipped slot to be counted",
        Duration::from_secs(10),
        || async {
            let n = f
                .kronjob
                .counter_with("kronjob_slots_skipped_total", "concurrency_forbid");
            if n >= 1.0 {
                Ok(())
            } else {
                Err(format!("{n}"))
            }
        },
    )
    .await;

    // The running Job disappears: MissingJob, and the due slot runs (its
    // name may be the same within one minute: compare UIDs).
    let first_name = first.metadata.name.clone().unwrap();
    let first_uid = first.metadata.uid.clone().unwrap();
    f.jobs
        .delete(&first_name, &DeleteParams::background())
        .await
        .unwrap();
    let (_, _, msg) =
        wait_for_event(&f.events, "forbid", "MissingJob", Duration::from_secs(30)).await;
    assert_eq!(msg, format!("Active job went missing: {first_name}"));
    wait_for(
        "a new Job after the old one went away",
        Duration::from_secs(30),
        || async {
            let jobs = owned_jobs(&f.jobs, &cj).await;
            let uids: Vec<_> = jobs.iter().filter_map(|j| j.metadata.uid.clone()).collect();
            if uids.iter().any(|u| *u != first_uid) {
                Ok(())
            } else {
                Err(format!("{uids:?}"))
            }
        },
    )
    .await;
}

#[tokio::test]
async fn replace_deletes_the_running_job_and_starts_the_next() {
    let f = setup("replace").await;
    // Minute slots: each slot has its own Job name.
    let mut cj = cronjob("replace", "* * * * *", TestPod::RunForever);
    cj.spec.concurrency_policy = Some("Replace".into());
    let cj = f.create(cj).await;
    let first = f.wait_jobs(&cj, 1, SLOT_WAIT).await.remove(0);
    let first_name = first.metadata.name.clone().unwrap();
    let (_, _, msg) = wait_for_event(&f.events, "replace", "SuccessfulDelete", SLOT_WAIT).await;
    assert_eq!(msg, format!("Deleted job {first_name}"));
    let cj_now = wait_for(
        "the replacement to be the only active Job",
        Duration::from_secs(30),
        || async {
            let c = get_cronjob(&f.cronjobs, "replace").await;
            let active = active_names(&c);
            if active.len() == 1 && active[0] != first_name {
                Ok(c)
            } else {
                Err(format!("{active:?}"))
            }
        },
    )
    .await;
    let replacement = active_names(&cj_now).remove(0);
    assert!(f.jobs.get_opt(&replacement).await.unwrap().is_some());
    assert!(
        f.kronjob
            .counter_with("kronjob_jobs_deleted_total", "replace")
            >= 1.0
    );
}

#[tokio::test]
async fn suspended_cronjob_runs_nothing_until_resumed() {
    let f = setup("suspend").await;
    let mut cj = cronjob("sleepy", "@every 2s", TestPod::Succeed);
    cj.spec.suspend = Some(true);
    let cj = f.create(cj).await;
    wait_for(
        "the controller to sync the CronJob",
        Duration::from_secs(30),
        || async {
            if f.reconciles() >= 1.0 {
                Ok(())
            } else {
                Err("no sync yet")
            }
        },
    )
    .await;
    observe_for(Duration::from_secs(5)).await; // two and a half slots
    assert!(
        owned_jobs(&f.jobs, &cj).await.is_empty(),
        "a suspended CronJob must not run"
    );
    assert_eq!(
        f.kronjob.counter_with("kronjob_reconciles_total", "error"),
        0.0
    );

    f.patch_spec("sleepy", json!({ "suspend": false })).await;
    // No deadline: the most recent missed slot runs at once.
    f.wait_jobs(&cj, 1, Duration::from_secs(10)).await;
}

#[tokio::test]
async fn starting_deadline_skips_a_slot_missed_by_more_than_the_deadline() {
    let f = setup("deadline").await;
    let mut cj = cronjob("late", "@every 12s", TestPod::Succeed);
    cj.spec.suspend = Some(true);
    cj.spec.starting_deadline_seconds = Some(2);
    let cj = f.create(cj).await;
    let anchor = cj.metadata.creation_timestamp.clone().unwrap().0;
    // Resume 5..9 s after a slot: that slot is outside the 2 s deadline.
    wait_for(
        "a moment 5-9s after a slot",
        Duration::from_secs(30),
        || async {
            let since = (Timestamp::now().as_second() - anchor.as_second()).rem_euclid(12);
            if (5..9).contains(&since) && Timestamp::now().as_second() - anchor.as_second() > 12 {
                Ok(())
            } else {
                Err(format!("{since}s after a slot"))
            }
        },
    )
    .await;
    let resumed = Timestamp::now();
    f.patch_spec("late", json!({ "suspend": false })).await;
    let job = f.wait_jobs(&cj, 1, Duration::from_secs(30)).await.remove(0);
    let slot = slot_of(&job);
    assert!(
        slot > resumed,
        "the slot before resuming ({slot}) was outside the deadline and must not run"
    );
    assert_eq!(
        (slot.as_second() - anchor.as_second()) % 12,
        0,
        "@every is anchored at creation"
    );
}

#[tokio::test]
async fn history_limits_delete_finished_jobs_and_keep_the_record() {
    // Limit 0: the first finished Job of each outcome is deleted at once (the
    // ordering among several is covered by the planner's table tests).
    let f = setup("history").await;
    let mut ok = cronjob("ok", "@every 2s", TestPod::Succeed);
    ok.spec.successful_jobs_history_limit = Some(0);
    let mut bad = cronjob("bad", "@every 2s", TestPod::Fail);
    bad.spec.failed_jobs_history_limit = Some(0);
    let ok = f.create(ok).await;
    let bad = f.create(bad).await;
    for (cj, cond) in [(&ok, "Complete"), (&bad, "Failed")] {
        let name = cj.metadata.name.clone().unwrap();
        wait_for_event(
            &f.events,
            &name,
            "SuccessfulDelete",
            Duration::from_secs(60),
        )
        .await;
        wait_for(
            &format!("no {cond} Job of {name} left"),
            Duration::from_secs(30),
            || async {
                let jobs = owned_jobs(&f.jobs, cj).await;
                let finished = jobs
                    .iter()
                    .filter(|j| common::job_condition(j, cond).is_some())
                    .count();
                if finished == 0 {
                    Ok(())
                } else {
                    Err(format!("{finished} finished"))
                }
            },
        )
        .await;
    }
    let cj = get_cronjob(&f.cronjobs, "ok").await;
    assert!(cj.status.unwrap().last_successful_time.is_some());
    let bad_now = get_cronjob(&f.cronjobs, "bad").await;
    assert!(
        bad_now.status.unwrap().last_successful_time.is_none(),
        "failed Jobs are not successes"
    );
}

#[tokio::test]
async fn an_existing_job_for_the_slot_is_recorded_not_duplicated() {
    // A restart between "create Job" and "write status" leaves the Job
    // without status; the next sync must record it, not create another.
    let f = setup("exists").await;
    let cj = f
        .create(cronjob("resume", "@every 20s", TestPod::RunForever))
        .await;
    let created = cj.metadata.creation_timestamp.clone().unwrap().0;
    let slot = created.as_second() + 20;
    let name = format!("resume-{}", slot / 60);
    let mut job = common::job(&name, TestPod::RunForever);
    job.metadata.owner_references = Some(vec![
        k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference {
            api_version: "batch/v1".into(),
            kind: "CronJob".into(),
            name: "resume".into(),
            uid: cj.metadata.uid.clone().unwrap(),
            controller: Some(true),
            block_owner_deletion: Some(true),
        },
    ]);
    let pre = f
        .jobs
        .create(&PostParams::default(), &job)
        .await
        .expect("pre-create the slot's Job");
    let cj_now = wait_for(
        "the existing Job to be recorded as active",
        Duration::from_secs(60),
        || async {
            let c = get_cronjob(&f.cronjobs, "resume").await;
            if active_names(&c).contains(&name) {
                Ok(c)
            } else {
                Err(format!("{:?}", c.status))
            }
        },
    )
    .await;
    let st = cj_now.status.unwrap();
    assert_eq!(st.last_schedule_time.unwrap().0.as_second(), slot);
    let active = st.active.unwrap();
    assert_eq!(
        active
            .iter()
            .find(|r| r.name.as_deref() == Some(name.as_str()))
            .unwrap()
            .uid,
        pre.metadata.uid
    );
    let jobs = owned_jobs(&f.jobs, &cj).await;
    assert_eq!(
        jobs.iter()
            .filter(|j| j.metadata.name.as_deref() == Some(name.as_str()))
            .count(),
        1
    );
    let evs = events(&f.events, "resume").await;
    assert!(
        !evs.iter()
            .any(|e| e.1 == "SuccessfulCreate" && e.2.ends_with(&name)),
        "{evs:?}"
    );
}

#[tokio::test]
async fn time_zone_picks_the_wall_clock_slot_and_annotates_in_that_zone() {
    let f = setup("tz").await;
    // Two minutes ahead on Kolkata's wall clock (UTC+05:30).
    let target = Timestamp::now().as_second() / 60 * 60 + 120;
    let wall = Timestamp::from_second(target)
        .unwrap()
        .to_zoned(jiff::tz::TimeZone::get("Asia/Kolkata").unwrap());
    let mut cj = cronjob(
        "kolkata",
        &format!("{} {} * * *", wall.minute(), wall.hour()),
        TestPod::Succeed,
    );
    cj.spec.time_zone = Some("Asia/Kolkata".into());
    let cj = f.create(cj).await;
    let job = f
        .wait_jobs(&cj, 1, Duration::from_secs(180))
        .await
        .remove(0);
    assert_eq!(slot_of(&job).as_second(), target);
    assert!(
        scheduled_annotation(&job).ends_with("+05:30"),
        "{}",
        scheduled_annotation(&job)
    );
    // The sync that created the Job records its gauges after the status
    // write: wait for the next slot to move to the same wall time tomorrow.
    wait_for(
        "the next-schedule gauge to move to tomorrow",
        Duration::from_secs(30),
        || async {
            let m = f.kronjob.metrics();
            let next = sum_metric(
                &m,
                "kronjob_cronjob_next_schedule_time_seconds",
                Some("cronjob=\"kolkata\""),
            ) as i64;
            if next == target + 86_400 {
                Ok(())
            } else {
                Err(format!("next = {next}, want {}", target + 86_400))
            }
        },
    )
    .await;
}

#[tokio::test]
async fn an_edited_schedule_takes_effect_without_waiting_for_the_old_timer() {
    let f = setup("edit").await;
    let cj = f
        .create(cronjob("edited", "0 0 1 1 *", TestPod::Succeed))
        .await;
    wait_for("the first sync", Duration::from_secs(30), || async {
        let m = f.kronjob.metrics();
        let next = sum_metric(
            &m,
            "kronjob_cronjob_next_schedule_time_seconds",
            Some("cronjob=\"edited\""),
        );
        if next > 0.0 {
            Ok(())
        } else {
            Err("no next-schedule gauge yet")
        }
    })
    .await;
    assert!(owned_jobs(&f.jobs, &cj).await.is_empty());
    f.patch_spec("edited", json!({ "schedule": "* * * * *" }))
        .await;
    let job = f.wait_jobs(&cj, 1, SLOT_WAIT).await.remove(0);
    assert_eq!(slot_of(&job).as_second() % 60, 0);
}

#[tokio::test]
async fn deleting_a_cronjob_garbage_collects_its_jobs_without_error_loops() {
    let f = setup("delete").await;
    let cj = f
        .create(cronjob("doomed", "@every 2s", TestPod::RunForever))
        .await;
    f.wait_jobs(&cj, 1, Duration::from_secs(30)).await;
    f.cronjobs
        .delete("doomed", &DeleteParams::background())
        .await
        .unwrap();
    wait_for(
        "the garbage collector to delete the Jobs",
        Duration::from_secs(60),
        || async {
            let left = owned_jobs(&f.jobs, &cj).await.len();
            if left == 0 {
                Ok(())
            } else {
                Err(format!("{left} Jobs left"))
            }
        },
    )
    .await;
    let before = f.reconciles();
    observe_for(Duration::from_secs(4)).await;
    assert_eq!(f.reconciles(), before, "no syncs for a deleted CronJob");
    assert_eq!(
        f.kronjob.counter_with("kronjob_reconciles_total", "error"),
        0.0
    );
    assert!(
        !f.kronjob.metrics().contains("cronjob=\"doomed\""),
        "its per-CronJob series are dropped"
    );
}

#[tokio::test]
async fn a_schedule_that_never_fires_warns_once_and_does_not_loop() {
    let f = setup("invalid").await;
    f.create(cronjob("feb30", "0 0 30 2 *", TestPod::Succeed))
        .await;
    let (ty, _, msg) = wait_for_event(
        &f.events,
        "feb30",
        "InvalidSchedule",
        Duration::from_secs(30),
    )
    .await;
    assert_eq!(ty, "Warning");
    assert_eq!(
        msg,
        "invalid schedule: 0 0 30 2 * : time difference between two schedules is less than 1 second"
    );
    let before = f.reconciles();
    observe_for(Duration::from_secs(4)).await;
    assert_eq!(
        f.reconciles(),
        before,
        "no timer and no retry loop for an invalid schedule"
    );
    let evs = events(&f.events, "feb30").await;
    assert_eq!(
        evs.iter().filter(|e| e.1 == "InvalidSchedule").count(),
        1,
        "{evs:?}"
    );
    // A spec change wakes it: a valid schedule runs.
    f.patch_spec("feb30", json!({ "schedule": "@every 2s" }))
        .await;
    let cj = get_cronjob(&f.cronjobs, "feb30").await;
    f.wait_jobs(&cj, 1, Duration::from_secs(30)).await;
}

/// A cluster-scoped ValidatingAdmissionPolicy (and binding) that rejects
/// Jobs labelled `reject-me` in one namespace; deleted on drop.
struct RejectJobsPolicy {
    name: String,
}

impl RejectJobsPolicy {
    async fn install(client: &kube::Client, namespace: &str) -> RejectJobsPolicy {
        use k8s_openapi::api::admissionregistration::v1::{
            ValidatingAdmissionPolicy, ValidatingAdmissionPolicyBinding,
        };
        let name = format!("kronjob-test-reject-{namespace}");
        let policy: ValidatingAdmissionPolicy = serde_json::from_value(json!({
            "metadata": { "name": name },
            "spec": {
                "failurePolicy": "Fail",
                "matchConstraints": { "resourceRules": [{
                    "apiGroups": ["batch"], "apiVersions": ["v1"], "operations": ["CREATE"], "resources": ["jobs"]
                }]},
                "validations": [{
                    "expression": "!has(object.metadata.labels) || !('reject-me' in object.metadata.labels)",
                    "message": "jobs labelled reject-me are not allowed here"
                }]
            }
        }))
        .unwrap();
        let binding: ValidatingAdmissionPolicyBinding = serde_json::from_value(json!({
            "metadata": { "name": name },
            "spec": {
                "policyName": name,
                "validationActions": ["Deny"],
                "matchResources": { "namespaceSelector": { "matchLabels": { "kubernetes.io/metadata.name": namespace } } }
            }
        }))
        .unwrap();
        Api::<ValidatingAdmissionPolicy>::all(client.clone())
            .create(&PostParams::default(), &policy)
            .await
            .unwrap();
        Api::<ValidatingAdmissionPolicyBinding>::all(client.clone())
            .create(&PostParams::default(), &binding)
            .await
            .unwrap();
        // Wait until the API server enforces it (dry-run creates).
        let jobs: Api<Job> = Api::namespaced(client.clone(), namespace);
        let mut probe = common::job("policy-probe", TestPod::Succeed);
        probe.metadata.labels = Some([("reject-me".to_string(), "yes".to_string())].into());
        wait_for(
            "the admission policy to be enforced",
            Duration::from_secs(30),
            || async {
                match jobs
                    .create(
                        &PostParams {
                            dry_run: true,
                            ..Default::default()
                        },
                        &probe,
                    )
                    .await
                {
                    Err(_) => Ok(()),
                    Ok(_) => Err("still admitted"),
                }
            },
        )
        .await;
        RejectJobsPolicy { name }
    }
}

impl Drop for RejectJobsPolicy {
    fn drop(&mut self) {
        use k8s_openapi::api::admissionregistration::v1::{
            ValidatingAdmissionPolicy, ValidatingAdmissionPolicyBinding,
        };
        // The test's runtime is blocked in this drop: delete from a thread
        // with its own runtime and its own client (a client is bound to the
        // runtime that made it).
        let name = self.name.clone();
        std::thread::spawn(move || {
            tokio::runtime::Runtime::new().unwrap().block_on(async {
                let client = common::client().await;
                let dp = DeleteParams::default();
                let _ = Api::<ValidatingAdmissionPolicyBinding>::all(client.clone())
                    .delete(&name, &dp)
                    .await;
                let _ = Api::<ValidatingAdmissionPolicy>::all(client)
                    .delete(&name, &dp)
                    .await;
            })
        })
        .join()
        .ok();
    }
}

#[tokio::test]
async fn a_job_the_server_rejects_gives_failed_create_without_a_retry_loop() {
    let f = setup("reject").await;
    let _policy = RejectJobsPolicy::install(f.ns.client(), f.ns.name()).await;
    let mut cj = cronjob("rejected", "@every 3s", TestPod::Succeed);
    cj.spec.job_template.metadata.as_mut().unwrap().labels =
        Some([("reject-me".to_string(), "yes".to_string())].into());
    let cj = f.create(cj).await;
    let (ty, _, msg) = wait_for_event(
        &f.events,
        "rejected",
        "FailedCreate",
        Duration::from_secs(30),
    )
    .await;
    assert_eq!(ty, "Warning");
    assert!(msg.starts_with("Error creating job: "), "{msg}");
    assert!(
        msg.contains("jobs labelled reject-me are not allowed here"),
        "the server's message: {msg}"
    );
    assert!(owned_jobs(&f.jobs, &cj).await.is_empty());
    let errors_before = f.kronjob.counter("kronjob_job_create_errors_total");
    observe_for(Duration::from_secs(6)).await;
    // One attempt per 3 s slot, not a retry loop.
    let attempts = f.kronjob.counter("kronjob_job_create_errors_total") - errors_before;
    assert!(attempts <= 3.0, "{attempts} create attempts in 6 s");
    assert_eq!(
        f.kronjob.counter_with("kronjob_reconciles_total", "error"),
        0.0
    );
}

#[tokio::test]
async fn explain_reads_the_cronjob_and_its_jobs_from_the_cluster() {
    let client = common::client().await;
    let ns = TestNamespace::new(&client, "explain").await;
    let cronjobs: Api<CronJob> = ns.api();
    let mut cj = cronjob("explained", "0 * * * *", TestPod::Succeed);
    cj.spec.suspend = Some(true);
    cronjobs.create(&PostParams::default(), &cj).await.unwrap();
    let kubeconfig = kubeconfig_path().await;
    let run = |output: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_kronjob"))
            .args(["explain", "-n", ns.name(), "explained", "--output", output])
            .env("KUBECONFIG", &kubeconfig)
            .output()
            .unwrap()
    };
    let json = run("json");
    assert!(json.status.success(), "{json:?}");
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(v["action"], "stop");
    assert_eq!(v["requeueAfterSeconds"], serde_json::Value::Null);
    let text = String::from_utf8(run("text").stdout).unwrap();
    assert!(text.contains("STOPPED: spec.suspend is true"), "{text}");
    assert!(
        text.contains("Next 5 fire times (none run while stopped):"),
        "{text}"
    );
}
