//! The edges of the accepted domain travel through every adapter of every port: ±`f64::MAX`,
//! subnormals and −0.0, the oldest and the newest accepted instants, 64-character ids and a full
//! batch of 1 000 readings. A value the domain accepts that some store cannot carry would stop the
//! pipeline behind it, so each port's adapters run these beside their contract suites.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Duration as Age, DurationRound, Utc};
use watershed_domain::event::ExpectedVersion;
use watershed_domain::ports::{DeviceCache, EventBus, EventStore, ReadModel, StreamQuery};
use watershed_domain::read_model::{DeviceView, Points, Resolution, SensorLatest, SeriesQuery};
use watershed_domain::reading::{MAX_CLOCK_SKEW, OLDEST_MEASURED_AT};
use watershed_domain::{
    DeviceEvent, DeviceId, Reading, ReadingBatch, SensorName, MAX_READINGS_PER_BATCH,
};
use watershed_projectors::project;

use crate::events::{new_event, reading, readings, recorded, registered};

/// The values at the edges of what `Value` accepts, and a few ordinary ones between them.
pub const EXTREME_VALUES: [f64; 9] = [
    f64::MAX,
    -f64::MAX,
    f64::MIN_POSITIVE,
    5e-324,
    -5e-324,
    -0.0,
    0.0,
    1e308,
    21.5,
];

/// A device id of the longest accepted length, unique per call.
pub fn longest_device_id() -> DeviceId {
    let unique = uuid::Uuid::now_v7().simple().to_string();
    let id = format!("x:{unique}").repeat(3);
    DeviceId::parse(&id[..DeviceId::MAX_LEN]).expect("64 characters of the id alphabet")
}

fn longest_sensor(tag: char) -> String {
    let mut name = "engine.cylinder/".repeat(4);
    name.truncate(SensorName::MAX_LEN - 1);
    name.push(tag);
    name
}

/// A full batch: every extreme value on two sensors with the longest names, measured at the
/// oldest accepted instant, through the last hour, and at the newest instant accepted at `now`.
pub fn extreme_batch(now: DateTime<Utc>) -> Vec<Reading> {
    // Microseconds: what every store keeps of an instant.
    let now = now
        .duration_trunc(Age::microseconds(1))
        .expect("truncating to a microsecond");
    let newest = now + MAX_CLOCK_SKEW;
    let (a, b) = (longest_sensor('a'), longest_sensor('b'));
    let batch: Vec<Reading> = (0..MAX_READINGS_PER_BATCH)
        .map(|i| {
            let value = EXTREME_VALUES[i % EXTREME_VALUES.len()];
            let sensor = if i % 2 == 0 { &a } else { &b };
            let at = match i % 10 {
                0 => OLDEST_MEASURED_AT,
                1 => newest,
                _ => now - Age::minutes(30) + Age::milliseconds(i as i64),
            };
            reading(sensor, value, at)
        })
        .collect();
    ReadingBatch::new(
        watershed_domain::BatchId::parse("extremes").expect("a valid batch id"),
        batch.clone(),
        now,
    )
    .expect("the domain accepts every reading of the extreme batch");
    batch
}

/// Appends a registration and the extreme batch; reads them back as they were.
pub async fn event_store_carries_extremes(store: &dyn EventStore) -> (DeviceId, DeviceEvent) {
    let device = longest_device_id();
    let batch = readings("extremes", extreme_batch(Utc::now()));
    store
        .append(
            &device,
            ExpectedVersion::NoStream,
            vec![new_event(&registered(), None), new_event(&batch, None)],
        )
        .await
        .expect("the store takes the extreme batch");
    let stored = store
        .read_stream(&device, StreamQuery::from(2, 1))
        .await
        .expect("reading the batch back");
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].decode().expect("decodes"), batch);
    (device, batch)
}

/// The extreme batch, appended to `store`, reaches a consumer of `bus` whole.
pub async fn bus_carries_extremes(store: Arc<dyn EventStore>, bus: Arc<dyn EventBus>) {
    let (device, batch) = event_store_carries_extremes(&*store).await;
    let group = format!("extremes-{}", uuid::Uuid::now_v7());
    let mut subscription = bus.subscribe(&group).await.expect("subscribing");
    let found = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            let events = subscription
                .next_batch(500)
                .await
                .expect("the bus delivers");
            if let Some(e) = events
                .into_iter()
                .find(|e| e.stream_id == device && e.stream_seq == 2)
            {
                return e;
            }
        }
    })
    .await
    .expect("the extreme batch arrives within 30 s");
    assert_eq!(found.decode().expect("decodes after the bus"), batch);
}

/// The extreme batch projects, commits and answers: raw points as sent, buckets whose average
/// stays finite although the sum of two `f64::MAX` does not.
pub async fn read_model_carries_extremes(read_model: &dyn ReadModel) {
    let device = longest_device_id();
    let now = Utc::now();
    let batch = extreme_batch(now);
    let events = [
        recorded(&device, 1, 0, &registered()),
        recorded(&device, 2, 0, &readings("extremes", batch.clone())),
    ];
    let projected = project(&events, &HashMap::new(), now - Age::days(2)).expect("projects");
    read_model
        .commit(&projected.delta)
        .await
        .expect("the read model takes the extreme batch");

    let sensor = batch[2].sensor.clone();
    let of_sensor: Vec<&Reading> = batch.iter().filter(|r| r.sensor == sensor).collect();
    let from = now - Age::hours(1);
    let raw = read_model
        .series(&SeriesQuery {
            device_id: device.clone(),
            sensor: sensor.clone(),
            from,
            to: now + Age::hours(1),
            resolution: Resolution::Raw,
            limit: 10_000,
        })
        .await
        .expect("raw series");
    let Points::Raw(points) = raw.points else {
        panic!("raw points expected");
    };
    let mut expected: Vec<(DateTime<Utc>, f64)> = of_sensor
        .iter()
        .filter(|r| r.measured_at >= from)
        .map(|r| (r.measured_at, r.value.get()))
        .collect();
    expected.sort_by_key(|(t, _)| *t);
    let got: Vec<(DateTime<Utc>, f64)> = points.iter().map(|p| (p.t, p.value)).collect();
    assert_eq!(got, expected, "raw readings come back exactly");

    for (resolution, from) in [
        (Resolution::Minute, OLDEST_MEASURED_AT),
        (
            Resolution::Hour,
            from.duration_trunc(Age::hours(1)).expect("an hour"),
        ),
    ] {
        let buckets = read_model
            .series(&SeriesQuery {
                device_id: device.clone(),
                sensor: sensor.clone(),
                from,
                to: from + Age::hours(3),
                resolution,
                limit: 10_000,
            })
            .await
            .expect("bucketed series");
        let Points::Buckets(buckets) = buckets.points else {
            panic!("buckets expected");
        };
        assert!(!buckets.is_empty(), "{resolution:?} buckets from {from}");
        for b in &buckets {
            assert!(
                b.avg.is_finite() && b.min.is_finite() && b.max.is_finite(),
                "{b:?}"
            );
        }
    }
    let views = read_model
        .devices_by_id(std::slice::from_ref(&device))
        .await
        .expect("the device view");
    assert_eq!(views.len(), 1);
    assert_eq!(views[0].sensors.len(), 2);
}

/// A view holding the extremes is cached and read back unchanged.
pub async fn cache_carries_extremes(cache: &dyn DeviceCache) {
    let device = longest_device_id();
    let sensors = EXTREME_VALUES
        .iter()
        .enumerate()
        .map(|(i, v)| SensorLatest {
            sensor: SensorName::parse(format!("{}{i}", &longest_sensor('s')[..60])).unwrap(),
            value: *v,
            unit: None,
            measured_at: if i % 2 == 0 {
                OLDEST_MEASURED_AT
            } else {
                Utc::now() + MAX_CLOCK_SKEW
            },
        })
        .collect();
    let view = DeviceView {
        device_id: device.clone(),
        name: None,
        kind: None,
        location: None,
        registered_at: OLDEST_MEASURED_AT,
        decommissioned_at: None,
        disabled_at: None,
        tags: Vec::new(),
        sensors,
        alerts: Vec::new(),
    };
    cache.put(std::slice::from_ref(&view)).await.expect("put");
    assert_eq!(cache.get(&device).await.expect("get"), Some(view));
}
