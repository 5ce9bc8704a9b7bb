//! The binary as the kubectl plugin `kubectl kronjob`: invoked under the
//! name `kubectl-kronjob` (a symlink, as krew installs it) directly and
//! through kubectl's plugin lookup on $PATH, with kubectl's flags; and the
//! krew manifest template.

mod common;
mod support;

use std::path::{Path, PathBuf};
use std::process::Output;

use k8s_openapi::api::batch::v1::{CronJob, Job};
use kube::api::{Api, PostParams};
use kube::config::{Kubeconfig, NamedContext};

use common::{TestNamespace, TestPod};
use kronjob::planner::run_now::manual_job_name;
use support::*;

/// A temp dir holding `kubectl-kronjob` → the test's kronjob binary.
struct PluginDir(PathBuf);

impl PluginDir {
    fn new(tag: &str) -> PluginDir {
        let dir = std::env::temp_dir().join(format!("kronjob-plugin-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_kronjob"), dir.join("kubectl-kronjob"))
            .unwrap();
        PluginDir(dir)
    }

    fn plugin(&self) -> PathBuf {
        self.0.join("kubectl-kronjob")
    }
}

impl Drop for PluginDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn run(program: &Path, args: &[&str], path: Option<&Path>) -> Output {
    let mut cmd = std::process::Command::new(program);
    cmd.args(args).env_remove("KUBECONFIG");
    if let Some(dir) = path {
        let old = std::env::var_os("PATH").unwrap_or_default();
        let mut paths = vec![dir.to_path_buf()];
        paths.extend(std::env::split_paths(&old));
        cmd.env("PATH", std::env::join_paths(paths).unwrap());
    }
    cmd.output().expect("run")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn under_the_plugin_name_it_is_kubectl_kronjob() {
    let dir = PluginDir::new("offline");
    let help = run(&dir.plugin(), &["--help"], None);
    assert!(help.status.success(), "{help:?}");
    let out = text(&help.stdout);
    assert!(out.contains("Usage: kubectl kronjob "), "{out}");
    for command in ["explain", "next", "run-now", "migrate"] {
        assert!(
            out.contains(&format!("\n  {command} ")),
            "{command} in {out}"
        );
    }

    // `-n` before the command, as `kubectl kronjob -n NS ...` is typed.
    let next = run(
        &dir.plugin(),
        &[
            "-n",
            "team-a",
            "next",
            "--schedule",
            "0 3 * * *",
            "--after",
            "2026-01-01T00:00:00Z",
            "--count",
            "1",
        ],
        None,
    );
    assert!(next.status.success(), "{next:?}");
    assert_eq!(text(&next.stdout), "2026-01-01T03:00:00Z\n");

    let bad = run(&dir.plugin(), &["frobnicate"], None);
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        text(&bad.stderr).contains("kubectl kronjob"),
        "{}",
        text(&bad.stderr)
    );
}

#[test]
fn the_krew_template_renders_to_a_plugin_manifest() {
    let template =
        std::fs::read_to_string(common::repo_root().join("plugins/krew/kronjob.yaml")).unwrap();
    // As krew-release-bot renders it.
    let mut rendered = String::new();
    for line in template.lines() {
        let trimmed = line.trim_start();
        if let Some(rest) = trimmed.strip_prefix("{{addURIAndSha \"") {
            let indent = &line[..line.len() - trimmed.len()];
            let uri = rest.split('"').next().unwrap();
            rendered += &format!("{indent}uri: {uri}\n{indent}sha256: {}\n", "0".repeat(64));
        } else {
            rendered += line;
            rendered += "\n";
        }
    }
    let rendered = rendered
        .replace("{{ .TagName }}", "v1.2.3")
        .replace("RELEASES_URL", "https://example.invalid/kronjob/releases");
    assert!(!rendered.contains("{{"), "{rendered}");
    let v: serde_json::Value = serde_norway::from_str(&rendered).unwrap();
    assert_eq!(v["kind"], "Plugin");
    assert_eq!(v["metadata"]["name"], "kronjob");
    assert_eq!(v["spec"]["version"], "v1.2.3");
    let platforms = v["spec"]["platforms"].as_array().unwrap();
    assert!(!platforms.is_empty());
    for p in platforms {
        assert_eq!(p["bin"], "kronjob");
        let uri = p["uri"].as_str().unwrap();
        let os = p["selector"]["matchLabels"]["os"].as_str().unwrap();
        let arch = p["selector"]["matchLabels"]["arch"].as_str().unwrap();
        assert!(
            uri.ends_with(&format!("/v1.2.3/kronjob-v1.2.3-{os}-{arch}.tar.gz")),
            "{uri}"
        );
    }
}

fn kubectl() -> PathBuf {
    std::env::var_os("KRONJOB_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var("HOME").unwrap()).join(".cache/kronjob"))
        .join("k8s-v1.36.3/bin/kubectl")
}

#[tokio::test]
async fn kubectl_runs_the_plugin_with_its_flags() {
    let client = common::client().await;
    let ns = TestNamespace::new(&client, "plugin").await;
    let _kronjob = Kronjob::start(ns.name(), &[]).await;
    let cronjobs: Api<CronJob> = ns.api();
    let jobs: Api<Job> = ns.api();
    let cj = cronjobs
        .create(
            &PostParams::default(),
            &cronjob("backup", "0 0 1 1 *", TestPod::Succeed),
        )
        .await
        .unwrap();

    // A kubeconfig with a second context whose namespace is the test's:
    // `--kubeconfig` names the file (KUBECONFIG is unset), `--context`
    // picks the context, and its namespace is the default for `-n`.
    let dir = PluginDir::new("cluster");
    let mut config = Kubeconfig::read_from(kubeconfig_path().await).unwrap();
    let current = config.current_context.clone().unwrap();
    let mut context = config
        .contexts
        .iter()
        .find(|c| c.name == current)
        .cloned()
        .unwrap();
    context.context.as_mut().unwrap().namespace = Some(ns.name().to_string());
    config.contexts.push(NamedContext {
        name: "plugin-test".into(),
        ..context
    });
    let file = dir.0.join("kubeconfig");
    std::fs::write(&file, serde_norway::to_string(&config).unwrap()).unwrap();
    let file = file.to_str().unwrap();

    let o = run(
        &kubectl(),
        &[
            "kronjob",
            "--kubeconfig",
            file,
            "--context",
            "plugin-test",
            "run-now",
            "backup",
            "--token",
            "via-kubectl",
        ],
        Some(&dir.0),
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let job = manual_job_name("backup", "via-kubectl");
    assert_eq!(text(&o.stdout).trim(), job);
    let owned = owned_jobs(&jobs, &cj).await;
    assert_eq!(
        owned
            .iter()
            .map(|j| j.metadata.name.clone().unwrap())
            .collect::<Vec<_>>(),
        [job]
    );

    // `-n` before the command; the current context (namespace default).
    let o = run(
        &kubectl(),
        &[
            "kronjob",
            "-n",
            ns.name(),
            "explain",
            "backup",
            "--kubeconfig",
            file,
        ],
        Some(&dir.0),
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let out = text(&o.stdout);
    assert!(
        out.contains(&format!("CronJob {}/backup", ns.name())),
        "{out}"
    );

    // A context the kubeconfig lacks is an error, not a fallback.
    let o = run(
        &dir.plugin(),
        &[
            "--kubeconfig",
            file,
            "--context",
            "nope",
            "explain",
            "backup",
        ],
        None,
    );
    assert_eq!(o.status.code(), Some(2), "{o:?}");
    assert!(text(&o.stderr).contains("nope"), "{}", text(&o.stderr));
}
