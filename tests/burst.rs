//! A burst of simultaneous slots on the real API server: status writes wait
//! behind the Job creates (src/controller/status_writer.rs), and none of
//! them is lost: every CronJob gets exactly one Job for the slot, and every
//! status records it.

mod common;
mod support;

use std::time::Duration;

use k8s_openapi::api::batch::v1::{CronJob, Job};
use kube::api::{Api, ListParams, PostParams};

use common::{TestNamespace, TestPod, wait_for};
use support::*;

const N: usize = 60;

#[tokio::test]
async fn a_burst_creates_every_job_once_and_then_records_every_status() {
    let client = common::client().await;
    let ns = TestNamespace::new(&client, "burst").await;
    let cronjobs: Api<CronJob> = ns.api();
    let jobs: Api<Job> = ns.api();
    let kronjob = Kronjob::start(ns.name(), &[]).await;
    for i in 0..N {
        let mut cj = cronjob(&format!("b{i}"), "* * * * *", TestPod::Succeed);
        cj.spec.starting_deadline_seconds = Some(60);
        cronjobs.create(&PostParams::default(), &cj).await.unwrap();
    }
    // The next minute boundary: N Jobs, one per CronJob, for one slot.
    let listed = wait_for(&format!("{N} Jobs"), Duration::from_secs(120), || async {
        let list = jobs
            .list(&ListParams::default())
            .await
            .map_err(|e| e.to_string())?;
        if list.items.len() >= N {
            Ok(list.items)
        } else {
            Err(format!("{} Jobs", list.items.len()))
        }
    })
    .await;
    let slots: std::collections::BTreeSet<String> =
        listed.iter().map(scheduled_annotation).collect();
    assert_eq!(slots.len(), 1, "one slot: {slots:?}");
    let slot = slots.into_iter().next().unwrap();
    // Every status is written, with that slot and its Job in active (or
    // already finished and removed again).
    wait_for(
        "every CronJob's lastScheduleTime at the slot",
        Duration::from_secs(60),
        || async {
            let list = cronjobs
                .list(&ListParams::default())
                .await
                .map_err(|e| e.to_string())?;
            let behind: Vec<String> = list
                .items
                .iter()
                .filter(|cj| {
                    cj.status
                        .as_ref()
                        .and_then(|s| s.last_schedule_time.as_ref())
                        .map(|t| t.0.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
                        != Some(slot.clone())
                })
                .filter_map(|cj| cj.metadata.name.clone())
                .collect();
            if behind.is_empty() {
                Ok(())
            } else {
                Err(format!("{} behind: {behind:?}", behind.len()))
            }
        },
    )
    .await;
    // Within the same minute, no second Job appeared.
    let now = jobs.list(&ListParams::default()).await.unwrap().items;
    let this_slot = now
        .iter()
        .filter(|j| scheduled_annotation(j) == slot)
        .count();
    assert_eq!(this_slot, N);
    assert_eq!(kronjob.counter("kronjob_status_write_errors_total"), 0.0);
    assert_eq!(
        kronjob.counter("kronjob_jobs_created_total"),
        now.len() as f64,
        "every Job created once"
    );
}
