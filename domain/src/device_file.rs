//! The file of bulk device import and export: one device per line, as CSV with a header row or as
//! NDJSON. Every field goes through the parsers a single registration uses, every bad line is
//! reported with its number (not just the first), and what `to_line` writes `parse` reads back.
//! Keys travel one way only: an import may bring them, an export has none (only hashes are kept).

use std::collections::{BTreeSet, HashMap};

use serde::{Deserialize, Serialize};

use crate::device::{Command, KeyHash, MAX_TAGS};
use crate::device_token::DeviceToken;
use crate::ids::{DeviceId, Label, Tag};
use crate::validation::ValidationError;

/// The most devices one file may hold: an import is one request and, embedded, one transaction.
pub const MAX_DEVICES_PER_FILE: usize = 10_000;

/// The CSV columns, in the order an export writes them; an import takes them in any order and
/// needs only `device_id`. `key` is for imports only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Column {
    DeviceId,
    Name,
    Kind,
    Location,
    Tags,
    Status,
    Key,
}

impl Column {
    const ALL: [Column; 7] = [
        Self::DeviceId,
        Self::Name,
        Self::Kind,
        Self::Location,
        Self::Tags,
        Self::Status,
        Self::Key,
    ];

    fn name(self) -> &'static str {
        match self {
            Self::DeviceId => "device_id",
            Self::Name => "name",
            Self::Kind => "kind",
            Self::Location => "location",
            Self::Tags => "tags",
            Self::Status => "status",
            Self::Key => "key",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceFileFormat {
    /// A header row naming the columns; tags separated by spaces within their cell.
    Csv,
    /// One JSON object per line; blank lines are skipped (and still counted).
    Ndjson,
}

/// What a device is after an import: registered and sending, or registered and then disabled or
/// decommissioned (a registry moved from another installation keeps its retired devices).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RegistryStatus {
    #[default]
    Active,
    Disabled,
    Decommissioned,
}

impl RegistryStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Disabled => "disabled",
            Self::Decommissioned => "decommissioned",
        }
    }

    fn parse(s: &str) -> Result<Self, ValidationError> {
        match s {
            "active" => Ok(Self::Active),
            "disabled" => Ok(Self::Disabled),
            "decommissioned" => Ok(Self::Decommissioned),
            _ => Err(ValidationError::new(
                "status",
                format!("{s:?} is not one of active, disabled, decommissioned"),
            )),
        }
    }
}

/// A key an operator brings for a device instead of one the server generates (a fleet moved from
/// elsewhere keeps its keys): 16–256 printable ASCII characters, no spaces, so it fits a bearer
/// header and an MQTT password, and not starting like a device token, which it would be taken
/// for. Its `Debug` hides it.
#[derive(Clone, PartialEq, Eq)]
pub struct GivenKey(String);

impl GivenKey {
    pub const MIN_LEN: usize = 16;
    pub const MAX_LEN: usize = 256;

    pub fn parse(s: &str) -> Result<Self, ValidationError> {
        let invalid = |why: String| ValidationError::new("key", why);
        if !(Self::MIN_LEN..=Self::MAX_LEN).contains(&s.len()) {
            return Err(invalid(format!(
                "must be {} to {} characters",
                Self::MIN_LEN,
                Self::MAX_LEN
            )));
        }
        if !s.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(invalid(
                "must be printable ASCII without spaces (a bearer token)".to_owned(),
            ));
        }
        if DeviceToken::looks_like(s) {
            return Err(invalid(
                "must not start like a device token (SharedAccessSignature)".to_owned(),
            ));
        }
        Ok(Self(s.to_owned()))
    }

    pub fn hash(&self) -> KeyHash {
        KeyHash::of(&self.0)
    }
}

impl std::fmt::Debug for GivenKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("GivenKey(…)")
    }
}

/// One device as a file holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceRecord {
    pub device_id: DeviceId,
    pub name: Option<Label>,
    pub kind: Option<Label>,
    pub location: Option<Label>,
    pub tags: BTreeSet<Tag>,
    pub status: RegistryStatus,
}

impl DeviceRecord {
    /// The commands that make a new device what this record says, given the hash of its key:
    /// register, then tag, then disable or decommission. Each is decided on the state the
    /// previous one leaves.
    pub fn into_commands(self, key_hash: KeyHash) -> Vec<Command> {
        let mut commands = vec![Command::Register {
            name: self.name,
            kind: self.kind,
            location: self.location,
            key_hash,
        }];
        if !self.tags.is_empty() {
            commands.push(Command::ChangeProfile {
                name: None,
                location: None,
                tags: Some(self.tags),
                // A device's own limits are set after the import (PATCH), as its keys are.
                limits: None,
            });
        }
        match self.status {
            RegistryStatus::Active => {}
            RegistryStatus::Disabled => commands.push(Command::Disable { reason: None }),
            RegistryStatus::Decommissioned => commands.push(Command::Decommission { reason: None }),
        }
        commands
    }
}

/// A device to import, with the line it is on and the key it brings, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportLine {
    /// 1-based; a CSV file's header is line 1.
    pub line: u64,
    pub device: DeviceRecord,
    pub key: Option<GivenKey>,
}

/// Why one line cannot be imported.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LineError {
    /// Not CSV or JSON as expected, not UTF-8, or a header that names no device file.
    #[error("line {line}: {message}")]
    Malformed { line: u64, message: String },
    /// A field's value is not valid.
    #[error("line {line}: {}: {}", .error.field, .error.message)]
    Invalid { line: u64, error: ValidationError },
    /// The device is already on an earlier line.
    #[error("line {line}: device {device} is already on line {first}")]
    Repeated {
        line: u64,
        device: DeviceId,
        first: u64,
    },
}

impl LineError {
    pub fn line(&self) -> u64 {
        match self {
            Self::Malformed { line, .. }
            | Self::Invalid { line, .. }
            | Self::Repeated { line, .. } => *line,
        }
    }

    /// The field at fault, when one is.
    pub fn field(&self) -> Option<&str> {
        match self {
            Self::Malformed { .. } => None,
            Self::Invalid { error, .. } => Some(&error.field),
            Self::Repeated { .. } => Some("device_id"),
        }
    }
}

/// Why a file is refused as a whole, before its lines are looked at one by one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FileRefused {
    #[error("the file holds more than {max} devices; split it")]
    TooManyDevices { max: usize },
    #[error("the file holds no devices")]
    Empty,
}

/// A file read line by line: the devices of its good lines, and every bad line.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ParsedFile {
    pub devices: Vec<ImportLine>,
    pub errors: Vec<LineError>,
}

/// Reads a device file. Lines are checked independently, so one answer names every bad line; a
/// device id on two lines is refused on the second.
pub fn parse(format: DeviceFileFormat, bytes: &[u8]) -> Result<ParsedFile, FileRefused> {
    let raw = match format {
        DeviceFileFormat::Csv => csv_lines(bytes)?,
        DeviceFileFormat::Ndjson => ndjson_lines(bytes)?,
    };
    let mut file = ParsedFile::default();
    let mut first_line_of: HashMap<DeviceId, u64> = HashMap::new();
    for line in raw {
        let (line, fields) = match line {
            Ok(line) => line,
            Err(error) => {
                file.errors.push(error);
                continue;
            }
        };
        match fields.check(line) {
            Ok(import) => match first_line_of.get(&import.device.device_id) {
                Some(&first) => file.errors.push(LineError::Repeated {
                    line,
                    device: import.device.device_id,
                    first,
                }),
                None => {
                    first_line_of.insert(import.device.device_id.clone(), line);
                    file.devices.push(import);
                }
            },
            Err(errors) => file.errors.extend(errors),
        }
    }
    if file.devices.is_empty() && file.errors.is_empty() {
        return Err(FileRefused::Empty);
    }
    Ok(file)
}

/// The header line an export starts with, newline included; NDJSON has none. Keys are not
/// exported, so neither is their column.
pub fn header(format: DeviceFileFormat) -> Option<String> {
    match format {
        DeviceFileFormat::Csv => Some(csv_row(
            &Column::ALL
                .iter()
                .filter(|c| **c != Column::Key)
                .map(|c| c.name())
                .collect::<Vec<_>>(),
        )),
        DeviceFileFormat::Ndjson => None,
    }
}

/// One device as an export writes it, newline included.
pub fn to_line(format: DeviceFileFormat, device: &DeviceRecord) -> String {
    let label = |l: &Option<Label>| l.as_ref().map_or("", Label::as_str).to_owned();
    match format {
        DeviceFileFormat::Csv => csv_row(&[
            device.device_id.as_str(),
            &label(&device.name),
            &label(&device.kind),
            &label(&device.location),
            &device
                .tags
                .iter()
                .map(Tag::as_str)
                .collect::<Vec<_>>()
                .join(" "),
            device.status.as_str(),
        ]),
        DeviceFileFormat::Ndjson => {
            let line = DeviceLine {
                device_id: Some(device.device_id.to_string()),
                name: device.name.as_ref().map(Label::to_string),
                kind: device.kind.as_ref().map(Label::to_string),
                location: device.location.as_ref().map(Label::to_string),
                tags: (!device.tags.is_empty())
                    .then(|| device.tags.iter().map(Tag::to_string).collect()),
                status: Some(device.status.as_str().to_owned()),
                key: None,
            };
            let mut text =
                serde_json::to_string(&line).expect("a line of strings serializes to JSON");
            text.push('\n');
            text
        }
    }
}

fn csv_row(fields: &[&str]) -> String {
    let mut writer = csv::Writer::from_writer(Vec::new());
    writer
        .write_record(fields)
        .expect("writing CSV into memory cannot fail");
    let bytes = writer
        .into_inner()
        .expect("flushing CSV into memory cannot fail");
    String::from_utf8(bytes).expect("CSV of UTF-8 fields is UTF-8")
}

/// A line's fields as text, before they are checked; `None` for an empty or absent one.
#[derive(Debug, Default)]
struct RawFields {
    device_id: Option<String>,
    name: Option<String>,
    kind: Option<String>,
    location: Option<String>,
    tags: Vec<String>,
    status: Option<String>,
    key: Option<String>,
}

impl RawFields {
    /// Takes one CSV cell; an empty one is an absent value, tags are separated by spaces.
    fn set(&mut self, column: Column, cell: &str) {
        let cell = (!cell.is_empty()).then(|| cell.to_owned());
        match column {
            Column::DeviceId => self.device_id = cell,
            Column::Name => self.name = cell,
            Column::Kind => self.kind = cell,
            Column::Location => self.location = cell,
            Column::Tags => {
                self.tags = cell
                    .iter()
                    .flat_map(|c| c.split_whitespace())
                    .map(str::to_owned)
                    .collect()
            }
            Column::Status => self.status = cell,
            Column::Key => self.key = cell,
        }
    }

    /// Checks every field, so that a line with three mistakes reports three.
    fn check(self, line: u64) -> Result<ImportLine, Vec<LineError>> {
        let label = |field: &str, value: Option<String>| {
            value
                .map(|v| Label::parse(v).map_err(|e| ValidationError::new(field, e.message)))
                .transpose()
        };
        let device_id = match self.device_id {
            Some(id) => DeviceId::parse(id),
            None => Err(ValidationError::new("device_id", "is required")),
        };
        let name = label("name", self.name);
        let kind = label("kind", self.kind);
        let location = label("location", self.location);
        let tags = tags_of(self.tags);
        let status = self.status.map(|s| RegistryStatus::parse(&s)).transpose();
        let key = self.key.map(|k| GivenKey::parse(&k)).transpose();
        match (device_id, name, kind, location, tags, status, key) {
            (Ok(device_id), Ok(name), Ok(kind), Ok(location), Ok(tags), Ok(status), Ok(key)) => {
                Ok(ImportLine {
                    line,
                    device: DeviceRecord {
                        device_id,
                        name,
                        kind,
                        location,
                        tags,
                        status: status.unwrap_or_default(),
                    },
                    key,
                })
            }
            (device_id, name, kind, location, tags, status, key) => {
                let mut errors: Vec<ValidationError> =
                    [device_id.err(), name.err(), kind.err(), location.err()]
                        .into_iter()
                        .flatten()
                        .collect();
                errors.extend(tags.err().into_iter().flatten());
                errors.extend(status.err());
                errors.extend(key.err());
                Err(errors
                    .into_iter()
                    .map(|error| LineError::Invalid { line, error })
                    .collect())
            }
        }
    }
}

/// Every tag, or every reason why not: each bad tag, and too many of them.
fn tags_of(raw: Vec<String>) -> Result<BTreeSet<Tag>, Vec<ValidationError>> {
    let mut errors = Vec::new();
    let mut tags = BTreeSet::new();
    for tag in raw {
        match Tag::parse(tag) {
            Ok(tag) => {
                tags.insert(tag);
            }
            Err(e) => errors.push(e),
        }
    }
    if tags.len() > MAX_TAGS {
        errors.push(ValidationError::new(
            "tags",
            format!("{} tags; a device carries at most {MAX_TAGS}", tags.len()),
        ));
    }
    if errors.is_empty() {
        Ok(tags)
    } else {
        Err(errors)
    }
}

type RawLine = Result<(u64, RawFields), LineError>;

/// Counts devices as they are read and refuses the file once there are too many, before the
/// rest of it is looked at.
fn count(lines: &mut usize) -> Result<(), FileRefused> {
    *lines += 1;
    if *lines > MAX_DEVICES_PER_FILE {
        return Err(FileRefused::TooManyDevices {
            max: MAX_DEVICES_PER_FILE,
        });
    }
    Ok(())
}

fn csv_lines(bytes: &[u8]) -> Result<Vec<RawLine>, FileRefused> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        // A row with the wrong number of cells is reported here, with its line, like any other.
        .flexible(true)
        .from_reader(bytes);
    let header = match reader.headers() {
        Ok(header) if header.iter().all(str::is_empty) => return Err(FileRefused::Empty),
        Ok(header) => header.clone(),
        Err(e) => return Ok(vec![Err(malformed(1, &e))]),
    };
    let columns = match columns_of(&header) {
        Ok(columns) => columns,
        Err(errors) => return Ok(errors.into_iter().map(Err).collect()),
    };
    let mut lines = Vec::new();
    let mut devices = 0;
    for row in reader.records() {
        count(&mut devices)?;
        let row = match row {
            Ok(row) => row,
            Err(e) => {
                let line = e.position().map_or(0, csv::Position::line);
                lines.push(Err(malformed(line, &e)));
                continue;
            }
        };
        let line = row.position().map_or(0, csv::Position::line);
        if row.len() != header.len() {
            lines.push(Err(LineError::Malformed {
                line,
                message: format!("has {} cells; the header has {}", row.len(), header.len()),
            }));
            continue;
        }
        let mut fields = RawFields::default();
        for (column, cell) in columns.iter().zip(row.iter()) {
            fields.set(*column, cell);
        }
        lines.push(Ok((line, fields)));
    }
    Ok(lines)
}

/// The header's columns, each a known one named once; `device_id` is required.
fn columns_of(header: &csv::StringRecord) -> Result<Vec<Column>, Vec<LineError>> {
    let line = header.position().map_or(1, csv::Position::line);
    let mut errors = Vec::new();
    let mut columns = Vec::new();
    for name in header.iter() {
        match Column::ALL.into_iter().find(|c| c.name() == name) {
            Some(known) if columns.contains(&known) => errors.push(LineError::Malformed {
                line,
                message: format!("column {name:?} is named twice"),
            }),
            Some(known) => columns.push(known),
            None => errors.push(LineError::Malformed {
                line,
                message: format!(
                    "{name:?} is not a column; the header names some of {}",
                    Column::ALL.map(Column::name).join(", ")
                ),
            }),
        }
    }
    if !columns.contains(&Column::DeviceId) {
        errors.push(LineError::Malformed {
            line,
            message: "the header has no device_id column".to_owned(),
        });
    }
    if errors.is_empty() {
        Ok(columns)
    } else {
        Err(errors)
    }
}

fn malformed(line: u64, e: &csv::Error) -> LineError {
    let message = match e.kind() {
        csv::ErrorKind::Utf8 { err, .. } => format!("not UTF-8 (field {})", err.field() + 1),
        _ => e.to_string(),
    };
    LineError::Malformed { line, message }
}

/// One NDJSON line as written and read; the CSV columns have the same names. Fields are text
/// here so that each is checked by the domain's parsers and reported on its own.
#[derive(Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct DeviceLine {
    /// 1–64 of `A-Z a-z 0-9 - _ . :`; required.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, required = true,
        example = "pump-0042", pattern = r"^[A-Za-z0-9._:-]{1,64}$", min_length = 1, max_length = 64))]
    pub device_id: Option<String>,
    /// 1–128 printable characters, no spaces at the ends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "openapi",
        schema(
            example = "Pump 42",
            min_length = 1,
            max_length = 128,
            pattern = r"^[^\s\x00-\x1f\x7f-\x9f](?:[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f])?$"
        )
    )]
    pub name: Option<String>,
    /// As `name`; fixed at registration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "openapi",
        schema(
            example = "pump",
            min_length = 1,
            max_length = 128,
            pattern = r"^[^\s\x00-\x1f\x7f-\x9f](?:[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f])?$"
        )
    )]
    pub kind: Option<String>,
    /// As `name`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "openapi",
        schema(
            example = "Hall B",
            min_length = 1,
            max_length = 128,
            pattern = r"^[^\s\x00-\x1f\x7f-\x9f](?:[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f])?$"
        )
    )]
    pub location: Option<String>,
    /// At most 32, each 1–64 of `A-Z a-z 0-9 - _ . : = /`; repeats count once. In CSV, one
    /// cell with the tags separated by spaces.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(max_items = 32, example = json!(["line-3", "site=berlin"])))]
    pub tags: Option<Vec<String>>,
    /// `active` (the default), `disabled` or `decommissioned`: what the device is after the
    /// import.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "openapi",
        schema(example = "active", pattern = "^(active|disabled|decommissioned)$")
    )]
    pub status: Option<String>,
    /// The device's key, when it keeps one it has (16–256 printable ASCII characters, no
    /// spaces); without it the server generates one and answers it once. Never exported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "openapi",
        schema(pattern = "^[!-~]{16,256}$", min_length = 16, max_length = 256)
    )]
    pub key: Option<String>,
}

fn ndjson_lines(bytes: &[u8]) -> Result<Vec<RawLine>, FileRefused> {
    let mut lines = Vec::new();
    let mut devices = 0;
    for (text, line) in bytes.split(|b| *b == b'\n').zip(1..) {
        if text.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        count(&mut devices)?;
        lines.push(match serde_json::from_slice::<DeviceLine>(text) {
            Ok(fields) => Ok((
                line,
                RawFields {
                    device_id: fields.device_id,
                    name: fields.name,
                    kind: fields.kind,
                    location: fields.location,
                    tags: fields.tags.unwrap_or_default(),
                    status: fields.status,
                    key: fields.key,
                },
            )),
            Err(e) => Err(LineError::Malformed {
                line,
                message: not_a_device(&e),
            }),
        });
    }
    Ok(lines)
}

/// serde_json's message, placed by column only: its "line 1" would be the file's line 1.
fn not_a_device(e: &serde_json::Error) -> String {
    let text = e.to_string();
    let what = text
        .rsplit_once(" at line ")
        .map_or(text.as_str(), |(what, _)| what);
    format!("not a device object: {what} (column {})", e.column())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::{decide, evolve, Device, DeviceStatus};
    use crate::event::DeviceEvent;

    use DeviceFileFormat::{Csv, Ndjson};

    fn parsed(format: DeviceFileFormat, text: &str) -> ParsedFile {
        parse(format, text.as_bytes()).expect("the file as a whole is acceptable")
    }

    fn errors_of(format: DeviceFileFormat, text: &str) -> Vec<(u64, Option<String>)> {
        parsed(format, text)
            .errors
            .iter()
            .map(|e| (e.line(), e.field().map(str::to_owned)))
            .collect()
    }

    fn tags(tags: &[&str]) -> BTreeSet<Tag> {
        tags.iter().map(|t| Tag::parse(*t).unwrap()).collect()
    }

    #[test]
    fn csv_lines_are_numbered_from_the_header_and_columns_come_in_any_order() {
        let file = parsed(
            Csv,
            "tags,device_id,name,status\n\
             line-3 site=berlin,pump-1,\"Pump 1, north\",disabled\n\
             ,pump-2,,\n",
        );
        assert_eq!(file.errors, vec![]);
        let [first, second] = &file.devices[..] else {
            panic!("two devices: {file:?}")
        };
        assert_eq!(first.line, 2);
        assert_eq!(first.device.device_id.as_str(), "pump-1");
        assert_eq!(
            first.device.name.as_ref().unwrap().as_str(),
            "Pump 1, north"
        );
        assert_eq!(first.device.tags, tags(&["line-3", "site=berlin"]));
        assert_eq!(first.device.status, RegistryStatus::Disabled);
        assert_eq!(second.line, 3);
        assert_eq!(second.device.name, None);
        assert_eq!(second.device.status, RegistryStatus::Active);
        assert_eq!(second.key, None);
    }

    #[test]
    fn every_bad_field_of_every_line_is_reported_with_its_line() {
        let errors = errors_of(
            Csv,
            "device_id,name,tags,key\n\
             ok-1,Fine,,\n\
             bad id,Fine,,\n\
             ok-2,,bad!tag also*bad,short\n\
             ok-3\n",
        );
        assert_eq!(
            errors,
            vec![
                (3, Some("device_id".to_owned())),
                (4, Some("tags".to_owned())),
                (4, Some("tags".to_owned())),
                (4, Some("key".to_owned())),
                (5, None),
            ]
        );
    }

    #[test]
    fn a_multi_line_cell_keeps_the_next_rows_numbers_true() {
        let file = parsed(Csv, "device_id,name\na,\"two\nlines\"\nb c,\n");
        assert_eq!(file.errors.len(), 2, "{file:?}");
        assert_eq!(file.errors[0].line(), 2, "a label holds no line break");
        assert_eq!(file.errors[1].line(), 4);
    }

    #[test]
    fn a_header_names_known_columns_once_and_device_id_among_them() {
        let errors = parsed(Csv, "name,locaton,name\nx\n").errors;
        let messages: Vec<String> = errors.iter().map(ToString::to_string).collect();
        assert_eq!(errors.len(), 3, "{messages:?}");
        assert!(errors.iter().all(|e| e.line() == 1));
        assert!(messages[0].contains("\"locaton\" is not a column"));
        assert!(messages[1].contains("named twice"));
        assert!(messages[2].contains("no device_id column"));
    }

    #[test]
    fn a_device_on_two_lines_is_refused_on_the_second_naming_the_first() {
        let file = parsed(Ndjson, "{\"device_id\":\"a\"}\n\n{\"device_id\":\"a\"}\n");
        assert_eq!(file.devices.len(), 1);
        assert_eq!(
            file.errors,
            vec![LineError::Repeated {
                line: 3,
                device: DeviceId::parse("a").unwrap(),
                first: 1
            }]
        );
    }

    #[test]
    fn ndjson_lines_are_objects_of_known_fields_with_blank_lines_counted() {
        let errors = errors_of(
            Ndjson,
            "{\"device_id\":\"a\",\"tags\":[\"x\"],\"status\":\"active\"}\r\n\
             \n\
             [1]\n\
             {\"device_id\":\"b\",\"colour\":\"red\"}\n\
             {\"name\":\"\"}\n",
        );
        assert_eq!(
            errors,
            vec![
                (3, None),
                (4, None),
                (5, Some("device_id".to_owned())),
                (5, Some("name".to_owned())),
            ]
        );
    }

    #[test]
    fn a_line_that_is_no_device_object_is_placed_by_its_column() {
        let errors = parsed(
            Ndjson,
            "{\"device_id\":\"a\"}\n{\"device_id\":\"b\",\"x\":1}\n",
        )
        .errors;
        let [LineError::Malformed { line: 2, message }] = &errors[..] else {
            panic!("{errors:?}")
        };
        assert!(
            message.starts_with("not a device object: unknown field `x`"),
            "{message}"
        );
        assert!(message.ends_with("(column 20)"), "{message}");
        assert!(!message.contains("line 1"), "{message}");
    }

    #[test]
    fn more_tags_than_a_device_carries_are_refused() {
        let many: Vec<String> = (0..=MAX_TAGS).map(|i| format!("t{i}")).collect();
        let errors = errors_of(Csv, &format!("device_id,tags\na,{}\n", many.join(" ")));
        assert_eq!(errors, vec![(2, Some("tags".to_owned()))]);
        let repeated = format!("device_id,tags\na,{}\n", ["t"; MAX_TAGS + 1].join(" "));
        assert_eq!(errors_of(Csv, &repeated), vec![], "repeats count once");
    }

    #[test]
    fn a_given_key_is_a_long_printable_bearer_token_and_no_device_token() {
        assert!(GivenKey::parse("0123456789abcdef").is_ok());
        assert!(GivenKey::parse("0123456789abcde").is_err());
        assert!(GivenKey::parse(&"k".repeat(257)).is_err());
        assert!(GivenKey::parse("0123456789 abcdef").is_err());
        assert!(GivenKey::parse("0123456789abcdéf").is_err());
        assert!(GivenKey::parse("SharedAccessSignaturexyz").is_err());
        let key = GivenKey::parse("a-secret-key-of-the-fleet").unwrap();
        assert!(!format!("{key:?}").contains("secret"));
        assert_eq!(key.hash(), KeyHash::of("a-secret-key-of-the-fleet"));
    }

    #[test]
    fn a_file_past_the_cap_is_refused_whole_and_an_empty_one_too() {
        let over: String = std::iter::once("device_id\n".to_owned())
            .chain((0..=MAX_DEVICES_PER_FILE).map(|i| format!("d-{i}\n")))
            .collect();
        assert_eq!(
            parse(Csv, over.as_bytes()),
            Err(FileRefused::TooManyDevices {
                max: MAX_DEVICES_PER_FILE
            })
        );
        assert_eq!(parse(Csv, b""), Err(FileRefused::Empty));
        assert_eq!(parse(Csv, b"device_id,name\n"), Err(FileRefused::Empty));
        assert_eq!(parse(Ndjson, b"\n \n"), Err(FileRefused::Empty));
    }

    #[test]
    fn a_byte_order_mark_and_padding_around_cells_are_no_mistakes() {
        let file = parsed(Csv, "\u{feff}device_id , name\n pump-1 , Pump 1 \n");
        assert_eq!(file.errors, vec![]);
        assert_eq!(
            file.devices[0].device.name.as_ref().unwrap().as_str(),
            "Pump 1"
        );
    }

    #[test]
    fn bytes_that_are_not_utf8_are_a_malformed_line() {
        let errors = parse(Csv, b"device_id,name\na,\xff\xfe\n").unwrap().errors;
        assert!(
            matches!(errors[..], [LineError::Malformed { line: 2, .. }]),
            "{errors:?}"
        );
    }

    #[test]
    fn what_an_export_writes_an_import_reads_back() {
        let label = |s: &str| Some(Label::parse(s).unwrap());
        let devices = vec![
            DeviceRecord {
                device_id: DeviceId::parse("pump-1").unwrap(),
                name: label("Pump \"one\", hall; B"),
                kind: label("pump"),
                location: label("Zürich — Hall B"),
                tags: tags(&["line-3", "site=berlin", "a/b:c"]),
                status: RegistryStatus::Active,
            },
            DeviceRecord {
                device_id: DeviceId::parse("x").unwrap(),
                name: None,
                kind: None,
                location: None,
                tags: BTreeSet::new(),
                status: RegistryStatus::Decommissioned,
            },
            DeviceRecord {
                device_id: DeviceId::parse("y.2:z_").unwrap(),
                name: label("y"),
                kind: None,
                location: label("'quoted'"),
                tags: tags(&["t"]),
                status: RegistryStatus::Disabled,
            },
        ];
        for format in [Csv, Ndjson] {
            let text: String = header(format)
                .into_iter()
                .chain(devices.iter().map(|d| to_line(format, d)))
                .collect();
            let file = parsed(format, &text);
            assert_eq!(file.errors, vec![], "{format:?}: {text}");
            let read: Vec<DeviceRecord> = file.devices.into_iter().map(|l| l.device).collect();
            assert_eq!(read, devices, "{format:?}: {text}");
        }
    }

    /// Folds commands through `decide` and `evolve` as the command handler does.
    fn run(commands: Vec<Command>) -> (Device, Vec<&'static str>) {
        let mut device = Device::default();
        let mut types = Vec::new();
        for command in commands {
            for event in decide(&device, command).expect("every command is accepted") {
                types.push(event.event_type());
                device = evolve(device.clone(), device.version + 1, &event);
            }
        }
        (device, types)
    }

    #[test]
    fn a_record_registers_then_tags_then_retires_its_device() {
        let record = parsed(Csv, "device_id,tags,status\na,x y,decommissioned\n")
            .devices
            .remove(0)
            .device;
        let (device, types) = run(record.into_commands(KeyHash::of("key")));
        assert_eq!(
            types,
            ["DeviceRegistered", "DeviceRetagged", "DeviceDecommissioned"]
        );
        assert_eq!(device.status, DeviceStatus::Decommissioned);
        assert_eq!(device.profile.tags, tags(&["x", "y"]));

        let plain = parsed(Csv, "device_id\nb\n").devices.remove(0).device;
        let (device, types) = run(plain.into_commands(KeyHash::of("key")));
        assert_eq!(types, ["DeviceRegistered"]);
        assert_eq!(device.status, DeviceStatus::Active);
        assert!(matches!(
            decide(&device, Command::Disable { reason: None }).unwrap()[..],
            [DeviceEvent::Disabled(_)]
        ));
    }
}
