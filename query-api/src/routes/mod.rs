//! The read routes.

mod alerts;
mod as_of;
mod devices;
pub mod history;
mod series;
mod status;
mod stream;

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use watershed_domain::read_model::DeviceView;
use watershed_domain::DeviceId;
use watershed_http_edge::ApiError;

use crate::QueryState;

pub fn router() -> OpenApiRouter<QueryState> {
    OpenApiRouter::new()
        .routes(routes!(alerts::list))
        .routes(routes!(devices::list))
        .routes(routes!(devices::get))
        .routes(routes!(devices::events))
        .routes(routes!(history::history))
        .routes(routes!(series::readings))
        .routes(routes!(status::status))
        .routes(routes!(stream::stream))
}

fn device_id(raw: String) -> Result<DeviceId, ApiError> {
    DeviceId::parse(raw).map_err(ApiError::invalid)
}

fn unavailable(e: impl std::fmt::Display) -> ApiError {
    ApiError::Unavailable(e.to_string())
}

/// One device's view: the cache first; the read model when the cache misses or is down.
async fn find_device(state: &QueryState, id: &DeviceId) -> Result<DeviceView, ApiError> {
    match state.cache.get(id).await {
        Ok(Some(view)) => {
            cache_lookup("hit");
            return Ok(view);
        }
        Ok(None) => cache_lookup("miss"),
        Err(e) => {
            cache_lookup("error");
            tracing::debug!(error = %e, "cache down; reading the read model");
        }
    }
    state
        .read_model
        .devices_by_id(std::slice::from_ref(id))
        .await
        .map_err(unavailable)?
        .pop()
        .ok_or_else(|| ApiError::device_not_found(id))
}

/// Every device: the cache when it is complete; the read model otherwise.
async fn all_devices(state: &QueryState) -> Result<Vec<DeviceView>, ApiError> {
    match state.cache.all().await {
        Ok(Some(views)) => {
            cache_lookup("hit");
            return Ok(views);
        }
        Ok(None) => cache_lookup("miss"),
        Err(e) => {
            cache_lookup("error");
            tracing::debug!(error = %e, "cache down; reading the read model");
        }
    }
    state.read_model.devices().await.map_err(unavailable)
}

/// How many devices: the cache's count when it is complete (constant time), the read model's
/// otherwise.
async fn device_count(state: &QueryState) -> Result<u64, ApiError> {
    match state.cache.count().await {
        Ok(Some(count)) => return Ok(count),
        Ok(None) => {}
        Err(e) => tracing::debug!(error = %e, "cache down; counting in the read model"),
    }
    state.read_model.device_count().await.map_err(unavailable)
}

/// Counts a device-cache lookup by its result: `hit`, `miss` (the read model answers) or `error`.
fn cache_lookup(result: &'static str) {
    metrics::counter!("watershed_cache_lookups_total", "result" => result).increment(1);
}
