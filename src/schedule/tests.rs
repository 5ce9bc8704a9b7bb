//! Unit tests for the schedule module. Expected instants of the DST and
//! oddity cases were checked against robfig/cron v3.0.1 (hack/robfig-oracle).

use jiff::Timestamp;

use super::*;

fn ts(s: &str) -> Timestamp {
    s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
}

fn parse(spec: &str) -> Schedule {
    Schedule::parse_standard(spec).unwrap_or_else(|e| panic!("{spec:?}: {e}"))
}

/// `n` successive next() results from `from`, as RFC 3339 UTC strings.
fn nexts(spec: &str, from: &str, n: usize) -> Vec<String> {
    let s = parse(spec);
    let mut t = ts(from);
    let mut out = Vec::new();
    for _ in 0..n {
        match s.next(t) {
            Some(x) => {
                out.push(x.to_string());
                t = x;
            }
            None => {
                out.push("none".into());
                break;
            }
        }
    }
    out
}

#[test]
fn parse_errors_match_robfig() {
    for (spec, err) in [
        ("", "empty spec string"),
        ("* * * *", "expected exactly 5 fields, found 4: [* * * *]"),
        (
            "* * * * * *",
            "expected exactly 5 fields, found 6: [* * * * * *]",
        ),
        (" @daily", "expected exactly 5 fields, found 1: [@daily]"),
        ("@daily ", "unrecognized descriptor: @daily "),
        ("@Daily", "unrecognized descriptor: @Daily"),
        ("@reboot", "unrecognized descriptor: @reboot"),
        ("60 * * * *", "end of range (60) above maximum (59): 60"),
        ("* 24 * * *", "end of range (24) above maximum (23): 24"),
        ("* * 0 * *", "beginning of range (0) below minimum (1): 0"),
        ("* * * 13 *", "end of range (13) above maximum (12): 13"),
        ("* * * * 7", "end of range (7) above maximum (6): 7"),
        (
            "5-3 * * * *",
            "beginning of range (5) beyond end of range (3): 5-3",
        ),
        (
            "*/0 * * * *",
            "step of range should be a positive number: */0",
        ),
        ("1-2-3 * * * *", "too many hyphens: 1-2-3"),
        ("*/2/3 * * * *", "too many slashes: */2/3"),
        (
            "-1 * * * *",
            "failed to parse int from : strconv.Atoi: parsing \"\": invalid syntax",
        ),
        ("*/-2 * * * *", "negative number (-2) not allowed: -2"),
        (
            "x * * * *",
            "failed to parse int from x: strconv.Atoi: parsing \"x\": invalid syntax",
        ),
        (
            "* * * * fri-mo",
            "failed to parse int from mo: strconv.Atoi: parsing \"mo\": invalid syntax",
        ),
        (
            "99999999999999999999 * * * *",
            "failed to parse int from 99999999999999999999: strconv.Atoi: parsing \"99999999999999999999\": value out of range",
        ),
        (
            "@every 1d",
            "failed to parse duration @every 1d: time: unknown unit \"d\" in duration \"1d\"",
        ),
        (
            "@every ",
            "failed to parse duration @every : time: invalid duration \"\"",
        ),
        (
            "@every 10",
            "failed to parse duration @every 10: time: missing unit in duration \"10\"",
        ),
        (
            "TZ=america/new_york * * * * *",
            "provided bad location america/new_york: unknown time zone america/new_york",
        ),
        (
            "CRON_TZ=../x * * * * *",
            "provided bad location ../x: time: invalid location name",
        ),
        (
            "TZ=UTC",
            "provided bad location UTC: missing space after the time zone (robfig/cron would panic)",
        ),
        (
            "TZ=UTC\t* * * * *",
            "provided bad location UTC\t*: unknown time zone UTC\t*",
        ),
        (
            "TZ=UTC\t*\t*\t*\t*\t*",
            "provided bad location UTC\t*\t*\t*\t*\t*: missing space after the time zone (robfig/cron would panic)",
        ),
        ("TZ=UTC ", "expected exactly 5 fields, found 0: []"),
    ] {
        match Schedule::parse_standard(spec) {
            Ok(_) => panic!("{spec:?} parsed, want error {err:?}"),
            Err(e) => assert_eq!(e.to_string(), err, "spec {spec:?}"),
        }
    }
}

#[test]
fn parse_accepts_robfig_quirks() {
    for spec in [
        "* * * * ?",
        "0 0 * * SUN",
        "0 0 * JAN-mar Mon-Fri",
        "+5 * * * *",
        "05 * * * *",
        "*-5 * * * *", // everything after "*-" is ignored
        ",,1,, * * * *",
        " *\t*\n* *   * ",
        "1-5/2,*/15 */1 1/10 */3 0-6/2",
        "@yearly",
        "@annually",
        "@monthly",
        "@weekly",
        "@daily",
        "@midnight",
        "@hourly",
        "@every 1h30m",
        "@every 1.5h",
        "@every 500ms",
        "@every -1m",
        "TZ= * * * * *",
        "TZ=Local * * * * *",
        "TZ=UTC  @daily",
        "CRON_TZ=Asia/Kolkata 0 9 * * *",
    ] {
        assert!(Schedule::parse_standard(spec).is_ok(), "{spec:?}");
    }
    assert_eq!(
        parse("TZ=Asia/Kolkata @daily").location().name(),
        "Asia/Kolkata"
    );
    assert_eq!(parse("* * * * *").location().name(), "UTC");
}

#[test]
fn every_durations() {
    for (spec, secs) in [
        ("@every 1h30m", 5400),
        ("@every 1.5h", 5400),
        ("@every 90s", 90),
        ("@every 1m59.999s", 119),
        ("@every 500ms", 1),
        ("@every 0s", 1),
        ("@every -1h", 1),
        ("@every 1µs", 1),
    ] {
        assert_eq!(parse(spec).every_seconds(), Some(secs), "{spec}");
    }
    // Next is absolute: t + d, sub-second part dropped.
    assert_eq!(
        nexts("@every 1h30m", "2026-03-08T06:10:00.75Z", 2),
        ["2026-03-08T07:40:00Z", "2026-03-08T09:10:00Z"]
    );
}

#[test]
fn day_of_month_or_day_of_week() {
    // Neither field is a star: every 13th OR every Friday.
    assert_eq!(
        nexts("0 0 13 * 5", "2026-02-01T00:00:00Z", 6),
        [
            "2026-02-06T00:00:00Z",
            "2026-02-13T00:00:00Z",
            "2026-02-20T00:00:00Z",
            "2026-02-27T00:00:00Z",
            "2026-03-06T00:00:00Z",
            "2026-03-13T00:00:00Z",
        ]
    );
    // A star (or ?, or */1) on either side: both must match.
    for spec in ["0 0 13 * *", "0 0 13 * ?", "0 0 13 * */1", "0 0 13 * 0-6"] {
        let got = nexts(spec, "2026-02-01T00:00:00Z", 1);
        // "0-6" is no star: the 13th OR any day.
        let want = if spec.ends_with("0-6") {
            "2026-02-02T00:00:00Z"
        } else {
            "2026-02-13T00:00:00Z"
        };
        assert_eq!(got, [want], "{spec}");
    }
    // "*/2" is not a star: the 13th OR Sun/Tue/Thu/Sat.
    assert_eq!(
        nexts("0 0 13 * */2", "2026-02-01T00:00:00Z", 2),
        ["2026-02-03T00:00:00Z", "2026-02-05T00:00:00Z"]
    );
    // Friday the 13th only.
    assert_eq!(
        nexts("0 0 */1 * 5", "2026-02-01T00:00:00Z", 1),
        ["2026-02-06T00:00:00Z"]
    );
}

#[test]
fn names_steps_ranges() {
    assert_eq!(
        nexts("0 0 * * sun", "2026-11-18T00:00:00Z", 1),
        ["2026-11-22T00:00:00Z"]
    );
    assert_eq!(
        nexts("0 0 1 FEB,Aug *", "2026-03-01T00:00:00Z", 2),
        ["2026-08-01T00:00:00Z", "2027-02-01T00:00:00Z"]
    );
    // "a/n" means a-max/n.
    assert_eq!(
        nexts("50/5 23 31 dec *", "2026-01-01T00:00:00Z", 3),
        [
            "2026-12-31T23:50:00Z",
            "2026-12-31T23:55:00Z",
            "2027-12-31T23:50:00Z"
        ]
    );
    assert_eq!(
        nexts("10-20/7 * * * *", "2026-01-01T00:00:00Z", 3),
        [
            "2026-01-01T00:10:00Z",
            "2026-01-01T00:17:00Z",
            "2026-01-01T01:10:00Z"
        ]
    );
    assert_eq!(
        nexts("@weekly", "2026-11-18T10:00:00Z", 1),
        ["2026-11-22T00:00:00Z"]
    );
    assert_eq!(
        nexts("@monthly", "2026-11-18T10:00:00Z", 1),
        ["2026-12-01T00:00:00Z"]
    );
    assert_eq!(
        nexts("@yearly", "2026-11-18T10:00:00Z", 1),
        ["2027-01-01T00:00:00Z"]
    );
    assert_eq!(
        nexts("@hourly", "2026-11-18T10:00:00Z", 1),
        ["2026-11-18T11:00:00Z"]
    );
    // Sub-second input: the upcoming second is the earliest candidate.
    assert_eq!(
        nexts("* * * * *", "2026-11-18T10:00:59.5Z", 1),
        ["2026-11-18T10:01:00Z"]
    );
    // An empty list matches nothing.
    assert_eq!(nexts(", * * * *", "2026-11-18T10:00:00Z", 1), ["none"]);
}

#[test]
fn leap_years_and_the_five_year_limit() {
    assert_eq!(
        nexts("0 0 29 2 *", "2026-03-01T00:00:00Z", 2),
        ["2028-02-29T00:00:00Z", "2032-02-29T00:00:00Z"]
    );
    // 2100 is no leap year and 2104 is beyond robfig's five-year search.
    assert_eq!(nexts("0 0 29 2 *", "2097-03-05T08:00:00Z", 1), ["none"]);
    assert_eq!(nexts("0 0 30 2 *", "2026-03-01T00:00:00Z", 1), ["none"]);
    // OR rule rescues an impossible date: Feb 30 or any Monday in February.
    assert_eq!(
        nexts("0 0 30 2 1", "2026-11-18T00:00:00Z", 1),
        ["2027-02-01T00:00:00Z"]
    );
}

#[test]
fn dst_new_york() {
    // Spring forward 2026-03-08 02:00 EST -> 03:00 EDT: 02:30 is skipped.
    assert_eq!(
        nexts("TZ=America/New_York 30 2 * * *", "2026-03-07T12:00:00Z", 2),
        ["2026-03-09T06:30:00Z", "2026-03-10T06:30:00Z"]
    );
    // Hours 1 and 3 still fire; 2 does not exist.
    assert_eq!(
        nexts(
            "TZ=America/New_York 15 1,2,3 * * *",
            "2026-03-08T05:00:00Z",
            3
        ),
        [
            "2026-03-08T06:15:00Z",
            "2026-03-08T07:15:00Z",
            "2026-03-09T05:15:00Z"
        ]
    );
    // Fall back 2026-11-01 02:00 EDT -> 01:00 EST: 01:30 fires twice.
    assert_eq!(
        nexts("TZ=America/New_York 30 1 * * *", "2026-10-31T12:00:00Z", 3),
        [
            "2026-11-01T05:30:00Z",
            "2026-11-01T06:30:00Z",
            "2026-11-02T06:30:00Z"
        ]
    );
    assert_eq!(
        nexts("TZ=America/New_York 0 * * * *", "2026-11-01T03:30:00Z", 4),
        [
            "2026-11-01T04:00:00Z",
            "2026-11-01T05:00:00Z",
            "2026-11-01T06:00:00Z",
            "2026-11-01T07:00:00Z"
        ]
    );
}

#[test]
fn dst_london() {
    // 2026-03-29 01:00 GMT -> 02:00 BST: 01:30 does not exist that day.
    assert_eq!(
        nexts("TZ=Europe/London 30 1 * * *", "2026-03-28T12:00:00Z", 2),
        ["2026-03-30T00:30:00Z", "2026-03-31T00:30:00Z"]
    );
    // 2026-10-25 02:00 BST -> 01:00 GMT: 01:30 twice.
    assert_eq!(
        nexts(
            "CRON_TZ=Europe/London 30 1 * * *",
            "2026-10-24T12:00:00Z",
            3
        ),
        [
            "2026-10-25T00:30:00Z",
            "2026-10-25T01:30:00Z",
            "2026-10-26T01:30:00Z"
        ]
    );
}

#[test]
fn dst_lord_howe_half_hour() {
    // 2026-10-04 02:00 -> 02:30 (+10:30 -> +11). After 01:40 the minute loop
    // steps 01:59 -> 02:30 and finds minute 40 in hour 2: robfig fires at
    // 02:40 too, although the hour field says 1.
    assert_eq!(
        nexts(
            "TZ=Australia/Lord_Howe 40 1 * * *",
            "2026-10-03T12:00:00Z",
            3
        ),
        [
            "2026-10-03T15:10:00Z",
            "2026-10-03T15:40:00Z",
            "2026-10-04T14:40:00Z"
        ]
    );
    // 02:15 does not exist on 2026-10-04.
    assert_eq!(
        nexts(
            "TZ=Australia/Lord_Howe 15 2 * * *",
            "2026-10-03T12:00:00Z",
            2
        ),
        ["2026-10-04T15:15:00Z", "2026-10-05T15:15:00Z"]
    );
    // 2026-04-05 02:00 -> 01:30 (+11 -> +10:30): 01:45 twice.
    assert_eq!(
        nexts(
            "TZ=Australia/Lord_Howe 45 1 * * *",
            "2026-04-04T13:00:00Z",
            3
        ),
        [
            "2026-04-04T14:45:00Z",
            "2026-04-04T15:15:00Z",
            "2026-04-05T15:15:00Z"
        ]
    );
}

#[test]
fn next_can_go_backwards_chatham() {
    // Pacific/Chatham 2021-04-04 03:45 +13:45 -> 02:45 +12:45. From 02:46:50
    // (second pass) the hour loop rebuilds 02:00 with time.Date, which picks
    // the first pass (+13:45), adds an hour and returns 03:00 +13:45: an
    // instant 47 minutes *before* the input. Then 03:00 +12:45 follows.
    assert_eq!(
        nexts("TZ=Pacific/Chatham 0 3 * * *", "2021-04-03T14:01:50Z", 3),
        [
            "2021-04-03T13:15:00Z",
            "2021-04-03T14:15:00Z",
            "2021-04-04T14:15:00Z"
        ]
    );
    // The slot before `after` is not part of the window.
    let a = "2021-04-03T14:01:50Z";
    assert_eq!(
        window("TZ=Pacific/Chatham 0 3 * * *", a, a, "2021-04-05T00:00:00Z"),
        Ok((Some("2021-04-04T14:15:00Z".into()), 2))
    );
}

#[test]
fn midnight_gap_sao_paulo() {
    // 2018-11-04 00:00 -03 -> 01:00 -02. The day loop lands on 01:00,
    // "corrects" back to 23:00 of the 3rd and skips the 4th entirely.
    assert_eq!(
        nexts("TZ=America/Sao_Paulo 0 0 * * *", "2018-11-02T00:00:00Z", 3),
        [
            "2018-11-02T03:00:00Z",
            "2018-11-03T03:00:00Z",
            "2018-11-05T02:00:00Z"
        ]
    );
}

#[test]
fn non_minute_offset_monrovia() {
    // Liberia used -0:44:30 until 1972. Truncate(time.Minute) is absolute, so
    // after truncation the wall clock shows :30 seconds; robfig then skips a
    // whole hour before settling on a wall-clock :00.
    assert_eq!(
        nexts("TZ=Africa/Monrovia 5 * * * *", "1970-01-01T00:00:00Z", 2),
        ["1970-01-01T01:49:30Z", "1970-01-01T02:49:30Z"]
    );
    assert_eq!(
        nexts("TZ=Africa/Monrovia * * * * *", "1970-01-01T00:00:00Z", 2),
        ["1970-01-01T00:00:30Z", "1970-01-01T00:01:30Z"]
    );
}

fn window(
    spec: &str,
    anchor: &str,
    after: &str,
    now: &str,
) -> Result<(Option<String>, u32), NeverFires> {
    parse(spec)
        .window(ts(anchor), ts(after), ts(now))
        .map(|w| (w.latest.map(|t| t.to_string()), w.count))
}

#[test]
fn window_cases() {
    // Last run Thu 10:30, now Fri 16:30.
    let thu = "2026-11-19T10:30:00Z";
    assert_eq!(
        window("30 10,11,12 * * 1-5", thu, thu, "2026-11-20T16:30:00Z"),
        Ok((Some("2026-11-20T12:30:00Z".into()), 5))
    );
    // A year of missed minutes.
    let a = "2025-11-20T16:30:27Z";
    assert_eq!(
        window("* * * * *", a, a, "2026-11-20T16:30:27Z"),
        Ok((Some("2026-11-20T16:30:00Z".into()), 101))
    );
    // Exactly 100 and 101.
    let a = "2026-01-01T00:00:00Z";
    assert_eq!(
        window("* * * * *", a, a, "2026-01-01T01:40:00Z"),
        Ok((Some("2026-01-01T01:40:00Z".into()), 100))
    );
    assert_eq!(
        window("* * * * *", a, a, "2026-01-01T01:41:00Z"),
        Ok((Some("2026-01-01T01:41:00Z".into()), 101))
    );
    // Nothing due yet; never.
    assert_eq!(
        window("0 0 * * *", a, a, "2026-01-01T23:59:59Z"),
        Ok((None, 0))
    );
    assert_eq!(
        window("0 0 30 2 *", a, a, "2027-01-01T00:00:00Z"),
        Err(NeverFires)
    );
    // Fall back in New York: both 01:30 slots.
    let a = "2026-10-31T12:00:00Z";
    assert_eq!(
        window(
            "TZ=America/New_York 30 1 * * *",
            a,
            a,
            "2026-11-01T12:00:00Z"
        ),
        Ok((Some("2026-11-01T06:30:00Z".into()), 2))
    );
    // Lord Howe spring forward: 01:40 and the extra 02:40.
    assert_eq!(
        window(
            "TZ=Australia/Lord_Howe 40 1 * * *",
            a,
            "2026-10-03T14:45:00Z",
            "2026-10-03T15:45:00Z"
        ),
        Ok((Some("2026-10-03T15:40:00Z".into()), 2))
    );
    // Two days of minutes across the Lord Howe gap.
    assert_eq!(
        window(
            "TZ=Australia/Lord_Howe * * * * *",
            "2026-10-01T12:00:00Z",
            "2026-10-01T12:00:00Z",
            "2026-10-03T15:50:00Z"
        ),
        Ok((Some("2026-10-03T15:50:00Z".into()), 101))
    );
}

#[test]
fn window_every() {
    let anchor = "2026-01-01T10:00:00.5Z";
    // anchor + k*1h, anchor's sub-second part dropped.
    assert_eq!(
        window("@every 1h", anchor, anchor, "2026-01-01T15:30:00Z"),
        Ok((Some("2026-01-01T15:00:00Z".into()), 5))
    );
    // A deadline shorter than the interval: the slot inside it still runs.
    assert_eq!(
        window(
            "@every 1h",
            anchor,
            "2026-01-01T14:55:00Z",
            "2026-01-01T15:05:00Z"
        ),
        Ok((Some("2026-01-01T15:00:00Z".into()), 1))
    );
    assert_eq!(
        window(
            "@every 1h",
            anchor,
            "2026-01-01T15:01:00Z",
            "2026-01-01T15:59:00Z"
        ),
        Ok((None, 0))
    );
    assert_eq!(
        window("@every 1s", anchor, anchor, "2027-01-01T00:00:00Z"),
        Ok((Some("2027-01-01T00:00:00Z".into()), 101))
    );
}

/// window() agrees with stepping next() one slot at a time, around many
/// DST transitions (this exercises the fall-back paths of the O(1) search).
#[test]
fn window_matches_iteration_around_transitions() {
    let specs = [
        "* * * * *",
        "*/7 * * * *",
        "40 1 * * *",
        "15,45 0-3 * * *",
        "0 0 * * *",
        "30 1,2 * * *",
        "*/5 0-2 * * 0",
        "0,30 * 1-7 * *",
    ];
    let zones = [
        "America/New_York",
        "Australia/Lord_Howe",
        "America/Sao_Paulo",
        "Europe/London",
        "Pacific/Chatham",
        "America/Havana",
    ];
    for zone in zones {
        let tz = load_location(zone).unwrap().time_zone().clone();
        let transitions: Vec<i64> = tz
            .following(ts("2017-06-01T00:00:00Z"))
            .take(4)
            .map(|t| t.timestamp().as_second())
            .collect();
        for spec in specs {
            let s = parse(&format!("TZ={zone} {spec}"));
            for &tr in &transitions {
                for (back, fwd) in [(3 * 3600, 3600), (2 * 86_400, 2 * 3600), (7200, 86_400)] {
                    let after = Timestamp::from_second(tr - back).unwrap();
                    let now = Timestamp::from_second(tr + fwd).unwrap();
                    let mut count = 0;
                    let mut latest = None;
                    let mut t = after;
                    while let Some(n) = s.next(t) {
                        if n > now {
                            break;
                        }
                        count += 1;
                        latest = Some(n);
                        t = n;
                    }
                    let w = s.window(after, after, now).unwrap();
                    assert_eq!(
                        (w.latest, w.count),
                        (latest, count.min(101)),
                        "TZ={zone} {spec} after={after} now={now}"
                    );
                }
            }
        }
    }
}

#[test]
fn effective_spec_like_kubernetes() {
    let e = effective_spec("0 * * * *", Some("Europe/London"));
    assert_eq!(
        e,
        EffectiveSpec {
            spec: "TZ=Europe/London 0 * * * *".into(),
            uses_tz_in_schedule: false
        }
    );
    let e = effective_spec("CRON_TZ=Asia/Tokyo 0 * * * *", Some("Europe/London"));
    assert_eq!(
        e,
        EffectiveSpec {
            spec: "CRON_TZ=Asia/Tokyo 0 * * * *".into(),
            uses_tz_in_schedule: true
        }
    );
    let e = effective_spec("0 * * * *", Some("europe/london"));
    assert_eq!(
        e,
        EffectiveSpec {
            spec: "0 * * * *".into(),
            uses_tz_in_schedule: false
        }
    );
    let e = effective_spec("@hourly", None);
    assert_eq!(
        e,
        EffectiveSpec {
            spec: "@hourly".into(),
            uses_tz_in_schedule: false
        }
    );
    assert_eq!(
        parse(&effective_spec("0 9 * * *", Some("Asia/Kolkata")).spec)
            .next(ts("2026-01-01T00:00:00Z")),
        Some(ts("2026-01-01T03:30:00Z"))
    );
}

/// Not a correctness test: prints how long a year-long window takes.
#[test]
#[ignore]
fn timing_year_long_window() {
    let s = parse("TZ=America/New_York * * * * *");
    let (after, now) = (ts("2025-11-20T16:30:27Z"), ts("2026-11-20T16:30:27Z"));
    let start = std::time::Instant::now();
    let n = 1000;
    for _ in 0..n {
        std::hint::black_box(s.window(after, after, now).unwrap());
    }
    println!(
        "window over a year of minutes: {:?} per call",
        start.elapsed() / n
    );
}

/// Found by the window property test (docs/reliability.md): a schedule that
/// fires only in some months of a DST zone has its last wall-clock match
/// before the zone's last transitions, so neither clean candidate of
/// `latest_after` was accepted and it walked `next` from the 101st slot to
/// `now`: here a thousand years of Februaries, 40 million calls, cut off by
/// the walk's cap with a wrong answer. It now steps back across transitions
/// to a match clear of them and walks from there. The expected slots are
/// robfig's (hack/robfig-oracle; for the first two on shorter windows, from
/// 2026-02-25 and from 1500-03-01, which end on the same slot).
#[test]
fn window_of_a_schedule_that_skips_the_transition_months() {
    let start = std::time::Instant::now();
    assert_eq!(
        window(
            "TZ=America/New_York * * * 2 *",
            "1000-03-01T00:00:00Z",
            "1000-03-01T00:00:00Z",
            "2026-12-01T00:00:00Z"
        ),
        // 2026-02-28 23:59 EST, the last minute of the last February.
        Ok((Some("2026-03-01T04:59:00Z".into()), 101))
    );
    // Also in the LMT era (offset -4:56:02, not a whole minute).
    assert_eq!(
        window(
            "TZ=America/New_York 0 12 * 2 *",
            "1000-03-01T00:00:00Z",
            "1000-03-01T00:00:00Z",
            "1700-12-01T00:00:00Z"
        ),
        Ok((Some("1700-02-28T16:56:02Z".into()), 101))
    );
    // Monrovia's -0:44:30: from a slot, robfig's seconds loop keeps the
    // wall clock on :00, so the clean-candidate search holds there too.
    assert_eq!(
        window(
            "TZ=Africa/Monrovia */5 * * * *",
            "1965-01-01T00:00:00Z",
            "1965-01-01T00:00:00Z",
            "1966-01-01T00:00:00Z"
        ),
        Ok((Some("1965-12-31T23:59:30Z".into()), 101))
    );
    assert_eq!(
        window(
            "TZ=Africa/Monrovia 5 * * 2 *",
            "1962-03-01T00:00:00Z",
            "1962-03-01T00:00:00Z",
            "1971-12-01T00:00:00Z"
        ),
        Ok((Some("1971-02-28T23:49:30Z".into()), 101))
    );
    assert!(
        start.elapsed() < std::time::Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
}

/// Found by the window property test: with `now` at the last second jiff
/// represents, "the transition before now + 1s" was out of range, so the
/// candidate was converted with December's offset although it lies in
/// June, failed its check, and the walk started from the 101st slot in
/// 2091: 8000 years of minutes, cut off by the walk's cap. The slot is
/// robfig's (hack/robfig-oracle, window from 9999-05-20).
#[test]
fn window_ending_at_the_last_representable_second() {
    let start = std::time::Instant::now();
    for spec in [
        "TZ=Europe/Amsterdam * * * 6 *",
        "TZ=Europe/Amsterdam * * 2-17 FEB,apr-6 fri-fri,2-5/1",
    ] {
        assert_eq!(
            window(
                spec,
                "2090-12-21T21:28:24Z",
                "2090-12-21T21:28:24Z",
                "9999-12-30T22:00:00Z"
            ),
            Ok((Some("9999-06-30T21:59:00Z".into()), 101)),
            "{spec}"
        );
    }
    assert!(
        start.elapsed() < std::time::Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
}
