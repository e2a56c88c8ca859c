//! Events written by the release of 2026-11-30 (Watershed 0.1, every event at schema version 1),
//! as stored, then those the releases of 2026-12-01 added (alert severities, silences, alert ids
//! on clears, acknowledgements and clears by hand, key rotations with an overlap; still version
//! 1, since every field they added has a default), then the registry's events of 2026-12-01
//! (rename, move, retag, disable, enable, the device's own limits), then the alert rules as events
//! (a rule defined and deleted, a rate alert, an alert retired with its rule): they must read back
//! to the same meaning forever. A change to an event's shape
//! that breaks this needs a new schema version and an upcaster in `DeviceEvent::decode`; the
//! fixture is never edited to fit new code.

use serde::Deserialize;
use serde_json::value::RawValue;
use watershed_domain::{Condition, DeviceEvent, KeyHash, Severity, EVENT_TYPES};

const FIXTURE: &str = include_str!("fixtures/stored-events-v1.ndjson");

#[derive(Deserialize)]
struct Stored<'a> {
    event_type: &'a str,
    schema_version: u16,
    #[serde(borrow)]
    payload: &'a RawValue,
}

fn stored() -> Vec<(Stored<'static>, DeviceEvent)> {
    FIXTURE
        .lines()
        .map(|line| {
            let stored: Stored = serde_json::from_str(line).expect("a fixture line");
            let event = DeviceEvent::decode(
                stored.event_type,
                stored.schema_version,
                stored.payload.get(),
            )
            .unwrap_or_else(|e| panic!("{line}: {e}"));
            (stored, event)
        })
        .collect()
}

#[test]
fn every_stored_event_decodes_and_every_type_is_in_the_fixture() {
    let events = stored();
    for t in EVENT_TYPES {
        assert!(
            events.iter().any(|(s, _)| s.event_type == *t),
            "the fixture has no {t}: add one written by the release that introduced it"
        );
    }
    for (stored, event) in &events {
        assert_eq!(event.event_type(), stored.event_type);
        // Today's code writes the same bytes it reads: stores and Kafka consumers see one shape.
        assert_eq!(event.encode_payload(), stored.payload.get());
    }
}

#[test]
fn stored_events_keep_their_meaning() {
    let events: Vec<_> = stored().into_iter().map(|(_, e)| e).collect();
    let DeviceEvent::Registered(registered) = &events[0] else {
        panic!("a registration first")
    };
    assert_eq!(registered.key_hash, KeyHash::of("fixture-key-1"));
    assert_eq!(
        registered.name.as_ref().map(|n| n.as_str()),
        Some("Boiler 7")
    );

    let DeviceEvent::ReadingsRecorded(batch) = &events[4] else {
        panic!("a readings batch fifth")
    };
    let bits: Vec<u64> = batch
        .readings
        .iter()
        .map(|r| r.value.get().to_bits())
        .collect();
    assert_eq!(
        bits,
        [71.25f64, -0.0, f64::MAX, 5e-324].map(f64::to_bits),
        "values to the last bit, the sign of zero included"
    );
    assert_eq!(batch.readings[1].unit, None);
    assert_eq!(
        batch.readings[0].measured_at.timestamp_micros(),
        1_796_032_800_123_456
    );

    let DeviceEvent::AlertRaised(raised) = &events[5] else {
        panic!("an alert sixth")
    };
    assert_eq!(
        (raised.condition, raised.threshold),
        (Condition::Above, 70.0)
    );
    assert_eq!(
        raised.severity,
        Severity::Major,
        "raised before severities existed"
    );

    let DeviceEvent::AlertRaised(silence) = &events[9] else {
        panic!("a silence tenth")
    };
    assert_eq!(
        (silence.condition, silence.severity),
        (Condition::Silent, Severity::Critical)
    );
    let DeviceEvent::AlertClearedManually(by_hand) = &events[12] else {
        panic!("a clear by hand thirteenth")
    };
    assert_eq!(by_hand.by.as_str(), "Ben");

    let DeviceEvent::KeyRotated(overlapping) = &events[13] else {
        panic!("a rotation with an overlap fourteenth")
    };
    assert_eq!(overlapping.key_hash, KeyHash::of("fixture-key-3"));
    assert_eq!(
        overlapping.previous_valid_until.map(|t| t.to_rfc3339()),
        Some("2026-12-02T10:00:00+00:00".to_owned())
    );
    let DeviceEvent::KeyRotated(at_once) = &events[2] else {
        panic!("a rotation third")
    };
    assert_eq!(
        at_once.previous_valid_until, None,
        "rotated before overlaps existed"
    );

    let DeviceEvent::Renamed(renamed) = &events[14] else {
        panic!("a rename fifteenth")
    };
    assert_eq!(
        renamed.name.as_ref().map(|n| n.as_str()),
        Some("Boiler 7 (east)")
    );
    let DeviceEvent::Moved(moved) = &events[15] else {
        panic!("a move sixteenth")
    };
    assert_eq!(moved.location, None, "moved nowhere: the location removed");
    let DeviceEvent::Retagged(retagged) = &events[16] else {
        panic!("a retag seventeenth")
    };
    let tags: Vec<&str> = retagged.tags.iter().map(|t| t.as_str()).collect();
    assert_eq!(tags, ["line-3", "site=berlin"]);
    let DeviceEvent::Disabled(disabled) = &events[17] else {
        panic!("a disable eighteenth")
    };
    assert_eq!(
        disabled.reason.as_ref().map(|r| r.as_str()),
        Some("maintenance")
    );
    assert!(matches!(events[18], DeviceEvent::Enabled(_)));
    let DeviceEvent::LimitsChanged(limits) = &events[19] else {
        panic!("a limits change twentieth")
    };
    assert_eq!(
        (limits.readings_per_second, limits.readings_per_day),
        (Some(50), None)
    );

    let DeviceEvent::AlertRuleDefined(defined) = &events[20] else {
        panic!("a rule defined twenty-first")
    };
    let rule = watershed_domain::AlertRule::try_from(defined.rule.clone()).expect("a valid rule");
    assert_eq!(
        (rule.condition, rule.threshold, rule.clear_at),
        (Condition::RateAbove, 0.5, 0.1)
    );
    assert_eq!(
        rule.detector,
        watershed_domain::Detector::Rate { window_secs: 60.0 }
    );
    let DeviceEvent::AlertRaised(rate) = &events[21] else {
        panic!("a rate alert twenty-second")
    };
    assert_eq!(
        (rate.condition, rate.value.get()),
        (Condition::RateAbove, 0.7)
    );
    let DeviceEvent::AlertRetired(retired) = &events[22] else {
        panic!("a retirement twenty-third")
    };
    assert_eq!(retired.reason, watershed_domain::RetireReason::RuleDeleted);
    let DeviceEvent::AlertRuleDeleted(deleted) = &events[23] else {
        panic!("a rule deleted twenty-fourth")
    };
    assert_eq!(deleted.name.as_str(), "heating-fast");
}
