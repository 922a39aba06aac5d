//! `/admin/*` on the ops listener: each pair's state, and plan/apply over HTTP.
//! Only with `Authorization: Bearer $FLEXROUTE_ADMIN_TOKEN` (`super::auth`); without a
//! configured token the endpoints do not exist. Answers carry SIDs and states, never a
//! credential.

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use super::AppState;
use super::error::{ApiError, ErrorBody, ErrorCode};
use crate::provision::Source;
use crate::provision::plan::{self, PlanItem};
use crate::provision::store::StoreProblem;
use crate::reload::ReloadReport;

/// `GET /admin/routes`' answer.
#[derive(Serialize, ToSchema)]
pub struct Routes {
    /// The state store as this replica sees it.
    state_store: StoreState,
    routes: Vec<RouteState>,
}

/// Whether the state store answers, and if not, why (the embedded stores always answer).
#[derive(Serialize, ToSchema)]
pub struct StoreState {
    up: bool,
    /// Why the shared store fails now, from its last failure (`null` while it answers).
    problem: Option<StoreProblem>,
}

/// One configured (site, language) pair as this replica sees it.
#[derive(Serialize, ToSchema)]
pub struct RouteState {
    site: String,
    language: String,
    /// The pair's address kind (`address_kind`).
    kind: crate::address::AddressKind,
    /// Whether this is the site's default language.
    default: bool,
    state: PairState,
    /// The address's SID, once known.
    sid: Option<String>,
    /// Where the SID came from (never `upstream` here).
    source: Option<Source>,
    /// False while the address is served but its record could not be written to the state
    /// store (retried every few seconds; `flexroute_unpersisted_addresses` counts such pairs).
    persisted: bool,
    /// The last provisioning attempt's error, while the pair is failing.
    last_error: Option<String>,
    failed_attempts: u32,
    /// Seconds until the next attempt, while the pair is failing.
    retry_in_secs: Option<u64>,
    /// Other addresses at Twilio with the pair's friendly name (orphans of a create Twilio
    /// applied late; never served). For a pair without an address, every address with its
    /// name: flexroute does not guess between them.
    duplicates: Vec<String>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PairState {
    Ready,
    Provisioning,
    Failing,
    Missing,
}

/// Every configured pair: its address, where it came from, its state.
#[utoipa::path(
    get,
    path = "/admin/routes",
    tag = "admin",
    operation_id = "adminRoutes",
    security(("admin_token" = [])),
    responses(
        (status = 200, description = "Every configured pair.", body = Routes),
        (status = 401, description = "`unauthorized`: missing or wrong bearer token.", body = ErrorBody),
        (status = 404, description = "`not_found`: the admin API is off (no `FLEXROUTE_ADMIN_TOKEN`).", body = ErrorBody),
    ),
)]
pub async fn routes(State(app): State<AppState>) -> Json<Routes> {
    let table = app.table();
    let p = &app.provisioner;
    let mut routes = Vec::new();
    for site in &table.sites {
        for pair in &site.pairs {
            let known = p.known(site, pair);
            let failure = p.failure(site, pair);
            let state = match (&known, &failure) {
                (Some(_), _) => PairState::Ready,
                (None, _) if p.is_provisioning(site, pair) => PairState::Provisioning,
                (None, Some(_)) => PairState::Failing,
                (None, None) => PairState::Missing,
            };
            routes.push(RouteState {
                site: site.id.to_string(),
                language: pair.language.to_string(),
                kind: pair.kind,
                default: std::ptr::eq(pair, site.default_pair()),
                state,
                sid: known.as_ref().map(|(address, _)| address.sid().to_string()),
                source: known.as_ref().map(|(_, source)| *source),
                persisted: p.persisted(site, pair),
                last_error: failure.as_ref().map(|f| f.error.to_string()),
                failed_attempts: failure.as_ref().map_or(0, |f| f.attempts),
                retry_in_secs: failure.as_ref().map(|f| {
                    f.retry_at
                        .saturating_duration_since(std::time::Instant::now())
                        .as_secs()
                }),
                duplicates: p.duplicates(&crate::provision::key(site, pair)),
            });
        }
    }
    let state_store = StoreState {
        up: p.store_up(),
        problem: p.store_problem(),
    };
    Json(Routes {
        state_store,
        routes,
    })
}

#[derive(serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ProvisionQuery {
    /// `true` (the default): only say what would be done. `false`: do it.
    #[serde(default = "yes")]
    #[param(default = true)]
    dry_run: bool,
    /// With `dry_run=false`: also delete the other addresses carrying a pair's name
    /// (`orphans`), for pairs whose address is known and exists at Twilio.
    #[serde(default)]
    #[param(default = false)]
    delete_orphans: bool,
}

fn yes() -> bool {
    true
}

/// `POST /admin/provision`'s answer: the plan, and with `dry_run=false` what was done.
#[derive(Serialize, ToSchema)]
pub struct Provisioned {
    dry_run: bool,
    pairs: Vec<PlanItem>,
}

/// Plan (default) or apply: make Twilio agree with the routing table.
///
/// Compares every configured pair with Twilio and says (default) or does what it takes to make
/// them agree: create, adopt or update Flex Flows.
#[utoipa::path(
    post,
    path = "/admin/provision",
    tag = "admin",
    operation_id = "adminProvision",
    security(("admin_token" = [])),
    params(ProvisionQuery),
    responses(
        (status = 200, description = "The plan; with `dry_run=false`, each item's `result`.", body = Provisioned),
        (status = 400, description = "`invalid_request`: `dry_run` or `delete_orphans` is not `true` or `false`.", body = ErrorBody),
        (status = 401, description = "`unauthorized`: missing or wrong bearer token.", body = ErrorBody),
        (status = 404, description = "`not_found`: the admin API is off (no `FLEXROUTE_ADMIN_TOKEN`).", body = ErrorBody),
        (status = 502, description = "`upstream_error`: Twilio could not be listed (or provisioning is disabled).", body = ErrorBody),
    ),
)]
pub async fn plan_or_apply(
    State(app): State<AppState>,
    query: Result<axum::extract::Query<ProvisionQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let Ok(axum::extract::Query(query)) = query else {
        return ApiError::new(
            ErrorCode::InvalidRequest,
            "dry_run and delete_orphans must be true or false",
        )
        .into_response();
    };
    let table = app.table();
    let result = if query.dry_run {
        plan::plan(&table, &app.provisioner).await
    } else {
        plan::apply(&table, &app.provisioner, query.delete_orphans).await
    };
    match result {
        Ok(pairs) => Json(Provisioned {
            dry_run: query.dry_run,
            pairs,
        })
        .into_response(),
        Err(e) => ApiError::new(ErrorCode::UpstreamError, e.to_string()).into_response(),
    }
}

/// `POST /admin/reload`'s answer when the new file is in force.
#[derive(Serialize, ToSchema)]
pub struct Reloaded {
    outcome: Succeeded,
    report: ReloadReport,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Succeeded {
    Success,
}

/// `POST /admin/reload`'s answer when the new file was rejected (422).
#[derive(Serialize, ToSchema)]
pub struct ReloadRejected {
    outcome: Failed,
    error: Rejection,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Failed {
    Failure,
}

#[derive(Serialize, ToSchema)]
pub struct Rejection {
    code: InvalidConfig,
    message: &'static str,
    /// Every problem found in the file.
    problems: Vec<String>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum InvalidConfig {
    InvalidConfig,
}

/// Reload the configuration file.
///
/// Reads the configuration file again, validates it completely and swaps it in; a bad file is
/// rejected with every problem named, and the last good table keeps serving.
#[utoipa::path(
    post,
    path = "/admin/reload",
    tag = "admin",
    operation_id = "adminReload",
    security(("admin_token" = [])),
    responses(
        (status = 200, description = "The new configuration is in force.", body = Reloaded),
        (status = 400, description = "`invalid_request`: the server was started without a config file.", body = ErrorBody),
        (status = 401, description = "`unauthorized`: missing or wrong bearer token.", body = ErrorBody),
        (status = 404, description = "`not_found`: the admin API is off (no `FLEXROUTE_ADMIN_TOKEN`).", body = ErrorBody),
        (status = 422, description = "The new file was rejected; the last good one keeps serving.", body = ReloadRejected),
    ),
)]
pub async fn reload(State(app): State<AppState>) -> Response {
    let Some(reloader) = &app.reloader else {
        return ApiError::new(ErrorCode::InvalidRequest, "started without a config file")
            .into_response();
    };
    match reloader.reload(&app.app, "admin").await {
        Ok(report) => Json(Reloaded {
            outcome: Succeeded::Success,
            report,
        })
        .into_response(),
        Err(problems) => (
            http::StatusCode::UNPROCESSABLE_ENTITY,
            Json(ReloadRejected {
                outcome: Failed::Failure,
                error: Rejection {
                    code: InvalidConfig::InvalidConfig,
                    message: "the new configuration was rejected; the last good one keeps serving",
                    problems,
                },
            }),
        )
            .into_response(),
    }
}
