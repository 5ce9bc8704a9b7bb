//! The invariants of `Schedule::next` and `Schedule::window` that hold for
//! every input, shared by the property tests (tests/schedule_properties.rs)
//! and the fuzz targets (fuzz/fuzz_targets/schedule_next.rs). Each check
//! returns a description of the violation.
#![allow(dead_code)]

use jiff::Timestamp;
use kronjob::schedule::{NeverFires, Schedule, Window};

/// Unix seconds of `t`, rounded down.
pub fn floor_second(t: Timestamp) -> i64 {
    let s = t.as_second();
    if t.subsec_nanosecond() < 0 { s - 1 } else { s }
}

/// The instant `secs` (plus `nanos`), clamped into jiff's range.
pub fn clamp_ts(secs: i64, nanos: i32) -> Timestamp {
    let s = secs.clamp(Timestamp::MIN.as_second(), Timestamp::MAX.as_second());
    Timestamp::new(s, nanos.rem_euclid(1_000_000_000))
        .unwrap_or_else(|_| Timestamp::from_second(s).expect("clamped"))
}

/// Offset in seconds of the schedule's zone at `unix`.
fn offset(sched: &Schedule, unix: i64) -> i64 {
    i64::from(sched.location().offset_seconds(clamp_ts(unix, 0)))
}

/// The explanation of a `next(t) = n <= t`, robfig's fall-back quirk
/// (docs/schedule.md, Pacific/Chatham): `n` lies in the first pass of a
/// wall-clock interval that a transition `tr` in `(n, t]` repeated by
/// setting the clock back by `drop` seconds (`tr - drop <= n`), and the same
/// wall time in the second pass, `n + drop`, is after `t`. Returns
/// `(tr, drop)`, or `None` if no transition explains it.
pub fn fall_back_explaining(sched: &Schedule, n: i64, t: i64) -> Option<(i64, i64)> {
    let tz = sched.location().time_zone();
    tz.preceding(clamp_ts(t.saturating_add(1), 0))
        .take_while(|tr| tr.timestamp().as_second() > n)
        .map(|tr| {
            let at = tr.timestamp().as_second();
            (at, offset(sched, at - 1) - offset(sched, at))
        })
        .find(|&(at, drop)| drop > 0 && n >= at - drop && n + drop > t)
}

/// No zone transition in `[from, to]`.
fn no_transition_between(sched: &Schedule, from: i64, to: i64) -> bool {
    let tz = sched.location().time_zone();
    // `following` yields transitions strictly after its argument.
    tz.following(clamp_ts(from.saturating_sub(1), 0))
        .next()
        .is_none_or(|tr| tr.timestamp().as_second() > to)
}

/// `n = next(t)`:
/// * whole seconds;
/// * after `t`, except in robfig's fall-back quirk ([`fall_back_explaining`]);
///   `@every` always after `t`;
/// * where the zone keeps one whole-minute offset from 32 days before `t`
///   (robfig rebuilds times from the first of `t`'s month on, so a
///   transition there, such as Lisbon's at midnight on 1921-03-01, shifts
///   every later result by its gap) to a day after `n`, robfig's `Next` is
///   "the first matching wall time after `t`": every instant in `[t, n)`
///   has the same next (checked at three points).
pub fn check_next(
    sched: &Schedule,
    spec: &str,
    t: Timestamp,
    n: Option<Timestamp>,
) -> Result<(), String> {
    let Some(n) = n else { return Ok(()) };
    if n.subsec_nanosecond() != 0 {
        return Err(format!("{spec:?}: next({t}) = {n} is not a whole second"));
    }
    let (ns, ts) = (n.as_second(), floor_second(t));
    if ns <= ts {
        if sched.every_seconds().is_some() {
            return Err(format!("{spec:?}: @every next({t}) = {n} is not after t"));
        }
        if fall_back_explaining(sched, ns, ts).is_none() {
            return Err(format!(
                "{spec:?}: next({t}) = {n} is not after t, and no fall-back transition explains it"
            ));
        }
        return Ok(());
    }
    let quiet = sched.every_seconds().is_none()
        && offset(sched, ts) % 60 == 0
        && no_transition_between(
            sched,
            ts.saturating_sub(32 * 86_400),
            ns.saturating_add(86_400),
        );
    if quiet {
        for m in [ts, ns - 1, ts + (ns - ts) / 2] {
            let mt = clamp_ts(m, 0);
            let got = sched.next(mt);
            if got != Some(n) {
                return Err(format!(
                    "{spec:?}: next({t}) = {n} but next({mt}) = {got:?}, in a stretch without transitions"
                ));
            }
        }
    }
    Ok(())
}

/// `w = window(anchor, after, now)`:
/// * `NeverFires` only for a cron spec whose `next(after)` is `None`;
/// * `count <= 101`, and `count == 0` exactly when there is no `latest`;
/// * `latest` in `(after, now]`;
/// * for cron specs, where stepping `next` from `after` passes `now` within
///   `max_steps` slots, the same `latest` and saturated count (the walk
///   Kubernetes does).
pub fn check_window(
    sched: &Schedule,
    spec: &str,
    (anchor, after, now): (Timestamp, Timestamp, Timestamp),
    w: Result<Window, NeverFires>,
    max_steps: usize,
) -> Result<(), String> {
    let q = format!("{spec:?}: window({anchor}, {after}, {now})");
    let Ok(w) = w else {
        if sched.every_seconds().is_some() || sched.next(after).is_some() {
            return Err(format!("{q}: NeverFires, but next({after}) is not None"));
        }
        return Ok(());
    };
    if w.count > 101 {
        return Err(format!("{q}: count {}", w.count));
    }
    if (w.count == 0) != w.latest.is_none() {
        return Err(format!("{q}: {w:?}"));
    }
    if let Some(l) = w.latest
        && !(l > after && l <= now)
    {
        return Err(format!("{q}: latest {l} not in (after, now]"));
    }
    if sched.every_seconds().is_some() {
        return Ok(());
    }
    let mut t = after;
    let (mut count, mut latest) = (0u32, None);
    for _ in 0..max_steps {
        match sched.next(t) {
            Some(n) if n <= now => {
                if n > after {
                    count = (count + 1).min(101);
                    latest = Some(n);
                }
                t = n;
            }
            _ => {
                if (w.latest, w.count) != (latest, count) {
                    return Err(format!(
                        "{q} = {w:?}, but stepping next gives latest {latest:?}, count {count}"
                    ));
                }
                break;
            }
        }
    }
    Ok(())
}
