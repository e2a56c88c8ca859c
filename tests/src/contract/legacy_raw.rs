//! What a read model of an older version held in its table of one row per reading, and what the
//! same readings must answer once moved into blocks: the adapters' upgrade tests share it.

use chrono::{DateTime, Duration, DurationRound, Utc};
use watershed_domain::ports::ReadModel;
use watershed_domain::read_model::{Points, Resolution, SeriesQuery};
use watershed_domain::{DeviceId, SensorName};

/// The rows, as (stream_seq, idx, minutes after `base`, value) of device `legacy-device`, sensor
/// `temp`: ties on time broken by event and position, and an hour apart for a second block.
pub const ROWS: [(i64, i32, i64, f64); 5] = [
    (2, 0, 10, 1.0),
    (2, 1, 10, 2.0),
    (3, 0, 10, 3.0),
    (2, 2, 5, 4.0),
    (3, 1, 70, 5.0),
];

/// The values in the order a raw series answers them.
pub const IN_ORDER: [f64; 5] = [4.0, 1.0, 2.0, 3.0, 5.0];

/// An hour boundary two hours ago.
pub fn base() -> DateTime<Utc> {
    (Utc::now() - Duration::hours(2))
        .duration_trunc(Duration::hours(1))
        .expect("truncating to an hour")
}

/// The raw values of the legacy series around `base`.
pub async fn raw_values(read_model: &dyn ReadModel, base: DateTime<Utc>) -> Vec<f64> {
    let series = read_model
        .series(&SeriesQuery {
            device_id: DeviceId::parse("legacy-device").expect("a valid id"),
            sensor: SensorName::parse("temp").expect("a valid sensor"),
            from: base - Duration::hours(1),
            to: base + Duration::hours(3),
            resolution: Resolution::Raw,
            limit: 100,
        })
        .await
        .expect("the series answers");
    match series.points {
        Points::Raw(points) => points.iter().map(|p| p.value).collect(),
        Points::Buckets(_) => unreachable!("raw was asked for"),
    }
}
