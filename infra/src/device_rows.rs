//! Turning the device-registry join (one row per device and sensor) into device views, shared by
//! the SQL read models: each reads its own row type into a [`DeviceRow`], this does the rest.

use chrono::{DateTime, Utc};
use watershed_domain::ports::ReadModelError;
use watershed_domain::read_model::{DeviceView, SensorLatest};
use watershed_domain::{DeviceId, Label, SensorName, Unit};

/// One row of `devices LEFT JOIN series LEFT JOIN latest`, ordered by device then sensor.
pub(crate) struct DeviceRow {
    pub device_id: String,
    pub name: Option<String>,
    pub kind: Option<String>,
    pub location: Option<String>,
    pub registered_at: DateTime<Utc>,
    pub decommissioned_at: Option<DateTime<Utc>>,
    pub sensor: Option<String>,
    pub value: Option<f64>,
    pub unit: Option<String>,
    pub measured_at: Option<DateTime<Utc>>,
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
                sensors: Vec::new(),
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
