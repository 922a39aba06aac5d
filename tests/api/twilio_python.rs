//! Twilio's Python helper library for tests: a virtualenv at `target/twilio-venv` (under
//! `CARGO_TARGET_DIR` when set) with `twilio` pinned, made on first use and reused after. Test
//! processes run in parallel and share it, so one of them makes it, under the lock file
//! `target/twilio-venv.lock`; a venv with the pinned version is never touched.
//!
//! Cold, the venv and `pip install` take seconds and need PyPI. Without `python3`, or when pip
//! cannot install the library, [`python`] says why and returns `None`, and the calling test
//! skips; `FLEXROUTE_SKIP_PYTHON=1` skips such tests on purpose.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The `twilio` package the tests were written against: a new release is a deliberate upgrade.
pub const TWILIO: &str = "9.13.0";

/// `target/twilio-venv`, next to the target directory's `tmp/`.
pub fn venv_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("CARGO_TARGET_TMPDIR is inside the target directory")
        .join("twilio-venv")
}

/// The venv's interpreter with `twilio==TWILIO` installed, or `None` after printing why not.
pub fn python() -> Option<PathBuf> {
    if std::env::var("FLEXROUTE_SKIP_PYTHON").is_ok_and(|v| v == "1") {
        eprintln!("SKIPPED: FLEXROUTE_SKIP_PYTHON=1, not running Twilio's Python library");
        return None;
    }
    match prepare() {
        Ok(python) => Some(python),
        Err(why) => {
            eprintln!("SKIPPED: Twilio's Python library is not available: {why}");
            None
        }
    }
}

fn prepare() -> Result<PathBuf, String> {
    let venv = venv_dir();
    std::fs::create_dir_all(venv.parent().unwrap()).map_err(|e| e.to_string())?;
    let lock = File::create(venv.with_extension("lock")).map_err(|e| e.to_string())?;
    lock.lock().map_err(|e| e.to_string())?;
    let python = venv.join("bin").join("python");
    if installed_twilio(&python).as_deref() == Some(TWILIO) {
        return Ok(python);
    }
    if run(Command::new(&python).args(["-c", ""])).is_err() {
        // Missing, half made, or made by a Python that is gone.
        let _ = std::fs::remove_dir_all(&venv);
        run(Command::new("python3").arg("-m").arg("venv").arg(&venv))
            .map_err(|e| format!("no virtualenv: {e}"))?;
    }
    eprintln!("installing twilio=={TWILIO} into {}", venv.display());
    run(Command::new(&python).args([
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
        &format!("twilio=={TWILIO}"),
    ]))
    .map_err(|e| format!("pip cannot install twilio=={TWILIO}: {e}"))?;
    match installed_twilio(&python) {
        Some(version) if version == TWILIO => Ok(python),
        other => Err(format!("pip installed twilio {other:?}, not {TWILIO}")),
    }
}

/// The version `pip show twilio` would print (the same metadata, without pip's start-up).
fn installed_twilio(python: &Path) -> Option<String> {
    let output = Command::new(python)
        .args([
            "-c",
            "from importlib.metadata import version; print(version('twilio'))",
        ])
        .output()
        .ok()?;
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).trim().to_string())
}

/// Runs `command`; its failure with the end of what it printed.
fn run(command: &mut Command) -> Result<(), String> {
    let output = command
        .output()
        .map_err(|e| format!("{command:?} did not start: {e}"))?;
    if output.status.success() {
        return Ok(());
    }
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let tail: Vec<&str> = printed.lines().rev().take(15).collect();
    let tail: Vec<&str> = tail.into_iter().rev().collect();
    Err(format!(
        "{command:?} failed ({}):\n{}",
        output.status,
        tail.join("\n")
    ))
}
