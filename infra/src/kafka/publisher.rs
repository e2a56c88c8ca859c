//! The relay's producer: idempotent (no duplicates or reordering from its own retries), acks from
//! every in-sync replica, keyed by device id so that a device's events share a partition.

use std::time::Duration;

use async_trait::async_trait;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::ClientConfig;
use watershed_domain::event::RecordedEvent;
use watershed_domain::ports::{BusError, EventPublisher};

use super::{cloudevents, unavailable, KafkaConfig};

/// How long a message may take to be delivered, retries included, before publish fails.
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(30);

pub struct KafkaPublisher {
    producer: FutureProducer,
    topic: String,
}

impl KafkaPublisher {
    /// Creates the topic if needed and connects a producer.
    pub async fn connect(config: &KafkaConfig) -> Result<Self, BusError> {
        config.ensure_topic().await?;
        let producer = producer_settings(config)
            .create()
            .map_err(|e| unavailable("creating the Kafka producer", e))?;
        Ok(Self {
            producer,
            topic: config.topic.clone(),
        })
    }
}

/// The relay's producer settings; the benchmark's raw baseline uses the same.
pub fn producer_settings(config: &KafkaConfig) -> ClientConfig {
    let mut settings = config.client();
    settings
        .set("enable.idempotence", "true")
        .set("acks", "all")
        // Java clients' partitioner, so other producers keyed by device id agree with us.
        .set("partitioner", "murmur2_random")
        .set("linger.ms", "5")
        .set(
            "message.timeout.ms",
            DELIVERY_TIMEOUT.as_millis().to_string(),
        );
    settings
}

#[async_trait]
impl EventPublisher for KafkaPublisher {
    /// Enqueues every event in order first (so the producer batches them), then awaits each
    /// delivery report. Enqueueing one at a time in order is what keeps a device's order when the
    /// local queue is full.
    async fn publish(&self, events: &[RecordedEvent]) -> Result<(), BusError> {
        let mut deliveries = Vec::with_capacity(events.len());
        for event in events {
            let headers = cloudevents::headers(event);
            let mut record = FutureRecord::to(&self.topic)
                .key(event.stream_id.as_str())
                .payload(event.payload.as_str())
                .timestamp(event.meta.recorded_at.timestamp_millis())
                .headers(headers);
            loop {
                match self.producer.send_result(record) {
                    Ok(delivery) => break deliveries.push(delivery),
                    Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                        record = back;
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                    Err((e, _)) => return Err(unavailable("enqueueing an event", e)),
                }
            }
        }
        for delivery in deliveries {
            match delivery.await {
                Ok(Ok(_)) => {}
                Ok(Err((e, _))) => return Err(unavailable("delivering an event", e)),
                Err(_) => {
                    return Err(BusError::Unavailable(
                        "the Kafka producer dropped a delivery".into(),
                    ))
                }
            }
        }
        Ok(())
    }
}
