//! Unknown-key detection. serde stops at the first unknown field (and cannot see through
//! `flatten`), so the file is walked here against the keys of the format, naming every stray
//! key with its path. The keys of a section without `flatten` are the field names serde reads
//! for its struct ([`fields_of`]), so a new field is a new key with nothing to list; the sites,
//! languages and `[defaults]`, which flatten the address settings in, list their own keys.
//! `tests/api/config.rs` checks all of them against the example file, which uses every key,
//! and the README's table.

use serde::Deserialize;
use serde::de::{Deserializer, Visitor};
use toml::de::{DeTable, DeValue};

use super::{Config, FlowSettings, Problem, ProvisioningConfig, ServerConfig, TwilioConfig};

/// The top-level tables.
pub fn top() -> &'static [&'static str] {
    fields_of::<Config>()
}

/// `[server]`.
pub fn server() -> &'static [&'static str] {
    fields_of::<ServerConfig>()
}

/// `[twilio]`.
pub fn twilio() -> &'static [&'static str] {
    fields_of::<TwilioConfig>()
}

/// `[provisioning]`.
pub fn provisioning() -> &'static [&'static str] {
    fields_of::<ProvisioningConfig>()
}

/// Address settings, accepted in `[defaults]`, in a site and in a language.
pub fn flow() -> &'static [&'static str] {
    fields_of::<FlowSettings>()
}

/// `[defaults]`'s own keys, besides the address settings.
pub const DEFAULTS: &[&str] = &["widget"];
/// A site's own keys, besides the address settings.
pub const SITE: &[&str] = &[
    "id",
    "hosts",
    "allowed_origins",
    "default_language",
    "languages",
    "path_language",
    "language_cookie",
    "widget",
    "language",
];
/// A language's own keys, besides the address settings.
pub const LANGUAGE: &[&str] = &["flex_flow_sid", "address_sid", "deployment_key", "widget"];

/// The field names serde's derived `Deserialize` of the struct `T` reads (a struct without
/// `flatten`, whose derive asks for a map instead): it hands them to
/// `Deserializer::deserialize_struct`, where [`FieldNames`] takes them and stops.
fn fields_of<T: Deserialize<'static>>() -> &'static [&'static str] {
    let mut names = None;
    let _ = T::deserialize(FieldNames(&mut names));
    names.expect("a struct whose Deserialize is derived, without flatten")
}

/// A deserializer that only records the field names it is asked for.
struct FieldNames<'a>(&'a mut Option<&'static [&'static str]>);

impl<'de> Deserializer<'de> for FieldNames<'_> {
    type Error = serde::de::value::Error;

    fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
        Err(serde::de::Error::custom("not a struct"))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        _visitor: V,
    ) -> Result<V::Value, Self::Error> {
        *self.0 = Some(fields);
        Err(serde::de::Error::custom("field names taken"))
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier
        ignored_any
    }
}

/// The keys a `[section]` accepts, for sections that the environment may override.
pub fn section_keys(section: &str) -> Option<Vec<&'static str>> {
    Some(match section {
        "server" => server().to_vec(),
        "twilio" => twilio().to_vec(),
        "provisioning" => provisioning().to_vec(),
        "defaults" => [DEFAULTS, flow()].concat(),
        _ => return None,
    })
}

/// Every key of `root` outside `[[sites]]` that the format does not define, as a problem
/// with its path.
pub fn unknown_keys(root: &toml::Table) -> Vec<Problem> {
    let mut problems = Vec::new();
    check(root.keys().map(String::as_str), "", &[top()], &mut problems);
    for (section, allowed) in [
        ("server", &[server()][..]),
        ("twilio", &[twilio()]),
        ("provisioning", &[provisioning()]),
        ("defaults", &[DEFAULTS, flow()]),
    ] {
        if let Some(toml::Value::Table(table)) = root.get(section) {
            check(
                table.keys().map(String::as_str),
                section,
                allowed,
                &mut problems,
            );
        }
    }
    problems
}

/// Every key of the `[[sites]]` array (read from the document, not an owned copy) that the
/// format does not define.
pub fn unknown_site_keys(sites: &DeValue<'_>, first_index: usize) -> Vec<Problem> {
    let mut problems = Vec::new();
    let Some(sites) = sites.as_array() else {
        return problems;
    };
    for (i, site) in sites.into_iter().enumerate() {
        if let Some(site) = site.get_ref().as_table() {
            let path = format!("sites[{}]", first_index + i);
            problems.extend(unknown_keys_of_site(site, &path));
        }
    }
    problems
}

/// Every key of one site (at `path`) that the format does not define.
pub fn unknown_keys_of_site(site: &DeTable<'_>, path: &str) -> Vec<Problem> {
    let mut problems = Vec::new();
    check(
        site.keys().map(|k| &**k.get_ref()),
        path,
        &[SITE, flow()],
        &mut problems,
    );
    let Some(languages) = site.get("language").and_then(|l| l.get_ref().as_table()) else {
        return problems;
    };
    for (tag, language) in languages {
        if let Some(language) = language.get_ref().as_table() {
            let path = format!("{path}.language.\"{}\"", tag.get_ref());
            check(
                language.keys().map(|k| &**k.get_ref()),
                &path,
                &[LANGUAGE, flow()],
                &mut problems,
            );
        }
    }
    problems
}

fn check<'k>(
    keys: impl Iterator<Item = &'k str>,
    path: &str,
    allowed: &[&[&str]],
    problems: &mut Vec<Problem>,
) {
    for key in keys {
        if !allowed.iter().any(|list| list.contains(&key)) {
            let at = if path.is_empty() {
                key.to_string()
            } else {
                format!("{path}.{key}")
            };
            problems.push(Problem::new(at, "unknown key".to_string()));
        }
    }
}
