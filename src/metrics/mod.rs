//! Prometheus metrics. Upstream's creation-skew histogram keeps its name so
//! existing dashboards and alerts work; kronjob's own carry the `kronjob_`
//! prefix. Every metric is documented in docs/metrics.md.

mod per_object;

pub use per_object::{ObjectGauges, PerObjectGauges};

use crate::model::Kind;
use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry, TextEncoder,
};

/// Buckets from 1 ms up that include every upstream boundary (1 s .. 512 s),
/// so `le`-based queries written for upstream still match.
const SKEW_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0,
    128.0, 256.0, 512.0,
];
const RECONCILE_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

const STALL_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

pub struct Metrics {
    pub registry: Registry,
    pub creation_skew: Histogram,
    pub reconciles: IntCounterVec,
    pub reconcile_duration: HistogramVec,
    pub jobs_created: IntCounter,
    pub jobs_deleted: IntCounterVec,
    pub job_create_errors: IntCounterVec,
    pub events: IntCounterVec,
    pub slots_skipped: IntCounterVec,
    pub slots_missed: IntCounterVec,
    /// The per-CronJob gauges, kept outside the registry.
    pub per_object: PerObjectGauges,
    pub watch_events: IntCounterVec,
    pub watch_errors: IntCounterVec,
    pub watch_lists: IntCounterVec,
    pub api_requests: IntCounterVec,
    pub api_request_duration: HistogramVec,
    pub cache_synced: IntGaugeVec,
    pub cache_objects: IntGaugeVec,
    pub undecodable_objects: IntCounterVec,
    pub sync_panics: IntCounter,
    pub foreign_jobs: IntCounter,
    pub status_write_errors: IntCounter,
    pub runtime_stall: Histogram,
    pub runtime_longest_stall: prometheus::Gauge,
    pub leader: IntGauge,
    pub leader_transitions: IntCounter,
    pub build_info: IntGaugeVec,
}

impl Metrics {
    /// The series kronjob's client records its requests into.
    pub fn api_metrics(&self) -> crate::api_metrics::ApiMetrics {
        crate::api_metrics::ApiMetrics {
            requests: self.api_requests.clone(),
            duration: self.api_request_duration.clone(),
        }
    }

    pub fn new() -> Self {
        let registry = Registry::new();
        macro_rules! reg {
            ($m:expr) => {{
                let m = $m.expect("metric definition is valid");
                registry
                    .register(Box::new(m.clone()))
                    .expect("metric names are unique");
                m
            }};
        }
        let counter_vec = |name: &str, help: &str, labels: &[&str]| {
            IntCounterVec::new(Opts::new(name, help), labels)
        };
        let gauge_vec = |name: &str, help: &str, labels: &[&str]| {
            IntGaugeVec::new(Opts::new(name, help), labels)
        };
        let m = Metrics {
            creation_skew: reg!(Histogram::with_opts(
                HistogramOpts::new(
                    "cronjob_controller_job_creation_skew_duration_seconds",
                    "Time between when a cronjob is scheduled to be run, and when the corresponding job is created",
                )
                .buckets(SKEW_BUCKETS.to_vec())
            )),
            reconciles: reg!(counter_vec(
                "kronjob_reconciles_total",
                "CronJob syncs by result (success, error).",
                &["result"]
            )),
            reconcile_duration: reg!(HistogramVec::new(
                HistogramOpts::new("kronjob_reconcile_duration_seconds", "Duration of one CronJob sync by result.")
                    .buckets(RECONCILE_BUCKETS.to_vec()),
                &["result"]
            )),
            jobs_created: reg!(IntCounter::new("kronjob_jobs_created_total", "Jobs created for schedule slots.")),
            jobs_deleted: reg!(counter_vec(
                "kronjob_jobs_deleted_total",
                "Jobs deleted, by reason (history, replace).",
                &["reason"]
            )),
            job_create_errors: reg!(counter_vec(
                "kronjob_job_create_errors_total",
                "Job creations the API server refused, by reason (invalid, namespace_terminating, other).",
                &["reason"]
            )),
            events: reg!(counter_vec(
                "kronjob_events_total",
                "Events by outcome: created, series (a repeat counted on an existing Event), failed, dropped (queue full).",
                &["outcome"]
            )),
            slots_skipped: reg!(counter_vec(
                "kronjob_slots_skipped_total",
                "Due slots not run, by reason (concurrency_forbid).",
                &["reason"]
            )),
            slots_missed: reg!(counter_vec(
                "kronjob_slots_missed_total",
                "Slots that will never run, by reason (deadline_exceeded, superseded).",
                &["reason"]
            )),
            watch_events: reg!(counter_vec(
                "kronjob_watch_events_total",
                "Watch events received, by resource (cronjobs, jobs).",
                &["resource"]
            )),
            watch_errors: reg!(counter_vec(
                "kronjob_watch_errors_total",
                "Watch stream errors (each followed by a backoff and re-watch), by resource.",
                &["resource"]
            )),
            watch_lists: reg!(counter_vec(
                "kronjob_watch_lists_total",
                "Complete (re)lists of a resource's cache: the first at start-up, one more after each expired watch (410 Gone), by resource.",
                &["resource"]
            )),
            api_requests: reg!(counter_vec(
                "kronjob_api_requests_total",
                "Requests of kronjob's client to the API server, by verb (create, get, list, watch, patch, update, delete), resource (jobs, cronjobs/status, leases, ...) and HTTP code (\"error\" when no response came).",
                &["verb", "resource", "code"]
            )),
            api_request_duration: reg!(HistogramVec::new(
                HistogramOpts::new(
                    "kronjob_api_request_duration_seconds",
                    "Time from sending a request to the API server to its response headers (for a watch: until it started), by verb and resource."
                )
                .buckets(vec![0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0]),
                &["verb", "resource"]
            )),
            cache_synced: reg!(gauge_vec(
                "kronjob_cache_synced",
                "1 once the resource's cache has completed its initial list.",
                &["resource"]
            )),
            cache_objects: reg!(gauge_vec(
                "kronjob_cache_objects",
                "Objects held in the cache, by resource (jobs: only CronJob-owned Jobs).",
                &["resource"]
            )),
            undecodable_objects: reg!(counter_vec(
                "kronjob_undecodable_objects_total",
                "Objects (each version once) kronjob could not read and skipped or read in part, by resource (cronjobs, jobs).",
                &["resource"]
            )),
            status_write_errors: reg!(IntCounter::new(
                "kronjob_status_write_errors_total",
                "Status writes that failed and will be retried with backoff."
            )),
            foreign_jobs: reg!(IntCounter::new(
                "kronjob_foreign_jobs_total",
                "Jobs of served batch/v1 CronJobs that another controller created for a slot (each once): two controllers serve the same CronJobs."
            )),
            sync_panics: reg!(IntCounter::new(
                "kronjob_sync_panics_total",
                "Syncs that panicked (a bug); each failed that CronJob's sync only, which backs off."
            )),
            runtime_stall: reg!(Histogram::with_opts(
                HistogramOpts::new(
                    "kronjob_runtime_stall_seconds",
                    "How late a 100 ms tick of the runtime fired: time the single runtime thread was busy with something else.",
                )
                .buckets(STALL_BUCKETS.to_vec())
            )),
            runtime_longest_stall: reg!(prometheus::Gauge::new(
                "kronjob_runtime_longest_stall_seconds",
                "The longest kronjob_runtime_stall_seconds observation since the process started."
            )),
            leader: reg!(IntGauge::new("kronjob_leader", "1 while this replica holds the leader Lease.")),
            leader_transitions: reg!(IntCounter::new(
                "kronjob_leader_transitions_total",
                "Times this replica gained or lost leadership."
            )),
            build_info: reg!(gauge_vec("kronjob_build_info", "Always 1; labels carry the version.", &["version"])),
            per_object: PerObjectGauges::default(),
            registry,
        };
        m.build_info
            .with_label_values(&[env!("CARGO_PKG_VERSION")])
            .set(1);
        m
    }

    /// The text exposition of every metric.
    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut buf)
            .expect("text encoding into a Vec cannot fail");
        let mut text = String::from_utf8(buf).expect("Prometheus text format is UTF-8");
        self.per_object.render(&mut text);
        text
    }

    /// Drop the per-object series of a deleted CronJob or KronJob.
    pub fn forget_cronjob(&self, kind: Kind, namespace: &str, name: &str) {
        self.per_object.forget(kind, namespace, name);
    }

    /// Drop the per-CronJob series of every CronJob: a replica that lost
    /// leadership no longer syncs, so its values would freeze and trip the
    /// alerts while the new leader exports the live ones.
    pub fn forget_all_cronjobs(&self) {
        self.per_object.forget_all();
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_upstream_histogram_and_own_metrics() {
        let m = Metrics::new();
        m.creation_skew.observe(0.004);
        m.jobs_created.inc();
        m.per_object
            .record(Kind::CronJob, "ns", "cj", |g| g.next_schedule_time = 42);
        let text = m.render();
        assert!(text.contains(
            "cronjob_controller_job_creation_skew_duration_seconds_bucket{le=\"0.005\"} 1"
        ));
        assert!(
            text.contains(
                "cronjob_controller_job_creation_skew_duration_seconds_bucket{le=\"1\"} 1"
            )
        );
        assert!(text.contains("kronjob_jobs_created_total 1"));
        assert!(text.contains(
            "kronjob_cronjob_next_schedule_time_seconds{cronjob=\"cj\",kind=\"CronJob\",namespace=\"ns\"} 42"
        ));
        m.forget_cronjob(Kind::CronJob, "ns", "cj");
        assert!(!m.render().contains("cronjob=\"cj\""));
    }

    #[test]
    fn forgetting_all_cronjobs_keeps_the_process_wide_metrics() {
        let m = Metrics::new();
        for cj in ["a", "b"] {
            m.per_object
                .record(Kind::CronJob, "ns", cj, |g| g.active_jobs = 7);
        }
        m.jobs_created.inc();
        m.leader.set(1);
        m.forget_all_cronjobs();
        let text = m.render();
        assert!(!text.contains("cronjob=\""), "{text}");
        assert!(text.contains("kronjob_jobs_created_total 1"), "{text}");
        assert!(text.contains("kronjob_leader 1"), "{text}");
        // A CronJob synced again afterwards is exported again.
        m.per_object
            .record(Kind::CronJob, "ns", "a", |g| g.next_schedule_time = 9);
        assert!(m.render().contains(
            "kronjob_cronjob_next_schedule_time_seconds{cronjob=\"a\",kind=\"CronJob\",namespace=\"ns\"} 9"
        ));
    }
}
