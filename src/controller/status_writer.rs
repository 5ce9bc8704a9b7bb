//! Status writes behind Job creates.
//!
//! In a burst of simultaneous slots every sync makes two writes: the Job
//! and the status that records it. What a user waits for is the Job, and
//! the API server is the bottleneck, so status writes wait while Jobs are
//! being created: a sync records its status change here and returns, and
//! one writer per served kind writes the changes once no create has been in
//! flight for a moment ([`CreateGate`]), or once a change has waited
//! [`MAX_DEFER`]. Several changes of one object that queue up are merged
//! and written at once.
//!
//! Nothing is lost on the way: a sync of an object plans on its cached
//! status with the changes still waiting (or being written) applied over
//! it ([`PendingStatus::overlay`]); a write that fails is retried with
//! backoff; and a process that dies (or loses its lease) with changes
//! waiting leaves Jobs whose names are those of their slots, which the next
//! leader's creates find (AlreadyExists) and record.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use tokio::sync::Notify;

use crate::model::{Kind, Scheduled};
use crate::planner::StatusDelta;

/// The longest a status change waits behind creates. The time until every
/// status of a burst is written is therefore at most the burst's create
/// time or this, whichever is longer, plus the writes themselves.
pub const MAX_DEFER: Duration = Duration::from_secs(30);
/// A create started this recently counts as in flight: between two syncs of
/// a burst there is no create for a moment, and a write slipped into that
/// moment would compete with the next one.
pub const QUIET_AFTER_CREATE: Duration = Duration::from_millis(100);
/// Status writes in flight at once, per served kind.
pub const WRITE_CONCURRENCY: usize = 16;

/// Counts the Job creates in flight across the process.
#[derive(Default)]
pub struct CreateGate {
    in_flight: AtomicUsize,
    /// Milliseconds since `epoch` when the last create started.
    last_start_ms: AtomicU64,
    epoch: std::sync::OnceLock<Instant>,
    quiet: Notify,
}

/// Held while a create is in flight.
pub struct Creating<'a>(&'a CreateGate);

impl Drop for Creating<'_> {
    fn drop(&mut self) {
        if self.0.in_flight.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.0.quiet.notify_waiters();
        }
    }
}

impl CreateGate {
    fn now_ms(&self) -> u64 {
        let epoch = *self.epoch.get_or_init(Instant::now);
        u64::try_from(epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Marks a create in flight until the guard is dropped.
    pub fn creating(&self) -> Creating<'_> {
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        self.last_start_ms.store(self.now_ms(), Ordering::SeqCst);
        Creating(self)
    }

    /// How long until creates have been quiet for [`QUIET_AFTER_CREATE`]
    /// (zero when they are).
    fn busy_for(&self) -> Duration {
        if self.in_flight.load(Ordering::SeqCst) > 0 {
            return QUIET_AFTER_CREATE;
        }
        let since = self
            .now_ms()
            .saturating_sub(self.last_start_ms.load(Ordering::SeqCst));
        QUIET_AFTER_CREATE.saturating_sub(Duration::from_millis(since))
    }
}

/// One object's status changes not yet written.
struct Pending {
    kind: Kind,
    namespace: String,
    name: String,
    /// Changes not yet handed to a writer.
    waiting: StatusDelta,
    /// Changes a writer is writing now.
    writing: Option<StatusDelta>,
    /// When the oldest waiting change came.
    since: Instant,
    failures: u32,
    /// No retry before this.
    not_before: Option<Instant>,
}

/// A change handed to a writer.
pub struct Batch {
    pub uid: String,
    pub namespace: String,
    pub name: String,
    pub delta: StatusDelta,
}

/// Status changes waiting to be written, by object UID, for every kind of
/// one scope.
#[derive(Default)]
pub struct PendingStatus {
    entries: Mutex<HashMap<String, Pending>>,
    added: Notify,
}

impl PendingStatus {
    /// Record `delta` for `object`, merged with what is waiting for it.
    pub fn add(&self, object: &Scheduled, delta: StatusDelta) {
        if delta.is_empty() {
            return;
        }
        let mut entries = self.entries.lock();
        let entry = entries
            .entry(object.uid.clone())
            .or_insert_with(|| Pending {
                kind: object.kind,
                namespace: object.namespace.clone(),
                name: object.name.clone(),
                waiting: StatusDelta::default(),
                writing: None,
                since: Instant::now(),
                failures: 0,
                not_before: None,
            });
        if entry.waiting.is_empty() {
            entry.since = Instant::now();
        }
        entry.waiting.merge(delta);
        drop(entries);
        self.added.notify_waiters();
    }

    /// `object`'s status as it is once what waits (or is being written) for
    /// it is written.
    pub fn overlay(&self, object: &mut Scheduled) {
        let entries = self.entries.lock();
        if let Some(p) = entries.get(&object.uid) {
            if let Some(w) = &p.writing {
                w.apply(&mut object.status);
            }
            p.waiting.apply(&mut object.status);
        }
    }

    /// Is anything waiting for this object?
    pub fn has(&self, uid: &str) -> bool {
        self.entries.lock().contains_key(uid)
    }

    /// Everything waiting, for a leader that lost its lease: the next
    /// leader works it out from the Jobs.
    pub fn clear(&self) {
        self.entries.lock().clear();
    }

    /// Hand the changes of `kind` that may be written now to a writer; or
    /// how long to wait before asking again (None: until something comes).
    fn take(
        &self,
        kind: Kind,
        gate: &CreateGate,
        force: bool,
    ) -> Result<Vec<Batch>, Option<Duration>> {
        let now = Instant::now();
        let busy = if force {
            Duration::ZERO
        } else {
            gate.busy_for()
        };
        let mut entries = self.entries.lock();
        let mut batch = Vec::new();
        let mut next: Option<Duration> = None;
        for (uid, p) in entries.iter_mut() {
            if p.kind != kind || p.writing.is_some() || p.waiting.is_empty() {
                continue;
            }
            let overdue = now.duration_since(p.since) >= MAX_DEFER;
            let retry_in = p
                .not_before
                .map_or(Duration::ZERO, |t| t.saturating_duration_since(now));
            let wait = if overdue {
                retry_in
            } else {
                retry_in.max(busy)
            };
            if wait.is_zero() {
                let delta = std::mem::take(&mut p.waiting);
                p.writing = Some(delta.clone());
                batch.push(Batch {
                    uid: uid.clone(),
                    namespace: p.namespace.clone(),
                    name: p.name.clone(),
                    delta,
                });
            } else {
                next = Some(next.map_or(wait, |n| n.min(wait)));
            }
        }
        if batch.is_empty() {
            Err(next)
        } else {
            Ok(batch)
        }
    }

    /// A writer finished `uid`'s change: done when `written`, else it waits
    /// again (before anything newer) and is retried with backoff.
    fn done(&self, uid: &str, written: bool) {
        let mut entries = self.entries.lock();
        let Some(p) = entries.get_mut(uid) else {
            return;
        };
        let attempted = p.writing.take().unwrap_or_default();
        if written {
            p.failures = 0;
            p.not_before = None;
            if p.waiting.is_empty() {
                entries.remove(uid);
            }
        } else {
            let mut retry = attempted;
            retry.merge(std::mem::take(&mut p.waiting));
            p.waiting = retry;
            p.failures = p.failures.saturating_add(1);
            let backoff =
                Duration::from_millis(500u64 << p.failures.min(8)).min(Duration::from_secs(60));
            p.not_before = Some(Instant::now() + backoff);
        }
    }

    /// Drop an object's changes (it was deleted).
    pub fn forget(&self, uid: &str) {
        self.entries.lock().remove(uid);
    }

    fn is_empty_for(&self, kind: Kind) -> bool {
        !self.entries.lock().values().any(|p| p.kind == kind)
    }
}

/// Writes the changes of one kind as they may be written, forever (or
/// until `stop` resolves, after a last attempt to write everything).
/// `write` writes one change and says whether it is done (written, or
/// moot: the object is gone).
pub async fn run<W, F>(
    kind: Kind,
    pending: &PendingStatus,
    gate: &CreateGate,
    write: W,
    stop: impl std::future::Future<Output = ()>,
) where
    W: Fn(Batch) -> F,
    F: std::future::Future<Output = (String, bool)>,
{
    use futures::StreamExt;
    tokio::pin!(stop);
    let mut stopping = false;
    loop {
        let added = pending.added.notified();
        tokio::pin!(added);
        added.as_mut().enable();
        match pending.take(kind, gate, stopping) {
            Ok(batch) => {
                let results: Vec<(String, bool)> = futures::stream::iter(batch)
                    .map(&write)
                    .buffer_unordered(WRITE_CONCURRENCY)
                    .collect()
                    .await;
                for (uid, written) in results {
                    pending.done(&uid, written);
                }
            }
            Err(wait) => {
                if stopping {
                    return;
                }
                let sleep = tokio::time::sleep(wait.unwrap_or(Duration::from_secs(3600)));
                tokio::select! {
                    _ = &mut stop => stopping = true,
                    _ = added => {}
                    _ = gate.quiet.notified() => {}
                    _ = sleep => {}
                }
            }
        }
        if stopping && pending.is_empty_for(kind) {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Kind, Scheduled};
    use jiff::Timestamp;

    fn object(uid: &str) -> Scheduled {
        let mut o = crate::objects::cronjob::decode(&serde_json::json!({
            "metadata": {"name": uid, "namespace": "ns", "uid": uid},
            "spec": {"schedule": "* * * * *"}
        }))
        .unwrap();
        o.kind = Kind::CronJob;
        o
    }

    fn at(s: i64) -> StatusDelta {
        StatusDelta {
            last_schedule_time: Timestamp::from_second(s).ok(),
            ..Default::default()
        }
    }

    #[test]
    fn changes_wait_while_creates_are_in_flight_and_merge() {
        let gate = CreateGate::default();
        let pending = PendingStatus::default();
        let guard = gate.creating();
        pending.add(&object("a"), at(60));
        pending.add(&object("a"), at(120));
        assert!(
            pending.take(Kind::CronJob, &gate, false).is_err(),
            "a create is in flight"
        );
        // The sync of the object still plans on the change.
        let mut o = object("a");
        pending.overlay(&mut o);
        assert_eq!(
            o.status.last_schedule_time,
            Timestamp::from_second(120).ok()
        );
        drop(guard);
        // Quiet for a moment only after the last create.
        assert!(pending.take(Kind::CronJob, &gate, false).is_err());
        std::thread::sleep(QUIET_AFTER_CREATE);
        let batch = pending.take(Kind::CronJob, &gate, false).unwrap();
        assert_eq!(batch.len(), 1, "one write carries both changes");
        assert_eq!(
            batch[0].delta.last_schedule_time,
            Timestamp::from_second(120).ok()
        );
        // While it is written, it still overlays; then it is gone.
        let mut o = object("a");
        pending.overlay(&mut o);
        assert_eq!(
            o.status.last_schedule_time,
            Timestamp::from_second(120).ok()
        );
        pending.done("a", true);
        assert!(!pending.has("a"));
    }

    #[test]
    fn a_failed_write_is_retried_before_newer_changes_with_backoff() {
        let gate = CreateGate::default();
        let pending = PendingStatus::default();
        pending.add(&object("a"), at(60));
        let batch = pending.take(Kind::CronJob, &gate, true).unwrap();
        pending.add(&object("a"), at(120));
        pending.done(&batch[0].uid, false);
        assert!(pending.has("a"));
        assert!(
            matches!(pending.take(Kind::CronJob, &gate, true), Err(Some(_))),
            "backing off"
        );
        let mut o = object("a");
        pending.overlay(&mut o);
        assert_eq!(
            o.status.last_schedule_time,
            Timestamp::from_second(120).ok()
        );
    }

    #[test]
    fn each_writer_takes_its_own_kind() {
        let gate = CreateGate::default();
        let pending = PendingStatus::default();
        let mut k = object("k");
        k.kind = Kind::KronJob;
        pending.add(&object("c"), at(60));
        pending.add(&k, at(60));
        let cronjobs = pending.take(Kind::CronJob, &gate, true).unwrap();
        assert_eq!(cronjobs.len(), 1);
        assert_eq!(cronjobs[0].uid, "c");
        assert_eq!(
            pending.take(Kind::KronJob, &gate, true).unwrap()[0].uid,
            "k"
        );
    }
}
