//! Events as CloudEvents 1.0, the envelope every consumer outside Watershed reads: in JSON
//! format (one event per line of a history download or replay, a structure Spark, Splunk and
//! pandas read as is) here, and in the Kafka binding's `ce_` headers (in `infra`), with the same
//! attributes. Extension attributes carry what CloudEvents has no name for: the stream sequence,
//! schema version, recorded-at, correlation and causation, the store position.

use std::borrow::Cow;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use uuid::Uuid;

use crate::event::{EventMeta, RecordedEvent};
use crate::ids::DeviceId;

pub const SPEC_VERSION: &str = "1.0";
/// Every event's `source`: the store is one, whichever adapter holds it.
pub const SOURCE: &str = "urn:watershed:event-store";
/// `type` is this and the event type, e.g. `io.watershed.ReadingsRecorded`.
pub const TYPE_PREFIX: &str = "io.watershed.";

/// CloudEvents times: RFC 3339, UTC, microseconds (what every store keeps).
pub fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

fn micros<S: serde::Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&time(*t))
}

/// An event in the JSON format. `data` is left out when writing and appended as stored.
#[derive(Serialize, Deserialize)]
struct Envelope<'a> {
    #[serde(borrow)]
    specversion: Cow<'a, str>,
    id: Uuid,
    #[serde(borrow)]
    source: Cow<'a, str>,
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    #[serde(borrow)]
    subject: Cow<'a, str>,
    #[serde(serialize_with = "micros")]
    time: DateTime<Utc>,
    datacontenttype: &'a str,
    streamseq: u64,
    schemaversion: u16,
    #[serde(serialize_with = "micros")]
    recordedat: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    correlationid: Option<Uuid>,
    #[serde(skip_serializing_if = "Option::is_none")]
    causationid: Option<Uuid>,
    /// Absent where the store has no global order (Cosmos DB).
    #[serde(skip_serializing_if = "Option::is_none")]
    position: Option<u64>,
    #[serde(borrow, skip_serializing_if = "Option::is_none")]
    data: Option<&'a RawValue>,
}

/// Appends `event` to `out` as one line of JSON (with its newline). The stored payload becomes
/// `data` as it is, without being parsed and written again.
pub fn write_json_line(event: &RecordedEvent, out: &mut Vec<u8>) {
    let kind = format!("{TYPE_PREFIX}{}", event.event_type);
    let envelope = Envelope {
        specversion: SPEC_VERSION.into(),
        id: event.meta.event_id,
        source: SOURCE.into(),
        kind: kind.into(),
        subject: event.stream_id.as_str().into(),
        time: event.meta.occurred_at,
        datacontenttype: "application/json",
        streamseq: event.stream_seq,
        schemaversion: event.schema_version,
        recordedat: event.meta.recorded_at,
        correlationid: event.meta.correlation_id,
        causationid: event.meta.causation_id,
        position: (event.position > 0).then_some(event.position),
        data: None,
    };
    serde_json::to_writer(&mut *out, &envelope)
        .expect("attributes are plain data with string keys");
    // Replace the closing brace with the data member.
    out.pop();
    out.extend_from_slice(b",\"data\":");
    out.extend_from_slice(event.payload.as_bytes());
    out.extend_from_slice(b"}\n");
}

/// Why a line is not an event of ours.
#[derive(Debug, thiserror::Error)]
pub enum LineError {
    #[error("not a CloudEvents JSON object: {0}")]
    Json(#[from] serde_json::Error),
    #[error("{0}")]
    Invalid(String),
}

/// Reads one line written by [`write_json_line`] back into the event.
pub fn read_json_line(line: &str) -> Result<RecordedEvent, LineError> {
    let attributes: Envelope = serde_json::from_str(line)?;
    if attributes.specversion != SPEC_VERSION {
        return Err(LineError::Invalid(format!(
            "specversion {}",
            attributes.specversion
        )));
    }
    let event_type = attributes
        .kind
        .strip_prefix(TYPE_PREFIX)
        .ok_or_else(|| LineError::Invalid(format!("type {} is not ours", attributes.kind)))?;
    let stream_id = DeviceId::parse(attributes.subject.as_ref())
        .map_err(|e| LineError::Invalid(format!("subject: {e}")))?;
    let data = attributes
        .data
        .ok_or_else(|| LineError::Invalid("no data".to_owned()))?;
    Ok(RecordedEvent {
        position: attributes.position.unwrap_or(0),
        stream_id,
        stream_seq: attributes.streamseq,
        event_type: event_type.to_owned(),
        schema_version: attributes.schemaversion,
        meta: EventMeta {
            event_id: attributes.id,
            occurred_at: attributes.time,
            recorded_at: attributes.recordedat,
            correlation_id: attributes.correlationid,
            causation_id: attributes.causationid,
        },
        payload: data.get().to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(position: u64) -> RecordedEvent {
        RecordedEvent {
            position,
            stream_id: DeviceId::parse("dev-1").unwrap(),
            stream_seq: 7,
            event_type: "ReadingsRecorded".to_owned(),
            schema_version: 1,
            meta: EventMeta {
                event_id: Uuid::now_v7(),
                occurred_at: DateTime::from_timestamp_micros(1_700_000_000_123_456).unwrap(),
                recorded_at: DateTime::from_timestamp_micros(1_700_000_001_000_001).unwrap(),
                correlation_id: Some(Uuid::now_v7()),
                causation_id: None,
            },
            payload: r#"{"batch_id":"b\"1","readings":[{"sensor":"t","value":0.1}]}"#.to_owned(),
        }
    }

    #[test]
    fn a_line_is_one_json_object_that_reads_back_to_the_event() {
        for position in [0, 42] {
            let original = event(position);
            let mut out = Vec::new();
            write_json_line(&original, &mut out);
            let text = std::str::from_utf8(&out).unwrap();
            assert_eq!(text.matches('\n').count(), 1);
            assert!(text.ends_with("}\n"));
            let parsed: serde_json::Value = serde_json::from_str(text).unwrap();
            assert_eq!(parsed["type"], "io.watershed.ReadingsRecorded");
            assert_eq!(parsed["subject"], "dev-1");
            assert_eq!(parsed["data"]["batch_id"], "b\"1");
            assert_eq!(parsed["time"], "2023-11-14T22:13:20.123456Z");
            assert_eq!(parsed.get("position").is_some(), position > 0);
            assert_eq!(read_json_line(text.trim_end()).unwrap(), original);
        }
    }

    #[test]
    fn foreign_lines_are_refused_with_the_reason() {
        let mut out = Vec::new();
        write_json_line(&event(1), &mut out);
        let text = String::from_utf8(out).unwrap();
        let foreign = text.replace("io.watershed.", "com.example.");
        assert!(matches!(
            read_json_line(&foreign),
            Err(LineError::Invalid(m)) if m.contains("not ours")
        ));
        assert!(matches!(read_json_line("{}"), Err(LineError::Json(_))));
    }
}
