//! `RUNNER_DEBUG=1` turns debug mode on where the builder leaves it unset,
//! `runner::run` included. One test in this binary: it changes the
//! process environment.

mod support;

use std::time::Duration;

use support::Capture;

#[test]
fn runner_debug_set_turns_debug_mode_on_for_run() {
    // SAFETY: the only test of this binary, and no runtime is started yet,
    // so no other thread reads the environment while it changes.
    unsafe { std::env::set_var("RUNNER_DEBUG", "1") };
    assert!(runner::Runner::new().is_debug());

    let capture = Capture::new();
    let main = async { std::thread::sleep(Duration::from_millis(150)) };
    let line = capture.during(|| {
        let (result, line) = (runner::run(main), line!());
        result.unwrap();
        line
    });
    let slow = capture.reports_containing("slow poll");
    assert_eq!(slow.len(), 1, "{slow:#?}");
    assert_eq!(slow[0].field("task"), "main");
    assert!(slow[0].points_at(file!(), line), "{slow:#?}");
}
