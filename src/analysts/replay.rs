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
use super::HistoryArgs;
use crate::progress::{self, Counting};

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
    File(FileWriter),
    Kafka(Box<KafkaPublisher>),
}

/// Bytes written between syncs of an output file when no resume file asks for one per page: the
/// disk works while the download goes on, and the sync at the end has little left to do.
const SYNC_EVERY_BYTES: u64 = 16 << 20;

/// Writes pages into the output file on a thread of its own, so the download never waits for
/// the disk. With a resume file each page is synced before the state that counts it is saved.
struct FileWriter {
    pages: std::sync::mpsc::SyncSender<Written>,
    thread: std::thread::JoinHandle<anyhow::Result<()>>,
}

/// A page for the file, and where to save the state that counts it, once it is durable.
struct Written {
    lines: bytes::BytesMut,
    state: Option<(ResumeState, PathBuf)>,
}

impl FileWriter {
    fn start(mut file: std::fs::File) -> anyhow::Result<Self> {
        // A device or a pipe (`/dev/null`) takes writes but neither a length nor a sync.
        let regular = file.metadata()?.is_file();
        let (pages, received) = std::sync::mpsc::sync_channel::<Written>(4);
        let thread = std::thread::spawn(move || {
            let mut unsynced = 0u64;
            for page in received {
                file.write_all(&page.lines)?;
                unsynced += page.lines.len() as u64;
                if regular && (page.state.is_some() || unsynced >= SYNC_EVERY_BYTES) {
                    file.sync_data()?;
                    unsynced = 0;
                }
                if let Some((state, path)) = page.state {
                    state.save(&path)?;
                }
            }
            if regular {
                file.sync_data()?;
            }
            Ok(())
        });
        Ok(Self { pages, thread })
    }

    fn write(&self, page: Written) -> anyhow::Result<()> {
        // A send fails only when the thread stopped, on an error `finish` reports.
        self.pages
            .send(page)
            .map_err(|_| anyhow::anyhow!("the output file's writer stopped"))
    }

    fn finish(self) -> anyhow::Result<()> {
        drop(self.pages);
        self.thread
            .join()
            .map_err(|_| anyhow::anyhow!("the output file's writer panicked"))?
    }
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
        if file.metadata()?.is_file() {
            // What follows the last finished page was written by a run that did not finish it.
            let keep = if resuming { state.output_bytes } else { 0 };
            file.set_len(keep)?;
            file.seek(SeekFrom::End(0))?;
        }
        Ok(Self::File(FileWriter::start(file)?))
    }

    /// Hands over one page; with `state`, saves it once the page is durable where it went.
    async fn take(
        &mut self,
        page: Page,
        state: Option<(ResumeState, PathBuf)>,
    ) -> anyhow::Result<()> {
        match self {
            Self::Stdout(out) => {
                let mut out = out.lock();
                out.write_all(&page.lines)?;
                out.flush()?;
            }
            Self::File(writer) => {
                return writer.write(Written {
                    lines: page.lines,
                    state,
                })
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
        if let Some((state, path)) = state {
            state.save(&path)?;
        }
        Ok(())
    }

    /// Makes everything handed over durable.
    fn finish(self) -> anyhow::Result<()> {
        match self {
            Self::File(writer) => writer.finish(),
            Self::Stdout(_) | Self::Kafka(_) => Ok(()),
        }
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
    let bar = progress::bar(download.backlog, Counting::EventsRead);
    let started = Instant::now();
    let mut done = Replayed::default();
    let mut state = state;
    while let Some(page) = download.next_page().await? {
        done.events += page.events as u64;
        done.bytes += page.lines.len() as u64;
        state.resume_token = Some(page.checkpoint.resume_token.clone());
        state.output_bytes += page.lines.len() as u64;
        bar.inc(page.checkpoint.scanned);
        let saved = args.resume.clone().map(|path| (state.clone(), path));
        if let Err(e) = sink.take(page, saved).await {
            // The writer's own error says more than its closed channel.
            return Err(sink.finish().err().unwrap_or(e));
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    /// `--out /dev/null` (a device takes writes, not a length or a sync), as one measures with.
    #[tokio::test]
    async fn a_device_takes_the_replay_without_a_length_or_a_sync() {
        let sink = Sink::open("/dev/null", &ResumeState::default(), false)
            .await
            .expect("opening a device");
        let Sink::File(writer) = sink else {
            panic!("a path is a file sink")
        };
        writer
            .write(Written {
                lines: bytes::BytesMut::from(&b"{}\n"[..]),
                state: None,
            })
            .unwrap();
        writer.finish().expect("nothing to sync on a device");
    }

    #[tokio::test]
    async fn a_file_holds_every_page_once_finished() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.ndjson");
        std::fs::write(&path, "left over from before\n").unwrap();
        let Sink::File(writer) = Sink::open(path.to_str().unwrap(), &ResumeState::default(), false)
            .await
            .unwrap()
        else {
            panic!("a path is a file sink")
        };
        for line in ["{\"a\":1}\n", "{\"b\":2}\n"] {
            let lines = bytes::BytesMut::from(line.as_bytes());
            writer.write(Written { lines, state: None }).unwrap();
        }
        writer.finish().unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "{\"a\":1}\n{\"b\":2}\n"
        );
    }
}
