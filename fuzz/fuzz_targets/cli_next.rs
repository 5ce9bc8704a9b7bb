//! `kronjob next` end to end on arbitrary arguments (schedule, time zone,
//! start instant, count), writing into memory: no panic, at most `count`
//! lines, and every line an RFC 3339 time within a minute of a real slot
//! (Go drops the seconds of an offset like Monrovia's -00:44:30).
#![no_main]

use arbitrary::Arbitrary;
use jiff::Timestamp;
use kronjob::cli::{NextArgs, NextError};
use kronjob::schedule::{Schedule, effective_spec};
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
struct Input {
    schedule: String,
    time_zone: Option<String>,
    after: i64,
    after_nanos: u32,
    count: u8,
}

fuzz_target!(|input: Input| {
    let min = Timestamp::MIN.as_second();
    let max = Timestamp::MAX.as_second();
    let after = Timestamp::new(
        input.after.clamp(min, max),
        (input.after_nanos % 1_000_000_000) as i32,
    )
    .ok()
    .or(Some(Timestamp::UNIX_EPOCH));
    let args = NextArgs {
        schedule: input.schedule,
        time_zone: input.time_zone,
        after,
        count: u64::from(input.count % 64),
    };
    let mut out = Vec::new();
    match kronjob::cli::next(&args, &mut out) {
        Ok(()) => {}
        Err(NextError::Input(e)) => {
            assert!(!e.is_empty());
            assert!(out.is_empty(), "output before an input error");
            return;
        }
        Err(e) => panic!("writing into memory failed: {e}"),
    }
    let text = String::from_utf8(out).expect("UTF-8 output");
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines.len() as u64 <= args.count,
        "{} lines for --count {}",
        lines.len(),
        args.count
    );
    if args.count > 0 {
        assert!(
            !lines.is_empty(),
            "Ok without a line for --count {}",
            args.count
        );
    }
    // The same slots, straight from the engine.
    let effective = effective_spec(&args.schedule, args.time_zone.as_deref());
    let sched = Schedule::parse_standard(&effective.spec).expect("cli::next parsed it");
    let slots = std::iter::successors(sched.next(after.unwrap()), |t| sched.next(*t));
    for (l, slot) in lines.into_iter().zip(slots) {
        // jiff parses years 0000..=9999 only.
        match l.parse::<Timestamp>() {
            Ok(t) => assert!(
                (t.as_second() - slot.as_second()).abs() < 60,
                "line {l:?} for the slot {slot}"
            ),
            Err(_) => assert!(
                !(1..=9998).contains(&slot.to_zoned(jiff::tz::TimeZone::UTC).year()),
                "line {l:?} for the slot {slot} does not parse"
            ),
        }
    }
});
