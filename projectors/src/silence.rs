//! The silence watch: silence (deadman) rules need time, not events, so this looks at the fleet
//! on a timer — the newest reading of every device's sensors, as the read models hold them — and
//! raises an alert for each sensor quiet for longer than a rule allows. The alert evaluator ends
//! it when the next reading comes.
//!
//! The decision takes the instant as an input and the raise records it (the event's `recorded_at`,
//! and the seconds of silence in its `value`). Its key names the silence by the reading that came
//! last, `alert:<rule>:silent-since:<measured_at>`: every tick, every restart and every instance
//! (one per projector pod) that sees the same silence decides the same event, and the store keeps
//! one. A replay of history reads the stored alerts; it does not decide them again.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;
use watershed_domain::event::EventMeta;
use watershed_domain::ports::{EventStore, ReadModel};
use watershed_domain::{AlertRules, DeviceEvent, IdempotencyKey};

use crate::alerts::append_decision;

pub struct SilenceWatch {
    pub read_model: Arc<dyn ReadModel>,
    pub store: Arc<dyn EventStore>,
    pub rules: Arc<AlertRules>,
    /// How often the fleet is looked at: a silence is raised at most this long after its rule
    /// allows (plus the projection lag of the last reading).
    pub every: Duration,
}

impl SilenceWatch {
    /// Runs until cancelled; a store or read model that is down only delays the next look.
    pub async fn run(self, shutdown: CancellationToken) {
        if !self.rules.has_silences() {
            return;
        }
        let mut ticks = tokio::time::interval(self.every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = ticks.tick() => {}
            }
            if let Err(e) = self.look().await {
                tracing::warn!(error = %e, "looking for silent sensors failed; trying again");
            }
        }
    }

    /// One look at the fleet: raises every silence it finds.
    async fn look(&self) -> Result<(), String> {
        let now = Utc::now();
        let devices = self.read_model.devices().await.map_err(|e| e.to_string())?;
        for view in &devices {
            for silence in self.rules.silences(view, now) {
                let key = IdempotencyKey::internal(format!(
                    "alert:{}:silent-since:{}",
                    silence.rule,
                    silence.measured_at.timestamp_micros()
                ));
                let meta = EventMeta {
                    event_id: Uuid::now_v7(),
                    occurred_at: silence.measured_at,
                    recorded_at: now,
                    correlation_id: None,
                    causation_id: None,
                };
                let rule = silence.rule.clone();
                let (_, new) = append_decision(
                    &*self.store,
                    &view.device_id,
                    meta,
                    &DeviceEvent::AlertRaised(silence),
                    key,
                )
                .await
                .map_err(|e| e.to_string())?;
                // Until the read models show it open, later looks decide it again, and the store
                // answers with the one it keeps.
                if new {
                    tracing::info!(device = %view.device_id, %rule, "silence alert");
                    metrics::counter!("watershed_alert_decisions_total", "event" => "AlertRaised")
                        .increment(1);
                }
            }
        }
        Ok(())
    }
}
