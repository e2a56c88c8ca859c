//! `watershed bench ingest`: readings/s that Watershed accepts (durably) and projects end to end,
//! beside a raw baseline measured in the same run on the same machine — the same number of narrow
//! rows inserted straight into SQLite in batches — and the ratio between them.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use sqlx::{Connection, QueryBuilder, Sqlite, SqliteConnection};

use super::peers::{self, disk_usage, Peer};
use super::{fleet_batches, quantiles, rate, Load, Served};
use watershed_domain::limits::{LimitPolicy, Limits};

use crate::app::AppConfig;
use crate::simulate::{Protocol, Report};
use crate::tokens;

#[derive(Debug, Args)]
pub struct BenchIngestArgs {
    #[command(flatten)]
    load: Load,
    /// `mqtt`: also send the same load over MQTT 5 (QoS 1, acknowledged once durable) and
    /// report it next to HTTP.
    #[arg(long, value_enum, default_value = "http")]
    protocol: BenchProtocol,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum BenchProtocol {
    Http,
    Mqtt,
}

pub async fn run(args: BenchIngestArgs) -> anyhow::Result<()> {
    let dir = tempfile::tempdir().context("creating a scratch directory")?;
    println!(
        "bench ingest: {} readings, {} per request, {} devices",
        args.load.readings, args.load.batch_size, args.load.devices
    );

    let raw = raw_sqlite_baseline(&dir.path().join("baseline.db"), &args).await?;
    println!(
        "  raw SQLite batched inserts     {:>10.0} rows/s  ({} rows in {:.2} s)",
        rate(args.load.readings, raw),
        args.load.readings,
        raw.as_secs_f64()
    );

    let (report, accepted, projected) = measure(
        ephemeral(&dir.path().join("watershed")),
        &args.load,
        BenchProtocol::Http,
    )
    .await?;

    let ratio = |ours: Duration| {
        raw.as_secs_f64() / ours.as_secs_f64() * report.readings as f64 / args.load.readings as f64
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
    println!(
        "  acknowledgement latency        {}; {} errors",
        quantiles(&report.ack_latency_us),
        report.errors
    );
    if report.errors > 0 {
        anyhow::bail!("{} batches failed", report.errors);
    }
    // Every device under a rate and a daily quota it never reaches: each batch is checked and
    // counted, none refused, so the difference is what the limiter costs.
    let limited = AppConfig {
        device_limits: Arc::new(LimitPolicy {
            default: Limits {
                readings_per_second: Some(u32::MAX),
                readings_per_day: Some(u64::MAX),
            },
            kinds: HashMap::new(),
        }),
        ..ephemeral(&dir.path().join("watershed-limited"))
    };
    let (limited_report, limited_accepted, _) =
        measure(limited, &args.load, BenchProtocol::Http).await?;
    println!(
        "  watershed with device limits   {:>10.0} readings/s accepted  ({:.2}× without); {} errors",
        rate(limited_report.readings, limited_accepted),
        rate(limited_report.readings, limited_accepted) / rate(report.readings, accepted),
        limited_report.errors
    );
    if args.protocol == BenchProtocol::Mqtt {
        let over_mqtt = AppConfig {
            mqtt_listen: Some(SocketAddr::from(([127, 0, 0, 1], 0))),
            ..ephemeral(&dir.path().join("watershed-mqtt"))
        };
        let (mqtt_report, mqtt_accepted, mqtt_projected) =
            measure(over_mqtt, &args.load, BenchProtocol::Mqtt).await?;
        println!(
            "  watershed over MQTT 5, QoS 1   {:>10.0} readings/s accepted, {:.0} end to end  ({:.2}× HTTP's); {}; {} errors",
            rate(mqtt_report.readings, mqtt_accepted),
            rate(mqtt_report.readings, mqtt_projected),
            rate(mqtt_report.readings, mqtt_accepted) / rate(report.readings, accepted),
            quantiles(&mqtt_report.ack_latency_us),
            mqtt_report.errors
        );
    }
    let ours = disk_usage(&dir.path().join("watershed/data"));
    println!(
        "  watershed on disk              {:>10.0} bytes/reading  (event store + read models; peak RSS of this process, load generator included: {} MiB)",
        ours as f64 / report.readings as f64,
        peers::peak_rss("/proc/self/status") / (1 << 20)
    );

    for peer in Peer::ALL {
        if !peer.installed() {
            println!(
                "  {:<30} not installed here (apt-get install influxdb victoria-metrics)",
                peer.name()
            );
            continue;
        }
        let run = peers::run(peer, &args.load, dir.path()).await?;
        println!(
            "  {:<30} {:>10.0} readings/s end to end  (acks {:.0}/s; watershed {:.2}×); {:.0} bytes/reading; peak RSS {} MiB",
            peer.name(),
            rate(run.readings, run.visible),
            rate(run.readings, run.accepted),
            run.visible.as_secs_f64() / projected.as_secs_f64() * report.readings as f64 / run.readings as f64,
            run.disk_bytes as f64 / run.readings as f64,
            run.peak_rss_bytes / (1 << 20)
        );
    }
    Ok(())
}

fn ephemeral(dir: &Path) -> AppConfig {
    AppConfig::ephemeral(dir, &tokens::generate(), &tokens::generate())
}

/// Serves `config`, sends the fleet's load over `protocol` and waits until all of it is
/// projected: the report, and the time until the last acknowledgement and until the last reading
/// was projected.
async fn measure(
    config: AppConfig,
    load: &Load,
    protocol: BenchProtocol,
) -> anyhow::Result<(Report, Duration, Duration)> {
    let app = Served::start(config).await?;
    let protocol = match (protocol, app.mqtt) {
        (BenchProtocol::Http, _) => Protocol::Http,
        (BenchProtocol::Mqtt, Some(address)) => Protocol::Mqtt {
            host: address.ip().to_string(),
            port: address.port(),
        },
        (BenchProtocol::Mqtt, None) => anyhow::bail!("MQTT asked of a config that serves none"),
    };
    let started = Instant::now();
    let report = app.run_fleet_over(load, protocol).await?;
    let accepted = started.elapsed();
    app.wait_until_projected().await?;
    let projected = started.elapsed();
    app.stop().await?;
    Ok((report, accepted, projected))
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

    let batches = fleet_batches(args.load.devices, args.load.batch_size, args.load.readings);
    let per_transaction = (10_000 / args.load.batch_size).max(1);
    let started = Instant::now();
    sqlx::query("BEGIN").execute(&mut conn).await?;
    for (n, (device, readings)) in batches.iter().enumerate() {
        let mut insert = QueryBuilder::<Sqlite>::new(
            "INSERT INTO readings (device, sensor, measured_at_us, value) ",
        );
        insert.push_values(readings, |mut row, r| {
            row.push_bind(device.as_str())
                .push_bind(r.sensor.as_str())
                .push_bind(r.measured_at.timestamp_micros())
                .push_bind(r.value.get());
        });
        insert.build().execute(&mut conn).await?;
        if (n + 1).is_multiple_of(per_transaction) {
            sqlx::query("COMMIT").execute(&mut conn).await?;
            sqlx::query("BEGIN").execute(&mut conn).await?;
        }
    }
    sqlx::query("COMMIT").execute(&mut conn).await?;
    Ok(started.elapsed())
}
