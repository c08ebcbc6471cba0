//! SIGINT-to-cleanup latency (target: p99 <= 5 ms; see the README, "Performance").
//!
//! ```text
//! cargo bench --bench sigint_latency
//! ```
//!
//! This binary re-executes itself as a child that runs, on its main thread,
//! one `Runner` whose main task prints `ready` and parks on an await, over
//! and over. For each sample the parent waits for `ready`, lets the child
//! park, sends SIGINT and times from `kill` until it reads the line the main
//! task's `Drop` prints. That includes the parent's own wake-up on the pipe,
//! so the figures are an upper bound on the child's latency.
//!
//! Unix only (`kill(2)`); elsewhere it says so and measures nothing.

fn main() {
    #[cfg(unix)]
    unix::main();
    #[cfg(not(unix))]
    println!("sigint_latency: Unix only");
}

#[cfg(unix)]
mod unix {
    use std::io::{BufRead, BufReader, Write};
    use std::process::{Command, Stdio};
    use std::time::{Duration, Instant};

    /// Tells the re-executed binary to be the child, and how many runs to do.
    const CHILD_VAR: &str = "RUNNER_SIGINT_LATENCY_CHILD";
    const SAMPLES: usize = 2000;
    /// The whole bench is abandoned (child killed) after this long.
    const DEADLINE: Duration = Duration::from_secs(60);
    const TARGET_P99: Duration = Duration::from_millis(5);

    pub(super) fn main() {
        match std::env::var(CHILD_VAR) {
            Ok(runs) => child(runs.parse().expect("a run count")),
            Err(_) => parent(),
        }
    }

    /// Prints its line when the main task is dropped.
    struct Cleanup;

    impl Drop for Cleanup {
        fn drop(&mut self) {
            println!("dropped");
        }
    }

    fn child(runs: usize) {
        let mut runner = runner::Runner::new();
        for _ in 0..runs {
            let result = runner.run(async {
                let _cleanup = Cleanup;
                println!("ready");
                std::future::pending::<()>().await
            });
            assert!(matches!(result, Err(runner::Error::Interrupted)));
        }
    }

    fn parent() {
        let mut child = Command::new(std::env::current_exe().expect("current_exe"))
            .env(CHILD_VAR, SAMPLES.to_string())
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn the child");
        let pid = child.id() as libc::pid_t;
        // A hung child must not hang the bench.
        std::thread::spawn(move || {
            std::thread::sleep(DEADLINE);
            eprintln!("sigint_latency: no result within {DEADLINE:?}, killing the child");
            // SAFETY: kill(2) has no memory-safety preconditions.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        });
        let mut lines = BufReader::new(child.stdout.take().expect("stdout is piped")).lines();
        let mut next_line = || match lines.next() {
            Some(Ok(line)) => line,
            _ => panic!("the child ended early: {:?}", child.wait()),
        };

        let mut samples = Vec::with_capacity(SAMPLES);
        for i in 0..SAMPLES {
            assert_eq!(next_line(), "ready");
            // Let the main task park, then send the signal at a varied point.
            std::thread::sleep(Duration::from_micros(200 + (i as u64 * 37) % 800));
            let sent = Instant::now();
            // SAFETY: kill(2) has no memory-safety preconditions; the pid is our
            // child, not yet reaped.
            let rc = unsafe { libc::kill(pid, libc::SIGINT) };
            assert_eq!(rc, 0, "kill: {}", std::io::Error::last_os_error());
            assert_eq!(next_line(), "dropped");
            samples.push(sent.elapsed());
        }
        let status = child.wait().expect("wait for the child");
        assert!(status.success(), "child: {status}");

        samples.sort();
        let at = |q: f64| {
            samples[((samples.len() as f64 * q).ceil() as usize).clamp(1, samples.len()) - 1]
        };
        let p99 = at(0.99);
        let mut out = std::io::stdout().lock();
        let _ = writeln!(
            out,
            "sigint_latency: {} samples (kill to main-task Drop seen by the parent, warm Runner)",
            samples.len()
        );
        let _ = writeln!(
            out,
            "  min {:?}  p50 {:?}  p95 {:?}  p99 {:?}  max {:?}",
            samples[0],
            at(0.50),
            at(0.95),
            p99,
            samples[samples.len() - 1],
        );
        let verdict = if p99 <= TARGET_P99 { "met" } else { "NOT met" };
        let _ = writeln!(out, "  target p99 <= {TARGET_P99:?}: {verdict}");
    }
}
