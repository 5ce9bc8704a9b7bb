//! The Event publisher against a real API server: what `kubectl describe
//! cronjob` shows after kronjob published Events about it.

mod common;
mod support;

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::batch::v1::CronJob;
use k8s_openapi::api::core::v1::Event as CoreEvent;
use k8s_openapi::api::events::v1::Event;
use kube::Resource;
use kube::api::{Api, ListParams, PostParams};

use common::{TestNamespace, TestPod, wait_for};
use kronjob::controller::event_publisher::{EventPublisher, Reporter};
use kronjob::metrics::Metrics;
use kronjob::planner::events;

/// A CronJob to publish Events about (no controller runs in this test).
async fn cronjob(ns: &TestNamespace, name: &str) -> CronJob {
    let cj = support::cronjob(name, "0 0 1 1 *", TestPod::Succeed);
    ns.api::<CronJob>()
        .create(&PostParams::default(), &cj)
        .await
        .expect("create cronjob")
}

/// (reason, note, series count) of the Events about `name`, oldest first.
async fn published(api: &Api<Event>, name: &str) -> Vec<(String, String, i32)> {
    let mut list = api
        .list(&ListParams::default().fields(&format!("regarding.name={name}")))
        .await
        .expect("list events")
        .items;
    list.sort_by_key(|e| e.event_time.as_ref().map(|t| t.0));
    list.into_iter()
        .map(|e| {
            (
                e.reason.unwrap_or_default(),
                e.note.unwrap_or_default(),
                e.series.map_or(1, |s| s.count),
            )
        })
        .collect()
}

#[tokio::test]
async fn each_note_is_its_own_event_and_repeats_count_on_it() {
    let client = common::client().await;
    let ns = TestNamespace::new(&client, "events").await;
    let cj = cronjob(&ns, "every-minute").await;
    let metrics = Arc::new(Metrics::new());
    let publisher = EventPublisher::new(
        client.clone(),
        Reporter {
            controller: "cronjob-controller".into(),
            instance: "test".into(),
        },
        metrics.clone(),
    );
    let regarding = cj.object_ref(&());

    // Two slots of the same CronJob: two Jobs, two Events that name them.
    publisher.publish(
        regarding.clone(),
        &events::successful_create("every-minute-1"),
    );
    publisher.publish(
        regarding.clone(),
        &events::successful_create("every-minute-2"),
    );
    // The same Event again: a series on the first one.
    publisher.publish(
        regarding.clone(),
        &events::successful_create("every-minute-1"),
    );
    // A note longer than the API server accepts is cut, not lost.
    let long_error = "webhook said no. ".repeat(100);
    publisher.publish(regarding.clone(), &events::failed_create(&long_error));
    publisher.flush(Duration::from_secs(30)).await;

    let api: Api<Event> = ns.api();
    let evs = wait_for(
        "the published Events to be listed",
        Duration::from_secs(10),
        || async {
            let evs = published(&api, "every-minute").await;
            if evs.len() == 3 {
                Ok(evs)
            } else {
                Err(format!("{evs:?}"))
            }
        },
    )
    .await;
    assert_eq!(
        evs[0],
        (
            "SuccessfulCreate".into(),
            "Created job every-minute-1".into(),
            2
        )
    );
    assert_eq!(
        evs[1],
        (
            "SuccessfulCreate".into(),
            "Created job every-minute-2".into(),
            1
        )
    );
    assert_eq!(evs[2].0, "FailedCreate");
    assert_eq!(evs[2].1.len(), 1024);
    assert!(evs[2].1.starts_with("Error creating job: webhook said no."));
    let outcomes = metrics.render();
    assert!(
        outcomes.contains("kronjob_events_total{outcome=\"created\"} 3"),
        "{outcomes}"
    );
    assert!(
        outcomes.contains("kronjob_events_total{outcome=\"series\"} 1"),
        "{outcomes}"
    );

    // What `kubectl describe cronjob` reads: the core/v1 view.
    let core: Api<CoreEvent> = ns.api();
    let described = core
        .list(&ListParams::default().fields(
            "involvedObject.name=every-minute,involvedObject.kind=CronJob,reason=SuccessfulCreate",
        ))
        .await
        .expect("list core events")
        .items;
    let mut messages: Vec<_> = described
        .iter()
        .map(|e| {
            (
                e.type_.clone().unwrap_or_default(),
                e.message.clone().unwrap_or_default(),
                e.reporting_component.clone().unwrap_or_default(),
            )
        })
        .collect();
    messages.sort();
    assert_eq!(
        messages,
        [
            (
                "Normal".to_string(),
                "Created job every-minute-1".to_string(),
                "cronjob-controller".to_string()
            ),
            (
                "Normal".to_string(),
                "Created job every-minute-2".to_string(),
                "cronjob-controller".to_string()
            ),
        ]
    );
}
