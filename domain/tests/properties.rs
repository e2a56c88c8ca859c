//! Generated inputs against the domain's promises: the parsers at the edge never panic and accept
//! exactly their documented alphabet, an accepted batch is within the accepted domain and survives
//! its own encoding, and `decide`/`evolve` keep a device's version equal to its event count.

use chrono::{DateTime, Duration, TimeZone, Utc};
use proptest::prelude::*;
use watershed_domain::reading::{MAX_CLOCK_SKEW, OLDEST_MEASURED_AT};
use watershed_domain::{
    decide, evolve, BatchId, Command, Device, DeviceEvent, DeviceId, DeviceStatus, DomainError,
    KeyHash, Reading, ReadingBatch, SensorName, Unit, Value, DECODE_VERSION,
    MAX_READINGS_PER_BATCH,
};

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 30, 12, 0, 0).unwrap()
}

/// Finite values, weighted towards the edges of the range.
fn value() -> impl Strategy<Value = f64> {
    prop_oneof![
        Just(f64::MAX),
        Just(-f64::MAX),
        Just(5e-324),
        Just(-0.0),
        any::<f64>().prop_filter("finite", |v| v.is_finite()),
        -1e6..1e6f64,
    ]
}

/// Instants from well before the oldest accepted one to well after the newest.
fn instant() -> impl Strategy<Value = DateTime<Utc>> {
    let oldest = OLDEST_MEASURED_AT.timestamp_micros() - 1_000_000;
    let newest = (now() + MAX_CLOCK_SKEW).timestamp_micros() + 1_000_000;
    let at = |micros: i64| DateTime::from_timestamp_micros(micros).unwrap();
    prop_oneof![
        Just(OLDEST_MEASURED_AT),
        Just(now() + MAX_CLOCK_SKEW),
        (oldest..newest).prop_map(at),
        ((now() - Duration::hours(1)).timestamp_micros()..now().timestamp_micros()).prop_map(at),
    ]
}

fn sensor() -> impl Strategy<Value = SensorName> {
    "[A-Za-z0-9._/-]{1,64}".prop_map(|s| SensorName::parse(s).unwrap())
}

fn reading() -> impl Strategy<Value = Reading> {
    (
        sensor(),
        value(),
        instant(),
        proptest::option::of("[A-Za-z%/]{1,16}"),
    )
        .prop_map(|(sensor, v, at, unit)| Reading {
            sensor,
            value: Value::try_from(v).unwrap(),
            unit: unit.map(|u| Unit::parse(u).unwrap()),
            measured_at: at,
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn id_parsers_never_panic_and_accept_exactly_their_alphabet(raw in "\\PC{0,80}") {
        let alphabet = |extra: &str| {
            !raw.is_empty() && raw.len() <= 64
                && raw.chars().all(|c| c.is_ascii_alphanumeric() || extra.contains(c))
        };
        prop_assert_eq!(DeviceId::parse(raw.as_str()).is_ok(), alphabet("-_.:"));
        prop_assert_eq!(SensorName::parse(raw.as_str()).is_ok(), alphabet("-_./"));
        let batch_ok = !raw.is_empty() && raw.len() <= 128
            && raw.chars().all(|c| c.is_ascii_alphanumeric() || "-_.:/+=".contains(c));
        prop_assert_eq!(BatchId::parse(raw.as_str()).is_ok(), batch_ok);
        let _ = Unit::parse(raw.as_str());
    }

    #[test]
    fn a_batch_is_accepted_exactly_when_every_reading_is_in_the_accepted_domain(
        readings in proptest::collection::vec(reading(), 0..40),
    ) {
        let in_domain = !readings.is_empty()
            && readings.len() <= MAX_READINGS_PER_BATCH
            && readings.iter().all(|r| {
                r.measured_at >= OLDEST_MEASURED_AT && r.measured_at <= now() + MAX_CLOCK_SKEW
            });
        let accepted = ReadingBatch::new(BatchId::parse("b").unwrap(), readings.clone(), now());
        prop_assert_eq!(accepted.is_ok(), in_domain);
        if let Ok(batch) = accepted {
            let (batch_id, readings) = batch.into_parts();
            let event = DeviceEvent::ReadingsRecorded(watershed_domain::ReadingsRecorded {
                batch_id,
                readings,
            });
            let decoded =
                DeviceEvent::decode(event.event_type(), DECODE_VERSION, &event.encode_payload());
            prop_assert_eq!(decoded.unwrap(), event);
        }
    }

    #[test]
    fn arbitrary_json_never_panics_the_reading_decoder(raw in "\\PC{0,200}") {
        let _ = serde_json::from_str::<Reading>(&raw);
        let _ = DeviceEvent::decode("ReadingsRecorded", DECODE_VERSION, &raw);
    }

    #[test]
    fn a_devices_version_counts_its_events_and_decommissioning_is_final(
        steps in proptest::collection::vec(0u8..5, 0..30),
    ) {
        let mut device = Device::default();
        let mut stored = 0u64;
        let mut decommissioned = false;
        for step in steps {
            let key = KeyHash::of("k");
            let command = match step {
                0 => Command::Register { name: None, kind: None, location: None, key_hash: key },
                1 => Command::RotateKey { key_hash: KeyHash::of("k"), previous_valid_until: None },
                2 => Command::Decommission { reason: None },
                _ => Command::RecordReadings {
                    presented_key: KeyHash::of(if step == 3 { "k" } else { "wrong" }),
                    presented_at: now(),
                    batch: ReadingBatch::new(
                        BatchId::parse("b").unwrap(),
                        vec![Reading {
                            sensor: SensorName::parse("t").unwrap(),
                            value: Value::try_from(1.0).unwrap(),
                            unit: None,
                            measured_at: now(),
                        }],
                        now(),
                    )
                    .unwrap(),
                    max_sensors: 100,
                },
            };
            match decide(&device, command) {
                Ok(events) => {
                    prop_assert!(!decommissioned, "a decommissioned device decided {events:?}");
                    for event in &events {
                        stored += 1;
                        device = evolve(device, stored, event);
                    }
                }
                Err(DomainError::Decommissioned) => prop_assert!(decommissioned),
                Err(_) => {}
            }
            decommissioned = device.status == DeviceStatus::Decommissioned;
            prop_assert_eq!(device.version, stored);
        }
    }
}
