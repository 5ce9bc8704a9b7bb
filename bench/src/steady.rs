//! Steady state at scale: N CronJobs whose next slot is ~21 h away, each
//! with 3 finished Jobs and the status a controller that ran them would have
//! left. Per contender: start-up (caches synced, then every CronJob synced
//! once), RSS and CPU while idle, the API requests it makes while idle, and
//! RSS while it lists everything again after a forced relist (the API
//! server restarted).
//!
//! The same code runs the `steady` workload (5000 CronJobs by default, every
//! contender) and the `scale` workload (50 000 by default, kronjob and
//! upstream-tuned).

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::batch::v1::{CronJob, Job};
use kube::Client;
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::{Value, json};

use crate::objects::{cleanup, create_cronjobs, job_template, with_retry};
use crate::procs::{
    Contender, RssSampler, component_pid, mem_available_kib, proc_cpu_ticks, proc_rss_kb, start,
    stop,
};
use crate::prom::{Metrics, http_get, list_watch_delta, metric_sum, req_delta};
use crate::results::Results;
use crate::{CREATE_CONCURRENCY, K8S_VERSION, Opts, RUN_LABEL, SCHEDULED_ANNOTATION, log, now_ms};

/// Finished Jobs per CronJob (upstream's default successfulJobsHistoryLimit,
/// so that neither contender deletes any).
pub const JOBS_PER_CRONJOB: usize = 3;

/// The size of the control plane's state: etcd's database, the API
/// server's and etcd's RSS, the machine's available memory.
async fn control_plane_size(opts: &Opts) -> Value {
    let etcd = match opts.etcd_port {
        Some(p) => http_get(p, "/metrics").await.ok().map(|(_, t)| t),
        None => None,
    };
    let rss = |name| component_pid(opts, name).and_then(proc_rss_kb);
    json!({
        "etcd_db_bytes": etcd.as_deref().map(|t| metric_sum(t, "etcd_mvcc_db_total_size_in_bytes", &[])),
        "etcd_db_in_use_bytes": etcd.as_deref().map(|t| metric_sum(t, "etcd_mvcc_db_total_size_in_use_in_bytes", &[])),
        "etcd_keys": etcd.as_deref().map(|t| metric_sum(t, "etcd_debugging_mvcc_keys_total", &[])),
        "apiserver_rss_kib": rss("kube-apiserver"),
        "etcd_rss_kib": rss("etcd"),
        "controller_manager_rss_kib": rss("kube-controller-manager"),
        "mem_available_kib": mem_available_kib(),
    })
}

fn merge(mut a: Value, b: Value) -> Value {
    if let (Some(a), Value::Object(b)) = (a.as_object_mut(), b) {
        a.extend(b);
    }
    a
}

/// N CronJobs with a daily schedule whose slot was 3 h ago, each with its
/// last 3 daily Jobs finished (created, then their status written through
/// the status subresource: the bench's controller-manager runs no job
/// controller, so it stays), and its status as a controller that ran them
/// would have left it. Nothing is due for 21 hours.
pub async fn setup(
    opts: &Opts,
    client: &Client,
    n: usize,
    label: &str,
    res: &mut Results,
) -> Result<String> {
    if std::env::var_os("BENCH_REUSE_OBJECTS").is_some_and(|v| v == "1")
        && let Some(run) = reusable(client, n, label).await?
    {
        log(format!(
            "reusing the {n} CronJobs of run {run} (BENCH_REUSE_OBJECTS=1)"
        ));
        let row = json!({"workload": format!("{label}-setup"), "k8s_version": K8S_VERSION, "n": n,
                         "jobs": n * JOBS_PER_CRONJOB, "reused_run": run});
        res.push(merge(row, control_plane_size(opts).await))?;
        return Ok(run);
    }
    cleanup(client).await?;
    let t = Instant::now();
    let run = format!("{label}-{}", now_ms());
    let now = jiff::Timestamp::now();
    let slot = jiff::Timestamp::from_second((now.as_second() - 3 * 3600) / 60 * 60)?;
    let z = slot.to_zoned(jiff::tz::TimeZone::UTC);
    let schedule = format!("{} {} * * *", z.minute(), z.hour());
    let cjs = create_cronjobs(client, n, &run, &schedule).await?;
    let created_cronjobs_s = t.elapsed().as_secs_f64();
    let day = jiff::SignedDuration::from_hours(24);
    let items: Vec<(usize, i32)> = (0..n)
        .flat_map(|i| (0..JOBS_PER_CRONJOB as i32).map(move |k| (i, k)))
        .collect();
    let total = items.len();
    let done = std::sync::atomic::AtomicUsize::new(0);
    let (done, run2) = (&done, run.clone());
    futures::stream::iter(items)
        .map(|(i, k)| {
            let client = client.clone();
            let (ns, name, uid) = cjs[i].clone();
            let run = run2.clone();
            let sched = slot - day * k;
            let (start, end) = (sched.to_string(), (sched + jiff::SignedDuration::from_secs(5)).to_string());
            // Upstream's Job name: the CronJob's name and the slot in minutes.
            let job_name = format!("{name}-{}", sched.as_second() / 60);
            async move {
                let api: Api<Job> = Api::namespaced(client, &ns);
                let mut spec = job_template(&run)["spec"].clone();
                spec["template"]["metadata"] = json!({});
                let job: Job = serde_json::from_value(json!({
                    "apiVersion": "batch/v1", "kind": "Job",
                    "metadata": {
                        "name": job_name, "namespace": ns, "labels": {RUN_LABEL: run},
                        "annotations": {SCHEDULED_ANNOTATION: start},
                        "ownerReferences": [{"apiVersion": "batch/v1", "kind": "CronJob", "name": name, "uid": uid,
                            "controller": true, "blockOwnerDeletion": true}]
                    },
                    "spec": spec
                }))?;
                // Created as kronjob's field manager, as if kronjob had run
                // them: a slot Job made by another manager is a foreign Job to
                // kronjob (a Warning Event each, docs/metrics.md), which is the
                // hand-over from another controller, not a steady state.
                let pp = PostParams { field_manager: Some(kronjob::model::FIELD_MANAGER.into()), ..Default::default() };
                with_retry("create job", || async { api.create(&pp, &job).await }).await?;
                let status = json!({"status": {
                    "startTime": start, "completionTime": end, "succeeded": 1,
                    "conditions": [
                        {"type": "SuccessCriteriaMet", "status": "True", "lastTransitionTime": end},
                        {"type": "Complete", "status": "True", "lastTransitionTime": end}
                    ]
                }});
                with_retry("job status", || async { api.patch_status(&job_name, &PatchParams::default(), &Patch::Merge(&status)).await })
                    .await?;
                let d = done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
                if d % 20_000 == 0 {
                    log(format!("{d}/{total} finished Jobs"));
                }
                anyhow::Ok(())
            }
        })
        .buffer_unordered(CREATE_CONCURRENCY)
        .try_collect::<Vec<_>>()
        .await?;
    let jobs_s = t.elapsed().as_secs_f64() - created_cronjobs_s;
    let (last_sched, last_ok) = (
        slot.to_string(),
        (slot + jiff::SignedDuration::from_secs(5)).to_string(),
    );
    futures::stream::iter(cjs)
        .map(|(ns, name, _)| {
            let client = client.clone();
            let st =
                json!({"status": {"lastScheduleTime": last_sched, "lastSuccessfulTime": last_ok}});
            async move {
                let api: Api<CronJob> = Api::namespaced(client, &ns);
                with_retry("cronjob status", || async {
                    api.patch_status(&name, &PatchParams::default(), &Patch::Merge(&st))
                        .await
                })
                .await?;
                anyhow::Ok(())
            }
        })
        .buffer_unordered(CREATE_CONCURRENCY)
        .try_collect::<Vec<_>>()
        .await?;
    let setup_s = t.elapsed().as_secs_f64();
    log(format!(
        "{n} CronJobs and {total} finished Jobs in {setup_s:.1} s (schedule `{schedule}`)"
    ));
    let row = json!({
        "workload": format!("{label}-setup"), "k8s_version": K8S_VERSION, "n": n, "jobs": total,
        "schedule": schedule, "setup_s": setup_s, "cronjobs_s": created_cronjobs_s, "jobs_s": jobs_s,
        "writes": n + 2 * total + n, "writes_per_s": (2 * n + 2 * total) as f64 / setup_s,
    });
    res.push(merge(row, control_plane_size(opts).await))?;
    Ok(run)
}

/// The run label of the objects a previous set-up of this workload left in
/// place (`BENCH_KEEP_OBJECTS=1`), if there are exactly `n` CronJobs and
/// their Jobs of that one run, set up less than 18 hours ago (their next
/// slot is 21 hours after the set-up): profiling a contender against 50 000
/// CronJobs then costs no 10-minute set-up.
async fn reusable(client: &Client, n: usize, label: &str) -> Result<Option<String>> {
    let cronjobs = objects_per_run(&Api::<CronJob>::all(client.clone())).await?;
    let jobs = objects_per_run(&Api::<Job>::all(client.clone())).await?;
    log(format!(
        "objects of earlier runs: CronJobs {cronjobs:?}, Jobs {jobs:?}"
    ));
    let Ok([(run, &count)]) = <[_; 1]>::try_from(cronjobs.iter().collect::<Vec<_>>()) else {
        return Ok(None);
    };
    let set_up_ms = run
        .strip_prefix(&format!("{label}-"))
        .and_then(|ms| ms.parse::<i64>().ok());
    let fresh = set_up_ms.is_some_and(|ms| now_ms() - ms < 18 * 3600 * 1000);
    let only_its_jobs = jobs.len() == 1 && jobs.get(run) == Some(&(n * JOBS_PER_CRONJOB));
    Ok((fresh && count == n && only_its_jobs).then(|| run.clone()))
}

/// How many objects of the bench's runs `api` holds, by run label.
async fn objects_per_run<K>(api: &Api<K>) -> Result<std::collections::BTreeMap<String, usize>>
where
    K: Clone + k8s_openapi::serde::de::DeserializeOwned + std::fmt::Debug,
{
    let mut runs = std::collections::BTreeMap::new();
    let mut lp = kube::api::ListParams::default()
        .labels(RUN_LABEL)
        .limit(5000);
    loop {
        let page = with_retry("list bench objects", || api.list_metadata(&lp)).await?;
        for item in &page.items {
            let run = item.metadata.labels.as_ref().and_then(|l| l.get(RUN_LABEL));
            *runs.entry(run.cloned().unwrap_or_default()).or_default() += 1;
        }
        match page.metadata.continue_ {
            Some(c) if !c.is_empty() => lp = lp.continue_token(&c),
            _ => return Ok(runs),
        }
    }
}

/// The same idle window with no contender running.
pub async fn baseline(
    opts: &Opts,
    m: &Metrics,
    n: usize,
    label: &str,
    res: &mut Results,
) -> Result<()> {
    let a = m.apiserver().await?;
    tokio::time::sleep(Duration::from_secs(opts.idle_secs)).await;
    let d = req_delta(&a, &m.apiserver().await?);
    res.push(json!({
        "workload": format!("{label}-baseline"), "k8s_version": K8S_VERSION, "n": n, "idle_s": opts.idle_secs,
        "idle_requests": d.attributable, "idle_requests_all_resources": d.all_non_watch,
        "idle_watch_requests": d.watch_batch, "command": "no contender running",
    }))
}

/// The API server's /metrics, retried while it restarts.
async fn apiserver_metrics(m: &Metrics) -> Result<String> {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        match m.apiserver().await {
            Ok(t) => return Ok(t),
            Err(e) if Instant::now() < deadline => {
                log(format!("apiserver /metrics: {e}; retrying"));
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Err(e) => return Err(e),
        }
    }
}

/// The contender's count of what a relist shows: kronjob, the watch events
/// of Jobs and CronJobs (a relist delivers every object again); upstream,
/// the CronJob keys added to its workqueue (an informer relist updates every
/// CronJob, and its update handler queues each one).
fn relist_progress(upstream: bool, text: &str) -> f64 {
    if upstream {
        metric_sum(text, "workqueue_adds_total", &[("name", "cronjob")])
    } else {
        metric_sum(text, "kronjob_watch_events_total", &[("resource", "jobs")])
            + metric_sum(
                text,
                "kronjob_watch_events_total",
                &[("resource", "cronjobs")],
            )
    }
}

pub async fn measure(
    opts: &Opts,
    m: &Metrics,
    c: &Contender,
    n: usize,
    label: &str,
    res: &mut Results,
) -> Result<()> {
    let objects = n * (1 + JOBS_PER_CRONJOB);
    let before_start = m.apiserver().await?;
    let apiserver_cpu = || component_pid(opts, "kube-apiserver").and_then(proc_cpu_ticks);
    let apiserver_cpu0 = apiserver_cpu();
    // kronjob's /metrics carries six series per CronJob (27 MB of text at
    // 50 000): polled at 20 Hz, rendering it would take CPU from the
    // start-up being measured. Upstream's /metrics has no such series.
    let poll = Duration::from_millis(if n > 5000 { 500 } else { 50 });
    let r = start(opts, c, label).await?;
    let rss = RssSampler::start(r.pid, Duration::from_millis(100));
    let mut startup_ms: Option<u128> = None;
    let mut caches_synced_ms: Option<u128> = None;
    let deadline = Instant::now() + Duration::from_secs(900);
    while Instant::now() < deadline {
        if caches_synced_ms.is_none() && m.caches_synced(&r).await {
            caches_synced_ms = Some(r.started.elapsed().as_millis());
        }
        if let Ok(k) = m.reconciles(&r).await
            && k >= n as f64
        {
            startup_ms = Some(r.started.elapsed().as_millis());
            break;
        }
        tokio::time::sleep(poll).await;
    }
    let startup_cpu = proc_cpu_ticks(r.pid).unwrap_or(0);
    let apiserver_startup_cpu = apiserver_cpu()
        .zip(apiserver_cpu0)
        .map(|(b, a)| b.saturating_sub(a) as f64 / 100.0);
    log(format!(
        "{} start-up: caches synced {caches_synced_ms:?} ms, {n} CronJobs synced {startup_ms:?} ms",
        c.name
    ));
    // Let anything queued behind the first syncs finish before the idle window.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let rss_startup_peak = rss.take_peak();
    let a = m.apiserver().await?;
    let startup_req = req_delta(&before_start, &a);
    let cpu0 = proc_cpu_ticks(r.pid).unwrap_or(0);
    let t0 = Instant::now();
    tokio::time::sleep(Duration::from_secs(opts.idle_secs)).await;
    let cpu1 = proc_cpu_ticks(r.pid).unwrap_or(0);
    let secs = t0.elapsed().as_secs_f64();
    let rss_idle_peak = rss.take_peak();
    let rss_steady = proc_rss_kb(r.pid).unwrap_or(0);
    let b = m.apiserver().await?;
    let d = req_delta(&a, &b);
    let cpu_s = cpu1.saturating_sub(cpu0) as f64 / 100.0;
    let size = control_plane_size(opts).await;
    let mut row = json!({
        "workload": label, "k8s_version": K8S_VERSION, "contender": c.name, "n": n,
        "finished_jobs": n * JOBS_PER_CRONJOB, "objects": objects,
        "caches_synced_ms": caches_synced_ms, "startup_ms": startup_ms,
        "caches_synced_proxy": if c.upstream { "kcm log line \"Caches are synced\" (its CronJob controller's informers listed)" } else { "kronjob /readyz 200" },
        "startup_proxy": if c.upstream { "kcm /metrics workqueue_work_duration_seconds_count{name=\"cronjob\"} >= N (N CronJob syncs processed)" } else { "kronjob /metrics kronjob_reconciles_total >= N" },
        "startup_cpu_s": startup_cpu as f64 / 100.0, "apiserver_startup_cpu_s": apiserver_startup_cpu,
        "startup_poll_ms": poll.as_millis(),
        "startup_requests": startup_req.attributable_by,
        "idle_s": secs, "rss_startup_peak_kib": rss_startup_peak, "rss_idle_peak_kib": rss_idle_peak,
        "rss_steady_kib": rss_steady, "kib_per_object": rss_steady as f64 / objects as f64,
        "cpu_idle_s": cpu_s, "cpu_pct_core": 100.0 * cpu_s / secs,
        "idle_requests": d.attributable, "idle_requests_by": d.attributable_by,
        "idle_requests_all_resources": d.all_non_watch, "idle_watch_requests": d.watch_batch,
        "control_plane": size,
        "command": c.command(),
    });
    if opts.relist_secs > 0 {
        // At least relist_secs, and twice the start-up: a relist lists
        // as much as the start-up did.
        let min_window = Duration::from_secs(opts.relist_secs)
            .max(Duration::from_millis(2 * startup_ms.unwrap_or(0) as u64));
        match relist(opts, m, &r, &rss, (n, objects), min_window).await {
            Ok(v) => {
                row = merge(row, v);
                if let Some(p) = row["rss_relist_peak_kib"].as_f64() {
                    row["relist_peak_over_steady"] = json!(p / rss_steady.max(1) as f64);
                }
            }
            Err(e) => {
                log(format!("forced relist failed: {e:#}"));
                row["relist_error"] = json!(format!("{e:#}"));
            }
        }
    }
    drop(rss);
    stop(r).await;
    res.push(row)
}

/// Forces a relist: restarts kube-apiserver (hack/cluster-restart.sh), whose
/// new watch cache starts at the current etcd revision, so a watch resumed
/// from an older resourceVersion gets 410 Gone and the client lists again
/// (measured, not assumed: `relisted` says what the contender did). RSS is
/// sampled throughout; the window lasts `min_window` after the API server
/// is ready, and at least 10 s after the contender's relist is seen done.
async fn relist(
    opts: &Opts,
    m: &Metrics,
    r: &crate::procs::Running,
    rss: &RssSampler,
    (n, objects): (usize, usize),
    min_window: Duration,
) -> Result<Value> {
    let script = opts
        .restart_script
        .as_ref()
        .context("BENCH_CLUSTER_RESTART (hack/cluster-restart.sh) not set")?;
    let progress0 = relist_progress(r.c.upstream, &m.contender(r).await?);
    let cpu0 = proc_cpu_ticks(r.pid).unwrap_or(0);
    rss.take_peak();
    let t0 = Instant::now();
    log("restarting kube-apiserver to force a relist");
    // The killed API server's port can still be bound for a moment after
    // hack/cluster-kill.sh sees it gone (the new one then exits with
    // "address already in use"): the script starts it again when retried.
    let mut attempt = 0;
    loop {
        attempt += 1;
        let st = tokio::process::Command::new(script)
            .arg("kube-apiserver")
            .status()
            .await?;
        if st.success() {
            break;
        }
        if attempt >= 5 {
            bail!(
                "{} kube-apiserver: {st} ({attempt} attempts)",
                script.display()
            );
        }
        log(format!("restart failed ({st}); retrying"));
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let restart_ms = t0.elapsed().as_millis();
    let ready = Instant::now();
    // What a relist adds: kronjob sees every object again; upstream queues
    // every CronJob.
    let want = if r.c.upstream { n } else { objects } as f64;
    let mut done_ms: Option<u128> = None;
    let mut progress = 0.0;
    let hard_end = ready + Duration::from_secs(300);
    loop {
        let now = Instant::now();
        if let Ok(t) = m.contender(r).await {
            progress = relist_progress(r.c.upstream, &t) - progress0;
            if done_ms.is_none() && progress >= want {
                done_ms = Some(now.duration_since(ready).as_millis());
            }
        }
        let min_end = ready + min_window;
        let after_done = done_ms.is_some_and(|d| {
            now >= ready + Duration::from_millis(d as u64) + Duration::from_secs(10)
        });
        if now >= hard_end || (now >= min_end && (done_ms.is_none() || after_done)) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let peak = rss.take_peak();
    let cpu = proc_cpu_ticks(r.pid).unwrap_or(0).saturating_sub(cpu0) as f64 / 100.0;
    // The restarted API server counts from zero: every LIST and WATCH on
    // batch resources since its start (the contender's, and the control
    // plane's garbage collector's).
    let lw = list_watch_delta("", &apiserver_metrics(m).await?);
    log(format!(
        "{}: relist {} (progress {progress} of {want}), RSS peak {peak} KiB",
        r.c.name,
        if done_ms.is_some() {
            "seen"
        } else {
            "not seen"
        }
    ));
    Ok(json!({
        "relist_restart_ms": restart_ms,
        "relisted": done_ms.is_some(),
        "relist_done_ms": done_ms,
        "relist_progress": progress, "relist_progress_expected": want,
        "relist_progress_metric": if r.c.upstream { "workqueue_adds_total{name=\"cronjob\"}" } else { "kronjob_watch_events_total{resource=~\"jobs|cronjobs\"}" },
        "rss_relist_peak_kib": peak,
        "rss_after_relist_kib": rss.last(),
        "relist_cpu_s": cpu,
        "relist_list_watch_requests": lw,
    }))
}
