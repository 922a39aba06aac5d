//! The answer a browser gets: the body of `GET /v1/webchat/config`, with the widget's
//! `appConfig` deep-merged from the config and the fields flexroute owns (per address kind)
//! set last.

use serde::Serialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;

use crate::config::WidgetScript;
use crate::table::{Address, AddressKind, Pair, Site};

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
    #[schema(schema_with = app_config_schema)]
    app_config: Map<String, Value>,
    /// The script that runs the widget of `address.kind` (`widget_script`), when configured:
    /// the embed script loads it and starts it with `appConfig`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = WidgetScript, required = false)]
    widget_script: Option<&'a WidgetScript>,
}

/// `appConfig`'s schema: the configured widget settings (`defaults.widget` ← site ← language,
/// deep-merged) with the members flexroute owns set last, which depend on the address kind.
/// Any other member comes from the configuration, so the value is a JSON map; this describes
/// the members flexroute sets.
fn app_config_schema() -> utoipa::openapi::schema::Object {
    use utoipa::openapi::schema::{ObjectBuilder, Type};
    let text = |description: &str| {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .description(Some(description))
    };
    let context = ObjectBuilder::new()
        .schema_type(Type::Object)
        .description(Some(
            "Configured context members plus the two flexroute sets.",
        ))
        .property("site", text("The site id."))
        .property("language", text("The pair's language."))
        .required("site")
        .required("language");
    ObjectBuilder::new()
        .schema_type(Type::Object)
        .description(Some(
            "The widget's `appConfig`: `flex_flow` → `accountSid` + `flexFlowSid`, for \
             `Twilio.FlexWebChat.createWebChat`; `conversations` → `serverUrl`, the session \
             backend of `twilio-webchat-react-app`; `webchat3` → `deploymentKey`, for \
             `Twilio.initWebchat`. Any other member comes from the configuration.",
        ))
        .property(
            "accountSid",
            text("`flex_flow`: `twilio.account_sid`.").pattern(Some("^AC[0-9a-fA-F]{32}$")),
        )
        .property(
            "flexFlowSid",
            text("`flex_flow`: the SID of `address`.").pattern(Some("^FO[0-9a-fA-F]{32}$")),
        )
        .property(
            "serverUrl",
            text(
                "`conversations`: where `initWebchat` and `refreshToken` are posted \
                 (`server.public_url` + `/v1/webchat/{site}/{language}`).",
            )
            .examples(["https://chat.example.com/v1/webchat/acme/fr-CA"]),
        )
        .property(
            "deploymentKey",
            text("`webchat3`: the deployment key of `address`."),
        )
        .property("context", context)
        .required("context")
        .build()
}

/// Where a `conversations` pair's session routes live: `{public_url}/v1/webchat/{site}/{language}`,
/// or the path alone without a public URL (the browser resolves it against the page).
pub fn server_url(public_url: Option<&str>, site: &str, language: &str) -> String {
    format!(
        "{}/v1/webchat/{site}/{language}",
        public_url.unwrap_or_default()
    )
}

/// What the answer needs besides the pair: the table's account SID and public URL.
pub struct Context<'a> {
    pub account_sid: Option<&'a str>,
    pub public_url: Option<&'a str>,
}

/// The JSON bytes answering for `pair` on `site`. `lent_by` is set on a degraded answer: the
/// pair has no address yet, so the widget (texts, context) is the pair's own but `address`
/// (and, for `conversations`, the session backend it is reached through) belongs to
/// `lent_by`, the site's default language, whose kind is the same.
pub fn render(
    site: &Site,
    pair: &Pair,
    address: &Address,
    context: &Context<'_>,
    lent_by: Option<&Pair>,
) -> Vec<u8> {
    let mut app_config = (*pair.widget).clone();
    let widget_context = app_config
        .entry("context")
        .or_insert_with(|| Value::Object(Map::new()));
    if !widget_context.is_object() {
        *widget_context = Value::Object(Map::new());
    }
    if let Value::Object(widget_context) = widget_context {
        widget_context.insert("site".into(), Value::from(&*site.id));
        widget_context.insert("language".into(), Value::from(&*pair.language));
    }
    match address.kind {
        AddressKind::FlexFlow => {
            if let Some(account_sid) = context.account_sid {
                app_config.insert("accountSid".into(), Value::from(account_sid));
            }
            app_config.insert("flexFlowSid".into(), Value::from(address.sid()));
        }
        AddressKind::Conversations => {
            let language = lent_by.unwrap_or(pair).language.as_ref();
            let url = server_url(context.public_url, &site.id, language);
            app_config.insert("serverUrl".into(), Value::from(url));
        }
        AddressKind::Webchat3 => {
            app_config.insert("deploymentKey".into(), Value::from(address.sid()));
        }
    }
    let body = Body {
        site: &site.id,
        language: &pair.language,
        degraded: lent_by.is_some(),
        address_language: lent_by.map(|lender| &*lender.language),
        address,
        app_config,
        widget_script: pair.flow.widget_script.get(address.kind),
    };
    serde_json::to_vec(&body).unwrap_or_default()
}
