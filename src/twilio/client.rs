//! The Flex API client: one shared `reqwest::Client` (rustls, connect and request timeouts),
//! one method per call, each timed into `flexroute_upstream_*`, Twilio's error body mapped to
//! [`TwilioError`].

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde::de::DeserializeOwned;

use super::Credentials;
use super::types::{ErrorBody, FlexFlow, FlexFlowPage, FlexFlowParams};
use crate::metrics::Metrics;

/// Largest page Twilio serves; fewer round trips when a name has many flows.
const PAGE_SIZE: u32 = 1000;
/// Pages followed at most, so that a misbehaving upstream cannot keep us paging forever
/// (a million flows at Twilio's page size).
const MAX_PAGES: usize = 1000;

#[derive(Debug, Clone, thiserror::Error)]
pub enum TwilioError {
    #[error("Twilio rejected the credentials (code {code:?})")]
    Unauthorized { code: Option<u32> },
    #[error("Twilio is rate limiting (code {code:?})")]
    RateLimited {
        code: Option<u32>,
        retry_after: Option<Duration>,
    },
    #[error("not found at Twilio: {message}")]
    NotFound { message: String },
    #[error("Twilio refused the request ({status}, code {code:?}): {message}")]
    Rejected {
        status: u16,
        code: Option<u32>,
        message: String,
    },
    #[error("Twilio failed ({status}, code {code:?}): {message}")]
    Upstream {
        status: u16,
        code: Option<u32>,
        message: String,
        retry_after: Option<Duration>,
    },
    #[error("Twilio did not answer in time")]
    Timeout,
    #[error("cannot reach Twilio: {0}")]
    Transport(String),
    #[error("unexpected answer from Twilio: {0}")]
    Decode(String),
}

impl TwilioError {
    /// Worth retrying after a back-off: throttling, server errors, and network trouble.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Self::RateLimited { .. } | Self::Upstream { .. } | Self::Timeout | Self::Transport(_)
        )
    }

    /// Whether a create that failed this way may still have happened at Twilio, so that a
    /// retry must first look the address up (a 429 means "not processed").
    pub fn may_have_applied(&self) -> bool {
        matches!(
            self,
            Self::Upstream { .. } | Self::Timeout | Self::Transport(_)
        )
    }

    /// How long Twilio asked us to wait, if it said.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::RateLimited { retry_after, .. } | Self::Upstream { retry_after, .. } => {
                *retry_after
            }
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpstreamOp {
    List,
    Fetch,
    Create,
    Update,
    Delete,
}

impl UpstreamOp {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::List => "list",
            Self::Fetch => "fetch",
            Self::Create => "create",
            Self::Update => "update",
            Self::Delete => "delete",
        }
    }
}

#[derive(Clone)]
pub struct FlexApiClient {
    http: reqwest::Client,
    /// `https://flex-api.twilio.com` or the emulator's URL, without a trailing slash.
    base: String,
    credentials: Credentials,
    metrics: Metrics,
    page_size: u32,
}

impl std::fmt::Debug for FlexApiClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FlexApiClient")
            .field("base", &self.base)
            .field("credentials", &self.credentials)
            .finish()
    }
}

impl FlexApiClient {
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
        Ok(Self {
            http,
            base: base.trim_end_matches('/').to_string(),
            credentials,
            metrics,
            page_size: PAGE_SIZE,
        })
    }

    /// Asks for smaller pages than Twilio's maximum (tests of paging).
    pub fn with_page_size(mut self, page_size: u32) -> Self {
        self.page_size = page_size.clamp(1, PAGE_SIZE);
        self
    }

    /// Every flow, or those named `friendly_name`, following `next_page_url` to the end.
    pub async fn list(&self, friendly_name: Option<&str>) -> Result<Vec<FlexFlow>, TwilioError> {
        let mut url = reqwest::Url::parse(&format!("{}/v1/FlexFlows", self.base))
            .map_err(|e| TwilioError::Decode(format!("bad base URL: {e}")))?;
        {
            let mut query = url.query_pairs_mut();
            if let Some(name) = friendly_name {
                query.append_pair("FriendlyName", name);
            }
            query.append_pair("PageSize", &self.page_size.to_string());
        }
        let mut flows = Vec::new();
        let mut next = Some(url.to_string());
        for _ in 0..MAX_PAGES {
            let Some(page_url) = next.take() else {
                return Ok(flows);
            };
            // Credentials go only to the origin we were configured with.
            if !self.same_origin(&page_url) {
                return Err(TwilioError::Decode(
                    "next_page_url points away from the configured Flex API".into(),
                ));
            }
            let page: FlexFlowPage = self
                .call(UpstreamOp::List, self.http.get(&page_url))
                .await?;
            flows.extend(page.flex_flows);
            next = page.meta.next_page_url;
        }
        Err(TwilioError::Decode(format!(
            "more than {MAX_PAGES} pages of flex flows"
        )))
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

    fn same_origin(&self, url: &str) -> bool {
        match (reqwest::Url::parse(url), reqwest::Url::parse(&self.base)) {
            (Ok(url), Ok(base)) => url.origin() == base.origin() && url.username().is_empty(),
            _ => false,
        }
    }

    fn flow_url(&self, sid: &str) -> String {
        // SIDs are validated hex; encode anyway so a bad one cannot change the path.
        let sid: String = form_urlencoded::byte_serialize(sid.as_bytes()).collect();
        format!("{}/v1/FlexFlows/{sid}", self.base)
    }

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

fn transport(e: reqwest::Error) -> TwilioError {
    if e.is_timeout() {
        TwilioError::Timeout
    } else {
        // reqwest's Display never includes the credentials (they are in a header).
        TwilioError::Transport(e.to_string())
    }
}

fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let value = headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?;
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}

fn map_error(status: StatusCode, body: &[u8], retry_after: Option<Duration>) -> TwilioError {
    let parsed: Option<ErrorBody> = serde_json::from_slice(body).ok();
    let code = parsed.as_ref().and_then(|b| b.code);
    let message = parsed
        .and_then(|b| b.message)
        .unwrap_or_else(|| status.canonical_reason().unwrap_or("").to_string());
    match status.as_u16() {
        401 | 403 => TwilioError::Unauthorized { code },
        404 => TwilioError::NotFound { message },
        429 => TwilioError::RateLimited { code, retry_after },
        s if s >= 500 => TwilioError::Upstream {
            status: s,
            code,
            message,
            retry_after,
        },
        s => TwilioError::Rejected {
            status: s,
            code,
            message,
        },
    }
}

// TEMPORARY: replaced by the emulator branch's real methods at merge.
impl FlexApiClient {
    pub async fn list_chat_addresses(
        &self,
    ) -> Result<Vec<super::conversations::AddressConfiguration>, TwilioError> {
        Err(TwilioError::Transport("not yet".into()))
    }
    pub async fn create_address(
        &self,
        _params: &super::conversations::AddressParams,
    ) -> Result<super::conversations::AddressConfiguration, TwilioError> {
        Err(TwilioError::Transport("not yet".into()))
    }
    pub async fn fetch_address(
        &self,
        _sid: &str,
    ) -> Result<super::conversations::AddressConfiguration, TwilioError> {
        Err(TwilioError::Transport("not yet".into()))
    }
    pub async fn update_address(
        &self,
        _sid: &str,
        _params: &super::conversations::AddressParams,
    ) -> Result<super::conversations::AddressConfiguration, TwilioError> {
        Err(TwilioError::Transport("not yet".into()))
    }
    pub fn with_conversations_base(self, _base: &str) -> Self {
        self
    }
    pub async fn create_web_chat(
        &self,
        _params: &super::conversations::WebChatParams,
        _ui: Option<&str>,
    ) -> Result<super::conversations::WebChat, TwilioError> {
        Err(TwilioError::Transport("not yet".into()))
    }
    pub async fn post_message(
        &self,
        _c: &str,
        _a: &str,
        _b: &str,
    ) -> Result<super::conversations::Message, TwilioError> {
        Err(TwilioError::Transport("not yet".into()))
    }
}
