//! Ingest: a device sends a batch of readings with its own key.

use axum::extract::{FromRequest, Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;
use watershed_domain::{BatchId, Reading, ReadingBatch};
use watershed_http_edge::{path::DevicePath, ApiError, ApiJson, DeviceAuthorization, ErrorBody};

use super::{correlation_id, device_id};
use crate::ingest::Recorded;
use crate::CommandState;

#[derive(Debug, Deserialize, ToSchema)]
pub struct RecordReadings {
    /// The client's id for this batch: sending it again answers as the first time and stores
    /// nothing new. 1–128 of `A-Z a-z 0-9 - _ . : / + =`.
    #[schema(value_type = String, example = "b-000123", pattern = r"^[A-Za-z0-9._:/+=-]{1,128}$",
        min_length = 1, max_length = 128)]
    pub batch_id: BatchId,
    /// 1 to 1000 readings.
    #[schema(min_items = 1, max_items = 1000)]
    pub readings: Vec<Reading>,
}

impl RecordReadings {
    /// The batch, if the domain accepts it at `now`; the error names the field.
    pub fn into_batch(self, now: DateTime<Utc>) -> Result<ReadingBatch, ApiError> {
        ReadingBatch::new(self.batch_id, self.readings, now).map_err(ApiError::invalid)
    }
}

/// What ingest makes of a request body, as the route does after reading it: the fuzzer's entry.
pub fn decode_batch(body: &[u8], now: DateTime<Utc>) -> Result<ReadingBatch, ApiError> {
    watershed_http_edge::json::parse::<RecordReadings>(body)?.into_batch(now)
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReadingsAccepted {
    pub device_id: String,
    pub batch_id: String,
    pub event_id: Uuid,
    /// The event's place in the device's stream.
    pub stream_seq: u64,
    /// The event's place in the store's global order.
    pub position: u64,
}

/// Record a batch of readings. Success means the batch is durable in the event store.
#[utoipa::path(post, path = "/v1/devices/{device_id}/readings", tag = "ingest",
    params(DevicePath),
    request_body = RecordReadings,
    security(("device_key" = []), ("device_token" = [])),
    responses(
        (status = 201, body = ReadingsAccepted, description = "stored; a repeated batch_id with the same readings answers the same, with `Idempotent-Replayed: true`, even after the device was decommissioned or over its limits",
            headers(
                ("RateLimit-Policy" = String, description = "the device's limits, when it has any: `\"rate\";q=<readings per second>;w=1` and `\"daily\";q=<readings per UTC day>;w=86400`"),
                ("RateLimit" = String, description = "what is left of each: `\"rate\";r=<readings>;t=<seconds until full>`, `\"daily\";r=<readings>;t=<seconds until UTC midnight>`"),
            )),
        (status = 400, body = ErrorBody, description = "invalid input; `field` names it (`too_many_sensors`: the batch would take the device past its number of distinct sensors)"),
        (status = 401, body = ErrorBody, description = "missing key, unknown device, not its key, or a token that is malformed, expired, of another device or not signed with its key (the same answer for each)"),
        (status = 403, body = ErrorBody, description = "the device is disabled (`device_disabled`) or decommissioned"),
        (status = 409, body = ErrorBody, description = "`idempotency_key_reused`: this batch_id was stored with different readings"),
        (status = 413, body = ErrorBody), (status = 415, body = ErrorBody),
        (status = 429, body = ErrorBody, description = "`rate_limited` or `quota_exceeded`: the batch would take the device past its readings per second or per UTC day; nothing was stored",
            headers(
                ("Retry-After" = u64, description = "seconds until the batch could be granted"),
                ("RateLimit-Policy" = String), ("RateLimit" = String),
            )),
        (status = 503, body = ErrorBody, description = "the event store is unavailable; nothing was stored"),
    ))]
pub async fn record(
    State(state): State<CommandState>,
    DeviceAuthorization(key): DeviceAuthorization,
    headers: HeaderMap,
    Path(raw_id): Path<String>,
    request: Request,
) -> Result<Response, ApiError> {
    let started = std::time::Instant::now();
    let answer = ingest(state, key, headers, raw_id, request).await;
    let outcome = match &answer {
        Ok(response) if response.headers().contains_key(REPLAYED) => "replayed",
        Ok(_) => "accepted",
        Err(e) if e.status().is_server_error() => "failed",
        Err(_) => "refused",
    };
    metrics::counter!("watershed_ingest_requests_total", "outcome" => outcome).increment(1);
    metrics::histogram!("watershed_ingest_seconds").record(started.elapsed().as_secs_f64());
    answer
}

const REPLAYED: &str = "idempotent-replayed";

async fn ingest(
    state: CommandState,
    key: String,
    headers: HeaderMap,
    raw_id: String,
    request: Request,
) -> Result<Response, ApiError> {
    let id = device_id(raw_id)?;
    // The key first: a caller without one gets no parsing and no answer about the device.
    let admission = state.authenticate(&id, &key).await?;
    let ApiJson(body) = ApiJson::<RecordReadings>::from_request(request, &state).await?;
    let Recorded {
        outcome,
        batch_id,
        limits,
    } = state
        .record(&id, admission, body, correlation_id(&headers))
        .await?;
    let body = ReadingsAccepted {
        device_id: id.to_string(),
        batch_id: batch_id.to_string(),
        event_id: outcome.committed.event_id,
        stream_seq: outcome.committed.stream_seq,
        position: outcome.committed.position,
    };
    let mut response = (StatusCode::CREATED, Json(body)).into_response();
    if let Some(limits) = &limits {
        watershed_http_edge::rate_limit::insert_headers(response.headers_mut(), limits);
    }
    if outcome.duplicate {
        response
            .headers_mut()
            .insert(REPLAYED, HeaderValue::from_static("true"));
    }
    Ok(response)
}
