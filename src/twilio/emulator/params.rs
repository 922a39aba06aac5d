//! The form parameters of `CreateFlexFlowRequest` / `UpdateFlexFlowRequest`, checked the way
//! the spec describes them: SID patterns, enums, integers, and booleans (`true`/`false` in any
//! case). Unknown parameters are ignored, as Twilio does.

use super::form::{Form, invalid, is_absolute_uri};
use crate::twilio::types::{ErrorBody, FlexFlowParams};

pub const CHANNEL_TYPES: [&str; 6] = ["web", "sms", "facebook", "whatsapp", "line", "custom"];
pub const INTEGRATION_TYPES: [&str; 3] = ["studio", "external", "task"];

/// Parses and checks every known parameter present; the first value wins if one is repeated.
pub fn parse(pairs: &[(String, String)]) -> Result<FlexFlowParams, ErrorBody> {
    let form = Form::new(pairs);
    let get = |name: &str| form.get(name);
    let text = |name: &str| form.text(name);
    let sid = |name: &str, prefix: &str| form.sid(name, prefix);
    let one_of = |name: &str, allowed: &[&str]| form.one_of(name, allowed);
    let flag = |name: &str| form.flag(name);
    let number = |name: &str| form.number(name);
    if get("FriendlyName") == Some("") {
        return Err(invalid("FriendlyName", "must not be empty"));
    }
    let params = FlexFlowParams {
        friendly_name: text("FriendlyName"),
        chat_service_sid: sid("ChatServiceSid", "IS")?,
        channel_type: one_of("ChannelType", &CHANNEL_TYPES)?,
        contact_identity: text("ContactIdentity"),
        enabled: flag("Enabled")?,
        integration_type: one_of("IntegrationType", &INTEGRATION_TYPES)?,
        integration_flow_sid: sid("Integration.FlowSid", "FW")?,
        integration_url: text("Integration.Url"),
        integration_workspace_sid: sid("Integration.WorkspaceSid", "WS")?,
        integration_workflow_sid: sid("Integration.WorkflowSid", "WW")?,
        integration_channel: text("Integration.Channel"),
        integration_timeout: number("Integration.Timeout")?,
        integration_priority: number("Integration.Priority")?,
        integration_creation_on_message: flag("Integration.CreationOnMessage")?,
        long_lived: flag("LongLived")?,
        janitor_enabled: flag("JanitorEnabled")?,
        integration_retry_count: number("Integration.RetryCount")?,
    };
    if let Some(url) = &params.integration_url
        && !is_absolute_uri(url)
    {
        return Err(invalid("Integration.Url", "must be an absolute URL"));
    }
    // "Takes integer values from 0 to 3" (the spec's description of Integration.RetryCount).
    if params
        .integration_retry_count
        .is_some_and(|n| !(0..=3).contains(&n))
    {
        return Err(invalid("Integration.RetryCount", "must be between 0 and 3"));
    }
    Ok(params)
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
        let all = FlexFlowParams {
            friendly_name: Some("Name".into()),
            chat_service_sid: Some(format!("IS{}", "a".repeat(32))),
            channel_type: Some("web".into()),
            contact_identity: Some("12345".into()),
            enabled: Some(true),
            integration_type: Some("task".into()),
            integration_flow_sid: Some(format!("FW{}", "B".repeat(32))),
            integration_url: Some("https://example.com/hook".into()),
            integration_workspace_sid: Some(format!("WS{}", "c".repeat(32))),
            integration_workflow_sid: Some(format!("WW{}", "d".repeat(32))),
            integration_channel: Some("chat".into()),
            integration_timeout: Some(600),
            integration_priority: Some(-2),
            integration_creation_on_message: Some(false),
            long_lived: Some(false),
            janitor_enabled: Some(true),
            integration_retry_count: Some(3),
        };
        let form: Vec<(String, String)> = all
            .to_form()
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
        assert_eq!(form.len(), 17);
        assert_eq!(parse(&form).unwrap(), all);
    }

    #[test]
    fn rejects_what_the_spec_does_not_allow() {
        rejects("ChatServiceSid", "IS123");
        rejects("ChatServiceSid", &format!("CH{}", "a".repeat(32)));
        rejects("ChatServiceSid", &format!("IS{}", "g".repeat(32)));
        rejects("ChannelType", "Web");
        rejects("ChannelType", "email");
        rejects("IntegrationType", "flow");
        rejects("Integration.FlowSid", &format!("FO{}", "a".repeat(32)));
        rejects("Integration.WorkspaceSid", "WS");
        rejects("Integration.WorkflowSid", &format!("WS{}", "a".repeat(32)));
        rejects("Integration.Url", "/relative/path");
        rejects("Integration.Timeout", "1.5");
        rejects("Integration.Priority", "high");
        rejects("Integration.RetryCount", "4");
        rejects("Enabled", "yes");
        rejects("LongLived", "1");
        rejects("JanitorEnabled", "");
        rejects("Integration.CreationOnMessage", "yes");
    }

    #[test]
    fn booleans_are_read_without_regard_to_case() {
        for (value, expected) in [
            ("True", true),
            ("TRUE", true),
            ("tRuE", true),
            ("False", false),
        ] {
            let parsed = parse(&pairs(&[("Enabled", value), ("LongLived", value)])).unwrap();
            assert_eq!(parsed.enabled, Some(expected), "{value}");
            assert_eq!(parsed.long_lived, Some(expected), "{value}");
        }
        rejects("Enabled", "truee");
        rejects("Enabled", " true");
    }
}
