//! `watershed replay`: the history as NDJSON CloudEvents into a file or stdout, or re-published
//! to a Kafka topic (the relay's CloudEvents binding) for a Spark job. With `--resume FILE` an
//! interrupted replay continues after the last page it finished: into a file exactly once (the
//! file is cut back to that page), to stdout or Kafka at least once for the page in flight.

use std::io::{Seek, SeekFrom, Write};
use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use chrono::{DateTime, Utc};
use clap::Args;
use watershed_domain::cloudevents::read_json_line;
use watershed_domain::ports::EventPublisher;
use watershed_infra::{KafkaConfig, KafkaPublisher};

use super::download::{Download, Page};
use super::resume::ResumeState;
use super::{progress, HistoryArgs};

#[derive(Debug, Args)]
pub struct ReplayArgs {
    #[command(flatten)]
    pub history: HistoryArgs,
    /// Events recorded at or after this instant (RFC 3339).
    #[arg(long)]
    pub from: Option<DateTime<Utc>>,
    /// Events recorded before this instant.
    #[arg(long)]
    pub to: Option<DateTime<Utc>>,
    /// Only this event type, e.g. ReadingsRecorded (repeat for several).
    #[arg(long = "type")]
    pub types: Vec<String>,
    /// Where the events go: a file, `-` for stdout, or `kafka://host:port/topic`.
    #[arg(long, default_value = "-")]
    pub out: String,
    /// Keep the position in this file and continue from it: a later run with the same file
    /// replays only what was recorded since.
    #[arg(long)]
    pub resume: Option<PathBuf>,
}

/// What a replay did, for its summary line.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Replayed {
    pub events: u64,
    pub bytes: u64,
}

enum Sink {
    Stdout(std::io::Stdout),
    /// With a resume file, each page is synced before the state that counts it is saved;
    /// without one, the file is synced once at the end.
    File {
        file: std::fs::File,
        sync_each_page: bool,
    },
    Kafka(Box<KafkaPublisher>),
}

impl Sink {
    async fn open(out: &str, state: &ResumeState, resuming: bool) -> anyhow::Result<Self> {
        if out == "-" {
            return Ok(Self::Stdout(std::io::stdout()));
        }
        if out.starts_with("kafka://") {
            let config = KafkaConfig::from_url(out).with_context(|| format!("--out {out:?}"))?;
            let publisher = KafkaPublisher::connect(&config)
                .await
                .with_context(|| format!("connecting to {out}"))?;
            return Ok(Self::Kafka(Box::new(publisher)));
        }
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(out)
            .with_context(|| format!("opening {out}"))?;
        // What follows the last finished page was written by a run that did not finish it.
        let keep = if resuming { state.output_bytes } else { 0 };
        file.set_len(keep)?;
        file.seek(SeekFrom::End(0))?;
        Ok(Self::File {
            file,
            sync_each_page: resuming,
        })
    }

    /// Hands over one page; returns once it is durable where it went.
    async fn take(&mut self, page: &Page) -> anyhow::Result<()> {
        match self {
            Self::Stdout(out) => {
                let mut out = out.lock();
                out.write_all(&page.lines)?;
                out.flush()?;
            }
            Self::File {
                file,
                sync_each_page,
            } => {
                file.write_all(&page.lines)?;
                if *sync_each_page {
                    file.sync_data()?;
                }
            }
            Self::Kafka(publisher) => {
                let text = std::str::from_utf8(&page.lines).context("a line is not UTF-8")?;
                let events = text
                    .lines()
                    .map(read_json_line)
                    .collect::<Result<Vec<_>, _>>()
                    .context("a history line is not one of our CloudEvents")?;
                publisher.publish(&events).await?;
            }
        }
        Ok(())
    }

    /// Makes everything handed over durable.
    fn finish(self) -> anyhow::Result<()> {
        match self {
            Self::File { file, .. } => file.sync_data()?,
            Self::Stdout(_) | Self::Kafka(_) => {}
        }
        Ok(())
    }
}

pub async fn run(args: ReplayArgs) -> anyhow::Result<Replayed> {
    let state = match &args.resume {
        Some(path) => ResumeState::load(path)?,
        None => ResumeState::default(),
    };
    let mut sink = Sink::open(&args.out, &state, args.resume.is_some()).await?;
    let mut filters: Vec<(&str, String)> = [("recorded_from", args.from), ("recorded_to", args.to)]
        .into_iter()
        .filter_map(|(name, t)| t.map(|t| (name, t.to_rfc3339())))
        .collect();
    filters.extend(args.types.iter().map(|t| ("type", t.clone())));
    let mut download =
        Download::start(&args.history, &filters, state.resume_token.as_deref()).await?;
    let bar = progress(download.backlog);
    let started = Instant::now();
    let mut done = Replayed::default();
    let mut state = state;
    while let Some(page) = download.next_page().await? {
        sink.take(&page).await?;
        done.events += page.events as u64;
        done.bytes += page.lines.len() as u64;
        state.resume_token = Some(page.checkpoint.resume_token.clone());
        state.output_bytes += page.lines.len() as u64;
        if let Some(path) = &args.resume {
            state.save(path)?;
        }
        bar.inc(page.checkpoint.scanned);
        bar.set_message(format!("{} events replayed", done.events));
    }
    sink.finish()?;
    bar.finish_and_clear();
    let secs = started.elapsed().as_secs_f64();
    eprintln!(
        "watershed: replayed {} events ({} bytes) in {secs:.1} s, {:.0} events/s",
        done.events,
        done.bytes,
        done.events as f64 / secs.max(1e-9)
    );
    Ok(done)
}
