//! `watershed devices import|export`: the device registry to and from CSV or NDJSON files,
//! through a running Watershed's API with the admin token, so both work alike in embedded and
//! cloud mode. The file format is `watershed_domain::device_file`'s: an export imports back.

pub mod export;
pub mod import;

use std::path::Path;

use clap::{Args, Subcommand, ValueEnum};
use watershed_domain::device_file::DeviceFileFormat;
use watershed_http_edge::ErrorBody;

#[derive(Debug, Subcommand)]
pub enum DevicesCommand {
    /// Register every device of a CSV or NDJSON file, or none; prints each bad line.
    Import(import::ImportArgs),
    /// Write every device (id, name, kind, location, tags, status) to a file `import` reads back.
    /// Keys are not exported: only their hashes are stored.
    Export(export::ExportArgs),
}

pub async fn run(command: DevicesCommand) -> anyhow::Result<()> {
    match command {
        DevicesCommand::Import(args) => import::run(&args).await.map(drop),
        DevicesCommand::Export(args) => export::run(&args).await.map(drop),
    }
}

/// The Watershed a command talks to.
#[derive(Debug, Clone, Args)]
pub struct Target {
    /// Base URL of a running Watershed's API.
    #[arg(
        long,
        env = "WATERSHED_TARGET",
        default_value = "http://127.0.0.1:8080"
    )]
    pub target: String,
    /// The admin token (an export also works with the read token).
    #[arg(long, env = "WATERSHED_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: String,
}

impl Target {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.target.trim_end_matches('/'))
    }
}

/// What a refusal says: the message of its JSON error body, or the body as it came.
fn refusal(status: reqwest::StatusCode, body: &str) -> anyhow::Error {
    let message = serde_json::from_str::<ErrorBody>(body)
        .map(|b| b.error.message)
        .unwrap_or_else(|_| body.trim().to_owned());
    anyhow::anyhow!("the server answered {status}: {message}")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// A header row, then one device per row; tags separated by spaces.
    Csv,
    /// One JSON object per line.
    Ndjson,
}

impl Format {
    /// The format a file's extension names: `.csv`, or `.ndjson` / `.jsonl`.
    fn of_path(path: &Path) -> Option<Self> {
        let extension = path.extension()?.to_str()?.to_ascii_lowercase();
        match extension.as_str() {
            "csv" => Some(Self::Csv),
            "ndjson" | "jsonl" => Some(Self::Ndjson),
            _ => None,
        }
    }

    fn file_format(self) -> DeviceFileFormat {
        match self {
            Self::Csv => DeviceFileFormat::Csv,
            Self::Ndjson => DeviceFileFormat::Ndjson,
        }
    }

    fn media_type(self) -> &'static str {
        match self {
            Self::Csv => "text/csv",
            Self::Ndjson => "application/x-ndjson",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_files_extension_names_its_format() {
        assert_eq!(Format::of_path(Path::new("fleet.CSV")), Some(Format::Csv));
        assert_eq!(
            Format::of_path(Path::new("a/fleet.jsonl")),
            Some(Format::Ndjson)
        );
        assert_eq!(
            Format::of_path(Path::new("fleet.ndjson")),
            Some(Format::Ndjson)
        );
        assert_eq!(Format::of_path(Path::new("fleet.txt")), None);
        assert_eq!(Format::of_path(Path::new("fleet")), None);
    }
}
