//! The pure model of Watershed: identifiers, readings, the event envelope and events, the Device
//! aggregate (`decide` / `evolve`), alert rules, read-model shapes and the ports the application talks through.
//! Nothing here does I/O or depends on an async runtime.

pub mod alert;
pub mod alert_lifecycle;
pub mod as_of;
pub mod cloudevents;
pub mod dead_letter;
pub mod device;
pub mod device_file;
pub mod device_token;
pub mod event;
pub mod generations;
pub mod history;
pub mod idempotency;
pub mod ids;
pub mod limits;
pub mod model;
pub mod ports;
pub mod raw_blocks;
pub mod read_model;
pub mod reading;
pub mod validation;
pub mod webhooks;

pub use alert::{AlertRule, AlertRules, Condition, DeviceAlerts, RuleSpec, Severity};
pub use alert_lifecycle::{AlertAction, AlertLifecycle};
pub use dead_letter::{DeadLetter, Parked, PoisonPolicy};
pub use device::{decide, evolve, Admission, Command, Device, DeviceStatus, DomainError, KeyHash};
pub use device_token::{Credential, DeviceToken, TokenRefusal};
pub use event::{
    AlertAcknowledged, AlertCleared, AlertClearedManually, AlertRaised, AppendOutcome, Committed,
    DecodeError, DeviceEvent, EventMeta, ExpectedVersion, NewEvent, ReadingsRecorded,
    RecordedEvent, SensorsAdded, DECODE_VERSION, EVENT_TYPES,
};
pub use generations::{Generations, Rebuild, RebuildPhase, RebuildRefused};
pub use history::{HistoryFilter, HistoryPage, TimeRange};
pub use idempotency::{IdempotencyKey, PayloadDigest, Recalled};
pub use ids::{BatchId, DeviceId, Label, RuleName, SensorName, Tag, Unit};
pub use model::{ModelError, ModelRuntime, OnnxModel, Scorer};
pub use reading::{Reading, ReadingBatch, Value, MAX_READINGS_PER_BATCH};
pub use validation::ValidationError;
pub use webhooks::{
    AfterAttempt, AlertNotification, Attempt, Backoff, DeliveryRecord, DeliveryState, DueDelivery,
    NewDelivery, NotificationType, WebhookChannel, WebhookSecret, WebhookUrl,
};
