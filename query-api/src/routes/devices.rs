//! Devices as the dashboard lists them, and a device's event history.

use axum::extract::{Path, State};
use axum::Json;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use utoipa::IntoParams;
use watershed_domain::ports::StreamQuery;
use watershed_domain::read_model::{DeviceView, Presence};
use watershed_domain::{Label, Tag};
use watershed_http_edge::{path::DevicePath, ApiError, ApiQuery, ErrorBody, ReadAccess};

use super::{all_devices, as_of, device_id, find_device, unavailable};
use crate::dto::{DeviceDto, DeviceList, EnvelopeDto, EventList};
use crate::QueryState;

/// The most events one history page returns.
const MAX_EVENTS: u64 = 500;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AsOfParams {
    /// Answer as things stood at this instant (RFC 3339), folded from the event history: registry,
    /// latest value per sensor, open alerts, and the status then. Costs a read of the history up to
    /// then (the device's events for one device; every event for the fleet).
    as_of: Option<DateTime<Utc>>,
}

/// Which devices to list; every filter given must hold.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeviceFilter {
    /// Only devices with this status (at `as_of`, when given).
    #[param(value_type = Option<String>, pattern = "^(online|silent|disabled|decommissioned)$")]
    status: Option<Presence>,
    /// Only devices of this kind (exact match).
    #[param(value_type = Option<String>, min_length = 1, max_length = 128)]
    kind: Option<Label>,
    /// Only devices at this location (exact match).
    #[param(value_type = Option<String>, min_length = 1, max_length = 128)]
    location: Option<Label>,
    /// Only devices carrying this tag.
    #[param(value_type = Option<String>, pattern = r"^[A-Za-z0-9._:=/-]{1,64}$")]
    tag: Option<Tag>,
}

impl DeviceFilter {
    fn admits(&self, device: &DeviceView, now: DateTime<Utc>) -> bool {
        self.status.is_none_or(|s| device.presence(now) == s)
            && (self.kind.is_none() || device.kind == self.kind)
            && (self.location.is_none() || device.location == self.location)
            && self.tag.as_ref().is_none_or(|t| device.tags.contains(t))
    }
}

/// Every device with status, last seen and latest value per sensor, sorted by id; filtered by
/// status, kind, location or tag when asked.
#[utoipa::path(get, path = "/v1/devices", tag = "devices",
    params(AsOfParams, DeviceFilter),
    security(("read_token" = []), ("admin_token" = [])),
    responses((status = 200, body = DeviceList), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody)))]
pub async fn list(
    State(state): State<QueryState>,
    _: ReadAccess,
    ApiQuery(params): ApiQuery<AsOfParams>,
    ApiQuery(filter): ApiQuery<DeviceFilter>,
) -> Result<Json<DeviceList>, ApiError> {
    let (views, now) = match params.as_of {
        Some(at) => (as_of::fleet(&state, at).await?, at),
        None => (all_devices(&state).await?, Utc::now()),
    };
    let devices = views
        .into_iter()
        .filter(|v| filter.admits(v, now))
        .map(|v| DeviceDto::new(v, now))
        .collect();
    Ok(Json(DeviceList { devices }))
}

/// One device.
#[utoipa::path(get, path = "/v1/devices/{device_id}", tag = "devices",
    params(DevicePath, AsOfParams),
    security(("read_token" = []), ("admin_token" = [])),
    responses((status = 200, body = DeviceDto), (status = 400, body = ErrorBody, description = "not a device id"),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get(
    State(state): State<QueryState>,
    _: ReadAccess,
    Path(raw_id): Path<String>,
    ApiQuery(params): ApiQuery<AsOfParams>,
) -> Result<Json<DeviceDto>, ApiError> {
    let id = device_id(raw_id)?;
    let (view, now) = match params.as_of {
        Some(at) => (as_of::device(&state, &id, at).await?, at),
        None => (find_device(&state, &id).await?, Utc::now()),
    };
    Ok(Json(DeviceDto::new(view, now)))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventsParams {
    /// How many events (1–500, default 50).
    #[param(minimum = 1, maximum = 500)]
    limit: Option<u64>,
    /// Only events before this stream sequence (for paging back; 1 or more).
    #[param(minimum = 1)]
    before: Option<i64>,
}

/// A validated page of a stream's history: `limit` events ending before `before`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct HistoryPage {
    limit: u64,
    before: Option<u64>,
}

impl HistoryPage {
    fn parse(params: &EventsParams) -> Result<Self, ApiError> {
        let limit = params.limit.unwrap_or(50);
        if !(1..=MAX_EVENTS).contains(&limit) {
            return Err(invalid_param(
                "limit",
                format!("must be between 1 and {MAX_EVENTS}"),
            ));
        }
        let before = match params.before {
            Some(b) if b < 1 => {
                return Err(invalid_param("before", "must be at least 1".to_owned()));
            }
            b => b.map(|b| b as u64),
        };
        Ok(Self { limit, before })
    }

    /// The stream query for a stream at `version`: at most `limit` events, oldest first.
    fn query(self, version: u64) -> StreamQuery {
        let end = self
            .before
            .map_or(version, |before| (before - 1).min(version));
        let from = end.saturating_sub(self.limit - 1).max(1);
        let count = if end == 0 { 0 } else { end - from + 1 };
        StreamQuery::from(from, count as usize)
    }
}

fn invalid_param(field: &str, message: String) -> ApiError {
    ApiError::Invalid {
        code: "invalid_input",
        message,
        field: Some(field.to_owned()),
    }
}

/// The device's latest events from the event store, newest first.
#[utoipa::path(get, path = "/v1/devices/{device_id}/events", tag = "devices",
    params(DevicePath, EventsParams),
    security(("read_token" = []), ("admin_token" = [])),
    responses((status = 200, body = EventList), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn events(
    State(state): State<QueryState>,
    _: ReadAccess,
    Path(raw_id): Path<String>,
    ApiQuery(params): ApiQuery<EventsParams>,
) -> Result<Json<EventList>, ApiError> {
    let id = device_id(raw_id)?;
    let page = HistoryPage::parse(&params)?;
    let version = state.store.stream_version(&id).await.map_err(unavailable)?;
    if version == 0 {
        return Err(ApiError::device_not_found(&id));
    }
    let query = page.query(version);
    let mut events = if query.limit == 0 {
        Vec::new()
    } else {
        state
            .store
            .read_stream(&id, query)
            .await
            .map_err(unavailable)?
    };
    events.reverse();
    Ok(Json(EventList {
        events: events.into_iter().map(EnvelopeDto::new).collect(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(limit: Option<u64>, before: Option<i64>) -> Result<HistoryPage, ApiError> {
        HistoryPage::parse(&EventsParams { limit, before })
    }

    #[test]
    fn paging_back_reads_the_events_just_before_the_cursor() {
        let q = page(Some(3), Some(10)).unwrap().query(100);
        assert_eq!((q.from_seq, q.limit), (7, 3));
        let q = page(Some(50), None).unwrap().query(20);
        assert_eq!((q.from_seq, q.limit), (1, 20));
        let q = page(Some(5), Some(1_000)).unwrap().query(20);
        assert_eq!((q.from_seq, q.limit), (16, 5));
    }

    #[test]
    fn before_the_first_event_there_is_nothing() {
        let q = page(Some(500), Some(1)).unwrap().query(u64::MAX);
        assert!(page(None, Some(-1)).is_err());
        assert_eq!(q.limit, 0);
    }

    #[test]
    fn a_cursor_or_limit_of_zero_is_refused_by_name() {
        for (p, field) in [
            (page(None, Some(0)), "before"),
            (page(Some(0), None), "limit"),
        ] {
            match p {
                Err(ApiError::Invalid { field: Some(f), .. }) => assert_eq!(f, field),
                other => panic!("expected a 400 naming {field}, got {other:?}"),
            }
        }
        assert!(page(Some(501), None).is_err());
    }
}
