//! Device administration (admin token): register, rotate a key, rename, move, tag, disable,
//! enable, decommission.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use base64::Engine;
use chrono::{DateTime, Utc};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;
use watershed_domain::limits::Limits;
use watershed_domain::{Command, DeviceId, KeyHash, Label, Tag, ValidationError};
use watershed_http_edge::{path::DevicePath, AdminAccess, ApiError, ApiJson, ErrorBody};

use super::{api_error, correlation_id, device_id};
use crate::handler::CommandContext;
use crate::CommandState;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterDevice {
    /// 1–64 of `A-Z a-z 0-9 - _ . :`.
    #[schema(
        example = "pump-0042",
        pattern = r"^[A-Za-z0-9._:-]{1,64}$",
        min_length = 1,
        max_length = 64
    )]
    pub device_id: String,
    /// 1–128 printable characters, no spaces at the ends.
    #[schema(value_type = Option<String>, example = "Pump 42", min_length = 1, max_length = 128,
        pattern = r"^[^\s\x00-\x1f\x7f-\x9f](?:[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f])?$")]
    pub name: Option<Label>,
    /// As `name`.
    #[schema(value_type = Option<String>, example = "pump", min_length = 1, max_length = 128,
        pattern = r"^[^\s\x00-\x1f\x7f-\x9f](?:[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f])?$")]
    pub kind: Option<Label>,
    /// As `name`.
    #[schema(value_type = Option<String>, example = "Hall B", min_length = 1, max_length = 128,
        pattern = r"^[^\s\x00-\x1f\x7f-\x9f](?:[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f])?$")]
    pub location: Option<Label>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeviceKeyIssued {
    pub device_id: String,
    /// The device's bearer key. Shown once: only its hash is stored.
    pub device_key: String,
    pub event_id: Uuid,
    pub stream_seq: u64,
    /// After a rotation with an overlap: until when the replaced key still works.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous_key_valid_until: Option<DateTime<Utc>>,
}

/// The longest overlap a rotation gives the replaced key.
const MAX_OVERLAP_SECS: u32 = 30 * 86_400;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RotateKey {
    /// Seconds the replaced key keeps working beside the new one (0 to 2592000, 30 days), so
    /// that devices can be moved to the new key without downtime. Absent or 0: it stops at once.
    #[schema(minimum = 0, maximum = 2592000)]
    pub previous_key_valid_for_secs: Option<u32>,
}

/// Why a device is disabled or decommissioned, kept in the event.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Reason {
    /// As a device's `name`.
    #[schema(value_type = Option<String>, min_length = 1, max_length = 128,
        pattern = r"^[^\s\x00-\x1f\x7f-\x9f](?:[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f])?$")]
    pub reason: Option<Label>,
}

/// The fields to change; a field left out stays as it is, `null` removes it.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeProfile {
    /// As at registration.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, nullable, example = "Pump 42", min_length = 1, max_length = 128,
        pattern = r"^[^\s\x00-\x1f\x7f-\x9f](?:[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f])?$")]
    pub name: Option<Option<Label>>,
    /// Where the device now is (a move), as `name`.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, nullable, example = "Hall C", min_length = 1, max_length = 128,
        pattern = r"^[^\s\x00-\x1f\x7f-\x9f](?:[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f])?$")]
    pub location: Option<Option<Label>>,
    /// The device's tags from now on, replacing all it had: at most 32, each 1–64 of
    /// `A-Z a-z 0-9 - _ . : = /`; repeats count once.
    #[schema(value_type = Option<Vec<String>>, max_items = 32, example = json!(["line-3", "site=berlin"]))]
    pub tags: Option<Vec<Tag>>,
    /// The device's own ingest limits, over its kind's; a limit left out or `null` is its
    /// kind's. `null` for the whole object: the kind's limits only.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<Limits>, nullable)]
    pub limits: Option<Option<Limits>>,
}

/// A field that is present, `null` included, as `Some`; an absent one stays `None` (by
/// `#[serde(default)]`).
fn present<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

/// A body that may be left out: empty, or `null`, is `None`.
fn optional_body<T: serde::de::DeserializeOwned>(body: &Bytes) -> Result<Option<T>, ApiError> {
    if body.is_empty() {
        return Ok(None);
    }
    watershed_http_edge::json::parse::<Option<T>>(body)
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeviceChanged {
    pub device_id: String,
    pub event_id: Uuid,
    pub stream_seq: u64,
}

/// A fresh 256-bit device key, URL-safe.
pub(super) fn new_key() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    format!(
        "wsk_{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    )
}

/// Runs a command that gives the device a fresh key, and answers with the key (shown only now).
async fn issue_key(
    state: &CommandState,
    id: &DeviceId,
    headers: &HeaderMap,
    command: impl FnOnce(KeyHash) -> Command,
) -> Result<DeviceKeyIssued, ApiError> {
    let key = new_key();
    let outcome = state
        .handler
        .execute(id, command(KeyHash::of(&key)), context(headers))
        .await
        .map_err(|e| api_error(id, e))?;
    Ok(DeviceKeyIssued {
        device_id: id.to_string(),
        device_key: key,
        event_id: outcome.committed.event_id,
        stream_seq: outcome.committed.stream_seq,
        previous_key_valid_until: None,
    })
}

pub(super) fn context(headers: &HeaderMap) -> CommandContext {
    CommandContext {
        now: Utc::now(),
        correlation_id: correlation_id(headers),
        idempotency_key: None,
    }
}

/// Register a device; the answer carries its key, shown only this once.
#[utoipa::path(post, path = "/v1/devices", tag = "devices",
    request_body = RegisterDevice,
    security(("admin_token" = [])),
    responses(
        (status = 201, body = DeviceKeyIssued),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody, description = "the read-only token cannot register"),
        (status = 409, body = ErrorBody, description = "the id is taken"),
        (status = 413, body = ErrorBody), (status = 415, body = ErrorBody),
    ))]
pub async fn register(
    State(state): State<CommandState>,
    _: AdminAccess,
    headers: HeaderMap,
    ApiJson(body): ApiJson<RegisterDevice>,
) -> Result<(StatusCode, Json<DeviceKeyIssued>), ApiError> {
    let id = device_id(body.device_id)?;
    let issued = issue_key(&state, &id, &headers, |key_hash| Command::Register {
        name: body.name,
        kind: body.kind,
        location: body.location,
        key_hash,
    })
    .await?;
    tracing::info!(device_id = %id, "device registered");
    Ok((StatusCode::CREATED, Json(issued)))
}

/// Issue a new key for a device. The old key stops working at once, or, with
/// `previous_key_valid_for_secs`, at that deadline (the new one works at once).
#[utoipa::path(post, path = "/v1/devices/{device_id}/key", tag = "devices",
    params(DevicePath),
    request_body(content = Option<RotateKey>),
    security(("admin_token" = [])),
    responses(
        (status = 200, body = DeviceKeyIssued),
        (status = 400, body = ErrorBody, description = "not a device id, or the body is not a rotation"),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 413, body = ErrorBody),
    ))]
pub async fn rotate_key(
    State(state): State<CommandState>,
    _: AdminAccess,
    headers: HeaderMap,
    Path(raw_id): Path<String>,
    body: Bytes,
) -> Result<Json<DeviceKeyIssued>, ApiError> {
    let id = device_id(raw_id)?;
    // Without a body, the old key stops at once.
    let overlap = optional_body::<RotateKey>(&body)?.and_then(|r| r.previous_key_valid_for_secs);
    let overlap = match overlap {
        Some(secs) if secs > MAX_OVERLAP_SECS => {
            return Err(ApiError::invalid(ValidationError::new(
                "previous_key_valid_for_secs",
                format!("at most {MAX_OVERLAP_SECS} (30 days)"),
            )))
        }
        Some(0) | None => None,
        Some(secs) => Some(chrono::Duration::seconds(i64::from(secs))),
    };
    let previous_valid_until = overlap.map(|overlap| Utc::now() + overlap);
    let mut issued = issue_key(&state, &id, &headers, |key_hash| Command::RotateKey {
        key_hash,
        previous_valid_until,
    })
    .await?;
    issued.previous_key_valid_until = previous_valid_until;
    tracing::info!(device_id = %id, ?previous_valid_until, "device key rotated");
    Ok(Json(issued))
}

/// Runs an administrative command and answers where its (last) event landed.
async fn change(
    state: &CommandState,
    id: &DeviceId,
    headers: &HeaderMap,
    command: Command,
) -> Result<Json<DeviceChanged>, ApiError> {
    let outcome = state
        .handler
        .execute(id, command, context(headers))
        .await
        .map_err(|e| api_error(id, e))?;
    Ok(Json(DeviceChanged {
        device_id: id.to_string(),
        event_id: outcome.committed.event_id,
        stream_seq: outcome.committed.stream_seq,
    }))
}

/// Rename, move or retag a device, or set its own limits: each field present is replaced (`null`
/// removes it), one event per field that changes.
#[utoipa::path(patch, path = "/v1/devices/{device_id}", tag = "devices",
    params(DevicePath),
    request_body = ChangeProfile,
    security(("admin_token" = [])),
    responses(
        (status = 200, body = DeviceChanged, description = "the last event recorded"),
        (status = 400, body = ErrorBody, description = "a field is not valid, or more than 32 tags"),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "the device already has these values"),
        (status = 413, body = ErrorBody), (status = 415, body = ErrorBody),
    ))]
pub async fn change_profile(
    State(state): State<CommandState>,
    _: AdminAccess,
    headers: HeaderMap,
    Path(raw_id): Path<String>,
    ApiJson(body): ApiJson<ChangeProfile>,
) -> Result<Json<DeviceChanged>, ApiError> {
    let id = device_id(raw_id)?;
    let command = Command::ChangeProfile {
        name: body.name,
        location: body.location,
        tags: body.tags.map(|tags| tags.into_iter().collect()),
        limits: body
            .limits
            .map(|l| l.map(Limits::validated).transpose())
            .transpose()
            .map_err(|e| ApiError::invalid(e.within("limits")))?
            .map(Option::unwrap_or_default),
    };
    let changed = change(&state, &id, &headers, command).await?;
    tracing::info!(device_id = %id, "device profile changed");
    Ok(changed)
}

/// Disable a device: its key and tokens are refused (HTTP 403, MQTT connection refused) and
/// nothing it sends is written, until it is enabled again.
#[utoipa::path(post, path = "/v1/devices/{device_id}/disable", tag = "devices",
    params(DevicePath),
    request_body(content = Option<Reason>),
    security(("admin_token" = [])),
    responses(
        (status = 200, body = DeviceChanged),
        (status = 400, body = ErrorBody, description = "not a device id, or the body is not a reason"),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "the device is already disabled"),
        (status = 413, body = ErrorBody),
    ))]
pub async fn disable(
    State(state): State<CommandState>,
    _: AdminAccess,
    headers: HeaderMap,
    Path(raw_id): Path<String>,
    body: Bytes,
) -> Result<Json<DeviceChanged>, ApiError> {
    let disable = |reason| Command::Disable { reason };
    change_with_reason(&state, &headers, raw_id, &body, disable, "disabled").await
}

/// Enable a disabled device: its keys and tokens work again.
#[utoipa::path(post, path = "/v1/devices/{device_id}/enable", tag = "devices",
    params(DevicePath),
    security(("admin_token" = [])),
    responses(
        (status = 200, body = DeviceChanged),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "the device is not disabled"),
    ))]
pub async fn enable(
    State(state): State<CommandState>,
    _: AdminAccess,
    headers: HeaderMap,
    Path(raw_id): Path<String>,
) -> Result<Json<DeviceChanged>, ApiError> {
    let id = device_id(raw_id)?;
    let changed = change(&state, &id, &headers, Command::Enable).await?;
    tracing::info!(device_id = %id, "device enabled");
    Ok(changed)
}

/// Decommission a device: it accepts no more readings; its history stays.
#[utoipa::path(post, path = "/v1/devices/{device_id}/decommission", tag = "devices",
    params(DevicePath),
    request_body(content = Option<Reason>),
    security(("admin_token" = [])),
    responses(
        (status = 200, body = DeviceChanged),
        (status = 400, body = ErrorBody, description = "not a device id, or the body is not a decommission"),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 413, body = ErrorBody),
    ))]
pub async fn decommission(
    State(state): State<CommandState>,
    _: AdminAccess,
    headers: HeaderMap,
    Path(raw_id): Path<String>,
    body: Bytes,
) -> Result<Json<DeviceChanged>, ApiError> {
    let decommission = |reason| Command::Decommission { reason };
    change_with_reason(
        &state,
        &headers,
        raw_id,
        &body,
        decommission,
        "decommissioned",
    )
    .await
}

/// Runs the command `command` makes of the optional `{"reason": …}` body.
async fn change_with_reason(
    state: &CommandState,
    headers: &HeaderMap,
    raw_id: String,
    body: &Bytes,
    command: impl FnOnce(Option<Label>) -> Command,
    done: &str,
) -> Result<Json<DeviceChanged>, ApiError> {
    let id = device_id(raw_id)?;
    let reason = optional_body::<Reason>(body)?.and_then(|r| r.reason);
    let changed = change(state, &id, headers, command(reason)).await?;
    tracing::info!(device_id = %id, "device {done}");
    Ok(changed)
}
