//! Projections turn events into read-model changes; runners feed them from a bus and commit each
//! batch with its positions, so redelivered events change nothing. The relay feeds the bus; the
//! alert evaluator turns readings into alert events; the notifier
//! and the dispatcher deliver those to webhooks.

pub mod alert_watch;
pub mod alerts;
pub mod apply;
pub mod dead_letters;
pub mod dispatcher;
pub mod notifier;
mod parking;
pub mod projection;
pub mod rebuild;
pub mod relay;
pub mod retention;
mod retry;
pub mod rules;
pub mod runner;
pub mod sink;

pub use alert_watch::AlertWatch;
pub use alerts::{AlertConfig, AlertError, AlertEvaluator};
pub use apply::{Applied, Applier};
pub use dead_letters::{DeadLetterDesk, DeadLetterError};
pub use dispatcher::{DispatchConfig, Dispatcher};
pub use notifier::{Notifier, NotifierConfig, NotifierError};
pub use parking::project_parking;
pub use projection::{project, Projected, ProjectionError};
pub use rebuild::{RebuildError, RebuildReport, Rebuilder};
pub use relay::{Relay, RelayConfig};
pub use retention::RawRetention;
pub use retry::RetryPolicy;
pub use rules::{RuleFollower, RulesHandle};
pub use runner::{Projector, ProjectorConfig, ProjectorError, Touched};
pub use sink::{OnRefused, SinkConfig, SinkRunError, SinkRunner};
