//! One error type for both APIs. Every variant's doc names its status; the body is always
//! `{"error": {"code", "message", "field"?}}`. Internal details are logged, never sent.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use watershed_domain::limits::{Decision, Exceeded, RetryAfter};
use watershed_domain::ValidationError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400: a parameter or the body is malformed or invalid; `field` names it when known.
    #[error("{message}")]
    Invalid {
        code: &'static str,
        message: String,
        field: Option<String>,
    },
    /// 401: no credentials, or ones that are not valid.
    #[error("{0}")]
    Unauthorized(String),
    /// 403: valid credentials that may not do this.
    #[error("{message}")]
    Forbidden { code: &'static str, message: String },
    /// 404: the named thing does not exist.
    #[error("{message}")]
    NotFound { code: &'static str, message: String },
    /// 405: the path exists, the method does not.
    #[error("method not allowed")]
    MethodNotAllowed,
    /// 409: the request conflicts with the current state.
    #[error("{message}")]
    Conflict { code: &'static str, message: String },
    /// 413: the body is over the limit.
    #[error("request body is larger than {limit} bytes")]
    PayloadTooLarge { limit: usize },
    /// 429: the device is over its rate or daily quota; nothing was written. `Retry-After` and
    /// the RateLimit fields say when it may send again.
    #[error("{}", throttled_message(.0))]
    Throttled(Decision),
    /// 415: the body is not of the media type (or types) the route takes.
    #[error("expected Content-Type: {0}")]
    UnsupportedMediaType(&'static str),
    /// 503: a dependency is down or busy; nothing was written, the client may retry.
    #[error("service temporarily unavailable")]
    Unavailable(String),
    /// 503: this process has as many requests (or live clients) as it takes; retry shortly.
    #[error("too many requests in flight; retry shortly")]
    Overloaded,
    /// 503: the answer took longer than the deadline; a write may or may not have happened, so
    /// retry with the same batch id.
    #[error("no answer within {} s; retry (a batch with the same batch_id is stored once)", .0.as_secs_f64())]
    TimedOut(std::time::Duration),
    /// 500: a bug or corrupt data; the details go to the log.
    #[error("internal error")]
    Internal(String),
}

/// The JSON error body; clients (the CLI) read it too.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable, machine-readable, snake_case.
    pub code: String,
    pub message: String,
    /// The offending field as a JSON path, e.g. `readings[3].value`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Invalid { .. } => StatusCode::BAD_REQUEST,
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden { .. } => StatusCode::FORBIDDEN,
            Self::NotFound { .. } => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::Conflict { .. } => StatusCode::CONFLICT,
            Self::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Throttled(_) => StatusCode::TOO_MANY_REQUESTS,
            Self::Unavailable(_) | Self::Overloaded | Self::TimedOut(_) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            Self::Invalid { code, .. }
            | Self::Forbidden { code, .. }
            | Self::NotFound { code, .. }
            | Self::Conflict { code, .. } => code,
            Self::Unauthorized(_) => "unauthorized",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::PayloadTooLarge { .. } => "payload_too_large",
            Self::UnsupportedMediaType(_) => "unsupported_media_type",
            Self::Throttled(d) => match d.refused {
                Some((Exceeded::Quota, _)) => "quota_exceeded",
                _ => "rate_limited",
            },
            Self::Unavailable(_) => "unavailable",
            Self::Overloaded => "overloaded",
            Self::TimedOut(_) => "timed_out",
            Self::Internal(_) => "internal",
        }
    }

    /// What the client is told, on HTTP and on the devices' MQTT error topic alike.
    pub fn body(&self) -> ErrorBody {
        let field = match self {
            Self::Invalid { field, .. } => field.clone(),
            _ => None,
        };
        ErrorBody {
            error: ErrorDetail {
                code: self.code().to_owned(),
                message: self.to_string(),
                field,
            },
        }
    }

    /// A 400 for an invalid value, naming its field.
    pub fn invalid(e: ValidationError) -> Self {
        Self::Invalid {
            code: "invalid_input",
            message: e.message,
            field: Some(e.field),
        }
    }

    pub fn device_not_found(id: impl std::fmt::Display) -> Self {
        Self::NotFound {
            code: "device_not_found",
            message: format!("no device {id}"),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match &self {
            Self::Unavailable(detail) => {
                tracing::warn!(%detail, "request failed: dependency unavailable")
            }
            Self::Internal(detail) => tracing::error!(%detail, "request failed: internal error"),
            _ => {}
        }
        let mut response = (self.status(), Json(self.body())).into_response();
        if self.status() == StatusCode::SERVICE_UNAVAILABLE {
            response
                .headers_mut()
                .insert("retry-after", axum::http::HeaderValue::from_static("1"));
        }
        if let Self::Throttled(decision) = &self {
            let headers = response.headers_mut();
            if let Some((_, RetryAfter(secs))) = decision.refused {
                headers.insert("retry-after", axum::http::HeaderValue::from(secs.max(1)));
            }
            crate::rate_limit::insert_headers(headers, decision);
        }
        response
    }
}

fn throttled_message(decision: &Decision) -> String {
    match decision.refused {
        Some((Exceeded::Quota, RetryAfter(secs))) => format!(
            "the device's daily quota of {} readings is spent; it starts again at UTC midnight, in {secs} s",
            decision.quota.map_or(0, |q| q.limit)
        ),
        Some((Exceeded::Rate, RetryAfter(secs))) => format!(
            "the device is over its rate of {} readings per second; retry in {secs} s",
            decision.rate.map_or(0, |r| r.limit)
        ),
        None => "within its limits".to_owned(),
    }
}

/// JSON 404 for paths no route matches.
pub async fn not_found() -> ApiError {
    ApiError::NotFound {
        code: "not_found",
        message: "no such endpoint".to_owned(),
    }
}

/// JSON 405 for a known path with another method.
pub async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}
