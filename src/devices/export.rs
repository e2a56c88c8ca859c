//! `watershed devices export`: every device, as `GET /v1/devices` lists it, to a CSV or NDJSON
//! file that `watershed devices import` reads back. Keys are not exported (only their hashes
//! are stored), so devices imported from it get new keys unless the file is given theirs. The
//! list comes from the read models: a device registered a moment ago shows once projected.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;
use serde::Deserialize;
use watershed_domain::device_file::{self, DeviceRecord, RegistryStatus};
use watershed_domain::{DeviceId, Label, Tag};

use super::{refusal, Format, Target};
use crate::progress::{self, Counting};

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The file's format; by default from --out's extension, else CSV.
    #[arg(long, value_enum)]
    pub format: Option<Format>,
    /// The file to write, replaced only once complete; stdout without it.
    #[arg(long)]
    pub out: Option<PathBuf>,
    #[command(flatten)]
    pub target: Target,
}

#[derive(Debug, Deserialize)]
struct DeviceList {
    devices: Vec<ListedDevice>,
}

/// What an export keeps of a listed device.
#[derive(Debug, Deserialize)]
struct ListedDevice {
    device_id: DeviceId,
    name: Option<Label>,
    kind: Option<Label>,
    location: Option<Label>,
    #[serde(default)]
    tags: BTreeSet<Tag>,
    /// Presence: `online` and `silent` are both registered and sending.
    status: String,
}

impl ListedDevice {
    fn record(self) -> DeviceRecord {
        DeviceRecord {
            device_id: self.device_id,
            name: self.name,
            kind: self.kind,
            location: self.location,
            tags: self.tags,
            status: match self.status.as_str() {
                "disabled" => RegistryStatus::Disabled,
                "decommissioned" => RegistryStatus::Decommissioned,
                _ => RegistryStatus::Active,
            },
        }
    }
}

/// Writes the file and answers how many devices it holds.
pub async fn run(args: &ExportArgs) -> anyhow::Result<usize> {
    let format = args
        .format
        .or_else(|| args.out.as_deref().and_then(Format::of_path))
        .unwrap_or(Format::Csv);
    let devices = download(&args.target).await?;
    let file_format = format.file_format();
    let text: String = device_file::header(file_format)
        .into_iter()
        .chain(devices.iter().map(|d| device_file::to_line(file_format, d)))
        .collect();
    match &args.out {
        Some(path) => {
            replace(path, text.as_bytes())?;
            eprintln!(
                "export: {} devices written to {}",
                devices.len(),
                path.display()
            );
        }
        None => {
            let mut stdout = std::io::stdout().lock();
            stdout.write_all(text.as_bytes())?;
            stdout.flush()?;
        }
    }
    Ok(devices.len())
}

/// The device list, with a bar over the bytes received on a terminal.
async fn download(target: &Target) -> anyhow::Result<Vec<DeviceRecord>> {
    let mut response = reqwest::Client::new()
        .get(target.url("/v1/devices"))
        .bearer_auth(&target.admin_token)
        .send()
        .await
        .with_context(|| format!("asking {} for its devices", target.target))?;
    let status = response.status();
    if !status.is_success() {
        let body = response.text().await.unwrap_or_default();
        return Err(refusal(status, &body));
    }
    let bar = progress::bar(response.content_length(), Counting::BytesReceived);
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.context("reading the device list")? {
        bar.inc(chunk.len() as u64);
        body.extend_from_slice(&chunk);
    }
    bar.finish_and_clear();
    let list: DeviceList =
        serde_json::from_slice(&body).context("the device list is not one this version reads")?;
    Ok(list.devices.into_iter().map(ListedDevice::record).collect())
}

/// Writes `path` whole or not at all: a failed export leaves the previous file as it was.
fn replace(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let mut file = tempfile::NamedTempFile::new_in(dir)
        .with_context(|| format!("creating a file in {}", dir.display()))?;
    file.write_all(bytes)?;
    file.as_file().sync_all()?;
    file.persist(path)
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}
