//! TEMPORARY STUB (replaced by the real engine on merge).
use jiff::Timestamp;
#[derive(Debug, Clone)]
pub struct Location;
impl Location { pub fn format_rfc3339(&self, t: Timestamp) -> String { t.to_string() } }
#[derive(Debug, Clone)]
pub struct Schedule { loc: Location }
#[derive(Debug, Clone, PartialEq)]
pub struct ParseError(String);
impl std::fmt::Display for ParseError { fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result { f.write_str(&self.0) } }
#[derive(Debug, Clone, PartialEq)]
pub struct NeverFires;
#[derive(Debug, Clone, PartialEq)]
pub struct Window { pub latest: Option<Timestamp>, pub count: u32 }
pub struct EffectiveSpec { pub spec: String, pub uses_tz_in_schedule: bool }
pub fn effective_spec(schedule: &str, _tz: Option<&str>) -> EffectiveSpec { EffectiveSpec { spec: schedule.into(), uses_tz_in_schedule: schedule.contains("TZ") } }
pub fn load_location(_n: &str) -> Result<Location, String> { Ok(Location) }
impl Schedule {
    pub fn parse_standard(_s: &str) -> Result<Schedule, ParseError> { Ok(Schedule { loc: Location }) }
    pub fn next(&self, t: Timestamp) -> Option<Timestamp> { Some(Timestamp::from_second(t.as_second().div_euclid(60) * 60 + 60).unwrap()) }
    pub fn window(&self, _anchor: Timestamp, _after: Timestamp, _now: Timestamp) -> Result<Window, NeverFires> { Ok(Window { latest: None, count: 0 }) }
    pub fn location(&self) -> &Location { &self.loc }
}
