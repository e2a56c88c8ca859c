//! Dead letters as both SQL read models store them: the event as JSON text beside the columns
//! that find it. Each adapter reads its own rows into [`DeadLetterRow`]s; this does the rest.

use chrono::{DateTime, Utc};
use watershed_domain::ports::ReadModelError;
use watershed_domain::{DeadLetter, Parked, RecordedEvent};

use crate::device_rows::{parse_device_id, unreadable};

/// One row of `dead_letters`.
pub(crate) struct DeadLetterRow {
    pub id: i64,
    pub source: String,
    pub device_id: Option<String>,
    pub stream_seq: Option<i64>,
    pub event: Option<String>,
    pub raw: Option<String>,
    pub error: String,
    pub parked_at: DateTime<Utc>,
}

/// The event column of a parked event.
pub(crate) fn event_json(parked: &Parked) -> Option<String> {
    parked.event.as_ref().map(|e| {
        serde_json::to_string(e).expect("recorded events serialize: plain data with string keys")
    })
}

impl DeadLetterRow {
    pub(crate) fn into_dead_letter(self) -> Result<DeadLetter, ReadModelError> {
        let event = self
            .event
            .map(|json| serde_json::from_str::<RecordedEvent>(&json))
            .transpose()
            .map_err(|e| unreadable("dead letter event", e))?;
        Ok(DeadLetter {
            id: self.id,
            parked_at: self.parked_at,
            parked: Parked {
                device_id: self.device_id.map(parse_device_id).transpose()?,
                stream_seq: self.stream_seq.map(|s| s as u64),
                source: self.source,
                event,
                raw: self.raw,
                error: self.error,
            },
        })
    }
}
