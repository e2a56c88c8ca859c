"""Alert webhooks as a receiver sees them, verified with the Standard Webhooks reference library
(PyPI `standardwebhooks`), not with our own code.

Against a running `watershed up` with tests/webhooks/alert-rules.toml: two channels point at a
receiver in this process, one for every severity (it answers the first attempt of each message
with 503, to make Watershed retry) and one for warnings only. A device's temperature goes above
the rule's threshold and back; the receiver must get the raise and the clear on the first
channel, each signed, each retried under the same webhook-id, the clear naming the raise's alert,
nothing on the second; and `/v1/alerts/{id}/deliveries` must tell the same story. Then the alarm
lifecycle: the alert is acknowledged through the API, a second one is raised and cleared by hand;
both reach the receiver and the alert list (`GET /v1/alerts`). Last, a deadman rule: a device
that stops sending is told of once its silence passes the rule, and cleared by its next reading.

    check_webhooks.py BASE_URL ADMIN_TOKEN
"""

import json
import sys
import threading
import time
import urllib.error
import urllib.request
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

PATIENCE_S = 60


class Receiver(BaseHTTPRequestHandler):
    received = []  # (path, headers, body, status answered)
    seen_ids = set()
    lock = threading.Lock()

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        message_id = self.headers.get("webhook-id")
        with self.lock:
            first = (self.path, message_id) not in self.seen_ids
            self.seen_ids.add((self.path, message_id))
            status = 503 if self.path == "/ops" and first else 204
            self.received.append((self.path, dict(self.headers), body, status))
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def call(base, method, path, token, body=None):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(base + path, data=data, method=method, headers={
        "Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request) as response:
            text = response.read()
            return response.status, json.loads(text) if text else None
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def now():
    return datetime.now(timezone.utc).isoformat(timespec="microseconds").replace("+00:00", "Z")


def verify_all(received, secrets):
    for path, headers, body, _ in received:
        # Raises WebhookVerificationError on a bad signature or a stale timestamp.
        Webhook(secrets[path]).verify(body, headers)
        try:
            Webhook(secrets[path]).verify(body + b" ", headers)
            raise SystemExit("check-webhooks: a changed body still verified")
        except WebhookVerificationError:
            pass


def wait_for(what, found):
    deadline = time.monotonic() + PATIENCE_S
    while time.monotonic() < deadline:
        value = found()
        if value:
            return value
        time.sleep(0.2)
    raise SystemExit(f"check-webhooks: no {what} within {PATIENCE_S} s")


def delivered(message_type):
    """The bodies of one type delivered to /ops (answered 204)."""
    with Receiver.lock:
        return [json.loads(body) for path, _, body, status in Receiver.received
                if path == "/ops" and status == 204 and json.loads(body)["type"] == message_type]


def check_lifecycle(base, admin, key, alert_id, secret):
    """Acknowledge the cleared alert; raise another and clear it by hand: both reach the receiver
    and the alert list."""
    listed = wait_for("alert in the list", lambda: call(
        base, "GET", "/v1/alerts?device=wh-1&state=cleared", admin)[1]["alerts"])
    assert [a["id"] for a in listed] == [alert_id], listed
    assert listed[0]["clear_reason"] == "rule" and not listed[0]["acknowledged"], listed[0]

    status, bad = call(base, "POST", f"/v1/alerts/{alert_id}/ack", admin, {"note": "no name"})
    assert status == 400 and "`by`" in bad["error"]["message"], (status, bad)
    status, missing = call(base, "POST", "/v1/alerts/0190a5c4-0000-7000-8000-000000000000/ack",
                           admin, {"by": "Ana"})
    assert status == 404 and missing["error"]["code"] == "alert_not_found", (status, missing)
    status, acked = call(base, "POST", f"/v1/alerts/{alert_id}/ack", admin,
                         {"by": "Ana", "note": "looked at it"})
    assert status == 200 and acked["changed"] and acked["acknowledged"], (status, acked)
    status, again = call(base, "POST", f"/v1/alerts/{alert_id}/ack", admin, {"by": "Ana"})
    assert status == 200 and not again["changed"], (status, again)
    ack = wait_for("alert.acknowledged delivery", lambda: delivered("alert.acknowledged"))
    assert len(ack) == 1 and ack[0]["data"]["alert_id"] == alert_id, ack
    assert ack[0]["data"]["by"] == "Ana" and ack[0]["data"]["note"] == "looked at it", ack

    status, _ = call(base, "POST", "/v1/devices/wh-1/readings", key, {
        "batch_id": "hot-again",
        "readings": [{"sensor": "temperature", "value": 39.0, "measured_at": now()}]})
    assert status == 201, status
    active = wait_for("second alert", lambda: call(
        base, "GET", "/v1/alerts?device=wh-1&state=active", admin)[1]["alerts"])
    second = active[0]["id"]
    assert second != alert_id and active[0]["value"] == 39.0, active
    status, cleared = call(base, "POST", f"/v1/alerts/{second}/clear", admin, {"by": "Ben"})
    assert status == 200 and cleared["state"] == "cleared" and cleared["changed"], cleared
    by_hand = wait_for("manual alert.cleared", lambda: [
        m for m in delivered("alert.cleared") if m["data"]["alert_id"] == second])
    assert by_hand[0]["data"]["by"] == "Ben", by_hand
    listed = wait_for("manual clear in the list", lambda: [
        a for a in call(base, "GET", "/v1/alerts?device=wh-1", admin)[1]["alerts"]
        if a["id"] == second and a["state"] == "cleared"])
    assert listed[0]["clear_reason"] == "manual" and listed[0]["cleared_by"] == "Ben", listed
    status, _ = call(base, "GET", "/v1/alerts?severity=fatal", admin)
    assert status == 400, status


def check_silence(base, admin):
    """A deadman rule: a device that stops sending raises an alert once its silence passes the
    rule's 2 s, told to the receiver; its next reading clears it."""
    status, device = call(base, "POST", "/v1/devices", admin, {"device_id": "wh-2"})
    assert status == 201, (status, device)
    key = device["device_key"]

    def beat(batch):
        status, _ = call(base, "POST", "/v1/devices/wh-2/readings", key, {
            "batch_id": batch,
            "readings": [{"sensor": "heartbeat", "value": 1, "measured_at": now()}]})
        assert status == 201, (batch, status)

    beat("beat-1")
    raised = wait_for("silence alert", lambda: [
        m for m in delivered("alert.raised") if m["data"]["device_id"] == "wh-2"])
    data = raised[0]["data"]
    assert (data["rule"], data["condition"], data["threshold"], data["unit"], data["severity"]) == \
        ("heartbeat-lost", "silent", 2.0, "s", "major"), data
    assert data["value"] > 2.0, data
    fired = datetime.fromisoformat(raised[0]["timestamp"].replace("Z", "+00:00"))
    last = datetime.fromisoformat(data["measured_at"].replace("Z", "+00:00"))
    late = (fired - last).total_seconds() - 2.0
    assert 0 < late < 5, f"raised {late:.2f} s after the silence passed 2 s"
    beat("beat-2")
    cleared = wait_for("end of the silence", lambda: [
        m for m in delivered("alert.cleared") if m["data"]["alert_id"] == data["alert_id"]])
    assert cleared[0]["data"]["rule"] == "heartbeat-lost", cleared
    print(f"check-webhooks: silence raised {late:.2f} s after its rule allowed (period 1 s)")


def main():
    base, admin = sys.argv[1:3]
    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    hooks = f"http://127.0.0.1:{server.server_address[1]}"

    status, bad = call(base, "POST", "/v1/webhooks", admin, {"name": "x", "url": "ftp://x"})
    assert status == 400 and bad["error"]["field"] == "url", (status, bad)
    status, ops = call(base, "POST", "/v1/webhooks", admin, {"name": "ops", "url": hooks + "/ops"})
    assert status == 201 and ops["secret"].startswith("whsec_"), (status, ops)
    status, quiet = call(base, "POST", "/v1/webhooks", admin,
                         {"name": "quiet", "url": hooks + "/quiet", "severities": ["warning"]})
    assert status == 201, (status, quiet)
    status, listed = call(base, "GET", "/v1/webhooks", admin)
    assert [w["name"] for w in listed["webhooks"]] == ["ops", "quiet"], listed
    assert all("secret" not in w for w in listed["webhooks"]), "secrets are shown once"

    status, device = call(base, "POST", "/v1/devices", admin, {"device_id": "wh-1"})
    assert status == 201, (status, device)
    key = device["device_key"]
    for batch, value in [("hot", 41.5), ("cool", 20.0)]:
        status, _ = call(base, "POST", "/v1/devices/wh-1/readings", key, {
            "batch_id": batch,
            "readings": [{"sensor": "temperature", "value": value, "unit": "C", "measured_at": now()}]})
        assert status == 201, (batch, status)
        time.sleep(0.5)  # the clear must come from a later batch than the raise

    deadline = time.monotonic() + PATIENCE_S
    while time.monotonic() < deadline:
        with Receiver.lock:
            done = [r for r in Receiver.received if r[0] == "/ops" and r[3] == 204]
        if len(done) >= 2:
            break
        time.sleep(0.2)
    else:
        raise SystemExit(f"check-webhooks: not delivered within {PATIENCE_S} s: {Receiver.received}")

    with Receiver.lock:
        received = list(Receiver.received)
    secrets = {"/ops": ops["secret"], "/quiet": quiet["secret"]}
    verify_all(received, secrets)
    assert not [r for r in received if r[0] == "/quiet"], "the warnings channel heard of a critical alert"

    ids = []
    for _, headers, _, _ in received:
        if headers["webhook-id"] not in ids:
            ids.append(headers["webhook-id"])
    assert len(ids) == 2, f"expected a raise and a clear, got {ids}"
    by_id = {i: [r for r in received if r[1]["webhook-id"] == i] for i in ids}
    for message_id, attempts in by_id.items():
        assert [a[3] for a in attempts] == [503, 204], (message_id, [a[3] for a in attempts])
        assert attempts[0][2] == attempts[1][2], "a retry carries the same body"
    raise_body = json.loads(by_id[ids[0]][0][2])
    clear_body = json.loads(by_id[ids[1]][0][2])
    assert raise_body["type"] == "alert.raised", raise_body
    assert clear_body["type"] == "alert.cleared", clear_body
    data = raise_body["data"]
    assert (data["device_id"], data["rule"], data["severity"], data["value"], data["unit"]) == \
        ("wh-1", "too-hot", "critical", 41.5, "C"), data
    alert_id = data["alert_id"]
    assert alert_id == ids[0], "an alert's id is its raise's event id"
    assert clear_body["data"]["alert_id"] == alert_id, clear_body

    status, record = call(base, "GET", f"/v1/alerts/{alert_id}/deliveries", admin)
    assert status == 200, (status, record)
    deliveries = record["deliveries"]
    assert [d["type"] for d in deliveries] == ["alert.raised", "alert.cleared"], deliveries
    for d in deliveries:
        assert d["state"] == "delivered" and d["webhook_id"] == ops["id"], d
        assert [a["status"] for a in d["attempts"]] == [503, 204], d

    check_lifecycle(base, admin, key, alert_id, ops["secret"])
    check_silence(base, admin)

    status, _ = call(base, "DELETE", f"/v1/webhooks/{quiet['id']}", admin)
    assert status == 204, status
    status, gone = call(base, "GET", f"/v1/webhooks/{quiet['id']}", admin)
    assert status == 404 and gone["error"]["code"] == "webhook_not_found", gone
    server.shutdown()
    with Receiver.lock:
        received = list(Receiver.received)
    verify_all(received, secrets)
    print(f"check-webhooks: {len(received)} requests, every signature verified by standardwebhooks")


if __name__ == "__main__":
    main()
