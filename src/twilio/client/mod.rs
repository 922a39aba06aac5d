//! The Twilio client: one shared `reqwest::Client` (rustls, connect and request timeouts) for
//! the Flex API and the Conversations API, one method per call, each timed into
//! `flexroute_upstream_*`, Twilio's error body mapped to [`TwilioError`]. The Flex Flow calls
//! are here, the Flex Conversations ones in `conversations.rs`.

mod conversations;
mod error;
mod urls;

use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;

pub use self::error::TwilioError;
use self::error::{map_error, retry_after, transport};
use self::urls::{conversations_base_for, path_segment, same_origin};
use super::Credentials;
use super::types::{FlexFlow, FlexFlowPage, FlexFlowParams};
use crate::metrics::Metrics;

/// Largest page Twilio serves; fewer round trips when a name has many flows.
const PAGE_SIZE: u32 = 1000;
/// Pages followed at most, so that a misbehaving upstream cannot keep us paging forever
/// (a million flows at Twilio's page size).
const MAX_PAGES: usize = 1000;

/// A call, as the `op` label of `flexroute_upstream_requests_total` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpstreamOp {
    List,
    Fetch,
    Create,
    Update,
    Delete,
    AddressList,
    AddressFetch,
    AddressCreate,
    AddressUpdate,
    AddressDelete,
    WebChatCreate,
    MessageCreate,
}

impl UpstreamOp {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::List => "list",
            Self::Fetch => "fetch",
            Self::Create => "create",
            Self::Update => "update",
            Self::Delete => "delete",
            Self::AddressList => "address_list",
            Self::AddressFetch => "address_fetch",
            Self::AddressCreate => "address_create",
            Self::AddressUpdate => "address_update",
            Self::AddressDelete => "address_delete",
            Self::WebChatCreate => "webchat_create",
            Self::MessageCreate => "message_create",
        }
    }
}

#[derive(Clone)]
pub struct FlexApiClient {
    http: reqwest::Client,
    /// `https://flex-api.twilio.com` or the emulator's URL, without a trailing slash.
    base: String,
    /// The same, parsed: paging compares origins with it.
    base_url: reqwest::Url,
    /// `https://conversations.twilio.com` or the emulator's URL, without a trailing slash.
    conversations_base: String,
    conversations_url: reqwest::Url,
    credentials: Credentials,
    metrics: Metrics,
    page_size: u32,
}

impl std::fmt::Debug for FlexApiClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FlexApiClient")
            .field("base", &self.base)
            .field("conversations_base", &self.conversations_base)
            .field("credentials", &self.credentials)
            .finish()
    }
}

impl FlexApiClient {
    /// A client of the Flex API at `base`. The Conversations API is at the matching Twilio host
    /// when `base` is Twilio's (see [`FlexApiClient::with_conversations_base`]). A base that is
    /// not an `https` origin (or `http` to a loopback host) is refused here, with the reason,
    /// rather than at the first call.
    pub fn new(
        base: &str,
        credentials: Credentials,
        timeout: Duration,
        metrics: Metrics,
    ) -> Result<Self, TwilioError> {
        let http = reqwest::Client::builder()
            .connect_timeout(timeout.min(Duration::from_secs(5)))
            .timeout(timeout)
            .user_agent(concat!("flexroute/", env!("CARGO_PKG_VERSION")))
            // Twilio does not redirect; following one would bypass the paging origin check.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| TwilioError::Transport(e.to_string()))?;
        let (base, base_url) = parse_base(base)?;
        let (conversations_base, conversations_url) = parse_base(&conversations_base_for(&base))?;
        Ok(Self {
            http,
            base,
            base_url,
            conversations_base,
            conversations_url,
            credentials,
            metrics,
            page_size: PAGE_SIZE,
        })
    }

    /// Asks for smaller pages than Twilio's maximum (tests of paging). Lists whose maximum is
    /// smaller (address configurations: 50) ask for at most their maximum.
    pub fn with_page_size(mut self, page_size: u32) -> Self {
        self.page_size = page_size.clamp(1, PAGE_SIZE);
        self
    }

    /// Sends the Conversations API calls to `base` (the emulator serves both APIs at one
    /// address). Without it: `https://conversations.twilio.com` when the Flex base is
    /// `https://flex-api.twilio.com` (and likewise for Twilio's edge hosts), else the Flex
    /// base itself, so that a client pointed at an emulator never sends its credentials to
    /// Twilio by default.
    pub fn with_conversations_base(mut self, base: &str) -> Result<Self, TwilioError> {
        (self.conversations_base, self.conversations_url) = parse_base(base)?;
        Ok(self)
    }

    /// Where the Conversations API calls go, without a trailing slash.
    pub fn conversations_base(&self) -> &str {
        &self.conversations_base
    }

    /// Every flow, or those named `friendly_name`, following `next_page_url` to the end.
    pub async fn list(&self, friendly_name: Option<&str>) -> Result<Vec<FlexFlow>, TwilioError> {
        let mut query = vec![];
        if let Some(name) = friendly_name {
            query.push(("FriendlyName", name.to_string()));
        }
        query.push(("PageSize", self.page_size.to_string()));
        self.all_pages(
            UpstreamOp::List,
            &self.base_url,
            "/v1/FlexFlows",
            &query,
            |page: FlexFlowPage| (page.flex_flows, page.meta.next_page_url),
        )
        .await
    }

    pub async fn fetch(&self, sid: &str) -> Result<FlexFlow, TwilioError> {
        let request = self.http.get(self.flow_url(sid));
        self.call(UpstreamOp::Fetch, request).await
    }

    pub async fn create(&self, params: &FlexFlowParams) -> Result<FlexFlow, TwilioError> {
        let request = self
            .http
            .post(format!("{}/v1/FlexFlows", self.base))
            .form(&params.to_form());
        self.call(UpstreamOp::Create, request).await
    }

    pub async fn update(
        &self,
        sid: &str,
        params: &FlexFlowParams,
    ) -> Result<FlexFlow, TwilioError> {
        let request = self.http.post(self.flow_url(sid)).form(&params.to_form());
        self.call(UpstreamOp::Update, request).await
    }

    pub async fn delete(&self, sid: &str) -> Result<(), TwilioError> {
        let request = self.http.delete(self.flow_url(sid));
        self.send(UpstreamOp::Delete, request).await.map(|_| ())
    }

    /// Every item of the list at `base` + `path` with `query`, following `next_page_url` (of
    /// the same origin only) for at most [`MAX_PAGES`] pages; `split` takes a page apart into
    /// its items and its `next_page_url`.
    async fn all_pages<P: DeserializeOwned, T>(
        &self,
        op: UpstreamOp,
        base: &reqwest::Url,
        path: &str,
        query: &[(&str, String)],
        split: impl Fn(P) -> (Vec<T>, Option<String>),
    ) -> Result<Vec<T>, TwilioError> {
        let mut url = base.clone();
        url.set_path(path);
        url.query_pairs_mut().extend_pairs(query);
        let mut items = Vec::new();
        let mut next = Some(url.to_string());
        for _ in 0..MAX_PAGES {
            let Some(page_url) = next.take() else {
                return Ok(items);
            };
            // Credentials go only to the origin we were configured with.
            if !same_origin(&page_url, base) {
                return Err(TwilioError::Decode(format!(
                    "next_page_url points away from the configured API ({})",
                    base.as_str().trim_end_matches('/')
                )));
            }
            let page: P = self.call(op, self.http.get(&page_url)).await?;
            let (found, next_page_url) = split(page);
            items.extend(found);
            next = next_page_url;
        }
        Err(TwilioError::Decode(format!(
            "more than {MAX_PAGES} pages of {path}"
        )))
    }

    fn flow_url(&self, sid: &str) -> String {
        // SIDs are validated hex; encode anyway so a bad one cannot change the path.
        format!("{}/v1/FlexFlows/{}", self.base, path_segment(sid))
    }

    /// Sends, and reads a 2xx answer's body as `T`.
    async fn call<T: DeserializeOwned>(
        &self,
        op: UpstreamOp,
        request: reqwest::RequestBuilder,
    ) -> Result<T, TwilioError> {
        let body = self.send(op, request).await?;
        serde_json::from_slice(&body).map_err(|e| TwilioError::Decode(e.to_string()))
    }

    /// Sends with credentials, records the metrics, and maps non-2xx answers.
    async fn send(
        &self,
        op: UpstreamOp,
        request: reqwest::RequestBuilder,
    ) -> Result<bytes::Bytes, TwilioError> {
        let started = Instant::now();
        let request =
            request.basic_auth(&self.credentials.username, Some(self.credentials.secret()));
        let result = match request.send().await {
            Ok(response) => {
                let status = response.status();
                let retry_after = retry_after(response.headers());
                match response.bytes().await {
                    Ok(body) if status.is_success() => Ok(body),
                    Ok(body) => Err(map_error(status, &body, retry_after)),
                    Err(e) => Err(transport(e)),
                }
                .map_err(|e| (Some(status), e))
            }
            Err(e) => Err((None, transport(e))),
        };
        let label = match &result {
            Ok(_) => "2xx".to_string(),
            Err((Some(status), _)) => status.as_u16().to_string(),
            Err((None, TwilioError::Timeout)) => "timeout".to_string(),
            Err((None, _)) => "error".to_string(),
        };
        self.metrics
            .upstream_requests
            .with_label_values(&[op.as_str(), &label])
            .inc();
        self.metrics
            .upstream_duration
            .with_label_values(&[op.as_str()])
            .observe(started.elapsed().as_secs_f64());
        result.map_err(|(_, e)| e)
    }
}

/// A base URL as the client keeps it: its text without a trailing slash (paths are appended to
/// it), and parsed. Checked as configuration checks it.
fn parse_base(base: &str) -> Result<(String, reqwest::Url), TwilioError> {
    let url = crate::config::urls::check_api_base(base).map_err(TwilioError::InvalidBase)?;
    Ok((url.as_str().trim_end_matches('/').to_string(), url))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_base_that_is_not_an_https_origin_is_refused_at_construction() {
        let client = |base: &str| {
            FlexApiClient::new(
                base,
                Credentials::new("AC1", "token"),
                Duration::from_secs(1),
                Metrics::new(),
            )
        };
        for base in ["https:", "https://", "http://[::1", "http://flex.example"] {
            match client(base) {
                Err(TwilioError::InvalidBase(message)) => {
                    assert!(!message.contains("next_page_url"), "{message}")
                }
                other => panic!("{base}: {other:?}"),
            }
        }
        let local = client("http://127.0.0.1:4010/").unwrap();
        assert_eq!(local.conversations_base(), "http://127.0.0.1:4010");
        assert!(matches!(
            local.with_conversations_base("https://"),
            Err(TwilioError::InvalidBase(_))
        ));
    }

    #[test]
    fn op_labels_are_distinct() {
        let ops = [
            UpstreamOp::List,
            UpstreamOp::Fetch,
            UpstreamOp::Create,
            UpstreamOp::Update,
            UpstreamOp::Delete,
            UpstreamOp::AddressList,
            UpstreamOp::AddressFetch,
            UpstreamOp::AddressCreate,
            UpstreamOp::AddressUpdate,
            UpstreamOp::AddressDelete,
            UpstreamOp::WebChatCreate,
            UpstreamOp::MessageCreate,
        ];
        let labels: std::collections::BTreeSet<_> = ops.iter().map(|op| op.as_str()).collect();
        assert_eq!(labels.len(), ops.len());
    }
}
