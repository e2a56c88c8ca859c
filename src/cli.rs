//! The command line: one binary, one subcommand per target or tool.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use tokio_util::sync::CancellationToken;

use crate::adapters::PortUrls;
use crate::alert_rules;
use crate::analysts::export::{self, ExportArgs};
use crate::analysts::replay::{self, ReplayArgs};
use crate::app::{App, AppConfig, Limits, Roles, WebhookSettings};
use crate::bench::alerts::{self as alerts_bench, BenchAlertsArgs};
use crate::bench::fuzz::{self, BenchFuzzArgs};
use crate::bench::history::{self, BenchHistoryArgs};
use crate::bench::ingest::{self, BenchIngestArgs};
use crate::bench::pipeline::{self, BenchPipelineArgs};
use crate::dead_letters::{self, DeadLetterCommand};
use crate::device_limits;
use crate::devices::{self, DevicesCommand};
use crate::models::{self, ModelsCommand};
use crate::rebuild;
use crate::simulate::{self, FleetConfig};
use crate::sinks::SplunkArgs;
use crate::telemetry::LogFormat;
use crate::tokens;
use watershed_domain::PoisonPolicy;
use watershed_http_edge::ApiToken;
use watershed_projectors::{DeadLetterDesk, ProjectorConfig};

#[derive(Debug, Parser)]
#[command(
    name = "watershed",
    version,
    about = "Event-sourced telemetry pipeline"
)]
pub struct Cli {
    /// Log format on stderr.
    #[arg(
        long,
        env = "WATERSHED_LOG_FORMAT",
        value_enum,
        default_value = "text",
        global = true
    )]
    pub log_format: LogFormat,
    #[command(subcommand)]
    command: Action,
}

#[derive(Debug, Subcommand)]
enum Action {
    /// Run every role in one process (embedded storage unless told otherwise), with simulated
    /// devices and the dashboard.
    Up(UpArgs),
    /// Run the device-facing ingest and device admin API.
    CommandApi(ServeArgs),
    /// Run the relay: the event store's change feed to Kafka.
    Relay(ServeArgs),
    /// Run the projectors: the bus to the read models and cache (and the configured sinks).
    Projectors(ServeArgs),
    /// Run the read API, the live stream and the dashboard.
    QueryApi(ServeArgs),
    /// Run a simulated device fleet against a running Watershed.
    Simulate(SimulateArgs),
    /// Import devices from a CSV or NDJSON file, all or none, or export them to one.
    #[command(subcommand)]
    Devices(DevicesCommand),
    /// Try an ONNX model the way a model alert rule scores with it.
    #[command(subcommand)]
    Models(ModelsCommand),
    /// Print a signed device token (IoT Hub's SAS format) for HTTP `Authorization` or an MQTT password.
    Token(TokenArgs),
    /// Create or upgrade the stores' schemas, then exit.
    Migrate(MigrateArgs),
    /// List, retry or skip the events the projectors parked (`--on-poison park`).
    DeadLetters(DeadLetterArgs),
    /// Build derived state again from the event store, while everything runs.
    #[command(subcommand)]
    Rebuild(RebuildCommand),
    /// Replay the history as NDJSON CloudEvents to a file, stdout or a Kafka topic (analyst token).
    Replay(ReplayArgs),
    /// Export readings as day-partitioned Parquet, CSV or NDJSON for Spark and pandas (analyst token).
    Export(ExportArgs),
    /// Forward the bus to a sink outside Watershed, with its own consumer group.
    #[command(subcommand)]
    Sink(SinkCommand),
    /// Measure throughput against a raw baseline in the same run.
    #[command(subcommand)]
    Bench(BenchCommand),
}

/// Which adapter serves each port.
#[derive(Debug, Args)]
struct PortArgs {
    /// Where the event store and read models live when they are SQLite files.
    #[arg(long, env = "WATERSHED_DATA_DIR", default_value = "data")]
    data_dir: PathBuf,
    /// The event store: `sqlite:[path]` (under the data dir).
    #[arg(long, env = "WATERSHED_EVENT_STORE", default_value = "sqlite:")]
    event_store: String,
    /// The bus: `embedded:` (in-process) or `kafka://host:port[,host:port]/topic[?partitions=N&replication=N]`.
    #[arg(long, env = "WATERSHED_BUS", default_value = "embedded:")]
    bus: String,
    /// The read models: `sqlite:[path]` or `postgres://user@host/db`.
    #[arg(long, env = "WATERSHED_READ_MODEL", default_value = "sqlite:")]
    read_model: String,
    /// The device cache and live updates: `memory:` (this process only) or `redis://host:port`.
    #[arg(long, env = "WATERSHED_CACHE", default_value = "memory:")]
    cache: String,
}

impl PortArgs {
    fn urls(&self) -> anyhow::Result<PortUrls> {
        PortUrls::parse(
            &self.data_dir,
            &self.event_store,
            &self.bus,
            &self.read_model,
            &self.cache,
        )
    }
}

/// What every serving target takes.
#[derive(Debug, Args)]
struct ServeArgs {
    #[command(flatten)]
    ports: PortArgs,
    /// Address for the target's HTTP API, `/healthz` and `/readyz` (port 0 picks a free port).
    #[arg(long, env = "WATERSHED_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Address for the devices' MQTT gateway (3.1.1 and 5; served with the command API): client
    /// id = device id, password = device key, batches published to `devices/{id}/readings`.
    #[arg(long, env = "WATERSHED_MQTT_LISTEN")]
    mqtt_listen: Option<SocketAddr>,
    /// The built dashboard, served with the query API.
    #[arg(long, env = "WATERSHED_WEB_DIR", default_value = "web/dist")]
    web_dir: PathBuf,
    /// Admin token (register and decommission devices, read). `up` generates one when unset.
    #[arg(long, env = "WATERSHED_ADMIN_TOKEN", hide_env_values = true)]
    admin_token: Option<String>,
    /// Read-only token for the dashboard. `up` generates one when unset.
    #[arg(long, env = "WATERSHED_READ_TOKEN", hide_env_values = true)]
    read_token: Option<String>,
    /// Analyst token: the dashboard's reads and the whole history (`/v1/history`, `replay`,
    /// `export`), nothing else. `up` generates one when unset; elsewhere, without one, only the
    /// admin token reads the history.
    #[arg(long, env = "WATERSHED_ANALYST_TOKEN", hide_env_values = true)]
    analyst_token: Option<String>,
    /// Hours of raw readings to keep; rollups keep everything.
    #[arg(long, env = "WATERSHED_RAW_RETENTION_HOURS", default_value_t = 48)]
    raw_retention_hours: u32,
    /// The projectors' consumer group on the bus; read models fed separately need their own.
    #[arg(long, env = "WATERSHED_CONSUMER_GROUP", default_value = "read-models")]
    consumer_group: String,
    /// Browser origins allowed to call the API (a separately hosted dashboard), comma-separated; `*` for any.
    #[arg(long, env = "WATERSHED_CORS_ORIGINS", value_delimiter = ',')]
    cors_origin: Vec<String>,
    /// Alert rules to import at start: a TOML file of `[[rule]]` tables (see
    /// alert-rules.example.toml), each created or replaced in the rules stream. Rules are also
    /// managed through `/v1/alert-rules`.
    #[arg(long, env = "WATERSHED_ALERT_RULES")]
    alert_rules: Option<PathBuf>,
    /// Ingest limits per device kind: a TOML file with `[default]` and `[kind.<name>]` tables
    /// (see device-limits.example.toml). Without it, only devices given their own limits have any.
    #[arg(long, env = "WATERSHED_DEVICE_LIMITS")]
    device_limits: Option<PathBuf>,
    /// API requests answered at once; past it, 503 with Retry-After.
    #[arg(long, env = "WATERSHED_MAX_IN_FLIGHT",
          default_value_t = Limits::DEFAULT.max_in_flight as u32,
          value_parser = clap::value_parser!(u32).range(1..=65_536))]
    max_in_flight: u32,
    /// Live-stream clients connected at once; past it, 503.
    #[arg(long, env = "WATERSHED_MAX_LIVE_CLIENTS",
          default_value_t = Limits::DEFAULT.max_live_clients as u32,
          value_parser = clap::value_parser!(u32).range(1..=65_536))]
    max_live_clients: u32,
    /// What the projectors do with an event they cannot apply (it does not decode, the read model
    /// refuses it, or an earlier one is missing): `stop` with the reason, or `park` it as a dead
    /// letter, with its device's later events behind it, and go on with the rest of the fleet.
    #[arg(long, env = "WATERSHED_ON_POISON", value_enum, default_value = "stop")]
    on_poison: OnPoison,
    /// Distinct sensors one device may report in all; a batch past it is refused with 400.
    #[arg(long, env = "WATERSHED_MAX_SENSORS_PER_DEVICE",
          default_value_t = Limits::DEFAULT.max_sensors_per_device as u32,
          value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    max_sensors_per_device: u32,
    /// Seconds to answer a request, and to receive its body; past it, 503.
    #[arg(long, env = "WATERSHED_REQUEST_TIMEOUT_SECS",
          default_value_t = Limits::DEFAULT.request_timeout.as_secs(),
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    request_timeout_secs: u64,
    #[command(flatten)]
    splunk: SplunkArgs,
    #[command(flatten)]
    webhooks: WebhookArgs,
}

/// How alert webhooks are sent (channels are managed with `/v1/webhooks`).
#[derive(Debug, Args)]
struct WebhookArgs {
    /// Seconds one delivery attempt may take; a slower receiver is tried again later.
    #[arg(long, env = "WATERSHED_WEBHOOK_TIMEOUT_SECS",
          default_value_t = WebhookSettings::DEFAULT.timeout.as_secs(),
          value_parser = clap::value_parser!(u64).range(1..=300))]
    webhook_timeout_secs: u64,
    /// Seconds after an alert transition when a delivery that still fails is given up (shown as
    /// failed); retries back off exponentially until then.
    #[arg(long, env = "WATERSHED_WEBHOOK_GIVE_UP_AFTER_SECS",
          default_value_t = WebhookSettings::DEFAULT.backoff.give_up_after.as_secs(),
          value_parser = clap::value_parser!(u64).range(1..=30 * 86_400))]
    webhook_give_up_after_secs: u64,
}

impl WebhookArgs {
    fn settings(&self) -> WebhookSettings {
        let defaults = WebhookSettings::DEFAULT;
        WebhookSettings {
            timeout: std::time::Duration::from_secs(self.webhook_timeout_secs),
            backoff: watershed_domain::Backoff {
                give_up_after: std::time::Duration::from_secs(self.webhook_give_up_after_secs),
                ..defaults.backoff
            },
        }
    }
}

impl ServeArgs {
    fn config(
        self,
        roles: Roles,
        admin_token: ApiToken,
        read_token: ApiToken,
        analyst_token: Option<ApiToken>,
    ) -> anyhow::Result<AppConfig> {
        Ok(AppConfig {
            roles,
            ports: self.ports.urls()?,
            listen: self.listen,
            mqtt_listen: self.mqtt_listen,
            web_dir: self.web_dir,
            admin_token,
            read_token,
            analyst_token,
            raw_retention: chrono::Duration::hours(i64::from(self.raw_retention_hours)),
            consumer_group: self.consumer_group,
            cors_origins: self.cors_origin,
            alert_rules: match &self.alert_rules {
                Some(path) => alert_rules::load(path)?,
                None => Vec::new(),
            },
            device_limits: match &self.device_limits {
                Some(path) => Arc::new(device_limits::load(path)?),
                None => Arc::default(),
            },
            splunk: self.splunk.sink()?,
            webhooks: self.webhooks.settings(),
            poison: self.on_poison.policy(),
            limits: Limits {
                max_in_flight: self.max_in_flight as usize,
                max_live_clients: self.max_live_clients as usize,
                request_timeout: std::time::Duration::from_secs(self.request_timeout_secs),
                max_sensors_per_device: self.max_sensors_per_device as usize,
            },
        })
    }
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum OnPoison {
    Stop,
    Park,
}

impl OnPoison {
    fn policy(self) -> PoisonPolicy {
        match self {
            Self::Stop => PoisonPolicy::Stop,
            Self::Park => PoisonPolicy::Park,
        }
    }
}

#[derive(Debug, Subcommand)]
enum RebuildCommand {
    /// A fresh generation of the read models from the whole history, built while the current one
    /// answers and ingest goes on, then switched to in every process; the old one is removed.
    ReadModels(RebuildReadModelsArgs),
}

#[derive(Debug, Args)]
struct RebuildReadModelsArgs {
    #[command(flatten)]
    ports: PortArgs,
    /// Hours of raw readings to keep, as the projectors keep them.
    #[arg(long, env = "WATERSHED_RAW_RETENTION_HOURS", default_value_t = 48)]
    raw_retention_hours: u32,
    /// What to do with an event that cannot be applied, as the projectors do.
    #[arg(long, env = "WATERSHED_ON_POISON", value_enum, default_value = "stop")]
    on_poison: OnPoison,
    /// Seconds to go on applying the history's tail after the switch, while every process moves
    /// to the new generation (they look once a second).
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(2..=600))]
    grace_seconds: u64,
}

#[derive(Debug, Args)]
struct DeadLetterArgs {
    #[command(flatten)]
    ports: PortArgs,
    /// Hours of raw readings kept, as the projectors keep them, for events a retry applies.
    #[arg(long, env = "WATERSHED_RAW_RETENTION_HOURS", default_value_t = 48)]
    raw_retention_hours: u32,
    #[command(subcommand)]
    command: DeadLetterCommand,
}

#[derive(Debug, Args)]
struct UpArgs {
    #[command(flatten)]
    serve: ServeArgs,
    /// Simulated devices to run inside (0 for none).
    #[arg(long, env = "WATERSHED_SIMULATE", default_value_t = 10)]
    simulate: usize,
    /// Sampling rounds per second per simulated device (each reads every sensor).
    #[arg(long, default_value_t = 1.0)]
    simulate_rate: f64,
}

#[derive(Debug, Args)]
struct SimulateArgs {
    /// Base URL of a running Watershed.
    #[arg(
        long,
        env = "WATERSHED_TARGET",
        default_value = "http://127.0.0.1:8080"
    )]
    target: String,
    /// The admin token, to register the devices.
    #[arg(long, env = "WATERSHED_ADMIN_TOKEN", hide_env_values = true)]
    admin_token: String,
    #[arg(long, default_value_t = 10)]
    devices: usize,
    /// Sampling rounds per second per device (each reads every sensor); 0 sends as fast as accepted.
    #[arg(long, default_value_t = 1.0)]
    rate: f64,
    /// Readings per batch at most (1–1000); paced devices send about once a second.
    #[arg(long, default_value_t = 100)]
    batch_size: usize,
    /// Stop after about this many readings (default: run until Ctrl-C).
    #[arg(long)]
    readings: Option<u64>,
    /// Device ids are this prefix and a number.
    #[arg(long, default_value = "sim-")]
    id_prefix: String,
    /// How the devices send their batches (they register over HTTP either way).
    #[arg(long, value_enum, default_value = "http")]
    protocol: SimulatedProtocol,
    /// The MQTT gateway (`--mqtt-listen` of the server), for `--protocol mqtt`.
    #[arg(long, env = "WATERSHED_MQTT_TARGET", default_value = "127.0.0.1:1883")]
    mqtt_target: String,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum SimulatedProtocol {
    Http,
    /// MQTT 5, QoS 1.
    Mqtt,
}

impl SimulateArgs {
    fn protocol(&self) -> anyhow::Result<simulate::Protocol> {
        Ok(match self.protocol {
            SimulatedProtocol::Http => simulate::Protocol::Http,
            SimulatedProtocol::Mqtt => {
                let (host, port) = self
                    .mqtt_target
                    .rsplit_once(':')
                    .and_then(|(h, p)| Some((h.to_owned(), p.parse().ok()?)))
                    .with_context(|| {
                        format!("--mqtt-target {:?}: expected host:port", self.mqtt_target)
                    })?;
                simulate::Protocol::Mqtt { host, port }
            }
        })
    }
}

#[derive(Debug, Args)]
struct TokenArgs {
    /// The device the token is for.
    #[arg(long)]
    device: String,
    /// The device's key (from its registration or last rotation).
    #[arg(long, env = "WATERSHED_DEVICE_KEY", hide_env_values = true)]
    key: String,
    /// Seconds until the token expires.
    #[arg(long, default_value_t = 3600,
          value_parser = clap::value_parser!(u32).range(1..=365 * 86_400))]
    ttl_secs: u32,
    /// A host to name in the token's resource (`{host}/devices/{id}`), as IoT Hub tokens do.
    #[arg(long)]
    resource_host: Option<String>,
}

impl TokenArgs {
    fn mint(&self) -> anyhow::Result<String> {
        let device = watershed_domain::DeviceId::parse(self.device.as_str())?;
        let expiry = chrono::Utc::now().timestamp() + i64::from(self.ttl_secs);
        Ok(watershed_domain::DeviceToken::mint(
            self.resource_host.as_deref(),
            &device,
            &watershed_domain::KeyHash::of(&self.key),
            expiry,
        ))
    }
}

#[derive(Debug, Args)]
struct MigrateArgs {
    #[command(flatten)]
    ports: PortArgs,
}

#[derive(Debug, Subcommand)]
enum SinkCommand {
    /// Splunk's HTTP Event Collector: `--hec-url https://host:8088 --token-env VAR`.
    Splunk(ServeArgs),
}

#[derive(Debug, Subcommand)]
enum BenchCommand {
    /// Readings/s accepted and projected end to end, beside raw batched SQLite inserts.
    Ingest(BenchIngestArgs),
    /// Cloud mode end to end (readings/s into PostgreSQL, acknowledged → visible), beside raw
    /// Kafka produce and raw PostgreSQL COPY. Needs Kafka, PostgreSQL and Redis (scripts/services).
    Pipeline(BenchPipelineArgs),
    /// The ingest body and CloudEvent decoders on millions of mutated inputs; fails on a panic.
    Fuzz(BenchFuzzArgs),
    /// Replay and Parquet export (readings/s through /v1/history), beside raw scans of the same
    /// SQLite store.
    History(BenchHistoryArgs),
    /// Reading acknowledged → webhook received (raise and clear), and a silence's deadman delay,
    /// under background traffic; embedded.
    Alerts(BenchAlertsArgs),
}

/// Resolves when the process is asked to stop (Ctrl-C or SIGTERM). The handlers are installed
/// when this is called, not when it is first polled: a SIGTERM that arrives while the server is
/// starting (an orchestrator stopping a pod at once) must drain it, not kill it.
fn stop_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term =
            signal(SignalKind::terminate()).expect("installing a SIGTERM handler at start-up");
        let mut interrupt =
            signal(SignalKind::interrupt()).expect("installing a SIGINT handler at start-up");
        async move {
            tokio::select! {
                _ = term.recv() => {}
                _ = interrupt.recv() => {}
            }
        }
    }
    #[cfg(not(unix))]
    async {
        let _ = tokio::signal::ctrl_c().await;
    }
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Action::Up(args) => up(args).await,
        Action::CommandApi(args) => {
            serve_role(
                args,
                Roles {
                    command_api: true,
                    ..Roles::NONE
                },
            )
            .await
        }
        Action::Relay(args) => {
            serve_role(
                args,
                Roles {
                    relay: true,
                    ..Roles::NONE
                },
            )
            .await
        }
        Action::Projectors(args) => {
            serve_role(
                args,
                Roles {
                    projectors: true,
                    sinks: true,
                    ..Roles::NONE
                },
            )
            .await
        }
        Action::QueryApi(args) => {
            serve_role(
                args,
                Roles {
                    query_api: true,
                    ..Roles::NONE
                },
            )
            .await
        }
        Action::Simulate(args) => {
            let shutdown = CancellationToken::new();
            tokio::spawn({
                let shutdown = shutdown.clone();
                async move {
                    stop_signal().await;
                    shutdown.cancel();
                }
            });
            let protocol = args.protocol()?;
            let report = simulate::run(
                FleetConfig {
                    protocol,
                    target: args.target,
                    admin_token: args.admin_token,
                    devices: args.devices,
                    id_prefix: args.id_prefix,
                    rate: args.rate,
                    batch_size: args.batch_size,
                    total_readings: args.readings,
                },
                shutdown,
            )
            .await?;
            println!(
                "simulate: sent {} readings in {} batches in {:.1} s ({:.0} readings/s), {} errors",
                report.readings,
                report.batches,
                report.elapsed.as_secs_f64(),
                report.readings_per_second(),
                report.errors
            );
            if report.errors > 0 {
                anyhow::bail!("{} batches failed", report.errors);
            }
            Ok(())
        }
        Action::Devices(command) => devices::run(command).await,
        Action::Models(command) => models::run(command),
        Action::Token(args) => {
            println!("{}", args.mint()?);
            Ok(())
        }
        Action::Migrate(args) => {
            let urls = args.ports.urls()?;
            urls.event_store.open().await?;
            urls.read_model.open().await?;
            println!("migrate: the event store and read models are up to date");
            Ok(())
        }
        Action::Sink(SinkCommand::Splunk(args)) => {
            anyhow::ensure!(
                args.splunk.sink()?.is_some(),
                "give the collector: --hec-url https://host:8088"
            );
            serve_role(
                args,
                Roles {
                    sinks: true,
                    ..Roles::NONE
                },
            )
            .await
        }
        Action::Replay(args) => replay::run(args).await.map(drop),
        Action::Export(args) => export::run(args).await.map(drop),
        Action::Rebuild(RebuildCommand::ReadModels(args)) => {
            let cancel = CancellationToken::new();
            tokio::spawn({
                let cancel = cancel.clone();
                async move {
                    stop_signal().await;
                    cancel.cancel();
                }
            });
            let config = ProjectorConfig {
                group: "rebuild".to_owned(),
                raw_retention: chrono::Duration::hours(i64::from(args.raw_retention_hours)),
                poison: args.on_poison.policy(),
                ..ProjectorConfig::default()
            };
            let grace = std::time::Duration::from_secs(args.grace_seconds);
            let report = rebuild::read_models(&args.ports.urls()?, config, grace, &cancel).await?;
            println!(
                "rebuild: generation {} answers, built from {} events; generation {} is removed",
                report.generation, report.applied_events, report.replaced
            );
            Ok(())
        }
        Action::DeadLetters(args) => {
            let urls = args.ports.urls()?;
            let desk = DeadLetterDesk {
                read_model: urls.read_model.open().await?.current,
                cache: urls.cache.open().await?.cache,
                store: Some(urls.event_store.open().await?.store),
                raw_retention: chrono::Duration::hours(i64::from(args.raw_retention_hours)),
            };
            dead_letters::run(&desk, args.command).await
        }
        Action::Bench(BenchCommand::Ingest(args)) => ingest::run(args).await,
        Action::Bench(BenchCommand::Pipeline(args)) => pipeline::run(args).await,
        Action::Bench(BenchCommand::Fuzz(args)) => fuzz::run(args),
        Action::Bench(BenchCommand::History(args)) => history::run(args).await,
        Action::Bench(BenchCommand::Alerts(args)) => alerts_bench::run(args).await,
    }
}

/// Tells the user where to go, on stdout. A closed stdout must not stop a running server, so
/// write errors are ignored rather than panicking as `println!` would.
fn announce(lines: &[String]) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    for line in lines {
        let _ = writeln!(out, "watershed: {line}");
    }
    let _ = out.flush();
}

/// One role in its own process. Tokens are required where the role serves an authenticated API,
/// since every instance must agree on them.
async fn serve_role(args: ServeArgs, roles: Roles) -> anyhow::Result<()> {
    let serves_api = roles.command_api || roles.query_api;
    let token = |given: Option<String>, role: &'static str| {
        let raw = match given {
            Some(token) => token,
            None if serves_api => anyhow::bail!(
                "--{role}-token (or WATERSHED_{}_TOKEN) is required",
                role.to_uppercase()
            ),
            // No route of this role checks it; a random one keeps the API closed all the same.
            None => tokens::generate(),
        };
        Ok::<_, anyhow::Error>(ApiToken::parse(role, raw)?)
    };
    let admin_token = token(args.admin_token.clone(), "admin")?;
    let read_token = token(args.read_token.clone(), "read")?;
    let analyst_token = args
        .analyst_token
        .clone()
        .map(|t| ApiToken::parse("analyst", t))
        .transpose()?;
    let config = args.config(roles, admin_token, read_token, analyst_token)?;
    let stopped = stop_signal();
    tracing::info!(?roles, listen = %config.listen, "starting");
    let app = App::build(config).await?;
    let mut lines = vec![format!("listening on http://{}", app.address())];
    lines.extend(mqtt_line(&app));
    announce(&lines);
    app.run_until_stopped(stopped).await
}

fn mqtt_line(app: &App) -> Option<String> {
    app.mqtt_address()
        .map(|address| format!("mqtt on mqtt://{address}"))
}

async fn up(args: UpArgs) -> anyhow::Result<()> {
    let token =
        |given: Option<String>, role| ApiToken::parse(role, given.unwrap_or_else(tokens::generate));
    let admin_token = token(args.serve.admin_token.clone(), "admin")?;
    let read_token = token(args.serve.read_token.clone(), "read")?;
    let analyst_token = token(args.serve.analyst_token.clone(), "analyst")?;
    let config = args.serve.config(
        Roles::ALL,
        admin_token.clone(),
        read_token.clone(),
        Some(analyst_token.clone()),
    )?;
    let (admin_token, read_token) = (admin_token.reveal(), read_token.reveal());
    tracing::info!(ports = ?config.ports, listen = %config.listen, simulate = args.simulate, "starting watershed up");
    let stopped = stop_signal();
    let app = App::build(config).await?;
    let base = format!("http://{}", app.address());
    let mut lines = vec![format!("listening on {base}")];
    lines.extend(mqtt_line(&app));
    lines.extend([
        format!("admin token: {admin_token}"),
        format!("read token: {read_token}"),
        format!("analyst token: {}", analyst_token.reveal()),
        format!("dashboard: {base}/#token={read_token}"),
    ]);
    announce(&lines);

    let shutdown = CancellationToken::new();
    let fleet = (args.simulate > 0).then(|| {
        let config = FleetConfig {
            target: base.clone(),
            admin_token: admin_token.to_owned(),
            devices: args.simulate,
            id_prefix: "sim-".to_owned(),
            rate: args.simulate_rate,
            batch_size: watershed_domain::MAX_READINGS_PER_BATCH,
            total_readings: None,
            protocol: simulate::Protocol::Http,
        };
        tokio::spawn(simulate::run(config, shutdown.clone()))
    });
    let stopping = shutdown.clone();
    app.run_until_stopped(async move {
        stopped.await;
        stopping.cancel();
    })
    .await?;
    if let Some(fleet) = fleet {
        match fleet.await {
            Ok(Ok(report)) => tracing::info!(
                readings = report.readings,
                errors = report.errors,
                "simulator stopped"
            ),
            Ok(Err(e)) => tracing::error!(error = %e, "simulator failed"),
            Err(e) => tracing::error!(error = %e, "simulator task failed"),
        }
    }
    Ok(())
}
