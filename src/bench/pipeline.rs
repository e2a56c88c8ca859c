//! `watershed bench pipeline`: cloud mode end to end — readings/s from ingest to PostgreSQL, and
//! how long an acknowledged reading takes to be visible in the query API — beside two raw
//! baselines measured in the same run: producing the same messages to Kafka (idempotent, acks=all)
//! and COPYing the same number of narrow rows into an unindexed PostgreSQL table.

use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::Utc;
use clap::Args;
use hdrhistogram::Histogram;
use rdkafka::producer::{FutureProducer, FutureRecord};
use serde_json::{json, Value};
use sqlx::{Connection, PgConnection};
use tokio_util::sync::CancellationToken;
use watershed_domain::event::{DeviceEvent, ReadingsRecorded};
use watershed_domain::{BatchId, Reading};
use watershed_infra::kafka::publisher::producer_settings;
use watershed_infra::KafkaConfig;

use super::{fleet_batches, quantiles, rate, CloudServers, Database, Load, Served};
use crate::app::AppConfig;
use crate::tokens;

#[derive(Debug, Args)]
pub struct BenchPipelineArgs {
    #[command(flatten)]
    load: Load,
    #[command(flatten)]
    cloud: CloudServers,
}

pub async fn run(args: BenchPipelineArgs) -> anyhow::Result<()> {
    let id = uuid::Uuid::now_v7().simple().to_string();
    let batches = fleet_batches(args.load.devices, args.load.batch_size, args.load.readings);
    let readings: u64 = batches.iter().map(|(_, b)| b.len() as u64).sum();
    let pace = match args.load.rate {
        r if r > 0.0 => format!("{r} sampling rounds/s per device"),
        _ => "unthrottled".to_owned(),
    };
    println!(
        "bench pipeline: {readings} readings, {} per request, {} devices, {pace}; event store {}, Kafka {}, PostgreSQL, Redis",
        args.load.batch_size, args.load.devices, args.cloud.event_store, args.cloud.kafka
    );

    let kafka = raw_kafka_baseline(&args, &id, &batches).await?;
    println!(
        "  raw Kafka produce (acks=all)   {:>10.0} readings/s  ({} messages in {:.2} s)",
        rate(readings, kafka),
        batches.len(),
        kafka.as_secs_f64()
    );
    let database = Database::create(&args.cloud.postgres, &id).await?;
    let copy = raw_copy_baseline(&database.url, &batches).await?;
    println!(
        "  raw PostgreSQL COPY            {:>10.0} rows/s      ({readings} rows in {:.2} s)",
        rate(readings, copy),
        copy.as_secs_f64()
    );

    let dir = tempfile::tempdir().context("creating a scratch directory")?;
    let mut config = AppConfig::ephemeral(dir.path(), &tokens::generate(), &tokens::generate());
    config.ports = args.cloud.ports(dir.path(), &id, &database)?;
    let app = Served::start(config).await?;
    let stop_probe = CancellationToken::new();
    let probe = tokio::spawn(freshness(
        app.base.clone(),
        app.admin_token.clone(),
        app.read_token.clone(),
        stop_probe.clone(),
    ));
    let started = Instant::now();
    let report = app.run_fleet(&args.load).await?;
    let accepted = started.elapsed();
    app.wait_until_projected().await?;
    let projected = started.elapsed();
    stop_probe.cancel();
    let fresh = probe.await??;
    app.stop().await?;
    database.drop().await;

    let ratio = |baseline: Duration, ours: Duration| {
        (report.readings as f64 / ours.as_secs_f64()) / (readings as f64 / baseline.as_secs_f64())
    };
    println!(
        "  watershed accepted (durable)   {:>10.0} readings/s  ({:.2} s)",
        rate(report.readings, accepted),
        accepted.as_secs_f64()
    );
    println!(
        "  watershed end to end           {:>10.0} readings/s  ({:.2} s; {:.2}× raw Kafka, {:.2}× raw COPY)",
        rate(report.readings, projected),
        projected.as_secs_f64(),
        ratio(kafka, projected),
        ratio(copy, projected)
    );
    println!(
        "  acknowledgement latency        {}; {} errors",
        quantiles(&report.ack_latency_us),
        report.errors
    );
    println!(
        "  acknowledged → visible         {} ({} probes under load)",
        quantiles(&fresh),
        fresh.len()
    );
    anyhow::ensure!(report.errors == 0, "{} batches failed", report.errors);
    Ok(())
}

/// Produces every batch's JSON, keyed by device, with the relay's producer settings; the time
/// until the last delivery report.
async fn raw_kafka_baseline(
    args: &BenchPipelineArgs,
    id: &str,
    batches: &[(String, Vec<Reading>)],
) -> anyhow::Result<Duration> {
    let config = KafkaConfig {
        bootstrap_servers: args.cloud.kafka.clone(),
        topic: format!("bench-raw-{id}"),
        partitions: args.cloud.partitions,
        replication: 1,
        assign: None,
    };
    config.ensure_topic().await?;
    let producer: FutureProducer = producer_settings(&config).create()?;
    // The payload a ReadingsRecorded event carries for the same batch.
    let payloads: Vec<(String, String)> = batches
        .iter()
        .enumerate()
        .map(|(n, (device, readings))| {
            let batch_id = BatchId::parse(format!("b{n}")).expect("a valid batch id");
            let event = DeviceEvent::ReadingsRecorded(ReadingsRecorded {
                batch_id,
                readings: readings.clone(),
            });
            (device.clone(), event.encode_payload())
        })
        .collect();
    // Connect and learn the topic's leaders before the clock starts, as the relay has by then.
    producer
        .send(
            FutureRecord::to(&config.topic).key("warm-up").payload(""),
            Duration::from_secs(10),
        )
        .await
        .map_err(|(e, _)| e)?;
    let started = Instant::now();
    let mut deliveries = Vec::with_capacity(payloads.len());
    for (device, payload) in &payloads {
        let mut record = FutureRecord::to(&config.topic).key(device).payload(payload);
        loop {
            match producer.send_result(record) {
                Ok(delivery) => break deliveries.push(delivery),
                Err((_, back)) => {
                    record = back;
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
            }
        }
    }
    for delivery in deliveries {
        delivery.await?.map_err(|(e, _)| e)?;
    }
    Ok(started.elapsed())
}

/// COPYs one narrow row (series, time, value) per reading into a table without indexes.
async fn raw_copy_baseline(
    url: &str,
    batches: &[(String, Vec<Reading>)],
) -> anyhow::Result<Duration> {
    let mut conn = PgConnection::connect(url).await?;
    sqlx::query("CREATE TABLE copy_baseline (series INT NOT NULL, t TIMESTAMPTZ NOT NULL, value DOUBLE PRECISION NOT NULL)")
        .execute(&mut conn)
        .await?;
    use std::fmt::Write;
    let mut text = String::new();
    for (i, (_, readings)) in batches.iter().enumerate() {
        for r in readings {
            let _ = writeln!(
                text,
                "{}\t{}\t{}",
                i % 4096,
                r.measured_at.format("%Y-%m-%d %H:%M:%S%.6f+00"),
                r.value.get()
            );
        }
    }
    let started = Instant::now();
    let mut copy = conn
        .copy_in_raw("COPY copy_baseline (series, t, value) FROM STDIN")
        .await?;
    for chunk in text.as_bytes().chunks(1 << 20) {
        copy.send(chunk).await?;
    }
    copy.finish().await?;
    let took = started.elapsed();
    // The read models migrate into this database next; leave it as they expect.
    sqlx::query("DROP TABLE copy_baseline")
        .execute(&mut conn)
        .await?;
    Ok(took)
}

/// Under load, a probe device sends one reading every 100 ms and polls the query API until the
/// reading shows as its latest value; records the time from acknowledgement to visible.
async fn freshness(
    base: String,
    admin_token: String,
    read_token: String,
    stop: CancellationToken,
) -> anyhow::Result<Histogram<u64>> {
    let http = reqwest::Client::new();
    let registered: Value = http
        .post(format!("{base}/v1/devices"))
        .bearer_auth(&admin_token)
        .json(&json!({ "device_id": "bench-probe" }))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let key = registered["device_key"]
        .as_str()
        .context("a device key")?
        .to_owned();
    let mut visible = Histogram::new_with_bounds(1, 600_000_000, 3)?;
    for n in 0u64.. {
        if stop.is_cancelled() {
            break;
        }
        let value = n as f64;
        let body = json!({ "batch_id": format!("p{n}"), "readings": [
            { "sensor": "probe", "value": value, "measured_at": Utc::now().to_rfc3339() }
        ] });
        http.post(format!("{base}/v1/devices/bench-probe/readings"))
            .bearer_auth(&key)
            .json(&body)
            .send()
            .await?
            .error_for_status()?;
        let acknowledged = Instant::now();
        loop {
            let device: Value = http
                .get(format!("{base}/v1/devices/bench-probe"))
                .bearer_auth(&read_token)
                .send()
                .await?
                .json()
                .await?;
            let latest = device["sensors"]
                .as_array()
                .and_then(|s| s.iter().find(|s| s["sensor"] == "probe"))
                .and_then(|s| s["value"].as_f64());
            if latest == Some(value) {
                visible.record(acknowledged.elapsed().as_micros() as u64)?;
                break;
            }
            if stop.is_cancelled() && acknowledged.elapsed() > Duration::from_secs(60) {
                anyhow::bail!("probe reading {n} never became visible");
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(visible)
}
