//! Property tests of the planner over arbitrary (object, Jobs, lookups, now),
//! extremes included: no panic, one Create at most and never for a slot
//! already run, Job names that fit, no timer in the past, status times that
//! never move backwards, and time linear in the size of the history.
//!
//! `PROPTEST_CASES` raises the number of cases (default 256 per property).

use std::collections::BTreeMap;
use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::api::core::v1::ObjectReference;
use proptest::prelude::*;

use super::*;
use crate::model::{
    ConcurrencyPolicy, ControllerRef, Finished, JobFacts, JobTemplate, Kind, Scheduled, Spec,
    Status,
};

const OWNER_UID: &str = "cj-uid";

/// Instants: mostly around 2026, sometimes anywhere jiff can hold.
fn instant() -> impl Strategy<Value = Timestamp> {
    let s2026 = 1_767_225_600i64;
    prop_oneof![
        6 => (s2026 - 400 * 86_400..s2026 + 400 * 86_400, 0..1_000_000_000i32)
            .prop_map(|(s, n)| Timestamp::new(s, n).unwrap()),
        1 => (Timestamp::MIN.as_second()..=Timestamp::MAX.as_second())
            .prop_map(|s| Timestamp::from_second(s).unwrap()),
        1 => prop::sample::select(vec![
            Timestamp::MIN,
            Timestamp::MAX,
            Timestamp::UNIX_EPOCH,
            Timestamp::from_second(-1).unwrap(),
        ]),
    ]
}

fn schedule_text() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(vec![
            "* * * * *", "*/5 * * * *", "0 * * * *", "30 2 * * *", "0 0 13 * 5",
            "30 10,11,12 * * 1-5", "0 0 29 2 *", "0 0 30 2 *", "@hourly", "@daily",
            "@every 1s", "@every 30s", "@every 90m", "@every 2562047h", "@every 0s",
            "TZ=Asia/Tokyo 0 9 * * *", "CRON_TZ=America/New_York 30 2 * * *",
            "0 2 * * *", "59 23 31 12 *", ",", "", "not a schedule", "TZ=Nowhere * * * * *",
        ])
        .prop_map(str::to_owned),
        1 => "[0-9*/,-]{1,4} [0-9*/,-]{1,4} [0-9*?/,-]{1,4} [0-9*/,-]{1,3} [0-9*?/,-]{1,3}",
        1 => any::<String>(),
    ]
}

fn zone() -> impl Strategy<Value = Option<String>> {
    prop::option::of(
        prop::sample::select(vec![
            "UTC",
            "America/New_York",
            "Europe/London",
            "Australia/Lord_Howe",
            "Pacific/Chatham",
            "Asia/Kolkata",
            "America/Santiago",
            "Mars/Olympus",
            "",
            "../etc/passwd",
        ])
        .prop_map(str::to_owned),
    )
}

fn deadline() -> impl Strategy<Value = Option<i64>> {
    prop::option::of(prop_oneof![
        0i64..100_000,
        Just(0i64),
        Just(999_999_999_999i64),
        Just(i64::MAX),
        Just(i64::MIN),
        any::<i64>(),
    ])
}

fn policy() -> impl Strategy<Value = ConcurrencyPolicy> {
    prop::sample::select(vec![
        ConcurrencyPolicy::Allow,
        ConcurrencyPolicy::Forbid,
        ConcurrencyPolicy::Replace,
    ])
}

fn limit() -> impl Strategy<Value = i64> {
    prop_oneof![0i64..5, Just(i64::MAX), Just(i64::MIN), any::<i64>()]
}

/// A name of 1 to 60 characters (the API allows 52 for CronJobs).
fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[a-z][a-z0-9-]{0,12}",
        1 => "[a-z]{40,60}",
    ]
}

/// Owned and foreign Jobs, named like a CronJob's or not.
fn jobs(owner: String, max: usize) -> impl Strategy<Value = Vec<JobFacts>> {
    let job = (
        prop_oneof![
            3 => (29_000_000i64..29_600_000).prop_map(|m| m.to_string()),
            1 => "[a-z0-9]{1,6}",
        ],
        prop::sample::select(vec![0u8, 0, 0, 0, 1, 2]),
        any::<bool>(),
        prop::option::of(prop::sample::select(vec![
            Finished::Complete,
            Finished::Failed,
        ])),
        prop::option::of(instant()),
        prop::option::of(instant()),
    );
    prop::collection::vec(job, 0..max).prop_map(move |js| {
        js.into_iter()
            .enumerate()
            .map(
                |(i, (suffix, owner_kind, deleting, finished, start, done))| JobFacts {
                    name: format!("{owner}-{suffix}"),
                    namespace: "ns".into(),
                    uid: format!("job-{i}"),
                    controller: match owner_kind {
                        0 => Some(ControllerRef {
                            api_version: "batch/v1".into(),
                            kind: "CronJob".into(),
                            name: owner.clone(),
                            uid: OWNER_UID.into(),
                        }),
                        1 => Some(ControllerRef {
                            api_version: "batch/v1".into(),
                            kind: "CronJob".into(),
                            name: "other".into(),
                            uid: "other-uid".into(),
                        }),
                        _ => None,
                    },
                    being_deleted: deleting && i % 3 == 0,
                    finished,
                    start_time: start,
                    completion_time: done,
                    ..Default::default()
                },
            )
            .collect()
    })
}

#[derive(Clone, Debug)]
struct Case {
    object: Scheduled,
    jobs: Vec<JobFacts>,
    observed: Observed,
    now: Timestamp,
}

fn case() -> impl Strategy<Value = Case> {
    name().prop_flat_map(|name| {
        let spec = (
            schedule_text(),
            zone(),
            deadline(),
            policy(),
            prop::bool::weighted(0.1),
            limit(),
            limit(),
        );
        let meta = (
            prop::option::of(instant()),
            prop::bool::weighted(0.05),
            prop::option::of(instant()),
            prop::option::of(instant()),
        );
        (
            Just(name.clone()),
            spec,
            meta,
            jobs(name, 12),
            instant(),
            prop::collection::vec((0usize..16, any::<bool>(), any::<bool>()), 0..6),
            (
                prop::option::of(prop::sample::select(vec!["t1", "t2", ""])),
                prop::option::of(prop::sample::select(vec!["t1", "t2"])),
            ),
        )
            .prop_map(|(name, spec, meta, jobs, now, active_picks, run_now)| {
                let (request, handled) = run_now;
                let run_now = request.map(str::to_owned);
                let handled = handled.map(str::to_owned);
                let (schedule, time_zone, deadline, policy, suspend, ok_limit, failed_limit) = spec;
                let (created, deleting, last_schedule, last_success) = meta;
                // status.active: references to some of the Jobs (and to
                // Jobs that do not exist), some confirmed gone.
                let mut active = Vec::new();
                let mut gone = Vec::new();
                for (pick, dangling, is_gone) in active_picks {
                    let (job_name, uid) = match jobs.get(pick) {
                        Some(j) if !dangling => (j.name.clone(), j.uid.clone()),
                        _ => (format!("{name}-gone{pick}"), format!("gone-{pick}")),
                    };
                    if is_gone {
                        gone.push(uid.clone());
                    }
                    active.push(ObjectReference {
                        name: Some(job_name),
                        uid: Some(uid),
                        namespace: Some("ns".into()),
                        ..Default::default()
                    });
                }
                Case {
                    object: Scheduled {
                        kind: Kind::CronJob,
                        name,
                        namespace: "ns".into(),
                        uid: OWNER_UID.into(),
                        resource_version: Some("1".into()),
                        generation: 1,
                        created,
                        being_deleted: deleting,
                        run_now,
                        spec: Spec {
                            schedule,
                            time_zone,
                            starting_deadline_seconds: deadline,
                            concurrency_policy: policy,
                            suspend,
                            successful_jobs_history_limit: ok_limit,
                            failed_jobs_history_limit: failed_limit,
                            job_template: JobTemplate {
                                labels: Some(BTreeMap::from([("a".into(), "b".into())])),
                                annotations: None,
                                spec_json: "{}".into(),
                            },
                        },
                        status: Status {
                            active,
                            last_schedule_time: last_schedule,
                            last_successful_time: last_success,
                            run_now_token: handled,
                            ..Status::default()
                        },
                    },
                    jobs,
                    observed: Observed { gone },
                    now,
                }
            })
    })
}

/// What the controller does with a plan when every call succeeds: the new
/// status (the created Job with a real UID) and the Job list.
fn carry_out(case: &Case, p: &Plan) -> (Scheduled, Vec<JobFacts>) {
    let mut object = case.object.clone();
    let mut jobs = case.jobs.clone();
    let mut status = object.status.clone();
    p.delta.apply(&mut status);
    for e in &p.effects {
        match e {
            Effect::Delete(d) => {
                jobs.retain(|j| j.name != d.name);
                if d.purpose == DeletePurpose::Replace {
                    StatusDelta {
                        remove_active: d.uid.iter().cloned().collect(),
                        ..Default::default()
                    }
                    .apply(&mut status);
                }
            }
            Effect::Create(c) => {
                let uid = format!("created-{}", c.job.name);
                created_delta(c, Some(uid.clone()), None).apply(&mut status);
                jobs.push(JobFacts {
                    name: c.job.name.clone(),
                    namespace: c.job.namespace.clone(),
                    uid,
                    controller: Some(c.job.owner.clone()),
                    ..Default::default()
                });
            }
            Effect::Event(_) => {}
        }
    }
    object.status = status;
    (object, jobs)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(
        std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(256)
    ))]

    #[test]
    fn every_plan_is_sound(case in case()) {
        let p = plan(&case.object, &case.jobs, &case.observed, case.now);
        let creates: Vec<&JobCreation> = p.effects.iter().filter_map(|e| match e {
            Effect::Create(c) => Some(&**c),
            _ => None,
        }).collect();
        prop_assert!(creates.len() <= 1, "two creates in one plan");
        for c in &creates {
            prop_assert!(c.job.name.len() <= MAX_JOB_NAME_LEN, "{}", c.job.name);
            prop_assert_eq!(&c.job.owner.uid, OWNER_UID);
            prop_assert!(!case.object.status.active.iter().any(|r| r.name.as_deref() == Some(&c.job.name)),
                "the Job is already active");
            match &c.trigger {
                Trigger::Schedule => {
                    prop_assert_eq!(&c.job.name, &job_name(&case.object.name, c.slot));
                    prop_assert!(c.slot <= case.now, "a slot in the future");
                    prop_assert!(case.object.status.last_schedule_time.is_none_or(|l| c.slot > l),
                        "a slot at or before lastScheduleTime");
                }
                Trigger::RunNow(token) => {
                    prop_assert_eq!(Some(token), case.object.run_now.as_ref());
                    prop_assert_ne!(Some(token), case.object.status.run_now_token.as_ref(),
                        "a handled request is run again");
                    prop_assert_eq!(&c.job.name, &run_now::manual_job_name(&case.object.name, token));
                    prop_assert!(!case.object.spec.suspend);
                }
            }
        }

        for t in [p.wake_at, p.next_schedule_time].into_iter().flatten() {
            prop_assert!(t > case.now, "a timer at {} for now {}", t, case.now);
        }
        // Status times never move backwards.
        let after = p.status_if_successful(&case.object);
        let before = &case.object.status;
        prop_assert!(after.last_schedule_time >= before.last_schedule_time);
        prop_assert!(after.last_successful_time >= before.last_successful_time);
        // Deletions: only Jobs this object controls (history), or its active ones (Replace).
        for d in p.deletions() {
            match d.purpose {
                DeletePurpose::History => prop_assert!(case.jobs.iter().any(|j|
                    j.name == d.name && j.is_controlled_by(&case.object) && !j.being_deleted)),
                DeletePurpose::Replace => prop_assert!(before.active.iter().any(|r|
                    r.name.as_deref() == Some(&d.name))),
            }
        }
    }

    /// Carrying a plan out and planning again, at the same moment or any
    /// later one, never creates the same slot's Job again.
    #[test]
    fn a_slot_run_is_never_run_again(case in case(), later in 0i64..10_000) {
        let p1 = plan(&case.object, &case.jobs, &case.observed, case.now);
        let Some(c1) = p1.creation() else { return Ok(()) };
        let (object, jobs) = carry_out(&case, &p1);
        let now2 = case.now.checked_add(jiff::SignedDuration::from_secs(later)).unwrap_or(case.now);
        let p2 = plan(&object, &jobs, &Observed::default(), now2);
        if let Some(c2) = p2.creation() {
            prop_assert_ne!(&c2.job.name, &c1.job.name);
            prop_assert!(c2.slot > c1.slot);
        }
    }
}

/// One object with 10 000 owned finished Jobs, 10 000 active references and
/// 10 000 foreign Jobs: the plan is linear (plus a sort), far below the
/// renew deadline of a Lease. Prints the time it took.
#[test]
fn ten_thousand_jobs_and_active_entries_plan_quickly() {
    let owner = ControllerRef {
        api_version: "batch/v1".into(),
        kind: "CronJob".into(),
        name: "big".into(),
        uid: OWNER_UID.into(),
    };
    let base = 1_767_225_600i64;
    let mut jobs: Vec<JobFacts> = (0..10_000)
        .map(|i| JobFacts {
            name: format!("big-{}", 29_000_000 + i),
            namespace: "ns".into(),
            uid: format!("done-{i}"),
            controller: Some(owner.clone()),
            finished: Some(if i % 2 == 0 {
                Finished::Complete
            } else {
                Finished::Failed
            }),
            start_time: Timestamp::from_second(base - i * 60).ok(),
            completion_time: Timestamp::from_second(base - i * 60 + 30).ok(),
            ..Default::default()
        })
        .collect();
    jobs.extend((0..10_000).map(|i| JobFacts {
        name: format!("other-{i}"),
        uid: format!("other-{i}"),
        ..Default::default()
    }));
    let active = (0..10_000)
        .map(|i| ObjectReference {
            name: Some(format!("big-running-{i}")),
            uid: Some(format!("running-{i}")),
            ..Default::default()
        })
        .collect();
    let object = Scheduled {
        kind: Kind::CronJob,
        name: "big".into(),
        namespace: "ns".into(),
        uid: OWNER_UID.into(),
        resource_version: None,
        generation: 1,
        created: Timestamp::from_second(base - 86_400).ok(),
        being_deleted: false,
        run_now: None,
        spec: Spec {
            schedule: "* * * * *".into(),
            time_zone: None,
            starting_deadline_seconds: None,
            concurrency_policy: ConcurrencyPolicy::Replace,
            suspend: false,
            successful_jobs_history_limit: 3,
            failed_jobs_history_limit: 1,
            job_template: JobTemplate::default(),
        },
        status: Status {
            active,
            last_schedule_time: Timestamp::from_second(base - 60).ok(),
            ..Status::default()
        },
    };
    let gone: Vec<String> = (0..10_000)
        .step_by(2)
        .map(|i| format!("running-{i}"))
        .collect();
    let now = Timestamp::from_second(base).unwrap();
    // CPU time, so a loaded machine does not count.
    let ((lookups, p), took) = crate::cpu_clock::cpu_time_of(|| {
        (
            lookups_needed(&object, &jobs),
            plan(&object, &jobs, &Observed { gone }, now),
        )
    });
    println!("plan with 10 000 owned Jobs, 10 000 foreign, 10 000 active: {took:?} of CPU");
    assert_eq!(lookups.unknown_active.len(), 10_000);
    assert_eq!(
        p.deletions().count(),
        9_996 + 5_000,
        "history beyond 3+1, and Replace of the running"
    );
    assert!(p.creation().is_some());
    // Quadratic work would be 10^8 string comparisons: seconds even in release.
    assert!(took < Duration::from_secs(2), "{took:?}");
}
