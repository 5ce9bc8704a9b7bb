//! Liveness and readiness, as served on /healthz and /readyz.
//!
//! Ready: every watched scope has listed both CronJobs and Jobs (true on a
//! standby too, which is healthy while not leading), and no watch keeps
//! failing. Alive: the runtime answers and the controller loop has not died.
//!
//! A broken watch (e.g. 403 after RBAC was revoked at runtime) leaves the
//! caches frozen while everything else looks fine, so readiness reports it.
//! The rule follows how kube-runtime 5's watcher reports and retries: every
//! failed request (list, watch start, or an error inside the watch) comes
//! out of the stream as one `Err`, after which `default_backoff` pauses the
//! stream (0.8 s doubling to 30 s, plus up to 100 % jitter, reset by any
//! `Ok`) before the watcher retries. A watch that ends normally (410 Gone, a
//! dropped connection) yields a single error and then lists or resumes; one
//! that keeps failing yields an error at every retry. So a watch is broken
//! after [`BROKEN_AFTER_ERRORS`] errors in a row, each within
//! [`WATCH_RETRY_WINDOW`] of the one before, and until it delivers an event
//! again or stays silent for longer than that window (a resumed watch says
//! nothing until something changes; a still-failing one would have reported
//! its next error by then). The watcher's `Init` event is no sign of health:
//! it comes before the list request, without talking to the server.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use jiff::Timestamp;

/// A heartbeat older than this means the runtime is wedged.
pub const HEARTBEAT_STALE_SECONDS: i64 = 30;

/// How often [`heartbeat`] ticks.
const TICK: std::time::Duration = std::time::Duration::from_millis(100);

/// Beats once a second for /healthz, and measures how late each 100 ms
/// tick fires (`kronjob_runtime_stall_seconds`): everything runs on one
/// thread, so a tick is late by exactly as long as something held that
/// thread, e.g. planning a CronJob with 10 000 Jobs. A stall as long as the
/// leader election's renew deadline would cost the Lease.
pub async fn heartbeat(
    health: std::sync::Arc<Health>,
    metrics: std::sync::Arc<crate::metrics::Metrics>,
) {
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    for n in 0u64.. {
        let due = tick.tick().await;
        let late = tokio::time::Instant::now()
            .duration_since(due)
            .as_secs_f64();
        metrics.runtime_stall.observe(late);
        if late > metrics.runtime_longest_stall.get() {
            metrics.runtime_longest_stall.set(late);
        }
        if n % 10 == 0 {
            health.beat();
        }
    }
}

/// The longest a watch that keeps failing goes without reporting another
/// error: the watcher's largest backoff (30 s with up to 100 % jitter) plus
/// time for the failing request itself. (kube-runtime's `Controller` pauses
/// its merged trigger stream after each error with the same backoff; that
/// pause runs alongside the watcher's own, so the next attempt comes after
/// the longer of the two, not their sum.)
pub const WATCH_RETRY_WINDOW: Duration = Duration::from_secs(75);

/// Errors in a row that make a watch count as broken. One error is how a
/// watch normally ends (410 Gone, a dropped connection); the retry fixes it.
pub const BROKEN_AFTER_ERRORS: u32 = 2;

type WatchKey = (&'static str, Option<String>);

/// The recent errors of one watch (resource, scope).
#[derive(Clone, Debug, Default)]
struct WatchErrors {
    in_row: u32,
    last_at: Option<Instant>,
    last: String,
}

#[derive(Default)]
pub struct Health {
    scopes: AtomicUsize,
    synced: Mutex<HashSet<WatchKey>>,
    watches: Mutex<HashMap<WatchKey, WatchErrors>>,
    last_beat: AtomicI64,
    controller_failed: AtomicBool,
}

impl Health {
    /// How many watches must have listed before the process is ready.
    pub fn expect_watches(&self, n: usize) {
        self.scopes.store(n, Ordering::SeqCst);
    }

    pub fn mark_synced(&self, resource: &'static str, scope: Option<&str>) {
        self.synced
            .lock()
            .unwrap()
            .insert((resource, scope.map(str::to_owned)));
    }

    /// The watch delivered an event from the server (anything but `Init`).
    pub fn watch_progress(&self, resource: &'static str, scope: Option<&str>) {
        let mut watches = self.watches.lock().unwrap();
        if let Some(w) = watches.get_mut(&(resource, scope.map(str::to_owned))) {
            w.in_row = 0;
        }
    }

    /// The watch reported an error (it retries after its backoff).
    pub fn watch_error(&self, resource: &'static str, scope: Option<&str>, error: &str) {
        self.watch_error_at(resource, scope, error, Instant::now());
    }

    fn watch_error_at(
        &self,
        resource: &'static str,
        scope: Option<&str>,
        error: &str,
        now: Instant,
    ) {
        let mut watches = self.watches.lock().unwrap();
        let w = watches
            .entry((resource, scope.map(str::to_owned)))
            .or_default();
        let in_a_row = w
            .last_at
            .is_some_and(|at| now.duration_since(at) <= WATCH_RETRY_WINDOW);
        w.in_row = if in_a_row { w.in_row + 1 } else { 1 };
        w.last_at = Some(now);
        w.last = error.to_owned();
    }

    pub fn is_ready(&self) -> bool {
        self.readiness().is_ok()
    }

    /// Ok when ready, else why not.
    pub fn readiness(&self) -> Result<(), String> {
        self.readiness_at(Instant::now())
    }

    fn readiness_at(&self, now: Instant) -> Result<(), String> {
        let scopes = self.scopes.load(Ordering::SeqCst);
        if scopes == 0 || self.synced.lock().unwrap().len() < scopes {
            return Err("caches not synced".into());
        }
        let watches = self.watches.lock().unwrap();
        let mut broken: Vec<String> = watches
            .iter()
            .filter(|(_, w)| {
                w.in_row >= BROKEN_AFTER_ERRORS
                    && w.last_at
                        .is_some_and(|at| now.duration_since(at) <= WATCH_RETRY_WINDOW)
            })
            .map(|((resource, scope), w)| {
                format!(
                    "watch of {resource} in {} failing ({} errors in a row, last: {})",
                    scope.as_deref().unwrap_or("all namespaces"),
                    w.in_row,
                    w.last
                )
            })
            .collect();
        if broken.is_empty() {
            return Ok(());
        }
        broken.sort();
        Err(broken.join("; "))
    }

    pub fn beat(&self) {
        self.last_beat
            .store(Timestamp::now().as_second(), Ordering::SeqCst);
    }

    pub fn controller_failed(&self) {
        self.controller_failed.store(true, Ordering::SeqCst);
    }

    /// Why the process is not healthy, or None.
    pub fn problem(&self) -> Option<String> {
        if self.controller_failed.load(Ordering::SeqCst) {
            return Some("controller loop stopped".into());
        }
        let age = Timestamp::now().as_second() - self.last_beat.load(Ordering::SeqCst);
        (age > HEARTBEAT_STALE_SECONDS).then(|| format!("heartbeat is {age}s old"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_only_when_every_scope_listed_both_resources() {
        let h = Health::default();
        assert!(!h.is_ready());
        h.expect_watches(4);
        h.mark_synced("cronjobs", Some("a"));
        h.mark_synced("jobs", Some("a"));
        h.mark_synced("jobs", Some("a"));
        assert!(!h.is_ready());
        h.mark_synced("cronjobs", Some("b"));
        h.mark_synced("jobs", Some("b"));
        assert!(h.is_ready());
    }

    fn synced() -> Health {
        let h = Health::default();
        h.expect_watches(2);
        h.mark_synced("cronjobs", Some("a"));
        h.mark_synced("jobs", Some("a"));
        h
    }

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn one_error_is_a_watch_ending_normally_not_a_broken_watch() {
        let (h, t0) = (synced(), Instant::now());
        // 410 Gone, then the relist delivers objects.
        h.watch_error_at("jobs", Some("a"), "410 Gone", t0);
        assert!(h.readiness_at(t0).is_ok());
        h.watch_progress("jobs", Some("a"));
        // Another lone error much later is again just one.
        h.watch_error_at("jobs", Some("a"), "connection reset", t0 + secs(3600));
        assert!(h.readiness_at(t0 + secs(3600)).is_ok());
    }

    #[test]
    fn errors_in_a_row_break_readiness_until_an_event_arrives() {
        let (h, t0) = (synced(), Instant::now());
        // 403 on the list: error, Init (neutral), error... about 1 s apart.
        h.watch_error_at("jobs", Some("a"), "403 forbidden", t0);
        h.watch_error_at("jobs", Some("a"), "403 forbidden", t0 + secs(1));
        let why = h.readiness_at(t0 + secs(1)).unwrap_err();
        assert!(
            why.contains("watch of jobs in a failing") && why.contains("403 forbidden"),
            "{why}"
        );
        assert!(!h.is_ready());
        // The other resource's events do not help.
        h.watch_progress("cronjobs", Some("a"));
        assert!(h.readiness_at(t0 + secs(2)).is_err());
        // Permissions restored: the list delivers objects.
        h.watch_progress("jobs", Some("a"));
        assert!(h.readiness_at(t0 + secs(2)).is_ok());
    }

    #[test]
    fn a_failing_watch_stays_broken_across_the_longest_backoff() {
        let (h, t0) = (synced(), Instant::now());
        // A failing watch restart backs off up to 30 s plus jitter.
        let mut t = t0;
        for gap in [0, 1, 2, 4, 8, 16, 32, 59, 60] {
            t += secs(gap);
            h.watch_error_at("cronjobs", None, "403", t);
        }
        assert!(h.readiness_at(t + secs(59)).is_err());
        assert!(h.readiness_at(t + WATCH_RETRY_WINDOW).is_err());
        // Silent for longer than the watcher ever waits: a retry succeeded
        // (a resumed watch is quiet until something changes).
        assert!(h.readiness_at(t + WATCH_RETRY_WINDOW + secs(1)).is_ok());
    }

    #[test]
    fn errors_further_apart_than_the_retry_window_are_not_in_a_row() {
        let (h, t0) = (synced(), Instant::now());
        h.watch_error_at("jobs", Some("a"), "reset", t0);
        let later = t0 + WATCH_RETRY_WINDOW + secs(1);
        h.watch_error_at("jobs", Some("a"), "reset", later);
        assert!(h.readiness_at(later).is_ok());
    }

    #[test]
    fn unhealthy_without_heartbeat_or_after_controller_failure() {
        let h = Health::default();
        assert!(h.problem().is_some());
        h.beat();
        assert!(h.problem().is_none());
        h.controller_failed();
        assert_eq!(h.problem().as_deref(), Some("controller loop stopped"));
    }
}
