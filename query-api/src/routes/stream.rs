//! Server-Sent Events for the dashboard: readings as they are projected, and device changes.
//! Updates are coalesced per device over a short window, so a busy fleet sends a browser a few
//! events per device per second rather than one per batch.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use chrono::Utc;
use futures::{stream, Stream, StreamExt};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use watershed_domain::ports::LiveUpdate;
use watershed_domain::DeviceId;
use watershed_http_edge::{ApiError, ErrorBody, StreamAccess};

use crate::dto::{DeviceDto, LiveReadings};
use crate::QueryState;

const WINDOW: Duration = Duration::from_millis(250);
const MAX_PER_WINDOW: usize = 4096;

/// Live updates as `text/event-stream`: `event: readings` with `{device_id, stream_seq, readings}`
/// and `event: device` with a device. Authenticate with the read token as `?access_token=`, since
/// browsers' EventSource cannot send headers (the admin token only in the `Authorization` header).
#[utoipa::path(get, path = "/v1/stream", tag = "live",
    params(("access_token" = Option<String>, Query, description = "the read token")),
    security((), ("read_token" = []), ("admin_token" = [])),
    responses(
        (status = 200, content_type = "text/event-stream", description = "the live stream"),
        (status = 401, body = ErrorBody),
        (status = 503, body = ErrorBody, description = "as many live clients as this instance takes; retry later")))]
pub async fn stream(
    State(state): State<QueryState>,
    _: StreamAccess,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let connected = LiveClient::admit(&state.live_clients)?;
    let live = state.live.subscribe().await;
    let windows = tokio_stream::StreamExt::chunks_timeout(live, MAX_PER_WINDOW, WINDOW);
    let stopping = state.shutdown.clone().cancelled_owned();
    let events = windows
        .flat_map(|window| stream::iter(coalesce(window)))
        .map(move |event| {
            let _held_while_connected = &connected;
            Ok(event)
        })
        .take_until(stopping);
    Ok(Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}

/// One connected live client: it holds one of the instance's permits, and counts in
/// `watershed_live_clients`, for as long as it is held.
struct LiveClient {
    _permit: OwnedSemaphorePermit,
}

impl LiveClient {
    /// A place among the live clients, or 503 when there is none.
    fn admit(permits: &Arc<Semaphore>) -> Result<Self, ApiError> {
        let permit = Arc::clone(permits)
            .try_acquire_owned()
            .map_err(|_| ApiError::Overloaded)?;
        metrics::gauge!("watershed_live_clients").increment(1.0);
        Ok(Self { _permit: permit })
    }
}

impl Drop for LiveClient {
    fn drop(&mut self) {
        metrics::gauge!("watershed_live_clients").decrement(1.0);
    }
}

/// Merges a window of updates: all readings of a device become one event; the newest view of a
/// device wins.
fn coalesce(window: Vec<LiveUpdate>) -> Vec<Event> {
    let now = Utc::now();
    let mut readings: BTreeMap<DeviceId, LiveReadings> = BTreeMap::new();
    let mut devices = BTreeMap::new();
    for update in window {
        match update {
            LiveUpdate::Readings {
                device_id,
                stream_seq,
                readings: batch,
            } => {
                let entry = readings
                    .entry(device_id.clone())
                    .or_insert_with(|| LiveReadings {
                        device_id: device_id.to_string(),
                        stream_seq,
                        readings: Vec::new(),
                    });
                entry.stream_seq = entry.stream_seq.max(stream_seq);
                entry.readings.extend(batch);
            }
            LiveUpdate::Device(view) => {
                devices.insert(view.device_id.clone(), view);
            }
        }
    }
    let device_events = devices
        .into_values()
        .map(|view| json_event("device", &DeviceDto::new(view, now)));
    let reading_events = readings
        .into_values()
        .map(|batch| json_event("readings", &batch));
    device_events.chain(reading_events).collect()
}

fn json_event(name: &str, data: &impl serde::Serialize) -> Event {
    Event::default()
        .event(name)
        .json_data(data)
        .expect("live payloads serialize: plain data with string keys")
}
