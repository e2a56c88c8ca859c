//! Idempotent appends: at most one event per (stream, key), and a resend answers what the first
//! request got. Keys of two origins share a stream: the batch ids devices choose, and the keys
//! Watershed derives for its own decisions (alerts). They live in separate namespaces, so no
//! device can choose a key that suppresses or impersonates an internal decision.

use std::fmt;

use sha2::{Digest, Sha256};

use crate::event::{AppendOutcome, Committed};
use crate::ids::BatchId;

/// Begins every internal key; no batch id may contain it (see [`BatchId`]'s alphabet).
const INTERNAL_PREFIX: char = '~';

/// The key an event is stored under, at most once per stream.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    /// A device's batch id, stored as the device sent it.
    pub fn batch(id: &BatchId) -> Self {
        Self(id.as_str().to_owned())
    }

    /// A key of Watershed's own, e.g. `alert:<rule>:<seq>`, stored as `~alert:<rule>:<seq>`.
    pub fn internal(name: impl fmt::Display) -> Self {
        Self(format!("{INTERNAL_PREFIX}{name}"))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// A key as a store holds it, read back.
    pub fn stored(key: String) -> Self {
        Self(key)
    }
}

impl fmt::Display for IdempotencyKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// SHA-256 of the payload appended first under a key: tells a resend of the same request from a
/// different request that reuses the key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayloadDigest(String);

impl PayloadDigest {
    pub fn of(payload: &str) -> Self {
        Self(hex::encode(Sha256::digest(payload.as_bytes())))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// A digest as a store holds it, read back.
    pub fn stored(hex: String) -> Self {
        Self(hex)
    }
}

/// What a store remembers of the event stored under a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recalled {
    pub committed: Committed,
    /// `None` for keys stored before digests were kept: taken as the same request.
    pub digest: Option<PayloadDigest>,
}

impl Recalled {
    /// The answer to a request with this `digest` whose key is already stored.
    pub fn answer(self, digest: &PayloadDigest) -> AppendOutcome {
        match &self.digest {
            Some(stored) if stored != digest => AppendOutcome::KeyReused(self.committed),
            _ => AppendOutcome::Duplicate(self.committed),
        }
    }
}

#[cfg(test)]
mod tests {
    use uuid::Uuid;

    use super::*;

    #[test]
    fn no_batch_id_can_take_an_internal_key() {
        let internal = IdempotencyKey::internal("alert:too-hot:42");
        assert!(BatchId::parse(internal.as_str()).is_err());
        let lookalike = BatchId::parse("alert:too-hot:42").unwrap();
        assert_ne!(IdempotencyKey::batch(&lookalike), internal);
    }

    #[test]
    fn a_resend_replays_and_a_different_request_under_the_key_is_refused() {
        let committed = Committed {
            event_id: Uuid::now_v7(),
            stream_seq: 3,
            position: 9,
        };
        let first = PayloadDigest::of(r#"{"batch_id":"b","readings":[]}"#);
        let recalled = Recalled {
            committed: committed.clone(),
            digest: Some(first.clone()),
        };
        assert_eq!(
            recalled.clone().answer(&first),
            AppendOutcome::Duplicate(committed.clone())
        );
        let other = PayloadDigest::of(r#"{"batch_id":"b","readings":[1]}"#);
        assert_eq!(
            recalled.answer(&other),
            AppendOutcome::KeyReused(committed.clone())
        );
        let legacy = Recalled {
            committed: committed.clone(),
            digest: None,
        };
        assert_eq!(legacy.answer(&other), AppendOutcome::Duplicate(committed));
    }
}
