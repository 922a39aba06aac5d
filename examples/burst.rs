//! The burst scenario of `benches/load.sh`: 1,000 concurrent first requests for one pair that
//! has no address yet, against the built-in emulator (200 ms per call). Reports how many
//! creates Twilio saw (must be 1) and how long the slowest request took (must be within
//! `wait_ms` + 100 ms). A benchmark, not a test: timings on shared machines are noisy.

use std::sync::Arc;
use std::time::{Duration, Instant};

use flexroute::config::{Config, Environment};
use flexroute::provision::store::MemoryStore;
use flexroute::twilio::Credentials;
use flexroute::twilio::emulator::{Emulator, Op};
use flexroute::{Listeners, Services};
use tokio::net::TcpListener;

const REQUESTS: usize = 1000;
const WAIT_MS: u64 = 1000;
const ACCOUNT: &str = "AC0123456789abcdef0123456789abcdef";

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let emulator = Emulator::new(ACCOUNT, vec![Credentials::new(ACCOUNT, "burst-token")]);
    emulator.switches().set_latency(Duration::from_millis(200));
    let upstream = TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", upstream.local_addr()?);
    let serving = emulator.clone();
    tokio::spawn(async move { serving.serve(upstream, std::future::pending()).await });

    let toml = format!(
        "[twilio]\naccount_sid = \"{ACCOUNT}\"\nchat_service_sid = \"IS0123456789abcdef0123456789abcdef\"\n\
         flex_api_base = \"{base}\"\n[provisioning]\nwait_ms = {WAIT_MS}\n\
         [defaults]\nstudio_flow_sid = \"FW0123456789abcdef0123456789abcdef\"\n\
         [[sites]]\nid = \"burst\"\ndefault_language = \"en\"\nlanguages = [\"en\", \"de\"]\n\
         [sites.language.en]\nflex_flow_sid = \"FO0123456789abcdef0123456789abcdef\"\n"
    );
    let config = Config::from_toml_str(&toml, &Environment::default())?.config;
    let listeners = Listeners {
        public: TcpListener::bind("127.0.0.1:0").await?,
        ops: TcpListener::bind("127.0.0.1:0").await?,
    };
    let url = format!(
        "http://{}/v1/webchat/config?site=burst&lang=de",
        listeners.public.local_addr()?
    );
    let services = Services {
        credentials: Some(Credentials::new(ACCOUNT, "burst-token")),
        store: Some(Arc::new(MemoryStore::default())),
        ..Services::default()
    };
    tokio::spawn(flexroute::run(
        config,
        services,
        listeners,
        std::future::pending(),
    ));

    let client = reqwest::Client::builder().no_proxy().build()?;
    // Open the connections first, so the burst measures flexroute, not TCP handshakes.
    let warm: Vec<_> = (0..REQUESTS)
        .map(|_| {
            let client = client.clone();
            let health = url.replace("/v1/webchat/config?site=burst&lang=de", "/healthz");
            tokio::spawn(async move { client.get(health).send().await.map(|_| ()) })
        })
        .collect();
    for task in warm {
        task.await??;
    }
    let tasks: Vec<_> = (0..REQUESTS)
        .map(|_| {
            let (client, url) = (client.clone(), url.clone());
            tokio::spawn(async move {
                let started = Instant::now();
                let response = client.get(url).send().await?;
                let status = response.status().as_u16();
                let body: serde_json::Value = response.json_body().await?;
                Ok::<_, reqwest::Error>((started.elapsed(), status, body.get("degraded").is_some()))
            })
        })
        .collect();
    let mut latencies = Vec::with_capacity(REQUESTS);
    let (mut ok, mut degraded) = (0, 0);
    for task in tasks {
        let (elapsed, status, was_degraded) = task.await??;
        latencies.push(elapsed);
        ok += usize::from(status == 200);
        degraded += usize::from(was_degraded);
    }
    latencies.sort();
    let max = latencies[REQUESTS - 1];
    let p99 = latencies[REQUESTS * 99 / 100];
    let bound = Duration::from_millis(WAIT_MS + 100);
    println!(
        "burst: {REQUESTS} concurrent first requests, {ok} × 200 ({degraded} degraded), {} create(s) at the emulator, p99 {:.0} ms, max {:.0} ms, bound wait_ms+100 = {} ms: {}",
        emulator.calls(Op::Create),
        p99.as_secs_f64() * 1000.0,
        max.as_secs_f64() * 1000.0,
        bound.as_millis(),
        if max <= bound { "within" } else { "EXCEEDED" }
    );
    Ok(())
}

trait JsonBody {
    async fn json_body(self) -> Result<serde_json::Value, reqwest::Error>;
}

impl JsonBody for reqwest::Response {
    async fn json_body(self) -> Result<serde_json::Value, reqwest::Error> {
        let bytes = self.bytes().await?;
        Ok(serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null))
    }
}
