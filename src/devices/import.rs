//! `watershed devices import FILE`: the whole file in one request, so the server registers all
//! of it or none, with a bar over the bytes sent on a terminal. Generated keys go to
//! `--keys-out` (created, never overwritten) or stdout; each bad line goes to stderr as
//! `FILE:LINE: field: message`, and the exit status is then nonzero.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use clap::Args;
use reqwest::header::{CONTENT_LENGTH, CONTENT_TYPE};
use reqwest::StatusCode;
use watershed_command_api::routes::import::{
    DeviceOnLine, ImportAnswer, ImportIncomplete, ImportRefused,
};

use super::{refusal, Format, Target};
use crate::progress::{self, Counting};

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The CSV or NDJSON file (see the README's "Bulk import and export").
    pub file: PathBuf,
    /// The file's format; by default from its extension (.csv, .ndjson, .jsonl).
    #[arg(long, value_enum)]
    pub format: Option<Format>,
    /// Write the generated keys here, as CSV `device_id,device_key` readable by its owner only;
    /// the file must not exist yet. Without it they go to stdout. Keys are shown only once.
    #[arg(long)]
    pub keys_out: Option<PathBuf>,
    #[command(flatten)]
    pub target: Target,
}

/// Bytes handed to the connection at a time; the bar moves by these.
const CHUNK: usize = 64 * 1024;

pub async fn run(args: &ImportArgs) -> anyhow::Result<ImportAnswer> {
    let shown = args.file.display();
    let Some(format) = args.format.or_else(|| Format::of_path(&args.file)) else {
        bail!("cannot tell the format of {shown} from its name; give --format csv or ndjson");
    };
    let bytes = std::fs::read(&args.file).with_context(|| format!("reading {shown}"))?;
    // Before anything is sent: keys are shown once, so where they go must be ready.
    let mut keys = KeysOut::open(args.keys_out.as_deref())?;
    let response = send(&args.target, format, bytes).await?;
    let status = response.status();
    let body = response.text().await.context("reading the answer")?;
    match status {
        StatusCode::CREATED => {
            let answer: ImportAnswer =
                serde_json::from_str(&body).context("the answer is not an import's")?;
            keys.write(&answer.devices)?;
            eprintln!(
                "import: {} devices registered from {shown}",
                answer.imported
            );
            Ok(answer)
        }
        StatusCode::BAD_REQUEST | StatusCode::CONFLICT => {
            let Ok(refused) = serde_json::from_str::<ImportRefused>(&body) else {
                return Err(refusal(status, &body));
            };
            for line in &refused.lines {
                let field = line
                    .field
                    .as_deref()
                    .map_or(String::new(), |f| format!("{f}: "));
                eprintln!("{shown}:{}: {field}{}", line.line, line.message);
            }
            bail!("{}", refused.error.message)
        }
        StatusCode::SERVICE_UNAVAILABLE => match serde_json::from_str::<ImportIncomplete>(&body) {
            Ok(incomplete) if incomplete.error.code == "import_incomplete" => {
                report_incomplete(&shown.to_string(), &incomplete, &mut keys)
            }
            _ => Err(refusal(status, &body)),
        },
        _ => Err(refusal(status, &body)),
    }
}

/// Streams the file with the bar following what the connection takes.
async fn send(
    target: &Target,
    format: Format,
    bytes: Vec<u8>,
) -> anyhow::Result<reqwest::Response> {
    let total = bytes.len() as u64;
    let bar = progress::bar(Some(total), Counting::BytesSent);
    let sent = bar.clone();
    let chunks: Vec<Vec<u8>> = bytes.chunks(CHUNK).map(<[u8]>::to_vec).collect();
    let body = futures::stream::iter(chunks.into_iter().map(move |chunk| {
        sent.inc(chunk.len() as u64);
        if sent.position() >= total {
            sent.set_message("sent; the server registers the devices");
        }
        Ok::<_, std::io::Error>(chunk)
    }));
    let answered = reqwest::Client::new()
        .post(target.url("/v1/devices/import"))
        .bearer_auth(&target.admin_token)
        .header(CONTENT_TYPE, format.media_type())
        .header(CONTENT_LENGTH, total)
        .body(reqwest::Body::wrap_stream(body))
        .send()
        .await;
    bar.finish_and_clear();
    answered.with_context(|| format!("sending the file to {}", target.target))
}

/// Cloud mode only: the store failed partway, so some devices are registered and some not.
fn report_incomplete(
    file: &str,
    incomplete: &ImportIncomplete,
    keys: &mut KeysOut,
) -> anyhow::Result<ImportAnswer> {
    // A device the store did not answer for may be registered: its key matters then.
    keys.write(incomplete.registered.iter().chain(&incomplete.unknown))?;
    let lines = |devices: &[DeviceOnLine]| {
        devices
            .iter()
            .map(|d| format!("{file}:{}: {}", d.line, d.device_id))
            .collect::<Vec<_>>()
    };
    for line in lines(&incomplete.not_registered) {
        eprintln!("{line}: not registered; import this line again");
    }
    for line in lines(&incomplete.unknown) {
        eprintln!("{line}: unknown; GET /v1/devices/{{id}} tells whether it is registered");
    }
    bail!(
        "{}; the registered devices' keys are written as usual",
        incomplete.error.message
    )
}

/// Where generated keys go: a new file only its owner reads, or stdout.
enum KeysOut {
    File(std::fs::File, PathBuf),
    Stdout,
}

impl KeysOut {
    fn open(path: Option<&Path>) -> anyhow::Result<Self> {
        let Some(path) = path else {
            return Ok(Self::Stdout);
        };
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let file = options
            .open(path)
            .with_context(|| format!("creating {} for the keys", path.display()))?;
        Ok(Self::File(file, path.to_owned()))
    }

    /// Writes the generated keys, if any, as CSV.
    fn write<'a>(
        &mut self,
        devices: impl IntoIterator<Item = &'a DeviceOnLine>,
    ) -> anyhow::Result<()> {
        let keyed: Vec<&DeviceOnLine> = devices
            .into_iter()
            .filter(|d| d.device_key.is_some())
            .collect();
        let out: Box<dyn Write + '_> = match self {
            Self::File(file, _) => Box::new(file),
            Self::Stdout if keyed.is_empty() => return Ok(()),
            Self::Stdout => Box::new(std::io::stdout().lock()),
        };
        {
            let mut csv = csv::Writer::from_writer(out);
            csv.write_record(["device_id", "device_key"])?;
            for device in keyed {
                let key = device.device_key.as_deref().unwrap_or_default();
                csv.write_record([device.device_id.as_str(), key])?;
            }
            csv.flush().context("writing the keys")?;
        }
        if let Self::File(file, path) = self {
            file.sync_all()
                .with_context(|| format!("syncing {}", path.display()))?;
        }
        Ok(())
    }
}
