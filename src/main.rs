//! The `watershed` binary: parses the command line and hands over to the library.

use clap::Parser;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = watershed::cli::Cli::parse();
    watershed::telemetry::init(cli.log_format);
    watershed::cli::run(cli).await
}
