//! Devices as the dashboard lists them, and a device's event history.

use axum::extract::{Path, State};
use axum::Json;
use chrono::Utc;
use serde::Deserialize;
use utoipa::IntoParams;
use watershed_domain::ports::StreamQuery;
use watershed_http_edge::{ApiError, ApiQuery, ErrorBody, ReadAccess};

use super::{all_devices, device_id, find_device, unavailable};
use crate::dto::{DeviceDto, DeviceList, EnvelopeDto, EventList};
use crate::QueryState;

/// The most events one history page returns.
const MAX_EVENTS: u64 = 500;

/// Every device with status, last seen and latest value per sensor, sorted by id.
#[utoipa::path(get, path = "/v1/devices", tag = "devices",
    security(("read_token" = []), ("admin_token" = [])),
    responses((status = 200, body = DeviceList), (status = 401, body = ErrorBody)))]
pub async fn list(
    State(state): State<QueryState>,
    _: ReadAccess,
) -> Result<Json<DeviceList>, ApiError> {
    let now = Utc::now();
    let devices = all_devices(&state)
        .await?
        .into_iter()
        .map(|v| DeviceDto::new(v, now))
        .collect();
    Ok(Json(DeviceList { devices }))
}

/// One device.
#[utoipa::path(get, path = "/v1/devices/{device_id}", tag = "devices",
    params(("device_id" = String, Path)),
    security(("read_token" = []), ("admin_token" = [])),
    responses((status = 200, body = DeviceDto), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get(
    State(state): State<QueryState>,
    _: ReadAccess,
    Path(raw_id): Path<String>,
) -> Result<Json<DeviceDto>, ApiError> {
    let id = device_id(raw_id)?;
    let view = find_device(&state, &id).await?;
    Ok(Json(DeviceDto::new(view, Utc::now())))
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct EventsParams {
    /// How many events (1–500, default 50).
    limit: Option<u64>,
    /// Only events before this stream sequence (for paging back).
    before: Option<u64>,
}

/// The device's latest events from the event store, newest first.
#[utoipa::path(get, path = "/v1/devices/{device_id}/events", tag = "devices",
    params(("device_id" = String, Path), EventsParams),
    security(("read_token" = []), ("admin_token" = [])),
    responses((status = 200, body = EventList), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn events(
    State(state): State<QueryState>,
    _: ReadAccess,
    Path(raw_id): Path<String>,
    ApiQuery(params): ApiQuery<EventsParams>,
) -> Result<Json<EventList>, ApiError> {
    let id = device_id(raw_id)?;
    let limit = params.limit.unwrap_or(50);
    if !(1..=MAX_EVENTS).contains(&limit) {
        return Err(ApiError::Invalid {
            code: "invalid_input",
            message: format!("must be between 1 and {MAX_EVENTS}"),
            field: Some("limit".to_owned()),
        });
    }
    let version = state.store.stream_version(&id).await.map_err(unavailable)?;
    if version == 0 {
        return Err(ApiError::device_not_found(&id));
    }
    let end = params.before.unwrap_or(version + 1).min(version + 1);
    let from = end.saturating_sub(limit).max(1);
    let mut events = state
        .store
        .read_stream(&id, StreamQuery::from(from, (end - from) as usize))
        .await
        .map_err(unavailable)?;
    events.reverse();
    Ok(Json(EventList {
        events: events.into_iter().map(EnvelopeDto::new).collect(),
    }))
}
