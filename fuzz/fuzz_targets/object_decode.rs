//! The per-object decoders and the planner on arbitrary JSON: a CronJob,
//! a KronJob and a Job read from the same bytes, and any object that
//! decodes planned against the Jobs that decode, at an arbitrary instant.
//! No panic; a Job that is valid JSON always decodes (bad fields are taken
//! as absent); a plan has at most one create, no Job name over 63
//! characters, and a timer strictly after now.
#![no_main]

use jiff::Timestamp;
use kronjob::objects::job::DecodedJob;
use kronjob::objects::{cronjob, kronjob as kronjob_object};
use kronjob::planner::{self, Effect, Observed};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (clock, json) = data.split_at(data.len().min(8));
    let mut seconds = [0u8; 8];
    seconds[..clock.len()].copy_from_slice(clock);
    let now = Timestamp::from_second(
        i64::from_le_bytes(seconds).clamp(Timestamp::MIN.as_second(), Timestamp::MAX.as_second()),
    )
    .unwrap_or(Timestamp::UNIX_EPOCH);
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(json) else {
        return;
    };
    let job: Result<DecodedJob, _> = serde_json::from_slice(json);
    if value.is_object() {
        assert!(job.is_ok(), "a JSON object that is no Job: {:?}", job.err());
    }
    let jobs: Vec<_> = job.into_iter().map(|j| j.facts).collect();
    for object in [cronjob::decode(&value), kronjob_object::decode(&value)]
        .into_iter()
        .flatten()
    {
        let plan = planner::plan(&object, &jobs, &Observed::default(), now);
        let creates: Vec<_> = plan
            .effects
            .iter()
            .filter_map(|e| match e {
                Effect::Create(c) => Some(c),
                _ => None,
            })
            .collect();
        assert!(creates.len() <= 1, "{} creates", creates.len());
        for c in creates {
            assert!(c.job.name.len() <= 63, "{}", c.job.name);
        }
        if let Some(t) = plan.wake_at {
            assert!(t > now, "a timer at {t} for now {now}");
        }
        let _ = plan.status_if_successful(&object);
    }
});
