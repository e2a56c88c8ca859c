//! The command side: devices send readings, operators register and decommission devices. Every
//! accepted command becomes events appended to the event store with optimistic concurrency.

pub mod device_states;
pub mod handler;
pub mod ingest;
pub mod limiter;
pub mod mqtt;
pub mod routes;
mod stream_locks;

use std::sync::Arc;

use axum::extract::FromRef;
use utoipa_axum::router::OpenApiRouter;
use watershed_domain::ports::EventStore;
use watershed_http_edge::ApiTokens;

pub use device_states::DeviceStates;
pub use handler::CommandHandler;
pub use limiter::Limiter;
pub use mqtt::MqttGateway;
pub use routes::readings::decode_batch;

/// Everything the command routes need.
#[derive(Clone)]
pub struct CommandState {
    pub handler: Arc<CommandHandler>,
    pub tokens: ApiTokens,
    /// Distinct sensors one device may report in all.
    pub max_sensors: usize,
    pub limiter: Limiter,
}

impl FromRef<CommandState> for ApiTokens {
    fn from_ref(state: &CommandState) -> Self {
        state.tokens.clone()
    }
}

impl CommandState {
    pub fn new(
        store: Arc<dyn EventStore>,
        tokens: ApiTokens,
        max_sensors: usize,
        limiter: Limiter,
    ) -> Self {
        Self {
            handler: Arc::new(CommandHandler::new(store)),
            tokens,
            max_sensors,
            limiter,
        }
    }
}

/// The command routes with their OpenAPI descriptions.
pub fn router(state: CommandState) -> OpenApiRouter {
    routes::router().with_state(state)
}
