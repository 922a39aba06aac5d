//! The form parameters of `CreateConfigurationAddressRequest` / `UpdateConfigurationAddressRequest`
//! checked as the spec describes them, and how they change a stored address configuration.
//!
//! Enums are read in any case: the spec's own `createWhatsappCaseInsensitive` example sends
//! `Type=whAtsAPP`, and its webhook examples send `post` and answer `POST`. They are stored as
//! the spec spells them (lower case; the webhook method upper case, as Twilio answers it), so a
//! `Type=chat` filter finds an address created as `CHAT`.

use super::form::{Form, invalid, is_absolute_uri};
use crate::twilio::conversations::{AddressConfiguration, AddressParams, AutoCreation};
use crate::twilio::types::ErrorBody;

/// `configuration_address_enum_type`.
pub const ADDRESS_TYPES: [&str; 8] = [
    "sms",
    "whatsapp",
    "messenger",
    "gbm",
    "email",
    "rcs",
    "apple",
    "chat",
];
/// `configuration_address_enum_auto_creation_type`.
pub const AUTO_CREATION_TYPES: [&str; 3] = ["webhook", "studio", "default"];
/// `configuration_address_enum_method`.
const WEBHOOK_METHODS: [&str; 2] = ["get", "post"];
/// The events `AutoCreation.WebhookFilters` may name (the spec's description of it).
const WEBHOOK_FILTERS: [&str; 10] = [
    "onMessageAdded",
    "onMessageUpdated",
    "onMessageRemoved",
    "onConversationUpdated",
    "onConversationStateUpdated",
    "onConversationRemoved",
    "onParticipantAdded",
    "onParticipantUpdated",
    "onParticipantRemoved",
    "onDeliveryUpdated",
];
/// "The human-readable name of this configuration, limited to 256 characters."
const MAX_FRIENDLY_NAME: usize = 256;

/// Parses and checks every known parameter present.
pub fn parse(pairs: &[(String, String)]) -> Result<AddressParams, ErrorBody> {
    let form = Form::new(pairs);
    let filters = form.all("AutoCreation.WebhookFilters");
    if let Some(bad) = filters.iter().find(|f| !WEBHOOK_FILTERS.contains(f)) {
        return Err(invalid(
            "AutoCreation.WebhookFilters",
            &format!("{bad:?} is not one of {}", WEBHOOK_FILTERS.join(", ")),
        ));
    }
    let params = AddressParams {
        address_type: form
            .one_of_any_case("Type", &ADDRESS_TYPES)?
            .map(str::to_string),
        address: form.text("Address"),
        friendly_name: form.text("FriendlyName"),
        auto_creation_enabled: form.flag("AutoCreation.Enabled")?,
        auto_creation_type: form
            .one_of_any_case("AutoCreation.Type", &AUTO_CREATION_TYPES)?
            .map(str::to_string),
        auto_creation_conversation_service_sid: form
            .sid("AutoCreation.ConversationServiceSid", "IS")?,
        auto_creation_webhook_url: form.text("AutoCreation.WebhookUrl"),
        auto_creation_webhook_method: form
            .one_of_any_case("AutoCreation.WebhookMethod", &WEBHOOK_METHODS)?
            .map(str::to_string),
        auto_creation_webhook_filters: filters.into_iter().map(str::to_string).collect(),
        auto_creation_studio_flow_sid: form.sid("AutoCreation.StudioFlowSid", "FW")?,
        auto_creation_studio_retry_count: form.number("AutoCreation.StudioRetryCount")?,
        address_country: form.text("AddressCountry"),
    };
    if params
        .friendly_name
        .as_ref()
        .is_some_and(|n| n.chars().count() > MAX_FRIENDLY_NAME)
    {
        return Err(invalid("FriendlyName", "longer than 256 characters"));
    }
    if let Some(url) = &params.auto_creation_webhook_url
        && !is_absolute_uri(url)
    {
        return Err(invalid(
            "AutoCreation.WebhookUrl",
            "must be an absolute URL",
        ));
    }
    // The spec gives no range; the same setting of a Flex Flow (`Integration.RetryCount`)
    // takes 0 to 3, and the emulator holds clients to that rather than to nothing.
    if params
        .auto_creation_studio_retry_count
        .is_some_and(|n| !(0..=3).contains(&n))
    {
        return Err(invalid(
            "AutoCreation.StudioRetryCount",
            "must be between 0 and 3",
        ));
    }
    // "An ISO 3166-1 alpha-2 country code": two letters.
    if let Some(country) = &params.address_country
        && !(country.len() == 2 && country.bytes().all(|b| b.is_ascii_alphabetic()))
    {
        return Err(invalid(
            "AddressCountry",
            "must be an ISO 3166-1 alpha-2 code",
        ));
    }
    Ok(params)
}

/// Sets every updatable field the request gave. `auto_creation` holds the `AutoCreation.*`
/// values given, merged into what was stored; it stays `null` while none was ever given (the
/// state Flex's web chat refuses with 45760, "Auto create data missing").
pub fn apply(given: &AddressParams, address: &mut AddressConfiguration) {
    if given.friendly_name.is_some() {
        address.friendly_name.clone_from(&given.friendly_name);
    }
    let touches_auto_creation = given.auto_creation_enabled.is_some()
        || given.auto_creation_type.is_some()
        || given.auto_creation_conversation_service_sid.is_some()
        || given.auto_creation_webhook_url.is_some()
        || given.auto_creation_webhook_method.is_some()
        || !given.auto_creation_webhook_filters.is_empty()
        || given.auto_creation_studio_flow_sid.is_some()
        || given.auto_creation_studio_retry_count.is_some();
    if !touches_auto_creation {
        return;
    }
    fn set<T: Clone>(field: &mut Option<T>, value: &Option<T>) {
        if value.is_some() {
            field.clone_from(value);
        }
    }
    let mut auto = address.auto_creation.clone().unwrap_or_default();
    set(&mut auto.enabled, &given.auto_creation_enabled);
    set(&mut auto.r#type, &given.auto_creation_type);
    set(
        &mut auto.conversation_service_sid,
        &given.auto_creation_conversation_service_sid,
    );
    set(&mut auto.webhook_url, &given.auto_creation_webhook_url);
    let method = given
        .auto_creation_webhook_method
        .as_ref()
        .map(|m| m.to_ascii_uppercase());
    set(&mut auto.webhook_method, &method);
    if !given.auto_creation_webhook_filters.is_empty() {
        auto.webhook_filters = Some(given.auto_creation_webhook_filters.clone());
    }
    set(
        &mut auto.studio_flow_sid,
        &given.auto_creation_studio_flow_sid,
    );
    set(
        &mut auto.studio_retry_count,
        &given.auto_creation_studio_retry_count,
    );
    address.auto_creation = Some(for_type(auto));
}

/// What Twilio's examples show for each type: the `webhook_*` keys only for `webhook` (its
/// method `POST` unless told), the `studio_*` keys only for `studio`. Without a type, every
/// value given is kept.
fn for_type(mut auto: AutoCreation) -> AutoCreation {
    match auto.r#type.as_deref() {
        None => {}
        Some("webhook") => {
            auto.studio_flow_sid = None;
            auto.studio_retry_count = None;
            auto.webhook_method.get_or_insert_with(|| "POST".into());
        }
        Some(kind) => {
            auto.webhook_url = None;
            auto.webhook_method = None;
            auto.webhook_filters = None;
            if kind != "studio" {
                auto.studio_flow_sid = None;
                auto.studio_retry_count = None;
            }
        }
    }
    auto
}

#[cfg(test)]
mod tests {
    use super::*;

    use super::super::form::test_pairs as pairs;

    fn rejects(name: &str, value: &str) {
        let error = parse(&pairs(&[(name, value)])).unwrap_err();
        assert_eq!(error.code, Some(20001), "{name}={value}");
        assert!(error.message.unwrap().contains(name), "{name}={value}");
    }

    #[test]
    fn reads_every_parameter_back_as_to_form_writes_it() {
        let all = AddressParams {
            address_type: Some("chat".into()),
            address: Some("+15550100".into()),
            friendly_name: Some("acme fr".into()),
            auto_creation_enabled: Some(true),
            auto_creation_type: Some("webhook".into()),
            auto_creation_conversation_service_sid: Some(format!("IS{}", "a".repeat(32))),
            auto_creation_webhook_url: Some("https://example.com/hook".into()),
            auto_creation_webhook_method: Some("get".into()),
            auto_creation_webhook_filters: vec![
                "onMessageAdded".into(),
                "onParticipantAdded".into(),
            ],
            auto_creation_studio_flow_sid: Some(format!("FW{}", "b".repeat(32))),
            auto_creation_studio_retry_count: Some(3),
            address_country: Some("CA".into()),
        };
        let form: Vec<(String, String)> = all
            .to_form()
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
        assert_eq!(form.len(), 13);
        assert_eq!(parse(&form).unwrap(), all);
    }

    #[test]
    fn enums_in_any_case_are_stored_as_the_spec_spells_them() {
        let given = parse(&pairs(&[
            ("Type", "CHAT"),
            ("AutoCreation.Type", "Webhook"),
            ("AutoCreation.WebhookMethod", "post"),
            ("AutoCreation.Enabled", "TRUE"),
        ]))
        .unwrap();
        assert_eq!(given.address_type.as_deref(), Some("chat"));
        let mut address = AddressConfiguration::default();
        apply(&given, &mut address);
        let auto = address.auto_creation.unwrap();
        assert_eq!(auto.r#type.as_deref(), Some("webhook"));
        assert_eq!(auto.webhook_method.as_deref(), Some("POST"));
        assert_eq!(auto.enabled, Some(true));
    }

    #[test]
    fn rejects_what_the_spec_does_not_allow() {
        rejects("Type", "web");
        rejects("AutoCreation.Type", "flow");
        rejects("AutoCreation.Enabled", "yes");
        rejects("AutoCreation.ConversationServiceSid", "IS123");
        rejects(
            "AutoCreation.StudioFlowSid",
            &format!("FO{}", "a".repeat(32)),
        );
        rejects("AutoCreation.WebhookUrl", "/relative");
        rejects("AutoCreation.WebhookMethod", "PUT");
        rejects("AutoCreation.WebhookFilters", "onEverything");
        rejects("AutoCreation.StudioRetryCount", "4");
        rejects("AutoCreation.StudioRetryCount", "one");
        rejects("AddressCountry", "CAN");
        rejects("FriendlyName", &"x".repeat(257));
    }

    #[test]
    fn auto_creation_stays_null_until_given_and_follows_its_type() {
        let mut address = AddressConfiguration::default();
        apply(
            &parse(&pairs(&[("FriendlyName", "x")])).unwrap(),
            &mut address,
        );
        assert_eq!(address.auto_creation, None);
        let studio = pairs(&[
            ("AutoCreation.Type", "studio"),
            (
                "AutoCreation.StudioFlowSid",
                &format!("FW{}", "c".repeat(32)),
            ),
            ("AutoCreation.WebhookUrl", "https://example.com"),
        ]);
        apply(&parse(&studio).unwrap(), &mut address);
        let auto = address.auto_creation.clone().unwrap();
        assert_eq!((auto.webhook_url, auto.webhook_method), (None, None));
        assert!(auto.studio_flow_sid.is_some());
        // Enabling later keeps the stored type and flow.
        apply(
            &parse(&pairs(&[("AutoCreation.Enabled", "true")])).unwrap(),
            &mut address,
        );
        let auto = address.auto_creation.unwrap();
        assert_eq!(auto.enabled, Some(true));
        assert_eq!(auto.r#type.as_deref(), Some("studio"));
        assert!(auto.studio_flow_sid.is_some());
    }
}
