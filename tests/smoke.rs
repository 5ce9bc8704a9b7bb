//! Smoke tests of the test control plane itself: the job controller, the
//! scheduler and kwok together run a Job's pod to success or failure.
//! Run against the local control plane or any cluster named by $KUBECONFIG.

mod common;

use std::time::Duration;

use common::{TestNamespace, TestPod};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{Api, ListParams, PostParams};

const TIMEOUT: Duration = Duration::from_secs(60);

/// The pod of Job `job` once it is bound to a node; on a cluster with kwok
/// nodes, the node must be one of them.
async fn scheduled_pod(ns: &TestNamespace, job: &str) -> Pod {
    let pods: Api<Pod> = ns.api();
    let lp = ListParams::default().labels(&format!("batch.kubernetes.io/job-name={job}"));
    let pod = common::wait_for(&format!("a pod of Job {job} bound to a node"), TIMEOUT, || async {
        let list = pods.list(&lp).await.map_err(|e| e.to_string())?;
        list.items
            .into_iter()
            .find(|p| p.spec.as_ref().and_then(|s| s.node_name.as_ref()).is_some())
            .ok_or_else(|| "no pod bound yet".to_string())
    })
    .await;
    let node_name = pod.spec.as_ref().and_then(|s| s.node_name.clone()).unwrap();
    let nodes: Api<Node> = Api::all(ns.client().clone());
    let kwok_nodes: Vec<String> = nodes
        .list(&ListParams::default())
        .await
        .expect("list nodes")
        .items
        .into_iter()
        .filter(|n| {
            n.metadata.annotations.as_ref().and_then(|a| a.get(common::KWOK_NODE_ANNOTATION)).is_some_and(|v| v == "fake")
        })
        .filter_map(|n| n.metadata.name)
        .collect();
    if !kwok_nodes.is_empty() {
        assert!(kwok_nodes.contains(&node_name), "pod bound to {node_name}, not to a kwok node {kwok_nodes:?}");
    }
    pod
}

#[tokio::test]
async fn job_pod_runs_on_a_fake_node_and_the_job_completes() {
    let client = common::client().await;
    let ns = TestNamespace::new(&client, "smoke-complete").await;
    let jobs: Api<Job> = ns.api();
    jobs.create(&PostParams::default(), &common::job("ok", TestPod::Succeed)).await.expect("create job");

    scheduled_pod(&ns, "ok").await;
    let job = common::wait_for_job_condition(&jobs, "ok", "Complete", TIMEOUT).await;
    assert_eq!(job.status.as_ref().and_then(|s| s.succeeded), Some(1), "status: {:?}", job.status);

    let pods: Api<Pod> = ns.api();
    let list = pods.list(&ListParams::default().labels("batch.kubernetes.io/job-name=ok")).await.unwrap();
    assert_eq!(list.items.len(), 1);
    let status = list.items[0].status.as_ref().unwrap();
    assert_eq!(status.phase.as_deref(), Some("Succeeded"));
}

#[tokio::test]
async fn job_with_a_failing_pod_fails() {
    let client = common::client().await;
    let ns = TestNamespace::new(&client, "smoke-fail").await;
    let jobs: Api<Job> = ns.api();
    jobs.create(&PostParams::default(), &common::job("bad", TestPod::Fail)).await.expect("create job");

    scheduled_pod(&ns, "bad").await;
    let job = common::wait_for_job_condition(&jobs, "bad", "Failed", TIMEOUT).await;
    assert_eq!(job.status.as_ref().and_then(|s| s.failed), Some(1), "status: {:?}", job.status);

    let pods: Api<Pod> = ns.api();
    let list = pods.list(&ListParams::default().labels("batch.kubernetes.io/job-name=bad")).await.unwrap();
    let status = list.items[0].status.as_ref().unwrap();
    assert_eq!(status.phase.as_deref(), Some("Failed"));
    let exit_code = status.container_statuses.as_ref().unwrap()[0]
        .state
        .as_ref()
        .and_then(|s| s.terminated.as_ref())
        .map(|t| t.exit_code);
    assert_eq!(exit_code, Some(1));
}
