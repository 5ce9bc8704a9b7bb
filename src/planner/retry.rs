//! When to retry a sync whose effects failed (a create refused with 403,
//! a quota exhausted, a webhook timing out).
//!
//! Exponential backoff (1 s doubling to 5 min) keeps a failing object from
//! looping hot, but a plain backoff can sleep past the moment a retry stops
//! helping: a create refused at a slot with a 50 s deadline is retried at
//! +1, +3, +7, +15, +31 s and next at +63 s, after the deadline, so a fault
//! repaired at +40 s still loses the slot. So the backoff is bounded twice:
//! - while a failed slot is still inside its deadline, retries come at least
//!   every half of the time left (a handful more tries, never a hot loop:
//!   at least [`MIN_RETRY`] apart);
//! - never later than the plan's own wake-up (the next slot), which a
//!   longer backoff would otherwise replace.

use std::time::Duration;

use jiff::{SignedDuration, Timestamp};

use super::{Effect, Plan, Trigger};
use crate::model::Scheduled;

/// The first retry; each further failure doubles it.
pub const FIRST_RETRY: Duration = Duration::from_secs(1);
/// The longest backoff.
pub const MAX_RETRY: Duration = Duration::from_secs(300);
/// Retries of a slot near its deadline are never closer than this.
pub const MIN_RETRY: Duration = Duration::from_secs(1);

/// What bounds the retry of one failed plan.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RetryBounds {
    /// The deadline of the earliest slot the plan was creating a Job for.
    pub slot_deadline: Option<Timestamp>,
    /// The plan's next wake-up.
    pub wake_at: Option<Timestamp>,
}

/// The bounds of retrying `plan`, planned for `object`.
pub fn bounds(plan: &Plan, object: &Scheduled) -> RetryBounds {
    let deadline = object
        .spec
        .starting_deadline_seconds
        .map(|d| SignedDuration::new(d, 0));
    let slot_deadline = plan
        .effects
        .iter()
        .filter_map(|e| match e {
            Effect::Create(c) if c.trigger == Trigger::Schedule => {
                deadline.and_then(|d| c.slot.checked_add(d).ok())
            }
            _ => None,
        })
        .min();
    RetryBounds {
        slot_deadline,
        wake_at: plan.wake_at,
    }
}

/// How long to wait before the `failures`-th retry (1 for the first).
pub fn delay(failures: u32, bounds: RetryBounds, now: Timestamp) -> Duration {
    let shift = failures.saturating_sub(1).min(16);
    let mut delay = FIRST_RETRY
        .checked_mul(1u32 << shift)
        .unwrap_or(MAX_RETRY)
        .min(MAX_RETRY);
    let until = |t: Timestamp| Duration::try_from(t.duration_since(now)).unwrap_or(Duration::ZERO);
    if let Some(deadline) = bounds.slot_deadline.filter(|d| *d > now) {
        let half = until(deadline).checked_div(2).unwrap_or_default();
        delay = delay.min(half.max(MIN_RETRY));
    }
    if let Some(wake) = bounds.wake_at {
        delay = delay.min(until(wake).max(Duration::from_millis(1)));
    }
    delay
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn unbounded_backoff_doubles_to_five_minutes() {
        let now = ts("2026-01-01T00:00:00Z");
        let got: Vec<u64> = (1..=12)
            .map(|n| delay(n, RetryBounds::default(), now).as_secs())
            .collect();
        assert_eq!(got, [1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300, 300]);
        assert_eq!(delay(u32::MAX, RetryBounds::default(), now), MAX_RETRY);
        assert_eq!(delay(0, RetryBounds::default(), now), FIRST_RETRY);
    }

    /// The case that lost a slot: refused from the slot on, repaired at
    /// +40 s, deadline 50 s. Retries keep coming until the deadline, the
    /// first after the repair well inside it.
    #[test]
    fn a_slot_inside_its_deadline_is_retried_until_the_deadline() {
        let slot = ts("2026-01-01T00:01:00Z");
        let bounds = RetryBounds {
            slot_deadline: Some(ts("2026-01-01T00:01:50Z")),
            wake_at: Some(ts("2026-01-01T00:02:00Z")),
        };
        let mut now = slot;
        let mut tries = vec![];
        for n in 1..=20 {
            now = now + SignedDuration::try_from(delay(n, bounds, now)).unwrap();
            if now > ts("2026-01-01T00:01:50Z") {
                break;
            }
            tries.push(now.duration_since(slot).as_secs_f64());
        }
        let after_repair = tries.iter().find(|t| **t >= 40.0).copied();
        assert!(after_repair.is_some_and(|t| t < 46.0), "tries at {tries:?}");
        // Never a hot loop: at most a dozen tries inside 50 s, 1 s apart.
        assert!(tries.len() <= 12, "tries at {tries:?}");
        assert!(
            tries.windows(2).all(|w| w[1] - w[0] >= 0.999),
            "tries at {tries:?}"
        );
    }

    #[test]
    fn a_backoff_never_sleeps_past_the_next_slot() {
        let now = ts("2026-01-01T00:01:00Z");
        let bounds = RetryBounds {
            slot_deadline: None,
            wake_at: Some(ts("2026-01-01T00:01:20Z")),
        };
        assert_eq!(delay(10, bounds, now), Duration::from_secs(20));
        assert_eq!(delay(1, bounds, now), Duration::from_secs(1));
        // A wake-up already due: retried at once, never with a zero delay.
        let late = ts("2026-01-01T00:01:30Z");
        assert_eq!(delay(10, bounds, late), Duration::from_millis(1));
    }

    #[test]
    fn a_deadline_already_past_leaves_the_plain_backoff() {
        let now = ts("2026-01-01T00:02:00Z");
        let bounds = RetryBounds {
            slot_deadline: Some(ts("2026-01-01T00:01:50Z")),
            wake_at: None,
        };
        assert_eq!(delay(6, bounds, now), Duration::from_secs(32));
    }
}
