//! Conversations `POST /v1/Conversations/{ConversationSid}/Messages` (CreateConversationMessage)
//! into the conversations web chats opened. The `X-Twilio-Webhook-Enabled` header is recorded:
//! whether Twilio would have called the conversation's webhooks (the agent's Flex UI learns of
//! a message that way).

use std::time::SystemTime;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::IntoResponse;
use http::{HeaderMap, StatusCode, Uri};

use super::answer::{Answer, base_url, error, not_found_at};
use super::chats::RecordedMessage;
use super::form::{Form, invalid, missing, parse_flag, request_form};
use super::{Emulator, Op, time};
use crate::twilio::conversations::{Message, MessageLinks};

/// "The content of the message, can be up to 1,600 characters long."
const MAX_BODY_CHARS: usize = 1600;

pub async fn create(
    State(emulator): State<Emulator>,
    headers: HeaderMap,
    uri: Uri,
    Path(conversation_sid): Path<String>,
    body: Bytes,
) -> Answer {
    let fail_after_applying = emulator.count_create(Op::MessageCreate)?;
    if emulator.chats().web_chat(&conversation_sid).is_none() {
        return Err(not_found_at(uri.path()).into());
    }
    // `conversation_message_enum_webhook_enabled_type`: "true" or "false" (any case, as every
    // boolean Twilio reads); absent means false.
    let webhook_enabled = match headers.get("x-twilio-webhook-enabled") {
        None => false,
        Some(value) => parse_flag(
            "X-Twilio-Webhook-Enabled",
            value.to_str().unwrap_or_default(),
        )
        .map_err(error)?,
    };
    let pairs = request_form(&headers, &body);
    let form = Form::new(&pairs);
    let media_sid = form.sid("MediaSid", "ME").map_err(error)?;
    let content_sid = form.sid("ContentSid", "HX").map_err(error)?;
    let text = form.text("Body");
    if text.is_none() && media_sid.is_none() && content_sid.is_none() {
        return Err(error(missing("Body")).into());
    }
    if text
        .as_ref()
        .is_some_and(|t| t.chars().count() > MAX_BODY_CHARS)
    {
        return Err(error(invalid("Body", "longer than 1600 characters")).into());
    }
    let attributes = form.text("Attributes").unwrap_or_else(|| "{}".to_string());
    if serde_json::from_str::<serde_json::Value>(&attributes).is_err() {
        return Err(error(invalid("Attributes", "must be JSON")).into());
    }
    let author = form
        .text("Author")
        .filter(|a| !a.is_empty())
        .unwrap_or_else(|| "system".to_string());
    let sid = emulator.chats().sid("IM");
    let url = format!(
        "{}/v1/Conversations/{conversation_sid}/Messages/{sid}",
        base_url(&headers, &uri)
    );
    let now = time::rfc3339(SystemTime::now());
    let account_sid = emulator.account_sid().to_string();
    let posted = emulator.chats().post(&conversation_sid, |index, chat| {
        let message = Message {
            sid,
            account_sid: Some(account_sid),
            conversation_sid: Some(conversation_sid.clone()),
            body: text,
            media: media_sid.map(|sid| serde_json::json!([{ "sid": sid }])),
            // Only the guest is a participant here; anyone else writes as a non-participant.
            participant_sid: (author == chat.identity).then(|| chat.participant_sid.clone()),
            author: Some(author),
            attributes: Some(attributes),
            date_created: Some(now.clone()),
            date_updated: Some(now),
            index: Some(index),
            delivery: None,
            content_sid,
            links: Some(MessageLinks {
                delivery_receipts: Some(format!("{url}/Receipts")),
                channel_metadata: Some(format!("{url}/ChannelMetadata")),
            }),
            url: Some(url),
        };
        RecordedMessage {
            message,
            webhook_enabled,
        }
    });
    let posted = posted.ok_or_else(|| not_found_at(uri.path()))?;
    emulator.created(fail_after_applying)?;
    Ok((StatusCode::CREATED, Json(posted.message)).into_response())
}
