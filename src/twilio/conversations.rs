//! Flex Conversations wire types: Conversations v1 address configurations and messages
//! (`tests/reference/twilio-oai/twilio_conversations_v1.json`) and Flex v2 web chats
//! (`twilio_flex_v2.json`). As for the Flex Flow types, every field but the SID is optional and
//! unknown fields are ignored: Twilio adds fields, and its examples leave out the ones that do
//! not apply (an `auto_creation` of type `default` has no `webhook_url`).

use serde::{Deserialize, Serialize};

use super::types::PageMeta;

/// `conversations.v1.configuration_address`, in the key order of Twilio's examples.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AddressConfiguration {
    #[serde(default)]
    pub account_sid: Option<String>,
    pub sid: String,
    #[serde(default)]
    pub address: Option<String>,
    /// `sms`, `whatsapp`, `messenger`, `gbm`, `email`, `rcs`, `apple` or `chat`; text, so that
    /// a type Twilio adds later does not make a whole list unreadable.
    #[serde(default)]
    pub r#type: Option<String>,
    #[serde(default)]
    pub friendly_name: Option<String>,
    #[serde(default)]
    pub address_country: Option<String>,
    /// `null` when the configuration has no auto-creation settings at all.
    #[serde(default)]
    pub auto_creation: Option<AutoCreation>,
    #[serde(default)]
    pub date_created: Option<String>,
    #[serde(default)]
    pub date_updated: Option<String>,
    #[serde(default)]
    pub url: Option<String>,
}

/// The `auto_creation` object. The spec gives it no schema; Twilio's examples show which keys
/// appear: `enabled` and `type` always, the `webhook_*` ones for `webhook`, the `studio_*` ones
/// for `studio`, and `conversation_service_sid` when set.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AutoCreation {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// `webhook`, `studio` or `default`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub r#type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversation_service_sid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook_url: Option<String>,
    /// `GET` or `POST` (Twilio answers upper case whatever the case sent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook_method: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook_filters: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub studio_flow_sid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub studio_retry_count: Option<i64>,
}

/// `ListConfigurationAddressResponse`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AddressConfigurationPage {
    pub meta: PageMeta,
    #[serde(default)]
    pub address_configurations: Vec<AddressConfiguration>,
}

/// The parameters of `CreateConfigurationAddressRequest` / `UpdateConfigurationAddressRequest`,
/// sent form-encoded with Twilio's dotted names; booleans as `true`/`false`. Unset fields are
/// not sent. `Type`, `Address` and `AddressCountry` exist on create only: an update ignores
/// them, as Twilio does with parameters it does not know.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AddressParams {
    /// `Type`: `chat` for Flex web chat addresses.
    pub address_type: Option<String>,
    pub address: Option<String>,
    pub friendly_name: Option<String>,
    pub auto_creation_enabled: Option<bool>,
    /// `webhook`, `studio` or `default`.
    pub auto_creation_type: Option<String>,
    pub auto_creation_conversation_service_sid: Option<String>,
    pub auto_creation_webhook_url: Option<String>,
    /// `get` or `post`.
    pub auto_creation_webhook_method: Option<String>,
    /// Sent as one `AutoCreation.WebhookFilters` pair per filter; empty sends none (a form
    /// cannot say "an empty list").
    pub auto_creation_webhook_filters: Vec<String>,
    pub auto_creation_studio_flow_sid: Option<String>,
    pub auto_creation_studio_retry_count: Option<i64>,
    pub address_country: Option<String>,
}

impl AddressParams {
    /// `(Twilio parameter name, value)` for every set field, in the spec's order.
    pub fn to_form(&self) -> Vec<(&'static str, String)> {
        let text = |v: &Option<String>| v.clone();
        let mut form: Vec<(&'static str, Option<String>)> = vec![
            ("Type", text(&self.address_type)),
            ("Address", text(&self.address)),
            ("FriendlyName", text(&self.friendly_name)),
            (
                "AutoCreation.Enabled",
                self.auto_creation_enabled.map(|b| b.to_string()),
            ),
            ("AutoCreation.Type", text(&self.auto_creation_type)),
            (
                "AutoCreation.ConversationServiceSid",
                text(&self.auto_creation_conversation_service_sid),
            ),
            (
                "AutoCreation.WebhookUrl",
                text(&self.auto_creation_webhook_url),
            ),
            (
                "AutoCreation.WebhookMethod",
                text(&self.auto_creation_webhook_method),
            ),
        ];
        form.extend(
            self.auto_creation_webhook_filters
                .iter()
                .map(|filter| ("AutoCreation.WebhookFilters", Some(filter.clone()))),
        );
        form.extend([
            (
                "AutoCreation.StudioFlowSid",
                text(&self.auto_creation_studio_flow_sid),
            ),
            (
                "AutoCreation.StudioRetryCount",
                self.auto_creation_studio_retry_count.map(|n| n.to_string()),
            ),
            ("AddressCountry", text(&self.address_country)),
        ]);
        form.into_iter()
            .filter_map(|(name, value)| Some((name, value?)))
            .collect()
    }
}

/// `CreateWebChannelRequest` of `POST /v2/WebChats` (the `Ui-Version` header is a separate
/// argument of the client's call).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WebChatParams {
    /// An address configuration (`IG…`) of type `chat`.
    pub address_sid: String,
    pub chat_friendly_name: Option<String>,
    pub customer_friendly_name: Option<String>,
    /// A JSON text of at most 16 KB (Twilio refuses more with error 45731).
    pub pre_engagement_data: Option<String>,
    /// The guest's identity; Twilio makes one up when absent.
    pub identity: Option<String>,
}

impl WebChatParams {
    /// `(Twilio parameter name, value)` for every set field, in the spec's order.
    pub fn to_form(&self) -> Vec<(&'static str, String)> {
        [
            ("AddressSid", Some(self.address_sid.clone())),
            ("ChatFriendlyName", self.chat_friendly_name.clone()),
            ("CustomerFriendlyName", self.customer_friendly_name.clone()),
            ("PreEngagementData", self.pre_engagement_data.clone()),
            ("Identity", self.identity.clone()),
        ]
        .into_iter()
        .filter_map(|(name, value)| Some((name, value?)))
        .collect()
    }
}

/// `flex.v2.web_channel`: the conversation a web chat opened and the guest's identity.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebChat {
    pub conversation_sid: String,
    #[serde(default)]
    pub identity: Option<String>,
}

/// `conversations.v1.conversation.conversation_message`, in the key order of Twilio's examples.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Message {
    pub sid: String,
    #[serde(default)]
    pub account_sid: Option<String>,
    #[serde(default)]
    pub conversation_sid: Option<String>,
    #[serde(default)]
    pub body: Option<String>,
    /// Media descriptions; `null` when the message has none.
    #[serde(default)]
    pub media: Option<serde_json::Value>,
    #[serde(default)]
    pub author: Option<String>,
    /// The author's participant (`MB…`); `null` for a message sent as `system` or by an author
    /// who is not a participant.
    #[serde(default)]
    pub participant_sid: Option<String>,
    /// A JSON text; `"{}"` when none was given.
    #[serde(default)]
    pub attributes: Option<String>,
    #[serde(default)]
    pub date_created: Option<String>,
    #[serde(default)]
    pub date_updated: Option<String>,
    #[serde(default)]
    pub index: Option<u64>,
    /// Delivery summary for non-chat participants; `null` in a web chat.
    #[serde(default)]
    pub delivery: Option<serde_json::Value>,
    #[serde(default)]
    pub content_sid: Option<String>,
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub links: Option<MessageLinks>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageLinks {
    #[serde(default)]
    pub delivery_receipts: Option<String>,
    #[serde(default)]
    pub channel_metadata: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn address_params_use_twilios_dotted_names_and_repeat_filters() {
        let params = AddressParams {
            address_type: Some("chat".into()),
            address: Some("acme-fr".into()),
            auto_creation_enabled: Some(false),
            auto_creation_webhook_filters: vec![
                "onMessageAdded".into(),
                "onDeliveryUpdated".into(),
            ],
            auto_creation_studio_retry_count: Some(2),
            ..AddressParams::default()
        };
        let form = params.to_form();
        let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
        assert_eq!(
            form,
            [
                ("Type", "chat"),
                ("Address", "acme-fr"),
                ("AutoCreation.Enabled", "false"),
                ("AutoCreation.WebhookFilters", "onMessageAdded"),
                ("AutoCreation.WebhookFilters", "onDeliveryUpdated"),
                ("AutoCreation.StudioRetryCount", "2"),
            ]
        );
    }

    #[test]
    fn web_chat_params_always_send_the_address() {
        let params = WebChatParams {
            address_sid: "IGx".into(),
            identity: Some("guest".into()),
            ..WebChatParams::default()
        };
        assert_eq!(
            params.to_form(),
            [
                ("AddressSid", "IGx".to_string()),
                ("Identity", "guest".into())
            ]
        );
    }
}
