//! CSV and NDJSON parts: one line per reading, times in RFC 3339 UTC with microseconds, values
//! in the shortest form that reads back to the same float.

use std::fs::File;
use std::io::{BufWriter, Write};

use serde::Serialize;
use watershed_domain::cloudevents::time;

use super::rows::Row;
use super::PartWriter;

/// A row as text formats write it.
#[derive(Serialize)]
struct TextRow<'a> {
    device_id: &'a str,
    sensor: &'a str,
    value: f64,
    unit: Option<&'a str>,
    measured_at: String,
    recorded_at: String,
    event_id: String,
    stream_seq: u64,
}

impl<'a> From<&'a Row> for TextRow<'a> {
    fn from(row: &'a Row) -> Self {
        Self {
            device_id: row.device_id.as_str(),
            sensor: row.sensor.as_str(),
            value: row.value,
            unit: row.unit.as_ref().map(|u| u.as_str()),
            measured_at: time(row.measured_at),
            recorded_at: time(row.recorded_at),
            event_id: row.event_id.hyphenated().to_string(),
            stream_seq: row.stream_seq,
        }
    }
}

pub struct CsvPart(csv::Writer<File>);

impl CsvPart {
    /// The header comes from the row's field names with the first row.
    pub fn create(file: File) -> Self {
        Self(csv::Writer::from_writer(file))
    }
}

impl PartWriter for CsvPart {
    fn write(&mut self, row: Row) -> anyhow::Result<()> {
        Ok(self.0.serialize(TextRow::from(&row))?)
    }

    fn finish(self: Box<Self>) -> anyhow::Result<()> {
        let file = self.0.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        Ok(())
    }
}

pub struct NdjsonPart(BufWriter<File>);

impl NdjsonPart {
    pub fn create(file: File) -> Self {
        Self(BufWriter::with_capacity(256 * 1024, file))
    }
}

impl PartWriter for NdjsonPart {
    fn write(&mut self, row: Row) -> anyhow::Result<()> {
        serde_json::to_writer(&mut self.0, &TextRow::from(&row))?;
        self.0.write_all(b"\n")?;
        Ok(())
    }

    fn finish(self: Box<Self>) -> anyhow::Result<()> {
        let file = self.0.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        Ok(())
    }
}
