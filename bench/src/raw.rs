//! The API server's ceiling: Job creates issued by the driver itself, and
//! what each write a CronJob controller makes per Job costs it.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::Result;
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::batch::v1::{CronJob, Job};
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use kube::{Client, Config};
use serde_json::json;

use crate::objects::{cleanup, create_cronjobs, job_template, with_retry};
use crate::procs::{CpuTicks, component_pid, cpu_json};
use crate::record::{Recorder, spread};
use crate::results::Results;
use crate::{CREATE_CONCURRENCY, K8S_VERSION, NAMESPACES, Opts, RUN_LABEL, now_ms, ns_name};

/// How the driver's raw creates reach the API server. kube's default client
/// opens one HTTP/1.1 connection per request in flight; kronjob's client
/// (`kronjob::client`) multiplexes them on one HTTP/2 connection. Which is
/// faster depends on N (docs/benchmarks.md), so the ceiling is the better of
/// the two: no contender is measured against a ceiling its own transport beats.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Transport {
    Http1,
    Http2,
}

impl Transport {
    pub fn name(self) -> &'static str {
        match self {
            Transport::Http1 => "http1",
            Transport::Http2 => "http2",
        }
    }

    pub fn client(self, admin_cfg: &Config) -> Result<Client> {
        match self {
            Transport::Http1 => Ok(Client::try_from(admin_cfg.clone())?),
            Transport::Http2 => kronjob::client::from_config(admin_cfg.clone()),
        }
    }
}

/// The raw bursts of a run: all-in times (ms) by (N, transport).
#[derive(Default)]
pub struct RawCeiling {
    all_in: BTreeMap<(usize, Transport), Vec<f64>>,
}

impl RawCeiling {
    /// The ceiling at N: the median all-in time of the better transport.
    pub fn ceiling_ms(&self, n: usize) -> Option<(Transport, f64)> {
        [Transport::Http1, Transport::Http2]
            .into_iter()
            .filter_map(|t| {
                let v = self.all_in.get(&(n, t))?;
                Some((t, crate::record::median(v)?))
            })
            .min_by(|a, b| a.1.total_cmp(&b.1))
    }

    /// One summary row per transport at N: median and range over the bursts.
    pub fn summarize_n(&self, n: usize, res: &mut Results) -> Result<()> {
        for (&(_, t), v) in self
            .all_in
            .range((n, Transport::Http1)..=(n, Transport::Http2))
        {
            let med = crate::record::median(v).unwrap_or(f64::NAN);
            let best = self.ceiling_ms(n).is_some_and(|(bt, _)| bt == t);
            res.push(json!({
                "workload": "raw-summary", "k8s_version": K8S_VERSION, "n": n, "transport": t.name(),
                "bursts": v.len(), "all_exist_ms": spread(v), "jobs_per_s": n as f64 / (med / 1000.0),
                "ceiling": best,
            }))?;
        }
        Ok(())
    }
}

/// N Job creates by the driver over `transport`, 128 in flight: one burst
/// of the ceiling. `admin` cleans up before and after.
#[allow(clippy::too_many_arguments)]
pub async fn raw_burst(
    opts: &Opts,
    admin: &Client,
    admin_cfg: &Config,
    transport: Transport,
    rec: &Recorder,
    n: usize,
    round: usize,
    ceiling: &mut RawCeiling,
    res: &mut Results,
) -> Result<()> {
    cleanup(admin).await?;
    let client = &transport.client(admin_cfg)?;
    let run = format!("raw-{n}-{}", now_ms());
    let jobs: Vec<Job> = (0..n)
        .map(|i| {
            serde_json::from_value(json!({
                "apiVersion": "batch/v1", "kind": "Job",
                "metadata": {"name": format!("raw-{i}"), "namespace": ns_name(i), "labels": {RUN_LABEL: run}},
                "spec": job_template(&run)["spec"]
            }))
        })
        .collect::<Result<_, _>>()?;
    // The driver itself stands in the contender's place.
    let pids = [
        Some(std::process::id()),
        component_pid(opts, "kube-apiserver"),
        component_pid(opts, "etcd"),
    ];
    let cpu0 = CpuTicks::read(pids);
    let t0 = now_ms();
    futures::stream::iter(jobs)
        .map(|j| {
            let client = client.clone();
            async move {
                let ns = j.metadata.namespace.clone().unwrap_or_default();
                let api: Api<Job> = Api::namespaced(client, &ns);
                with_retry("create job", || async {
                    api.create(&PostParams::default(), &j).await
                })
                .await
            }
        })
        .buffer_unordered(CREATE_CONCURRENCY)
        .try_collect::<Vec<_>>()
        .await?;
    let client_done = now_ms() - t0;
    let deadline = now_ms() + 60_000;
    while rec.jobs(&run).len() < n && now_ms() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut cpu = [0.0; 3];
    cpu0.add_delta(&CpuTicks::read(pids), &mut cpu);
    let seen = rec.jobs(&run);
    let last = seen.iter().map(|s| s.at_ms).max().unwrap_or(t0);
    let all = (last - t0).max(1);
    if seen.len() == n {
        ceiling
            .all_in
            .entry((n, transport))
            .or_default()
            .push(all as f64);
    }
    res.push(json!({
        "workload": "raw", "transport": transport.name(), "k8s_version": K8S_VERSION, "n": n, "round": round,
        "jobs_seen": seen.len(), "all_exist_ms": all, "client_done_ms": client_done,
        "jobs_per_s": n as f64 / (all as f64 / 1000.0), "concurrency": CREATE_CONCURRENCY,
        "burst_cpu_s": cpu_json("driver", cpu),
        "apiserver_cpu_ms_per_request": 1000.0 * cpu[1] / n as f64,
        "etcd_cpu_ms_per_request": 1000.0 * cpu[2] / n as f64,
        "command": format!("kronjob-bench: {n} Job creates over {}, {CREATE_CONCURRENCY} in flight, driver's own watch", transport.name()),
    }))?;
    cleanup(admin).await
}

/// What one request of each write a CronJob controller makes per Job costs
/// the API server and etcd in CPU: N status merge patches (kronjob's status
/// write), N status PUTs (upstream's) and N Event creates, 128 in flight
/// over HTTP/2 (`writer`, the transport of both controllers), on N CronJobs
/// made beforehand.
/// With `raw` (one Job create each) this bounds any controller's burst rate
/// on this machine (docs/benchmarks.md).
pub async fn write_costs(
    opts: &Opts,
    client: &Client,
    writer: &Client,
    n: usize,
    res: &mut Results,
) -> Result<()> {
    cleanup(client).await?;
    let run = format!("writes-{n}-{}", now_ms());
    let cronjobs = create_cronjobs(client, n, &run, "0 0 1 1 *").await?;
    let slot = jiff::Timestamp::now().to_string();
    let patches = cronjobs.iter().map(|(ns, name, uid)| {
        let api: Api<CronJob> = Api::namespaced(writer.clone(), ns);
        let status = json!({"status": {
            "active": [{"apiVersion": "batch/v1", "kind": "Job", "namespace": ns,
                        "name": format!("{name}-1"), "uid": format!("{uid}-job")}],
            "lastScheduleTime": slot,
        }});
        async move {
            let patch = Patch::Merge(&status);
            let pp = PatchParams::default();
            with_retry("patch status", || api.patch_status(name, &pp, &patch))
                .await
                .map(drop)
        }
    });
    measure_writes(opts, res, n, "PATCH cronjobs/status (merge)", patches).await?;
    // The same status change as upstream writes it: PUT of the whole CronJob
    // (spec and all) to the status subresource, guarded by resourceVersion.
    let mut listed = Vec::new();
    for i in 0..NAMESPACES {
        let api: Api<CronJob> = Api::namespaced(client.clone(), &ns_name(i));
        let lp = ListParams::default().labels(&format!("{RUN_LABEL}={run}"));
        listed.extend(api.list(&lp).await?.items);
    }
    let puts = listed.into_iter().map(|mut cj| {
        let (ns, name) = (
            cj.metadata.namespace.clone().unwrap_or_default(),
            cj.metadata.name.clone().unwrap_or_default(),
        );
        let api: Api<CronJob> = Api::namespaced(writer.clone(), &ns);
        let status = cj.status.get_or_insert_with(Default::default);
        for a in status.active.iter_mut().flatten() {
            a.name = Some(format!("{name}-2"));
        }
        async move {
            let pp = PostParams::default();
            with_retry("replace status", || api.replace_status(&name, &pp, &cj))
                .await
                .map(drop)
        }
    });
    measure_writes(opts, res, n, "PUT cronjobs/status", puts).await?;
    let events = cronjobs.iter().map(|(ns, name, uid)| {
        let api: Api<k8s_openapi::api::events::v1::Event> = Api::namespaced(writer.clone(), ns);
        let event = serde_json::from_value(json!({
            "metadata": {"name": format!("{name}.{:x}", now_ms()), "namespace": ns},
            "eventTime": jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%S%.6fZ").to_string(),
            "type": "Normal", "reason": "SuccessfulCreate", "action": "Create",
            "note": format!("Created job {name}-1"),
            "reportingController": "cronjob-controller", "reportingInstance": "kronjob-bench",
            "regarding": {"apiVersion": "batch/v1", "kind": "CronJob", "namespace": ns, "name": name, "uid": uid},
        }));
        async move {
            let (event, pp) = (event?, PostParams::default());
            with_retry("create event", || api.create(&pp, &event))
                .await
                .map(drop)
        }
    });
    measure_writes(opts, res, n, "POST events", events).await?;
    // History limits: one Job deleted (propagation Background, as both
    // controllers delete) per run once a CronJob has its 3 finished Jobs.
    let jobs: Vec<(String, String)> = cronjobs
        .iter()
        .map(|(ns, name, _)| (ns.clone(), format!("{name}-old")))
        .collect();
    futures::stream::iter(jobs.clone())
        .map(|(ns, name)| {
            let api: Api<Job> = Api::namespaced(client.clone(), &ns);
            let run = run.clone();
            async move {
                let job: Job = serde_json::from_value(json!({
                    "apiVersion": "batch/v1", "kind": "Job",
                    "metadata": {"name": name, "namespace": ns, "labels": {RUN_LABEL: run}},
                    "spec": job_template(&run)["spec"]
                }))?;
                let pp = PostParams::default();
                with_retry("create job", || api.create(&pp, &job))
                    .await
                    .map(drop)
            }
        })
        .buffer_unordered(CREATE_CONCURRENCY)
        .try_collect::<Vec<_>>()
        .await?;
    let deletes = jobs.into_iter().map(|(ns, name)| {
        let api: Api<Job> = Api::namespaced(writer.clone(), &ns);
        async move {
            let dp = kube::api::DeleteParams::background();
            with_retry("delete job", || api.delete(&name, &dp))
                .await
                .map(drop)
        }
    });
    measure_writes(opts, res, n, "DELETE jobs (background)", deletes).await?;
    cleanup(client).await
}

/// Runs `ops` (n requests) 128 at a time and records the API server's and
/// etcd's CPU per request.
async fn measure_writes<F>(
    opts: &Opts,
    res: &mut Results,
    n: usize,
    what: &str,
    ops: impl Iterator<Item = F>,
) -> Result<()>
where
    F: std::future::Future<Output = Result<()>>,
{
    let pids = [
        Some(std::process::id()),
        component_pid(opts, "kube-apiserver"),
        component_pid(opts, "etcd"),
    ];
    let cpu0 = CpuTicks::read(pids);
    let t0 = Instant::now();
    futures::stream::iter(ops)
        .buffer_unordered(CREATE_CONCURRENCY)
        .try_collect::<Vec<_>>()
        .await?;
    let secs = t0.elapsed().as_secs_f64();
    let mut cpu = [0.0; 3];
    cpu0.add_delta(&CpuTicks::read(pids), &mut cpu);
    res.push(json!({
        "workload": "writes", "transport": "http2", "k8s_version": K8S_VERSION, "n": n, "request": what,
        "requests_per_s": n as f64 / secs,
        "apiserver_cpu_ms_per_request": 1000.0 * cpu[1] / n as f64,
        "etcd_cpu_ms_per_request": 1000.0 * cpu[2] / n as f64,
        "cpu_s": cpu_json("driver", cpu),
        "command": format!("kronjob-bench: {n} × {what}, {CREATE_CONCURRENCY} in flight over http2"),
    }))
}
