//! A TCP echo server that drains its connections on Ctrl-C and exits 0.
//!
//! ```text
//! cargo run --example server
//! ```
//!
//! It listens on a free port of 127.0.0.1 (printed at start; try
//! `nc 127.0.0.1 PORT`) and echoes each line back. On Ctrl-C the run's
//! [`runner::interrupt_token`] is cancelled: the accept loop stops, every
//! connection says goodbye and closes, and `main` waits for them through
//! tokio-util's `TaskTracker`. The runner's `interrupt_grace` is the deadline
//! for that drain: if the connections are not closed by then, the main task
//! is cancelled and the program exits with status 130. A second Ctrl-C kills
//! it at once.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// How long the connections have to close after Ctrl-C.
const DRAIN_DEADLINE: Duration = Duration::from_secs(5);

// `pub(crate)` only so that `tests/sigint/` can run this very file as a
// child process and press Ctrl-C on it.
#[allow(dead_code)]
pub(crate) fn main() {
    serve(|_| {});
}

/// Runs the server until Ctrl-C; `listening` is called with the address
/// once it accepts connections. Exits the process unless it drained.
pub(crate) fn serve(listening: impl FnOnce(SocketAddr)) {
    let mut runner = runner::Runner::builder()
        .interrupt_grace(DRAIN_DEADLINE)
        .build();
    let result = runner.run(async {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        println!("listening on {addr}");
        listening(addr);
        let drained = accept_until_interrupted(listener, runner::interrupt_token()).await;
        println!("drained {drained} connection(s)");
        std::io::Result::Ok(())
    });
    runner.close();
    match result {
        Ok(Ok(())) => {}
        Ok(Err(err)) => {
            eprintln!("server error: {err}");
            std::process::exit(1);
        }
        Err(runner::Error::Interrupted) => {
            println!("not drained within {DRAIN_DEADLINE:?}: connections cancelled");
            std::process::exit(130);
        }
        Err(err) => {
            eprintln!("error: {err}");
            std::process::exit(1);
        }
    }
}

/// Accepts connections until `shutdown` is cancelled, then waits for every
/// connection to close. Returns how many there were.
async fn accept_until_interrupted(listener: TcpListener, shutdown: CancellationToken) -> usize {
    let connections = TaskTracker::new();
    let mut accepted = 0;
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            conn = listener.accept() => match conn {
                Ok((stream, peer)) => {
                    accepted += 1;
                    println!("connection {accepted} open ({peer})");
                    runner::spawn(connections.track_future(echo(stream, shutdown.clone())));
                }
                Err(err) => eprintln!("accept: {err}"),
            },
        }
    }
    println!(
        "shutting down: {} connection(s) to drain",
        connections.len()
    );
    connections.close();
    connections.wait().await;
    accepted
}

/// Echoes lines until the peer closes or shutdown is requested.
async fn echo(stream: TcpStream, shutdown: CancellationToken) {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read).lines();
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => {
                let _ = write.write_all(b"server shutting down, goodbye\n").await;
                let _ = write.shutdown().await;
                return;
            }
            line = lines.next_line() => match line {
                Ok(Some(line)) => {
                    if write.write_all(format!("{line}\n").as_bytes()).await.is_err() {
                        return;
                    }
                }
                _ => return,
            },
        }
    }
}
