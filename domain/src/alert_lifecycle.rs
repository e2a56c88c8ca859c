//! One alert after it is raised, as operators act on it: active or cleared × unacknowledged or
//! acknowledged (the model ThingsBoard users know). Folded from the device's stream; deciding an
//! acknowledgement or a manual clear is pure, and asking twice decides nothing the second time.

use uuid::Uuid;

use crate::alert::Severity;
use crate::event::{AlertAcknowledged, AlertClearedManually, DeviceEvent};
use crate::ids::{Label, RuleName};

/// What an operator does to an alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlertAction {
    Acknowledge,
    Clear,
}

#[derive(Debug, Clone, PartialEq)]
pub struct AlertLifecycle {
    pub alert_id: Uuid,
    pub rule: RuleName,
    pub severity: Severity,
    pub active: bool,
    pub acknowledged: bool,
}

impl AlertLifecycle {
    /// The event types the fold reads.
    pub const EVENT_TYPES: &'static [&'static str] = &[
        "AlertRaised",
        "AlertCleared",
        "AlertAcknowledged",
        "AlertClearedManually",
        "AlertRetired",
        "DeviceDecommissioned",
    ];

    /// The alert `alert_id` (the event id of its `AlertRaised`) as a device's events, with their
    /// ids and in stream order, leave it; `None` when they never raised it.
    pub fn fold<'a>(
        alert_id: Uuid,
        events: impl IntoIterator<Item = (Uuid, &'a DeviceEvent)>,
    ) -> Option<Self> {
        let mut alert: Option<Self> = None;
        for (event_id, event) in events {
            match (event, alert.as_mut()) {
                (DeviceEvent::AlertRaised(raised), None) if event_id == alert_id => {
                    alert = Some(Self {
                        alert_id,
                        rule: raised.rule.clone(),
                        severity: raised.severity,
                        active: true,
                        acknowledged: false,
                    });
                }
                // A clear recorded before clears named their alert ends the open one of its rule.
                (DeviceEvent::AlertCleared(cleared), Some(a))
                    if cleared
                        .alert_id
                        .map_or(a.active && cleared.rule == a.rule, |id| id == alert_id) =>
                {
                    a.active = false;
                }
                (DeviceEvent::AlertClearedManually(cleared), Some(a))
                    if cleared.alert_id == alert_id =>
                {
                    a.active = false;
                }
                (DeviceEvent::AlertRetired(retired), Some(a)) if retired.alert_id == alert_id => {
                    a.active = false;
                }
                (DeviceEvent::AlertAcknowledged(ack), Some(a)) if ack.alert_id == alert_id => {
                    a.acknowledged = true;
                }
                (DeviceEvent::Decommissioned(_), Some(a)) => a.active = false,
                _ => {}
            }
        }
        alert
    }

    /// What `action` by `by` records: nothing when the alert is already where it would put it.
    pub fn decide(&self, action: AlertAction, by: Label, note: Option<Label>) -> Vec<DeviceEvent> {
        match action {
            AlertAction::Acknowledge if !self.acknowledged => {
                vec![DeviceEvent::AlertAcknowledged(AlertAcknowledged {
                    alert_id: self.alert_id,
                    rule: self.rule.clone(),
                    severity: self.severity,
                    by,
                    note,
                })]
            }
            AlertAction::Clear if self.active => {
                vec![DeviceEvent::AlertClearedManually(AlertClearedManually {
                    alert_id: self.alert_id,
                    rule: self.rule.clone(),
                    severity: self.severity,
                    by,
                    note,
                })]
            }
            AlertAction::Acknowledge | AlertAction::Clear => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::Utc;

    use super::*;
    use crate::event::{AlertCleared, AlertRaised, DeviceDecommissioned};
    use crate::{Condition, SensorName, Value};

    fn raised() -> DeviceEvent {
        DeviceEvent::AlertRaised(AlertRaised {
            rule: RuleName::parse("too-hot").unwrap(),
            sensor: SensorName::parse("temperature").unwrap(),
            condition: Condition::Above,
            threshold: 30.0,
            value: Value::try_from(35.0).unwrap(),
            unit: None,
            message: None,
            measured_at: Utc::now(),
            severity: Severity::Critical,
        })
    }

    fn cleared(alert_id: Option<Uuid>) -> DeviceEvent {
        DeviceEvent::AlertCleared(AlertCleared {
            rule: RuleName::parse("too-hot").unwrap(),
            sensor: SensorName::parse("temperature").unwrap(),
            alert_id,
            severity: Severity::Critical,
            value: Value::try_from(20.0).unwrap(),
            unit: None,
            measured_at: Utc::now(),
        })
    }

    fn ops() -> Label {
        Label::parse("ops").unwrap()
    }

    /// Folds `events`, applying each decision back as the store would.
    fn after(alert_id: Uuid, events: &[(Uuid, DeviceEvent)]) -> Option<AlertLifecycle> {
        AlertLifecycle::fold(alert_id, events.iter().map(|(id, e)| (*id, e)))
    }

    #[test]
    fn acknowledging_and_clearing_happen_once_each() {
        let id = Uuid::now_v7();
        let mut history = vec![(id, raised())];
        let alert = after(id, &history).unwrap();
        assert!(alert.active && !alert.acknowledged);
        assert_eq!(alert.severity, Severity::Critical);

        let ack = alert.decide(AlertAction::Acknowledge, ops(), None);
        assert_eq!(ack.len(), 1);
        history.extend(ack.into_iter().map(|e| (Uuid::now_v7(), e)));
        let alert = after(id, &history).unwrap();
        assert!(alert.acknowledged && alert.active);
        assert!(alert
            .decide(AlertAction::Acknowledge, ops(), None)
            .is_empty());

        let clear = alert.decide(
            AlertAction::Clear,
            ops(),
            Some(Label::parse("fixed").unwrap()),
        );
        let [DeviceEvent::AlertClearedManually(by_hand)] = &clear[..] else {
            panic!("expected a manual clear, got {clear:?}");
        };
        assert_eq!(by_hand.alert_id, id);
        assert_eq!(by_hand.note.as_ref().unwrap().as_str(), "fixed");
        history.extend(clear.into_iter().map(|e| (Uuid::now_v7(), e)));
        let alert = after(id, &history).unwrap();
        assert!(!alert.active);
        assert!(alert.decide(AlertAction::Clear, ops(), None).is_empty());
    }

    #[test]
    fn clears_by_the_rule_and_decommissions_end_an_alert_and_other_alerts_are_not_it() {
        let id = Uuid::now_v7();
        assert!(after(id, &[(Uuid::now_v7(), raised())]).is_none());
        for end in [
            cleared(Some(id)),
            cleared(None),
            DeviceEvent::Decommissioned(DeviceDecommissioned { reason: None }),
        ] {
            let alert = after(id, &[(id, raised()), (Uuid::now_v7(), end.clone())]).unwrap();
            assert!(!alert.active, "{end:?}");
            // A cleared alert can still be acknowledged.
            assert_eq!(alert.decide(AlertAction::Acknowledge, ops(), None).len(), 1);
        }
        let other = cleared(Some(Uuid::now_v7()));
        assert!(
            after(id, &[(id, raised()), (Uuid::now_v7(), other)])
                .unwrap()
                .active
        );
    }
}
