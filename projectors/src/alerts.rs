//! The alert evaluator: a bus consumer with its own group, so alerts never wait for the read
//! models, that runs every batch of readings through the alert rules and appends what they decide
//! (`AlertRaised`, `AlertCleared`) to the device's stream. From there alerts travel like any
//! event: the projectors show them and live clients hear of them.
//!
//! Redelivery decides the same again and changes nothing: a decision is appended under the key
//! `alert:<rule>:<sequence of the readings event>`, so the store answers a repeat with the event it
//! already holds. A device's open alerts are loaded from its stream when it is first seen, and kept
//! in memory after that, since only this evaluator raises or clears them.

use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::sync::Arc;

use chrono::Utc;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;
use watershed_domain::event::{EventMeta, ExpectedVersion};
use watershed_domain::ports::{BusError, EventBus, EventStore, StoreError, StreamQuery};
use watershed_domain::{
    AlertRules, AppendOutcome, Condition, DecodeError, DeviceAlerts, DeviceEvent, DeviceId,
    IdempotencyKey, NewEvent, RecordedEvent,
};

use crate::retry::{retrying, Consumer, Failure, RetryPolicy};

/// How often an alert append is tried against a stream that ingest keeps moving, before the
/// evaluator backs off and tries again later.
const MAX_APPEND_ATTEMPTS: usize = 16;

#[derive(Debug, Clone)]
pub struct AlertConfig {
    /// Consumer group name on the bus.
    pub group: String,
    /// Events per bus read.
    pub batch_size: usize,
    pub retry: RetryPolicy,
}

impl AlertConfig {
    /// The evaluator's group beside a projector group: each set of read models has its own.
    pub fn for_projector_group(group: &str) -> Self {
        Self {
            group: format!("{group}-alerts"),
            batch_size: 500,
            retry: RetryPolicy::default(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AlertError {
    #[error(transparent)]
    Bus(#[from] BusError),
    #[error("event {stream_seq} of {stream}: {source}")]
    Undecodable {
        stream: DeviceId,
        stream_seq: u64,
        source: DecodeError,
    },
}

pub struct AlertEvaluator {
    pub bus: Arc<dyn EventBus>,
    pub store: Arc<dyn EventStore>,
    pub rules: Arc<AlertRules>,
    pub config: AlertConfig,
}

impl AlertEvaluator {
    /// Runs until cancelled. A bus or store that is down only delays alerts; an event this version
    /// cannot read stops the evaluator with the error.
    pub async fn run(self, shutdown: CancellationToken) -> Result<(), AlertError> {
        Failure::outcome(self.evaluate_all(&shutdown).await)
    }

    async fn evaluate_all(
        &self,
        shutdown: &CancellationToken,
    ) -> Result<std::convert::Infallible, Failure<AlertError>> {
        let config = &self.config;
        let mut consumer = Consumer::subscribe(
            &*self.bus,
            &config.group,
            config.batch_size,
            config.retry,
            shutdown,
        )
        .await?;
        let mut devices = HashMap::new();
        loop {
            for event in &consumer.next(shutdown).await? {
                self.evaluate(event, &mut devices, shutdown).await?;
            }
            // Deciding a batch again appends nothing: each decision is stored under its own key.
            consumer.commit().await;
        }
    }

    async fn evaluate(
        &self,
        event: &RecordedEvent,
        devices: &mut HashMap<DeviceId, DeviceAlerts>,
        shutdown: &CancellationToken,
    ) -> Result<(), Failure<AlertError>> {
        let id = &event.stream_id;
        match event.event_type.as_str() {
            "ReadingsRecorded" => {}
            // Someone else changed the device's alerts (a decommission, a clear by hand, a
            // silence the clock raised): a device the evaluator holds in memory follows, one it
            // does not is loaded fresh when needed. Its own decisions it folded in when it made
            // them; folding them again here, behind later ones, would undo those.
            "DeviceDecommissioned" | "AlertClearedManually" | "AlertRaised" => {
                if let Some(device) = devices.get_mut(id) {
                    let decoded = Self::decoded(event)?;
                    let by_the_clock = matches!(&decoded,
                        DeviceEvent::AlertRaised(raised) if raised.condition == Condition::Silent);
                    if by_the_clock || !matches!(decoded, DeviceEvent::AlertRaised(_)) {
                        device.evolve(&decoded, event.meta.event_id);
                    }
                }
                return Ok(());
            }
            _ => return Ok(()),
        }
        let DeviceEvent::ReadingsRecorded(recorded) = Self::decoded(event)? else {
            unreachable!("a ReadingsRecorded event decodes as readings");
        };
        if !self.rules.watch_any(&recorded.readings) {
            return Ok(());
        }
        metrics::counter!("watershed_alert_evaluations_total").increment(1);
        let device = match devices.entry(id.clone()) {
            Entry::Occupied(known) => known.into_mut(),
            Entry::Vacant(new) => {
                let loaded = retrying(self.config.retry, shutdown, "loading alert state", || {
                    self.load(id)
                })
                .await?;
                new.insert(loaded)
            }
        };
        for change in self.rules.evaluate(device, &recorded.readings) {
            let stored = retrying(self.config.retry, shutdown, "appending an alert", || {
                self.append(event, &change)
            })
            .await?;
            tracing::info!(device = %id, event = change.event_type(), "alert");
            metrics::counter!("watershed_alert_decisions_total", "event" => change.event_type())
                .increment(1);
            device.evolve(&change, stored);
        }
        Ok(())
    }

    fn decoded(event: &RecordedEvent) -> Result<DeviceEvent, Failure<AlertError>> {
        event.decode().map_err(|source| {
            Failure::Failed(AlertError::Undecodable {
                stream: event.stream_id.clone(),
                stream_seq: event.stream_seq,
                source,
            })
        })
    }

    /// A device's alert state as its stream holds it now.
    async fn load(&self, id: &DeviceId) -> Result<DeviceAlerts, StoreError> {
        let query = StreamQuery {
            from_seq: 1,
            limit: usize::MAX,
            only_types: Some(DeviceAlerts::EVENT_TYPES),
        };
        let mut device = DeviceAlerts::default();
        for event in self.store.read_stream(id, query).await? {
            let decoded = event
                .decode()
                .map_err(|e| StoreError::Corrupt(e.to_string()))?;
            device.evolve(&decoded, event.meta.event_id);
        }
        Ok(device)
    }

    /// Appends one decision caused by `cause`. Answers with the id of the stored decision (an
    /// earlier one's, on redelivery).
    async fn append(
        &self,
        cause: &RecordedEvent,
        change: &DeviceEvent,
    ) -> Result<Uuid, StoreError> {
        let rule = match change {
            DeviceEvent::AlertRaised(a) => &a.rule,
            DeviceEvent::AlertCleared(a) => &a.rule,
            other => unreachable!("alert rules decide only alert events, not {other:?}"),
        };
        let key = IdempotencyKey::internal(format!("alert:{rule}:{}", cause.stream_seq));
        let meta = EventMeta {
            event_id: Uuid::now_v7(),
            occurred_at: cause.meta.occurred_at,
            recorded_at: Utc::now(),
            correlation_id: cause.meta.correlation_id,
            causation_id: Some(cause.meta.event_id),
        };
        let (stored, _) =
            append_decision(&*self.store, &cause.stream_id, meta, change, key).await?;
        Ok(stored)
    }
}

/// Appends an alert decision under `key` at whatever version the stream has reached: ingest keeps
/// appending readings meanwhile, and the decision does not depend on them. A key already stored
/// is this decision made before (a redelivery, a restart, another instance). Answers with the
/// stored event's id, and whether this call stored it.
pub(crate) async fn append_decision(
    store: &dyn EventStore,
    id: &DeviceId,
    meta: EventMeta,
    change: &DeviceEvent,
    key: IdempotencyKey,
) -> Result<(Uuid, bool), StoreError> {
    for _ in 0..MAX_APPEND_ATTEMPTS {
        let version = store.stream_version(id).await?;
        let event = NewEvent::new(meta.clone(), change, Some(key.clone()));
        match store
            .append(id, ExpectedVersion::Exactly(version), vec![event])
            .await
        {
            Ok(AppendOutcome::Appended(committed)) => {
                let stored = committed
                    .first()
                    .expect("an append of one event commits one");
                return Ok((stored.event_id, true));
            }
            Ok(AppendOutcome::Duplicate(stored) | AppendOutcome::KeyReused(stored)) => {
                return Ok((stored.event_id, false))
            }
            Err(StoreError::Conflict { .. }) => continue,
            Err(e) => return Err(e),
        }
    }
    // The caller's retry policy waits before trying again, which lets the ingest burst pass.
    Err(StoreError::Unavailable(format!(
        "stream {id} moved on {MAX_APPEND_ATTEMPTS} times while appending an alert"
    )))
}
