//! Hot reload: on a change of the config file or of a file of its `sites_dir` (polled), on
//! `SIGHUP`, and on `POST /admin/reload`, the files are validated completely and the new
//! routing table swapped in atomically. Requests in flight keep the table they loaded; a bad
//! file is rejected with every problem logged and returned, and the last good table keeps
//! serving. Cached answers are dropped only for pairs whose answer changed.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use serde::Serialize;

use crate::app::{App, Installed};
use crate::config::{Config, Environment};
use crate::table::RoutingTable;

/// Where the configuration comes from, to read it again.
#[derive(Debug, Clone)]
pub struct ConfigSource {
    pub path: PathBuf,
    pub env: Environment,
}

/// What a successful reload changed.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ReloadReport {
    pub trigger: String,
    pub sites: usize,
    pub pairs: usize,
    /// Pairs whose answer changed (their cached answers were dropped).
    pub changed: usize,
    pub added: usize,
    pub removed: usize,
    /// Settings that only take effect on restart; the running values are kept.
    #[schema(value_type = Vec<String>)]
    pub restart_needed: Vec<&'static str>,
    pub warnings: Vec<String>,
}

/// The sections that take effect only on restart.
struct RestartOnly {
    server: crate::config::ServerConfig,
    twilio: crate::config::TwilioConfig,
    provisioning: crate::config::ProvisioningConfig,
}

impl RestartOnly {
    fn of(config: &Config) -> Self {
        Self {
            server: config.server.clone(),
            twilio: config.twilio.clone(),
            provisioning: config.provisioning.clone(),
        }
    }
}

pub struct Reloader {
    source: ConfigSource,
    /// The settings a reload cannot apply, as the process started with them (only these: the
    /// sites would be a second copy of the whole table).
    started_with: RestartOnly,
    /// One reload at a time.
    running: tokio::sync::Mutex<()>,
    /// Hash of the file's bytes (and its site files') last loaded (or rejected), so the watcher
    /// acts on changes only.
    last_seen: Mutex<u64>,
}

/// How much less CPU the reload thread gets than request handling when both want it: nice 10
/// weighs ~10 % of nice 0, so a reload under full load takes longer instead of stalling
/// requests, and on an idle core it runs at full speed.
const RELOAD_NICENESS: i32 = 10;

/// Runs `work` on a thread of its own at [`RELOAD_NICENESS`] (a thread of tokio's blocking pool
/// would keep the priority for whatever runs on it next).
async fn off_the_request_path<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, String> {
    let (done, result) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("flexroute-reload".into())
        .spawn(move || {
            #[cfg(target_os = "linux")]
            if let Err(e) = rustix::process::setpriority_process(
                Some(rustix::thread::gettid()),
                RELOAD_NICENESS,
            ) {
                tracing::debug!("cannot lower the reload thread's priority: {e}");
            }
            let _ = done.send(work());
        })
        .map_err(|e| e.to_string())?;
    result
        .await
        .map_err(|_| "the reload thread panicked".to_string())
}

fn file_hash(path: &std::path::Path) -> Option<u64> {
    std::fs::read(path)
        .ok()
        .map(|bytes| source_hash(path, &bytes))
}

/// A hash of the config file's `bytes` and, when it names a `sites_dir`, of every site file.
fn source_hash(path: &std::path::Path, bytes: &[u8]) -> u64 {
    let file = xxhash_rust::xxh3::xxh3_64(bytes);
    let sites = std::str::from_utf8(bytes)
        .ok()
        .and_then(|text| crate::config::sites_dir_fingerprint(path, text));
    match sites {
        None => file,
        Some(sites) => file ^ sites.rotate_left(1),
    }
}

impl Reloader {
    pub fn new(source: ConfigSource, started_with: &Config) -> Self {
        let last_seen = file_hash(&source.path).unwrap_or(0);
        Self {
            source,
            started_with: RestartOnly::of(started_with),
            running: tokio::sync::Mutex::new(()),
            last_seen: Mutex::new(last_seen),
        }
    }

    pub async fn reload(&self, app: &App, trigger: &str) -> Result<ReloadReport, Vec<String>> {
        let _one_at_a_time = self.running.lock().await;
        let source = self.source.clone();
        let installing = app.clone();
        // Reading, compiling and installing a large table (and freeing the old one) is CPU
        // work: all of it on a thread of its own, at a lower priority than request handling,
        // so the request workers only ever see the swap.
        let done = off_the_request_path(move || {
            let bytes = std::fs::read(&source.path)
                .map_err(|e| vec![format!("cannot read {}: {e}", source.path.display())])?;
            let hash = source_hash(&source.path, &bytes);
            let text = String::from_utf8(bytes)
                .map_err(|_| vec![format!("{} is not UTF-8", source.path.display())])?;
            let base = source.path.parent().unwrap_or(std::path::Path::new(""));
            let installed = Config::from_toml_str_at(&text, base, &source.env)
                .map_err(|e| e.problems())
                .map(|mut loaded| {
                    let new = Arc::new(RoutingTable::build_taking_sites(&mut loaded.config));
                    let summary = new.summary();
                    let installed = installing.install(new);
                    (
                        RestartOnly::of(&loaded.config),
                        loaded.warnings,
                        summary,
                        installed,
                    )
                });
            Ok::<_, Vec<String>>((hash, installed))
        })
        .await
        .map_err(|e| vec![format!("reload task failed: {e}")])?;
        let (hash, installed) = match done {
            Ok(read) => read,
            Err(problems) => return Err(self.rejected(app, trigger, problems)),
        };
        *self.last_seen.lock() = hash;
        let (settings, warnings, summary, installed) = match installed {
            Ok(installed) => installed,
            Err(problems) => return Err(self.rejected(app, trigger, problems)),
        };
        let Installed {
            changed,
            added,
            removed,
        } = installed;
        app.metrics
            .config_reloads
            .with_label_values(&["success"])
            .inc();
        app.metrics.mark_config_loaded();
        let report = ReloadReport {
            trigger: trigger.to_string(),
            sites: summary.sites,
            pairs: summary.pairs,
            changed,
            added,
            removed,
            restart_needed: self.restart_needed(&settings),
            warnings,
        };
        for warning in &report.warnings {
            tracing::warn!("{warning}");
        }
        if !report.restart_needed.is_empty() {
            tracing::warn!(settings = ?report.restart_needed, "these settings changed but take effect only on restart; the running values are kept");
        }
        tracing::info!(
            trigger,
            sites = report.sites,
            pairs = report.pairs,
            changed,
            added = report.added,
            removed,
            "configuration reloaded"
        );
        Ok(report)
    }

    fn rejected(&self, app: &App, trigger: &str, problems: Vec<String>) -> Vec<String> {
        app.metrics
            .config_reloads
            .with_label_values(&["failure"])
            .inc();
        for problem in &problems {
            tracing::error!(trigger, path = %self.source.path.display(), "configuration rejected: {problem}");
        }
        tracing::error!(
            trigger,
            problems = problems.len(),
            "reload rejected; the last good configuration keeps serving"
        );
        problems
    }

    fn restart_needed(&self, new: &RestartOnly) -> Vec<&'static str> {
        let old = &self.started_with;
        let mut keys = Vec::new();
        if old.server != new.server {
            keys.push("server");
        }
        if old.provisioning != new.provisioning {
            keys.push("provisioning");
        }
        let (o, n) = (&old.twilio, &new.twilio);
        if o.chat_service_sid != n.chat_service_sid
            || o.flex_api_base != n.flex_api_base
            || o.conversations_service_sid != n.conversations_service_sid
            || o.conversations_api_base != n.conversations_api_base
            || o.token_ttl_secs != n.token_ttl_secs
        {
            keys.push("twilio (chat_service_sid, flex_api_base, conversations_service_sid, conversations_api_base, token_ttl_secs)");
        }
        keys
    }

    /// Polls the file every `interval` and reloads when its bytes change (a Kubernetes
    /// ConfigMap update swaps a symlink; polling sees it where inotify on the path may not).
    pub fn watch(reloader: Arc<Self>, app: App, interval: Duration) {
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(interval);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticker.tick().await;
                let path = reloader.source.path.clone();
                let current = tokio::task::spawn_blocking(move || file_hash(&path))
                    .await
                    .ok()
                    .flatten();
                if current.is_some_and(|hash| hash != *reloader.last_seen.lock()) {
                    let _ = reloader.reload(&app, "file").await;
                }
            }
        });
    }

    /// Reloads on every `SIGHUP`.
    #[cfg(unix)]
    pub fn on_sighup(reloader: Arc<Self>, app: App) -> std::io::Result<()> {
        let mut hangups = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())?;
        tokio::spawn(async move {
            while hangups.recv().await.is_some() {
                let _ = reloader.reload(&app, "sighup").await;
            }
        });
        Ok(())
    }
}
