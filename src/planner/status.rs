//! Status as a set of changes, so the same change can be applied to the
//! status we planned from and, after a 409 Conflict, to a fresh read of the
//! object, without overwriting what another writer did.

use std::collections::HashSet;

use jiff::Timestamp;
use k8s_openapi::api::core::v1::ObjectReference;

use crate::model::Status;

/// What one sync changes in `.status`.
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
}

impl StatusDelta {
    pub fn is_empty(&self) -> bool {
        *self == StatusDelta::default()
    }

    /// Add `other`'s changes to this delta.
    pub fn merge(&mut self, other: StatusDelta) {
        self.remove_active.extend(other.remove_active);
        self.add_active.extend(other.add_active);
        self.last_schedule_time = self.last_schedule_time.max(other.last_schedule_time);
        self.last_successful_time = self.last_successful_time.max(other.last_successful_time);
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
        changed
    }
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
            last_successful_time: None,
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
        let started = std::time::Instant::now();
        assert!(d.apply(&mut st));
        assert_eq!(st.active.len(), 15_000);
        // Quadratic work would be 10^8 string comparisons (seconds).
        assert!(started.elapsed() < std::time::Duration::from_millis(500));
    }
}
