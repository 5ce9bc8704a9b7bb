//! The command line as a user runs it: `kronjob next` and offline
//! `kronjob explain`, output and exit codes.

use std::io::{BufRead, BufReader, Read};
use std::process::{Command, ExitStatus, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

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

#[test]
fn explain_refuses_oversized_and_deeply_nested_files_before_parsing() {
    let dir = std::env::temp_dir().join(format!("kronjob-cli-caps-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let big = dir.join("big.yaml");
    std::fs::write(&big, format!("kind: CronJob\n{}", "#\n".repeat(3 << 20))).unwrap();
    let deep = dir.join("deep.yaml");
    std::fs::write(
        &deep,
        format!("kind: CronJob\nspec: {}", "[".repeat(50_000)),
    )
    .unwrap();
    for (file, message) in [
        (&big, "larger than 4 MiB"),
        (&deep, "nested deeper than 100 levels at line 2"),
    ] {
        let start = std::time::Instant::now();
        let o = kronjob(&["explain", "--file", file.to_str().unwrap()]);
        assert_eq!(o.status.code(), Some(2), "{o:?}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(message), "{err}");
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "{:?}",
            start.elapsed()
        );
    }
    let _ = std::fs::remove_dir_all(dir);
}

/// Runs `kronjob args`, reads `lines` lines of its output, then closes the
/// pipe like `| head -N` does; returns those lines and the exit status,
/// failing if kronjob does not exit within `limit` after the pipe closed.
fn head(args: &[&str], lines: usize, limit: Duration) -> (Vec<String>, ExitStatus) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_kronjob"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run kronjob");
    let mut reader = BufReader::new(child.stdout.take().unwrap());
    let mut got = Vec::new();
    for _ in 0..lines {
        let mut l = String::new();
        if reader.read_line(&mut l).unwrap() == 0 {
            break;
        }
        got.push(l.trim_end().to_owned());
    }
    drop(reader);
    let (tx, rx) = mpsc::channel();
    let waiter = std::thread::spawn(move || {
        let status = child.wait().expect("wait for kronjob");
        let mut err = String::new();
        let _ = child.stderr.take().unwrap().read_to_string(&mut err);
        let _ = tx.send((status, err));
    });
    let (status, err) = rx.recv_timeout(limit).unwrap_or_else(|_| {
        panic!("kronjob {args:?} still runs {limit:?} after its reader went away")
    });
    waiter.join().unwrap();
    assert!(err.is_empty(), "{args:?}: stderr {err}");
    (got, status)
}

#[test]
fn next_streams_a_huge_count_and_stops_when_the_reader_does() {
    let after = "2026-01-01T00:00:00Z";
    for count in ["100000000", &u64::MAX.to_string()] {
        let (lines, status) = head(
            &[
                "next",
                "--schedule",
                "* * * * *",
                "--after",
                after,
                "--count",
                count,
            ],
            3,
            Duration::from_secs(20),
        );
        assert_eq!(
            lines,
            [
                "2026-01-01T00:01:00Z",
                "2026-01-01T00:02:00Z",
                "2026-01-01T00:03:00Z"
            ]
        );
        assert!(status.success(), "a closed pipe is not an error: {status}");
    }
}

#[test]
fn next_prints_every_line_of_a_large_count() {
    let o = kronjob(&[
        "next",
        "--schedule",
        "@every 1s",
        "--after",
        "2026-01-01T00:00:00Z",
        "--count",
        "200000",
    ]);
    assert!(o.status.success(), "{:?}", o.status);
    let out = stdout(&o);
    assert_eq!(out.lines().count(), 200_000);
    assert_eq!(out.lines().last(), Some("2026-01-03T07:33:20Z"));
}

#[test]
fn next_at_the_ends_of_time() {
    // Nothing after the last representable instant: a clear error.
    let o = kronjob(&[
        "next",
        "--schedule",
        "* * * * *",
        "--after",
        "9999-12-30T22:00:00Z",
    ]);
    assert_eq!(o.status.code(), Some(2), "{o:?}");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("never fires after 9999-12-30T22:00:00Z"),
        "{err}"
    );
    // Close to it, the list ends with the last representable slot.
    let o = kronjob(&[
        "next",
        "--schedule",
        "@every 1h",
        "--after",
        "9999-12-30T19:30:00Z",
        "--count",
        "10",
    ]);
    assert!(o.status.success(), "{o:?}");
    assert_eq!(stdout(&o), "9999-12-30T20:30:00Z\n9999-12-30T21:30:00Z\n");
    // The first instant jiff can represent, far before any zone's data.
    let o = kronjob(&[
        "next",
        "--schedule",
        "0 0 1 1 *",
        "--time-zone",
        "Europe/Paris",
        // `=`: a value starting with `-` would read as a flag.
        "--after=-009999-01-02T01:59:59Z",
        "--count",
        "2",
    ]);
    assert!(o.status.success(), "{o:?}");
    assert_eq!(stdout(&o).lines().count(), 2, "{}", stdout(&o));
}

#[test]
fn next_rejects_junk_time_zones_promptly() {
    let long_path = "a/".repeat(60_000);
    let long_dirs = "America/".repeat(15_000);
    let long_dots = "./".repeat(60_000) + "UTC";
    for zone in [
        long_path.as_str(),
        long_dirs.as_str(),
        "\u{feff}UTC",
        "../../etc/passwd",
    ] {
        let start = std::time::Instant::now();
        let o = kronjob(&["next", "--schedule", "* * * * *", "--time-zone", zone]);
        assert_eq!(o.status.code(), Some(2), "{:.40}: {o:?}", zone);
        assert!(
            String::from_utf8_lossy(&o.stderr).contains("invalid time zone"),
            "{:.40}",
            zone
        );
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "{:.40}…: {:?}",
            zone,
            start.elapsed()
        );
    }
    // A path of `.` components is still the zone at its end, as in Go.
    let o = kronjob(&[
        "next",
        "--schedule",
        "0 0 * * *",
        "--time-zone",
        &long_dots,
        "--after",
        "2026-01-01T00:00:00Z",
        "--count",
        "1",
    ]);
    assert!(o.status.success(), "{o:?}");
    assert_eq!(stdout(&o), "2026-01-02T00:00:00Z\n");
}
