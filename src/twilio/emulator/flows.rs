//! CreateFlexFlow, FetchFlexFlow, UpdateFlexFlow and DeleteFlexFlow, answered as Twilio answers
//! them (ListFlexFlow is in `list.rs`).

use std::time::SystemTime;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::IntoResponse;
use http::{HeaderMap, StatusCode, Uri};

use super::answer::{Answer, base_url, error, not_found_at};
use super::form::{missing, request_form};
use super::params;
use super::{Emulator, Op, time};
use crate::twilio::types::{ErrorBody, FlexFlow, FlexFlowParams, Integration};

pub async fn create(
    State(emulator): State<Emulator>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> Answer {
    let fail_after_applying = emulator.count_create(Op::Create)?;
    let pairs = request_form(&headers, &body);
    for required in ["FriendlyName", "ChatServiceSid", "ChannelType"] {
        if !pairs.iter().any(|(k, v)| k == required && !v.is_empty()) {
            return Err(error(missing(required)).into());
        }
    }
    let given = params::parse(&pairs).map_err(error)?;
    let now = time::rfc3339(SystemTime::now());
    let mut flow = FlexFlow {
        sid: String::new(), // the store gives it one
        account_sid: Some(emulator.account_sid().to_string()),
        date_created: Some(now.clone()),
        date_updated: Some(now),
        friendly_name: None,
        chat_service_sid: None,
        channel_type: None,
        contact_identity: None,
        // The spec documents no default for Enabled (it does for LongLived and
        // JanitorEnabled: false), so a flow is enabled only when the client says so: a client
        // relying on an undocumented default shows up here as a disabled flow.
        enabled: Some(false),
        // The spec's `integration_type` is an enum that is never null, and IntegrationType is
        // optional: Twilio must pick one. Studio is Flex's default way to handle a chat. Its
        // "Required when `integrationType` is `studio`" (a FlowSid) is checked only when the
        // client names the type, or a create with just the three required parameters, which
        // the spec allows, could never succeed.
        integration_type: Some("studio".to_string()),
        integration: None,
        long_lived: Some(false),
        janitor_enabled: Some(false),
        url: None,
    };
    apply(&given, &mut flow);
    if given.integration_type.is_some() {
        integration_complete(&flow).map_err(error)?;
    }
    let base = base_url(&headers, &uri);
    let flow = emulator.store().create(|sid| FlexFlow {
        url: Some(format!("{base}/v1/FlexFlows/{sid}")),
        sid,
        ..flow
    });
    emulator.created(fail_after_applying)?;
    Ok((StatusCode::CREATED, Json(flow)).into_response())
}

pub async fn fetch(
    State(emulator): State<Emulator>,
    headers: HeaderMap,
    uri: Uri,
    Path(sid): Path<String>,
) -> Answer {
    if let Some(failure) = emulator.count_call(Op::Fetch) {
        return Err(failure.into());
    }
    match emulator.store().get(&sid) {
        Some(flow) => Ok(Json(with_url(&flow, &base_url(&headers, &uri))).into_response()),
        None => Err(not_found_at(uri.path()).into()),
    }
}

pub async fn update(
    State(emulator): State<Emulator>,
    headers: HeaderMap,
    uri: Uri,
    Path(sid): Path<String>,
    body: Bytes,
) -> Answer {
    if let Some(failure) = emulator.count_call(Op::Update) {
        return Err(failure.into());
    }
    let given = params::parse(&request_form(&headers, &body)).map_err(error)?;
    let now = time::rfc3339(SystemTime::now());
    let base = base_url(&headers, &uri);
    let updated = emulator.store().update(&sid, |stored| {
        let mut flow = stored.clone();
        apply(&given, &mut flow);
        // Only a request that sets the integration type must bring what that type requires;
        // the fields it leaves out keep their stored values.
        if given.integration_type.is_some() {
            integration_complete(&flow)?;
        }
        flow.date_updated = Some(now);
        Ok(with_url(&flow, &base))
    });
    match updated.map_err(error)? {
        Some(flow) => Ok(Json(flow).into_response()),
        None => Err(not_found_at(uri.path()).into()),
    }
}

pub async fn delete(State(emulator): State<Emulator>, uri: Uri, Path(sid): Path<String>) -> Answer {
    if let Some(failure) = emulator.count_call(Op::Delete) {
        return Err(failure.into());
    }
    if emulator.store().remove(&sid) {
        Ok(StatusCode::NO_CONTENT.into_response())
    } else {
        Err(not_found_at(uri.path()).into())
    }
}

pub fn with_url(flow: &FlexFlow, base: &str) -> FlexFlow {
    FlexFlow {
        url: Some(format!("{base}/v1/FlexFlows/{}", flow.sid)),
        ..flow.clone()
    }
}

/// Sets every field the request gave; `integration` holds the `Integration.*` values given,
/// merged into what was stored.
fn apply(given: &FlexFlowParams, flow: &mut FlexFlow) {
    fn set<T: Clone>(field: &mut Option<T>, value: &Option<T>) {
        if value.is_some() {
            field.clone_from(value);
        }
    }
    set(&mut flow.friendly_name, &given.friendly_name);
    set(&mut flow.chat_service_sid, &given.chat_service_sid);
    set(&mut flow.channel_type, &given.channel_type);
    set(&mut flow.contact_identity, &given.contact_identity);
    set(&mut flow.enabled, &given.enabled);
    set(&mut flow.integration_type, &given.integration_type);
    set(&mut flow.long_lived, &given.long_lived);
    set(&mut flow.janitor_enabled, &given.janitor_enabled);
    let mut integration = flow.integration.clone().unwrap_or_default();
    set(&mut integration.flow_sid, &given.integration_flow_sid);
    set(&mut integration.url, &given.integration_url);
    set(
        &mut integration.workspace_sid,
        &given.integration_workspace_sid,
    );
    set(
        &mut integration.workflow_sid,
        &given.integration_workflow_sid,
    );
    set(&mut integration.channel, &given.integration_channel);
    set(&mut integration.timeout, &given.integration_timeout);
    set(&mut integration.priority, &given.integration_priority);
    set(
        &mut integration.creation_on_message,
        &given.integration_creation_on_message,
    );
    set(&mut integration.retry_count, &given.integration_retry_count);
    if flow.integration.is_some() || integration != Integration::default() {
        flow.integration = Some(integration);
    }
}

/// The spec's "Required when `integrationType` is …": studio needs a Studio Flow, external a
/// webhook URL, task a Workspace and a Workflow.
fn integration_complete(flow: &FlexFlow) -> Result<(), ErrorBody> {
    let integration = flow.integration.clone().unwrap_or_default();
    let needs: &[(&str, bool)] = match flow.integration_type.as_deref() {
        Some("studio") => &[("Integration.FlowSid", integration.flow_sid.is_some())],
        Some("external") => &[("Integration.Url", integration.url.is_some())],
        Some("task") => &[
            (
                "Integration.WorkspaceSid",
                integration.workspace_sid.is_some(),
            ),
            (
                "Integration.WorkflowSid",
                integration.workflow_sid.is_some(),
            ),
        ],
        _ => &[],
    };
    match needs.iter().find(|(_, present)| !present) {
        Some((name, _)) => Err(missing(name)),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_integration_type_needs_its_fields() {
        let mut flow: FlexFlow =
            serde_json::from_value(serde_json::json!({"sid": "FO1", "integration_type": "task"}))
                .unwrap();
        assert_eq!(
            integration_complete(&flow).unwrap_err().message.unwrap(),
            "Missing required parameter Integration.WorkspaceSid in the post body"
        );
        flow.integration_type = None;
        assert!(integration_complete(&flow).is_ok());
    }

    #[test]
    fn an_update_merges_integration_fields() {
        let mut flow: FlexFlow = serde_json::from_value(serde_json::json!({
            "sid": "FO1", "integration": {"flow_sid": "FWx", "retry_count": 1}
        }))
        .unwrap();
        let given = FlexFlowParams {
            integration_retry_count: Some(2),
            enabled: Some(true),
            ..Default::default()
        };
        apply(&given, &mut flow);
        let integration = flow.integration.unwrap();
        assert_eq!(integration.flow_sid.as_deref(), Some("FWx"));
        assert_eq!(integration.retry_count, Some(2));
        assert_eq!(flow.enabled, Some(true));
    }
}
