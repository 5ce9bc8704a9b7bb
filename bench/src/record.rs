//! The driver's own watches: when each Job appeared, and when each CronJob's
//! status first recorded a slot, timestamped with the driver's clock in
//! milliseconds as the event arrives.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::batch::v1::{CronJob, Job};
use kube::Client;
use kube::api::Api;
use kube::runtime::watcher;
use serde_json::{Value, json};

use crate::{RUN_LABEL, SCHEDULED_ANNOTATION, log, now_ms};

#[derive(Clone, Copy, Debug)]
pub struct Seen {
    pub at_ms: i64,
    pub slot_ms: Option<i64>,
}

type Table<T> = Arc<Mutex<HashMap<String, HashMap<String, T>>>>;

/// Both watches, stopped when dropped (the steady and scale workloads run
/// without them: 150 000 Jobs in the driver's watch would load the API
/// server and the machine during the measurement).
pub struct Recorder {
    /// run label -> job key -> first time seen
    jobs: Table<Seen>,
    /// run label -> cronjob key -> (lastScheduleTime ms, first time seen)
    statuses: Table<Vec<(i64, i64)>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for Recorder {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

fn key(
    meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
) -> Option<(String, String)> {
    let run = meta.labels.as_ref()?.get(RUN_LABEL)?.clone();
    Some((
        run,
        format!(
            "{}/{}",
            meta.namespace.as_deref().unwrap_or(""),
            meta.name.as_deref().unwrap_or("")
        ),
    ))
}

impl Recorder {
    /// Starts both watches and returns once both have listed.
    pub async fn start(client: Client) -> anyhow::Result<Self> {
        let jobs: Table<Seen> = Default::default();
        let statuses: Table<Vec<(i64, i64)>> = Default::default();
        let (jobs_ready, mut jobs_rx) = tokio::sync::watch::channel(false);
        let (cj_ready, mut cj_rx) = tokio::sync::watch::channel(false);
        let j = jobs.clone();
        let api: Api<Job> = Api::all(client.clone());
        let t1 = tokio::spawn(async move {
            let mut s = watcher(api, watcher::Config::default().labels(RUN_LABEL)).boxed();
            while let Some(ev) = s.next().await {
                let at_ms = now_ms();
                match ev {
                    Ok(watcher::Event::Apply(job)) | Ok(watcher::Event::InitApply(job)) => {
                        record_job(&j, &job, at_ms)
                    }
                    Ok(watcher::Event::InitDone) => {
                        let _ = jobs_ready.send(true);
                    }
                    Ok(_) => {}
                    Err(e) => {
                        log(format!("job watch error: {e}"));
                        tokio::time::sleep(Duration::from_millis(200)).await;
                    }
                }
            }
        });
        let st = statuses.clone();
        let api: Api<CronJob> = Api::all(client);
        let t2 = tokio::spawn(async move {
            let mut s = watcher(api, watcher::Config::default().labels(RUN_LABEL)).boxed();
            while let Some(ev) = s.next().await {
                let at_ms = now_ms();
                match ev {
                    Ok(watcher::Event::Apply(cj)) | Ok(watcher::Event::InitApply(cj)) => {
                        record_status(&st, &cj, at_ms)
                    }
                    Ok(watcher::Event::InitDone) => {
                        let _ = cj_ready.send(true);
                    }
                    Ok(_) => {}
                    Err(e) => {
                        log(format!("cronjob watch error: {e}"));
                        tokio::time::sleep(Duration::from_millis(200)).await;
                    }
                }
            }
        });
        let rec = Recorder {
            jobs,
            statuses,
            tasks: vec![t1, t2],
        };
        jobs_rx.wait_for(|r| *r).await?;
        cj_rx.wait_for(|r| *r).await?;
        Ok(rec)
    }

    pub fn jobs(&self, run: &str) -> Vec<Seen> {
        self.jobs
            .lock()
            .unwrap()
            .get(run)
            .map(|m| m.values().copied().collect())
            .unwrap_or_default()
    }

    pub fn count_slot(&self, run: &str, slot: i64) -> usize {
        self.jobs
            .lock()
            .unwrap()
            .get(run)
            .map(|m| m.values().filter(|s| s.slot_ms == Some(slot)).count())
            .unwrap_or(0)
    }

    /// For each CronJob of `run` whose status has recorded `slot` (a
    /// lastScheduleTime at or after it): when that was first seen.
    pub fn statuses_at(&self, run: &str, slot: i64) -> Vec<i64> {
        self.statuses
            .lock()
            .unwrap()
            .get(run)
            .map(|m| {
                m.values()
                    .filter_map(|v| {
                        v.iter()
                            .filter(|(t, _)| *t >= slot)
                            .map(|(_, at)| *at)
                            .min()
                    })
                    .collect()
            })
            .unwrap_or_default()
    }
}

fn record_job(table: &Table<Seen>, j: &Job, at_ms: i64) {
    let Some((run, key)) = key(&j.metadata) else {
        return;
    };
    let slot_ms = j
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(SCHEDULED_ANNOTATION))
        .and_then(|s| s.parse::<jiff::Timestamp>().ok())
        .map(|t| t.as_millisecond());
    table
        .lock()
        .unwrap()
        .entry(run)
        .or_default()
        .entry(key)
        .or_insert(Seen { at_ms, slot_ms });
}

fn record_status(table: &Table<Vec<(i64, i64)>>, cj: &CronJob, at_ms: i64) {
    let Some((run, key)) = key(&cj.metadata) else {
        return;
    };
    let Some(lst) = cj
        .status
        .as_ref()
        .and_then(|s| s.last_schedule_time.as_ref())
        .map(|t| t.0.as_millisecond())
    else {
        return;
    };
    let mut t = table.lock().unwrap();
    let v = t.entry(run).or_default().entry(key).or_default();
    if !v.iter().any(|(x, _)| *x == lst) {
        v.push((lst, at_ms));
    }
}

/// The value at quantile `p` of a sorted slice (nearest rank); -1 if empty.
pub fn pct(sorted: &[i64], p: f64) -> i64 {
    if sorted.is_empty() {
        return -1;
    }
    let idx = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[idx]
}

/// Median of the values (the mean of the middle two for an even count).
pub fn median(values: &[f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mut v = values.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    let m = v.len() / 2;
    Some(if v.len() % 2 == 1 {
        v[m]
    } else {
        (v[m - 1] + v[m]) / 2.0
    })
}

/// {"median", "min", "max", "values"} of a set of measurements (null when
/// there are none).
pub fn spread(values: &[f64]) -> Value {
    let Some(med) = median(values) else {
        return Value::Null;
    };
    let min = values.iter().copied().fold(f64::INFINITY, f64::min);
    let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    json!({"median": med, "min": min, "max": max, "values": values})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_and_medians() {
        let v: Vec<i64> = (1..=100).collect();
        assert_eq!(pct(&v, 0.99), 99);
        assert_eq!(pct(&v, 0.5), 50);
        assert_eq!(pct(&[7], 0.99), 7);
        assert_eq!(pct(&[], 0.5), -1);
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(median(&[]), None);
        let s = spread(&[5.0, 1.0, 3.0]);
        assert_eq!(
            (s["median"].as_f64(), s["min"].as_f64(), s["max"].as_f64()),
            (Some(3.0), Some(1.0), Some(5.0))
        );
    }
}
