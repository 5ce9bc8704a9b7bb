//! Bursts: N CronJobs `* * * * *` all firing at the same minute boundary,
//! one contender at a time, in rounds whose order rotates.
//!
//! Per burst: when each Job appeared (creation skew = appearance − slot;
//! p50/p99/max), the time until all N Jobs exist, and the time until every
//! CronJob's status records the slot (lastScheduleTime), the CPU of the
//! contender, the API server and etcd, and the requests the API server
//! counted.

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use anyhow::Result;
use serde_json::{Value, json};

use crate::apf::{Noise, NoiseStats, apf_delta};
use crate::objects::{cleanup, create_cronjobs};
use crate::procs::{Contender, CpuTicks, component_pid, cpu_json, start, stop};
use crate::prom::{Metrics, req_delta};
use crate::raw::{RawCeiling, Transport, raw_burst};
use crate::record::{Recorder, pct, spread};
use crate::results::Results;
use crate::{K8S_VERSION, Opts, log, now_ms};

/// How long after its slot a burst may take. A burst not done by then ends
/// the contender's session (the next boundary would start with a backlog)
/// and the contender is not run again at that N.
pub const WINDOW_MS: i64 = 55_000;

pub async fn wait_until_ms(t: i64) {
    let d = t - now_ms();
    if d > 0 {
        tokio::time::sleep(Duration::from_millis(d as u64)).await;
    }
}

/// Waits until the clock is in [1 s, 8 s) past a minute boundary.
pub async fn wait_minute_start() {
    loop {
        let s = now_ms().rem_euclid(60_000);
        if (1_000..8_000).contains(&s) {
            return;
        }
        let next = now_ms() - s + if s < 1_000 { 1_000 } else { 61_000 };
        log(format!(
            "waiting {:.1} s for the start of a minute",
            (next - now_ms()) as f64 / 1000.0
        ));
        wait_until_ms(next).await;
    }
}

/// `items` rotated left by `round`: round r starts with the r-th item, so
/// that over as many rounds as items each runs once in each position.
pub fn rotated<T: Clone>(items: &[T], round: usize) -> Vec<T> {
    if items.is_empty() {
        return Vec::new();
    }
    let k = round % items.len();
    items[k..].iter().chain(&items[..k]).cloned().collect()
}

/// One burst (one minute boundary) of one contender.
#[derive(Debug, Default)]
pub struct Burst {
    pub slot: i64,
    pub n: usize,
    pub jobs_seen: usize,
    pub statuses_seen: usize,
    pub all_exist_ms: Option<i64>,
    pub status_all_ms: Option<i64>,
    pub p50_ms: i64,
    pub p99_ms: i64,
    pub max_ms: i64,
    pub cpu: [f64; 3],
    pub requests: BTreeMap<String, f64>,
    pub codes: BTreeMap<String, f64>,
    pub apf: Value,
    pub noise: Option<NoiseStats>,
    pub note: String,
}

impl Burst {
    pub fn complete(&self) -> bool {
        self.jobs_seen >= self.n
    }

    /// The burst as a JSON row (the caller adds workload and identity).
    pub fn row(&self) -> Value {
        json!({
            "k8s_version": K8S_VERSION, "n": self.n, "slot_ms": self.slot,
            "jobs_seen": self.jobs_seen, "statuses_seen": self.statuses_seen,
            "complete": self.complete(), "window_ms": WINDOW_MS,
            "all_exist_ms": self.all_exist_ms, "status_all_ms": self.status_all_ms,
            "p50_ms": self.p50_ms, "p99_ms": self.p99_ms, "max_ms": self.max_ms,
            "burst_cpu_s": cpu_json("contender", self.cpu),
            "burst_requests": self.requests, "burst_request_codes": self.codes,
            "apf": self.apf,
            "noise": self.noise.as_ref().map(NoiseStats::json),
            "noise_requests_per_s": self.noise.as_ref().map(|s| s.per_second()),
            "note": self.note,
        })
    }
}

/// Medians and ranges over the bursts of one contender at one N.
pub fn summary(bursts: &[Burst]) -> Value {
    let done: Vec<&Burst> = bursts.iter().filter(|b| b.complete()).collect();
    let vals = |f: &dyn Fn(&Burst) -> Option<i64>| -> Vec<f64> {
        done.iter().filter_map(|b| f(b)).map(|v| v as f64).collect()
    };
    json!({
        "bursts": bursts.len(), "complete_bursts": done.len(),
        "all_exist_ms": spread(&vals(&|b| b.all_exist_ms)),
        "status_all_ms": spread(&vals(&|b| b.status_all_ms)),
        "p50_ms": spread(&vals(&|b| Some(b.p50_ms))),
        "p99_ms": spread(&vals(&|b| Some(b.p99_ms))),
        "max_ms": spread(&vals(&|b| Some(b.max_ms))),
        "jobs_seen": bursts.iter().map(|b| b.jobs_seen).sum::<usize>(),
        "jobs_expected": bursts.iter().map(|b| b.n).sum::<usize>(),
    })
}

/// Everything a burst session needs besides the contender.
pub struct Env<'a> {
    pub opts: &'a Opts,
    pub m: &'a Metrics,
    pub rec: &'a Recorder,
}

/// Fresh CronJobs, the contender started, then `boundaries` consecutive
/// minute boundaries measured; `noise` floods the API server from 15 s
/// before each slot until that burst is done.
pub async fn session(
    env: &Env<'_>,
    c: &Contender,
    n: usize,
    boundaries: usize,
    tag: &str,
    noise: Option<&Noise>,
) -> Result<Vec<Burst>> {
    let (opts, m, rec) = (env.opts, env.m, env.rec);
    let client = &m.api;
    wait_minute_start().await;
    let minute0 = now_ms() - now_ms().rem_euclid(60_000);
    cleanup(client).await?;
    let run = format!("lat-{n}-{}", now_ms());
    create_cronjobs(client, n, &run, "* * * * *").await?;
    let r = start(opts, c, tag).await?;
    let mut note = String::new();
    if now_ms() - minute0 > 45_000 {
        note = format!(
            "setup ended {} ms after the minute start (late)",
            now_ms() - minute0
        );
        log(&note);
    }
    let pids = [
        Some(r.pid),
        component_pid(opts, "kube-apiserver"),
        component_pid(opts, "etcd"),
    ];
    let mut out = Vec::new();
    for b in 0..boundaries {
        let slot = minute0 + 60_000 * (b as i64 + 1);
        let running_noise = match noise {
            Some(nz) => {
                wait_until_ms(slot - 15_000).await;
                Some(nz.start(opts).await?)
            }
            None => None,
        };
        // Read the counters before the slot, off the burst's path.
        wait_until_ms(slot - 3_000).await;
        let before = m.apiserver().await?;
        wait_until_ms(slot).await;
        let cpu_at_slot = CpuTicks::read(pids);
        while (rec.count_slot(&run, slot) < n || rec.statuses_at(&run, slot).len() < n)
            && now_ms() < slot + WINDOW_MS
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let mut cpu = [0.0; 3];
        cpu_at_slot.add_delta(&CpuTicks::read(pids), &mut cpu);
        let noise_stats = match running_noise {
            Some(rn) => Some(rn.stop().await?),
            None => None,
        };
        let after = m.apiserver().await?;
        let d = req_delta(&before, &after);
        let mut lat: Vec<i64> = rec
            .jobs(&run)
            .into_iter()
            .filter(|s| s.slot_ms == Some(slot))
            .map(|s| s.at_ms - slot)
            .collect();
        lat.sort();
        let statuses = rec.statuses_at(&run, slot);
        let burst = Burst {
            slot,
            n,
            jobs_seen: lat.len(),
            statuses_seen: statuses.len(),
            all_exist_ms: (lat.len() >= n).then(|| lat.last().copied().unwrap_or(0)),
            status_all_ms: (statuses.len() >= n)
                .then(|| statuses.iter().max().map_or(0, |t| t - slot)),
            p50_ms: pct(&lat, 0.50),
            p99_ms: pct(&lat, 0.99),
            max_ms: lat.last().copied().unwrap_or(-1),
            cpu,
            requests: d.attributable_by,
            codes: d.attributable_codes,
            apf: apf_delta(&before, &after),
            noise: noise_stats,
            note: note.clone(),
        };
        log(format!(
            "{} N={n} slot {}: {}/{n} Jobs, all in {:?} ms, statuses {}/{n} in {:?} ms, p99 {} ms",
            c.name,
            b + 1,
            burst.jobs_seen,
            burst.all_exist_ms,
            burst.statuses_seen,
            burst.status_all_ms,
            burst.p99_ms
        ));
        let complete = burst.complete();
        out.push(burst);
        if !complete {
            log(
                "not all Jobs within the window: the next boundary would start with a backlog, skipping it",
            );
            break;
        }
    }
    stop(r).await;
    Ok(out)
}

/// The latency workload: for each N, `rounds` rounds; in each, the raw
/// ceiling (both transports, when `with_raw`) and then every contender in
/// an order rotated by the round. A contender whose burst does not finish
/// within the window is not run again at that N.
pub async fn latency(
    env: &Env<'_>,
    contenders: &[Contender],
    with_raw: bool,
    ceiling: &mut RawCeiling,
    res: &mut Results,
) -> Result<()> {
    let opts = env.opts;
    for &n in &opts.ns {
        let mut given_up: HashSet<String> = HashSet::new();
        let mut all: BTreeMap<String, Vec<Burst>> = BTreeMap::new();
        for round in 0..opts.rounds {
            if with_raw {
                for t in rotated(&[Transport::Http1, Transport::Http2], round) {
                    raw_burst(
                        opts,
                        &env.m.api,
                        &env.m.admin_cfg,
                        t,
                        env.rec,
                        n,
                        round,
                        ceiling,
                        res,
                    )
                    .await?;
                }
            }
            for (pos, c) in rotated(contenders, round).iter().enumerate() {
                if given_up.contains(&c.name) {
                    continue;
                }
                let bursts = session(
                    env,
                    c,
                    n,
                    opts.boundaries,
                    &format!("latency-{n}-r{round}"),
                    None,
                )
                .await?;
                for b in &bursts {
                    let mut row = b.row();
                    row["workload"] = json!("burst");
                    row["contender"] = json!(c.name);
                    row["round"] = json!(round);
                    row["order"] = json!(pos);
                    row["command"] = json!(c.command());
                    res.push(row)?;
                }
                if bursts.iter().any(|b| !b.complete()) {
                    given_up.insert(c.name.clone());
                }
                all.entry(c.name.clone()).or_default().extend(bursts);
            }
        }
        if with_raw {
            ceiling.summarize_n(n, res)?;
        }
        for c in contenders {
            let bursts = all.remove(&c.name).unwrap_or_default();
            let mut row = summary(&bursts);
            let med_all = row["all_exist_ms"]["median"].as_f64();
            let ceil = ceiling.ceiling_ms(n);
            row["workload"] = json!("latency");
            row["k8s_version"] = json!(K8S_VERSION);
            row["contender"] = json!(c.name);
            row["n"] = json!(n);
            row["rounds"] = json!(opts.rounds);
            row["given_up"] = json!(given_up.contains(&c.name));
            row["burst_jobs_per_s"] = json!(med_all.map(|a| n as f64 / (a.max(1.0) / 1000.0)));
            row["raw_ceiling_ms"] = json!(ceil.map(|(_, ms)| ms));
            row["raw_ceiling_transport"] = json!(ceil.map(|(t, _)| t.name()));
            // The ceiling's time over the contender's: 1.0 = as fast as the
            // driver's own creates.
            row["fraction_of_raw"] = json!(med_all.zip(ceil).map(|(a, (_, r))| r / a.max(1.0)));
            row["command"] = json!(c.command());
            res.push(row)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotation_puts_each_item_in_each_position() {
        let v = ["a", "b", "c"];
        assert_eq!(rotated(&v, 0), ["a", "b", "c"]);
        assert_eq!(rotated(&v, 1), ["b", "c", "a"]);
        assert_eq!(rotated(&v, 2), ["c", "a", "b"]);
        assert_eq!(rotated(&v, 3), ["a", "b", "c"]);
        assert!(rotated::<u8>(&[], 1).is_empty());
    }
}
