//! The conversations that `POST /v2/WebChats` opened and the messages posted to them, kept in
//! order so that a test can read back exactly what a client sent.

use parking_lot::Mutex;

use super::sids::Sids;
use crate::twilio::conversations::Message;

/// One web chat as the emulator received it.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedWebChat {
    /// The conversation it opened (`CH…`).
    pub conversation_sid: String,
    /// The guest's participant in that conversation (`MB…`).
    pub participant_sid: String,
    pub address_sid: String,
    /// As given, or the one the emulator made up.
    pub identity: String,
    pub chat_friendly_name: Option<String>,
    pub customer_friendly_name: Option<String>,
    /// `PreEngagementData`, parsed; `None` when not sent.
    pub pre_engagement_data: Option<serde_json::Value>,
    /// The `Ui-Version` header.
    pub ui_version: Option<String>,
}

/// One message as the emulator answered it, and whether the request asked for webhooks
/// (`X-Twilio-Webhook-Enabled: true`).
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedMessage {
    /// `url` and `links` point at the address the client used.
    pub message: Message,
    pub webhook_enabled: bool,
}

#[derive(Debug)]
pub struct Chats {
    inner: Mutex<Inner>,
    sids: Sids,
}

#[derive(Debug, Default)]
struct Inner {
    web_chats: Vec<RecordedWebChat>,
    messages: Vec<RecordedMessage>,
}

impl Chats {
    pub fn new() -> Self {
        Self {
            inner: Mutex::new(Inner::default()),
            sids: Sids::new(),
        }
    }

    pub fn sid(&self, prefix: &str) -> String {
        self.sids.next(prefix)
    }

    /// A made-up guest identity, shaped like a UUID.
    pub fn identity(&self) -> String {
        let hex = self.sids.next("");
        format!(
            "{}-{}-{}-{}-{}",
            &hex[..8],
            &hex[8..12],
            &hex[12..16],
            &hex[16..20],
            &hex[20..32]
        )
    }

    pub fn open(&self, chat: RecordedWebChat) {
        self.inner.lock().web_chats.push(chat);
    }

    pub fn web_chat(&self, conversation_sid: &str) -> Option<RecordedWebChat> {
        let inner = self.inner.lock();
        inner
            .web_chats
            .iter()
            .find(|c| c.conversation_sid == conversation_sid)
            .cloned()
    }

    pub fn web_chats(&self) -> Vec<RecordedWebChat> {
        self.inner.lock().web_chats.clone()
    }

    /// Adds the message `make` builds from its index in the conversation (0, 1, …) and the
    /// conversation's web chat; `None` if no web chat opened that conversation.
    pub fn post(
        &self,
        conversation_sid: &str,
        make: impl FnOnce(u64, &RecordedWebChat) -> RecordedMessage,
    ) -> Option<RecordedMessage> {
        let mut inner = self.inner.lock();
        let chat = inner
            .web_chats
            .iter()
            .find(|c| c.conversation_sid == conversation_sid)?
            .clone();
        let index = inner
            .messages
            .iter()
            .filter(|m| m.message.conversation_sid.as_deref() == Some(conversation_sid))
            .count() as u64;
        let message = make(index, &chat);
        inner.messages.push(message.clone());
        Some(message)
    }

    pub fn messages(&self) -> Vec<RecordedMessage> {
        self.inner.lock().messages.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chat(sid: &str) -> RecordedWebChat {
        RecordedWebChat {
            conversation_sid: sid.into(),
            participant_sid: "MB1".into(),
            address_sid: "IG1".into(),
            identity: "guest".into(),
            chat_friendly_name: None,
            customer_friendly_name: None,
            pre_engagement_data: None,
            ui_version: None,
        }
    }

    fn message(conversation: &str, index: u64) -> RecordedMessage {
        RecordedMessage {
            message: Message {
                sid: format!("IM{index}"),
                conversation_sid: Some(conversation.into()),
                index: Some(index),
                ..Message::default()
            },
            webhook_enabled: false,
        }
    }

    #[test]
    fn indexes_count_per_conversation_and_unknown_ones_get_nothing() {
        let chats = Chats::new();
        chats.open(chat("CH1"));
        chats.open(chat("CH2"));
        let indexes: Vec<u64> = ["CH1", "CH2", "CH1", "CH1"]
            .iter()
            .map(|c| {
                chats
                    .post(c, |i, _| message(c, i))
                    .unwrap()
                    .message
                    .index
                    .unwrap()
            })
            .collect();
        assert_eq!(indexes, [0, 0, 1, 2]);
        assert!(chats.post("CH3", |i, _| message("CH3", i)).is_none());
        assert_eq!(chats.messages().len(), 4);
        assert_eq!(chats.web_chat("CH2").unwrap().conversation_sid, "CH2");
    }

    #[test]
    fn made_up_identities_look_like_uuids_and_differ() {
        let chats = Chats::new();
        let (a, b) = (chats.identity(), chats.identity());
        assert_ne!(a, b);
        let groups: Vec<usize> = a.split('-').map(str::len).collect();
        assert_eq!(groups, [8, 4, 4, 4, 12]);
    }
}
