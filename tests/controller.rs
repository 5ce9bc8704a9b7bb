//! End-to-end behaviour of `kronjob run` against a real API server: each
//! test gets its own namespace and its own controller watching only it, and
//! checks what a user sees with kubectl: Jobs, status, Events.
//!
//! Every behaviour is checked for both kinds kronjob serves: each test is
//! one async fn of a [`Flavor`], instantiated for a `batch/v1` CronJob
//! (`on_cronjob::*`) and a `kronjob.dev/v1alpha1` KronJob (`on_kronjob::*`)
//! made from the same builder, so a KronJob with only CronJob fields is
//! shown to get exactly a CronJob's decisions. The KronJob-only tests at the
//! end check what only its resource has: the status upstream never had,
//! conditions, printer columns, and the CRD's validation and defaults.

mod common;
mod support;

use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::{Event, Pod};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use serde_json::{Value, json};

use common::{TestNamespace, TestPod, wait_for};
use support::*;

const SLOT_WAIT: Duration = Duration::from_secs(90);

struct Fixture {
    flavor: Flavor,
    ns: TestNamespace,
    objects: Objects,
    jobs: Api<Job>,
    events: Api<Event>,
    kronjob: Kronjob,
}

/// A namespace and a controller serving both kinds in it.
async fn setup(flavor: Flavor, prefix: &str) -> Fixture {
    let client = common::client().await;
    install_kronjob_crd(&client).await;
    let ns = TestNamespace::new(&client, &format!("{prefix}-{}", flavor.tag())).await;
    let kronjob = Kronjob::start(ns.name(), &["--serve", "cronjobs,kronjobs"]).await;
    Fixture {
        flavor,
        objects: Objects::new(&client, ns.name(), flavor),
        jobs: ns.api(),
        events: ns.api(),
        kronjob,
        ns,
    }
}

impl Fixture {
    /// Create the object of the fixture's kind from a CronJob.
    async fn create(&self, cj: CronJob) -> CronJob {
        self.objects.create(&cj).await
    }

    async fn get(&self, name: &str) -> CronJob {
        self.objects.get(name).await
    }

    async fn patch_spec(&self, name: &str, spec: serde_json::Value) {
        self.objects.patch_spec(name, spec).await;
    }

    /// (type, reason, message) of the Events about the object `name`.
    async fn events(&self, name: &str) -> Vec<(String, String, String)> {
        events_of(&self.events, self.flavor.kind(), name).await
    }

    async fn wait_for_event(
        &self,
        name: &str,
        reason: &str,
        timeout: Duration,
    ) -> (String, String, String) {
        wait_for_event_of(&self.events, self.flavor.kind(), name, reason, timeout).await
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

/// Each named test fn of a [`Flavor`], as a `#[tokio::test]` for a CronJob
/// (`on_cronjob::NAME`) and one for a KronJob (`on_kronjob::NAME`).
macro_rules! for_both_kinds {
    ($($test:ident),+ $(,)?) => {
        mod on_cronjob {
            $(
                #[tokio::test]
                async fn $test() {
                    super::$test(super::Flavor::CronJob).await
                }
            )+
        }
        mod on_kronjob {
            $(
                #[tokio::test]
                async fn $test() {
                    super::$test(super::Flavor::KronJob).await
                }
            )+
        }
    };
}

for_both_kinds!(
    every_minute_creates_the_job_at_the_boundary_and_records_success,
    each_created_job_gets_its_own_event,
    forbid_skips_while_a_job_runs_and_resumes_when_it_is_gone,
    replace_deletes_the_running_job_and_starts_the_next,
    suspended_cronjob_runs_nothing_until_resumed,
    starting_deadline_skips_a_slot_missed_by_more_than_the_deadline,
    history_limits_delete_finished_jobs_and_keep_the_record,
    an_existing_job_for_the_slot_is_recorded_not_duplicated,
    time_zone_picks_the_wall_clock_slot_and_annotates_in_that_zone,
    an_edited_schedule_takes_effect_without_waiting_for_the_old_timer,
    deleting_a_cronjob_garbage_collects_its_jobs_without_error_loops,
    a_schedule_that_never_fires_warns_once_and_does_not_loop,
    a_job_the_server_rejects_gives_failed_create_without_a_retry_loop,
);

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

async fn every_minute_creates_the_job_at_the_boundary_and_records_success(flavor: Flavor) {
    let f = setup(flavor, "minute").await;
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
        (
            owner.api_version.as_str(),
            owner.kind.as_str(),
            owner.name.as_str()
        ),
        (flavor.api_version(), flavor.kind(), "minutely")
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
            let cj = f.get("minutely").await;
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
    let evs = f.events("minutely").await;
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
async fn each_created_job_gets_its_own_event(flavor: Flavor) {
    let f = setup(flavor, "twice").await;
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
                let evs = f.events("twice").await;
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

async fn forbid_skips_while_a_job_runs_and_resumes_when_it_is_gone(flavor: Flavor) {
    let f = setup(flavor, "forbid").await;
    let mut cj = cronjob("forbid", "@every 2s", TestPod::RunForever);
    cj.spec.concurrency_policy = Some("Forbid".into());
    let cj = f.create(cj).await;
    let first = f.wait_jobs(&cj, 1, Duration::from_secs(30)).await.remove(0);
    // Slots in the same minute share the running Job's name (already handled,
    // as upstream); the first slot of the next minute is the one skipped.
    let (ty, _, msg) = f
        .wait_for_event("forbid", "JobAlreadyActive", SLOT_WAIT)
        .await;
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
    let (_, _, msg) = f
        .wait_for_event("forbid", "MissingJob", Duration::from_secs(30))
        .await;
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

async fn replace_deletes_the_running_job_and_starts_the_next(flavor: Flavor) {
    let f = setup(flavor, "replace").await;
    // Minute slots: each slot has its own Job name.
    let mut cj = cronjob("replace", "* * * * *", TestPod::RunForever);
    cj.spec.concurrency_policy = Some("Replace".into());
    let cj = f.create(cj).await;
    let first = f.wait_jobs(&cj, 1, SLOT_WAIT).await.remove(0);
    let first_name = first.metadata.name.clone().unwrap();
    let (_, _, msg) = f
        .wait_for_event("replace", "SuccessfulDelete", SLOT_WAIT)
        .await;
    assert_eq!(msg, format!("Deleted job {first_name}"));
    let cj_now = wait_for(
        "the replacement to be the only active Job",
        Duration::from_secs(30),
        || async {
            let c = f.get("replace").await;
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

async fn suspended_cronjob_runs_nothing_until_resumed(flavor: Flavor) {
    let f = setup(flavor, "suspend").await;
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

async fn starting_deadline_skips_a_slot_missed_by_more_than_the_deadline(flavor: Flavor) {
    let f = setup(flavor, "deadline").await;
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

async fn history_limits_delete_finished_jobs_and_keep_the_record(flavor: Flavor) {
    // Limit 0: the first finished Job of each outcome is deleted at once (the
    // ordering among several is covered by the planner's table tests).
    let f = setup(flavor, "history").await;
    let mut ok = cronjob("ok", "@every 2s", TestPod::Succeed);
    ok.spec.successful_jobs_history_limit = Some(0);
    let mut bad = cronjob("bad", "@every 2s", TestPod::Fail);
    bad.spec.failed_jobs_history_limit = Some(0);
    let ok = f.create(ok).await;
    let bad = f.create(bad).await;
    for (cj, cond) in [(&ok, "Complete"), (&bad, "Failed")] {
        let name = cj.metadata.name.clone().unwrap();
        f.wait_for_event(&name, "SuccessfulDelete", Duration::from_secs(60))
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
    let cj = f.get("ok").await;
    assert!(cj.status.unwrap().last_successful_time.is_some());
    let bad_now = f.get("bad").await;
    assert!(
        bad_now.status.unwrap().last_successful_time.is_none(),
        "failed Jobs are not successes"
    );
    // The failure outlives its deleted Job: in the last-failure gauge (all a
    // CronJob has), and in a KronJob's status.
    let gauge = |name: &str| {
        sum_metric(
            &f.kronjob.metrics(),
            "kronjob_cronjob_last_failure_time_seconds",
            Some(&format!("cronjob=\"{name}\"")),
        ) as i64
    };
    // A KronJob's status has it first (the gauge is set after the write).
    let at_least = match flavor {
        Flavor::KronJob => {
            let status = &f.objects.get_json("bad").await["status"];
            let t: Timestamp = status["lastFailureTime"].as_str().unwrap().parse().unwrap();
            t.as_second()
        }
        Flavor::CronJob => 1,
    };
    wait_for(
        "the last-failure gauge",
        Duration::from_secs(10),
        || async {
            match gauge("bad") {
                t if t >= at_least => Ok(()),
                t => Err(format!("{t}, want at least {at_least}")),
            }
        },
    )
    .await;
    assert_eq!(gauge("ok"), 0, "no failure of ok");
}

async fn an_existing_job_for_the_slot_is_recorded_not_duplicated(flavor: Flavor) {
    // A restart between "create Job" and "write status" leaves the Job
    // without status; the next sync must record it, not create another.
    let f = setup(flavor, "exists").await;
    let cj = f
        .create(cronjob("resume", "@every 20s", TestPod::RunForever))
        .await;
    let created = cj.metadata.creation_timestamp.clone().unwrap().0;
    let slot = created.as_second() + 20;
    let name = format!("resume-{}", slot / 60);
    let mut job = common::job(&name, TestPod::RunForever);
    job.metadata.owner_references = Some(vec![
        k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference {
            api_version: flavor.api_version().into(),
            kind: flavor.kind().into(),
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
            let c = f.get("resume").await;
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
    let evs = f.events("resume").await;
    assert!(
        !evs.iter()
            .any(|e| e.1 == "SuccessfulCreate" && e.2.ends_with(&name)),
        "{evs:?}"
    );
}

async fn time_zone_picks_the_wall_clock_slot_and_annotates_in_that_zone(flavor: Flavor) {
    let f = setup(flavor, "tz").await;
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

async fn an_edited_schedule_takes_effect_without_waiting_for_the_old_timer(flavor: Flavor) {
    let f = setup(flavor, "edit").await;
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

async fn deleting_a_cronjob_garbage_collects_its_jobs_without_error_loops(flavor: Flavor) {
    let f = setup(flavor, "delete").await;
    let cj = f
        .create(cronjob("doomed", "@every 2s", TestPod::RunForever))
        .await;
    f.wait_jobs(&cj, 1, Duration::from_secs(30)).await;
    f.objects.delete("doomed").await;
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

async fn a_schedule_that_never_fires_warns_once_and_does_not_loop(flavor: Flavor) {
    let f = setup(flavor, "invalid").await;
    f.create(cronjob("feb30", "0 0 30 2 *", TestPod::Succeed))
        .await;
    let (ty, _, msg) = f
        .wait_for_event("feb30", "InvalidSchedule", Duration::from_secs(30))
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
    let evs = f.events("feb30").await;
    assert_eq!(
        evs.iter().filter(|e| e.1 == "InvalidSchedule").count(),
        1,
        "{evs:?}"
    );
    // A spec change wakes it: a valid schedule runs.
    f.patch_spec("feb30", json!({ "schedule": "@every 2s" }))
        .await;
    let cj = f.get("feb30").await;
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

async fn a_job_the_server_rejects_gives_failed_create_without_a_retry_loop(flavor: Flavor) {
    let f = setup(flavor, "reject").await;
    let _policy = RejectJobsPolicy::install(f.ns.client(), f.ns.name()).await;
    let mut cj = cronjob("rejected", "@every 3s", TestPod::Succeed);
    cj.spec.job_template.metadata.as_mut().unwrap().labels =
        Some([("reject-me".to_string(), "yes".to_string())].into());
    let cj = f.create(cj).await;
    let (ty, _, msg) = f
        .wait_for_event("rejected", "FailedCreate", Duration::from_secs(30))
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

// ---- KronJob only: what its resource has and a CronJob's has not ------------

/// `status.<path>` of a KronJob's JSON (Null when absent).
fn status_field<'a>(kj: &'a Value, path: &[&str]) -> &'a Value {
    path.iter().fold(&kj["status"], |v, k| &v[*k])
}

/// (status, reason, message, observedGeneration) of the condition `type_`.
fn condition(kj: &Value, type_: &str) -> Option<(String, String, String, i64)> {
    let list = status_field(kj, &["conditions"]).as_array()?;
    let c = list.iter().find(|c| c["type"] == type_)?;
    let text = |k: &str| c[k].as_str().unwrap_or_default().to_owned();
    Some((
        text("status"),
        text("reason"),
        text("message"),
        c["observedGeneration"].as_i64().unwrap_or(-1),
    ))
}

fn time_field(kj: &Value, path: &[&str]) -> Option<Timestamp> {
    status_field(kj, path).as_str().map(|t| {
        t.parse()
            .unwrap_or_else(|e| panic!("status.{path:?} {t}: {e}"))
    })
}

/// Wait until the KronJob's JSON passes `check` (Err: what is still wrong).
async fn wait_kronjob<T>(
    f: &Fixture,
    name: &str,
    what: &str,
    check: impl Fn(&Value) -> Result<T, String>,
) -> T {
    wait_for(what, Duration::from_secs(30), || async {
        let kj = f.objects.get_json(name).await;
        check(&kj).map_err(|e| format!("{e}; status: {}", kj["status"]))
    })
    .await
}

/// The pod of a Job (kwok's stages run it).
async fn pod_of(f: &Fixture, job: &str) -> Pod {
    let pods: Api<Pod> = f.ns.api();
    wait_for(
        &format!("the pod of {job}"),
        Duration::from_secs(30),
        || async {
            let list = pods
                .list(&ListParams::default().labels(&format!("batch.kubernetes.io/job-name={job}")))
                .await
                .map_err(|e| e.to_string())?;
            list.items
                .into_iter()
                .next()
                .ok_or_else(|| "no pod yet".to_string())
        },
    )
    .await
}

/// `kubectl get kronjobs` of the namespace: the header's columns and, for
/// each row, the cell under each column (kubectl aligns them).
fn kubectl_get_table(
    namespace: &str,
    kubeconfig: &std::path::Path,
    what: &str,
) -> Vec<Vec<(String, String)>> {
    let out = std::process::Command::new(kubectl())
        .args(["--kubeconfig", kubeconfig.to_str().unwrap()])
        .args(["get", what, "-n", namespace])
        .output()
        .expect("run kubectl");
    assert!(out.status.success(), "kubectl get {what}: {out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    let mut lines = text.lines();
    let header = lines.next().expect("a header line");
    // Column starts: where a name begins after two or more spaces.
    let mut starts = vec![0];
    let bytes = header.as_bytes();
    for i in 2..bytes.len() {
        if bytes[i] != b' ' && bytes[i - 1] == b' ' && bytes[i - 2] == b' ' {
            starts.push(i);
        }
    }
    let cell = |line: &str, k: usize| {
        let end = starts
            .get(k + 1)
            .copied()
            .unwrap_or(line.len())
            .min(line.len());
        line.get(starts[k]..end)
            .unwrap_or_default()
            .trim()
            .to_owned()
    };
    lines
        .map(|l| {
            (0..starts.len())
                .map(|k| (cell(header, k), cell(l, k)))
                .collect()
        })
        .collect()
}

/// A KronJob's status holds what upstream never recorded: the next slot,
/// the last run from Running to Succeeded, the generation it describes and
/// the conditions; `kubectl get kj` shows them in its columns.
#[tokio::test]
async fn kronjob_status_follows_the_run_the_timer_and_the_spec() {
    let f = setup(Flavor::KronJob, "kj-status").await;
    let kj = f
        .create(cronjob("status", "* * * * *", TestPod::RunForever))
        .await;
    let created = kj.metadata.creation_timestamp.clone().unwrap().0;

    // The first sync: a timer for the next minute, nothing run yet.
    let next = wait_kronjob(&f, "status", "the first status", |kj| {
        let next = time_field(kj, &["nextScheduleTime"]).ok_or("no nextScheduleTime")?;
        if status_field(kj, &["observedGeneration"]) != 1 {
            return Err("observedGeneration is not 1".into());
        }
        Ok(next)
    })
    .await;
    assert_eq!(next.as_second() % 60, 0, "{next} is a minute boundary");
    assert!(
        next > created && next.as_second() <= created.as_second() + 120,
        "next {next}, created {created}"
    );
    let kj_json = f.objects.get_json("status").await;
    assert_eq!(
        condition(&kj_json, "ScheduleValid"),
        Some(("True".into(), "Valid".into(), String::new(), 1))
    );
    assert_eq!(
        condition(&kj_json, "Suspended"),
        Some(("False".into(), "NotSuspended".into(), String::new(), 1))
    );
    let last = condition(&kj_json, "LastRunSucceeded");
    assert!(
        matches!(&last, Some((s, r, _, 1)) if s == "Unknown" && (r == "NoRunYet" || r == "JobRunning")),
        "{last:?}"
    );

    // The slot's Job runs: lastRun says so, the timer moves on.
    let job = f.wait_jobs(&kj, 1, SLOT_WAIT).await.remove(0);
    let job_name = job.metadata.name.clone().unwrap();
    let slot = slot_of(&job);
    wait_kronjob(&f, "status", "lastRun Running", |kj| {
        let run = status_field(kj, &["lastRun"]);
        if run["jobName"] != job_name.as_str() || run["result"] != "Running" {
            return Err(format!("lastRun {run}"));
        }
        if time_field(kj, &["nextScheduleTime"]) != Some(slot + jiff::SignedDuration::from_secs(60))
        {
            return Err("nextScheduleTime is not the next slot".into());
        }
        Ok(())
    })
    .await;
    let kj_json = f.objects.get_json("status").await;
    let run = status_field(&kj_json, &["lastRun"]);
    assert_eq!(run["trigger"], "Schedule");
    assert_eq!(
        run["scheduledTime"]
            .as_str()
            .unwrap()
            .parse::<Timestamp>()
            .unwrap(),
        slot
    );
    assert_eq!(time_field(&kj_json, &["lastScheduleTime"]), Some(slot));
    assert_eq!(status_field(&kj_json, &["activeCount"]), 1);
    assert_eq!(
        status_field(&kj_json, &["active"])[0]["name"],
        job_name.as_str()
    );
    assert_eq!(
        condition(&kj_json, "LastRunSucceeded").map(|c| (c.0, c.1, c.2)),
        Some((
            "Unknown".into(),
            "JobRunning".into(),
            format!("job {job_name} is running")
        ))
    );

    // Suspended: a new generation, no timer, the condition.
    f.patch_spec("status", json!({ "suspend": true })).await;
    wait_kronjob(&f, "status", "the suspension recorded", |kj| {
        match condition(kj, "Suspended") {
            Some((s, r, _, 2)) if s == "True" && r == "Suspended" => {}
            other => return Err(format!("Suspended {other:?}")),
        }
        if status_field(kj, &["observedGeneration"]) != 2 {
            return Err("observedGeneration is not 2".into());
        }
        if !status_field(kj, &["nextScheduleTime"]).is_null() {
            return Err("a suspended KronJob has no timer".into());
        }
        Ok(())
    })
    .await;

    // The pod succeeds (kwok: the run-forever annotation removed): lastRun
    // Succeeded, lastSuccessfulTime, and the condition.
    let pod = pod_of(&f, &job_name).await;
    let pods: Api<Pod> = f.ns.api();
    pods.patch(
        pod.metadata.name.as_deref().unwrap(),
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"annotations": {common::TEST_POD_ANNOTATION: null}}})),
    )
    .await
    .unwrap();
    let done =
        common::wait_for_job_condition(&f.jobs, &job_name, "Complete", Duration::from_secs(30))
            .await;
    let completed = done.status.unwrap().completion_time.unwrap().0;
    wait_kronjob(&f, "status", "lastRun Succeeded", |kj| {
        let run = status_field(kj, &["lastRun"]);
        if run["result"] != "Succeeded" {
            return Err(format!("lastRun {run}"));
        }
        Ok(())
    })
    .await;
    let kj_json = f.objects.get_json("status").await;
    let run = status_field(&kj_json, &["lastRun"]);
    assert_eq!(run["jobName"], job_name.as_str());
    assert_eq!(
        run["completionTime"]
            .as_str()
            .unwrap()
            .parse::<Timestamp>()
            .unwrap(),
        completed
    );
    assert!(!run["startTime"].is_null(), "{run}");
    assert_eq!(
        time_field(&kj_json, &["lastSuccessfulTime"]),
        Some(completed)
    );
    assert!(status_field(&kj_json, &["lastFailureTime"]).is_null());
    assert_eq!(status_field(&kj_json, &["activeCount"]), 0);
    assert!(status_field(&kj_json, &["active"]).is_null());
    assert_eq!(
        condition(&kj_json, "LastRunSucceeded").map(|c| (c.0, c.1, c.2)),
        Some((
            "True".into(),
            "JobSucceeded".into(),
            format!("job {job_name} succeeded")
        ))
    );

    // kubectl's columns (the CRD's printer columns), and the `all` category.
    let kubeconfig = kubeconfig_path().await;
    let rows = kubectl_get_table(f.ns.name(), &kubeconfig, "kj");
    let header: Vec<&str> = rows[0].iter().map(|(h, _)| h.as_str()).collect();
    assert_eq!(
        header,
        [
            "NAME",
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
    let row: std::collections::HashMap<_, _> = rows[0].iter().cloned().collect();
    assert_eq!(row["NAME"], "status");
    assert_eq!(row["SCHEDULE"], "* * * * *");
    // kubectl leaves the cell of an absent field empty (a CRD's columns).
    assert_eq!(row["TIMEZONE"], "");
    assert_eq!(row["SUSPEND"], "true");
    assert_eq!(row["ACTIVE"], "0");
    assert_ne!(row["LAST SCHEDULE"], "");
    assert_eq!(row["NEXT SCHEDULE"], "", "no timer while suspended");
    assert_eq!(row["LAST RESULT"], "Succeeded");
    let all = kubectl_get_table(f.ns.name(), &kubeconfig, "all");
    assert!(
        all.iter()
            .flatten()
            .any(|(_, cell)| cell == "kronjob.kronjob.dev/status"),
        "kubectl get all lists KronJobs: {all:?}"
    );
}

/// A failed Job: lastFailureTime and the LastRunSucceeded condition.
#[tokio::test]
async fn kronjob_status_records_the_last_failure() {
    let f = setup(Flavor::KronJob, "kj-failure").await;
    let kj = f
        .create(cronjob("failing", "* * * * *", TestPod::Fail))
        .await;
    let job = f.wait_jobs(&kj, 1, SLOT_WAIT).await.remove(0);
    // No second slot may move lastRun on while the test looks.
    f.patch_spec("failing", json!({ "suspend": true })).await;
    let job_name = job.metadata.name.clone().unwrap();
    let failed =
        common::wait_for_job_condition(&f.jobs, &job_name, "Failed", Duration::from_secs(30)).await;
    let failed_at = common::job_condition(&failed, "Failed")
        .unwrap()
        .last_transition_time
        .clone()
        .unwrap()
        .0;
    wait_kronjob(&f, "failing", "the failure recorded", |kj| {
        if time_field(kj, &["lastFailureTime"]) != Some(failed_at) {
            return Err(format!("lastFailureTime is not {failed_at}"));
        }
        let run = status_field(kj, &["lastRun"]);
        if run["jobName"] != job_name.as_str() || run["result"] != "Failed" {
            return Err(format!("lastRun {run}"));
        }
        Ok(())
    })
    .await;
    let kj_json = f.objects.get_json("failing").await;
    assert_eq!(
        time_field(&kj_json, &["lastRun", "completionTime"]),
        Some(failed_at)
    );
    assert!(status_field(&kj_json, &["lastSuccessfulTime"]).is_null());
    assert_eq!(
        condition(&kj_json, "LastRunSucceeded").map(|c| (c.0, c.1, c.2)),
        Some((
            "False".into(),
            "JobFailed".into(),
            format!("job {job_name} failed")
        ))
    );
}

/// What CEL cannot check is reported on the object: ScheduleValid=False
/// with the reason and message of the Warning Event, and no timer; a fixed
/// spec makes it True again.
#[tokio::test]
async fn kronjob_schedule_problems_are_conditions_and_warnings() {
    let f = setup(Flavor::KronJob, "kj-valid").await;
    let mut mars = cronjob("mars", "0 * * * *", TestPod::Succeed);
    mars.spec.time_zone = Some("Mars/Olympus_Mons".into());
    for (name, cj, reason) in [
        (
            "garbled",
            cronjob("garbled", "every day at noon", TestPod::Succeed),
            "UnparseableSchedule",
        ),
        (
            "feb30",
            cronjob("feb30", "0 0 30 2 *", TestPod::Succeed),
            "InvalidSchedule",
        ),
        ("mars", mars, "UnknownTimeZone"),
    ] {
        f.create(cj).await;
        let (ty, _, message) = f
            .wait_for_event(name, reason, Duration::from_secs(30))
            .await;
        assert_eq!(ty, "Warning");
        let kj = wait_kronjob(&f, name, "the condition", |kj| {
            match condition(kj, "ScheduleValid") {
                Some((s, r, _, _)) if s == "False" && r == reason => Ok(kj.clone()),
                other => Err(format!("ScheduleValid {other:?}")),
            }
        })
        .await;
        assert_eq!(
            condition(&kj, "ScheduleValid").unwrap().2,
            message,
            "the condition's message is the Event's"
        );
        assert!(
            status_field(&kj, &["nextScheduleTime"]).is_null(),
            "no timer for {name}: {}",
            kj["status"]
        );
    }
    f.patch_spec("garbled", json!({ "schedule": "0 0 1 1 *" }))
        .await;
    wait_kronjob(&f, "garbled", "the schedule valid again", |kj| {
        match condition(kj, "ScheduleValid") {
            Some((s, r, _, 2)) if s == "True" && r == "Valid" => {}
            other => return Err(format!("ScheduleValid {other:?}")),
        }
        time_field(kj, &["nextScheduleTime"])
            .map(drop)
            .ok_or_else(|| "no nextScheduleTime".to_string())
    })
    .await;
}

/// The CRD rejects what the batch API server rejects, where its schema and
/// CEL can say it, and applies batch/v1's defaults.
#[tokio::test]
async fn kronjob_crd_validates_and_defaults_like_the_batch_api() {
    let client = common::client().await;
    install_kronjob_crd(&client).await;
    let ns = TestNamespace::new(&client, "kj-crd").await;
    let objects = Objects::new(&client, ns.name(), Flavor::KronJob);
    let minimal = |name: &str| {
        json!({
            "apiVersion": "kronjob.dev/v1alpha1",
            "kind": "KronJob",
            "metadata": {"name": name},
            "spec": {
                "schedule": "0 * * * *",
                "jobTemplate": {"spec": {"template": {"spec": {
                    "restartPolicy": "Never",
                    "containers": [{"name": "main", "image": "busybox:1.36"}]
                }}}}
            }
        })
    };
    let create = |v: Value| {
        let api = objects.api.clone();
        async move {
            api.create(&PostParams::default(), &serde_json::from_value(v).unwrap())
                .await
        }
    };

    // Defaults, as batch/v1 applies them.
    let created = create(minimal("defaults"))
        .await
        .expect("a minimal KronJob");
    let spec = &created.data["spec"];
    assert_eq!(spec["concurrencyPolicy"], "Allow");
    assert_eq!(spec["suspend"], false);
    assert_eq!(spec["successfulJobsHistoryLimit"], 3);
    assert_eq!(spec["failedJobsHistoryLimit"], 1);

    // <name>-<minutes> must fit 63 characters: 52 is the longest name.
    let longest = "a".repeat(52);
    create(minimal(&longest))
        .await
        .expect("a 52-character name");
    let rejected = |v: Value, field: &'static str, why: &'static str| async move {
        match create(v).await {
            Err(kube::Error::Api(e)) => {
                assert_eq!(e.code, 422, "{e:?}");
                assert!(
                    e.message.contains(field) && e.message.contains(why),
                    "{field}: {why}: {}",
                    e.message
                );
            }
            other => panic!("{field} {why}: accepted: {other:?}"),
        }
    };
    // A rule on the whole object: the API server names no field.
    let too_long = "a".repeat(53);
    rejected(
        minimal(&too_long),
        "is invalid",
        "must be no more than 52 characters",
    )
    .await;
    let with = |key: &str, value: Value| {
        let mut v = minimal("invalid");
        v["spec"][key] = value;
        v
    };
    rejected(
        with("startingDeadlineSeconds", json!(-1)),
        "spec.startingDeadlineSeconds",
        "should be greater than or equal to 0",
    )
    .await;
    rejected(
        with("successfulJobsHistoryLimit", json!(-1)),
        "spec.successfulJobsHistoryLimit",
        "should be greater than or equal to 0",
    )
    .await;
    rejected(
        with("failedJobsHistoryLimit", json!(-2)),
        "spec.failedJobsHistoryLimit",
        "should be greater than or equal to 0",
    )
    .await;
    rejected(
        with("concurrencyPolicy", json!("Sometimes")),
        "spec.concurrencyPolicy",
        "Unsupported value",
    )
    .await;
    rejected(
        with("schedule", json!("")),
        "spec.schedule",
        "must not be empty",
    )
    .await;
    let mut no_template = minimal("invalid");
    no_template["spec"]
        .as_object_mut()
        .unwrap()
        .remove("jobTemplate");
    rejected(no_template, "spec.jobTemplate", "Required value").await;
}
