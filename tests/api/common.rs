//! Starts the real server on loopback ports through `flexroute::run`, and reads its metrics.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use flexroute::Services;
use flexroute::config::{Config, Environment};
use flexroute::provision::store::MemoryStore;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub const FIXTURE: &str = include_str!("fixture.toml");
/// The admin token of test servers: strong enough to be accepted (`check_admin_token`).
pub const ADMIN_TOKEN: &str = "admin-token-test-77-5c1e9a0f3b7d42e8";

pub struct Server {
    pub public: SocketAddr,
    pub ops: SocketAddr,
    pub client: reqwest::Client,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<std::io::Result<()>>,
}

impl Server {
    pub async fn start() -> Server {
        Self::start_with(FIXTURE, Environment::default()).await
    }

    pub async fn start_with(toml: &str, env: Environment) -> Server {
        Self::start_full(toml, env, Services::default()).await
    }

    /// Starts with explicit services; the state store defaults to memory so that tests never
    /// share a file.
    pub async fn start_full(toml: &str, env: Environment, mut services: Services) -> Server {
        services
            .store
            .get_or_insert_with(|| Arc::new(MemoryStore::default()));
        let loaded = Config::from_toml_str(toml, &env).expect("test config is valid");
        let public = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let ops = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let (public_addr, ops_addr) = (public.local_addr().unwrap(), ops.local_addr().unwrap());
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(flexroute::run(
            loaded.config,
            services,
            flexroute::Listeners { public, ops },
            async move {
                let _ = stopped.await;
            },
        ));
        Server {
            public: public_addr,
            ops: ops_addr,
            client: reqwest::Client::builder().no_proxy().build().unwrap(),
            stop: Some(stop),
            task,
        }
    }

    pub fn url(&self, path_and_query: &str) -> String {
        format!("http://{}{path_and_query}", self.public)
    }

    pub fn get(&self, path_and_query: &str) -> reqwest::RequestBuilder {
        self.client.get(self.url(path_and_query))
    }

    /// `GET /v1/webchat/config?{query}`.
    pub fn config(&self, query: &str) -> reqwest::RequestBuilder {
        self.get(&format!("/v1/webchat/config?{query}"))
    }

    pub async fn metrics(&self) -> String {
        self.client
            .get(format!("http://{}/metrics", self.ops))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        (&mut self.task).await.unwrap().unwrap();
    }
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

pub async fn json(response: reqwest::Response) -> serde_json::Value {
    let bytes = response.bytes().await.unwrap();
    serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("not JSON ({e}): {bytes:?}"))
}

/// Writes `request` as raw bytes on a new connection to `addr` and reads until the server
/// closes it (or 10 s pass): for what clients like reqwest will not send.
pub async fn raw_exchange(addr: impl tokio::net::ToSocketAddrs, request: &[u8]) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(request).await.unwrap();
    let mut answer = Vec::new();
    let read = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        stream.read_to_end(&mut answer),
    )
    .await;
    assert!(read.is_ok(), "the server did not close the connection");
    String::from_utf8_lossy(&answer).into_owned()
}

/// SplitMix64, for a test's random choices (fault timings, kill moments): the whole sequence
/// follows from the seed, so a failure can be replayed.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in [low, high].
    pub fn between(&mut self, low: Duration, high: Duration) -> Duration {
        let span = (high - low).as_micros() as u64 + 1;
        low + Duration::from_micros(self.next_u64() % span)
    }
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
