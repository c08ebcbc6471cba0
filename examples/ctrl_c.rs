//! Ctrl-C done right: work until interrupted, then clean up and exit 130.
//!
//! ```text
//! cargo run --example ctrl_c
//! ```
//!
//! The program ticks for five seconds. Press Ctrl-C once: the main task is
//! cancelled at the `.await` it is parked on, its `Drop` cleanup runs (here:
//! flush the progress and say goodbye), and the program exits with status
//! 130, the shell's convention for "ended by SIGINT". Press it twice and the
//! second press kills the program at once, cleanup or not.

use std::io::Write;
use std::time::Duration;

/// Cleanup that runs however the work ends: finished, `?`, panic, or
/// cancelled by Ctrl-C (the future is dropped, so this is dropped too).
struct Progress {
    /// Ticks done so far.
    ticks: u32,
}

impl Drop for Progress {
    fn drop(&mut self) {
        println!("cleanup: {} tick(s) done, output flushed", self.ticks);
        let _ = std::io::stdout().flush();
    }
}

// `pub(crate)` only so that `tests/sigint/` can run this very file as a
// child process and press Ctrl-C on it.
pub(crate) fn main() {
    let result = runner::run(async {
        let mut progress = Progress { ticks: 0 };
        for tick in 1..=20 {
            tokio::time::sleep(Duration::from_millis(250)).await;
            progress.ticks = tick;
            println!("tick {tick}");
        }
    });
    match result {
        Ok(()) => println!("done"),
        Err(runner::Error::Interrupted) => {
            println!("goodbye");
            std::process::exit(130);
        }
        Err(err) => {
            eprintln!("error: {err}");
            std::process::exit(1);
        }
    }
}
