//! The API objects kronjob reads and writes, converted to and from the
//! planner's model ([`crate::model`]): one adapter per kind ([`cronjob`],
//! [`job`]) over shared lenient readers ([`fields`], [`time`]).
//!
//! Decoding is per object and never panics: a field of the wrong type makes
//! that one object undecodable (reported, skipped), and an instant the API
//! server accepts but jiff cannot hold is clamped ([`time`]).

// Input from the API reaches every line here: no unchecked arithmetic,
// indexing, unwrap or panic outside the tests.
#![cfg_attr(
    not(test),
    warn(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::indexing_slicing,
        clippy::panic,
        clippy::arithmetic_side_effects
    )
)]

pub mod cronjob;
pub mod fields;
pub mod job;
pub mod kronjob;
pub mod time;

#[cfg(test)]
mod proptests;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde_json::Value;

pub use fields::FieldError;

/// Who an object is, read as far as it can be: enough to key it in a cache
/// and to report it when the rest cannot be decoded.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Identity {
    pub name: String,
    pub namespace: String,
    pub uid: String,
    pub resource_version: Option<String>,
    pub generation: i64,
}

impl Identity {
    /// Never fails: a field of the wrong type reads as absent.
    pub fn of(v: &Value) -> Identity {
        let s = |key| fields::string(v, &["metadata", key]).ok().flatten();
        Identity {
            name: s("name").unwrap_or_default(),
            namespace: s("namespace").unwrap_or_default(),
            uid: s("uid").unwrap_or_default(),
            resource_version: s("resourceVersion"),
            generation: fields::integer(v, &["metadata", "generation"])
                .ok()
                .flatten()
                .unwrap_or(0),
        }
    }

    /// The metadata a kube-runtime cache keys objects by.
    pub fn object_meta(&self) -> ObjectMeta {
        let opt = |s: &str| (!s.is_empty()).then(|| s.to_owned());
        ObjectMeta {
            name: opt(&self.name),
            namespace: opt(&self.namespace),
            uid: opt(&self.uid),
            resource_version: self.resource_version.clone(),
            generation: Some(self.generation),
            ..Default::default()
        }
    }
}
