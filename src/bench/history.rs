//! `watershed bench history`: how fast analysts get the history out — replay to NDJSON and
//! export to Parquet, both through `/v1/history`, and the Splunk sink (one HEC event per reading,
//! to the HEC receiver of the tests) — beside raw scans of the same store in the same run: the
//! event rows read straight from SQLite (what replay must at least do), and the same with every
//! readings payload parsed (what an export or the sink must at least do).

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{Connection, Row, SqliteConnection};
use watershed_domain::DeviceEvent;

use std::sync::Arc;

use tokio_util::sync::CancellationToken;
use watershed_infra::{HecConfig, HecMode, SplunkHec, SqliteEventStore, StoreTailBus};
use watershed_projectors::{OnRefused, RetryPolicy, SinkConfig, SinkRunner};

use super::hec::HecReceiver;
use super::{rate, Load, Served};
use crate::adapters::PortUrls;
use crate::analysts::export::{self, ExportArgs, Format};
use crate::analysts::replay::{self, ReplayArgs};
use crate::analysts::HistoryArgs;
use crate::app::AppConfig;
use crate::tokens;

/// Each measurement is taken this many times and the fastest kept: these runs last a fraction of
/// a second, where a noisy neighbour weighs most.
const RUNS: usize = 3;

#[derive(Debug, Args)]
pub struct BenchHistoryArgs {
    #[command(flatten)]
    load: Load,
}

pub async fn run(args: BenchHistoryArgs) -> anyhow::Result<()> {
    let dir = tempfile::tempdir().context("creating a scratch directory")?;
    println!(
        "bench history: {} readings, {} per event, {} devices",
        args.load.readings, args.load.batch_size, args.load.devices
    );
    let analyst = tokens::generate();
    let mut config = AppConfig::ephemeral(
        &dir.path().join("watershed"),
        &tokens::generate(),
        &tokens::generate(),
    );
    config.analyst_token = Some(watershed_http_edge::ApiToken::parse(
        "analyst",
        analyst.clone(),
    )?);
    let store = dir
        .path()
        .join("watershed/data")
        .join(PortUrls::EVENTS_FILE);
    let app = Served::start(config).await?;
    let sent = app.run_fleet(&args.load).await?.readings;

    let (mut raw, mut raw_decoded) = (Duration::MAX, Duration::MAX);
    let (mut raw_events, mut readings) = (0, 0);
    for _ in 0..RUNS {
        let (took, events) = raw_scan(&store, false).await?;
        (raw, raw_events) = (raw.min(took), events);
        let (took, found) = raw_scan(&store, true).await?;
        (raw_decoded, readings) = (raw_decoded.min(took), found);
    }
    anyhow::ensure!(
        readings == sent,
        "the store holds {readings} readings, {sent} were sent"
    );
    let line = |name: &str, took: Duration, baseline: Duration| {
        println!(
            "  {name:<34} {:>10.0} readings/s  ({:.2} s, {:.2}× {})",
            rate(readings, took),
            took.as_secs_f64(),
            baseline.as_secs_f64() / took.as_secs_f64(),
            if baseline == raw {
                "raw scan"
            } else {
                "raw scan + decode"
            },
        )
    };
    println!(
        "  {:<34} {:>10.0} readings/s  ({:.2} s, {raw_events} events)",
        "raw scan of the event rows",
        rate(readings, raw),
        raw.as_secs_f64()
    );
    println!(
        "  {:<34} {:>10.0} readings/s  ({:.2} s)",
        "raw scan + payloads decoded",
        rate(readings, raw_decoded),
        raw_decoded.as_secs_f64()
    );

    let history = || HistoryArgs::fleet(&app.base, &analyst);
    let (mut took, mut replayed) = (Duration::MAX, Default::default());
    for _ in 0..RUNS {
        let started = Instant::now();
        replayed = replay::run(ReplayArgs {
            history: history(),
            from: None,
            to: None,
            types: Vec::new(),
            out: dir.path().join("replay.ndjson").display().to_string(),
            resume: None,
        })
        .await?;
        took = took.min(started.elapsed());
    }
    line("replay to NDJSON (HTTP)", took, raw);
    println!(
        "  {:<34} {:>10.0} events/s",
        "",
        rate(replayed.events, took)
    );

    let mut took = Duration::MAX;
    for run in 0..RUNS {
        let started = Instant::now();
        let exported = export::run(ExportArgs {
            history: history(),
            format: Format::Parquet,
            out: dir.path().join(format!("export-{run}")),
            from: None,
            to: None,
            incremental: false,
        })
        .await?;
        took = took.min(started.elapsed());
        anyhow::ensure!(
            exported.rows == readings,
            "exported {} of {readings} readings",
            exported.rows
        );
    }
    line("export to Parquet (HTTP)", took, raw_decoded);
    app.stop().await?;

    let took = splunk_sink(&store, readings).await?;
    line("Splunk sink (HEC, per reading)", took, raw_decoded);
    Ok(())
}

/// Runs the Splunk sink in readings mode over the store until the receiver indexed `readings`.
async fn splunk_sink(store: &Path, readings: u64) -> anyhow::Result<Duration> {
    let token = tokens::generate();
    let receiver = HecReceiver::start_counting(&token).await;
    let events = Arc::new(SqliteEventStore::open(store).await?);
    let sink = SinkRunner {
        bus: Arc::new(StoreTailBus::new(events)),
        sink: Arc::new(SplunkHec::new(HecConfig {
            url: receiver.url.clone(),
            token,
            mode: HecMode::Readings,
            index: None,
            max_request_bytes: HecConfig::DEFAULT_MAX_REQUEST_BYTES,
        })?),
        name: "splunk",
        config: SinkConfig {
            group: "bench-splunk".to_owned(),
            batch_size: 1000,
            retry: RetryPolicy::default(),
            on_refused: OnRefused::Stop,
        },
    };
    let stop = CancellationToken::new();
    let started = Instant::now();
    let running = tokio::spawn(sink.run(stop.clone()));
    while (receiver.indexed_count() as u64) < readings {
        anyhow::ensure!(!running.is_finished(), "the sink stopped early");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let took = started.elapsed();
    stop.cancel();
    running.await??;
    Ok(took)
}

/// Reads every event row in commit order; with `decode`, parses each readings payload too.
/// Returns the time taken and the events (or, decoding, the readings) found.
async fn raw_scan(store: &Path, decode: bool) -> anyhow::Result<(Duration, u64)> {
    use futures::TryStreamExt;
    // Mapped as the store's own readers map it, so the baseline reads the file no slower.
    let options = SqliteConnectOptions::new()
        .filename(store)
        .read_only(true)
        .pragma("mmap_size", SqliteEventStore::READER_MMAP_BYTES);
    let mut db = SqliteConnection::connect_with(&options).await?;
    let started = Instant::now();
    let mut rows = sqlx::query(
        "SELECT position, event_id, stream_id, stream_seq, event_type, schema_version, \
         occurred_at_us, recorded_at_us, payload FROM events ORDER BY position",
    )
    .fetch(&mut db);
    let mut found = 0u64;
    while let Some(row) = rows.try_next().await? {
        let payload: &str = row.try_get("payload")?;
        if !decode {
            found += 1;
            continue;
        }
        let event_type: &str = row.try_get("event_type")?;
        if let Ok(DeviceEvent::ReadingsRecorded(batch)) =
            DeviceEvent::decode(event_type, 1, payload)
        {
            found += batch.readings.len() as u64;
        }
    }
    Ok((started.elapsed(), found))
}
