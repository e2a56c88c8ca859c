//! Builders for events and readings, so suites read as the rule they check.

use chrono::{DateTime, Utc};
use uuid::Uuid;
use watershed_domain::event::{DeviceRegistered, EventMeta, ExpectedVersion, ReadingsRecorded};
use watershed_domain::ports::EventStore;
use watershed_domain::{
    AlertCleared, AlertRaised, BatchId, Condition, DeviceEvent, DeviceId, IdempotencyKey, KeyHash,
    NewEvent, Reading, RecordedEvent, RuleName, SensorName, Severity, Unit, Value,
};

/// A device id no other test uses.
pub fn unique_device(prefix: &str) -> DeviceId {
    DeviceId::parse(format!("{prefix}-{}", Uuid::now_v7().simple())).expect("valid test id")
}

pub fn reading(sensor: &str, value: f64, at: DateTime<Utc>) -> Reading {
    Reading {
        sensor: SensorName::parse(sensor).expect("valid test sensor"),
        value: Value::try_from(value).expect("finite test value"),
        unit: Some(Unit::parse("C").expect("valid unit")),
        measured_at: at,
    }
}

pub fn registered() -> DeviceEvent {
    DeviceEvent::Registered(DeviceRegistered {
        name: None,
        kind: None,
        location: None,
        key_hash: KeyHash::of("test-key"),
    })
}

pub fn readings(batch: &str, readings: Vec<Reading>) -> DeviceEvent {
    DeviceEvent::ReadingsRecorded(ReadingsRecorded {
        batch_id: BatchId::parse(batch).expect("valid test batch id"),
        readings,
    })
}

/// `rule` raised by a temperature reading of `value` above 30.
pub fn alert_raised(rule: &str, value: f64) -> DeviceEvent {
    DeviceEvent::AlertRaised(AlertRaised {
        rule: RuleName::parse(rule).expect("valid test rule"),
        sensor: SensorName::parse("temperature").expect("valid test sensor"),
        condition: Condition::Above,
        threshold: 30.0,
        value: Value::try_from(value).expect("finite test value"),
        unit: Some(Unit::parse("C").expect("valid unit")),
        message: None,
        measured_at: Utc::now(),
        severity: Severity::Major,
    })
}

pub fn alert_cleared(rule: &str, value: f64) -> DeviceEvent {
    DeviceEvent::AlertCleared(AlertCleared {
        rule: RuleName::parse(rule).expect("valid test rule"),
        sensor: SensorName::parse("temperature").expect("valid test sensor"),
        alert_id: None,
        severity: Severity::Major,
        value: Value::try_from(value).expect("finite test value"),
        unit: Some(Unit::parse("C").expect("valid unit")),
        measured_at: Utc::now(),
    })
}

fn meta() -> EventMeta {
    let now = Utc::now();
    EventMeta {
        event_id: Uuid::now_v7(),
        occurred_at: now,
        recorded_at: now,
        correlation_id: None,
        causation_id: None,
    }
}

/// Starts `device`'s stream with a registration.
pub async fn register(store: &dyn EventStore, device: &DeviceId) {
    store
        .append(
            device,
            ExpectedVersion::NoStream,
            vec![new_event(&registered(), None)],
        )
        .await
        .expect("registering a new stream");
}

/// An event ready to append, with an optional idempotency key.
pub fn new_event(event: &DeviceEvent, key: Option<&str>) -> NewEvent {
    NewEvent::new(
        meta(),
        event,
        key.map(|k| IdempotencyKey::stored(k.to_owned())),
    )
}

/// An event as a store would hand it out, for projection suites that need no store.
pub fn recorded(device: &DeviceId, seq: u64, position: u64, event: &DeviceEvent) -> RecordedEvent {
    RecordedEvent {
        position,
        stream_id: device.clone(),
        stream_seq: seq,
        event_type: event.event_type().to_owned(),
        schema_version: 1,
        meta: meta(),
        payload: event.encode_payload(),
    }
}

/// The sequences of `stream`'s events among `events`, in the order given.
pub fn seqs_of(events: &[RecordedEvent], stream: &DeviceId) -> Vec<u64> {
    events
        .iter()
        .filter(|e| e.stream_id == *stream)
        .map(|e| e.stream_seq)
        .collect()
}
