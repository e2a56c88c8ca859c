//! What the read side answers with, and the changes a projection hands to a read-model store.

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::alert::{Condition, Severity};
use crate::dead_letter::Parked;
use crate::event::{AlertRaised, DeviceEvent};
use crate::ids::{DeviceId, Label, RuleName, SensorName, Tag, Unit};

/// A device counts as online while its newest reading is at most this old.
pub const ONLINE_WINDOW: Duration = Duration::minutes(5);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SensorLatest {
    pub sensor: SensorName,
    pub value: f64,
    pub unit: Option<Unit>,
    pub measured_at: DateTime<Utc>,
}

/// One device as the dashboard lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeviceView {
    pub device_id: DeviceId,
    pub name: Option<Label>,
    pub kind: Option<Label>,
    pub location: Option<Label>,
    pub registered_at: DateTime<Utc>,
    pub decommissioned_at: Option<DateTime<Utc>>,
    /// Since when the device is disabled, while it is. Absent in views cached before devices
    /// could be disabled.
    #[serde(default)]
    pub disabled_at: Option<DateTime<Utc>>,
    /// Sorted, each once. Absent in views cached before tags existed.
    #[serde(default)]
    pub tags: Vec<Tag>,
    /// Sorted by sensor name.
    pub sensors: Vec<SensorLatest>,
    /// Open alerts, oldest first. Absent in views cached before alerts existed.
    #[serde(default)]
    pub alerts: Vec<OpenAlert>,
}

/// An alert that is raised and not cleared yet.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OpenAlert {
    pub rule: RuleName,
    pub sensor: SensorName,
    pub condition: Condition,
    pub threshold: f64,
    /// The reading that raised it.
    pub value: f64,
    pub unit: Option<Unit>,
    pub message: Option<Label>,
    /// When the alert was recorded (server clock).
    pub raised_at: DateTime<Utc>,
}

impl OpenAlert {
    /// The alert `raised` opens, recorded at `at`.
    pub fn raised(raised: AlertRaised, at: DateTime<Utc>) -> Self {
        Self {
            rule: raised.rule,
            sensor: raised.sensor,
            condition: raised.condition,
            threshold: raised.threshold,
            value: raised.value.get(),
            unit: raised.unit,
            message: raised.message,
            raised_at: at,
        }
    }
}

/// What one alert event does to a device's open alerts and to the alert list.
#[derive(Debug, Clone, PartialEq)]
pub enum AlertChange {
    Opened {
        device: DeviceId,
        alert_id: Uuid,
        severity: Severity,
        alert: OpenAlert,
    },
    /// By its rule or by hand; a decommission closes alerts through `decommissions`.
    Closed {
        device: DeviceId,
        rule: RuleName,
        at: DateTime<Utc>,
        by: ClearedBy,
    },
    Acknowledged {
        alert_id: Uuid,
        at: DateTime<Utc>,
        by: Label,
        note: Option<Label>,
    },
}

/// Who or what cleared an alert.
#[derive(Debug, Clone, PartialEq)]
pub enum ClearedBy {
    /// A reading came back past the rule's clear level.
    Rule {
        value: f64,
    },
    /// Someone, by hand.
    Person {
        by: Label,
        note: Option<Label>,
    },
    Decommission,
    /// Its rule was deleted.
    RuleDeleted,
}

impl ClearedBy {
    /// How the alert list names it.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Rule { .. } => "rule",
            Self::Person { .. } => "manual",
            Self::Decommission => "decommissioned",
            Self::RuleDeleted => "rule_deleted",
        }
    }
}

/// One alert in the alert list: raised, perhaps acknowledged, perhaps cleared.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertRecord {
    /// The event id of its `AlertRaised`.
    pub alert_id: Uuid,
    pub device_id: DeviceId,
    pub severity: Severity,
    /// As the raise recorded it.
    pub alert: OpenAlert,
    pub cleared: Option<(DateTime<Utc>, ClearedBy)>,
    pub acknowledged: Option<Acknowledgement>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Acknowledgement {
    pub at: DateTime<Utc>,
    pub by: Label,
    pub note: Option<Label>,
}

/// Which alerts to list, newest raised first.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AlertQuery {
    pub alert_id: Option<Uuid>,
    /// Active (true) or cleared (false); both when absent.
    pub active: Option<bool>,
    pub acknowledged: Option<bool>,
    pub severity: Option<Severity>,
    pub device: Option<DeviceId>,
    pub limit: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Presence {
    Online,
    Silent,
    Disabled,
    Decommissioned,
}

impl DeviceView {
    /// The newest `measured_at` of any sensor.
    pub fn last_seen(&self) -> Option<DateTime<Utc>> {
        self.sensors.iter().map(|s| s.measured_at).max()
    }

    /// Applies what `event`, recorded at `at`, changes of the profile (nothing, if it is no
    /// administrator's change).
    pub fn change_by(&mut self, event: &DeviceEvent, at: DateTime<Utc>) {
        if let Some(change) = event.profile_change(at) {
            self.change(change);
        }
    }

    /// Applies what an administrator changed.
    pub fn change(&mut self, change: ProfileChange) {
        match change {
            ProfileChange::Name(name) => self.name = name,
            ProfileChange::Location(location) => self.location = location,
            ProfileChange::Tags(tags) => self.tags = tags,
            ProfileChange::Disabled(at) => self.disabled_at = at,
        }
    }

    pub fn presence(&self, now: DateTime<Utc>) -> Presence {
        match (self.decommissioned_at, self.last_seen()) {
            (Some(_), _) => Presence::Decommissioned,
            (None, _) if self.disabled_at.is_some() => Presence::Disabled,
            (None, Some(seen)) if now - seen <= ONLINE_WINDOW => Presence::Online,
            _ => Presence::Silent,
        }
    }
}

/// How finely a series is answered: every reading, or 1-minute / 1-hour buckets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Resolution {
    #[serde(rename = "raw")]
    Raw,
    #[serde(rename = "1m")]
    Minute,
    #[serde(rename = "1h")]
    Hour,
}

impl Resolution {
    /// The rollup resolutions a projection maintains.
    pub const BUCKETED: [Resolution; 2] = [Resolution::Minute, Resolution::Hour];

    pub fn bucket_seconds(self) -> Option<i64> {
        match self {
            Self::Raw => None,
            Self::Minute => Some(60),
            Self::Hour => Some(3600),
        }
    }

    /// The start of the bucket holding `t`, in Unix seconds (floor, also before 1970).
    pub fn bucket_start(self, t: DateTime<Utc>) -> Option<i64> {
        self.bucket_seconds()
            .map(|width| t.timestamp().div_euclid(width) * width)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct SeriesQuery {
    pub device_id: DeviceId,
    pub sensor: SensorName,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub resolution: Resolution,
    /// At most this many points; the answer says when it stopped early.
    pub limit: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RawPoint {
    pub t: DateTime<Utc>,
    pub value: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BucketPoint {
    pub t: DateTime<Utc>,
    pub count: u64,
    pub min: f64,
    pub max: f64,
    pub avg: f64,
}

impl BucketPoint {
    /// From a stored rollup row: (start in Unix seconds, count, min, max, sum).
    pub fn from_row((start, count, min, max, sum): (i64, i64, f64, f64, f64)) -> Self {
        Self {
            t: DateTime::from_timestamp(start, 0)
                .expect("bucket starts come from valid timestamps"),
            count: count as u64,
            min,
            max,
            avg: sum / count as f64,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Points {
    Raw(Vec<RawPoint>),
    Buckets(Vec<BucketPoint>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub unit: Option<Unit>,
    pub points: Points,
    pub truncated: bool,
}

impl Series {
    /// No points, in the shape the resolution asks for.
    pub fn empty(resolution: Resolution) -> Self {
        let points = match resolution {
            Resolution::Raw => Points::Raw(Vec::new()),
            _ => Points::Buckets(Vec::new()),
        };
        Self {
            unit: None,
            points,
            truncated: false,
        }
    }

    /// Keeps the first `limit` points of `points` (fetched with one extra to tell) and says
    /// whether any were cut.
    pub fn limited(unit: Option<Unit>, mut points: Points, limit: usize) -> Self {
        let truncated = match &mut points {
            Points::Raw(p) => truncate(p, limit),
            Points::Buckets(p) => truncate(p, limit),
        };
        Self {
            unit,
            points,
            truncated,
        }
    }
}

fn truncate<T>(points: &mut Vec<T>, limit: usize) -> bool {
    let cut = points.len() > limit;
    points.truncate(limit);
    cut
}

/// Count, min, max and sum of the readings in one bucket. Merging is exact but for the sum, which
/// saturates at ±`f64::MAX` instead of overflowing to infinity (values up to `f64::MAX` are
/// accepted, and two of them would otherwise make the bucket unreadable as JSON).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BucketStats {
    pub count: u64,
    pub min: f64,
    pub max: f64,
    pub sum: f64,
}

impl BucketStats {
    pub fn of(value: f64) -> Self {
        Self {
            count: 1,
            min: value,
            max: value,
            sum: value,
        }
    }

    pub fn merge(&mut self, other: BucketStats) {
        self.count += other.count;
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
        self.sum = saturating_sum(self.sum, other.sum);
    }
}

/// `a + b` clamped to the finite range: only two large values of one sign can overflow, and then
/// the sum stays at the largest finite value of that sign.
pub fn saturating_sum(a: f64, b: f64) -> f64 {
    (a + b).clamp(-f64::MAX, f64::MAX)
}

/// Index of a (device, sensor) series within one [`ReadModelDelta`].
pub type SeriesIdx = u32;

#[derive(Debug, Clone, PartialEq)]
pub struct Registration {
    pub device_id: DeviceId,
    pub name: Option<Label>,
    pub kind: Option<Label>,
    pub location: Option<Label>,
    pub at: DateTime<Utc>,
}

/// A change an administrator made to a registered device, applied in stream order.
#[derive(Debug, Clone, PartialEq)]
pub enum ProfileChange {
    Name(Option<Label>),
    Location(Option<Label>),
    Tags(Vec<Tag>),
    /// Disabled at this instant, or enabled again (`None`).
    Disabled(Option<DateTime<Utc>>),
}

impl ProfileChange {
    /// Tags as the SQL read models store them: sorted, separated by single spaces (the tag
    /// alphabet has none).
    pub fn joined_tags(tags: &[Tag]) -> String {
        tags.iter().map(Tag::as_str).collect::<Vec<_>>().join(" ")
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct LatestValue {
    pub value: f64,
    pub unit: Option<Unit>,
    pub measured_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RawRow {
    pub series: SeriesIdx,
    pub measured_at: DateTime<Utc>,
    pub value: f64,
    pub stream_seq: u64,
    /// Position of the reading within its batch, so equal timestamps never collide.
    pub index: u32,
}

/// How far one stream moves: the store applies the delta only if the stream is still at `from`,
/// which makes a redelivered or concurrently applied batch fail instead of counting twice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamAdvance {
    pub from: u64,
    pub to: u64,
}

/// Every change a batch of events makes to the read models, pre-aggregated so that a batch of
/// thousands of readings becomes a handful of bucket upserts. Applied atomically with its positions.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReadModelDelta {
    pub registrations: Vec<Registration>,
    /// After the registrations, in stream order.
    pub profile_changes: Vec<(DeviceId, ProfileChange)>,
    pub decommissions: Vec<(DeviceId, DateTime<Utc>)>,
    /// In stream order: an alert may open and close within one delta.
    pub alerts: Vec<AlertChange>,
    /// The distinct series this delta touches; rows refer to them by index.
    pub series: Vec<(DeviceId, SensorName)>,
    series_index: HashMap<(DeviceId, SensorName), SeriesIdx>,
    /// The newest reading per series in this delta.
    pub latest: HashMap<SeriesIdx, LatestValue>,
    /// Keyed by series, resolution and bucket start (Unix seconds).
    pub buckets: HashMap<(SeriesIdx, Resolution, i64), BucketStats>,
    pub raw: Vec<RawRow>,
    pub streams: HashMap<DeviceId, StreamAdvance>,
    /// Events set aside as dead letters, in the same transaction as the rest.
    pub parked: Vec<Parked>,
    /// Dead letters (by id) this delta applies or discards: deleted in the same transaction.
    pub resolved: Vec<i64>,
}

impl ReadModelDelta {
    /// A delta that only sets these aside as dead letters.
    pub fn parking(letters: Vec<Parked>) -> Self {
        Self {
            parked: letters,
            ..Self::default()
        }
    }

    /// A delta that only removes these dead letters.
    pub fn resolving(ids: Vec<i64>) -> Self {
        Self {
            resolved: ids,
            ..Self::default()
        }
    }

    pub fn is_empty(&self) -> bool {
        self.streams.is_empty() && self.parked.is_empty() && self.resolved.is_empty()
    }

    /// The index of a series, adding it on first use.
    pub fn series_idx(&mut self, device: &DeviceId, sensor: &SensorName) -> SeriesIdx {
        if let Some(&idx) = self.series_index.get(&(device.clone(), sensor.clone())) {
            return idx;
        }
        let idx = SeriesIdx::try_from(self.series.len()).expect("fewer than 2^32 series per batch");
        self.series.push((device.clone(), sensor.clone()));
        self.series_index
            .insert((device.clone(), sensor.clone()), idx);
        idx
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(seen: Option<DateTime<Utc>>, decommissioned: bool) -> DeviceView {
        DeviceView {
            device_id: DeviceId::parse("d").unwrap(),
            name: None,
            kind: None,
            location: None,
            registered_at: Utc::now(),
            decommissioned_at: decommissioned.then(Utc::now),
            disabled_at: None,
            tags: Vec::new(),
            sensors: seen
                .map(|t| SensorLatest {
                    sensor: SensorName::parse("s").unwrap(),
                    value: 1.0,
                    unit: None,
                    measured_at: t,
                })
                .into_iter()
                .collect(),
            alerts: Vec::new(),
        }
    }

    #[test]
    fn presence_follows_last_seen() {
        let now = Utc::now();
        assert_eq!(view(Some(now), false).presence(now), Presence::Online);
        assert_eq!(
            view(Some(now - ONLINE_WINDOW - Duration::seconds(1)), false).presence(now),
            Presence::Silent
        );
        assert_eq!(view(None, false).presence(now), Presence::Silent);
        assert_eq!(
            view(Some(now), true).presence(now),
            Presence::Decommissioned
        );
    }

    #[test]
    fn buckets_floor_also_before_the_epoch() {
        let t: DateTime<Utc> = "1969-12-31T23:59:30Z".parse().unwrap();
        assert_eq!(Resolution::Minute.bucket_start(t), Some(-60));
        let t: DateTime<Utc> = "2026-11-23T10:59:59.9Z".parse().unwrap();
        assert_eq!(
            Resolution::Hour.bucket_start(t),
            Some(
                "2026-11-23T10:00:00Z"
                    .parse::<DateTime<Utc>>()
                    .unwrap()
                    .timestamp()
            )
        );
        assert_eq!(Resolution::Raw.bucket_start(t), None);
    }

    #[test]
    fn merged_stats_equal_stats_of_all_values() {
        let mut a = BucketStats::of(3.0);
        a.merge(BucketStats::of(-1.0));
        a.merge(BucketStats::of(10.0));
        assert_eq!(
            a,
            BucketStats {
                count: 3,
                min: -1.0,
                max: 10.0,
                sum: 12.0
            }
        );
    }

    #[test]
    fn sums_saturate_instead_of_overflowing() {
        let mut a = BucketStats::of(f64::MAX);
        a.merge(BucketStats::of(f64::MAX));
        assert_eq!(a.sum, f64::MAX);
        let mut b = BucketStats::of(-f64::MAX);
        b.merge(BucketStats::of(-1e308));
        assert_eq!(b.sum, -f64::MAX);
        let mut c = BucketStats::of(f64::MAX);
        c.merge(BucketStats::of(-f64::MAX));
        assert_eq!(c.sum, 0.0);
    }

    #[test]
    fn series_indexes_are_stable_per_pair() {
        let mut delta = ReadModelDelta::default();
        let d = DeviceId::parse("d").unwrap();
        let a = delta.series_idx(&d, &SensorName::parse("a").unwrap());
        let b = delta.series_idx(&d, &SensorName::parse("b").unwrap());
        assert_ne!(a, b);
        assert_eq!(delta.series_idx(&d, &SensorName::parse("a").unwrap()), a);
        assert_eq!(delta.series.len(), 2);
    }
}
