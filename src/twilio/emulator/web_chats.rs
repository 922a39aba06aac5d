//! Flex v2 `POST /v2/WebChats` (CreateWebChannel): opens a conversation for a guest on a chat
//! address configuration, as the Flex web chat widget does when a visitor starts chatting.
//!
//! Twilio validates the address configuration here, not when it is created, and documents the
//! error codes (45760–45765) but not their HTTP status. The emulator answers them with 400, as
//! every other refused parameter; 45765 covers an unknown SID and an address configuration that
//! is not of type `chat` (there is no *chat* address data for it).

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::response::IntoResponse;
use http::{HeaderMap, StatusCode};

use super::answer::{Answer, error};
use super::chats::RecordedWebChat;
use super::form::{Form, invalid, missing, request_form};
use super::{Emulator, Op};
use crate::twilio::conversations::{AddressConfiguration, WebChat};
use crate::twilio::types::ErrorBody;

/// Error 45731: "Pre engagement data is over the maximum allowed size of 16KB."
pub const MAX_PRE_ENGAGEMENT_BYTES: usize = 16 * 1024;

pub async fn create(State(emulator): State<Emulator>, headers: HeaderMap, body: Bytes) -> Answer {
    let fail_after_applying = emulator.count_create(Op::WebChatCreate)?;
    let pairs = request_form(&headers, &body);
    let form = Form::new(&pairs);
    let address_sid = form
        .get("AddressSid")
        .filter(|v| !v.is_empty())
        .ok_or_else(|| error(missing("AddressSid")))?;
    let pre_engagement_data = form
        .get("PreEngagementData")
        .map(pre_engagement)
        .transpose()
        .map_err(error)?;
    let address = emulator
        .address_store()
        .get(address_sid)
        .filter(|a| a.r#type.as_deref() == Some("chat"));
    let address = address.ok_or_else(|| {
        error(flex_error(
            45765,
            format!("Address configuration data not found for {address_sid}"),
        ))
    })?;
    usable(&address).map_err(error)?;
    let identity = form
        .text("Identity")
        .filter(|i| !i.is_empty())
        .unwrap_or_else(|| emulator.chats().identity());
    let chat = RecordedWebChat {
        conversation_sid: emulator.chats().sid("CH"),
        participant_sid: emulator.chats().sid("MB"),
        address_sid: address.sid,
        identity: identity.clone(),
        chat_friendly_name: form.text("ChatFriendlyName"),
        customer_friendly_name: form.text("CustomerFriendlyName"),
        pre_engagement_data,
        ui_version: headers
            .get("ui-version")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string),
    };
    let answer = WebChat {
        conversation_sid: chat.conversation_sid.clone(),
        identity: Some(identity),
    };
    emulator.chats().open(chat);
    emulator.created(fail_after_applying)?;
    Ok((StatusCode::CREATED, Json(answer)).into_response())
}

/// At most 16 KB (45731), and JSON: Flex keeps it as the conversation's attributes, which
/// "must contain structurally valid JSON".
fn pre_engagement(text: &str) -> Result<serde_json::Value, ErrorBody> {
    if text.len() > MAX_PRE_ENGAGEMENT_BYTES {
        return Err(flex_error(
            45731,
            "Failed to create webchat conversation. Pre-engagement data too large.",
        ));
    }
    serde_json::from_str(text).map_err(|_| invalid("PreEngagementData", "must be JSON"))
}

/// The checks Flex makes of the address configuration, with the codes it documents for them.
fn usable(address: &AddressConfiguration) -> Result<(), ErrorBody> {
    let Some(auto) = &address.auto_creation else {
        return Err(flex_error(
            45760,
            "Unable to validate address configuration. Auto create data missing.",
        ));
    };
    if auto.enabled != Some(true) {
        return Err(flex_error(
            45761,
            "Failed to validate address configuration. Auto create not enabled.",
        ));
    }
    match auto.r#type.as_deref() {
        Some("studio") if auto.studio_flow_sid.is_none() => Err(flex_error(
            45763,
            "Unable to validate address configuration. Auto create studio flow SID missing.",
        )),
        Some("webhook") if auto.webhook_url.is_none() => Err(flex_error(
            45764,
            "Unable to validate address configuration. Auto create webhook URL missing.",
        )),
        Some("studio" | "webhook" | "default") => Ok(()),
        _ => Err(flex_error(
            45762,
            "Failed to validate address configuration. Auto create type is empty or invalid.",
        )),
    }
}

fn flex_error(code: u32, message: impl Into<String>) -> ErrorBody {
    ErrorBody::new(code, message, 400)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::twilio::conversations::AutoCreation;

    fn code(address: &AddressConfiguration) -> Option<u32> {
        usable(address).err().and_then(|e| e.code)
    }

    #[test]
    fn the_address_must_auto_create_with_what_its_type_needs() {
        let mut address = AddressConfiguration::default();
        assert_eq!(code(&address), Some(45760));
        let mut auto = AutoCreation {
            enabled: Some(false),
            r#type: Some("studio".into()),
            ..AutoCreation::default()
        };
        address.auto_creation = Some(auto.clone());
        assert_eq!(code(&address), Some(45761));
        auto.enabled = Some(true);
        address.auto_creation = Some(auto.clone());
        assert_eq!(code(&address), Some(45763));
        auto.studio_flow_sid = Some("FWx".into());
        address.auto_creation = Some(auto.clone());
        assert_eq!(code(&address), None);
        auto.r#type = Some("webhook".into());
        address.auto_creation = Some(auto.clone());
        assert_eq!(code(&address), Some(45764));
        auto.r#type = None;
        address.auto_creation = Some(auto);
        assert_eq!(code(&address), Some(45762));
    }

    #[test]
    fn pre_engagement_data_is_json_of_at_most_16_kb() {
        let exactly = format!("\"{}\"", "x".repeat(MAX_PRE_ENGAGEMENT_BYTES - 2));
        assert!(pre_engagement(&exactly).is_ok());
        let over = format!("\"{}\"", "x".repeat(MAX_PRE_ENGAGEMENT_BYTES - 1));
        assert_eq!(pre_engagement(&over).unwrap_err().code, Some(45731));
        assert_eq!(pre_engagement("{nope").unwrap_err().code, Some(20001));
        assert_eq!(
            pre_engagement(r#"{"email": "a@b.c"}"#).unwrap()["email"],
            "a@b.c"
        );
    }
}
