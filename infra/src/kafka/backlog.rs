//! A consumer group's backlog: per partition, the high watermark minus the group's committed
//! offset (or the low watermark where it has committed nothing, as `auto.offset.reset=earliest`
//! starts there), and the time of the oldest waiting message. Blocking calls: run it off the async
//! threads.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};
use watershed_domain::ports::{Backlog, BusError};

use super::unavailable;

const TIMEOUT: Duration = Duration::from_secs(5);

/// The topic's partition ids.
pub(super) fn partitions(client: &impl Consumer, topic: &str) -> Result<Vec<i32>, BusError> {
    let metadata = client
        .fetch_metadata(Some(topic), TIMEOUT)
        .map_err(|e| unavailable("reading topic metadata", e))?;
    let ids: Vec<i32> = metadata
        .topics()
        .iter()
        .filter(|t| t.name() == topic)
        .flat_map(|t| t.partitions().iter().map(|p| p.id()))
        .collect();
    if ids.is_empty() {
        return Err(BusError::Unavailable(format!(
            "topic {topic} has no partitions"
        )));
    }
    Ok(ids)
}

pub(super) fn of_group(probe: &BaseConsumer, topic: &str, cap: usize) -> Result<Backlog, BusError> {
    let mut partitions = TopicPartitionList::new();
    for id in self::partitions(probe, topic)? {
        partitions.add_partition(topic, id);
    }
    let committed = probe
        .committed_offsets(partitions, TIMEOUT)
        .map_err(|e| unavailable("reading committed offsets", e))?;
    let mut events: u64 = 0;
    // Where each partition's waiting messages start, for those that have any.
    let mut waiting = TopicPartitionList::new();
    for element in committed.elements() {
        let (low, high) = probe
            .fetch_watermarks(topic, element.partition(), TIMEOUT)
            .map_err(|e| unavailable("reading watermarks", e))?;
        let from = match element.offset() {
            Offset::Offset(o) => o.max(low),
            _ => low,
        };
        if high > from {
            events += u64::try_from(high - from).unwrap_or(0);
            waiting
                .add_partition_offset(topic, element.partition(), Offset::Offset(from))
                .map_err(|e| unavailable("listing offsets", e))?;
        }
    }
    let cap = cap as u64;
    Ok(Backlog {
        events: events.min(cap),
        capped: events > cap,
        oldest_recorded_at: oldest_waiting(probe, &waiting)?,
    })
}

/// The earliest timestamp among the first waiting message of each partition in `waiting` (the
/// relay stamps each message with its event's recorded-at). Reads one message per partition.
fn oldest_waiting(
    probe: &BaseConsumer,
    waiting: &TopicPartitionList,
) -> Result<Option<DateTime<Utc>>, BusError> {
    if waiting.count() == 0 {
        return Ok(None);
    }
    probe
        .assign(waiting)
        .map_err(|e| unavailable("assigning the offset reader", e))?;
    let mut firsts: HashMap<i32, i64> = HashMap::new();
    let deadline = Instant::now() + TIMEOUT;
    while firsts.len() < waiting.count() && Instant::now() < deadline {
        match probe.poll(Duration::from_millis(100)) {
            Some(Ok(message)) => {
                if let Some(millis) = message.timestamp().to_millis() {
                    firsts.entry(message.partition()).or_insert(millis);
                }
            }
            Some(Err(e)) => return Err(unavailable("reading a waiting message", e)),
            None => {}
        }
    }
    probe
        .unassign()
        .map_err(|e| unavailable("releasing the offset reader", e))?;
    Ok(firsts
        .into_values()
        .min()
        .and_then(DateTime::from_timestamp_millis))
}
