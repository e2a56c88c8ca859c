//! A Splunk HTTP Event Collector for tests and benchmarks, speaking the protocol as Splunk documents it
//! ("Format events for HTTP Event Collector", "Troubleshoot HTTP Event Collector"): `POST
//! /services/collector/event` (or `/services/collector`) with `Authorization: Splunk <token>`,
//! a body of concatenated JSON event objects, optionally gzipped; answers `{"text":"Success",
//! "code":0}`, 401 code 2 without a token, 403 code 4 for a wrong one, 400 code 5 for no data,
//! 400 code 6 with `invalid-event-number` for an event it cannot take (the events before it are
//! indexed), 400 code 12 for an event without `event`, and 503 code 9 when busy.
//!
//! Tests make it busy for a number of requests, or refuse the events of one device, and read
//! back every event it indexed; `bench history` measures the sink against it.

use std::io::Read;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Value};
use tokio::task::JoinHandle;

pub struct HecReceiver {
    /// The collector's base URL, as an operator gives it.
    pub url: String,
    state: Arc<Receiver>,
    server: JoinHandle<()>,
}

struct Receiver {
    token: String,
    /// Whether indexed events are kept (tests read them back) or only counted (benchmarks).
    keep: bool,
    indexed: Mutex<Vec<Value>>,
    count: AtomicUsize,
    busy_for: AtomicUsize,
    refuse_subject: Mutex<Option<String>>,
    requests: AtomicUsize,
}

impl HecReceiver {
    /// A receiver that keeps every event it indexes.
    pub async fn start(token: &str) -> Self {
        Self::start_with(token, true).await
    }

    /// A receiver that only counts what it indexes, for loads too big to keep.
    pub async fn start_counting(token: &str) -> Self {
        Self::start_with(token, false).await
    }

    async fn start_with(token: &str, keep: bool) -> Self {
        let state = Arc::new(Receiver {
            token: token.to_owned(),
            keep,
            indexed: Mutex::new(Vec::new()),
            count: AtomicUsize::new(0),
            busy_for: AtomicUsize::new(0),
            refuse_subject: Mutex::new(None),
            requests: AtomicUsize::new(0),
        });
        let app = Router::new()
            .route("/services/collector/event", post(collect))
            .route("/services/collector", post(collect))
            .with_state(Arc::clone(&state));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Self { url, state, server }
    }

    /// Answers the next `requests` with 503 Server is busy.
    pub fn busy_for(&self, requests: usize) {
        self.state.busy_for.store(requests, Ordering::SeqCst);
    }

    /// Refuses, as invalid data, every event of `device`.
    pub fn refuse_device(&self, device: &str) {
        *self.state.refuse_subject.lock().unwrap() = Some(device.to_owned());
    }

    /// Every event indexed so far, in arrival order.
    pub fn indexed(&self) -> Vec<Value> {
        self.state.indexed.lock().unwrap().clone()
    }

    /// How many events were indexed so far.
    pub fn indexed_count(&self) -> usize {
        self.state.count.load(Ordering::SeqCst)
    }

    pub fn requests(&self) -> usize {
        self.state.requests.load(Ordering::SeqCst)
    }

    pub fn busy_left(&self) -> usize {
        self.state.busy_for.load(Ordering::SeqCst)
    }
}

impl Drop for HecReceiver {
    fn drop(&mut self) {
        self.server.abort();
    }
}

fn answer(status: StatusCode, text: &str, code: i64) -> (StatusCode, Json<Value>) {
    (status, Json(json!({"text": text, "code": code})))
}

async fn collect(
    State(state): State<Arc<Receiver>>,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, Json<Value>) {
    state.requests.fetch_add(1, Ordering::SeqCst);
    let Some(authorization) = headers.get("authorization").and_then(|v| v.to_str().ok()) else {
        return answer(StatusCode::UNAUTHORIZED, "Token is required", 2);
    };
    if authorization != format!("Splunk {}", state.token) {
        return answer(StatusCode::FORBIDDEN, "Invalid token", 4);
    }
    if state
        .busy_for
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok()
    {
        return answer(StatusCode::SERVICE_UNAVAILABLE, "Server is busy", 9);
    }
    let gzipped = headers
        .get("content-encoding")
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"gzip"));
    let body = if gzipped {
        let mut plain = Vec::new();
        if flate2::read::GzDecoder::new(&body[..])
            .read_to_end(&mut plain)
            .is_err()
        {
            return answer(StatusCode::BAD_REQUEST, "Invalid data format", 6);
        }
        plain
    } else {
        body.to_vec()
    };
    if body.iter().all(u8::is_ascii_whitespace) {
        return answer(StatusCode::BAD_REQUEST, "No data", 5);
    }
    let refuse = state.refuse_subject.lock().unwrap().clone();
    let mut accepted = Vec::new();
    let refused = |number: usize, text: &str, code: i64| {
        (
            StatusCode::BAD_REQUEST,
            Json(json!({"text": text, "code": code, "invalid-event-number": number})),
        )
    };
    let mut outcome = answer(StatusCode::OK, "Success", 0);
    for (number, event) in serde_json::Deserializer::from_slice(&body)
        .into_iter::<Value>()
        .enumerate()
    {
        let Ok(event) = event else {
            outcome = refused(number, "Invalid data format", 6);
            break;
        };
        match event.get("event") {
            None => {
                outcome = refused(number, "Event field is required", 12);
                break;
            }
            Some(Value::String(s)) if s.is_empty() => {
                outcome = refused(number, "Event field cannot be blank", 13);
                break;
            }
            // A CloudEvent names its device as `subject`, a reading as `device_id`.
            Some(inner)
                if refuse
                    .as_deref()
                    .is_some_and(|d| inner["subject"] == d || inner["device_id"] == d) =>
            {
                outcome = refused(number, "Invalid data format", 6);
                break;
            }
            Some(_) => accepted.push(event),
        }
    }
    // HEC indexes the events before the one it refuses.
    state.count.fetch_add(accepted.len(), Ordering::SeqCst);
    if state.keep {
        state.indexed.lock().unwrap().extend(accepted);
    }
    outcome
}
