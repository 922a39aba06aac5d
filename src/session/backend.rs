//! Starting a visitor's chat on a `conversations` address, as the server of Twilio's
//! `twilio-webchat-react-app` does, but for every site and language of the table: Flex's
//! `POST /v2/WebChats` makes the conversation and its customer participant, a signed access
//! token lets the browser join it, and the visitor's first question (the form's `query`) is
//! posted as their first message without holding the answer up.

use serde_json::{Map, Value};

use super::token::{Minted, TokenError, TokenIssuer};
use crate::table::{Address, Pair, Site};
use crate::twilio::client::{FlexApiClient, TwilioError};
use crate::twilio::conversations::{WebChat, WebChatParams};

/// Twilio's limit on `PreEngagementData` (error 45731 beyond it).
pub const MAX_PRE_ENGAGEMENT_BYTES: usize = 16 * 1024;
/// Longest customer name passed on; the form is the visitor's to fill, the agent's screen is not.
const MAX_FRIENDLY_NAME_CHARS: usize = 128;
/// What the react app's server calls a visitor who gave no name.
const DEFAULT_CUSTOMER_NAME: &str = "Customer";
/// Tries of a chat Twilio throttles, and the longest wait between them (a visitor is waiting).
const THROTTLED_TRIES: u32 = 2;
const THROTTLED_WAIT: std::time::Duration = std::time::Duration::from_millis(500);
/// Longest message body Twilio's Conversations API accepts.
const MAX_MESSAGE_CHARS: usize = 1600;
/// Sent as `Ui-Version`, as the react app sends its own version.
const UI_VERSION: &str = concat!("flexroute/", env!("CARGO_PKG_VERSION"));

/// Why a chat could not be started.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(
        "the pre-engagement data is {0} bytes; Twilio accepts at most {MAX_PRE_ENGAGEMENT_BYTES}"
    )]
    PreEngagementTooLarge(usize),
    #[error("Twilio refused to start the chat: {0}")]
    Upstream(#[from] TwilioError),
    #[error("cannot sign the visitor's token: {0}")]
    Token(#[from] TokenError),
}

/// A started chat, as `initWebchat` answers it.
#[derive(Debug)]
pub struct Started {
    pub conversation_sid: String,
    pub identity: String,
    pub token: Minted,
}

/// A visitor's form, checked and turned into what `POST /v2/WebChats` takes, before anything
/// is asked of Twilio (a form Twilio would refuse must not cost an address or a call).
#[derive(Debug)]
pub struct ChatRequest {
    customer: String,
    query: Option<String>,
    pre_engagement_data: String,
}

impl ChatRequest {
    pub fn new(
        form: Map<String, Value>,
        site: &Site,
        pair: &Pair,
    ) -> Result<ChatRequest, StartError> {
        let customer = customer_name(&form);
        let query = form
            .get("query")
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|q| !q.is_empty())
            // Twilio takes a message body of at most 1,600 characters; the whole question is
            // in the pre-engagement data anyway.
            .map(|q| q.chars().take(MAX_MESSAGE_CHARS).collect::<String>());
        let pre_engagement_data = pre_engagement_data(form, &customer, &site.id, &pair.language)?;
        Ok(ChatRequest {
            customer,
            query,
            pre_engagement_data,
        })
    }
}

/// The session backend: Twilio for the chat, the issuer for the visitor's tokens.
pub struct Sessions {
    client: FlexApiClient,
    issuer: TokenIssuer,
}

impl Sessions {
    pub fn new(client: FlexApiClient, issuer: TokenIssuer) -> Self {
        Self { client, issuer }
    }

    /// Starts the chat `request` asks for on `address`.
    pub async fn start(
        &self,
        request: ChatRequest,
        chat_name: &str,
        address: &Address,
    ) -> Result<Started, StartError> {
        let params = WebChatParams {
            address_sid: address.sid().to_string(),
            chat_friendly_name: Some(chat_name.to_string()),
            customer_friendly_name: Some(request.customer),
            pre_engagement_data: Some(request.pre_engagement_data),
            identity: None,
        };
        let chat = self.create_web_chat(&params).await?;
        // Twilio names the visitor unless told; its answer always carries the identity.
        let identity = chat
            .identity
            .filter(|i| !i.is_empty())
            .ok_or_else(|| TwilioError::Decode("the web chat has no identity".into()))?;
        let token = self.issuer.mint(&identity)?;
        if let Some(query) = request.query {
            self.post_first_message(&chat.conversation_sid, &identity, query);
        }
        Ok(Started {
            conversation_sid: chat.conversation_sid,
            identity,
            token,
        })
    }

    /// `POST /v2/WebChats`, tried again only after a 429, which Twilio answers to a request it
    /// did not process. Anything else that failed may have started a conversation (and its
    /// Studio flow, and an agent's task): a second try would leave a ghost chat in a queue, so
    /// the visitor's widget shows the error instead and the visitor tries again.
    async fn create_web_chat(&self, params: &WebChatParams) -> Result<WebChat, TwilioError> {
        let mut tries = 0;
        loop {
            tries += 1;
            match self.client.create_web_chat(params, Some(UI_VERSION)).await {
                Err(TwilioError::RateLimited { retry_after, .. }) if tries < THROTTLED_TRIES => {
                    let wait = retry_after.unwrap_or(THROTTLED_WAIT).min(THROTTLED_WAIT);
                    tokio::time::sleep(wait).await;
                }
                answer => return answer,
            }
        }
    }

    /// A new token for the identity of a token this deployment signed.
    pub fn refresh(&self, token: &str) -> Result<Minted, TokenError> {
        let verified = self.issuer.verify(token)?;
        self.issuer.mint(&verified.identity)
    }

    /// Posts the visitor's question as their first message, in the background: the answer
    /// must not wait for it, and a failure costs the agent the question, not the visitor the
    /// chat (logged with Twilio's code, never its body).
    fn post_first_message(&self, conversation_sid: &str, identity: &str, body: String) {
        let client = self.client.clone();
        let (conversation_sid, identity) = (conversation_sid.to_string(), identity.to_string());
        tokio::spawn(async move {
            if let Err(e) = client
                .post_message(&conversation_sid, &identity, &body)
                .await
            {
                tracing::warn!(%conversation_sid, "cannot post the visitor's first message: {e}");
            }
        });
    }
}

/// `formData.friendlyName` when it is a non-blank string, else "Customer" (as the react app's
/// server does), cut to a sane length.
fn customer_name(form: &Map<String, Value>) -> String {
    form.get("friendlyName")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|name| !name.is_empty())
        .map_or_else(
            || DEFAULT_CUSTOMER_NAME.to_string(),
            |name| name.chars().take(MAX_FRIENDLY_NAME_CHARS).collect(),
        )
}

/// The form as the Studio flow receives it: every field the visitor sent, with
/// `friendlyName`, `site` and `language` set by flexroute (so a flow can branch on them and a
/// visitor cannot claim another site).
pub fn pre_engagement_data(
    mut form: Map<String, Value>,
    customer: &str,
    site: &str,
    language: &str,
) -> Result<String, StartError> {
    form.insert("friendlyName".into(), Value::from(customer));
    form.insert("site".into(), Value::from(site));
    form.insert("language".into(), Value::from(language));
    let data = serde_json::to_string(&form).unwrap_or_default();
    if data.len() > MAX_PRE_ENGAGEMENT_BYTES {
        return Err(StartError::PreEngagementTooLarge(data.len()));
    }
    Ok(data)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn form(value: Value) -> Map<String, Value> {
        value.as_object().unwrap().clone()
    }

    #[test]
    fn the_customer_is_named_from_the_form_or_customer() {
        assert_eq!(
            customer_name(&form(json!({"friendlyName": " Ana "}))),
            "Ana"
        );
        assert_eq!(
            customer_name(&form(json!({"friendlyName": ""}))),
            "Customer"
        );
        assert_eq!(customer_name(&form(json!({"friendlyName": 7}))), "Customer");
        assert_eq!(customer_name(&form(json!({}))), "Customer");
        let long = "x".repeat(500);
        assert_eq!(
            customer_name(&form(json!({ "friendlyName": long }))).len(),
            128
        );
    }

    #[test]
    fn pre_engagement_data_carries_the_form_and_what_flexroute_sets() {
        let data = pre_engagement_data(
            form(json!({"email": "a@b.example", "site": "other", "query": "hi"})),
            "Ana",
            "acme",
            "fr-CA",
        )
        .unwrap();
        let parsed: Value = serde_json::from_str(&data).unwrap();
        assert_eq!(
            parsed,
            json!({"email": "a@b.example", "site": "acme", "language": "fr-CA", "query": "hi", "friendlyName": "Ana"})
        );
    }

    #[test]
    fn pre_engagement_data_over_16_kb_is_refused_before_any_call() {
        let big = "x".repeat(MAX_PRE_ENGAGEMENT_BYTES);
        let refused = pre_engagement_data(form(json!({ "notes": big })), "A", "s", "en");
        assert!(
            matches!(refused, Err(StartError::PreEngagementTooLarge(n)) if n > MAX_PRE_ENGAGEMENT_BYTES)
        );
    }
}
