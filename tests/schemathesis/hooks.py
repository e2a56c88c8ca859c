"""Schemathesis hooks for Watershed: the right credential per operation, and real device ids.

Loaded by `scripts/schemathesis` through SCHEMATHESIS_HOOKS. It reads from the environment:

  WS_ADMIN_TOKEN, WS_READ_TOKEN, WS_ANALYST_TOKEN   the tokens `watershed up` was started with
  WS_DEVICES_FILE                 JSON from seed_devices.py: {"ingest": [id], "admin": [id], "keys": {id: key}}
  WS_REQUEST_LOG                  a file that gets one line per request sent (the script counts them)

Devices are split in two sets so that the generated requests cannot pull the ground from under
each other: key rotation and decommissioning only ever pick the "admin" devices, so the "ingest"
devices keep working keys and keep accepting readings for the whole run. Generated ids still go
out as they were drawn about half of the time, so unknown and malformed ids are tested too.
"""

from __future__ import annotations

import json
import os
import threading

import schemathesis
from hypothesis import strategies as st

ADMIN_TOKEN = os.environ["WS_ADMIN_TOKEN"]
READ_TOKEN = os.environ["WS_READ_TOKEN"]
ANALYST_TOKEN = os.environ["WS_ANALYST_TOKEN"]
with open(os.environ["WS_DEVICES_FILE"], encoding="utf-8") as f:
    _devices = json.load(f)
INGEST_DEVICES: list[str] = _devices["ingest"]
ADMIN_DEVICES: list[str] = _devices["admin"]
ALL_DEVICES: list[str] = INGEST_DEVICES + ADMIN_DEVICES
# Each device's current key; a rotation seen in an answer replaces it (after_call).
KEYS: dict[str, str] = dict(_devices["keys"])
_keys_lock = threading.Lock()
# A key that belongs to a real device, sent when the path names a device we hold no key for.
SOME_KEY = KEYS[INGEST_DEVICES[0]]

_log_lock = threading.Lock()
_log_path = os.environ.get("WS_REQUEST_LOG")


def _is_admin_op(method: str, path: str) -> bool:
    if path.startswith(("/v1/dead-letters", "/v1/webhooks")):
        return True
    if path in ("/v1/alerts/{id}/deliveries", "/v1/alerts/{id}/ack", "/v1/alerts/{id}/clear"):
        return True
    return method == "POST" and path in (
        "/v1/devices",
        "/v1/devices/import",
        "/v1/devices/{device_id}/key",
        "/v1/devices/{device_id}/decommission",
    )


def _is_ingest(method: str, path: str) -> bool:
    return method == "POST" and path == "/v1/devices/{device_id}/readings"


def _is_history(path: str) -> bool:
    return path == "/v1/history"


def _is_stream(path: str) -> bool:
    return path == "/v1/stream"


@schemathesis.serializer("application/x-ndjson")
def ndjson(ctx, value):
    """A device import in NDJSON: the document describes its lines as an array of objects, so each
    generated item goes on a line of its own; anything else (negative cases) goes as one line."""
    items = value if isinstance(value, list) else [value]
    return "".join(json.dumps(item) + "\n" for item in items).encode("utf-8")


@schemathesis.auth(refresh_interval=None, retry_on=[])
class WatershedAuth:
    """Admin token for device administration, dead letters, webhooks and alert actions, the device's own key for ingest, the analyst token
    for the history, the read token for the other reads. `/v1/stream` gets none: with a valid token it answers 200 and streams for ever, which no
    request timeout can tell from a hang; the script checks the authenticated stream itself."""

    def get(self, case, ctx):
        return ""

    def set(self, case, data, ctx):
        op = case.operation
        method, path = op.method.upper(), op.path
        if _is_stream(path):
            return
        if _is_admin_op(method, path):
            token = ADMIN_TOKEN
        elif _is_ingest(method, path):
            device = (case.path_parameters or {}).get("device_id")
            with _keys_lock:
                token = KEYS.get(device, SOME_KEY)
        elif _is_history(path):
            token = ANALYST_TOKEN
        else:
            token = READ_TOKEN
        case.headers = dict(case.headers or {})
        case.headers["Authorization"] = f"Bearer {token}"


@schemathesis.hook
def flatmap_case(ctx, case):
    """Half the time, replace the generated device id by a real one of the right set."""
    if "device_id" not in (case.path_parameters or {}):
        return st.just(case)
    method, path = case.operation.method.upper(), case.operation.path
    if path in ("/v1/devices/{device_id}/key", "/v1/devices/{device_id}/decommission"):
        real = ADMIN_DEVICES
    elif _is_ingest(method, path):
        real = INGEST_DEVICES
    else:
        real = ALL_DEVICES

    def with_device(device):
        case.path_parameters = {**case.path_parameters, "device_id": device}
        return case

    return st.one_of(st.just(case), st.sampled_from(real).map(with_device))


@schemathesis.hook
def before_call(ctx, case, kwargs):
    """Last word before sending, after every phase and mutation has had its say.

    Schemathesis also reuses ids it saw in earlier answers (e.g. the device list), so a path can
    name an ingest device on a key rotation or a decommission, or name another device than the one
    whose key the auth provider chose: send those to an admin device, and send the key of the
    device actually named. A request sent without a key on purpose (auth checks) stays without."""
    params = case.path_parameters or {}
    device = params.get("device_id")
    if device is None:
        return
    method, path = case.operation.method.upper(), case.operation.path
    if _is_admin_op(method, path) and device in INGEST_DEVICES:
        index = INGEST_DEVICES.index(device) % len(ADMIN_DEVICES)
        case.path_parameters = {**params, "device_id": ADMIN_DEVICES[index]}
    elif _is_ingest(method, path):
        headers = case.headers or {}
        with _keys_lock:
            key = KEYS.get(device)
        if key and headers.get("Authorization", "").startswith("Bearer wsk_"):
            case.headers = {**headers, "Authorization": f"Bearer {key}"}


@schemathesis.hook
def after_call(ctx, case, response):
    if case.operation.path == "/v1/devices/{device_id}/key" and response.status_code == 200:
        try:
            issued = response.json()
            with _keys_lock:
                KEYS[issued["device_id"]] = issued["device_key"]
        except (ValueError, KeyError, TypeError):
            pass  # response_schema_conformance reports a malformed answer
    if not _log_path:
        return
    line = f"{case.method.upper()} {case.operation.path} {response.status_code}\n"
    with _log_lock, open(_log_path, "a", encoding="utf-8") as log:
        log.write(line)
        if os.environ.get("WS_DEBUG"):
            sent = response.request.headers.get("Authorization", "")[:16]
            with open(_log_path + ".debug", "a", encoding="utf-8") as debug:
                debug.write(
                    f"{case.method.upper()} {response.request.url} {response.status_code}"
                    f" auth={sent!r} body={case.body!r:.300} -> {response.text[:300]}\n"
                )
