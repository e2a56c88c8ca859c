//! Runs a command against a device: load state, decide, append with the state's version; on a
//! conflict reload and decide again. The store's answer is the only acknowledgement.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use uuid::Uuid;
use watershed_domain::event::{AppendOutcome, Committed, EventMeta, ExpectedVersion, NewEvent};
use watershed_domain::ports::{EventStore, StoreError};
use watershed_domain::{decide, Command, DeviceEvent, DeviceId, DomainError};

use crate::device_states::DeviceStates;

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
}

/// Request-scoped facts that are not part of the command itself.
#[derive(Debug, Clone)]
pub struct CommandContext {
    pub now: DateTime<Utc>,
    pub correlation_id: Option<Uuid>,
    /// Stored with the first event; a repeat answers with that event instead of appending.
    pub idempotency_key: Option<String>,
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
}

impl CommandHandler {
    pub fn new(store: Arc<dyn EventStore>) -> Self {
        Self {
            states: DeviceStates::new(Arc::clone(&store)),
            store,
        }
    }

    pub async fn execute(
        &self,
        id: &DeviceId,
        command: Command,
        context: CommandContext,
    ) -> Result<Outcome, CommandError> {
        let mut device = self.states.get(id).await?;
        for _ in 0..MAX_ATTEMPTS {
            let events = decide(&device, command.clone())?;
            let expected = match device.version {
                0 => ExpectedVersion::NoStream,
                v => ExpectedVersion::Exactly(v),
            };
            let encoded = events
                .iter()
                .enumerate()
                .map(|(i, event)| {
                    let key = (i == 0).then(|| context.idempotency_key.clone()).flatten();
                    NewEvent::new(meta(event, &context), event, key)
                })
                .collect();
            match self.store.append(id, expected, encoded).await {
                Ok(AppendOutcome::Appended(committed)) => {
                    let (Some(first), Some(last)) = (committed.first(), committed.last()) else {
                        unreachable!("decide returns at least one event for an accepted command");
                    };
                    self.states.applied(id, device, first.stream_seq, &events);
                    return Ok(Outcome {
                        committed: last.clone(),
                        duplicate: false,
                    });
                }
                Ok(AppendOutcome::Duplicate(committed)) => {
                    return Ok(Outcome {
                        committed,
                        duplicate: true,
                    })
                }
                Err(StoreError::Conflict { .. }) => {
                    device = self.states.reload(id).await?;
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(CommandError::Contended(id.clone()))
    }
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
