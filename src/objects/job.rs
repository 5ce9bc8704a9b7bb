//! The `batch/v1` Job adapter: the few fields the planner reads, decoded
//! straight from the wire, and the Job the planner asks for, encoded.
//!
//! Decoding skips everything else without allocating it (the pod template,
//! labels and managedFields are most of a Job's bytes) and cannot fail for
//! any JSON object: every field is read leniently, and one that cannot be
//! read is recorded in [`DecodedJob::problems`] and taken as absent.

use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::{Map, Value, json};

use jiff::Timestamp;

use super::fields::{self, FieldError};
use crate::model::{ControllerRef, Finished, JobFacts};
use crate::planner::{NewJob, SCHEDULED_TIMESTAMP_ANNOTATION};

/// A Job as read from the API, and what could not be read of it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DecodedJob {
    pub facts: JobFacts,
    pub resource_version: Option<String>,
    /// Fields that could not be read (each taken as absent), e.g.
    /// `status.completionTime: not an RFC 3339 time: "x"`.
    pub problems: Vec<String>,
}

impl<'de> Deserialize<'de> for DecodedJob {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let wire: Tolerant<WireJob> = Deserialize::deserialize(d)?;
        Ok(wire.0.into_decoded())
    }
}

/// A value of type `T` when the JSON is an object, else `T::default()`
/// (with the mismatch noted): the shape of one field never fails the
/// decoding of the object around it.
#[derive(Default)]
struct Tolerant<T>(T, Option<String>);

impl<'de, T: Deserialize<'de> + Default> Deserialize<'de> for Tolerant<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de> + Default> Visitor<'de> for V<T> {
            type Value = Tolerant<T>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                T::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(|t| Tolerant(t, None))
            }
            fn visit_unit<E>(self) -> Result<Self::Value, E> {
                Ok(Tolerant(T::default(), None))
            }
            fn visit_none<E>(self) -> Result<Self::Value, E> {
                Ok(Tolerant(T::default(), None))
            }
            fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
                Ok(mismatch())
            }
            fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
                Ok(mismatch())
            }
            fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
                Ok(mismatch())
            }
            fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
                Ok(mismatch())
            }
            fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
                Ok(mismatch())
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(mismatch())
            }
        }
        fn mismatch<T: Default>() -> Tolerant<T> {
            Tolerant(T::default(), Some("expected an object".into()))
        }
        d.deserialize_any(V(std::marker::PhantomData))
    }
}

/// The items of a list, each read as [`Tolerant`]; anything but a list is
/// an empty one.
#[derive(Default)]
struct Items<T>(Vec<T>);

impl<'de, T: Deserialize<'de> + Default> Deserialize<'de> for Items<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de> + Default> Visitor<'de> for V<T> {
            type Value = Items<T>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element::<Tolerant<T>>()? {
                    items.push(item.0);
                }
                Ok(Items(items))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Items(Vec::new()))
            }
            fn visit_unit<E>(self) -> Result<Self::Value, E> {
                Ok(Items(Vec::new()))
            }
            fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
                Ok(Items(Vec::new()))
            }
            fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
                Ok(Items(Vec::new()))
            }
            fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
                Ok(Items(Vec::new()))
            }
            fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
                Ok(Items(Vec::new()))
            }
            fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
                Ok(Items(Vec::new()))
            }
        }
        d.deserialize_any(V(std::marker::PhantomData))
    }
}

#[derive(Default, Deserialize)]
struct WireJob {
    #[serde(default)]
    metadata: Tolerant<WireMeta>,
    #[serde(default)]
    status: Tolerant<WireStatus>,
}

/// Leaves are read as JSON values (small) and interpreted afterwards.
#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireMeta {
    name: Option<Value>,
    namespace: Option<Value>,
    uid: Option<Value>,
    resource_version: Option<Value>,
    creation_timestamp: Option<Value>,
    deletion_timestamp: Option<Value>,
    owner_references: Option<Value>,
    #[serde(default)]
    annotations: Tolerant<WireAnnotations>,
    /// Only who wrote; the field sets (most of the bytes) are skipped.
    #[serde(default)]
    managed_fields: Items<WireManager>,
}

/// The two annotations CronJob controllers read; the others are skipped.
#[derive(Default, Deserialize)]
struct WireAnnotations {
    #[serde(rename = "batch.kubernetes.io/cronjob-scheduled-timestamp")]
    scheduled: Option<Value>,
    #[serde(rename = "cronjob.kubernetes.io/instantiate")]
    instantiate: Option<Value>,
}

#[derive(Default, Deserialize)]
struct WireManager {
    manager: Option<Value>,
    subresource: Option<Value>,
}

#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireStatus {
    conditions: Option<Value>,
    start_time: Option<Value>,
    completion_time: Option<Value>,
}

impl WireJob {
    fn into_decoded(self) -> DecodedJob {
        let mut problems = Vec::new();
        for (path, p) in [("metadata", &self.metadata.1), ("status", &self.status.1)] {
            if let Some(p) = p {
                problems.push(format!("{path}: {p}"));
            }
        }
        let (m, s) = (self.metadata.0, self.status.0);
        let string = |path: &[&str], v: Option<Value>| fields::string_value(v.as_ref(), path);
        let time = |path: &[&str], v: Option<Value>| fields::time_value(v.as_ref(), path);
        let annotations = m.annotations.0;
        let scheduled_time = noted(
            &mut problems,
            time(
                &["metadata", "annotations", SCHEDULED_TIMESTAMP_ANNOTATION],
                annotations.scheduled,
            ),
        );
        let manual = annotations.instantiate.as_ref().and_then(Value::as_str) == Some("manual");
        let creator = m
            .managed_fields
            .0
            .iter()
            .find(|e| e.subresource.as_ref().is_none_or(Value::is_null))
            .and_then(|e| e.manager.as_ref()?.as_str().map(str::to_owned));
        let facts = JobFacts {
            name: noted(&mut problems, string(&["metadata", "name"], m.name)).unwrap_or_default(),
            namespace: noted(
                &mut problems,
                string(&["metadata", "namespace"], m.namespace),
            )
            .unwrap_or_default(),
            uid: noted(&mut problems, string(&["metadata", "uid"], m.uid)).unwrap_or_default(),
            being_deleted: m.deletion_timestamp.is_some_and(|v| !v.is_null()),
            controller: noted(&mut problems, controller_ref(m.owner_references)),
            finished: noted(&mut problems, finished(s.conditions.as_ref())),
            start_time: noted(&mut problems, time(&["status", "startTime"], s.start_time)),
            completion_time: noted(
                &mut problems,
                time(&["status", "completionTime"], s.completion_time),
            ),
            failed_at: noted(&mut problems, failed_at(s.conditions.as_ref())),
            created: noted(
                &mut problems,
                time(&["metadata", "creationTimestamp"], m.creation_timestamp),
            ),
            scheduled_time,
            manual,
            creator,
        };
        DecodedJob {
            resource_version: noted(
                &mut problems,
                string(&["metadata", "resourceVersion"], m.resource_version),
            ),
            facts,
            problems,
        }
    }
}

/// A field read, or None with its problem noted.
fn noted<T>(problems: &mut Vec<String>, read: Result<Option<T>, FieldError>) -> Option<T> {
    read.unwrap_or_else(|e| {
        problems.push(e.to_string());
        None
    })
}

/// The ownerReference with `controller: true`.
fn controller_ref(refs: Option<Value>) -> Result<Option<ControllerRef>, FieldError> {
    let items = match refs {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Array(items)) => items,
        Some(_) => {
            return Err(FieldError::new(
                &["metadata", "ownerReferences"],
                "expected a list",
            ));
        }
    };
    for (i, r) in items.iter().enumerate() {
        if fields::boolean(r, &["controller"]).ok().flatten() != Some(true) {
            continue;
        }
        let index = i.to_string();
        let at = |key: &str| {
            fields::string(r, &[key])
                .map(Option::unwrap_or_default)
                .map_err(|e| {
                    FieldError::new(&["metadata", "ownerReferences", &index, key], e.problem)
                })
        };
        return Ok(Some(ControllerRef {
            api_version: at("apiVersion")?,
            kind: at("kind")?,
            name: at("name")?,
            uid: at("uid")?,
        }));
    }
    Ok(None)
}

/// The conditions of a Job's status.
fn conditions(list: Option<&Value>) -> Result<&[Value], FieldError> {
    match list {
        None | Some(Value::Null) => Ok(&[]),
        Some(Value::Array(items)) => Ok(items),
        Some(_) => Err(FieldError::new(
            &["status", "conditions"],
            "expected a list",
        )),
    }
}

/// The outcome a condition states, if it is a finishing one.
fn outcome(condition: &Value) -> Option<Finished> {
    let s = |k| {
        fields::string(condition, &[k])
            .ok()
            .flatten()
            .unwrap_or_default()
    };
    Finished::from_condition(&s("type"), &s("status"))
}

/// The first `Complete`/`Failed` condition with status True.
fn finished(list: Option<&Value>) -> Result<Option<Finished>, FieldError> {
    Ok(conditions(list)?.iter().find_map(outcome))
}

/// When the `Failed` condition became True.
fn failed_at(list: Option<&Value>) -> Result<Option<Timestamp>, FieldError> {
    match conditions(list)?
        .iter()
        .find(|c| outcome(c) == Some(Finished::Failed))
    {
        Some(c) => fields::time(c, &["lastTransitionTime"]).map_err(|e| {
            FieldError::new(&["status", "conditions", "lastTransitionTime"], e.problem)
        }),
        None => Ok(None),
    }
}

/// The Job to POST: the template's spec as given, upstream's metadata.
pub fn manifest(job: &NewJob) -> Result<Value, serde_json::Error> {
    let spec: Value = serde_json::from_str(&job.spec_json)?;
    let mut metadata = Map::new();
    metadata.insert("name".into(), json!(job.name));
    metadata.insert("namespace".into(), json!(job.namespace));
    if let Some(labels) = &job.labels {
        metadata.insert("labels".into(), json!(labels));
    }
    metadata.insert("annotations".into(), json!(job.annotations));
    metadata.insert(
        "ownerReferences".into(),
        json!([{
            "apiVersion": job.owner.api_version,
            "kind": job.owner.kind,
            "name": job.owner.name,
            "uid": job.owner.uid,
            "controller": true,
            "blockOwnerDeletion": true,
        }]),
    );
    let mut manifest = Map::new();
    manifest.insert("apiVersion".into(), json!("batch/v1"));
    manifest.insert("kind".into(), json!("Job"));
    manifest.insert("metadata".into(), Value::Object(metadata));
    if !spec.is_null() {
        manifest.insert("spec".into(), spec);
    }
    Ok(Value::Object(manifest))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wire_job() -> Value {
        json!({
            "apiVersion": "batch/v1", "kind": "Job",
            "metadata": {
                "name": "cj-29000000", "namespace": "ns", "uid": "j1", "resourceVersion": "9",
                "creationTimestamp": "2026-11-22T10:00:00Z",
                "deletionTimestamp": "2026-11-22T10:05:00Z",
                "labels": {"a": "b"},
                "managedFields": [{"manager": "kube-controller-manager", "operation": "Update"}],
                "ownerReferences": [
                    {"apiVersion": "v1", "kind": "ConfigMap", "name": "x", "uid": "u2"},
                    {"apiVersion": "batch/v1", "kind": "CronJob", "name": "cj", "uid": "u1", "controller": true, "blockOwnerDeletion": true}
                ]
            },
            "spec": {"template": {"spec": {"containers": [{"name": "c", "image": "busybox"}]}}},
            "status": {
                "active": 1,
                "startTime": "2026-11-22T10:00:01Z",
                "completionTime": "2026-11-22T10:00:09Z",
                "conditions": [
                    {"type": "SuccessCriteriaMet", "status": "True"},
                    {"type": "Failed", "status": "False"},
                    {"type": "Complete", "status": "True", "message": "long", "reason": "Done"}
                ]
            }
        })
    }

    fn decode(v: Value) -> DecodedJob {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn reads_what_the_planner_needs() {
        let d = decode(wire_job());
        assert!(d.problems.is_empty(), "{:?}", d.problems);
        assert_eq!(d.resource_version.as_deref(), Some("9"));
        let f = d.facts;
        assert_eq!(
            (f.name.as_str(), f.namespace.as_str(), f.uid.as_str()),
            ("cj-29000000", "ns", "j1")
        );
        assert!(f.being_deleted);
        assert_eq!(
            f.controller,
            Some(ControllerRef {
                api_version: "batch/v1".into(),
                kind: "CronJob".into(),
                name: "cj".into(),
                uid: "u1".into()
            })
        );
        assert_eq!(f.finished, Some(Finished::Complete));
        assert_eq!(f.start_time, Some("2026-11-22T10:00:01Z".parse().unwrap()));
        assert_eq!(
            f.completion_time,
            Some("2026-11-22T10:00:09Z".parse().unwrap())
        );
    }

    #[test]
    fn bare_and_running_jobs() {
        let bare = decode(json!({"metadata": {"name": "j"}}));
        assert_eq!(bare.facts.name, "j");
        assert_eq!(bare.facts.controller, None);
        assert_eq!(bare.facts.finished, None);
        let running = decode(json!({"metadata": {"name": "j"}, "status": {"active": 1}}));
        assert_eq!(running.facts.finished, None);
        assert!(running.problems.is_empty());
    }

    #[test]
    fn no_field_can_fail_the_job_and_each_problem_is_named() {
        let mut v = wire_job();
        v["status"]["completionTime"] = json!("9999-12-31T23:59:59Z");
        v["status"]["startTime"] = json!(17);
        v["metadata"]["ownerReferences"][1]["uid"] = json!(["x"]);
        let d = decode(v);
        assert_eq!(d.facts.completion_time, Some(jiff::Timestamp::MAX));
        assert_eq!(d.facts.start_time, None);
        assert_eq!(d.facts.controller, None);
        assert_eq!(d.facts.name, "cj-29000000");
        assert_eq!(d.problems.len(), 2, "{:?}", d.problems);
        assert!(
            d.problems[0].starts_with("metadata.ownerReferences.1.uid: expected a string"),
            "{:?}",
            d.problems
        );
        assert!(d.problems[1].starts_with("status.startTime: expected an RFC 3339 time"));

        for odd in [
            json!({"metadata": 5, "status": "x"}),
            json!({"metadata": [1, 2]}),
            json!({}),
        ] {
            let d = decode(odd);
            assert_eq!(d.facts, JobFacts::default());
        }
    }

    #[test]
    fn a_list_page_with_a_bad_job_decodes_every_other_job() {
        let mut bad = wire_job();
        bad["metadata"]["name"] = json!({"not": "a string"});
        bad["status"] = json!(42);
        let page = json!({"apiVersion": "v1", "kind": "List", "metadata": {},
                          "items": [wire_job(), bad, wire_job()]});
        let list: kube::core::ObjectList<crate::controller::compact::CompactJob> =
            serde_json::from_value(page).unwrap();
        assert_eq!(list.items.len(), 3);
        let event: kube::core::WatchEvent<DecodedJob> = serde_json::from_str(
            r#"{"type":"MODIFIED","object":{"metadata":{"name":7},"status":{"startTime":"never"}}}"#,
        )
        .unwrap();
        let kube::core::WatchEvent::Modified(d) = event else {
            panic!("modified")
        };
        assert_eq!(d.problems.len(), 2);
    }
}
