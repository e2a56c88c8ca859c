//! Projections turn events into read-model changes; runners feed them from a bus and commit each
//! batch with its positions, so redelivered events change nothing. The relay feeds the bus.

pub mod projection;
pub mod relay;
pub mod retention;
pub mod runner;

pub use projection::{project, Projected, ProjectionError};
pub use relay::{Relay, RelayConfig};
pub use retention::RawRetention;
pub use runner::{Projector, ProjectorConfig, ProjectorError, RetryPolicy, Touched};
