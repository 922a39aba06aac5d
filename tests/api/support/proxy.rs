//! A TCP proxy for fault tests, put between flexroute and Redis or the Twilio emulator: it
//! forwards bytes as they come, or, on command, late (a fixed delay per direction: requests
//! reach the server late, or the server's answers reach the client late), not at all (a
//! stall: bytes are held until it ends), or it resets every connection (RST) and each new
//! one at once.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::time::Instant;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    Pass,
    /// Each chunk from the client reaches the server this much later.
    DelayRequests(Duration),
    /// Each chunk from the server reaches the client this much later.
    DelayAnswers(Duration),
    /// Nothing is forwarded (in either direction) until the fault changes.
    Stall,
    /// Every connection is reset, and new ones are reset as they arrive.
    Reset,
}

pub struct Proxy {
    pub port: u16,
    fault: Arc<watch::Sender<Fault>>,
    accepting: tokio::task::JoinHandle<()>,
}

impl Proxy {
    /// A proxy on a free loopback port to `127.0.0.1:target`.
    pub async fn start(target: u16) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let fault = Arc::new(watch::Sender::new(Fault::Pass));
        let shared = fault.clone();
        let accepting = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let fault = shared.subscribe();
                if *fault.borrow() == Fault::Reset {
                    reset(client);
                    continue;
                }
                tokio::spawn(connection(client, target, fault));
            }
        });
        Proxy {
            port,
            fault,
            accepting,
        }
    }

    pub fn set(&self, fault: Fault) {
        self.fault.send_replace(fault);
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.accepting.abort();
        self.fault.send_replace(Fault::Reset);
    }
}

fn reset(stream: TcpStream) {
    let _ = stream.set_zero_linger();
    drop(stream);
}

/// A second handle on `stream`'s socket, through which a reset can set a zero linger (so that
/// closing sends RST) after the stream itself was split between the two directions.
fn handle(stream: TcpStream) -> (TcpStream, TcpStream) {
    let std = stream.into_std().unwrap();
    let dup = std.try_clone().unwrap();
    (
        TcpStream::from_std(std).unwrap(),
        TcpStream::from_std(dup).unwrap(),
    )
}

async fn connection(client: TcpStream, target: u16, fault: watch::Receiver<Fault>) {
    let Ok(server) = TcpStream::connect(("127.0.0.1", target)).await else {
        reset(client);
        return;
    };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let (client, client_handle) = handle(client);
    let (server, server_handle) = handle(server);
    let (client_read, client_write) = client.into_split();
    let (server_read, server_write) = server.into_split();
    let up = pipe(client_read, server_write, fault.clone(), true);
    let down = pipe(server_read, client_write, fault.clone(), false);
    let mut watching = fault;
    let reset_seen = async move {
        loop {
            if *watching.borrow_and_update() == Fault::Reset {
                return;
            }
            if watching.changed().await.is_err() {
                return;
            }
        }
    };
    let halves = tokio::select! {
        halves = async { tokio::join!(up, down) } => Some(halves),
        () = reset_seen => None,
    };
    if halves.is_none() {
        // The halves were dropped with the pipes; the last handles close with RST.
        reset(client_handle);
        reset(server_handle);
    }
}

/// Copies `from` to `to`, applying the fault of the moment to each chunk. `requests`: this is
/// the client-to-server direction. Returns the reader when the source closes.
async fn pipe(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    mut fault: watch::Receiver<Fault>,
    requests: bool,
) -> Option<tokio::net::tcp::OwnedReadHalf> {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(Instant, Vec<u8>)>();
    // Reading and writing apart, so that a delayed chunk does not hold back the reading of the
    // next one: each is due its own delay after it arrived.
    let writer = {
        let mut fault = fault.clone();
        async move {
            let mut queue: VecDeque<(Instant, Vec<u8>)> = VecDeque::new();
            loop {
                if queue.is_empty() {
                    match rx.recv().await {
                        Some(chunk) => queue.push_back(chunk),
                        None => return,
                    }
                }
                while let Ok(chunk) = rx.try_recv() {
                    queue.push_back(chunk);
                }
                let (arrived, _) = queue.front().unwrap();
                let current = *fault.borrow_and_update();
                let due = match current {
                    Fault::Stall => {
                        if fault.changed().await.is_err() {
                            return;
                        }
                        continue;
                    }
                    Fault::Reset => return,
                    Fault::DelayRequests(d) if requests => *arrived + d,
                    Fault::DelayAnswers(d) if !requests => *arrived + d,
                    _ => *arrived,
                };
                tokio::select! {
                    () = tokio::time::sleep_until(due) => {
                        let (_, bytes) = queue.pop_front().unwrap();
                        if to.write_all(&bytes).await.is_err() {
                            return;
                        }
                    }
                    changed = fault.changed() => if changed.is_err() { return },
                }
            }
        }
    };
    let reader = async move {
        let mut buffer = vec![0u8; 16 * 1024];
        loop {
            let read = tokio::select! {
                read = from.read(&mut buffer) => read,
                changed = fault.changed() => {
                    if changed.is_err() || *fault.borrow() == Fault::Reset {
                        return None;
                    }
                    continue;
                }
            };
            match read {
                Ok(0) | Err(_) => return Some(from),
                Ok(n) => {
                    if tx.send((Instant::now(), buffer[..n].to_vec())).is_err() {
                        return None;
                    }
                }
            }
        }
    };
    let (from, ()) = tokio::join!(reader, writer);
    from
}
