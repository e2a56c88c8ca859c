"""The devices' MQTT gateway as devices see it, through Eclipse Paho (PyPI `paho-mqtt`), not our code.

Starts `watershed up` with `--mqtt-listen` on embedded storage in WORK_DIR, registers devices over
HTTP, then, on MQTT 3.1.1 and on MQTT 5:
  - batches published with QoS 1 are acknowledged, and each is exactly one event with the readings
    sent, a resent batch id included; QoS 0 batches arrive too (on loopback);
  - a wrong key, an unknown device and a client id that is no device id are refused in CONNACK;
  - a batch to another device's topic, and an invalid batch, store nothing and are answered on the
    device's error topic with the HTTP error body (MQTT 5: also in the PUBACK's reason code);
  - a device may not subscribe to another device's error topic;
  - Debian's `mosquitto_pub` publishes on both versions, and is refused with a wrong key;
  - device tokens made by IoT Hub's documented algorithm and by `watershed token` are a device's
    MQTT password and HTTP Authorization; expired ones, another device's and badly signed ones
    are refused;
  - a key rotation with an overlap keeps the old key (and tokens signed with it) working until the
    deadline and not after; one without an overlap ends it at once;
  - the server is killed with publishes in flight (sent, not acknowledged) and started again:
    Paho publishes them again and every batch is exactly one event;
  - 1000 devices are connected at once, and each one's batch is stored.

    check_mqtt.py WATERSHED_BIN WORK_DIR
"""

import json
import os
import urllib.error
import selectors
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from base64 import b64decode, b64encode
from datetime import datetime, timezone
from hashlib import sha256
from hmac import HMAC
from urllib.parse import quote_plus, urlencode

import paho.mqtt.client as mqtt

ADMIN = "check-mqtt-admin-token"
PATIENCE_S = 60
PROTOCOLS = {"3.1.1": mqtt.MQTTv311, "5": mqtt.MQTTv5}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """A `watershed up` on fixed ports, so that clients reconnect to a restarted one."""

    def __init__(self, binary, work):
        self.binary, self.work = binary, work
        self.http_port, self.mqtt_port = free_port(), free_port()
        self.base = f"http://127.0.0.1:{self.http_port}"
        self.process = None

    def start(self):
        log = open(os.path.join(self.work, "server.log"), "a")
        self.process = subprocess.Popen(
            [self.binary, "up", "--simulate", "0", "--data-dir", os.path.join(self.work, "data"),
             "--web-dir", os.path.join(self.work, "no-dashboard"),
             "--listen", f"127.0.0.1:{self.http_port}",
             "--mqtt-listen", f"127.0.0.1:{self.mqtt_port}"],
            stdout=log, stderr=subprocess.STDOUT,
            env={**os.environ, "WATERSHED_ADMIN_TOKEN": ADMIN, "RUST_LOG": os.environ.get("RUST_LOG", "warn")})
        deadline = time.monotonic() + PATIENCE_S
        while time.monotonic() < deadline:
            assert self.process.poll() is None, "watershed up exited; see server.log"
            try:
                with socket.create_connection(("127.0.0.1", self.mqtt_port), timeout=1):
                    pass
                urllib.request.urlopen(self.base + "/readyz", timeout=1).read()
                return
            except OSError:
                time.sleep(0.1)
        raise AssertionError("watershed up did not start")

    def kill(self):
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=30)

    def call(self, method, path, body=None):
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.base + path, data=data, method=method, headers={
            "Authorization": f"Bearer {ADMIN}", "Content-Type": "application/json"})
        with urllib.request.urlopen(request) as response:
            return response.read()

    def register(self, device):
        return json.loads(self.call("POST", "/v1/devices", {"device_id": device}))["device_key"]

    def batches(self, device):
        """batch_id -> [readings] for every ReadingsRecorded event of the device's history."""
        stored = {}
        for line in self.call("GET", f"/v1/history?device={device}").splitlines():
            event = json.loads(line)
            if event.get("type") == "io.watershed.ReadingsRecorded":
                stored.setdefault(event["data"]["batch_id"], []).append(event["data"]["readings"])
        return stored


def batch(batch_id, value):
    now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return {"batch_id": batch_id,
            "readings": [{"sensor": "temp", "value": value, "unit": "C", "measured_at": now}]}


class Device:
    """A Paho client with its network loop in a thread, recording what the gateway answers."""

    def __init__(self, server, device, key, protocol, max_inflight=20):
        self.device = device
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=device,
                                  protocol=PROTOCOLS[protocol])
        self.client.username_pw_set(device, key)
        self.client.max_inflight_messages_set(max_inflight)
        self.client.reconnect_delay_set(min_delay=0.1, max_delay=1)
        self.connected = threading.Event()
        self.connack = None
        self.acks = {}  # mid -> reason code of the PUBACK
        self.errors = []  # error bodies received on the device's error topic
        self.subacks = []
        self.client.on_connect = self._on_connect
        self.client.on_publish = lambda c, u, mid, rc, p: self.acks.__setitem__(mid, rc)
        self.client.on_message = lambda c, u, m: self.errors.append(json.loads(m.payload))
        self.client.on_subscribe = lambda c, u, mid, rcs, p: self.subacks.append(rcs)
        self.server = server

    def _on_connect(self, client, userdata, flags, reason_code, properties):
        self.connack = reason_code
        self.connack_reason = getattr(properties, "ReasonString", None)
        self.connected.set()

    def connect(self):
        self.client.connect("127.0.0.1", self.server.mqtt_port, keepalive=30)
        self.client.loop_start()
        assert self.connected.wait(PATIENCE_S), f"{self.device}: no CONNACK"
        return self.connack

    def publish(self, topic, payload, qos=1):
        return self.client.publish(topic, json.dumps(payload), qos=qos)

    def subscribe(self, topic):
        before = len(self.subacks)
        self.client.subscribe(topic, qos=0)
        wait_until(lambda: len(self.subacks) > before, f"{self.device}: SUBACK for {topic}")
        return self.subacks[-1]

    def close(self):
        self.client.disconnect()
        self.client.loop_stop()


def wait_until(condition, what, patience=PATIENCE_S):
    deadline = time.monotonic() + patience
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def check(condition, message):
    if not condition:
        raise AssertionError(message)


def stored_once(server, device, sent):
    """Every batch sent is exactly one event of the device, with the readings sent."""
    wait_until(lambda: set(server.batches(device)) >= set(sent), f"{device}'s batches in the history")
    stored = server.batches(device)
    for batch_id, readings in sent.items():
        check(len(stored[batch_id]) == 1, f"{device}: batch {batch_id} stored {len(stored[batch_id])} times")
        values = [r["value"] for r in stored[batch_id][0]]
        check(values == [r["value"] for r in readings], f"{device}: batch {batch_id} holds {values}")
    check(set(stored) == set(sent), f"{device}: unexpected batches {set(stored) - set(sent)}")


def ingest_and_refusals(server, protocol):
    tag = protocol.replace(".", "")
    device, other = f"mqtt{tag}-a", f"mqtt{tag}-b"
    key, other_key = server.register(device), server.register(other)
    topic = f"devices/{device}/readings"

    for wrong in [Device(server, device, "wsk_not-the-key", protocol),
                  Device(server, "mqtt-nobody", key, protocol)]:
        code = wrong.connect()
        check(code.value == 134, f"{protocol}: wrong credentials answered {code}")
        wrong.client.loop_stop()
    bad_id = Device(server, "not a device id!", key, protocol)
    code = bad_id.connect()
    check(code.value == 133, f"{protocol}: a client id that is no device id answered {code}")
    bad_id.client.loop_stop()

    client = Device(server, device, key, protocol)
    check(client.connect().value == 0, f"{protocol}: the device's own key was refused")
    check(client.subscribe(f"devices/{device}/errors")[0].value == 0,
          f"{protocol}: subscribing to its own error topic was refused")
    check(client.subscribe(f"devices/{other}/errors")[0].value >= 128,
          f"{protocol}: subscribing to another device's error topic was granted")

    sent = {f"{tag}-{i}": batch(f"{tag}-{i}", float(i))["readings"] for i in range(20)}
    infos = [client.publish(topic, {"batch_id": b, "readings": r}) for b, r in sent.items()]
    # A resend of a stored batch is acknowledged and stores nothing new.
    first = next(iter(sent))
    infos.append(client.publish(topic, {"batch_id": first, "readings": sent[first]}))
    for info in infos:
        info.wait_for_publish(PATIENCE_S)
    check(all(client.acks[i.mid].value == 0 for i in infos), f"{protocol}: refused PUBACKs {client.acks}")
    qos0 = batch(f"{tag}-qos0", 0.5)
    client.publish(topic, qos0, qos=0).wait_for_publish(PATIENCE_S)
    sent[qos0["batch_id"]] = qos0["readings"]
    stored_once(server, device, sent)

    # Another device's topic: nothing stored there, the refusal told on the publisher's error topic.
    info = client.publish(f"devices/{other}/readings", batch(f"{tag}-stolen", 9.0))
    info.wait_for_publish(PATIENCE_S)
    wait_until(lambda: len(client.errors) >= 1, f"{protocol}: the error for another device's topic")
    check(client.errors[0]["error"]["code"] == "topic_not_allowed", f"{protocol}: {client.errors[0]}")
    if protocol == "5":
        check(client.acks[info.mid].value == 135, f"{protocol}: PUBACK {client.acks[info.mid]}")

    # An invalid batch: the HTTP error body, naming the field.
    info = client.publish(topic, {"batch_id": f"{tag}-empty", "readings": []})
    info.wait_for_publish(PATIENCE_S)
    wait_until(lambda: len(client.errors) >= 2, f"{protocol}: the error for an invalid batch")
    error = client.errors[1]["error"]
    check(error["field"] == "readings" and error["message"], f"{protocol}: invalid batch answered {error}")
    if protocol == "5":
        check(client.acks[info.mid].value == 153, f"{protocol}: PUBACK {client.acks[info.mid]}")
    stored_once(server, device, sent)
    check(server.batches(other) == {}, f"{protocol}: {other} got batches it never sent")
    client.close()
    print(f"check-mqtt: MQTT {protocol}: {len(sent)} batches stored once each, "
          "refusals in CONNACK, PUBACK and on the error topic")


def mosquitto_pub(server):
    """Debian's mosquitto_pub, a second client: exits 0 only once its QoS 1 PUBLISH is acknowledged."""
    device = "mqtt-mosquitto"
    key = server.register(device)
    sent = {}
    for version in ["mqttv311", "mqttv5"]:
        body = batch(f"mosquitto-{version}", 3.25)
        sent[body["batch_id"]] = body["readings"]
        run = subprocess.run(
            ["mosquitto_pub", "-h", "127.0.0.1", "-p", str(server.mqtt_port), "-V", version,
             "-i", device, "-u", device, "-P", key, "-q", "1",
             "-t", f"devices/{device}/readings", "-m", json.dumps(body)],
            capture_output=True, text=True, timeout=PATIENCE_S)
        check(run.returncode == 0, f"mosquitto_pub {version}: {run.returncode} {run.stderr}")
        refused = subprocess.run(
            ["mosquitto_pub", "-h", "127.0.0.1", "-p", str(server.mqtt_port), "-V", version,
             "-i", device, "-P", "wsk_wrong", "-q", "1",
             "-t", f"devices/{device}/readings", "-m", json.dumps(batch("never", 0.0))],
            capture_output=True, text=True, timeout=PATIENCE_S)
        check(refused.returncode != 0, f"mosquitto_pub {version} with a wrong key succeeded")
    stored_once(server, device, sent)
    print("check-mqtt: mosquitto_pub on 3.1.1 and 5: acknowledged and stored; a wrong key refused")


def iot_hub_sas_token(uri, key, expiry):
    """Azure IoT Hub's documented token generator ("Control access to IoT Hub with Shared Access
    Signatures", the Python sample), unchanged but for taking the expiry itself."""
    sign_key = "%s\n%d" % ((quote_plus(uri)), int(expiry))
    signature = b64encode(HMAC(b64decode(key), sign_key.encode('utf-8'), sha256).digest())
    rawtoken = {'sr': uri, 'sig': signature, 'se': str(int(expiry))}
    return 'SharedAccessSignature ' + urlencode(rawtoken)


def device_tokens(server):
    """Tokens minted by IoT Hub's algorithm and by `watershed token` let a device in, over MQTT
    (as its password) and HTTP (as its Authorization); expired or foreign ones do not."""
    device, other = "mqtt-token-a", "mqtt-token-b"
    key, other_key = server.register(device), server.register(other)
    # The signing key IoT Hub calls the device key: here the SHA-256 of it, base64.
    signing_key = b64encode(sha256(key.encode()).digest())
    now = int(time.time())
    minted = subprocess.run([server.binary, "token", "--device", device, "--ttl-secs", "600"],
                            env={**os.environ, "WATERSHED_DEVICE_KEY": key},
                            capture_output=True, text=True, check=True).stdout.strip()
    good = {"IoT Hub's algorithm": iot_hub_sas_token(f"hub.example/devices/{device}", signing_key, now + 600),
            "watershed token": minted}
    bad = {"expired": iot_hub_sas_token(f"devices/{device}", signing_key, now - 1),
           "another device's": iot_hub_sas_token(
               f"devices/{other}", b64encode(sha256(other_key.encode()).digest()), now + 600),
           "wrongly signed": iot_hub_sas_token(f"devices/{device}", b64encode(b"x" * 32), now + 600)}
    sent = {}
    for name, token in good.items():
        client = Device(server, device, token, "5")
        check(client.connect().value == 0, f"MQTT refused a token from {name}")
        body = batch(f"token-mqtt-{len(sent)}", 1.5)
        client.publish(f"devices/{device}/readings", body).wait_for_publish(PATIENCE_S)
        sent[body["batch_id"]] = body["readings"]
        client.close()
        body = batch(f"token-http-{len(sent)}", 2.5)
        check(http_ingest(server, device, token, body) == 201, f"HTTP refused a token from {name}")
        sent[body["batch_id"]] = body["readings"]
    for name, token in bad.items():
        client = Device(server, device, token, "3.1.1")
        check(client.connect().value == 134, f"MQTT let in an {name} token")
        client.client.loop_stop()
        check(http_ingest(server, device, token, batch("never", 0.0)) == 401, f"HTTP took an {name} token")
    stored_once(server, device, sent)
    print("check-mqtt: device tokens from IoT Hub's algorithm and `watershed token` accepted over MQTT "
          f"and HTTP; {', '.join(bad)} ones refused")


def key_rotation(server):
    """A rotation with an overlap: the replaced key (and tokens signed with it) works beside the
    new one until the deadline, then not; a rotation without one ends the old key at once."""
    device = "mqtt-rotating"
    first = server.register(device)
    rotated = json.loads(server.call("POST", f"/v1/devices/{device}/key",
                                     {"previous_key_valid_for_secs": 3}))
    second = rotated["device_key"]
    check(rotated.get("previous_key_valid_until"), f"no deadline in {rotated}")
    first_token = iot_hub_sas_token(f"devices/{device}", b64encode(sha256(first.encode()).digest()),
                                    int(time.time()) + 600)
    sent = {}

    def accepted(credential, protocol="5"):
        client = Device(server, device, credential, protocol)
        code = client.connect().value
        if code == 0:
            body = batch(f"rotation-{len(sent)}", float(len(sent)))
            client.publish(f"devices/{device}/readings", body).wait_for_publish(PATIENCE_S)
            sent[body["batch_id"]] = body["readings"]
            client.close()
        else:
            client.client.loop_stop()
        http = http_ingest(server, device, f"Bearer {credential}" if credential.startswith("wsk_")
                           else credential, batch(f"rotation-http-{len(sent)}", 0.5))
        check((code == 0) == (http == 201), f"MQTT answered {code}, HTTP {http}")
        if http == 201:
            sent[f"rotation-http-{len(sent)}"] = None
        return code == 0

    for credential in [first, first_token, second]:
        check(accepted(credential), "a key or token refused inside the overlap")
    time.sleep(3.5)
    check(not accepted(first) and not accepted(first_token, "3.1.1"), "the old key outlived its deadline")
    check(accepted(second), "the new key stopped with the old one's deadline")
    third = json.loads(server.call("POST", f"/v1/devices/{device}/key"))["device_key"]
    check(not accepted(second) and accepted(third), "a rotation without overlap kept the old key")
    too_long = {"previous_key_valid_for_secs": 30 * 86400 + 1}
    try:
        server.call("POST", f"/v1/devices/{device}/key", too_long)
        check(False, "a 31-day overlap was accepted")
    except urllib.error.HTTPError as e:
        error = json.loads(e.read())["error"]
        check(e.code == 400 and error["field"] == "previous_key_valid_for_secs", f"{e.code} {error}")
    check(accepted(third), "a refused rotation changed the key")
    stored = server.batches(device)
    check(len(stored) == len(sent) and all(len(v) == 1 for v in stored.values()),
          f"{len(stored)} batches stored of {len(sent)} accepted")
    print("check-mqtt: a rotation's overlap lets the old key and its tokens in until the deadline "
          "and not after, over MQTT and HTTP; without one the old key stops at once")


def disabled_device(server):
    """A disabled device is refused at CONNECT with a reason (MQTT 5: its string), an open session
    has its publishes refused, nothing is written; enabled again, it sends as before."""
    device = "mqtt-disabled"
    key = server.register(device)
    topic = f"devices/{device}/readings"
    session = Device(server, device, key, "5")
    check(session.connect().value == 0, "an active device was refused")
    sent = {}
    before = batch("before-disable", 1.0)
    session.publish(topic, before).wait_for_publish(PATIENCE_S)
    sent[before["batch_id"]] = before["readings"]
    server.call("POST", f"/v1/devices/{device}/disable", {"reason": "maintenance"})

    during = session.publish(topic, batch("while-disabled", 2.0))
    during.wait_for_publish(PATIENCE_S)
    wait_until(lambda: during.mid in session.acks, "the PUBACK of a disabled device's batch")
    check(session.acks[during.mid].value == 135, f"an open session's publish answered {session.acks[during.mid]}")
    session.close()
    for protocol in PROTOCOLS:
        refused = Device(server, device, key, protocol)
        code = refused.connect()
        refused.client.loop_stop()
        check(code.value == 135, f"{protocol}: a disabled device's CONNECT answered {code}")
        if protocol == "5":
            check("disabled" in (refused.connack_reason or ""), f"no reason given: {refused.connack_reason!r}")
    wrong = Device(server, device, "wsk_not-the-key", "5")
    check(wrong.connect().value == 134, "a wrong key learned that the device is disabled")
    wrong.client.loop_stop()

    server.call("POST", f"/v1/devices/{device}/enable")
    enabled = Device(server, device, key, "3.1.1")
    check(enabled.connect().value == 0, "an enabled device was refused")
    after = batch("after-enable", 3.0)
    enabled.publish(topic, after).wait_for_publish(PATIENCE_S)
    sent[after["batch_id"]] = after["readings"]
    enabled.close()
    stored_once(server, device, sent)
    print("check-mqtt: a disabled device is refused at CONNECT (3.1.1 code 5, MQTT 5 reason 135 "
          "with its reason) and on PUBLISH, nothing it sent is stored, and enabled it sends again")


def quota_exceeded(server):
    """Over its daily quota a device's batch is refused: MQTT 5 PUBACK 151 "quota exceeded" with
    the reason, the HTTP error body on its error topic, nothing stored; 3.1.1 learns it there."""
    for protocol in PROTOCOLS:
        device = f"mqtt-quota-{protocol.replace('.', '')}"
        key = server.register(device)
        server.call("PATCH", f"/v1/devices/{device}", {"limits": {"readings_per_day": 1}})
        topic = f"devices/{device}/readings"
        client = Device(server, device, key, protocol)
        check(client.connect().value == 0, f"{protocol}: refused at CONNECT")
        client.subscribe(f"devices/{device}/errors")
        within = batch("within", 1.0)
        client.publish(topic, within).wait_for_publish(PATIENCE_S)
        over = client.publish(topic, batch("over", 2.0))
        over.wait_for_publish(PATIENCE_S)
        wait_until(lambda: client.errors, f"{protocol}: the quota error on the error topic")
        check(client.errors[-1]["error"]["code"] == "quota_exceeded", f"{protocol}: {client.errors}")
        if protocol == "5":
            wait_until(lambda: over.mid in client.acks, "the PUBACK of a batch over the quota")
            check(client.acks[over.mid].value == 151, f"over the quota answered {client.acks[over.mid]}")
        client.close()
        stored_once(server, device, {within["batch_id"]: within["readings"]})
    print("check-mqtt: over its daily quota a device is answered PUBACK 151 (MQTT 5) and "
          "quota_exceeded on its error topic, and nothing more is stored")


def session_takeover(server):
    """A second CONNECT with a connected device's client id takes the session over: the older
    connection is closed (MQTT 5: DISCONNECT 142 "session taken over", as Debian's mosquitto_sub
    reports it), and the newer one sends on."""
    device = "mqtt-takeover"
    key = server.register(device)
    for protocol in PROTOCOLS:
        if protocol == "5":
            older = subprocess.Popen(
                # Line-buffered: its debug lines are read as they come, not when it exits.
                ["stdbuf", "-oL", "mosquitto_sub", "-h", "127.0.0.1", "-p", str(server.mqtt_port), "-V", "mqttv5",
                 "-i", device, "-u", device, "-P", key, "-t", f"devices/{device}/errors", "-d"],
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            lines = []
            reader = threading.Thread(target=lambda: lines.extend(older.stdout), daemon=True)
            reader.start()
            wait_until(lambda: any("SUBACK" in line for line in lines), "mosquitto_sub subscribed")
        else:
            older = Device(server, device, key, protocol)
            # No reconnect of its own during the check: two clients taking turns never settle.
            older.client.reconnect_delay_set(min_delay=60, max_delay=60)
            gone = []
            older.client.on_disconnect = lambda c, u, flags, rc, p: gone.append(rc)
            check(older.connect().value == 0, f"{protocol}: refused at CONNECT")
        newer = Device(server, device, key, protocol)
        check(newer.connect().value == 0, f"{protocol}: the newer session was refused")
        if protocol == "5":
            wait_until(lambda: any("DISCONNECT (142)" in line for line in lines),
                       "mosquitto_sub told DISCONNECT 142")
            older.kill()
        else:
            wait_until(lambda: gone, f"{protocol}: the older session closed")
            older.client.loop_stop()
        body = batch(f"takeover-{protocol.replace('.', '')}", 1.0)
        newer.publish(f"devices/{device}/readings", body).wait_for_publish(PATIENCE_S)
        check(newer.client.is_connected(), f"{protocol}: the newer session did not stay")
        newer.close()
    print("check-mqtt: a second CONNECT of a device takes its session over (MQTT 5: DISCONNECT 142 "
          "to the older) and the newer connection sends on")


def http_ingest(server, device, authorization, body):
    request = urllib.request.Request(
        f"{server.base}/v1/devices/{device}/readings", data=json.dumps(body).encode(),
        method="POST", headers={"Authorization": authorization, "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request) as response:
            return response.status
    except urllib.error.HTTPError as e:
        return e.code


def kill_in_flight(server, protocol):
    """SIGKILL with batches sent and not acknowledged; Paho resends them to the restarted server."""
    device = f"mqtt-kill-{protocol.replace('.', '')}"
    client = Device(server, device, server.register(device), protocol, max_inflight=20)
    check(client.connect().value == 0, "connect")
    total = 300
    sent = {f"k-{i}": batch(f"k-{i}", float(i))["readings"] for i in range(total)}
    infos = [client.publish(f"devices/{device}/readings", {"batch_id": b, "readings": r})
             for b, r in sent.items()]
    wait_until(lambda: len(client.acks) >= 50, "the first acknowledgements")
    server.kill()
    unacknowledged = total - len(client.acks)
    check(unacknowledged > 0, "every batch was acknowledged before the kill; nothing was in flight")
    server.start()
    for info in infos:
        info.wait_for_publish(PATIENCE_S)
    stored_once(server, device, sent)
    client.close()
    print(f"check-mqtt: MQTT {protocol}: killed with {unacknowledged} of {total} batches "
          "unacknowledged; after the restart each is stored exactly once")


def thousand_devices(server, count=1000):
    """Every device connected at the same time, each publishing a batch: one thread, one selector."""
    devices = [f"fleet-{i:04d}" for i in range(count)]
    keys = [server.register(d) for d in devices]
    clients, connacks, acks, gone = [], {}, set(), []
    selector = selectors.DefaultSelector()
    for device, key in zip(devices, keys):
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=device,
                             protocol=mqtt.MQTTv311)
        client.username_pw_set(device, key)
        client.on_connect = lambda c, u, f, rc, p, d=device: connacks.__setitem__(d, rc)
        client.on_publish = lambda c, u, mid, rc, p, d=device: acks.add(d)
        client.on_disconnect = lambda c, u, f, rc, p, d=device: gone.append(d)
        client.connect("127.0.0.1", server.mqtt_port, keepalive=120)
        selector.register(client.socket(), selectors.EVENT_READ, client)
        clients.append(client)

    def pump(condition, what):
        deadline = time.monotonic() + PATIENCE_S
        while not condition():
            assert time.monotonic() < deadline, f"timed out waiting for {what}"
            for key, _ in selector.select(timeout=0.1):
                key.data.loop_read()
            for client in clients:
                client.loop_write()
                client.loop_misc()

    pump(lambda: len(connacks) == count, "1000 CONNACKs")
    check(all(rc.value == 0 for rc in connacks.values()), "a fleet device was refused")
    for device, client in zip(devices, clients):
        client.publish(f"devices/{device}/readings", json.dumps(batch("fleet-1", 1.0)), qos=1)
    pump(lambda: len(acks) == count, "1000 PUBACKs")
    check(not gone, f"{len(gone)} devices were disconnected while all were connected")
    stored = 0
    for line in server.call("GET", "/v1/history?type=ReadingsRecorded").splitlines():
        event = json.loads(line)
        stored += event.get("subject", "").startswith("fleet-")
    check(stored == count, f"{stored} fleet batches stored, {count} sent")
    for client in clients:
        client.disconnect()
    print(f"check-mqtt: {count} devices connected at once, each batch acknowledged and stored once")


def main():
    binary, work = sys.argv[1], sys.argv[2]
    server = Server(binary, work)
    server.start()
    try:
        for protocol in PROTOCOLS:
            ingest_and_refusals(server, protocol)
        mosquitto_pub(server)
        device_tokens(server)
        key_rotation(server)
        disabled_device(server)
        quota_exceeded(server)
        session_takeover(server)
        for protocol in PROTOCOLS:
            kill_in_flight(server, protocol)
        thousand_devices(server)
    finally:
        server.stop()


if __name__ == "__main__":
    main()
