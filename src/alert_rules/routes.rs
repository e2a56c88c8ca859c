//! The alert rules API, served with the query API (admin token): `GET/POST /v1/alert-rules`,
//! `GET/PUT/DELETE /v1/alert-rules/{name}`. Every change is decided by the rule book and recorded
//! in the rules stream; the evaluators pick it up within a second.

use std::sync::Arc;

use axum::extract::{FromRef, State};
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use watershed_domain::ports::EventStore;
use watershed_domain::{
    AlertRule, DefinedRule, Detector, ModelRuntime, RuleBook, RuleCommand, RuleName, RuleRefused,
    RuleSpec, ValidationError,
};
use watershed_http_edge::path::ApiPath;
use watershed_http_edge::{AdminAccess, ApiError, ApiJson, ApiTokens, ErrorBody};

use super::stream::{self, RuleChangeError};

#[derive(Clone)]
pub struct RuleState {
    pub store: Arc<dyn EventStore>,
    /// Loads a model rule's model before it is recorded, so a model no evaluator can run is
    /// refused here rather than found broken later.
    pub runtime: Arc<dyn ModelRuntime>,
    pub tokens: ApiTokens,
}

impl FromRef<RuleState> for ApiTokens {
    fn from_ref(state: &RuleState) -> Self {
        state.tokens.clone()
    }
}

pub fn router(state: RuleState) -> OpenApiRouter {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(get_one, replace, delete))
        .with_state(state)
}

/// A rule as it stands: what was defined (without the model's bytes), and where.
#[derive(Debug, Serialize, ToSchema)]
pub struct RuleView {
    /// The definition, as `POST` and `PUT` take it; a model rule's `model` is left out (see
    /// `model_sha256`).
    pub rule: RuleSpec,
    /// `threshold`, `rate`, `anomaly`, `silence` or `model`.
    #[schema(
        example = "threshold",
        pattern = "^(threshold|rate|anomaly|silence|model)$"
    )]
    pub detector: &'static str,
    /// The rules stream's position of the event that defined it as it is.
    pub revision: u64,
    pub defined_at: DateTime<Utc>,
    /// A model rule's model: the SHA-256 of its bytes, hex.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model_sha256: Option<String>,
    /// A model rule's model: its size.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model_bytes: Option<usize>,
}

impl From<&DefinedRule> for RuleView {
    fn from(defined: &DefinedRule) -> Self {
        let model = match &defined.rule.detector {
            Detector::Model { model, .. } => Some(model),
            _ => None,
        };
        Self {
            rule: RuleSpec {
                model: None,
                ..defined.spec.clone()
            },
            detector: defined.rule.detector.as_str(),
            revision: defined.revision,
            defined_at: defined.defined_at,
            model_sha256: model.map(|m| m.sha256_hex()),
            model_bytes: model.map(|m| m.bytes().len()),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RuleList {
    /// The rules stream's position these rules stand at.
    pub version: u64,
    /// By name.
    pub rules: Vec<RuleView>,
}

/// Every alert rule in force.
#[utoipa::path(get, path = "/v1/alert-rules", tag = "alert rules",
    security(("admin_token" = [])),
    responses((status = 200, body = RuleList), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 503, body = ErrorBody)))]
async fn list(State(state): State<RuleState>, _: AdminAccess) -> Result<Json<RuleList>, ApiError> {
    let book = stream::book(&*state.store).await.map_err(unavailable)?;
    Ok(Json(RuleList {
        version: book.version,
        rules: book.defined().map(RuleView::from).collect(),
    }))
}

/// Defines a new alert rule. Exactly one of `above`, `below`, `rate_above`, `rate_below`,
/// `zscore_above`, `score_above` and `silent_for` says what it detects.
#[utoipa::path(post, path = "/v1/alert-rules", tag = "alert rules",
    request_body = RuleSpec,
    security(("admin_token" = [])),
    responses((status = 201, body = RuleView), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "a rule of this name exists"),
        (status = 413, body = ErrorBody), (status = 415, body = ErrorBody),
        (status = 503, body = ErrorBody)))]
async fn create(
    State(state): State<RuleState>,
    _: AdminAccess,
    ApiJson(spec): ApiJson<RuleSpec>,
) -> Result<(StatusCode, Json<RuleView>), ApiError> {
    let name = checked(&state, &spec).await?;
    let book = decide(&state, RuleCommand::Create(spec)).await?;
    Ok((StatusCode::CREATED, Json(view(&book, &name)?)))
}

/// One alert rule.
#[utoipa::path(get, path = "/v1/alert-rules/{name}", tag = "alert rules",
    params(("name" = String, Path, description = "the rule's name")),
    security(("admin_token" = [])),
    responses((status = 200, body = RuleView), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 503, body = ErrorBody)))]
async fn get_one(
    State(state): State<RuleState>,
    _: AdminAccess,
    ApiPath(name): ApiPath<RuleName>,
) -> Result<Json<RuleView>, ApiError> {
    let book = stream::book(&*state.store).await.map_err(unavailable)?;
    view(&book, &name).map(Json)
}

/// Defines an existing rule anew; its open alerts stay open and the new definition decides when
/// they clear. The body's `name` must be the path's. Sending the definition in force records
/// nothing.
#[utoipa::path(put, path = "/v1/alert-rules/{name}", tag = "alert rules",
    params(("name" = String, Path, description = "the rule's name")),
    request_body = RuleSpec,
    security(("admin_token" = [])),
    responses((status = 200, body = RuleView), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 413, body = ErrorBody),
        (status = 415, body = ErrorBody), (status = 503, body = ErrorBody)))]
async fn replace(
    State(state): State<RuleState>,
    _: AdminAccess,
    ApiPath(name): ApiPath<RuleName>,
    ApiJson(spec): ApiJson<RuleSpec>,
) -> Result<Json<RuleView>, ApiError> {
    if spec.name != name.as_str() {
        return Err(ApiError::Invalid {
            code: "invalid_input",
            message: format!("must be the path's rule name, {name}"),
            field: Some("name".to_owned()),
        });
    }
    checked(&state, &spec).await?;
    let book = decide(&state, RuleCommand::Replace(spec)).await?;
    view(&book, &name).map(Json)
}

/// Deletes a rule; its active alerts are retired (cleared, reason `rule_deleted`) within
/// seconds.
#[utoipa::path(delete, path = "/v1/alert-rules/{name}", tag = "alert rules",
    params(("name" = String, Path, description = "the rule's name")),
    security(("admin_token" = [])),
    responses((status = 204, description = "deleted"), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 503, body = ErrorBody)))]
async fn delete(
    State(state): State<RuleState>,
    _: AdminAccess,
    ApiPath(name): ApiPath<RuleName>,
) -> Result<StatusCode, ApiError> {
    decide(&state, RuleCommand::Delete(name)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Checks `spec` as the rule book would, and loads its model if it has one; answers its name.
async fn checked(state: &RuleState, spec: &RuleSpec) -> Result<RuleName, ApiError> {
    let rule = AlertRule::try_from(spec.clone()).map_err(|e| invalid(e, &spec.name))?;
    if let Detector::Model { model, inputs } = rule.detector.clone() {
        let runtime = Arc::clone(&state.runtime);
        // Loading optimises the model: CPU work, kept off the request threads.
        let loaded = tokio::task::spawn_blocking(move || runtime.load(&model, inputs)).await;
        let refused = |message: String| ApiError::Invalid {
            code: "invalid_model",
            message,
            field: Some("model".to_owned()),
        };
        match loaded {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => return Err(refused(e.to_string())),
            Err(_) => return Err(refused("the model could not be loaded".to_owned())),
        }
    }
    Ok(rule.name)
}

async fn decide(state: &RuleState, command: RuleCommand) -> Result<RuleBook, ApiError> {
    match stream::change(&*state.store, command).await {
        Ok((book, _)) => Ok(book),
        // `checked` refuses an invalid rule first, naming its field.
        Err(RuleChangeError::Refused(RuleRefused::Invalid(e))) => Err(ApiError::Invalid {
            code: "invalid_rule",
            message: e.to_string(),
            field: None,
        }),
        Err(RuleChangeError::Refused(RuleRefused::Exists(name))) => Err(ApiError::Conflict {
            code: "rule_exists",
            message: format!("a rule named {name} exists; PUT /v1/alert-rules/{name} changes it"),
        }),
        Err(RuleChangeError::Refused(RuleRefused::NotFound(name))) => Err(not_found(&name)),
        Err(e @ (RuleChangeError::Store(_) | RuleChangeError::Contended)) => Err(unavailable(e)),
    }
}

fn view(book: &RuleBook, name: &RuleName) -> Result<RuleView, ApiError> {
    book.get(name)
        .map(RuleView::from)
        .ok_or_else(|| not_found(name))
}

/// A refusal with the field named as the request body names it: `window`, not
/// `rule too-hot.window`.
fn invalid(e: ValidationError, name: &str) -> ApiError {
    let prefix = format!("rule {name}");
    let field = match e.field.strip_prefix(&prefix) {
        Some(rest) => rest.trim_start_matches('.').to_owned(),
        None if e.field == "rule" => "name".to_owned(),
        None => e.field.clone(),
    };
    ApiError::Invalid {
        code: "invalid_rule",
        message: e.message,
        field: (!field.is_empty()).then_some(field),
    }
}

fn not_found(name: &RuleName) -> ApiError {
    ApiError::NotFound {
        code: "rule_not_found",
        message: format!("no alert rule named {name}"),
    }
}

fn unavailable(e: impl std::fmt::Display) -> ApiError {
    ApiError::Unavailable(e.to_string())
}
