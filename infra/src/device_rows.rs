//! Turning the device-registry join (one row per device and sensor) and the open alerts into device
//! views, shared by the SQL read models: each reads its own rows into [`DeviceRow`]s and
//! [`AlertRow`]s, this does the rest.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use watershed_domain::ports::ReadModelError;
use watershed_domain::read_model::{DeviceView, OpenAlert, SensorLatest};
use watershed_domain::{Condition, DeviceId, Label, RuleName, SensorName, Tag, Unit};

/// One row of `devices LEFT JOIN series LEFT JOIN latest`, ordered by device then sensor.
pub(crate) struct DeviceRow {
    pub device_id: String,
    pub name: Option<String>,
    pub kind: Option<String>,
    pub location: Option<String>,
    pub registered_at: DateTime<Utc>,
    pub decommissioned_at: Option<DateTime<Utc>>,
    pub disabled_at: Option<DateTime<Utc>>,
    /// Separated by single spaces.
    pub tags: String,
    pub sensor: Option<String>,
    pub value: Option<f64>,
    pub unit: Option<String>,
    pub measured_at: Option<DateTime<Utc>>,
}

/// One row of `open_alerts`, ordered by device then raised-at.
pub(crate) struct AlertRow {
    pub device_id: String,
    pub rule: String,
    pub sensor: String,
    pub condition: String,
    pub threshold: f64,
    pub value: f64,
    pub unit: Option<String>,
    pub message: Option<String>,
    pub raised_at: DateTime<Utc>,
}

/// Reads every row with `read`; a row that does not fit is reported as unreadable `what`.
pub(crate) fn read_rows<R, T>(
    rows: &[R],
    read: fn(&R) -> Result<T, sqlx::Error>,
    what: &str,
) -> Result<Vec<T>, ReadModelError> {
    rows.iter()
        .map(read)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| unreadable(what, e))
}

pub(crate) fn unreadable(what: &str, e: impl std::fmt::Display) -> ReadModelError {
    ReadModelError::Unavailable(format!("unreadable {what} in the read model: {e}"))
}

fn label(what: &str, text: Option<String>) -> Result<Option<Label>, ReadModelError> {
    text.map(Label::parse)
        .transpose()
        .map_err(|e| unreadable(what, e))
}

pub(crate) fn parse_device_id(id: String) -> Result<DeviceId, ReadModelError> {
    DeviceId::parse(id).map_err(|e| unreadable("device id", e))
}

pub(crate) fn parse_unit(unit: Option<String>) -> Result<Option<Unit>, ReadModelError> {
    unit.map(Unit::parse)
        .transpose()
        .map_err(|e| unreadable("unit", e))
}

/// Groups rows (sorted by device id, then sensor) into views; sensors without a value yet are left
/// out.
pub(crate) fn assemble(
    rows: impl IntoIterator<Item = DeviceRow>,
) -> Result<Vec<DeviceView>, ReadModelError> {
    let mut views: Vec<DeviceView> = Vec::new();
    for row in rows {
        let id = parse_device_id(row.device_id)?;
        if views.last().is_none_or(|v| v.device_id != id) {
            views.push(DeviceView {
                device_id: id,
                name: label("name", row.name)?,
                kind: label("kind", row.kind)?,
                location: label("location", row.location)?,
                registered_at: row.registered_at,
                decommissioned_at: row.decommissioned_at,
                disabled_at: row.disabled_at,
                tags: row
                    .tags
                    .split_whitespace()
                    .map(Tag::parse)
                    .collect::<Result<_, _>>()
                    .map_err(|e| unreadable("tag", e))?,
                sensors: Vec::new(),
                alerts: Vec::new(),
            });
        }
        if let (Some(sensor), Some(value), Some(measured_at)) =
            (row.sensor, row.value, row.measured_at)
        {
            views
                .last_mut()
                .expect("a view was pushed for this row")
                .sensors
                .push(SensorLatest {
                    sensor: SensorName::parse(sensor).map_err(|e| unreadable("sensor", e))?,
                    value,
                    unit: parse_unit(row.unit)?,
                    measured_at,
                });
        }
    }
    Ok(views)
}

/// Adds open alerts to the views they belong to; alerts of devices not among the views are left out.
pub(crate) fn attach_alerts(
    views: &mut [DeviceView],
    rows: Vec<AlertRow>,
) -> Result<(), ReadModelError> {
    // Most calls find no open alert: skip indexing every view for nothing.
    if rows.is_empty() {
        return Ok(());
    }
    // By index, not by binary search: the database's collation need not sort ids as Rust does.
    let index: HashMap<DeviceId, usize> = views
        .iter()
        .enumerate()
        .map(|(i, v)| (v.device_id.clone(), i))
        .collect();
    for row in rows {
        let id = parse_device_id(row.device_id)?;
        let Some(&at) = index.get(&id) else {
            continue;
        };
        views[at].alerts.push(OpenAlert {
            rule: RuleName::parse(row.rule).map_err(|e| unreadable("alert rule", e))?,
            sensor: SensorName::parse(row.sensor).map_err(|e| unreadable("alert sensor", e))?,
            condition: Condition::from_name(&row.condition)
                .ok_or_else(|| unreadable("alert condition", row.condition))?,
            threshold: row.threshold,
            value: row.value,
            unit: parse_unit(row.unit)?,
            message: label("alert message", row.message)?,
            raised_at: row.raised_at,
        });
    }
    Ok(())
}
