//! The list operations' shared paging (`PageSize`, `Page`, `PageToken`, one filter), answered
//! with Twilio's page shape (`meta` + the items under `meta.key`) and absolute links back here;
//! and ListFlexFlow, `GET /v1/FlexFlows` filtered by `FriendlyName`.

use axum::Json;
use axum::extract::{RawQuery, State};
use axum::response::IntoResponse;
use http::{HeaderMap, Uri};

use super::answer::{Answer, base_url, error};
use super::flows::with_url;
use super::store::{Cursor, Slice};
use super::{Emulator, Op};
use crate::twilio::types::{ErrorBody, FlexFlowPage, PageMeta};

const DEFAULT_PAGE_SIZE: usize = 50;
/// ListFlexFlow's largest page.
const MAX_FLOW_PAGE_SIZE: usize = 1000;

pub async fn list(
    State(emulator): State<Emulator>,
    headers: HeaderMap,
    uri: Uri,
    RawQuery(query): RawQuery,
) -> Answer {
    if let Some(failure) = emulator.count_call(Op::List) {
        return Err(failure.into());
    }
    let query = ListQuery::parse(
        query.as_deref().unwrap_or(""),
        "FriendlyName",
        MAX_FLOW_PAGE_SIZE,
    )
    .map_err(error)?;
    let cursor = query.cursor().map_err(error)?;
    let name = query.filter.as_deref();
    let slice = emulator.store().page(
        |f| name.is_none_or(|n| f.friendly_name.as_deref() == Some(n)),
        query.page_size,
        cursor,
    );
    let base = base_url(&headers, &uri);
    let meta = query.meta(&base, "/v1/FlexFlows", &slice, "flex_flows");
    let flex_flows = slice.items.iter().map(|f| with_url(f, &base)).collect();
    Ok(Json(FlexFlowPage { meta, flex_flows }).into_response())
}

/// The query of a list operation: its one filter, `PageSize`, `Page`, `PageToken`.
pub struct ListQuery {
    /// The filter's parameter name (`FriendlyName`, `Type`) and the value given.
    filter_name: &'static str,
    pub filter: Option<String>,
    pub page_size: usize,
    /// "The page index. This value is simply for client state": echoed, never used to seek.
    pub page: u64,
    pub token: Option<String>,
}

impl ListQuery {
    /// Parses `query`; `PageSize` may be 1 to `max_page_size` (the spec's maximum).
    pub fn parse(
        query: &str,
        filter_name: &'static str,
        max_page_size: usize,
    ) -> Result<Self, ErrorBody> {
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
            None => DEFAULT_PAGE_SIZE.min(max_page_size),
            Some(text) => page_size(&text, max_page_size)?,
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
            filter_name,
            filter: get(filter_name),
            page_size,
            page,
            token: get("PageToken"),
        })
    }

    /// Where the requested page starts; a token this emulator did not make is refused.
    pub fn cursor(&self) -> Result<Cursor, ErrorBody> {
        match &self.token {
            None => Ok(Cursor::Start),
            Some(token) => Cursor::parse(token)
                .ok_or_else(|| ErrorBody::new(20001, "Invalid parameter PageToken", 400)),
        }
    }

    /// The `meta` of the page `slice` of the list at `base` + `path`.
    pub fn meta<T>(&self, base: &str, path: &str, slice: &Slice<T>, key: &str) -> PageMeta {
        let link = |page: u64, token: Option<&str>| self.url(base, path, page, token);
        PageMeta {
            page: self.page,
            page_size: self.page_size as u64,
            first_page_url: Some(link(0, None)),
            previous_page_url: slice
                .previous_token
                .as_deref()
                .map(|t| link(self.page.saturating_sub(1), Some(t))),
            url: Some(link(self.page, self.token.as_deref())),
            next_page_url: slice
                .next_token
                .as_deref()
                .map(|t| link(self.page.saturating_add(1), Some(t))),
            key: Some(key.to_string()),
        }
    }

    /// Twilio's shape: the filter first, then `PageSize`, `Page` and, past the first page,
    /// `PageToken`.
    fn url(&self, base: &str, path: &str, page: u64, token: Option<&str>) -> String {
        let mut query = form_urlencoded::Serializer::new(String::new());
        if let Some(value) = &self.filter {
            query.append_pair(self.filter_name, value);
        }
        query.append_pair("PageSize", &self.page_size.to_string());
        query.append_pair("Page", &page.to_string());
        if let Some(token) = token {
            query.append_pair("PageToken", token);
        }
        format!("{base}{path}?{}", query.finish())
    }
}

/// 1..=max; over the maximum is Twilio's 20007, anything else unusable 20001.
fn page_size(text: &str, max: usize) -> Result<usize, ErrorBody> {
    let all_digits = !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit());
    match text.parse::<usize>() {
        Ok(n) if (1..=max).contains(&n) => Ok(n),
        Ok(n) if n > max => Err(too_large(text, max)),
        Err(_) if all_digits => Err(too_large(text, max)),
        _ => Err(ErrorBody::new(
            20001,
            format!("Invalid parameter PageSize: must be an integer from 1 to {max}"),
            400,
        )),
    }
}

fn too_large(text: &str, max: usize) -> ErrorBody {
    ErrorBody::new(
        20007,
        format!("PageSize {text} exceeds the maximum of {max}"),
        400,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_size_bounds() {
        assert_eq!(page_size("1", 1000).unwrap(), 1);
        assert_eq!(page_size("1000", 1000).unwrap(), 1000);
        assert_eq!(page_size("1001", 1000).unwrap_err().code, Some(20007));
        assert_eq!(page_size("51", 50).unwrap_err().code, Some(20007));
        assert_eq!(
            page_size("99999999999999999999999", 1000).unwrap_err().code,
            Some(20007)
        );
        for bad in ["0", "-1", "", "ten", "2.5"] {
            assert_eq!(
                page_size(bad, 1000).unwrap_err().code,
                Some(20001),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn the_default_page_size_never_exceeds_the_maximum() {
        assert_eq!(ListQuery::parse("", "Type", 50).unwrap().page_size, 50);
        assert_eq!(ListQuery::parse("", "Type", 20).unwrap().page_size, 20);
    }

    #[test]
    fn list_urls_keep_the_filter_and_encode_it() {
        let query =
            ListQuery::parse("FriendlyName=a%20b%26c&PageSize=2", "FriendlyName", 1000).unwrap();
        assert_eq!(
            query.url("http://h", "/v1/FlexFlows", 1, Some("PA2")),
            "http://h/v1/FlexFlows?FriendlyName=a+b%26c&PageSize=2&Page=1&PageToken=PA2"
        );
        assert_eq!(
            query.url("http://h", "/v1/FlexFlows", 0, None),
            "http://h/v1/FlexFlows?FriendlyName=a+b%26c&PageSize=2&Page=0"
        );
        let typed = ListQuery::parse("Type=chat", "Type", 50).unwrap();
        assert_eq!(
            typed.url("http://h", "/v1/Configuration/Addresses", 0, None),
            "http://h/v1/Configuration/Addresses?Type=chat&PageSize=50&Page=0"
        );
    }

    #[test]
    fn page_must_be_a_count() {
        let parse = |q| ListQuery::parse(q, "FriendlyName", 1000);
        assert_eq!(parse("Page=3").unwrap().page, 3);
        assert_eq!(parse("Page=-1").err().unwrap().code, Some(20001));
    }
}
