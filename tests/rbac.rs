//! The Helm chart's RBAC is exactly enough: the controller runs as the
//! chart's ServiceAccount (impersonated), not as cluster admin, through a
//! whole CronJob lifecycle with leader election.

mod common;
mod support;

use std::process::{Command, Stdio};
use std::time::Duration;

use k8s_openapi::api::batch::v1::CronJob;
use k8s_openapi::api::core::v1::Event;
use kube::api::{Api, PostParams};

use common::{TestNamespace, TestPod, wait_for};
use support::*;

fn cache() -> std::path::PathBuf {
    std::env::var_os("KRONJOB_CACHE")
        .map(Into::into)
        .unwrap_or_else(|| {
            std::path::PathBuf::from(std::env::var("HOME").unwrap()).join(".cache/kronjob")
        })
}

/// `hack/build-tools.sh --env` names the helm binary it built.
fn helm() -> String {
    let out = Command::new(common::repo_root().join("hack/build-tools.sh"))
        .arg("--env")
        .stderr(Stdio::inherit())
        .output()
        .expect("hack/build-tools.sh --env");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("export HELM=").map(str::to_owned))
        .expect("HELM in hack/build-tools.sh --env")
}

fn run(cmd: &mut Command, input: Option<&str>) -> String {
    use std::io::Write;
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    if let Some(i) = input {
        child.stdin.take().unwrap().write_all(i.as_bytes()).unwrap();
    }
    drop(child.stdin.take());
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[tokio::test]
async fn the_charts_rbac_is_enough_for_the_whole_lifecycle() {
    let client = common::client().await;
    let ctrl = TestNamespace::new(&client, "rbac-ctrl").await;
    let work = TestNamespace::new(&client, "rbac-work").await;
    let admin_kubeconfig = kubeconfig_path().await;
    let kubectl = cache().join("k8s-v1.36.3/bin/kubectl");
    let kubectl = if kubectl.exists() {
        kubectl.into_os_string().into_string().unwrap()
    } else {
        "kubectl".into()
    };

    // The chart's ServiceAccount and RBAC, namespace-scoped to the work
    // namespace, Lease permissions in the controller's namespace.
    let release = format!("kj-{}", ctrl.name());
    let rendered = run(
        Command::new(helm()).args([
            "template",
            &release,
            common::repo_root().join("charts/kronjob").to_str().unwrap(),
            "--namespace",
            ctrl.name(),
            "--set",
            &format!("watchNamespaces={{{}}}", work.name()),
            "--show-only",
            "templates/serviceaccount.yaml",
            "--show-only",
            "templates/rbac.yaml",
        ]),
        None,
    );
    assert!(
        rendered.contains("kind: Role") && !rendered.contains("kind: ClusterRole"),
        "{rendered}"
    );
    run(
        Command::new(&kubectl).args([
            "--kubeconfig",
            admin_kubeconfig.to_str().unwrap(),
            "apply",
            "-f",
            "-",
        ]),
        Some(&rendered),
    );
    let sa = rendered
        .split("---")
        .find(|d| d.contains("kind: ServiceAccount"))
        .and_then(|d| {
            d.lines()
                .find_map(|l| l.trim().strip_prefix("name: ").map(str::to_owned))
        })
        .expect("ServiceAccount name");

    // A kubeconfig that impersonates it.
    let mut kc: serde_json::Value =
        serde_norway::from_str(&std::fs::read_to_string(&admin_kubeconfig).unwrap()).unwrap();
    for user in kc["users"].as_array_mut().unwrap() {
        user["user"]["as"] =
            serde_json::json!(format!("system:serviceaccount:{}:{}", ctrl.name(), sa));
    }
    let impersonating = std::env::temp_dir().join(format!("kubeconfig-{}", ctrl.name()));
    std::fs::write(&impersonating, serde_norway::to_string(&kc).unwrap()).unwrap();

    let k = Kronjob::start_with_kubeconfig(
        work.name(),
        &impersonating,
        &[
            "--leader-elect",
            "--leader-elect-lease-namespace",
            ctrl.name(),
            "--leader-elect-retry-period",
            "500ms",
        ],
    )
    .await;
    wait_for(
        "leadership as the ServiceAccount",
        Duration::from_secs(20),
        || async {
            if sum_metric(&k.metrics(), "kronjob_leader", None) == 1.0 {
                Ok(())
            } else {
                Err("not leading")
            }
        },
    )
    .await;

    // Create, watch, write status, publish Events, delete history.
    let cronjobs: Api<CronJob> = work.api();
    let events_api: Api<Event> = work.api();
    let mut cj = cronjob("rbac", "@every 2s", TestPod::Succeed);
    cj.spec.successful_jobs_history_limit = Some(0);
    cronjobs.create(&PostParams::default(), &cj).await.unwrap();
    wait_for_event(
        &events_api,
        "rbac",
        "SuccessfulCreate",
        Duration::from_secs(30),
    )
    .await;
    wait_for_event(
        &events_api,
        "rbac",
        "SuccessfulDelete",
        Duration::from_secs(60),
    )
    .await;
    wait_for(
        "status written by the ServiceAccount",
        Duration::from_secs(30),
        || async {
            let st = get_cronjob(&cronjobs, "rbac")
                .await
                .status
                .unwrap_or_default();
            if st.last_successful_time.is_some() {
                Ok(())
            } else {
                Err(format!("{st:?}"))
            }
        },
    )
    .await;
    let log = k.log_text();
    assert!(
        !log.to_lowercase().contains("forbidden"),
        "a request was refused:\n{log}"
    );
    assert_eq!(
        k.counter_with("kronjob_reconciles_total", "error"),
        0.0,
        "{log}"
    );
    let _ = std::fs::remove_file(impersonating);
}
