//! Liveness and readiness, as served on /healthz and /readyz.
//!
//! Ready: every watched scope has listed both CronJobs and Jobs (true on a
//! standby too, which is healthy while not leading). Alive: the runtime
//! answers and the controller loop has not died.

use std::collections::HashSet;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicUsize, Ordering};

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
        metrics.runtime_stall.observe(
            tokio::time::Instant::now()
                .duration_since(due)
                .as_secs_f64(),
        );
        if n % 10 == 0 {
            health.beat();
        }
    }
}

#[derive(Default)]
pub struct Health {
    scopes: AtomicUsize,
    synced: Mutex<HashSet<(&'static str, Option<String>)>>,
    last_beat: AtomicI64,
    controller_failed: AtomicBool,
}

impl Health {
    pub fn expect_scopes(&self, n: usize) {
        self.scopes.store(n, Ordering::SeqCst);
    }

    pub fn mark_synced(&self, resource: &'static str, scope: Option<&str>) {
        self.synced
            .lock()
            .unwrap()
            .insert((resource, scope.map(str::to_owned)));
    }

    pub fn is_ready(&self) -> bool {
        let scopes = self.scopes.load(Ordering::SeqCst);
        scopes > 0 && self.synced.lock().unwrap().len() >= 2 * scopes
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
        h.expect_scopes(2);
        h.mark_synced("cronjobs", Some("a"));
        h.mark_synced("jobs", Some("a"));
        h.mark_synced("jobs", Some("a"));
        assert!(!h.is_ready());
        h.mark_synced("cronjobs", Some("b"));
        h.mark_synced("jobs", Some("b"));
        assert!(h.is_ready());
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
