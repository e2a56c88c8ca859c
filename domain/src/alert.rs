//! Alert rules and what readings do to them. A rule watches one sensor (a silence may watch the
//! whole device) of every device, of one kind of device or of one device, with one detector:
//!
//! - **threshold**: the newest reading of the sensor in a batch is `above` or `below` a level;
//! - **rate**: the sensor changes faster than `rate_above` (or `rate_below`) units per second,
//!   from the oldest to the newest reading of a `window` of seconds;
//! - **anomaly**: the reading's z-score against an exponentially weighted mean and variance of
//!   the sensor (`alpha`) exceeds `zscore_above`, once `warm_up` readings have been seen;
//! - **model**: an ONNX model scores the newest `inputs` readings above `score_above`;
//! - **silence**: no reading for `silent_for` seconds, decided by the clock, not by readings.
//!
//! A raised alert clears once its measure is back at `clear_at` (the threshold when absent), so a
//! value hovering at the threshold does not raise and clear on every batch. All pure: the alert
//! evaluator in `projectors` feeds batches in stream order and appends what they decide to the
//! device's stream; rate, anomaly and model detectors keep their memory per device in
//! [`DeviceAlerts`].

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::event::{
    AlertCleared, AlertRaised, AlertRetired, DecodeError, DeviceEvent, RecordedEvent, RetireReason,
};
use crate::ids::{DeviceId, Label, RuleName, SensorName, Unit};
use crate::model::{ModelRuntime, OnnxModel, Scorer};
use crate::read_model::DeviceView;
use crate::reading::{Reading, Value};
use crate::validation::ValidationError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Condition {
    Above,
    Below,
    /// No reading of the sensor for longer than the threshold, in seconds: a deadman alarm.
    Silent,
    /// Rising faster than the threshold, in units per second.
    RateAbove,
    /// Falling faster: the rate, negative, is below the threshold.
    RateBelow,
    /// The reading's z-score, in absolute value, is above the threshold.
    Anomaly,
    /// A model scored the readings above the threshold.
    Model,
}

impl Condition {
    pub const ALL: [Self; 7] = [
        Self::Above,
        Self::Below,
        Self::Silent,
        Self::RateAbove,
        Self::RateBelow,
        Self::Anomaly,
        Self::Model,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Above => "above",
            Self::Below => "below",
            Self::Silent => "silent",
            Self::RateAbove => "rate_above",
            Self::RateBelow => "rate_below",
            Self::Anomaly => "anomaly",
            Self::Model => "model",
        }
    }

    /// The inverse of [`Condition::as_str`].
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == name)
    }

    /// Whether `value` is strictly past `level` in this condition's direction (for silence,
    /// `value` is the seconds without a reading).
    fn past(self, value: f64, level: f64) -> bool {
        match self {
            Self::Below | Self::RateBelow => value < level,
            Self::Above | Self::Silent | Self::RateAbove | Self::Anomaly | Self::Model => {
                value > level
            }
        }
    }
}

/// How urgent an alert is, most urgent first: the levels ThingsBoard and most paging tools use.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Severity {
    Critical,
    #[default]
    Major,
    Minor,
    Warning,
    Info,
}

impl Severity {
    pub const ALL: [Self; 5] = [
        Self::Critical,
        Self::Major,
        Self::Minor,
        Self::Warning,
        Self::Info,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Critical => "critical",
            Self::Major => "major",
            Self::Minor => "minor",
            Self::Warning => "warning",
            Self::Info => "info",
        }
    }

    /// The inverse of [`Severity::as_str`].
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == name)
    }

    pub fn is_default(&self) -> bool {
        *self == Self::default()
    }
}

impl std::fmt::Display for Severity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The longest silence a rule may wait for, and the longest rate window: a week.
const MAX_SECONDS: f64 = 7.0 * 86_400.0;
const DEFAULT_WINDOW_SECS: f64 = 60.0;
const DEFAULT_ALPHA: f64 = 0.1;
const DEFAULT_WARM_UP: u32 = 30;
const MAX_WARM_UP: u32 = 100_000;
/// A z-score against a variance of (almost) nothing is capped here rather than infinite.
const MAX_ZSCORE: f64 = 1e9;

/// A rule as operators write it: one `[[rule]]` table of the rules file, or the body of
/// `POST /v1/alert-rules`. Stored as given in the rule's `AlertRuleDefined` event.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RuleSpec {
    /// 1–64 ASCII letters, digits, `-`, `_` and `.`.
    #[cfg_attr(feature = "openapi", schema(example = "too-hot"))]
    pub name: String,
    /// The sensor it watches; a silence without one watches the whole device.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(example = "temperature"))]
    pub sensor: Option<String>,
    /// Only this device; at most one of `device` and `kind`, every device when neither.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<String>,
    /// Only devices registered with this kind.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Threshold: raised when the newest reading is above this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub above: Option<f64>,
    /// Threshold: raised when the newest reading is below this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub below: Option<f64>,
    /// Rate of change: raised when rising faster than this many units per second over `window`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_above: Option<f64>,
    /// Rate of change: raised when the rate is below this (e.g. -0.5: falling faster than 0.5/s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_below: Option<f64>,
    /// Seconds a rate is measured over; 60 when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<f64>,
    /// Anomaly: raised when a reading's z-score, in absolute value, is above this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zscore_above: Option<f64>,
    /// Anomaly: the weight of each new reading in the mean and variance, between 0 and 1
    /// exclusive; 0.1 when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alpha: Option<f64>,
    /// Anomaly: readings seen before any is judged; 30 when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warm_up: Option<u32>,
    /// Silence: raised when the sensor (or device) sends nothing for this many seconds; the next
    /// reading clears it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub silent_for: Option<f64>,
    /// Model: raised when the model scores the readings above this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score_above: Option<f64>,
    /// Model: the ONNX model, standard base64, at most 512 KiB. It takes a float tensor of shape
    /// `[1, inputs]`; its first output's first element is the score.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Model: how many of the newest readings it scores, oldest first; 1 when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inputs: Option<u32>,
    /// Where a raised alert clears; the threshold when absent. Not for silences.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clear_at: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Major when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severity: Option<Severity>,
}

/// Which devices a rule watches.
#[derive(Debug, Clone, PartialEq)]
pub enum Scope {
    All,
    Kind(Label),
    Device(DeviceId),
}

impl Scope {
    fn covers(&self, id: &DeviceId, kind: Option<&Label>) -> bool {
        match self {
            Self::All => true,
            Self::Kind(k) => Some(k) == kind,
            Self::Device(d) => d == id,
        }
    }
}

/// How a rule measures what it judges.
#[derive(Debug, Clone, PartialEq)]
pub enum Detector {
    Threshold,
    Silence,
    Rate { window_secs: f64 },
    Anomaly { alpha: f64, warm_up: u32 },
    Model { model: OnnxModel, inputs: usize },
}

impl Detector {
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Threshold => "threshold",
            Self::Silence => "silence",
            Self::Rate { .. } => "rate",
            Self::Anomaly { .. } => "anomaly",
            Self::Model { .. } => "model",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct AlertRule {
    pub name: RuleName,
    /// `None` only for a silence of the whole device.
    pub sensor: Option<SensorName>,
    pub scope: Scope,
    pub condition: Condition,
    pub detector: Detector,
    pub threshold: f64,
    /// Short of the threshold (below an `above` one, above a `below` one).
    pub clear_at: f64,
    pub message: Option<Label>,
    pub severity: Severity,
}

impl AlertRule {
    fn applies_to(&self, id: &DeviceId, kind: Option<&Label>) -> bool {
        self.scope.covers(id, kind)
    }

    fn watches(&self, reading: &Reading) -> bool {
        self.sensor.as_ref().is_none_or(|s| *s == reading.sensor)
    }

    fn raised_by(&self, value: f64) -> bool {
        self.condition.past(value, self.threshold)
    }

    fn cleared_by(&self, value: f64) -> bool {
        !self.condition.past(value, self.clear_at)
    }
}

impl TryFrom<RuleSpec> for AlertRule {
    type Error = ValidationError;

    fn try_from(spec: RuleSpec) -> Result<Self, Self::Error> {
        let name = RuleName::parse(spec.name)?;
        let within = |e: ValidationError| e.within(&format!("rule {name}"));
        let invalid = |field: &str, why: String| within(ValidationError::new(field, why));
        let detectors = [
            ("above", spec.above, Condition::Above),
            ("below", spec.below, Condition::Below),
            ("rate_above", spec.rate_above, Condition::RateAbove),
            ("rate_below", spec.rate_below, Condition::RateBelow),
            ("zscore_above", spec.zscore_above, Condition::Anomaly),
            ("score_above", spec.score_above, Condition::Model),
            ("silent_for", spec.silent_for, Condition::Silent),
        ];
        let mut given = detectors.iter().filter(|(_, level, _)| level.is_some());
        let (Some(&(field, Some(threshold), condition)), None) = (given.next(), given.next())
        else {
            return Err(invalid(
                "",
                "needs exactly one of `above`, `below`, `rate_above`, `rate_below`, \
                 `zscore_above`, `score_above` and `silent_for`"
                    .to_owned(),
            ));
        };
        if !threshold.is_finite() {
            return Err(invalid(field, "must be a finite number".to_owned()));
        }
        // Each detector's own settings, refused on the others so a typo is not silently ignored.
        let rate = matches!(condition, Condition::RateAbove | Condition::RateBelow);
        for (setting, present, allowed) in [
            ("window", spec.window.is_some(), rate),
            (
                "alpha",
                spec.alpha.is_some(),
                condition == Condition::Anomaly,
            ),
            (
                "warm_up",
                spec.warm_up.is_some(),
                condition == Condition::Anomaly,
            ),
            ("model", spec.model.is_some(), condition == Condition::Model),
            (
                "inputs",
                spec.inputs.is_some(),
                condition == Condition::Model,
            ),
            (
                "clear_at",
                spec.clear_at.is_some(),
                condition != Condition::Silent,
            ),
        ] {
            if present && !allowed {
                return Err(invalid(
                    setting,
                    format!("does not apply to a `{field}` rule"),
                ));
            }
        }
        let detector = match condition {
            Condition::Above | Condition::Below => Detector::Threshold,
            Condition::Silent => {
                if !(1.0..=MAX_SECONDS).contains(&threshold) {
                    return Err(invalid(
                        field,
                        format!("must be 1 to {MAX_SECONDS} seconds"),
                    ));
                }
                Detector::Silence
            }
            Condition::RateAbove | Condition::RateBelow => {
                let window_secs = spec.window.unwrap_or(DEFAULT_WINDOW_SECS);
                if !(1.0..=MAX_SECONDS).contains(&window_secs) {
                    return Err(invalid(
                        "window",
                        format!("must be 1 to {MAX_SECONDS} seconds"),
                    ));
                }
                Detector::Rate { window_secs }
            }
            Condition::Anomaly => {
                if threshold <= 0.0 {
                    return Err(invalid(field, "must be above 0".to_owned()));
                }
                let alpha = spec.alpha.unwrap_or(DEFAULT_ALPHA);
                if !(alpha > 0.0 && alpha < 1.0) {
                    return Err(invalid("alpha", "must be between 0 and 1".to_owned()));
                }
                let warm_up = spec.warm_up.unwrap_or(DEFAULT_WARM_UP);
                if !(1..=MAX_WARM_UP).contains(&warm_up) {
                    return Err(invalid(
                        "warm_up",
                        format!("must be 1 to {MAX_WARM_UP} readings"),
                    ));
                }
                Detector::Anomaly { alpha, warm_up }
            }
            Condition::Model => {
                let model = spec
                    .model
                    .as_deref()
                    .ok_or_else(|| invalid("model", "a model rule needs its model".to_owned()))
                    .and_then(|text| OnnxModel::from_base64(text).map_err(within))?;
                let inputs = spec.inputs.unwrap_or(1) as usize;
                if !(1..=OnnxModel::MAX_INPUTS).contains(&inputs) {
                    return Err(invalid(
                        "inputs",
                        format!("must be 1 to {} readings", OnnxModel::MAX_INPUTS),
                    ));
                }
                Detector::Model { model, inputs }
            }
        };
        let clear_at = spec.clear_at.unwrap_or(threshold);
        if !clear_at.is_finite() {
            return Err(invalid("clear_at", "must be a finite number".to_owned()));
        }
        if condition.past(clear_at, threshold) {
            return Err(invalid(
                "clear_at",
                format!(
                    "must not be past the threshold {threshold}, or the alert would never clear"
                ),
            ));
        }
        let sensor = spec
            .sensor
            .map(SensorName::parse)
            .transpose()
            .map_err(within)?;
        if sensor.is_none() && detector != Detector::Silence {
            return Err(invalid(
                "sensor",
                "only a silence may watch the whole device; name the sensor".to_owned(),
            ));
        }
        let scope = match (spec.device, spec.kind) {
            (None, None) => Scope::All,
            (Some(device), None) => Scope::Device(DeviceId::parse(device).map_err(within)?),
            (None, Some(kind)) => Scope::Kind(Label::parse(kind).map_err(within)?),
            (Some(_), Some(_)) => {
                return Err(invalid(
                    "device",
                    "give at most one of `device` and `kind`".to_owned(),
                ))
            }
        };
        Ok(Self {
            sensor,
            scope,
            condition,
            detector,
            threshold,
            clear_at,
            message: spec.message.map(Label::parse).transpose().map_err(within)?,
            severity: spec.severity.unwrap_or_default(),
            name,
        })
    }
}

/// What a rate, anomaly or model detector remembers of one device's sensor.
#[derive(Debug, Clone, PartialEq)]
enum Memory {
    /// The readings of the last window, oldest first.
    Rate(VecDeque<(DateTime<Utc>, f64)>),
    /// Readings seen, and their exponentially weighted mean and variance.
    Anomaly { seen: u32, mean: f64, variance: f64 },
    /// The newest readings, oldest first, at most the model's inputs.
    Model(VecDeque<f32>),
}

/// A detector's memory, and what it was made for: a rule redefined with other settings starts
/// afresh.
#[derive(Debug, Clone, PartialEq)]
struct Tracked {
    detector: Detector,
    /// The newest reading fed in: an older one, arriving late, would corrupt the window.
    newest: DateTime<Utc>,
    memory: Memory,
}

impl Tracked {
    fn new(detector: &Detector) -> Option<Self> {
        let memory = match detector {
            Detector::Threshold | Detector::Silence => return None,
            Detector::Rate { .. } => Memory::Rate(VecDeque::new()),
            Detector::Anomaly { .. } => Memory::Anomaly {
                seen: 0,
                mean: 0.0,
                variance: 0.0,
            },
            Detector::Model { inputs, .. } => Memory::Model(VecDeque::with_capacity(*inputs)),
        };
        Some(Self {
            detector: detector.clone(),
            newest: DateTime::<Utc>::MIN_UTC,
            memory,
        })
    }

    /// Takes in one reading and answers the detector's measure of it, once it has one.
    fn feed(&mut self, reading: &Reading, scorer: Option<&dyn Scorer>) -> Option<f64> {
        if reading.measured_at < self.newest {
            return None;
        }
        self.newest = reading.measured_at;
        let x = reading.value.get();
        let measure = match (&self.detector, &mut self.memory) {
            (Detector::Rate { window_secs }, Memory::Rate(window)) => {
                window.push_back((reading.measured_at, x));
                let newest = reading.measured_at;
                while let Some(&(at, _)) = window.front() {
                    if (newest - at).as_seconds_f64() > *window_secs {
                        window.pop_front();
                    } else {
                        break;
                    }
                }
                let &(first_at, first) = window.front()?;
                let seconds = (newest - first_at).as_seconds_f64();
                (seconds > 0.0).then(|| (x - first) / seconds)
            }
            (
                Detector::Anomaly { alpha, warm_up },
                Memory::Anomaly {
                    seen,
                    mean,
                    variance,
                },
            ) => {
                // Judged against what came before it; then it joins the mean (West's
                // exponentially weighted mean and variance).
                let judged = (*seen >= *warm_up).then(|| {
                    let deviation = (x - *mean).abs();
                    let sd = variance.sqrt();
                    if sd > 0.0 {
                        (deviation / sd).min(MAX_ZSCORE)
                    } else if deviation == 0.0 {
                        0.0
                    } else {
                        MAX_ZSCORE
                    }
                });
                if *seen == 0 {
                    *mean = x;
                } else {
                    let diff = x - *mean;
                    let step = alpha * diff;
                    *mean += step;
                    *variance = (1.0 - alpha) * (*variance + diff * step);
                }
                *seen = seen.saturating_add(1);
                judged
            }
            (Detector::Model { inputs, .. }, Memory::Model(window)) => {
                if window.len() == *inputs {
                    window.pop_front();
                }
                window.push_back(x as f32);
                if window.len() < *inputs {
                    return None;
                }
                let scored = scorer?.score(window.make_contiguous()).ok()?;
                Some(f64::from(scored))
            }
            _ => unreachable!("memory is made for its detector"),
        };
        measure.filter(|m| m.is_finite())
    }
}

/// An open alert, as the evaluator remembers it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Opened {
    /// The event id of its `AlertRaised`.
    pub alert_id: Uuid,
    pub severity: Severity,
}

impl Opened {
    pub fn retire(&self, rule: &RuleName, reason: RetireReason) -> DeviceEvent {
        DeviceEvent::AlertRetired(AlertRetired {
            alert_id: self.alert_id,
            rule: rule.clone(),
            severity: self.severity,
            reason,
        })
    }
}

/// What the alert evaluator knows of one device, folded from its stream.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DeviceAlerts {
    pub kind: Option<Label>,
    pub decommissioned: bool,
    /// The rules whose alert is open.
    pub open: BTreeMap<RuleName, Opened>,
    /// The stream position this state has folded every alert event up to.
    pub version: u64,
    /// The memory of the rate, anomaly and model detectors, by rule.
    memory: BTreeMap<RuleName, Tracked>,
}

impl DeviceAlerts {
    /// The event types this state is folded from.
    pub const EVENT_TYPES: &'static [&'static str] = &[
        "DeviceRegistered",
        "AlertRaised",
        "AlertCleared",
        "AlertClearedManually",
        "AlertRetired",
        "DeviceDecommissioned",
    ];

    /// Folds in the stored events up to `until`, in stream order, of which those of
    /// [`DeviceAlerts::EVENT_TYPES`] count.
    pub fn fold_stored<'a>(
        &mut self,
        events: impl IntoIterator<Item = &'a RecordedEvent>,
        until: u64,
    ) -> Result<(), DecodeError> {
        for event in events {
            if event.stream_seq > until {
                break;
            }
            if Self::EVENT_TYPES.contains(&event.event_type.as_str()) {
                self.evolve(&event.decode()?, event.meta.event_id);
            }
            self.version = event.stream_seq;
        }
        Ok(())
    }

    /// Folds in `event`, stored under `event_id`.
    pub fn evolve(&mut self, event: &DeviceEvent, event_id: Uuid) {
        let mut end = |rule: &RuleName, alert_id: Uuid| {
            if self.open.get(rule).is_some_and(|o| o.alert_id == alert_id) {
                self.open.remove(rule);
            }
        };
        match event {
            DeviceEvent::Registered(e) => self.kind.clone_from(&e.kind),
            DeviceEvent::AlertRaised(e) => {
                let opened = Opened {
                    alert_id: event_id,
                    severity: e.severity,
                };
                self.open.insert(e.rule.clone(), opened);
            }
            DeviceEvent::AlertCleared(e) => {
                self.open.remove(&e.rule);
            }
            DeviceEvent::AlertClearedManually(e) => end(&e.rule, e.alert_id),
            DeviceEvent::AlertRetired(e) => end(&e.rule, e.alert_id),
            DeviceEvent::Decommissioned(_) => self.decommissioned = true,
            DeviceEvent::AlertAcknowledged(_)
            | DeviceEvent::KeyRotated(_)
            | DeviceEvent::ReadingsRecorded(_)
            | DeviceEvent::SensorsAdded(_)
            | DeviceEvent::Renamed(_)
            | DeviceEvent::Moved(_)
            | DeviceEvent::Retagged(_)
            | DeviceEvent::Disabled(_)
            | DeviceEvent::Enabled(_)
            | DeviceEvent::LimitsChanged(_)
            | DeviceEvent::AlertRuleDefined(_)
            | DeviceEvent::AlertRuleDeleted(_) => {}
        }
    }

    /// Whether this state, as the stream holds it, still admits `change`: no raise on a
    /// decommissioned device or beside an open alert of its rule, no clear or retirement of an
    /// alert that is no longer the open one.
    pub fn admits(&self, change: &DeviceEvent) -> bool {
        let is_open = |rule: &RuleName, alert_id: Option<Uuid>| {
            self.open
                .get(rule)
                .is_some_and(|o| alert_id.is_none_or(|id| id == o.alert_id))
        };
        match change {
            DeviceEvent::AlertRaised(r) => !self.decommissioned && !self.open.contains_key(&r.rule),
            DeviceEvent::AlertCleared(c) => is_open(&c.rule, c.alert_id),
            DeviceEvent::AlertRetired(r) => is_open(&r.rule, Some(r.alert_id)),
            _ => true,
        }
    }

    /// Retires every open alert, for `reason`: what a decommission decides beside itself.
    pub fn retire_all(&self, reason: RetireReason) -> Vec<DeviceEvent> {
        self.open
            .iter()
            .map(|(rule, opened)| opened.retire(rule, reason))
            .collect()
    }
}

/// The rules in force, with unique names, and the scorers of their models.
#[derive(Clone, Default)]
pub struct AlertRules {
    rules: Vec<AlertRule>,
    scorers: BTreeMap<RuleName, Arc<dyn Scorer>>,
}

impl std::fmt::Debug for AlertRules {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AlertRules")
            .field("rules", &self.rules)
            .field("scorers", &self.scorers.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// Whether a batch raises or clears an alert, and by which reading and measure.
enum Verdict<'a> {
    Raise(&'a Reading, f64),
    Clear(&'a Reading, f64),
}

impl AlertRules {
    pub fn new(rules: Vec<AlertRule>) -> Result<Self, ValidationError> {
        let mut names = BTreeSet::new();
        if let Some(twice) = rules.iter().find(|r| !names.insert(&r.name)) {
            return Err(ValidationError::new(
                "rule",
                format!("{} is defined twice", twice.name),
            ));
        }
        Ok(Self {
            rules,
            scorers: BTreeMap::new(),
        })
    }

    pub fn from_specs(specs: Vec<RuleSpec>) -> Result<Self, ValidationError> {
        Self::new(
            specs
                .into_iter()
                .map(AlertRule::try_from)
                .collect::<Result<_, _>>()?,
        )
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    pub fn len(&self) -> usize {
        self.rules.len()
    }

    pub fn rules(&self) -> &[AlertRule] {
        &self.rules
    }

    pub fn get(&self, name: &RuleName) -> Option<&AlertRule> {
        self.rules.iter().find(|r| r.name == *name)
    }

    /// Loads the model of every model rule with `runtime`, keeping the scorers of `loaded` for
    /// models it already holds. Answers the rules whose model would not load: they raise nothing.
    pub fn load_models(
        &mut self,
        runtime: &dyn ModelRuntime,
        loaded: &AlertRules,
    ) -> Vec<(RuleName, String)> {
        let mut failed = Vec::new();
        for rule in &self.rules {
            let Detector::Model { model, inputs } = &rule.detector else {
                continue;
            };
            let same = loaded
                .get(&rule.name)
                .filter(|r| r.detector == rule.detector);
            let scorer = match same.and_then(|r| loaded.scorers.get(&r.name)) {
                Some(scorer) => Ok(scorer.clone()),
                None => runtime.load(model, *inputs),
            };
            match scorer {
                Ok(scorer) => {
                    self.scorers.insert(rule.name.clone(), scorer);
                }
                Err(e) => failed.push((rule.name.clone(), e.to_string())),
            }
        }
        failed
    }

    /// Whether some rule is raised by silence, which only a clock can tell.
    pub fn has_silences(&self) -> bool {
        self.rules.iter().any(|r| r.detector == Detector::Silence)
    }

    /// Whether some rule remembers readings, and so wants a device's recent history first.
    pub fn has_memory(&self) -> bool {
        self.rules
            .iter()
            .any(|r| Tracked::new(&r.detector).is_some())
    }

    /// Whether some rule watches these readings: only then does the evaluator need the device's
    /// alert state.
    pub fn watch_any(&self, readings: &[Reading]) -> bool {
        readings
            .iter()
            .any(|reading| self.rules.iter().any(|rule| rule.watches(reading)))
    }

    /// Feeds a batch the device sent before the evaluator knew it to the detectors' memory,
    /// deciding nothing: a restarted evaluator judges the next reading as the running one would.
    pub fn warm(&self, id: &DeviceId, device: &mut DeviceAlerts, readings: &[Reading]) {
        for rule in self.applicable(id, device.kind.clone()) {
            self.track(rule, device, readings);
        }
    }

    /// What one batch of readings does to a device's alerts, in rule order.
    pub fn evaluate(
        &self,
        id: &DeviceId,
        device: &mut DeviceAlerts,
        readings: &[Reading],
    ) -> Vec<DeviceEvent> {
        if device.decommissioned {
            return Vec::new();
        }
        let mut changes = Vec::new();
        for rule in self.applicable(id, device.kind.clone()) {
            let open = device.open.get(&rule.name).copied();
            let verdict = match rule.detector {
                Detector::Threshold => Self::newest(rule, readings).and_then(|newest| {
                    let value = newest.value.get();
                    match open {
                        None if rule.raised_by(value) => Some(Verdict::Raise(newest, value)),
                        Some(_) if rule.cleared_by(value) => Some(Verdict::Clear(newest, value)),
                        _ => None,
                    }
                }),
                // A silence is raised by the clock (`silences`), and any reading ends it.
                Detector::Silence => open
                    .and_then(|_| Self::newest(rule, readings))
                    .map(|newest| Verdict::Clear(newest, newest.value.get())),
                _ => {
                    let measured = self.track(rule, device, readings);
                    match open {
                        // The first reading past the threshold raises, so a spike inside a batch
                        // is not hidden by the readings after it.
                        None => measured
                            .iter()
                            .find(|(_, m)| rule.raised_by(*m))
                            .map(|&(r, m)| Verdict::Raise(r, m)),
                        Some(_) => measured
                            .last()
                            .filter(|(_, m)| rule.cleared_by(*m))
                            .map(|&(r, m)| Verdict::Clear(r, m)),
                    }
                }
            };
            changes.extend(verdict.map(|v| Self::decided(rule, open, v)));
        }
        changes
    }

    /// The rules that apply to a device of this id and kind.
    fn applicable<'a>(
        &'a self,
        id: &'a DeviceId,
        kind: Option<Label>,
    ) -> impl Iterator<Item = &'a AlertRule> + 'a {
        self.rules
            .iter()
            .filter(move |r| r.applies_to(id, kind.as_ref()))
    }

    /// The newest reading the rule watches; the last of equal timestamps wins, as it does for
    /// the latest values.
    fn newest<'r>(rule: &AlertRule, readings: &'r [Reading]) -> Option<&'r Reading> {
        readings
            .iter()
            .filter(|r| rule.watches(r))
            .max_by_key(|r| r.measured_at)
    }

    /// Feeds the rule's readings of a batch, oldest first, to its memory of the device; answers
    /// each reading's measure, where there is one.
    fn track<'r>(
        &self,
        rule: &AlertRule,
        device: &mut DeviceAlerts,
        readings: &'r [Reading],
    ) -> Vec<(&'r Reading, f64)> {
        let Some(fresh) = Tracked::new(&rule.detector) else {
            return Vec::new();
        };
        let tracked = device
            .memory
            .entry(rule.name.clone())
            .or_insert_with(|| fresh.clone());
        if tracked.detector != rule.detector {
            *tracked = fresh;
        }
        let mut mine: Vec<&Reading> = readings.iter().filter(|r| rule.watches(r)).collect();
        mine.sort_by_key(|r| r.measured_at);
        let scorer = self.scorers.get(&rule.name).map(|s| &**s);
        mine.into_iter()
            .filter_map(|r| tracked.feed(r, scorer).map(|m| (r, m)))
            .collect()
    }

    fn decided(rule: &AlertRule, open: Option<Opened>, verdict: Verdict<'_>) -> DeviceEvent {
        // The sensor's unit, which a rate is per second of; a z-score or a score has none.
        let unit = |reading: &Reading| match rule.condition {
            Condition::Above
            | Condition::Below
            | Condition::Silent
            | Condition::RateAbove
            | Condition::RateBelow => reading.unit.clone(),
            Condition::Anomaly | Condition::Model => None,
        };
        let value = |m: f64| Value::try_from(m).expect("measures are finite");
        match verdict {
            Verdict::Raise(reading, measure) => DeviceEvent::AlertRaised(AlertRaised {
                rule: rule.name.clone(),
                sensor: reading.sensor.clone(),
                condition: rule.condition,
                threshold: rule.threshold,
                value: value(measure),
                unit: unit(reading),
                message: rule.message.clone(),
                measured_at: reading.measured_at,
                severity: rule.severity,
            }),
            Verdict::Clear(reading, measure) => DeviceEvent::AlertCleared(AlertCleared {
                rule: rule.name.clone(),
                sensor: reading.sensor.clone(),
                alert_id: open.map(|o| o.alert_id),
                severity: rule.severity,
                value: value(measure),
                unit: unit(reading),
                measured_at: reading.measured_at,
            }),
        }
    }

    /// The silences `view` shows at `now`: for every silence rule that applies to the device and
    /// has no open alert, a sensor (or, for a rule of the whole device, the device) whose newest
    /// reading is older than the rule allows. The raise names that reading's `measured_at`, which
    /// identifies the silence: deciding again at a later `now` raises the same silence, not a
    /// second one. A disabled device is silent on purpose.
    pub fn silences(&self, view: &DeviceView, now: DateTime<Utc>) -> Vec<AlertRaised> {
        if view.decommissioned_at.is_some() || view.disabled_at.is_some() {
            return Vec::new();
        }
        let silent_seconds = Unit::parse("s").expect("a valid unit");
        self.rules
            .iter()
            .filter(|rule| rule.detector == Detector::Silence)
            .filter(|rule| rule.applies_to(&view.device_id, view.kind.as_ref()))
            .filter(|rule| !view.alerts.iter().any(|open| open.rule == rule.name))
            .filter_map(|rule| {
                let latest = view
                    .sensors
                    .iter()
                    .filter(|s| rule.sensor.as_ref().is_none_or(|name| *name == s.sensor))
                    .max_by_key(|s| s.measured_at)?;
                let silent = (now - latest.measured_at).as_seconds_f64();
                rule.raised_by(silent).then(|| AlertRaised {
                    rule: rule.name.clone(),
                    sensor: latest.sensor.clone(),
                    condition: Condition::Silent,
                    threshold: rule.threshold,
                    value: Value::try_from(silent).expect("a difference of instants is finite"),
                    unit: Some(silent_seconds.clone()),
                    message: rule.message.clone(),
                    measured_at: latest.measured_at,
                    severity: rule.severity,
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, Duration, Utc};

    use super::*;
    use crate::read_model::{OpenAlert, SensorLatest};

    fn spec(name: &str, sensor: &str) -> RuleSpec {
        RuleSpec {
            name: name.to_owned(),
            sensor: Some(sensor.to_owned()),
            ..RuleSpec::default()
        }
    }

    fn pump() -> DeviceId {
        DeviceId::parse("pump-1").unwrap()
    }

    fn too_hot() -> RuleSpec {
        RuleSpec {
            above: Some(30.0),
            clear_at: Some(28.0),
            ..spec("too-hot", "temperature")
        }
    }

    fn rules(specs: Vec<RuleSpec>) -> AlertRules {
        AlertRules::from_specs(specs).unwrap()
    }

    fn at(seconds: i64) -> DateTime<Utc> {
        "2026-11-23T10:00:00Z".parse::<DateTime<Utc>>().unwrap() + Duration::seconds(seconds)
    }

    fn reading(sensor: &str, value: f64, seconds: i64) -> Reading {
        Reading {
            sensor: SensorName::parse(sensor).unwrap(),
            value: Value::try_from(value).unwrap(),
            unit: None,
            measured_at: at(seconds),
        }
    }

    /// Feeds batches in order, folding each decision back in, and names what each batch decided.
    fn run(rules: &AlertRules, device: &mut DeviceAlerts, batches: &[Vec<Reading>]) -> Vec<String> {
        batches
            .iter()
            .map(|batch| {
                let changes = rules.evaluate(&pump(), device, batch);
                changes
                    .iter()
                    .for_each(|c| device.evolve(c, Uuid::now_v7()));
                changes
                    .iter()
                    .map(|c| c.event_type())
                    .collect::<Vec<_>>()
                    .join(",")
            })
            .collect()
    }

    #[test]
    fn an_alert_is_raised_once_and_clears_only_past_the_clear_level() {
        let rules = rules(vec![too_hot()]);
        let mut device = DeviceAlerts::default();
        let decided = run(
            &rules,
            &mut device,
            &[
                vec![reading("temperature", 30.0, 0)],
                vec![reading("temperature", 31.0, 1)],
                vec![reading("temperature", 35.0, 2)],
                vec![reading("temperature", 29.0, 3)],
                vec![reading("temperature", 28.0, 4)],
                vec![reading("temperature", 28.0, 5)],
            ],
        );
        assert_eq!(
            decided,
            ["", "AlertRaised", "", "", "AlertCleared", ""],
            "30 is not above 30; 29 is still above the clear level 28"
        );
        assert!(device.open.is_empty());
    }

    #[test]
    fn a_clear_names_the_alert_it_clears_and_both_carry_the_severity() {
        let critical = RuleSpec {
            severity: Some(Severity::Critical),
            ..too_hot()
        };
        let rules = rules(vec![critical]);
        let mut device = DeviceAlerts::default();
        let only = |changes: Vec<DeviceEvent>| -> DeviceEvent {
            let [change] = changes.try_into().expect("one decision");
            change
        };
        let DeviceEvent::AlertRaised(raised) =
            only(rules.evaluate(&pump(), &mut device, &[reading("temperature", 40.0, 0)]))
        else {
            panic!("expected a raise");
        };
        assert_eq!(raised.severity, Severity::Critical);
        let raised_id = Uuid::now_v7();
        device.evolve(&DeviceEvent::AlertRaised(raised), raised_id);
        let DeviceEvent::AlertCleared(cleared) =
            only(rules.evaluate(&pump(), &mut device, &[reading("temperature", 20.0, 1)]))
        else {
            panic!("expected a clear");
        };
        assert_eq!(cleared.alert_id, Some(raised_id));
        assert_eq!(cleared.severity, Severity::Critical);
    }

    #[test]
    fn severities_read_and_write_by_name_and_default_to_major() {
        for severity in Severity::ALL {
            assert_eq!(Severity::from_name(severity.as_str()), Some(severity));
            let json = serde_json::to_string(&severity).unwrap();
            assert_eq!(json, format!("\"{severity}\""));
        }
        assert_eq!(Severity::from_name("fatal"), None);
        assert_eq!(
            AlertRules::from_specs(vec![too_hot()]).unwrap().rules[0].severity,
            Severity::Major
        );
    }

    #[test]
    fn the_newest_reading_of_a_batch_decides_not_the_last_sent() {
        let rules = rules(vec![too_hot()]);
        let batch = vec![
            reading("temperature", 20.0, 10),
            reading("temperature", 40.0, 5),
            reading("humidity", 99.0, 11),
        ];
        assert!(rules
            .evaluate(&pump(), &mut DeviceAlerts::default(), &batch)
            .is_empty());
        let batch = vec![
            reading("temperature", 40.0, 10),
            reading("temperature", 20.0, 5),
        ];
        let raised = rules.evaluate(&pump(), &mut DeviceAlerts::default(), &batch);
        let [DeviceEvent::AlertRaised(raised)] = raised.as_slice() else {
            panic!("expected one raise, got {raised:?}");
        };
        assert_eq!(raised.value.get(), 40.0);
        assert_eq!(raised.measured_at, at(10));
        assert_eq!(raised.threshold, 30.0);
    }

    #[test]
    fn below_rules_and_kind_filters() {
        let low_battery = RuleSpec {
            below: Some(20.0),
            kind: Some("tracker".to_owned()),
            ..spec("low-battery", "battery")
        };
        let rules = rules(vec![low_battery, too_hot()]);
        let batch = vec![reading("battery", 5.0, 0), reading("temperature", 50.0, 0)];
        let a_pump = DeviceAlerts {
            kind: Some(Label::parse("pump").unwrap()),
            ..DeviceAlerts::default()
        };
        let tracker = DeviceAlerts {
            kind: Some(Label::parse("tracker").unwrap()),
            ..DeviceAlerts::default()
        };
        let types = |d: &DeviceAlerts| {
            rules
                .evaluate(&pump(), &mut d.clone(), &batch)
                .iter()
                .map(|e| match e {
                    DeviceEvent::AlertRaised(r) => r.rule.to_string(),
                    other => panic!("unexpected {other:?}"),
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(types(&a_pump), ["too-hot"]);
        assert_eq!(types(&tracker), ["low-battery", "too-hot"]);
    }

    #[test]
    fn a_decommissioned_device_raises_nothing() {
        let rules = rules(vec![too_hot()]);
        let mut device = DeviceAlerts {
            decommissioned: true,
            ..DeviceAlerts::default()
        };
        assert!(rules
            .evaluate(&pump(), &mut device, &[reading("temperature", 99.0, 0)])
            .is_empty());
    }

    fn view(sensors: &[(&str, i64)], open: &[&str]) -> DeviceView {
        DeviceView {
            device_id: pump(),
            name: None,
            kind: None,
            location: None,
            registered_at: at(-100),
            decommissioned_at: None,
            disabled_at: None,
            tags: Vec::new(),
            sensors: sensors
                .iter()
                .map(|(sensor, seconds)| SensorLatest {
                    sensor: SensorName::parse(*sensor).unwrap(),
                    value: 1.0,
                    unit: None,
                    measured_at: at(*seconds),
                })
                .collect(),
            alerts: open
                .iter()
                .map(|rule| OpenAlert {
                    rule: RuleName::parse(*rule).unwrap(),
                    sensor: SensorName::parse("temperature").unwrap(),
                    condition: Condition::Silent,
                    threshold: 60.0,
                    value: 61.0,
                    unit: None,
                    message: None,
                    raised_at: at(0),
                })
                .collect(),
        }
    }

    fn quiet() -> RuleSpec {
        RuleSpec {
            silent_for: Some(60.0),
            ..spec("quiet", "temperature")
        }
    }

    #[test]
    fn a_silence_is_raised_by_the_clock_once_and_ended_by_any_reading() {
        let rules = rules(vec![quiet(), too_hot()]);
        let device = view(&[("temperature", 0), ("humidity", 100)], &[]);
        assert!(
            rules.silences(&device, at(60)).is_empty(),
            "60 s is not past 60 s"
        );
        let raised = rules.silences(&device, at(75));
        let [silence] = &raised[..] else {
            panic!("expected one silence, got {raised:?}");
        };
        assert_eq!(silence.condition, Condition::Silent);
        assert_eq!(silence.value.get(), 75.0);
        assert_eq!(silence.measured_at, at(0), "named by the last reading");
        assert_eq!(rules.silences(&device, at(90))[0].measured_at, at(0));
        let open = view(&[("temperature", 0)], &["quiet"]);
        assert!(rules.silences(&open, at(500)).is_empty(), "already open");
        let never_sent = view(&[("humidity", 0)], &[]);
        assert!(rules.silences(&never_sent, at(500)).is_empty());

        // Readings never raise a silence; any reading of its sensor clears an open one.
        let mut state = DeviceAlerts::default();
        assert!(rules
            .evaluate(&pump(), &mut state, &[reading("temperature", 20.0, 80)])
            .is_empty());
        state.open.insert(
            RuleName::parse("quiet").unwrap(),
            Opened {
                alert_id: Uuid::now_v7(),
                severity: Severity::Major,
            },
        );
        let cleared = rules.evaluate(&pump(), &mut state, &[reading("temperature", 20.0, 80)]);
        assert!(
            matches!(&cleared[..], [DeviceEvent::AlertCleared(c)] if c.rule.as_str() == "quiet"),
            "{cleared:?}"
        );
    }

    #[test]
    fn silence_rules_are_checked() {
        let with_clear = RuleSpec {
            clear_at: Some(5.0),
            ..quiet()
        };
        assert_eq!(
            AlertRules::from_specs(vec![with_clear]).unwrap_err().field,
            "rule quiet.clear_at"
        );
        for bad in [0.5, f64::INFINITY, 8.0 * 86_400.0] {
            let spec = RuleSpec {
                silent_for: Some(bad),
                ..quiet()
            };
            assert_eq!(
                AlertRules::from_specs(vec![spec]).unwrap_err().field,
                "rule quiet.silent_for"
            );
        }
        let both = RuleSpec {
            above: Some(1.0),
            ..quiet()
        };
        assert!(AlertRules::from_specs(vec![both]).is_err());
    }

    #[test]
    fn watch_any_looks_at_sensors() {
        let rules = rules(vec![too_hot()]);
        assert!(rules.watch_any(&[reading("humidity", 1.0, 0), reading("temperature", 1.0, 0)]));
        assert!(!rules.watch_any(&[reading("humidity", 1.0, 0)]));
        assert!(!AlertRules::default().watch_any(&[reading("temperature", 99.0, 0)]));
    }

    #[test]
    fn bad_rules_are_refused_with_the_rule_named() {
        let neither = AlertRules::from_specs(vec![spec("x", "t")]).unwrap_err();
        assert_eq!(neither.field, "rule x");
        let both = RuleSpec {
            above: Some(1.0),
            below: Some(0.0),
            ..spec("x", "t")
        };
        assert!(AlertRules::from_specs(vec![both]).is_err());
        let never_clears = RuleSpec {
            clear_at: Some(31.0),
            ..too_hot()
        };
        let err = AlertRules::from_specs(vec![never_clears]).unwrap_err();
        assert_eq!(err.field, "rule too-hot.clear_at");
        assert!(err.message.contains("never clear"), "{err}");
        let twice = AlertRules::from_specs(vec![too_hot(), too_hot()]).unwrap_err();
        assert!(twice.message.contains("twice"), "{twice}");
        let bad_sensor = RuleSpec {
            sensor: Some("no spaces".to_owned()),
            ..too_hot()
        };
        assert_eq!(
            AlertRules::from_specs(vec![bad_sensor]).unwrap_err().field,
            "rule too-hot.sensor"
        );
        let infinite = RuleSpec {
            above: Some(f64::INFINITY),
            clear_at: None,
            ..too_hot()
        };
        assert!(AlertRules::from_specs(vec![infinite]).is_err());
    }

    fn decided_values(
        rules: &AlertRules,
        device: &mut DeviceAlerts,
        batch: &[Reading],
    ) -> Vec<(String, f64)> {
        let changes = rules.evaluate(&pump(), device, batch);
        changes
            .iter()
            .for_each(|c| device.evolve(c, Uuid::now_v7()));
        changes
            .iter()
            .map(|c| match c {
                DeviceEvent::AlertRaised(r) => ("raised".to_owned(), r.value.get()),
                DeviceEvent::AlertCleared(c) => ("cleared".to_owned(), c.value.get()),
                other => panic!("unexpected {other:?}"),
            })
            .collect()
    }

    #[test]
    fn a_rate_rule_measures_from_the_oldest_reading_of_its_window() {
        let rising = RuleSpec {
            rate_above: Some(0.5),
            window: Some(10.0),
            clear_at: Some(0.1),
            ..spec("heating-fast", "temperature")
        };
        let rules = rules(vec![rising]);
        let mut device = DeviceAlerts::default();
        let mut feed = |batch: Vec<Reading>| decided_values(&rules, &mut device, &batch);
        assert!(
            feed(vec![reading("temperature", 20.0, 0)]).is_empty(),
            "one reading has no rate"
        );
        assert!(
            feed(vec![reading("temperature", 24.0, 10)]).is_empty(),
            "0.4/s is not above 0.5/s"
        );
        // 20 at 0 s has left the 10 s window; from 24 at 10 s to 31 at 20 s is 0.7/s.
        assert_eq!(
            feed(vec![reading("temperature", 31.0, 20)]),
            [("raised".to_owned(), 0.7)]
        );
        assert!(
            feed(vec![reading("temperature", 33.0, 25)]).is_empty(),
            "0.6/s: still rising"
        );
        // From 31 at 20 s to 31.5 at 30 s: 0.05/s, back under the clear level.
        assert_eq!(
            feed(vec![reading("temperature", 31.5, 30)]),
            [("cleared".to_owned(), 0.05)]
        );
        let mut late = rules.evaluate(&pump(), &mut device, &[reading("temperature", 99.0, 1)]);
        assert!(
            late.is_empty(),
            "a reading older than the newest one seen is not judged"
        );
        late = rules.evaluate(&pump(), &mut device, &[reading("humidity", 99.0, 40)]);
        assert!(late.is_empty());
    }

    #[test]
    fn a_falling_rate_is_negative_and_carries_the_sensors_unit() {
        let falling = RuleSpec {
            rate_below: Some(-1.0),
            ..spec("draining", "level")
        };
        let rules = rules(vec![falling]);
        let with_unit = |value, seconds| Reading {
            unit: Some(Unit::parse("cm").unwrap()),
            ..reading("level", value, seconds)
        };
        let raised = rules.evaluate(
            &pump(),
            &mut DeviceAlerts::default(),
            &[with_unit(80.0, 4), with_unit(100.0, 0)],
        );
        let [DeviceEvent::AlertRaised(raised)] = &raised[..] else {
            panic!("expected a raise, got {raised:?}");
        };
        assert_eq!(
            raised.value.get(),
            -5.0,
            "sorted by measured_at within the batch"
        );
        assert_eq!(raised.condition, Condition::RateBelow);
        assert_eq!(
            raised.unit.as_ref().unwrap().as_str(),
            "cm",
            "per second, as the condition says"
        );
    }

    #[test]
    fn an_anomaly_is_judged_only_after_warm_up_against_what_came_before() {
        let odd = RuleSpec {
            zscore_above: Some(4.0),
            warm_up: Some(20),
            alpha: Some(0.1),
            clear_at: Some(2.0),
            ..spec("odd", "vibration")
        };
        let rules = rules(vec![odd]);
        let mut device = DeviceAlerts::default();
        let normal: Vec<Reading> = (0..20)
            .map(|i| reading("vibration", 10.0 + f64::from(i % 2), i64::from(i)))
            .collect();
        // A spike inside the warm-up is not judged.
        let mut warm_up = normal.clone();
        warm_up[5] = reading("vibration", 500.0, 5);
        assert!(decided_values(&rules, &mut device, &warm_up).is_empty());
        let mut device = DeviceAlerts::default();
        assert!(decided_values(&rules, &mut device, &normal).is_empty());
        let decided = decided_values(
            &rules,
            &mut device,
            &[
                reading("vibration", 30.0, 30),
                reading("vibration", 10.5, 31),
            ],
        );
        let [(what, z)] = &decided[..] else {
            panic!("expected one decision, got {decided:?}");
        };
        assert_eq!(
            what, "raised",
            "the spike raises though a normal reading follows it"
        );
        assert!(*z > 4.0, "{z}");
        // The spike joined the variance; readings near the mean clear it.
        let cleared = decided_values(&rules, &mut device, &[reading("vibration", 10.5, 40)]);
        assert_eq!(cleared.len(), 1);
        assert_eq!(cleared[0].0, "cleared");
    }

    #[test]
    fn a_constant_sensor_that_moves_is_an_anomaly_not_a_division_by_zero() {
        let odd = RuleSpec {
            zscore_above: Some(3.0),
            warm_up: Some(3),
            ..spec("odd", "vibration")
        };
        let rules = rules(vec![odd]);
        let mut device = DeviceAlerts::default();
        let flat: Vec<Reading> = (0..3).map(|i| reading("vibration", 5.0, i)).collect();
        assert!(decided_values(&rules, &mut device, &flat).is_empty());
        assert!(decided_values(&rules, &mut device, &[reading("vibration", 5.0, 3)]).is_empty());
        let decided = decided_values(&rules, &mut device, &[reading("vibration", 5.1, 4)]);
        assert_eq!(decided, [("raised".to_owned(), MAX_ZSCORE)]);
    }

    /// Scores a window by its mean, and counts what it was given.
    struct MeanScorer;

    impl Scorer for MeanScorer {
        fn score(&self, window: &[f32]) -> Result<f32, crate::model::ModelError> {
            Ok(window.iter().sum::<f32>() / window.len() as f32)
        }
    }

    struct MeanRuntime;

    impl ModelRuntime for MeanRuntime {
        fn load(
            &self,
            _: &OnnxModel,
            inputs: usize,
        ) -> Result<Arc<dyn Scorer>, crate::model::ModelError> {
            assert_eq!(inputs, 3);
            Ok(Arc::new(MeanScorer))
        }
    }

    fn model_rule() -> RuleSpec {
        RuleSpec {
            score_above: Some(0.8),
            clear_at: Some(0.5),
            inputs: Some(3),
            model: Some(OnnxModel::from_bytes(b"onnx".to_vec()).unwrap().to_base64()),
            ..spec("failing", "wear")
        }
    }

    #[test]
    fn a_model_scores_a_full_window_of_the_newest_readings() {
        let mut rules = rules(vec![model_rule()]);
        let mut device = DeviceAlerts::default();
        let batch = [reading("wear", 1.0, 0), reading("wear", 1.0, 1)];
        assert!(
            decided_values(&rules, &mut device, &batch).is_empty(),
            "a model not loaded scores nothing"
        );
        assert!(rules
            .load_models(&MeanRuntime, &AlertRules::default())
            .is_empty());
        let mut device = DeviceAlerts::default();
        assert!(
            decided_values(&rules, &mut device, &batch).is_empty(),
            "two readings do not fill a window of three"
        );
        let decided = decided_values(&rules, &mut device, &[reading("wear", 0.7, 2)]);
        assert_eq!(decided.len(), 1);
        assert_eq!(decided[0].0, "raised");
        assert!((decided[0].1 - 0.9).abs() < 1e-6, "{decided:?}");
        let decided = decided_values(
            &rules,
            &mut device,
            &[reading("wear", 0.0, 3), reading("wear", 0.0, 4)],
        );
        assert_eq!(decided[0].0, "cleared", "(0.7 + 0 + 0) / 3 is at most 0.5");
    }

    #[test]
    fn warming_feeds_memory_without_deciding() {
        let rising = RuleSpec {
            rate_above: Some(0.5),
            ..spec("heating-fast", "temperature")
        };
        let rules = rules(vec![rising]);
        let mut device = DeviceAlerts::default();
        rules.warm(&pump(), &mut device, &[reading("temperature", 0.0, 0)]);
        rules.warm(&pump(), &mut device, &[reading("temperature", 10.0, 1)]);
        assert!(device.open.is_empty());
        let decided = decided_values(&rules, &mut device, &[reading("temperature", 20.0, 2)]);
        assert_eq!(decided, [("raised".to_owned(), 10.0)]);
    }

    #[test]
    fn a_rule_may_watch_one_device() {
        let only_pump = RuleSpec {
            device: Some("pump-1".to_owned()),
            ..too_hot()
        };
        let rules = rules(vec![only_pump]);
        let hot = [reading("temperature", 50.0, 0)];
        assert_eq!(
            rules
                .evaluate(&pump(), &mut DeviceAlerts::default(), &hot)
                .len(),
            1
        );
        let other = DeviceId::parse("pump-2").unwrap();
        assert!(rules
            .evaluate(&other, &mut DeviceAlerts::default(), &hot)
            .is_empty());
    }

    #[test]
    fn a_silence_of_the_whole_device_counts_every_sensor() {
        let device_quiet = RuleSpec {
            sensor: None,
            ..quiet()
        };
        let rules = rules(vec![device_quiet]);
        let device = view(&[("temperature", 0), ("humidity", 50)], &[]);
        assert!(
            rules.silences(&device, at(100)).is_empty(),
            "humidity spoke 50 s ago"
        );
        let raised = rules.silences(&device, at(111));
        assert_eq!(raised.len(), 1);
        assert_eq!(
            raised[0].sensor.as_str(),
            "humidity",
            "named by the last to speak"
        );
        assert_eq!(raised[0].measured_at, at(50));
        let mut state = DeviceAlerts::default();
        state.open.insert(
            RuleName::parse("quiet").unwrap(),
            Opened {
                alert_id: Uuid::now_v7(),
                severity: Severity::Major,
            },
        );
        let cleared = rules.evaluate(&pump(), &mut state, &[reading("pressure", 1.0, 200)]);
        assert!(
            matches!(&cleared[..], [DeviceEvent::AlertCleared(_)]),
            "{cleared:?}"
        );
    }

    #[test]
    fn new_rule_kinds_are_checked_field_by_field() {
        let field = |spec: RuleSpec| AlertRules::from_specs(vec![spec]).unwrap_err().field;
        let rate = || RuleSpec {
            rate_above: Some(1.0),
            ..spec("r", "t")
        };
        assert_eq!(
            field(RuleSpec {
                window: Some(0.0),
                ..rate()
            }),
            "rule r.window"
        );
        assert_eq!(
            field(RuleSpec {
                alpha: Some(0.5),
                ..rate()
            }),
            "rule r.alpha"
        );
        assert_eq!(
            field(RuleSpec {
                sensor: None,
                ..rate()
            }),
            "rule r.sensor"
        );
        assert_eq!(
            field(RuleSpec {
                device: Some("a".to_owned()),
                kind: Some("b".to_owned()),
                ..rate()
            }),
            "rule r.device"
        );
        let anomaly = || RuleSpec {
            zscore_above: Some(3.0),
            ..spec("z", "t")
        };
        assert_eq!(
            field(RuleSpec {
                alpha: Some(1.0),
                ..anomaly()
            }),
            "rule z.alpha"
        );
        assert_eq!(
            field(RuleSpec {
                warm_up: Some(0),
                ..anomaly()
            }),
            "rule z.warm_up"
        );
        assert_eq!(
            field(RuleSpec {
                zscore_above: Some(-1.0),
                ..anomaly()
            }),
            "rule z.zscore_above"
        );
        assert_eq!(
            field(RuleSpec {
                model: None,
                ..model_rule()
            }),
            "rule failing.model"
        );
        assert_eq!(
            field(RuleSpec {
                inputs: Some(0),
                ..model_rule()
            }),
            "rule failing.inputs"
        );
        assert_eq!(
            field(RuleSpec {
                model: Some("%%".to_owned()),
                ..model_rule()
            }),
            "rule failing.model"
        );
        assert_eq!(
            field(RuleSpec {
                inputs: Some(2),
                ..too_hot()
            }),
            "rule too-hot.inputs"
        );
        assert!(AlertRules::from_specs(vec![rate(), anomaly(), model_rule()]).is_ok());
    }
}
