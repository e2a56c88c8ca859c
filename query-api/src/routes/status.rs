//! How far the read models are behind the event store, told honestly.

use axum::extract::State;
use axum::Json;
use chrono::Utc;
use watershed_http_edge::{ApiError, ErrorBody, ReadAccess};

use super::{device_count, unavailable};
use crate::dto::Status;
use crate::QueryState;

/// The most events counted in the bus stage; beyond it the answer says "at least". Kafka and the
/// embedded bus count by arithmetic on offsets or positions, so this costs nothing.
const BUS_COUNT_CAP: usize = 10_000_000;

/// The most events counted in the relay's stage. A change feed with no cheap count (Cosmos DB)
/// reads up to this many events per call, and the dashboard polls status, so it stays small: a
/// call costs the same whatever the backlog.
const FEED_COUNT_CAP: usize = 100;

/// Projection lag: events and seconds between the event store and the read models, summed over the
/// relay (store → bus) and the projectors (bus → read models); and which generation of the read
/// models answers, with any rebuild.
#[utoipa::path(get, path = "/v1/status", tag = "status",
    security(("read_token" = []), ("admin_token" = [])),
    responses((status = 200, body = Status), (status = 401, body = ErrorBody)))]
pub async fn status(
    State(state): State<QueryState>,
    _: ReadAccess,
) -> Result<Json<Status>, ApiError> {
    let lag = &state.lag;
    let mut stages = vec![lag
        .bus
        .backlog(&lag.group, BUS_COUNT_CAP)
        .await
        .map_err(unavailable)?];
    if let Some((feed, reader)) = &lag.relay {
        let cursor = feed.load_cursor(reader).await.map_err(unavailable)?;
        stages.push(
            feed.backlog(&cursor, FEED_COUNT_CAP)
                .await
                .map_err(unavailable)?,
        );
    }
    // The Kafka stage counts its waiting events but cannot date them without fetching one message
    // per partition; an age that ignored them would understate the lag.
    let undated = stages
        .iter()
        .any(|b| b.events > 0 && b.oldest_recorded_at.is_none());
    let oldest_waiting = stages.iter().filter_map(|b| b.oldest_recorded_at).min();
    let lag_seconds = match oldest_waiting {
        _ if undated => None,
        Some(t) => Some((Utc::now() - t).num_milliseconds().max(0) as f64 / 1000.0),
        None => Some(0.0),
    };
    Ok(Json(Status {
        lag_events: stages.iter().map(|b| b.events).sum(),
        lag_capped: stages.iter().any(|b| b.capped),
        lag_seconds,
        devices: device_count(&state).await?,
        read_models: state.generations.load().await.map_err(unavailable)?.into(),
    }))
}
