//! `kronjob migrate` as a user runs it, against a real API server and a
//! `kronjob run --serve cronjobs,kronjobs` of this test: an every-minute
//! CronJob with Jobs moves to a KronJob across a minute boundary and back,
//! with exactly one Job per slot and no slot missed, its Jobs following it
//! (one object by name, then the whole namespace with `--all`).

mod common;
mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use jiff::{Timestamp, ToSpan as _};
use k8s_openapi::api::batch::v1::{CronJob, Job};
use kube::api::{Api, DynamicObject, PostParams};

use common::{TestNamespace, TestPod, wait_for};
use kronjob::lookup::api_resource;
use kronjob::model::Kind;
use support::*;

const NAME: &str = "every-minute";

fn kind_flag(kind: Kind) -> &'static str {
    match kind {
        Kind::CronJob => "cronjob",
        Kind::KronJob => "kronjob",
    }
}

async fn migrate(ns: &str, extra: &[&str], to: Kind) -> std::process::Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_kronjob"))
        .args(["migrate", "-n", ns, "--to", kind_flag(to)])
        .args(extra)
        .env("KUBECONFIG", kubeconfig_path().await)
        .kill_on_drop(true)
        .output()
        .await
        .expect("run kronjob migrate")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Until the wall clock is at least `second` seconds into a minute, with
/// enough of the minute left for the caller (so: into this minute's end).
async fn near_minute_end(second: i8) -> Timestamp {
    wait_for(
        &format!("second {second} of a minute"),
        Duration::from_secs(70),
        || async {
            let now = Timestamp::now();
            let s = now.as_second().rem_euclid(60) as i8;
            if s >= second && s < second + 2 {
                Ok(now)
            } else {
                Err(format!("second {s}"))
            }
        },
    )
    .await
}

/// The next minute boundary after `t`.
fn next_minute(t: Timestamp) -> Timestamp {
    Timestamp::from_second(t.as_second().div_euclid(60) * 60).unwrap() + 1.minute()
}

fn slot_name(slot: Timestamp) -> String {
    format!("{NAME}-{}", slot.as_second() / 60)
}

fn controller_uid(job: &Job) -> Option<(String, String)> {
    job.metadata
        .owner_references
        .iter()
        .flatten()
        .find(|r| r.controller == Some(true))
        .map(|r| (r.kind.clone(), r.uid.clone()))
}

/// All Jobs of the namespace by slot: a slot with two Jobs fails here.
async fn jobs_by_slot(jobs: &Api<Job>) -> BTreeMap<Timestamp, Job> {
    let mut by_slot = BTreeMap::new();
    for job in jobs.list(&Default::default()).await.unwrap().items {
        let slot: Timestamp = scheduled_annotation(&job).parse().expect("slot annotation");
        let name = job.metadata.name.clone();
        if let Some(other) = by_slot.insert(slot, job) {
            panic!(
                "two Jobs for {slot}: {:?} and {name:?}",
                other.metadata.name
            );
        }
    }
    by_slot
}

async fn wait_job_of(jobs: &Api<Job>, slot: Timestamp, owner: (&str, &str)) -> Job {
    let name = slot_name(slot);
    wait_for(
        &format!("Job {name} of {owner:?}"),
        Duration::from_secs(60),
        || async {
            match jobs.get_opt(&name).await {
                Ok(Some(j))
                    if controller_uid(&j) == Some((owner.0.to_string(), owner.1.to_string())) =>
                {
                    Ok(j)
                }
                Ok(j) => Err(format!("{:?}", j.as_ref().and_then(controller_uid))),
                Err(e) => Err(e.to_string()),
            }
        },
    )
    .await
}

#[tokio::test]
async fn an_every_minute_cronjob_moves_to_a_kronjob_and_back_with_one_job_per_slot() {
    let client = common::client().await;
    install_kronjob_crd(&client).await;
    let ns = TestNamespace::new(&client, "migrate").await;
    let _kronjob = Kronjob::start(ns.name(), &["--serve", "cronjobs,kronjobs"]).await;
    let cronjobs: Api<CronJob> = ns.api();
    let kronjobs: Api<DynamicObject> =
        Api::namespaced_with(client.clone(), ns.name(), &api_resource(Kind::KronJob));
    let jobs: Api<Job> = ns.api();

    let mut cj = cronjob(NAME, "* * * * *", TestPod::Succeed);
    let spec = &mut cj.spec;
    spec.successful_jobs_history_limit = Some(100);
    spec.failed_jobs_history_limit = Some(100);
    let cj = cronjobs.create(&PostParams::default(), &cj).await.unwrap();
    let cj_uid = cj.metadata.uid.clone().unwrap();
    let first = owned_jobs_wait(&jobs, &cj).await;

    // --dry-run changes nothing.
    let dry = migrate(ns.name(), &[NAME, "--dry-run"], Kind::KronJob).await;
    assert!(dry.status.success(), "{}", text(&dry.stderr));
    assert!(
        text(&dry.stdout).contains("dry run"),
        "{}",
        text(&dry.stdout)
    );
    let all = migrate(ns.name(), &["--all", "--dry-run"], Kind::KronJob).await;
    assert!(all.status.success(), "{}", text(&all.stderr));
    assert!(
        text(&all.stdout).contains(&format!("CronJob {}/{NAME} → KronJob", ns.name())),
        "{}",
        text(&all.stdout)
    );
    assert!(kronjobs.get_opt(NAME).await.unwrap().is_none());
    let cj_now = cronjobs.get(NAME).await.unwrap();
    assert_eq!(cj_now.spec.suspend, Some(false));
    assert!(
        cj_now
            .metadata
            .annotations
            .unwrap_or_default()
            .keys()
            .all(|k| k != "kronjob.dev/migration")
    );

    // To a KronJob, suspended across the minute boundary (--settle): the
    // slot at the boundary is missed by the CronJob and run by the KronJob.
    let start = near_minute_end(56).await;
    let boundary = next_minute(start);
    let to_kj = migrate(ns.name(), &[NAME, "--settle", "5s"], Kind::KronJob).await;
    assert!(to_kj.status.success(), "{}", text(&to_kj.stderr));
    assert!(
        Timestamp::now() > boundary,
        "the migration straddled {boundary}"
    );
    assert!(cronjobs.get_opt(NAME).await.unwrap().is_none());
    let kj = kronjobs.get(NAME).await.unwrap();
    let kj_uid = kj.metadata.uid.clone().unwrap();
    assert_eq!(kj.data["spec"]["suspend"], false);
    assert!(
        kj.metadata
            .annotations
            .unwrap_or_default()
            .keys()
            .all(|k| k != "kronjob.dev/migration")
    );
    for job in &first {
        let moved = jobs
            .get(job.metadata.name.as_deref().unwrap())
            .await
            .unwrap();
        assert_eq!(
            controller_uid(&moved),
            Some(("KronJob".into(), kj_uid.clone()))
        );
    }
    wait_job_of(&jobs, boundary, ("KronJob", &kj_uid)).await;

    // And back, the same way, this time every KronJob of the namespace.
    let start = near_minute_end(56).await;
    let back_boundary = next_minute(start);
    let to_cj = migrate(ns.name(), &["--all"], Kind::CronJob).await;
    assert!(to_cj.status.success(), "{}", text(&to_cj.stderr));
    assert!(kronjobs.get_opt(NAME).await.unwrap().is_none());
    let cj = cronjobs.get(NAME).await.unwrap();
    let new_cj_uid = cj.metadata.uid.clone().unwrap();
    assert_ne!(new_cj_uid, cj_uid);
    assert_eq!(cj.spec.suspend, Some(false));
    wait_job_of(&jobs, back_boundary, ("CronJob", &new_cj_uid)).await;

    // One Job per slot, none missed, all the CronJob's now.
    let by_slot = jobs_by_slot(&jobs).await;
    let slots: Vec<Timestamp> = by_slot.keys().copied().collect();
    let first_slot = slots[0];
    let expected: Vec<Timestamp> = (0..slots.len())
        .map(|i| first_slot + (i as i64).minutes())
        .collect();
    assert_eq!(slots, expected, "a slot was missed");
    assert!(slots.contains(&boundary) && slots.contains(&back_boundary));
    for job in by_slot.values() {
        assert_eq!(
            controller_uid(job),
            Some(("CronJob".into(), new_cj_uid.clone())),
            "{:?}",
            job.metadata.name
        );
    }
}

async fn owned_jobs_wait(jobs: &Api<Job>, cj: &CronJob) -> Vec<Job> {
    wait_for(
        "the CronJob's first Job",
        Duration::from_secs(75),
        || async {
            let owned = owned_jobs(jobs, cj).await;
            if owned.is_empty() {
                Err("none".to_string())
            } else {
                Ok(owned)
            }
        },
    )
    .await
}
