//! A consumer group's backlog: per partition, the high watermark minus the group's committed
//! offset (or the low watermark where it has committed nothing, as `auto.offset.reset=earliest`
//! starts there). Blocking calls: run it off the async threads.

use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer};
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
    for element in committed.elements() {
        let (low, high) = probe
            .fetch_watermarks(topic, element.partition(), TIMEOUT)
            .map_err(|e| unavailable("reading watermarks", e))?;
        let from = match element.offset() {
            Offset::Offset(o) => o.max(low),
            _ => low,
        };
        events += u64::try_from(high - from).unwrap_or(0);
    }
    let cap = cap as u64;
    Ok(Backlog {
        events: events.min(cap),
        capped: events > cap,
        // Finding the oldest waiting message's time would mean fetching one per partition; the
        // relay stage reports the age of what it has not published.
        oldest_recorded_at: None,
    })
}
