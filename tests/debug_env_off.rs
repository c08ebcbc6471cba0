//! `RUNNER_DEBUG` set to empty, `0`, `false`, `off` or `no` (any case,
//! surrounding whitespace ignored) leaves debug mode off. The variable is
//! read once per process, so each value is tried in a child process (this
//! test binary, running the `#[ignore]`d child test).

mod support;

use std::process::Command;
use std::time::Duration;

use support::Capture;

#[test]
fn runner_debug_empty_zero_false_off_or_no_leaves_debug_mode_off() {
    for value in ["", "0", "false", "FALSE", " 0 ", "off", "Off", "no", " NO "] {
        let out = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "debug_mode_is_off", "--ignored", "--nocapture"])
            .env("RUNNER_DEBUG", value)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "RUNNER_DEBUG={value:?}:\n{text}");
        assert!(text.contains("1 passed"), "RUNNER_DEBUG={value:?}:\n{text}");
    }
}

#[test]
#[ignore = "run in a child process, with RUNNER_DEBUG set, by the test above"]
fn debug_mode_is_off() {
    let value = std::env::var("RUNNER_DEBUG");
    assert!(!runner::Runner::new().is_debug(), "RUNNER_DEBUG={value:?}");

    let capture = Capture::new();
    let main = async { std::thread::sleep(Duration::from_millis(120)) };
    capture.during(|| runner::run(main).unwrap());
    let reports = capture.reports();
    assert!(reports.is_empty(), "RUNNER_DEBUG={value:?}: {reports:#?}");
}
