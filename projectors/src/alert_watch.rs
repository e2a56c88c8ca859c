//! The alert watch: what needs time or the rules, not readings. On a timer it looks at the fleet
//! as the read models hold it and
//!
//! - raises a silence (deadman) alert for each sensor, or device, quiet for longer than a rule
//!   allows; the alert evaluator ends it when the next reading comes;
//! - retires every active alert whose rule is gone (deleted, or never in the rules stream).
//!
//! A silence decision takes the instant as an input and the raise records it (the event's
//! `recorded_at`, and the seconds of silence in its `value`). Its key names the silence by the
//! reading that came last, `alert:<rule>:silent-since:<measured_at>`, and a retirement by its
//! alert, `alert:<rule>:retired:<alert id>`: every tick, every restart and every instance (one
//! per projector pod) that sees the same thing decides the same event, and the store keeps one.
//! Each is checked against the device's stream before it is appended ([`decide_on_stream`]). A
//! replay of history reads the stored alerts; it does not decide them again.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;
use watershed_domain::event::EventMeta;
use watershed_domain::ports::{EventStore, ReadModel};
use watershed_domain::read_model::AlertQuery;
use watershed_domain::{
    AlertRetired, AlertRules, DeviceEvent, DeviceId, IdempotencyKey, RetireReason,
};

use crate::alerts::{decide_on_stream, load_alerts};
use crate::rules::RulesHandle;

/// The most active alerts one look reads to find orphans.
const MAX_ACTIVE_ALERTS: usize = 10_000;

pub struct AlertWatch {
    pub read_model: Arc<dyn ReadModel>,
    pub store: Arc<dyn EventStore>,
    pub rules: RulesHandle,
    /// How often the fleet is looked at: a silence is raised at most this long after its rule
    /// allows (plus the projection lag of the last reading).
    pub every: Duration,
}

impl AlertWatch {
    /// Runs until cancelled; a store or read model that is down only delays the next look.
    pub async fn run(self, shutdown: CancellationToken) {
        let mut ticks = tokio::time::interval(self.every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = ticks.tick() => {}
            }
            // Until the rules are loaded, every alert would look orphaned.
            let Some(rules) = self.rules.current() else {
                continue;
            };
            if let Err(e) = self.look(&rules).await {
                tracing::warn!(error = %e, "looking over the alerts failed; trying again");
            }
        }
    }

    /// One look at the fleet.
    async fn look(&self, rules: &AlertRules) -> Result<(), String> {
        let now = Utc::now();
        if rules.has_silences() {
            let devices = self.read_model.devices().await.map_err(|e| e.to_string())?;
            for view in &devices {
                for silence in rules.silences(view, now) {
                    let key = IdempotencyKey::internal(format!(
                        "alert:{}:silent-since:{}",
                        silence.rule,
                        silence.measured_at.timestamp_micros()
                    ));
                    let occurred_at = silence.measured_at;
                    self.decide(
                        &view.device_id,
                        now,
                        occurred_at,
                        DeviceEvent::AlertRaised(silence),
                        key,
                    )
                    .await?;
                }
            }
        }
        let active = AlertQuery {
            active: Some(true),
            limit: MAX_ACTIVE_ALERTS,
            ..AlertQuery::default()
        };
        let alerts = self
            .read_model
            .alerts(&active)
            .await
            .map_err(|e| e.to_string())?;
        for orphan in alerts
            .into_iter()
            .filter(|a| rules.get(&a.alert.rule).is_none())
        {
            let key = IdempotencyKey::internal(format!(
                "alert:{}:retired:{}",
                orphan.alert.rule, orphan.alert_id
            ));
            let retired = DeviceEvent::AlertRetired(AlertRetired {
                alert_id: orphan.alert_id,
                rule: orphan.alert.rule,
                severity: orphan.severity,
                reason: RetireReason::RuleDeleted,
            });
            self.decide(&orphan.device_id, now, now, retired, key)
                .await?;
        }
        Ok(())
    }

    /// Appends `change` to the device's stream if the stream still admits it. Until the read
    /// models show it, later looks decide it again, and the store answers with the one it keeps.
    async fn decide(
        &self,
        device: &DeviceId,
        now: DateTime<Utc>,
        occurred_at: DateTime<Utc>,
        change: DeviceEvent,
        key: IdempotencyKey,
    ) -> Result<(), String> {
        let meta = EventMeta {
            event_id: Uuid::now_v7(),
            occurred_at,
            recorded_at: now,
            correlation_id: None,
            causation_id: None,
        };
        let store = &*self.store;
        let mut state = load_alerts(store, device)
            .await
            .map_err(|e| e.to_string())?;
        let stored = decide_on_stream(store, device, &mut state, &meta, &change, &key)
            .await
            .map_err(|e| e.to_string())?;
        if stored.is_some() {
            tracing::info!(%device, event = change.event_type(), "alert decided by the watch");
            metrics::counter!("watershed_alert_decisions_total", "event" => change.event_type())
                .increment(1);
        }
        Ok(())
    }
}
