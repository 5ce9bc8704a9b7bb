//! The contenders (kronjob, kube-controller-manager's CronJob controller),
//! started and stopped one at a time, and what /proc says about them and
//! about the control plane's processes.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

use crate::{Opts, log};

#[derive(Clone)]
pub struct Contender {
    pub name: String,
    pub argv: Vec<String>,
    /// kronjob reads its kubeconfig from $KUBECONFIG; upstream gets flags.
    pub env_kubeconfig: Option<PathBuf>,
    /// kronjob: http metrics port; upstream: https secure port.
    pub port: u16,
    pub upstream: bool,
}

impl Contender {
    pub fn command(&self) -> String {
        let mut s = String::new();
        if let Some(k) = &self.env_kubeconfig {
            let shown = if k.ends_with("target/cluster/kubeconfig") {
                "target/cluster/kubeconfig".into()
            } else {
                k.display().to_string()
            };
            s.push_str(&format!("KUBECONFIG={shown} "));
        }
        s.push_str(&self.argv.join(" "));
        s
    }
}

pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// The contender called `name`. `kubeconfig` replaces the admin kubeconfig
/// for the contender's API requests (the APF workload runs contenders as a
/// ServiceAccount through an impersonating kubeconfig); upstream's
/// delegated authentication and authorization stay on the admin one.
pub fn contender(opts: &Opts, name: &str, kubeconfig: Option<&Path>) -> Result<Contender> {
    let port = free_port();
    let admin = opts.kubeconfig.display().to_string();
    let api = kubeconfig.map_or(admin.clone(), |k| k.display().to_string());
    let upstream = |extra: &[&str]| -> Vec<String> {
        let mut v = vec![
            opts.kcm.display().to_string(),
            format!("--kubeconfig={api}"),
            format!("--authentication-kubeconfig={admin}"),
            format!("--authorization-kubeconfig={admin}"),
            "--controllers=cronjob-controller".into(),
            "--leader-elect=false".into(),
            "--use-service-account-credentials=false".into(),
            "--bind-address=127.0.0.1".into(),
            format!("--secure-port={port}"),
            "--profiling=false".into(),
        ];
        v.extend(extra.iter().map(|s| s.to_string()));
        v
    };
    let kronjob = |binary: &str| Contender {
        name: name.into(),
        argv: vec![
            binary.to_string(),
            "run".into(),
            "--metrics-addr".into(),
            format!("127.0.0.1:{port}"),
        ],
        env_kubeconfig: Some(kubeconfig.unwrap_or(&opts.kubeconfig).to_path_buf()),
        port,
        upstream: false,
    };
    Ok(match name {
        "kronjob" => kronjob(&opts.kronjob.display().to_string()),
        "upstream-default" => Contender {
            name: name.into(),
            argv: upstream(&[]),
            env_kubeconfig: None,
            port,
            upstream: true,
        },
        "upstream-tuned" => Contender {
            name: name.into(),
            argv: upstream(&[
                "--kube-api-qps=1000",
                "--kube-api-burst=2000",
                "--concurrent-cron-job-syncs=128",
            ]),
            env_kubeconfig: None,
            port,
            upstream: true,
        },
        // `kronjob@PATH`: another kronjob binary, to compare two builds.
        _ if name.starts_with("kronjob@") => kronjob(&name["kronjob@".len()..]),
        _ => bail!("unknown contender {name}"),
    })
}

pub struct Running {
    pub child: tokio::process::Child,
    pub pid: u32,
    pub started: Instant,
    pub c: Contender,
    pub log_path: PathBuf,
}

pub async fn start(opts: &Opts, c: &Contender, tag: &str) -> Result<Running> {
    tokio::fs::create_dir_all(&opts.logs).await?;
    // `kronjob@PATH` contenders name a path: keep the file name flat.
    let file_name: String = c
        .name
        .chars()
        .map(|ch| {
            if ch.is_ascii_alphanumeric() || ch == '-' {
                ch
            } else {
                '_'
            }
        })
        .collect();
    let log_path = opts.logs.join(format!("{file_name}-{tag}.log"));
    let logf = std::fs::File::create(&log_path)?;
    let mut cmd = tokio::process::Command::new(&c.argv[0]);
    cmd.args(&c.argv[1..])
        .stdin(Stdio::null())
        .stdout(logf.try_clone()?)
        .stderr(logf)
        .kill_on_drop(true);
    if let Some(k) = &c.env_kubeconfig {
        cmd.env("KUBECONFIG", k);
    }
    let started = Instant::now();
    let child = cmd
        .spawn()
        .with_context(|| format!("starting {}", c.argv[0]))?;
    let pid = child.id().context("child pid")?;
    log(format!("started {} (pid {pid})", c.name));
    Ok(Running {
        child,
        pid,
        started,
        c: c.clone(),
        log_path,
    })
}

pub async fn stop(mut r: Running) {
    let _ = tokio::process::Command::new("kill")
        .arg("-TERM")
        .arg(r.pid.to_string())
        .status()
        .await;
    if tokio::time::timeout(Duration::from_secs(5), r.child.wait())
        .await
        .is_err()
    {
        let _ = r.child.kill().await;
    }
    log(format!("stopped {} (pid {})", r.c.name, r.pid));
}

pub fn proc_rss_kb(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// utime+stime in clock ticks (USER_HZ = 100 on Linux).
pub fn proc_cpu_ticks(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &s[s.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
}

/// The pid of a control-plane component, from hack/cluster-up.sh's pid file.
/// Read each time: hack/cluster-restart.sh gives a component a new pid.
pub fn component_pid(opts: &Opts, name: &str) -> Option<u32> {
    let dir = opts.pids.as_ref()?;
    std::fs::read_to_string(dir.join(format!("{name}.pid")))
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// CPU ticks of the contender, the API server and etcd, read together.
#[derive(Clone, Copy, Default)]
pub struct CpuTicks([u64; 3]);

impl CpuTicks {
    pub fn read(pids: [Option<u32>; 3]) -> Self {
        CpuTicks(pids.map(|p| p.and_then(proc_cpu_ticks).unwrap_or(0)))
    }
    /// Seconds of CPU per part between `self` and `later`, added to `acc`.
    pub fn add_delta(&self, later: &CpuTicks, acc: &mut [f64; 3]) {
        for ((acc, before), after) in acc.iter_mut().zip(self.0).zip(later.0) {
            *acc += after.saturating_sub(before) as f64 / 100.0;
        }
    }
}

/// CPU seconds per process; `first` names the client process.
pub fn cpu_json(first: &str, secs: [f64; 3]) -> Value {
    json!({first: secs[0], "kube-apiserver": secs[1], "etcd": secs[2]})
}

/// The resident set of a process sampled in the background: the peak since
/// the last [`RssSampler::take_peak`], and the last sample.
pub struct RssSampler {
    peak: Arc<AtomicU64>,
    last: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl RssSampler {
    pub fn start(pid: u32, every: Duration) -> Self {
        let (peak, last) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
        let (p, l) = (peak.clone(), last.clone());
        let task = tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            loop {
                tick.tick().await;
                if let Some(kb) = proc_rss_kb(pid) {
                    p.fetch_max(kb, Ordering::Relaxed);
                    l.store(kb, Ordering::Relaxed);
                }
            }
        });
        RssSampler { peak, last, task }
    }
    /// The peak since the last call (or the start), then starts a new one.
    pub fn take_peak(&self) -> u64 {
        self.peak
            .swap(self.last.load(Ordering::Relaxed), Ordering::Relaxed)
    }
    pub fn last(&self) -> u64 {
        self.last.load(Ordering::Relaxed)
    }
}

impl Drop for RssSampler {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Available memory of the machine (MemAvailable), KiB.
pub fn mem_available_kib() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/meminfo").ok()?;
    s.lines()
        .find(|l| l.starts_with("MemAvailable:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}
