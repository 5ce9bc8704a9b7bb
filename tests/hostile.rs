//! Input from people we do not control, against a real API server: values
//! the API server accepts but naive arithmetic or decoding cannot take, a
//! sync that panics, and objects with 10 000 entries. None of them may stop
//! the controller, stall a watch, or keep any other CronJob from running.
//!
//! Run it alone with `cargo test --features failpoints --test hostile`;
//! `KRONJOB_LARGE_N` sets the size of the large objects (default 1000;
//! `make stress` uses 10 000 and prints what it measured).

mod common;
mod support;

use std::time::Duration;

use k8s_openapi::api::batch::v1::CronJob;
use kube::api::{Api, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use kube::discovery::ApiResource;
use serde_json::json;

use common::{TestNamespace, TestPod, wait_for};
use support::*;

const SLOT_WAIT: Duration = Duration::from_secs(90);

/// Job names of a CronJob, read without decoding the Jobs (a Job with a
/// hostile status would fail a typed list in the test itself).
async fn job_names(client: &kube::Client, ns: &str, cronjob: &str) -> Vec<String> {
    let api: Api<DynamicObject> = Api::namespaced_with(
        client.clone(),
        ns,
        &ApiResource::erase::<k8s_openapi::api::batch::v1::Job>(&()),
    );
    let mut names: Vec<String> = api
        .list(&ListParams::default())
        .await
        .expect("list jobs")
        .items
        .into_iter()
        .filter(|j| {
            j.metadata
                .owner_references
                .iter()
                .flatten()
                .any(|r| r.name == cronjob && r.controller == Some(true))
        })
        .filter_map(|j| j.metadata.name)
        .collect();
    names.sort();
    names
}

async fn wait_job_count(client: &kube::Client, ns: &str, cronjob: &str, n: usize) -> Vec<String> {
    wait_for(&format!("{n} Jobs of {cronjob}"), SLOT_WAIT, || async {
        let names = job_names(client, ns, cronjob).await;
        if names.len() >= n {
            Ok(names)
        } else {
            Err(format!("{names:?}"))
        }
    })
    .await
}

/// Write a CronJob's status as JSON (the typed client of the test itself
/// cannot read some of the values the API server stores).
async fn patch_status(api: &Api<CronJob>, name: &str, status: serde_json::Value) {
    let ns = api.namespace().unwrap_or_default();
    let untyped: Api<DynamicObject> = Api::namespaced_with(
        common::client().await,
        ns,
        &ApiResource::erase::<CronJob>(&()),
    );
    untyped
        .patch_status(
            name,
            &PatchParams::default(),
            &Patch::Merge(json!({ "status": status })),
        )
        .await
        .unwrap_or_else(|e| panic!("the API server refused the status of {name}: {e}"));
}

#[tokio::test]
async fn values_the_api_accepts_stop_neither_the_controller_nor_other_cronjobs() {
    let client = common::client().await;
    let ns = TestNamespace::new(&client, "hostile").await;
    let cronjobs: Api<CronJob> = ns.api();

    // Before kronjob starts, so that its initial list holds them.
    let mut deadline = cronjob("deadline", "* * * * *", TestPod::Succeed);
    // Far longer than the time since the epoch: no deadline at all.
    deadline.spec.starting_deadline_seconds = Some(999_999_999_999);
    cronjobs
        .create(&PostParams::default(), &deadline)
        .await
        .unwrap();
    let future = cronjob("future", "* * * * *", TestPod::Succeed);
    cronjobs
        .create(&PostParams::default(), &future)
        .await
        .unwrap();
    // A time after the end of jiff's range.
    patch_status(
        &cronjobs,
        "future",
        json!({"lastScheduleTime": "9999-12-31T23:59:00Z"}),
    )
    .await;
    let normal = cronjob("normal", "* * * * *", TestPod::Succeed);
    cronjobs
        .create(&PostParams::default(), &normal)
        .await
        .unwrap();

    // Ready means the initial lists were decoded, hostile objects and all.
    let kronjob = Kronjob::start(ns.name(), &[]).await;

    // While it runs, a watch event with an instant in year 10000 (the API
    // server takes year 9999 with a negative offset, and stores it in UTC).
    let late = cronjob("late", "* * * * *", TestPod::Succeed);
    cronjobs
        .create(&PostParams::default(), &late)
        .await
        .unwrap();
    patch_status(
        &cronjobs,
        "late",
        json!({"lastScheduleTime": "9999-12-31T23:00:00-05:00"}),
    )
    .await;

    // Two minute boundaries: the sound and the deadline CronJob each run at
    // both; the two whose last run is after the end of time wait.
    let first = wait_job_count(&client, ns.name(), "normal", 1).await;
    wait_job_count(&client, ns.name(), "deadline", 1).await;
    let second = wait_job_count(&client, ns.name(), "normal", 2).await;
    assert_ne!(first[0], second[1]);
    wait_job_count(&client, ns.name(), "deadline", 2).await;
    assert!(job_names(&client, ns.name(), "future").await.is_empty());
    assert!(job_names(&client, ns.name(), "late").await.is_empty());

    assert_eq!(
        kronjob.counter("kronjob_watch_errors_total"),
        0.0,
        "no watch broke on the hostile objects; log: {}",
        kronjob.log.display()
    );
    assert_eq!(kronjob.counter("kronjob_undecodable_objects_total"), 0.0);
    assert!(
        !kronjob.log_text().contains("panicked"),
        "{}",
        kronjob.log.display()
    );
    assert_eq!(
        http_get(kronjob.metrics_port, "/readyz").map(|r| r.0),
        Ok(200)
    );

    // `kronjob explain` reads the same objects without failing.
    for name in ["future", "late", "deadline"] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_kronjob"))
            .args(["explain", "-n", ns.name(), name])
            .env("KUBECONFIG", kubeconfig_path().await)
            .output()
            .unwrap();
        assert!(out.status.success(), "explain {name}: {out:?}");
    }
}

/// A sync that panics (injected: there should be none) fails for that
/// CronJob only: it is reported on it and counted, it backs off, and the
/// process, its Lease and the other CronJobs keep working.
#[cfg(feature = "failpoints")]
#[tokio::test]
async fn a_panicking_sync_fails_that_cronjob_only() {
    use k8s_openapi::api::coordination::v1::Lease;

    let client = common::client().await;
    let ns = TestNamespace::new(&client, "panic").await;
    let cronjobs: Api<CronJob> = ns.api();
    let leases: Api<Lease> = ns.api();
    let kronjob = Kronjob::start_with_env(
        ns.name(),
        &kubeconfig_path().await,
        &[
            "--leader-elect",
            "--leader-elect-lease-namespace",
            ns.name(),
            "--leader-elect-lease-duration",
            "4s",
            "--leader-elect-renew-deadline",
            "3s",
            "--leader-elect-retry-period",
            "500ms",
            "--identity",
            "panicky",
        ],
        &[("FAILPOINTS", "sync-panic=return(boom)")],
    )
    .await;
    wait_for("leadership", Duration::from_secs(20), || async {
        if kronjob.counter("kronjob_leader") == 1.0 {
            Ok(())
        } else {
            Err("not leading")
        }
    })
    .await;
    for name in ["boom", "fine"] {
        cronjobs
            .create(
                &PostParams::default(),
                &cronjob(name, "* * * * *", TestPod::Succeed),
            )
            .await
            .unwrap();
    }
    let event = wait_for_event(&ns.api(), "boom", "SyncPanicked", Duration::from_secs(30)).await;
    assert_eq!(event.0, "Warning");
    assert!(event.2.contains("injected by the fail point"), "{event:?}");
    assert!(kronjob.counter("kronjob_sync_panics_total") >= 1.0);

    let renewed_before = leases
        .get("kronjob")
        .await
        .unwrap()
        .spec
        .unwrap()
        .renew_time;
    wait_job_count(&client, ns.name(), "fine", 1).await;
    let lease = leases.get("kronjob").await.unwrap().spec.unwrap();
    assert_eq!(lease.holder_identity.as_deref(), Some("panicky"));
    assert!(
        lease.renew_time > renewed_before,
        "the Lease is still renewed"
    );
    assert!(job_names(&client, ns.name(), "boom").await.is_empty());
    // It backs off: a few retries, not a hot loop.
    let panics = kronjob.counter("kronjob_sync_panics_total");
    assert!(panics < 10.0, "{panics} panics within a minute");
    assert_eq!(kronjob.counter("kronjob_leader"), 1.0);
    assert_eq!(
        http_get(kronjob.metrics_port, "/healthz").map(|r| r.0),
        Ok(200)
    );
}

fn large_n() -> usize {
    std::env::var("KRONJOB_LARGE_N")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(1000)
}

/// The longest runtime stall seen, from the histogram's buckets: the
/// smallest bucket bound that holds every observation.
fn longest_stall_bound(metrics: &str) -> f64 {
    let count = sum_metric(metrics, "kronjob_runtime_stall_seconds_count", None);
    metrics
        .lines()
        .filter(|l| l.starts_with("kronjob_runtime_stall_seconds_bucket"))
        .filter_map(|l| {
            let le = l.split("le=\"").nth(1)?.split('"').next()?;
            let n: f64 = l.rsplit(' ').next()?.parse().ok()?;
            Some((le.parse::<f64>().unwrap_or(f64::INFINITY), n))
        })
        .filter(|(_, n)| *n >= count)
        .map(|(le, _)| le)
        .fold(f64::INFINITY, f64::min)
}

/// A CronJob with N owned Jobs, all listed in status.active (and N more
/// references to Jobs that do not exist): planned without stalling the
/// runtime, its dangling references cleaned up, the others unaffected.
#[tokio::test]
async fn a_cronjob_with_thousands_of_jobs_and_active_entries_is_planned_without_a_stall() {
    let n = large_n();
    let client = common::client().await;
    let ns = TestNamespace::new(&client, "large").await;
    let cronjobs: Api<CronJob> = ns.api();
    let jobs: Api<k8s_openapi::api::batch::v1::Job> = ns.api();

    let mut big = cronjob("big", "* * * * *", TestPod::Succeed);
    big.spec.concurrency_policy = Some("Forbid".into());
    let big = cronjobs.create(&PostParams::default(), &big).await.unwrap();
    let owner = json!([{
        "apiVersion": "batch/v1", "kind": "CronJob", "name": "big",
        "uid": big.metadata.uid, "controller": true, "blockOwnerDeletion": true,
    }]);
    // Suspended Jobs: no pods, so the control plane stays idle.
    let mut active = Vec::with_capacity(2 * n);
    for i in 0..n {
        let mut job = common::job(&format!("big-{i}"), TestPod::Succeed);
        job.metadata.owner_references = serde_json::from_value(owner.clone()).unwrap();
        job.spec.as_mut().unwrap().suspend = Some(true);
        let job = jobs.create(&PostParams::default(), &job).await.unwrap();
        active.push(json!({"name": job.metadata.name, "uid": job.metadata.uid}));
    }
    for i in 0..n {
        active.push(json!({"name": format!("big-gone-{i}"), "uid": format!("gone-{i}")}));
    }
    patch_status(&cronjobs, "big", json!({ "active": active })).await;
    cronjobs
        .create(
            &PostParams::default(),
            &cronjob("small", "* * * * *", TestPod::Succeed),
        )
        .await
        .unwrap();

    let kronjob = Kronjob::start(ns.name(), &[]).await;
    // The dangling references are confirmed gone and removed; the N real
    // ones stay; Forbid skips the slot.
    wait_for(
        "the dangling active references to be removed",
        Duration::from_secs(180),
        || async {
            let cj = cronjobs.get("big").await.map_err(|e| e.to_string())?;
            let len = active_names(&cj).len();
            if len == n {
                Ok(())
            } else {
                Err(format!("{len} active"))
            }
        },
    )
    .await;
    wait_job_count(&client, ns.name(), "small", 1).await;
    wait_for_event(&ns.api(), "big", "JobAlreadyActive", SLOT_WAIT).await;

    let metrics = kronjob.metrics();
    let stall = sum_metric(&metrics, "kronjob_runtime_longest_stall_seconds", None);
    let bound = longest_stall_bound(&metrics);
    let sync_total = sum_metric(&metrics, "kronjob_reconcile_duration_seconds_sum", None);
    let syncs = sum_metric(&metrics, "kronjob_reconcile_duration_seconds_count", None);
    println!(
        "large objects (N = {n}): longest runtime stall {stall:.3} s (histogram bound {bound} s); \
         {syncs} syncs took {sync_total:.3} s in all"
    );
    assert!(
        stall > 0.0 && stall <= bound,
        "the gauge ({stall}) is measured and agrees with the histogram ({bound})"
    );
    // A stall as long as the renew deadline (10 s by default) would cost
    // the Lease; allow a tenth of it.
    assert!(stall <= 1.0, "runtime stalled up to {stall} s");
}
