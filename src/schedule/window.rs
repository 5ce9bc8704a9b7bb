//! Which schedule slots fell into `(after, now]`, without walking them all.

use jiff::Timestamp;

use super::gotime::offset_at;
use super::next::{floor_second, prev_wall_match};
use super::{Kind, Schedule, Spec};

/// Saturation value of [`Window::count`]: "more than 100 slots".
pub const COUNT_SATURATION: u32 = 101;

/// The slots of a schedule in `(after, now]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// The most recent slot in the window.
    pub latest: Option<Timestamp>,
    /// How many slots the window holds, saturating at 101.
    pub count: u32,
}

impl Window {
    /// No slot at all.
    pub const EMPTY: Window = Window {
        latest: None,
        count: 0,
    };
}

/// The schedule has no activation after the given instant (robfig's `Next`
/// returns the zero time), e.g. `0 0 30 2 *`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the schedule never fires after the given time")]
pub struct NeverFires;

const DAY: i64 = 86_400;
/// Distance from a zone transition beyond which robfig's `Next` is exactly
/// "the next wall-clock match" (its day loop looks at most a day around).
const CLEAN_MARGIN: i64 = 2 * DAY;

impl Schedule {
    /// The slots in `(after, now]` of the sequence `s1 = next(anchor)`,
    /// `s(k+1) = next(s(k))`, with `after >= anchor`.
    ///
    /// For cron specs `next` does not depend on where the sequence started,
    /// so the slots are those of the sequence from `after` (what Kubernetes
    /// iterates). For `@every d` they are `anchor + k*d` (sub-second part of
    /// `anchor` dropped, as robfig's `Next` does).
    ///
    /// `latest` is exact and found in time independent of the number of
    /// missed slots; `count` iterates `next` at most 101 times.
    pub fn window(
        &self,
        anchor: Timestamp,
        after: Timestamp,
        now: Timestamp,
    ) -> Result<Window, NeverFires> {
        match self.kind {
            Kind::Every(d) => Ok(every_window(d, anchor, after, now)),
            Kind::Spec(spec) => self.spec_window(&spec, after, now),
        }
    }

    fn next_unix(&self, unix: i64) -> Option<i64> {
        self.next(Timestamp::from_second(unix).ok()?)
            .map(|t| t.as_second())
    }

    fn spec_window(
        &self,
        spec: &Spec,
        after: Timestamp,
        now: Timestamp,
    ) -> Result<Window, NeverFires> {
        let mut x = self.next(after).ok_or(NeverFires)?.as_second();
        let after = floor_second(after);
        let now = floor_second(now);
        let mut count = 0;
        let mut latest = None;
        // robfig's Next can go *backwards* right after a fall-back transition
        // (it rebuilds the hour with time.Date, which picks the first of two
        // ambiguous wall times), so the sequence may visit slots `<= after`
        // first; those are not in the window. The cap only guards against a
        // sequence that never advances (where Kubernetes would hang too).
        for _ in 0..10_000 {
            if x > now {
                break;
            }
            if x > after {
                count += 1;
                latest = Some(x);
                if count == COUNT_SATURATION {
                    return Ok(window_at(self.latest_after(spec, x, now), count));
                }
            }
            match self.next_unix(x) {
                Some(n) => x = n,
                None => break,
            }
        }
        Ok(Window {
            latest: latest.and_then(|l| Timestamp::from_second(l).ok()),
            count,
        })
    }

    /// The last element `<= now` of the `next` sequence through `orbit`
    /// (itself `<= now`), without stepping through the sequence.
    ///
    /// Away from zone transitions (and with a whole-minute offset) robfig's
    /// `Next` is simply "the next wall-clock match", so the sequence visits
    /// every wall-clock match, and the latest slot is the latest wall-clock
    /// match at or before `now`. That candidate is used when no transition
    /// happened within [`CLEAN_MARGIN`] before it, and confirmed with two
    /// `next` calls. Otherwise the walk starts from the last wall-clock match
    /// a day before the most recent transition (where the same reasoning
    /// holds), and only if that fails too from `orbit` itself.
    fn latest_after(&self, spec: &Spec, orbit: i64, now: i64) -> i64 {
        let tz = self.location.time_zone();
        let preceding = |unix: i64| {
            Timestamp::from_second(unix)
                .ok()
                .and_then(|t| tz.preceding(t).next())
                .map(|tr| tr.timestamp().as_second())
        };
        // A clean candidate: the last wall-clock match before `at`, provided
        // no transition happened within CLEAN_MARGIN before it and up to `at`.
        let clean_candidate = |at: i64| -> Option<i64> {
            let off = offset_at(tz, at);
            if off % 60 != 0 {
                return None;
            }
            let c = prev_wall_match(spec, at + off)? - off;
            let clean_from =
                preceding(at + 1).map_or(i64::MIN, |tr| tr.saturating_add(CLEAN_MARGIN));
            (c >= clean_from && c > orbit && self.next_unix(c - 1) == Some(c)).then_some(c)
        };
        if let Some(c) = clean_candidate(now)
            && self.next_unix(c).is_none_or(|n| n > now)
        {
            return c;
        }
        let start = preceding(now + 1)
            .and_then(|tr| clean_candidate(tr - DAY))
            .unwrap_or(orbit);
        self.walk(start, now)
    }

    /// Follows the sequence from `x` while it stays `<= now`. The cap is far
    /// above any real walk (a few days of slots); it only stops a sequence
    /// that would never advance.
    fn walk(&self, mut x: i64, now: i64) -> i64 {
        for _ in 0..10_000_000 {
            match self.next_unix(x) {
                Some(n) if n <= now => x = n,
                _ => break,
            }
        }
        x
    }
}

fn window_at(latest: i64, count: u32) -> Window {
    Window {
        latest: Timestamp::from_second(latest).ok(),
        count,
    }
}

fn nanos(t: Timestamp) -> i128 {
    t.as_nanosecond()
}

fn every_window(d: i64, anchor: Timestamp, after: Timestamp, now: Timestamp) -> Window {
    let a = i128::from(floor_second(anchor)) * 1_000_000_000;
    let d = i128::from(d) * 1_000_000_000;
    let kmax = (nanos(now) - a).div_euclid(d);
    let kmin = ((nanos(after) - a).div_euclid(d) + 1).max(1);
    if kmax < kmin {
        return Window {
            latest: None,
            count: 0,
        };
    }
    let count = (kmax - kmin + 1).min(i128::from(COUNT_SATURATION)) as u32;
    let latest = a + kmax * d;
    Window {
        latest: Timestamp::from_nanosecond(latest).ok(),
        count,
    }
}
