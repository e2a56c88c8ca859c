//! Parquet parts: Arrow columns in batches, zstd, row groups of 128 Ki rows (big enough for
//! Spark and DuckDB to scan fast, small enough to bound memory per open part).

use std::fs::File;
use std::sync::Arc;

use arrow_array::builder::{
    Float64Builder, Int64Builder, StringBuilder, TimestampMicrosecondBuilder,
};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;

use super::rows::Row;
use super::PartWriter;

const ROW_GROUP_ROWS: usize = 128 * 1024;
/// Rows collected before they become an Arrow batch.
const BATCH_ROWS: usize = 8 * 1024;

pub fn schema() -> SchemaRef {
    let utc = || DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()));
    Arc::new(Schema::new(vec![
        Field::new("device_id", DataType::Utf8, false),
        Field::new("sensor", DataType::Utf8, false),
        Field::new("value", DataType::Float64, false),
        Field::new("unit", DataType::Utf8, true),
        Field::new("measured_at", utc(), false),
        Field::new("recorded_at", utc(), false),
        Field::new("event_id", DataType::Utf8, false),
        Field::new("stream_seq", DataType::Int64, false),
    ]))
}

pub struct ParquetPart {
    writer: ArrowWriter<File>,
    pending: Vec<Row>,
}

impl ParquetPart {
    pub fn create(file: File) -> anyhow::Result<Self> {
        let properties = WriterProperties::builder()
            .set_compression(Compression::ZSTD(ZstdLevel::default()))
            .set_max_row_group_size(ROW_GROUP_ROWS)
            .set_created_by(format!("watershed {}", env!("CARGO_PKG_VERSION")))
            .build();
        Ok(Self {
            writer: ArrowWriter::try_new(file, schema(), Some(properties))?,
            pending: Vec::with_capacity(BATCH_ROWS),
        })
    }

    fn write_pending(&mut self) -> anyhow::Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let batch = to_batch(&self.pending)?;
        self.writer.write(&batch)?;
        self.pending.clear();
        Ok(())
    }
}

impl PartWriter for ParquetPart {
    fn write(&mut self, row: Row) -> anyhow::Result<()> {
        self.pending.push(row);
        if self.pending.len() >= BATCH_ROWS {
            self.write_pending()?;
        }
        Ok(())
    }

    fn finish(mut self: Box<Self>) -> anyhow::Result<()> {
        self.write_pending()?;
        let file = self.writer.into_inner()?;
        file.sync_all()?;
        Ok(())
    }
}

fn to_batch(rows: &[Row]) -> anyhow::Result<RecordBatch> {
    let n = rows.len();
    let mut device = StringBuilder::with_capacity(n, n * 16);
    let mut sensor = StringBuilder::with_capacity(n, n * 16);
    let mut value = Float64Builder::with_capacity(n);
    let mut unit = StringBuilder::with_capacity(n, n * 4);
    let mut measured = TimestampMicrosecondBuilder::with_capacity(n).with_timezone("UTC");
    let mut recorded = TimestampMicrosecondBuilder::with_capacity(n).with_timezone("UTC");
    let mut event_id = StringBuilder::with_capacity(n, n * 36);
    let mut seq = Int64Builder::with_capacity(n);
    let mut id_text = uuid::Uuid::encode_buffer();
    for row in rows {
        device.append_value(row.device_id.as_str());
        sensor.append_value(row.sensor.as_str());
        value.append_value(row.value);
        unit.append_option(row.unit.as_ref().map(|u| u.as_str()));
        measured.append_value(row.measured_at.timestamp_micros());
        recorded.append_value(row.recorded_at.timestamp_micros());
        event_id.append_value(row.event_id.hyphenated().encode_lower(&mut id_text));
        seq.append_value(i64::try_from(row.stream_seq)?);
    }
    let columns: Vec<ArrayRef> = vec![
        Arc::new(device.finish()),
        Arc::new(sensor.finish()),
        Arc::new(value.finish()),
        Arc::new(unit.finish()),
        Arc::new(measured.finish()),
        Arc::new(recorded.finish()),
        Arc::new(event_id.finish()),
        Arc::new(seq.finish()),
    ];
    Ok(RecordBatch::try_new(schema(), columns)?)
}
