//! The Flex Conversations calls: address configurations on the Conversations API, web chats on
//! the Flex API (v2), and messages into a conversation. Same client, timeouts, error mapping
//! and metrics as the Flex Flow calls.

use super::{FlexApiClient, UpstreamOp, path_segment};
use crate::twilio::client::TwilioError;
use crate::twilio::conversations::{
    AddressConfiguration, AddressConfigurationPage, AddressParams, Message, WebChat, WebChatParams,
};

/// The largest page of address configurations Twilio serves ("the maximum is 50").
const ADDRESS_PAGE_SIZE: u32 = 50;

const ADDRESSES: &str = "/v1/Configuration/Addresses";

impl FlexApiClient {
    /// Every address configuration of type `chat`, following `next_page_url` to the end (at
    /// most [`MAX_PAGES`](super::MAX_PAGES) pages, of the Conversations API's origin only).
    pub async fn list_chat_addresses(&self) -> Result<Vec<AddressConfiguration>, TwilioError> {
        let page_size = self.page_size.min(ADDRESS_PAGE_SIZE);
        let query = [
            ("Type", "chat".to_string()),
            ("PageSize", page_size.to_string()),
        ];
        self.all_pages(
            UpstreamOp::AddressList,
            &self.conversations_url,
            ADDRESSES,
            &query,
            |page: AddressConfigurationPage| (page.address_configurations, page.meta.next_page_url),
        )
        .await
    }

    /// The address configuration with this SID (`IG…`) or this address.
    pub async fn fetch_address(
        &self,
        sid_or_address: &str,
    ) -> Result<AddressConfiguration, TwilioError> {
        let request = self.http.get(self.address_url(sid_or_address)?);
        self.call(UpstreamOp::AddressFetch, request).await
    }

    pub async fn create_address(
        &self,
        params: &AddressParams,
    ) -> Result<AddressConfiguration, TwilioError> {
        let request = self
            .http
            .post(format!("{}{ADDRESSES}", self.conversations_base))
            .form(&params.to_form());
        self.call(UpstreamOp::AddressCreate, request).await
    }

    /// Updates the address configuration with this SID or address. Of `params`, Twilio reads
    /// the friendly name and the `AutoCreation.*` fields only.
    pub async fn update_address(
        &self,
        sid_or_address: &str,
        params: &AddressParams,
    ) -> Result<AddressConfiguration, TwilioError> {
        let request = self
            .http
            .post(self.address_url(sid_or_address)?)
            .form(&params.to_form());
        self.call(UpstreamOp::AddressUpdate, request).await
    }

    pub async fn delete_address(&self, sid_or_address: &str) -> Result<(), TwilioError> {
        let request = self.http.delete(self.address_url(sid_or_address)?);
        self.send(UpstreamOp::AddressDelete, request)
            .await
            .map(|_| ())
    }

    /// Opens a web chat conversation on a `chat` address configuration (`POST /v2/WebChats` on
    /// the Flex API); `ui_version` is sent as the `Ui-Version` header.
    pub async fn create_web_chat(
        &self,
        params: &WebChatParams,
        ui_version: Option<&str>,
    ) -> Result<WebChat, TwilioError> {
        let mut request = self
            .http
            .post(format!("{}/v2/WebChats", self.base))
            .form(&params.to_form());
        if let Some(version) = ui_version {
            request = request.header("Ui-Version", version);
        }
        self.call(UpstreamOp::WebChatCreate, request).await
    }

    /// Posts `body` as `author` into a conversation, with `X-Twilio-Webhook-Enabled: true` so
    /// that Twilio runs the conversation's webhooks (which is how Flex and Studio learn of it).
    pub async fn post_message(
        &self,
        conversation_sid: &str,
        author: &str,
        body: &str,
    ) -> Result<Message, TwilioError> {
        let url = format!(
            "{}/v1/Conversations/{}/Messages",
            self.conversations_base,
            segment(conversation_sid)?
        );
        let request = self
            .http
            .post(url)
            .header("X-Twilio-Webhook-Enabled", "true")
            .form(&[("Author", author), ("Body", body)]);
        self.call(UpstreamOp::MessageCreate, request).await
    }

    fn address_url(&self, sid_or_address: &str) -> Result<String, TwilioError> {
        Ok(format!(
            "{}{ADDRESSES}/{}",
            self.conversations_base,
            segment(sid_or_address)?
        ))
    }
}

/// `key` as a path segment. No URL can carry an empty or all-dots segment (URL parsers drop or
/// resolve it, which would change the resource), so such a key names nothing, without asking.
fn segment(key: &str) -> Result<String, TwilioError> {
    if key.bytes().all(|b| b == b'.') {
        return Err(TwilioError::NotFound {
            message: format!("{key:?} names no resource"),
        });
    }
    Ok(path_segment(key))
}
