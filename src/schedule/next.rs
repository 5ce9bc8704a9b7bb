//! robfig/cron v3.0.1 `SpecSchedule.Next`, step for step, on [`GoTime`].

use jiff::Timestamp;
use jiff::tz::TimeZone;

use super::gotime::{Fields, GoTime, civil_from_days};
use super::{STAR_BIT, Spec};

/// Unix seconds of `t`, rounded down (Go's `Nanosecond()` is never negative).
pub(crate) fn floor_second(t: Timestamp) -> i64 {
    let s = t.as_second();
    if t.subsec_nanosecond() < 0 { s - 1 } else { s }
}

#[inline]
fn has(bits: u64, v: u32) -> bool {
    bits & (1u64 << v) != 0
}

/// robfig's `dayMatches`: AND when either day field contains a star, else OR.
#[inline]
pub(crate) fn day_matches(s: &Spec, day: u32, weekday: u32) -> bool {
    let dom = has(s.dom, day);
    let dow = has(s.dow, weekday);
    if s.dom & STAR_BIT != 0 || s.dow & STAR_BIT != 0 {
        dom && dow
    } else {
        dom || dow
    }
}

/// Upper bound on loop iterations; robfig's own loops are bounded by the
/// five-year limit far below this, so it is only a guard against a zone
/// whose transitions would make Go loop forever.
const MAX_STEPS: u32 = 5_000_000;

/// `SpecSchedule.Next(t)` for `t` = `unix` (whole seconds), in `tz`.
pub(crate) fn spec_next(s: &Spec, tz: &TimeZone, unix: i64) -> Option<i64> {
    // A field without any bit can never match: robfig would search the whole
    // five years (millions of steps for minutes) and return the zero time.
    if s.minute & !STAR_BIT == 0 || s.hour & !STAR_BIT == 0 || s.month & !STAR_BIT == 0 {
        return None;
    }
    // "Start at the earliest possible time (the upcoming second)."
    let mut t = GoTime {
        unix: unix.checked_add(1)?,
        tz,
    };
    let mut added = false;
    let year_limit = t.fields().year + 5;
    let mut steps = 0u32;
    let mut tick = || {
        steps += 1;
        steps < MAX_STEPS
    };

    'wrap: loop {
        let mut f: Fields = t.fields();
        if f.year > year_limit {
            return None;
        }

        while !has(s.month, f.month) {
            if !tick() {
                return None;
            }
            if !added {
                added = true;
                t = GoTime::date(tz, f.year, i64::from(f.month), 1, 0, 0, 0);
            }
            t = t.add_date(1, 0);
            f = t.fields();
            if f.month == 1 {
                continue 'wrap;
            }
        }

        while !day_matches(s, f.day, f.weekday) {
            if !tick() {
                return None;
            }
            if !added {
                added = true;
                t = GoTime::date(tz, f.year, i64::from(f.month), i64::from(f.day), 0, 0, 0);
            }
            t = t.add_date(0, 1);
            f = t.fields();
            // Midnight may not exist (or exist twice): correct towards it.
            if f.hour != 0 {
                if f.hour > 12 {
                    t = t.add(i64::from(24 - f.hour) * 3600);
                } else {
                    t = t.add(-i64::from(f.hour) * 3600);
                }
                f = t.fields();
            }
            if f.day == 1 {
                continue 'wrap;
            }
        }

        while !has(s.hour, f.hour) {
            if !tick() {
                return None;
            }
            if !added {
                added = true;
                t = GoTime::date(
                    tz,
                    f.year,
                    i64::from(f.month),
                    i64::from(f.day),
                    i64::from(f.hour),
                    0,
                    0,
                );
            }
            t = t.add(3600);
            f = t.fields();
            if f.hour == 0 {
                continue 'wrap;
            }
        }

        while !has(s.minute, f.minute) {
            if !tick() {
                return None;
            }
            if !added {
                added = true;
                t = t.truncate(60);
            }
            t = t.add(60);
            f = t.fields();
            if f.minute == 0 {
                continue 'wrap;
            }
        }

        // The seconds field is always exactly {0}.
        while f.second != 0 {
            if !tick() {
                return None;
            }
            added = true; // Truncate(time.Second) is a no-op on whole seconds.
            t = t.add(1);
            f = t.fields();
            if f.second == 0 {
                continue 'wrap;
            }
        }

        return Some(t.unix);
    }
}

/// Highest set bit of `bits` that is `<= v`, ignoring the star bit.
#[inline]
fn highest_at_most(bits: u64, v: u32) -> Option<u32> {
    let mask = if v >= 62 { !STAR_BIT } else { (2u64 << v) - 1 };
    let m = bits & mask;
    if m == 0 {
        None
    } else {
        Some(63 - m.leading_zeros())
    }
}

/// The latest wall-clock date-time `<= local` (wall seconds, as if UTC) whose
/// fields match the spec with second 0, searching back at most ~10 years.
/// This is plain calendar arithmetic: no zone is involved.
pub(crate) fn prev_wall_match(s: &Spec, local: i64) -> Option<i64> {
    let mut days = local.div_euclid(86_400);
    let sod = local.rem_euclid(86_400);
    let mut hour = (sod / 3600) as u32;
    let mut minute = (sod / 60 % 60) as u32;
    let (start_year, _, _) = civil_from_days(days);
    loop {
        let (y, m, d) = civil_from_days(days);
        if y < start_year - 10 {
            return None;
        }
        if !has(s.month, m) {
            // Jump to the last minute of the previous month.
            days -= i64::from(d);
            hour = 23;
            minute = 59;
            continue;
        }
        let weekday = (days + 4).rem_euclid(7) as u32;
        if !day_matches(s, d, weekday) {
            days -= 1;
            hour = 23;
            minute = 59;
            continue;
        }
        let Some(h) = highest_at_most(s.hour, hour) else {
            days -= 1;
            hour = 23;
            minute = 59;
            continue;
        };
        if h != hour {
            hour = h;
            minute = 59;
        }
        let Some(mi) = highest_at_most(s.minute, minute) else {
            if hour == 0 {
                days -= 1;
                hour = 23;
            } else {
                hour -= 1;
            }
            minute = 59;
            continue;
        };
        return Some(days * 86_400 + i64::from(hour) * 3600 + i64::from(mi) * 60);
    }
}
