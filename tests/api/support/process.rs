//! The real binary: a `flexroute serve` process with JSON logs, loopback ports chosen by the OS
//! and read back from its "listening" line, SIGTERM or SIGKILL to end it; a fleet of them
//! sharing one state store.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use flexroute::config::Environment;
use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStderr, Command};

use super::emulator::{ACCOUNT, TOKEN};
use super::http::{answer, client};

/// The `flexroute` binary under test, and the example configuration it ships with.
pub const BIN: &str = env!("CARGO_BIN_EXE_flexroute");
pub const EXAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/config/flexroute.toml");

/// A `flexroute serve` child with JSON logs; knows its public and ops addresses.
pub struct Running {
    pub child: Child,
    pub public: String,
    pub ops: String,
    client: reqwest::Client,
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
                    client: client(),
                    lines,
                    early,
                };
            }
        }
    }

    /// The ops listener's `/metrics`.
    pub async fn metrics(&self) -> String {
        let url = format!("http://{}/metrics", self.ops);
        self.client
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

    /// The status and JSON body of `GET /v1/webchat/config?{query}`.
    pub async fn ask(&self, query: &str) -> (u16, serde_json::Value) {
        answer(
            self.client
                .get(self.config_url(query))
                .send()
                .await
                .unwrap(),
        )
        .await
    }

    /// The JSON body of `GET /v1/webchat/config?{query}`, whatever its status.
    pub async fn config_json(&self, query: &str) -> serde_json::Value {
        self.ask(query).await.1
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

/// The environment that points a flexroute process at the test's emulator (`env`), with the
/// emulator's credentials and its state log at `state`.
pub fn upstream_env(env: &Environment, state: &Path) -> Vec<(&'static str, String)> {
    vec![
        ("TWILIO_ACCOUNT_SID", ACCOUNT.to_string()),
        ("TWILIO_AUTH_TOKEN", TOKEN.to_string()),
        (
            "FLEXROUTE_TWILIO_FLEX_API_BASE",
            env.get("FLEXROUTE_TWILIO_FLEX_API_BASE")
                .unwrap()
                .to_string(),
        ),
        (
            "FLEXROUTE_PROVISIONING_STATE",
            format!("file:{}", state.display()),
        ),
    ]
}

/// The environment of a fleet replica: the emulator's credentials, Twilio at `twilio`, the
/// store at `state`, short provisioning timings and no file watching; then `overrides`, a
/// later entry replacing an earlier one of the same name.
pub fn replica_env(state: &str, twilio: &str, overrides: &[(&str, &str)]) -> Vec<(String, String)> {
    let vars: BTreeMap<String, String> = [
        ("TWILIO_ACCOUNT_SID", ACCOUNT),
        ("TWILIO_AUTH_TOKEN", TOKEN),
        ("FLEXROUTE_TWILIO_FLEX_API_BASE", twilio),
        ("FLEXROUTE_PROVISIONING_STATE", state),
        ("FLEXROUTE_PROVISIONING_FAILURE_BACKOFF_MS", "200"),
        ("FLEXROUTE_PROVISIONING_UPSTREAM_TIMEOUT_MS", "1000"),
        ("FLEXROUTE_PROVISIONING_REDIS_LEASE_TTL_MS", "2600"),
        ("FLEXROUTE_SERVER_CONFIG_WATCH_MS", "0"),
    ]
    .into_iter()
    .chain(overrides.iter().copied())
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    vars.into_iter().collect()
}

/// `flexroute serve` replicas serving one table file, each started with its own environment
/// (usually [`replica_env`]).
pub struct Fleet {
    pub replicas: Vec<Running>,
    table: PathBuf,
    _dir: tempfile::TempDir,
}

impl Fleet {
    /// One replica per entry of `envs`, all serving the table `toml`.
    pub async fn start(toml: &str, envs: impl IntoIterator<Item = Vec<(String, String)>>) -> Fleet {
        let dir = tempfile::tempdir().unwrap();
        let table = dir.path().join("table.toml");
        std::fs::write(&table, toml).unwrap();
        let mut fleet = Fleet {
            replicas: Vec::new(),
            table,
            _dir: dir,
        };
        for env in envs {
            fleet.add(&env).await;
        }
        fleet
    }

    /// The table file the replicas serve.
    pub fn table(&self) -> &Path {
        &self.table
    }

    /// Starts one more replica with `env`.
    pub async fn add(&mut self, env: &[(String, String)]) {
        let vars: Vec<(&str, String)> = env.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
        let table = self.table.to_str().unwrap();
        let replica = Running::spawn(&["serve", "--config", table], &vars).await;
        self.replicas.push(replica);
    }

    /// Stops every replica with SIGTERM and returns their logs, one after the other.
    pub async fn stop(self) -> Vec<String> {
        let mut log = Vec::new();
        for replica in self.replicas {
            log.extend(replica.stop().await);
        }
        log
    }
}
