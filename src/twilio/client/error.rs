//! [`TwilioError`]: Twilio's answers other than 2xx, and the network's failures, as the callers
//! act on them (retry, back off, give up, look before creating again).

use std::time::Duration;

use reqwest::StatusCode;

use crate::twilio::types::ErrorBody;

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
    /// Any other 4xx: a bad parameter (20001), a duplicate address configuration (409), web
    /// chat pre-engagement data over 16 KB (45731), an address unfit for web chat (4576x)…
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
    /// The client was given an API base URL it will not send credentials to.
    #[error("unusable Twilio API base URL: {0}")]
    InvalidBase(String),
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

pub(super) fn transport(e: reqwest::Error) -> TwilioError {
    if e.is_timeout() {
        TwilioError::Timeout
    } else {
        // reqwest's Display never includes the credentials (they are in a header); it may name
        // the URL, masked all the same.
        TwilioError::Transport(crate::redact::redact_urls_in(&e.to_string()))
    }
}

pub(super) fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let value = headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?;
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}

pub(super) fn map_error(
    status: StatusCode,
    body: &[u8],
    retry_after: Option<Duration>,
) -> TwilioError {
    let parsed: Option<ErrorBody> = serde_json::from_slice(body).ok();
    let code = parsed.as_ref().and_then(|b| b.code);
    // Twilio's message may quote a parameter, such as a webhook URL with user-info in it.
    let message = parsed
        .and_then(|b| b.message)
        .map(|m| crate::redact::redact_urls_in(&m))
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

#[cfg(test)]
mod tests {
    use super::*;

    fn mapped(status: u16, code: u32) -> TwilioError {
        let body = serde_json::to_vec(&ErrorBody::new(code, "x", status)).unwrap();
        map_error(StatusCode::from_u16(status).unwrap(), &body, None)
    }

    #[test]
    fn flex_and_conversations_refusals_are_rejections() {
        for (status, code) in [(400, 45731), (400, 45765), (409, 20409), (400, 20001)] {
            let error = mapped(status, code);
            assert!(
                matches!(error, TwilioError::Rejected { status: s, code: Some(c), .. } if s == status && c == code),
                "{error:?}"
            );
            assert!(!error.is_transient() && !error.may_have_applied());
        }
        assert!(matches!(mapped(404, 20404), TwilioError::NotFound { .. }));
    }

    #[test]
    fn a_url_twilio_quotes_back_is_shown_without_its_credentials() {
        let body = serde_json::to_vec(&ErrorBody::new(
            20001,
            "Invalid Integration.Url: https://hook:pw-5e1@hooks.example/x",
            400,
        ))
        .unwrap();
        let error = map_error(StatusCode::BAD_REQUEST, &body, None).to_string();
        assert!(!error.contains("pw-5e1"), "{error}");
        assert!(error.contains("https://***@hooks.example/x"), "{error}");
    }
}
