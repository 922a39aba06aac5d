//! A real `flexroute serve` process for tests: JSON logs, loopback ports chosen by the OS and
//! read back from its "listening" line, SIGTERM or SIGKILL to end it.

use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStderr, Command};

pub const BIN: &str = env!("CARGO_BIN_EXE_flexroute");
pub const EXAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/config/flexroute.toml");

/// A `flexroute serve` child with JSON logs; knows its public and ops addresses.
pub struct Running {
    pub child: Child,
    pub public: String,
    pub ops: String,
    lines: Lines<BufReader<ChildStderr>>,
    /// Log lines up to "flexroute listening".
    early: Vec<String>,
}

impl Running {
    pub async fn spawn(args: &[&str], env: &[(&str, String)]) -> Running {
        let mut command = Command::new(BIN);
        command.args(["--log-format", "json"]).args(args);
        Self::spawn_command(command, env).await
    }

    /// [`Running::spawn`] for a command that runs `flexroute` some other way (under a shell
    /// that set a resource limit first, say): its arguments are the caller's.
    pub async fn spawn_command(mut command: Command, env: &[(&str, String)]) -> Running {
        command
            .env("FLEXROUTE_SERVER_LISTEN", "127.0.0.1:0")
            .env("FLEXROUTE_SERVER_ADMIN_LISTEN", "127.0.0.1:0")
            .env("FLEXROUTE_SERVER_SHUTDOWN_DRAIN_MS", "0")
            .env_remove("FLEXROUTE_LOG")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        for (key, value) in env {
            command.env(key, value);
        }
        let mut child = command.spawn().unwrap();
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let mut early = Vec::new();
        loop {
            let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
                .await
                .expect("flexroute starts")
                .unwrap()
                .expect("flexroute is running");
            let event: serde_json::Value = serde_json::from_str(&line).unwrap();
            early.push(line);
            if event["message"] == "flexroute listening" {
                return Running {
                    child,
                    public: event["public"].as_str().unwrap().to_string(),
                    ops: event["ops"].as_str().unwrap().to_string(),
                    lines,
                    early,
                };
            }
        }
    }

    /// The ops listener's `/metrics`.
    pub async fn metrics(&self) -> String {
        let url = format!("http://{}/metrics", self.ops);
        client()
            .get(url)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    /// The log lines up to "flexroute listening", as JSON text (the sandbox's emulator URL is
    /// in one of them).
    pub fn early(&self) -> &[String] {
        &self.early
    }

    /// `http://{public}{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.public)
    }

    pub fn config_url(&self, query: &str) -> String {
        format!("http://{}/v1/webchat/config?{query}", self.public)
    }

    pub async fn kill9(mut self) {
        self.child.start_kill().unwrap(); // SIGKILL
        self.child.wait().await.unwrap();
    }

    /// Stops with SIGTERM and returns the whole log.
    pub async fn stop(mut self) -> Vec<String> {
        let pid = self.child.id().unwrap().to_string();
        std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap();
        let status = self.child.wait().await.unwrap();
        assert!(status.success(), "{status:?}");
        let mut all = std::mem::take(&mut self.early);
        while let Ok(Some(line)) = self.lines.next_line().await {
            all.push(line);
        }
        all
    }
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().unwrap()
}
