"""Registers the devices the generated requests use, gives them some readings, writes their keys.

Usage: seed_devices.py BASE_URL OUT_JSON   (admin token in WS_ADMIN_TOKEN)

"ingest" devices keep their keys and stay in service for the whole run (hooks.py never rotates
nor decommissions them); "admin" devices are the ones key rotation and decommissioning act on.
"""

from __future__ import annotations

import json
import os
import sys
import urllib.request
from datetime import datetime, timedelta, timezone

INGEST = ["st-ingest-1", "st-ingest-2"]
ADMIN = ["st-admin-1", "st-admin-2", "st-admin-3"]


def call(base: str, path: str, token: str, body: dict) -> dict:
    request = urllib.request.Request(
        base + path,
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        if response.status not in (200, 201):
            raise SystemExit(f"POST {path}: {response.status}")
        return json.load(response)


def main() -> None:
    base, out = sys.argv[1], sys.argv[2]
    admin = os.environ["WS_ADMIN_TOKEN"]
    keys = {}
    for i, device in enumerate(INGEST + ADMIN):
        issued = call(
            base,
            "/v1/devices",
            admin,
            {"device_id": device, "name": f"Schemathesis {i}", "kind": "pump", "location": "lab"},
        )
        keys[device] = issued["device_key"]
    # A few minutes of readings, so that reads, rollups and event history have something to show.
    now = datetime.now(timezone.utc).replace(microsecond=0)
    for device in INGEST + ADMIN[:1]:
        readings = [
            {
                "sensor": sensor,
                "value": 20.0 + minute * 0.5,
                "unit": unit,
                "measured_at": (now - timedelta(minutes=minute)).isoformat().replace("+00:00", "Z"),
            }
            for minute in range(10)
            for sensor, unit in (("temperature", "C"), ("pressure", "bar"))
        ]
        call(base, f"/v1/devices/{device}/readings", keys[device], {"batch_id": "seed-1", "readings": readings})
    with open(out, "w", encoding="utf-8") as f:
        json.dump({"ingest": INGEST, "admin": ADMIN, "keys": keys}, f)


if __name__ == "__main__":
    main()
