//! The analysts' tools: `replay` (the history as NDJSON to a file, stdout or a Kafka topic) and
//! `export` (readings as Parquet, CSV or NDJSON for Spark and pandas). Both read a running
//! Watershed's `/v1/history` with the analyst token, so they need no access to the stores and
//! work the same in embedded and cloud mode.

pub mod download;
pub mod export;
pub mod replay;
mod resume;

use clap::Args;

/// Where the history comes from and which of it.
#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// Base URL of a running Watershed's query API.
    #[arg(
        long,
        env = "WATERSHED_TARGET",
        default_value = "http://127.0.0.1:8080"
    )]
    pub api: String,
    /// The analyst token (or the admin token).
    #[arg(long, env = "WATERSHED_ANALYST_TOKEN", hide_env_values = true)]
    pub token: String,
    /// Only this device (repeat for several).
    #[arg(long = "device")]
    pub device: Vec<String>,
}

impl HistoryArgs {
    /// Every device's history from the query API at `api`, read with `token`.
    pub fn fleet(api: &str, token: &str) -> Self {
        Self {
            api: api.to_owned(),
            token: token.to_owned(),
            device: Vec::new(),
        }
    }
}
