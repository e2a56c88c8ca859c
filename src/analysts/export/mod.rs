//! `watershed export`: one row per reading, in Hive-style day partitions
//! (`DIR/date=YYYY-MM-DD/part-….parquet`) that Spark, DuckDB and pandas read as one table.
//!
//! Parts are written under hidden names and renamed only when the whole run is written; with
//! `--incremental` the run's end is then saved in `DIR/_watershed_export.json` and the next run
//! starts there. A run's part names derive from where it started, so a run that crashed before
//! saving is redone under the same names, overwriting its own parts: no reading is ever
//! exported twice.

mod parquet;
mod rows;
mod text;

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use chrono::{DateTime, NaiveDate, Utc};
use clap::{Args, ValueEnum};
use sha2::{Digest, Sha256};
use watershed_domain::cloudevents::read_json_line;
use watershed_domain::TimeRange;

use super::download::Download;
use super::resume::{sync_dir, ResumeState};
use super::HistoryArgs;
use crate::progress::{self, Counting};
use rows::{rows_of, Row};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Parquet,
    Csv,
    Ndjson,
}

impl Format {
    fn extension(self) -> &'static str {
        match self {
            Self::Parquet => "parquet",
            Self::Csv => "csv",
            Self::Ndjson => "ndjson",
        }
    }

    fn part(self, file: File) -> anyhow::Result<Box<dyn PartWriter>> {
        Ok(match self {
            Self::Parquet => Box::new(parquet::ParquetPart::create(file)?),
            Self::Csv => Box::new(text::CsvPart::create(file)),
            Self::Ndjson => Box::new(text::NdjsonPart::create(file)),
        })
    }
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    #[command(flatten)]
    pub history: HistoryArgs,
    /// Parquet (zstd), CSV or NDJSON.
    #[arg(long, value_enum, default_value = "parquet")]
    pub format: Format,
    /// The directory the partitions go in.
    #[arg(long)]
    pub out: PathBuf,
    /// Readings measured at or after this instant (RFC 3339).
    #[arg(long)]
    pub from: Option<DateTime<Utc>>,
    /// Readings measured before this instant.
    #[arg(long)]
    pub to: Option<DateTime<Utc>>,
    /// Continue after the previous incremental export into the same directory: only readings
    /// recorded since are written.
    #[arg(long)]
    pub incremental: bool,
}

/// One open part file.
trait PartWriter: Send {
    fn write(&mut self, row: Row) -> anyhow::Result<()>;
    /// Writes what is buffered and syncs the file.
    fn finish(self: Box<Self>) -> anyhow::Result<()>;
}

/// The cursor file of incremental exports; `_` keeps Spark, pyarrow and DuckDB from reading it
/// as data.
const STATE_FILE: &str = "_watershed_export.json";
/// Parts open at once. Readings arrive in commit order, so mostly for one or two days at a time;
/// a part of an older day is closed when more are open, and a later reading of that day starts
/// another part. Each open Parquet part buffers up to a row group.
const MAX_OPEN_PARTS: usize = 16;

/// What an export wrote, for its summary line.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Exported {
    pub rows: u64,
    pub files: u64,
}

pub async fn run(args: ExportArgs) -> anyhow::Result<Exported> {
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let state_path = args.out.join(STATE_FILE);
    let state = if args.incremental {
        ResumeState::load(&state_path)?
    } else {
        ResumeState::default()
    };
    let measured = TimeRange {
        from: args.from,
        to: args.to,
    };
    let mut filters: Vec<(&str, String)> = [("measured_from", args.from), ("measured_to", args.to)]
        .into_iter()
        .filter_map(|(name, t)| t.map(|t| (name, t.to_rfc3339())))
        .collect();
    // Only readings batches become rows: the server need not send the rest.
    filters.push(("type", "ReadingsRecorded".to_owned()));
    let mut download =
        Download::start(&args.history, &filters, state.resume_token.as_deref()).await?;
    let parts = Parts::new(&args.out, args.format, run_id(&state));
    // Files are written on a thread of their own, so encoding and compressing one page overlaps
    // downloading and parsing the next.
    let (pages, for_writer) = tokio::sync::mpsc::channel(2);
    let writer = std::thread::spawn(move || write_parts(parts, for_writer));
    let bar = progress::bar(download.backlog, Counting::EventsRead);
    let started = Instant::now();
    let mut last_token = state.resume_token.clone();
    let mut rows = 0u64;
    while let Some(page) = download.next_page().await? {
        let text = std::str::from_utf8(&page.lines).context("a history line is not UTF-8")?;
        let mut page_rows = Vec::new();
        for line in text.lines() {
            let event = read_json_line(line).context("a history line is not one of our events")?;
            page_rows.extend(rows_of(&event, &measured)?);
        }
        rows += page_rows.len() as u64;
        if pages.send(ToWriter::Rows(page_rows)).await.is_err() {
            break; // The writer failed; joining it tells why.
        }
        last_token = Some(page.checkpoint.resume_token);
        bar.inc(page.checkpoint.scanned);
        bar.set_message(format!("{rows} readings"));
    }
    let _ = pages.send(ToWriter::Commit).await;
    drop(pages);
    let files = writer.join().expect("the part writer does not panic")?;
    if args.incremental {
        let done = ResumeState {
            resume_token: last_token,
            output_bytes: 0,
        };
        done.save(&state_path)?;
    }
    bar.finish_and_clear();
    let secs = started.elapsed().as_secs_f64();
    eprintln!(
        "watershed: exported {rows} readings into {files} files in {secs:.1} s, {:.0} readings/s",
        rows as f64 / secs.max(1e-9)
    );
    Ok(Exported { rows, files })
}

enum ToWriter {
    Rows(Vec<Row>),
    /// Everything was sent: finish and name the parts.
    Commit,
}

/// Writes what arrives into `parts`, and commits them only when told to: a download that broke
/// off leaves its parts hidden, to be redone under the same names.
fn write_parts(
    mut parts: Parts,
    mut pages: tokio::sync::mpsc::Receiver<ToWriter>,
) -> anyhow::Result<u64> {
    while let Some(message) = pages.blocking_recv() {
        match message {
            ToWriter::Rows(rows) => {
                for row in rows {
                    parts.write(row)?;
                }
            }
            ToWriter::Commit => return parts.commit(),
        }
    }
    anyhow::bail!("the export stopped before the end of the history; run it again")
}

/// Names a run by where it starts: a redone run gets the same names.
fn run_id(state: &ResumeState) -> String {
    match &state.resume_token {
        None => "0".to_owned(),
        Some(token) => hex::encode(&Sha256::digest(token.as_bytes())[..6]),
    }
}

/// The run's part files, by day.
struct Parts {
    dir: PathBuf,
    format: Format,
    run: String,
    open: BTreeMap<NaiveDate, Open>,
    /// Finished parts under their hidden names, and the names they get at commit.
    written: Vec<(PathBuf, PathBuf)>,
    /// Parts started per day, to number the next.
    started: BTreeMap<NaiveDate, u32>,
    /// Increases with every row written, to find the part used least recently.
    clock: u64,
}

struct Open {
    writer: Box<dyn PartWriter>,
    last_used: u64,
}

impl Parts {
    fn new(dir: &Path, format: Format, run: String) -> Self {
        Self {
            dir: dir.to_owned(),
            format,
            run,
            open: BTreeMap::new(),
            written: Vec::new(),
            started: BTreeMap::new(),
            clock: 0,
        }
    }

    fn write(&mut self, row: Row) -> anyhow::Result<()> {
        let day = row.day();
        self.clock += 1;
        if !self.open.contains_key(&day) {
            if self.open.len() >= MAX_OPEN_PARTS {
                self.close_least_recent()?;
            }
            let writer = self.start(day)?;
            self.open.insert(
                day,
                Open {
                    writer,
                    last_used: 0,
                },
            );
        }
        let open = self.open.get_mut(&day).expect("opened above");
        open.last_used = self.clock;
        open.writer.write(row)
    }

    fn start(&mut self, day: NaiveDate) -> anyhow::Result<Box<dyn PartWriter>> {
        let number = self.started.entry(day).or_default();
        let name = format!(
            "part-{}-{:04}.{}",
            self.run,
            number,
            self.format.extension()
        );
        *number += 1;
        let partition = self.dir.join(format!("date={}", day.format("%Y-%m-%d")));
        std::fs::create_dir_all(&partition)?;
        let hidden = partition.join(format!(".{name}.inprogress"));
        let file =
            File::create(&hidden).with_context(|| format!("creating {}", hidden.display()))?;
        self.written.push((hidden, partition.join(name)));
        self.format.part(file)
    }

    fn close_least_recent(&mut self) -> anyhow::Result<()> {
        let day = *self
            .open
            .iter()
            .min_by_key(|(_, open)| open.last_used)
            .map(|(day, _)| day)
            .expect("called with parts open");
        let open = self.open.remove(&day).expect("found above");
        open.writer.finish()
    }

    /// Finishes every part and gives each its visible name; returns how many there are.
    fn commit(mut self) -> anyhow::Result<u64> {
        for (_, open) in std::mem::take(&mut self.open) {
            open.writer.finish()?;
        }
        for (hidden, visible) in &self.written {
            std::fs::rename(hidden, visible)
                .with_context(|| format!("renaming {}", hidden.display()))?;
            sync_dir(visible)?;
        }
        Ok(self.written.len() as u64)
    }
}
