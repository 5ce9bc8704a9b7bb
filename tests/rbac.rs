//! The Helm chart's RBAC is exactly enough: the controller runs as the
//! chart's ServiceAccount (impersonated), not as cluster admin, serving both
//! kinds (`serve: [cronjobs, kronjobs]`), and serving KronJobs with the
//! chart's default (which grants nothing on `batch/v1` CronJobs), on the
//! hardened control plane
//! (admission plugins of hack/cluster-up.sh, OwnerReferencesPermissionEnforcement
//! among them). For a CronJob and a KronJob each: Job creation with
//! blockOwnerDeletion, status, Events and Event series, successful and
//! failed history cleanup, Replace, Forbid and run-now (a CronJob records
//! the token handled in an annotation, a KronJob in its status); and the
//! Lease (created, renewed, released on SIGTERM).

mod common;
mod support;

use std::process::{Command, Stdio};
use std::time::Duration;

use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Event, ServiceAccount};
use k8s_openapi::api::events;
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::Client;
use kube::api::{Api, ListParams, PostParams};
use serde_json::json;

use common::{TestNamespace, TestPod, wait_for};
use support::*;

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
async fn the_charts_rbac_for_both_kinds_is_enough_for_the_whole_lifecycle() {
    let run = lifecycle_as_the_charts_service_account(&Flavor::ALL).await;
    let _ = std::fs::remove_file(run.impersonating);
}

/// The chart's default (`serve: [kronjobs]`, safe beside a managed
/// cluster's own CronJob controller) grants nothing on `batch/v1` CronJobs,
/// and is enough for a KronJob's whole lifecycle.
#[tokio::test]
async fn the_charts_default_rbac_serves_kronjobs_and_nothing_of_cronjobs() {
    let Lifecycles {
        work,
        impersonating,
        ..
    } = lifecycle_as_the_charts_service_account(&[Flavor::KronJob]).await;
    let config = kube::Config::from_custom_kubeconfig(
        kube::config::Kubeconfig::read_from(&impersonating).unwrap(),
        &kube::config::KubeConfigOptions::default(),
    )
    .await
    .unwrap();
    let as_sa: Api<CronJob> = Api::namespaced(Client::try_from(config).unwrap(), work.name());
    match as_sa.list(&ListParams::default()).await {
        Err(kube::Error::Api(e)) if e.code == 403 => {}
        other => panic!("the default ServiceAccount may list CronJobs: {other:?}"),
    }
    let _ = std::fs::remove_file(impersonating);
}

/// Render the chart's ServiceAccount and RBAC (serving `kinds`; the chart's
/// default `serve` when that is only KronJobs), apply them, run kronjob as
/// that ServiceAccount and take each kind through its lifecycle.
async fn lifecycle_as_the_charts_service_account(kinds: &[Flavor]) -> Lifecycles {
    let client = common::client().await;
    install_kronjob_crd(&client).await;
    let ctrl = TestNamespace::new(&client, "rbac-ctrl").await;
    let work = TestNamespace::new(&client, "rbac-work").await;
    let admin_kubeconfig = kubeconfig_path().await;
    let serve = kinds
        .iter()
        .map(|k| k.plural())
        .collect::<Vec<_>>()
        .join(",");

    // The chart's ServiceAccount and RBAC, namespace-scoped to the work
    // namespace, Lease permissions in the controller's namespace.
    let release = format!("kj-{}", ctrl.name());
    let chart = common::repo_root().join("charts/kronjob");
    let watch = format!("watchNamespaces={{{}}}", work.name());
    let serve_value = format!("serve={{{serve}}}");
    let mut args = vec![
        "template",
        &release,
        chart.to_str().unwrap(),
        "--namespace",
        ctrl.name(),
        "--set",
        &watch,
        "--show-only",
        "templates/serviceaccount.yaml",
        "--show-only",
        "templates/rbac.yaml",
    ];
    if kinds != [Flavor::KronJob] {
        args.extend(["--set", &serve_value]);
    }
    let rendered = run(Command::new(helm()).args(args), None);
    assert!(
        rendered.contains("kind: Role") && !rendered.contains("kind: ClusterRole"),
        "{rendered}"
    );
    assert_eq!(
        rendered.contains("\"cronjobs\""),
        kinds.contains(&Flavor::CronJob),
        "batch/v1 CronJobs are granted exactly when served:\n{rendered}"
    );
    run(
        Command::new(kubectl()).args([
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

    let identity = format!("rbac-{}", ctrl.name());
    let mut k = Kronjob::start_with_kubeconfig(
        work.name(),
        &impersonating,
        &[
            "--serve",
            &serve,
            "--identity",
            &identity,
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

    // Leader election as the ServiceAccount: the Lease is created, held and
    // renewed (get, create, update).
    let leases: Api<Lease> = ctrl.api();
    let renewed = wait_for(
        "the Lease held by kronjob",
        Duration::from_secs(20),
        || async {
            match lease_state(&leases).await {
                (Some(h), Some(r)) if h == identity => Ok(r),
                other => Err(format!("{other:?}")),
            }
        },
    )
    .await;
    wait_for("the Lease renewed", Duration::from_secs(20), || async {
        match lease_state(&leases).await {
            (Some(h), Some(r)) if h == identity && r != renewed => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;

    // The kinds side by side; each object's name starts with its kind's
    // tag, so that their Jobs' names differ.
    let mut lifecycles = vec![];
    for &flavor in kinds {
        lifecycles.push(Lifecycle::start(&client, work.name(), flavor).await);
    }
    for l in &lifecycles {
        l.check(&work).await;
    }

    let log = k.log_text();
    assert!(
        !log.to_lowercase().contains("forbidden"),
        "a request was refused:\n{log}"
    );
    for (metric, label) in [
        ("kronjob_reconciles_total", "error"),
        ("kronjob_events_total", "failed"),
        ("kronjob_job_create_errors_total", ""),
    ] {
        assert_eq!(
            k.counter_with(metric, label),
            0.0,
            "{metric} {label}\n{log}"
        );
    }
    let n = kinds.len() as f64;
    assert!(k.counter_with("kronjob_jobs_deleted_total", "replace") >= n);
    assert!(k.counter_with("kronjob_jobs_deleted_total", "history") >= 2.0 * n);

    // SIGTERM: the ServiceAccount gives the Lease up (update).
    let status = k.terminate();
    assert!(status.success(), "{status:?}\n{}", k.log_text());
    let (holder, _) = lease_state(&leases).await;
    assert_eq!(holder, None, "the Lease is released on SIGTERM");
    assert!(!k.log_text().contains("could not release the lease"));
    Lifecycles {
        _ctrl: ctrl,
        work,
        impersonating,
    }
}

/// What a lifecycle run leaves for further checks.
struct Lifecycles {
    /// The controller's namespace (the ServiceAccount's), kept until the
    /// test ends.
    _ctrl: TestNamespace,
    work: TestNamespace,
    /// A kubeconfig that impersonates the chart's ServiceAccount.
    impersonating: std::path::PathBuf,
}

/// One kind's objects in the lifecycle, named `<tag>-<role>`.
struct Lifecycle {
    flavor: Flavor,
    objects: Objects,
    jobs: Api<Job>,
    events: Api<Event>,
    /// The running Job `Replace` must delete.
    replaced: String,
}

impl Lifecycle {
    fn name(&self, role: &str) -> String {
        format!("{}-{role}", self.flavor.tag())
    }

    /// Create the objects of every step; the controller acts on them
    /// concurrently.
    async fn start(client: &Client, ns: &str, flavor: Flavor) -> Lifecycle {
        let mut l = Lifecycle {
            flavor,
            objects: Objects::new(client, ns, flavor),
            jobs: Api::namespaced(client.clone(), ns),
            events: Api::namespaced(client.clone(), ns),
            replaced: String::new(),
        };
        // Job creation (blockOwnerDeletion), status, successful history cleanup.
        let mut succeed = cronjob(&l.name("succeed"), "@every 2s", TestPod::Succeed);
        succeed.spec.successful_jobs_history_limit = Some(0);
        let succeed = l.objects.create(&succeed).await;
        check_owner_references_are_enforced(client, ns, flavor, &succeed).await;
        // Failed history cleanup.
        let mut fail = cronjob(&l.name("fail"), "@every 2s", TestPod::Fail);
        fail.spec.failed_jobs_history_limit = Some(0);
        l.objects.create(&fail).await;
        // Replace deletes the running Job; Forbid skips at every slot, which
        // repeats its Event (an Event series: a patch).
        l.replaced = l.with_a_running_job("replace", "Replace").await;
        l.with_a_running_job("forbid", "Forbid").await;
        // Run now: a Job at once; the token recorded (a CronJob's in an
        // annotation: a patch of the object itself).
        let manual = cronjob(&l.name("manual"), "0 0 1 1 *", TestPod::Succeed);
        l.objects.create(&manual).await;
        l.objects
            .merge(
                &l.name("manual"),
                json!({"metadata": {"annotations": {"kronjob.dev/run-now": "rbac-1"}}}),
            )
            .await;
        l
    }

    async fn check(&self, work: &TestNamespace) {
        let kind = self.flavor.kind();
        for role in ["succeed", "fail"] {
            let name = self.name(role);
            wait_for_event_of(
                &self.events,
                kind,
                &name,
                "SuccessfulCreate",
                Duration::from_secs(30),
            )
            .await;
            let (_, _, msg) = wait_for_event_of(
                &self.events,
                kind,
                &name,
                "SuccessfulDelete",
                Duration::from_secs(60),
            )
            .await;
            assert!(msg.starts_with(&format!("Deleted job {name}-")), "{msg}");
        }
        wait_for(
            &format!("{kind} status written by the ServiceAccount"),
            Duration::from_secs(30),
            || async {
                let st = self
                    .objects
                    .get(&self.name("succeed"))
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

        let replace = self.name("replace");
        let (_, _, msg) = wait_for_event_of(
            &self.events,
            kind,
            &replace,
            "SuccessfulDelete",
            Duration::from_secs(30),
        )
        .await;
        assert_eq!(msg, format!("Deleted job {}", self.replaced));
        let replacement = wait_for(
            "the replacement Job recorded as the only active one",
            Duration::from_secs(30),
            || async {
                let active = active_names(&self.objects.get(&replace).await);
                match active.as_slice() {
                    [one] if *one != self.replaced => Ok(one.clone()),
                    _ => Err(format!("{active:?}")),
                }
            },
        )
        .await;
        // kronjob's Job carries blockOwnerDeletion, so its creation went
        // through OwnerReferencesPermissionEnforcement.
        let owner = self
            .jobs
            .get(&replacement)
            .await
            .unwrap()
            .metadata
            .owner_references
            .unwrap();
        assert_eq!(
            (owner[0].kind.as_str(), owner[0].block_owner_deletion),
            (kind, Some(true)),
            "kronjob's Jobs block their owner's foreground deletion"
        );

        let forbid = self.name("forbid");
        let series: Api<events::v1::Event> = work.api();
        wait_for(
            "the repeated JobAlreadyActive Event counted as a series",
            Duration::from_secs(30),
            || async {
                let list = series.list(&ListParams::default()).await.unwrap().items;
                let counts: Vec<_> = list
                    .iter()
                    .filter(|e| {
                        e.reason.as_deref() == Some("JobAlreadyActive")
                            && e.regarding.as_ref().and_then(|r| r.name.as_deref())
                                == Some(forbid.as_str())
                    })
                    .map(|e| e.series.as_ref().map_or(1, |s| s.count))
                    .collect();
                if counts.iter().any(|c| *c >= 2) {
                    Ok(())
                } else {
                    Err(format!("{counts:?}"))
                }
            },
        )
        .await;

        // The run-now Job, and the token recorded as handled.
        let manual = self.name("manual");
        let job_name = kronjob::planner::run_now::manual_job_name(&manual, "rbac-1");
        let (_, _, msg) = wait_for_event_of(
            &self.events,
            kind,
            &manual,
            "SuccessfulCreate",
            Duration::from_secs(30),
        )
        .await;
        assert_eq!(msg, format!("Created job {job_name}"));
        let job = self.jobs.get(&job_name).await.unwrap();
        assert_eq!(
            job.metadata.annotations.unwrap()["cronjob.kubernetes.io/instantiate"],
            "manual"
        );
        wait_for(
            "the run-now token recorded",
            Duration::from_secs(30),
            || async {
                let v = self.objects.get_json(&manual).await;
                let handled = match self.flavor {
                    Flavor::CronJob => &v["metadata"]["annotations"]["kronjob.dev/run-now-handled"],
                    Flavor::KronJob => &v["status"]["runNowToken"],
                };
                if handled == "rbac-1" {
                    Ok(())
                } else {
                    Err(format!("{handled}"))
                }
            },
        )
        .await;
    }

    /// A suspended object whose status.active already lists a running Job
    /// `<name>-old` (created and recorded by the admin), then resumed: its
    /// first slot meets a running Job, which its concurrency `policy` acts on.
    async fn with_a_running_job(&self, role: &str, policy: &str) -> String {
        let name = self.name(role);
        let mut cj = cronjob(&name, "@every 2s", TestPod::RunForever);
        cj.spec.concurrency_policy = Some(policy.into());
        cj.spec.suspend = Some(true);
        let cj = self.objects.create(&cj).await;
        let old = format!("{name}-old");
        let job = self
            .jobs
            .create(
                &PostParams::default(),
                &owned_job(&old, self.flavor, &cj, TestPod::RunForever),
            )
            .await
            .unwrap();
        let active = json!({"status": {"active": [{
            "apiVersion": "batch/v1", "kind": "Job", "name": old,
            "namespace": job.metadata.namespace, "uid": job.metadata.uid,
        }]}});
        self.objects.patch_status(&name, active).await;
        self.objects
            .patch_spec(&name, json!({"suspend": false}))
            .await;
        old
    }
}

/// A Job owned by `cj` (of kind `flavor`) as kronjob's would be
/// (controller, blockOwnerDeletion).
fn owned_job(name: &str, flavor: Flavor, cj: &CronJob, pod: TestPod) -> Job {
    let mut job = common::job(name, pod);
    job.metadata.owner_references = Some(vec![OwnerReference {
        api_version: flavor.api_version().into(),
        kind: flavor.kind().into(),
        name: cj.metadata.name.clone().unwrap(),
        uid: cj.metadata.uid.clone().unwrap(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    }]);
    job
}

/// The Lease's (holder, renewTime).
async fn lease_state(leases: &Api<Lease>) -> (Option<String>, Option<String>) {
    let spec = leases
        .get_opt("kronjob")
        .await
        .unwrap()
        .and_then(|l| l.spec)
        .unwrap_or_default();
    (
        spec.holder_identity,
        spec.renew_time.map(|t| t.0.to_string()),
    )
}

/// On the local control plane, OwnerReferencesPermissionEnforcement must
/// refuse a Job with blockOwnerDeletion from a ServiceAccount that may create
/// Jobs but not update the owner's (CronJob's or KronJob's) finalizers, and
/// accept the same Job without the ownerReference: the lifecycle then proves
/// the chart grants what that plugin asks for. Elsewhere (kind, …) the
/// plugin may be off.
async fn check_owner_references_are_enforced(
    client: &Client,
    ns: &str,
    flavor: Flavor,
    cj: &CronJob,
) {
    let enforced = probe_block_owner_deletion(client, ns, flavor, cj).await;
    // `make test` sets KUBECONFIG to the local control plane's kubeconfig.
    let local = std::env::var_os("KUBECONFIG")
        .filter(|v| !v.is_empty())
        .is_none_or(|k| {
            let ours = std::fs::canonicalize(common::local_kubeconfig()).ok();
            std::fs::canonicalize(k).is_ok_and(|k| Some(k) == ours)
        });
    if local {
        assert!(
            enforced,
            "the local control plane must run OwnerReferencesPermissionEnforcement (hack/cluster-up.sh)"
        );
    } else if !enforced {
        eprintln!("note: this cluster does not enforce blockOwnerDeletion permissions");
    }
}

async fn probe_block_owner_deletion(
    client: &Client,
    ns: &str,
    flavor: Flavor,
    cj: &CronJob,
) -> bool {
    let sa = &format!("probe-no-finalizers-{}", flavor.tag());
    let objects: [serde_json::Value; 3] = [
        json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": sa}}),
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
               "metadata": {"name": sa},
               "rules": [{"apiGroups": ["batch"], "resources": ["jobs"], "verbs": ["create"]}]}),
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
               "metadata": {"name": sa},
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": sa},
               "subjects": [{"kind": "ServiceAccount", "name": sa, "namespace": ns}]}),
    ];
    let sas: Api<ServiceAccount> = Api::namespaced(client.clone(), ns);
    let roles: Api<Role> = Api::namespaced(client.clone(), ns);
    let bindings: Api<RoleBinding> = Api::namespaced(client.clone(), ns);
    let pp = PostParams::default();
    sas.create(&pp, &serde_json::from_value(objects[0].clone()).unwrap())
        .await
        .unwrap();
    roles
        .create(&pp, &serde_json::from_value(objects[1].clone()).unwrap())
        .await
        .unwrap();
    bindings
        .create(&pp, &serde_json::from_value(objects[2].clone()).unwrap())
        .await
        .unwrap();
    let mut config = common::config().await;
    config.auth_info.impersonate = Some(format!("system:serviceaccount:{ns}:{sa}"));
    let probe: Api<Job> = Api::namespaced(Client::try_from(config).unwrap(), ns);
    // RBAC is evaluated asynchronously from its objects' watch: wait until the
    // plain create is allowed.
    wait_for(
        "the probe's Role to take effect",
        Duration::from_secs(20),
        || async {
            let plain = common::job(&common::unique_name("probe-plain"), TestPod::Succeed);
            probe
                .create(&pp, &plain)
                .await
                .map(drop)
                .map_err(|e| e.to_string())
        },
    )
    .await;
    let owned = owned_job(
        &common::unique_name("probe-owned"),
        flavor,
        cj,
        TestPod::Succeed,
    );
    match probe.create(&pp, &owned).await {
        Ok(_) => false,
        Err(kube::Error::Api(e)) if e.code == 403 => {
            assert!(e.message.contains("blockOwnerDeletion"), "{e:?}");
            true
        }
        Err(e) => panic!("unexpected error from the probe: {e}"),
    }
}
