//! The `watershed` binary: reads secrets given as files, parses the command line and hands over
//! to the library.

use clap::Parser;

fn main() -> anyhow::Result<()> {
    // Before the runtime starts its threads: setting the environment is sound only then.
    watershed::secret_files::load()?;
    let cli = watershed::cli::Cli::parse();
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(async {
            watershed::telemetry::init(cli.log_format);
            watershed::cli::run(cli).await
        })
}
