//! What the event store keeps in Cosmos DB. A stream is one logical partition of the `events`
//! container (partition key `/stream_id`) holding one item per event, one `head` item with the
//! stream's version and one item per idempotency key; `kind` tells them apart. Change-feed cursors
//! live in the `leases` container (partition key `/id`), one item per reader.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use watershed_domain::event::{Committed, EventMeta, NewEvent, RecordedEvent};
use watershed_domain::ports::StoreError;
use watershed_domain::{DeviceId, PayloadDigest, Recalled};

pub(super) const EVENTS_CONTAINER: &str = "events";
pub(super) const EVENTS_PARTITION_KEY: &str = "/stream_id";
pub(super) const LEASES_CONTAINER: &str = "leases";
pub(super) const LEASES_PARTITION_KEY: &str = "/id";

/// The id of the item that holds the stream's version.
pub(super) const HEAD_ID: &str = "head";

/// The id of the event item at `seq`. Zero-padded so that ids sort like sequences: Cosmos DB (and
/// its emulator) orders the items of one transactional batch by id in the change feed.
pub(super) fn event_item_id(seq: u64) -> String {
    format!("{seq:020}")
}

/// The id of the item that records the event stored under idempotency key `key`.
pub(super) fn idempotency_item_id(key: &str) -> String {
    hashed_id("idem", key)
}

/// The id of the lease item that holds `reader`'s change-feed cursor.
pub(super) fn lease_item_id(reader: &str) -> String {
    hashed_id("lease", reader)
}

/// Cosmos DB ids may not contain `/ \ ? #` and stop at 255 characters; keys and reader names may,
/// so ids hold their SHA-256 (the item keeps the name itself for people reading the container).
fn hashed_id(prefix: &str, name: &str) -> String {
    let digest = Sha256::digest(name.as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("{prefix}:{hex}")
}

/// Every item of the `events` container, tagged by `kind`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub(super) enum StreamItem {
    Event(EventItem),
    Head(HeadItem),
    Idempotency(IdempotencyItem),
}

#[derive(Debug, Serialize, Deserialize)]
pub(super) struct EventItem {
    id: String,
    stream_id: DeviceId,
    stream_seq: u64,
    /// The last sequence of the append this event came in. A change-feed reader that has this
    /// event but not that one reads on, so it never hands out part of an append.
    pub(super) append_end: u64,
    event_type: String,
    schema_version: u16,
    #[serde(flatten)]
    meta: EventMeta,
    idempotency_key: Option<String>,
    /// A JSON object, so the payload can be queried in the account like any document.
    payload: serde_json::Value,
}

#[derive(Debug, Serialize, Deserialize)]
pub(super) struct HeadItem {
    id: String,
    stream_id: DeviceId,
    pub(super) version: u64,
}

#[derive(Debug, Serialize, Deserialize)]
pub(super) struct IdempotencyItem {
    id: String,
    stream_id: DeviceId,
    key: String,
    /// What the append that stored the key answered, and so what a resend answers.
    pub(super) committed: Committed,
    /// SHA-256 of the first event's payload (hex); absent in items stored before it was kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    digest: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
pub(super) struct LeaseItem {
    id: String,
    reader: String,
    /// The change-feed continuation token; empty is the beginning.
    pub(super) continuation: String,
}

impl EventItem {
    pub(super) fn new(
        stream: &DeviceId,
        seq: u64,
        append_end: u64,
        event: &NewEvent,
    ) -> Result<Self, StoreError> {
        let payload = serde_json::from_str(&event.payload).map_err(|e| {
            StoreError::Corrupt(format!(
                "{} payload to append is not JSON: {e}",
                event.event_type
            ))
        })?;
        Ok(Self {
            id: event_item_id(seq),
            stream_id: stream.clone(),
            stream_seq: seq,
            append_end,
            event_type: event.event_type.to_owned(),
            schema_version: event.schema_version,
            meta: event.meta.clone(),
            idempotency_key: event
                .idempotency_key
                .as_ref()
                .map(|k| k.as_str().to_owned()),
            payload,
        })
    }

    pub(super) fn committed(&self) -> Committed {
        Committed {
            event_id: self.meta.event_id,
            stream_seq: self.stream_seq,
            position: 0,
        }
    }

    /// Cosmos DB keeps no global order, so the recorded event has position 0.
    pub(super) fn into_recorded(self) -> RecordedEvent {
        RecordedEvent {
            position: 0,
            stream_id: self.stream_id,
            stream_seq: self.stream_seq,
            event_type: self.event_type,
            schema_version: self.schema_version,
            meta: self.meta,
            payload: self.payload.to_string(),
        }
    }
}

impl HeadItem {
    pub(super) fn new(stream: &DeviceId, version: u64) -> Self {
        Self {
            id: HEAD_ID.to_owned(),
            stream_id: stream.clone(),
            version,
        }
    }
}

impl IdempotencyItem {
    pub(super) fn new(stream: &DeviceId, event: &NewEvent, committed: Committed) -> Option<Self> {
        let key = event.idempotency_key.as_ref()?.as_str();
        Some(Self {
            id: idempotency_item_id(key),
            stream_id: stream.clone(),
            key: key.to_owned(),
            committed,
            digest: Some(event.digest().as_str().to_owned()),
        })
    }

    pub(super) fn recalled(self) -> Recalled {
        Recalled {
            committed: self.committed,
            digest: self.digest.map(PayloadDigest::stored),
        }
    }
}

impl LeaseItem {
    pub(super) fn new(reader: &str, continuation: &str) -> Self {
        Self {
            id: lease_item_id(reader),
            reader: reader.to_owned(),
            continuation: continuation.to_owned(),
        }
    }
}

/// Reads an item as stored (system properties such as `_etag` are ignored).
pub(super) fn decode<T: serde::de::DeserializeOwned>(
    what: &str,
    stored: &serde_json::Value,
) -> Result<T, StoreError> {
    T::deserialize(stored).map_err(|e| StoreError::Corrupt(format!("{what}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_ids_sort_like_their_sequences() {
        let ids: Vec<String> = [2, 10, 1, 100].map(event_item_id).into();
        let mut sorted = ids.clone();
        sorted.sort();
        assert_eq!(sorted, [1, 2, 10, 100].map(event_item_id));
        assert!(event_item_id(u64::MAX).len() <= 20);
    }

    #[test]
    fn keys_with_characters_cosmos_forbids_make_valid_ids() {
        let id = idempotency_item_id(&"a/b?c#d\\".repeat(40));
        assert!(id.len() < 255);
        assert!(!id.contains(['/', '\\', '?', '#']), "{id}");
        assert_ne!(id, idempotency_item_id("a/b?c#d\\"));
    }
}
