//! Running kronjob itself in tests: a `kronjob run` process scoped to one
//! test namespace, CronJob builders, and readers for what a user sees
//! (Jobs, status, Events, metrics).
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::Event;
use kube::api::{Api, ListParams};
use serde_json::json;

use crate::common::{self, TestPod};

pub mod chaos;
pub mod cluster;
pub mod flavor;
pub mod proxy;

#[allow(unused_imports)] // not every test binary runs both kinds
pub use flavor::{Flavor, Objects, install_kronjob_crd};

/// A `kronjob run` child process; killed when dropped.
pub struct Kronjob {
    child: Child,
    pub metrics_port: u16,
    pub log: PathBuf,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The kubeconfig the test cluster client uses, for child processes.
pub async fn kubeconfig_path() -> PathBuf {
    if let Some(k) = std::env::var_os("KUBECONFIG").filter(|v| !v.is_empty()) {
        return PathBuf::from(k);
    }
    common::client().await; // starts the local control plane if needed
    common::local_kubeconfig()
}

impl Kronjob {
    /// Start a controller watching only `namespace`, with `extra` flags.
    pub async fn start(namespace: &str, extra: &[&str]) -> Kronjob {
        Self::start_with_kubeconfig(namespace, &kubeconfig_path().await, extra).await
    }

    /// The same, connecting with the given kubeconfig.
    pub async fn start_with_kubeconfig(
        namespace: &str,
        kubeconfig: &std::path::Path,
        extra: &[&str],
    ) -> Kronjob {
        Self::start_with_env(namespace, kubeconfig, extra, &[]).await
    }

    /// The same, with extra environment variables (e.g. `FAILPOINTS`).
    pub async fn start_with_env(
        namespace: &str,
        kubeconfig: &std::path::Path,
        extra: &[&str],
        envs: &[(&str, &str)],
    ) -> Kronjob {
        let k = Self::spawn(namespace, kubeconfig, extra, envs);
        let port = k.metrics_port;
        common::wait_for("kronjob /readyz", Duration::from_secs(30), || async move {
            match http_get(port, "/readyz") {
                Ok((200, _)) => Ok(()),
                Ok((code, body)) => Err(format!("{code} {body}")),
                Err(e) => Err(e),
            }
        })
        .await;
        k
    }

    /// Start it without waiting for it to be ready.
    pub fn spawn(
        namespace: &str,
        kubeconfig: &std::path::Path,
        extra: &[&str],
        envs: &[(&str, &str)],
    ) -> Kronjob {
        let metrics_port = free_port();
        let logs = common::repo_root().join("target/test-logs");
        std::fs::create_dir_all(&logs).unwrap();
        let log = logs.join(format!("kronjob-{namespace}-{metrics_port}.log"));
        let file = std::fs::File::create(&log).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_kronjob"))
            .arg("run")
            .args([
                "--namespace",
                namespace,
                "--metrics-addr",
                &format!("127.0.0.1:{metrics_port}"),
            ])
            .args(extra)
            .env("KUBECONFIG", kubeconfig)
            .envs(envs.iter().copied())
            .env(
                "RUST_LOG",
                std::env::var("RUST_LOG").unwrap_or_else(|_| "info,kronjob=debug".into()),
            )
            .stdin(Stdio::null())
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .spawn()
            .expect("start kronjob");
        Kronjob {
            child,
            metrics_port,
            log,
        }
    }

    /// Send SIGTERM without waiting.
    pub fn signal_term(&self) {
        unsafe_kill(self.child.id(), "TERM");
    }

    /// The exit status, if it has exited.
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    pub fn metrics(&self) -> String {
        http_get(self.metrics_port, "/metrics")
            .map(|(_, b)| b)
            .unwrap_or_default()
    }

    /// Sum of a counter over all its label sets (0 if absent).
    pub fn counter(&self, name: &str) -> f64 {
        sum_metric(&self.metrics(), name, None)
    }

    /// A counter's value for one label (`key="value"`).
    pub fn counter_with(&self, name: &str, label: &str) -> f64 {
        sum_metric(&self.metrics(), name, Some(label))
    }

    /// SIGTERM and wait for exit, returning its status.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        unsafe_kill(self.child.id(), "TERM");
        self.child.wait().expect("wait kronjob")
    }

    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Kronjob {
    fn drop(&mut self) {
        self.kill();
    }
}

fn unsafe_kill(pid: u32, signal: &str) {
    let _ = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .status();
}

pub fn sum_metric(text: &str, name: &str, label: Option<&str>) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| {
            let metric = l.split(['{', ' ']).next().unwrap_or("");
            metric == name && label.is_none_or(|lb| l.contains(lb))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// A minimal HTTP/1.0 GET against 127.0.0.1 (no client crate needed).
pub fn http_get(port: u16, path: &str) -> Result<(u16, String), String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok();
    write!(s, "GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").map_err(|e| e.to_string())?;
    let mut buf = String::new();
    s.read_to_string(&mut buf).map_err(|e| e.to_string())?;
    let code = buf
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or("no status line")?;
    let body = buf
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    Ok((code, body))
}

/// A CronJob whose Jobs' pods behave as `pod` says (the Job spec of
/// [`common::job`], so the pods behave the same on kwok and on a kubelet).
pub fn cronjob(name: &str, schedule: &str, pod: TestPod) -> CronJob {
    let job_spec = common::job(name, pod).spec;
    serde_json::from_value(json!({
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": { "name": name },
        "spec": {
            "schedule": schedule,
            "jobTemplate": {
                "metadata": { "labels": { "app": name }, "annotations": { "from-template": "yes" } },
                "spec": job_spec,
            }
        }
    }))
    .unwrap()
}

/// (type, reason, message) of the Events about a CronJob, oldest first.
pub async fn events(events: &Api<Event>, cronjob: &str) -> Vec<(String, String, String)> {
    events_of(events, "CronJob", cronjob).await
}

/// (type, reason, message) of the Events about the object `kind`/`name`,
/// oldest first.
pub async fn events_of(
    events: &Api<Event>,
    kind: &str,
    name: &str,
) -> Vec<(String, String, String)> {
    let mut list = events
        .list(&ListParams::default().fields(&format!(
            "involvedObject.name={name},involvedObject.kind={kind}"
        )))
        .await
        .expect("list events")
        .items;
    list.sort_by_key(|e| {
        e.event_time
            .as_ref()
            .map(|t| t.0)
            .or(e.first_timestamp.as_ref().map(|t| t.0))
    });
    list.into_iter()
        .map(|e| {
            (
                e.type_.unwrap_or_default(),
                e.reason.unwrap_or_default(),
                e.message.unwrap_or_default(),
            )
        })
        .collect()
}

pub async fn wait_for_event(
    api: &Api<Event>,
    cronjob: &str,
    reason: &str,
    timeout: Duration,
) -> (String, String, String) {
    wait_for_event_of(api, "CronJob", cronjob, reason, timeout).await
}

/// The first Event with `reason` about the object `kind`/`name`.
pub async fn wait_for_event_of(
    api: &Api<Event>,
    kind: &str,
    name: &str,
    reason: &str,
    timeout: Duration,
) -> (String, String, String) {
    common::wait_for(
        &format!("event {reason} on {kind} {name}"),
        timeout,
        || async {
            let evs = events_of(api, kind, name).await;
            evs.iter()
                .find(|e| e.1 == reason)
                .cloned()
                .ok_or_else(|| format!("{:?}", evs.iter().map(|e| &e.1).collect::<Vec<_>>()))
        },
    )
    .await
}

pub async fn owned_jobs(jobs: &Api<Job>, cronjob: &CronJob) -> Vec<Job> {
    jobs_controlled_by(jobs, cronjob.metadata.uid.as_deref().unwrap()).await
}

/// kubectl of the cached Kubernetes build, else the one on PATH.
pub fn kubectl() -> String {
    let cache = std::env::var_os("KRONJOB_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var("HOME").unwrap()).join(".cache/kronjob"));
    let built = cache.join("k8s-v1.36.3/bin/kubectl");
    if built.exists() {
        built.into_os_string().into_string().unwrap()
    } else {
        "kubectl".into()
    }
}

pub async fn get_cronjob(api: &Api<CronJob>, name: &str) -> CronJob {
    api.get(name).await.expect("get cronjob")
}

pub fn active_names(cj: &CronJob) -> Vec<String> {
    cj.status
        .as_ref()
        .and_then(|s| s.active.clone())
        .unwrap_or_default()
        .into_iter()
        .filter_map(|r| r.name)
        .collect()
}

pub fn scheduled_annotation(job: &Job) -> String {
    job.metadata
        .annotations
        .as_ref()
        .and_then(|a| {
            a.get("batch.kubernetes.io/cronjob-scheduled-timestamp")
                .cloned()
        })
        .unwrap_or_default()
}

/// A KronJob with the spec of [`cronjob`], as a user would write it.
pub fn kronjob_object(name: &str, schedule: &str, pod: TestPod) -> kube::api::DynamicObject {
    let mut v = serde_json::to_value(cronjob(name, schedule, pod)).unwrap();
    v["apiVersion"] = json!("kronjob.dev/v1alpha1");
    v["kind"] = json!("KronJob");
    serde_json::from_value(v).unwrap()
}

/// The Jobs whose controller is the object with this UID, by name.
pub async fn jobs_controlled_by(jobs: &Api<Job>, uid: &str) -> Vec<Job> {
    let mut list: Vec<Job> = jobs
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
                .any(|r| r.uid == uid && r.controller == Some(true))
        })
        .collect();
    list.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
    list
}
