//! The CPU time of the calling thread, for the unit tests that bound how
//! much work a computation does (linear, not quadratic). Wall time would
//! measure the machine's load as well: on a shared CI machine a linear
//! computation can wait longer for a core than a quadratic one computes.

use std::time::Duration;

/// CPU time (user + system) the calling thread has used so far, from
/// `/proc/thread-self/stat` (Linux; 10 ms resolution). None elsewhere.
pub fn thread_cpu_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").ok()?;
    // The command name (field 2) may hold spaces: count from after its ')'.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after ')'.
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    // USER_HZ is 100 on every Linux architecture Rust supports.
    Some(Duration::from_millis(ticks * 10))
}

/// CPU time the calling thread spends in `f`, with its result; the wall
/// time where the thread's CPU time cannot be read.
pub fn cpu_time_of<T>(f: impl FnOnce() -> T) -> (T, Duration) {
    let wall = std::time::Instant::now();
    let before = thread_cpu_time();
    let out = f();
    let took = match (before, thread_cpu_time()) {
        (Some(b), Some(a)) => a.saturating_sub(b),
        _ => wall.elapsed(),
    };
    (out, took)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_work_not_waiting() {
        let ((), slept) = cpu_time_of(|| std::thread::sleep(Duration::from_millis(300)));
        assert!(slept < Duration::from_millis(100), "{slept:?} for a sleep");
        let (_, busy) = cpu_time_of(|| {
            let start = std::time::Instant::now();
            let mut x = 0u64;
            while start.elapsed() < Duration::from_millis(300) {
                x = std::hint::black_box(x.wrapping_add(1));
            }
            x
        });
        assert!(
            busy >= Duration::from_millis(50),
            "{busy:?} for 300 ms of work"
        );
    }
}
