//! The handful of Go `time` package operations robfig/cron's `Next` relies
//! on, modelled on unix seconds plus an offset lookup.
//!
//! Everything here works on whole seconds: robfig drops the sub-second part
//! before it starts searching, so no later step ever sees nanoseconds.
//!
//! The Go semantics reproduced (see `$(go env GOROOT)/src/time/time.go`):
//!
//! * fields (`Year`, `Month`, `Day`, `Hour`, ...) are read from the wall clock,
//!   i.e. `unix + offset(unix)`;
//! * `time.Date(y, m, d, h, mi, s, 0, loc)` normalises overflowing fields, takes
//!   the wall time as if it were UTC (`u`), looks up the offset `o1` in force at
//!   the instant `u`, and, when `u - o1` falls outside that zone period, uses
//!   the offset in force at `u - o1` instead. Looking up the offset at
//!   `u - o1` directly is equivalent (inside the period it is `o1` again);
//! * `t.AddDate(0, m, d)` is `Date` on the wall fields plus the increments;
//! * `t.Add(d)` and `t.Truncate(d)` are absolute. Truncate rounds down to a
//!   multiple of `d` since Go's zero time (0001-01-01 UTC), which lies on a
//!   whole minute of the unix time line, so it is `floor(unix / 60) * 60`.

use jiff::Timestamp;
use jiff::tz::TimeZone;

/// Offset (seconds east of UTC) of `tz` at the unix second `unix`.
///
/// Instants outside jiff's range use the nearest representable instant;
/// that only matters thousands of years away from any real schedule.
#[inline]
pub(crate) fn offset_at(tz: &TimeZone, unix: i64) -> i64 {
    let clamped = unix.clamp(
        Timestamp::MIN.as_second() + 86_400,
        Timestamp::MAX.as_second() - 86_400,
    );
    // Cannot fail: the value is clamped into jiff's range.
    let ts = Timestamp::from_second(clamped).unwrap_or(Timestamp::UNIX_EPOCH);
    i64::from(tz.to_offset(ts).seconds())
}

/// Days since 1970-01-01 of the proleptic Gregorian date `y-m-d`.
/// `m` is 1..=12; `d` may overflow the month (it is just added).
#[inline]
pub(crate) fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468 + (d - 1)
}

/// Inverse of [`days_from_civil`]: (year, month 1..=12, day 1..=31).
#[inline]
pub(crate) fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Wall-clock fields of an instant, as Go's accessors report them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Fields {
    pub year: i64,
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
    /// 0 = Sunday.
    pub weekday: u32,
}

/// Splits a wall-clock second count ("local unix") into fields.
#[inline]
pub(crate) fn fields_of_local(local: i64) -> Fields {
    let days = local.div_euclid(86_400);
    let sod = local.rem_euclid(86_400) as u32;
    let (year, month, day) = civil_from_days(days);
    Fields {
        year,
        month,
        day,
        hour: sod / 3600,
        minute: sod / 60 % 60,
        second: sod % 60,
        weekday: (days + 4).rem_euclid(7) as u32,
    }
}

/// Go `time.Time` restricted to what `Next` needs: an instant (whole unix
/// seconds) viewed in one zone.
#[derive(Clone, Copy)]
pub(crate) struct GoTime<'a> {
    pub unix: i64,
    pub tz: &'a TimeZone,
}

impl<'a> GoTime<'a> {
    #[inline]
    pub fn fields(self) -> Fields {
        fields_of_local(self.unix + offset_at(self.tz, self.unix))
    }

    /// `time.Date(year, month, day, hour, min, sec, 0, loc)`.
    #[inline]
    pub fn date(
        tz: &'a TimeZone,
        year: i64,
        month: i64,
        day: i64,
        hour: i64,
        min: i64,
        sec: i64,
    ) -> Self {
        // Normalise the month into the year, as Go's norm() does.
        let m0 = month - 1;
        let year = year + m0.div_euclid(12);
        let month = m0.rem_euclid(12) + 1;
        let local = days_from_civil(year, month, 1) * 86_400
            + (day - 1) * 86_400
            + hour * 3600
            + min * 60
            + sec;
        let o1 = offset_at(tz, local);
        let unix = if o1 == 0 {
            local
        } else {
            local - offset_at(tz, local - o1)
        };
        GoTime { unix, tz }
    }

    /// `t.AddDate(0, months, days)`.
    #[inline]
    pub fn add_date(self, months: i64, days: i64) -> Self {
        let f = self.fields();
        Self::date(
            self.tz,
            f.year,
            i64::from(f.month) + months,
            i64::from(f.day) + days,
            i64::from(f.hour),
            i64::from(f.minute),
            i64::from(f.second),
        )
    }

    /// `t.Add(secs * time.Second)`.
    #[inline]
    pub fn add(self, secs: i64) -> Self {
        GoTime {
            unix: self.unix + secs,
            tz: self.tz,
        }
    }

    /// `t.Truncate(secs * time.Second)` (absolute, since Go's zero time).
    #[inline]
    pub fn truncate(self, secs: i64) -> Self {
        GoTime {
            unix: self.unix.div_euclid(secs) * secs,
            tz: self.tz,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_round_trip() {
        for days in -800_000..800_000i64 {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, i64::from(m), i64::from(d)), days);
        }
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        // Day overflow is just added, like Go's dateToAbsDays.
        assert_eq!(days_from_civil(2021, 1, 32), days_from_civil(2021, 2, 1));
    }

    #[test]
    fn go_zero_time_is_minute_aligned() {
        // 0001-01-01T00:00:00Z
        let zero = days_from_civil(1, 1, 1) * 86_400;
        assert_eq!(zero, -62_135_596_800);
        assert_eq!(zero.rem_euclid(60), 0);
    }
}
