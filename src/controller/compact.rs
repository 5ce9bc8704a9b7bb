//! The forms in which the caches hold CronJobs and Jobs: decoded once, per
//! object, into the planner's model ([`crate::model`]) by the kind's
//! adapter ([`crate::objects`]).
//!
//! Decoding a cached object never fails, so one object cannot fail the
//! list page or watch event it arrived in (kube-runtime decodes a page as
//! one unit): a CronJob the adapter cannot read is cached as
//! [`Undecodable`], with the reason, and reported and skipped by the
//! controller; a Job keeps what could be read and the problems.
//!
//! Only identity is kept in the `ObjectMeta` the kube-runtime cache keys
//! on; a CronJob's job template spec is kept as its JSON text.

use std::borrow::Cow;
use std::marker::PhantomData;

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::{NamespaceResourceScope, Resource as _};
use serde::{Deserialize, Deserializer};
use serde_json::Value;

use super::kinds::{CronJobs, KronJobs, ServedKind};
use crate::model::{JobFacts, Scheduled};
use crate::objects::Identity;
use crate::objects::job::DecodedJob;

/// Why a cached object could not be decoded (e.g. `spec.suspend: expected
/// a boolean, found "yes"`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Undecodable {
    pub reason: String,
}

/// A scheduled object of kind `K` as cached: its identity and its decoded
/// model.
pub struct Cached<K> {
    metadata: ObjectMeta,
    decoded: Result<Box<Scheduled>, Undecodable>,
    kind: PhantomData<K>,
}

/// A `batch/v1` CronJob as cached.
pub type CompactCronJob = Cached<CronJobs>;
/// A `kronjob.dev/v1alpha1` KronJob as cached.
pub type CompactKronJob = Cached<KronJobs>;

impl<K: ServedKind> Cached<K> {
    /// Decode the JSON the API server sent. Never fails.
    pub fn from_value(v: &Value) -> Self {
        Cached {
            metadata: Identity::of(v).object_meta(),
            decoded: K::decode(v).map(Box::new).map_err(|e| Undecodable {
                reason: e.to_string(),
            }),
            kind: PhantomData,
        }
    }
}

impl<K> Cached<K> {
    /// The planner's model of the object, or why there is none.
    pub fn scheduled(&self) -> Result<&Scheduled, &Undecodable> {
        self.decoded.as_deref()
    }
}

impl<K> Clone for Cached<K> {
    fn clone(&self) -> Self {
        Cached {
            metadata: self.metadata.clone(),
            decoded: self.decoded.clone(),
            kind: PhantomData,
        }
    }
}

impl<K> std::fmt::Debug for Cached<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cached")
            .field("metadata", &self.metadata)
            .field("decoded", &self.decoded)
            .finish()
    }
}

impl<'de, K: ServedKind> Deserialize<'de> for Cached<K> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Value::deserialize(deserializer).map(|v| Cached::from_value(&v))
    }
}

impl<K: ServedKind> kube::Resource for Cached<K> {
    type DynamicType = ();
    type Scope = NamespaceResourceScope;

    fn kind(_: &()) -> Cow<'_, str> {
        Cow::Borrowed(K::KIND.kind())
    }
    fn group(_: &()) -> Cow<'_, str> {
        Cow::Borrowed(K::KIND.group())
    }
    fn version(_: &()) -> Cow<'_, str> {
        Cow::Borrowed(K::KIND.version())
    }
    fn api_version(_: &()) -> Cow<'_, str> {
        Cow::Borrowed(K::KIND.api_version())
    }
    fn plural(_: &()) -> Cow<'_, str> {
        Cow::Borrowed(K::KIND.plural())
    }
    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }
    fn meta_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}

/// A `batch/v1` Job as cached: identity, what the planner reads, and the
/// fields that could not be read.
#[derive(Clone, Debug, PartialEq)]
pub struct CompactJob {
    metadata: ObjectMeta,
    decoded: DecodedJob,
}

impl CompactJob {
    pub fn facts(&self) -> &JobFacts {
        &self.decoded.facts
    }

    /// Fields of the Job that could not be read (each taken as absent).
    pub fn problems(&self) -> &[String] {
        &self.decoded.problems
    }

    /// What was read of the Job, without the `ObjectMeta` the watcher
    /// needs (360 bytes before any string): the form the Job cache keeps.
    pub fn decoded(&self) -> &DecodedJob {
        &self.decoded
    }
}

impl From<DecodedJob> for CompactJob {
    fn from(decoded: DecodedJob) -> Self {
        let f = &decoded.facts;
        let metadata = Identity {
            name: f.name.clone(),
            namespace: f.namespace.clone(),
            uid: f.uid.clone(),
            resource_version: decoded.resource_version.clone(),
            generation: 0,
        }
        .object_meta();
        CompactJob { metadata, decoded }
    }
}

impl<'de> Deserialize<'de> for CompactJob {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        DecodedJob::deserialize(deserializer).map(CompactJob::from)
    }
}

/// `batch/v1` Jobs, decoded as [`CompactJob`].
impl kube::Resource for CompactJob {
    type DynamicType = ();
    type Scope = NamespaceResourceScope;

    fn kind(_: &()) -> Cow<'_, str> {
        Cow::Borrowed(Job::KIND)
    }
    fn group(_: &()) -> Cow<'_, str> {
        Cow::Borrowed(Job::GROUP)
    }
    fn version(_: &()) -> Cow<'_, str> {
        Cow::Borrowed(Job::VERSION)
    }
    fn api_version(_: &()) -> Cow<'_, str> {
        Cow::Borrowed(Job::API_VERSION)
    }
    fn plural(_: &()) -> Cow<'_, str> {
        Cow::Borrowed(Job::URL_PATH_SEGMENT)
    }
    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }
    fn meta_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::core::{ObjectList, WatchEvent};
    use serde_json::json;

    fn wire(name: &str) -> Value {
        json!({
            "apiVersion": "batch/v1", "kind": "CronJob",
            "metadata": {"name": name, "namespace": "ns", "uid": format!("uid-{name}"),
                         "resourceVersion": "7", "generation": 3,
                         "managedFields": [{"manager": "kubectl", "operation": "Apply"}]},
            "spec": {"schedule": "*/5 * * * *", "jobTemplate": {"spec": {"backoffLimit": 1}}},
            "status": {"lastScheduleTime": "2026-11-22T10:00:00Z"}
        })
    }

    #[test]
    fn keeps_identity_and_the_decoded_model() {
        let c: CompactCronJob = serde_json::from_value(wire("a")).unwrap();
        let meta = kube::Resource::meta(&c);
        assert_eq!(meta.name.as_deref(), Some("a"));
        assert_eq!(meta.uid.as_deref(), Some("uid-a"));
        assert_eq!(meta.resource_version.as_deref(), Some("7"));
        assert!(meta.managed_fields.is_none());
        let s = c.scheduled().unwrap();
        assert_eq!(s.spec.schedule, "*/5 * * * *");
        assert_eq!(s.generation, 3);
    }

    #[test]
    fn one_undecodable_cronjob_never_fails_its_page_or_watch_event() {
        let mut bad = wire("bad");
        bad["spec"]["startingDeadlineSeconds"] = json!("soon");
        let mut late = wire("late");
        late["status"]["lastScheduleTime"] = json!("9999-12-31T23:59:00Z");
        let page = json!({"apiVersion": "batch/v1", "kind": "CronJobList",
                          "metadata": {"resourceVersion": "9"},
                          "items": [wire("a"), bad.clone(), late, wire("b")]});
        let list: ObjectList<CompactCronJob> = serde_json::from_value(page).unwrap();
        let decoded: Vec<bool> = list.items.iter().map(|c| c.scheduled().is_ok()).collect();
        assert_eq!(decoded, [true, false, true, true]);
        assert_eq!(
            list.items[1].scheduled().unwrap_err().reason,
            "spec.startingDeadlineSeconds: expected an integer, found \"soon\""
        );
        assert_eq!(
            list.items[2].scheduled().unwrap().status.last_schedule_time,
            Some(jiff::Timestamp::MAX)
        );
        assert_eq!(
            kube::Resource::meta(&list.items[1]).name.as_deref(),
            Some("bad"),
            "an undecodable object keeps its identity, to be reported"
        );

        let line = serde_json::to_string(&json!({"type": "MODIFIED", "object": bad})).unwrap();
        let event: WatchEvent<CompactCronJob> = serde_json::from_str(&line).unwrap();
        assert!(matches!(event, WatchEvent::Modified(c) if c.scheduled().is_err()));
    }

    #[test]
    fn resource_identities() {
        use kube::Resource;
        assert_eq!(CompactCronJob::api_version(&()), "batch/v1");
        assert_eq!(CompactCronJob::kind(&()), "CronJob");
        assert_eq!(
            CompactCronJob::url_path(&(), Some("ns")),
            "/apis/batch/v1/namespaces/ns/cronjobs"
        );
        assert_eq!(CompactKronJob::kind(&()), "KronJob");
        assert_eq!(
            CompactKronJob::url_path(&(), Some("ns")),
            "/apis/kronjob.dev/v1alpha1/namespaces/ns/kronjobs"
        );
        assert_eq!(CompactJob::url_path(&(), None), "/apis/batch/v1/jobs");
    }

    #[test]
    fn job_keeps_identity_and_facts() {
        let j: CompactJob = serde_json::from_value(json!({
            "metadata": {"name": "j", "namespace": "ns", "uid": "u", "resourceVersion": "4",
                         "labels": {"x": "y"}},
            "status": {"startTime": "10000-01-01T00:00:00Z"}
        }))
        .unwrap();
        let meta = kube::Resource::meta(&j);
        assert_eq!(
            (meta.name.as_deref(), meta.resource_version.as_deref()),
            (Some("j"), Some("4"))
        );
        assert!(meta.labels.is_none());
        assert_eq!(j.facts().start_time, Some(jiff::Timestamp::MAX));
        assert!(j.problems().is_empty());
    }
}
