//! Dead letters for operators, over one [`DeadLetterDesk`]: the admin routes
//! `GET /v1/dead-letters` and `POST /v1/dead-letters/{id}/retry|skip`, served with the query API,
//! and `watershed dead-letters list|retry|skip` on the command line.

use std::sync::Arc;

use axum::extract::{FromRef, State};
use axum::Json;
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use watershed_domain::ports::ReadModelError;
use watershed_domain::DeadLetter;
use watershed_http_edge::path::ApiPath;
use watershed_http_edge::{AdminAccess, ApiError, ApiTokens, ErrorBody};
use watershed_projectors::dead_letters::Resolved;
use watershed_projectors::{DeadLetterDesk, DeadLetterError};

#[derive(Clone)]
pub struct DeadLetterState {
    pub desk: Arc<DeadLetterDesk>,
    pub tokens: ApiTokens,
}

impl FromRef<DeadLetterState> for ApiTokens {
    fn from_ref(state: &DeadLetterState) -> Self {
        state.tokens.clone()
    }
}

pub fn router(state: DeadLetterState) -> OpenApiRouter {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(retry))
        .routes(routes!(skip))
        .with_state(state)
}

/// An event (or a message that should have been one) a projection set aside.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeadLetterDto {
    pub id: i64,
    pub parked_at: DateTime<Utc>,
    pub device_id: Option<String>,
    pub stream_seq: Option<u64>,
    /// `stream:<device>:<seq>`, or `kafka:<partition>:<offset>` for a message that was no event.
    pub source: String,
    pub error: String,
    /// The event with its envelope, when it was one.
    #[schema(value_type = Option<Object>)]
    pub event: Option<serde_json::Value>,
    /// The message's headers and value, when it was no event.
    pub raw: Option<String>,
}

impl From<DeadLetter> for DeadLetterDto {
    fn from(letter: DeadLetter) -> Self {
        let parked = letter.parked;
        Self {
            id: letter.id,
            parked_at: letter.parked_at,
            device_id: parked.device_id.map(|d| d.to_string()),
            stream_seq: parked.stream_seq,
            source: parked.source,
            error: parked.error,
            event: parked
                .event
                .map(|e| serde_json::to_value(e).expect("recorded events serialize")),
            raw: parked.raw,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeadLetterList {
    /// Oldest first per device.
    pub dead_letters: Vec<DeadLetterDto>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ResolvedDto {
    pub device_id: Option<String>,
    /// Events applied to the read models.
    pub applied: usize,
    /// Dead letters removed.
    pub resolved: usize,
}

impl From<Resolved> for ResolvedDto {
    fn from(r: Resolved) -> Self {
        Self {
            device_id: r.device_id.map(|d| d.to_string()),
            applied: r.applied,
            resolved: r.resolved,
        }
    }
}

fn api_error(e: DeadLetterError) -> ApiError {
    let conflict = |code| ApiError::Conflict {
        code,
        message: e.to_string(),
    };
    match &e {
        DeadLetterError::NotFound(_) => ApiError::NotFound {
            code: "dead_letter_not_found",
            message: e.to_string(),
        },
        DeadLetterError::NoDevice(_) => conflict("dead_letter_names_no_device"),
        DeadLetterError::NotNext { .. } => conflict("dead_letter_not_next"),
        DeadLetterError::StillFailing { .. } => conflict("still_failing"),
        DeadLetterError::ReadModel(ReadModelError::Rejected(_)) => conflict("still_failing"),
        DeadLetterError::ReadModel(_) | DeadLetterError::Store(_) => {
            ApiError::Unavailable(e.to_string())
        }
    }
}

/// Every dead letter: events a projection could not apply, and those of their devices waiting
/// behind them.
#[utoipa::path(get, path = "/v1/dead-letters", tag = "operations",
    security(("admin_token" = [])),
    responses((status = 200, body = DeadLetterList), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 503, body = ErrorBody)))]
async fn list(
    State(state): State<DeadLetterState>,
    _: AdminAccess,
) -> Result<Json<DeadLetterList>, ApiError> {
    let letters = state.desk.list().await.map_err(api_error)?;
    Ok(Json(DeadLetterList {
        dead_letters: letters.into_iter().map(DeadLetterDto::from).collect(),
    }))
}

/// Applies the parked events of this letter's device again, in order (after a fix); on success
/// the device's dead letters go and its events flow again.
#[utoipa::path(post, path = "/v1/dead-letters/{id}/retry", tag = "operations",
    params(("id" = i64, Path)),
    security(("admin_token" = [])),
    responses((status = 200, body = ResolvedDto), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "still failing, or the letter names no device"),
        (status = 503, body = ErrorBody)))]
async fn retry(
    State(state): State<DeadLetterState>,
    _: AdminAccess,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<ResolvedDto>, ApiError> {
    let done = state.desk.retry(id).await.map_err(api_error)?;
    Ok(Json(done.into()))
}

/// Discards this dead letter: an event is never applied (its stream moves past it) and the
/// device's later parked events are retried.
#[utoipa::path(post, path = "/v1/dead-letters/{id}/skip", tag = "operations",
    params(("id" = i64, Path)),
    security(("admin_token" = [])),
    responses((status = 200, body = ResolvedDto), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "an earlier event of the device is parked, or the rest still fails"),
        (status = 503, body = ErrorBody)))]
async fn skip(
    State(state): State<DeadLetterState>,
    _: AdminAccess,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<ResolvedDto>, ApiError> {
    let done = state.desk.skip(id).await.map_err(api_error)?;
    Ok(Json(done.into()))
}

/// `watershed dead-letters …`: what to do.
#[derive(Debug, clap::Subcommand)]
pub enum DeadLetterCommand {
    /// Print every dead letter, one per line.
    List,
    /// Apply the parked events of this letter's device again.
    Retry { id: i64 },
    /// Discard this dead letter and retry the device's later ones.
    Skip { id: i64 },
}

/// Runs one command against the desk and prints what happened.
pub async fn run(desk: &DeadLetterDesk, command: DeadLetterCommand) -> anyhow::Result<()> {
    let done = match command {
        DeadLetterCommand::List => {
            let letters = desk.list().await?;
            for l in &letters {
                let p = &l.parked;
                println!(
                    "{}\t{}\t{}\t{}\t{}\t{}",
                    l.id,
                    p.device_id.as_ref().map_or("-", |d| d.as_str()),
                    p.stream_seq
                        .map_or_else(|| "-".to_owned(), |s| s.to_string()),
                    p.source,
                    l.parked_at.to_rfc3339(),
                    p.error
                );
            }
            println!("dead-letters: {} parked", letters.len());
            return Ok(());
        }
        DeadLetterCommand::Retry { id } => desk.retry(id).await?,
        DeadLetterCommand::Skip { id } => desk.skip(id).await?,
    };
    println!(
        "dead-letters: {}: {} events applied, {} dead letters removed",
        done.device_id
            .map_or_else(|| "-".to_owned(), |d| d.to_string()),
        done.applied,
        done.resolved
    );
    Ok(())
}
