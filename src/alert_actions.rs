//! Operators act on alerts, served with the query API (admin token): `POST /v1/alerts/{id}/ack`
//! and `POST /v1/alerts/{id}/clear`. The alert list names the device; the device's stream decides
//! (`AlertLifecycle`), and the decision is appended there as an event like any other, so the
//! read models, the live stream and the webhooks hear of it. Asking twice changes nothing.

use std::sync::Arc;

use axum::extract::{FromRef, State};
use axum::Json;
use chrono::Utc;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;
use watershed_domain::event::{EventMeta, ExpectedVersion};
use watershed_domain::ports::{EventStore, ReadModel, StoreError, StreamQuery};
use watershed_domain::read_model::AlertQuery;
use watershed_domain::{
    AlertAction, AlertLifecycle, AppendOutcome, DeviceId, IdempotencyKey, Label, NewEvent,
};
use watershed_http_edge::path::ApiPath;
use watershed_http_edge::{AdminAccess, ApiError, ApiJson, ApiTokens, ErrorBody};

/// How often an action is tried against a stream that ingest keeps moving.
const MAX_ATTEMPTS: usize = 16;

#[derive(Clone)]
pub struct AlertActionState {
    pub store: Arc<dyn EventStore>,
    pub read_model: Arc<dyn ReadModel>,
    pub tokens: ApiTokens,
}

impl FromRef<AlertActionState> for ApiTokens {
    fn from_ref(state: &AlertActionState) -> Self {
        state.tokens.clone()
    }
}

pub fn router(state: AlertActionState) -> OpenApiRouter {
    OpenApiRouter::new()
        .routes(routes!(acknowledge))
        .routes(routes!(clear))
        .with_state(state)
}

/// Who acts, and why.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AlertActionRequest {
    /// Who acts: 1–128 printable characters, no spaces at the ends.
    #[schema(value_type = String, example = "Ana (on call)", min_length = 1, max_length = 128,
        pattern = r"^[^\s\x00-\x1f\x7f-\x9f](?:[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f])?$")]
    pub by: Label,
    /// As `by`.
    #[schema(value_type = Option<String>, example = "pump restarted", min_length = 1, max_length = 128,
        pattern = r"^[^\s\x00-\x1f\x7f-\x9f](?:[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f])?$")]
    pub note: Option<Label>,
}

/// Where the alert stands after the action.
#[derive(Debug, Serialize, ToSchema)]
pub struct AlertActionDone {
    pub id: Uuid,
    pub device_id: String,
    /// `active` or `cleared`.
    #[schema(example = "cleared", pattern = "^(active|cleared)$")]
    pub state: &'static str,
    pub acknowledged: bool,
    /// False when the alert already was where the action would put it.
    pub changed: bool,
}

/// Acknowledges an alert, active or cleared: someone has it in hand.
#[utoipa::path(post, path = "/v1/alerts/{id}/ack", tag = "alerts",
    params(("id" = Uuid, Path, description = "the alert's id, from `GET /v1/alerts`")),
    request_body = AlertActionRequest,
    security(("admin_token" = [])),
    responses((status = 200, body = AlertActionDone), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 413, body = ErrorBody),
        (status = 415, body = ErrorBody), (status = 503, body = ErrorBody)))]
async fn acknowledge(
    State(state): State<AlertActionState>,
    _: AdminAccess,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<AlertActionRequest>,
) -> Result<Json<AlertActionDone>, ApiError> {
    act(&state, id, AlertAction::Acknowledge, body)
        .await
        .map(Json)
}

/// Clears an active alert by hand; its rule may raise a new one on the next reading past its
/// threshold.
#[utoipa::path(post, path = "/v1/alerts/{id}/clear", tag = "alerts",
    params(("id" = Uuid, Path, description = "the alert's id, from `GET /v1/alerts`")),
    request_body = AlertActionRequest,
    security(("admin_token" = [])),
    responses((status = 200, body = AlertActionDone), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 413, body = ErrorBody),
        (status = 415, body = ErrorBody), (status = 503, body = ErrorBody)))]
async fn clear(
    State(state): State<AlertActionState>,
    _: AdminAccess,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<AlertActionRequest>,
) -> Result<Json<AlertActionDone>, ApiError> {
    act(&state, id, AlertAction::Clear, body).await.map(Json)
}

fn not_found(id: Uuid) -> ApiError {
    ApiError::NotFound {
        code: "alert_not_found",
        message: format!("no alert {id} (a new one is listed once the read models have it)"),
    }
}

fn unavailable(e: impl std::fmt::Display) -> ApiError {
    ApiError::Unavailable(e.to_string())
}

async fn act(
    state: &AlertActionState,
    id: Uuid,
    action: AlertAction,
    request: AlertActionRequest,
) -> Result<AlertActionDone, ApiError> {
    let query = AlertQuery {
        alert_id: Some(id),
        limit: 1,
        ..AlertQuery::default()
    };
    let listed = state.read_model.alerts(&query).await.map_err(unavailable)?;
    let device = listed
        .first()
        .ok_or_else(|| not_found(id))?
        .device_id
        .clone();
    let key = IdempotencyKey::internal(match action {
        AlertAction::Acknowledge => format!("alert-ack:{id}"),
        AlertAction::Clear => format!("alert-clear:{id}"),
    });
    for _ in 0..MAX_ATTEMPTS {
        let (version, alert) = lifecycle(&*state.store, &device, id)
            .await
            .map_err(unavailable)?;
        let alert = alert.ok_or_else(|| not_found(id))?;
        let decided = alert.decide(action, request.by.clone(), request.note.clone());
        let Some(event) = decided.first() else {
            return Ok(done(&device, &alert, false));
        };
        let now = Utc::now();
        let meta = EventMeta {
            event_id: Uuid::now_v7(),
            occurred_at: now,
            recorded_at: now,
            correlation_id: None,
            causation_id: Some(id),
        };
        let appended = state
            .store
            .append(
                &device,
                ExpectedVersion::Exactly(version),
                vec![NewEvent::new(meta, event, Some(key.clone()))],
            )
            .await;
        match appended {
            Ok(AppendOutcome::Appended(_)) => {
                let mut after = alert.clone();
                match action {
                    AlertAction::Acknowledge => after.acknowledged = true,
                    AlertAction::Clear => after.active = false,
                }
                tracing::info!(alert = %id, device = %device, by = %request.by, "alert {action:?}");
                return Ok(done(&device, &after, true));
            }
            // Another request did this first: the next round reads where it left the alert.
            Ok(AppendOutcome::Duplicate(_) | AppendOutcome::KeyReused(_))
            | Err(StoreError::Conflict { .. }) => continue,
            Err(e) => return Err(unavailable(e)),
        }
    }
    Err(ApiError::Unavailable(format!(
        "device {device} moved on {MAX_ATTEMPTS} times while acting on alert {id}"
    )))
}

/// The stream's version, and the alert as the stream up to it leaves it.
async fn lifecycle(
    store: &dyn EventStore,
    device: &DeviceId,
    id: Uuid,
) -> Result<(u64, Option<AlertLifecycle>), StoreError> {
    let version = store.stream_version(device).await?;
    let query = StreamQuery {
        from_seq: 1,
        limit: usize::MAX,
        only_types: Some(AlertLifecycle::EVENT_TYPES),
    };
    let events = store.read_stream(device, query).await?;
    let mut decoded = Vec::with_capacity(events.len());
    for event in events.iter().filter(|e| e.stream_seq <= version) {
        let payload = event
            .decode()
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        decoded.push((event.meta.event_id, payload));
    }
    let alert = AlertLifecycle::fold(id, decoded.iter().map(|(id, e)| (*id, e)));
    Ok((version, alert))
}

fn done(device: &DeviceId, alert: &AlertLifecycle, changed: bool) -> AlertActionDone {
    AlertActionDone {
        id: alert.alert_id,
        device_id: device.to_string(),
        state: if alert.active { "active" } else { "cleared" },
        acknowledged: alert.acknowledged,
        changed,
    }
}
