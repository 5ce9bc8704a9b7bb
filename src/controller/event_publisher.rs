//! Publishes the planner's Events (events.k8s.io/v1) off the sync path, one
//! request at a time, behind the Job creates and status writes.
//!
//! Why not kube-runtime's `Recorder`: it keys an Event series on (type,
//! reason, action, regarding, related) without the note, so a second
//! `SuccessfulCreate` for the same CronJob within six minutes became a series
//! count on the first Event, which kept the first Job's name ("Created job
//! a-1" twice, and no word of a-2). Upstream's recorder keys on the message
//! too. Here Events are the same only if their object, type, reason and note
//! are: repeats within [`SERIES_WINDOW`] update that Event's `series` (count,
//! lastObservedTime); any other note is a new Event.
//!
//! One worker publishes in order. During a burst of slots the Events then
//! take one API request at a time from the API server instead of competing
//! with the creates (client-go's broadcaster also writes one at a time), and
//! catch up afterwards: `docs/benchmarks.md` counts 30-40 Event requests of
//! 1000 inside a burst of 1000 slots.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::api::events::v1::{Event, EventSeries};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use kube::api::{Patch, PatchParams, PostParams};
use kube::{Api, Client};
use serde_json::json;
use tokio::sync::{Notify, mpsc};
use tracing::{debug, warn};

use super::api_errors as errs;
use crate::metrics::Metrics;
use crate::planner::{EventType, PlannedEvent};

/// Identical Events this close together are one Event with a series count
/// (client-go's and kube-runtime's window).
pub const SERIES_WINDOW: SignedDuration = SignedDuration::from_mins(6);
/// Events waiting beyond this are dropped (and counted): an API server that
/// refuses Events for long must not make the queue grow without bound.
const MAX_QUEUED: usize = 10_000;
/// The API server rejects a note longer than this (events.k8s.io/v1).
const MAX_NOTE_BYTES: usize = 1024;

/// Who reports the Events: `reportingController` and `reportingInstance`.
#[derive(Clone, Debug)]
pub struct Reporter {
    pub controller: String,
    pub instance: String,
}

/// One Event to publish.
struct Queued {
    regarding: ObjectReference,
    event: PlannedEvent,
    at: Timestamp,
}

/// Events queued or being published, and a wake-up for [`EventPublisher::flush`].
#[derive(Default)]
struct Pending {
    count: AtomicUsize,
    drained: Notify,
}

pub struct EventPublisher {
    queue: mpsc::UnboundedSender<Queued>,
    pending: Arc<Pending>,
    metrics: Arc<Metrics>,
}

impl EventPublisher {
    /// Starts the worker; call within a Tokio runtime.
    pub fn new(client: Client, reporter: Reporter, metrics: Arc<Metrics>) -> Self {
        let (queue, rx) = mpsc::unbounded_channel();
        let pending = Arc::new(Pending::default());
        tokio::spawn(worker(
            client,
            reporter,
            rx,
            pending.clone(),
            metrics.clone(),
        ));
        EventPublisher {
            queue,
            pending,
            metrics,
        }
    }

    /// Queue an Event about `regarding`; never waits for the API server.
    pub fn publish(&self, regarding: ObjectReference, event: &PlannedEvent) {
        if self.pending.count.fetch_add(1, Ordering::SeqCst) >= MAX_QUEUED {
            self.pending.done();
            self.metrics.events.with_label_values(&["dropped"]).inc();
            debug!(reason = event.reason, "event queue full; event dropped");
            return;
        }
        let queued = Queued {
            regarding,
            event: event.clone(),
            at: Timestamp::now(),
        };
        if self.queue.send(queued).is_err() {
            self.pending.done(); // the worker is gone: the runtime is shutting down
        }
    }

    /// Wait (up to `timeout`) until every queued Event has been published.
    pub async fn flush(&self, timeout: Duration) {
        let drained = async {
            loop {
                let notified = self.pending.drained.notified();
                if self.pending.count.load(Ordering::SeqCst) == 0 {
                    return;
                }
                notified.await;
            }
        };
        let _ = tokio::time::timeout(timeout, drained).await;
    }
}

impl Pending {
    /// One Event fewer to wait for.
    fn done(&self) {
        if self.count.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.drained.notify_waiters();
        }
    }
}

async fn worker(
    client: Client,
    reporter: Reporter,
    mut rx: mpsc::UnboundedReceiver<Queued>,
    pending: Arc<Pending>,
    metrics: Arc<Metrics>,
) {
    let mut series = SeriesCache::default();
    while let Some(q) = rx.recv().await {
        let result = publish_one(&client, &reporter, &mut series, &q).await;
        let outcome = match result {
            Ok(outcome) => outcome,
            Err(e) => {
                warn!(error = %e, reason = q.event.reason, "could not publish event");
                "failed"
            }
        };
        metrics.events.with_label_values(&[outcome]).inc();
        pending.done();
    }
}

/// Create the Event, or count a repeat on the Event already published for it.
async fn publish_one(
    client: &Client,
    reporter: &Reporter,
    series: &mut SeriesCache,
    q: &Queued,
) -> Result<&'static str, kube::Error> {
    let namespace = q.regarding.namespace.as_deref().unwrap_or("default");
    let api: Api<Event> = Api::namespaced(client.clone(), namespace);
    let key = SeriesKey::of(&q.regarding, &q.event);
    if let Some(repeat) = series.repeat(&key, q.at) {
        let patch = json!({ "series": EventSeries {
            count: repeat.count,
            last_observed_time: MicroTime(q.at),
        }});
        match api
            .patch(&repeat.name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
        {
            Ok(_) => return Ok("series"),
            // Expired or deleted meanwhile: publish it anew.
            Err(e) if errs::is_not_found(&e) => series.forget(&key),
            Err(e) => return Err(e),
        }
    }
    let event = new_event(reporter, q);
    let name = event.metadata.name.clone().unwrap_or_default();
    api.create(&PostParams::default(), &event).await?;
    series.created(key, name, q.at);
    Ok("created")
}

/// The Event as upstream's fields map onto events.k8s.io/v1; the name is the
/// object's name and the time in hex nanoseconds, as client-go names them.
fn new_event(reporter: &Reporter, q: &Queued) -> Event {
    let name = format!(
        "{}.{:x}",
        q.regarding.name.as_deref().unwrap_or("event"),
        q.at.as_nanosecond()
    );
    Event {
        metadata: ObjectMeta {
            name: Some(name),
            namespace: q.regarding.namespace.clone(),
            ..Default::default()
        },
        event_time: Some(MicroTime(q.at)),
        type_: Some(
            match q.event.type_ {
                EventType::Normal => "Normal",
                EventType::Warning => "Warning",
            }
            .into(),
        ),
        reason: Some(q.event.reason.into()),
        action: Some(action_for(q.event.reason).into()),
        note: Some(truncate(&q.event.message, MAX_NOTE_BYTES).into()),
        regarding: Some(q.regarding.clone()),
        reporting_controller: Some(reporter.controller.clone()),
        reporting_instance: Some(reporter.instance.clone()),
        ..Default::default()
    }
}

/// The events.k8s.io `action` that goes with each reason.
fn action_for(reason: &str) -> &'static str {
    match reason {
        "SuccessfulCreate" | "FailedCreate" => "Create",
        "SuccessfulDelete" | "FailedDelete" => "Delete",
        "FailedGet" => "Get",
        _ => "Sync",
    }
}

/// At most `max` bytes of `s`, cut at a character boundary.
fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// What makes two Events the same Event.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct SeriesKey {
    regarding_uid: String,
    regarding: (String, String),
    type_: EventType,
    reason: &'static str,
    note: String,
}

impl SeriesKey {
    fn of(regarding: &ObjectReference, event: &PlannedEvent) -> Self {
        SeriesKey {
            regarding_uid: regarding.uid.clone().unwrap_or_default(),
            regarding: (
                regarding.namespace.clone().unwrap_or_default(),
                regarding.name.clone().unwrap_or_default(),
            ),
            type_: event.type_,
            reason: event.reason,
            note: event.message.clone(),
        }
    }
}

/// The Event published for a key, and how often it has been seen.
#[derive(Debug)]
struct Published {
    name: String,
    count: i32,
    last: Timestamp,
}

/// A repeat to record on an existing Event.
#[derive(Debug, PartialEq)]
struct Repeat {
    name: String,
    count: i32,
}

/// Events published in the last [`SERIES_WINDOW`].
#[derive(Default)]
struct SeriesCache {
    published: HashMap<SeriesKey, Published>,
    last_pruned: Option<Timestamp>,
}

impl SeriesCache {
    /// Is this a repeat of an Event published within the window? If so, it
    /// counts: the Event's new series count is returned.
    fn repeat(&mut self, key: &SeriesKey, at: Timestamp) -> Option<Repeat> {
        self.prune(at);
        let p = self.published.get_mut(key)?;
        if at.duration_since(p.last) >= SERIES_WINDOW {
            return None;
        }
        p.count = p.count.saturating_add(1);
        p.last = at;
        Some(Repeat {
            name: p.name.clone(),
            count: p.count,
        })
    }

    fn created(&mut self, key: SeriesKey, name: String, at: Timestamp) {
        self.published.insert(
            key,
            Published {
                name,
                count: 1,
                last: at,
            },
        );
    }

    fn forget(&mut self, key: &SeriesKey) {
        self.published.remove(key);
    }

    /// Drop entries past the window, at most once a minute (not per Event:
    /// a burst of thousands of Events would scan the map thousands of times).
    fn prune(&mut self, now: Timestamp) {
        if self
            .last_pruned
            .is_some_and(|t| now.duration_since(t) < SignedDuration::from_mins(1))
        {
            return;
        }
        self.last_pruned = Some(now);
        self.published
            .retain(|_, p| now.duration_since(p.last) < SERIES_WINDOW);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::planner::events;

    fn cronjob_ref(name: &str) -> ObjectReference {
        ObjectReference {
            api_version: Some("batch/v1".into()),
            kind: Some("CronJob".into()),
            namespace: Some("ns".into()),
            name: Some(name.into()),
            uid: Some(format!("uid-{name}")),
            ..Default::default()
        }
    }

    fn t(secs: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + secs).unwrap()
    }

    #[test]
    fn each_created_job_is_its_own_event_and_identical_events_make_a_series() {
        let mut cache = SeriesCache::default();
        let cj = cronjob_ref("a");
        let first = SeriesKey::of(&cj, &events::successful_create("a-1"));
        let second = SeriesKey::of(&cj, &events::successful_create("a-2"));
        assert_eq!(cache.repeat(&first, t(0)), None);
        cache.created(first.clone(), "a.1".into(), t(0));
        // Same reason and object, another Job: another Event.
        assert_eq!(cache.repeat(&second, t(60)), None);
        cache.created(second, "a.2".into(), t(60));
        // The same note again: counted on the first Event.
        assert_eq!(
            cache.repeat(&first, t(120)),
            Some(Repeat {
                name: "a.1".into(),
                count: 2
            })
        );
        assert_eq!(
            cache.repeat(&first, t(130)).map(|r| r.count),
            Some(3),
            "the count goes on"
        );
        // Another object with the same note is another Event.
        let other = SeriesKey::of(&cronjob_ref("b"), &events::successful_create("a-1"));
        assert_eq!(cache.repeat(&other, t(140)), None);
    }

    #[test]
    fn a_repeat_after_the_window_is_a_new_event_and_old_entries_are_pruned() {
        let mut cache = SeriesCache::default();
        let key = SeriesKey::of(&cronjob_ref("a"), &events::job_already_active());
        cache.created(key.clone(), "a.1".into(), t(0));
        let window = SERIES_WINDOW.as_secs();
        assert_eq!(cache.repeat(&key, t(window - 1)).map(|r| r.count), Some(2));
        // The window runs from the last sighting.
        assert_eq!(
            cache.repeat(&key, t(2 * window - 2)).map(|r| r.count),
            Some(3)
        );
        assert_eq!(cache.repeat(&key, t(3 * window)), None);
        assert!(cache.published.is_empty(), "pruned once past the window");
    }

    #[test]
    fn a_forgotten_event_is_published_anew() {
        let mut cache = SeriesCache::default();
        let key = SeriesKey::of(&cronjob_ref("a"), &events::job_already_active());
        cache.created(key.clone(), "a.1".into(), t(0));
        cache.forget(&key);
        assert_eq!(cache.repeat(&key, t(1)), None);
    }

    #[test]
    fn event_fields_match_upstream_reasons_and_stay_within_api_limits() {
        let reporter = Reporter {
            controller: "cronjob-controller".into(),
            instance: "kronjob-0".into(),
        };
        let long = "x".repeat(2000) + "é";
        let q = Queued {
            regarding: cronjob_ref("a"),
            event: events::failed_create(&long),
            at: t(0),
        };
        let ev = new_event(&reporter, &q);
        assert_eq!(
            ev.metadata.name.as_deref(),
            Some(format!("a.{:x}", t(0).as_nanosecond()).as_str())
        );
        assert_eq!(ev.metadata.namespace.as_deref(), Some("ns"));
        assert_eq!(
            (
                ev.type_.as_deref(),
                ev.reason.as_deref(),
                ev.action.as_deref()
            ),
            (Some("Warning"), Some("FailedCreate"), Some("Create"))
        );
        let note = ev.note.unwrap();
        assert_eq!(note.len(), MAX_NOTE_BYTES);
        assert!(note.starts_with("Error creating job: xxx"));
        assert_eq!(
            ev.reporting_controller.as_deref(),
            Some("cronjob-controller")
        );
        assert_eq!(ev.reporting_instance.as_deref(), Some("kronjob-0"));
        assert_eq!(ev.regarding.unwrap().uid.as_deref(), Some("uid-a"));
    }

    #[test]
    fn truncates_at_a_character_boundary() {
        assert_eq!(truncate("héllo", 2), "h");
        assert_eq!(truncate("héllo", 3), "hé");
        assert_eq!(truncate("abc", 10), "abc");
    }

    #[test]
    fn actions_follow_reasons() {
        assert_eq!(action_for("SuccessfulCreate"), "Create");
        assert_eq!(action_for("FailedDelete"), "Delete");
        assert_eq!(action_for("FailedGet"), "Get");
        assert_eq!(action_for("SawCompletedJob"), "Sync");
    }
}
