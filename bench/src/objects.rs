//! The bench's objects: namespaces, CronJobs, Jobs; creating them fast and
//! removing them all.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::Namespace;
use kube::Client;
use kube::api::{Api, DeleteParams, ListParams, PostParams};
use serde_json::{Value, json};

use crate::{CREATE_CONCURRENCY, NAMESPACES, RUN_LABEL, log, ns_name};

pub async fn with_retry<T, F, Fut>(what: &str, mut f: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = kube::Result<T>>,
{
    let mut last = None;
    for attempt in 0..8 {
        match f().await {
            Ok(v) => return Ok(v),
            Err(e) => {
                last = Some(e);
                tokio::time::sleep(Duration::from_millis(100 << attempt.min(4))).await;
            }
        }
    }
    Err(anyhow!(
        "{what}: {}",
        last.map_or(String::new(), |e| e.to_string())
    ))
}

pub fn job_template(run: &str) -> Value {
    json!({
        "metadata": {"labels": {RUN_LABEL: run}},
        "spec": {"template": {"spec": {
            "restartPolicy": "Never",
            "containers": [{"name": "c", "image": "busybox:1.36", "command": ["true"]}]
        }}}
    })
}

pub fn cronjob(i: usize, run: &str, schedule: &str) -> Result<CronJob> {
    Ok(serde_json::from_value(json!({
        "apiVersion": "batch/v1", "kind": "CronJob",
        "metadata": {"name": format!("cj-{i}"), "namespace": ns_name(i), "labels": {RUN_LABEL: run}},
        "spec": {"schedule": schedule, "timeZone": "Etc/UTC", "jobTemplate": job_template(run)}
    }))?)
}

pub async fn ensure_namespace(client: &Client, name: &str) -> Result<()> {
    let api: Api<Namespace> = Api::all(client.clone());
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": name}}))?;
    match api.create(&PostParams::default(), &ns).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(e)) if e.code == 409 => Ok(()),
        Err(e) => Err(e.into()),
    }
}

pub async fn ensure_namespaces(client: &Client) -> Result<()> {
    for i in 0..NAMESPACES {
        ensure_namespace(client, &ns_name(i)).await?;
    }
    Ok(())
}

/// Deletes every bench Job and CronJob and waits until they are gone.
/// A collection delete of many thousand objects can outlast the API
/// server's request timeout (it keeps deleting): it is simply issued again
/// until nothing is left.
pub async fn cleanup(client: &Client) -> Result<()> {
    let t = Instant::now();
    let lp = ListParams::default().labels(RUN_LABEL);
    let dp = DeleteParams::background();
    let jobs: Api<Job> = Api::all(client.clone());
    let cjs: Api<CronJob> = Api::all(client.clone());
    let deadline = Instant::now() + Duration::from_secs(1800);
    loop {
        let lp1 = lp.clone().limit(1);
        let j = with_retry("list jobs", || jobs.list_metadata(&lp1)).await?;
        let c = with_retry("list cronjobs", || cjs.list_metadata(&lp1)).await?;
        if j.items.is_empty() && c.items.is_empty() {
            break;
        }
        if Instant::now() > deadline {
            bail!("cleanup: bench objects still there after 30 min");
        }
        // Jobs created by a contender that is already stopped, or by GC lag.
        let _ = futures::future::join_all((0..NAMESPACES).map(|i| {
            let (client, lp, dp) = (client.clone(), lp.clone(), dp.clone());
            async move {
                let jobs: Api<Job> = Api::namespaced(client.clone(), &ns_name(i));
                let cjs: Api<CronJob> = Api::namespaced(client, &ns_name(i));
                let a = jobs.delete_collection(&dp, &lp).await.map(drop);
                let b = cjs.delete_collection(&dp, &lp).await.map(drop);
                a.and(b)
            }
        }))
        .await;
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    log(format!(
        "cleanup done in {:.1} s",
        t.elapsed().as_secs_f64()
    ));
    Ok(())
}

/// N CronJobs `cj-0` … named by index, in the bench namespaces; returns
/// (namespace, name, uid) of each, in index order.
pub async fn create_cronjobs(
    client: &Client,
    n: usize,
    run: &str,
    schedule: &str,
) -> Result<Vec<(String, String, String)>> {
    let t = Instant::now();
    let mut out: Vec<(usize, (String, String, String))> = futures::stream::iter(0..n)
        .map(|i| {
            let client = client.clone();
            async move {
                let cj = cronjob(i, run, schedule)?;
                let api: Api<CronJob> = Api::namespaced(client, &ns_name(i));
                let created = with_retry("create cronjob", || async {
                    api.create(&PostParams::default(), &cj).await
                })
                .await?;
                anyhow::Ok((
                    i,
                    (
                        ns_name(i),
                        format!("cj-{i}"),
                        created.metadata.uid.unwrap_or_default(),
                    ),
                ))
            }
        })
        .buffer_unordered(CREATE_CONCURRENCY)
        .try_collect()
        .await?;
    out.sort_by_key(|(i, _)| *i);
    log(format!(
        "created {n} CronJobs in {:.1} s",
        t.elapsed().as_secs_f64()
    ));
    Ok(out.into_iter().map(|(_, v)| v).collect())
}

/// `kubectl apply|delete -f FILE` with the admin kubeconfig.
pub async fn kubectl(kubectl: &Path, kubeconfig: &Path, args: &[&str]) -> Result<String> {
    let out = tokio::process::Command::new(kubectl)
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(args)
        .output()
        .await
        .with_context(|| format!("running {}", kubectl.display()))?;
    if !out.status.success() {
        bail!(
            "kubectl {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// A copy of the admin kubeconfig that impersonates `user` (the API server
/// adds a ServiceAccount's groups itself), written to `path`. JSON is
/// YAML, so both kube-rs and client-go read it.
pub fn impersonating_kubeconfig(admin: &Path, user: &str, path: &Path) -> Result<()> {
    let mut kc = kube::config::Kubeconfig::read_from(admin)?;
    for a in &mut kc.auth_infos {
        if let Some(info) = a.auth_info.as_mut() {
            info.impersonate = Some(user.to_string());
        }
    }
    if let Some(d) = path.parent() {
        std::fs::create_dir_all(d)?;
    }
    std::fs::write(path, serde_json::to_string_pretty(&kc)?)?;
    Ok(())
}
