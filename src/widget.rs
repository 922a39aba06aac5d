//! The answer a browser gets (DESIGN §2): the body of `GET /v1/webchat/config`, with the
//! widget's `appConfig` deep-merged from the config and the fields flexroute owns set last.

use serde::Serialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;

use crate::table::{Address, Pair, Site};

/// TOML widget settings as JSON. Dates have no JSON form and become their TOML text.
pub fn from_toml(table: &toml::Table) -> Map<String, Value> {
    table
        .iter()
        .map(|(k, v)| (k.clone(), value_from_toml(v)))
        .collect()
}

fn value_from_toml(value: &toml::Value) -> Value {
    match value {
        toml::Value::String(s) => Value::String(s.clone()),
        toml::Value::Integer(i) => Value::from(*i),
        toml::Value::Float(f) => Value::from(*f),
        toml::Value::Boolean(b) => Value::Bool(*b),
        toml::Value::Datetime(d) => Value::String(d.to_string()),
        toml::Value::Array(items) => Value::Array(items.iter().map(value_from_toml).collect()),
        toml::Value::Table(table) => Value::Object(from_toml(table)),
    }
}

/// Later wins; objects merge key by key at every depth, anything else is replaced whole.
pub fn deep_merge(base: &mut Map<String, Value>, overlay: Map<String, Value>) {
    for (key, value) in overlay {
        match (base.get_mut(&key), value) {
            (Some(Value::Object(existing)), Value::Object(incoming)) => {
                deep_merge(existing, incoming)
            }
            (_, value) => {
                base.insert(key, value);
            }
        }
    }
}

/// The body of `GET /v1/webchat/config`'s 200 answer (`/openapi.json` derives its schema from
/// this type, so the document describes the bytes actually sent).
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(
    as = WidgetConfig,
    description = "The widget configuration for one site and language."
)]
pub struct Body<'a> {
    /// The id of the site the request resolved to.
    #[schema(example = "acme")]
    site: &'a str,
    /// The negotiated language, as the site lists it (BCP 47).
    #[schema(example = "es-MX")]
    language: &'a str,
    /// Present (and `true`) only when `address` is lent by the site's default language because
    /// this language's own address cannot be had yet.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    #[schema(value_type = bool, required = false)]
    degraded: bool,
    /// On a degraded answer: the language whose address is lent until this one has its own.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = String, required = false, example = "en-US")]
    address_language: Option<&'a str>,
    address: &'a Address,
    #[schema(value_type = AppConfig)]
    app_config: Map<String, Value>,
}

/// `appConfig`: ready for `Twilio.FlexWebChat.createWebChat(appConfig)`. The configured widget
/// settings (`defaults.widget` ← site ← language, deep-merged) with the members flexroute owns
/// set last; any other member comes from the configuration. (Documentation only: the value
/// sent is a JSON map.)
#[derive(ToSchema)]
#[schema(rename_all = "camelCase")]
#[allow(dead_code)]
pub struct AppConfig {
    /// `twilio.account_sid`.
    #[schema(pattern = "^AC[0-9a-fA-F]{32}$")]
    account_sid: String,
    /// The SID of `address`.
    #[schema(pattern = "^FO[0-9a-fA-F]{32}$")]
    flex_flow_sid: String,
    context: WidgetContext,
}

/// `appConfig.context`: configured context members plus the two flexroute sets.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct WidgetContext {
    site: String,
    language: String,
}

/// The JSON bytes answering for `pair` on `site`. `lent_by` is set on a degraded answer: the
/// pair has no address yet, so the widget (texts, context) is the pair's own but `address`
/// belongs to `lent_by`, the site's default language.
pub fn render(
    site: &Site,
    pair: &Pair,
    address: &Address,
    account_sid: Option<&str>,
    lent_by: Option<&Pair>,
) -> Vec<u8> {
    let mut app_config = (*pair.widget).clone();
    let context = app_config
        .entry("context")
        .or_insert_with(|| Value::Object(Map::new()));
    if !context.is_object() {
        *context = Value::Object(Map::new());
    }
    if let Value::Object(context) = context {
        context.insert("site".into(), Value::from(&*site.id));
        context.insert("language".into(), Value::from(&*pair.language));
    }
    if let Some(account_sid) = account_sid {
        app_config.insert("accountSid".into(), Value::from(account_sid));
    }
    app_config.insert("flexFlowSid".into(), Value::from(address.sid()));
    let body = Body {
        site: &site.id,
        language: &pair.language,
        degraded: lent_by.is_some(),
        address_language: lent_by.map(|lender| &*lender.language),
        address,
        app_config,
    };
    serde_json::to_vec(&body).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn deep_merge_merges_objects_and_replaces_the_rest() {
        let mut base = json!({"a": {"x": 1, "y": [1, 2]}, "b": true})
            .as_object()
            .unwrap()
            .clone();
        let overlay = json!({"a": {"y": [3], "z": {"k": "v"}}, "b": false})
            .as_object()
            .unwrap()
            .clone();
        deep_merge(&mut base, overlay);
        assert_eq!(
            Value::Object(base),
            json!({"a": {"x": 1, "y": [3], "z": {"k": "v"}}, "b": false})
        );
    }
}
