//! ListFlexFlow: `GET /v1/FlexFlows` with `FriendlyName`, `PageSize`, `Page` and `PageToken`,
//! answered with Twilio's page shape (`meta` + `flex_flows`) and absolute links back here.

use axum::Json;
use axum::extract::{RawQuery, State};
use axum::response::IntoResponse;
use http::{HeaderMap, Uri};

use super::api::{base_url, error};
use super::flows::{Answer, with_url};
use super::store::Cursor;
use super::{Emulator, Op};
use crate::twilio::types::{ErrorBody, FlexFlowPage, PageMeta};

const DEFAULT_PAGE_SIZE: usize = 50;
const MAX_PAGE_SIZE: usize = 1000;

pub async fn list(
    State(emulator): State<Emulator>,
    headers: HeaderMap,
    uri: Uri,
    RawQuery(query): RawQuery,
) -> Answer {
    if let Some(failure) = emulator.count_call(Op::List) {
        return Err(failure);
    }
    let query = ListQuery::parse(query.as_deref().unwrap_or("")).map_err(error)?;
    let cursor = match &query.token {
        None => Cursor::Start,
        Some(token) => Cursor::parse(token)
            .ok_or_else(|| error(ErrorBody::new(20001, "Invalid parameter PageToken", 400)))?,
    };
    let slice = emulator
        .store()
        .page(query.friendly_name.as_deref(), query.page_size, cursor);
    let base = base_url(&headers, &uri);
    let link = |page: u64, token: Option<&str>| query.url(&base, page, token);
    let meta = PageMeta {
        page: query.page,
        page_size: query.page_size as u64,
        first_page_url: Some(link(0, None)),
        previous_page_url: slice
            .previous_token
            .as_deref()
            .map(|t| link(query.page.saturating_sub(1), Some(t))),
        url: Some(link(query.page, query.token.as_deref())),
        next_page_url: slice
            .next_token
            .as_deref()
            .map(|t| link(query.page.saturating_add(1), Some(t))),
        key: Some("flex_flows".to_string()),
    };
    let flex_flows = slice.flows.iter().map(|f| with_url(f, &base)).collect();
    Ok(Json(FlexFlowPage { meta, flex_flows }).into_response())
}

/// The query of ListFlexFlow: `FriendlyName`, `PageSize`, `Page`, `PageToken`.
struct ListQuery {
    friendly_name: Option<String>,
    page_size: usize,
    /// "The page index. This value is simply for client state": echoed, never used to seek.
    page: u64,
    token: Option<String>,
}

impl ListQuery {
    fn parse(query: &str) -> Result<Self, ErrorBody> {
        let pairs: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes())
            .into_owned()
            .collect();
        let get = |name: &str| {
            pairs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        };
        let page_size = match get("PageSize") {
            None => DEFAULT_PAGE_SIZE,
            Some(text) => page_size(&text)?,
        };
        let page = match get("Page") {
            None => 0,
            Some(text) => text.parse().map_err(|_| {
                ErrorBody::new(
                    20001,
                    "Invalid parameter Page: must be an integer of 0 or more",
                    400,
                )
            })?,
        };
        Ok(Self {
            friendly_name: get("FriendlyName"),
            page_size,
            page,
            token: get("PageToken"),
        })
    }

    /// Twilio's shape: filters first, then `PageSize`, `Page` and, past the first page,
    /// `PageToken`.
    fn url(&self, base: &str, page: u64, token: Option<&str>) -> String {
        let mut query = form_urlencoded::Serializer::new(String::new());
        if let Some(name) = &self.friendly_name {
            query.append_pair("FriendlyName", name);
        }
        query.append_pair("PageSize", &self.page_size.to_string());
        query.append_pair("Page", &page.to_string());
        if let Some(token) = token {
            query.append_pair("PageToken", token);
        }
        format!("{base}/v1/FlexFlows?{}", query.finish())
    }
}

/// 1..=1000; over the maximum is Twilio's 20007, anything else unusable 20001.
fn page_size(text: &str) -> Result<usize, ErrorBody> {
    let all_digits = !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit());
    match text.parse::<usize>() {
        Ok(n) if (1..=MAX_PAGE_SIZE).contains(&n) => Ok(n),
        Ok(n) if n > MAX_PAGE_SIZE => Err(too_large(text)),
        Err(_) if all_digits => Err(too_large(text)),
        _ => Err(ErrorBody::new(
            20001,
            "Invalid parameter PageSize: must be an integer from 1 to 1000",
            400,
        )),
    }
}

fn too_large(text: &str) -> ErrorBody {
    ErrorBody::new(
        20007,
        format!("PageSize {text} exceeds the maximum of {MAX_PAGE_SIZE}"),
        400,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_size_bounds() {
        assert_eq!(page_size("1").unwrap(), 1);
        assert_eq!(page_size("1000").unwrap(), 1000);
        assert_eq!(page_size("1001").unwrap_err().code, Some(20007));
        assert_eq!(
            page_size("99999999999999999999999").unwrap_err().code,
            Some(20007)
        );
        for bad in ["0", "-1", "", "ten", "2.5"] {
            assert_eq!(page_size(bad).unwrap_err().code, Some(20001), "{bad:?}");
        }
    }

    #[test]
    fn list_urls_keep_the_filter_and_encode_it() {
        let query = ListQuery::parse("FriendlyName=a%20b%26c&PageSize=2").unwrap();
        assert_eq!(
            query.url("http://h", 1, Some("PA2")),
            "http://h/v1/FlexFlows?FriendlyName=a+b%26c&PageSize=2&Page=1&PageToken=PA2"
        );
        assert_eq!(
            query.url("http://h", 0, None),
            "http://h/v1/FlexFlows?FriendlyName=a+b%26c&PageSize=2&Page=0"
        );
    }

    #[test]
    fn page_must_be_a_count() {
        assert_eq!(ListQuery::parse("Page=3").unwrap().page, 3);
        assert_eq!(ListQuery::parse("Page=-1").err().unwrap().code, Some(20001));
    }
}
