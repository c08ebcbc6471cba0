//! A loop of warm runs, for counting instructions per run with callgrind
//! (`scripts/callgrind_warm_run.sh`), not a feature demo.
//!
//! ```text
//! cargo run --release --example warm_runs -- runner 10000
//! ```
//!
//! The first argument picks the work: `runner` (`Runner::run(noop)` with
//! default settings, so SIGINT is armed for each run), `runner_no_sigint`
//! (`handle_sigint(false)`), or `tokio` (`LocalSet::block_on` on an existing
//! current-thread runtime, the raw baseline). The second is the number of
//! runs.

use std::hint::black_box;

fn main() {
    let mut args = std::env::args().skip(1);
    let which = args.next().unwrap_or_else(|| "runner".to_owned());
    let runs: u64 = match args.next().map(|n| n.parse()) {
        None => 1000,
        Some(Ok(n)) => n,
        Some(Err(err)) => {
            eprintln!("warm_runs: the run count must be a number: {err}");
            std::process::exit(2);
        }
    };
    match which.as_str() {
        "runner" | "runner_no_sigint" => {
            let mut runner = runner::Runner::builder()
                .debug(false)
                .handle_sigint(which == "runner")
                .build();
            for _ in 0..runs {
                black_box(runner.run(async { black_box(1) }).ok());
            }
        }
        "tokio" => {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap_or_else(|err| panic!("a current-thread runtime: {err}"));
            let local = tokio::task::LocalSet::new();
            for _ in 0..runs {
                black_box(local.block_on(&rt, async { black_box(1) }));
            }
        }
        other => {
            eprintln!("warm_runs: unknown work {other:?}: runner, runner_no_sigint or tokio");
            std::process::exit(2);
        }
    }
}
