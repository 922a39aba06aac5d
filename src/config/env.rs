//! `FLEXROUTE_<SECTION>_<KEY>` environment overrides, e.g. `FLEXROUTE_SERVER_LISTEN` or
//! `FLEXROUTE_PROVISIONING_WAIT_MS`. Values are read as TOML literals when they parse as one
//! (`3000`, `true`, `["a"]`, `{ x = 1 }`) and as plain strings otherwise.

use super::keys;

const PREFIX: &str = "FLEXROUTE_";
const API_KEY: &str = "TWILIO_API_KEY";
const API_SECRET: &str = "TWILIO_API_SECRET";
const AUTH_TOKEN: &str = "TWILIO_AUTH_TOKEN";
/// What stands for `TWILIO_API_SECRET`'s value: only its presence is ever needed here.
const SECRET_SET: &str = "(set)";
const SECTIONS: &[&str] = &["server", "twilio", "provisioning", "defaults"];

/// A snapshot of the variables flexroute reads, so that loading is a pure function of its
/// inputs (tests pass their own). `Debug` masks URL credentials (`FLEXROUTE_PROVISIONING_STATE`
/// may be a Redis URL with a password).
#[derive(Clone, Default)]
pub struct Environment {
    vars: Vec<(String, String)>,
}

impl std::fmt::Debug for Environment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map()
            .entries(
                self.vars
                    .iter()
                    .map(|(k, v)| (k, crate::redact::redact_url(v))),
            )
            .finish()
    }
}

impl Environment {
    /// The process environment, keeping only what configuration reads: `FLEXROUTE_*` (but
    /// not the admin token), `TWILIO_ACCOUNT_SID` and `TWILIO_API_KEY`, and whether
    /// `TWILIO_API_SECRET` and `TWILIO_AUTH_TOKEN` are set. Secrets are never copied in here, so no `Debug` print or
    /// error built from it can show one.
    pub fn from_process() -> Self {
        Self::from_pairs(std::env::vars_os().filter_map(|(k, v)| {
            let (name, value) = (k.into_string().ok()?, v.into_string().ok()?);
            if name == API_SECRET || name == AUTH_TOKEN {
                return (!value.is_empty()).then(|| (name, SECRET_SET.to_string()));
            }
            let wanted = (name.starts_with(PREFIX) && name != "FLEXROUTE_ADMIN_TOKEN")
                || name == "TWILIO_ACCOUNT_SID"
                || name == API_KEY;
            wanted.then_some((name, value))
        }))
    }

    /// The same environment with `name` set (sandbox mode fills in made-up credentials).
    pub fn with(mut self, name: &str, value: &str) -> Self {
        self.vars.retain(|(k, _)| k != name);
        let value = if name == API_SECRET || name == AUTH_TOKEN {
            SECRET_SET
        } else {
            value
        };
        self.vars.push((name.to_string(), value.to_string()));
        self
    }

    /// Whether `TWILIO_AUTH_TOKEN` is set: Twilio credentials that cannot sign tokens.
    pub fn has_auth_token(&self) -> bool {
        self.get(AUTH_TOKEN).is_some_and(|v| !v.is_empty())
    }

    /// Whether `TWILIO_API_KEY` and `TWILIO_API_SECRET` are both set: what signing visitors'
    /// access tokens takes.
    pub fn has_api_key(&self) -> bool {
        let set = |name| self.get(name).is_some_and(|v| !v.is_empty());
        set(API_KEY) && set(API_SECRET)
    }

    pub fn from_pairs<K: Into<String>, V: Into<String>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        Self {
            vars: pairs
                .into_iter()
                .map(|(k, v)| {
                    let (k, v): (String, String) = (k.into(), v.into());
                    let v = if (k == API_SECRET || k == AUTH_TOKEN) && !v.is_empty() {
                        SECRET_SET.to_string()
                    } else {
                        v
                    };
                    (k, v)
                })
                .collect(),
        }
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.vars
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub(super) fn twilio_account_sid(&self) -> Option<String> {
        self.get("TWILIO_ACCOUNT_SID")
            .filter(|v| !v.is_empty())
            .map(str::to_string)
    }

    /// Writes every override into `table`; returns `(key path, variable)` for each one applied.
    /// A variable that names a known section but an unknown key is a warning, not an error:
    /// Kubernetes injects `<SERVICE>_PORT`-style variables that an operator does not choose.
    pub(super) fn apply(
        &self,
        table: &mut toml::Table,
        warnings: &mut Vec<String>,
    ) -> Vec<(String, String)> {
        let mut applied = Vec::new();
        let mut vars: Vec<&(String, String)> = self.vars.iter().collect();
        vars.sort();
        for (name, raw) in vars {
            let Some(rest) = name.strip_prefix(PREFIX) else {
                continue;
            };
            let rest = rest.to_ascii_lowercase();
            let Some((section, key)) = SECTIONS.iter().find_map(|section| {
                let key = rest.strip_prefix(section)?.strip_prefix('_')?;
                Some((*section, key))
            }) else {
                continue;
            };
            let known = keys::section_keys(section).unwrap_or_default();
            if !known.contains(&key) {
                warnings.push(format!(
                    "environment variable {name} is ignored: [{section}] has no key `{key}`"
                ));
                continue;
            }
            let entry = table
                .entry(section)
                .or_insert_with(|| toml::Value::Table(toml::Table::new()));
            let Some(section_table) = entry.as_table_mut() else {
                continue; // the file's own type error for this section is reported later
            };
            section_table.insert(key.to_string(), literal(raw));
            applied.push((format!("{section}.{key}"), name.clone()));
        }
        applied
    }
}

fn literal(raw: &str) -> toml::Value {
    let document = format!("v = {raw}");
    toml::from_str::<toml::Table>(&document)
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(raw.to_string()))
}
