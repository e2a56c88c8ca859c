//! Splunk's HTTP Event Collector as an event sink: batched JSON events (concatenated objects,
//! as HEC takes them) gzipped in one POST to `/services/collector/event` with
//! `Authorization: Splunk <token>`. Each event carries its event id, so searches can drop the
//! duplicates that at-least-once delivery may bring.
//!
//! Answers, as HEC documents them: 200 `{"text":"Success","code":0}`; 400 with `code` 6 and
//! `invalid-event-number` for an event it cannot parse (the events before it were indexed); 401
//! and 403 for a missing or wrong token; 503 `Server is busy` (code 9) and 429 when overloaded.

use std::io::Write;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use flate2::write::GzEncoder;
use serde::{Deserialize, Serialize};
use watershed_domain::cloudevents::{time, write_json_line};
use watershed_domain::ports::{EventSink, SinkError};
use watershed_domain::{DeviceEvent, RecordedEvent};

/// What one HEC event is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HecMode {
    /// One per event: the CloudEvent, stamped with the event's `time`.
    Events,
    /// One per reading, stamped with its `measured_at`: what dashboards in Splunk chart.
    Readings,
}

#[derive(Debug, Clone)]
pub struct HecConfig {
    /// The collector: `https://host:8088` (the event endpoint's path is added) or the full URL.
    pub url: String,
    pub token: String,
    pub mode: HecMode,
    /// The index to write to; HEC's default for the token when unset.
    pub index: Option<String>,
    /// Uncompressed bytes one request carries at most (one event is sent alone if larger).
    /// HEC's `max_content_length` defaults to 800 MB on current releases, 1 MB on old ones.
    pub max_request_bytes: usize,
}

impl HecConfig {
    pub const DEFAULT_MAX_REQUEST_BYTES: usize = 1_000_000;
}

pub struct SplunkHec {
    client: reqwest::Client,
    url: String,
    authorization: String,
    config: HecConfig,
}

/// HEC's JSON answer.
#[derive(Debug, Deserialize)]
struct Answer {
    #[serde(default)]
    text: String,
    #[serde(default)]
    code: i64,
    #[serde(rename = "invalid-event-number")]
    invalid_event_number: Option<usize>,
}

impl SplunkHec {
    pub fn new(config: HecConfig) -> Result<Self, SinkError> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| SinkError::Unavailable(format!("building the HTTP client: {e}")))?;
        let base = config.url.trim_end_matches('/');
        let url = if base.contains("/services/collector") {
            base.to_owned()
        } else {
            format!("{base}/services/collector/event")
        };
        Ok(Self {
            client,
            url,
            authorization: format!("Splunk {}", config.token),
            config,
        })
    }

    /// The HEC events of a prefix of `events` that fits one request (at least the first event),
    /// how many events that is, and where each event's HEC events start.
    fn body(&self, events: &[RecordedEvent]) -> (Vec<u8>, usize, Vec<usize>) {
        let mut body = Vec::with_capacity(self.config.max_request_bytes.min(1 << 20));
        let mut starts = Vec::new();
        let mut hec_events = 0;
        let mut scratch = Vec::new();
        for (i, event) in events.iter().enumerate() {
            scratch.clear();
            let count = self.write_event(event, &mut scratch);
            if i > 0 && body.len() + scratch.len() > self.config.max_request_bytes {
                return (body, i, starts);
            }
            starts.push(hec_events);
            hec_events += count;
            body.extend_from_slice(&scratch);
        }
        (body, events.len(), starts)
    }

    /// Writes `event` as HEC events; returns how many.
    fn write_event(&self, event: &RecordedEvent, out: &mut Vec<u8>) -> usize {
        let index = self.config.index.as_deref();
        match self.config.mode {
            HecMode::Events => {
                let hec = HecEvent::<()> {
                    time: Epoch(event.meta.occurred_at),
                    host: "watershed",
                    source: "watershed",
                    sourcetype: "watershed:event",
                    index,
                    event: None,
                    fields: Fields {
                        device_id: event.stream_id.as_str(),
                        event_type: Some(&event.event_type),
                        sensor: None,
                    },
                };
                serde_json::to_writer(&mut *out, &hec).expect("plain data");
                // The CloudEvent goes in as written, its stored payload neither parsed nor
                // checked again: the closing brace gives way to the event member.
                out.pop();
                out.extend_from_slice(b",\"event\":");
                write_json_line(event, out);
                out.pop(); // the line's newline
                out.push(b'}');
                1
            }
            HecMode::Readings => {
                let Ok(DeviceEvent::ReadingsRecorded(batch)) = event.decode() else {
                    return 0;
                };
                let event_id = event.meta.event_id.to_string();
                let recorded_at = time(event.meta.recorded_at);
                for reading in &batch.readings {
                    let hec = HecEvent {
                        time: Epoch(reading.measured_at),
                        host: "watershed",
                        source: "watershed",
                        sourcetype: "watershed:reading",
                        index,
                        event: Some(ReadingBody {
                            device_id: event.stream_id.as_str(),
                            sensor: reading.sensor.as_str(),
                            value: reading.value.get(),
                            unit: reading.unit.as_ref().map(|u| u.as_str()),
                            event_id: &event_id,
                            stream_seq: event.stream_seq,
                            recorded_at: &recorded_at,
                        }),
                        fields: Fields {
                            device_id: event.stream_id.as_str(),
                            event_type: None,
                            sensor: Some(reading.sensor.as_str()),
                        },
                    };
                    serde_json::to_writer(&mut *out, &hec).expect("plain data");
                }
                batch.readings.len()
            }
        }
    }
}

/// Seconds since the epoch with microseconds, as HEC's `time` takes them, written exactly.
struct Epoch(DateTime<Utc>);

impl Serialize for Epoch {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let micros = self.0.timestamp_micros();
        let text = format!(
            "{}.{:06}",
            micros.div_euclid(1_000_000),
            micros.rem_euclid(1_000_000)
        );
        serde_json::value::RawValue::from_string(text)
            .expect("digits and a point are a JSON number")
            .serialize(s)
    }
}

#[derive(Serialize)]
struct Fields<'a> {
    device_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    event_type: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sensor: Option<&'a str>,
}

/// One HEC event: the envelope HEC documents, around a CloudEvent or a reading.
#[derive(Serialize)]
struct HecEvent<'a, E> {
    time: Epoch,
    host: &'a str,
    source: &'a str,
    sourcetype: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    index: Option<&'a str>,
    /// Events mode appends the CloudEvent after the rest, as written (see `write_event`).
    #[serde(skip_serializing_if = "Option::is_none")]
    event: Option<E>,
    fields: Fields<'a>,
}

#[derive(Serialize)]
struct ReadingBody<'a> {
    device_id: &'a str,
    sensor: &'a str,
    value: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    unit: Option<&'a str>,
    event_id: &'a str,
    stream_seq: u64,
    recorded_at: &'a str,
}

fn gzip(body: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(
        Vec::with_capacity(body.len() / 4),
        flate2::Compression::fast(),
    );
    encoder.write_all(body).expect("writing to memory");
    encoder.finish().expect("writing to memory")
}

#[async_trait]
impl EventSink for SplunkHec {
    async fn deliver(&self, events: &[RecordedEvent]) -> Result<usize, SinkError> {
        let (body, taken, starts) = self.body(events);
        if body.is_empty() {
            // Nothing of these becomes a HEC event (readings mode, no readings): taken as sent.
            return Ok(taken);
        }
        let response = self
            .client
            .post(&self.url)
            .header("Authorization", &self.authorization)
            .header("Content-Type", "application/json")
            .header("Content-Encoding", "gzip")
            .body(gzip(&body))
            .send()
            .await
            .map_err(|e| SinkError::Unavailable(format!("POST {}: {e}", self.url)))?;
        let status = response.status();
        let answer: Option<Answer> = response.json().await.ok();
        let said = |answer: &Option<Answer>| match answer {
            Some(a) => format!("{status}: {} (code {})", a.text, a.code),
            None => status.to_string(),
        };
        match status.as_u16() {
            200 => Ok(taken),
            401 | 403 => Err(SinkError::Unauthorized(said(&answer))),
            400 => {
                let hec_index = answer
                    .as_ref()
                    .and_then(|a| a.invalid_event_number)
                    .unwrap_or(0);
                // The event whose HEC events include the refused one.
                let first_refused = starts
                    .partition_point(|start| *start <= hec_index)
                    .saturating_sub(1);
                Err(SinkError::Refused {
                    first_refused,
                    reason: said(&answer),
                })
            }
            _ => Err(SinkError::Unavailable(said(&answer))),
        }
    }
}
