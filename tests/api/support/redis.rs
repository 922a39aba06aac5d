//! A real `redis-server` for tests (Debian's package): on a free loopback port, no
//! persistence, killed when dropped. Tests that need one fail, loudly, when it is not
//! installed: they must never pass by not running.

use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::process::{Child, Command};

pub struct RedisServer {
    pub port: u16,
    password: Option<String>,
    child: Option<Child>,
}

impl RedisServer {
    /// Starts one on a port the OS picks.
    pub async fn start() -> RedisServer {
        Self::start_on(Self::free_port()).await
    }

    /// Starts one on `port` (again, after [`RedisServer::kill`]: an empty one, as a Redis
    /// without persistence comes back).
    pub async fn start_on(port: u16) -> RedisServer {
        Self::start_with(port, None).await
    }

    /// Starts one on `port` that requires `password` (`requirepass`), if given.
    pub async fn start_with(port: u16, password: Option<&str>) -> RedisServer {
        let mut command = Command::new("redis-server");
        command
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"]);
        if let Some(password) = password {
            command.args(["--requirepass", password]);
        }
        let child = command
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start redis-server ({e}): these tests need a real Redis. Install it \
                     with `apt-get update && apt-get install -y redis-server` (Debian's package)"
                )
            });
        let server = RedisServer {
            port,
            password: password.map(str::to_string),
            child: Some(child),
        };
        let started = Instant::now();
        while server.ping().await.is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "redis-server did not answer on port {port}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        server
    }

    pub fn url(&self) -> String {
        match &self.password {
            Some(password) => format!("redis://:{password}@127.0.0.1:{}/0", self.port),
            None => format!("redis://127.0.0.1:{}/0", self.port),
        }
    }

    /// A free loopback port (for a server started later).
    pub fn free_port() -> u16 {
        std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    }

    pub async fn connection(&self) -> redis::RedisResult<redis::aio::MultiplexedConnection> {
        redis::Client::open(self.url())?
            .get_multiplexed_async_connection()
            .await
    }

    async fn ping(&self) -> redis::RedisResult<()> {
        let mut connection = self.connection().await?;
        redis::cmd("PING").query_async(&mut connection).await
    }

    /// SIGKILL, and waits until the port is closed.
    pub async fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.start_kill().unwrap();
            child.wait().await.unwrap();
        }
    }
}
