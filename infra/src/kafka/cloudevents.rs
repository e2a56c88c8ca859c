//! Events as CloudEvents 1.0 (attributes in `watershed_domain::cloudevents`) in the Kafka
//! protocol binding's binary content mode: the envelope goes
//! in `ce_` headers and the value is the stored JSON payload as is, so neither side re-encodes
//! payloads. Extension attributes carry what CloudEvents has no name for (stream sequence, schema
//! version, recorded-at, correlation and causation, the store position).

use chrono::{DateTime, Utc};
use rdkafka::message::{Header, Headers, OwnedHeaders};
use uuid::Uuid;
use watershed_domain::cloudevents::{time, SOURCE, SPEC_VERSION, TYPE_PREFIX};
use watershed_domain::event::{EventMeta, RecordedEvent};
use watershed_domain::ports::BusError;
use watershed_domain::DeviceId;

const H_SPEC: &str = "ce_specversion";
const H_ID: &str = "ce_id";
const H_SOURCE: &str = "ce_source";
const H_TYPE: &str = "ce_type";
const H_SUBJECT: &str = "ce_subject";
const H_TIME: &str = "ce_time";
const H_CONTENT_TYPE: &str = "content-type";
const H_SEQ: &str = "ce_streamseq";
const H_SCHEMA: &str = "ce_schemaversion";
const H_RECORDED: &str = "ce_recordedat";
const H_CORRELATION: &str = "ce_correlationid";
const H_CAUSATION: &str = "ce_causationid";
const H_POSITION: &str = "ce_position";

fn text<'a>(key: &'a str, value: &'a str) -> Header<'a, &'a str> {
    Header {
        key,
        value: Some(value),
    }
}

/// The headers of one event; the caller sends `event.payload` as the value, keyed by stream id.
pub fn headers(event: &RecordedEvent) -> OwnedHeaders {
    let meta = &event.meta;
    let mut headers = OwnedHeaders::new_with_capacity(13)
        .insert(text(H_SPEC, SPEC_VERSION))
        .insert(text(H_ID, &meta.event_id.to_string()))
        .insert(text(H_SOURCE, SOURCE))
        .insert(text(H_TYPE, &format!("{TYPE_PREFIX}{}", event.event_type)))
        .insert(text(H_SUBJECT, event.stream_id.as_str()))
        .insert(text(H_TIME, &time(meta.occurred_at)))
        .insert(text(H_CONTENT_TYPE, "application/json"))
        .insert(text(H_SEQ, &event.stream_seq.to_string()))
        .insert(text(H_SCHEMA, &event.schema_version.to_string()))
        .insert(text(H_RECORDED, &time(meta.recorded_at)));
    if let Some(id) = meta.correlation_id {
        headers = headers.insert(text(H_CORRELATION, &id.to_string()));
    }
    if let Some(id) = meta.causation_id {
        headers = headers.insert(text(H_CAUSATION, &id.to_string()));
    }
    if event.position > 0 {
        headers = headers.insert(text(H_POSITION, &event.position.to_string()));
    }
    headers
}

/// The envelope attributes found in a message's headers.
#[derive(Default)]
struct Attributes<'a> {
    spec: Option<&'a str>,
    id: Option<&'a str>,
    kind: Option<&'a str>,
    subject: Option<&'a str>,
    time: Option<&'a str>,
    seq: Option<&'a str>,
    schema: Option<&'a str>,
    recorded: Option<&'a str>,
    correlation: Option<&'a str>,
    causation: Option<&'a str>,
    position: Option<&'a str>,
}

fn malformed(what: impl std::fmt::Display) -> BusError {
    BusError::Malformed(format!("not a Watershed CloudEvent: {what}"))
}

fn required<'a>(value: Option<&'a str>, name: &str) -> Result<&'a str, BusError> {
    value.ok_or_else(|| malformed(format!("missing {name}")))
}

fn parse<T: std::str::FromStr>(value: &str, name: &str) -> Result<T, BusError> {
    value
        .parse()
        .map_err(|_| malformed(format!("{name} is {value:?}")))
}

fn parse_time(value: &str, name: &str) -> Result<DateTime<Utc>, BusError> {
    DateTime::parse_from_rfc3339(value)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| malformed(format!("{name} is {value:?}")))
}

/// Reads an event back from a message's headers and value.
pub fn decode(
    headers: Option<&impl Headers>,
    payload: Option<&[u8]>,
) -> Result<RecordedEvent, BusError> {
    let headers = headers.ok_or_else(|| malformed("no headers"))?;
    let mut a = Attributes::default();
    for header in headers.iter() {
        let Some(value) = header.value.and_then(|v| std::str::from_utf8(v).ok()) else {
            continue;
        };
        let slot = match header.key {
            H_SPEC => &mut a.spec,
            H_ID => &mut a.id,
            H_TYPE => &mut a.kind,
            H_SUBJECT => &mut a.subject,
            H_TIME => &mut a.time,
            H_SEQ => &mut a.seq,
            H_SCHEMA => &mut a.schema,
            H_RECORDED => &mut a.recorded,
            H_CORRELATION => &mut a.correlation,
            H_CAUSATION => &mut a.causation,
            H_POSITION => &mut a.position,
            _ => continue,
        };
        *slot = Some(value);
    }
    let spec = required(a.spec, H_SPEC)?;
    if spec != SPEC_VERSION {
        return Err(malformed(format!("specversion {spec}")));
    }
    let kind = required(a.kind, H_TYPE)?;
    let event_type = kind
        .strip_prefix(TYPE_PREFIX)
        .ok_or_else(|| malformed(format!("type {kind}")))?;
    let subject = required(a.subject, H_SUBJECT)?;
    let uuid = |v: Option<&str>, name| v.map(|v| parse::<Uuid>(v, name)).transpose();
    let payload = std::str::from_utf8(payload.ok_or_else(|| malformed("no value"))?)
        .map_err(|_| malformed("the value is not UTF-8"))?;
    Ok(RecordedEvent {
        position: a.position.map_or(Ok(0), |p| parse(p, H_POSITION))?,
        stream_id: DeviceId::parse(subject).map_err(|e| malformed(format!("subject: {e}")))?,
        stream_seq: parse(required(a.seq, H_SEQ)?, H_SEQ)?,
        event_type: event_type.to_owned(),
        schema_version: parse(required(a.schema, H_SCHEMA)?, H_SCHEMA)?,
        meta: EventMeta {
            event_id: parse(required(a.id, H_ID)?, H_ID)?,
            occurred_at: parse_time(required(a.time, H_TIME)?, H_TIME)?,
            recorded_at: parse_time(required(a.recorded, H_RECORDED)?, H_RECORDED)?,
            correlation_id: uuid(a.correlation, H_CORRELATION)?,
            causation_id: uuid(a.causation, H_CAUSATION)?,
        },
        payload: payload.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(position: u64, correlation: Option<Uuid>) -> RecordedEvent {
        RecordedEvent {
            position,
            stream_id: DeviceId::parse("pump-7").unwrap(),
            stream_seq: 42,
            event_type: "ReadingsRecorded".into(),
            schema_version: 1,
            meta: EventMeta {
                event_id: Uuid::now_v7(),
                occurred_at: "2026-11-23T10:00:00.123456Z".parse().unwrap(),
                recorded_at: "2026-11-23T10:00:01Z".parse().unwrap(),
                correlation_id: correlation,
                causation_id: None,
            },
            payload: r#"{"batch_id":"b1","readings":[]}"#.into(),
        }
    }

    #[test]
    fn an_event_survives_the_round_trip() {
        for original in [event(0, None), event(17, Some(Uuid::now_v7()))] {
            let headers = headers(&original);
            let back = decode(Some(&headers), Some(original.payload.as_bytes())).unwrap();
            assert_eq!(back, original);
        }
    }

    #[test]
    fn the_headers_follow_the_kafka_binding() {
        let e = event(0, None);
        let headers = headers(&e);
        let get = |key: &str| {
            headers
                .iter()
                .find(|h| h.key == key)
                .and_then(|h| h.value)
                .map(|v| String::from_utf8(v.to_vec()).unwrap())
        };
        assert_eq!(get("ce_specversion").as_deref(), Some("1.0"));
        assert_eq!(
            get("ce_type").as_deref(),
            Some("io.watershed.ReadingsRecorded")
        );
        assert_eq!(get("ce_subject").as_deref(), Some("pump-7"));
        assert_eq!(
            get("ce_time").as_deref(),
            Some("2026-11-23T10:00:00.123456Z")
        );
        assert_eq!(get("content-type").as_deref(), Some("application/json"));
        assert_eq!(
            get("ce_position"),
            None,
            "no position where the store has none"
        );
    }

    #[test]
    fn foreign_or_damaged_messages_are_refused() {
        let e = event(0, None);
        assert!(decode(Some(&headers(&e)), None).is_err(), "no value");
        assert!(
            decode(None::<&OwnedHeaders>, Some(b"{}")).is_err(),
            "no headers"
        );
        let foreign = OwnedHeaders::new()
            .insert(Header {
                key: "ce_specversion",
                value: Some("1.0"),
            })
            .insert(Header {
                key: "ce_type",
                value: Some("com.example.Other"),
            });
        let err = decode(Some(&foreign), Some(b"{}")).unwrap_err();
        assert!(err.to_string().contains("com.example.Other"), "{err}");
    }
}
