//! The real server in process, on loopback ports, through `flexroute::run` (as `main` runs it).

use std::net::SocketAddr;
use std::sync::Arc;

use flexroute::Services;
use flexroute::config::{Config, Environment};
use flexroute::provision::store::MemoryStore;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::http::{answer, client, json};

/// The table most tests serve (`fixture.toml`).
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
            client: client(),
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

    /// The status and JSON body of `GET /v1/webchat/config?{query}`.
    pub async fn ask(&self, query: &str) -> (u16, serde_json::Value) {
        answer(self.config(query).send().await.unwrap()).await
    }

    /// The JSON body of `GET /v1/webchat/config?{query}`, whatever its status.
    pub async fn config_json(&self, query: &str) -> serde_json::Value {
        json(self.config(query).send().await.unwrap()).await
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
