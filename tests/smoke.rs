//! Smoke tests of the test control plane itself: the job controller, the
//! scheduler and kwok together run a Job's pod to success or failure.
//! Run against the local control plane or any cluster named by $KUBECONFIG.

mod common;

use std::time::Duration;

use common::{TestNamespace, TestPod};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};

const TIMEOUT: Duration = Duration::from_secs(60);

/// The pod of Job `job` once it is bound to a node; on a cluster with kwok
/// nodes, the node must be one of them.
async fn scheduled_pod(ns: &TestNamespace, job: &str) -> Pod {
    let pods: Api<Pod> = ns.api();
    let lp = ListParams::default().labels(&format!("batch.kubernetes.io/job-name={job}"));
    let pod = common::wait_for(
        &format!("a pod of Job {job} bound to a node"),
        TIMEOUT,
        || async {
            let list = pods.list(&lp).await.map_err(|e| e.to_string())?;
            list.items
                .into_iter()
                .find(|p| p.spec.as_ref().and_then(|s| s.node_name.as_ref()).is_some())
                .ok_or_else(|| "no pod bound yet".to_string())
        },
    )
    .await;
    let node_name = pod.spec.as_ref().and_then(|s| s.node_name.clone()).unwrap();
    let kwok_nodes = common::kwok_nodes(ns.client()).await;
    if !kwok_nodes.is_empty() {
        assert!(
            kwok_nodes.contains(&node_name),
            "pod bound to {node_name}, not to a kwok node {kwok_nodes:?}"
        );
    }
    pod
}

#[tokio::test]
async fn job_pod_runs_on_a_fake_node_and_the_job_completes() {
    let client = common::client().await;
    let ns = TestNamespace::new(&client, "smoke-complete").await;
    let jobs: Api<Job> = ns.api();
    jobs.create(&PostParams::default(), &common::job("ok", TestPod::Succeed))
        .await
        .expect("create job");

    scheduled_pod(&ns, "ok").await;
    let job = common::wait_for_job_condition(&jobs, "ok", "Complete", TIMEOUT).await;
    assert_eq!(
        job.status.as_ref().and_then(|s| s.succeeded),
        Some(1),
        "status: {:?}",
        job.status
    );

    let pods: Api<Pod> = ns.api();
    let list = pods
        .list(&ListParams::default().labels("batch.kubernetes.io/job-name=ok"))
        .await
        .unwrap();
    assert_eq!(list.items.len(), 1);
    let status = list.items[0].status.as_ref().unwrap();
    assert_eq!(status.phase.as_deref(), Some("Succeeded"));
}

#[tokio::test]
async fn job_with_a_failing_pod_fails() {
    let client = common::client().await;
    let ns = TestNamespace::new(&client, "smoke-fail").await;
    let jobs: Api<Job> = ns.api();
    jobs.create(&PostParams::default(), &common::job("bad", TestPod::Fail))
        .await
        .expect("create job");

    scheduled_pod(&ns, "bad").await;
    let job = common::wait_for_job_condition(&jobs, "bad", "Failed", TIMEOUT).await;
    assert_eq!(
        job.status.as_ref().and_then(|s| s.failed),
        Some(1),
        "status: {:?}",
        job.status
    );

    let pods: Api<Pod> = ns.api();
    let list = pods
        .list(&ListParams::default().labels("batch.kubernetes.io/job-name=bad"))
        .await
        .unwrap();
    let status = list.items[0].status.as_ref().unwrap();
    assert_eq!(status.phase.as_deref(), Some("Failed"));
    let exit_code = status.container_statuses.as_ref().unwrap()[0]
        .state
        .as_ref()
        .and_then(|s| s.terminated.as_ref())
        .map(|t| t.exit_code);
    assert_eq!(exit_code, Some(1));
}

/// kwok only: a `run-forever` pod keeps running until its annotation goes away.
#[tokio::test]
async fn run_forever_pod_runs_until_the_annotation_is_removed() {
    let client = common::client().await;
    if common::kwok_nodes(&client).await.is_empty() {
        eprintln!("no kwok nodes in this cluster: skipping");
        return;
    }
    let ns = TestNamespace::new(&client, "smoke-forever").await;
    let jobs: Api<Job> = ns.api();
    jobs.create(
        &PostParams::default(),
        &common::job("long", TestPod::RunForever),
    )
    .await
    .expect("create job");

    let pod = scheduled_pod(&ns, "long").await;
    let name = pod.metadata.name.clone().unwrap();
    let pods: Api<Pod> = ns.api();
    // It must still run (and its Job be active) 2 s after it started, well
    // past the ~1 s after which a pod without the annotation succeeds.
    common::wait_for(
        &format!("pod {name} to have run for 2 s"),
        TIMEOUT,
        || async {
            let pod = pods.get(&name).await.map_err(|e| e.to_string())?;
            let status = pod.status.unwrap_or_default();
            assert!(
                matches!(status.phase.as_deref(), Some("Pending" | "Running")),
                "run-forever pod ended: {status:?}"
            );
            match (status.phase.as_deref(), status.start_time) {
                (Some("Running"), Some(t))
                    if jiff::Timestamp::now().duration_since(t.0).as_secs() >= 2 =>
                {
                    Ok(())
                }
                (phase, t) => Err(format!("phase {phase:?}, started at {t:?}")),
            }
        },
    )
    .await;
    let job = jobs.get("long").await.unwrap();
    assert!(
        common::job_condition(&job, "Complete").is_none(),
        "finished too early: {:?}",
        job.status
    );
    assert_eq!(
        job.status.as_ref().and_then(|s| s.active),
        Some(1),
        "status: {:?}",
        job.status
    );

    let patch =
        serde_json::json!({ "metadata": { "annotations": { common::TEST_POD_ANNOTATION: null } } });
    pods.patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .expect("remove the annotation");
    common::wait_for_job_condition(&jobs, "long", "Complete", TIMEOUT).await;
}
