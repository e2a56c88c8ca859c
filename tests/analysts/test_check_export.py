"""Tests for check_export.py: a synthetic history and an export written here with pyarrow itself.

The export rows below are written out by hand (UTC times worked out from the history's offsets),
not derived with the checker's code, so the checker is tested against an independent answer. The
checker must accept the faithful export in every format, and reject each kind of corruption.
"""

import contextlib
import csv
import io
import json
import math
import tempfile
import unittest
from datetime import datetime, timezone
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

import check_export

E1 = "0193a000-0000-7000-8000-000000000001"
E2 = "0193a000-0000-7000-8000-000000000002"
E3 = "0193a000-0000-7000-8000-00000000000a"
E4 = "0193a000-0000-7000-8000-000000000004"


def event(event_id, event_type, subject, seq, recorded_at, data):
    return {
        "specversion": "1.0", "id": event_id, "source": "urn:watershed:event-store",
        "type": event_type, "subject": subject, "time": recorded_at,
        "datacontenttype": "application/json", "streamseq": seq, "schemaversion": 1,
        "recordedat": recorded_at, "data": data,
    }


def readings(*items):
    return {"batch_id": "b", "readings": [dict(item) for item in items]}


RECORDED = "io.watershed.ReadingsRecorded"
EVENT_1 = event(E1, RECORDED, "sim-1", 1, "2026-11-30T12:00:00.2Z", readings(
    {"sensor": "temperature", "value": 21.5, "unit": "C", "measured_at": "2026-11-30T11:59:59.5Z"},
    {"sensor": "humidity", "value": 40, "measured_at": "2026-11-30T11:59:59.5Z"},
    {"sensor": "pressure", "value": 0.1 + 0.2, "unit": None,
     "measured_at": "2026-12-01T00:30:00.1234567+01:00"},
))
HISTORY = [
    EVENT_1,
    {"resume_token": "r-1", "complete": False},
    event(E2, "io.watershed.DeviceRegistered", "sim-2", 1, "2026-11-30T12:00:01Z",
          {"name": "greenhouse"}),
    event(E3.upper(), RECORDED, "sim-2", 2, "2026-12-01T09:00:00.000001Z", readings(
        {"sensor": "conductivity", "value": 5e-324, "unit": "µS/cm",
         "measured_at": "2026-12-01T00:00:00Z"},
        {"sensor": "offset", "value": -0.0, "unit": "C",
         "measured_at": "2026-12-01T08:00:00.000001Z"},
        {"sensor": "count", "value": 10**20, "measured_at": "2026-12-01T08:00:00.000001Z"},
    )),
    EVENT_1,  # a download resumed from the first checkpoint sends it again
    event(E4, RECORDED, "sim-1", 3, "2026-12-02T15:00:01.999999Z", readings(
        {"sensor": "speed", "value": -12.75, "unit": "km/h",
         "measured_at": "2026-12-02T10:00:00-05:00"},
        {"sensor": "temperature", "value": 1.5, "unit": "C",
         "measured_at": "2026-11-29T23:59:59.999999Z"},
    )),
    {"resume_token": "r-2", "complete": True},
]


def utc(text):
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%f").replace(tzinfo=timezone.utc)


def row(device, sensor, value, unit, measured_at, recorded_at, event_id, seq):
    return {"device_id": device, "sensor": sensor, "value": value, "unit": unit,
            "measured_at": utc(measured_at), "recorded_at": utc(recorded_at),
            "event_id": event_id, "stream_seq": seq}


ROWS = [
    row("sim-1", "temperature", 21.5, "C",
        "2026-11-30T11:59:59.500000", "2026-11-30T12:00:00.200000", E1, 1),
    row("sim-1", "humidity", 40.0, None,
        "2026-11-30T11:59:59.500000", "2026-11-30T12:00:00.200000", E1, 1),
    row("sim-1", "pressure", 0.30000000000000004, None,
        "2026-11-30T23:30:00.123456", "2026-11-30T12:00:00.200000", E1, 1),
    row("sim-2", "conductivity", 5e-324, "µS/cm",
        "2026-12-01T00:00:00.000000", "2026-12-01T09:00:00.000001", E3, 2),
    row("sim-2", "offset", -0.0, "C",
        "2026-12-01T08:00:00.000001", "2026-12-01T09:00:00.000001", E3, 2),
    row("sim-2", "count", 1e20, None,
        "2026-12-01T08:00:00.000001", "2026-12-01T09:00:00.000001", E3, 2),
    row("sim-1", "speed", -12.75, "km/h",
        "2026-12-02T15:00:00.000000", "2026-12-02T15:00:01.999999", E4, 3),
    row("sim-1", "temperature", 1.5, "C",
        "2026-11-29T23:59:59.999999", "2026-12-02T15:00:01.999999", E4, 3),
]

UTC_MICROS = pa.timestamp("us", tz="UTC")
SCHEMA = pa.schema([
    ("device_id", pa.string()), ("sensor", pa.string()), ("value", pa.float64()),
    ("unit", pa.string()), ("measured_at", UTC_MICROS), ("recorded_at", UTC_MICROS),
    ("event_id", pa.string()), ("stream_seq", pa.int64()),
])


def placed(rows):
    """Each row with the partition date it belongs in."""
    return [(r["measured_at"].date().isoformat(), r) for r in rows]


def text_row(r):
    return {**r, "measured_at": r["measured_at"].strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "recorded_at": r["recorded_at"].strftime("%Y-%m-%dT%H:%M:%S.%fZ")}


def write_part(path, rows, fmt, compression):
    if fmt == "parquet":
        pq.write_table(pa.Table.from_pylist(rows, schema=SCHEMA), path, compression=compression,
                       row_group_size=2)
    elif fmt == "csv":
        with open(path, "w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=SCHEMA.names, lineterminator="\n")
            writer.writeheader()
            writer.writerows({**text_row(r), "value": repr(r["value"]), "unit": r["unit"] or ""}
                            for r in rows)
    else:
        with open(path, "w", encoding="utf-8") as handle:
            handle.writelines(json.dumps(text_row(r), ensure_ascii=False) + "\n" for r in rows)


def write_export(directory, placed_rows, fmt="parquet", compression="zstd"):
    """Hive partitions by date, the first row of each in one part file and the rest in a second
    (as two export runs would leave them), plus the incremental cursor file."""
    by_date = {}
    for day, r in placed_rows:
        by_date.setdefault(day, []).append(r)
    for day, rows in by_date.items():
        partition = directory / f"date={day}"
        partition.mkdir(parents=True)
        write_part(partition / f"part-00000.{fmt}", rows[:1], fmt, compression)
        if rows[1:]:
            write_part(partition / f"part-00001.{fmt}", rows[1:], fmt, compression)
    (directory / "_watershed_export.json").write_text('{"cursor": 17}\n')


class CheckExportTest(unittest.TestCase):
    def setUp(self):
        temp = tempfile.TemporaryDirectory()
        self.addCleanup(temp.cleanup)
        self.root = Path(temp.name)
        self.history = self.root / "history.ndjson"
        self.history.write_text("".join(json.dumps(item) + "\n" for item in HISTORY),
                                encoding="utf-8")
        self.export = self.root / "export"

    def args(self, fmt, *extra):
        return ["--history", str(self.history), "--export", str(self.export), "--format", fmt,
                *extra]

    def run_checker(self, fmt="parquet", *extra):
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            status = check_export.main(self.args(fmt, *extra))
        return status, out.getvalue()

    def problem_kinds(self, fmt="parquet"):
        problems, _ = check_export.check(check_export.parse_args(self.args(fmt)))
        return {kind for kind, _ in problems}

    def assert_passes(self, fmt="parquet", *extra):
        status, out = self.run_checker(fmt, *extra)
        self.assertEqual(status, 0, out)
        return out

    def assert_fails(self, *kinds, fmt="parquet"):
        status, out = self.run_checker(fmt)
        self.assertEqual(status, 1, out)
        self.assertTrue(out.startswith("FAIL"), out)
        self.assertLessEqual(set(kinds), self.problem_kinds(fmt), out)

    # --- faithful exports pass ---

    def test_faithful_parquet_export_passes(self):
        write_export(self.export, placed(ROWS))
        out = self.assert_passes()
        self.assertIn("8 rows checked in 6 parquet files across 4 partitions", out)
        self.assertIn("row groups: 6 (1, 1, 2, 1, 2, 1 rows)", out)

    def test_faithful_csv_export_passes(self):
        write_export(self.export, placed(ROWS), fmt="csv")
        self.assertIn("8 rows checked in 6 csv files", self.assert_passes("csv"))

    def test_faithful_ndjson_export_passes(self):
        write_export(self.export, placed(ROWS), fmt="ndjson")
        self.assertIn("8 rows checked in 6 ndjson files", self.assert_passes("ndjson"))

    def test_window_and_device_selection(self):
        selected = [r for r in ROWS if r["sensor"] == "conductivity"]
        write_export(self.export, placed(selected))
        window = ["--measured-from", "2026-12-01T00:00:00Z",
                  "--measured-to", "2026-12-01T09:00:00.000001+01:00", "--device", "sim-2"]
        self.assert_passes("parquet", *window)
        status, out = self.run_checker("parquet", *window[:2], "--device", "sim-2")
        self.assertEqual(status, 1, out)
        self.assertIn("missing rows (2)", out)

    def test_nothing_selected_and_nothing_written_passes(self):
        self.export.mkdir()
        (self.export / "_watershed_export.json").write_text('{"cursor": 17}\n')
        out = self.assert_passes("parquet", "--device", "nobody")
        self.assertIn("0 rows checked in 0 parquet files", out)
        status, out = self.run_checker("parquet")
        self.assertEqual(status, 1, out)
        self.assertIn("missing rows (8)", out)

    # --- each corruption fails ---

    def test_dropped_row_fails(self):
        write_export(self.export, placed(ROWS[1:]))
        self.assert_fails("missing rows", "duckdb count", "duckdb sums")

    def test_duplicated_row_fails(self):
        write_export(self.export, placed(ROWS + [ROWS[2]]))
        self.assert_fails("duplicated rows", "duckdb count", "duckdb sums")
        self.assertNotIn("missing rows", self.problem_kinds())

    def test_value_one_ulp_off_fails(self):
        changed = [dict(r) for r in ROWS]
        changed[0]["value"] = math.nextafter(changed[0]["value"], math.inf)
        write_export(self.export, placed(changed))
        self.assert_fails("missing rows", "unexpected rows")

    def test_negative_zero_is_not_zero(self):
        changed = [dict(r) for r in ROWS]
        changed[4]["value"] = 0.0
        write_export(self.export, placed(changed))
        self.assert_fails("missing rows", "unexpected rows")

    def test_value_one_ulp_off_fails_in_csv(self):
        changed = [dict(r) for r in ROWS]
        changed[2]["value"] = math.nextafter(changed[2]["value"], -math.inf)
        write_export(self.export, placed(changed), fmt="csv")
        self.assert_fails("missing rows", "unexpected rows", fmt="csv")

    def test_wrong_partition_fails(self):
        rows = placed(ROWS)
        rows[7] = ("2026-11-30", rows[7][1])
        write_export(self.export, rows)
        self.assert_fails("wrong partition", "duckdb partition span")

    def test_snappy_compression_fails(self):
        write_export(self.export, placed(ROWS), compression="snappy")
        self.assert_fails("parquet compression")

    def test_millisecond_timestamps_fail(self):
        write_export(self.export, placed(ROWS))
        part = self.export / "date=2026-11-29" / "part-00000.parquet"
        table = pq.read_table(part)
        millis = table.column(4).cast(pa.timestamp("ms", tz="UTC"), safe=False)
        pq.write_table(table.set_column(4, "measured_at", millis), part, compression="zstd")
        self.assert_fails("parquet schema")

    def test_date_column_inside_the_files_fails(self):
        write_export(self.export, placed(ROWS))
        part = self.export / "date=2026-11-29" / "part-00000.parquet"
        table = pq.read_table(part, partitioning=None)
        with_date = table.append_column("date", pa.array(["2026-11-29"]))
        pq.write_table(with_date, part, compression="zstd")
        self.assert_fails("parquet schema")

    def test_csv_header_out_of_order_fails(self):
        write_export(self.export, placed(ROWS), fmt="csv")
        part = self.export / "date=2026-11-29" / "part-00000.csv"
        header, body = part.read_text(encoding="utf-8").split("\n", 1)
        part.write_text(header.replace("device_id,sensor", "sensor,device_id") + "\n"
                        + body.replace("sim-1,temperature", "temperature,sim-1"), encoding="utf-8")
        self.assert_fails("csv header", fmt="csv")

    def test_time_without_six_fraction_digits_fails(self):
        write_export(self.export, placed(ROWS), fmt="ndjson")
        part = self.export / "date=2026-12-02" / "part-00000.ndjson"
        part.write_text(part.read_text(encoding="utf-8").replace("15:00:00.000000Z", "15:00:00Z"),
                        encoding="utf-8")
        status, out = self.run_checker("ndjson")
        self.assertEqual(status, 1, out)
        self.assertIn("is not RFC 3339 UTC with 6 fractional digits", out)

    # --- DuckDB on its own ---

    def test_duckdb_checks_fail_on_their_own(self):
        write_export(self.export, placed(ROWS))
        expected = check_export.expected_rows(
            check_export.load_events(self.history), check_export.Selection(None, None, None))
        def kinds(rows):
            return {kind for kind, _ in check_export.duckdb_problems(self.export, "parquet", rows)}

        self.assertEqual(kinds(expected), set())
        self.assertEqual(kinds(expected[1:]), {"duckdb count", "duckdb sums"})
        self.assertEqual(kinds([r for r in expected if r.event_id != E4]),
                         {"duckdb count", "duckdb event ids", "duckdb sums"})

    def test_hidden_files_are_not_data(self):
        write_export(self.export, placed(ROWS))
        extra = pa.Table.from_pylist(ROWS[:1], schema=SCHEMA)
        for name in (".part-tmp.parquet", "_part-tmp.parquet"):
            pq.write_table(extra, self.export / "date=2026-11-30" / name, compression="zstd")
        self.assert_passes()


if __name__ == "__main__":
    unittest.main()
