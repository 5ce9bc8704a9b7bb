//! Cron schedules with exactly the semantics of robfig/cron v3.0.1's
//! `cron.ParseStandard` and `Schedule.Next`, which is what Kubernetes'
//! CronJob controller uses; plus an O(1) "which slots were missed" query.
//!
//! See `docs/schedule.md` for the accepted language, the time-zone and DST
//! behaviour, and how the differential test against the real robfig/cron
//! works.

mod gotime;
mod location;
mod next;
mod parse;
mod window;

use jiff::Timestamp;

pub use location::{Location, load_location};
pub use parse::ParseError;
pub use window::{NeverFires, Window};

/// robfig's "a `*` or `?` was used" marker bit in a field's bit set.
pub(crate) const STAR_BIT: u64 = 1 << 63;

/// A parsed schedule: a cron spec or an `@every` interval, in a location.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    kind: Kind,
    location: Location,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Spec(Spec),
    /// `@every`: the delay in whole seconds (at least 1).
    Every(i64),
}

/// robfig's `SpecSchedule` bit sets (the seconds field is always `0`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Spec {
    minute: u64,
    hour: u64,
    dom: u64,
    month: u64,
    dow: u64,
}

impl Schedule {
    /// `cron.ParseStandard`: five fields, descriptors, `@every`, and an
    /// optional `TZ=`/`CRON_TZ=` prefix.
    pub fn parse_standard(spec: &str) -> Result<Schedule, ParseError> {
        parse::parse_standard(spec)
    }

    /// The schedule's location (UTC unless a `TZ=` prefix named another).
    pub fn location(&self) -> &Location {
        &self.location
    }

    /// The `@every` interval in seconds, if this is an `@every` schedule.
    pub fn every_seconds(&self) -> Option<i64> {
        match self.kind {
            Kind::Every(d) => Some(d),
            Kind::Spec(_) => None,
        }
    }

    /// robfig's `Schedule.Next(t)`: the first activation strictly after `t`
    /// (to the second). `None` where robfig returns the zero time (nothing
    /// within five years) or the result is outside jiff's range.
    pub fn next(&self, t: Timestamp) -> Option<Timestamp> {
        let unix = next::floor_second(t);
        let n = match self.kind {
            Kind::Every(d) => unix.checked_add(d)?,
            Kind::Spec(spec) => next::spec_next(&spec, self.location.time_zone(), unix)?,
        };
        Timestamp::from_second(n).ok()
    }
}

/// The spec Kubernetes hands to `cron.ParseStandard` (its `formatSchedule`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EffectiveSpec {
    /// The string to parse.
    pub spec: String,
    /// The schedule itself contains "TZ" (unsupported since the timeZone
    /// field exists): the caller emits a Warning `UnsupportedSchedule` event.
    pub uses_tz_in_schedule: bool,
}

/// Kubernetes' `formatSchedule`: a schedule containing `TZ` is used as
/// written; otherwise a loadable `timeZone` is prepended as `TZ=<zone> `.
pub fn effective_spec(schedule: &str, time_zone: Option<&str>) -> EffectiveSpec {
    if schedule.contains("TZ") {
        return EffectiveSpec {
            spec: schedule.to_owned(),
            uses_tz_in_schedule: true,
        };
    }
    if let Some(zone) = time_zone
        && load_location(zone).is_ok()
    {
        return EffectiveSpec {
            spec: format!("TZ={zone} {schedule}"),
            uses_tz_in_schedule: false,
        };
    }
    EffectiveSpec {
        spec: schedule.to_owned(),
        uses_tz_in_schedule: false,
    }
}

#[cfg(test)]
mod tests;
