//! The alert evaluator: a bus consumer with its own group, so alerts never wait for the read
//! models, that runs every batch of readings through the alert rules and appends what they decide
//! (`AlertRaised`, `AlertCleared`) to the device's stream. From there alerts travel like any
//! event: the projectors show them and live clients hear of them.
//!
//! A device's alert state is loaded from its stream when it is first seen (and, when some rule
//! remembers readings, its recent readings warm that memory), then kept in memory. Every decision
//! is checked against the stream as it stands before it is appended there at exactly that
//! version ([`decide_on_stream`]): a decommission or a clear by hand recorded meanwhile wins, with
//! no window for a raise behind a decommission. Redelivery decides the same again and changes
//! nothing: a decision is appended under the key `alert:<rule>:<sequence of the readings event>`,
//! so the store answers a repeat with the event it already holds.

use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::sync::Arc;

use chrono::Utc;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;
use watershed_domain::event::{EventMeta, ExpectedVersion};
use watershed_domain::ports::{BusError, EventBus, EventStore, StoreError, StreamQuery};
use watershed_domain::{
    AlertRules, AppendOutcome, DecodeError, DeviceAlerts, DeviceEvent, DeviceId, IdempotencyKey,
    NewEvent, RecordedEvent,
};

use crate::retry::{retrying, Consumer, Failure, RetryPolicy};
use crate::rules::RulesHandle;

/// How often an alert append is tried against a stream that ingest keeps moving, before the
/// evaluator backs off and tries again later.
const MAX_APPEND_ATTEMPTS: usize = 16;
/// How many of a device's latest readings events warm the memory of its rate, anomaly and model
/// rules when the evaluator first meets it.
const WARM_EVENTS: u64 = 256;

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
    pub rules: RulesHandle,
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
        let mut rules_handle = self.rules.clone();
        // Nothing is judged before the rules are known: judging by none would skip readings.
        tokio::select! {
            _ = shutdown.cancelled() => return Err(Failure::Stopped),
            _ = rules_handle.loaded() => {}
        }
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
            let batch = consumer.next(shutdown).await?;
            let rules = self.rules.current().unwrap_or_default();
            for event in &batch {
                self.evaluate(&rules, event, &mut devices, shutdown).await?;
            }
            // Deciding a batch again appends nothing: each decision is stored under its own key.
            consumer.commit().await;
        }
    }

    async fn evaluate(
        &self,
        rules: &AlertRules,
        event: &RecordedEvent,
        devices: &mut HashMap<DeviceId, DeviceAlerts>,
        shutdown: &CancellationToken,
    ) -> Result<(), Failure<AlertError>> {
        let id = &event.stream_id;
        if event.event_type != "ReadingsRecorded" {
            // Someone changed the device's alerts (a decommission, a clear by hand, a silence
            // the clock raised, a decision of this evaluator): a device held in memory folds it
            // in unless it already read it from the stream; one not held is loaded when needed.
            if DeviceAlerts::EVENT_TYPES.contains(&event.event_type.as_str()) {
                if let Some(device) = devices.get_mut(id) {
                    if event.stream_seq > device.version {
                        device.evolve(&Self::decoded(event)?, event.meta.event_id);
                        device.version = event.stream_seq;
                    }
                }
            }
            return Ok(());
        }
        let DeviceEvent::ReadingsRecorded(recorded) = Self::decoded(event)? else {
            unreachable!("a ReadingsRecorded event decodes as readings");
        };
        if !rules.watch_any(&recorded.readings) {
            return Ok(());
        }
        metrics::counter!("watershed_alert_evaluations_total").increment(1);
        let device = match devices.entry(id.clone()) {
            Entry::Occupied(known) => known.into_mut(),
            Entry::Vacant(new) => {
                let loaded = retrying(self.config.retry, shutdown, "loading alert state", || {
                    self.load(rules, id, event.stream_seq)
                })
                .await?;
                new.insert(loaded)
            }
        };
        for change in rules.evaluate(id, device, &recorded.readings) {
            let key = IdempotencyKey::internal(format!(
                "alert:{}:{}",
                rule_of(&change),
                event.stream_seq
            ));
            let meta = EventMeta {
                event_id: Uuid::now_v7(),
                occurred_at: event.meta.occurred_at,
                recorded_at: Utc::now(),
                correlation_id: event.meta.correlation_id,
                causation_id: Some(event.meta.event_id),
            };
            // Each attempt decides on its own copy: a failed one may have folded half a catch-up.
            let (decided, stored) =
                retrying(self.config.retry, shutdown, "appending an alert", || {
                    let mut state = device.clone();
                    let (meta, change, key) = (&meta, &change, &key);
                    async move {
                        let stored =
                            decide_on_stream(&*self.store, id, &mut state, meta, change, key)
                                .await?;
                        Ok::<_, StoreError>((state, stored))
                    }
                })
                .await?;
            *device = decided;
            if stored.is_some() {
                tracing::info!(device = %id, event = change.event_type(), "alert");
                metrics::counter!("watershed_alert_decisions_total", "event" => change.event_type())
                    .increment(1);
            }
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

    /// A device's alert state as its stream holds it now, its detectors warmed with the readings
    /// that came before `before`.
    async fn load(
        &self,
        rules: &AlertRules,
        id: &DeviceId,
        before: u64,
    ) -> Result<DeviceAlerts, StoreError> {
        let mut device = load_alerts(&*self.store, id).await?;
        if rules.has_memory() {
            let from_seq = before.saturating_sub(WARM_EVENTS).max(1);
            let query = StreamQuery {
                from_seq,
                limit: (before - from_seq) as usize,
                only_types: Some(&["ReadingsRecorded"]),
            };
            for event in self.store.read_stream(id, query).await? {
                let decoded = event
                    .decode()
                    .map_err(|e| StoreError::Corrupt(e.to_string()))?;
                if let (DeviceEvent::ReadingsRecorded(batch), true) =
                    (decoded, event.stream_seq < before)
                {
                    rules.warm(id, &mut device, &batch.readings);
                }
            }
        }
        Ok(device)
    }
}

/// The rule an alert decision is about.
fn rule_of(change: &DeviceEvent) -> &watershed_domain::RuleName {
    match change {
        DeviceEvent::AlertRaised(a) => &a.rule,
        DeviceEvent::AlertCleared(a) => &a.rule,
        DeviceEvent::AlertRetired(a) => &a.rule,
        other => unreachable!("alert rules decide only alert events, not {other:?}"),
    }
}

/// A device's alert state as its stream holds it now.
pub(crate) async fn load_alerts(
    store: &dyn EventStore,
    id: &DeviceId,
) -> Result<DeviceAlerts, StoreError> {
    let mut device = DeviceAlerts::default();
    catch_up(store, id, &mut device, u64::MAX).await?;
    Ok(device)
}

/// Folds the device's alert events after `device.version` up to `until` into it.
async fn catch_up(
    store: &dyn EventStore,
    id: &DeviceId,
    device: &mut DeviceAlerts,
    until: u64,
) -> Result<(), StoreError> {
    let query = StreamQuery {
        from_seq: device.version + 1,
        limit: usize::MAX,
        only_types: Some(DeviceAlerts::EVENT_TYPES),
    };
    let events = store.read_stream(id, query).await?;
    device
        .fold_stored(&events, until)
        .map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// Appends one alert decision to the device's stream if the stream, as it stands, still admits
/// it: `device` first catches up with the alert events recorded since it was folded, and the
/// decision is appended at exactly the version it was checked against, or checked again. A key
/// already stored is this decision made before (a redelivery, a restart, another instance).
/// Answers the id of the event this call stored, `None` if it stored none.
pub(crate) async fn decide_on_stream(
    store: &dyn EventStore,
    id: &DeviceId,
    device: &mut DeviceAlerts,
    meta: &EventMeta,
    change: &DeviceEvent,
    key: &IdempotencyKey,
) -> Result<Option<Uuid>, StoreError> {
    for _ in 0..MAX_APPEND_ATTEMPTS {
        let version = store.stream_version(id).await?;
        if version > device.version {
            catch_up(store, id, device, version).await?;
            // Events other than alert ones moved the stream: the state is as of `version`.
            device.version = version;
        }
        if !device.admits(change) {
            return Ok(None);
        }
        let event = NewEvent::new(meta.clone(), change, Some(key.clone()));
        match store
            .append(id, ExpectedVersion::Exactly(version), vec![event])
            .await
        {
            Ok(AppendOutcome::Appended(committed)) => {
                let stored = committed
                    .first()
                    .expect("an append of one event commits one");
                device.evolve(change, stored.event_id);
                device.version = stored.stream_seq;
                return Ok(Some(stored.event_id));
            }
            // Decided before (a redelivery, a replay by another group): the state follows it
            // as if made now, so the batches after it are judged as they were then.
            Ok(AppendOutcome::Duplicate(stored) | AppendOutcome::KeyReused(stored)) => {
                device.evolve(change, stored.event_id);
                return Ok(None);
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
