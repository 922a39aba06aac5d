//! Conversations address configurations, `/v1/Configuration/Addresses`: list (by `Type`, at most
//! 50 a page), create, and fetch, update and delete by SID *or by the address itself*, as the
//! spec's `{Sid}` allows.

use std::time::SystemTime;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::response::IntoResponse;
use http::{HeaderMap, StatusCode, Uri};

use super::address_params::{self, ADDRESS_TYPES};
use super::answer::{Answer, base_url, error, not_found_at};
use super::form::{Form, invalid, missing, request_form};
use super::list::ListQuery;
use super::{Emulator, Op, time};
use crate::twilio::conversations::{AddressConfiguration, AddressConfigurationPage};
use crate::twilio::types::ErrorBody;

const PATH: &str = "/v1/Configuration/Addresses";
/// "The default is 50, and the maximum is 50."
const MAX_PAGE_SIZE: usize = 50;

pub async fn list(
    State(emulator): State<Emulator>,
    headers: HeaderMap,
    uri: Uri,
    RawQuery(query): RawQuery,
) -> Answer {
    if let Some(failure) = emulator.count_call(Op::AddressList) {
        return Err(failure.into());
    }
    let query =
        ListQuery::parse(query.as_deref().unwrap_or(""), "Type", MAX_PAGE_SIZE).map_err(error)?;
    // The filter is one of the types, in any case, as on create.
    let kind = match &query.filter {
        None => None,
        Some(given) => Some(
            ADDRESS_TYPES
                .iter()
                .find(|t| t.eq_ignore_ascii_case(given))
                .ok_or_else(|| {
                    error(invalid(
                        "Type",
                        &format!("must be one of {}", ADDRESS_TYPES.join(", ")),
                    ))
                })?,
        ),
    };
    let cursor = query.cursor().map_err(error)?;
    let slice = emulator.address_store().page(
        |a| kind.is_none_or(|k| a.r#type.as_deref() == Some(k)),
        query.page_size,
        cursor,
    );
    let base = base_url(&headers, &uri);
    let meta = query.meta(&base, PATH, &slice, "address_configurations");
    let address_configurations = slice.items.iter().map(|a| with_url(a, &base)).collect();
    let page = AddressConfigurationPage {
        meta,
        address_configurations,
    };
    Ok(Json(page).into_response())
}

pub async fn create(
    State(emulator): State<Emulator>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> Answer {
    let fail_after_applying = emulator.count_create(Op::AddressCreate)?;
    let pairs = request_form(&headers, &body);
    let form = Form::new(&pairs);
    for required in ["Type", "Address"] {
        if form.get(required).is_none_or(str::is_empty) {
            return Err(error(missing(required)).into());
        }
    }
    let given = address_params::parse(&pairs).map_err(error)?;
    let now = time::rfc3339(SystemTime::now());
    let mut address = AddressConfiguration {
        account_sid: Some(emulator.account_sid().to_string()),
        sid: String::new(), // the store gives it one
        address: given.address.clone(),
        r#type: given.address_type.clone(),
        friendly_name: None,
        address_country: given.address_country.as_ref().map(|c| c.to_uppercase()),
        auto_creation: None,
        date_created: Some(now.clone()),
        date_updated: Some(now),
        url: None,
    };
    address_params::apply(&given, &mut address);
    let base = base_url(&headers, &uri);
    let same =
        |a: &AddressConfiguration| a.r#type == address.r#type && a.address == address.address;
    let created = emulator
        .address_store()
        .create_unless(same, |sid| AddressConfiguration {
            url: Some(format!("{base}{PATH}/{sid}")),
            sid,
            ..address.clone()
        });
    let created = created.map_err(|existing| error(duplicate(&existing)))?;
    emulator.created(fail_after_applying)?;
    Ok((StatusCode::CREATED, Json(created)).into_response())
}

pub async fn fetch(
    State(emulator): State<Emulator>,
    headers: HeaderMap,
    uri: Uri,
    Path(key): Path<String>,
) -> Answer {
    if let Some(failure) = emulator.count_call(Op::AddressFetch) {
        return Err(failure.into());
    }
    let found = emulator
        .find_address(&key)
        .ok_or_else(|| not_found_at(uri.path()))?;
    Ok(Json(with_url(&found, &base_url(&headers, &uri))).into_response())
}

pub async fn update(
    State(emulator): State<Emulator>,
    headers: HeaderMap,
    uri: Uri,
    Path(key): Path<String>,
    body: Bytes,
) -> Answer {
    if let Some(failure) = emulator.count_call(Op::AddressUpdate) {
        return Err(failure.into());
    }
    // `Type`, `Address` and `AddressCountry` are not parameters of an update: ignored.
    let given = address_params::parse(&request_form(&headers, &body)).map_err(error)?;
    let sid = emulator
        .find_address(&key)
        .ok_or_else(|| not_found_at(uri.path()))?
        .sid;
    let now = time::rfc3339(SystemTime::now());
    let updated = emulator.address_store().update(&sid, |stored| {
        let mut address = stored.clone();
        address_params::apply(&given, &mut address);
        address.date_updated = Some(now);
        Ok::<_, ErrorBody>(address)
    });
    match updated.map_err(error)? {
        Some(address) => Ok(Json(with_url(&address, &base_url(&headers, &uri))).into_response()),
        // Deleted between the look-up and the update.
        None => Err(not_found_at(uri.path()).into()),
    }
}

pub async fn delete(State(emulator): State<Emulator>, uri: Uri, Path(key): Path<String>) -> Answer {
    if let Some(failure) = emulator.count_call(Op::AddressDelete) {
        return Err(failure.into());
    }
    match emulator.find_address(&key) {
        Some(found) if emulator.address_store().remove(&found.sid) => {
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        _ => Err(not_found_at(uri.path()).into()),
    }
}

pub fn with_url(address: &AddressConfiguration, base: &str) -> AddressConfiguration {
    AddressConfiguration {
        url: Some(format!("{base}{PATH}/{}", address.sid)),
        ..address.clone()
    }
}

/// A second configuration for an address of the same type. Twilio documents no error code
/// for it; the Conversations API answers its other uniqueness conflicts (e.g. 50353, a
/// conversation's unique name) with HTTP 409, so 409 here, with the emulator's usual code for
/// a bare status (20000 + 409). A client tells it from other refusals by the status.
fn duplicate(existing: &AddressConfiguration) -> ErrorBody {
    ErrorBody::new(
        20409,
        format!(
            "An address configuration for {} of type {} already exists: {}",
            existing.address.as_deref().unwrap_or(""),
            existing.r#type.as_deref().unwrap_or(""),
            existing.sid
        ),
        409,
    )
}
