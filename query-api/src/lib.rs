//! The query side: what the dashboard and analysts read. Device views come from the cache first
//! and the read model when the cache misses or is down; series from the read model; history from
//! the event store.

pub mod dto;
pub mod routes;

pub use routes::history::{Checkpoint, BACKLOG_HEADER};

use std::sync::Arc;

use axum::extract::FromRef;
use utoipa_axum::router::OpenApiRouter;
use watershed_domain::ports::{
    ChangeFeed, DeviceCache, EventBus, EventHistory, EventStore, LiveFeed, ReadModel,
    ReadModelGenerations,
};
use watershed_http_edge::ApiTokens;

#[derive(Clone)]
pub struct QueryState {
    pub store: Arc<dyn EventStore>,
    /// The same store, read whole for analysts, and its feed to tell how much is left to read.
    pub history: Arc<dyn EventHistory>,
    pub feed: Arc<dyn ChangeFeed>,
    pub read_model: Arc<dyn ReadModel>,
    /// Which generation of the read models answers, and any rebuild going on.
    pub generations: Arc<dyn ReadModelGenerations>,
    pub cache: Arc<dyn DeviceCache>,
    pub live: Arc<dyn LiveFeed>,
    pub lag: LagSources,
    pub tokens: ApiTokens,
    /// Cancelled when the server begins to stop: live streams end then, so draining can finish.
    pub shutdown: tokio_util::sync::CancellationToken,
    /// One permit per connected live client; none left answers 503.
    pub live_clients: Arc<tokio::sync::Semaphore>,
    /// One permit per running history download; none left answers 503.
    pub downloads: Arc<tokio::sync::Semaphore>,
}

/// History downloads one instance streams at once: each holds a store reader for a while, and
/// the dashboard's reads must still find one.
pub const MAX_DOWNLOADS: usize = 4;

/// Where the status route looks to tell how far the read models are behind the event store: the
/// relay's change-feed cursor (when a relay carries events to the bus) and the projectors' group.
#[derive(Clone)]
pub struct LagSources {
    /// The change feed and the relay's cursor name in it.
    pub relay: Option<(Arc<dyn ChangeFeed>, String)>,
    pub bus: Arc<dyn EventBus>,
    pub group: String,
}

impl FromRef<QueryState> for ApiTokens {
    fn from_ref(state: &QueryState) -> Self {
        state.tokens.clone()
    }
}

/// The query routes with their OpenAPI descriptions.
pub fn router(state: QueryState) -> OpenApiRouter {
    routes::router().with_state(state)
}
