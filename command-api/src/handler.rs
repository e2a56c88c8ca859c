//! Runs a command against a device: load state, decide, append with the state's version; on a
//! conflict reload and decide again. The store's answer is the only acknowledgement.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use uuid::Uuid;
use watershed_domain::event::{AppendOutcome, Committed, EventMeta, ExpectedVersion, NewEvent};
use watershed_domain::ports::{EventStore, StoreError, StreamQuery};
use watershed_domain::{
    decide, Admission, Command, Credential, Device, DeviceAlerts, DeviceEvent, DeviceId,
    DomainError, IdempotencyKey, PayloadDigest, RetireReason,
};

use crate::device_states::DeviceStates;
use crate::stream_locks::StreamLocks;

mod many_devices;

pub use many_devices::{DevicePlan, DeviceWrite, ManyError};

/// How often a command is decided again after losing a race with another writer of its stream.
const MAX_ATTEMPTS: usize = 8;

#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    #[error(transparent)]
    Refused(#[from] DomainError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("stream {0} is too contended; try again")]
    Contended(DeviceId),
    /// The idempotency key is stored with a different request.
    #[error("idempotency key {key} of {device} was used for a different request")]
    KeyReused {
        device: DeviceId,
        key: IdempotencyKey,
    },
}

/// Request-scoped facts that are not part of the command itself.
#[derive(Debug, Clone)]
pub struct CommandContext {
    pub now: DateTime<Utc>,
    pub correlation_id: Option<Uuid>,
    /// Stored with the first event; a repeat answers with that event instead of appending.
    pub idempotency_key: Option<IdempotencyKey>,
}

/// Where the command's last event landed; `duplicate` when the idempotency key was known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub committed: Committed,
    pub duplicate: bool,
}

pub struct CommandHandler {
    store: Arc<dyn EventStore>,
    states: DeviceStates,
    turns: StreamLocks,
}

impl CommandHandler {
    pub fn new(store: Arc<dyn EventStore>) -> Self {
        Self {
            states: DeviceStates::new(Arc::clone(&store)),
            store,
            turns: StreamLocks::default(),
        }
    }

    /// Checks a device's credential before any other work is done for its request, and answers
    /// the hash of the key it proves (what its commands present). An unknown device, a wrong key
    /// and a bad or expired token are the same refusal, so ids cannot be probed. Whether the
    /// device may send now is the admission's to say (`Admission::may_send`).
    pub async fn authenticate(
        &self,
        id: &DeviceId,
        presented: &Credential,
        now: DateTime<Utc>,
    ) -> Result<Admission, CommandError> {
        self.states
            .get(id)
            .await?
            .admit(id, presented, now)
            .map_err(CommandError::Refused)
    }

    pub async fn execute(
        &self,
        id: &DeviceId,
        command: Command,
        context: CommandContext,
    ) -> Result<Outcome, CommandError> {
        let _turn = self.turns.turn(id).await;
        let mut device = self.states.get(id).await?;
        for _ in 0..MAX_ATTEMPTS {
            let events = match self.decided(id, &device, &command).await? {
                Ok(events) => events,
                Err(refused) => return self.answer_refused(id, &command, &context, refused).await,
            };
            let encoded = encode(&events, &context);
            match self
                .store
                .append(id, expected_after(&device), encoded)
                .await
            {
                Ok(AppendOutcome::Appended(committed)) => {
                    return Ok(self.settle(id, device, &events, &committed));
                }
                Ok(AppendOutcome::Duplicate(committed)) => return Ok(Outcome::replayed(committed)),
                Ok(AppendOutcome::KeyReused(_)) => return Err(key_reused(id, &context)),
                Err(StoreError::Conflict { .. }) => {
                    device = self.states.reload(id).await?;
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(CommandError::Contended(id.clone()))
    }

    /// What `command` decides on `device`. A decommission also retires the device's open alerts,
    /// as its stream holds them up to the same version: they end in the same append, and an
    /// alert raised meanwhile makes the append conflict and the decision be taken again.
    async fn decided(
        &self,
        id: &DeviceId,
        device: &Device,
        command: &Command,
    ) -> Result<Result<Vec<DeviceEvent>, DomainError>, CommandError> {
        let mut events = match decide(device, command.clone()) {
            Ok(events) => events,
            Err(refused) => return Ok(Err(refused)),
        };
        if matches!(command, Command::Decommission { .. }) {
            let query = StreamQuery {
                from_seq: 1,
                limit: usize::MAX,
                only_types: Some(DeviceAlerts::EVENT_TYPES),
            };
            let stored = self.store.read_stream(id, query).await?;
            let mut alerts = DeviceAlerts::default();
            alerts
                .fold_stored(&stored, device.version)
                .map_err(|e| StoreError::Corrupt(e.to_string()))?;
            // Before the decommission, which stays the event the command answers with.
            let retired = alerts.retire_all(RetireReason::DeviceDecommissioned);
            events.splice(0..0, retired);
        }
        Ok(Ok(events))
    }

    /// Keeps the state `events` made of `device` once they are stored as `committed`, and
    /// answers with where the last one landed.
    fn settle(
        &self,
        id: &DeviceId,
        device: Device,
        events: &[DeviceEvent],
        committed: &[Committed],
    ) -> Outcome {
        let (Some(first), Some(last)) = (committed.first(), committed.last()) else {
            unreachable!("decide returns at least one event for an accepted command");
        };
        self.states.applied(id, device, first.stream_seq, events);
        Outcome {
            committed: last.clone(),
            duplicate: false,
        }
    }

    /// A refused command whose idempotency key is already stored was accepted before: a resend
    /// gets the first answer even when the device would now refuse it (decommissioned since).
    async fn answer_refused(
        &self,
        id: &DeviceId,
        command: &Command,
        context: &CommandContext,
        refused: DomainError,
    ) -> Result<Outcome, CommandError> {
        self.replay(id, command, context)
            .await?
            .ok_or_else(|| refused.into())
    }

    /// The first answer to `command`, if its idempotency key is stored with it: what a resend
    /// is told even when it would now be refused (by the device, or by its limits). A key stored
    /// with another payload is `KeyReused`.
    pub async fn replay(
        &self,
        id: &DeviceId,
        command: &Command,
        context: &CommandContext,
    ) -> Result<Option<Outcome>, CommandError> {
        let (Some(key), Some(payload)) = (&context.idempotency_key, command.recorded_payload())
        else {
            return Ok(None);
        };
        let Some(known) = self.store.recall(id, key).await? else {
            return Ok(None);
        };
        match known.answer(&PayloadDigest::of(&payload)) {
            AppendOutcome::Duplicate(committed) => Ok(Some(Outcome::replayed(committed))),
            _ => Err(key_reused(id, context)),
        }
    }
}

impl Outcome {
    fn replayed(committed: Committed) -> Self {
        Self {
            committed,
            duplicate: true,
        }
    }
}

fn key_reused(id: &DeviceId, context: &CommandContext) -> CommandError {
    CommandError::KeyReused {
        device: id.clone(),
        key: context
            .idempotency_key
            .clone()
            .expect("only an append with a key finds its key stored"),
    }
}

/// The version an append of events decided on `device` expects its stream at.
fn expected_after(device: &Device) -> ExpectedVersion {
    match device.version {
        0 => ExpectedVersion::NoStream,
        v => ExpectedVersion::Exactly(v),
    }
}

/// The decided events as the store takes them. The idempotency key goes with the event the
/// answer names, the last: a resend finds that one.
fn encode(events: &[DeviceEvent], context: &CommandContext) -> Vec<NewEvent> {
    let last = events.len().saturating_sub(1);
    events
        .iter()
        .enumerate()
        .map(|(i, event)| {
            let key = (i == last)
                .then(|| context.idempotency_key.clone())
                .flatten();
            NewEvent::new(meta(event, context), event, key)
        })
        .collect()
}

fn meta(event: &DeviceEvent, context: &CommandContext) -> EventMeta {
    let occurred_at = match event {
        DeviceEvent::ReadingsRecorded(r) => r
            .readings
            .iter()
            .map(|r| r.measured_at)
            .max()
            .unwrap_or(context.now),
        _ => context.now,
    };
    EventMeta {
        event_id: Uuid::now_v7(),
        occurred_at,
        recorded_at: context.now,
        correlation_id: context.correlation_id,
        causation_id: None,
    }
}
