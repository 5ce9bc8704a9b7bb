//! `kronjob explain --file` on arbitrary text: the YAML or JSON of an
//! object and of its Jobs, parsed, planned and reported. No panic.
#![no_main]

use jiff::Timestamp;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    let now = Timestamp::from_second(1_800_000_000).unwrap();
    let jobs = kronjob::explain::parse_jobs(text).unwrap_or_default();
    if let Ok(object) = kronjob::explain::parse_cronjob(text) {
        let plan = kronjob::explain::plan_offline(&object, &jobs, now);
        let _ = kronjob::explain::report(&object, &plan, now);
    }
});
