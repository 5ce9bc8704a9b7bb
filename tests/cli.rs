//! The command line as a user runs it: `kronjob next` and offline
//! `kronjob explain`, output and exit codes.

use std::process::{Command, Output};

fn kronjob(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kronjob"))
        .args(args)
        .output()
        .expect("run kronjob")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn next_prints_fire_times_with_the_vixie_or_rule() {
    // 13th of the month OR Friday; 2026-01-01 is a Thursday.
    let o = kronjob(&[
        "next",
        "--schedule",
        "0 0 13 * 5",
        "--after",
        "2026-01-01T00:00:00Z",
        "--count",
        "3",
    ]);
    assert!(o.status.success(), "{o:?}");
    assert_eq!(
        stdout(&o),
        "2026-01-02T00:00:00Z\n2026-01-09T00:00:00Z\n2026-01-13T00:00:00Z\n"
    );
}

#[test]
fn next_prints_times_in_the_given_zone() {
    let o = kronjob(&[
        "next",
        "--schedule",
        "0 9 * * *",
        "--time-zone",
        "Asia/Kolkata",
        "--after",
        "2026-01-01T00:00:00Z",
        "--count",
        "1",
    ]);
    assert!(o.status.success(), "{o:?}");
    assert_eq!(stdout(&o), "2026-01-01T09:00:00+05:30\n");
}

#[test]
fn next_rejects_bad_input_with_exit_code_2() {
    for (args, needle) in [
        (vec!["next", "--schedule", "every day"], "invalid schedule"),
        (
            vec![
                "next",
                "--schedule",
                "* * * * *",
                "--time-zone",
                "Mars/Base",
            ],
            "invalid time zone",
        ),
        (vec!["next", "--schedule", "0 0 30 2 *"], "never fires"),
    ] {
        let o = kronjob(&args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {o:?}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(needle), "{args:?}: {err}");
        assert!(o.stdout.is_empty());
    }
}

#[test]
fn explain_offline_prints_one_json_object() {
    let dir = std::env::temp_dir().join(format!("kronjob-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cj = dir.join("cj.yaml");
    std::fs::write(
        &cj,
        r#"apiVersion: batch/v1
kind: CronJob
metadata: {name: nightly, namespace: ops, uid: u1, creationTimestamp: "2026-01-01T00:00:00Z"}
spec:
  schedule: "0 3 * * *"
  timeZone: Europe/Berlin
  jobTemplate: {spec: {template: {spec: {restartPolicy: Never, containers: [{name: c, image: x}]}}}}
status:
  lastScheduleTime: "2026-01-04T02:00:00Z"
"#,
    )
    .unwrap();
    let jobs = dir.join("jobs.yaml");
    std::fs::write(&jobs, "apiVersion: v1\nkind: List\nitems: []\n").unwrap();
    let o = kronjob(&[
        "explain",
        "--file",
        cj.to_str().unwrap(),
        "--jobs",
        jobs.to_str().unwrap(),
        "--now",
        "2026-01-05T02:00:01Z",
        "--output",
        "json",
    ]);
    assert!(o.status.success(), "{o:?}");
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("one JSON object");
    assert_eq!(v["action"], "create");
    assert_eq!(v["scheduledTime"], "2026-01-05T02:00:00Z"); // 03:00 in Berlin
    assert_eq!(v["jobName"], format!("nightly-{}", 1_767_578_400 / 60));
    assert_eq!(v["deleteJobs"], serde_json::json!([]));
    assert_eq!(v["events"][0]["reason"], "SuccessfulCreate");
    assert_eq!(v["requeueAfterSeconds"], 86_399.0);
    assert_eq!(v["nextScheduleTime"], "2026-01-06T02:00:00Z");
    assert_eq!(v["status"]["lastScheduleTime"], "2026-01-05T02:00:00Z");
    assert_eq!(v["status"]["lastSuccessfulTime"], serde_json::Value::Null);

    let text = kronjob(&[
        "explain",
        "--file",
        cj.to_str().unwrap(),
        "--now",
        "2026-01-05T02:00:01Z",
    ]);
    let t = stdout(&text);
    assert!(
        t.contains("RUN NOW: the slot 2026-01-05T02:00:00Z is due"),
        "{t}"
    );
    assert!(
        t.contains("Next 5 fire times:\n  2026-01-06T03:00:00+01:00"),
        "{t}"
    );

    let bad = kronjob(&["explain", "--file", jobs.to_str().unwrap()]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("expected kind CronJob"));
    let _ = std::fs::remove_dir_all(dir);
}
