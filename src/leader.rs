//! Leader election on a `coordination.k8s.io/v1` Lease, with client-go's
//! semantics: a holder renews every retry period and steps down as soon as
//! it has failed to renew for the renew deadline; a candidate takes the
//! Lease only after watching it go unrenewed for a whole lease duration on
//! its own monotonic clock (so clock skew between nodes cannot cause two
//! leaders), or at once when the holder released it.
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
use tracing::{info, warn};

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

/// May `identity` write itself into the Lease now?
pub fn may_acquire(observed: Option<&Observation>, identity: &str, now: Instant) -> bool {
    match observed {
        None => true,
        Some(o) => match o.holder.as_deref() {
            None | Some("") => true,
            Some(h) if h == identity => true,
            Some(_) => now >= o.seen_changing_at + o.lease_duration,
        },
    }
}

/// Runs the election until `shutdown` resolves, publishing leadership on
/// the returned channel. On shutdown a held Lease is released so a standby
/// takes over at once.
pub struct Elector {
    api: Api<Lease>,
    config: LeaderConfig,
    observed: Option<Observation>,
    tx: watch::Sender<bool>,
}

impl Elector {
    pub fn new(client: Client, config: LeaderConfig) -> (Self, watch::Receiver<bool>) {
        let (tx, rx) = watch::channel(false);
        let api = Api::namespaced(client, &config.namespace);
        (
            Elector {
                api,
                config,
                observed: None,
                tx,
            },
            rx,
        )
    }

    pub async fn run(mut self, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        let mut last_renewed = Instant::now();
        loop {
            let leading = *self.tx.borrow();
            let ok = tokio::select! {
                _ = &mut shutdown => break,
                r = self.try_acquire_or_renew() => r,
            };
            let now = Instant::now();
            match (leading, ok) {
                (false, true) => {
                    info!(lease = %self.config.lease_name, identity = %self.config.identity, "became leader");
                    last_renewed = now;
                    self.tx.send_replace(true);
                }
                (true, true) => last_renewed = now,
                (true, false) if self.held_by_another() => {
                    warn!(lease = %self.config.lease_name, "another replica holds the lease; stepping down");
                    self.tx.send_replace(false);
                }
                (true, false) if now.duration_since(last_renewed) >= self.config.renew_deadline => {
                    warn!(lease = %self.config.lease_name, "could not renew the lease within the renew deadline; stepping down");
                    self.tx.send_replace(false);
                }
                _ => {}
            }
            tokio::select! {
                _ = &mut shutdown => break,
                _ = tokio::time::sleep(self.config.retry_period) => {}
            }
        }
        if *self.tx.borrow() {
            self.tx.send_replace(false);
            self.release().await;
        }
    }

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
            Ok(_) => info!(lease = %self.config.lease_name, "released the lease"),
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
        assert!(may_acquire(None, "a", t0));
        assert!(may_acquire(Some(&obs(None, t0)), "a", t0));
        assert!(may_acquire(Some(&obs(Some(""), t0)), "a", t0));
        assert!(may_acquire(Some(&obs(Some("a"), t0)), "a", t0));
    }

    #[test]
    fn takes_anothers_lease_only_after_a_full_unrenewed_duration() {
        let t0 = Instant::now();
        let o = obs(Some("b"), t0);
        assert!(!may_acquire(Some(&o), "a", t0));
        assert!(!may_acquire(
            Some(&o),
            "a",
            t0 + Duration::from_millis(14_999)
        ));
        assert!(may_acquire(Some(&o), "a", t0 + Duration::from_secs(15)));
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
