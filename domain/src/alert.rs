//! Alert rules and what readings do to them. A rule watches one sensor of every device (or of one
//! kind of device) against a threshold: the newest reading of that sensor in a batch raises the
//! alert when it is past the threshold and clears it once it is back past the clear level. All
//! pure: the alert evaluator in `projectors` feeds it batches in stream order and appends what it
//! decides to the device's stream.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::event::{AlertCleared, AlertRaised, DeviceEvent};
use crate::ids::{Label, RuleName, SensorName, Unit};
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
}

impl Condition {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Above => "above",
            Self::Below => "below",
            Self::Silent => "silent",
        }
    }

    /// The inverse of [`Condition::as_str`].
    pub fn from_name(name: &str) -> Option<Self> {
        [Self::Above, Self::Below, Self::Silent]
            .into_iter()
            .find(|c| c.as_str() == name)
    }

    /// Whether `value` is strictly past `level` in this condition's direction (for silence,
    /// `value` is the seconds without a reading).
    fn past(self, value: f64, level: f64) -> bool {
        match self {
            Self::Above | Self::Silent => value > level,
            Self::Below => value < level,
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

/// The longest silence a rule may wait for: a week.
const MAX_SILENCE_SECS: f64 = 7.0 * 86_400.0;

/// A rule as operators write it: one `[[rule]]` table of the rules file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSpec {
    pub name: String,
    pub sensor: String,
    pub above: Option<f64>,
    pub below: Option<f64>,
    /// Seconds without a reading of the sensor after which the alert is raised; the next reading
    /// clears it.
    pub silent_for: Option<f64>,
    /// Where a raised alert clears; the threshold when absent.
    pub clear_at: Option<f64>,
    /// Only devices registered with this kind; every device when absent.
    pub kind: Option<String>,
    pub message: Option<String>,
    /// Major when absent.
    pub severity: Option<Severity>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct AlertRule {
    pub name: RuleName,
    pub sensor: SensorName,
    pub condition: Condition,
    pub threshold: f64,
    /// Short of the threshold (below an `above` one, above a `below` one), so that a value hovering
    /// at the threshold does not raise and clear the alert on every batch.
    pub clear_at: f64,
    pub kind: Option<Label>,
    pub message: Option<Label>,
    pub severity: Severity,
}

impl AlertRule {
    fn applies_to(&self, kind: Option<&Label>) -> bool {
        self.kind.as_ref().is_none_or(|k| Some(k) == kind)
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
        let (condition, threshold) = match (spec.above, spec.below, spec.silent_for) {
            (Some(level), None, None) => (Condition::Above, level),
            (None, Some(level), None) => (Condition::Below, level),
            (None, None, Some(_)) if spec.clear_at.is_some() => {
                return Err(within(ValidationError::new(
                    "clear_at",
                    "a silence clears with the next reading; it takes no clear level",
                )));
            }
            (None, None, Some(seconds)) if !(1.0..=MAX_SILENCE_SECS).contains(&seconds) => {
                return Err(within(ValidationError::new(
                    "silent_for",
                    format!("must be 1 to {MAX_SILENCE_SECS} seconds"),
                )));
            }
            (None, None, Some(seconds)) => (Condition::Silent, seconds),
            _ => {
                return Err(within(ValidationError::new(
                    "",
                    "needs exactly one of `above`, `below` and `silent_for`",
                )))
            }
        };
        let clear_at = spec.clear_at.unwrap_or(threshold);
        if !threshold.is_finite() || !clear_at.is_finite() {
            return Err(within(ValidationError::new(
                "",
                "thresholds must be finite numbers",
            )));
        }
        if condition.past(clear_at, threshold) {
            return Err(within(ValidationError::new(
                "clear_at",
                format!(
                    "must not be {} the threshold {threshold}, or the alert would never clear",
                    condition.as_str()
                ),
            )));
        }
        Ok(Self {
            sensor: SensorName::parse(spec.sensor).map_err(within)?,
            condition,
            threshold,
            clear_at,
            kind: spec.kind.map(Label::parse).transpose().map_err(within)?,
            message: spec.message.map(Label::parse).transpose().map_err(within)?,
            severity: spec.severity.unwrap_or_default(),
            name,
        })
    }
}

/// What the alert evaluator knows of one device, folded from its stream.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DeviceAlerts {
    pub kind: Option<Label>,
    pub decommissioned: bool,
    /// The rules whose alert is open, with the alert's id (the event id of its `AlertRaised`).
    pub open: BTreeMap<RuleName, Uuid>,
}

impl DeviceAlerts {
    /// The event types this state is folded from.
    pub const EVENT_TYPES: &'static [&'static str] = &[
        "DeviceRegistered",
        "AlertRaised",
        "AlertCleared",
        "AlertClearedManually",
        "DeviceDecommissioned",
    ];

    /// Folds in `event`, stored under `event_id`.
    pub fn evolve(&mut self, event: &DeviceEvent, event_id: Uuid) {
        match event {
            DeviceEvent::Registered(e) => self.kind.clone_from(&e.kind),
            DeviceEvent::AlertRaised(e) => {
                self.open.insert(e.rule.clone(), event_id);
            }
            DeviceEvent::AlertCleared(e) => {
                self.open.remove(&e.rule);
            }
            DeviceEvent::AlertClearedManually(e) => {
                if self.open.get(&e.rule) == Some(&e.alert_id) {
                    self.open.remove(&e.rule);
                }
            }
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
            | DeviceEvent::LimitsChanged(_) => {}
        }
    }
}

/// The rules in force, with unique names.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AlertRules {
    rules: Vec<AlertRule>,
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
        Ok(Self { rules })
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

    /// Whether some rule is raised by silence, which only a clock can tell.
    pub fn has_silences(&self) -> bool {
        self.rules.iter().any(|r| r.condition == Condition::Silent)
    }

    /// Whether some rule watches a sensor of these readings: only then does the evaluator need the
    /// device's alert state.
    pub fn watch_any(&self, readings: &[Reading]) -> bool {
        readings
            .iter()
            .any(|reading| self.rules.iter().any(|rule| rule.sensor == reading.sensor))
    }

    /// What one batch of readings does to a device's alerts, in rule order: for every rule that
    /// applies to the device, the newest reading of its sensor in the batch decides.
    pub fn evaluate(&self, device: &DeviceAlerts, readings: &[Reading]) -> Vec<DeviceEvent> {
        if device.decommissioned {
            return Vec::new();
        }
        let mut changes = Vec::new();
        for rule in self
            .rules
            .iter()
            .filter(|r| r.applies_to(device.kind.as_ref()))
        {
            // The last of equal timestamps wins, as it does for the latest values.
            let Some(newest) = readings
                .iter()
                .filter(|r| r.sensor == rule.sensor)
                .max_by_key(|r| r.measured_at)
            else {
                continue;
            };
            let value = newest.value.get();
            let open = device.open.get(&rule.name);
            // A silence is raised by the clock (`silences`), and any reading ends it.
            let (raises, clears) = match rule.condition {
                Condition::Silent => (false, true),
                Condition::Above | Condition::Below => {
                    (rule.raised_by(value), rule.cleared_by(value))
                }
            };
            if open.is_none() && raises {
                changes.push(DeviceEvent::AlertRaised(AlertRaised {
                    rule: rule.name.clone(),
                    sensor: rule.sensor.clone(),
                    condition: rule.condition,
                    threshold: rule.threshold,
                    value: newest.value,
                    unit: newest.unit.clone(),
                    message: rule.message.clone(),
                    measured_at: newest.measured_at,
                    severity: rule.severity,
                }));
            } else if open.is_some() && clears {
                changes.push(DeviceEvent::AlertCleared(AlertCleared {
                    rule: rule.name.clone(),
                    sensor: rule.sensor.clone(),
                    alert_id: open.copied(),
                    severity: rule.severity,
                    value: newest.value,
                    unit: newest.unit.clone(),
                    measured_at: newest.measured_at,
                }));
            }
        }
        changes
    }

    /// The silences `view` shows at `now`: for every silence rule that applies to the device and
    /// has no open alert, a sensor whose newest reading is older than the rule allows. The raise
    /// names that reading's `measured_at`, which identifies the silence: deciding again at a later
    /// `now` raises the same silence, not a second one. A disabled device is silent on purpose.
    pub fn silences(&self, view: &DeviceView, now: DateTime<Utc>) -> Vec<AlertRaised> {
        if view.decommissioned_at.is_some() || view.disabled_at.is_some() {
            return Vec::new();
        }
        let silent_seconds = Unit::parse("s").expect("a valid unit");
        self.rules
            .iter()
            .filter(|rule| rule.condition == Condition::Silent)
            .filter(|rule| rule.applies_to(view.kind.as_ref()))
            .filter(|rule| !view.alerts.iter().any(|open| open.rule == rule.name))
            .filter_map(|rule| {
                let latest = view.sensors.iter().find(|s| s.sensor == rule.sensor)?;
                let silent = (now - latest.measured_at).as_seconds_f64();
                rule.raised_by(silent).then(|| AlertRaised {
                    rule: rule.name.clone(),
                    sensor: rule.sensor.clone(),
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
            sensor: sensor.to_owned(),
            above: None,
            below: None,
            silent_for: None,
            clear_at: None,
            kind: None,
            message: None,
            severity: None,
        }
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
                let changes = rules.evaluate(device, batch);
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
            only(rules.evaluate(&device, &[reading("temperature", 40.0, 0)]))
        else {
            panic!("expected a raise");
        };
        assert_eq!(raised.severity, Severity::Critical);
        let raised_id = Uuid::now_v7();
        device.evolve(&DeviceEvent::AlertRaised(raised), raised_id);
        let DeviceEvent::AlertCleared(cleared) =
            only(rules.evaluate(&device, &[reading("temperature", 20.0, 1)]))
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
        assert!(rules.evaluate(&DeviceAlerts::default(), &batch).is_empty());
        let batch = vec![
            reading("temperature", 40.0, 10),
            reading("temperature", 20.0, 5),
        ];
        let raised = rules.evaluate(&DeviceAlerts::default(), &batch);
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
        let pump = DeviceAlerts {
            kind: Some(Label::parse("pump").unwrap()),
            ..DeviceAlerts::default()
        };
        let tracker = DeviceAlerts {
            kind: Some(Label::parse("tracker").unwrap()),
            ..DeviceAlerts::default()
        };
        let types = |d: &DeviceAlerts| {
            rules
                .evaluate(d, &batch)
                .iter()
                .map(|e| match e {
                    DeviceEvent::AlertRaised(r) => r.rule.to_string(),
                    other => panic!("unexpected {other:?}"),
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(types(&pump), ["too-hot"]);
        assert_eq!(types(&tracker), ["low-battery", "too-hot"]);
    }

    #[test]
    fn a_decommissioned_device_raises_nothing() {
        let rules = rules(vec![too_hot()]);
        let device = DeviceAlerts {
            decommissioned: true,
            ..DeviceAlerts::default()
        };
        assert!(rules
            .evaluate(&device, &[reading("temperature", 99.0, 0)])
            .is_empty());
    }

    fn view(sensors: &[(&str, i64)], open: &[&str]) -> DeviceView {
        DeviceView {
            device_id: crate::DeviceId::parse("pump-1").unwrap(),
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
            .evaluate(&state, &[reading("temperature", 20.0, 80)])
            .is_empty());
        state
            .open
            .insert(RuleName::parse("quiet").unwrap(), Uuid::now_v7());
        let cleared = rules.evaluate(&state, &[reading("temperature", 20.0, 80)]);
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
            sensor: "no spaces".to_owned(),
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
}
