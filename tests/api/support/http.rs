//! Talking to a server under test: a client, JSON answers, metrics, polling.

use std::time::Duration;

use serde_json::Value;

/// A client that never goes through a proxy from the environment (tests talk to loopback only).
pub fn client() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().unwrap()
}

/// The value of one series, `name{labels}` exactly as Prometheus prints it (labels sorted).
pub fn metric(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .find_map(|line| {
            let (name, value) = line.rsplit_once(' ')?;
            (name == series).then(|| value.parse().unwrap())
        })
}

/// Every series (name and labels) present in a scrape.
pub fn series(text: &str) -> std::collections::BTreeSet<String> {
    text.lines()
        .filter(|line| !line.starts_with('#') && !line.is_empty())
        .filter_map(|line| Some(line.rsplit_once(' ')?.0.to_string()))
        .collect()
}

pub async fn json(response: reqwest::Response) -> Value {
    let bytes = response.bytes().await.unwrap();
    serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("not JSON ({e}): {bytes:?}"))
}

/// The status and JSON body of an answer.
pub async fn answer(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    (status, json(response).await)
}

/// The address SID in a config answer, `""` when there is none.
pub fn sid(body: &Value) -> String {
    body["address"]["sid"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// Writes `request` as raw bytes on a new connection to `addr` and reads until the server
/// closes it (or 10 s pass): for what clients like reqwest will not send.
pub async fn raw_exchange(addr: impl tokio::net::ToSocketAddrs, request: &[u8]) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(request).await.unwrap();
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer)).await;
    assert!(read.is_ok(), "the server did not close the connection");
    String::from_utf8_lossy(&answer).into_owned()
}

/// Polls until `f` holds, for at most `limit` (a bound on a condition, not a timing claim).
pub async fn eventually<F: AsyncFnMut() -> bool>(limit: Duration, what: &str, mut f: F) {
    let started = std::time::Instant::now();
    while !f().await {
        assert!(
            started.elapsed() < limit,
            "{what}: not reached in {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
