//! The device simulator (`watershed simulate`, and inside `up --simulate N`): a fleet of devices
//! that register, then send smooth, noisy readings in batches at a set rate, or as fast as the
//! server takes them (the benchmarks). It reports what it sent and what failed.

mod client;
mod mqtt;
mod signal;

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use hdrhistogram::Histogram;
use tokio_util::sync::CancellationToken;

pub use client::{ApiClient, ClientError};
pub use mqtt::MqttDevice;
pub use signal::DeviceSignals;

#[derive(Debug, Clone)]
pub struct FleetConfig {
    /// Base URL of the command API, e.g. `http://127.0.0.1:8080`.
    pub target: String,
    pub admin_token: String,
    pub devices: usize,
    /// Device ids are this prefix and a 4-digit number.
    pub id_prefix: String,
    /// Sampling rounds per second per device (each round reads every sensor); 0 = unthrottled.
    pub rate: f64,
    /// Readings per batch at most (1–1000).
    pub batch_size: usize,
    /// Stop after about this many readings in all.
    pub total_readings: Option<u64>,
    /// How the devices send their batches; they register over HTTP either way.
    pub protocol: Protocol,
}

/// How simulated devices send their batches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Protocol {
    Http,
    /// MQTT 5, to the gateway at this host and port.
    Mqtt {
        host: String,
        port: u16,
    },
}

/// One device's way to the server.
enum Sender {
    Http {
        client: ApiClient,
        key: String,
    },
    /// Boxed: the connection's state is large beside an HTTP client handle.
    Mqtt(Box<MqttDevice>),
}

impl Sender {
    async fn send(
        &mut self,
        device_id: &str,
        batch_id: &str,
        readings: &[watershed_domain::Reading],
    ) -> Result<Duration, ClientError> {
        match self {
            Self::Http { client, key } => {
                client.send_batch(device_id, key, batch_id, readings).await
            }
            Self::Mqtt(device) => device.send_batch(batch_id, readings).await,
        }
    }
}

/// What the fleet did.
#[derive(Debug)]
pub struct Report {
    pub readings: u64,
    pub batches: u64,
    pub errors: u64,
    pub elapsed: Duration,
    /// Time from sending a batch to its acknowledgement, in microseconds.
    pub ack_latency_us: Histogram<u64>,
}

impl Report {
    pub fn readings_per_second(&self) -> f64 {
        self.readings as f64 / self.elapsed.as_secs_f64().max(f64::EPSILON)
    }
}

#[derive(Default)]
struct Counters {
    readings: AtomicU64,
    batches: AtomicU64,
    errors: AtomicU64,
}

/// Runs the fleet until `shutdown`, or until `total_readings` were sent.
pub async fn run(config: FleetConfig, shutdown: CancellationToken) -> Result<Report, ClientError> {
    let client = ApiClient::new(&config.target, &config.admin_token, config.devices.max(1));
    let counters = Arc::new(Counters::default());
    let budget = Arc::new(AtomicI64::new(
        config.total_readings.map_or(i64::MAX, |t| t as i64),
    ));
    let started = Instant::now();
    let mut devices = Vec::with_capacity(config.devices);
    for index in 0..config.devices {
        let device_id = format!("{}{:04}", config.id_prefix, index + 1);
        let key = client.enroll(&device_id, index).await?;
        let sender = match &config.protocol {
            Protocol::Http => Sender::Http {
                client: client.clone(),
                key,
            },
            Protocol::Mqtt { host, port } => {
                Sender::Mqtt(Box::new(MqttDevice::new(host, *port, &device_id, &key)))
            }
        };
        devices.push(tokio::spawn(device_loop(DeviceLoop {
            sender,
            device_id,
            signals: DeviceSignals::new(index, Utc::now()),
            rate: config.rate,
            batch_size: config
                .batch_size
                .clamp(1, watershed_domain::MAX_READINGS_PER_BATCH),
            budget: Arc::clone(&budget),
            counters: Arc::clone(&counters),
            shutdown: shutdown.clone(),
        })));
    }
    let progress = tokio::spawn(log_progress(Arc::clone(&counters), shutdown.clone()));
    let mut latency = new_histogram();
    for device in devices {
        if let Ok(h) = device.await {
            latency.add(h).expect("histograms share their bounds");
        }
    }
    progress.abort();
    Ok(Report {
        readings: counters.readings.load(Ordering::Relaxed),
        batches: counters.batches.load(Ordering::Relaxed),
        errors: counters.errors.load(Ordering::Relaxed),
        elapsed: started.elapsed(),
        ack_latency_us: latency,
    })
}

fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 600_000_000, 3).expect("static histogram bounds are valid")
}

struct DeviceLoop {
    sender: Sender,
    device_id: String,
    signals: DeviceSignals,
    rate: f64,
    batch_size: usize,
    budget: Arc<AtomicI64>,
    counters: Arc<Counters>,
    shutdown: CancellationToken,
}

/// One device: sample, fill a batch, send it, repeat. Paced by `rate` when set.
async fn device_loop(mut d: DeviceLoop) -> Histogram<u64> {
    let mut latency = new_histogram();
    // Unthrottled: full batches. Paced: about one batch a second, as a real device would send.
    let full = d.batch_size.div_ceil(d.signals.sensor_count());
    let rounds_per_batch = if d.rate > 0.0 {
        (d.rate.ceil() as usize).clamp(1, full)
    } else {
        full
    };
    let batch_interval =
        (d.rate > 0.0).then(|| Duration::from_secs_f64(rounds_per_batch as f64 / d.rate));
    let mut ticker = batch_interval.map(tokio::time::interval);
    let mut readings = Vec::with_capacity(rounds_per_batch * d.signals.sensor_count());
    // A per-run prefix keeps batch ids unique across restarts of the simulator.
    let run = uuid::Uuid::now_v7().simple().to_string();
    for seq in 0u64.. {
        if let Some(t) = ticker.as_mut() {
            tokio::select! {
                _ = d.shutdown.cancelled() => break,
                _ = t.tick() => {}
            }
        } else if d.shutdown.is_cancelled() {
            break;
        }
        readings.clear();
        let now = Utc::now();
        let spacing = batch_interval.map_or(chrono::Duration::milliseconds(1), |i| {
            chrono::Duration::from_std(i / rounds_per_batch as u32).unwrap_or_default()
        });
        for round in (0..rounds_per_batch).rev() {
            d.signals
                .sample_into(now - spacing * round as i32, &mut readings);
        }
        readings.truncate(d.batch_size);
        if d.budget.fetch_sub(readings.len() as i64, Ordering::Relaxed) <= 0 {
            break;
        }
        let batch_id = format!("{run}-{seq}");
        match d.sender.send(&d.device_id, &batch_id, &readings).await {
            Ok(took) => {
                d.counters
                    .readings
                    .fetch_add(readings.len() as u64, Ordering::Relaxed);
                d.counters.batches.fetch_add(1, Ordering::Relaxed);
                latency.saturating_record(took.as_micros() as u64);
            }
            Err(e) => {
                d.counters.errors.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(device_id = %d.device_id, error = %e, "simulated batch failed");
            }
        }
    }
    latency
}

async fn log_progress(counters: Arc<Counters>, shutdown: CancellationToken) {
    let mut tick = tokio::time::interval(Duration::from_secs(10));
    tick.tick().await;
    let mut last = 0;
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        let sent = counters.readings.load(Ordering::Relaxed);
        tracing::info!(
            readings = sent,
            per_second = (sent - last) / 10,
            batches = counters.batches.load(Ordering::Relaxed),
            errors = counters.errors.load(Ordering::Relaxed),
            "simulator progress"
        );
        last = sent;
    }
}
