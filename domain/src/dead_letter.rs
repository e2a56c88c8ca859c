//! Dead letters: what a projection could not apply, kept aside with the reason, so that one bad
//! event stops only its own device while the rest of the fleet flows on. The device's later events
//! wait behind it, parked too, until an operator retries (after a fix) or skips it.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::event::RecordedEvent;
use crate::ids::DeviceId;

/// What a projector does with an event it cannot apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PoisonPolicy {
    /// Stop the projector with the reason (nothing after the event is committed).
    #[default]
    Stop,
    /// Park the event and its device's later events as dead letters; go on with the others.
    Park,
}

/// An event (or a message that should have been one) set aside by a projection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Parked {
    /// The device, when the message names one.
    pub device_id: Option<DeviceId>,
    /// The event's place in its stream, when known.
    pub stream_seq: Option<u64>,
    /// Where it came from, unique per dead letter: `stream:<device>:<seq>` for an event,
    /// `kafka:<partition>:<offset>` for a message that was no event. Parking twice is a no-op.
    pub source: String,
    /// The event as received, when it was one.
    pub event: Option<RecordedEvent>,
    /// What the message held when it was no event (headers and value, printable).
    pub raw: Option<String>,
    pub error: String,
}

impl Parked {
    /// An event that cannot be applied, or that waits behind one that could not.
    pub fn event(event: &RecordedEvent, error: impl Into<String>) -> Self {
        Self {
            device_id: Some(event.stream_id.clone()),
            stream_seq: Some(event.stream_seq),
            source: format!("stream:{}:{}", event.stream_id, event.stream_seq),
            event: Some(event.clone()),
            raw: None,
            error: error.into(),
        }
    }
}

/// A dead letter as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeadLetter {
    pub id: i64,
    pub parked_at: DateTime<Utc>,
    #[serde(flatten)]
    pub parked: Parked,
}

/// The reason stored for an event parked only because an earlier one of its device was.
pub fn waiting_behind(device: &DeviceId) -> String {
    format!("waiting behind an earlier parked event of {device}")
}
