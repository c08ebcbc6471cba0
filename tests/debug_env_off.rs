//! `RUNNER_DEBUG` set to empty, `0` or `false` leaves debug mode off. One
//! test in this binary: it changes the process environment.

mod support;

use std::time::Duration;

use support::Capture;

#[test]
fn runner_debug_empty_zero_or_false_leaves_debug_mode_off() {
    for value in ["", "0", "false", "FALSE", " 0 "] {
        // SAFETY: the only test of this binary, and every runtime it starts
        // is gone before the next change, so no other thread reads the
        // environment while it changes.
        unsafe { std::env::set_var("RUNNER_DEBUG", value) };
        assert!(!runner::Runner::new().is_debug(), "RUNNER_DEBUG={value:?}");

        let capture = Capture::new();
        let main = async { std::thread::sleep(Duration::from_millis(120)) };
        capture.during(|| runner::run(main).unwrap());
        let reports = capture.reports();
        assert!(reports.is_empty(), "RUNNER_DEBUG={value:?}: {reports:#?}");
    }
}
