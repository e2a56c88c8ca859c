//! Generated histories against the time-travel fold: devices folded from events (what `?as_of=`
//! answers) equal what the SQLite read model holds after the projection applied the same events,
//! one commit each — registrations, readings out of order, alerts raised again and cleared,
//! decommissions.

use std::collections::HashMap;

use chrono::{DateTime, Duration, TimeZone, Utc};
use proptest::prelude::*;
use uuid::Uuid;
use watershed_domain::as_of::FleetFold;
use watershed_domain::event::{
    DeviceDecommissioned, DeviceRegistered, EventMeta, ReadingsRecorded,
};
use watershed_domain::ports::ReadModel;
use watershed_domain::{
    AlertCleared, AlertRaised, BatchId, Condition, DeviceEvent, DeviceId, KeyHash, Reading,
    RecordedEvent, RuleName, SensorName, Severity, Value,
};
use watershed_infra::SqliteReadModel;
use watershed_projectors::project;

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 30, 10, 0, 0).unwrap()
}

#[derive(Debug, Clone)]
enum Op {
    Readings(Vec<(usize, i64, i64)>),
    Raise(usize, usize),
    Clear(usize),
    Decommission,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => prop::collection::vec((0..3usize, -50i64..50, 0i64..600), 1..5).prop_map(Op::Readings),
        2 => (0..2usize, 0..3usize).prop_map(|(rule, sensor)| Op::Raise(rule, sensor)),
        1 => (0..2usize).prop_map(Op::Clear),
        1 => Just(Op::Decommission),
    ]
}

const SENSORS: [&str; 3] = ["a", "b", "c"];

fn decode(op: &Op, i: usize) -> DeviceEvent {
    let sensor = |s: usize| SensorName::parse(SENSORS[s]).unwrap();
    let rule = |r: usize| RuleName::parse(format!("rule-{r}")).unwrap();
    match op {
        Op::Readings(readings) => DeviceEvent::ReadingsRecorded(ReadingsRecorded {
            batch_id: BatchId::parse(format!("b{i}")).unwrap(),
            readings: readings
                .iter()
                .map(|(s, v, secs)| Reading {
                    sensor: sensor(*s),
                    value: Value::try_from(*v as f64).unwrap(),
                    unit: None,
                    measured_at: t0() + Duration::seconds(*secs),
                })
                .collect(),
        }),
        Op::Raise(r, s) => DeviceEvent::AlertRaised(AlertRaised {
            rule: rule(*r),
            sensor: sensor(*s),
            condition: Condition::Above,
            threshold: 1.0,
            value: Value::try_from(2.0).unwrap(),
            unit: None,
            message: None,
            measured_at: t0(),
            severity: Severity::Major,
        }),
        Op::Clear(r) => DeviceEvent::AlertCleared(AlertCleared {
            rule: rule(*r),
            sensor: sensor(0),
            alert_id: None,
            severity: Severity::Major,
            value: Value::try_from(0.0).unwrap(),
            unit: None,
            measured_at: t0(),
        }),
        Op::Decommission => DeviceEvent::Decommissioned(DeviceDecommissioned { reason: None }),
    }
}

/// Each device's stream: its registration, then its operations; devices interleave.
fn history(ops: &[(usize, Op)]) -> Vec<RecordedEvent> {
    let mut seqs: HashMap<usize, u64> = HashMap::new();
    let mut events = Vec::new();
    let record = |seqs: &mut HashMap<usize, u64>,
                  device: usize,
                  event: DeviceEvent,
                  events: &mut Vec<RecordedEvent>| {
        let seq = seqs.entry(device).or_default();
        *seq += 1;
        let n = events.len() as i64;
        events.push(RecordedEvent {
            position: n as u64 + 1,
            stream_id: DeviceId::parse(format!("dev-{device}")).unwrap(),
            stream_seq: *seq,
            event_type: event.event_type().to_owned(),
            schema_version: 1,
            meta: EventMeta {
                event_id: Uuid::now_v7(),
                occurred_at: t0(),
                recorded_at: t0() + Duration::seconds(n),
                correlation_id: None,
                causation_id: None,
            },
            payload: event.encode_payload(),
        });
    };
    for (i, (device, op)) in ops.iter().enumerate() {
        if !seqs.contains_key(device) {
            let registered = DeviceEvent::Registered(DeviceRegistered {
                name: None,
                kind: None,
                location: None,
                key_hash: KeyHash::of("k"),
            });
            record(&mut seqs, *device, registered, &mut events);
        }
        record(&mut seqs, *device, decode(op, i), &mut events);
    }
    events
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn the_fold_equals_the_read_model_after_the_same_events(
        ops in prop::collection::vec((0..3usize, op()), 1..40)
    ) {
        let events = history(&ops);
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let (folded, projected) = runtime.block_on(async {
            let dir = tempfile::tempdir().unwrap();
            let read_model = SqliteReadModel::open(&dir.path().join("rm.db")).await.unwrap();
            let mut applied = HashMap::new();
            for event in &events {
                let delta = project([event], &applied, t0() - Duration::days(1)).unwrap().delta;
                read_model.commit(&delta).await.unwrap();
                applied.insert(event.stream_id.clone(), event.stream_seq);
            }
            let mut fold = FleetFold::default();
            for event in &events {
                fold.apply(event).unwrap();
            }
            (fold.into_views(), read_model.devices().await.unwrap())
        });
        prop_assert_eq!(folded, projected);
    }
}
