//! `watershed bench alerts`: detection and notification under load, embedded or (`--cloud`) on
//! Kafka, PostgreSQL and Redis. While a simulated
//! fleet sends background traffic, a probe device crosses a threshold rule's level and back again
//! and again; a webhook receiver inside the bench notes when each raise and clear arrives, and the
//! bench reports reading acknowledged → webhook received. A second device then stops sending, and
//! the bench reports how long after its silence rule allowed the deadman alert arrived.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::Router;
use chrono::{DateTime, Utc};
use clap::Args;
use hdrhistogram::Histogram;
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

use super::{quantiles, CloudServers, Database, Served, FLEET_PREFIX};
use crate::alert_rules;
use crate::app::AppConfig;
use crate::simulate::{self, FleetConfig};
use crate::tokens;

#[derive(Debug, Args)]
pub struct BenchAlertsArgs {
    /// Raise-and-clear rounds of the probe device.
    #[arg(long, default_value_t = 40)]
    rounds: u32,
    /// Background devices, sending all the while.
    #[arg(long, default_value_t = 100)]
    devices: usize,
    /// Background sampling rounds per second per device (3–4 readings each); 0: as fast as
    /// Watershed accepts.
    #[arg(long, default_value_t = 150.0)]
    rate: f64,
    /// Readings per background request.
    #[arg(long, default_value_t = 100)]
    batch_size: usize,
    /// Silences the deadman device goes through.
    #[arg(long, default_value_t = 5)]
    silences: u32,
    /// Cloud mode: the SQLite event store, Kafka, PostgreSQL and Redis (see the server flags).
    #[arg(long)]
    cloud: bool,
    #[command(flatten)]
    servers: CloudServers,
}

/// The rules: the probe's threshold, the deadman device's silence of 2 s, and a rate and an
/// anomaly rule over the background fleet's temperatures, so every background batch is judged by
/// detectors that keep memory, as a fleet with such rules would be.
const RULES: &str = r#"
[[rule]]
name = "probe-hot"
sensor = "probe"
above = 50.0
clear_at = 40.0
severity = "critical"

[[rule]]
name = "fleet-heating-fast"
sensor = "temperature"
rate_above = 5.0
window = 30.0
severity = "info"

[[rule]]
name = "fleet-odd-temperature"
sensor = "temperature"
zscore_above = 8.0
clear_at = 3.0
severity = "info"

[[rule]]
name = "beat-lost"
sensor = "beat"
silent_for = 2.0
"#;
const SILENT_FOR: f64 = 2.0;

/// When each webhook arrived, by its type and the device's stream sequence of the alert event,
/// with the body's data.
#[derive(Clone, Default)]
struct Arrivals(Arc<Mutex<Vec<(Instant, Value)>>>);

async fn receive(State(arrivals): State<Arrivals>, body: Bytes) -> StatusCode {
    let at = Instant::now();
    match serde_json::from_slice::<Value>(&body) {
        Ok(message) => {
            arrivals
                .0
                .lock()
                .expect("arrivals lock")
                .push((at, message));
            StatusCode::NO_CONTENT
        }
        Err(_) => StatusCode::BAD_REQUEST,
    }
}

impl Arrivals {
    /// Waits for the first message of `kind` from `device` with a `stream_seq` past `after`.
    async fn next(&self, kind: &str, device: &str, after: u64) -> anyhow::Result<(Instant, Value)> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let found = self
                .0
                .lock()
                .expect("arrivals lock")
                .iter()
                .find(|(_, m)| {
                    m["type"] == kind
                        && m["data"]["device_id"] == device
                        && m["data"]["stream_seq"].as_u64().is_some_and(|s| s > after)
                })
                .cloned();
            if let Some(found) = found {
                return Ok(found);
            }
            anyhow::ensure!(Instant::now() < deadline, "no {kind} of {device} in 60 s");
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }
}

pub async fn run(args: BenchAlertsArgs) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let mut config = AppConfig {
        alert_rules: alert_rules::parse(RULES, dir.path())?,
        ..AppConfig::ephemeral(dir.path(), &tokens::generate(), &tokens::generate())
    };
    let database = match args.cloud {
        true => {
            let id = uuid::Uuid::now_v7().simple().to_string();
            let database = Database::create(&args.servers.postgres, &id).await?;
            config.ports = args.servers.ports(dir.path(), &id, &database)?;
            Some(database)
        }
        false => None,
    };
    let served = Served::start(config).await?;
    let arrivals = Arrivals::default();
    let receiver = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let hook = format!("http://{}/hook", receiver.local_addr()?);
    let app = Router::new()
        .route("/hook", post(receive))
        .with_state(arrivals.clone());
    tokio::spawn(async move { axum::serve(receiver, app).await });
    let http = reqwest::Client::new();
    let admin = |request: reqwest::RequestBuilder| request.bearer_auth(&served.admin_token);
    admin(http.post(format!("{}/v1/webhooks", served.base)))
        .json(&json!({"name": "bench", "url": hook}))
        .send()
        .await?
        .error_for_status()
        .context("creating the bench's webhook")?;
    let probe = Device::register(&http, &served, "alert-probe").await?;
    let beat = Device::register(&http, &served, "alert-beat").await?;

    println!(
        "bench alerts ({}): {} raise/clear rounds and {} silences, beside {} devices at {} rounds/s each ({} readings per request)",
        if args.cloud { "cloud: SQLite events, Kafka, PostgreSQL, Redis" } else { "embedded" },
        args.rounds, args.silences, args.devices, args.rate, args.batch_size
    );
    let stop_background = CancellationToken::new();
    let background = tokio::spawn(simulate::run(
        FleetConfig {
            target: served.base.clone(),
            admin_token: served.admin_token.clone(),
            devices: args.devices,
            id_prefix: FLEET_PREFIX.to_owned(),
            rate: args.rate,
            batch_size: args.batch_size,
            total_readings: None,
            protocol: simulate::Protocol::Http,
        },
        stop_background.clone(),
    ));
    // Let the background reach its pace first.
    tokio::time::sleep(Duration::from_secs(3)).await;

    let (mut raised, mut cleared) = (latencies(), latencies());
    for round in 0..args.rounds {
        for (value, kind, histogram) in [
            (60.0, "alert.raised", &mut raised),
            (20.0, "alert.cleared", &mut cleared),
        ] {
            let (acked, seq) = probe
                .send(&http, &served, &format!("r{round}-{kind}"), "probe", value)
                .await?;
            let (arrived, _) = arrivals.next(kind, "alert-probe", seq).await?;
            histogram.record(micros(arrived.saturating_duration_since(acked)))?;
        }
    }

    let mut deadman = latencies();
    for silence in 0..args.silences {
        // At a random phase of the watch's one-second look: right after a raise it would be
        // in step with it, and every silence would wait the same.
        tokio::time::sleep(Duration::from_secs_f64(rand::random::<f64>())).await;
        let (_, seq) = beat
            .send(&http, &served, &format!("beat-{silence}"), "beat", 1.0)
            .await?;
        let (arrived, message) = arrivals.next("alert.raised", "alert-beat", seq).await?;
        let last: DateTime<Utc> = message["data"]["measured_at"]
            .as_str()
            .context("a silence names its last reading")?
            .parse()?;
        // The instant the rule allowed, on this machine's clock, to the arrival.
        let allowed = last + chrono::Duration::milliseconds((SILENT_FOR * 1000.0) as i64);
        let arrived_at = Utc::now() - chrono::Duration::from_std(arrived.elapsed())?;
        deadman.record(micros(
            (arrived_at - allowed).to_std().unwrap_or(Duration::ZERO),
        ))?;
    }
    stop_background.cancel();
    let report = background.await??;

    println!(
        "  background                     {:>10.0} readings/s ({} errors)",
        report.readings_per_second(),
        report.errors
    );
    println!("  reading acknowledged → raise   {}", quantiles(&raised));
    println!("  reading acknowledged → clear   {}", quantiles(&cleared));
    println!(
        "  silence allowed → deadman      {}  (the watch looks every 1 s)",
        quantiles(&deadman)
    );
    served.stop().await?;
    if let Some(database) = database {
        database.drop().await;
    }
    Ok(())
}

fn latencies() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 600_000_000, 3).expect("valid histogram bounds")
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX).max(1)
}

/// A device of the bench's own, sending one reading at a time.
struct Device {
    id: String,
    key: String,
}

impl Device {
    async fn register(http: &reqwest::Client, served: &Served, id: &str) -> anyhow::Result<Self> {
        let issued: HashMap<String, Value> = http
            .post(format!("{}/v1/devices", served.base))
            .bearer_auth(&served.admin_token)
            .json(&json!({"device_id": id}))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        let key = issued["device_key"]
            .as_str()
            .context("registration answers with a key")?;
        Ok(Self {
            id: id.to_owned(),
            key: key.to_owned(),
        })
    }

    /// Sends one reading; answers when it was acknowledged and its event's stream sequence.
    async fn send(
        &self,
        http: &reqwest::Client,
        served: &Served,
        batch: &str,
        sensor: &str,
        value: f64,
    ) -> anyhow::Result<(Instant, u64)> {
        let accepted: Value = http
            .post(format!("{}/v1/devices/{}/readings", served.base, self.id))
            .bearer_auth(&self.key)
            .json(&json!({
                "batch_id": batch,
                "readings": [{"sensor": sensor, "value": value, "measured_at": Utc::now()}],
            }))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        let acked = Instant::now();
        let seq = accepted["stream_seq"]
            .as_u64()
            .context("an accepted batch has a stream_seq")?;
        Ok((acked, seq))
    }
}
