//! The JSON shapes the query API answers with.

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;
use watershed_domain::event::RecordedEvent;
use watershed_domain::read_model::{AlertRecord, ClearedBy, DeviceView, OpenAlert, Presence};
use watershed_domain::{Condition, Generations, Reading, RebuildPhase, Severity};

#[derive(Debug, Serialize, ToSchema)]
pub struct SensorDto {
    pub sensor: String,
    pub value: f64,
    pub unit: Option<String>,
    pub measured_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeviceDto {
    pub device_id: String,
    pub name: Option<String>,
    pub kind: Option<String>,
    pub location: Option<String>,
    /// `online` while the newest reading is at most 5 minutes old, else `silent`; or `disabled`
    /// (by an administrator, until enabled) or `decommissioned`.
    #[schema(value_type = String, example = "online", pattern = "^(online|silent|disabled|decommissioned)$")]
    pub status: Presence,
    pub registered_at: DateTime<Utc>,
    pub decommissioned_at: Option<DateTime<Utc>>,
    /// Since when the device is disabled, while it is.
    pub disabled_at: Option<DateTime<Utc>>,
    /// Free-form tags, sorted.
    pub tags: Vec<String>,
    /// The newest `measured_at` of any sensor.
    pub last_seen: Option<DateTime<Utc>>,
    /// Latest value per sensor, sorted by sensor name.
    pub sensors: Vec<SensorDto>,
    /// How many alerts are open: the length of `alerts`.
    pub open_alerts: usize,
    /// Alerts raised and not cleared yet, oldest first.
    pub alerts: Vec<OpenAlertDto>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OpenAlertDto {
    pub rule: String,
    pub sensor: String,
    /// `above` or `below` the threshold.
    #[schema(value_type = String, example = "above")]
    pub condition: Condition,
    pub threshold: f64,
    /// The reading that raised the alert.
    pub value: f64,
    pub unit: Option<String>,
    pub message: Option<String>,
    pub raised_at: DateTime<Utc>,
}

impl From<OpenAlert> for OpenAlertDto {
    fn from(a: OpenAlert) -> Self {
        Self {
            rule: a.rule.to_string(),
            sensor: a.sensor.to_string(),
            condition: a.condition,
            threshold: a.threshold,
            value: a.value,
            unit: a.unit.map(|u| u.as_str().to_owned()),
            message: a.message.map(|m| m.as_str().to_owned()),
            raised_at: a.raised_at,
        }
    }
}

/// One alert of the alert list.
#[derive(Debug, Serialize, ToSchema)]
pub struct AlertDto {
    /// The event id of its `AlertRaised`: what `/v1/alerts/{id}/…` takes.
    pub id: Uuid,
    pub device_id: String,
    pub severity: Severity,
    /// `active` until cleared, then `cleared`.
    #[schema(example = "active", pattern = "^(active|cleared)$")]
    pub state: &'static str,
    pub acknowledged: bool,
    #[serde(flatten)]
    pub raised: OpenAlertDto,
    pub cleared_at: Option<DateTime<Utc>>,
    /// `rule` (a reading came back), `manual`, `decommissioned` or `rule_deleted`.
    #[schema(pattern = "^(rule|manual|decommissioned|rule_deleted)$")]
    pub clear_reason: Option<&'static str>,
    /// Who cleared it by hand.
    pub cleared_by: Option<String>,
    pub clear_note: Option<String>,
    /// The reading that cleared it, when its rule did.
    pub clear_value: Option<f64>,
    pub acknowledged_at: Option<DateTime<Utc>>,
    pub acknowledged_by: Option<String>,
    pub ack_note: Option<String>,
}

impl From<AlertRecord> for AlertDto {
    fn from(r: AlertRecord) -> Self {
        let text = |l: Option<watershed_domain::Label>| l.map(|l| l.as_str().to_owned());
        let (cleared_at, reason, by, note, value) = match r.cleared {
            None => (None, None, None, None, None),
            Some((at, cleared)) => {
                let reason = Some(cleared.reason());
                match cleared {
                    ClearedBy::Rule { value } => (Some(at), reason, None, None, Some(value)),
                    ClearedBy::Person { by, note } => {
                        (Some(at), reason, text(Some(by)), text(note), None)
                    }
                    ClearedBy::Decommission | ClearedBy::RuleDeleted => {
                        (Some(at), reason, None, None, None)
                    }
                }
            }
        };
        let (acknowledged_at, acknowledged_by, ack_note) = match r.acknowledged {
            None => (None, None, None),
            Some(ack) => (Some(ack.at), text(Some(ack.by)), text(ack.note)),
        };
        Self {
            id: r.alert_id,
            device_id: r.device_id.to_string(),
            severity: r.severity,
            state: if cleared_at.is_some() {
                "cleared"
            } else {
                "active"
            },
            acknowledged: acknowledged_at.is_some(),
            raised: OpenAlertDto::from(r.alert),
            cleared_at,
            clear_reason: reason,
            cleared_by: by,
            clear_note: note,
            clear_value: value,
            acknowledged_at,
            acknowledged_by,
            ack_note,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AlertList {
    /// Newest raised first.
    pub alerts: Vec<AlertDto>,
}

impl DeviceDto {
    pub fn new(view: DeviceView, now: DateTime<Utc>) -> Self {
        Self {
            status: view.presence(now),
            last_seen: view.last_seen(),
            device_id: view.device_id.to_string(),
            name: view.name.map(|l| l.as_str().to_owned()),
            kind: view.kind.map(|l| l.as_str().to_owned()),
            location: view.location.map(|l| l.as_str().to_owned()),
            registered_at: view.registered_at,
            decommissioned_at: view.decommissioned_at,
            disabled_at: view.disabled_at,
            tags: view.tags.iter().map(|t| t.as_str().to_owned()).collect(),
            sensors: view
                .sensors
                .into_iter()
                .map(|s| SensorDto {
                    sensor: s.sensor.to_string(),
                    value: s.value,
                    unit: s.unit.map(|u| u.as_str().to_owned()),
                    measured_at: s.measured_at,
                })
                .collect(),
            open_alerts: view.alerts.len(),
            alerts: view.alerts.into_iter().map(OpenAlertDto::from).collect(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeviceList {
    pub devices: Vec<DeviceDto>,
}

/// One stored event with its envelope, as analysts see it.
#[derive(Debug, Serialize, ToSchema)]
pub struct EnvelopeDto {
    pub event_id: Uuid,
    pub stream_id: String,
    pub stream_seq: u64,
    pub position: u64,
    pub event_type: String,
    pub schema_version: u16,
    pub occurred_at: DateTime<Utc>,
    pub recorded_at: DateTime<Utc>,
    pub correlation_id: Option<Uuid>,
    pub causation_id: Option<Uuid>,
    /// The payload as stored, less credentials (key hashes).
    #[schema(value_type = Object)]
    pub payload: serde_json::Value,
}

impl EnvelopeDto {
    pub fn new(event: RecordedEvent) -> Self {
        let mut payload = serde_json::from_str(&event.payload)
            .unwrap_or_else(|_| serde_json::Value::String(event.payload.clone()));
        if let Some(object) = payload.as_object_mut() {
            object.remove("key_hash");
        }
        Self {
            event_id: event.meta.event_id,
            stream_id: event.stream_id.to_string(),
            stream_seq: event.stream_seq,
            position: event.position,
            event_type: event.event_type,
            schema_version: event.schema_version,
            occurred_at: event.meta.occurred_at,
            recorded_at: event.meta.recorded_at,
            correlation_id: event.meta.correlation_id,
            causation_id: event.meta.causation_id,
            payload,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EventList {
    /// Newest first.
    pub events: Vec<EnvelopeDto>,
}

/// A batch of readings as live clients receive it.
#[derive(Debug, Serialize, ToSchema)]
pub struct LiveReadings {
    pub device_id: String,
    pub stream_seq: u64,
    #[schema(value_type = Vec<Object>)]
    pub readings: Vec<Reading>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Status {
    /// Events stored but not yet in the read models.
    pub lag_events: u64,
    /// More events than `lag_events` may be waiting (counting stops at a cap).
    pub lag_capped: bool,
    /// How long the oldest event not yet projected has waited (0 when caught up); null when events
    /// wait where their age cannot be read cheaply (in Kafka, after the relay published them).
    pub lag_seconds: Option<f64>,
    pub devices: u64,
    pub read_models: ReadModelsStatus,
}

/// Which generation of the read models answers, and the rebuild going on or last finished.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReadModelsStatus {
    pub generation: u32,
    pub rebuild: Option<RebuildDto>,
    pub last_rebuild: Option<FinishedRebuildDto>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RebuildDto {
    /// The generation being built.
    pub generation: u32,
    /// `building` (the current generation answers) or `catching_up` (switched; applying the tail).
    #[schema(example = "building")]
    pub phase: String,
    pub applied_events: u64,
    /// Events in the history when last counted: `applied_events` of it is done.
    pub history_events: u64,
    pub started_at: DateTime<Utc>,
    /// When the rebuild last reported; one quiet for 30 s is taken to be dead.
    pub heartbeat_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FinishedRebuildDto {
    pub generation: u32,
    pub applied_events: u64,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
}

impl From<Generations> for ReadModelsStatus {
    fn from(record: Generations) -> Self {
        Self {
            generation: record.current,
            rebuild: record.rebuild.map(|r| RebuildDto {
                generation: r.generation,
                phase: match r.phase {
                    RebuildPhase::Building => "building",
                    RebuildPhase::CatchingUp => "catching_up",
                }
                .to_owned(),
                applied_events: r.applied_events,
                history_events: r.history_events,
                started_at: r.started_at,
                heartbeat_at: r.heartbeat_at,
            }),
            last_rebuild: record.last_rebuild.map(|r| FinishedRebuildDto {
                generation: r.generation,
                applied_events: r.applied_events,
                started_at: r.started_at,
                finished_at: r.finished_at,
            }),
        }
    }
}
