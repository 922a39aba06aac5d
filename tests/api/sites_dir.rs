//! `sites_dir`: a directory of one file per site. `check` names every problem with its file
//! and location; a reload puts a changed file in force, and a broken file keeps the whole last
//! good table (atomic across files).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use flexroute::app::App;
use flexroute::config::{Config, Environment};
use flexroute::reload::{ConfigSource, Reloader};

fn main_file(dir: &Path) -> String {
    format!(
        "sites_dir = \"sites.d\"\n[twilio]\naccount_sid = \"AC0123456789abcdef0123456789abcdef\"\n\
        [provisioning]\nenabled = false\nstate = \"file:{}/state\"\n",
        dir.display()
    )
}

fn site(id: &str, greeting: &str) -> String {
    format!(
        "id = \"{id}\"\nhosts = [\"{id}.example\"]\ndefault_language = \"en\"\n\
        languages = [\"en\", \"de\"]\n[widget]\ngreeting = \"{greeting}\"\n"
    )
}

/// A main file naming `sites.d/` with `sites` (file name, text) in it; the main file's path.
fn layout(dir: &Path, sites: &[(&str, String)]) -> PathBuf {
    std::fs::create_dir_all(dir.join("sites.d")).unwrap();
    for (name, text) in sites {
        std::fs::write(dir.join("sites.d").join(name), text).unwrap();
    }
    let path = dir.join("flexroute.toml");
    std::fs::write(&path, main_file(dir)).unwrap();
    path
}

fn env() -> Environment {
    Environment::from_pairs::<&str, &str>([])
}

fn problems(path: &Path) -> Vec<String> {
    Config::load(path, &env()).unwrap_err().problems()
}

#[test]
fn sites_come_from_their_files_in_name_order_after_the_main_files() {
    let dir = tempfile::tempdir().unwrap();
    let path = layout(
        dir.path(),
        &[
            ("b.toml", site("b", "hi b")),
            ("a.toml", site("a", "hi a")),
            (".hidden.toml", "not toml at all [".into()),
            ("notes.txt", "not a site".into()),
        ],
    );
    let mut text = main_file(dir.path());
    text.push_str(&format!(
        "[[sites]]\n{}",
        site("main", "hi").replace("[widget]", "[sites.widget]")
    ));
    std::fs::write(&path, text).unwrap();
    let config = Config::load(&path, &env()).unwrap().config;
    let ids: Vec<&str> = config.sites.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(ids, ["main", "a", "b"]);
    assert_eq!(config.sites_dir.as_deref(), Some("sites.d"));
}

#[test]
fn check_names_the_file_and_the_key_of_each_problem() {
    let dir = tempfile::tempdir().unwrap();
    let path = layout(
        dir.path(),
        &[
            ("a.toml", site("a", "hi a")),
            ("b.toml", site("b", "hi b").replace("b.example", "bad host")),
            (
                "c.toml",
                site("c", "hi c").replace("[\"c.example\"]", "[\"a.example\"]"),
            ),
            ("d.toml", format!("hostz = 1\n{}", site("d", "hi d"))),
        ],
    );
    let shown = |name: &str| dir.path().join("sites.d").join(name).display().to_string();
    let found = problems(&path);
    assert_eq!(found.len(), 3, "{found:?}");
    assert_eq!(found[0], format!("{}: hostz: unknown key", shown("d.toml")));
    assert!(
        found[1].starts_with(&format!(
            "{}: hosts[0]: `bad host` is not a host name",
            shown("b.toml")
        )),
        "{found:?}"
    );
    let duplicate = found
        .iter()
        .find(|p| p.starts_with(&format!("{}: hosts[0]: duplicate host", shown("c.toml"))))
        .unwrap_or_else(|| panic!("{found:?}"));
    assert!(duplicate.contains(&shown("a.toml")), "{duplicate}");

    // Through the command: the syntax error's file, line and column.
    std::fs::write(
        dir.path().join("sites.d/b.toml"),
        "id = \"b\"\nhosts = [\"b.example\"\n",
    )
    .unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_flexroute"))
        .args(["check", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let printed = String::from_utf8_lossy(&output.stdout).to_string()
        + &String::from_utf8_lossy(&output.stderr);
    assert!(
        printed.contains(&format!(
            "{}: TOML parse error at line 2, column 21",
            shown("b.toml")
        )),
        "{printed}"
    );
}

#[test]
fn a_missing_directory_is_a_problem_of_sites_dir() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("flexroute.toml");
    std::fs::write(&path, main_file(dir.path())).unwrap();
    let found = problems(&path);
    assert!(found[0].starts_with("sites_dir: cannot read "), "{found:?}");
}

struct Running {
    app: App,
    reloader: Reloader,
}

async fn running(path: &Path) -> Running {
    let config = Config::load(path, &env()).unwrap().config;
    let app = App::build(&config, None, None).await.unwrap();
    let source = ConfigSource {
        path: path.to_path_buf(),
        env: env(),
    };
    let reloader = Reloader::new(source, &config);
    Running { app, reloader }
}

fn greeting(app: &App, site: &str) -> String {
    let table = app.table();
    let (_, pair) = table.pair(site, "de").unwrap();
    pair.widget["greeting"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn a_reload_puts_a_changed_site_file_in_force() {
    let dir = tempfile::tempdir().unwrap();
    let path = layout(
        dir.path(),
        &[("a.toml", site("a", "hi a")), ("b.toml", site("b", "hi b"))],
    );
    let Running { app, reloader } = running(&path).await;
    std::fs::write(dir.path().join("sites.d/b.toml"), site("b", "hello b")).unwrap();
    let report = reloader.reload(&app, "test").await.unwrap();
    assert_eq!((report.sites, report.pairs, report.changed), (2, 4, 2));
    assert_eq!(greeting(&app, "b"), "hello b");
    assert_eq!(greeting(&app, "a"), "hi a");
    // A new file is a new site.
    std::fs::write(dir.path().join("sites.d/c.toml"), site("c", "hi c")).unwrap();
    let report = reloader.reload(&app, "test").await.unwrap();
    assert_eq!((report.sites, report.added, report.changed), (3, 2, 0));
}

#[tokio::test]
async fn a_broken_site_file_keeps_the_whole_last_good_table() {
    let dir = tempfile::tempdir().unwrap();
    let path = layout(
        dir.path(),
        &[("a.toml", site("a", "hi a")), ("b.toml", site("b", "hi b"))],
    );
    let Running { app, reloader } = running(&path).await;
    let before = app.table();
    // One good change and one broken file: neither is put in force.
    std::fs::write(dir.path().join("sites.d/a.toml"), site("a", "hello a")).unwrap();
    std::fs::write(
        dir.path().join("sites.d/b.toml"),
        "id = \"b\"\nlanguages = [\n",
    )
    .unwrap();
    let problems = reloader.reload(&app, "test").await.unwrap_err();
    let b = dir.path().join("sites.d/b.toml").display().to_string();
    assert!(
        problems
            .iter()
            .any(|p| p.contains(&format!("{b}: TOML parse error at line"))),
        "{problems:?}"
    );
    assert!(Arc::ptr_eq(&before, &app.table()));
    assert_eq!(greeting(&app, "a"), "hi a");
    // Fixed, both are put in force together.
    std::fs::write(dir.path().join("sites.d/b.toml"), site("b", "hello b")).unwrap();
    reloader.reload(&app, "test").await.unwrap();
    assert_eq!(
        (greeting(&app, "a"), greeting(&app, "b")),
        ("hello a".into(), "hello b".into())
    );
}
