//! A sensor's readings over a time range, raw or in 1-minute / 1-hour buckets.

use axum::extract::{Path, State};
use axum::Json;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use watershed_domain::read_model::{Points, Resolution, SeriesQuery};
use watershed_domain::SensorName;
use watershed_http_edge::{path::DevicePath, ApiError, ApiQuery, ErrorBody, ReadAccess};

use super::{device_id, find_device, unavailable};
use crate::QueryState;

const DEFAULT_LIMIT: usize = 10_000;
const MAX_LIMIT: usize = 100_000;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReadingsParams {
    /// The sensor: 1–64 of `A-Z a-z 0-9 - _ . /`.
    #[param(
        required,
        pattern = r"^[A-Za-z0-9._/-]{1,64}$",
        min_length = 1,
        max_length = 64
    )]
    sensor: Option<String>,
    /// RFC 3339, inclusive, before `to`; default one hour before `to`.
    #[param(format = DateTime)]
    from: Option<String>,
    /// RFC 3339, exclusive; default now.
    #[param(format = DateTime)]
    to: Option<String>,
    /// `raw` (default), `1m` or `1h`.
    #[param(pattern = r"^(raw|1m|1h)$")]
    resolution: Option<String>,
    /// At most this many points (default 10 000, at most 100 000); `truncated` says when cut.
    #[param(minimum = 1, maximum = 100_000)]
    limit: Option<usize>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SeriesDto {
    pub device_id: String,
    pub sensor: String,
    pub unit: Option<String>,
    #[schema(value_type = String, example = "1m")]
    pub resolution: Resolution,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub truncated: bool,
    /// Sorted by `t`. Raw: `{t, value}`; buckets: `{t, count, min, max, avg}` with `t` the start.
    #[schema(value_type = Vec<Object>)]
    pub points: Points,
}

fn invalid(field: &str, message: impl Into<String>) -> ApiError {
    ApiError::Invalid {
        code: "invalid_input",
        message: message.into(),
        field: Some(field.to_owned()),
    }
}

fn timestamp(field: &str, raw: Option<&str>) -> Result<Option<DateTime<Utc>>, ApiError> {
    raw.map(|s| {
        DateTime::parse_from_rfc3339(s)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|e| invalid(field, format!("not an RFC 3339 timestamp: {e}")))
    })
    .transpose()
}

impl ReadingsParams {
    fn into_query(self, device_id: watershed_domain::DeviceId) -> Result<SeriesQuery, ApiError> {
        let sensor = self
            .sensor
            .ok_or_else(|| invalid("sensor", "is required"))
            .and_then(|s| SensorName::parse(s).map_err(ApiError::invalid))?;
        let to = timestamp("to", self.to.as_deref())?.unwrap_or_else(Utc::now);
        let from = timestamp("from", self.from.as_deref())?.unwrap_or(to - Duration::hours(1));
        if from >= to {
            return Err(invalid("from", "must be before `to`"));
        }
        let resolution = match self.resolution.as_deref() {
            None | Some("raw") => Resolution::Raw,
            Some("1m") => Resolution::Minute,
            Some("1h") => Resolution::Hour,
            Some(other) => {
                return Err(invalid(
                    "resolution",
                    format!("{other:?} is not one of raw, 1m, 1h"),
                ))
            }
        };
        let limit = self.limit.unwrap_or(DEFAULT_LIMIT);
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(invalid(
                "limit",
                format!("must be between 1 and {MAX_LIMIT}"),
            ));
        }
        Ok(SeriesQuery {
            device_id,
            sensor,
            from,
            to,
            resolution,
            limit,
        })
    }
}

/// A sensor's readings in `[from, to)`: raw points, or 1-minute / 1-hour buckets with count,
/// min, max and avg. Readings that arrived out of order are in the right buckets.
#[utoipa::path(get, path = "/v1/devices/{device_id}/readings", tag = "devices",
    params(DevicePath, ReadingsParams),
    security(("read_token" = []), ("admin_token" = [])),
    responses((status = 200, body = SeriesDto), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn readings(
    State(state): State<QueryState>,
    _: ReadAccess,
    Path(raw_id): Path<String>,
    ApiQuery(params): ApiQuery<ReadingsParams>,
) -> Result<Json<SeriesDto>, ApiError> {
    let id = device_id(raw_id)?;
    let query = params.into_query(id)?;
    find_device(&state, &query.device_id).await?;
    let series = state.read_model.series(&query).await.map_err(unavailable)?;
    Ok(Json(SeriesDto {
        device_id: query.device_id.to_string(),
        sensor: query.sensor.to_string(),
        unit: series.unit.map(|u| u.as_str().to_owned()),
        resolution: query.resolution,
        from: query.from,
        to: query.to,
        truncated: series.truncated,
        points: series.points,
    }))
}
