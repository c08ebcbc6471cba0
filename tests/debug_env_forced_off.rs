//! `Builder::debug(false)` wins over `RUNNER_DEBUG=1`. One test in this
//! binary: it changes the process environment.

mod support;

use std::time::Duration;

use support::Capture;

#[test]
fn debug_false_wins_over_runner_debug() {
    // SAFETY: the only test of this binary, and no runtime is started yet,
    // so no other thread reads the environment while it changes.
    unsafe { std::env::set_var("RUNNER_DEBUG", "1") };
    assert!(runner::Runner::new().is_debug(), "the variable is seen");

    let mut runner = runner::Runner::builder().debug(false).build();
    assert!(!runner.is_debug());
    let capture = Capture::new();
    capture.during(|| {
        runner
            .run(async { std::thread::sleep(Duration::from_millis(150)) })
            .unwrap()
    });
    assert!(capture.reports().is_empty(), "{:#?}", capture.reports());
}
