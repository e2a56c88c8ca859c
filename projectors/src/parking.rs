//! The `park` error policy as a pure function: project a batch, and where an event cannot be
//! projected (it does not decode, or an earlier one of its stream is missing), set it aside as a
//! dead letter with the reason, with every later event of its device waiting behind it, and
//! project the rest of the fleet as usual.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use watershed_domain::dead_letter::waiting_behind;
use watershed_domain::{DeviceId, Parked, RecordedEvent};

use crate::projection::{project, Projected};

/// Projects `events` on top of `applied`, parking instead of failing. Devices in `parked`
/// already have dead letters: all their new events wait behind them.
pub fn project_parking(
    events: &[RecordedEvent],
    applied: &HashMap<DeviceId, u64>,
    parked: &HashSet<DeviceId>,
    raw_since: DateTime<Utc>,
) -> Projected {
    // Per parked device, the first sequence that waits (0: every event).
    let mut parked_from: HashMap<DeviceId, u64> = parked.iter().map(|d| (d.clone(), 0)).collect();
    let mut reasons: HashMap<(DeviceId, u64), String> = HashMap::new();
    let waits = |from: &HashMap<DeviceId, u64>, e: &RecordedEvent| {
        from.get(&e.stream_id)
            .is_some_and(|&seq| e.stream_seq >= seq)
    };
    // Each round parks one more device at its first failing event, so this ends within as many
    // rounds as the batch has devices.
    let mut projected = loop {
        let flowing = events.iter().filter(|e| !waits(&parked_from, e));
        match project(flowing, applied, raw_since) {
            Ok(projected) => break projected,
            Err(e) => {
                let (device, seq) = e.culprit();
                tracing::warn!(device_id = %device, stream_seq = seq, error = %e, "parking an event");
                reasons.insert((device.clone(), seq), e.to_string());
                parked_from.insert(device.clone(), seq);
            }
        }
    };
    projected.delta.parked = events
        .iter()
        .filter(|e| waits(&parked_from, e))
        .filter(|e| {
            applied
                .get(&e.stream_id)
                .is_none_or(|&done| e.stream_seq > done)
        })
        .map(|e| {
            let reason = reasons
                .get(&(e.stream_id.clone(), e.stream_seq))
                .cloned()
                .unwrap_or_else(|| waiting_behind(&e.stream_id));
            Parked::event(e, reason)
        })
        .collect();
    projected
}

#[cfg(test)]
mod tests {
    use uuid::Uuid;
    use watershed_domain::event::{EventMeta, ReadingsRecorded};
    use watershed_domain::{BatchId, DeviceEvent};

    use super::*;

    fn event(device: &str, seq: u64, payload: Option<&str>) -> RecordedEvent {
        let readings = DeviceEvent::ReadingsRecorded(ReadingsRecorded {
            batch_id: BatchId::parse(format!("b{seq}")).unwrap(),
            readings: vec![],
        });
        RecordedEvent {
            position: seq,
            stream_id: DeviceId::parse(device).unwrap(),
            stream_seq: seq,
            event_type: readings.event_type().to_owned(),
            schema_version: 1,
            meta: EventMeta {
                event_id: Uuid::now_v7(),
                occurred_at: Utc::now(),
                recorded_at: Utc::now(),
                correlation_id: None,
                causation_id: None,
            },
            payload: payload.map_or_else(|| readings.encode_payload(), str::to_owned),
        }
    }

    fn id(s: &str) -> DeviceId {
        DeviceId::parse(s).unwrap()
    }

    #[test]
    fn a_bad_event_parks_its_device_from_there_and_the_fleet_flows_on() {
        let events = vec![
            event("a", 1, None),
            event("b", 1, None),
            event("a", 2, Some("{not json")),
            event("b", 2, None),
            event("a", 3, None),
        ];
        let out = project_parking(&events, &HashMap::new(), &HashSet::new(), Utc::now());
        assert_eq!(out.delta.streams[&id("a")].to, 1, "a's first event applies");
        assert_eq!(
            out.delta.streams[&id("b")].to,
            2,
            "b is untouched by a's poison"
        );
        let parked: Vec<(u64, bool)> = out
            .delta
            .parked
            .iter()
            .map(|p| (p.stream_seq.unwrap(), p.error.contains("waiting behind")))
            .collect();
        assert_eq!(parked, vec![(2, false), (3, true)]);
    }

    #[test]
    fn a_gap_parks_the_event_after_it_and_known_parked_devices_wait() {
        let events = vec![event("a", 3, None), event("b", 5, None)];
        let applied = HashMap::from([(id("a"), 1), (id("b"), 4)]);
        let parked = HashSet::from([id("b")]);
        let out = project_parking(&events, &applied, &parked, Utc::now());
        assert!(out.delta.streams.is_empty());
        assert_eq!(out.delta.parked.len(), 2);
        assert!(out.delta.parked[0].error.contains("expected event 2"));
        assert!(out.delta.parked[1].error.contains("waiting behind"));
    }

    #[test]
    fn events_already_applied_are_not_parked_again() {
        let events = vec![event("a", 1, None), event("a", 2, None)];
        let applied = HashMap::from([(id("a"), 1)]);
        let out = project_parking(&events, &applied, &HashSet::from([id("a")]), Utc::now());
        assert_eq!(out.delta.parked.len(), 1);
        assert_eq!(out.delta.parked[0].stream_seq, Some(2));
    }
}
