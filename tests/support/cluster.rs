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

use k8s_openapi::api::core::v1::Node;
use kube::api::{Api, ListParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};

use crate::common;

/// Whether a suite that starts its own local control plane runs here (it
/// needs the local control-plane binaries). When `$KUBECONFIG` names another
/// cluster (kind, say: "the harness starts nothing") it is skipped, with a
/// message naming `what`; the variable `switch` set to 1 runs it on its own
/// local control plane anyway, set to 0 skips it.
pub fn enabled(switch: &str, what: &str) -> bool {
    let on = match std::env::var(switch).as_deref() {
        Ok("1") => true,
        Ok("0") => false,
        _ => std::env::var_os("KUBECONFIG")
            .filter(|k| !k.is_empty())
            .is_none_or(|k| k == common::local_kubeconfig()),
    };
    if !on {
        eprintln!(
            "{what}: skipped ({switch}=0, or $KUBECONFIG names a cluster other than the local \
             one; {switch}=1 runs it on its own local control plane anyway)"
        );
    }
    on
}

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

    /// A test namespace on this control plane, deleted there when dropped
    /// ([`common::TestNamespace`]). Its ServiceAccount may take up to two
    /// minutes after a fault on the control plane.
    pub async fn namespace(&self, client: &Client, prefix: &str) -> common::TestNamespace {
        common::TestNamespace::on(client, &self.kubeconfig, prefix, Duration::from_secs(120)).await
    }

    /// Wait until the control plane works as a whole again after a fault
    /// on it, so that the tests after this one start on a sound cluster:
    /// the controller-manager's informers may back off for a while after
    /// the API server came back (its ServiceAccount controller makes every
    /// new namespace's `default` account), and kwok renews the fake nodes.
    pub async fn wait_functional(&self) {
        let client = self.client().await;
        drop(self.namespace(&client, "probe").await);
        let nodes: Api<Node> = Api::all(client);
        common::wait_for(
            "the kwok nodes Ready and untainted",
            Duration::from_secs(180),
            || async {
                let list = nodes
                    .list(&ListParams::default().labels("type=kwok"))
                    .await
                    .map_err(|e| e.to_string())?;
                let usable = |n: &Node| {
                    let ready = n
                        .status
                        .as_ref()
                        .and_then(|s| s.conditions.as_ref())
                        .is_some_and(|c| {
                            c.iter().any(|c| c.type_ == "Ready" && c.status == "True")
                        });
                    let tainted = n
                        .spec
                        .as_ref()
                        .and_then(|s| s.taints.as_ref())
                        .is_some_and(|t| !t.is_empty());
                    ready && !tainted
                };
                let ready = list.items.iter().filter(|n| usable(n)).count();
                if ready > 0 && ready == list.items.len() {
                    Ok(())
                } else {
                    Err(format!("{ready} of {} ready", list.items.len()))
                }
            },
        )
        .await;
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
