use std::io::{BufWriter, IsTerminal, Write};
use std::process::ExitCode;

use kronjob::cli::{self, Command, NextError};
use kronjob::run_now_cli::Outcome;

/// jemalloc keeps resident memory close to live memory under the controller's
/// allocation pattern (Cargo.toml says why; docs/benchmarks.md measures it).
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> ExitCode {
    let cli = cli::parse(std::env::args_os());
    let _faults = kronjob::failpoints::setup();
    // One thread: the controller waits on the API server, it does not
    // compute. In a burst of 1000 slots this cut its CPU time by a third
    // against the multi-threaded runtime (whose cross-thread wake-ups cost
    // more than the work), leaving that CPU to the API server it shares a
    // node with (docs/benchmarks.md, "What changed since the 2026-11-22 run").
    let runtime = || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("tokio runtime")
    };
    match cli.command {
        Command::Next(args) => {
            // Line-buffered on a terminal (each time shows as it comes),
            // block-buffered into a pipe or file.
            let stdout = std::io::stdout();
            let mut out: Box<dyn Write> = if stdout.is_terminal() {
                Box::new(stdout.lock())
            } else {
                Box::new(BufWriter::new(stdout.lock()))
            };
            match cli::next(&args, &mut out) {
                Ok(()) => ExitCode::SUCCESS,
                // The reader has all it wanted (`kronjob next ... | head -3`).
                Err(e) if e.is_closed_pipe() => ExitCode::SUCCESS,
                Err(e @ NextError::Input(_)) => {
                    eprintln!("kronjob next: {e}");
                    ExitCode::from(2)
                }
                Err(e) => {
                    eprintln!("kronjob next: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Crd => {
            print!("{}", kronjob::crd::manifest_yaml());
            ExitCode::SUCCESS
        }
        Command::Explain(args) => match runtime().block_on(cli::explain(&args, &cli.cluster)) {
            Ok(text) => {
                print!("{text}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("kronjob explain: {e:#}");
                ExitCode::from(2)
            }
        },
        Command::RunNow(args) => match runtime().block_on(cli::run_now(&args, &cli.cluster)) {
            Ok((_, Outcome::Ran { job })) => {
                println!("{job}");
                ExitCode::SUCCESS
            }
            Ok((_, Outcome::Refused { message })) => {
                eprintln!("kronjob run-now: {message}");
                ExitCode::FAILURE
            }
            Err(e) => {
                eprintln!("kronjob run-now: {e:#}");
                ExitCode::from(2)
            }
        },
        Command::Migrate(args) => {
            let mut out = std::io::stdout();
            match runtime().block_on(cli::migrate(&args, &cli.cluster, &mut out)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("kronjob migrate: {e:#}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Run(args) => match runtime().block_on(cli::run(args, &cli.cluster)) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("kronjob run: {e:#}");
                ExitCode::FAILURE
            }
        },
    }
}
