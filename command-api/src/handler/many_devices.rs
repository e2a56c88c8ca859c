//! Commands to many devices at once (a bulk import). Each device's commands are decided in order
//! on its state and every refusal is reported before anything is written. Then, where the store
//! appends across streams (SQLite), all devices are appended in one transaction: all or none.
//! Elsewhere (Cosmos DB) each device is its own transaction, and a store failure midway leaves
//! the devices appended before it written; the error says which.

use futures::stream::{FuturesOrdered, StreamExt};
use watershed_domain::event::AppendOutcome;
use watershed_domain::ports::{StoreError, StreamAppend};
use watershed_domain::{decide, evolve, Command, Device, DeviceEvent, DeviceId, DomainError};

use super::{encode, expected_after, CommandContext, CommandHandler, Outcome, MAX_ATTEMPTS};

/// Device states read at once: on Cosmos DB each read is a round trip.
const LOADS_AT_ONCE: usize = 32;

/// Devices appended at once where each is its own transaction.
const APPENDS_AT_ONCE: usize = 16;

/// What to ask of one device: at least one command, each decided on the state the previous one
/// leaves.
#[derive(Debug, Clone)]
pub struct DevicePlan {
    pub device: DeviceId,
    pub commands: Vec<Command>,
}

/// What became of one device where devices are appended one by one.
#[derive(Debug)]
pub enum DeviceWrite {
    Written(Outcome),
    /// Not tried, since an earlier device's append failed.
    NotTried,
    /// Refused by the store (another writer moved its stream): not written.
    Refused(StoreError),
    /// The store failed to answer: its events may or may not be stored.
    Unknown(StoreError),
}

#[derive(Debug, thiserror::Error)]
pub enum ManyError {
    /// Devices that refuse their commands, by plan index. Nothing was written.
    #[error("{} devices refuse their commands", .0.len())]
    Refused(Vec<(usize, DomainError)>),
    /// Two plans name one device. Nothing was written.
    #[error("device {0} is planned twice")]
    Repeated(DeviceId),
    /// Nothing was written.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Other writers kept moving the streams. Nothing was written.
    #[error("the devices' streams are too contended; try again")]
    Contended,
    /// The store appends one stream at a time and failed partway: what became of each device,
    /// by plan, and the first failure.
    #[error("the event store failed partway: {error}")]
    Incomplete {
        writes: Vec<DeviceWrite>,
        error: StoreError,
    },
}

impl CommandHandler {
    /// Runs every plan, or refuses them all with every device's refusal. Where the store appends
    /// across streams, the outcome is all or none; elsewhere see [`ManyError::Incomplete`].
    pub async fn execute_many(
        &self,
        plans: &[DevicePlan],
        context: &CommandContext,
    ) -> Result<Vec<Outcome>, ManyError> {
        let mut ids: Vec<&DeviceId> = plans.iter().map(|p| &p.device).collect();
        ids.sort_unstable();
        if let Some(pair) = ids.windows(2).find(|pair| pair[0] == pair[1]) {
            return Err(ManyError::Repeated(pair[0].clone()));
        }
        // Turns are taken in id order, so two imports that share devices never each hold one
        // that the other waits for.
        let mut turns = Vec::with_capacity(ids.len());
        for id in ids {
            turns.push(self.turns.turn(id).await);
        }
        let mut fresh = false;
        for _ in 0..MAX_ATTEMPTS {
            let devices = self.load_all(plans, fresh).await?;
            let decided = decide_all(plans, &devices).map_err(ManyError::Refused)?;
            let Some(across) = self.store.multi_stream() else {
                return self.append_each(plans, devices, decided, context).await;
            };
            let parts = plans
                .iter()
                .zip(&devices)
                .zip(&decided)
                .map(|((plan, device), events)| StreamAppend {
                    stream: plan.device.clone(),
                    expected: expected_after(device),
                    events: encode(events, context),
                })
                .collect();
            match across.append_streams(parts).await {
                Ok(committed) => {
                    return Ok(plans
                        .iter()
                        .zip(devices)
                        .zip(decided.iter().zip(committed))
                        .map(|((plan, device), (events, committed))| {
                            self.settle(&plan.device, device, events, &committed)
                        })
                        .collect());
                }
                // Another process wrote one of the streams (registered one of the devices):
                // decide again on what the store holds now.
                Err(StoreError::Conflict { .. }) => fresh = true,
                Err(e) => return Err(e.into()),
            }
        }
        Err(ManyError::Contended)
    }

    /// What the plans would be refused for, by plan index, without writing anything: the
    /// devices of a file with bad lines are still checked, so one answer names every problem.
    pub async fn refusals(
        &self,
        plans: &[DevicePlan],
    ) -> Result<Vec<(usize, DomainError)>, StoreError> {
        let devices = self.load_all(plans, false).await?;
        Ok(decide_all(plans, &devices).err().unwrap_or_default())
    }

    /// Every plan's device state, from the cache or, `fresh`, from the store; a few reads at
    /// a time.
    async fn load_all(&self, plans: &[DevicePlan], fresh: bool) -> Result<Vec<Device>, StoreError> {
        let mut waiting = plans.iter();
        let mut under_way = FuturesOrdered::new();
        let mut devices = Vec::with_capacity(plans.len());
        for plan in waiting.by_ref().take(LOADS_AT_ONCE) {
            under_way.push_back(self.load(&plan.device, fresh));
        }
        while let Some(device) = under_way.next().await {
            devices.push(device?);
            if let Some(plan) = waiting.next() {
                under_way.push_back(self.load(&plan.device, fresh));
            }
        }
        Ok(devices)
    }

    async fn load(&self, id: &DeviceId, fresh: bool) -> Result<Device, StoreError> {
        if fresh {
            self.states.reload(id).await
        } else {
            self.states.get(id).await
        }
    }

    /// Appends each device in its own transaction, a few at a time; after the first failure no
    /// other is started, and those under way are waited for, so each device's fate is known.
    async fn append_each(
        &self,
        plans: &[DevicePlan],
        devices: Vec<Device>,
        decided: Vec<Vec<DeviceEvent>>,
        context: &CommandContext,
    ) -> Result<Vec<Outcome>, ManyError> {
        let mut waiting = plans.iter().zip(devices).zip(decided);
        let mut under_way = FuturesOrdered::new();
        let mut writes = Vec::with_capacity(plans.len());
        let mut first_error = None;
        for ((plan, device), events) in waiting.by_ref().take(APPENDS_AT_ONCE) {
            under_way.push_back(self.append_one(&plan.device, device, events, context));
        }
        while let Some(write) = under_way.next().await {
            if let DeviceWrite::Refused(e) | DeviceWrite::Unknown(e) = &write {
                first_error.get_or_insert_with(|| e.clone());
            }
            writes.push(write);
            if first_error.is_some() {
                continue;
            }
            if let Some(((plan, device), events)) = waiting.next() {
                under_way.push_back(self.append_one(&plan.device, device, events, context));
            }
        }
        // Those under way come first in the plans' order; what is left was not tried.
        writes.extend(waiting.map(|_| DeviceWrite::NotTried));
        match first_error {
            Some(error) => Err(ManyError::Incomplete { writes, error }),
            None => Ok(writes
                .into_iter()
                .filter_map(|write| match write {
                    DeviceWrite::Written(outcome) => Some(outcome),
                    _ => None,
                })
                .collect()),
        }
    }

    async fn append_one(
        &self,
        id: &DeviceId,
        device: Device,
        events: Vec<DeviceEvent>,
        context: &CommandContext,
    ) -> DeviceWrite {
        let appended = self
            .store
            .append(id, expected_after(&device), encode(&events, context))
            .await;
        match appended {
            Ok(AppendOutcome::Appended(committed)) => {
                DeviceWrite::Written(self.settle(id, device, &events, &committed))
            }
            Err(e @ StoreError::Conflict { .. }) => DeviceWrite::Refused(e),
            Err(e) => DeviceWrite::Unknown(e),
            // The events carry no idempotency key, so no store answers this way.
            Ok(other) => DeviceWrite::Unknown(StoreError::Corrupt(format!(
                "an append without idempotency keys was answered {other:?}"
            ))),
        }
    }
}

/// Every plan's events, or every plan's refusal.
fn decide_all(
    plans: &[DevicePlan],
    devices: &[Device],
) -> Result<Vec<Vec<DeviceEvent>>, Vec<(usize, DomainError)>> {
    let mut decided = Vec::with_capacity(plans.len());
    let mut refused = Vec::new();
    for (i, (plan, device)) in plans.iter().zip(devices).enumerate() {
        match decide_in_order(device, &plan.commands) {
            Ok(events) => decided.push(events),
            Err(refusal) => refused.push((i, refusal)),
        }
    }
    if refused.is_empty() {
        Ok(decided)
    } else {
        Err(refused)
    }
}

/// One device's commands, each decided on the state the previous one's events leave.
fn decide_in_order(device: &Device, commands: &[Command]) -> Result<Vec<DeviceEvent>, DomainError> {
    let mut state = device.clone();
    let mut events = Vec::new();
    for command in commands {
        for event in decide(&state, command.clone())? {
            let seq = state.version + 1;
            state = evolve(state, seq, &event);
            events.push(event);
        }
    }
    Ok(events)
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex};

    use async_trait::async_trait;
    use chrono::Utc;
    use watershed_domain::event::{Committed, ExpectedVersion, NewEvent, RecordedEvent};
    use watershed_domain::ports::{EventStore, StreamQuery};
    use watershed_domain::{IdempotencyKey, KeyHash, Recalled};

    use super::*;

    /// A store like Cosmos DB's for this purpose: one transaction per stream, none across
    /// them; appends to `failing` fail as an unreachable store does.
    #[derive(Default)]
    struct StreamAtATime {
        versions: Mutex<HashMap<DeviceId, u64>>,
        failing: Option<DeviceId>,
    }

    impl StreamAtATime {
        fn version(&self, id: &str) -> u64 {
            let id = DeviceId::parse(id).unwrap();
            self.versions.lock().unwrap().get(&id).copied().unwrap_or(0)
        }
    }

    #[async_trait]
    impl EventStore for StreamAtATime {
        async fn append(
            &self,
            stream: &DeviceId,
            expected: ExpectedVersion,
            events: Vec<NewEvent>,
        ) -> Result<AppendOutcome, StoreError> {
            if self.failing.as_ref() == Some(stream) {
                return Err(StoreError::Unavailable(
                    "the test store fails it".to_owned(),
                ));
            }
            let mut versions = self.versions.lock().unwrap();
            let version = versions.entry(stream.clone()).or_default();
            if *version != expected.as_u64() {
                return Err(StoreError::Conflict {
                    stream: stream.clone(),
                    expected: expected.as_u64(),
                    actual: *version,
                });
            }
            let committed = events
                .iter()
                .map(|e| {
                    *version += 1;
                    Committed {
                        event_id: e.meta.event_id,
                        stream_seq: *version,
                        position: 0,
                    }
                })
                .collect();
            Ok(AppendOutcome::Appended(committed))
        }

        /// Only versions are kept, so a stream reads as registered without its events: what
        /// the tests need is which streams exist.
        async fn read_stream(
            &self,
            _: &DeviceId,
            _: StreamQuery,
        ) -> Result<Vec<RecordedEvent>, StoreError> {
            Ok(Vec::new())
        }

        async fn stream_version(&self, stream: &DeviceId) -> Result<u64, StoreError> {
            Ok(self.version(stream.as_str()))
        }

        async fn recall(
            &self,
            _: &DeviceId,
            _: &IdempotencyKey,
        ) -> Result<Option<Recalled>, StoreError> {
            Ok(None)
        }
    }

    fn register(id: &str) -> DevicePlan {
        DevicePlan {
            device: DeviceId::parse(id).unwrap(),
            commands: vec![Command::Register {
                name: None,
                kind: None,
                location: None,
                key_hash: KeyHash::of("key"),
            }],
        }
    }

    fn context() -> CommandContext {
        CommandContext {
            now: Utc::now(),
            correlation_id: None,
            idempotency_key: None,
        }
    }

    #[tokio::test]
    async fn every_refusal_is_reported_and_nothing_is_written() {
        let store = Arc::new(StreamAtATime::default());
        let handler = CommandHandler::new(store.clone());
        handler
            .execute_many(&[register("taken")], &context())
            .await
            .unwrap();
        let plans = [register("a"), register("taken"), register("b")];
        assert_eq!(
            handler.refusals(&plans).await.unwrap(),
            vec![(1, DomainError::AlreadyRegistered)]
        );
        let refused = handler.execute_many(&plans, &context()).await;
        assert!(
            matches!(&refused, Err(ManyError::Refused(r)) if r[..] == [(1, DomainError::AlreadyRegistered)]),
            "{refused:?}"
        );
        assert_eq!((store.version("a"), store.version("b")), (0, 0));
    }

    #[tokio::test]
    async fn a_device_planned_twice_is_refused_before_anything_is_written() {
        let store = Arc::new(StreamAtATime::default());
        let handler = CommandHandler::new(store.clone());
        let refused = handler
            .execute_many(&[register("a"), register("b"), register("a")], &context())
            .await;
        assert!(
            matches!(refused, Err(ManyError::Repeated(_))),
            "{refused:?}"
        );
        assert_eq!(store.version("b"), 0);
    }

    #[tokio::test]
    async fn without_transactions_across_streams_a_failure_midway_tells_each_devices_fate() {
        let store = Arc::new(StreamAtATime {
            failing: Some(DeviceId::parse("d-0").unwrap()),
            ..StreamAtATime::default()
        });
        let handler = CommandHandler::new(store.clone());
        let plans: Vec<DevicePlan> = (0..APPENDS_AT_ONCE * 2)
            .map(|i| register(&format!("d-{i}")))
            .collect();
        let Err(ManyError::Incomplete { writes, error }) =
            handler.execute_many(&plans, &context()).await
        else {
            panic!("the failing device makes the import incomplete");
        };
        assert!(matches!(error, StoreError::Unavailable(_)), "{error:?}");
        assert!(matches!(writes[0], DeviceWrite::Unknown(_)));
        for (plan, write) in plans.iter().zip(&writes).skip(1) {
            let stored = store.version(plan.device.as_str());
            match write {
                DeviceWrite::Written(_) => assert_eq!(stored, 1, "{}", plan.device),
                DeviceWrite::NotTried => assert_eq!(stored, 0, "{}", plan.device),
                other => panic!("{}: {other:?}", plan.device),
            }
        }
        // Past the devices under way when it failed, none is started.
        assert!(writes[APPENDS_AT_ONCE..]
            .iter()
            .all(|w| matches!(w, DeviceWrite::NotTried)));
    }
}
