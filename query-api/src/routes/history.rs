//! The whole fleet's history for analysts, as NDJSON: one CloudEvent per line, oldest first,
//! streamed page by page (memory stays flat whatever the range), with a checkpoint line after
//! each page that a broken download resumes from.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::DateTime;
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use tokio::sync::OwnedSemaphorePermit;
use utoipa::openapi::schema::{Array, ArrayBuilder, ObjectBuilder, Type};
use utoipa::{IntoParams, ToSchema};
use watershed_domain::cloudevents::write_json_line;
use watershed_domain::ports::{EventHistory, FeedCursor, StoreError};
use watershed_domain::{DeviceId, HistoryFilter, HistoryPage, TimeRange, EVENT_TYPES};
use watershed_http_edge::{AnalystAccess, ApiError, ErrorBody};

use crate::QueryState;

/// Events read from the store per page, and so between checkpoint lines. A page of full
/// batches is about 10 MB; smaller pages would cost a store round trip per few events.
const PAGE_EVENTS: usize = 128;
/// Devices one request may name; more belong in several requests or no filter.
const MAX_DEVICES: usize = 100;

/// The query as sent. Read by hand ([`HistoryParams::from_query`]): parameters repeat
/// (`device=a&device=b`), and an empty value (`recorded_to=`) is a mistake to name, where form
/// parsers take it for an absent parameter.
#[derive(Debug, Default, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HistoryParams {
    /// Only these devices (repeat the parameter for several, at most 100).
    #[param(max_items = 100, pattern = r"^[A-Za-z0-9._:-]{1,64}$")]
    device: Vec<String>,
    /// Only these event types (repeat the parameter for several).
    #[param(rename = "type", schema_with = event_types_schema)]
    types: Vec<String>,
    /// Recorded (accepted by the server) at or after this instant (RFC 3339).
    #[param(value_type = Option<String>, format = DateTime)]
    recorded_from: Option<String>,
    /// Recorded before this instant.
    #[param(value_type = Option<String>, format = DateTime)]
    recorded_to: Option<String>,
    /// Readings batches with a reading measured at or after this instant; other events by
    /// their `time`.
    #[param(value_type = Option<String>, format = DateTime)]
    measured_from: Option<String>,
    /// … and before this instant.
    #[param(value_type = Option<String>, format = DateTime)]
    measured_to: Option<String>,
    /// A `resume_token` from a checkpoint line of an earlier download with the same filters:
    /// continues after the events above that line.
    resume: Option<String>,
}

/// The event types a history can be filtered by, as in the CloudEvents `type` after
/// `io.watershed.`.
fn event_types_schema() -> Array {
    ArrayBuilder::new()
        .items(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .enum_values(Some(EVENT_TYPES.iter().copied())),
        )
        .build()
}

/// The line after each page: everything above it is complete; `?resume=<resume_token>` with the
/// same filters continues after it. The last line of a download has `complete: true`, and its
/// token fetches only what was recorded since (an incremental download).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Checkpoint {
    pub resume_token: String,
    pub complete: bool,
    /// Events of the store this page read through, selected or not; with the
    /// `Watershed-Backlog-Events` header, the download's progress.
    pub scanned: u64,
}

/// The response header that tells how many events of the store follow the resume point (at
/// most this many are read; a capped count is a lower bound).
pub const BACKLOG_HEADER: &str = "watershed-backlog-events";
/// How far the backlog is counted: Cosmos DB counts by reading.
const BACKLOG_CAP: usize = 10_000;

/// The history of the whole fleet (or of the devices named), oldest first, as NDJSON:
/// CloudEvents 1.0 in JSON format, one per line, with `data` the event as stored, and a
/// checkpoint line (`{"resume_token", "complete"}`) after each page of events. Needs the analyst
/// (or admin) token.
#[utoipa::path(get, path = "/v1/history", tag = "history",
    params(HistoryParams),
    security(("analyst_token" = []), ("admin_token" = [])),
    responses(
        (status = 200, content_type = "application/x-ndjson",
            description = "CloudEvents, one per line, and checkpoint lines",
            headers(("watershed-backlog-events" = u64, description = "events of the store after the resume point, for progress"))),
        (status = 400, body = ErrorBody, description = "a parameter is invalid; `field` names it"),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody, description = "the dashboard's read token"),
        (status = 503, body = ErrorBody, description = "the store is unavailable, or as many downloads run as this instance takes")))]
pub async fn history(
    State(state): State<QueryState>,
    _: AnalystAccess,
    HistoryRequest { filter, after }: HistoryRequest,
) -> Result<Response, ApiError> {
    let permit = Arc::clone(&state.downloads)
        .try_acquire_owned()
        .map_err(|_| ApiError::Overloaded)?;
    // The first page is read before answering, so a bad token or a store that is down gets a
    // status code rather than a cut-off 200.
    let first = state
        .history
        .read_history(&filter, &after, PAGE_EVENTS)
        .await
        .map_err(history_error)?;
    // Without a count the download goes on all the same; only its progress bar is vaguer.
    let backlog = state.feed.backlog(&after, BACKLOG_CAP).await.ok();
    // A producer reads and encodes the next page while the last one is being sent; the channel
    // holds two, which bounds the memory of a download whatever its range.
    let (chunks, body) = tokio::sync::mpsc::channel(2);
    tokio::spawn(
        Download {
            history: Arc::clone(&state.history),
            filter,
            chunks,
            _permit: permit,
        }
        .produce(first),
    );
    let lines = tokio_stream::wrappers::ReceiverStream::new(body)
        .take_until(state.shutdown.clone().cancelled_owned());
    let mut response = Body::from_stream(lines).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-ndjson"),
    );
    if let Some(backlog) = backlog {
        response
            .headers_mut()
            .insert(BACKLOG_HEADER, HeaderValue::from(backlog.events));
    }
    Ok(response)
}

/// One running download: where its chunks go, and its place among the instance's downloads.
struct Download {
    history: Arc<dyn EventHistory>,
    filter: HistoryFilter,
    chunks: tokio::sync::mpsc::Sender<Result<Bytes, StoreError>>,
    _permit: OwnedSemaphorePermit,
}

impl Download {
    /// Sends `page` and every following one until the end, the client goes away, or the store
    /// fails. A failure ends the body abruptly: the client sees a broken download, not a complete
    /// one, and resumes from its last checkpoint.
    async fn produce(self, mut page: HistoryPage) {
        loop {
            let at_end = page.at_end;
            let following = page.next.clone();
            if self.chunks.send(Ok(encode(page))).await.is_err() || at_end {
                return;
            }
            page = match self
                .history
                .read_history(&self.filter, &following, PAGE_EVENTS)
                .await
            {
                Ok(page) => page,
                Err(e) => {
                    tracing::warn!(error = %e, "history download cut short");
                    let _ = self.chunks.send(Err(e)).await;
                    return;
                }
            };
        }
    }
}

/// A page's lines: its events, then its checkpoint.
fn encode(page: HistoryPage) -> Bytes {
    // The payloads and about 400 bytes of attributes per event: one allocation, no regrowth.
    let payloads: usize = page.events.iter().map(|e| e.payload.len()).sum();
    let mut out = Vec::with_capacity(payloads + 400 * page.events.len() + 256);
    for event in &page.events {
        write_json_line(event, &mut out);
    }
    let checkpoint = Checkpoint {
        resume_token: resume_token(&page.next),
        complete: page.at_end,
        scanned: page.scanned as u64,
    };
    serde_json::to_writer(&mut out, &checkpoint).expect("a checkpoint is plain data");
    out.push(b'\n');
    metrics::counter!("watershed_history_events_sent_total").increment(page.events.len() as u64);
    Bytes::from(out)
}

fn resume_token(cursor: &FeedCursor) -> String {
    URL_SAFE_NO_PAD.encode(cursor.0.as_bytes())
}

fn cursor_of(token: &str) -> Result<FeedCursor, ApiError> {
    if token.is_empty() {
        return Err(invalid("resume", "an empty resume token".to_owned()));
    }
    let bytes = URL_SAFE_NO_PAD
        .decode(token)
        .map_err(|_| invalid("resume", "not a resume token".to_owned()))?;
    String::from_utf8(bytes)
        .map(FeedCursor)
        .map_err(|_| invalid("resume", "not a resume token".to_owned()))
}

fn history_error(e: StoreError) -> ApiError {
    match e {
        StoreError::BadCursor(_) => invalid(
            "resume",
            "not a resume token of this store; start over without it".to_owned(),
        ),
        StoreError::Unavailable(m) => ApiError::Unavailable(m),
        StoreError::Conflict { .. } | StoreError::Corrupt(_) => ApiError::Internal(e.to_string()),
    }
}

fn invalid(field: &str, message: String) -> ApiError {
    ApiError::Invalid {
        code: "invalid_input",
        message,
        field: Some(field.to_owned()),
    }
}

/// The validated query of a history request.
pub struct HistoryRequest {
    filter: HistoryFilter,
    after: FeedCursor,
}

impl<S: Send + Sync> FromRequestParts<S> for HistoryRequest {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Self::parse(HistoryParams::from_query(parts.uri.query().unwrap_or(""))?)
    }
}

impl HistoryParams {
    fn from_query(query: &str) -> Result<Self, ApiError> {
        let mut params = Self::default();
        for (key, value) in form_urlencoded::parse(query.as_bytes()) {
            let value = value.into_owned();
            let once = |slot: &mut Option<String>| match slot.replace(value.clone()) {
                Some(_) => Err(invalid(&key, format!("{key} is given more than once"))),
                None => Ok(()),
            };
            match key.as_ref() {
                "device" => params.device.push(value),
                "type" => params.types.push(value),
                "recorded_from" => once(&mut params.recorded_from)?,
                "recorded_to" => once(&mut params.recorded_to)?,
                "measured_from" => once(&mut params.measured_from)?,
                "measured_to" => once(&mut params.measured_to)?,
                "resume" => once(&mut params.resume)?,
                // As elsewhere in the API, parameters nobody asked for are ignored.
                _ => {}
            }
        }
        Ok(params)
    }
}

impl HistoryRequest {
    fn parse(params: HistoryParams) -> Result<Self, ApiError> {
        if params.device.len() > MAX_DEVICES {
            return Err(invalid(
                "device",
                format!("at most {MAX_DEVICES} devices per request"),
            ));
        }
        let devices = params
            .device
            .into_iter()
            .map(|d| DeviceId::parse(d).map_err(|e| invalid("device", e.to_string())))
            .collect::<Result<_, _>>()?;
        if let Some(unknown) = params
            .types
            .iter()
            .find(|t| !EVENT_TYPES.contains(&t.as_str()))
        {
            return Err(invalid(
                "type",
                format!(
                    "unknown event type {unknown:?}; known: {}",
                    EVENT_TYPES.join(", ")
                ),
            ));
        }
        // Parsed here rather than by the form parser, which takes `recorded_to=` for no bound.
        let instant = |name: &str, raw: Option<String>| {
            raw.map(|text| {
                DateTime::parse_from_rfc3339(&text)
                    .map(|t| t.to_utc())
                    .map_err(|e| invalid(name, format!("not an RFC 3339 instant: {e}")))
            })
            .transpose()
        };
        let range = |field: &str, from: Option<String>, to: Option<String>| {
            let from = instant(&format!("{field}_from"), from)?;
            let to = instant(&format!("{field}_to"), to)?;
            match (from, to) {
                (Some(from), Some(to)) if from >= to => Err(invalid(
                    field,
                    format!("{field}_from must be before {field}_to"),
                )),
                _ => Ok(TimeRange { from, to }),
            }
        };
        Ok(Self {
            filter: HistoryFilter {
                devices,
                types: params.types,
                recorded: range("recorded", params.recorded_from, params.recorded_to)?,
                measured: range("measured", params.measured_from, params.measured_to)?,
            },
            after: match params.resume.as_deref() {
                Some(token) => cursor_of(token)?,
                None => FeedCursor::beginning(),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(query: &str) -> Result<HistoryRequest, ApiError> {
        HistoryRequest::parse(HistoryParams::from_query(query)?)
    }

    fn field_of(e: ApiError) -> Option<String> {
        match e {
            ApiError::Invalid { field, .. } => field,
            other => panic!("expected 400, got {other:?}"),
        }
    }

    #[test]
    fn repeated_devices_and_types_are_all_kept() {
        let request =
            parse("device=a-1&device=b-2&type=ReadingsRecorded&type=AlertRaised").unwrap();
        assert_eq!(request.filter.devices.len(), 2);
        assert_eq!(
            request.filter.types,
            vec!["ReadingsRecorded", "AlertRaised"]
        );
        assert_eq!(request.after, FeedCursor::beginning());
    }

    #[test]
    fn each_bad_parameter_is_named() {
        let bad = |q: &str| field_of(parse(q).err().expect("refused"));
        assert_eq!(bad("device=no%20spaces").as_deref(), Some("device"));
        assert_eq!(bad("type=Readings").as_deref(), Some("type"));
        assert_eq!(
            bad("measured_from=2026-01-02T00:00:00Z&measured_to=2026-01-01T00:00:00Z").as_deref(),
            Some("measured")
        );
        assert_eq!(bad("resume=***").as_deref(), Some("resume"));
        assert_eq!(bad("resume=").as_deref(), Some("resume"));
        assert_eq!(bad("recorded_to=").as_deref(), Some("recorded_to"));
        assert_eq!(
            bad("measured_from=yesterday").as_deref(),
            Some("measured_from")
        );
    }

    #[test]
    fn a_resume_token_carries_the_cursor_exactly() {
        let cursor = FeedCursor("{\"token\":\"+/=\"}".to_owned());
        let token = resume_token(&cursor);
        assert!(token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        assert_eq!(cursor_of(&token).unwrap(), cursor);
    }
}
