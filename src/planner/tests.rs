//! Table tests: one per rule of docs/compatibility.md and the behaviour spec.

//!
//! The tests build CronJobs and Jobs as k8s-openapi objects (as a user
//! writes them) and hand them to the planner through the adapters the
//! controller uses (`crate::objects`).

use super::*;
use k8s_openapi::api::batch::v1::{
    CronJob, CronJobSpec, CronJobStatus, Job, JobCondition, JobSpec, JobStatus, JobTemplateSpec,
};
use k8s_openapi::api::core::v1::PodTemplateSpec;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference, Time};

use crate::model::JobFacts;
use crate::objects::{cronjob as cronjob_adapter, job::DecodedJob};

/// The CronJob as the controller's adapter decodes it.
fn model(cj: &CronJob) -> Scheduled {
    cronjob_adapter::decode(&serde_json::to_value(cj).unwrap()).unwrap()
}

fn facts(jobs: &[Job]) -> Vec<JobFacts> {
    jobs.iter()
        .map(|j| {
            let d: DecodedJob = serde_json::from_value(serde_json::to_value(j).unwrap()).unwrap();
            assert!(d.problems.is_empty(), "{:?}", d.problems);
            d.facts
        })
        .collect()
}

fn plan(cj: &CronJob, jobs: &[Job], observed: &Observed, now: Timestamp) -> Plan {
    super::plan(&model(cj), &facts(jobs), observed, now)
}

fn lookups_needed(cj: &CronJob, jobs: &[Job]) -> Lookups {
    super::lookups_needed(&model(cj), &facts(jobs))
}

/// The status after the sync, as the CronJob's status would read.
fn status_after(p: &Plan, cj: &CronJob) -> CronJobStatus {
    let s = p.status_if_successful(&model(cj));
    CronJobStatus {
        active: Some(s.active),
        last_schedule_time: s.last_schedule_time.map(Time),
        last_successful_time: s.last_successful_time.map(Time),
    }
}

/// The Job a creation POSTs, as the API server would read it.
fn job_of(c: &JobCreation) -> Job {
    serde_json::from_value(crate::objects::job::manifest(&c.job).unwrap()).unwrap()
}

fn at(s: &str) -> Timestamp {
    s.parse()
        .unwrap_or_else(|e| panic!("bad timestamp {s}: {e}"))
}

fn cronjob(schedule: &str, created: &str) -> CronJob {
    CronJob {
        metadata: ObjectMeta {
            name: Some("hello".into()),
            namespace: Some("team-a".into()),
            uid: Some("cj-uid".into()),
            creation_timestamp: Some(Time(at(created))),
            ..Default::default()
        },
        spec: CronJobSpec {
            schedule: schedule.into(),
            job_template: JobTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some([("app".to_string(), "hello".to_string())].into()),
                    annotations: Some([("note".to_string(), "kept".to_string())].into()),
                    ..Default::default()
                }),
                spec: Some(JobSpec {
                    backoff_limit: Some(0),
                    template: PodTemplateSpec::default(),
                    ..Default::default()
                }),
            },
            ..Default::default()
        },
        status: None,
    }
}

fn with_status(mut cj: CronJob, f: impl FnOnce(&mut CronJobStatus)) -> CronJob {
    f(cj.status.get_or_insert_with(Default::default));
    cj
}

fn with_spec(mut cj: CronJob, f: impl FnOnce(&mut CronJobSpec)) -> CronJob {
    f(&mut cj.spec);
    cj
}

fn active_ref(name: &str, uid: &str) -> ObjectReference {
    ObjectReference {
        api_version: Some("batch/v1".into()),
        kind: Some("Job".into()),
        name: Some(name.into()),
        namespace: Some("team-a".into()),
        uid: Some(uid.into()),
        ..Default::default()
    }
}

/// An owned Job; `outcome` is (condition, startTime, completionTime).
fn job(name: &str, uid: &str, outcome: Option<(&str, Option<&str>, Option<&str>)>) -> Job {
    let status = outcome.map(|(cond, start, done)| JobStatus {
        conditions: Some(vec![JobCondition {
            type_: cond.into(),
            status: "True".into(),
            ..Default::default()
        }]),
        start_time: start.map(|s| Time(at(s))),
        completion_time: done.map(|s| Time(at(s))),
        ..Default::default()
    });
    Job {
        metadata: ObjectMeta {
            name: Some(name.into()),
            namespace: Some("team-a".into()),
            uid: Some(uid.into()),
            owner_references: Some(vec![OwnerReference {
                api_version: "batch/v1".into(),
                kind: "CronJob".into(),
                name: "hello".into(),
                uid: "cj-uid".into(),
                controller: Some(true),
                block_owner_deletion: Some(true),
            }]),
            ..Default::default()
        },
        spec: None,
        status,
    }
}

fn reasons(p: &Plan) -> Vec<&'static str> {
    p.events_if_successful().iter().map(|e| e.reason).collect()
}

fn no_lookups() -> Observed {
    Observed::default()
}

#[test]
fn creates_the_job_for_the_due_slot_exactly_like_upstream() {
    let cj = cronjob("*/5 * * * *", "2026-01-05T09:58:00Z");
    let p = plan(&cj, &[], &no_lookups(), at("2026-01-05T10:00:00.003Z"));
    let slot = at("2026-01-05T10:00:00Z");
    assert_eq!(
        p.decision,
        Decision::Create {
            slot,
            job_name: format!("hello-{}", slot.as_second() / 60)
        }
    );
    let c = p.creation().unwrap();
    assert_eq!(job_of(c).metadata.name.as_deref(), Some("hello-29460120"));
    assert_eq!(job_of(c).metadata.namespace.as_deref(), Some("team-a"));
    let job = job_of(c);
    let ann = job.metadata.annotations.as_ref().unwrap();
    assert_eq!(ann[SCHEDULED_TIMESTAMP_ANNOTATION], "2026-01-05T10:00:00Z");
    assert_eq!(ann["note"], "kept");
    assert_eq!(job_of(c).metadata.labels.as_ref().unwrap()["app"], "hello");
    let owner = &job.metadata.owner_references.as_ref().unwrap()[0];
    assert_eq!(
        (
            owner.api_version.as_str(),
            owner.kind.as_str(),
            owner.name.as_str(),
            owner.uid.as_str()
        ),
        ("batch/v1", "CronJob", "hello", "cj-uid")
    );
    assert_eq!(
        (owner.controller, owner.block_owner_deletion),
        (Some(true), Some(true))
    );
    assert_eq!(job_of(c).spec.as_ref().unwrap().backoff_limit, Some(0));
    assert_eq!(reasons(&p), ["SuccessfulCreate"]);
    let st = status_after(&p, &cj);
    assert_eq!(st.last_schedule_time, Some(Time(slot)));
    assert_eq!(
        st.active.unwrap()[0].name.as_deref(),
        Some("hello-29460120")
    );
    assert_eq!(p.wake_at, Some(at("2026-01-05T10:05:00Z")));
    assert_eq!(p.next_schedule_time, Some(at("2026-01-05T10:05:00Z")));
}

#[test]
fn nothing_due_waits_until_the_next_slot_exactly() {
    let cj = cronjob("*/5 * * * *", "2026-01-05T10:01:00Z");
    let p = plan(&cj, &[], &no_lookups(), at("2026-01-05T10:03:10Z"));
    assert_eq!(p.decision, Decision::Wait);
    assert!(p.effects.is_empty());
    assert_eq!(p.wake_at, Some(at("2026-01-05T10:05:00Z")));
}

#[test]
fn a_timer_that_fires_early_waits_for_the_slot_and_does_not_lose_it() {
    let cj = cronjob("*/5 * * * *", "2026-01-05T10:01:00Z");
    let p = plan(&cj, &[], &no_lookups(), at("2026-01-05T10:04:59.999Z"));
    assert_eq!(p.decision, Decision::Wait);
    assert_eq!(p.wake_at, Some(at("2026-01-05T10:05:00Z")));
    let p = plan(&cj, &[], &no_lookups(), at("2026-01-05T10:05:00Z"));
    assert!(matches!(p.decision, Decision::Create { .. }));
}

#[test]
fn slot_already_recorded_in_last_schedule_time_is_not_run_twice() {
    let cj = with_status(cronjob("*/5 * * * *", "2026-01-05T09:00:00Z"), |s| {
        s.last_schedule_time = Some(Time(at("2026-01-05T10:00:00Z")));
    });
    let p = plan(&cj, &[], &no_lookups(), at("2026-01-05T10:02:00Z"));
    assert_eq!(p.decision, Decision::Wait);
    assert!(p.effects.is_empty());
    assert_eq!(p.wake_at, Some(at("2026-01-05T10:05:00Z")));
}

#[test]
fn slot_whose_job_is_active_is_already_handled() {
    // Status write lost lastScheduleTime but the Job is in active by name.
    let cj = with_status(cronjob("*/5 * * * *", "2026-01-05T09:58:00Z"), |s| {
        s.active = Some(vec![active_ref("hello-29460120", "j1")]);
    });
    let jobs = [job("hello-29460120", "j1", None)];
    let p = plan(&cj, &jobs, &no_lookups(), at("2026-01-05T10:00:30Z"));
    assert_eq!(p.decision, Decision::Wait);
    assert!(p.effects.is_empty());
}

#[test]
fn forbid_with_an_active_job_skips_without_advancing_last_schedule_time() {
    let cj = with_spec(
        with_status(cronjob("*/5 * * * *", "2026-01-05T09:00:00Z"), |s| {
            s.active = Some(vec![active_ref("hello-29460115", "j1")]);
            s.last_schedule_time = Some(Time(at("2026-01-05T09:55:00Z")));
        }),
        |s| s.concurrency_policy = Some("Forbid".into()),
    );
    let jobs = [job("hello-29460115", "j1", None)];
    let p = plan(&cj, &jobs, &no_lookups(), at("2026-01-05T10:00:00Z"));
    assert_eq!(
        p.decision,
        Decision::Skip {
            slot: at("2026-01-05T10:00:00Z"),
            reason: SkipReason::ConcurrencyForbid
        }
    );
    assert_eq!(reasons(&p), ["JobAlreadyActive"]);
    assert_eq!(
        status_after(&p, &cj).last_schedule_time,
        Some(Time(at("2026-01-05T09:55:00Z")))
    );
    assert_eq!(p.wake_at, Some(at("2026-01-05T10:05:00Z")));

    // The active Job finishes at 10:03: the skipped 10:00 slot runs then.
    let finished = [job(
        "hello-29460115",
        "j1",
        Some((
            "Complete",
            Some("2026-01-05T09:55:01Z"),
            Some("2026-01-05T10:03:00Z"),
        )),
    )];
    let p = plan(&cj, &finished, &no_lookups(), at("2026-01-05T10:03:00Z"));
    assert_eq!(reasons(&p), ["SawCompletedJob", "SuccessfulCreate"]);
    assert_eq!(p.creation().unwrap().slot, at("2026-01-05T10:00:00Z"));
}

#[test]
fn forbid_skipped_slot_outside_the_deadline_is_not_run_late() {
    let cj = with_spec(
        with_status(cronjob("*/5 * * * *", "2026-01-05T09:00:00Z"), |s| {
            s.last_schedule_time = Some(Time(at("2026-01-05T09:55:00Z")));
        }),
        |s| {
            s.concurrency_policy = Some("Forbid".into());
            s.starting_deadline_seconds = Some(60);
        },
    );
    let p = plan(&cj, &[], &no_lookups(), at("2026-01-05T10:03:00Z"));
    assert_eq!(p.decision, Decision::Wait);
    assert_eq!(p.missed_slot, Some(at("2026-01-05T10:00:00Z")));
    assert_eq!(p.wake_at, Some(at("2026-01-05T10:05:00Z")));
}

#[test]
fn replace_deletes_active_jobs_then_creates() {
    let cj = with_spec(
        with_status(cronjob("*/5 * * * *", "2026-01-05T09:00:00Z"), |s| {
            s.active = Some(vec![active_ref("hello-29460115", "j1")]);
            s.last_schedule_time = Some(Time(at("2026-01-05T09:55:00Z")));
        }),
        |s| s.concurrency_policy = Some("Replace".into()),
    );
    let jobs = [job("hello-29460115", "j1", None)];
    let p = plan(&cj, &jobs, &no_lookups(), at("2026-01-05T10:00:00Z"));
    let dels: Vec<_> = p.deletions().collect();
    assert_eq!(dels.len(), 1);
    assert_eq!(
        (dels[0].name.as_str(), dels[0].purpose),
        ("hello-29460115", DeletePurpose::Replace)
    );
    assert_eq!(reasons(&p), ["SuccessfulDelete", "SuccessfulCreate"]);
    let active: Vec<_> = status_after(&p, &cj)
        .active
        .unwrap()
        .into_iter()
        .map(|r| r.name.unwrap())
        .collect();
    assert_eq!(active, ["hello-29460120"]);
}

#[test]
fn allow_runs_concurrently() {
    let cj = with_status(cronjob("*/5 * * * *", "2026-01-05T09:00:00Z"), |s| {
        s.active = Some(vec![active_ref("hello-29460115", "j1")]);
        s.last_schedule_time = Some(Time(at("2026-01-05T09:55:00Z")));
    });
    let jobs = [job("hello-29460115", "j1", None)];
    let p = plan(&cj, &jobs, &no_lookups(), at("2026-01-05T10:00:00Z"));
    assert_eq!(reasons(&p), ["SuccessfulCreate"]);
    assert_eq!(status_after(&p, &cj).active.unwrap().len(), 2);
}

#[test]
fn suspended_sets_no_timer_but_still_cleans_up_history() {
    let cj = with_spec(cronjob("* * * * *", "2026-01-05T09:00:00Z"), |s| {
        s.suspend = Some(true);
        s.failed_jobs_history_limit = Some(0);
    });
    let jobs = [job(
        "hello-1",
        "j1",
        Some(("Failed", Some("2026-01-05T09:01:00Z"), None)),
    )];
    let p = plan(&cj, &jobs, &no_lookups(), at("2026-01-05T10:00:00Z"));
    assert_eq!(p.decision, Decision::Stop(StopReason::Suspended));
    assert_eq!(p.wake_at, None);
    assert_eq!(reasons(&p), ["SuccessfulDelete"]);
}

#[test]
fn being_deleted_stops_after_cleanup() {
    let mut cj = cronjob("* * * * *", "2026-01-05T09:00:00Z");
    cj.metadata.deletion_timestamp = Some(Time(at("2026-01-05T09:59:00Z")));
    let p = plan(&cj, &[], &no_lookups(), at("2026-01-05T10:00:00Z"));
    assert_eq!(p.decision, Decision::Stop(StopReason::BeingDeleted));
    assert!(p.effects.is_empty());
}

#[test]
fn unknown_time_zone_warns_and_stops_before_suspend_is_considered() {
    let cj = with_spec(cronjob("* * * * *", "2026-01-05T09:00:00Z"), |s| {
        s.time_zone = Some("Mars/Olympus_Mons".into());
        s.suspend = Some(true);
    });
    let p = plan(&cj, &[], &no_lookups(), at("2026-01-05T10:00:00Z"));
    assert_eq!(p.decision, Decision::Stop(StopReason::UnknownTimeZone));
    let ev = p.events().next().unwrap();
    assert_eq!(
        (ev.type_, ev.reason),
        (EventType::Warning, "UnknownTimeZone")
    );
    assert!(
        ev.message
            .starts_with("invalid timeZone: \"Mars/Olympus_Mons\": "),
        "{}",
        ev.message
    );
}

#[test]
fn unparseable_schedule_warns_and_stops() {
    let cj = cronjob("every minute please", "2026-01-05T09:00:00Z");
    let p = plan(&cj, &[], &no_lookups(), at("2026-01-05T10:00:00Z"));
    assert_eq!(p.decision, Decision::Stop(StopReason::UnparseableSchedule));
    let ev = p.events().next().unwrap();
    assert_eq!(
        (ev.type_, ev.reason),
        (EventType::Warning, "UnparseableSchedule")
    );
    assert!(
        ev.message
            .starts_with("unparseable schedule: \"every minute please\" : "),
        "{}",
        ev.message
    );
    assert_eq!(p.wake_at, None);
}

#[test]
fn schedule_that_never_fires_is_invalid() {
    let cj = cronjob("0 0 30 2 *", "2026-01-05T09:00:00Z");
    let p = plan(&cj, &[], &no_lookups(), at("2026-01-05T10:00:00Z"));
    assert_eq!(p.decision, Decision::Stop(StopReason::InvalidSchedule));
    assert_eq!(
        p.events().next().unwrap().message,
        "invalid schedule: 0 0 30 2 * : time difference between two schedules is less than 1 second"
    );
}

#[test]
fn tz_in_schedule_warns_unsupported_and_uses_the_schedule_zone() {
    let cj = with_spec(
        cronjob("CRON_TZ=Asia/Tokyo 0 9 * * *", "2026-01-04T00:00:00Z"),
        |s| {
            s.time_zone = Some("Europe/Berlin".into()); // ignored when the schedule has TZ
        },
    );
    // 09:00 in Tokyo = 00:00 UTC.
    let p = plan(&cj, &[], &no_lookups(), at("2026-01-05T00:00:01Z"));
    assert_eq!(reasons(&p), ["UnsupportedSchedule", "SuccessfulCreate"]);
    assert_eq!(p.creation().unwrap().slot, at("2026-01-05T00:00:00Z"));
    // The annotation uses spec.timeZone, as upstream does.
    let ann = job_of(p.creation().unwrap()).metadata.annotations.unwrap();
    assert_eq!(
        ann[SCHEDULED_TIMESTAMP_ANNOTATION],
        "2026-01-05T01:00:00+01:00"
    );
}

#[test]
fn time_zone_moves_the_slot_and_the_annotation() {
    let cj = with_spec(cronjob("30 2 * * *", "2026-07-01T00:00:00Z"), |s| {
        s.time_zone = Some("America/New_York".into());
    });
    // 02:30 EDT = 06:30 UTC.
    let p = plan(&cj, &[], &no_lookups(), at("2026-07-02T06:30:00Z"));
    let c = p.creation().unwrap();
    assert_eq!(c.slot, at("2026-07-02T06:30:00Z"));
    assert_eq!(
        job_of(c).metadata.annotations.as_ref().unwrap()[SCHEDULED_TIMESTAMP_ANNOTATION],
        "2026-07-02T02:30:00-04:00"
    );
    assert_eq!(p.wake_at, Some(at("2026-07-03T06:30:00Z")));
}

#[test]
fn more_than_100_missed_warns_and_runs_the_most_recent() {
    let cj = cronjob("* * * * *", "2025-01-05T10:00:00Z");
    let p = plan(&cj, &[], &no_lookups(), at("2026-01-05T10:00:30Z"));
    assert!(p.too_many_missed);
    assert_eq!(reasons(&p), ["TooManyMissedTimes", "SuccessfulCreate"]);
    assert_eq!(p.creation().unwrap().slot, at("2026-01-05T10:00:00Z"));
}

#[test]
fn exactly_100_missed_is_not_too_many() {
    let cj = cronjob("* * * * *", "2026-01-05T08:20:00Z");
    // Slots 08:21..10:00 = 100.
    let p = plan(&cj, &[], &no_lookups(), at("2026-01-05T10:00:30Z"));
    assert!(!p.too_many_missed);
    assert_eq!(reasons(&p), ["SuccessfulCreate"]);
    let cj = cronjob("* * * * *", "2026-01-05T08:19:00Z");
    assert!(plan(&cj, &[], &no_lookups(), at("2026-01-05T10:00:30Z")).too_many_missed);
}

#[test]
fn starting_deadline_runs_slots_inside_it_only() {
    let cj = with_spec(cronjob("0 * * * *", "2026-01-05T08:30:00Z"), |s| {
        s.starting_deadline_seconds = Some(120)
    });
    let p = plan(&cj, &[], &no_lookups(), at("2026-01-05T09:01:59Z"));
    assert_eq!(p.creation().unwrap().slot, at("2026-01-05T09:00:00Z"));
    let p = plan(&cj, &[], &no_lookups(), at("2026-01-05T09:02:01Z"));
    assert_eq!(p.decision, Decision::Wait);
    assert_eq!(p.missed_slot, Some(at("2026-01-05T09:00:00Z")));
    assert_eq!(p.wake_at, Some(at("2026-01-05T10:00:00Z")));
}

#[test]
fn every_with_deadline_shorter_than_interval_runs_inside_the_deadline() {
    // Deliberate difference 2: upstream never runs this CronJob.
    let cj = with_spec(cronjob("@every 1h", "2026-01-05T08:00:00Z"), |s| {
        s.starting_deadline_seconds = Some(60)
    });
    let p = plan(&cj, &[], &no_lookups(), at("2026-01-05T09:00:30Z"));
    assert_eq!(p.creation().unwrap().slot, at("2026-01-05T09:00:00Z"));
    assert_eq!(p.wake_at, Some(at("2026-01-05T10:00:00Z")));
}

#[test]
fn every_is_anchored_to_last_schedule_time() {
    let cj = with_status(cronjob("@every 90m", "2026-01-05T00:00:00Z"), |s| {
        s.last_schedule_time = Some(Time(at("2026-01-05T08:07:00Z")));
    });
    let p = plan(&cj, &[], &no_lookups(), at("2026-01-05T09:00:00Z"));
    assert_eq!(p.decision, Decision::Wait);
    assert_eq!(p.wake_at, Some(at("2026-01-05T09:37:00Z")));
}

#[test]
fn irregular_schedule_finds_the_true_most_recent_slot() {
    // Deliberate difference 1: upstream runs nothing here.
    let cj = with_status(
        cronjob("30 10,11,12 * * 1-5", "2026-01-01T00:00:00Z"),
        |s| {
            s.last_schedule_time = Some(Time(at("2026-01-08T10:30:00Z"))); // Thursday
        },
    );
    let p = plan(&cj, &[], &no_lookups(), at("2026-01-09T16:30:00Z")); // Friday
    assert_eq!(p.creation().unwrap().slot, at("2026-01-09T12:30:00Z"));
    assert_eq!(p.wake_at, Some(at("2026-01-12T10:30:00Z")));
}

#[test]
fn finished_active_jobs_leave_active_and_record_success() {
    let cj = with_status(cronjob("0 * * * *", "2026-01-05T00:00:00Z"), |s| {
        s.active = Some(vec![active_ref("hello-a", "a"), active_ref("hello-b", "b")]);
        s.last_schedule_time = Some(Time(at("2026-01-05T09:00:00Z")));
        s.last_successful_time = Some(Time(at("2026-01-05T08:00:10Z")));
    });
    let jobs = [
        job(
            "hello-a",
            "a",
            Some((
                "Complete",
                Some("2026-01-05T08:00:01Z"),
                Some("2026-01-05T09:00:20Z"),
            )),
        ),
        job(
            "hello-b",
            "b",
            Some(("Failed", Some("2026-01-05T09:00:01Z"), None)),
        ),
    ];
    let p = plan(&cj, &jobs, &no_lookups(), at("2026-01-05T09:30:00Z"));
    let msgs: Vec<_> = p.events().map(|e| e.message.as_str()).collect();
    assert_eq!(
        msgs,
        [
            "Saw completed job: hello-a, condition: Complete",
            "Saw completed job: hello-b, condition: Failed"
        ]
    );
    let st = status_after(&p, &cj);
    assert_eq!(st.active, Some(vec![]));
    assert_eq!(
        st.last_successful_time,
        Some(Time(at("2026-01-05T09:00:20Z")))
    );
    assert_eq!(p.decision, Decision::Wait);
}

#[test]
fn older_completion_does_not_move_last_successful_time_back() {
    let cj = with_status(cronjob("0 * * * *", "2026-01-05T00:00:00Z"), |s| {
        s.last_schedule_time = Some(Time(at("2026-01-05T09:00:00Z")));
        s.last_successful_time = Some(Time(at("2026-01-05T09:00:30Z")));
    });
    let jobs = [job(
        "hello-a",
        "a",
        Some((
            "Complete",
            Some("2026-01-05T08:00:01Z"),
            Some("2026-01-05T08:00:20Z"),
        )),
    )];
    let p = plan(&cj, &jobs, &no_lookups(), at("2026-01-05T09:30:00Z"));
    assert_eq!(p.delta.last_successful_time, None);
    assert_eq!(
        status_after(&p, &cj).last_successful_time,
        Some(Time(at("2026-01-05T09:00:30Z")))
    );
    assert!(p.effects.is_empty());
}

#[test]
fn unfinished_job_missing_from_active_is_unexpected_after_a_fresh_read() {
    let cj = with_status(cronjob("0 * * * *", "2026-01-05T00:00:00Z"), |s| {
        s.last_schedule_time = Some(Time(at("2026-01-05T09:00:00Z")));
    });
    let jobs = [job("hello-x", "x", None)];
    let needs = lookups_needed(&cj, &jobs);
    assert_eq!(needs.unexpected, ["hello-x"]);
    let p = plan(&cj, &jobs, &no_lookups(), at("2026-01-05T09:30:00Z"));
    let ev = p.events().next().unwrap();
    assert_eq!((ev.type_, ev.reason), (EventType::Warning, "UnexpectedJob"));
    assert_eq!(
        ev.message,
        "Saw a job that the controller did not create or forgot: hello-x"
    );
    // Not adopted.
    assert!(p.delta.add_active.is_empty());
}

#[test]
fn active_job_confirmed_gone_is_missing_job() {
    let cj = with_status(cronjob("0 * * * *", "2026-01-05T00:00:00Z"), |s| {
        s.active = Some(vec![
            active_ref("hello-gone", "g"),
            active_ref("hello-slow", "s"),
        ]);
        s.last_schedule_time = Some(Time(at("2026-01-05T09:00:00Z")));
    });
    let needs = lookups_needed(&cj, &[]);
    assert_eq!(needs.unknown_active.len(), 2);
    // The live GET found hello-slow (cache lag) but not hello-gone.
    let p = plan(
        &cj,
        &[],
        &Observed {
            gone: vec!["g".into()],
        },
        at("2026-01-05T09:30:00Z"),
    );
    assert_eq!(reasons(&p), ["MissingJob"]);
    assert_eq!(
        p.events().next().unwrap().message,
        "Active job went missing: hello-gone"
    );
    let active: Vec<_> = status_after(&p, &cj)
        .active
        .unwrap()
        .into_iter()
        .map(|r| r.name.unwrap())
        .collect();
    assert_eq!(active, ["hello-slow"]);
}

#[test]
fn history_keeps_the_newest_by_start_time_per_outcome() {
    let cj = with_spec(
        with_status(cronjob("0 * * * *", "2026-01-05T00:00:00Z"), |s| {
            s.last_schedule_time = Some(Time(at("2026-01-05T09:00:00Z")));
        }),
        |s| {
            s.successful_jobs_history_limit = Some(2);
            s.failed_jobs_history_limit = Some(1);
        },
    );
    let ok = |n: &str, start: Option<&str>| {
        job(
            n,
            n,
            Some(("Complete", start, Some("2026-01-05T09:00:00Z"))),
        )
    };
    let bad = |n: &str, start: &str| job(n, n, Some(("Failed", Some(start), None)));
    let mut deleting = ok("s-deleting", Some("2026-01-05T00:00:00Z"));
    deleting.metadata.deletion_timestamp = Some(Time(at("2026-01-05T09:10:00Z")));
    let jobs = [
        ok("s-nostart", None),
        ok("s-b", Some("2026-01-05T02:00:00Z")),
        ok("s-a", Some("2026-01-05T02:00:00Z")),
        ok("s-new", Some("2026-01-05T05:00:00Z")),
        deleting,
        bad("f-old", "2026-01-05T01:00:00Z"),
        bad("f-new", "2026-01-05T03:00:00Z"),
        job("running", "running", None),
    ];
    let cj = with_status(cj, |s| {
        s.active = Some(vec![active_ref("running", "running")])
    });
    let p = plan(&cj, &jobs, &no_lookups(), at("2026-01-05T09:30:00Z"));
    let deleted: Vec<_> = p
        .deletions()
        .map(|d| (d.name.as_str(), d.purpose))
        .collect();
    // 4 live successes, keep 2: the oldest by startTime (ties by name) go
    // first, Jobs without a startTime sort last; then 1 of 2 failures.
    assert_eq!(
        deleted,
        [
            ("s-a", DeletePurpose::History),
            ("s-b", DeletePurpose::History),
            ("f-old", DeletePurpose::History)
        ]
    );
    assert_eq!(
        reasons(&p),
        ["SuccessfulDelete", "SuccessfulDelete", "SuccessfulDelete"]
    );
}

#[test]
fn history_limit_zero_deletes_a_finished_active_job_without_saw_completed() {
    let cj = with_spec(
        with_status(cronjob("0 * * * *", "2026-01-05T00:00:00Z"), |s| {
            s.active = Some(vec![active_ref("hello-a", "a")]);
            s.last_schedule_time = Some(Time(at("2026-01-05T09:00:00Z")));
        }),
        |s| s.successful_jobs_history_limit = Some(0),
    );
    let jobs = [job(
        "hello-a",
        "a",
        Some((
            "Complete",
            Some("2026-01-05T09:00:01Z"),
            Some("2026-01-05T09:00:05Z"),
        )),
    )];
    let p = plan(&cj, &jobs, &no_lookups(), at("2026-01-05T09:30:00Z"));
    assert_eq!(reasons(&p), ["SuccessfulDelete"]);
    let st = status_after(&p, &cj);
    assert_eq!(st.active, Some(vec![]));
    assert_eq!(
        st.last_successful_time,
        Some(Time(at("2026-01-05T09:00:05Z")))
    );
}

#[test]
fn missing_history_limits_default_to_three_and_one() {
    let cj = with_status(cronjob("0 * * * *", "2026-01-05T00:00:00Z"), |s| {
        s.last_schedule_time = Some(Time(at("2026-01-05T09:00:00Z")));
    });
    let jobs: Vec<Job> = (0..5)
        .map(|i| {
            job(
                &format!("s{i}"),
                &format!("s{i}"),
                Some(("Complete", Some(&format!("2026-01-05T0{i}:00:00Z")), None)),
            )
        })
        .chain((0..3).map(|i| {
            job(
                &format!("f{i}"),
                &format!("f{i}"),
                Some(("Failed", Some(&format!("2026-01-05T0{i}:00:00Z")), None)),
            )
        }))
        .collect();
    let p = plan(&cj, &jobs, &no_lookups(), at("2026-01-05T09:30:00Z"));
    let deleted: Vec<_> = p.deletions().map(|d| d.name.as_str()).collect();
    assert_eq!(deleted, ["s0", "s1", "f0", "f1"]);
}

#[test]
fn jobs_controlled_by_others_are_ignored() {
    let cj = cronjob("0 * * * *", "2026-01-05T09:10:00Z");
    let mut foreign = job("other-1", "o1", None);
    foreign.metadata.owner_references.as_mut().unwrap()[0].uid = "someone-else".into();
    let mut not_controller = job("other-2", "o2", None);
    not_controller.metadata.owner_references.as_mut().unwrap()[0].controller = Some(false);
    let jobs = [foreign, not_controller];
    assert_eq!(lookups_needed(&cj, &jobs), Lookups::default());
    let p = plan(&cj, &jobs, &no_lookups(), at("2026-01-05T09:30:00Z"));
    assert!(p.effects.is_empty());
}

#[test]
fn job_name_is_minutes_since_epoch() {
    assert_eq!(
        job_name("nightly", at("2026-01-05T10:00:00Z")),
        "nightly-29460120"
    );
    assert_eq!(job_name("x", at("1970-01-01T00:01:59Z")), "x-1");
}

#[test]
fn missing_creation_timestamp_counts_from_now() {
    let mut cj = cronjob("* * * * *", "2026-01-05T09:00:00Z");
    cj.metadata.creation_timestamp = None;
    let p = plan(&cj, &[], &no_lookups(), at("2026-01-05T10:00:30Z"));
    assert_eq!(p.decision, Decision::Wait);
    assert_eq!(p.wake_at, Some(at("2026-01-05T10:01:00Z")));
}

#[test]
fn clock_behind_last_schedule_time_does_not_rerun_it() {
    let cj = with_status(cronjob("* * * * *", "2026-01-05T09:00:00Z"), |s| {
        s.last_schedule_time = Some(Time(at("2026-01-05T10:01:00Z")));
    });
    let p = plan(&cj, &[], &no_lookups(), at("2026-01-05T10:00:59Z"));
    assert_eq!(p.decision, Decision::Wait);
    assert_eq!(p.wake_at, Some(at("2026-01-05T10:02:00Z")));
}

#[test]
fn sub_minute_slot_whose_name_ran_already_is_recorded_not_recreated() {
    // @every 20s: 10:00:20 and 10:00:40 share the Job name of minute 10:00.
    let cj = with_status(cronjob("@every 20s", "2026-01-05T10:00:00Z"), |s| {
        s.last_schedule_time = Some(Time(at("2026-01-05T10:00:20Z")));
    });
    let done = [job(
        "hello-29460120",
        "j1",
        Some((
            "Complete",
            Some("2026-01-05T10:00:21Z"),
            Some("2026-01-05T10:00:23Z"),
        )),
    )];
    let p = plan(&cj, &done, &no_lookups(), at("2026-01-05T10:00:40Z"));
    assert_eq!(
        p.decision,
        Decision::Skip {
            slot: at("2026-01-05T10:00:40Z"),
            reason: SkipReason::NameTaken
        }
    );
    assert!(p.creation().is_none());
    assert!(p.events().next().is_none(), "no event churn");
    assert_eq!(
        status_after(&p, &cj).last_schedule_time,
        Some(Time(at("2026-01-05T10:00:40Z")))
    );
    assert_eq!(p.wake_at, Some(at("2026-01-05T10:01:00Z")));
    // The next minute has a new name: it runs.
    let p = plan(
        &with_status(cj, |s| {
            s.last_schedule_time = Some(Time(at("2026-01-05T10:00:40Z")))
        }),
        &done,
        &no_lookups(),
        at("2026-01-05T10:01:00Z"),
    );
    assert_eq!(
        job_of(p.creation().unwrap()).metadata.name.as_deref(),
        Some("hello-29460121")
    );
}

#[test]
fn a_name_too_long_for_its_jobs_stops_with_a_warning() {
    let mut cj = cronjob("*/5 * * * *", "2026-01-05T09:58:00Z");
    cj.metadata.name = Some("n".repeat(60));
    let p = plan(&cj, &[], &no_lookups(), at("2026-01-05T10:00:00Z"));
    assert_eq!(p.decision, Decision::Stop(StopReason::NameTooLong));
    assert_eq!(reasons(&p), ["NameTooLong"]);
    assert!(p.events().all(PlannedEvent::is_spec_problem));
    assert_eq!(p.wake_at, None);
    // 52 characters, the API server's limit, always fits.
    cj.metadata.name = Some("n".repeat(52));
    let p = plan(&cj, &[], &no_lookups(), at("2026-01-05T10:00:00Z"));
    assert!(matches!(p.decision, Decision::Create { .. }));
}

#[test]
fn a_deadline_longer_than_the_time_since_the_epoch_is_no_deadline() {
    for deadline in [999_999_999_999, i64::MAX] {
        let cj = with_spec(cronjob("*/5 * * * *", "2026-01-05T09:58:00Z"), |s| {
            s.starting_deadline_seconds = Some(deadline);
        });
        let p = plan(&cj, &[], &no_lookups(), at("2026-01-05T10:00:01Z"));
        assert!(
            matches!(p.decision, Decision::Create { slot, .. } if slot == at("2026-01-05T10:00:00Z")),
            "{deadline}: {:?}",
            p.decision
        );
        assert_eq!(p.missed_slot, None);
    }
}

#[test]
fn a_last_schedule_time_at_the_end_of_time_waits_without_a_timer() {
    let cj = with_status(cronjob("* * * * *", "2026-01-05T09:58:00Z"), |s| {
        s.last_schedule_time = Some(Time(Timestamp::MAX));
    });
    let p = plan(&cj, &[], &no_lookups(), at("2026-01-05T10:00:00Z"));
    assert_eq!(p.decision, Decision::Wait);
    assert_eq!(p.wake_at, None, "no slot after the end of time");
    assert!(p.effects.is_empty());
}

#[test]
fn extreme_instants_never_panic_nor_set_a_past_timer() {
    for now in [Timestamp::MIN, Timestamp::MAX, Timestamp::UNIX_EPOCH] {
        for created in [Timestamp::MIN, Timestamp::MAX, now] {
            let mut cj = cronjob("@every 2562047h", "2026-01-05T09:58:00Z");
            cj.metadata.creation_timestamp = Some(Time(created));
            let p = plan(&cj, &[], &no_lookups(), now);
            assert!(p.wake_at.is_none_or(|w| w > now), "{now} {created}: {p:?}");
        }
    }
}

fn with_run_now(mut cj: CronJob, token: &str) -> CronJob {
    cj.metadata
        .annotations
        .get_or_insert_with(Default::default)
        .insert(crate::model::RUN_NOW_ANNOTATION.into(), token.into());
    cj
}

#[test]
fn run_now_creates_one_manual_job_and_records_the_token() {
    let cj = with_run_now(
        with_status(cronjob("0 0 * * *", "2026-01-05T00:00:00Z"), |s| {
            s.last_schedule_time = Some(Time(at("2026-01-05T00:00:00Z")));
        }),
        "t1",
    );
    let now = at("2026-01-05T10:00:00Z");
    let p = plan(&cj, &[], &no_lookups(), now);
    let c = p.creation().unwrap();
    assert_eq!(c.trigger, Trigger::RunNow("t1".into()));
    assert_eq!(c.job.name, run_now::manual_job_name("hello", "t1"));
    let job = job_of(c);
    let ann = job.metadata.annotations.as_ref().unwrap();
    assert_eq!(ann["cronjob.kubernetes.io/instantiate"], "manual");
    assert_eq!(ann[SCHEDULED_TIMESTAMP_ANNOTATION], "2026-01-05T10:00:00Z");
    assert_eq!(reasons(&p), ["SuccessfulCreate"]);
    assert_eq!(
        p.run_now,
        Some(run_now::Outcome::Run {
            job_name: c.job.name.clone()
        })
    );
    let after = p.status_if_successful(&model(&cj));
    assert_eq!(after.run_now_token.as_deref(), Some("t1"));
    assert_eq!(after.active.len(), 1);
    assert_eq!(
        after.last_schedule_time,
        Some(at("2026-01-05T00:00:00Z")),
        "a manual run does not move lastScheduleTime"
    );
    assert!(after.last_run.as_ref().unwrap().manual);
    // Once recorded, the same token is not run again.
    let mut handled = model(&cj);
    handled.status = after;
    let again = super::plan(&handled, &[], &no_lookups(), now);
    assert!(again.creation().is_none());
    assert_eq!(again.run_now, None);
}

#[test]
fn run_now_is_refused_while_suspended_or_forbidden_and_recorded() {
    let now = at("2026-01-05T10:00:00Z");
    let suspended = with_run_now(
        with_spec(cronjob("0 0 * * *", "2026-01-05T09:00:00Z"), |s| {
            s.suspend = Some(true)
        }),
        "t1",
    );
    let forbid = with_run_now(
        with_status(
            with_spec(cronjob("0 0 * * *", "2026-01-05T09:00:00Z"), |s| {
                s.concurrency_policy = Some("Forbid".into())
            }),
            |s| s.active = Some(vec![active_ref("hello-1", "j1")]),
        ),
        "t1",
    );
    let running = [job("hello-1", "j1", None)];
    for (cj, jobs) in [(suspended, &[][..]), (forbid, &running[..])] {
        let p = plan(&cj, jobs, &no_lookups(), now);
        assert!(p.creation().is_none());
        assert_eq!(reasons(&p), ["RunNowRefused"]);
        assert!(matches!(p.run_now, Some(run_now::Outcome::Refused { .. })));
        assert_eq!(p.delta.run_now_token.as_deref(), Some("t1"));
    }
}

#[test]
fn run_now_with_replace_deletes_the_active_job_first() {
    let cj = with_run_now(
        with_status(
            with_spec(cronjob("0 0 * * *", "2026-01-05T09:00:00Z"), |s| {
                s.concurrency_policy = Some("Replace".into())
            }),
            |s| s.active = Some(vec![active_ref("hello-1", "j1")]),
        ),
        "t1",
    );
    let p = plan(
        &cj,
        &[job("hello-1", "j1", None)],
        &no_lookups(),
        at("2026-01-05T10:00:00Z"),
    );
    assert_eq!(reasons(&p), ["SuccessfulDelete", "SuccessfulCreate"]);
    assert_eq!(
        p.deletions().next().unwrap().purpose,
        DeletePurpose::Replace
    );
}

#[test]
fn run_now_waits_for_the_slot_created_in_the_same_sync() {
    let cj = with_run_now(cronjob("*/5 * * * *", "2026-01-05T09:58:00Z"), "t1");
    let now = at("2026-01-05T10:00:00Z");
    let p = plan(&cj, &[], &no_lookups(), now);
    assert_eq!(p.creation().unwrap().trigger, Trigger::Schedule);
    assert_eq!(
        p.effects
            .iter()
            .filter(|e| matches!(e, Effect::Create(_)))
            .count(),
        1
    );
    assert_eq!(p.run_now, Some(run_now::Outcome::Deferred));
    assert_eq!(p.wake_at, Some(at("2026-01-05T10:00:01Z")));
    assert_eq!(p.delta.run_now_token, None);
}

#[test]
fn the_last_run_and_the_last_failure_are_recorded() {
    let cj = with_status(cronjob("0 * * * *", "2026-01-05T00:00:00Z"), |s| {
        s.last_schedule_time = Some(Time(at("2026-01-05T09:00:00Z")));
    });
    let mut failed = job(
        "hello-29460540",
        "f",
        Some(("Failed", Some("2026-01-05T09:00:01Z"), None)),
    );
    failed.status.as_mut().unwrap().conditions.as_mut().unwrap()[0].last_transition_time =
        Some(Time(at("2026-01-05T09:00:09Z")));
    failed.metadata.annotations = Some(
        [(
            SCHEDULED_TIMESTAMP_ANNOTATION.to_string(),
            "2026-01-05T09:00:00Z".to_string(),
        )]
        .into(),
    );
    let older = job(
        "hello-29460480",
        "o",
        Some((
            "Complete",
            Some("2026-01-05T08:00:01Z"),
            Some("2026-01-05T08:00:05Z"),
        )),
    );
    let p = plan(
        &cj,
        &[older, failed],
        &no_lookups(),
        at("2026-01-05T09:30:00Z"),
    );
    let after = p.status_if_successful(&model(&cj));
    assert_eq!(after.last_failure_time, Some(at("2026-01-05T09:00:09Z")));
    let run = after.last_run.unwrap();
    assert_eq!(run.job_name, "hello-29460540");
    assert_eq!(run.result, Some(crate::model::Finished::Failed));
    assert_eq!(run.completion_time, Some(at("2026-01-05T09:00:09Z")));
    assert_eq!(after.next_schedule_time, Some(at("2026-01-05T10:00:00Z")));
    let by_type = |t: &str| {
        after
            .conditions
            .iter()
            .find(|c| c.type_ == t)
            .map(|c| (c.status.clone(), c.reason.clone()))
            .unwrap()
    };
    assert_eq!(by_type("ScheduleValid"), ("True".into(), "Valid".into()));
    assert_eq!(
        by_type("Suspended"),
        ("False".into(), "NotSuspended".into())
    );
    assert_eq!(
        by_type("LastRunSucceeded"),
        ("False".into(), "JobFailed".into())
    );
}

#[test]
fn a_suspended_object_still_says_whether_its_schedule_is_valid() {
    let cj = with_spec(cronjob("not a schedule", "2026-01-05T00:00:00Z"), |s| {
        s.suspend = Some(true)
    });
    let p = plan(&cj, &[], &no_lookups(), at("2026-01-05T09:30:00Z"));
    assert_eq!(p.decision, Decision::Stop(StopReason::Suspended));
    assert!(
        p.effects.is_empty(),
        "no warning while suspended, as upstream"
    );
    assert_eq!(
        p.schedule_problem.as_ref().map(|e| e.reason),
        Some("UnparseableSchedule")
    );
    let after = p.status_if_successful(&model(&cj));
    assert_eq!(after.conditions[0].status, "False");
    assert_eq!(after.next_schedule_time, None);
}
