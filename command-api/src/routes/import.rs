//! Bulk import of devices (admin token): a CSV or NDJSON file registers every device on it, or,
//! when any line is bad, none, and the answer names every bad line. The file format is
//! `watershed_domain::device_file`'s; `watershed devices import` sends it.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use watershed_domain::device_file::{self, DeviceFileFormat, FileRefused, ImportLine, LineError};
use watershed_domain::DomainError;
use watershed_http_edge::error::ErrorDetail;
use watershed_http_edge::{body, AdminAccess, ApiError, ErrorBody};

use super::devices::{context, new_key};
use super::{api_error, store_error};
use crate::handler::{CommandError, DevicePlan, DeviceWrite, ManyError};
use crate::CommandState;

/// The largest import file: 10 000 devices of about 400 bytes each, with room to spare.
pub const IMPORT_BODY_LIMIT: usize = 8 * 1024 * 1024;

const MEDIA_TYPES: &str = "text/csv or application/x-ndjson";

/// The import route, with its own body limit: a file is larger than any other request.
pub fn router() -> OpenApiRouter<CommandState> {
    OpenApiRouter::new()
        .routes(routes!(import))
        .layer(DefaultBodyLimit::max(IMPORT_BODY_LIMIT))
}

/// A device of the file, by the line it is on.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DeviceOnLine {
    pub line: u64,
    pub device_id: String,
    /// The key generated for the device, shown only now: only its hash is stored. Absent when
    /// the file gave the key, and for devices not registered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_key: Option<String>,
}

/// Every device of the file registered, in the file's order.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ImportAnswer {
    pub imported: usize,
    pub devices: Vec<DeviceOnLine>,
}

/// One bad line of a refused file; a line with several bad fields has one problem per field.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct LineProblem {
    /// 1-based; a CSV file's header is line 1.
    pub line: u64,
    /// `malformed_line`, `invalid_input`, `duplicate_device` (on an earlier line too) or
    /// `device_exists` (already registered).
    pub code: String,
    /// The column or field at fault, when one is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    pub message: String,
}

/// A refused file: the error, and every bad line, in the file's order. Nothing was written.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ImportRefused {
    pub error: ErrorDetail,
    #[serde(default)]
    pub lines: Vec<LineProblem>,
}

/// An import the event store failed partway, where it cannot append across devices at once
/// (Cosmos DB): what became of each device.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ImportIncomplete {
    pub error: ErrorDetail,
    /// Registered, with generated keys shown only now.
    #[serde(default)]
    pub registered: Vec<DeviceOnLine>,
    /// Not registered: import these lines again.
    #[serde(default)]
    pub not_registered: Vec<DeviceOnLine>,
    /// The store did not answer for these: `GET /v1/devices/{id}` tells whether they are
    /// registered, and then with the key shown here.
    #[serde(default)]
    pub unknown: Vec<DeviceOnLine>,
}

/// Why an import wrote nothing, or not everything.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// 400, or 409 when every bad line names a device already registered: every bad line.
    /// Nothing was written.
    #[error("{} problems on the file's lines; nothing was imported", .0.len())]
    BadLines(Vec<LineProblem>),
    /// 503: the event store failed partway through an import it appends device by device.
    #[error(
        "the event store failed during the import: {} devices registered, {} not, {} unknown",
        .0.registered.len(), .0.not_registered.len(), .0.unknown.len()
    )]
    Incomplete(ImportIncomplete),
    /// 413: more devices than one file may hold.
    #[error("the file holds more than {0} devices; split it")]
    TooManyDevices(usize),
    /// Any other refusal, with its own status; nothing was written.
    #[error(transparent)]
    Api(#[from] ApiError),
}

impl IntoResponse for ImportError {
    fn into_response(self) -> Response {
        let message = self.to_string();
        match self {
            Self::BadLines(lines) => {
                let only_taken = lines.iter().all(|l| l.code == "device_exists");
                let (status, code) = if only_taken {
                    (StatusCode::CONFLICT, "devices_exist")
                } else {
                    (StatusCode::BAD_REQUEST, "invalid_lines")
                };
                let error = detail(code, message);
                (status, Json(ImportRefused { error, lines })).into_response()
            }
            Self::Incomplete(mut incomplete) => {
                tracing::error!(%message, "device import incomplete");
                incomplete.error = detail("import_incomplete", message);
                (StatusCode::SERVICE_UNAVAILABLE, Json(incomplete)).into_response()
            }
            Self::TooManyDevices(_) => {
                let error = detail("too_many_devices", message);
                (StatusCode::PAYLOAD_TOO_LARGE, Json(ErrorBody { error })).into_response()
            }
            Self::Api(e) => e.into_response(),
        }
    }
}

fn detail(code: &str, message: String) -> ErrorDetail {
    ErrorDetail {
        code: code.to_owned(),
        message,
        field: None,
    }
}

/// Register every device of a file, or none. CSV has a header row naming its columns
/// (`device_id` required; `name`, `kind`, `location`, `tags` separated by spaces, `status`,
/// `key` optional, in any order); NDJSON has one object per line with the same fields. At most
/// 10 000 devices and 8 MiB. Devices without a `key` get a generated one, answered only now.
/// Embedded (SQLite), the whole file is one transaction; on Cosmos DB each device is its own,
/// and a store failure partway answers 503 naming what became of each device.
#[utoipa::path(post, path = "/v1/devices/import", tag = "devices",
    request_body(
        description = "The devices, one per line.",
        content(
            (String = "text/csv", example = "device_id,name,kind,location,tags,status\npump-1,Pump 1,pump,Hall B,line-3 site=berlin,active\n"),
            (Vec<watershed_domain::device_file::DeviceLine> = "application/x-ndjson"),
        )
    ),
    security(("admin_token" = [])),
    responses(
        (status = 201, body = ImportAnswer),
        (status = 400, body = ImportRefused, description = "bad lines (every one named), or no devices"),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody, description = "the read-only token cannot import"),
        (status = 409, body = ImportRefused, description = "devices already registered (every one named)"),
        (status = 413, body = ErrorBody, description = "more than 10 000 devices, or more than 8 MiB"),
        (status = 415, body = ErrorBody),
        (status = 503, body = ImportIncomplete, description = "the store failed: nothing written, or (Cosmos DB) what became of each device"),
    ))]
pub async fn import(
    State(state): State<CommandState>,
    _: AdminAccess,
    headers: HeaderMap,
    bytes: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<ImportAnswer>), ImportError> {
    let format = match body::media_type(&headers).as_deref() {
        Some("text/csv") => DeviceFileFormat::Csv,
        Some("application/x-ndjson") => DeviceFileFormat::Ndjson,
        _ => return Err(ApiError::UnsupportedMediaType(MEDIA_TYPES).into()),
    };
    let bytes = bytes.map_err(|e| body::unread(e, IMPORT_BODY_LIMIT))?;
    let file = device_file::parse(format, &bytes).map_err(refused_file)?;
    let (plans, keys): (Vec<DevicePlan>, Vec<Option<String>>) =
        file.devices.iter().map(plan).unzip();
    if !file.errors.is_empty() {
        // The good lines are checked against the registry too: one answer, every problem.
        let refusals = state.handler.refusals(&plans).await.map_err(store_error)?;
        return Err(bad_lines(&file.devices, &file.errors, refusals));
    }
    match state.handler.execute_many(&plans, &context(&headers)).await {
        Ok(_) => {
            tracing::info!(devices = plans.len(), "devices imported");
            let devices: Vec<DeviceOnLine> = file
                .devices
                .iter()
                .zip(keys)
                .map(|(line, key)| on_line(line, key))
                .collect();
            let imported = devices.len();
            Ok((
                StatusCode::CREATED,
                Json(ImportAnswer { imported, devices }),
            ))
        }
        Err(ManyError::Refused(refusals)) => Err(bad_lines(&file.devices, &[], refusals)),
        Err(ManyError::Incomplete { writes, .. }) => Err(incomplete(&file.devices, keys, writes)),
        Err(e @ ManyError::Contended) => Err(ApiError::Unavailable(e.to_string()).into()),
        Err(ManyError::Store(e)) => Err(store_error(e).into()),
        // The file's parser refuses a device on two lines.
        Err(e @ ManyError::Repeated(_)) => Err(ApiError::Internal(e.to_string()).into()),
    }
}

/// The commands of a line's device, and the key generated for it when the line gave none.
fn plan(line: &ImportLine) -> (DevicePlan, Option<String>) {
    let (key_hash, generated) = match &line.key {
        Some(given) => (given.hash(), None),
        None => {
            let key = new_key();
            (watershed_domain::KeyHash::of(&key), Some(key))
        }
    };
    let plan = DevicePlan {
        device: line.device.device_id.clone(),
        commands: line.device.clone().into_commands(key_hash),
    };
    (plan, generated)
}

fn on_line(line: &ImportLine, device_key: Option<String>) -> DeviceOnLine {
    DeviceOnLine {
        line: line.line,
        device_id: line.device.device_id.to_string(),
        device_key,
    }
}

fn refused_file(refused: FileRefused) -> ImportError {
    match refused {
        FileRefused::TooManyDevices { max } => ImportError::TooManyDevices(max),
        FileRefused::Empty => ApiError::Invalid {
            code: "empty_import",
            message: refused.to_string(),
            field: None,
        }
        .into(),
    }
}

/// The file's bad lines and the registry's refusals of its good ones, in line order.
fn bad_lines(
    devices: &[ImportLine],
    errors: &[LineError],
    refusals: Vec<(usize, DomainError)>,
) -> ImportError {
    let mut lines: Vec<LineProblem> = errors.iter().map(problem).collect();
    lines.extend(refusals.into_iter().map(|(i, refusal)| {
        let device = &devices[i].device.device_id;
        let error = api_error(device, CommandError::Refused(refusal))
            .body()
            .error;
        LineProblem {
            line: devices[i].line,
            code: error.code,
            field: error.field.or_else(|| Some("device_id".to_owned())),
            message: error.message,
        }
    }));
    // Stable: a line's problems stay in the order of its fields.
    lines.sort_by_key(|p| p.line);
    tracing::info!(problems = lines.len(), "device import refused");
    ImportError::BadLines(lines)
}

fn problem(error: &LineError) -> LineProblem {
    let (code, message) = match error {
        LineError::Malformed { message, .. } => ("malformed_line", message.clone()),
        LineError::Invalid { error, .. } => ("invalid_input", error.message.clone()),
        LineError::Repeated { device, first, .. } => (
            "duplicate_device",
            format!("device {device} is already on line {first}"),
        ),
    };
    LineProblem {
        line: error.line(),
        code: code.to_owned(),
        field: error.field().map(str::to_owned),
        message,
    }
}

fn incomplete(
    devices: &[ImportLine],
    keys: Vec<Option<String>>,
    writes: Vec<DeviceWrite>,
) -> ImportError {
    let mut answer = ImportIncomplete {
        error: detail("import_incomplete", String::new()),
        registered: Vec::new(),
        not_registered: Vec::new(),
        unknown: Vec::new(),
    };
    for ((line, key), write) in devices.iter().zip(keys).zip(writes) {
        match write {
            DeviceWrite::Written(_) => answer.registered.push(on_line(line, key)),
            DeviceWrite::NotTried | DeviceWrite::Refused(_) => {
                answer.not_registered.push(on_line(line, None))
            }
            // Its key, should it turn out registered.
            DeviceWrite::Unknown(_) => answer.unknown.push(on_line(line, key)),
        }
    }
    ImportError::Incomplete(answer)
}
