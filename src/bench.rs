//! `watershed bench ingest`: readings/s that Watershed accepts (durably) and projects end to end,
//! beside a raw baseline measured in the same run on the same machine — the same number of narrow
//! rows inserted straight into SQLite in batches — and the ratio between them.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::Utc;
use clap::Args;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use sqlx::{Connection, QueryBuilder, Sqlite, SqliteConnection};
use tokio_util::sync::CancellationToken;
use watershed_domain::Reading;

use crate::app::{App, AppConfig};
use crate::simulate::{self, DeviceSignals, FleetConfig};
use crate::tokens;

#[derive(Debug, Args)]
pub struct BenchIngestArgs {
    /// Readings to send in all.
    #[arg(long, default_value_t = 1_000_000)]
    readings: u64,
    /// Readings per request.
    #[arg(long, default_value_t = 100)]
    batch_size: usize,
    /// Simulated devices, each sending its batches one after another.
    #[arg(long, default_value_t = 32)]
    devices: usize,
}

pub async fn ingest(args: BenchIngestArgs) -> anyhow::Result<()> {
    let dir = tempfile::tempdir().context("creating a scratch directory")?;
    println!(
        "bench ingest: {} readings, {} per request, {} devices",
        args.readings, args.batch_size, args.devices
    );

    let raw = raw_sqlite_baseline(&dir.path().join("baseline.db"), &args).await?;
    println!(
        "  raw SQLite batched inserts     {:>10.0} rows/s  ({} rows in {:.2} s)",
        rate(args.readings, raw),
        args.readings,
        raw.as_secs_f64()
    );

    let admin_token = tokens::generate();
    let read_token = tokens::generate();
    let app = App::build(AppConfig::ephemeral(
        &dir.path().join("watershed"),
        &admin_token,
        &read_token,
    ))
    .await?;
    let base = format!("http://{}", app.address());
    let stop = CancellationToken::new();
    let server = tokio::spawn(app.run_until_stopped({
        let stop = stop.clone();
        async move { stop.cancelled().await }
    }));

    let started = Instant::now();
    let report = simulate::run(
        FleetConfig {
            target: base.clone(),
            admin_token,
            devices: args.devices,
            id_prefix: "bench-".to_owned(),
            rate: 0.0,
            batch_size: args.batch_size,
            total_readings: Some(args.readings),
        },
        CancellationToken::new(),
    )
    .await?;
    let accepted = started.elapsed();
    wait_until_projected(&base, &read_token).await?;
    let projected = started.elapsed();
    stop.cancel();
    server.await??;

    let ratio = |ours: Duration| {
        raw.as_secs_f64() / ours.as_secs_f64() * report.readings as f64 / args.readings as f64
    };
    println!(
        "  watershed accepted (durable)   {:>10.0} readings/s  ({:.2} s, {:.2}× raw)",
        rate(report.readings, accepted),
        accepted.as_secs_f64(),
        ratio(accepted)
    );
    println!(
        "  watershed projected end to end {:>10.0} readings/s  ({:.2} s, {:.2}× raw)",
        rate(report.readings, projected),
        projected.as_secs_f64(),
        ratio(projected)
    );
    let h = &report.ack_latency_us;
    println!(
        "  acknowledgement latency        p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms; {} errors",
        h.value_at_quantile(0.5) as f64 / 1000.0,
        h.value_at_quantile(0.99) as f64 / 1000.0,
        h.max() as f64 / 1000.0,
        report.errors
    );
    if report.errors > 0 {
        anyhow::bail!("{} batches failed", report.errors);
    }
    Ok(())
}

fn rate(n: u64, took: Duration) -> f64 {
    n as f64 / took.as_secs_f64().max(f64::EPSILON)
}

/// The same readings the fleet sends, as narrow rows (device, sensor, time, value), inserted in
/// requests of `batch_size` rows, one durable transaction per 10 000 rows: what SQLite does with
/// nothing of ours in the way.
async fn raw_sqlite_baseline(path: &Path, args: &BenchIngestArgs) -> anyhow::Result<Duration> {
    let options = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full);
    let mut conn = SqliteConnection::connect_with(&options).await?;
    sqlx::query(
        "CREATE TABLE readings (device TEXT NOT NULL, sensor TEXT NOT NULL,
             measured_at_us INTEGER NOT NULL, value REAL NOT NULL)",
    )
    .execute(&mut conn)
    .await?;

    let now = Utc::now();
    let mut fleet: Vec<(String, DeviceSignals)> = (0..args.devices)
        .map(|i| (format!("bench-{:04}", i + 1), DeviceSignals::new(i, now)))
        .collect();
    let mut readings: Vec<Reading> = Vec::with_capacity(args.batch_size + 4);
    let per_transaction = (10_000 / args.batch_size).max(1);
    let started = Instant::now();
    let mut inserted = 0u64;
    let mut statements = 0usize;
    sqlx::query("BEGIN").execute(&mut conn).await?;
    'fill: loop {
        for (device, signals) in &mut fleet {
            readings.clear();
            while readings.len() < args.batch_size {
                signals.sample_into(now, &mut readings);
            }
            readings.truncate(args.batch_size);
            let mut insert = QueryBuilder::<Sqlite>::new(
                "INSERT INTO readings (device, sensor, measured_at_us, value) ",
            );
            insert.push_values(&readings, |mut row, r| {
                row.push_bind(device.as_str())
                    .push_bind(r.sensor.as_str())
                    .push_bind(r.measured_at.timestamp_micros())
                    .push_bind(r.value.get());
            });
            insert.build().execute(&mut conn).await?;
            inserted += readings.len() as u64;
            statements += 1;
            if statements.is_multiple_of(per_transaction) {
                sqlx::query("COMMIT").execute(&mut conn).await?;
                sqlx::query("BEGIN").execute(&mut conn).await?;
            }
            if inserted >= args.readings {
                break 'fill;
            }
        }
    }
    sqlx::query("COMMIT").execute(&mut conn).await?;
    Ok(started.elapsed())
}

/// Polls `/v1/status` until the read models contain every stored event.
async fn wait_until_projected(base: &str, token: &str) -> anyhow::Result<()> {
    #[derive(serde::Deserialize)]
    struct Status {
        lag_events: u64,
    }
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let status: Status = client
            .get(format!("{base}/v1/status"))
            .bearer_auth(token)
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        if status.lag_events == 0 {
            return Ok(());
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "projection did not catch up in 10 minutes"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
