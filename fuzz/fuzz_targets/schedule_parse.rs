//! Any text as a CronJob schedule (`Schedule::parse_standard`) and as a
//! time-zone name (`load_location`): no panic, no hang (libFuzzer's
//! `-timeout`), and an error always has a text.
#![no_main]

use kronjob::schedule::{Schedule, load_location};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Err(e) = Schedule::parse_standard(text) {
        assert!(!e.message().is_empty(), "empty parse error for {text:?}");
    }
    if let Ok(loc) = load_location(text) {
        let expected = if text.is_empty() { "UTC" } else { text };
        assert_eq!(loc.name(), expected);
    }
});
