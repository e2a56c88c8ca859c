"""Sends a known history to a running Watershed for the export checks: devices registered once
(keys kept in a file, so a second call adds more batches to the same devices), batches whose
readings spread over ten days (several day partitions, several per batch) and values at the
edges of float64 (negative zero, subnormals, ±1e300 — large, yet DuckDB's sums stay finite —
and fractions with long shortest forms), some without a unit.

    seed_history.py BASE_URL ADMIN_TOKEN KEYS_FILE FIRST_BATCH BATCHES
"""

import json
import sys
import urllib.request
from datetime import datetime, timedelta, timezone
from pathlib import Path

DEVICES = [f"exp-{i:02d}" for i in range(8)]
EDGE_VALUES = [-0.0, 5e-324, 2.2250738585072014e-308, 1e300, -1e300,
               0.1, 1 / 3, 123456789.000001, -42.0]


def call(base, path, token, body):
    request = urllib.request.Request(
        base + path, data=json.dumps(body).encode(), method="POST",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    with urllib.request.urlopen(request) as response:
        return response.status, json.load(response)


def keys(base, admin, path):
    if path.exists():
        return json.loads(path.read_text())
    found = {}
    for device in DEVICES:
        _, body = call(base, "/v1/devices", admin, {"device_id": device, "kind": "exporter"})
        found[device] = body["device_key"]
    path.write_text(json.dumps(found))
    return found


def batch(number, now):
    readings = []
    for j in range(50):
        # Ten days back to now, a batch's readings crossing midnight now and then.
        at = now - timedelta(days=10) + timedelta(minutes=(number * 50 + j) * 7 % (10 * 24 * 60))
        value = EDGE_VALUES[(number + j) % len(EDGE_VALUES)] if j % 5 == 0 else number + j / 7
        reading = {"sensor": f"s{j % 4}", "value": value,
                   "measured_at": at.isoformat(timespec="microseconds").replace("+00:00", "Z")}
        if j % 3:
            reading["unit"] = "C"
        readings.append(reading)
    return {"batch_id": f"batch-{number}", "readings": readings}


def main():
    base, admin, keys_file, first, count = sys.argv[1:6]
    device_keys = keys(base, admin, Path(keys_file))
    now = datetime.now(timezone.utc) - timedelta(minutes=1)
    for number in range(int(first), int(first) + int(count)):
        device = DEVICES[number % len(DEVICES)]
        status, _ = call(base, f"/v1/devices/{device}/readings", device_keys[device], batch(number, now))
        assert status == 201, (number, status)


if __name__ == "__main__":
    main()
