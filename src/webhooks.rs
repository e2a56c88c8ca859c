//! Webhook channels for operators, served with the query API (admin token): `GET/POST
//! /v1/webhooks`, `GET/PUT/DELETE /v1/webhooks/{id}`, `POST /v1/webhooks/{id}/secret` (a new
//! secret), and `GET /v1/alerts/{id}/deliveries`, every attempt at telling a channel of an alert.

use std::collections::BTreeSet;
use std::sync::Arc;

use axum::extract::{FromRef, State};
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;
use watershed_domain::ports::{Notifications, NotifyError};
use watershed_domain::{
    Attempt, DeliveryRecord, DeliveryState, Label, NotificationType, RuleName, Severity,
    WebhookChannel, WebhookSecret, WebhookUrl,
};
use watershed_http_edge::path::ApiPath;
use watershed_http_edge::{AdminAccess, ApiError, ApiJson, ApiTokens, ErrorBody};

#[derive(Clone)]
pub struct WebhookState {
    pub store: Arc<dyn Notifications>,
    pub tokens: ApiTokens,
}

impl FromRef<WebhookState> for ApiTokens {
    fn from_ref(state: &WebhookState) -> Self {
        state.tokens.clone()
    }
}

pub fn router(state: WebhookState) -> OpenApiRouter {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(get_one, replace, delete))
        .routes(routes!(new_secret))
        .routes(routes!(deliveries))
        .with_state(state)
}

/// A channel as an operator writes it.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookRequest {
    /// For people: 1–128 printable characters, no spaces at the ends.
    #[schema(value_type = String, example = "ops on-call", min_length = 1, max_length = 128,
        pattern = r"^[^\s\x00-\x1f\x7f-\x9f](?:[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f])?$")]
    pub name: Label,
    /// Where deliveries are posted: an http or https URL with a host and no credentials.
    #[schema(
        example = "https://hooks.example.com/watershed",
        max_length = 2048,
        pattern = r"^https?://[a-z][a-z0-9-]{0,30}(\.[a-z][a-z0-9-]{0,30}){0,4}(:[1-9][0-9]{0,3})?(/[A-Za-z0-9._~-]*){0,8}$"
    )]
    pub url: String,
    /// Only alerts of these severities; every severity when empty or absent.
    #[serde(default)]
    #[schema(max_items = 5)]
    pub severities: Vec<Severity>,
    /// Only alerts of these rules; every rule when empty or absent.
    #[serde(default)]
    #[schema(max_items = 100)]
    pub rules: Vec<RuleName>,
    /// A disabled channel is sent nothing new; true when absent.
    pub enabled: Option<bool>,
}

/// The most rules one channel lists: more is surely a mistake (use no list: every rule).
const MAX_RULES: usize = 100;

fn too_many(field: &str, max: usize) -> ApiError {
    ApiError::Invalid {
        code: "invalid_input",
        message: format!("at most {max} items"),
        field: Some(field.to_owned()),
    }
}

impl WebhookRequest {
    fn channel(
        self,
        id: Uuid,
        created_at: DateTime<Utc>,
        secret: WebhookSecret,
    ) -> Result<WebhookChannel, ApiError> {
        if self.rules.len() > MAX_RULES {
            return Err(too_many("rules", MAX_RULES));
        }
        if self.severities.len() > Severity::ALL.len() {
            return Err(too_many("severities", Severity::ALL.len()));
        }
        Ok(WebhookChannel {
            id,
            name: self.name,
            url: WebhookUrl::parse(&self.url).map_err(ApiError::invalid)?,
            secret,
            severities: self.severities.into_iter().collect(),
            rules: self.rules.into_iter().collect::<BTreeSet<_>>(),
            enabled: self.enabled.unwrap_or(true),
            created_at,
        })
    }
}

/// A channel, without its secret.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookDto {
    pub id: Uuid,
    pub name: String,
    pub url: String,
    /// Empty: every severity.
    pub severities: Vec<Severity>,
    /// Empty: every rule.
    pub rules: Vec<String>,
    pub enabled: bool,
    pub created_at: DateTime<Utc>,
}

impl From<&WebhookChannel> for WebhookDto {
    fn from(c: &WebhookChannel) -> Self {
        Self {
            id: c.id,
            name: c.name.to_string(),
            url: c.url.as_str().to_owned(),
            severities: c.severities.iter().copied().collect(),
            rules: c.rules.iter().map(ToString::to_string).collect(),
            enabled: c.enabled,
            created_at: c.created_at,
        }
    }
}

/// A channel with its signing secret: shown when it is made, never again.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookWithSecret {
    #[serde(flatten)]
    pub webhook: WebhookDto,
    /// `whsec_…`: give it to the receiver, which verifies `webhook-signature` with it (any
    /// Standard Webhooks library does).
    pub secret: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookList {
    /// Oldest first.
    pub webhooks: Vec<WebhookDto>,
}

/// One delivery of an alert transition to one channel.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryDto {
    /// The `webhook-id` of every attempt: the alert event's id.
    pub message_id: Uuid,
    pub alert_id: Uuid,
    pub webhook_id: Uuid,
    pub device_id: String,
    pub r#type: NotificationType,
    pub state: DeliveryState,
    pub created_at: DateTime<Utc>,
    /// When it is tried again, while pending.
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// Why it was given up.
    pub failure: Option<String>,
    /// Oldest first.
    pub attempts: Vec<Attempt>,
}

impl From<DeliveryRecord> for DeliveryDto {
    fn from(r: DeliveryRecord) -> Self {
        Self {
            message_id: r.message_id,
            alert_id: r.alert_id,
            webhook_id: r.channel_id,
            device_id: r.device_id.to_string(),
            r#type: r.kind,
            state: r.state,
            created_at: r.created_at,
            next_attempt_at: r.next_attempt_at,
            failure: r.failure,
            attempts: r.attempts,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryList {
    /// Oldest first: the raise's deliveries, then the clear's.
    pub deliveries: Vec<DeliveryDto>,
}

fn unavailable(e: NotifyError) -> ApiError {
    ApiError::Unavailable(e.to_string())
}

fn not_found(id: Uuid) -> ApiError {
    ApiError::NotFound {
        code: "webhook_not_found",
        message: format!("no webhook {id}"),
    }
}

fn random_secret() -> WebhookSecret {
    WebhookSecret::from_bytes(rand::random())
}

async fn find(state: &WebhookState, id: Uuid) -> Result<WebhookChannel, ApiError> {
    state
        .store
        .channels()
        .await
        .map_err(unavailable)?
        .into_iter()
        .find(|c| c.id == id)
        .ok_or_else(|| not_found(id))
}

/// Every webhook channel.
#[utoipa::path(get, path = "/v1/webhooks", tag = "alerts",
    security(("admin_token" = [])),
    responses((status = 200, body = WebhookList), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 503, body = ErrorBody)))]
async fn list(
    State(state): State<WebhookState>,
    _: AdminAccess,
) -> Result<Json<WebhookList>, ApiError> {
    let channels = state.store.channels().await.map_err(unavailable)?;
    Ok(Json(WebhookList {
        webhooks: channels.iter().map(WebhookDto::from).collect(),
    }))
}

/// A new channel: alert transitions from now on are posted to it, signed as Standard Webhooks
/// (`webhook-id`, `webhook-timestamp`, `webhook-signature`) with the secret in the answer.
#[utoipa::path(post, path = "/v1/webhooks", tag = "alerts",
    request_body = WebhookRequest,
    security(("admin_token" = [])),
    responses((status = 201, body = WebhookWithSecret), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 413, body = ErrorBody), (status = 415, body = ErrorBody),
        (status = 503, body = ErrorBody)))]
async fn create(
    State(state): State<WebhookState>,
    _: AdminAccess,
    ApiJson(body): ApiJson<WebhookRequest>,
) -> Result<(StatusCode, Json<WebhookWithSecret>), ApiError> {
    let channel = body.channel(Uuid::now_v7(), Utc::now(), random_secret())?;
    let created = save_showing_secret(&state, channel).await?;
    tracing::info!(webhook = %created.webhook.id, url = created.webhook.url, "webhook channel created");
    Ok((StatusCode::CREATED, Json(created)))
}

/// Saves a channel whose secret is new, and shows it: the only time it is shown.
async fn save_showing_secret(
    state: &WebhookState,
    channel: WebhookChannel,
) -> Result<WebhookWithSecret, ApiError> {
    state
        .store
        .save_channel(&channel)
        .await
        .map_err(unavailable)?;
    Ok(WebhookWithSecret {
        webhook: WebhookDto::from(&channel),
        secret: channel.secret.to_string(),
    })
}

/// One channel.
#[utoipa::path(get, path = "/v1/webhooks/{id}", tag = "alerts",
    params(("id" = Uuid, Path)),
    security(("admin_token" = [])),
    responses((status = 200, body = WebhookDto), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 503, body = ErrorBody)))]
async fn get_one(
    State(state): State<WebhookState>,
    _: AdminAccess,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<WebhookDto>, ApiError> {
    Ok(Json(WebhookDto::from(&find(&state, id).await?)))
}

/// Replaces a channel's settings; its secret stays.
#[utoipa::path(put, path = "/v1/webhooks/{id}", tag = "alerts",
    params(("id" = Uuid, Path)),
    request_body = WebhookRequest,
    security(("admin_token" = [])),
    responses((status = 200, body = WebhookDto), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 413, body = ErrorBody),
        (status = 415, body = ErrorBody), (status = 503, body = ErrorBody)))]
async fn replace(
    State(state): State<WebhookState>,
    _: AdminAccess,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<WebhookRequest>,
) -> Result<Json<WebhookDto>, ApiError> {
    let old = find(&state, id).await?;
    let channel = body.channel(id, old.created_at, old.secret)?;
    state
        .store
        .save_channel(&channel)
        .await
        .map_err(unavailable)?;
    Ok(Json(WebhookDto::from(&channel)))
}

/// Deletes a channel; what it still had pending is given up.
#[utoipa::path(delete, path = "/v1/webhooks/{id}", tag = "alerts",
    params(("id" = Uuid, Path)),
    security(("admin_token" = [])),
    responses((status = 204), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 503, body = ErrorBody)))]
async fn delete(
    State(state): State<WebhookState>,
    _: AdminAccess,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<StatusCode, ApiError> {
    match state.store.delete_channel(id).await.map_err(unavailable)? {
        true => Ok(StatusCode::NO_CONTENT),
        false => Err(not_found(id)),
    }
}

/// A new signing secret for a channel, in force at once (attempts already out keep the old one).
#[utoipa::path(post, path = "/v1/webhooks/{id}/secret", tag = "alerts",
    params(("id" = Uuid, Path)),
    security(("admin_token" = [])),
    responses((status = 200, body = WebhookWithSecret), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 503, body = ErrorBody)))]
async fn new_secret(
    State(state): State<WebhookState>,
    _: AdminAccess,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<WebhookWithSecret>, ApiError> {
    let channel = WebhookChannel {
        secret: random_secret(),
        ..find(&state, id).await?
    };
    Ok(Json(save_showing_secret(&state, channel).await?))
}

/// Every delivery of an alert (the event id of its `AlertRaised`) to every channel, with each
/// attempt: what a receiver answered, or why it could not.
#[utoipa::path(get, path = "/v1/alerts/{id}/deliveries", tag = "alerts",
    params(("id" = Uuid, Path)),
    security(("admin_token" = [])),
    responses((status = 200, body = DeliveryList), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 503, body = ErrorBody)))]
async fn deliveries(
    State(state): State<WebhookState>,
    _: AdminAccess,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<DeliveryList>, ApiError> {
    let records = state
        .store
        .deliveries_of_alert(id)
        .await
        .map_err(unavailable)?;
    Ok(Json(DeliveryList {
        deliveries: records.into_iter().map(DeliveryDto::from).collect(),
    }))
}
