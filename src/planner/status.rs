//! CronJob status as a set of changes, so the same change can be applied to
//! the status we planned from and, after a 409 Conflict, to a fresh read of
//! the CronJob, without overwriting what another writer did.

use jiff::Timestamp;
use k8s_openapi::api::batch::v1::CronJobStatus;
use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

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

    /// Apply to `status`; returns whether anything changed.
    pub fn apply(&self, status: &mut CronJobStatus) -> bool {
        let mut changed = false;
        if let Some(active) = status.active.as_mut() {
            let before = active.len();
            active.retain(|r| !self.remove_active.iter().any(|u| Some(u) == r.uid.as_ref()));
            changed |= active.len() != before;
        }
        for r in &self.add_active {
            let active = status.active.get_or_insert_with(Vec::new);
            if !active.iter().any(|a| a.uid == r.uid) {
                active.push(r.clone());
                changed = true;
            }
        }
        changed |= advance(&mut status.last_schedule_time, self.last_schedule_time);
        changed |= advance(&mut status.last_successful_time, self.last_successful_time);
        changed
    }
}

fn advance(field: &mut Option<Time>, to: Option<Timestamp>) -> bool {
    match (field.as_ref(), to) {
        (_, None) => false,
        (Some(cur), Some(t)) if cur.0 >= t => false,
        (_, Some(t)) => {
            *field = Some(Time(t));
            true
        }
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
        let mut st = CronJobStatus {
            active: Some(vec![r("a"), r("b")]),
            ..Default::default()
        };
        let d = StatusDelta {
            remove_active: vec!["a".into()],
            add_active: vec![r("c"), r("b")],
            last_schedule_time: Some(ts(120)),
            last_successful_time: None,
        };
        assert!(d.apply(&mut st));
        let names: Vec<_> = st
            .active
            .as_ref()
            .unwrap()
            .iter()
            .map(|x| x.uid.clone().unwrap())
            .collect();
        assert_eq!(names, ["b", "c"]);
        assert_eq!(st.last_schedule_time, Some(Time(ts(120))));
        // Applying again changes nothing: idempotent, safe to retry after a conflict.
        assert!(!d.apply(&mut st));
    }

    #[test]
    fn never_moves_times_backwards() {
        let mut st = CronJobStatus {
            last_schedule_time: Some(Time(ts(600))),
            last_successful_time: Some(Time(ts(500))),
            ..Default::default()
        };
        let d = StatusDelta {
            last_schedule_time: Some(ts(60)),
            last_successful_time: Some(ts(400)),
            ..Default::default()
        };
        assert!(!d.apply(&mut st));
        assert_eq!(st.last_schedule_time, Some(Time(ts(600))));
    }
}
