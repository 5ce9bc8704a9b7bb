//! Leader election on a `coordination.k8s.io/v1` Lease, with client-go's
//! semantics: a holder renews every retry period and steps down as soon as
//! it has failed to renew for the renew deadline; a candidate takes the
//! Lease only after watching it go unrenewed for a whole lease duration on
//! its own monotonic clock (so clock skew between nodes cannot cause two
//! leaders), or at once when the holder released it.
//!
//! Every round is bounded in time ([`Timing`]): a request that hangs (a
//! partition, a stalled connection) cannot keep a leader acting past its
//! renew deadline, the way client-go bounds its renew loop with a context
//! timeout. The deadline counts from the *start* of the last successful
//! round, so it holds even when the reply came late.
//!
//! Written here rather than taken from kube-lease-manager because that
//! crate keeps reporting leadership while renewals fail; a partitioned
//! leader must stop acting before a standby's takeover can begin.

use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use kube::api::PostParams;
use kube::{Api, Client};
use tokio::sync::watch;
use tokio::time::Instant;
use tracing::{Instrument, info, warn};

use crate::controller::api_errors;

#[derive(Clone, Debug)]
pub struct LeaderConfig {
    pub lease_name: String,
    pub namespace: String,
    pub identity: String,
    pub lease_duration: Duration,
    pub renew_deadline: Duration,
    pub retry_period: Duration,
}

impl LeaderConfig {
    pub fn validate(&self) -> Result<(), String> {
        if self.lease_duration <= self.renew_deadline {
            return Err("lease duration must be greater than renew deadline".into());
        }
        if self.renew_deadline <= self.retry_period {
            return Err("renew deadline must be greater than retry period".into());
        }
        if self.lease_duration.as_secs() < 1 {
            return Err("lease duration must be at least 1s".into());
        }
        Ok(())
    }
}

/// The last Lease record seen and when (on our monotonic clock) it changed.
#[derive(Clone, Debug)]
pub struct Observation {
    pub holder: Option<String>,
    pub renew_time: Option<Timestamp>,
    pub lease_duration: Duration,
    pub seen_changing_at: Instant,
}

/// May `identity` write itself into the Lease now? After stepping down
/// (`yielded`) a replica treats a Lease still naming it like anyone else's:
/// it waits for it to go unrenewed for a lease duration. Otherwise a
/// partitioned replica whose slow requests still land would keep renewing
/// its old record, and a healthy standby could never take over (found by
/// the chaos suite's slow partition).
pub fn may_acquire(
    observed: Option<&Observation>,
    identity: &str,
    now: Instant,
    yielded: bool,
) -> bool {
    match observed {
        None => true,
        Some(o) => match o.holder.as_deref() {
            None | Some("") => true,
            Some(h) if h == identity && !yielded => true,
            Some(_) => now >= o.seen_changing_at + o.lease_duration,
        },
    }
}

/// The time rules of the election, apart from any I/O.
#[derive(Clone, Copy, Debug)]
pub struct Timing {
    pub renew_deadline: Duration,
    pub retry_period: Duration,
}

impl Timing {
    /// When a leader must have stepped down: the renew deadline after the
    /// start of its last successful round. Counting from the start, not the
    /// reply, keeps this safe against late replies: the renewTime a standby
    /// saw was written after that start, and the standby waits a whole lease
    /// duration (longer than the renew deadline) from when it saw it.
    pub fn step_down_at(&self, renewed_at: Instant) -> Instant {
        renewed_at + self.renew_deadline
    }

    /// The latest a round started at `now` may end. A leader's round ends
    /// at its step-down time; a candidate's after the renew deadline, as
    /// client-go's leader-election client times out its requests.
    pub fn round_deadline(&self, renewed_at: Option<Instant>, now: Instant) -> Instant {
        match renewed_at {
            Some(at) => self.step_down_at(at),
            None => now + self.renew_deadline,
        }
    }

    /// When the next round starts: a retry period after the last one
    /// started (at once if it took longer), but a leader wakes at its
    /// step-down time if that comes first. Spacing rounds by their starts
    /// lets a leader whose requests are slow, but each within half the renew
    /// deadline, keep renewing in time.
    pub fn next_round(
        &self,
        renewed_at: Option<Instant>,
        started: Instant,
        now: Instant,
    ) -> Instant {
        let next = (started + self.retry_period).max(now);
        match renewed_at {
            Some(at) => next.min(self.step_down_at(at)),
            None => next,
        }
    }
}

/// What one acquire-or-renew round found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Round {
    /// We hold the Lease: created, taken over or renewed just now.
    Held,
    /// Another replica holds it and it has not expired.
    HeldByAnother,
    /// The round failed or timed out; who holds the Lease is unknown.
    Failed,
}

/// One side of the election: a round of acquire-or-renew, and a release.
/// The Lease API in production; a script in the unit tests.
pub trait Candidate {
    fn round(&mut self) -> impl Future<Output = Round>;
    fn release(&mut self) -> impl Future<Output = ()>;
    /// This replica stepped down: it may not take its old record back
    /// before a standby could (see [`may_acquire`]).
    fn stepped_down(&mut self) {}
}

/// Leave leadership: no longer leading, say so on `tx`, and tell the
/// candidate, which may not take its old record back before a standby could.
fn step_down(
    candidate: &mut impl Candidate,
    renewed_at: &mut Option<Instant>,
    tx: &watch::Sender<bool>,
    why: &str,
) {
    warn!("{why}; stepping down");
    *renewed_at = None;
    tx.send_replace(false);
    candidate.stepped_down();
}

/// Run rounds until `shutdown` resolves, publishing leadership on `tx`.
/// On shutdown a held Lease is released (within the renew deadline) so a
/// standby takes over at once.
pub async fn elect(
    mut candidate: impl Candidate,
    timing: Timing,
    tx: watch::Sender<bool>,
    shutdown: impl Future<Output = ()>,
) {
    tokio::pin!(shutdown);
    // While leading: when the last successful round started.
    let mut renewed_at: Option<Instant> = None;
    loop {
        let started = Instant::now();
        let deadline = timing.round_deadline(renewed_at, started);
        let round = tokio::select! {
            _ = &mut shutdown => break,
            r = tokio::time::timeout_at(deadline, candidate.round()) => r.unwrap_or_else(|_| {
                warn!(timeout = ?deadline.duration_since(started), "lease request timed out");
                Round::Failed
            }),
        };
        match (renewed_at, round) {
            (None, Round::Held) => {
                info!("became leader");
                renewed_at = Some(started);
                tx.send_replace(true);
            }
            (Some(_), Round::Held) => renewed_at = Some(started),
            (Some(_), Round::HeldByAnother) => step_down(
                &mut candidate,
                &mut renewed_at,
                &tx,
                "another replica holds the lease",
            ),
            (Some(at), _) if Instant::now() >= timing.step_down_at(at) => step_down(
                &mut candidate,
                &mut renewed_at,
                &tx,
                "could not renew the lease within the renew deadline",
            ),
            _ => {}
        }
        let wake = timing.next_round(renewed_at, started, Instant::now());
        tokio::select! {
            _ = &mut shutdown => break,
            _ = tokio::time::sleep_until(wake) => {}
        }
        if let Some(at) = renewed_at
            && Instant::now() >= timing.step_down_at(at)
        {
            step_down(
                &mut candidate,
                &mut renewed_at,
                &tx,
                "could not renew the lease within the renew deadline",
            );
        }
    }
    if renewed_at.is_some() {
        info!("shutting down; stepping down");
        tx.send_replace(false);
        if tokio::time::timeout(timing.renew_deadline, candidate.release())
            .await
            .is_err()
        {
            warn!("releasing the lease timed out");
        }
    }
}

/// The production election on a Lease; see [`elect`].
pub struct Elector {
    lease: LeaseCandidate,
    tx: watch::Sender<bool>,
}

/// Acquire-or-renew and release against the Lease API.
struct LeaseCandidate {
    api: Api<Lease>,
    config: LeaderConfig,
    observed: Option<Observation>,
    /// Stepped down and not leader again since (see [`may_acquire`]).
    yielded: bool,
}

impl Elector {
    pub fn new(client: Client, config: LeaderConfig) -> (Self, watch::Receiver<bool>) {
        let (tx, rx) = watch::channel(false);
        let api = Api::namespaced(client, &config.namespace);
        (
            Elector {
                lease: LeaseCandidate {
                    api,
                    config,
                    observed: None,
                    yielded: false,
                },
                tx,
            },
            rx,
        )
    }

    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        let timing = Timing {
            renew_deadline: self.lease.config.renew_deadline,
            retry_period: self.lease.config.retry_period,
        };
        let span = tracing::info_span!(
            "leader",
            lease = %self.lease.config.lease_name,
            identity = %self.lease.config.identity
        );
        elect(self.lease, timing, self.tx, shutdown)
            .instrument(span)
            .await
    }
}

impl Candidate for LeaseCandidate {
    async fn round(&mut self) -> Round {
        if self.try_acquire_or_renew().await {
            Round::Held
        } else if self.held_by_another() {
            Round::HeldByAnother
        } else {
            Round::Failed
        }
    }

    async fn release(&mut self) {
        LeaseCandidate::release(self).await
    }

    fn stepped_down(&mut self) {
        self.yielded = true;
    }
}

impl LeaseCandidate {
    fn held_by_another(&self) -> bool {
        self.observed
            .as_ref()
            .and_then(|o| o.holder.as_deref())
            .is_some_and(|h| !h.is_empty() && h != self.config.identity)
    }

    fn observe(&mut self, lease: &Lease) {
        let spec = lease.spec.clone().unwrap_or_default();
        let holder = spec.holder_identity.clone();
        let renew_time = spec.renew_time.as_ref().map(|t| t.0);
        let changed = self
            .observed
            .as_ref()
            .is_none_or(|o| o.holder != holder || o.renew_time != renew_time);
        if changed {
            self.observed = Some(Observation {
                holder,
                renew_time,
                lease_duration: Duration::from_secs(
                    spec.lease_duration_seconds.unwrap_or(15).max(1) as u64,
                ),
                seen_changing_at: Instant::now(),
            });
        }
    }

    fn desired_spec(&self, current: Option<&LeaseSpec>) -> LeaseSpec {
        let now = MicroTime(Timestamp::now());
        let held_by_us = current.and_then(|s| s.holder_identity.as_deref())
            == Some(self.config.identity.as_str());
        let transitions = current.and_then(|s| s.lease_transitions).unwrap_or(0);
        LeaseSpec {
            holder_identity: Some(self.config.identity.clone()),
            lease_duration_seconds: Some(self.config.lease_duration.as_secs() as i32),
            acquire_time: if held_by_us {
                current.and_then(|s| s.acquire_time.clone())
            } else {
                Some(now.clone())
            },
            renew_time: Some(now),
            lease_transitions: Some(if held_by_us || current.is_none() {
                transitions
            } else {
                transitions + 1
            }),
            ..Default::default()
        }
    }

    /// One round: create, take over, or renew the Lease; false on any failure.
    async fn try_acquire_or_renew(&mut self) -> bool {
        let current = match self.api.get_opt(&self.config.lease_name).await {
            Ok(c) => c,
            Err(e) => {
                warn!(error = %e, "could not read the lease");
                return false;
            }
        };
        let Some(mut lease) = current else {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(self.config.lease_name.clone()),
                    namespace: Some(self.config.namespace.clone()),
                    ..Default::default()
                },
                spec: Some(self.desired_spec(None)),
            };
            return match self.api.create(&PostParams::default(), &lease).await {
                Ok(created) => {
                    self.observe(&created);
                    self.yielded = false;
                    true
                }
                Err(e) => {
                    if !api_errors::is_already_exists(&e) {
                        warn!(error = %e, "could not create the lease");
                    }
                    false
                }
            };
        };
        self.observe(&lease);
        if !may_acquire(
            self.observed.as_ref(),
            &self.config.identity,
            Instant::now(),
            self.yielded,
        ) {
            return false;
        }
        lease.spec = Some(self.desired_spec(lease.spec.as_ref()));
        // replace() carries the resourceVersion we read: a concurrent writer
        // makes this fail with 409 instead of being overwritten.
        match self
            .api
            .replace(&self.config.lease_name, &PostParams::default(), &lease)
            .await
        {
            Ok(updated) => {
                self.observe(&updated);
                self.yielded = false;
                true
            }
            Err(e) => {
                if !api_errors::is_conflict(&e) {
                    warn!(error = %e, "could not update the lease");
                }
                false
            }
        }
    }

    /// Give the Lease up so a standby need not wait for it to expire.
    async fn release(&self) {
        let Ok(Some(mut lease)) = self.api.get_opt(&self.config.lease_name).await else {
            return;
        };
        let spec = lease.spec.get_or_insert_with(Default::default);
        if spec.holder_identity.as_deref() != Some(self.config.identity.as_str()) {
            return;
        }
        spec.holder_identity = None;
        spec.lease_duration_seconds = Some(1);
        spec.renew_time = Some(MicroTime(Timestamp::now()));
        match self
            .api
            .replace(&self.config.lease_name, &PostParams::default(), &lease)
            .await
        {
            Ok(_) => info!("released the lease"),
            Err(e) => warn!(error = %e, "could not release the lease"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obs(holder: Option<&str>, at: Instant) -> Observation {
        Observation {
            holder: holder.map(str::to_owned),
            renew_time: None,
            lease_duration: Duration::from_secs(15),
            seen_changing_at: at,
        }
    }

    #[test]
    fn acquires_free_released_or_own_leases() {
        let t0 = Instant::now();
        assert!(may_acquire(None, "a", t0, false));
        assert!(may_acquire(Some(&obs(None, t0)), "a", t0, false));
        assert!(may_acquire(Some(&obs(Some(""), t0)), "a", t0, false));
        assert!(may_acquire(Some(&obs(Some("a"), t0)), "a", t0, false));
    }

    /// A replica that stepped down waits for its own old record to expire,
    /// as a standby does, instead of renewing it at once.
    #[test]
    fn after_stepping_down_its_own_lease_is_like_anothers() {
        let t0 = Instant::now();
        let own = obs(Some("a"), t0);
        assert!(!may_acquire(Some(&own), "a", t0, true));
        assert!(!may_acquire(
            Some(&own),
            "a",
            t0 + Duration::from_millis(14_999),
            true
        ));
        assert!(may_acquire(
            Some(&own),
            "a",
            t0 + Duration::from_secs(15),
            true
        ));
        assert!(may_acquire(Some(&obs(None, t0)), "a", t0, true));
    }

    #[test]
    fn takes_anothers_lease_only_after_a_full_unrenewed_duration() {
        let t0 = Instant::now();
        let o = obs(Some("b"), t0);
        assert!(!may_acquire(Some(&o), "a", t0, false));
        assert!(!may_acquire(
            Some(&o),
            "a",
            t0 + Duration::from_millis(14_999),
            false
        ));
        assert!(may_acquire(
            Some(&o),
            "a",
            t0 + Duration::from_secs(15),
            false
        ));
    }

    /// A candidate playing a script: each round takes the given time and
    /// then returns the outcome, or hangs forever (`None`). Past the end of
    /// the script every round hangs.
    struct Script {
        rounds: std::collections::VecDeque<(Duration, Option<Round>)>,
        started: std::sync::Arc<std::sync::Mutex<Vec<Instant>>>,
        released: std::sync::Arc<std::sync::atomic::AtomicBool>,
    }

    impl Candidate for Script {
        async fn round(&mut self) -> Round {
            self.started.lock().unwrap().push(Instant::now());
            match self.rounds.pop_front() {
                Some((took, Some(r))) => {
                    tokio::time::sleep(took).await;
                    r
                }
                _ => std::future::pending().await,
            }
        }
        async fn release(&mut self) {
            self.released
                .store(true, std::sync::atomic::Ordering::SeqCst);
        }
    }

    const TIMING: Timing = Timing {
        renew_deadline: Duration::from_secs(10),
        retry_period: Duration::from_secs(3),
    };

    struct Run {
        /// (time since start, leading) at each change of leadership.
        changes: Vec<(Duration, bool)>,
        /// Start of each round, since the start.
        rounds: Vec<Duration>,
        released: bool,
    }

    /// Run the election on a script for `for_` (paused clock), then shut down.
    async fn run_script(rounds: Vec<(Duration, Option<Round>)>, for_: Duration) -> Run {
        let t0 = Instant::now();
        let started = std::sync::Arc::new(std::sync::Mutex::new(vec![]));
        let released = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let script = Script {
            rounds: rounds.into(),
            started: started.clone(),
            released: released.clone(),
        };
        let (tx, mut rx) = watch::channel(false);
        let watcher = tokio::spawn(async move {
            let mut changes = vec![];
            while rx.changed().await.is_ok() {
                changes.push((Instant::now() - t0, *rx.borrow_and_update()));
            }
            changes
        });
        elect(script, TIMING, tx, tokio::time::sleep(for_)).await;
        let changes = watcher.await.unwrap();
        let rounds = started.lock().unwrap().iter().map(|i| *i - t0).collect();
        Run {
            changes,
            rounds,
            released: released.load(std::sync::atomic::Ordering::SeqCst),
        }
    }

    fn secs(s: f64) -> Duration {
        Duration::from_secs_f64(s)
    }

    #[tokio::test(start_paused = true)]
    async fn a_leader_whose_renewal_hangs_steps_down_at_the_renew_deadline() {
        // Leads at once (the round took 0.5 s), then every request hangs.
        let run = run_script(vec![(secs(0.5), Some(Round::Held))], secs(60.0)).await;
        assert_eq!(run.changes, vec![(secs(0.5), true), (secs(10.0), false)]);
        // The hung renewal (started at 3 s) was abandoned at the deadline,
        // and the candidate tries again at once: its retry period is over.
        assert_eq!(run.rounds[..3], [secs(0.0), secs(3.0), secs(10.0)]);
    }

    #[tokio::test(start_paused = true)]
    async fn the_deadline_counts_from_the_start_of_the_last_successful_round() {
        // The renewal at 3 s answers 4 s late; the next one (at once, at 7 s)
        // hangs. The leader must stop 10 s after the start of the last
        // successful renewal (13 s), not 10 s after its reply (17 s).
        let run = run_script(
            vec![
                (secs(1.5), Some(Round::Held)),
                (secs(4.0), Some(Round::Held)),
            ],
            secs(60.0),
        )
        .await;
        assert_eq!(run.rounds[..3], [secs(0.0), secs(3.0), secs(7.0)]);
        assert_eq!(run.changes, vec![(secs(1.5), true), (secs(13.0), false)]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_leader_whose_renewals_take_under_half_the_deadline_keeps_leading() {
        let slow = (secs(4.9), Some(Round::Held));
        let run = run_script(vec![slow; 12], secs(50.0)).await;
        assert_eq!(run.changes, vec![(secs(4.9), true), (secs(50.0), false)]);
    }

    #[tokio::test(start_paused = true)]
    async fn failing_renewals_step_down_at_the_deadline_not_a_retry_period_later() {
        // Renewals fail fast at 3, 6 and 9 s; the next would start at 12 s,
        // after the deadline: the leader wakes and stops at 10 s.
        let fail = (Duration::ZERO, Some(Round::Failed));
        let run = run_script(
            vec![(Duration::ZERO, Some(Round::Held)), fail, fail, fail, fail],
            secs(20.0),
        )
        .await;
        assert_eq!(run.changes, vec![(secs(0.0), true), (secs(10.0), false)]);
        assert_eq!(
            run.rounds[..5],
            [secs(0.0), secs(3.0), secs(6.0), secs(9.0), secs(10.0)]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_leader_steps_down_at_once_when_another_holds_the_lease() {
        let run = run_script(
            vec![
                (Duration::ZERO, Some(Round::Held)),
                (secs(0.2), Some(Round::HeldByAnother)),
            ],
            secs(5.0),
        )
        .await;
        assert_eq!(run.changes, vec![(secs(0.0), true), (secs(3.2), false)]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_candidates_hung_round_is_abandoned_after_the_renew_deadline() {
        let run = run_script(
            vec![
                (secs(3600.0), Some(Round::Held)), // hangs past its deadline
                (secs(1.0), Some(Round::Held)),
            ],
            secs(20.0),
        )
        .await;
        assert_eq!(run.rounds[..2], [secs(0.0), secs(10.0)]);
        // The late "success" of the first round never counted.
        assert_eq!(run.changes[0], (secs(11.0), true));
    }

    #[tokio::test(start_paused = true)]
    async fn shutdown_steps_down_and_releases() {
        let held = (Duration::ZERO, Some(Round::Held));
        let run = run_script(vec![held, held, held], secs(7.0)).await;
        assert_eq!(run.changes, vec![(secs(0.0), true), (secs(7.0), false)]);
        assert!(run.released);
        let run = run_script(vec![(Duration::ZERO, Some(Round::Failed))], secs(1.0)).await;
        assert!(
            run.changes.is_empty() && !run.released,
            "nothing to release"
        );
    }

    #[test]
    fn config_durations_must_nest() {
        let mut c = LeaderConfig {
            lease_name: "kronjob".into(),
            namespace: "ns".into(),
            identity: "a".into(),
            lease_duration: Duration::from_secs(15),
            renew_deadline: Duration::from_secs(10),
            retry_period: Duration::from_secs(2),
        };
        assert!(c.validate().is_ok());
        c.renew_deadline = Duration::from_secs(15);
        assert!(c.validate().is_err());
        c.renew_deadline = Duration::from_secs(1);
        assert!(c.validate().is_err());
    }
}
