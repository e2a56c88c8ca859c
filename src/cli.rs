//! The command line: one binary, one subcommand per target or tool.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use tokio_util::sync::CancellationToken;

use crate::app::{App, EmbeddedStores, UpConfig};
use crate::bench::{self, BenchIngestArgs};
use crate::simulate::{self, FleetConfig};
use crate::telemetry::LogFormat;
use crate::tokens;

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
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run everything in one process on embedded storage, with simulated devices and the dashboard.
    Up(UpArgs),
    /// Run a simulated device fleet against a running Watershed.
    Simulate(SimulateArgs),
    /// Create or upgrade the embedded stores' schemas, then exit.
    Migrate(MigrateArgs),
    /// Measure throughput against a raw baseline in the same run.
    #[command(subcommand)]
    Bench(BenchCommand),
}

#[derive(Debug, Args)]
struct UpArgs {
    /// Where the event store and read models live.
    #[arg(long, env = "WATERSHED_DATA_DIR", default_value = "data")]
    data_dir: PathBuf,
    /// Address for every API and the dashboard (port 0 picks a free port).
    #[arg(long, env = "WATERSHED_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Simulated devices to run inside (0 for none).
    #[arg(long, env = "WATERSHED_SIMULATE", default_value_t = 10)]
    simulate: usize,
    /// Sampling rounds per second per simulated device (each reads every sensor).
    #[arg(long, default_value_t = 1.0)]
    simulate_rate: f64,
    /// The built dashboard.
    #[arg(long, env = "WATERSHED_WEB_DIR", default_value = "web/dist")]
    web_dir: PathBuf,
    /// Admin token (register and decommission devices, read). Generated and printed when unset.
    #[arg(long, env = "WATERSHED_ADMIN_TOKEN", hide_env_values = true)]
    admin_token: Option<String>,
    /// Read-only token for the dashboard. Generated and printed when unset.
    #[arg(long, env = "WATERSHED_READ_TOKEN", hide_env_values = true)]
    read_token: Option<String>,
    /// Hours of raw readings to keep; rollups keep everything.
    #[arg(long, env = "WATERSHED_RAW_RETENTION_HOURS", default_value_t = 48)]
    raw_retention_hours: u32,
    /// Browser origins allowed to call the API (a separately hosted dashboard), comma-separated; `*` for any.
    #[arg(long, env = "WATERSHED_CORS_ORIGINS", value_delimiter = ',')]
    cors_origin: Vec<String>,
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
}

#[derive(Debug, Args)]
struct MigrateArgs {
    #[arg(long, env = "WATERSHED_DATA_DIR", default_value = "data")]
    data_dir: PathBuf,
}

#[derive(Debug, Subcommand)]
enum BenchCommand {
    /// Readings/s accepted and projected end to end, beside raw batched SQLite inserts.
    Ingest(BenchIngestArgs),
}

/// Resolves when the process is asked to stop (Ctrl-C or SIGTERM).
async fn stop_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("installing a SIGTERM handler at start-up");
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Up(args) => up(args).await,
        Command::Simulate(args) => {
            let shutdown = CancellationToken::new();
            tokio::spawn({
                let shutdown = shutdown.clone();
                async move {
                    stop_signal().await;
                    shutdown.cancel();
                }
            });
            let report = simulate::run(
                FleetConfig {
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
        Command::Migrate(args) => {
            EmbeddedStores::open(&args.data_dir).await?;
            println!(
                "migrate: stores under {} are up to date",
                args.data_dir.display()
            );
            Ok(())
        }
        Command::Bench(BenchCommand::Ingest(args)) => bench::ingest(args).await,
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

async fn up(args: UpArgs) -> anyhow::Result<()> {
    let admin_token = args.admin_token.unwrap_or_else(tokens::generate);
    let read_token = args.read_token.unwrap_or_else(tokens::generate);
    let config = UpConfig {
        data_dir: args.data_dir,
        listen: args.listen,
        web_dir: args.web_dir,
        admin_token: admin_token.clone(),
        read_token: read_token.clone(),
        raw_retention: chrono::Duration::hours(i64::from(args.raw_retention_hours)),
        cors_origins: args.cors_origin,
    };
    tracing::info!(data_dir = %config.data_dir.display(), listen = %config.listen, simulate = args.simulate, "starting watershed up");
    let app = App::build(config).await?;
    let base = format!("http://{}", app.address());
    announce(&[
        format!("listening on {base}"),
        format!("admin token: {admin_token}"),
        format!("read token: {read_token}"),
        format!("dashboard: {base}/#token={read_token}"),
    ]);

    let shutdown = CancellationToken::new();
    let fleet = (args.simulate > 0).then(|| {
        let config = FleetConfig {
            target: base.clone(),
            admin_token,
            devices: args.simulate,
            id_prefix: "sim-".to_owned(),
            rate: args.simulate_rate,
            batch_size: watershed_domain::MAX_READINGS_PER_BATCH,
            total_readings: None,
        };
        tokio::spawn(simulate::run(config, shutdown.clone()))
    });
    let stopping = shutdown.clone();
    app.run_until_stopped(async move {
        stop_signal().await;
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
