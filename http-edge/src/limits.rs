//! Overload protection for the APIs: at most so many requests in flight per process, each within
//! a deadline. Past the limit a request is refused at once with 503 and `Retry-After` rather than
//! queued: a queue would only make every client wait longer, and a client that retries later
//! finds room.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tokio::sync::Semaphore;

use crate::error::ApiError;

#[derive(Clone, Debug)]
pub struct RequestLimits {
    in_flight: Arc<Semaphore>,
    deadline: Duration,
}

impl RequestLimits {
    pub fn new(max_in_flight: usize, deadline: Duration) -> Self {
        Self {
            in_flight: Arc::new(Semaphore::new(max_in_flight)),
            deadline,
        }
    }
}

/// The middleware: `axum::middleware::from_fn_with_state(limits, enforce)`. The deadline covers
/// producing the response head; a streamed body (the live stream) runs on past it.
pub async fn enforce(
    State(limits): State<RequestLimits>,
    request: Request,
    next: Next,
) -> Response {
    let Ok(_permit) = limits.in_flight.try_acquire() else {
        return ApiError::Overloaded.into_response();
    };
    match tokio::time::timeout(limits.deadline, next.run(request)).await {
        Ok(response) => response,
        Err(_) => ApiError::TimedOut(limits.deadline).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::StatusCode;
    use axum::routing::get;
    use axum::Router;
    use tokio::sync::Notify;
    use tower::ServiceExt;

    use super::*;

    fn app(limits: RequestLimits, release: Arc<Notify>) -> Router {
        Router::new()
            .route(
                "/slow",
                get(move || {
                    let release = Arc::clone(&release);
                    async move { release.notified().await }
                }),
            )
            .layer(axum::middleware::from_fn_with_state(limits, enforce))
    }

    fn get_slow() -> Request {
        Request::builder().uri("/slow").body(Body::empty()).unwrap()
    }

    #[tokio::test]
    async fn past_the_limit_a_request_is_refused_at_once_with_retry_after() {
        let release = Arc::new(Notify::new());
        let limits = RequestLimits::new(1, Duration::from_secs(60));
        let app = app(limits.clone(), Arc::clone(&release));
        let first = tokio::spawn(app.clone().oneshot(get_slow()));
        while limits.in_flight.available_permits() > 0 {
            tokio::task::yield_now().await;
        }
        let refused = app.clone().oneshot(get_slow()).await.unwrap();
        assert_eq!(refused.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(refused.headers()["retry-after"], "1");
        // The first may not be waiting yet; a stored permit wakes it either way.
        release.notify_one();
        assert_eq!(first.await.unwrap().unwrap().status(), StatusCode::OK);
    }

    #[tokio::test]
    async fn a_request_past_its_deadline_gets_a_json_503() {
        let app = app(
            RequestLimits::new(4, Duration::from_millis(20)),
            Arc::new(Notify::new()),
        );
        let response = app.oneshot(get_slow()).await.unwrap();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        let body = axum::body::to_bytes(response.into_body(), 1024)
            .await
            .unwrap();
        let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(json["error"]["code"], "timed_out");
    }
}
