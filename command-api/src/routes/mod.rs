//! The command routes: device administration and ingest.

mod devices;
pub mod import;
pub mod readings;

use axum::http::HeaderMap;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;
use watershed_domain::ports::StoreError;
use watershed_domain::{DeviceId, DomainError};
use watershed_http_edge::ApiError;

use crate::handler::CommandError;
use crate::CommandState;

pub fn router() -> OpenApiRouter<CommandState> {
    OpenApiRouter::new()
        .routes(routes!(devices::register))
        .routes(routes!(devices::rotate_key))
        .routes(routes!(devices::change_profile))
        .routes(routes!(devices::disable))
        .routes(routes!(devices::enable))
        .routes(routes!(devices::decommission))
        .routes(routes!(readings::record))
        .merge(import::router())
}

fn device_id(raw: String) -> Result<DeviceId, ApiError> {
    DeviceId::parse(raw).map_err(ApiError::invalid)
}

/// `X-Correlation-Id`, when it is a UUID, links the events to the caller's own trace.
fn correlation_id(headers: &HeaderMap) -> Option<Uuid> {
    headers
        .get("x-correlation-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| Uuid::parse_str(v).ok())
}

pub(crate) fn api_error(device: &DeviceId, e: CommandError) -> ApiError {
    match e {
        CommandError::Refused(DomainError::AlreadyRegistered) => ApiError::Conflict {
            code: "device_exists",
            message: format!("device {device} is already registered"),
        },
        CommandError::Refused(DomainError::NotRegistered) => ApiError::device_not_found(device),
        CommandError::Refused(DomainError::Decommissioned) => ApiError::Forbidden {
            code: "device_decommissioned",
            message: format!("device {device} is decommissioned and accepts no commands"),
        },
        CommandError::Refused(DomainError::Disabled) => ApiError::Forbidden {
            code: "device_disabled",
            message: format!("device {device} is disabled; an administrator can enable it"),
        },
        CommandError::Refused(refusal @ DomainError::Unchanged(_)) => ApiError::Conflict {
            code: "unchanged",
            message: refusal.to_string(),
        },
        CommandError::Refused(refusal @ DomainError::TooManyTags { .. }) => ApiError::Invalid {
            code: "too_many_tags",
            message: refusal.to_string(),
            field: Some("tags".to_owned()),
        },
        CommandError::Refused(DomainError::InvalidKey) => {
            ApiError::Unauthorized("unknown device, or not its key or token".to_owned())
        }
        CommandError::Refused(refusal @ DomainError::TooManySensors { .. }) => ApiError::Invalid {
            code: "too_many_sensors",
            message: refusal.to_string(),
            field: Some("readings".to_owned()),
        },
        CommandError::KeyReused { key, .. } => ApiError::Conflict {
            code: "idempotency_key_reused",
            message: format!(
                "batch_id {key} was already used for a different batch of {device}; \
                 a resend must carry the same readings"
            ),
        },
        CommandError::Contended(_) => ApiError::Unavailable(e.to_string()),
        CommandError::Store(e) => store_error(e),
    }
}

/// A store failure that ends a command: nothing was written (a conflict only after retries).
pub(crate) fn store_error(e: StoreError) -> ApiError {
    match e {
        StoreError::Conflict { .. } => ApiError::Unavailable(e.to_string()),
        StoreError::Unavailable(m) => ApiError::Unavailable(m),
        // Commands read no cursors; a cursor error here is the store's fault.
        StoreError::Corrupt(m) | StoreError::BadCursor(m) => ApiError::Internal(m),
    }
}
