//! `kronjob run-now` as a user runs it, against a real API server and a
//! `kronjob run` of this test serving both kinds: one Job per token, the
//! Job's name on stdout, exit 0 ran / 1 refused / 2 error, and still one
//! Job per token when the controller dies between the create and the
//! status write (fail point `crash-after-create`).

mod common;
mod support;

use std::process::Output;
use std::time::Duration;

use k8s_openapi::api::batch::v1::{CronJob, Job};
use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams};
use serde_json::json;

use common::{TestNamespace, TestPod, wait_for};
use kronjob::lookup::api_resource;
use kronjob::model::Kind;
use kronjob::planner::run_now::manual_job_name;
use support::*;

/// Fires once a year: no slot's Job appears during a test.
const YEARLY: &str = "0 0 1 1 *";
const SERVE_BOTH: &[&str] = &["--serve", "cronjobs,kronjobs"];

fn objects(ns: &TestNamespace, kind: Kind) -> Api<DynamicObject> {
    Api::namespaced_with(ns.client().clone(), ns.name(), &api_resource(kind))
}

/// Creates a yearly object of `kind`; returns its UID.
async fn create(ns: &TestNamespace, kind: Kind, name: &str) -> String {
    let created = match kind {
        Kind::CronJob => {
            let api: Api<CronJob> = ns.api();
            api.create(
                &PostParams::default(),
                &cronjob(name, YEARLY, TestPod::Succeed),
            )
            .await
            .expect("create cronjob")
            .metadata
            .uid
        }
        Kind::KronJob => {
            objects(ns, kind)
                .create(
                    &PostParams::default(),
                    &kronjob_object(name, YEARLY, TestPod::Succeed),
                )
                .await
                .expect("create kronjob")
                .metadata
                .uid
        }
    };
    created.expect("a uid")
}

/// `kronjob run-now -n NS NAME --kind KIND [--token TOKEN]`.
async fn run_now(ns: &str, name: &str, kind: Kind, token: Option<&str>) -> Output {
    let kind = match kind {
        Kind::CronJob => "cronjob",
        Kind::KronJob => "kronjob",
    };
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_kronjob"));
    cmd.args([
        "run-now",
        "-n",
        ns,
        name,
        "--kind",
        kind,
        "--timeout",
        "90s",
    ])
    .args(token.map(|t| ["--token", t]).iter().flatten())
    .env("KUBECONFIG", kubeconfig_path().await)
    .kill_on_drop(true);
    cmd.output().await.expect("run kronjob run-now")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn names(jobs: &[Job]) -> Vec<String> {
    jobs.iter()
        .map(|j| j.metadata.name.clone().unwrap_or_default())
        .collect()
}

#[tokio::test]
async fn one_job_per_token_for_both_kinds_and_clear_exit_codes() {
    let client = common::client().await;
    install_kronjob_crd(&client).await;
    let ns = TestNamespace::new(&client, "run-now").await;
    let kronjob = Kronjob::start(ns.name(), SERVE_BOTH).await;
    let jobs: Api<Job> = ns.api();

    for (kind, name) in [(Kind::CronJob, "nightly-cj"), (Kind::KronJob, "nightly-kj")] {
        let uid = create(&ns, kind, name).await;

        let first = run_now(ns.name(), name, kind, Some("t1")).await;
        assert_eq!(first.status.code(), Some(0), "{kind:?}: {}", stderr(&first));
        let t1_job = manual_job_name(name, "t1");
        assert_eq!(stdout(&first), t1_job);

        // The same token again is the same request: its Job, not a new one.
        let again = run_now(ns.name(), name, kind, Some("t1")).await;
        assert_eq!(again.status.code(), Some(0), "{kind:?}: {}", stderr(&again));
        assert_eq!(stdout(&again), t1_job);

        // No token: a fresh one, a second Job.
        let fresh = run_now(ns.name(), name, kind, None).await;
        assert_eq!(fresh.status.code(), Some(0), "{kind:?}: {}", stderr(&fresh));
        let fresh_job = stdout(&fresh);
        assert!(
            fresh_job.starts_with(&format!("{name}-m")) && fresh_job != t1_job,
            "{fresh_job}"
        );

        let mut expected = vec![t1_job.clone(), fresh_job.clone()];
        expected.sort();
        assert_eq!(names(&jobs_controlled_by(&jobs, &uid).await), expected);

        // Suspended: refused, exit 1, no Job.
        objects(&ns, kind)
            .patch(
                name,
                &PatchParams::default(),
                &Patch::Merge(json!({"spec": {"suspend": true}})),
            )
            .await
            .expect("suspend");
        let refused = run_now(ns.name(), name, kind, Some("t2")).await;
        assert_eq!(
            refused.status.code(),
            Some(1),
            "{kind:?}: {}",
            stderr(&refused)
        );
        assert!(
            stderr(&refused).contains("suspended"),
            "{}",
            stderr(&refused)
        );
        assert_eq!(stdout(&refused), "");
        assert_eq!(names(&jobs_controlled_by(&jobs, &uid).await), expected);

        // explain reads the object from the cluster: the request is handled.
        let flag = match kind {
            Kind::CronJob => "cronjob",
            Kind::KronJob => "kronjob",
        };
        let explained = tokio::process::Command::new(env!("CARGO_BIN_EXE_kronjob"))
            .args(["explain", "-n", ns.name(), name, "--kind", flag])
            .args(["--output", "json"])
            .env("KUBECONFIG", kubeconfig_path().await)
            .output()
            .await
            .unwrap();
        assert_eq!(explained.status.code(), Some(0), "{}", stderr(&explained));
        let v: serde_json::Value = serde_json::from_slice(&explained.stdout).unwrap();
        assert_eq!(v["kind"], kind.kind());
        assert_eq!(v["runNow"]["token"], "t2");
        assert_eq!(v["runNow"]["action"], "handled");
        assert_eq!(v["action"], "stop"); // suspended
    }

    // Nothing of that name: an error, exit 2.
    let missing = run_now(ns.name(), "absent", Kind::KronJob, None).await;
    assert_eq!(missing.status.code(), Some(2), "{}", stderr(&missing));
    assert!(
        stderr(&missing).contains("not found"),
        "{}",
        stderr(&missing)
    );

    assert_eq!(kronjob.counter("kronjob_sync_panics_total"), 0.0);
}

#[tokio::test]
async fn a_crash_between_create_and_status_write_still_runs_a_token_once() {
    let client = common::client().await;
    install_kronjob_crd(&client).await;
    let ns = TestNamespace::new(&client, "run-now-crash").await;
    let jobs: Api<Job> = ns.api();
    let kubeconfig = kubeconfig_path().await;
    // A CronJob and a KronJob of the same name: the fail point (keyed on
    // the name) hits both, and run-now needs --kind to tell them apart.
    let name = "crashy";
    let failpoints = [("FAILPOINTS", "crash-after-create=return(crashy)")];

    for kind in [Kind::CronJob, Kind::KronJob] {
        let uid = create(&ns, kind, name).await;
        let mut dying =
            Kronjob::start_with_env(ns.name(), &kubeconfig, SERVE_BOTH, &failpoints).await;
        let token = format!("crash-{}", kind.plural());
        let request = tokio::spawn({
            let ns = ns.name().to_string();
            let token = token.clone();
            async move { run_now(&ns, name, kind, Some(&token)).await }
        });
        // The controller creates the Job, then aborts before recording the
        // token as handled.
        wait_for("the controller to abort", Duration::from_secs(60), || {
            let running = dying.is_running();
            async move { if running { Err("running") } else { Ok(()) } }
        })
        .await;
        let job = manual_job_name(name, &token);
        assert_eq!(
            names(&jobs_controlled_by(&jobs, &uid).await),
            std::slice::from_ref(&job)
        );

        // A new controller (the fail point still armed) finds the token
        // unhandled, finds its Job, and records it: no second Job.
        let restarted =
            Kronjob::start_with_env(ns.name(), &kubeconfig, SERVE_BOTH, &failpoints).await;
        let out = request.await.expect("run-now task");
        assert_eq!(out.status.code(), Some(0), "{kind:?}: {}", stderr(&out));
        assert_eq!(stdout(&out), job);
        assert_eq!(
            names(&jobs_controlled_by(&jobs, &uid).await),
            std::slice::from_ref(&job)
        );
        assert_eq!(restarted.counter("kronjob_jobs_created_total"), 0.0);

        // And the same token asked again is still that one Job.
        let again = run_now(ns.name(), name, kind, Some(&token)).await;
        assert_eq!(again.status.code(), Some(0), "{kind:?}: {}", stderr(&again));
        assert_eq!(stdout(&again), job);
        assert_eq!(
            names(&jobs_controlled_by(&jobs, &uid).await),
            std::slice::from_ref(&job)
        );
        drop(restarted);
    }

    // Both exist now: without --kind the name is ambiguous.
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_kronjob"));
    let o = cmd
        .args(["run-now", "-n", ns.name(), name])
        .env("KUBECONFIG", &kubeconfig)
        .output()
        .await
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("--kind"), "{}", stderr(&o));
}
