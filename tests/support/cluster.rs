//! A control plane of a test binary's own, beside the shared one of
//! `target/cluster`: the same scripts (hack/cluster-up.sh and friends) with
//! another state directory (`KRONJOB_CLUSTER_DIR`) and, if asked, another
//! controller-manager configuration (`KRONJOB_KCM_CONTROLLERS`). The chaos
//! suite kills and restarts the components of its own (target/cluster-chaos);
//! the managed suite runs one with the built-in CronJob controller on
//! (target/cluster-managed).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use k8s_openapi::api::core::v1::{Namespace, ServiceAccount};
use kube::api::{Api, DeleteParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};

use crate::common;

/// A control plane started from `hack/` in its own state directory.
pub struct OwnCluster {
    /// The state directory, relative to the repository root.
    pub dir: String,
    pub kubeconfig: PathBuf,
    /// The API server's address.
    pub api: SocketAddr,
}

/// A script of `hack/` acting on the control plane in `dir`, with `env`.
fn hack(dir: &str, env: &[(&str, &str)], script: &str) -> Command {
    let mut c = Command::new("bash");
    c.arg(common::repo_root().join("hack").join(script))
        .current_dir(common::repo_root())
        .env("KRONJOB_CLUSTER_DIR", dir)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stderr(Stdio::inherit());
    c
}

impl OwnCluster {
    /// Start the control plane of `dir` (or reuse it if it runs healthy with
    /// the same configuration), with extra environment for
    /// hack/cluster-up.sh such as `KRONJOB_KCM_CONTROLLERS`. Blocking.
    pub fn start(dir: &str, env: &[(&str, &str)]) -> OwnCluster {
        eprintln!("[tests] starting a control plane in {dir} {env:?}");
        let out = hack(dir, env, "cluster-up.sh")
            .stdout(Stdio::piped())
            .output()
            .expect("run hack/cluster-up.sh");
        assert!(
            out.status.success(),
            "hack/cluster-up.sh for {dir} failed ({}); see its output above",
            out.status
        );
        let stdout = String::from_utf8_lossy(&out.stdout);
        let kubeconfig = PathBuf::from(stdout.lines().last().expect("kubeconfig path").trim());
        let ports = std::fs::read_to_string(common::repo_root().join(dir).join("ports.env"))
            .expect("ports.env");
        let port: u16 = ports
            .lines()
            .find_map(|l| l.strip_prefix("API_PORT="))
            .expect("API_PORT")
            .parse()
            .unwrap();
        OwnCluster {
            dir: dir.to_owned(),
            kubeconfig,
            api: SocketAddr::from(([127, 0, 0, 1], port)),
        }
    }

    pub async fn config(&self) -> Config {
        let kc = Kubeconfig::read_from(&self.kubeconfig).expect("read kubeconfig");
        Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
            .await
            .expect("kubeconfig")
    }

    pub async fn client(&self) -> Client {
        Client::try_from(self.config().await).expect("client")
    }

    /// SIGKILL a component (`etcd`, `kube-apiserver`, ...).
    pub async fn kill(&self, component: &str) {
        self.run_script("cluster-kill.sh", component).await;
    }

    /// Start a component again with its recorded command line; returns once
    /// it is healthy.
    pub async fn restart(&self, component: &str) {
        self.run_script("cluster-restart.sh", component).await;
    }

    async fn run_script(&self, script: &'static str, component: &str) {
        let (dir, c) = (self.dir.clone(), component.to_owned());
        let status = tokio::task::spawn_blocking(move || hack(&dir, &[], script).arg(c).status())
            .await
            .unwrap()
            .unwrap_or_else(|e| panic!("hack/{script}: {e}"));
        assert!(status.success(), "hack/{script} {component} failed");
    }

    /// Stop every component and remove the state directory. Blocking.
    pub fn stop(&self) {
        eprintln!("[tests] stopping the control plane in {}", self.dir);
        match hack(&self.dir, &[], "cluster-down.sh").status() {
            Ok(s) if s.success() => {}
            other => eprintln!("[tests] hack/cluster-down.sh for {}: {other:?}", self.dir),
        }
    }
}

/// An [`OwnCluster`] that is stopped when this is dropped, also when the
/// test panics (unless `KEEP_CLUSTER=1`, as `make test` keeps its own).
pub struct StoppedOnDrop(pub OwnCluster);

impl std::ops::Deref for StoppedOnDrop {
    type Target = OwnCluster;
    fn deref(&self) -> &OwnCluster {
        &self.0
    }
}

impl Drop for StoppedOnDrop {
    fn drop(&mut self) {
        if std::env::var("KEEP_CLUSTER").is_ok_and(|v| v == "1") {
            eprintln!("[tests] KEEP_CLUSTER=1: {} keeps running", self.0.dir);
            return;
        }
        self.0.stop();
    }
}

/// A namespace of an [`OwnCluster`], deleted when dropped (unless
/// `KRONJOB_KEEP_NAMESPACES=1`). `common::TestNamespace` would delete it on
/// the shared control plane instead.
pub struct OwnNamespace {
    client: Client,
    kubeconfig: PathBuf,
    name: String,
}

impl OwnNamespace {
    pub async fn new(cluster: &OwnCluster, client: &Client, prefix: &str) -> OwnNamespace {
        let name = common::unique_name(prefix);
        let api: Api<Namespace> = Api::all(client.clone());
        let ns: Namespace = serde_json::from_value(serde_json::json!({
            "metadata": { "name": name, "labels": { common::TEST_NAMESPACE_LABEL: "true" } }
        }))
        .unwrap();
        api.create(&PostParams::default(), &ns)
            .await
            .unwrap_or_else(|e| panic!("create namespace {name}: {e}"));
        let accounts: Api<ServiceAccount> = Api::namespaced(client.clone(), &name);
        common::wait_for(
            "the default ServiceAccount",
            Duration::from_secs(30),
            || async {
                match accounts.get_opt("default").await {
                    Ok(Some(_)) => Ok(()),
                    Ok(None) => Err("not yet".to_string()),
                    Err(e) => Err(e.to_string()),
                }
            },
        )
        .await;
        OwnNamespace {
            client: client.clone(),
            kubeconfig: cluster.kubeconfig.clone(),
            name,
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn api<K>(&self) -> Api<K>
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>,
        <K as kube::Resource>::DynamicType: Default,
    {
        Api::namespaced(self.client.clone(), &self.name)
    }
}

impl Drop for OwnNamespace {
    fn drop(&mut self) {
        if std::env::var("KRONJOB_KEEP_NAMESPACES").is_ok_and(|v| v == "1") {
            eprintln!("[tests] keeping namespace {}", self.name);
            return;
        }
        // On a thread with its own runtime and client: the test's runtime
        // may be blocked here, and a client is bound to the runtime that
        // made it.
        let (name, kubeconfig) = (self.name.clone(), self.kubeconfig.clone());
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let Ok(kc) = Kubeconfig::read_from(&kubeconfig) else {
                    return;
                };
                let Ok(config) =
                    Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default()).await
                else {
                    return;
                };
                let Ok(client) = Client::try_from(config) else {
                    return;
                };
                let api: Api<Namespace> = Api::all(client);
                let params = DeleteParams::background();
                let _ =
                    tokio::time::timeout(Duration::from_secs(20), api.delete(&name, &params)).await;
            })
        })
        .join();
    }
}
