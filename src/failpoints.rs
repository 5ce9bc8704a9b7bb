//! Faults the test suites inject into a running kronjob, through the
//! `fail` crate: compiled in only with the cargo feature `failpoints`
//! (`make test` builds with it; release builds and the image do not), and
//! configured by the `FAILPOINTS` environment variable at start, e.g.
//! `FAILPOINTS='sync-panic=return(my-cronjob)'`.
//!
//! | fail point | effect, for the CronJob named by its `return(NAME)` |
//! |---|---|
//! | `sync-panic` | the sync panics (tests the panic isolation of `controller::reconcile`) |
//! | `crash-after-create` | the process aborts right after a Job is created, before the status write |

/// Holds the configuration read from `FAILPOINTS` for the process's life
/// (dropping it clears the configuration).
pub struct Scenario(
    #[cfg(feature = "failpoints")]
    #[allow(dead_code)]
    fail::FailScenario<'static>,
);

/// Reads `FAILPOINTS` (a no-op without the `failpoints` feature).
pub fn setup() -> Scenario {
    Scenario(
        #[cfg(feature = "failpoints")]
        fail::FailScenario::setup(),
    )
}

/// Is the fail point `name` configured with `return(object)`?
pub fn targets(name: &str, object: &str) -> bool {
    fail::eval(name, |arg| arg.as_deref() == Some(object)).unwrap_or(false)
}

/// The `sync-panic` fail point.
pub fn sync_panic(object: &str) {
    if targets("sync-panic", object) {
        panic!("injected by the fail point sync-panic");
    }
}

/// The `crash-after-create` fail point: die as a SIGKILL would, without
/// unwinding or flushing anything.
pub fn crash_after_create(object: &str) {
    if targets("crash-after-create", object) {
        std::process::abort();
    }
}
