//! A TCP echo server that drains its connections on Ctrl-C and exits 0.
//!
//! ```text
//! cargo run --example server
//! ```
//!
//! It listens on a free port of 127.0.0.1 (printed at start; try
//! `nc 127.0.0.1 PORT`) and echoes each line back. Each connection is a
//! child of a [`runner::TaskGroup`], and everything listens for
//! cancellation, asyncio style: on Ctrl-C the main task is asked to cancel
//! ([`runner::task::cancelled`] completes), the accept loop stops, the group
//! asks every connection to cancel, each one says goodbye to its peer (an
//! `await` in its cleanup) and closes, and `join` returns once all have.
//! The runner's `interrupt_grace` is the deadline for that drain: if the
//! connections are not closed by then, the main task is cancelled and the
//! program exits with status 130. A second Ctrl-C kills it at once.
//!
//! (With tokio-util's `CancellationToken` instead, `runner::interrupt_token()`
//! gives the same event as a token to pass around.)

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

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
        let drained = accept_until_cancelled(listener).await;
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

/// Accepts connections until the main task is asked to cancel (Ctrl-C),
/// then drains them. Returns how many there were.
async fn accept_until_cancelled(listener: TcpListener) -> usize {
    let connections = runner::TaskGroup::<std::io::Error>::new();
    let mut accepted = 0;
    loop {
        tokio::select! {
            _ = runner::task::cancelled() => break,
            conn = listener.accept() => match conn {
                Ok((stream, peer)) => {
                    accepted += 1;
                    println!("connection {accepted} open ({peer})");
                    connections.spawn(echo(stream, accepted));
                }
                Err(err) => eprintln!("accept: {err}"),
            },
        }
    }
    println!("shutting down: draining the connections");
    connections.cancel();
    if let Err(errors) = connections.join().await {
        eprintln!("while draining: {errors}");
    }
    accepted
}

/// Echoes lines until the peer closes or the connection is asked to cancel:
/// then it says goodbye and closes.
async fn echo(stream: TcpStream, number: usize) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read).lines();
    loop {
        tokio::select! {
            _ = runner::task::cancelled() => {
                write.write_all(b"server shutting down, goodbye\n").await?;
                write.shutdown().await?;
                println!("connection {number} said goodbye");
                return Ok(());
            }
            line = lines.next_line() => match line? {
                Some(line) => write.write_all(format!("{line}\n").as_bytes()).await?,
                None => return Ok(()),
            },
        }
    }
}
