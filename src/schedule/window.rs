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
/// Transitions `latest_after` steps back across before it gives up on a
/// clean candidate (DST zones have two a year).
const MAX_ERAS: usize = 64;

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
    /// (itself `<= now`), without stepping through the whole sequence.
    ///
    /// Away from zone transitions robfig's `Next` from a slot is simply "the
    /// next wall-clock match" (also with an offset that is not a whole
    /// minute: its seconds loop aligns on the wall clock's :00), so the
    /// sequence visits every wall-clock match clear of transitions. The
    /// answer is found by walking `next` from the latest such *clean* match:
    /// the last wall-clock match at or before `at`, accepted when no
    /// transition happened within [`CLEAN_MARGIN`] before it or between it
    /// and `at`, and confirmed with `next(c - 1s) == c`. The search starts at
    /// `at = now` and, while the candidate is not clean, moves `at` to a day
    /// before the transition preceding it: the wall-clock matches it steps
    /// over all lie within three days of a transition, which bounds the
    /// walk. Only if that fails (no match within ten years, or more than
    /// [`MAX_ERAS`] transitions) does the walk start from `orbit`.
    fn latest_after(&self, spec: &Spec, orbit: i64, now: i64) -> i64 {
        let tz = self.location.time_zone();
        // The latest transition before `unix` (clamped into jiff's range:
        // `now` may be the last representable second).
        let preceding = |unix: i64| {
            let clamped = unix.clamp(Timestamp::MIN.as_second(), Timestamp::MAX.as_second());
            Timestamp::from_second(clamped)
                .ok()
                .and_then(|t| tz.preceding(t).next())
                .map(|tr| tr.timestamp().as_second())
        };
        let mut at = now;
        for _ in 0..MAX_ERAS {
            let tr = preceding(at + 1);
            let off = offset_at(tz, at);
            let Some(wall) = prev_wall_match(spec, at + off) else {
                break;
            };
            let c = wall - off;
            if c <= orbit {
                break;
            }
            let clean_from = tr.map_or(i64::MIN, |tr| tr.saturating_add(CLEAN_MARGIN));
            if c >= clean_from && self.next_unix(c - 1) == Some(c) {
                return self.walk(c, now);
            }
            match tr {
                Some(tr) => at = tr - DAY,
                None => break,
            }
        }
        self.walk(orbit, now)
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
