//! Status as a set of changes, so the same change can be applied to the
//! status we planned from and, after a 409 Conflict, to a fresh read of the
//! object, without overwriting what another writer did.

use std::collections::HashSet;

use jiff::Timestamp;
use k8s_openapi::api::core::v1::ObjectReference;

use crate::model::{Condition, LastRun, Status};

/// What one sync changes in `.status`. The list and the times merge with
/// what another writer did meanwhile (times only move forwards); the rest
/// is set.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StatusDelta {
    /// UIDs of Jobs to drop from `status.active`.
    pub remove_active: Vec<String>,
    /// Job references to add to `status.active` (skipped if the UID is there).
    pub add_active: Vec<ObjectReference>,
    /// New `lastScheduleTime`; applied only if later than the current one.
    pub last_schedule_time: Option<Timestamp>,
    /// New `lastSuccessfulTime`; applied only if later than the current one.
    pub last_successful_time: Option<Timestamp>,
    /// New `lastFailureTime`; applied only if later than the current one.
    pub last_failure_time: Option<Timestamp>,
    /// `Some(t)`: set `nextScheduleTime` to `t` (None: no timer).
    pub next_schedule_time: Option<Option<Timestamp>>,
    /// Set `lastRun`.
    pub last_run: Option<LastRun>,
    /// Record this run-now token as handled.
    pub run_now_token: Option<String>,
    /// Set `observedGeneration`.
    pub observed_generation: Option<i64>,
    /// Set the conditions from these inputs and the last run; each keeps
    /// its `lastTransitionTime` unless its status changes, when it becomes
    /// `conditions_at`.
    pub conditions: Option<super::conditions::Inputs>,
    pub conditions_at: Option<Timestamp>,
}

impl StatusDelta {
    pub fn is_empty(&self) -> bool {
        *self == StatusDelta::default()
    }

    /// Add `other`'s changes to this delta (what `other` sets wins).
    pub fn merge(&mut self, other: StatusDelta) {
        self.remove_active.extend(other.remove_active);
        self.add_active.extend(other.add_active);
        self.last_schedule_time = self.last_schedule_time.max(other.last_schedule_time);
        self.last_successful_time = self.last_successful_time.max(other.last_successful_time);
        self.last_failure_time = self.last_failure_time.max(other.last_failure_time);
        if other.next_schedule_time.is_some() {
            self.next_schedule_time = other.next_schedule_time;
        }
        if other.last_run.is_some() {
            self.last_run = other.last_run;
        }
        if other.run_now_token.is_some() {
            self.run_now_token = other.run_now_token;
        }
        if other.observed_generation.is_some() {
            self.observed_generation = other.observed_generation;
        }
        if other.conditions.is_some() {
            self.conditions = other.conditions;
            self.conditions_at = other.conditions_at;
        }
    }

    /// Apply to `status`, in time linear in the sizes of both; returns
    /// whether anything changed. Times never move backwards.
    pub fn apply(&self, status: &mut Status) -> bool {
        let before = status.active.len();
        if !self.remove_active.is_empty() {
            let remove: HashSet<&str> = self.remove_active.iter().map(String::as_str).collect();
            status
                .active
                .retain(|r| r.uid.as_deref().is_none_or(|u| !remove.contains(u)));
        }
        let mut changed = status.active.len() != before;
        let mut present: HashSet<Option<String>> =
            status.active.iter().map(|r| r.uid.clone()).collect();
        for r in &self.add_active {
            if present.insert(r.uid.clone()) {
                status.active.push(r.clone());
                changed = true;
            }
        }
        changed |= advance(&mut status.last_schedule_time, self.last_schedule_time);
        changed |= advance(&mut status.last_successful_time, self.last_successful_time);
        changed |= advance(&mut status.last_failure_time, self.last_failure_time);
        changed |= set(&mut status.next_schedule_time, self.next_schedule_time);
        changed |= set(&mut status.last_run, self.last_run.clone().map(Some));
        changed |= set(
            &mut status.run_now_token,
            self.run_now_token.clone().map(Some),
        );
        changed |= set(
            &mut status.observed_generation,
            self.observed_generation.map(Some),
        );
        if let Some(inputs) = &self.conditions {
            let wanted = super::conditions::conditions(inputs, status.last_run.as_ref());
            let merged = merge_conditions(&status.conditions, &wanted, self.conditions_at);
            changed |= set(&mut status.conditions, Some(merged));
        }
        changed
    }
}

fn set<T: PartialEq>(field: &mut T, to: Option<T>) -> bool {
    match to {
        Some(v) if *field != v => {
            *field = v;
            true
        }
        _ => false,
    }
}

/// The wanted conditions, each keeping the transition time it has now
/// unless its status changes (Kubernetes' condition conventions).
fn merge_conditions(
    current: &[Condition],
    wanted: &[Condition],
    at: Option<Timestamp>,
) -> Vec<Condition> {
    wanted
        .iter()
        .map(|w| {
            let since = current
                .iter()
                .find(|c| c.type_ == w.type_ && c.status == w.status)
                .and_then(|c| c.last_transition_time);
            Condition {
                last_transition_time: since.or(at),
                ..w.clone()
            }
        })
        .collect()
}

fn advance(field: &mut Option<Timestamp>, to: Option<Timestamp>) -> bool {
    match (*field, to) {
        (Some(cur), Some(t)) if cur >= t => false,
        (_, Some(t)) => {
            *field = Some(t);
            true
        }
        (_, None) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(uid: &str) -> ObjectReference {
        ObjectReference {
            uid: Some(uid.into()),
            name: Some(format!("job-{uid}")),
            ..Default::default()
        }
    }
    fn ts(s: i64) -> Timestamp {
        Timestamp::from_second(s).unwrap()
    }

    #[test]
    fn apply_removes_adds_and_advances() {
        let mut st = Status {
            active: vec![r("a"), r("b")],
            ..Default::default()
        };
        let d = StatusDelta {
            remove_active: vec!["a".into()],
            add_active: vec![r("c"), r("b")],
            last_schedule_time: Some(ts(120)),
            ..Default::default()
        };
        assert!(d.apply(&mut st));
        let uids: Vec<_> = st.active.iter().map(|x| x.uid.clone().unwrap()).collect();
        assert_eq!(uids, ["b", "c"]);
        assert_eq!(st.last_schedule_time, Some(ts(120)));
        // Applying again changes nothing: idempotent, safe to retry after a conflict.
        assert!(!d.apply(&mut st));
    }

    #[test]
    fn never_moves_times_backwards() {
        let mut st = Status {
            last_schedule_time: Some(ts(600)),
            last_successful_time: Some(ts(500)),
            ..Default::default()
        };
        let d = StatusDelta {
            last_schedule_time: Some(ts(60)),
            last_successful_time: Some(ts(400)),
            ..Default::default()
        };
        assert!(!d.apply(&mut st));
        assert_eq!(st.last_schedule_time, Some(ts(600)));
    }

    #[test]
    fn conditions_keep_their_transition_time_until_their_status_changes() {
        let inputs = |problem: Option<&str>| super::super::conditions::Inputs {
            schedule_problem: problem.map(|m| super::super::events::unparseable_schedule("x", m)),
            suspended: false,
            generation: 1,
        };
        let mut st = Status::default();
        let d = |i, at| StatusDelta {
            conditions: Some(i),
            conditions_at: Some(ts(at)),
            ..Default::default()
        };
        assert!(d(inputs(None), 100).apply(&mut st));
        assert!(!d(inputs(None), 200).apply(&mut st));
        let valid = &st.conditions[0];
        assert_eq!(
            (valid.type_.as_str(), valid.status.as_str()),
            ("ScheduleValid", "True")
        );
        assert_eq!(valid.last_transition_time, Some(ts(100)));
        assert!(d(inputs(Some("bad")), 300).apply(&mut st));
        let invalid = &st.conditions[0];
        assert_eq!(
            (invalid.status.as_str(), invalid.reason.as_str()),
            ("False", "UnparseableSchedule")
        );
        assert_eq!(invalid.last_transition_time, Some(ts(300)));
        assert_eq!(
            st.conditions[1].last_transition_time,
            Some(ts(100)),
            "Suspended did not change"
        );
    }

    #[test]
    fn ten_thousand_entries_apply_in_linear_time() {
        let mut st = Status {
            active: (0..10_000).map(|i| r(&i.to_string())).collect(),
            ..Default::default()
        };
        let d = StatusDelta {
            remove_active: (0..10_000).step_by(2).map(|i| i.to_string()).collect(),
            add_active: (10_000..20_000).map(|i| r(&i.to_string())).collect(),
            ..Default::default()
        };
        let (changed, took) = crate::cpu_clock::cpu_time_of(|| d.apply(&mut st));
        assert!(changed);
        assert_eq!(st.active.len(), 15_000);
        // Quadratic work would be 10^8 string comparisons (seconds); CPU
        // time, so a loaded machine does not count.
        assert!(took < std::time::Duration::from_millis(500), "{took:?}");
    }
}
