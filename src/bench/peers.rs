//! The time-series databases a user would pick instead, measured beside Watershed with the same
//! client shape: InfluxDB 1.x (`influxd`, fsync per write) and VictoriaMetrics
//! (`victoria-metrics`, acknowledges before fsync), both from Debian, both taking the InfluxDB
//! line protocol on `/write`. Each runs as a child process on loopback with its own data
//! directory; end to end means every reading counted by a query.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::Context;
use tokio::process::{Child, Command};

use super::{fleet_batches, Load};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Peer {
    InfluxDb,
    VictoriaMetrics,
}

impl Peer {
    pub const ALL: [Peer; 2] = [Peer::InfluxDb, Peer::VictoriaMetrics];

    pub fn name(self) -> &'static str {
        match self {
            Self::InfluxDb => "InfluxDB",
            Self::VictoriaMetrics => "VictoriaMetrics",
        }
    }

    fn binary(self) -> &'static str {
        match self {
            Self::InfluxDb => "influxd",
            Self::VictoriaMetrics => "victoria-metrics",
        }
    }

    /// Whether the server is installed here (`apt-get install influxdb victoria-metrics`).
    pub fn installed(self) -> bool {
        std::env::var_os("PATH").is_some_and(|paths| {
            std::env::split_paths(&paths).any(|dir| dir.join(self.binary()).is_file())
        })
    }
}

/// What one peer did with the load.
#[derive(Debug, Clone, Copy)]
pub struct PeerRun {
    pub readings: u64,
    /// Until every request was answered.
    pub accepted: Duration,
    /// Until a query counted every reading.
    pub visible: Duration,
    /// Its data directory after it stopped.
    pub disk_bytes: u64,
    /// Its peak resident set.
    pub peak_rss_bytes: u64,
}

struct Running {
    peer: Peer,
    child: Child,
    base: String,
    data: PathBuf,
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

impl Running {
    async fn start(peer: Peer, dir: &Path) -> anyhow::Result<Self> {
        let data = dir.join(peer.binary());
        std::fs::create_dir_all(&data)?;
        let port = free_port()?;
        let mut command = Command::new(peer.binary());
        match peer {
            Peer::InfluxDb => {
                let config = data.join("influxdb.conf");
                std::fs::write(
                    &config,
                    format!(
                        "reporting-disabled = true\nbind-address = \"127.0.0.1:{rpc}\"\n\
                         [meta]\n  dir = \"{d}/meta\"\n\
                         [data]\n  dir = \"{d}/data\"\n  wal-dir = \"{d}/wal\"\n  wal-fsync-delay = \"0s\"\n  query-log-enabled = false\n\
                         [monitor]\n  store-enabled = false\n\
                         [http]\n  bind-address = \"127.0.0.1:{port}\"\n  log-enabled = false\n",
                        rpc = free_port()?,
                        d = data.display(),
                    ),
                )?;
                command.arg("-config").arg(&config);
            }
            Peer::VictoriaMetrics => {
                command
                    .arg(format!(
                        "-storageDataPath={}",
                        data.join("storage").display()
                    ))
                    .arg(format!("-httpListenAddr=127.0.0.1:{port}"))
                    // Readings count as soon as they are searchable, not 30 s later.
                    .arg("-search.latencyOffset=0s")
                    .arg("-search.disableCache");
            }
        }
        let child = command
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {}", peer.binary()))?;
        let running = Self {
            peer,
            child,
            base: format!("http://127.0.0.1:{port}"),
            data,
        };
        running.wait_ready().await?;
        Ok(running)
    }

    async fn wait_ready(&self) -> anyhow::Result<()> {
        let client = reqwest::Client::new();
        let path = match self.peer {
            Peer::InfluxDb => "/ping",
            Peer::VictoriaMetrics => "/health",
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(r) = client.get(format!("{}{path}", self.base)).send().await {
                if r.status().is_success() {
                    if self.peer == Peer::InfluxDb {
                        client
                            .post(format!("{}/query", self.base))
                            .form(&[("q", "CREATE DATABASE bench")])
                            .send()
                            .await?
                            .error_for_status()?;
                    }
                    return Ok(());
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        anyhow::bail!("{} did not answer within 30 s", self.peer.name())
    }

    fn write_url(&self) -> String {
        match self.peer {
            Peer::InfluxDb => format!("{}/write?db=bench&precision=ms", self.base),
            Peer::VictoriaMetrics => format!("{}/write?precision=ms", self.base),
        }
    }

    /// How many readings a query counts.
    async fn count(&self, client: &reqwest::Client) -> anyhow::Result<u64> {
        let body: serde_json::Value = match self.peer {
            Peer::InfluxDb => {
                client
                    .get(format!("{}/query", self.base))
                    .query(&[("db", "bench"), ("q", "SELECT count(value) FROM readings")])
                    .send()
                    .await?
                    .json()
                    .await?
            }
            Peer::VictoriaMetrics => {
                client
                    .get(format!("{}/api/v1/query", self.base))
                    .query(&[("query", "sum(count_over_time(readings_value[1d]))")])
                    .send()
                    .await?
                    .json()
                    .await?
            }
        };
        let count = match self.peer {
            Peer::InfluxDb => body["results"][0]["series"][0]["values"][0][1].as_u64(),
            Peer::VictoriaMetrics => body["data"]["result"][0]["value"][1]
                .as_str()
                .and_then(|v| v.parse().ok()),
        };
        Ok(count.unwrap_or(0))
    }

    fn peak_rss(&self) -> u64 {
        self.child
            .id()
            .map_or(0, |pid| peak_rss(&format!("/proc/{pid}/status")))
    }

    /// Stops the server gracefully (it flushes what it buffers) and waits for it.
    async fn stop(mut self) -> anyhow::Result<PathBuf> {
        if let Some(pid) = self.child.id() {
            // SIGTERM: both flush and exit; kill_on_drop covers one that hangs.
            let _ = std::process::Command::new("kill")
                .arg(pid.to_string())
                .status();
        }
        let _ = tokio::time::timeout(Duration::from_secs(30), self.child.wait()).await;
        Ok(self.data)
    }
}

/// The peak resident set a `/proc/…/status` file tells (`VmHWM`), in bytes.
pub fn peak_rss(status_file: &str) -> u64 {
    std::fs::read_to_string(status_file)
        .ok()
        .and_then(|status| {
            status.lines().find_map(|l| {
                l.strip_prefix("VmHWM:")?
                    .trim()
                    .trim_end_matches("kB")
                    .trim()
                    .parse::<u64>()
                    .ok()
            })
        })
        .map_or(0, |kb| kb * 1024)
}

async fn wait_for_count(
    running: &Running,
    client: &reqwest::Client,
    expected: u64,
    since: Instant,
) -> anyhow::Result<()> {
    while running.count(client).await? < expected {
        anyhow::ensure!(
            since.elapsed() < Duration::from_secs(600),
            "{} did not count {expected} readings in 10 minutes",
            running.peer.name()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Ok(())
}

/// Bytes under `dir`.
pub fn disk_usage(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => disk_usage(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

/// The fleet's batches as line protocol: `readings,device=…,sensor=… value=… <ms>`, and one
/// warm-up line per series, at the base instant. A device's readings get distinct instants after
/// it (both databases keep one point per series and instant).
fn line_batches(load: &Load) -> (String, Vec<(usize, String)>) {
    let base_ms = chrono::Utc::now().timestamp_millis() - 3_600_000;
    let mut warm_up = std::collections::BTreeSet::new();
    let mut per_device: std::collections::HashMap<String, (usize, i64)> =
        std::collections::HashMap::new();
    let batches = fleet_batches(load.devices, load.batch_size, load.readings)
        .into_iter()
        .map(|(device, readings)| {
            let next = per_device.len();
            let (index, clock) = per_device.entry(device.clone()).or_insert((next, 0));
            let mut lines = String::with_capacity(readings.len() * 64);
            for r in &readings {
                warm_up.insert(format!(
                    "readings,device={device},sensor={} value=0 {base_ms}\n",
                    r.sensor.as_str()
                ));
                *clock += 1;
                lines.push_str(&format!(
                    "readings,device={device},sensor={} value={} {}\n",
                    r.sensor.as_str(),
                    r.value.get(),
                    base_ms + *clock
                ));
            }
            (*index, lines)
        })
        .collect::<Vec<_>>();
    (warm_up.into_iter().collect(), batches)
}

/// Sends the load to `peer` (one task per device, each request after the last, as the simulated
/// fleet does to Watershed) and waits until a query counts every reading. Every series is written
/// once before the clock starts, as Watershed's devices are registered before: VictoriaMetrics
/// makes a new series searchable only some seconds after it first sees it.
pub async fn run(peer: Peer, load: &Load, dir: &Path) -> anyhow::Result<PeerRun> {
    let running = Running::start(peer, dir).await?;
    let (warm_up, batches) = line_batches(load);
    let series = warm_up.lines().count() as u64;
    let mut per_device: Vec<Vec<String>> = vec![Vec::new(); load.devices];
    for (device, lines) in batches {
        per_device[device].push(lines);
    }
    let client = reqwest::Client::new();
    let url = running.write_url();
    client
        .post(&url)
        .body(warm_up)
        .send()
        .await?
        .error_for_status()?;
    wait_for_count(&running, &client, series, Instant::now()).await?;
    let started = Instant::now();
    let senders: Vec<_> = per_device
        .into_iter()
        .map(|batches| {
            let (client, url) = (client.clone(), url.clone());
            tokio::spawn(async move {
                for body in batches {
                    client
                        .post(&url)
                        .body(body)
                        .send()
                        .await?
                        .error_for_status()?;
                }
                Ok::<_, reqwest::Error>(())
            })
        })
        .collect();
    for sender in senders {
        sender.await??;
    }
    let accepted = started.elapsed();
    wait_for_count(&running, &client, series + load.readings, started).await?;
    let visible = started.elapsed();
    let peak_rss_bytes = running.peak_rss();
    let data = running.stop().await?;
    Ok(PeerRun {
        readings: load.readings,
        accepted,
        visible,
        disk_bytes: disk_usage(&data),
        peak_rss_bytes,
    })
}
