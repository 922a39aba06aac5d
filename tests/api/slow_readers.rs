//! Clients that stop reading, and clients that stop writing: a real process with a small
//! open-file limit, slow readers that pipeline requests and never read the answers, and a
//! normal client that must still be served (as must the ops listener); and requests whose
//! client shut down its write side, which must still be answered.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::process::Command;

use crate::support::{BIN, EXAMPLE, Running, client};

/// The process's open-file limit in the test: the one the attack was seen with, doubled.
const OPEN_FILES: u32 = 256;
const WRITE_TIMEOUT: Duration = Duration::from_millis(1500);
/// Slow readers: more connections than the process has descriptors.
const SLOW: usize = 320;
/// Pipelined requests per slow reader: about 30 KB of answer each, far more than the socket
/// buffers of a connection that nobody reads.
const PIPELINED: usize = 300;

async fn serve_with_few_files(state: &std::path::Path) -> Running {
    let mut command = Command::new("bash");
    command.args([
        "-c",
        &format!("ulimit -n {OPEN_FILES} && exec {BIN} --log-format json serve --config {EXAMPLE}"),
    ]);
    Running::spawn_command(
        command,
        &[
            (
                "FLEXROUTE_SERVER_WRITE_TIMEOUT_MS",
                WRITE_TIMEOUT.as_millis().to_string(),
            ),
            (
                "FLEXROUTE_PROVISIONING_STATE",
                format!("file:{}", state.join("state").display()),
            ),
        ],
    )
    .await
}

/// Opens a connection, pipelines `PIPELINED` requests for the OpenAPI document, never reads,
/// and reports when the server closed it (a write fails) or `None` if it never did.
async fn slow_reader(addr: String) -> Option<Duration> {
    let started = Instant::now();
    let mut stream = TcpStream::connect(&addr).await.ok()?;
    let request = b"GET /openapi.json HTTP/1.1\r\nHost: acme.example\r\n\r\n";
    for _ in 0..PIPELINED {
        if stream.write_all(request).await.is_err() {
            return Some(started.elapsed());
        }
    }
    // Keep writing a little now and then without reading: a closed connection shows as a
    // failed write (reset) once the server has dropped it.
    let deadline = started + Duration::from_secs(60);
    while Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
        if stream.write_all(request).await.is_err() {
            return Some(started.elapsed());
        }
    }
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_readers_are_cut_off_and_never_lock_out_other_clients() {
    let dir = tempfile::tempdir().unwrap();
    let server = serve_with_few_files(dir.path()).await;
    let readers: Vec<_> = (0..SLOW)
        .map(|_| tokio::spawn(slow_reader(server.public.clone())))
        .collect();
    // Let the slow readers fill every slot they can.
    tokio::time::sleep(Duration::from_millis(500)).await;

    // A normal client still gets its answers: it may wait for a slot, never be refused.
    let normal = reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let mut slowest = Duration::ZERO;
    for _ in 0..5 {
        let started = Instant::now();
        let response = normal
            .get(server.config_url("site=acme&lang=es-MX"))
            .send()
            .await
            .expect("a normal client is served while slow readers hold connections");
        assert_eq!(response.status(), 200);
        slowest = slowest.max(started.elapsed());
    }
    // The ops listener has its own share of descriptors and connections.
    let metrics = client()
        .get(format!("http://{}/metrics", server.ops))
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .expect("the ops listener answers during the attack");
    assert_eq!(metrics.status(), 200);

    let mut closed = Vec::new();
    for reader in readers {
        if let Some(after) = reader.await.unwrap() {
            closed.push(after);
        }
    }
    closed.sort();
    eprintln!(
        "slow readers: {SLOW} with {PIPELINED} pipelined requests each, open-file limit {OPEN_FILES}, write timeout {:.1} s: {} closed by the server (median after {:.1} s, last {:.1} s); normal client's slowest answer {:.2} s",
        WRITE_TIMEOUT.as_secs_f64(),
        closed.len(),
        closed[closed.len() / 2].as_secs_f64(),
        closed.last().unwrap().as_secs_f64(),
        slowest.as_secs_f64(),
    );
    assert_eq!(closed.len(), SLOW, "every slow reader was cut off");
    let log = server.stop().await;
    let starved: Vec<_> = log
        .iter()
        .filter(|line| line.contains("accept failed"))
        .collect();
    assert!(starved.is_empty(), "{starved:?}");
    let limits = log
        .iter()
        .find(|line| line.contains("connection limits"))
        .expect("the limits are logged");
    let limits: serde_json::Value = serde_json::from_str(limits).unwrap();
    assert_eq!(limits["open_files"], OPEN_FILES, "{limits}");
    assert_eq!(limits["public_connections"], 64, "{limits}");
}

/// A client that sends a whole request and then shuts down its write side (HTTP/1.0 clients
/// and some proxies do) gets its answer, every time.
#[tokio::test]
async fn a_request_whose_client_stopped_writing_is_answered() {
    let dir = tempfile::tempdir().unwrap();
    let server = Running::spawn(
        &["serve", "--config", EXAMPLE],
        &[(
            "FLEXROUTE_PROVISIONING_STATE",
            format!("file:{}", dir.path().join("state").display()),
        )],
    )
    .await;
    for (i, request) in [
        "GET /v1/webchat/config?site=acme&lang=es-MX HTTP/1.1\r\nHost: acme.example\r\n\r\n",
        "GET /v1/webchat/config?site=acme&lang=es-MX HTTP/1.0\r\n\r\n",
        "GET /healthz HTTP/1.1\r\nHost: acme.example\r\nConnection: close\r\n\r\n",
    ]
    .iter()
    .cycle()
    .take(30)
    .enumerate()
    {
        let mut stream = TcpStream::connect(&server.public).await.unwrap();
        stream.write_all(request.as_bytes()).await.unwrap();
        stream.shutdown().await.unwrap(); // our write side only: we still read
        let mut answer = Vec::new();
        tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut answer))
            .await
            .expect("the server answers and closes")
            .unwrap();
        let answer = String::from_utf8_lossy(&answer);
        assert!(
            answer.starts_with("HTTP/1.1 200") || answer.starts_with("HTTP/1.0 200"),
            "request {i}: {answer:?}"
        );
    }
    server.stop().await;
}
