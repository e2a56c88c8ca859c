//! One row per reading, the shape every export format writes.

use chrono::{DateTime, NaiveDate, Utc};
use uuid::Uuid;
use watershed_domain::{DeviceEvent, DeviceId, RecordedEvent, SensorName, TimeRange, Unit};

/// Ids and names are inline strings: a row costs no allocation.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub device_id: DeviceId,
    pub sensor: SensorName,
    pub value: f64,
    pub unit: Option<Unit>,
    pub measured_at: DateTime<Utc>,
    pub recorded_at: DateTime<Utc>,
    pub event_id: Uuid,
    pub stream_seq: u64,
}

impl Row {
    /// The partition: the UTC day the reading was measured.
    pub fn day(&self) -> NaiveDate {
        self.measured_at.date_naive()
    }
}

/// The readings of `event` measured in `measured`; none for other event types.
pub fn rows_of(event: &RecordedEvent, measured: &TimeRange) -> anyhow::Result<Vec<Row>> {
    if event.event_type != "ReadingsRecorded" {
        return Ok(Vec::new());
    }
    let DeviceEvent::ReadingsRecorded(batch) = event.decode()? else {
        return Ok(Vec::new());
    };
    Ok(batch
        .readings
        .into_iter()
        .filter(|r| measured.contains(r.measured_at))
        .map(|r| Row {
            device_id: event.stream_id.clone(),
            sensor: r.sensor,
            value: r.value.get(),
            unit: r.unit,
            measured_at: r.measured_at,
            recorded_at: event.meta.recorded_at,
            event_id: event.meta.event_id,
            stream_seq: event.stream_seq,
        })
        .collect())
}
