//! A loopback TCP echo server and client, written for `#[tokio::main]`
//! (`tokio::spawn`, `select!`, timers, `tokio::net`), running under
//! `#[runner::main]` with nothing else changed. It sends a bounded number of
//! messages and exits.
//!
//! ```text
//! cargo run --example tokio_echo
//! ```

use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::time::{interval, sleep, timeout};

const MESSAGES: usize = 5;

// Was `#[tokio::main]`.
#[runner::main]
async fn main() -> std::io::Result<()> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let (stop, mut stopped) = oneshot::channel::<()>();

    let server = tokio::spawn(async move {
        let mut served = 0;
        loop {
            tokio::select! {
                accepted = listener.accept() => {
                    let (socket, _) = accepted?;
                    served += 1;
                    tokio::spawn(echo(socket));
                }
                _ = &mut stopped => return Ok::<_, std::io::Error>(served),
            }
        }
    });

    let stream = TcpStream::connect(addr).await?;
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read).lines();
    let mut tick = interval(Duration::from_millis(10));
    for i in 0..MESSAGES {
        tick.tick().await;
        write.write_all(format!("message {i}\n").as_bytes()).await?;
        tokio::select! {
            line = lines.next_line() => println!("echoed: {}", line?.unwrap_or_default()),
            _ = sleep(Duration::from_secs(5)) => {
                return Err(std::io::Error::other("no echo within 5s"));
            }
        }
    }
    drop(write);
    let _ = stop.send(());
    let served = timeout(Duration::from_secs(5), server).await???;
    println!("server handled {served} connection(s), {MESSAGES} messages");
    Ok(())
}

async fn echo(socket: TcpStream) -> std::io::Result<()> {
    let (read, mut write) = socket.into_split();
    let mut lines = BufReader::new(read).lines();
    while let Some(line) = lines.next_line().await? {
        write.write_all(format!("{line}\n").as_bytes()).await?;
    }
    Ok(())
}
