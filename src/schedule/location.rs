//! Time-zone locations with Go `time.LoadLocation` semantics.

use std::collections::HashSet;
use std::fmt;
use std::sync::OnceLock;

use jiff::Timestamp;
use jiff::tz::{TimeZone, TimeZoneDatabase};

use super::gotime::{fields_of_local, offset_at};

/// A time zone as Go's `*time.Location`: a name plus the IANA rules.
///
/// `""`, `"UTC"` and `"Local"` are UTC (the controller runs in UTC by
/// contract); any other name must be an exact, case-sensitive IANA name.
#[derive(Clone)]
pub struct Location {
    name: String,
    tz: TimeZone,
}

impl Location {
    /// The UTC location.
    pub fn utc() -> Self {
        Location {
            name: "UTC".to_owned(),
            tz: TimeZone::UTC,
        }
    }

    /// The name the location was loaded with (`"UTC"` for `""`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The underlying jiff time zone.
    pub fn time_zone(&self) -> &TimeZone {
        &self.tz
    }

    /// UTC offset in seconds at `t`.
    pub fn offset_seconds(&self, t: Timestamp) -> i32 {
        self.tz.to_offset(t).seconds()
    }

    /// `t.In(loc).Format(time.RFC3339)`: `2026-03-08T01:30:00-05:00`, or
    /// `2026-01-01T00:00:00Z` when the offset is zero. Sub-seconds are
    /// dropped; a sub-minute part of the offset is dropped as Go does.
    pub fn format_rfc3339(&self, t: Timestamp) -> String {
        let mut unix = t.as_second();
        if t.subsec_nanosecond() < 0 {
            unix -= 1;
        }
        let offset = offset_at(&self.tz, unix);
        let f = fields_of_local(unix + offset);
        let mut out = format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
            f.year, f.month, f.day, f.hour, f.minute, f.second
        );
        if offset == 0 {
            out.push('Z');
        } else {
            // Go: zone := offset / 60 (truncating), sign taken from zone.
            let mut zone = offset / 60;
            let sign = if zone < 0 {
                zone = -zone;
                '-'
            } else {
                '+'
            };
            out.push_str(&format!("{sign}{:02}:{:02}", zone / 60, zone % 60));
        }
        out
    }
}

impl fmt::Debug for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Location({})", self.name)
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}

impl PartialEq for Location {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}

impl Eq for Location {}

/// The IANA database compiled into the binary. jiff's global `db()` would
/// prefer the host's `/usr/share/zoneinfo`, whose version varies by machine;
/// the controller's answers must not.
fn bundled_db() -> &'static TimeZoneDatabase {
    static DB: OnceLock<TimeZoneDatabase> = OnceLock::new();
    DB.get_or_init(TimeZoneDatabase::bundled)
}

/// The exact (case-sensitive) zone names of the bundled database.
fn zone_names() -> &'static HashSet<String> {
    static NAMES: OnceLock<HashSet<String>> = OnceLock::new();
    NAMES.get_or_init(|| bundled_db().available().map(|n| n.to_string()).collect())
}

/// The directories of the bundled database (`America`, `America/Argentina`,
/// ...): every proper prefix of a zone name that ends before a `/`.
fn zone_dirs() -> &'static HashSet<String> {
    static DIRS: OnceLock<HashSet<String>> = OnceLock::new();
    DIRS.get_or_init(|| {
        zone_names()
            .iter()
            .flat_map(|n| n.match_indices('/').map(move |(i, _)| n[..i].to_owned()))
            .collect()
    })
}

/// Go's `time.LoadLocation`, against the IANA database compiled into jiff,
/// read the way Go reads a zoneinfo directory (`$ZONEINFO`,
/// `/usr/share/zoneinfo`): names are file paths, so `America//New_York` and
/// `./UTC` resolve, and a path through a zone file or to a directory fails
/// with the operating system's error.
///
/// Errors carry Go's text: `unknown time zone X`, `not a directory`,
/// `is a directory` or `time: invalid location name`.
pub fn load_location(name: &str) -> Result<Location, String> {
    if name.is_empty() || name == "UTC" || name == "Local" {
        return Ok(Location {
            name: if name.is_empty() { "UTC" } else { name }.to_owned(),
            tz: TimeZone::UTC,
        });
    }
    if name.contains("..") || name.starts_with('/') || name.starts_with('\\') {
        return Err("time: invalid location name".to_owned());
    }
    let path = resolve_zone_path(name)?;
    // jiff's lookup ignores case; Go's (a file name) does not: `path` is an
    // exact name from the database here.
    let tz = bundled_db()
        .get(&path)
        .map_err(|_| format!("unknown time zone {name}"))?;
    Ok(Location {
        name: name.to_owned(),
        tz,
    })
}

/// Resolve `name` as a path below a zoneinfo directory holding the bundled
/// zones: empty and `.` components vanish, a component after a zone file is
/// `not a directory`, a directory (or a zone with a trailing `/`) cannot be
/// read as a zone, and a path through something that does not exist is
/// unknown at once (which also keeps the work linear in the length of a
/// hostile name of thousands of components).
fn resolve_zone_path(name: &str) -> Result<String, String> {
    let (names, dirs) = (zone_names(), zone_dirs());
    let unknown = || format!("unknown time zone {name}");
    let mut parts = name
        .split('/')
        .filter(|p| !p.is_empty() && *p != ".")
        .peekable();
    let wants_dir = name.ends_with('/') || name.ends_with("/.") || name == ".";
    let mut path = String::new();
    while let Some(part) = parts.next() {
        if !path.is_empty() {
            path.push('/');
        }
        path.push_str(part);
        let last = parts.peek().is_none();
        if names.contains(&path) {
            if !last || wants_dir {
                return Err("not a directory".to_owned());
            }
            return Ok(path);
        }
        if !dirs.contains(&path) {
            // ENOENT: no later component can change that.
            return Err(unknown());
        }
    }
    // `path` is a directory of the database (or empty: the root).
    Err("is a directory".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn load() {
        assert_eq!(load_location("").unwrap().name(), "UTC");
        assert_eq!(load_location("UTC").unwrap().name(), "UTC");
        assert_eq!(
            load_location("Local")
                .unwrap()
                .offset_seconds(ts("2026-07-01T00:00:00Z")),
            0
        );
        assert!(load_location("America/New_York").is_ok());
        assert!(load_location("US/Eastern").is_ok());
        for path in [
            "America//New_York",
            "America/./New_York",
            "./America/New_York",
        ] {
            let loc = load_location(path).unwrap();
            assert_eq!(loc.name(), path, "Go keeps the name it was given");
            assert_eq!(
                loc.time_zone().iana_name(),
                Some("America/New_York"),
                "{path}"
            );
        }
        for (name, err) in [
            ("america/new_york", "unknown time zone america/new_york"),
            ("AMERICA/NEW_YORK", "unknown time zone AMERICA/NEW_YORK"),
            ("utc", "unknown time zone utc"),
            ("Mars/Olympus", "unknown time zone Mars/Olympus"),
            ("../etc/passwd", "time: invalid location name"),
            // Go reads names as paths below a zoneinfo directory.
            ("UTC/9-19", "not a directory"),
            ("UTC/", "not a directory"),
            ("America/New_York/x", "not a directory"),
            ("America", "is a directory"),
            ("America/", "is a directory"),
            ("Etc", "is a directory"),
            ("America/Nowhere", "unknown time zone America/Nowhere"),
            ("/etc/localtime", "time: invalid location name"),
        ] {
            assert_eq!(load_location(name).unwrap_err(), err, "{name}");
        }
    }

    /// Found while bounding the CLI's inputs (docs/reliability.md): the
    /// path was rebuilt and hashed at each of its components, so a name of
    /// 60 000 `a/` components took two minutes (quadratic). A component that
    /// is neither a zone nor a directory now ends the lookup.
    #[test]
    fn long_hostile_names_are_linear() {
        let start = std::time::Instant::now();
        let junk = "a/".repeat(200_000);
        assert_eq!(
            load_location(&junk).unwrap_err(),
            format!("unknown time zone {junk}")
        );
        let dirs = "America/".repeat(100_000);
        assert_eq!(
            load_location(&dirs).unwrap_err(),
            format!("unknown time zone {dirs}")
        );
        let dots = "./".repeat(200_000) + "Europe/./Paris";
        assert_eq!(load_location(&dots).unwrap().name(), dots);
        assert!(
            start.elapsed() < std::time::Duration::from_secs(2),
            "{:?}",
            start.elapsed()
        );
        // The directories are the proper prefixes of zone names.
        assert!(zone_dirs().contains("America/Argentina"));
        assert!(!zone_dirs().contains("America/New_York"));
    }

    #[test]
    fn rfc3339() {
        let ny = load_location("America/New_York").unwrap();
        assert_eq!(
            ny.format_rfc3339(ts("2026-03-08T06:30:00Z")),
            "2026-03-08T01:30:00-05:00"
        );
        assert_eq!(
            ny.format_rfc3339(ts("2026-07-08T06:30:00.999Z")),
            "2026-07-08T02:30:00-04:00"
        );
        assert_eq!(
            Location::utc().format_rfc3339(ts("2026-01-01T00:00:00Z")),
            "2026-01-01T00:00:00Z"
        );
        let london = load_location("Europe/London").unwrap();
        assert_eq!(
            london.format_rfc3339(ts("2026-01-01T00:00:00Z")),
            "2026-01-01T00:00:00Z"
        );
        let kolkata = load_location("Asia/Kolkata").unwrap();
        assert_eq!(
            kolkata.format_rfc3339(ts("2026-01-01T00:00:00Z")),
            "2026-01-01T05:30:00+05:30"
        );
        // Liberia used -0:44:30 until 1972; Go prints the truncated minutes.
        let monrovia = load_location("Africa/Monrovia").unwrap();
        assert_eq!(
            monrovia.format_rfc3339(ts("1970-01-01T00:00:00Z")),
            "1969-12-31T23:15:30-00:44"
        );
    }
}
