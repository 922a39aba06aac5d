//! `widget_script`: the script a page loads to run the widget of each address kind, which the
//! embed script (`GET /v1/webchat/embed.js`) reads from the config answer. One entry per kind,
//! so that a pair moving to another kind picks up that kind's script with no second edit; each
//! kind's entry is layered on its own (language → site → defaults, most specific wins).
//!
//! ```toml
//! [defaults.widget_script]
//! flex_flow = "https://assets.flex.twilio.com/releases/flex-webchat-ui/2.9.1/twilio-flex-webchat.min.js"
//! conversations = { src = "https://cdn.acme.example/webchat/index.js", integrity = "sha384-…" }
//! ```

use serde::{Deserialize, Serialize};

use crate::address::AddressKind;

/// One script: its URL and, optionally, a Subresource Integrity value the browser checks.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, utoipa::ToSchema)]
#[schema(
    description = "The script the page loads to run the widget of the answer's kind \
    (`widget_script` in the configuration); the embed script loads it once per page."
)]
pub struct WidgetScript {
    /// An absolute `https://` (or `http://`) URL.
    #[schema(example = "https://cdn.acme.example/webchat/index.js")]
    pub src: String,
    /// A Subresource Integrity value (`sha256-`, `sha384-` or `sha512-` and base64; several
    /// separated by spaces), for the `integrity` attribute of the script tag.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(
        required = false,
        example = "sha384-oqVuAfXRKap7fdgcCY5uykM6+R9GqQ8K/uxy9rx7HNQlGYl1kPzQho1wx4JwY8wC"
    )]
    pub integrity: Option<String>,
}

/// A script as the file may write it: a URL alone, or `{ src, integrity }`.
#[derive(Deserialize)]
#[serde(untagged, deny_unknown_fields)]
enum Written {
    Url(String),
    Full {
        src: String,
        integrity: Option<String>,
    },
}

impl<'de> Deserialize<'de> for WidgetScript {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match Written::deserialize(deserializer).map_err(|_| {
            serde::de::Error::custom("expected a URL or { src = \"…\", integrity = \"…\" }")
        })? {
            Written::Url(src) => Ok(Self {
                src,
                integrity: None,
            }),
            Written::Full { src, integrity } => Ok(Self { src, integrity }),
        }
    }
}

/// `widget_script` at one level: an optional script per address kind. Boxed: every site and
/// language of the file carries one, nearly always empty (24 bytes instead of 144).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WidgetScripts {
    pub flex_flow: Option<Box<WidgetScript>>,
    pub conversations: Option<Box<WidgetScript>>,
    pub webchat3: Option<Box<WidgetScript>>,
}

impl WidgetScripts {
    pub fn get(&self, kind: AddressKind) -> Option<&WidgetScript> {
        match kind {
            AddressKind::FlexFlow => self.flex_flow.as_deref(),
            AddressKind::Conversations => self.conversations.as_deref(),
            AddressKind::Webchat3 => self.webchat3.as_deref(),
        }
    }

    /// `self` with every kind it does not set taken from `parent`.
    pub fn inherit(&self, parent: &WidgetScripts) -> WidgetScripts {
        let pick = |own: &Option<Box<WidgetScript>>, theirs: &Option<Box<WidgetScript>>| {
            own.clone().or_else(|| theirs.clone())
        };
        WidgetScripts {
            flex_flow: pick(&self.flex_flow, &parent.flex_flow),
            conversations: pick(&self.conversations, &parent.conversations),
            webchat3: pick(&self.webchat3, &parent.webchat3),
        }
    }

    /// What is wrong with each script set here, as (key under `widget_script`, message).
    pub fn problems(&self) -> Vec<(String, String)> {
        let mut problems = Vec::new();
        for kind in AddressKind::ALL {
            let Some(script) = self.get(kind) else {
                continue;
            };
            let scheme = script
                .src
                .split_once("://")
                .map(|(scheme, rest)| (scheme.to_ascii_lowercase(), rest));
            let valid = matches!(&scheme, Some((s, rest)) if (s == "https" || s == "http")
                && !rest.is_empty()
                && !rest.starts_with('/'))
                && !script
                    .src
                    .chars()
                    .any(|c| c.is_whitespace() || c.is_control());
            if !valid {
                problems.push((
                    format!("{kind}"),
                    format!("`{}` is not an absolute http(s) URL", script.src),
                ));
            }
            if let Some(integrity) = &script.integrity
                && !integrity_is_valid(integrity)
            {
                problems.push((
                    format!("{kind}"),
                    format!(
                        "integrity `{integrity}` is not sha256-, sha384- or sha512- followed by base64"
                    ),
                ));
            }
        }
        problems
    }
}

/// Subresource Integrity metadata: one or more `sha256|sha384|sha512-<base64>`, space-separated.
fn integrity_is_valid(value: &str) -> bool {
    let mut hashes = value.split_ascii_whitespace().peekable();
    hashes.peek().is_some()
        && hashes.all(|hash| {
            let Some((algorithm, digest)) = hash.split_once('-') else {
                return false;
            };
            let digest = digest.trim_end_matches('=');
            matches!(algorithm, "sha256" | "sha384" | "sha512")
                && !digest.is_empty()
                && digest
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integrity_values() {
        assert!(integrity_is_valid("sha384-abc+/d=="));
        assert!(integrity_is_valid("sha256-abc sha512-def="));
        assert!(!integrity_is_valid(""));
        assert!(!integrity_is_valid("md5-abc"));
        assert!(!integrity_is_valid("sha384-"));
        assert!(!integrity_is_valid("sha384-a\"b"));
    }

    #[test]
    fn each_kind_inherits_on_its_own() {
        let script = |src: &str| {
            Some(Box::new(WidgetScript {
                src: src.into(),
                integrity: None,
            }))
        };
        let defaults = WidgetScripts {
            flex_flow: script("https://a/2.js"),
            conversations: script("https://a/react.js"),
            webchat3: None,
        };
        let site = WidgetScripts {
            conversations: script("https://site/react.js"),
            ..Default::default()
        };
        let merged = site.inherit(&defaults);
        assert_eq!(merged.flex_flow, script("https://a/2.js"));
        assert_eq!(merged.conversations, script("https://site/react.js"));
        assert_eq!(merged.webchat3, None);
    }

    #[test]
    fn urls_must_be_absolute_http() {
        let scripts = |src: &str| WidgetScripts {
            webchat3: Some(Box::new(WidgetScript {
                src: src.into(),
                integrity: None,
            })),
            ..Default::default()
        };
        assert!(scripts("https://cdn.example/w.js").problems().is_empty());
        assert!(scripts("http://127.0.0.1:8080/w.js").problems().is_empty());
        for bad in [
            "/w.js",
            "//cdn/w.js",
            "javascript:alert(1)",
            "https:///x",
            "https://a b",
        ] {
            assert_eq!(scripts(bad).problems().len(), 1, "{bad}");
        }
    }
}
