//! Conversations `GET /v1/Conversations/{Sid}` (FetchConversation) for the conversations that
//! `POST /v2/WebChats` opened: what a developer (or a test) reads to see what a visitor's chat
//! started with. The pre-engagement data is in the conversation's `attributes` as
//! `pre_engagement_data`, where a Studio flow reads it (`trigger.conversation.ChannelAttributes`).

use std::time::SystemTime;

use axum::Json;
use axum::extract::{Path, State};
use axum::response::IntoResponse;
use http::{HeaderMap, Uri};
use serde_json::json;

use super::answer::{Answer, base_url, not_found_at};
use super::{Emulator, Op, time};

pub async fn fetch(
    State(emulator): State<Emulator>,
    headers: HeaderMap,
    uri: Uri,
    Path(sid): Path<String>,
) -> Answer {
    if let Some(failure) = emulator.count_call(Op::ConversationFetch) {
        return Err(failure.into());
    }
    let chat = emulator
        .chats()
        .web_chat(&sid)
        .ok_or_else(|| not_found_at(uri.path()))?;
    let service = emulator
        .address_store()
        .get(&chat.address_sid)
        .and_then(|a| a.auto_creation)
        .and_then(|auto| auto.conversation_service_sid);
    let attributes = json!({ "pre_engagement_data": chat.pre_engagement_data });
    let url = format!("{}/v1/Conversations/{sid}", base_url(&headers, &uri));
    let now = time::rfc3339(SystemTime::now());
    Ok(Json(json!({
        "account_sid": emulator.account_sid(),
        "chat_service_sid": service,
        "messaging_service_sid": null,
        "sid": sid,
        "friendly_name": chat.chat_friendly_name,
        "unique_name": null,
        "attributes": attributes.to_string(),
        "state": "active",
        "date_created": now,
        "date_updated": now,
        "timers": {},
        "url": url,
        "links": {
            "participants": format!("{url}/Participants"),
            "messages": format!("{url}/Messages"),
            "webhooks": format!("{url}/Webhooks"),
        },
        "bindings": null,
    }))
    .into_response())
}
