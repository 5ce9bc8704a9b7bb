//! Running kronjob in production: leader election with two replicas,
//! graceful shutdown, and the metrics endpoint scraped by a real Prometheus.

mod common;
mod support;

use std::collections::BTreeSet;
use std::process::{Command, Stdio};
use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::coordination::v1::Lease;
use kube::api::{Api, PostParams};

use common::{TestNamespace, TestPod, wait_for};
use support::*;

fn leader_args<'a>(ns: &'a str, identity: &'a str, lease_duration: &'a str) -> Vec<&'a str> {
    vec![
        "--leader-elect",
        "--leader-elect-lease-namespace",
        ns,
        "--leader-elect-lease-duration",
        lease_duration,
        "--leader-elect-renew-deadline",
        "3s",
        "--leader-elect-retry-period",
        "500ms",
        "--identity",
        identity,
    ]
}

fn is_leader(k: &Kronjob) -> bool {
    sum_metric(&k.metrics(), "kronjob_leader", None) == 1.0
}

async fn wait_leader(k: &Kronjob, what: &str, timeout: Duration) {
    wait_for(what, timeout, || async {
        if is_leader(k) {
            Ok(())
        } else {
            Err("not leading")
        }
    })
    .await
}

fn slots(jobs: &[Job]) -> Vec<i64> {
    jobs.iter()
        .map(|j| {
            scheduled_annotation(j)
                .parse::<Timestamp>()
                .expect("annotation")
                .as_second()
        })
        .collect()
}

#[tokio::test]
async fn standby_takes_over_after_the_leader_dies_without_duplicates_or_lost_slots() {
    let client = common::client().await;
    let ns = TestNamespace::new(&client, "leader").await;
    let mut a = Kronjob::start(ns.name(), &leader_args(ns.name(), "replica-a", "4s")).await;
    wait_leader(&a, "replica-a to lead", Duration::from_secs(20)).await;
    let b = Kronjob::start(ns.name(), &leader_args(ns.name(), "replica-b", "4s")).await;
    assert!(!is_leader(&b), "only one leader");

    let cronjobs: Api<CronJob> = ns.api();
    let jobs: Api<Job> = ns.api();
    let mut cj = cronjob("ha", "* * * * *", TestPod::Succeed);
    cj.spec.successful_jobs_history_limit = Some(100);
    cj.spec.starting_deadline_seconds = Some(30);
    let cj = cronjobs.create(&PostParams::default(), &cj).await.unwrap();
    let first = wait_for("a Job from the leader", Duration::from_secs(90), || async {
        let s = slots(&owned_jobs(&jobs, &cj).await);
        s.first().copied().ok_or("none yet")
    })
    .await;
    assert_eq!(
        b.counter("kronjob_reconciles_total"),
        0.0,
        "the standby acts on nothing"
    );

    // Kill the leader 2 s before the next slot (SIGKILL: no lease release),
    // so that slot falls due while nobody leads.
    let next_slot = first + 60;
    wait_for(
        "2 s before the next slot",
        Duration::from_secs(70),
        || async {
            if Timestamp::now().as_second() >= next_slot - 2 {
                Ok(())
            } else {
                Err("waiting")
            }
        },
    )
    .await;
    a.kill();
    let killed = Timestamp::now();
    wait_leader(&b, "replica-b to take over", Duration::from_secs(15)).await;
    assert!(
        Timestamp::now().duration_since(killed).as_secs_f64() < 4.0 + 3.0,
        "takeover within the lease duration"
    );

    // The slot missed while nobody led runs late, inside its deadline; one Job per slot.
    let all = wait_for(
        "the new leader to run the missed slot",
        Duration::from_secs(30),
        || async {
            let js = owned_jobs(&jobs, &cj).await;
            if slots(&js).contains(&next_slot) {
                Ok(js)
            } else {
                Err(format!("{:?}", slots(&js)))
            }
        },
    )
    .await;
    let all_slots = slots(&all);
    let unique: BTreeSet<i64> = all_slots.iter().copied().collect();
    assert_eq!(
        unique.len(),
        all_slots.len(),
        "one Job per slot: {all_slots:?}"
    );
    assert_eq!(
        unique.into_iter().collect::<Vec<_>>(),
        vec![first, next_slot]
    );
    let late = all
        .iter()
        .find(|j| slots(std::slice::from_ref(j))[0] == next_slot)
        .unwrap();
    let created = late
        .metadata
        .creation_timestamp
        .as_ref()
        .unwrap()
        .0
        .as_second();
    assert!(
        created - next_slot <= 10,
        "run as soon as the standby led: {}s late",
        created - next_slot
    );
}

#[tokio::test]
async fn a_leader_whose_lease_is_taken_stops_at_once() {
    let client = common::client().await;
    let ns = TestNamespace::new(&client, "usurp").await;
    let a = Kronjob::start(ns.name(), &leader_args(ns.name(), "replica-a", "4s")).await;
    wait_leader(&a, "replica-a to lead", Duration::from_secs(20)).await;
    // The leader exports per-CronJob series (a suspended CronJob: no Jobs).
    let cronjobs: Api<CronJob> = ns.api();
    let mut parked = cronjob("parked", "@every 2s", TestPod::Succeed);
    parked.spec.suspend = Some(true);
    cronjobs
        .create(&PostParams::default(), &parked)
        .await
        .unwrap();
    let per_cronjob = |k: &Kronjob| {
        k.metrics()
            .lines()
            .filter(|l| l.starts_with("kronjob_cronjob_"))
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    wait_for(
        "the leader's per-CronJob series",
        Duration::from_secs(10),
        || async {
            let series = per_cronjob(&a);
            if series.iter().any(|l| l.contains("cronjob=\"parked\"")) {
                Ok(())
            } else {
                Err(format!("{series:?}"))
            }
        },
    )
    .await;
    // Another identity writes itself into the Lease (as a partitioned
    // leader would find on its return).
    let leases: Api<Lease> = ns.api();
    let mut lease = leases.get("kronjob").await.unwrap();
    let spec = lease.spec.as_mut().unwrap();
    spec.holder_identity = Some("intruder".into());
    spec.lease_duration_seconds = Some(60);
    spec.renew_time = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime(
        Timestamp::now(),
    ));
    leases
        .replace("kronjob", &PostParams::default(), &lease)
        .await
        .unwrap();
    wait_for("replica-a to step down", Duration::from_secs(5), || async {
        if is_leader(&a) {
            Err("still leading")
        } else {
            Ok(())
        }
    })
    .await;
    // Its per-CronJob values would freeze: they are gone with the lead.
    assert_eq!(per_cronjob(&a), Vec::<String>::new());
    // And it acts on nothing while another holds the Lease.
    cronjobs
        .create(
            &PostParams::default(),
            &cronjob("idle", "@every 2s", TestPod::Succeed),
        )
        .await
        .unwrap();
    let before = a.counter("kronjob_reconciles_total");
    tokio::time::sleep(Duration::from_secs(4)).await; // observation window
    assert_eq!(
        a.counter("kronjob_reconciles_total"),
        before,
        "a non-leader must not sync"
    );
    assert_eq!(per_cronjob(&a), Vec::<String>::new());
    let jobs: Api<Job> = ns.api();
    assert!(
        jobs.list(&Default::default())
            .await
            .unwrap()
            .items
            .is_empty()
    );
}

#[tokio::test]
async fn sigterm_releases_the_lease_so_the_standby_takes_over_at_once() {
    let client = common::client().await;
    let ns = TestNamespace::new(&client, "sigterm").await;
    // A long lease: a takeover faster than it proves the lease was released.
    let mut a = Kronjob::start(ns.name(), &leader_args(ns.name(), "replica-a", "30s")).await;
    wait_leader(&a, "replica-a to lead", Duration::from_secs(20)).await;
    let b = Kronjob::start(ns.name(), &leader_args(ns.name(), "replica-b", "30s")).await;

    let started = Timestamp::now();
    let status = a.terminate();
    assert!(
        status.success(),
        "clean exit on SIGTERM: {status:?}\n{}",
        a.log_text()
    );
    assert!(
        Timestamp::now().duration_since(started).as_secs_f64() < 10.0,
        "exits within the grace period"
    );
    assert!(
        a.log_text().contains("released the lease"),
        "{}",
        a.log_text()
    );
    wait_leader(&b, "replica-b to take over", Duration::from_secs(10)).await;
    assert!(Timestamp::now().duration_since(started).as_secs_f64() < 15.0);
    let lease: Api<Lease> = ns.api();
    let holder = lease
        .get("kronjob")
        .await
        .unwrap()
        .spec
        .unwrap()
        .holder_identity;
    assert_eq!(holder.as_deref(), Some("replica-b"));
}

#[tokio::test]
async fn health_endpoints_and_metrics_pass_promtool_and_a_real_prometheus_scrape() {
    let client = common::client().await;
    let ns = TestNamespace::new(&client, "metrics").await;
    let k = Kronjob::start(ns.name(), &["--log-format", "json"]).await;
    assert_eq!(http_get(k.metrics_port, "/healthz").unwrap().0, 200);
    assert_eq!(http_get(k.metrics_port, "/readyz").unwrap().0, 200);
    // Some traffic, so labelled series exist.
    let cronjobs: Api<CronJob> = ns.api();
    cronjobs
        .create(
            &PostParams::default(),
            &cronjob("scraped", "@every 2s", TestPod::Succeed),
        )
        .await
        .unwrap();
    wait_for("a Job to be created", Duration::from_secs(30), || async {
        if k.counter("kronjob_jobs_created_total") >= 1.0 {
            Ok(())
        } else {
            Err("none yet")
        }
    })
    .await;
    // Our client's own requests, by verb, resource and code: the Job's
    // create (201) and the initial lists or watches of both resources.
    let text = k.metrics();
    for series in [
        r#"kronjob_api_requests_total{code="201",resource="jobs",verb="create"}"#,
        r#"resource="cronjobs",verb="watch"}"#,
        r#"resource="jobs",verb="watch"}"#,
        r#"kronjob_api_request_duration_seconds_count{resource="jobs",verb="create"}"#,
    ] {
        assert!(text.contains(series), "no {series} in\n{text}");
    }

    // JSON logs: one object per line; every line inside a sync carries the
    // CronJob's namespace and name.
    let created = wait_for(
        "the 'created job' log line",
        Duration::from_secs(10),
        || async {
            let lines: Vec<serde_json::Value> = k
                .log_text()
                .lines()
                .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
                .collect();
            lines
                .into_iter()
                .find(|l| l["message"] == "created job")
                .ok_or("not yet")
        },
    )
    .await;
    assert_eq!(created["span"]["namespace"], ns.name(), "{created}");
    assert_eq!(created["span"]["cronjob"], "scraped", "{created}");

    // promtool's linter reports nothing.
    let text = k.metrics();
    let mut lint = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool (Debian package prometheus) must be installed: make test installs it");
    use std::io::Write;
    lint.stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = lint.wait_with_output().unwrap();
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && report.trim().is_empty(),
        "promtool check metrics: {report}"
    );

    // A real Prometheus scrapes it and sees the series.
    let dir = std::env::temp_dir().join(format!("kronjob-prom-{}", k.metrics_port));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global: {{scrape_interval: 1s}}\nscrape_configs:\n- job_name: kronjob\n  static_configs:\n  - targets: ['127.0.0.1:{}']\n",
            k.metrics_port
        ),
    )
    .unwrap();
    let prom_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let prom = Command::new("prometheus")
        .arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{prom_port}"))
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join("prometheus.log")).unwrap())
        .spawn()
        .expect("prometheus (Debian package) must be installed");
    struct KillOnDrop(std::process::Child);
    impl Drop for KillOnDrop {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let _prom = KillOnDrop(prom);
    let query = "/api/v1/query?query=kronjob_jobs_created_total";
    let body = wait_for(
        "Prometheus to scrape kronjob",
        Duration::from_secs(60),
        || async {
            match http_get(prom_port, query) {
                Ok((200, b)) if b.contains("\"kronjob_jobs_created_total\"") => Ok(b),
                Ok((c, b)) => Err(format!("{c} {b}")),
                Err(e) => Err(e),
            }
        },
    )
    .await;
    assert!(body.contains("\"job\":\"kronjob\""), "{body}");
    let up = http_get(prom_port, "/api/v1/query?query=up").unwrap().1;
    assert!(up.contains("\"1\"]"), "target up: {up}");
}

/// SIGTERM ends kronjob within `--shutdown-timeout` whatever its state:
/// here its API server never answers (a proxy that forwards nothing), so
/// its caches never sync, its syncs wait for them and, with leader
/// election, the Lease is never acquired nor released.
#[tokio::test]
async fn sigterm_ends_kronjob_in_bounded_time_when_the_api_server_never_answers() {
    use support::proxy::{Mode, Proxy};
    let kubeconfig = kubeconfig_path().await;
    // Any upstream: nothing is forwarded.
    let upstream = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let proxy = Proxy::start(upstream.local_addr().unwrap());
    proxy.set_mode(Mode::Blackhole);
    let logs = common::repo_root().join("target/test-logs");
    std::fs::create_dir_all(&logs).unwrap();
    for (case, election) in [
        ("no-election", &[][..]),
        ("election", &["--leader-elect"][..]),
    ] {
        let blackholed = logs.join(format!("kubeconfig-blackholed-{case}"));
        proxy.kubeconfig(&kubeconfig, &blackholed);
        let mut args = vec!["--shutdown-timeout", "3s"];
        args.extend_from_slice(election);
        let mut kronjob = Kronjob::spawn(&format!("unreachable-{case}"), &blackholed, &args, &[]);
        let port = kronjob.metrics_port;
        // Up (liveness answers), not ready (nothing listed).
        wait_for("kronjob /healthz", Duration::from_secs(30), || async move {
            match http_get(port, "/healthz") {
                Ok((200, _)) => match http_get(port, "/readyz") {
                    Ok((503, _)) => Ok(()),
                    other => Err(format!("/readyz {other:?}")),
                },
                other => Err(format!("{other:?}")),
            }
        })
        .await;
        kronjob.signal_term();
        let signalled = std::time::Instant::now();
        let status = wait_for(
            &format!("kronjob ({case}) to exit after SIGTERM"),
            Duration::from_secs(10),
            || {
                let exited = kronjob.exited();
                async move { exited.ok_or("still running") }
            },
        )
        .await;
        let took = signalled.elapsed();
        eprintln!("{case}: exited {status:?} {took:?} after SIGTERM");
        assert!(took < Duration::from_secs(8), "{case}: {took:?}");
        let _ = std::fs::remove_file(blackholed);
    }
}
