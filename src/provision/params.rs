//! What a pair's address should look like at Twilio: the create parameters derived from its
//! settings (a Flex Flow, or a Conversations chat address), and the differences between that
//! and an address that exists.

use crate::config::{FlowSettings, IntegrationType};
use crate::twilio::conversations::{AddressConfiguration, AddressParams};
use crate::twilio::types::{FlexFlow, FlexFlowParams};

/// `provisioning.friendly_name` with `{site}` and `{language}` filled in.
pub fn friendly_name(template: &str, site: &str, language: &str) -> String {
    template
        .replace("{site}", site)
        .replace("{language}", language)
}

fn integration_type(flow: &FlowSettings) -> IntegrationType {
    flow.integration_type.unwrap_or(IntegrationType::Studio)
}

fn type_name(kind: IntegrationType) -> &'static str {
    match kind {
        IntegrationType::Studio => "studio",
        IntegrationType::External => "external",
        IntegrationType::Task => "task",
    }
}

/// The create (or full update) parameters for a pair: a web channel on the chat service, with
/// the integration its settings name.
pub fn desired(friendly_name: &str, chat_service_sid: &str, flow: &FlowSettings) -> FlexFlowParams {
    let kind = integration_type(flow);
    let mut params = FlexFlowParams {
        friendly_name: Some(friendly_name.to_string()),
        chat_service_sid: Some(chat_service_sid.to_string()),
        channel_type: Some("web".into()),
        enabled: Some(flow.enabled.unwrap_or(true)),
        integration_type: Some(type_name(kind).into()),
        long_lived: flow.long_lived,
        janitor_enabled: flow.janitor_enabled,
        ..FlexFlowParams::default()
    };
    match kind {
        IntegrationType::Studio => params.integration_flow_sid = flow.studio_flow_sid.clone(),
        IntegrationType::External => params.integration_url = flow.webhook_url.clone(),
        IntegrationType::Task => {
            params.integration_workspace_sid = flow.workspace_sid.clone();
            params.integration_workflow_sid = flow.workflow_sid.clone();
            params.integration_channel = flow.task_channel.clone();
        }
    }
    params
}

/// Where `existing` differs from `desired`: `(field, wanted, found)`, for every field the
/// config decides. Fields the config leaves unset are not compared.
pub fn differences(
    desired: &FlexFlowParams,
    existing: &FlexFlow,
) -> Vec<(&'static str, String, String)> {
    let integration = existing.integration.clone().unwrap_or_default();
    let show = |v: Option<String>| v.unwrap_or_else(|| "(none)".into());
    let flag = |v: Option<bool>| v.map(|b| b.to_string());
    let checks: [(&'static str, Option<String>, Option<String>); 10] = [
        (
            "chat_service_sid",
            desired.chat_service_sid.clone(),
            existing.chat_service_sid.clone(),
        ),
        (
            "channel_type",
            desired.channel_type.clone(),
            existing.channel_type.clone(),
        ),
        ("enabled", flag(desired.enabled), flag(existing.enabled)),
        (
            "integration_type",
            desired.integration_type.clone(),
            existing.integration_type.clone(),
        ),
        (
            "integration.flow_sid",
            desired.integration_flow_sid.clone(),
            integration.flow_sid,
        ),
        (
            "integration.url",
            desired.integration_url.clone(),
            integration.url,
        ),
        (
            "integration.workspace_sid",
            desired.integration_workspace_sid.clone(),
            integration.workspace_sid,
        ),
        (
            "integration.workflow_sid",
            desired.integration_workflow_sid.clone(),
            integration.workflow_sid,
        ),
        (
            "long_lived",
            flag(desired.long_lived),
            flag(existing.long_lived),
        ),
        (
            "janitor_enabled",
            flag(desired.janitor_enabled),
            flag(existing.janitor_enabled),
        ),
    ];
    checks
        .into_iter()
        .filter(|(_, want, _)| want.is_some())
        .filter(|(_, want, found)| {
            want.as_deref().map(str::to_ascii_lowercase)
                != found.as_deref().map(str::to_ascii_lowercase)
        })
        .map(|(field, want, found)| (field, show(want), show(found)))
        .collect()
}

/// A `conversations` pair's chat address: `Type=chat`, its deterministic `Address`, and
/// auto-creation of a conversation in `service_sid` handed to the pair's Studio flow (or, for
/// `integration_type = "external"`, its webhook).
pub fn desired_address(
    friendly_name: &str,
    address: &str,
    service_sid: &str,
    flow: &FlowSettings,
) -> AddressParams {
    let mut params = AddressParams {
        address_type: Some("chat".into()),
        address: Some(address.to_string()),
        friendly_name: Some(friendly_name.to_string()),
        auto_creation_enabled: Some(flow.enabled.unwrap_or(true)),
        auto_creation_conversation_service_sid: Some(service_sid.to_string()),
        ..AddressParams::default()
    };
    match integration_type(flow) {
        IntegrationType::External => {
            params.auto_creation_type = Some("webhook".into());
            params.auto_creation_webhook_url = flow.webhook_url.clone();
            params.auto_creation_webhook_method = Some("POST".into());
        }
        // `task` is refused by validation for this kind; studio is the default.
        IntegrationType::Studio | IntegrationType::Task => {
            params.auto_creation_type = Some("studio".into());
            params.auto_creation_studio_flow_sid = flow.studio_flow_sid.clone();
        }
    }
    params
}

/// Where a chat address at Twilio differs from what its pair wants: its friendly name and its
/// auto-creation settings (`(field, wanted, found)`). The `Address` itself is not compared:
/// an address adopted by name (made in the Console) keeps the value it was made with.
pub fn address_differences(
    desired: &AddressParams,
    existing: &AddressConfiguration,
) -> Vec<(&'static str, String, String)> {
    let auto = existing.auto_creation.clone().unwrap_or_default();
    let show = |v: Option<String>| v.unwrap_or_else(|| "(none)".into());
    let flag = |v: Option<bool>| v.map(|b| b.to_string());
    let checks: [(&'static str, Option<String>, Option<String>); 7] = [
        (
            "friendly_name",
            desired.friendly_name.clone(),
            existing.friendly_name.clone(),
        ),
        (
            "auto_creation.enabled",
            flag(desired.auto_creation_enabled),
            flag(auto.enabled),
        ),
        (
            "auto_creation.type",
            desired.auto_creation_type.clone(),
            auto.r#type,
        ),
        (
            "auto_creation.conversation_service_sid",
            desired.auto_creation_conversation_service_sid.clone(),
            auto.conversation_service_sid,
        ),
        (
            "auto_creation.studio_flow_sid",
            desired.auto_creation_studio_flow_sid.clone(),
            auto.studio_flow_sid,
        ),
        (
            "auto_creation.webhook_url",
            desired.auto_creation_webhook_url.clone(),
            auto.webhook_url,
        ),
        (
            "auto_creation.webhook_method",
            desired.auto_creation_webhook_method.clone(),
            auto.webhook_method,
        ),
    ];
    checks
        .into_iter()
        .filter(|(_, want, _)| want.is_some())
        .filter(|(field, want, found)| {
            // Names are compared exactly (they are how addresses are found); the rest as
            // Twilio echoes them, whose case may differ (`POST`/`post`).
            if *field == "friendly_name" {
                want != found
            } else {
                want.as_deref().map(str::to_ascii_lowercase)
                    != found.as_deref().map(str::to_ascii_lowercase)
            }
        })
        .map(|(field, want, found)| (field, show(want), show(found)))
        .collect()
}
