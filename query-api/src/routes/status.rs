//! How far the read models are behind the event store, told honestly.

use axum::extract::State;
use axum::Json;
use chrono::Utc;
use watershed_http_edge::{ApiError, ErrorBody, ReadAccess};

use super::{all_devices, unavailable};
use crate::dto::Status;
use crate::QueryState;

/// Projection lag: events and seconds between the event store and the read models.
#[utoipa::path(get, path = "/v1/status", tag = "status",
    security(("read_token" = []), ("admin_token" = [])),
    responses((status = 200, body = Status), (status = 401, body = ErrorBody)))]
pub async fn status(
    State(state): State<QueryState>,
    _: ReadAccess,
) -> Result<Json<Status>, ApiError> {
    let head = state.store.head_position().await.map_err(unavailable)?;
    let projected = state.read_model.checkpoint().await.map_err(unavailable)?;
    let oldest_waiting = if head > projected {
        state
            .store
            .read_all(projected, 1)
            .await
            .map_err(unavailable)?
            .first()
            .map(|e| e.meta.recorded_at)
    } else {
        None
    };
    let lag_seconds = oldest_waiting
        .map(|t| (Utc::now() - t).num_milliseconds().max(0) as f64 / 1000.0)
        .unwrap_or(0.0);
    Ok(Json(Status {
        head_position: head,
        projected_position: projected,
        lag_events: head.saturating_sub(projected),
        lag_seconds,
        devices: all_devices(&state).await?.len(),
    }))
}
