//! Events and their envelope. A stored event's meaning never changes: a new meaning gets a new
//! schema version, and [`DeviceEvent::decode`] upcasts older versions when reading.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::alert::{Condition, RuleSpec, Severity};
use crate::device::KeyHash;
use crate::idempotency::{IdempotencyKey, PayloadDigest};
use crate::ids::{BatchId, DeviceId, Label, RuleName, SensorName, Tag, Unit};
use crate::read_model::ProfileChange;
use crate::reading::{Reading, Value};

/// The schema version every event is written with today.
pub const DECODE_VERSION: u16 = 1;

/// Everything that can happen to a device, and to the alert rules. One stream per device, whose id
/// is the device id, and one of the rules ([`crate::rule_book::RULES_STREAM`]).
#[derive(Debug, Clone, PartialEq)]
pub enum DeviceEvent {
    Registered(DeviceRegistered),
    KeyRotated(DeviceKeyRotated),
    ReadingsRecorded(ReadingsRecorded),
    SensorsAdded(SensorsAdded),
    AlertRaised(AlertRaised),
    AlertCleared(AlertCleared),
    AlertAcknowledged(AlertAcknowledged),
    AlertClearedManually(AlertClearedManually),
    Decommissioned(DeviceDecommissioned),
    Renamed(DeviceRenamed),
    Moved(DeviceMoved),
    Retagged(DeviceRetagged),
    Disabled(DeviceDisabled),
    Enabled(DeviceEnabled),
    LimitsChanged(DeviceLimitsChanged),
    AlertRetired(AlertRetired),
    AlertRuleDefined(AlertRuleDefined),
    AlertRuleDeleted(AlertRuleDeleted),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeviceRegistered {
    pub name: Option<Label>,
    pub kind: Option<Label>,
    pub location: Option<Label>,
    /// SHA-256 of the device key; the key itself is shown once and never stored.
    pub key_hash: KeyHash,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeviceKeyRotated {
    pub key_hash: KeyHash,
    /// Until when the key it replaces still works (an overlap, as IoT Hub's primary and
    /// secondary keys give); absent: the old key stops at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_valid_until: Option<DateTime<Utc>>,
}

/// One accepted ingest batch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReadingsRecorded {
    pub batch_id: BatchId,
    pub readings: Vec<Reading>,
}

/// A batch named sensors the device had not reported before; recorded just before that batch, so
/// a device's sensors are known from its few state events, without reading every batch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SensorsAdded {
    /// Sorted, each once.
    pub sensors: Vec<SensorName>,
}

/// A reading crossed an alert rule's threshold. Appended by the alert evaluator, not by devices.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertRaised {
    pub rule: RuleName,
    /// The sensor read; for a silence of the whole device, the one that spoke last.
    pub sensor: SensorName,
    pub condition: Condition,
    pub threshold: f64,
    /// What the rule measured: the reading, or its rate (per second), z-score, model score or
    /// seconds of silence.
    pub value: Value,
    /// The sensor's unit (a rate is in it per second); none for a z-score or a model score.
    pub unit: Option<Unit>,
    pub message: Option<Label>,
    pub measured_at: DateTime<Utc>,
    /// The rule's severity when it fired; alerts raised before severities existed read as major.
    /// Left out when major, so an event stored before severities existed is written back as it
    /// was stored.
    #[serde(default, skip_serializing_if = "Severity::is_default")]
    pub severity: Severity,
}

/// A reading came back past the rule's clear level.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertCleared {
    pub rule: RuleName,
    pub sensor: SensorName,
    /// The event id of the `AlertRaised` this clears: the alert's id. Absent in clears recorded
    /// before alerts had ids.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alert_id: Option<Uuid>,
    #[serde(default, skip_serializing_if = "Severity::is_default")]
    pub severity: Severity,
    /// The reading that cleared it.
    pub value: Value,
    pub unit: Option<Unit>,
    pub measured_at: DateTime<Utc>,
}

/// Someone has taken an alert in hand (an operator, through the API). An alert is acknowledged
/// once; it may be active or cleared.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertAcknowledged {
    pub alert_id: Uuid,
    pub rule: RuleName,
    pub severity: Severity,
    pub by: Label,
    pub note: Option<Label>,
}

/// An operator cleared an active alert by hand, before its rule did: the rule may raise a new one
/// on the next reading past its threshold.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertClearedManually {
    pub alert_id: Uuid,
    pub rule: RuleName,
    pub severity: Severity,
    pub by: Label,
    pub note: Option<Label>,
}

/// An active alert ended without its rule deciding so: the rule is gone, or so is the device.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertRetired {
    pub alert_id: Uuid,
    pub rule: RuleName,
    pub severity: Severity,
    pub reason: RetireReason,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum RetireReason {
    RuleDeleted,
    DeviceDecommissioned,
}

impl RetireReason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::RuleDeleted => "rule_deleted",
            Self::DeviceDecommissioned => "device_decommissioned",
        }
    }
}

/// An alert rule, new or replacing the one of its name, as an administrator defined it. Stored in
/// the rules stream ([`crate::rule_book::RULES_STREAM`]), never in a device's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertRuleDefined {
    pub rule: RuleSpec,
}

/// An alert rule is gone; its open alerts are retired.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertRuleDeleted {
    pub name: RuleName,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeviceDecommissioned {
    pub reason: Option<Label>,
}

/// The device's human name changed; `None` removes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeviceRenamed {
    pub name: Option<Label>,
}

/// The device was moved to another location; `None` removes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeviceMoved {
    pub location: Option<Label>,
}

/// The device's tags are now exactly these.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeviceRetagged {
    /// Sorted, each once.
    pub tags: Vec<Tag>,
}

/// An administrator stopped the device's ingest until it is enabled again: its credentials are
/// refused, and nothing it sends is written. Unlike a decommission, this can be undone.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeviceDisabled {
    pub reason: Option<Label>,
}

/// A disabled device may send readings again.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeviceEnabled {}

/// The device's own limits from now on, over those of its kind; a limit left `None` is its
/// kind's (or the default).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeviceLimitsChanged {
    pub readings_per_second: Option<u32>,
    pub readings_per_day: Option<u64>,
}

impl DeviceEvent {
    /// What this event changes of a device's profile in the read models, if it is an
    /// administrator's change; `at` is when it was recorded.
    pub fn profile_change(&self, at: DateTime<Utc>) -> Option<ProfileChange> {
        Some(match self {
            Self::Renamed(e) => ProfileChange::Name(e.name.clone()),
            Self::Moved(e) => ProfileChange::Location(e.location.clone()),
            Self::Retagged(e) => ProfileChange::Tags(e.tags.clone()),
            Self::Disabled(_) => ProfileChange::Disabled(Some(at)),
            Self::Enabled(_) => ProfileChange::Disabled(None),
            _ => return None,
        })
    }
}

/// A stored payload that this version of Watershed cannot read.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("unknown event type {event_type:?} version {schema_version}")]
    Unknown {
        event_type: String,
        schema_version: u16,
    },
    #[error("malformed {event_type} payload: {source}")]
    Malformed {
        event_type: String,
        source: serde_json::Error,
    },
}

/// Every event type, as [`DeviceEvent::event_type`] names them.
pub const EVENT_TYPES: &[&str] = &[
    "DeviceRegistered",
    "DeviceKeyRotated",
    "ReadingsRecorded",
    "SensorsAdded",
    "AlertRaised",
    "AlertCleared",
    "AlertAcknowledged",
    "AlertClearedManually",
    "DeviceDecommissioned",
    "DeviceRenamed",
    "DeviceMoved",
    "DeviceRetagged",
    "DeviceDisabled",
    "DeviceEnabled",
    "DeviceLimitsChanged",
    "AlertRetired",
    "AlertRuleDefined",
    "AlertRuleDeleted",
];

impl DeviceEvent {
    pub fn event_type(&self) -> &'static str {
        match self {
            Self::Registered(_) => "DeviceRegistered",
            Self::KeyRotated(_) => "DeviceKeyRotated",
            Self::ReadingsRecorded(_) => "ReadingsRecorded",
            Self::SensorsAdded(_) => "SensorsAdded",
            Self::AlertRaised(_) => "AlertRaised",
            Self::AlertCleared(_) => "AlertCleared",
            Self::AlertAcknowledged(_) => "AlertAcknowledged",
            Self::AlertClearedManually(_) => "AlertClearedManually",
            Self::Decommissioned(_) => "DeviceDecommissioned",
            Self::Renamed(_) => "DeviceRenamed",
            Self::Moved(_) => "DeviceMoved",
            Self::Retagged(_) => "DeviceRetagged",
            Self::Disabled(_) => "DeviceDisabled",
            Self::Enabled(_) => "DeviceEnabled",
            Self::LimitsChanged(_) => "DeviceLimitsChanged",
            Self::AlertRetired(_) => "AlertRetired",
            Self::AlertRuleDefined(_) => "AlertRuleDefined",
            Self::AlertRuleDeleted(_) => "AlertRuleDeleted",
        }
    }

    /// The payload as stored: the variant's fields as a JSON object.
    pub fn encode_payload(&self) -> String {
        let encoded = match self {
            Self::Registered(e) => serde_json::to_string(e),
            Self::KeyRotated(e) => serde_json::to_string(e),
            Self::ReadingsRecorded(e) => serde_json::to_string(e),
            Self::SensorsAdded(e) => serde_json::to_string(e),
            Self::AlertRaised(e) => serde_json::to_string(e),
            Self::AlertCleared(e) => serde_json::to_string(e),
            Self::AlertAcknowledged(e) => serde_json::to_string(e),
            Self::AlertClearedManually(e) => serde_json::to_string(e),
            Self::Decommissioned(e) => serde_json::to_string(e),
            Self::Renamed(e) => serde_json::to_string(e),
            Self::Moved(e) => serde_json::to_string(e),
            Self::Retagged(e) => serde_json::to_string(e),
            Self::Disabled(e) => serde_json::to_string(e),
            Self::Enabled(e) => serde_json::to_string(e),
            Self::LimitsChanged(e) => serde_json::to_string(e),
            Self::AlertRetired(e) => serde_json::to_string(e),
            Self::AlertRuleDefined(e) => serde_json::to_string(e),
            Self::AlertRuleDeleted(e) => serde_json::to_string(e),
        };
        encoded.expect("event payloads are plain data with string keys and finite numbers")
    }

    /// Reads a stored payload, upcasting older schema versions to today's shape.
    pub fn decode(
        event_type: &str,
        schema_version: u16,
        payload: &str,
    ) -> Result<Self, DecodeError> {
        fn parse<'a, T: Deserialize<'a>>(
            event_type: &str,
            payload: &'a str,
        ) -> Result<T, DecodeError> {
            serde_json::from_str(payload).map_err(|source| DecodeError::Malformed {
                event_type: event_type.to_owned(),
                source,
            })
        }
        match (event_type, schema_version) {
            ("DeviceRegistered", 1) => parse(event_type, payload).map(Self::Registered),
            ("DeviceKeyRotated", 1) => parse(event_type, payload).map(Self::KeyRotated),
            ("ReadingsRecorded", 1) => parse(event_type, payload).map(Self::ReadingsRecorded),
            ("SensorsAdded", 1) => parse(event_type, payload).map(Self::SensorsAdded),
            ("AlertRaised", 1) => parse(event_type, payload).map(Self::AlertRaised),
            ("AlertCleared", 1) => parse(event_type, payload).map(Self::AlertCleared),
            ("AlertAcknowledged", 1) => parse(event_type, payload).map(Self::AlertAcknowledged),
            ("AlertClearedManually", 1) => {
                parse(event_type, payload).map(Self::AlertClearedManually)
            }
            ("DeviceDecommissioned", 1) => parse(event_type, payload).map(Self::Decommissioned),
            ("DeviceRenamed", 1) => parse(event_type, payload).map(Self::Renamed),
            ("DeviceMoved", 1) => parse(event_type, payload).map(Self::Moved),
            ("DeviceRetagged", 1) => parse(event_type, payload).map(Self::Retagged),
            ("DeviceDisabled", 1) => parse(event_type, payload).map(Self::Disabled),
            ("DeviceEnabled", 1) => parse(event_type, payload).map(Self::Enabled),
            ("DeviceLimitsChanged", 1) => parse(event_type, payload).map(Self::LimitsChanged),
            ("AlertRetired", 1) => parse(event_type, payload).map(Self::AlertRetired),
            ("AlertRuleDefined", 1) => parse(event_type, payload).map(Self::AlertRuleDefined),
            ("AlertRuleDeleted", 1) => parse(event_type, payload).map(Self::AlertRuleDeleted),
            _ => Err(DecodeError::Unknown {
                event_type: event_type.to_owned(),
                schema_version,
            }),
        }
    }
}

/// Envelope fields chosen by the writer before the store assigns a sequence and position.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventMeta {
    /// UUIDv7: sortable by creation time.
    pub event_id: Uuid,
    /// The device clock's view: for readings, the newest `measured_at` of the batch.
    pub occurred_at: DateTime<Utc>,
    /// The server clock when the command was accepted.
    pub recorded_at: DateTime<Utc>,
    pub correlation_id: Option<Uuid>,
    pub causation_id: Option<Uuid>,
}

/// An event ready to append, its payload already encoded so the store's writer does no serde work.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    pub meta: EventMeta,
    pub event_type: &'static str,
    pub schema_version: u16,
    pub payload: String,
    /// At most one event per (stream, key) is ever stored; appending a known key answers with the
    /// event already stored instead. Ingest uses the client's batch id, on the event it answers
    /// with (the readings, after the sensors they add).
    pub idempotency_key: Option<IdempotencyKey>,
}

impl NewEvent {
    pub fn new(
        meta: EventMeta,
        event: &DeviceEvent,
        idempotency_key: Option<IdempotencyKey>,
    ) -> Self {
        Self {
            meta,
            event_type: event.event_type(),
            schema_version: DECODE_VERSION,
            payload: event.encode_payload(),
            idempotency_key,
        }
    }

    /// What a store keeps beside the key, to tell a resend from a different request.
    pub fn digest(&self) -> PayloadDigest {
        PayloadDigest::of(&self.payload)
    }
}

/// A stored event with its full envelope.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordedEvent {
    /// The store's global commit order, 1, 2, 3 … where the store has one (SQLite); 0 where it has
    /// none (Cosmos DB orders events per stream only).
    pub position: u64,
    pub stream_id: DeviceId,
    /// 1, 2, 3 … gap-free within the stream.
    pub stream_seq: u64,
    pub event_type: String,
    pub schema_version: u16,
    #[serde(flatten)]
    pub meta: EventMeta,
    /// The payload as stored (a JSON object).
    pub payload: String,
}

impl RecordedEvent {
    pub fn decode(&self) -> Result<DeviceEvent, DecodeError> {
        DeviceEvent::decode(&self.event_type, self.schema_version, &self.payload)
    }
}

/// What the writer believes the stream's version is; the append fails with a conflict otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExpectedVersion {
    /// The stream must not exist yet.
    NoStream,
    /// The stream's last sequence must be exactly this.
    Exactly(u64),
}

impl ExpectedVersion {
    pub fn as_u64(self) -> u64 {
        match self {
            Self::NoStream => 0,
            Self::Exactly(v) => v,
        }
    }
}

/// Where a stored event landed; what ingest answers with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Committed {
    pub event_id: Uuid,
    pub stream_seq: u64,
    pub position: u64,
}

/// The result of an append.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AppendOutcome {
    /// All events were stored, in order.
    Appended(Vec<Committed>),
    /// The idempotency key was already stored: nothing was written; this is the earlier event.
    Duplicate(Committed),
    /// The idempotency key was already stored with a different first event: the key was reused
    /// for another request. Nothing was written; this is the event stored under it.
    KeyReused(Committed),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::SensorName;
    use crate::reading::Value;

    #[test]
    fn payloads_round_trip_through_decode() {
        let event = DeviceEvent::ReadingsRecorded(ReadingsRecorded {
            batch_id: BatchId::parse("b-9").unwrap(),
            readings: vec![Reading {
                sensor: SensorName::parse("rpm").unwrap(),
                value: Value::try_from(1200.0).unwrap(),
                unit: None,
                measured_at: "2026-11-23T10:00:00.123456Z".parse().unwrap(),
            }],
        });
        let decoded =
            DeviceEvent::decode(event.event_type(), DECODE_VERSION, &event.encode_payload())
                .unwrap();
        assert_eq!(decoded, event);
    }

    #[test]
    fn every_listed_type_is_one_decode_knows() {
        for t in EVENT_TYPES {
            // Not an object: malformed for every type (an empty array would be a field-less one).
            let decoded = DeviceEvent::decode(t, DECODE_VERSION, "null");
            assert!(
                matches!(decoded, Err(DecodeError::Malformed { .. })),
                "{t}: {decoded:?}"
            );
        }
    }

    #[test]
    fn readings_come_back_from_a_payload_to_the_last_bit() {
        // Found by the projection's property test: without exact float parsing this decoded
        // one unit in the last place lower.
        for v in [966_570_539.831_588_9, 0.1, 1e-300, f64::MAX, 5e-324] {
            let event = DeviceEvent::ReadingsRecorded(ReadingsRecorded {
                batch_id: BatchId::parse("b").unwrap(),
                readings: vec![Reading {
                    sensor: SensorName::parse("s").unwrap(),
                    value: Value::try_from(v).unwrap(),
                    unit: None,
                    measured_at: "2026-11-23T10:00:00Z".parse().unwrap(),
                }],
            });
            let DeviceEvent::ReadingsRecorded(back) =
                DeviceEvent::decode(event.event_type(), DECODE_VERSION, &event.encode_payload())
                    .unwrap()
            else {
                panic!("readings decode as readings");
            };
            assert_eq!(back.readings[0].value.get().to_bits(), v.to_bits(), "{v}");
        }
    }

    #[test]
    fn unknown_versions_are_refused_not_guessed() {
        let err = DeviceEvent::decode("ReadingsRecorded", 99, "{}").unwrap_err();
        assert!(matches!(
            err,
            DecodeError::Unknown {
                schema_version: 99,
                ..
            }
        ));
    }
}
