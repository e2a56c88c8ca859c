//! The fleet as it stood at an instant, folded from the event history rather than read from the
//! read models (which hold only the present): what `?as_of=` answers. The fold keeps the read
//! models' rules: a sensor's latest value is its newest-measured reading (the later event wins a
//! tie), a raised alert replaces an open one of the same rule, and a decommission closes every
//! open alert.

use std::collections::BTreeMap;

use crate::event::{DecodeError, DeviceEvent, RecordedEvent};
use crate::ids::DeviceId;
use crate::read_model::{DeviceView, OpenAlert, SensorLatest};

#[derive(Debug, Default)]
pub struct FleetFold {
    devices: BTreeMap<DeviceId, DeviceView>,
}

impl FleetFold {
    /// Applies one event; events of a device must come in stream order.
    pub fn apply(&mut self, event: &RecordedEvent) -> Result<(), DecodeError> {
        let decoded = event.decode()?;
        let at = event.meta.recorded_at;
        if let DeviceEvent::Registered(r) = decoded {
            self.devices.insert(
                event.stream_id.clone(),
                DeviceView {
                    device_id: event.stream_id.clone(),
                    name: r.name,
                    kind: r.kind,
                    location: r.location,
                    registered_at: at,
                    decommissioned_at: None,
                    disabled_at: None,
                    tags: Vec::new(),
                    sensors: Vec::new(),
                    alerts: Vec::new(),
                },
            );
            return Ok(());
        }
        // Only registered devices have views; nothing else can come first in a stream.
        let Some(view) = self.devices.get_mut(&event.stream_id) else {
            return Ok(());
        };
        match decoded {
            DeviceEvent::Registered(_)
            | DeviceEvent::KeyRotated(_)
            | DeviceEvent::SensorsAdded(_)
            | DeviceEvent::LimitsChanged(_)
            | DeviceEvent::AlertRuleDefined(_)
            | DeviceEvent::AlertRuleDeleted(_) => {}
            DeviceEvent::ReadingsRecorded(batch) => {
                for reading in batch.readings {
                    let latest = SensorLatest {
                        sensor: reading.sensor,
                        value: reading.value.get(),
                        unit: reading.unit,
                        measured_at: reading.measured_at,
                    };
                    match view
                        .sensors
                        .binary_search_by(|s| s.sensor.as_str().cmp(latest.sensor.as_str()))
                    {
                        Ok(i) if latest.measured_at >= view.sensors[i].measured_at => {
                            view.sensors[i] = latest;
                        }
                        Ok(_) => {}
                        Err(i) => view.sensors.insert(i, latest),
                    }
                }
            }
            DeviceEvent::AlertRaised(a) => {
                view.alerts.retain(|open| open.rule != a.rule);
                view.alerts.push(OpenAlert::raised(a, at));
            }
            DeviceEvent::AlertCleared(a) => view.alerts.retain(|open| open.rule != a.rule),
            DeviceEvent::AlertClearedManually(a) => view.alerts.retain(|open| open.rule != a.rule),
            DeviceEvent::AlertRetired(a) => view.alerts.retain(|open| open.rule != a.rule),
            DeviceEvent::AlertAcknowledged(_) => {}
            DeviceEvent::Decommissioned(_) => {
                view.decommissioned_at = Some(at);
                view.alerts.clear();
            }
            profile @ (DeviceEvent::Renamed(_)
            | DeviceEvent::Moved(_)
            | DeviceEvent::Retagged(_)
            | DeviceEvent::Disabled(_)
            | DeviceEvent::Enabled(_)) => view.change_by(&profile, at),
        }
        Ok(())
    }

    /// Every registered device, by id.
    pub fn into_views(self) -> Vec<DeviceView> {
        self.devices.into_values().collect()
    }

    pub fn into_view(mut self, device: &DeviceId) -> Option<DeviceView> {
        self.devices.remove(device)
    }
}
