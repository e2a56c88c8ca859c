//! Benchmarks: Watershed measured beside raw baselines of the same work, in the same run on the
//! same machine, reported as ratios. Never timed assertions: these machines are noisy.

pub mod alerts;
pub mod fuzz;
pub mod hec;
pub mod history;
pub mod ingest;
pub mod peers;
pub mod pipeline;

use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::Utc;
use hdrhistogram::Histogram;
use sqlx::{Connection, PgConnection};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use watershed_domain::Reading;

use crate::adapters::PortUrls;
use crate::app::{App, AppConfig};
use crate::simulate::{self, DeviceSignals, FleetConfig, Protocol, Report};

/// The simulated devices are `bench-0001`, `bench-0002` …; baselines name theirs the same.
pub(crate) const FLEET_PREFIX: &str = "bench-";

/// How much the simulated fleet sends, and how.
#[derive(Debug, clap::Args)]
pub struct Load {
    /// Readings to send in all.
    #[arg(long, default_value_t = 1_000_000)]
    pub readings: u64,
    /// Readings per request.
    #[arg(long, default_value_t = 100)]
    pub batch_size: usize,
    /// Simulated devices, each sending its batches one after another.
    #[arg(long, default_value_t = 32)]
    pub devices: usize,
    /// Sampling rounds per second per device (3–4 readings each), sent about once a second; 0
    /// sends as fast as Watershed accepts (capacity). Pace it to measure freshness at a load.
    #[arg(long, default_value_t = 0.0)]
    pub rate: f64,
}

/// A Watershed serving inside the benchmark process.
pub(crate) struct Served {
    pub base: String,
    /// The MQTT gateway, when the config serves one.
    pub mqtt: Option<std::net::SocketAddr>,
    pub admin_token: String,
    pub read_token: String,
    http: reqwest::Client,
    stop: CancellationToken,
    server: JoinHandle<anyhow::Result<()>>,
}

impl Served {
    pub async fn start(config: AppConfig) -> anyhow::Result<Self> {
        let (admin_token, read_token) = (
            config.admin_token.reveal().to_owned(),
            config.read_token.reveal().to_owned(),
        );
        let app = App::build(config).await?;
        let base = format!("http://{}", app.address());
        let mqtt = app.mqtt_address();
        let stop = CancellationToken::new();
        let server = tokio::spawn(app.run_until_stopped({
            let stop = stop.clone();
            async move { stop.cancelled().await }
        }));
        Ok(Self {
            base,
            mqtt,
            admin_token,
            read_token,
            http: reqwest::Client::new(),
            stop,
            server,
        })
    }

    /// Runs the simulated fleet until it sent `load.readings`, over HTTP.
    pub async fn run_fleet(&self, load: &Load) -> anyhow::Result<Report> {
        self.run_fleet_over(load, Protocol::Http).await
    }

    /// Runs the simulated fleet until it sent `load.readings`, over `protocol`.
    pub async fn run_fleet_over(&self, load: &Load, protocol: Protocol) -> anyhow::Result<Report> {
        let fleet = FleetConfig {
            protocol,
            target: self.base.clone(),
            admin_token: self.admin_token.clone(),
            devices: load.devices,
            id_prefix: FLEET_PREFIX.to_owned(),
            rate: load.rate,
            batch_size: load.batch_size,
            total_readings: Some(load.readings),
        };
        Ok(simulate::run(fleet, CancellationToken::new()).await?)
    }

    pub async fn stop(self) -> anyhow::Result<()> {
        self.stop.cancel();
        self.server.await?
    }

    /// Polls `/v1/status` until the read models contain every stored event.
    pub async fn wait_until_projected(&self) -> anyhow::Result<()> {
        #[derive(serde::Deserialize)]
        struct Status {
            lag_events: u64,
        }
        let deadline = Instant::now() + Duration::from_secs(600);
        loop {
            let status: Status = self
                .http
                .get(format!("{}/v1/status", self.base))
                .bearer_auth(&self.read_token)
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
}

pub(crate) fn rate(n: u64, took: Duration) -> f64 {
    n as f64 / took.as_secs_f64().max(f64::EPSILON)
}

/// "p50 … ms, p99 … ms, max … ms" of a histogram of microseconds.
pub(crate) fn quantiles(h: &Histogram<u64>) -> String {
    format!(
        "p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        h.value_at_quantile(0.5) as f64 / 1000.0,
        h.value_at_quantile(0.99) as f64 / 1000.0,
        h.max() as f64 / 1000.0
    )
}

/// What the fleet sends, as (device, readings) per request: the baselines write the same.
pub(crate) fn fleet_batches(
    devices: usize,
    batch_size: usize,
    readings: u64,
) -> Vec<(String, Vec<Reading>)> {
    let now = Utc::now();
    let mut fleet: Vec<(String, DeviceSignals)> = (0..devices)
        .map(|i| {
            (
                format!("{FLEET_PREFIX}{:04}", i + 1),
                DeviceSignals::new(i, now),
            )
        })
        .collect();
    let mut batches = Vec::new();
    let mut total = 0u64;
    while total < readings {
        for (device, signals) in &mut fleet {
            let mut batch = Vec::with_capacity(batch_size + 4);
            while batch.len() < batch_size {
                signals.sample_into(now, &mut batch);
            }
            batch.truncate(batch_size);
            total += batch.len() as u64;
            batches.push((device.clone(), batch));
            if total >= readings {
                break;
            }
        }
    }
    batches
}

/// The servers of a cloud-mode bench: Kafka, PostgreSQL and Redis (`scripts/services` starts them
/// here), and the event store. The bench makes a topic, a database and a key namespace of its own.
#[derive(Debug, clap::Args)]
pub struct CloudServers {
    /// The event store, as for `up`. The Cosmos DB emulator copies a whole partition for every
    /// transactional batch, so `cosmos-emulator:` measures the emulator more than Watershed.
    #[arg(long, default_value = "sqlite:")]
    pub event_store: String,
    /// Kafka bootstrap servers; the bench makes topics of its own.
    #[arg(long, env = "WATERSHED_BENCH_KAFKA", default_value = "127.0.0.1:59092")]
    pub kafka: String,
    /// Partitions of the bench's topics.
    #[arg(long, default_value_t = 12)]
    pub partitions: i32,
    /// A PostgreSQL server; the bench makes (and drops) a database of its own on it.
    #[arg(
        long,
        env = "WATERSHED_BENCH_POSTGRES",
        default_value = "postgres://postgres@127.0.0.1:55432/postgres"
    )]
    pub postgres: String,
    /// A Redis server; the bench's keys get a namespace of their own.
    #[arg(
        long,
        env = "WATERSHED_BENCH_REDIS",
        default_value = "redis://127.0.0.1:56379"
    )]
    pub redis: String,
}

impl CloudServers {
    /// The ports of a Watershed on these servers: topic and namespace `bench-<id>`, `database`.
    pub(crate) fn ports(
        &self,
        dir: &std::path::Path,
        id: &str,
        database: &Database,
    ) -> anyhow::Result<PortUrls> {
        PortUrls::parse(
            dir,
            &self.event_store,
            &format!(
                "kafka://{}/bench-{id}?partitions={}",
                self.kafka, self.partitions
            ),
            &database.url,
            &format!("{}?namespace=bench-{id}", self.redis),
        )
    }
}

/// A database of the bench's own, dropped at the end.
pub(crate) struct Database {
    admin_url: String,
    name: String,
    pub url: String,
}

impl Database {
    pub async fn create(admin_url: &str, id: &str) -> anyhow::Result<Self> {
        let name = format!("watershed_bench_{id}");
        let mut admin = PgConnection::connect(admin_url)
            .await
            .context("connecting to PostgreSQL")?;
        // A database name cannot be a bound parameter; this one is made of hex digits.
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .await?;
        let (base, _) = admin_url
            .rsplit_once('/')
            .context("the PostgreSQL URL names a database")?;
        Ok(Self {
            url: format!("{base}/{name}"),
            admin_url: admin_url.to_owned(),
            name,
        })
    }

    pub async fn drop(self) {
        let dropped = async {
            let mut admin = PgConnection::connect(&self.admin_url).await?;
            sqlx::query(&format!("DROP DATABASE {} WITH (FORCE)", self.name))
                .execute(&mut admin)
                .await
        };
        if let Err(e) = dropped.await {
            eprintln!("bench: could not drop database {}: {e}", self.name);
        }
    }
}
