//! `#[runner::main]` at run time: each return type keeps its exit status,
//! and Ctrl-C ends the program with status 130 after its cleanup ran.
//!
//! The programs are the `examples/main_*.rs` binaries, which `cargo test`
//! builds before it runs the tests; each runs as a child process.

use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

fn example(name: &str) -> Command {
    // target/<profile>/deps/main_attribute-<hash> -> target/<profile>/examples/<name>
    let mut path: PathBuf = std::env::current_exe().unwrap();
    path.pop();
    path.pop();
    path.push("examples");
    path.push(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(
        path.exists(),
        "{} is missing: run the whole `cargo test` (it builds the examples) or \
         `cargo build --examples` first",
        path.display()
    );
    Command::new(path)
}

fn run(name: &str, args: &[&str]) -> Output {
    example(name).args(args).output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn unit_main_exits_zero() {
    let out = run("main_unit", &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "ready\ncleaned up\n");
}

#[test]
fn result_main_exits_zero_on_ok() {
    let out = run("main_result", &["42"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "42\n");
}

#[test]
fn result_main_exits_one_on_err_and_prints_it() {
    let out = run("main_result", &["forty"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(stderr.starts_with("Error: ParseIntError"), "{stderr}");
}

#[test]
fn exit_code_main_exits_with_its_code() {
    assert_eq!(run("main_exit_code", &["3"]).status.code(), Some(3));
    assert_eq!(run("main_exit_code", &[]).status.code(), Some(0));
}

#[test]
fn impl_termination_main_reports_its_value() {
    assert_eq!(run("main_impl_termination", &[]).status.code(), Some(0));
    let out = run("main_impl_termination", &["fail"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("asked to fail"));
}

/// Ctrl-C needs `kill(2)` to be sent for real.
#[cfg(unix)]
mod ctrl_c {
    use std::io::{BufRead, BufReader, Read};
    use std::process::Stdio;
    use std::time::{Duration, Instant};

    use super::example;

    #[test]
    fn ctrl_c_cancels_main_runs_its_cleanup_and_exits_130() {
        let mut child = example("main_unit")
            .arg("wait")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        assert_eq!(line, "ready\n");
        let pid = libc::pid_t::try_from(child.id()).unwrap();
        // SAFETY: sending a signal to our own child process.
        assert_eq!(unsafe { libc::kill(pid, libc::SIGINT) }, 0);
        let start = Instant::now();
        let status = child.wait().unwrap();
        assert!(start.elapsed() < Duration::from_secs(10));
        let mut rest = String::new();
        stdout.read_to_string(&mut rest).unwrap();
        let mut stderr = String::new();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut stderr)
            .unwrap();
        assert_eq!(status.code(), Some(130), "{status:?}: {stderr}");
        assert_eq!(rest, "cleaned up\nleftover cleaned up\n");
        assert_eq!(stderr, "", "exit 130 is quiet");
    }
}

#[test]
fn tokio_echo_example_runs_unchanged_under_runner_main() {
    let start = Instant::now();
    let out = run("tokio_echo", &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert_eq!(stdout.matches("echoed: message").count(), 5, "{stdout}");
    assert!(stdout.ends_with("server handled 1 connection(s), 5 messages\n"));
    assert!(start.elapsed() < Duration::from_secs(10));
}
