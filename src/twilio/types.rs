//! Flex API v1 wire types (`tests/reference/twilio-oai/twilio_flex_v1.json`). Every field but the
//! SID is optional, unknown fields are ignored: Twilio adds fields, and older accounts return
//! fewer (see SOURCE.md on `janitor_enabled` and `integration.retry_count`).

use serde::{Deserialize, Serialize};

/// `flex.v1.flex_flow`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FlexFlow {
    pub sid: String,
    #[serde(default)]
    pub account_sid: Option<String>,
    #[serde(default)]
    pub date_created: Option<String>,
    #[serde(default)]
    pub date_updated: Option<String>,
    #[serde(default)]
    pub friendly_name: Option<String>,
    #[serde(default)]
    pub chat_service_sid: Option<String>,
    /// `web`, `sms`, `facebook`, `whatsapp`, `line` or `custom`; kept as text so that a value
    /// Twilio adds later does not make a whole list unreadable.
    #[serde(default)]
    pub channel_type: Option<String>,
    #[serde(default)]
    pub contact_identity: Option<String>,
    #[serde(default)]
    pub enabled: Option<bool>,
    /// `studio`, `external` or `task`.
    #[serde(default)]
    pub integration_type: Option<String>,
    #[serde(default)]
    pub integration: Option<Integration>,
    #[serde(default)]
    pub long_lived: Option<bool>,
    #[serde(default)]
    pub janitor_enabled: Option<bool>,
    #[serde(default)]
    pub url: Option<String>,
}

/// The `integration` object; which fields appear depends on `integration_type`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Integration {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flow_sid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workspace_sid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workflow_sid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub creation_on_message: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_count: Option<i64>,
}

/// `ListFlexFlowResponse`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FlexFlowPage {
    pub meta: PageMeta,
    #[serde(default)]
    pub flex_flows: Vec<FlexFlow>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PageMeta {
    #[serde(default)]
    pub page: u64,
    #[serde(default)]
    pub page_size: u64,
    #[serde(default)]
    pub first_page_url: Option<String>,
    #[serde(default)]
    pub previous_page_url: Option<String>,
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub next_page_url: Option<String>,
    #[serde(default)]
    pub key: Option<String>,
}

/// Twilio's error body: `{"code", "message", "more_info", "status"}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorBody {
    #[serde(default)]
    pub code: Option<u32>,
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub more_info: Option<String>,
    #[serde(default)]
    pub status: Option<u16>,
}

impl ErrorBody {
    pub fn new(code: u32, message: impl Into<String>, status: u16) -> Self {
        Self {
            code: Some(code),
            message: Some(message.into()),
            more_info: Some(format!("https://www.twilio.com/docs/errors/{code}")),
            status: Some(status),
        }
    }
}

/// The parameters of `CreateFlexFlowRequest` / `UpdateFlexFlowRequest` (all 17), sent
/// form-encoded with Twilio's names; booleans as `true`/`false`. Unset fields are not sent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FlexFlowParams {
    pub friendly_name: Option<String>,
    pub chat_service_sid: Option<String>,
    pub channel_type: Option<String>,
    pub contact_identity: Option<String>,
    pub enabled: Option<bool>,
    pub integration_type: Option<String>,
    pub integration_flow_sid: Option<String>,
    pub integration_url: Option<String>,
    pub integration_workspace_sid: Option<String>,
    pub integration_workflow_sid: Option<String>,
    pub integration_channel: Option<String>,
    pub integration_timeout: Option<i64>,
    pub integration_priority: Option<i64>,
    pub integration_creation_on_message: Option<bool>,
    pub long_lived: Option<bool>,
    pub janitor_enabled: Option<bool>,
    pub integration_retry_count: Option<i64>,
}

impl FlexFlowParams {
    /// `(Twilio parameter name, value)` for every set field, in the spec's order.
    pub fn to_form(&self) -> Vec<(&'static str, String)> {
        let text = |v: &Option<String>| v.clone();
        let flag = |v: &Option<bool>| v.map(|b| if b { "true" } else { "false" }.to_string());
        let number = |v: &Option<i64>| v.map(|n| n.to_string());
        [
            ("FriendlyName", text(&self.friendly_name)),
            ("ChatServiceSid", text(&self.chat_service_sid)),
            ("ChannelType", text(&self.channel_type)),
            ("ContactIdentity", text(&self.contact_identity)),
            ("Enabled", flag(&self.enabled)),
            ("IntegrationType", text(&self.integration_type)),
            ("Integration.FlowSid", text(&self.integration_flow_sid)),
            ("Integration.Url", text(&self.integration_url)),
            (
                "Integration.WorkspaceSid",
                text(&self.integration_workspace_sid),
            ),
            (
                "Integration.WorkflowSid",
                text(&self.integration_workflow_sid),
            ),
            ("Integration.Channel", text(&self.integration_channel)),
            ("Integration.Timeout", number(&self.integration_timeout)),
            ("Integration.Priority", number(&self.integration_priority)),
            (
                "Integration.CreationOnMessage",
                flag(&self.integration_creation_on_message),
            ),
            ("LongLived", flag(&self.long_lived)),
            ("JanitorEnabled", flag(&self.janitor_enabled)),
            (
                "Integration.RetryCount",
                number(&self.integration_retry_count),
            ),
        ]
        .into_iter()
        .filter_map(|(name, value)| Some((name, value?)))
        .collect()
    }
}
