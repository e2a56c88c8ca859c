"""Check that a `watershed export` directory holds exactly the readings of a history download.

The history (`GET /v1/history`, NDJSON) is the source of truth. Every reading of every distinct
`io.watershed.ReadingsRecorded` event in it, optionally restricted to a `measured_at` window
[--measured-from, --measured-to) and to some devices, must appear in the export exactly once, with
the same value to the last bit. The export is read only with tools nobody on the team wrote, so a
bug shared by Watershed's writer and reader cannot hide itself:

1. pyarrow reads the directory as a hive-partitioned dataset and checks
   - for parquet: every file's column names and types are exactly the export schema (the `date`
     partition column is not inside the files) and every column chunk is ZSTD-compressed;
   - for csv: every file's header is the 8 column names in order;
   - for csv and ndjson: every time is RFC 3339 in UTC with exactly 6 fractional digits and `Z`;
   - every row sits in the `date=` partition of the UTC day of its `measured_at`;
   - the multiset of rows equals the expected multiset exactly: values compared by their
     shortest round-trip repr (bitwise, so 0.0 and -0.0 differ), times in whole microseconds.
     Missing rows, duplicated rows and unexpected rows are reported separately.
2. DuckDB reads the same files on its own and checks the row count, the number of distinct event
   ids, each device's sum of values (within 1e-9 of the exact sum, relative to the sum of the
   values' magnitudes, since DuckDB adds in floating point) and that each partition's
   min/max `measured_at` lie within its date.
3. For parquet, the row group sizes are reported in the summary (informational only).

History times may carry more than 6 fractional digits; they are truncated to the microsecond, as
the export's timestamp[us] columns hold them (the window is applied before truncation). As in
pyarrow's dataset discovery, files and folders whose name starts with `_` or `.` are not data.

Exit status 0 prints one summary line; 1 prints the first differences of each kind.

Setup and tests (from this folder):
    python3 -m venv ~/.cache/watershed-venv/analysts
    ~/.cache/watershed-venv/analysts/bin/pip install -r requirements.txt
    ~/.cache/watershed-venv/analysts/bin/python -m unittest
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import re
import sys
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Callable, Iterable, Iterator, NamedTuple

import duckdb
import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.dataset as ds
import pyarrow.json as pjson
import pyarrow.parquet as pq

COLUMNS = (
    "device_id", "sensor", "value", "unit", "measured_at", "recorded_at", "event_id", "stream_seq",
)
UTC_MICROS = pa.timestamp("us", tz="UTC")
PARQUET_SCHEMA = pa.schema([
    ("device_id", pa.string()),
    ("sensor", pa.string()),
    ("value", pa.float64()),
    ("unit", pa.string()),
    ("measured_at", UTC_MICROS),
    ("recorded_at", UTC_MICROS),
    ("event_id", pa.string()),
    ("stream_seq", pa.int64()),
])
CSV_SCHEMA = pa.schema([(name, pa.string()) for name in COLUMNS])
NDJSON_SCHEMA = pa.schema([
    (name, {"value": pa.float64(), "stream_seq": pa.int64()}.get(name, pa.string()))
    for name in COLUMNS
])
DATE_FIELD = pa.field("date", pa.string())
FORMATS = ("parquet", "csv", "ndjson")  # each also the data files' extension
DUCKDB_COLUMNS = (
    "{'device_id': 'VARCHAR', 'sensor': 'VARCHAR', 'value': 'DOUBLE', 'unit': 'VARCHAR', "
    "'measured_at': 'TIMESTAMPTZ', 'recorded_at': 'TIMESTAMPTZ', 'event_id': 'VARCHAR', "
    "'stream_seq': 'BIGINT'}"
)
READINGS_RECORDED = "io.watershed.ReadingsRecorded"
SHOWN_PER_KIND = 10
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
MICROS_PER_DAY = 86_400_000_000
SUM_TOLERANCE = Fraction(1, 10**9)

RFC3339 = re.compile(
    r"(\d{4})-(\d\d)-(\d\d)[Tt](\d\d):(\d\d):(\d\d)(?:\.(\d+))?([Zz]|[+-]\d\d:\d\d)"
)
EXPORT_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z")
DECIMAL_NUMBER = re.compile(r"-?\d+(\.\d+)?([eE][+-]?\d+)?")
INTEGER = re.compile(r"-?\d+")


class CheckFailure(Exception):
    """An input that cannot be read at all, so no row-by-row comparison is possible."""


class Row(NamedTuple):
    """One reading, from the history or the export, in a form that compares exactly."""

    device_id: str
    sensor: str
    value: str  # repr of the float64: equal reprs <=> bitwise-equal finite values
    unit: str | None
    measured_at: int  # microseconds since the Unix epoch
    recorded_at: int  # microseconds since the Unix epoch
    event_id: str
    stream_seq: int


class PlacedRow(NamedTuple):
    """A row read from the export, with the file and `date=` partition it was found in."""

    row: Row
    file: str
    date: str | None


@dataclass(frozen=True)
class Selection:
    """Which readings the export was asked for: a measured_at window and a set of devices."""

    start_ns: int | None
    end_ns: int | None
    devices: frozenset[str] | None

    def wants(self, device_id: str, measured_at_ns: int) -> bool:
        return (
            (self.devices is None or device_id in self.devices)
            and (self.start_ns is None or measured_at_ns >= self.start_ns)
            and (self.end_ns is None or measured_at_ns < self.end_ns)
        )


@dataclass
class Export:
    """The data files pyarrow found, and every row in them."""

    files: list[str]
    rows: list[PlacedRow]


Problem = tuple[str, str]  # (kind, message)


# --- times -------------------------------------------------------------------------------------

def rfc3339_ns(text: str) -> int:
    """Nanoseconds since the Unix epoch of an RFC 3339 time with any offset; extra digits cut."""
    match = RFC3339.fullmatch(text)
    if not match:
        raise ValueError(f"not an RFC 3339 time: {text!r}")
    year, month, day, hour, minute, second, fraction, offset = match.groups()
    wall = datetime(int(year), int(month), int(day), int(hour), int(minute), int(second),
                    tzinfo=timezone.utc)
    seconds = (wall - EPOCH) // timedelta(seconds=1)
    if offset.upper() != "Z":
        sign = 1 if offset[0] == "+" else -1
        seconds -= sign * (int(offset[1:3]) * 3600 + int(offset[4:6]) * 60)
    return seconds * 10**9 + int((fraction or "").ljust(9, "0")[:9])


def export_time_us(text: str) -> int:
    """Microseconds of a time written by the csv/ndjson export, which must use its one format."""
    if not EXPORT_TIME.fullmatch(text):
        raise ValueError(f"time {text!r} is not RFC 3339 UTC with 6 fractional digits and Z")
    return rfc3339_ns(text) // 1000


def format_us(micros: int) -> str:
    return (EPOCH + timedelta(microseconds=micros)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def utc_day(micros: int) -> str:
    return (EPOCH + timedelta(microseconds=micros)).date().isoformat()


# --- expected rows from the history ------------------------------------------------------------

def load_events(path: Path) -> list[dict]:
    """The distinct events of a history download, first occurrence first; checkpoints skipped."""
    events: dict[str, dict] = {}
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                item = json.loads(line)
                if "resume_token" in item:
                    continue
                event_id = str(uuid.UUID(item["id"]))
            except (ValueError, KeyError, TypeError) as exc:
                raise CheckFailure(f"{path}:{number}: unreadable history line: {exc!r}") from exc
            if events.setdefault(event_id, item) != item:
                raise CheckFailure(f"{path}:{number}: event {event_id} repeats with other content")
    return list(events.values())


def expected_rows(events: Iterable[dict], selection: Selection) -> list[Row]:
    rows = []
    for event in events:
        if event.get("type") != READINGS_RECORDED:
            continue
        try:
            rows.extend(event_rows(event, selection))
        except (ValueError, KeyError, TypeError) as exc:
            raise CheckFailure(f"history event {event.get('id')}: {exc!r}") from exc
    return rows


def event_rows(event: dict, selection: Selection) -> Iterator[Row]:
    recorded_at = rfc3339_ns(event["recordedat"]) // 1000
    for reading in event["data"]["readings"]:
        measured_at_ns = rfc3339_ns(reading["measured_at"])
        if selection.wants(event["subject"], measured_at_ns):
            yield Row(
                device_id=event["subject"],
                sensor=reading["sensor"],
                value=repr(float(reading["value"])),
                unit=reading.get("unit"),
                measured_at=measured_at_ns // 1000,
                recorded_at=recorded_at,
                event_id=str(uuid.UUID(event["id"])),
                stream_seq=int(event["streamseq"]),
            )


# --- the export, through pyarrow ---------------------------------------------------------------

def csv_value(text: str) -> str:
    if not DECIMAL_NUMBER.fullmatch(text):
        raise ValueError(f"value {text!r} is not a decimal number")
    return repr(float(text))


def csv_int(text: str) -> int:
    if not INTEGER.fullmatch(text):
        raise ValueError(f"stream_seq {text!r} is not an integer")
    return int(text)


# How each format's columns turn into Row fields; a column not named is taken as pyarrow reads it
# (parquet timestamps are first cast to their int64 microseconds).
DECODERS: dict[str, dict[str, Callable]] = {
    "parquet": {"value": repr},
    "ndjson": {"value": repr, "measured_at": export_time_us, "recorded_at": export_time_us},
    "csv": {
        "value": csv_value,
        "unit": lambda text: text or None,
        "measured_at": export_time_us,
        "recorded_at": export_time_us,
        "stream_seq": csv_int,
    },
}


def file_format(fmt: str) -> tuple[ds.FileFormat, pa.Schema]:
    if fmt == "parquet":
        return ds.ParquetFileFormat(), PARQUET_SCHEMA
    if fmt == "csv":
        options = pcsv.ConvertOptions(column_types=CSV_SCHEMA)
        return ds.CsvFileFormat(convert_options=options), CSV_SCHEMA
    options = pjson.ParseOptions(explicit_schema=NDJSON_SCHEMA, unexpected_field_behavior="error")
    return ds.JsonFileFormat(parse_options=options), NDJSON_SCHEMA


def read_export(directory: Path, fmt: str) -> Export:
    if not directory.is_dir():
        raise CheckFailure(f"{directory} is not a directory")
    fmt_options, schema = file_format(fmt)
    dataset = ds.dataset(directory, format=fmt_options, schema=schema.append(DATE_FIELD),
                         partitioning="hive")
    rows = []
    for fragment in dataset.get_fragments():
        table = fragment.to_table(schema=dataset.schema)
        try:
            days = table.column("date").to_pylist()
            rows.extend(PlacedRow(row, fragment.path, day)
                        for row, day in zip(table_rows(table, fmt), days))
        except ValueError as exc:
            raise CheckFailure(f"{fragment.path}: {exc}") from exc
    return Export(files=sorted(dataset.files), rows=rows)


def table_rows(table: pa.Table, fmt: str) -> Iterator[Row]:
    for name in COLUMNS:
        nulls = table.column(name).null_count
        if name != "unit" and nulls:
            raise ValueError(f"column {name} is missing or has {nulls} nulls")
    decoders = DECODERS[fmt]
    columns = [decoded(table.column(name), decoders.get(name)) for name in COLUMNS]
    return (Row(*values) for values in zip(*columns))


def decoded(column: pa.ChunkedArray, decode: Callable | None) -> list:
    if pa.types.is_timestamp(column.type):
        column = column.cast(pa.int64())
    values = column.to_pylist()
    return [decode(value) for value in values] if decode else values


# --- pyarrow checks ----------------------------------------------------------------------------

def parquet_file_problems(files: Iterable[str]) -> list[Problem]:
    problems = []
    expected = [(field.name, field.type) for field in PARQUET_SCHEMA]
    for path in files:
        parquet = pq.ParquetFile(path)
        found = [(field.name, field.type) for field in parquet.schema_arrow]
        if found != expected:
            problems.append(("parquet schema", f"{path}: columns {describe_schema(found)}, "
                                               f"expected {describe_schema(expected)}"))
        codecs = {
            parquet.metadata.row_group(group).column(column).compression
            for group in range(parquet.metadata.num_row_groups)
            for column in range(parquet.metadata.num_columns)
        }
        if codecs - {"ZSTD"}:
            problems.append(("parquet compression",
                             f"{path}: codecs {sorted(codecs)}, expected ZSTD"))
    return problems


def describe_schema(fields: list[tuple[str, pa.DataType]]) -> str:
    return "(" + ", ".join(f"{name}: {kind}" for name, kind in fields) + ")"


def csv_header_problems(files: Iterable[str]) -> list[Problem]:
    problems = []
    for path in files:
        with open(path, newline="", encoding="utf-8") as handle:
            header = next(csv.reader(handle), [])
        if tuple(header) != COLUMNS:
            problems.append(("csv header", f"{path}: header {header}, expected {list(COLUMNS)}"))
    return problems


def partition_problems(rows: Iterable[PlacedRow]) -> list[Problem]:
    return [
        ("wrong partition", f"{placed.file}: measured_at {format_us(placed.row.measured_at)} "
                            f"belongs in date={utc_day(placed.row.measured_at)}")
        for placed in rows
        if placed.date != utc_day(placed.row.measured_at)
    ]


def row_problems(expected: Iterable[Row], found: Iterable[Row]) -> list[Problem]:
    wanted, got = Counter(expected), Counter(found)
    problems = [("missing rows", f"{describe(row)} (missing {count} of {wanted[row]})")
                for row, count in (wanted - got).items()]
    for row, count in (got - wanted).items():
        kind = "duplicated rows" if row in wanted else "unexpected rows"
        problems.append((kind, f"{describe(row)} (found {got[row]}, expected {wanted[row]})"))
    return problems


def describe(row: Row) -> str:
    return (f"device_id={row.device_id} sensor={row.sensor} value={row.value} unit={row.unit} "
            f"measured_at={format_us(row.measured_at)} recorded_at={format_us(row.recorded_at)} "
            f"event_id={row.event_id} stream_seq={row.stream_seq}")


# --- DuckDB checks -----------------------------------------------------------------------------

def sql_string(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def not_hidden(column: str, directory: Path) -> str:
    """SQL: no part of the path below `directory` starts with `_` or `.` (as pyarrow skips)."""
    return f"NOT regexp_matches(substr({column}, {len(str(directory)) + 2}), '(^|/)[._]')"


def duckdb_pattern(directory: Path, fmt: str) -> str:
    return sql_string(f"{directory}/**/*.{fmt}")


def duckdb_source(directory: Path, fmt: str) -> str:
    pattern = duckdb_pattern(directory, fmt)
    hive = "hive_partitioning = true, hive_types = {'date': 'VARCHAR'}, filename = true"
    reader = {
        "parquet": f"read_parquet({pattern}, {hive})",
        "csv": f"read_csv({pattern}, header = true, columns = {DUCKDB_COLUMNS}, {hive})",
        "ndjson": f"read_json({pattern}, format = 'newline_delimited', "
                  f"columns = {DUCKDB_COLUMNS}, {hive})",
    }[fmt]
    return f"(SELECT * FROM {reader} WHERE {not_hidden('filename', directory)})"


def duckdb_problems(directory: Path, fmt: str, expected: list[Row]) -> list[Problem]:
    try:
        return duckdb_query_problems(duckdb.connect(), directory, fmt, expected)
    except duckdb.Error as exc:
        return [("duckdb", f"cannot read the export: {exc}")]


def duckdb_query_problems(con: duckdb.DuckDBPyConnection, directory: Path, fmt: str,
                          expected: list[Row]) -> list[Problem]:
    (files,) = con.execute(f"SELECT count(*) FROM glob({duckdb_pattern(directory, fmt)}) "
                           f"WHERE {not_hidden('file', directory)}").fetchone()
    if files == 0:
        return [("duckdb", f"no *.{fmt} files under {directory}")] if expected else []
    source = duckdb_source(directory, fmt)
    count, event_ids = con.execute(
        f"SELECT count(*), count(DISTINCT event_id) FROM {source}").fetchone()
    sums = dict(con.execute(f"SELECT device_id, fsum(value) FROM {source} GROUP BY device_id")
                .fetchall())
    spans = con.execute(f"SELECT date, min(epoch_us(measured_at)), max(epoch_us(measured_at)) "
                        f"FROM {source} GROUP BY date ORDER BY date").fetchall()
    problems = []
    if count != len(expected):
        problems.append(("duckdb count", f"count(*) = {count}, expected {len(expected)}"))
    expected_ids = len({row.event_id for row in expected})
    if event_ids != expected_ids:
        problems.append(("duckdb event ids",
                         f"count(DISTINCT event_id) = {event_ids}, expected {expected_ids}"))
    problems += sum_problems(sums, expected)
    problems += span_problems(spans)
    return problems


def sum_problems(sums: dict[str, float], expected: Iterable[Row]) -> list[Problem]:
    exact: dict[str, Fraction] = defaultdict(Fraction)
    magnitude: dict[str, Fraction] = defaultdict(Fraction)
    for row in expected:
        value = Fraction(float(row.value))
        exact[row.device_id] += value
        magnitude[row.device_id] += abs(value)
    problems = []
    for device in sorted(set(sums) | set(exact)):
        got, want = sums.get(device), exact.get(device)
        if got is None or want is None or not sums_agree(got, want, magnitude[device]):
            problems.append(("duckdb sums",
                             f"device {device}: sum {shown(got)}, expected {shown(want)}"))
    return problems


def sums_agree(got: float, exact: Fraction, magnitude: Fraction) -> bool:
    return math.isfinite(got) and abs(Fraction(got) - exact) <= SUM_TOLERANCE * magnitude


def shown(total: float | Fraction | None) -> str:
    """A sum for a message; exact sums may lie beyond float64, so go through Decimal."""
    if total is None:
        return "no rows"
    if isinstance(total, Fraction) and abs(total) <= sys.float_info.max:
        total = float(total)
    if isinstance(total, float):
        return repr(total)
    return f"{Decimal(total.numerator) / Decimal(total.denominator):.17g}"


def span_problems(spans: Iterable[tuple[str | None, int, int]]) -> list[Problem]:
    problems = []
    for day, first, last in spans:
        try:
            start = (date.fromisoformat(day) - EPOCH.date()).days * MICROS_PER_DAY
        except (TypeError, ValueError):
            problems.append(("duckdb partition span", f"partition date={day} is not a date"))
            continue
        if not start <= first <= last < start + MICROS_PER_DAY:
            problems.append(("duckdb partition span", f"date={day} holds measured_at "
                                                      f"{format_us(first)} .. {format_us(last)}"))
    return problems


# --- summary and report ------------------------------------------------------------------------

def row_group_sizes(files: Iterable[str]) -> list[int]:
    sizes = []
    for path in files:
        metadata = pq.ParquetFile(path).metadata
        sizes += [metadata.row_group(group).num_rows for group in range(metadata.num_row_groups)]
    return sizes


def describe_row_groups(sizes: list[int]) -> str:
    if len(sizes) <= SHOWN_PER_KIND:
        return f"row groups: {len(sizes)} ({', '.join(map(str, sizes))} rows)"
    return f"row groups: {len(sizes)} ({min(sizes)}..{max(sizes)} rows, {sum(sizes)} in all)"


def summary(export: Export, fmt: str) -> str:
    partitions = {Path(path).parent for path in export.files}
    line = (f"OK: {len(export.rows)} rows checked in {len(export.files)} {fmt} files "
            f"across {len(partitions)} partitions")
    if fmt == "parquet":
        line += "; " + describe_row_groups(row_group_sizes(export.files))
    return line


def report(problems: list[Problem]) -> str:
    by_kind: dict[str, list[str]] = defaultdict(list)
    for kind, message in problems:
        by_kind[kind].append(message)
    lines = [f"FAIL: {len(problems)} difference{'' if len(problems) == 1 else 's'}"]
    for kind, messages in by_kind.items():
        lines.append(f"  {kind} ({len(messages)}):")
        lines += [f"    {message}" for message in messages[:SHOWN_PER_KIND]]
        if len(messages) > SHOWN_PER_KIND:
            lines.append(f"    ... and {len(messages) - SHOWN_PER_KIND} more")
    return "\n".join(lines)


# --- command line ------------------------------------------------------------------------------

def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--history", type=Path, required=True, help="GET /v1/history NDJSON")
    parser.add_argument("--export", type=Path, required=True, help="watershed export directory")
    parser.add_argument("--format", choices=FORMATS, required=True)
    parser.add_argument("--measured-from", type=rfc3339_ns, help="inclusive RFC 3339 time")
    parser.add_argument("--measured-to", type=rfc3339_ns, help="exclusive RFC 3339 time")
    parser.add_argument("--device", action="extend", nargs="+", help="device ids exported")
    return parser.parse_args(argv)


def check(args: argparse.Namespace) -> tuple[list[Problem], Export]:
    selection = Selection(args.measured_from, args.measured_to,
                          frozenset(args.device) if args.device else None)
    expected = expected_rows(load_events(args.history), selection)
    export = read_export(args.export, args.format)
    problems = []
    if args.format == "parquet":
        problems += parquet_file_problems(export.files)
    if args.format == "csv":
        problems += csv_header_problems(export.files)
    problems += partition_problems(export.rows)
    problems += row_problems(expected, (placed.row for placed in export.rows))
    problems += duckdb_problems(args.export, args.format, expected)
    return problems, export


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        problems, export = check(args)
    except (CheckFailure, OSError, pa.ArrowException) as exc:
        print(f"FAIL: {exc}")
        return 1
    if problems:
        print(report(problems))
        return 1
    print(summary(export, args.format))
    return 0


if __name__ == "__main__":
    sys.exit(main())
