//! `?as_of=`: devices as they stood at an instant, folded from the event store (the read models
//! hold only the present). The cost is a read of the history up to then: one device's stream for
//! one device, the whole history for the fleet.

use chrono::{DateTime, TimeDelta, Utc};
use watershed_domain::as_of::FleetFold;
use watershed_domain::ports::{FeedCursor, StreamQuery};
use watershed_domain::read_model::DeviceView;
use watershed_domain::{DeviceId, HistoryFilter, TimeRange};
use watershed_http_edge::ApiError;

use super::unavailable;
use crate::QueryState;

/// Events read from the store at a time while folding.
const PAGE: usize = 1000;

fn corrupt(e: impl std::fmt::Display) -> ApiError {
    ApiError::Internal(format!("a stored event does not decode: {e}"))
}

/// Every device registered by `as_of`, as it stood then.
pub(super) async fn fleet(
    state: &QueryState,
    as_of: DateTime<Utc>,
) -> Result<Vec<DeviceView>, ApiError> {
    let filter = HistoryFilter {
        recorded: TimeRange {
            from: None,
            // Inclusive of `as_of` itself.
            to: as_of.checked_add_signed(TimeDelta::microseconds(1)),
        },
        ..HistoryFilter::default()
    };
    let mut fold = FleetFold::default();
    let mut cursor = FeedCursor::beginning();
    loop {
        let page = state
            .history
            .read_history(&filter, &cursor, PAGE)
            .await
            .map_err(unavailable)?;
        for event in &page.events {
            fold.apply(event).map_err(corrupt)?;
        }
        if page.at_end {
            return Ok(fold.into_views());
        }
        cursor = page.next;
    }
}

/// One device as it stood at `as_of`; 404 when it was not registered yet.
pub(super) async fn device(
    state: &QueryState,
    id: &DeviceId,
    as_of: DateTime<Utc>,
) -> Result<DeviceView, ApiError> {
    let mut fold = FleetFold::default();
    let mut from_seq = 1;
    'stream: loop {
        let events = state
            .store
            .read_stream(id, StreamQuery::from(from_seq, PAGE))
            .await
            .map_err(unavailable)?;
        for event in &events {
            // A stream is appended in order, so its recorded times only grow.
            if event.meta.recorded_at > as_of {
                break 'stream;
            }
            fold.apply(event).map_err(corrupt)?;
            from_seq = event.stream_seq + 1;
        }
        if events.len() < PAGE {
            break;
        }
    }
    fold.into_view(id).ok_or_else(|| ApiError::NotFound {
        code: "device_not_found",
        message: format!("device {id} was not registered at {as_of}"),
    })
}
