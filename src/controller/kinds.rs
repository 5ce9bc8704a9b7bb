//! The kinds a replica serves, as the controller shell needs them: each
//! names its API and its adapter. Everything else (planner, sync, caches,
//! metrics) is the same code for every kind.

use serde_json::Value;

use crate::model::{Kind, Scheduled, Status};
use crate::objects::{FieldError, cronjob, kronjob};

/// One served kind.
pub trait ServedKind: Send + Sync + 'static {
    const KIND: Kind;

    /// The object's JSON as the planner's model.
    fn decode(v: &Value) -> Result<Scheduled, FieldError>;

    /// The status merge patch for what changed, if anything its status holds.
    fn status_patch(
        resource_version: Option<&str>,
        before: &Status,
        after: &Status,
    ) -> Option<Value>;

    /// A metadata patch for what its status cannot hold, if anything changed.
    fn metadata_patch(_before: &Status, _after: &Status) -> Option<Value> {
        None
    }
}

/// `batch/v1` CronJobs (drop-in mode).
pub struct CronJobs;

impl ServedKind for CronJobs {
    const KIND: Kind = Kind::CronJob;

    fn decode(v: &Value) -> Result<Scheduled, FieldError> {
        cronjob::decode(v)
    }

    fn status_patch(rv: Option<&str>, before: &Status, after: &Status) -> Option<Value> {
        cronjob::status_patch(rv, before, after)
    }

    /// The run-now token handled, as an annotation.
    fn metadata_patch(before: &Status, after: &Status) -> Option<Value> {
        cronjob::metadata_patch(before, after)
    }
}

/// `kronjob.dev/v1alpha1` KronJobs (resource mode).
pub struct KronJobs;

impl ServedKind for KronJobs {
    const KIND: Kind = Kind::KronJob;

    fn decode(v: &Value) -> Result<Scheduled, FieldError> {
        kronjob::decode(v)
    }

    fn status_patch(rv: Option<&str>, before: &Status, after: &Status) -> Option<Value> {
        kronjob::status_patch(rv, before, after)
    }
}
