//! Twilio's Python helper library as a reference implementation for tests: a virtualenv at
//! `target/twilio-venv` (under `CARGO_TARGET_DIR` when set) with `twilio` pinned, made on first
//! use and reused after. Any test comparing flexroute with Twilio's own code can call
//! [`python`]; the scripts it runs live in tests/contract/.
//!
//! Cold, the venv and `pip install` take seconds and need PyPI; without them the calling test
//! fails, loudly, rather than passing without having compared anything. `FLEXROUTE_SKIP_PYTHON=1`
//! skips such tests on purpose (machines without Python or a registry).

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::Value;

/// The `twilio` package the comparisons were written against (it brings PyJWT 2.x).
pub const TWILIO: &str = "9.13.0";

/// `target/twilio-venv`, next to the target directory's `tmp/`.
pub fn venv_dir() -> PathBuf {
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
    tmp.parent()
        .expect("CARGO_TARGET_TMPDIR is inside the target directory")
        .join("twilio-venv")
}

/// The venv's interpreter, with `twilio==TWILIO` installed; `None` (after saying so) when
/// `FLEXROUTE_SKIP_PYTHON=1`. Panics when the venv cannot be made.
pub fn python() -> Option<PathBuf> {
    if std::env::var("FLEXROUTE_SKIP_PYTHON").is_ok_and(|v| v == "1") {
        eprintln!("FLEXROUTE_SKIP_PYTHON=1: not comparing with Twilio's Python library");
        return None;
    }
    let venv = venv_dir();
    std::fs::create_dir_all(venv.parent().unwrap()).unwrap();
    // Test processes run in parallel, and this venv is shared: one of them makes it.
    let lock = File::create(venv.with_extension("lock")).unwrap();
    lock.lock().unwrap();
    let python = venv.join("bin").join("python");
    if !succeeds(Command::new(&python).args(["-c", ""])) {
        // Missing, half made, or made by a Python that is gone.
        let _ = std::fs::remove_dir_all(&venv);
        run(Command::new("python3").arg("-m").arg("venv").arg(&venv));
    }
    if installed_twilio(&python).as_deref() != Some(TWILIO) {
        eprintln!("installing twilio=={TWILIO} into {}", venv.display());
        run(Command::new(&python).args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            &format!("twilio=={TWILIO}"),
        ]));
        assert_eq!(installed_twilio(&python).as_deref(), Some(TWILIO));
    }
    Some(python)
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

fn succeeds(command: &mut Command) -> bool {
    command.output().is_ok_and(|output| output.status.success())
}

fn run(command: &mut Command) {
    let output = command.output().unwrap_or_else(|e| {
        panic!("{command:?}: {e} (set FLEXROUTE_SKIP_PYTHON=1 to skip the Python comparisons)")
    });
    assert!(
        output.status.success(),
        "{command:?} failed ({}), so Twilio's Python library is not available; set \
         FLEXROUTE_SKIP_PYTHON=1 to skip the comparisons on purpose.\n{}{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
    );
}

/// The token script (tests/contract/twilio_token.py), given `request` as JSON on stdin: its
/// JSON answer.
pub const TOKEN_SCRIPT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/contract/twilio_token.py"
);

pub fn run_token_script(python: &std::path::Path, request: &Value) -> Value {
    let mut child = Command::new(python)
        .arg(TOKEN_SCRIPT)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(request.to_string().as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "{TOKEN_SCRIPT}: {}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}
