//! Decides a change to the alert rules against the rules stream as it stands and appends it at
//! exactly that version, reading again when another writer came first.

use chrono::Utc;
use uuid::Uuid;
use watershed_domain::event::{EventMeta, ExpectedVersion};
use watershed_domain::ports::{EventStore, StoreError};
use watershed_domain::{
    rules_stream, AppendOutcome, NewEvent, RuleBook, RuleCommand, RuleRefused, RuleSpec,
};
use watershed_projectors::rules::catch_up;

/// How often a change is tried against a rules stream others keep changing.
const MAX_ATTEMPTS: usize = 16;

#[derive(Debug, thiserror::Error)]
pub enum RuleChangeError {
    #[error(transparent)]
    Refused(#[from] RuleRefused),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the alert rules changed {MAX_ATTEMPTS} times while this change was decided")]
    Contended,
}

/// The rules as the stream holds them now.
pub async fn book(store: &dyn EventStore) -> Result<RuleBook, StoreError> {
    let mut book = RuleBook::default();
    catch_up(store, &mut book).await?;
    Ok(book)
}

/// Decides `command` and records what it decides; answers the book after it, and whether
/// anything was recorded.
pub async fn change(
    store: &dyn EventStore,
    command: RuleCommand,
) -> Result<(RuleBook, bool), RuleChangeError> {
    let stream = rules_stream();
    let mut book = book(store).await?;
    for _ in 0..MAX_ATTEMPTS {
        let decided = book.decide(command.clone())?;
        if decided.is_empty() {
            return Ok((book, false));
        }
        let now = Utc::now();
        let events = decided
            .iter()
            .map(|event| {
                let meta = EventMeta {
                    event_id: Uuid::now_v7(),
                    occurred_at: now,
                    recorded_at: now,
                    correlation_id: None,
                    causation_id: None,
                };
                NewEvent::new(meta, event, None)
            })
            .collect();
        match store
            .append(&stream, ExpectedVersion::Exactly(book.version), events)
            .await
        {
            Ok(AppendOutcome::Appended(committed)) => {
                for (event, stored) in decided.iter().zip(&committed) {
                    book.evolve(stored.stream_seq, now, event);
                }
                return Ok((book, true));
            }
            Ok(other) => unreachable!("an append without a key is never a repeat: {other:?}"),
            Err(StoreError::Conflict { .. }) => {
                catch_up(store, &mut book).await?;
            }
            Err(e) => return Err(e.into()),
        }
    }
    Err(RuleChangeError::Contended)
}

/// Imports the rules of the rules file: each is created, or replaced when it differs from the
/// one in force. Rules not in the file stay. Answers how many were recorded.
pub async fn import(store: &dyn EventStore, specs: &[RuleSpec]) -> Result<usize, RuleChangeError> {
    let mut recorded = 0;
    for spec in specs {
        let (_, changed) = change(store, RuleCommand::Import(spec.clone())).await?;
        recorded += usize::from(changed);
    }
    Ok(recorded)
}
