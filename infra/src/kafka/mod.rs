//! The bus on Kafka (rdkafka): the relay publishes every event keyed by device id, so each device's
//! events stay in one partition and in order; projectors read as a consumer group and commit
//! offsets only after their read-model transaction. Events travel as CloudEvents 1.0 in binary
//! mode: the envelope in `ce_` headers, the stored JSON payload as the value, untouched.

mod backlog;
pub mod bus;
pub mod cloudevents;
pub mod config;
pub mod publisher;

pub use bus::KafkaBus;
pub use config::KafkaConfig;
pub use publisher::KafkaPublisher;

use rdkafka::error::KafkaError;
use watershed_domain::ports::BusError;

fn unavailable(context: &str, e: KafkaError) -> BusError {
    BusError::Unavailable(format!("{context}: {e}"))
}
