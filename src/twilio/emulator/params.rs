//! The form parameters of `CreateFlexFlowRequest` / `UpdateFlexFlowRequest`, checked the way
//! the spec describes them: SID patterns, enums, integers, and booleans spelt `true`/`false`.
//! Unknown parameters are ignored, as Twilio does.

use crate::twilio::types::{ErrorBody, FlexFlowParams};

pub const CHANNEL_TYPES: [&str; 6] = ["web", "sms", "facebook", "whatsapp", "line", "custom"];
pub const INTEGRATION_TYPES: [&str; 3] = ["studio", "external", "task"];

/// Twilio reads parameters only from a form body: a JSON body reads as no parameters at all,
/// so a client that sends JSON gets "Missing required parameter", as it would from Twilio.
pub fn form_pairs(content_type: Option<&str>, body: &[u8]) -> Vec<(String, String)> {
    let is_form = content_type.is_some_and(|value| {
        let essence = value.split(';').next().unwrap_or("").trim();
        essence.eq_ignore_ascii_case("application/x-www-form-urlencoded")
    });
    if !is_form {
        return Vec::new();
    }
    form_urlencoded::parse(body).into_owned().collect()
}

/// Parses and checks every known parameter present; the first value wins if one is repeated.
pub fn parse(pairs: &[(String, String)]) -> Result<FlexFlowParams, ErrorBody> {
    let get = |name: &str| {
        pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let text = |name: &str| get(name).map(str::to_string);
    let sid = |name: &str, prefix: &str| -> Result<Option<String>, ErrorBody> {
        get(name)
            .map(|v| {
                is_sid(v, prefix)
                    .then(|| v.to_string())
                    .ok_or_else(|| invalid(name, &format!("{v:?} is not a valid {prefix} SID")))
            })
            .transpose()
    };
    let one_of = |name: &str, allowed: &[&str]| -> Result<Option<String>, ErrorBody> {
        get(name)
            .map(|v| {
                allowed
                    .contains(&v)
                    .then(|| v.to_string())
                    .ok_or_else(|| invalid(name, &format!("must be one of {}", allowed.join(", "))))
            })
            .transpose()
    };
    let flag = |name: &str| -> Result<Option<bool>, ErrorBody> {
        get(name)
            .map(|v| match v {
                "true" => Ok(true),
                "false" => Ok(false),
                _ => Err(invalid(name, "must be true or false")),
            })
            .transpose()
    };
    let number = |name: &str| -> Result<Option<i64>, ErrorBody> {
        get(name)
            .map(|v| v.parse().map_err(|_| invalid(name, "must be an integer")))
            .transpose()
    };
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

/// `^{prefix}[0-9a-fA-F]{32}$`, the pattern of every SID in the spec.
pub fn is_sid(value: &str, prefix: &str) -> bool {
    value.len() == 34
        && value.starts_with(prefix)
        && value[2..].bytes().all(|b| b.is_ascii_hexdigit())
}

/// The spec's `format: uri`: a scheme and a host, e.g. `https://example.com/hook`.
fn is_absolute_uri(value: &str) -> bool {
    value
        .parse::<http::Uri>()
        .is_ok_and(|uri| uri.scheme().is_some() && uri.host().is_some_and(|h| !h.is_empty()))
}

pub fn missing(name: &str) -> ErrorBody {
    ErrorBody::new(
        20001,
        format!("Missing required parameter {name} in the post body"),
        400,
    )
}

fn invalid(name: &str, why: &str) -> ErrorBody {
    ErrorBody::new(20001, format!("Invalid parameter {name}: {why}"), 400)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
        items
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

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
        rejects("Enabled", "True");
        rejects("LongLived", "1");
        rejects("JanitorEnabled", "");
        rejects("Integration.CreationOnMessage", "yes");
    }

    #[test]
    fn only_a_form_body_carries_parameters() {
        let body = b"FriendlyName=a+b&ChannelType=web";
        let form = Some("application/x-www-form-urlencoded; charset=utf-8");
        assert_eq!(
            form_pairs(form, body),
            pairs(&[("FriendlyName", "a b"), ("ChannelType", "web")])
        );
        assert!(form_pairs(Some("application/json"), body).is_empty());
        assert!(form_pairs(None, body).is_empty());
    }
}
