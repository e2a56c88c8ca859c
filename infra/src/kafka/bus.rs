//! Projectors' side of the Kafka bus: a consumer that reads every partition from its group's
//! committed offsets. Offsets are committed only when the projector says its batch is in the read
//! model, so a crash redelivers and never skips; the read model's per-stream positions make the
//! redelivery harmless.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, StreamConsumer};
use rdkafka::message::{Headers, Message};
use rdkafka::{Offset, TopicPartitionList};
use watershed_domain::event::RecordedEvent;
use watershed_domain::ports::{Backlog, BusError, EventBus, EventSubscription};
use watershed_domain::{DeviceId, Parked};

use super::{backlog, cloudevents, unavailable, KafkaConfig};

/// After the first message of a batch, how long to wait for more before handing the batch over.
const LINGER: Duration = Duration::from_millis(5);

pub struct KafkaBus {
    config: KafkaConfig,
    /// One offset reader per group asked about, kept because connecting costs round trips.
    probes: Mutex<HashMap<String, Arc<BaseConsumer>>>,
}

impl KafkaBus {
    /// Creates the topic if needed, so that consumers may start before the relay.
    pub async fn connect(config: KafkaConfig) -> Result<Self, BusError> {
        config.ensure_topic().await?;
        Ok(Self {
            config,
            probes: Mutex::default(),
        })
    }

    fn probe(&self, group: &str) -> Result<Arc<BaseConsumer>, BusError> {
        let mut probes = self.probes.lock().expect("probe map lock");
        if let Some(probe) = probes.get(group) {
            return Ok(Arc::clone(probe));
        }
        let probe: Arc<BaseConsumer> = Arc::new(
            self.config
                .client()
                .set("group.id", group)
                .set("enable.auto.commit", "false")
                .create()
                .map_err(|e| unavailable("creating a Kafka offset reader", e))?,
        );
        probes.insert(group.to_owned(), Arc::clone(&probe));
        Ok(probe)
    }
}

#[async_trait]
impl EventBus for KafkaBus {
    async fn subscribe(&self, group: &str) -> Result<Box<dyn EventSubscription>, BusError> {
        let topic = self.config.topic.clone();
        let consumer: StreamConsumer = self
            .config
            .client()
            .set("group.id", group)
            .set("enable.auto.commit", "false")
            .set("auto.offset.reset", "earliest")
            .create()
            .map_err(|e| unavailable("creating a Kafka consumer", e))?;
        // Every partition (or those `assign` names), each from the group's committed offset,
        // without joining the group: membership would hand a killed member's partitions over only
        // when the broker expires its session, and tansu never does (nor honours static members).
        // Processes of one group therefore split the partitions between them explicitly.
        let assign = self.config.assign.clone();
        let consumer = tokio::task::spawn_blocking(move || {
            let existing = backlog::partitions(&consumer, &topic)?;
            let partitions = match assign {
                Some(wanted) => match wanted.iter().find(|p| !existing.contains(p)) {
                    Some(missing) => {
                        return Err(BusError::Unavailable(format!(
                            "topic {topic} has no partition {missing} (it has {})",
                            existing.len()
                        )))
                    }
                    None => wanted,
                },
                None => existing,
            };
            let mut assignment = TopicPartitionList::new();
            for partition in partitions {
                assignment
                    .add_partition_offset(&topic, partition, Offset::Stored)
                    .map_err(|e| unavailable("listing partitions", e))?;
            }
            consumer
                .assign(&assignment)
                .map_err(|e| unavailable("assigning partitions", e))?;
            Ok::<_, BusError>(consumer)
        })
        .await
        .map_err(|e| BusError::Unavailable(format!("assigning partitions: {e}")))??;
        Ok(Box::new(KafkaSubscription {
            consumer: Arc::new(consumer),
            topic: self.config.topic.clone(),
            next_offsets: BTreeMap::new(),
            poisoned: None,
        }))
    }

    async fn backlog(&self, group: &str, cap: usize) -> Result<Backlog, BusError> {
        let probe = self.probe(group)?;
        let topic = self.config.topic.clone();
        tokio::task::spawn_blocking(move || backlog::of_group(&probe, &topic, cap))
            .await
            .map_err(|e| BusError::Unavailable(format!("offset reader: {e}")))?
    }
}

struct KafkaSubscription {
    consumer: Arc<StreamConsumer>,
    topic: String,
    /// Per partition, the offset after the last message handed out: what a commit records.
    next_offsets: BTreeMap<i32, i64>,
    /// A message that did not decode after others of the same fetch had: those are handed out
    /// first, and this is reported by the next call, so nothing before it is dropped.
    poisoned: Option<Box<Poison>>,
}

/// A message that is no Watershed event, held until a caller parks it.
struct Poison {
    error: BusError,
    partition: i32,
    offset: i64,
    letter: Parked,
}

/// How much of a poison message a dead letter keeps.
const RAW_KEPT: usize = 4096;

impl Poison {
    fn of(message: &impl Message, error: BusError) -> Self {
        let (partition, offset) = (message.partition(), message.offset());
        let mut raw = String::new();
        if let Some(headers) = message.headers() {
            for header in headers.iter() {
                let value = header
                    .value
                    .map(String::from_utf8_lossy)
                    .unwrap_or_default();
                raw.push_str(&format!("{}: {value}\n", header.key));
            }
        }
        raw.push('\n');
        raw.push_str(&String::from_utf8_lossy(
            message.payload().unwrap_or_default(),
        ));
        if raw.len() > RAW_KEPT {
            let cut = (0..=RAW_KEPT)
                .rev()
                .find(|&i| raw.is_char_boundary(i))
                .unwrap_or(0);
            raw.truncate(cut);
        }
        let device_id = message
            .key()
            .and_then(|k| std::str::from_utf8(k).ok())
            .and_then(|k| DeviceId::parse(k).ok());
        Self {
            letter: Parked {
                device_id,
                stream_seq: None,
                source: format!("kafka:{partition}:{offset}"),
                event: None,
                raw: Some(raw),
                error: error.to_string(),
            },
            error,
            partition,
            offset,
        }
    }
}

impl KafkaSubscription {
    /// Decodes a message; only a message handed out moves the offset a commit records.
    fn take(&mut self, message: &impl Message) -> Result<RecordedEvent, Box<Poison>> {
        let event = cloudevents::decode(message.headers(), message.payload()).map_err(|e| {
            let error = BusError::Malformed(format!(
                "partition {} offset {}: {e}",
                message.partition(),
                message.offset()
            ));
            Box::new(Poison::of(message, error))
        })?;
        self.next_offsets
            .insert(message.partition(), message.offset() + 1);
        Ok(event)
    }
}

#[async_trait]
impl EventSubscription for KafkaSubscription {
    /// A malformed message stays in the way: the consumer does not read past it (every later
    /// call reports it again), so a restart from the committed offsets meets it too.
    async fn next_batch(&mut self, max: usize) -> Result<Vec<RecordedEvent>, BusError> {
        if let Some(poison) = &self.poisoned {
            return Err(poison.error.clone());
        }
        let consumer = Arc::clone(&self.consumer);
        let first = consumer
            .recv()
            .await
            .map_err(|e| unavailable("receiving", e))?;
        let mut batch = Vec::with_capacity(max.min(1024));
        match self.take(&first) {
            Ok(event) => batch.push(event),
            Err(poison) => {
                let error = poison.error.clone();
                self.poisoned = Some(poison);
                return Err(error);
            }
        }
        drop(first);
        while batch.len() < max {
            match tokio::time::timeout(LINGER, consumer.recv()).await {
                Ok(Ok(message)) => match self.take(&message) {
                    Ok(event) => batch.push(event),
                    Err(poison) => {
                        self.poisoned = Some(poison);
                        break;
                    }
                },
                // An error after the first message is reported by the next call instead.
                Ok(Err(_)) | Err(_) => break,
            }
        }
        Ok(batch)
    }

    async fn commit(&mut self) -> Result<(), BusError> {
        if self.next_offsets.is_empty() {
            return Ok(());
        }
        let mut offsets = TopicPartitionList::new();
        for (&partition, &offset) in &self.next_offsets {
            offsets
                .add_partition_offset(&self.topic, partition, Offset::Offset(offset))
                .map_err(|e| unavailable("listing offsets", e))?;
        }
        let consumer = Arc::clone(&self.consumer);
        // A synchronous commit blocks its thread until the broker answers.
        tokio::task::spawn_blocking(move || consumer.commit(&offsets, CommitMode::Sync))
            .await
            .map_err(|e| BusError::Unavailable(format!("commit task: {e}")))?
            .map_err(|e| unavailable("committing offsets", e))?;
        self.next_offsets.clear();
        Ok(())
    }

    fn take_poison(&mut self) -> Option<Parked> {
        let poison = self.poisoned.take()?;
        self.next_offsets
            .insert(poison.partition, poison.offset + 1);
        Some(poison.letter)
    }
}
