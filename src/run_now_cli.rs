//! `kronjob run-now`: ask the controller for one immediate run of a
//! KronJob or CronJob, wait until it has handled the request, and say what
//! became of it.
//!
//! The request is the annotation `kronjob.dev/run-now: <token>`; the
//! controller records the token it handled (KronJob `status.runNowToken`,
//! CronJob annotation `kronjob.dev/run-now-handled`) and names the Job
//! [`run_now::manual_job_name`]. So the client never creates anything
//! itself: sending the same token twice asks for one run, and the answer
//! can be read back at any time from the object, the Job and the Events.

use std::time::Duration;

use anyhow::{Context as _, bail};
use futures::TryStreamExt;
use jiff::Timestamp;
use k8s_openapi::api::events::v1::Event;
use kube::api::{ListParams, Patch, PatchParams};
use kube::runtime::watcher::{self, watch_object};
use kube::{Api, Client};
use serde_json::json;

use crate::controller::compact::{Cached, CompactJob};
use crate::controller::kinds::{CronJobs, KronJobs, ServedKind};
use crate::lookup;
use crate::model::{FIELD_MANAGER, Kind, RUN_NOW_ANNOTATION, Scheduled};
use crate::planner::events::go_quote;
use crate::planner::run_now;

/// What became of a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The controller created this Job for it (it may have finished, or
    /// been deleted by history limits, since).
    Ran { job: String },
    /// The controller refused it (its `RunNowRefused` Event's message).
    Refused { message: String },
}

/// A fresh token: the time (readable in `kubectl get -o yaml` and Events)
/// and a random suffix, so two requests within one second differ.
pub fn fresh_token() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(Timestamp::now().as_nanosecond().unsigned_abs());
    h.write_u32(std::process::id());
    let now = Timestamp::now()
        .round(jiff::Unit::Second)
        .unwrap_or(Timestamp::now());
    format!("{now}-{:06x}", h.finish() & 0xff_ffff)
}

/// Sets `token` (or a fresh one) on the object and waits, until `timeout`,
/// for the controller's answer. Returns the token and the outcome.
pub async fn request(
    client: &Client,
    ns: &str,
    name: &str,
    kind: Option<Kind>,
    token: Option<String>,
    timeout: Duration,
) -> anyhow::Result<(String, Outcome)> {
    let object = lookup::find(client, ns, name, kind).await?;
    let token = token.unwrap_or_else(fresh_token);
    let deadline = tokio::time::Instant::now() + timeout;
    if object.status.run_now_token.as_deref() != Some(token.as_str()) {
        let patch = json!({"metadata": {
            "uid": object.uid,
            "annotations": {RUN_NOW_ANNOTATION: token},
        }});
        let params = PatchParams {
            field_manager: Some(FIELD_MANAGER.into()),
            ..PatchParams::default()
        };
        lookup::dynamic_api(client, ns, object.kind)
            .patch(name, &params, &Patch::Merge(&patch))
            .await
            .with_context(|| format!("setting {RUN_NOW_ANNOTATION} on {}", describe(&object)))?;
    }
    let wait = async {
        match object.kind {
            Kind::CronJob => wait_handled::<CronJobs>(client, &object, &token).await,
            Kind::KronJob => wait_handled::<KronJobs>(client, &object, &token).await,
        }
    };
    tokio::time::timeout_at(deadline, wait)
        .await
        .map_err(|_| {
            anyhow::anyhow!(
                "{} did not handle run-now token {token:?} within {timeout:?}: is a kronjob controller serving {}?",
                describe(&object),
                object.kind.plural()
            )
        })??;
    let outcome = tokio::time::timeout_at(deadline, outcome(client, &object, &token))
        .await
        .map_err(|_| {
            anyhow::anyhow!(
                "{} handled run-now token {token:?}, but neither its Job {} nor a RunNowRefused Event for it appeared within {timeout:?}",
                describe(&object),
                run_now::manual_job_name(&object.name, &token)
            )
        })??;
    Ok((token, outcome))
}

fn describe(object: &Scheduled) -> String {
    format!(
        "{} {}/{}",
        object.kind.kind(),
        object.namespace,
        object.name
    )
}

/// Watches the object until the controller has recorded `token` as handled.
async fn wait_handled<K: ServedKind>(
    client: &Client,
    object: &Scheduled,
    token: &str,
) -> anyhow::Result<()> {
    let api: Api<Cached<K>> = Api::namespaced(client.clone(), &object.namespace);
    let stream = watch_object(api, &object.name);
    futures::pin_mut!(stream);
    while let Some(seen) = stream
        .try_next()
        .await
        .map_err(|e: watcher::Error| anyhow::anyhow!("watching {}: {e}", describe(object)))?
    {
        let Some(seen) = seen else {
            bail!("{} was deleted", describe(object));
        };
        match seen.scheduled() {
            Ok(s) if s.uid != object.uid => bail!("{} was replaced", describe(object)),
            Ok(s) if s.status.run_now_token.as_deref() == Some(token) => return Ok(()),
            Ok(_) => {}
            Err(e) => bail!("{} cannot be read: {}", describe(object), e.reason),
        }
    }
    bail!("the watch of {} ended", describe(object))
}

/// The handled request's outcome: its Job, or its refusal. The Event is
/// published after the status write, so it may take a moment to appear;
/// the caller bounds the wait.
async fn outcome(client: &Client, object: &Scheduled, token: &str) -> anyhow::Result<Outcome> {
    let job_name = run_now::manual_job_name(&object.name, token);
    let jobs: Api<CompactJob> = Api::namespaced(client.clone(), &object.namespace);
    let events: Api<Event> = Api::namespaced(client.clone(), &object.namespace);
    let refused_note = format!("run-now request {} refused: ", go_quote(token));
    let created_note = format!("Created job {job_name}");
    let selector = format!(
        "regarding.kind={},regarding.name={}",
        object.kind.kind(),
        object.name
    );
    let mut pause = Duration::from_millis(100);
    loop {
        if let Some(job) = jobs.get_opt(&job_name).await.context("reading the Job")? {
            if job.facts().is_controlled_by(object) {
                return Ok(Outcome::Ran { job: job_name });
            }
            bail!(
                "Job {}/{job_name} exists but is not controlled by {}: the request was recorded and not run",
                object.namespace,
                describe(object)
            );
        }
        let list = events
            .list(&ListParams::default().fields(&selector))
            .await
            .context("listing Events")?;
        for e in list.items.iter().filter(|e| {
            e.regarding
                .as_ref()
                .is_some_and(|r| r.uid.as_deref() == Some(object.uid.as_str()))
        }) {
            let note = e.note.as_deref().unwrap_or_default();
            match e.reason.as_deref() {
                Some("RunNowRefused") if note.starts_with(&refused_note) => {
                    return Ok(Outcome::Refused {
                        message: note.to_string(),
                    });
                }
                // Created, and deleted since (history limits, a TTL).
                Some("SuccessfulCreate") if note == created_note => {
                    return Ok(Outcome::Ran { job: job_name });
                }
                _ => {}
            }
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_secs(1));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fresh_tokens_are_readable_and_distinct() {
        let (a, b) = (fresh_token(), fresh_token());
        assert_ne!(a, b);
        let (time, suffix) = a.rsplit_once('-').unwrap();
        assert!(time.parse::<Timestamp>().is_ok(), "{a}");
        assert_eq!(suffix.len(), 6, "{a}");
    }
}
