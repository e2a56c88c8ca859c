//! The read-model projection as a pure function: events in, a pre-aggregated delta out. The same
//! code runs behind the embedded bus and behind Kafka.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use watershed_domain::event::{DecodeError, DeviceEvent, RecordedEvent};
use watershed_domain::ports::LiveUpdate;
use watershed_domain::read_model::{
    AlertChange, BucketStats, ClearedBy, LatestValue, OpenAlert, RawRow, ReadModelDelta,
    Registration, Resolution, StreamAdvance,
};
use watershed_domain::{DeviceId, RetireReason};

impl ProjectionError {
    /// The event that could not be projected: its stream and sequence.
    pub fn culprit(&self) -> (&DeviceId, u64) {
        match self {
            Self::Gap { stream, got, .. } => (stream, *got),
            Self::Undecodable {
                stream, stream_seq, ..
            } => (stream, *stream_seq),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ProjectionError {
    /// An event is missing between what was applied and what arrived: applying would skip it.
    #[error("stream {stream}: expected event {expected}, got {got}")]
    Gap {
        stream: DeviceId,
        expected: u64,
        got: u64,
    },
    #[error("event {stream_seq} of {stream}: {source}")]
    Undecodable {
        stream: DeviceId,
        stream_seq: u64,
        source: DecodeError,
    },
}

/// What one batch of events changes.
#[derive(Debug, Default)]
pub struct Projected {
    pub delta: ReadModelDelta,
    /// Devices whose view changed (registry or latest values), for the cache.
    pub touched: Vec<DeviceId>,
    /// Devices registered, renamed, moved, retagged, disabled, enabled, decommissioned or whose
    /// alerts changed, announced whole to live clients.
    pub lifecycle: Vec<DeviceId>,
    /// New readings, announced to live clients after the commit.
    pub live: Vec<LiveUpdate>,
    /// When the newest event applied was recorded: how far behind the read models are.
    pub newest_recorded_at: Option<DateTime<Utc>>,
}

/// Projects `events` (in per-stream order) on top of `applied`, the last applied sequence of each
/// stream. Events already applied are skipped; raw readings measured before `raw_since` are left
/// to the rollups, since retention would delete them anyway.
pub fn project<'a>(
    events: impl IntoIterator<Item = &'a RecordedEvent>,
    applied: &HashMap<DeviceId, u64>,
    raw_since: DateTime<Utc>,
) -> Result<Projected, ProjectionError> {
    let mut out = Projected::default();
    for event in events {
        let stream = &event.stream_id;
        let before = applied.get(stream).copied().unwrap_or(0);
        let current = out.delta.streams.get(stream).map_or(before, |a| a.to);
        if event.stream_seq <= current {
            continue;
        }
        if event.stream_seq != current + 1 {
            return Err(ProjectionError::Gap {
                stream: stream.clone(),
                expected: current + 1,
                got: event.stream_seq,
            });
        }
        let decoded = event
            .decode()
            .map_err(|source| ProjectionError::Undecodable {
                stream: stream.clone(),
                stream_seq: event.stream_seq,
                source,
            })?;
        apply(&mut out, event, decoded, raw_since);
        out.newest_recorded_at = out.newest_recorded_at.max(Some(event.meta.recorded_at));
        out.delta.streams.insert(
            stream.clone(),
            StreamAdvance {
                from: before,
                to: event.stream_seq,
            },
        );
        if !out.touched.contains(stream) {
            out.touched.push(stream.clone());
        }
    }
    Ok(out)
}

fn apply(
    out: &mut Projected,
    event: &RecordedEvent,
    decoded: DeviceEvent,
    raw_since: DateTime<Utc>,
) {
    let device = &event.stream_id;
    let delta = &mut out.delta;
    match decoded {
        DeviceEvent::Registered(r) => {
            delta.registrations.push(Registration {
                device_id: device.clone(),
                name: r.name,
                kind: r.kind,
                location: r.location,
                at: event.meta.recorded_at,
            });
            out.lifecycle.push(device.clone());
        }
        DeviceEvent::Decommissioned(_) => {
            delta
                .decommissions
                .push((device.clone(), event.meta.recorded_at));
            out.lifecycle.push(device.clone());
        }
        DeviceEvent::KeyRotated(_)
        | DeviceEvent::SensorsAdded(_)
        | DeviceEvent::LimitsChanged(_) => {}
        profile @ (DeviceEvent::Renamed(_)
        | DeviceEvent::Moved(_)
        | DeviceEvent::Retagged(_)
        | DeviceEvent::Disabled(_)
        | DeviceEvent::Enabled(_)) => {
            if let Some(change) = profile.profile_change(event.meta.recorded_at) {
                delta.profile_changes.push((device.clone(), change));
            }
            out.lifecycle.push(device.clone());
        }
        DeviceEvent::AlertRaised(a) => {
            delta.alerts.push(AlertChange::Opened {
                device: device.clone(),
                alert_id: event.meta.event_id,
                severity: a.severity,
                alert: OpenAlert::raised(a, event.meta.recorded_at),
            });
            out.lifecycle.push(device.clone());
        }
        DeviceEvent::AlertCleared(a) => {
            delta.alerts.push(AlertChange::Closed {
                device: device.clone(),
                rule: a.rule,
                at: event.meta.recorded_at,
                by: ClearedBy::Rule {
                    value: a.value.get(),
                },
            });
            out.lifecycle.push(device.clone());
        }
        DeviceEvent::AlertClearedManually(a) => {
            delta.alerts.push(AlertChange::Closed {
                device: device.clone(),
                rule: a.rule,
                at: event.meta.recorded_at,
                by: ClearedBy::Person {
                    by: a.by,
                    note: a.note,
                },
            });
            out.lifecycle.push(device.clone());
        }
        DeviceEvent::AlertRetired(a) => {
            delta.alerts.push(AlertChange::Closed {
                device: device.clone(),
                rule: a.rule,
                at: event.meta.recorded_at,
                by: match a.reason {
                    RetireReason::RuleDeleted => ClearedBy::RuleDeleted,
                    RetireReason::DeviceDecommissioned => ClearedBy::Decommission,
                },
            });
            out.lifecycle.push(device.clone());
        }
        // The rules stream is no device's; the alert evaluators follow it.
        DeviceEvent::AlertRuleDefined(_) | DeviceEvent::AlertRuleDeleted(_) => {}
        DeviceEvent::AlertAcknowledged(a) => {
            delta.alerts.push(AlertChange::Acknowledged {
                alert_id: a.alert_id,
                at: event.meta.recorded_at,
                by: a.by,
                note: a.note,
            });
        }
        DeviceEvent::ReadingsRecorded(recorded) => {
            for (index, reading) in (0u32..).zip(&recorded.readings) {
                let series = delta.series_idx(device, &reading.sensor);
                let value = reading.value.get();
                let newer = delta
                    .latest
                    .get(&series)
                    .is_none_or(|l| reading.measured_at >= l.measured_at);
                if newer {
                    delta.latest.insert(
                        series,
                        LatestValue {
                            value,
                            unit: reading.unit.clone(),
                            measured_at: reading.measured_at,
                        },
                    );
                }
                for resolution in Resolution::BUCKETED {
                    let start = resolution
                        .bucket_start(reading.measured_at)
                        .expect("bucketed resolutions have a width");
                    delta
                        .buckets
                        .entry((series, resolution, start))
                        .and_modify(|b| b.merge(BucketStats::of(value)))
                        .or_insert_with(|| BucketStats::of(value));
                }
                if reading.measured_at >= raw_since {
                    delta.raw.push(RawRow {
                        series,
                        measured_at: reading.measured_at,
                        value,
                        stream_seq: event.stream_seq,
                        index,
                    });
                }
            }
            out.live.push(LiveUpdate::Readings {
                device_id: device.clone(),
                stream_seq: event.stream_seq,
                readings: recorded.readings,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::Duration;
    use uuid::Uuid;
    use watershed_domain::event::{EventMeta, ReadingsRecorded};
    use watershed_domain::{BatchId, DeviceEvent, KeyHash, Reading, SensorName, Value};

    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn recorded(device: &str, seq: u64, position: u64, event: DeviceEvent) -> RecordedEvent {
        let now = Utc::now();
        RecordedEvent {
            position,
            stream_id: DeviceId::parse(device).unwrap(),
            stream_seq: seq,
            event_type: event.event_type().to_owned(),
            schema_version: 1,
            meta: EventMeta {
                event_id: Uuid::now_v7(),
                occurred_at: now,
                recorded_at: now,
                correlation_id: None,
                causation_id: None,
            },
            payload: event.encode_payload(),
        }
    }

    fn registered() -> DeviceEvent {
        DeviceEvent::Registered(watershed_domain::event::DeviceRegistered {
            name: None,
            kind: None,
            location: None,
            key_hash: KeyHash::of("k"),
        })
    }

    fn readings(values: &[(&str, f64, &str)]) -> DeviceEvent {
        DeviceEvent::ReadingsRecorded(ReadingsRecorded {
            batch_id: BatchId::parse("b").unwrap(),
            readings: values
                .iter()
                .map(|(sensor, v, at)| Reading {
                    sensor: SensorName::parse(*sensor).unwrap(),
                    value: Value::try_from(*v).unwrap(),
                    unit: None,
                    measured_at: t(at),
                })
                .collect(),
        })
    }

    fn long_ago() -> DateTime<Utc> {
        t("2000-01-01T00:00:00Z")
    }

    #[test]
    fn out_of_order_readings_land_in_their_own_buckets_and_latest_keeps_the_newest() {
        let events = vec![
            recorded("d", 1, 1, registered()),
            recorded(
                "d",
                2,
                2,
                readings(&[
                    ("temp", 20.0, "2026-11-23T10:01:30Z"),
                    ("temp", 10.0, "2026-11-23T10:00:10Z"),
                    ("temp", 30.0, "2026-11-23T10:00:50Z"),
                ]),
            ),
        ];
        let out = project(&events, &HashMap::new(), long_ago()).unwrap();
        let delta = &out.delta;
        let series = 0;
        let minute = |s: &str| (series, Resolution::Minute, t(s).timestamp());
        assert_eq!(
            delta.buckets[&minute("2026-11-23T10:00:00Z")],
            BucketStats {
                count: 2,
                min: 10.0,
                max: 30.0,
                sum: 40.0
            }
        );
        assert_eq!(delta.buckets[&minute("2026-11-23T10:01:00Z")].count, 1);
        let hour = (
            series,
            Resolution::Hour,
            t("2026-11-23T10:00:00Z").timestamp(),
        );
        assert_eq!(delta.buckets[&hour].count, 3);
        assert_eq!(delta.latest[&series].value, 20.0);
        assert_eq!(delta.raw.len(), 3);
        assert_eq!(
            delta.streams[&DeviceId::parse("d").unwrap()],
            StreamAdvance { from: 0, to: 2 }
        );
        assert_eq!(out.lifecycle.len(), 1);
        assert_eq!(out.live.len(), 1);
    }

    #[test]
    fn events_already_applied_are_skipped() {
        let events = vec![
            recorded("d", 1, 1, registered()),
            recorded(
                "d",
                2,
                2,
                readings(&[("temp", 1.0, "2026-11-23T10:00:00Z")]),
            ),
        ];
        let applied = HashMap::from([(DeviceId::parse("d").unwrap(), 2)]);
        let out = project(&events, &applied, long_ago()).unwrap();
        assert!(out.delta.raw.is_empty());
        assert!(out.delta.registrations.is_empty());
        assert!(out.delta.streams.is_empty());
        assert!(out.delta.is_empty());
    }

    #[test]
    fn a_gap_in_a_stream_is_refused() {
        let events = vec![recorded(
            "d",
            3,
            3,
            readings(&[("temp", 1.0, "2026-11-23T10:00:00Z")]),
        )];
        let applied = HashMap::from([(DeviceId::parse("d").unwrap(), 1)]);
        let err = project(&events, &applied, long_ago()).unwrap_err();
        assert!(matches!(
            err,
            ProjectionError::Gap {
                expected: 2,
                got: 3,
                ..
            }
        ));
    }

    #[test]
    fn readings_older_than_the_raw_window_only_feed_rollups() {
        let events = vec![recorded(
            "d",
            1,
            1,
            readings(&[
                ("temp", 1.0, "2026-11-20T10:00:00Z"),
                ("temp", 2.0, "2026-11-23T10:00:00Z"),
            ]),
        )];
        let since = t("2026-11-23T10:00:00Z") - Duration::hours(1);
        let out = project(&events, &HashMap::new(), since).unwrap();
        assert_eq!(out.delta.raw.len(), 1);
        assert_eq!(out.delta.raw[0].value, 2.0);
        assert_eq!(out.delta.buckets.len(), 4, "two minutes and two hours");
    }
}
