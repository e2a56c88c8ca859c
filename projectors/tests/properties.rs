//! Generated batches against the projection's promises: each rollup bucket holds exactly the count,
//! min and max of the readings measured in it and their sum (saturating, so always finite), and a
//! series' latest value is its newest reading, whatever the order the readings arrived in.

use std::collections::HashMap;

use chrono::{DateTime, Duration, TimeZone, Utc};
use proptest::prelude::*;
use uuid::Uuid;
use watershed_domain::event::{EventMeta, ReadingsRecorded};
use watershed_domain::read_model::{saturating_sum, Resolution};
use watershed_domain::{BatchId, DeviceEvent, DeviceId, Reading, RecordedEvent, SensorName, Value};
use watershed_projectors::project;

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 30, 10, 0, 0).unwrap()
}

fn reading() -> impl Strategy<Value = Reading> {
    let value = prop_oneof![
        -1e9..1e9f64,
        Just(f64::MAX),
        Just(-f64::MAX),
        Just(-0.0),
        Just(5e-324),
    ];
    (0..3usize, value, 0i64..7_200_000).prop_map(|(sensor, v, ms)| Reading {
        sensor: SensorName::parse(["a", "b", "c"][sensor]).unwrap(),
        value: Value::try_from(v).unwrap(),
        unit: None,
        measured_at: t0() + Duration::milliseconds(ms),
    })
}

fn events(device: &DeviceId, batches: &[Vec<Reading>]) -> Vec<RecordedEvent> {
    batches
        .iter()
        .enumerate()
        .map(|(i, readings)| {
            let event = DeviceEvent::ReadingsRecorded(ReadingsRecorded {
                batch_id: BatchId::parse(format!("b{i}")).unwrap(),
                readings: readings.clone(),
            });
            RecordedEvent {
                position: i as u64 + 1,
                stream_id: device.clone(),
                stream_seq: i as u64 + 1,
                event_type: event.event_type().to_owned(),
                schema_version: 1,
                meta: EventMeta {
                    event_id: Uuid::now_v7(),
                    occurred_at: t0(),
                    recorded_at: t0(),
                    correlation_id: None,
                    causation_id: None,
                },
                payload: event.encode_payload(),
            }
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn rollups_and_latest_equal_a_naive_recomputation(
        batches in proptest::collection::vec(proptest::collection::vec(reading(), 1..60), 1..6),
    ) {
        let device = DeviceId::parse("prop").unwrap();
        let projected = project(&events(&device, &batches), &HashMap::new(), t0()).unwrap();
        let delta = &projected.delta;
        let all: Vec<&Reading> = batches.iter().flatten().collect();

        for resolution in Resolution::BUCKETED {
            // (sensor, bucket start) → (count, min, max, sum) the slow way, in arrival order.
            let mut naive: HashMap<(String, i64), (u64, f64, f64, f64)> = HashMap::new();
            for r in &all {
                let start = resolution.bucket_start(r.measured_at).unwrap();
                let v = r.value.get();
                naive
                    .entry((r.sensor.to_string(), start))
                    .and_modify(|(count, min, max, sum)| {
                        *count += 1;
                        *min = min.min(v);
                        *max = max.max(v);
                        *sum = saturating_sum(*sum, v);
                    })
                    .or_insert((1, v, v, v));
            }
            let mut got = 0;
            for ((series, res, start), stats) in &delta.buckets {
                if *res != resolution {
                    continue;
                }
                got += 1;
                let sensor = delta.series[*series as usize].1.to_string();
                let (count, min, max, sum) = naive[&(sensor, *start)];
                prop_assert_eq!((stats.count, stats.min, stats.max), (count, min, max));
                prop_assert!(stats.sum.is_finite());
                prop_assert_eq!(stats.sum.to_bits(), sum.to_bits(), "{} vs {}", stats.sum, sum);
            }
            prop_assert_eq!(got, naive.len());
        }

        for (series, latest) in &delta.latest {
            let sensor = &delta.series[*series as usize].1;
            let newest = all
                .iter()
                .filter(|r| &r.sensor == sensor)
                .fold(None::<&Reading>, |best, r| match best {
                    Some(b) if b.measured_at > r.measured_at => Some(b),
                    _ => Some(r),
                })
                .unwrap();
            prop_assert_eq!(latest.measured_at, newest.measured_at);
            prop_assert_eq!(latest.value.to_bits(), newest.value.get().to_bits());
        }
        prop_assert_eq!(delta.raw.len(), all.len());
    }
}
