//! The alert list: every alert, active or cleared, acknowledged or not, newest raised first.

use axum::extract::State;
use axum::Json;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use watershed_domain::read_model::AlertQuery;
use watershed_domain::Severity;
use watershed_http_edge::{ApiError, ApiQuery, ErrorBody, ReadAccess};

use super::{device_id, unavailable};
use crate::dto::{AlertDto, AlertList};
use crate::QueryState;

/// The most alerts one answer lists.
const MAX_ALERTS: u32 = 1000;

#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AlertState {
    Active,
    Cleared,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AlertParams {
    /// Only active (raised, not cleared) or only cleared alerts.
    state: Option<AlertState>,
    /// Only acknowledged (`true`) or unacknowledged (`false`) alerts.
    acknowledged: Option<bool>,
    /// Only alerts of this severity.
    severity: Option<Severity>,
    /// Only alerts of this device.
    #[param(pattern = r"^[A-Za-z0-9._:-]{1,64}$", min_length = 1, max_length = 64)]
    device: Option<String>,
    /// At most this many (default 100).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<u32>,
}

/// Alerts, newest raised first, filtered by state, acknowledgement, severity and device.
#[utoipa::path(get, path = "/v1/alerts", tag = "alerts",
    params(AlertParams),
    security(("read_token" = []), ("admin_token" = [])),
    responses((status = 200, body = AlertList), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn list(
    State(state): State<QueryState>,
    _: ReadAccess,
    ApiQuery(params): ApiQuery<AlertParams>,
) -> Result<Json<AlertList>, ApiError> {
    let limit = params.limit.unwrap_or(100);
    if !(1..=MAX_ALERTS).contains(&limit) {
        return Err(ApiError::Invalid {
            code: "invalid_query",
            message: format!("limit must be 1 to {MAX_ALERTS}"),
            field: Some("limit".to_owned()),
        });
    }
    let query = AlertQuery {
        alert_id: None,
        active: params.state.map(|s| matches!(s, AlertState::Active)),
        acknowledged: params.acknowledged,
        severity: params.severity,
        device: params.device.map(device_id).transpose()?,
        limit: limit as usize,
    };
    let alerts = state.read_model.alerts(&query).await.map_err(unavailable)?;
    Ok(Json(AlertList {
        alerts: alerts.into_iter().map(AlertDto::from).collect(),
    }))
}
