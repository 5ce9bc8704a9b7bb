//! A control plane like a managed cluster's (issue #13, item 7): the
//! built-in CronJob controller of kube-controller-manager runs, as on EKS,
//! GKE or AKS, where it cannot be turned off.
//!
//! * side by side: kronjob serving KronJobs only (the chart's default)
//!   beside the built-in controller: over two minute boundaries, a batch/v1
//!   CronJob's Jobs are made by kube-controller-manager only and a
//!   KronJob's by kronjob only, one per slot each.
//! * detection: a replica told to serve batch/v1 CronJobs there sees the
//!   other controller's Jobs (Warning `ForeignJob`,
//!   `kronjob_foreign_jobs_total`).
//!
//! The suite starts its own control plane in target/cluster-managed
//! (`KRONJOB_KCM_CONTROLLERS='*'`) and stops it at the end, also when a
//! check fails. Like the chaos suite it needs the local control-plane
//! binaries, so it is skipped when `$KUBECONFIG` names another cluster
//! (KRONJOB_MANAGED=1 runs it anyway, KRONJOB_MANAGED=0 skips it).

mod common;
mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::Event;
use kube::Client;
use kube::api::Api;

use common::{TestPod, wait_for};
use support::cluster::{OwnCluster, StoppedOnDrop};
use support::*;

const CLUSTER_DIR: &str = "target/cluster-managed";

fn enabled() -> bool {
    support::cluster::enabled("KRONJOB_MANAGED", "[managed]")
}

/// The field manager that created a Job: its managedFields entry for the
/// object itself (not a subresource), as kronjob's detection reads it.
fn creator(job: &Job) -> String {
    let managers: Vec<&str> = job
        .metadata
        .managed_fields
        .iter()
        .flatten()
        .filter(|e| e.subresource.as_deref().unwrap_or_default().is_empty())
        .filter_map(|e| e.manager.as_deref())
        .collect();
    match managers.as_slice() {
        [one] => one.to_string(),
        more => panic!(
            "{}: one manager of the Job itself expected: {more:?}",
            job.metadata.name.as_deref().unwrap_or_default()
        ),
    }
}

fn slot_of(job: &Job) -> Timestamp {
    scheduled_annotation(job)
        .parse()
        .expect("scheduled-timestamp annotation")
}

/// Minute boundaries in (after, until].
fn minutes_between(after: Timestamp, until: Timestamp) -> Vec<Timestamp> {
    let first = after.as_second().div_euclid(60) * 60 + 60;
    (first..=until.as_second())
        .step_by(60)
        .map(|s| Timestamp::from_second(s).unwrap())
        .collect()
}

/// slot -> (Job name, creator) of `cj`'s Jobs; every slot at most once.
async fn jobs_by_slot(jobs: &Api<Job>, cj: &CronJob) -> BTreeMap<Timestamp, (String, String)> {
    let mut by_slot = BTreeMap::new();
    for job in owned_jobs(jobs, cj).await {
        let name = job.metadata.name.clone().unwrap();
        if let Some((other, _)) = by_slot.insert(slot_of(&job), (name.clone(), creator(&job))) {
            panic!("two Jobs for one slot: {other} and {name}");
        }
    }
    by_slot
}

#[tokio::test]
async fn on_a_managed_control_plane_each_kind_has_exactly_one_controller() {
    if !enabled() {
        return;
    }
    // Declared first, dropped last: the namespaces go before the cluster.
    let cluster = StoppedOnDrop(
        tokio::task::spawn_blocking(|| {
            OwnCluster::start(CLUSTER_DIR, &[("KRONJOB_KCM_CONTROLLERS", "*")])
        })
        .await
        .unwrap(),
    );
    let kcm = std::fs::read_to_string(
        common::repo_root()
            .join(CLUSTER_DIR)
            .join("kcm-controllers"),
    )
    .unwrap();
    assert_eq!(kcm.trim(), "*", "the built-in CronJob controller must run");
    let client = cluster.client().await;
    install_kronjob_crd(&client).await;
    tokio::join!(
        side_by_side(&cluster, &client),
        detection(&cluster, &client)
    );
}

/// kronjob with `--serve kronjobs` beside the built-in controller.
async fn side_by_side(cluster: &OwnCluster, client: &Client) {
    let ns = cluster.namespace(client, "managed-side").await;
    let kronjob =
        Kronjob::start_with_kubeconfig(ns.name(), &cluster.kubeconfig, &["--serve", "kronjobs"])
            .await;
    let jobs: Api<Job> = ns.api();
    let cronjobs = Objects::new(client, ns.name(), Flavor::CronJob);
    let kronjobs = Objects::new(client, ns.name(), Flavor::KronJob);
    let cj = cronjobs
        .create(&cronjob("upstream", "* * * * *", TestPod::Succeed))
        .await;
    let kj = kronjobs
        .create(&cronjob("kronjob", "* * * * *", TestPod::Succeed))
        .await;
    let created = |o: &CronJob| o.metadata.creation_timestamp.clone().unwrap().0;
    let (cj_created, kj_created) = (created(&cj), created(&kj));
    // The second minute boundary after both exist.
    let both = cj_created.max(kj_created).as_second();
    let second = Timestamp::from_second(both.div_euclid(60) * 60 + 120).unwrap();

    // Every slot since each was created, through the second boundary, has
    // its Job, made by the controller of that kind.
    for (object, since, manager) in [
        (&cj, cj_created, "kube-controller-manager"),
        (&kj, kj_created, "kronjob"),
    ] {
        let want = minutes_between(since, second);
        let name = object.metadata.name.clone().unwrap();
        let by_slot = wait_for(
            &format!("a Job of {name} for each of {want:?}"),
            Duration::from_secs(180),
            || async {
                let by_slot = jobs_by_slot(&jobs, object).await;
                if want.iter().all(|s| by_slot.contains_key(s)) {
                    Ok(by_slot)
                } else {
                    Err(format!("{by_slot:?}"))
                }
            },
        )
        .await;
        assert_eq!(
            by_slot.keys().copied().collect::<Vec<_>>(),
            want,
            "{name}: one Job per slot and none else"
        );
        for (slot, (job, made_by)) in &by_slot {
            assert_eq!(
                job,
                &format!("{name}-{}", slot.as_second() / 60),
                "upstream's Job name"
            );
            assert_eq!(made_by, manager, "{job} of {name}");
        }
    }

    // kronjob never acted on the CronJob: no write of its own there.
    let cj_now = cronjobs.get("upstream").await;
    let writers: Vec<_> = cj_now
        .metadata
        .managed_fields
        .iter()
        .flatten()
        .filter_map(|e| e.manager.clone())
        .collect();
    assert!(
        !writers.iter().any(|m| m == "kronjob"),
        "kronjob wrote to the CronJob: {writers:?}"
    );
    assert!(
        writers.iter().any(|m| m == "kube-controller-manager"),
        "the built-in controller writes the CronJob's status: {writers:?}"
    );
    assert_eq!(kronjob.counter("kronjob_foreign_jobs_total"), 0.0);
    assert_eq!(
        kronjob.counter_with("kronjob_reconciles_total", "error"),
        0.0
    );
}

/// kronjob with `--serve cronjobs` where the built-in controller runs: it
/// reports the other controller's Jobs.
async fn detection(cluster: &OwnCluster, client: &Client) {
    let ns = cluster.namespace(client, "managed-detect").await;
    let jobs: Api<Job> = ns.api();
    let events: Api<Event> = ns.api();
    let cronjobs = Objects::new(client, ns.name(), Flavor::CronJob);
    let cj = cronjobs
        .create(&cronjob("twice", "* * * * *", TestPod::Succeed))
        .await;
    // The built-in controller runs the first slot ...
    let theirs = wait_for(
        "the built-in controller's first Job",
        Duration::from_secs(90),
        || async {
            let by_slot = jobs_by_slot(&jobs, &cj).await;
            by_slot
                .into_values()
                .next()
                .ok_or_else(|| "no Job yet".to_string())
        },
    )
    .await;
    assert_eq!(theirs.1, "kube-controller-manager");
    // ... and a replica that serves batch/v1 CronJobs here says so.
    let kronjob =
        Kronjob::start_with_kubeconfig(ns.name(), &cluster.kubeconfig, &["--serve", "cronjobs"])
            .await;
    let (ty, _, message) =
        wait_for_event(&events, "twice", "ForeignJob", Duration::from_secs(30)).await;
    assert_eq!(ty, "Warning");
    assert!(
        message.contains(&theirs.0) && message.contains("kube-controller-manager"),
        "{message}"
    );
    wait_for(
        "kronjob_foreign_jobs_total",
        Duration::from_secs(10),
        || async {
            match kronjob.counter("kronjob_foreign_jobs_total") {
                n if n >= 1.0 => Ok(()),
                n => Err(n.to_string()),
            }
        },
    )
    .await;
}
