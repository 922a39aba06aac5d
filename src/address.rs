//! The kinds of chat address a (site, language) pair can have, and the address itself. Every
//! layer that behaves differently per kind asks the kind here rather than comparing strings:
//! the config reads its pin key and SID prefix, the provisioner whether it may create one, the
//! widget answer which `appConfig` members to set. A fourth kind is one more variant and one
//! more arm in each of those `match`es.

use std::fmt;

use serde::{Deserialize, Serialize};

/// `address_kind` in `[defaults]`, a site or a language (most specific wins).
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum AddressKind {
    /// A Flex Flow (`FO…`) read by Flex WebChat UI 2.x, on Programmable Chat (end of life
    /// 2026-06-01): the legacy kind, and the default so that existing tables keep their meaning.
    #[default]
    FlexFlow,
    /// A Flex Conversations chat address configuration (`IG…`), with flexroute as the webchat
    /// session backend (`initWebchat`, `refreshToken`).
    Conversations,
    /// A Webchat 3 deployment key, made in Twilio's Console (no API creates one).
    Webchat3,
}

impl AddressKind {
    pub const ALL: [AddressKind; 3] = [Self::FlexFlow, Self::Conversations, Self::Webchat3];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::FlexFlow => "flex_flow",
            Self::Conversations => "conversations",
            Self::Webchat3 => "webchat3",
        }
    }

    /// The language-table key that pins an existing address of this kind.
    pub fn pin_key(self) -> &'static str {
        match self {
            Self::FlexFlow => "flex_flow_sid",
            Self::Conversations => "address_sid",
            Self::Webchat3 => "deployment_key",
        }
    }

    /// The two letters every SID of this kind starts with; `None` for deployment keys, which
    /// are not SIDs.
    pub fn sid_prefix(self) -> Option<&'static str> {
        match self {
            Self::FlexFlow => Some("FO"),
            Self::Conversations => Some("IG"),
            Self::Webchat3 => None,
        }
    }

    /// Whether `value` can be an address of this kind: its SID prefix and 32 hex digits, or the
    /// characters of a deployment key. What a store hands back is checked with this before it
    /// is served: a damaged or forged record must not reach a visitor's widget.
    pub fn accepts(self, value: &str) -> bool {
        match self.sid_prefix() {
            Some(prefix) => value
                .strip_prefix(prefix)
                .is_some_and(|hex| hex.len() == 32 && hex.bytes().all(|b| b.is_ascii_hexdigit())),
            None => {
                !value.is_empty()
                    && value.len() <= 128
                    && value
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            }
        }
    }

    /// Whether flexroute creates missing addresses of this kind through Twilio's API.
    pub fn provisioned(self) -> bool {
        match self {
            Self::FlexFlow | Self::Conversations => true,
            Self::Webchat3 => false,
        }
    }

    /// Whether a visitor's chat is started through flexroute's session routes.
    pub fn has_sessions(self) -> bool {
        matches!(self, Self::Conversations)
    }
}

impl fmt::Display for AddressKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A chat address a visitor can be sent to: its kind and its SID (or, for `webchat3`, its
/// deployment key). Serialised as `{"kind": "…", "sid": "…"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[schema(
    description = "The chat address the widget talks to: a Flex Flow (`FO…`), a Conversations chat address (`IG…`) or a Webchat 3 deployment key."
)]
pub struct Address {
    pub kind: AddressKind,
    /// The address's SID (`FO…` or `IG…`), or the Webchat 3 deployment key.
    #[schema(example = "FO11111111111111111111111111111111")]
    pub sid: String,
}

impl Address {
    pub fn new(kind: AddressKind, sid: impl Into<String>) -> Self {
        Self {
            kind,
            sid: sid.into(),
        }
    }

    pub fn sid(&self) -> &str {
        &self.sid
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_accepts_only_its_own_shape() {
        let hex = "0123456789abcdef0123456789ABCDEF";
        assert!(AddressKind::FlexFlow.accepts(&format!("FO{hex}")));
        assert!(!AddressKind::FlexFlow.accepts(&format!("IG{hex}")));
        assert!(AddressKind::Conversations.accepts(&format!("IG{hex}")));
        assert!(!AddressKind::Conversations.accepts(&format!("IG{hex}0")));
        assert!(!AddressKind::Conversations.accepts("IG<script>"));
        assert!(AddressKind::Webchat3.accepts("CVaaaa-1_b"));
        assert!(!AddressKind::Webchat3.accepts("a key"));
        assert!(!AddressKind::Webchat3.accepts(""));
    }

    #[test]
    fn kinds_serialise_as_the_config_spells_them() {
        for kind in AddressKind::ALL {
            let json = serde_json::to_string(&kind).unwrap();
            assert_eq!(json, format!("\"{}\"", kind.as_str()));
            let back: AddressKind = serde_json::from_str(&json).unwrap();
            assert_eq!(back, kind);
        }
        let address = Address::new(AddressKind::Conversations, "IG00");
        assert_eq!(
            serde_json::to_string(&address).unwrap(),
            r#"{"kind":"conversations","sid":"IG00"}"#
        );
    }
}
