//! `kronjob migrate`: move a scheduled object between the kinds (batch/v1
//! CronJob ⇄ kronjob.dev KronJob) so that no slot inside its deadline is
//! lost or run twice, and its Jobs move with it. docs/migration.md is the
//! user's guide.
//!
//! # Why it is safe
//!
//! * Both kinds name a slot's Job `<name>-<slot minutes>` (a run-now Job
//!   `<name>-m<hash of the token>`): if the source and the target both
//!   tried the same slot, the second create would find the first's Job and
//!   leave it alone. Nothing can run twice.
//! * While the Jobs move, both objects are suspended: no controller acts.
//!   The target starts from the source's status (`lastScheduleTime`,
//!   `lastSuccessfulTime`, `active`, the handled run-now token), so when it
//!   is resumed it runs exactly what the source would have run on resume:
//!   the most recent missed slot, if it is still inside
//!   `startingDeadlineSeconds`. Nothing inside its deadline is lost.
//! * The Jobs are moved before the source is deleted, and the source is
//!   deleted with `propagationPolicy: Orphan`: the garbage collector never
//!   collects a Job of the object.
//!
//! # The steps
//!
//! 0. Read both objects. Check the target can be created (server-side dry
//!    run) before anything is changed.
//! 1. Suspend the source and record its original `spec.suspend` in the
//!    annotation [`MIGRATION_ANNOTATION`] (same patch, guarded by the
//!    resourceVersion read, so the value recorded is the user's).
//! 2. Let the source's controller see the suspension: a KronJob reports it
//!    (`status.observedGeneration`), a CronJob reports nothing, so wait
//!    `--settle`. A sync that started before the suspension finishes its
//!    create within that time; step 5 moves its Job.
//! 3. Re-read the source. Create the target, suspended, with the same
//!    name, labels, annotations (without kubectl's last-applied
//!    configuration, which describes the other kind, and with the handled
//!    run-now token where the target kind keeps it) and spec, and the
//!    annotation [`MIGRATION_ANNOTATION`] naming the source's UID.
//! 4. Write the target's status from the source's.
//! 5. Move every Job whose controller is the source: its controller
//!    ownerReference is rewritten to the target (merge patch of
//!    `metadata.ownerReferences`, other references kept, guarded by the
//!    Job's resourceVersion; a conflict re-reads it). List again until no
//!    Job is left.
//! 6. Delete the source with `propagationPolicy: Orphan`, guarded by the
//!    resourceVersion read after the last list (a controller that created
//!    a Job since has written its status: the guard fails, back to 5).
//!    Wait (up to `--timeout`) for it to be gone, moving any Job that still
//!    names it.
//! 7. Resume the target: `spec.suspend` back to the source's original value,
//!    the migration annotation removed.
//!
//! Every step is idempotent and keyed on what the cluster holds, so a
//! migration that died half-way is finished by running the same command
//! again: a suspended source with the annotation continues with its
//! recorded `suspend`; a target with the annotation naming the source is
//! reused; a target left alone after its source is gone is resumed.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use anyhow::{Context as _, bail};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::api::{
    DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams, Preconditions,
    PropagationPolicy,
};
use kube::core::TypeMeta;
use kube::{Api, Client};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::controller::api_errors::{is_conflict, is_not_found};
use crate::lookup;
use crate::model::{FIELD_MANAGER, Kind, RUN_NOW_HANDLED_ANNOTATION, Scheduled};
use crate::objects::{cronjob, kronjob};

/// Marks both objects while a migration is under way (JSON, see [`Marker`]).
pub const MIGRATION_ANNOTATION: &str = "kronjob.dev/migration";
/// kubectl's record of the last applied manifest: it describes the source's
/// kind, so it is not carried to the target.
pub const LAST_APPLIED_ANNOTATION: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// How many times a step that lost a race (a conflict, a late Job) is tried.
const MAX_ROUNDS: usize = 20;

/// What a migration remembers on the objects, so a re-run can finish it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Marker {
    /// On the source: the kind it moves to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    /// On the target: the kind and UID of the source it replaces.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    /// The source's `spec.suspend` before the migration.
    pub suspend: bool,
}

impl Marker {
    fn read(meta: &ObjectMeta) -> anyhow::Result<Option<Marker>> {
        let Some(text) = meta
            .annotations
            .as_ref()
            .and_then(|a| a.get(MIGRATION_ANNOTATION))
        else {
            return Ok(None);
        };
        serde_json::from_str(text)
            .map(Some)
            .with_context(|| format!("unreadable annotation {MIGRATION_ANNOTATION}: {text:?}"))
    }

    fn text(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// `kronjob migrate` options.
#[derive(Clone, Debug)]
pub struct Options {
    /// The kind to move to.
    pub to: Kind,
    /// Print the plan; change nothing.
    pub dry_run: bool,
    /// How long a CronJob's controller may take to see the suspension.
    pub settle: Duration,
    /// Bound on each wait (a KronJob controller's acknowledgement, the
    /// source's deletion).
    pub timeout: Duration,
}

/// The other kind.
pub fn other(kind: Kind) -> Kind {
    match kind {
        Kind::CronJob => Kind::KronJob,
        Kind::KronJob => Kind::CronJob,
    }
}

/// One line of progress, printed as it happens.
fn say(out: &mut dyn std::io::Write, line: &str) {
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

/// Migrate every object of the other kind in `ns`, in name order; stops at
/// the first that fails (the rest are untouched, that one can be re-run).
pub async fn migrate_all(
    client: &Client,
    ns: &str,
    opts: &Options,
    out: &mut dyn std::io::Write,
) -> anyhow::Result<usize> {
    let from = other(opts.to);
    let list = lookup::dynamic_api(client, ns, from)
        .list(&ListParams::default())
        .await
        .with_context(|| format!("listing {} in {ns}", from.plural()))?;
    let mut names: Vec<String> = list
        .items
        .into_iter()
        .filter_map(|o| o.metadata.name)
        .collect();
    names.sort();
    if names.is_empty() {
        say(out, &format!("no {} in namespace {ns}", from.plural()));
    }
    for name in &names {
        migrate(client, ns, name, opts, out).await?;
    }
    Ok(names.len())
}

/// Migrate one object (see the module doc for the steps).
pub async fn migrate(
    client: &Client,
    ns: &str,
    name: &str,
    opts: &Options,
    out: &mut dyn std::io::Write,
) -> anyhow::Result<()> {
    let (to, from) = (opts.to, other(opts.to));
    let sources = lookup::dynamic_api(client, ns, from);
    let targets = lookup::dynamic_api(client, ns, to);
    let src_id = format!("{} {ns}/{name}", from.kind());
    let dst_id = format!("{} {ns}/{name}", to.kind());
    let source = sources
        .get_opt(name)
        .await
        .with_context(|| format!("reading {src_id}"))?;
    let target = targets
        .get_opt(name)
        .await
        .with_context(|| format!("reading {dst_id} (is the KronJob CRD installed?)"))?;

    let Some(source) = source else {
        return match target {
            None => bail!("no {src_id} to migrate"),
            Some(t) => match Marker::read(&t.metadata)? {
                Some(m) if m.from.as_deref() == Some(from.kind()) => {
                    say(
                        out,
                        &format!("{src_id} is gone: finishing its migration to {dst_id}"),
                    );
                    if opts.dry_run {
                        say(
                            out,
                            &format!(
                                "  (dry run) would move Jobs still naming it and resume {dst_id} (suspend={})",
                                m.suspend
                            ),
                        );
                        return Ok(());
                    }
                    let target_uid = t.metadata.uid.clone().unwrap_or_default();
                    let moved = move_jobs(
                        client,
                        ns,
                        m.uid.as_deref().unwrap_or_default(),
                        to,
                        name,
                        &target_uid,
                    )
                    .await?;
                    report_moved(out, &moved);
                    resume(&targets, name, &target_uid, m.suspend).await?;
                    say(out, &format!("done: {dst_id} (suspend={})", m.suspend));
                    Ok(())
                }
                _ => {
                    say(
                        out,
                        &format!("{dst_id} exists and no {src_id}: nothing to migrate"),
                    );
                    Ok(())
                }
            },
        };
    };
    let source_uid = source.metadata.uid.clone().unwrap_or_default();
    let source_marker = Marker::read(&source.metadata)?;
    if let Some(m) = &source_marker
        && m.to.as_deref() != Some(to.kind())
    {
        bail!(
            "{src_id} is being migrated to {} (annotation {MIGRATION_ANNOTATION}); finish that with --to {}",
            m.to.as_deref().unwrap_or("?"),
            m.to.as_deref().unwrap_or("?").to_ascii_lowercase()
        );
    }
    let decoded = decode(from, &source).with_context(|| format!("{src_id} cannot be read"))?;
    let original_suspend = source_marker
        .as_ref()
        .map_or(decoded.spec.suspend, |m| m.suspend);
    if let Some(t) = &target {
        check_reusable(&src_id, &dst_id, &source_uid, &decoded, to, t)?;
    }

    say(
        out,
        &format!(
            "{src_id} → {dst_id}{}",
            if opts.dry_run {
                " (dry run: nothing is changed)"
            } else {
                ""
            }
        ),
    );
    let manifest = target_manifest(&source, &decoded, to, original_suspend);
    if target.is_none() {
        // Refused now, before the source is touched, rather than after.
        let params = PostParams {
            dry_run: true,
            field_manager: Some(FIELD_MANAGER.into()),
        };
        targets
            .create(&params, &manifest)
            .await
            .with_context(|| format!("the API server would not create {dst_id}"))?;
    }
    if opts.dry_run {
        return print_plan(
            client,
            out,
            &source,
            &decoded,
            to,
            original_suspend,
            target.is_some(),
        )
        .await;
    }

    // 1. Suspend the source, recording the user's value.
    let mut source = source;
    if source_marker.is_none() || !decoded.spec.suspend {
        source = suspend_source(&sources, name, to, original_suspend, &src_id).await?;
        say(
            out,
            &format!("  suspended {src_id} (was suspend={original_suspend})"),
        );
    }
    // 2. Let its controller see that.
    settle(client, ns, name, from, &source, original_suspend, opts, out).await?;
    // 3. Re-read; create (or reuse) the target.
    let source = sources
        .get(name)
        .await
        .with_context(|| format!("reading {src_id} again"))?;
    if source.metadata.uid.as_deref() != Some(source_uid.as_str()) {
        bail!("{src_id} was replaced during the migration");
    }
    let decoded = decode(from, &source)?;
    let target = match targets.get_opt(name).await? {
        Some(t) => {
            check_reusable(&src_id, &dst_id, &source_uid, &decoded, to, &t)?;
            let patch = json!({
                "metadata": {"annotations": {MIGRATION_ANNOTATION: marker_for_target(from, &source_uid, original_suspend).text()}},
                "spec": {"suspend": true},
            });
            let t = targets
                .patch(name, &patch_params(), &Patch::Merge(&patch))
                .await?;
            say(out, &format!("  reusing {dst_id} (suspended)"));
            t
        }
        None => {
            let manifest = target_manifest(&source, &decoded, to, original_suspend);
            let t = targets
                .create(&post_params(), &manifest)
                .await
                .with_context(|| format!("creating {dst_id}"))?;
            say(out, &format!("  created {dst_id} (suspended)"));
            t
        }
    };
    let target_uid = target.metadata.uid.clone().unwrap_or_default();
    // 4. Its status from the source's.
    write_target_status(&targets, name, to, &source, &decoded).await?;
    say(out, &format!("  copied the status to {dst_id}"));
    // 5. and 6. Move the Jobs; delete the source once none is left.
    let moved = move_then_delete(client, &sources, ns, name, &source_uid, to, &target_uid).await?;
    report_moved(out, &moved);
    say(
        out,
        &format!("  deleted {src_id} (its Jobs orphaned, not collected)"),
    );
    let late = wait_gone(
        client,
        &sources,
        ns,
        name,
        &source_uid,
        to,
        &target_uid,
        opts.timeout,
    )
    .await?;
    report_moved(out, &late);
    // 7. Resume.
    resume(&targets, name, &target_uid, original_suspend).await?;
    say(out, &format!("done: {dst_id} (suspend={original_suspend})"));
    Ok(())
}

fn decode(kind: Kind, object: &DynamicObject) -> anyhow::Result<Scheduled> {
    let v = serde_json::to_value(object)?;
    match kind {
        Kind::CronJob => cronjob::decode(&v),
        Kind::KronJob => kronjob::decode(&v),
    }
    .map_err(|e| anyhow::anyhow!("{e}"))
}

fn patch_params() -> PatchParams {
    PatchParams {
        field_manager: Some(FIELD_MANAGER.into()),
        ..PatchParams::default()
    }
}

fn post_params() -> PostParams {
    PostParams {
        dry_run: false,
        field_manager: Some(FIELD_MANAGER.into()),
    }
}

fn marker_for_target(from: Kind, source_uid: &str, suspend: bool) -> Marker {
    Marker {
        from: Some(from.kind().into()),
        uid: Some(source_uid.into()),
        suspend,
        ..Marker::default()
    }
}

/// An existing target is reused if an earlier run of this migration made
/// it (its annotation names the source), or if its spec is the source's.
fn check_reusable(
    src_id: &str,
    dst_id: &str,
    source_uid: &str,
    source: &Scheduled,
    to: Kind,
    target: &DynamicObject,
) -> anyhow::Result<()> {
    if let Some(m) = Marker::read(&target.metadata)?
        && m.uid.as_deref() == Some(source_uid)
    {
        return Ok(());
    }
    let t = decode(to, target).with_context(|| format!("{dst_id} cannot be read"))?;
    let mut a = source.spec.clone();
    let mut b = t.spec;
    a.suspend = false;
    b.suspend = false;
    if a != b {
        bail!(
            "{dst_id} exists already with another spec; it is not a migration of {src_id}: delete or rename one of them"
        );
    }
    Ok(())
}

/// The target object: the source's name, labels, annotations and spec,
/// suspended, marked.
fn target_manifest(
    source: &DynamicObject,
    decoded: &Scheduled,
    to: Kind,
    suspend: bool,
) -> DynamicObject {
    let mut annotations: BTreeMap<String, String> = source
        .metadata
        .annotations
        .clone()
        .unwrap_or_default()
        .into_iter()
        .filter(|(k, _)| {
            k != LAST_APPLIED_ANNOTATION
                && k != MIGRATION_ANNOTATION
                && k != RUN_NOW_HANDLED_ANNOTATION
        })
        .collect();
    annotations.insert(
        MIGRATION_ANNOTATION.into(),
        marker_for_target(
            decoded.kind,
            source.metadata.uid.as_deref().unwrap_or_default(),
            suspend,
        )
        .text(),
    );
    if to == Kind::CronJob
        && let Some(token) = &decoded.status.run_now_token
    {
        annotations.insert(RUN_NOW_HANDLED_ANNOTATION.into(), token.clone());
    }
    let mut spec = source
        .data
        .get("spec")
        .cloned()
        .unwrap_or_else(|| json!({}));
    if let Some(s) = spec.as_object_mut() {
        s.insert("suspend".into(), Value::Bool(true));
    }
    DynamicObject {
        types: Some(TypeMeta {
            api_version: to.api_version().into(),
            kind: to.kind().into(),
        }),
        metadata: ObjectMeta {
            name: source.metadata.name.clone(),
            namespace: source.metadata.namespace.clone(),
            labels: source.metadata.labels.clone(),
            annotations: Some(annotations),
            ..ObjectMeta::default()
        },
        data: json!({ "spec": spec }),
    }
}

async fn suspend_source(
    sources: &Api<DynamicObject>,
    name: &str,
    to: Kind,
    original_suspend: bool,
    src_id: &str,
) -> anyhow::Result<DynamicObject> {
    let marker = Marker {
        to: Some(to.kind().into()),
        suspend: original_suspend,
        ..Marker::default()
    };
    for _ in 0..MAX_ROUNDS {
        let current = sources.get(name).await?;
        // The value to restore is the one before the first suspension.
        let suspend = match Marker::read(&current.metadata)? {
            Some(m) => m.suspend,
            None => decode(other(to), &current)?.spec.suspend,
        };
        let patch = json!({
            "metadata": {
                "resourceVersion": current.metadata.resource_version,
                "annotations": {MIGRATION_ANNOTATION: Marker { suspend, ..marker.clone() }.text()},
            },
            "spec": {"suspend": true},
        });
        match sources
            .patch(name, &patch_params(), &Patch::Merge(&patch))
            .await
        {
            Ok(o) => return Ok(o),
            Err(e) if is_conflict(&e) => continue,
            Err(e) => return Err(e).with_context(|| format!("suspending {src_id}")),
        }
    }
    bail!("{src_id} kept changing; could not suspend it")
}

/// Step 2: until the source's controller has seen the suspension.
#[allow(clippy::too_many_arguments)]
async fn settle(
    client: &Client,
    ns: &str,
    name: &str,
    from: Kind,
    suspended: &DynamicObject,
    was_suspended: bool,
    opts: &Options,
    out: &mut dyn std::io::Write,
) -> anyhow::Result<()> {
    if was_suspended {
        return Ok(()); // no controller acted on it before, none does now
    }
    match from {
        Kind::KronJob => {
            let generation = suspended.metadata.generation.unwrap_or(0);
            let api = lookup::dynamic_api(client, ns, from);
            let deadline = tokio::time::Instant::now() + opts.timeout;
            loop {
                let seen = api.get(name).await?;
                let observed = seen
                    .data
                    .pointer("/status/observedGeneration")
                    .and_then(Value::as_i64)
                    .unwrap_or(0);
                if observed >= generation {
                    say(out, "  its controller saw the suspension");
                    return Ok(());
                }
                if tokio::time::Instant::now() >= deadline {
                    say(
                        out,
                        &format!(
                            "  no controller acknowledged the suspension within {:?} (none serves KronJobs here?); continuing",
                            opts.timeout
                        ),
                    );
                    return Ok(());
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
        Kind::CronJob => {
            // A CronJob's controller reports nothing when it sees the
            // suspension: give a sync that started before it the time to end.
            if !opts.settle.is_zero() {
                say(
                    out,
                    &format!("  waiting {:?} for its controller to see that", opts.settle),
                );
                tokio::time::sleep(opts.settle).await;
            }
            Ok(())
        }
    }
}

async fn write_target_status(
    targets: &Api<DynamicObject>,
    name: &str,
    to: Kind,
    source: &DynamicObject,
    decoded: &Scheduled,
) -> anyhow::Result<()> {
    let field = |k: &str| {
        source
            .data
            .pointer(&format!("/status/{k}"))
            .cloned()
            .unwrap_or(Value::Null)
    };
    let mut status = serde_json::Map::new();
    for k in ["lastScheduleTime", "lastSuccessfulTime", "active"] {
        status.insert(k.into(), field(k));
    }
    if to == Kind::KronJob {
        status.insert("activeCount".into(), json!(decoded.status.active.len()));
        status.insert("runNowToken".into(), json!(decoded.status.run_now_token));
    } else if let Some(token) = &decoded.status.run_now_token {
        let patch = json!({"metadata": {"annotations": {RUN_NOW_HANDLED_ANNOTATION: token}}});
        targets
            .patch(name, &patch_params(), &Patch::Merge(&patch))
            .await?;
    }
    targets
        .patch_status(
            name,
            &patch_params(),
            &Patch::Merge(&json!({ "status": status })),
        )
        .await
        .context("writing the status")?;
    Ok(())
}

/// The controller ownerReference of a Job of `to` named `name`.
fn owner_ref(to: Kind, name: &str, uid: &str) -> OwnerReference {
    OwnerReference {
        api_version: to.api_version().into(),
        kind: to.kind().into(),
        name: name.into(),
        uid: uid.into(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    }
}

/// The Job's references with its controller (`source_uid`) replaced by
/// `new`; None if the source is not its controller.
pub fn rewrite_refs(
    refs: &[OwnerReference],
    source_uid: &str,
    new: &OwnerReference,
) -> Option<Vec<OwnerReference>> {
    let is_source = |r: &OwnerReference| r.controller == Some(true) && r.uid == source_uid;
    if !refs.iter().any(is_source) {
        return None;
    }
    Some(
        refs.iter()
            .map(|r| if is_source(r) { new.clone() } else { r.clone() })
            .collect(),
    )
}

/// Step 5: move the Jobs controlled by `source_uid` until a list shows none.
async fn move_jobs(
    client: &Client,
    ns: &str,
    source_uid: &str,
    to: Kind,
    name: &str,
    target_uid: &str,
) -> anyhow::Result<Vec<String>> {
    let jobs: Api<Job> = Api::namespaced(client.clone(), ns);
    let new = owner_ref(to, name, target_uid);
    let mut moved = Vec::new();
    for _ in 0..MAX_ROUNDS {
        let list = jobs
            .list_metadata(&ListParams::default())
            .await
            .context("listing Jobs")?;
        let mut left = 0;
        for job in &list.items {
            let refs = job.metadata.owner_references.clone().unwrap_or_default();
            let Some(refs) = rewrite_refs(&refs, source_uid, &new) else {
                continue;
            };
            left += 1;
            let job_name = job.metadata.name.clone().unwrap_or_default();
            let patch = json!({"metadata": {
                "resourceVersion": job.metadata.resource_version,
                "ownerReferences": refs,
            }});
            match jobs
                .patch_metadata(&job_name, &patch_params(), &Patch::Merge(&patch))
                .await
            {
                Ok(_) => moved.push(job_name),
                // Changed meanwhile (or gone): the next list decides.
                Err(e) if is_conflict(&e) || is_not_found(&e) => {}
                Err(e) => return Err(e).with_context(|| format!("moving Job {ns}/{job_name}")),
            }
        }
        if left == 0 {
            moved.sort();
            moved.dedup();
            return Ok(moved);
        }
    }
    bail!("Jobs of the source kept changing; run the migration again")
}

/// Steps 5 and 6: move the Jobs, then delete the source, guarded by the
/// resourceVersion read after the last list.
async fn move_then_delete(
    client: &Client,
    sources: &Api<DynamicObject>,
    ns: &str,
    name: &str,
    source_uid: &str,
    to: Kind,
    target_uid: &str,
) -> anyhow::Result<Vec<String>> {
    let mut moved = Vec::new();
    for _ in 0..MAX_ROUNDS {
        let Some(current) = sources.get_opt(name).await? else {
            return Ok(moved);
        };
        if current.metadata.uid.as_deref() != Some(source_uid) {
            return Ok(moved);
        }
        moved.extend(move_jobs(client, ns, source_uid, to, name, target_uid).await?);
        let params = DeleteParams {
            propagation_policy: Some(PropagationPolicy::Orphan),
            preconditions: Some(Preconditions {
                uid: Some(source_uid.into()),
                resource_version: current.metadata.resource_version.clone(),
            }),
            ..DeleteParams::default()
        };
        match sources.delete(name, &params).await {
            Ok(_) => {
                moved.sort();
                moved.dedup();
                return Ok(moved);
            }
            Err(e) if is_conflict(&e) => continue,
            Err(e) if is_not_found(&e) => return Ok(moved),
            Err(e) => return Err(e).context("deleting the source"),
        }
    }
    bail!("the source kept changing; run the migration again")
}

/// Step 6, end: until the source is gone (the garbage collector removes
/// its orphan finalizer), moving any Job that still names it.
#[allow(clippy::too_many_arguments)]
async fn wait_gone(
    client: &Client,
    sources: &Api<DynamicObject>,
    ns: &str,
    name: &str,
    source_uid: &str,
    to: Kind,
    target_uid: &str,
    timeout: Duration,
) -> anyhow::Result<Vec<String>> {
    let deadline = tokio::time::Instant::now() + timeout;
    let mut moved = Vec::new();
    loop {
        let gone = sources
            .get_opt(name)
            .await?
            .is_none_or(|o| o.metadata.uid.as_deref() != Some(source_uid));
        // After the check: a Job that named it until it was gone is moved too.
        moved.extend(move_jobs(client, ns, source_uid, to, name, target_uid).await?);
        if gone || tokio::time::Instant::now() >= deadline {
            moved.sort();
            moved.dedup();
            return Ok(moved);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn resume(
    targets: &Api<DynamicObject>,
    name: &str,
    target_uid: &str,
    suspend: bool,
) -> anyhow::Result<()> {
    let patch = json!({
        "metadata": {"uid": target_uid, "annotations": {MIGRATION_ANNOTATION: null}},
        "spec": {"suspend": suspend},
    });
    targets
        .patch(name, &patch_params(), &Patch::Merge(&patch))
        .await
        .context("resuming the target")?;
    Ok(())
}

fn report_moved(out: &mut dyn std::io::Write, moved: &[String]) {
    if !moved.is_empty() {
        say(
            out,
            &format!("  moved {} Job(s): {}", moved.len(), moved.join(", ")),
        );
    }
}

async fn print_plan(
    client: &Client,
    out: &mut dyn std::io::Write,
    source: &DynamicObject,
    decoded: &Scheduled,
    to: Kind,
    original_suspend: bool,
    target_exists: bool,
) -> anyhow::Result<()> {
    let from = decoded.kind;
    let ns = decoded.namespace.as_str();
    let jobs: Api<Job> = Api::namespaced(client.clone(), ns);
    let list = jobs
        .list_metadata(&ListParams::default())
        .await
        .context("listing Jobs")?;
    let mut names: Vec<String> =
        list.items
            .iter()
            .filter(|j| {
                j.metadata.owner_references.iter().flatten().any(|r| {
                    r.controller == Some(true) && Some(&r.uid) == source.metadata.uid.as_ref()
                })
            })
            .filter_map(|j| j.metadata.name.clone())
            .collect();
    names.sort();
    let t =
        |t: Option<jiff::Timestamp>| t.map_or("never".to_string(), crate::objects::time::format);
    let mut plan = String::new();
    let _ = writeln!(
        plan,
        "  1. suspend {} {ns}/{} (suspend={original_suspend} now) and let its controller see it",
        from.kind(),
        decoded.name
    );
    let _ = writeln!(
        plan,
        "  2. {} {} {ns}/{}, suspended: schedule {:?}{}",
        if target_exists { "reuse" } else { "create" },
        to.kind(),
        decoded.name,
        decoded.spec.schedule,
        decoded
            .spec
            .time_zone
            .as_deref()
            .map_or(String::new(), |z| format!(" in {z}")),
    );
    let _ = writeln!(
        plan,
        "  3. copy its status: lastScheduleTime {}, lastSuccessfulTime {}, active [{}], handled run-now token {}",
        t(decoded.status.last_schedule_time),
        t(decoded.status.last_successful_time),
        decoded
            .status
            .active
            .iter()
            .filter_map(|r| r.name.as_deref())
            .collect::<Vec<_>>()
            .join(", "),
        decoded
            .status
            .run_now_token
            .as_deref()
            .map_or("none".to_string(), |s| format!("{s:?}")),
    );
    let _ = writeln!(
        plan,
        "  4. move {} Job(s) to the {}: {}",
        names.len(),
        to.kind(),
        if names.is_empty() {
            "none".to_string()
        } else {
            names.join(", ")
        }
    );
    let _ = writeln!(
        plan,
        "  5. delete {} {ns}/{} with propagationPolicy Orphan",
        from.kind(),
        decoded.name
    );
    let _ = writeln!(
        plan,
        "  6. set the {}'s suspend to {original_suspend}",
        to.kind()
    );
    say(out, plan.trim_end());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(uid: &str, controller: bool) -> OwnerReference {
        OwnerReference {
            api_version: "batch/v1".into(),
            kind: "CronJob".into(),
            name: "a".into(),
            uid: uid.into(),
            controller: Some(controller),
            block_owner_deletion: Some(true),
        }
    }

    #[test]
    fn rewrites_only_the_controller_reference_of_the_source() {
        let new = owner_ref(Kind::KronJob, "a", "k1");
        let other = OwnerReference {
            kind: "ConfigMap".into(),
            ..r("x", false)
        };
        let refs = vec![other.clone(), r("c1", true)];
        assert_eq!(
            rewrite_refs(&refs, "c1", &new),
            Some(vec![other.clone(), new.clone()])
        );
        assert_eq!(new.api_version, "kronjob.dev/v1alpha1");
        assert_eq!(
            (new.controller, new.block_owner_deletion),
            (Some(true), Some(true))
        );
        assert_eq!(rewrite_refs(&refs, "c2", &new), None, "another owner's Job");
        assert_eq!(
            rewrite_refs(&[r("c1", false)], "c1", &new),
            None,
            "not its controller"
        );
    }

    #[test]
    fn the_target_is_the_source_suspended_without_kubectl_state() {
        let source: DynamicObject = serde_json::from_value(json!({
            "apiVersion": "batch/v1", "kind": "CronJob",
            "metadata": {"name": "a", "namespace": "ns", "uid": "c1", "resourceVersion": "9",
                "labels": {"team": "x"},
                "annotations": {LAST_APPLIED_ANNOTATION: "{}", "keep": "me",
                    RUN_NOW_HANDLED_ANNOTATION: "t1", "kronjob.dev/run-now": "t1",
                    MIGRATION_ANNOTATION: "{\"to\":\"KronJob\",\"suspend\":false}"}},
            "spec": {"schedule": "* * * * *", "suspend": false, "jobTemplate": {"spec": {"template": {}}}},
            "status": {"lastScheduleTime": "2026-01-01T00:00:00Z"}
        }))
        .unwrap();
        let decoded = decode(Kind::CronJob, &source).unwrap();
        let t = target_manifest(&source, &decoded, Kind::KronJob, false);
        let v = serde_json::to_value(&t).unwrap();
        assert_eq!(v["apiVersion"], "kronjob.dev/v1alpha1");
        assert_eq!(v["kind"], "KronJob");
        assert_eq!(v["spec"]["suspend"], true);
        assert_eq!(v["spec"]["schedule"], "* * * * *");
        assert_eq!(v["metadata"]["labels"]["team"], "x");
        let a = &v["metadata"]["annotations"];
        assert_eq!(a["keep"], "me");
        assert_eq!(
            a["kronjob.dev/run-now"], "t1",
            "the request goes along; its handling is in the status"
        );
        assert!(a.get(LAST_APPLIED_ANNOTATION).is_none());
        assert!(
            a.get(RUN_NOW_HANDLED_ANNOTATION).is_none(),
            "a KronJob keeps it in its status"
        );
        let m: Marker = serde_json::from_str(a[MIGRATION_ANNOTATION].as_str().unwrap()).unwrap();
        assert_eq!(m, marker_for_target(Kind::CronJob, "c1", false));
        assert!(
            v["metadata"].get("uid").is_none() && v["metadata"].get("resourceVersion").is_none()
        );
        assert!(v.get("status").is_none());

        let back = target_manifest(&source, &decoded, Kind::CronJob, true);
        let a = serde_json::to_value(&back).unwrap()["metadata"]["annotations"].clone();
        assert_eq!(
            a[RUN_NOW_HANDLED_ANNOTATION], "t1",
            "a CronJob keeps it as an annotation"
        );
    }

    #[test]
    fn markers_round_trip() {
        let m = Marker {
            to: Some("KronJob".into()),
            suspend: true,
            ..Marker::default()
        };
        assert_eq!(m.text(), r#"{"to":"KronJob","suspend":true}"#);
        let meta = ObjectMeta {
            annotations: Some([(MIGRATION_ANNOTATION.to_string(), m.text())].into()),
            ..ObjectMeta::default()
        };
        assert_eq!(Marker::read(&meta).unwrap(), Some(m));
        let bad = ObjectMeta {
            annotations: Some([(MIGRATION_ANNOTATION.to_string(), "x".to_string())].into()),
            ..ObjectMeta::default()
        };
        assert!(Marker::read(&bad).is_err());
    }
}
