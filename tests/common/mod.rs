//! Shared harness of the integration tests (`mod common;` in `tests/*.rs`).
//!
//! * [`client`] connects to the test control plane: the cluster named by
//!   `$KUBECONFIG` when it is set (kind or any other cluster), otherwise the
//!   local one of `target/cluster/kubeconfig`, started with `hack/cluster-up.sh`
//!   if it is not running (the script serialises concurrent starts with a lock).
//! * [`TestNamespace`] is a uniquely named namespace, deleted on drop (also
//!   when the test panics).
//! * [`wait_for`] polls a condition until a deadline; never sleep to synchronise.
//! * [`job`] builds a Job whose pod succeeds, fails or runs forever, on kwok
//!   (by the `kronjob.dev/test-pod` annotation) and on a real kubelet alike.
//!
//! See docs/testing.md.
#![allow(dead_code)]

use std::fmt::Display;
use std::future::Future;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::api::batch::v1::{Job, JobCondition};
use k8s_openapi::api::core::v1::{Namespace, Node, ServiceAccount};
use kube::api::{Api, DeleteParams, ListParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};

/// Pod annotation read by the kwok stages of the local control plane.
pub const TEST_POD_ANNOTATION: &str = "kronjob.dev/test-pod";
/// Annotation that kwok's fake nodes carry.
pub const KWOK_NODE_ANNOTATION: &str = "kwok.x-k8s.io/node";
/// Label put on every namespace made by [`TestNamespace`].
pub const TEST_NAMESPACE_LABEL: &str = "kronjob.dev/test";

/// Root of the repository (the crate's manifest directory).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Path of the kubeconfig of the local control plane (`target/cluster/kubeconfig`).
pub fn local_kubeconfig() -> PathBuf {
    repo_root().join("target/cluster/kubeconfig")
}

/// Starts the local control plane once per test binary (a no-op when a healthy
/// one runs already) and returns its kubeconfig path. Blocking.
fn ensure_local_cluster() -> PathBuf {
    static STARTED: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    STARTED
        .get_or_init(|| {
            let script = repo_root().join("hack/cluster-up.sh");
            eprintln!(
                "[kronjob tests] starting the local control plane: {}",
                script.display()
            );
            let out = Command::new("bash")
                .arg(&script)
                .current_dir(repo_root())
                .stdin(Stdio::null())
                .stderr(Stdio::inherit())
                .output()
                .map_err(|e| format!("could not run {}: {e}", script.display()))?;
            if !out.status.success() {
                return Err(format!(
                    "{} failed ({}); see its output above and target/cluster/logs/",
                    script.display(),
                    out.status
                ));
            }
            let stdout = String::from_utf8_lossy(&out.stdout);
            let last = stdout
                .lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("")
                .trim();
            if last.is_empty() {
                return Err(format!("{} printed no kubeconfig path", script.display()));
            }
            Ok(PathBuf::from(last))
        })
        .clone()
        .unwrap_or_else(|e| panic!("test control plane unavailable: {e}"))
}

/// The client configuration of the test cluster: `$KUBECONFIG` when set,
/// otherwise the local control plane (started if needed).
pub async fn config() -> Config {
    if std::env::var_os("KUBECONFIG").is_some_and(|v| !v.is_empty()) {
        return Config::from_kubeconfig(&KubeConfigOptions::default())
            .await
            .unwrap_or_else(|e| panic!("cannot load the kubeconfig named by $KUBECONFIG: {e}"));
    }
    let path = tokio::task::spawn_blocking(ensure_local_cluster)
        .await
        .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()));
    let kubeconfig = Kubeconfig::read_from(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .unwrap_or_else(|e| panic!("bad kubeconfig {}: {e}", path.display()))
}

/// A client of the test cluster (see [`config`]).
pub async fn client() -> Client {
    Client::try_from(config().await).expect("cannot build a kube client")
}

/// Names of the kwok fake nodes of the cluster (annotation
/// `kwok.x-k8s.io/node: fake`); empty on a cluster without kwok, e.g. kind.
pub async fn kwok_nodes(client: &Client) -> Vec<String> {
    let nodes: Api<Node> = Api::all(client.clone());
    nodes
        .list(&ListParams::default())
        .await
        .expect("cannot list nodes")
        .items
        .into_iter()
        .filter(|n| {
            n.metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get(KWOK_NODE_ANNOTATION))
                .is_some_and(|v| v == "fake")
        })
        .filter_map(|n| n.metadata.name)
        .collect()
}

/// Polls `check` every 100 ms until it returns `Ok(value)`, and returns that
/// value. `Err(state)` means "not yet"; the last state is part of the panic
/// message when `timeout` passes first.
pub async fn wait_for<T, S, F, Fut>(what: &str, timeout: Duration, mut check: F) -> T
where
    S: Display,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, S>>,
{
    let start = Instant::now();
    loop {
        let last = match check().await {
            Ok(value) => return value,
            Err(state) => state.to_string(),
        };
        if start.elapsed() >= timeout {
            panic!("timed out after {timeout:?} waiting for {what}; last state: {last}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A namespace with a unique name `<prefix>-<suffix>`, deleted when dropped
/// (set `KRONJOB_KEEP_NAMESPACES=1` to keep it for debugging).
pub struct TestNamespace {
    client: Client,
    name: String,
    /// The kubeconfig of the control plane it lives on, when that is not the
    /// shared test cluster of [`config`] (the chaos and managed suites run
    /// their own): the drop deletes it there.
    kubeconfig: Option<PathBuf>,
}

impl TestNamespace {
    /// Creates the namespace on the shared test cluster and waits until its
    /// `default` ServiceAccount exists, so that pods can be created in it
    /// right away.
    pub async fn new(client: &Client, prefix: &str) -> TestNamespace {
        Self::create(client, None, prefix, Duration::from_secs(30)).await
    }

    /// The same on the control plane of `kubeconfig` (which `client` talks
    /// to), waiting up to `account_timeout` for the ServiceAccount: after a
    /// fault on that control plane its controller-manager may take a while.
    pub async fn on(
        client: &Client,
        kubeconfig: &std::path::Path,
        prefix: &str,
        account_timeout: Duration,
    ) -> TestNamespace {
        Self::create(client, Some(kubeconfig.to_owned()), prefix, account_timeout).await
    }

    async fn create(
        client: &Client,
        kubeconfig: Option<PathBuf>,
        prefix: &str,
        account_timeout: Duration,
    ) -> TestNamespace {
        let name = unique_name(prefix);
        let namespaces: Api<Namespace> = Api::all(client.clone());
        let ns: Namespace = serde_json::from_value(serde_json::json!({
            "metadata": { "name": name, "labels": { TEST_NAMESPACE_LABEL: "true" } }
        }))
        .expect("namespace object");
        namespaces
            .create(&PostParams::default(), &ns)
            .await
            .unwrap_or_else(|e| panic!("cannot create namespace {name}: {e}"));
        let this = TestNamespace {
            client: client.clone(),
            name,
            kubeconfig,
        };
        let accounts: Api<ServiceAccount> = this.api();
        wait_for(
            &format!("the default ServiceAccount of namespace {}", this.name),
            account_timeout,
            || async {
                match accounts.get_opt("default").await {
                    Ok(Some(_)) => Ok(()),
                    Ok(None) => Err("not created yet".to_string()),
                    Err(e) => Err(e.to_string()),
                }
            },
        )
        .await;
        this
    }

    /// The namespace's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The client the namespace was made with.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// An `Api` of a namespaced resource in this namespace.
    pub fn api<K>(&self) -> Api<K>
    where
        K: kube::Resource<Scope = NamespaceResourceScope>,
        <K as kube::Resource>::DynamicType: Default,
    {
        Api::namespaced(self.client.clone(), &self.name)
    }
}

impl Drop for TestNamespace {
    fn drop(&mut self) {
        if std::env::var("KRONJOB_KEEP_NAMESPACES").is_ok_and(|v| v == "1") {
            eprintln!("[kronjob tests] keeping namespace {}", self.name);
            return;
        }
        // The test's runtime may be single-threaded and is blocked in this drop
        // (or unwinding), so the deletion runs on a thread with its own runtime
        // and its own client: a client is bound to the runtime that made it.
        let (name, kubeconfig) = (self.name.clone(), self.kubeconfig.clone());
        let result = std::thread::spawn(move || -> Result<(), BoxError> {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            rt.block_on(async move {
                let config = match kubeconfig {
                    None => config().await,
                    Some(path) => {
                        let kc = Kubeconfig::read_from(&path)?;
                        Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default()).await?
                    }
                };
                let client = Client::try_from(config)?;
                let namespaces: Api<Namespace> = Api::all(client);
                let params = DeleteParams::background();
                let delete = namespaces.delete(&name, &params);
                match tokio::time::timeout(Duration::from_secs(20), delete).await {
                    Ok(Ok(_)) => Ok(()),
                    Ok(Err(kube::Error::Api(e))) if e.code == 404 => Ok(()),
                    Ok(Err(e)) => Err(e.into()),
                    Err(_) => Err("timed out".into()),
                }
            })
            .map_err(|e: BoxError| e)
        })
        .join();
        match result {
            Ok(Ok(())) => {}
            Ok(Err(e)) => eprintln!(
                "[kronjob tests] could not delete namespace {}: {e}",
                self.name
            ),
            Err(_) => eprintln!("[kronjob tests] deleting namespace {} panicked", self.name),
        }
    }
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// `<prefix>-<suffix>`: a valid DNS label, unique across processes and calls.
pub fn unique_name(prefix: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0) as u64;
    let mixed = nanos
        ^ (u64::from(std::process::id()) << 40)
        ^ COUNTER
            .fetch_add(1, Ordering::Relaxed)
            .wrapping_mul(0x9E37_79B9_7F4A_7C15);
    let suffix = format!("{:x}", mixed & 0xff_ffff_ffff);
    let mut prefix: String = prefix
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    prefix.truncate(63 - 1 - suffix.len());
    let prefix = prefix.trim_matches('-');
    if prefix.is_empty() {
        format!("t-{suffix}")
    } else {
        format!("{prefix}-{suffix}")
    }
}

/// How the pod of a [`job`] behaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TestPod {
    /// Exits 0 after about a second.
    Succeed,
    /// Exits 1 after about a second (`kronjob.dev/test-pod: fail`).
    Fail,
    /// Runs until deleted (`kronjob.dev/test-pod: run-forever`).
    RunForever,
}

/// A Job named `name` with one pod (`backoffLimit: 0`, `restartPolicy: Never`)
/// that behaves as `pod` says: on kwok through the `kronjob.dev/test-pod`
/// annotation, on a real cluster through the busybox command.
pub fn job(name: &str, pod: TestPod) -> Job {
    let (annotations, command) = match pod {
        TestPod::Succeed => (serde_json::json!({}), vec!["sh", "-c", "sleep 1"]),
        TestPod::Fail => (
            serde_json::json!({ TEST_POD_ANNOTATION: "fail" }),
            vec!["sh", "-c", "sleep 1; exit 1"],
        ),
        TestPod::RunForever => (
            serde_json::json!({ TEST_POD_ANNOTATION: "run-forever" }),
            vec!["sleep", "infinity"],
        ),
    };
    serde_json::from_value(serde_json::json!({
        "metadata": { "name": name },
        "spec": {
            "backoffLimit": 0,
            "template": {
                "metadata": { "annotations": annotations },
                "spec": {
                    "restartPolicy": "Never",
                    "terminationGracePeriodSeconds": 1,
                    "containers": [{
                        "name": "main",
                        "image": "busybox:1.36",
                        "command": command,
                    }]
                }
            }
        }
    }))
    .expect("job object")
}

/// The condition `type_` of a Job if it is `True`.
pub fn job_condition<'a>(job: &'a Job, type_: &str) -> Option<&'a JobCondition> {
    job.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == type_ && c.status == "True")
}

/// Waits until the Job `name` has the condition `type_` (e.g. `Complete`,
/// `Failed`) set to `True`, and returns the Job.
pub async fn wait_for_job_condition(
    jobs: &Api<Job>,
    name: &str,
    type_: &str,
    timeout: Duration,
) -> Job {
    wait_for(
        &format!("Job {name} to have condition {type_}"),
        timeout,
        || async {
            let job = jobs.get(name).await.map_err(|e| e.to_string())?;
            if job_condition(&job, type_).is_some() {
                Ok(job)
            } else {
                Err(format!("status: {:?}", job.status))
            }
        },
    )
    .await
}
