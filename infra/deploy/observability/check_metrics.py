#!/usr/bin/env python3
"""Checks the Prometheus rules and the Grafana dashboard against what the `watershed` binary exports.

  - grafana-dashboard.json parses, has schemaVersion >= 36 and a Prometheus datasource variable that
    every panel and target uses;
  - prometheusrule.yaml's spec.groups equal prometheus-rules.yaml's groups (--write-prometheusrule
    regenerates it);
  - every metric name in a rule expression or a dashboard query exists in the binary's real /metrics:
    the binary is started as `watershed up --simulate 2` on a temporary directory (with the example
    alert rules), given a few seconds and a few reads (a device lookup, a live-stream client) so its
    counters appear, then /metrics is scraped. Histograms count as their _bucket/_sum/_count series;
    `up` is Prometheus's own. A metric the `metrics` crate exports only from its first increment,
    and that a healthy run never increments (errors, dead letters), is accepted only when it is
    listed in FAILURE_ONLY below with why, and its name is in the binary (a string literal of its
    `metrics::counter!`); any other missing name fails. Recording-rule names (`a:b:c`) used by the
    dashboard must be recorded by the rules.

Usage: check_metrics.py [--binary PATH] [--write-prometheusrule]
(binary: $WATERSHED_BIN or ~/.cache/watershed-target/debug/watershed)
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import signal
import string
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]
RULES = HERE / "prometheus-rules.yaml"
PROMETHEUS_RULE = HERE / "prometheusrule.yaml"
DASHBOARD = HERE / "grafana-dashboard.json"

# Exported only once incremented, and a healthy simulated run increments none of them.
FAILURE_ONLY = {
    "watershed_relay_published_events_total": "the relay role, which `watershed up` (embedded bus, no Kafka) does not run",
    "watershed_relay_backlog_events": "the relay role, which `watershed up` (embedded bus, no Kafka) does not run",
}
PROMETHEUS_OWN = {"up"}

PROMQL_WORDS = {
    "by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless", "offset",
    "bool", "inf", "nan", "le",
}


def promql_names(expr: str) -> set[str]:
    """Metric names (and recording-rule names) a PromQL expression selects."""
    expr = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # strings
    expr = re.sub(r"\{[^}]*\}", "", expr)  # label matchers
    expr = re.sub(r"\[[^\]]*\]", "", expr)  # range durations, $__rate_interval
    expr = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", expr)
    expr = re.sub(r"\boffset\s+\w+", " ", expr)
    expr = re.sub(r"\$\{?\w+\}?", " ", expr)  # Grafana variables
    names = set()
    for m in re.finditer(r"(?<![\w.])([a-zA-Z_:][a-zA-Z0-9_:]*)(\s*\()?", expr):
        word, call = m.group(1), m.group(2)
        if call or word.lower() in PROMQL_WORDS:
            continue  # a function or aggregation, or a keyword
        names.add(word)
    return names


def rule_groups() -> list[dict]:
    return yaml.safe_load(RULES.read_text())["groups"]


def check_prometheusrule(write: bool) -> list[str]:
    text = PROMETHEUS_RULE.read_text()
    if write:
        head = text[: text.index("\nspec:\n") + len("\nspec:\n")]
        rules = RULES.read_text()
        groups = rules[rules.index("\ngroups:\n") + 1 :]
        body = "".join("  " + line if line.strip() else "\n" for line in groups.splitlines(keepends=True))
        PROMETHEUS_RULE.write_text(head + body)
        print(f"wrote {PROMETHEUS_RULE.relative_to(REPO)}")
        text = PROMETHEUS_RULE.read_text()
    doc = yaml.safe_load(text)
    if doc["spec"]["groups"] != rule_groups():
        return [f"{PROMETHEUS_RULE.name}: spec.groups differ from {RULES.name}: run {Path(__file__).name} --write-prometheusrule"]
    print(f"{PROMETHEUS_RULE.name}: spec.groups equal {RULES.name}'s groups")
    return []


def check_dashboard() -> tuple[list[str], dict[str, set[str]]]:
    errors: list[str] = []
    try:
        dash = json.loads(DASHBOARD.read_text())
    except json.JSONDecodeError as e:
        return [f"{DASHBOARD.name}: not JSON: {e}"], {}
    if dash.get("schemaVersion", 0) < 36:
        errors.append(f"{DASHBOARD.name}: schemaVersion {dash.get('schemaVersion')} < 36")
    ds_vars = [v["name"] for v in dash.get("templating", {}).get("list", [])
               if v.get("type") == "datasource" and v.get("query") == "prometheus"]
    if not ds_vars:
        errors.append(f"{DASHBOARD.name}: no Prometheus datasource variable")
    used: dict[str, set[str]] = {}
    panels = []
    for p in dash.get("panels", []):
        panels.append(p)
        panels.extend(p.get("panels", []))  # collapsed rows
    for p in panels:
        if p.get("type") == "row":
            continue
        title = p.get("title", "?")
        targets = p.get("targets", [])
        if not targets:
            errors.append(f"{DASHBOARD.name}: panel {title!r} has no query")
        for t in [p, *targets]:
            uid = (t.get("datasource") or {}).get("uid", "")
            if ds_vars and uid not in {f"${{{v}}}" for v in ds_vars} | {f"${v}" for v in ds_vars}:
                errors.append(f"{DASHBOARD.name}: panel {title!r} does not use the datasource variable (uid {uid!r})")
        for t in targets:
            for name in promql_names(t.get("expr", "")):
                used.setdefault(name, set()).add(f"dashboard panel {title!r}")
    print(f"{DASHBOARD.name}: parses, schemaVersion {dash.get('schemaVersion')}, {len(panels)} panels, "
          f"datasource variable {', '.join(ds_vars) or 'MISSING'}")
    return errors, used


def scrape(binary: str) -> set[str]:
    """Metric families in the /metrics of `watershed up --simulate 2`, after a few seconds and reads."""
    alphabet = string.ascii_letters + string.digits
    admin = "".join(secrets.choice(alphabet) for _ in range(32))
    read = "".join(secrets.choice(alphabet) for _ in range(32))
    with tempfile.TemporaryDirectory(prefix="watershed-metrics-") as data:
        cmd = [binary, "up", "--listen", "127.0.0.1:0", "--data-dir", data, "--simulate", "2",
               "--admin-token", admin, "--read-token", read,
               "--alert-rules", str(REPO / "alert-rules.example.toml")]
        log = open(Path(data) / "stderr.log", "wb")
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=log, text=True)
        try:
            url = None
            deadline = time.monotonic() + 60
            assert proc.stdout is not None
            while time.monotonic() < deadline:
                line = proc.stdout.readline()
                if not line:
                    break
                m = re.search(r"listening on (http://\S+)", line)
                if m:
                    url = m.group(1)
                    break
            if url is None:
                log.flush()
                raise RuntimeError(f"the binary did not print its address; stderr:\n{(Path(data) / 'stderr.log').read_text()[-2000:]}")
            threading.Thread(target=proc.stdout.read, daemon=True).start()  # keep its pipe drained
            print(f"started {' '.join(cmd[:2])} at {url}; waiting 5 s for the simulator")
            time.sleep(5)
            auth = {"Authorization": f"Bearer {read}"}

            def get(path: str, timeout: float = 5) -> bytes:
                req = urllib.request.Request(url + path, headers=auth)
                with urllib.request.urlopen(req, timeout=timeout) as r:
                    return r.read()

            # Reads that touch the cache and the live-stream gauge.
            devices = json.loads(get("/v1/devices"))
            items = devices if isinstance(devices, list) else devices.get("devices", [])
            for d in items[:2]:
                get(f"/v1/devices/{d['device_id']}")
            get("/v1/status")
            stream = urllib.request.urlopen(urllib.request.Request(url + "/v1/stream", headers=auth), timeout=5)
            time.sleep(1)
            text = get("/metrics").decode()
            stream.close()
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            log.close()
    families = set()
    for line in text.splitlines():
        m = re.match(r"# TYPE (\S+) (\w+)", line)
        if m:
            families.add(m.group(1))
            if m.group(2) == "histogram":
                families |= {m.group(1) + s for s in ("_bucket", "_sum", "_count")}
        elif line and not line.startswith("#"):
            families.add(re.split(r"[{ ]", line, maxsplit=1)[0])
    return families


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--binary", default=os.environ.get("WATERSHED_BIN") or str(
        Path.home() / ".cache/watershed-target/debug/watershed"))
    ap.add_argument("--write-prometheusrule", action="store_true")
    args = ap.parse_args()

    errors = check_prometheusrule(args.write_prometheusrule)
    dash_errors, used = check_dashboard()
    errors += dash_errors

    recorded = set()
    for g in rule_groups():
        for r in g["rules"]:
            if "record" in r:
                recorded.add(r["record"])
            where = f"rule {r.get('alert') or r.get('record')}"
            for name in promql_names(str(r["expr"])):
                used.setdefault(name, set()).add(where)

    binary_bytes = Path(args.binary).read_bytes()
    families = scrape(args.binary)
    print(f"/metrics: {len(families)} series names: {', '.join(sorted(f for f in families if not f.endswith(('_bucket', '_sum', '_count'))))}")

    for name in sorted(used):
        where = ", ".join(sorted(used[name]))
        if ":" in name:
            if name not in recorded:
                errors.append(f"{name}: a recording-rule name no rule records (used by {where})")
        elif name in PROMETHEUS_OWN:
            print(f"  {name}: Prometheus's own")
        elif name in families:
            print(f"  {name}: in /metrics")
        elif name in FAILURE_ONLY and name.encode() in binary_bytes:
            print(f"  {name}: not in a healthy run's /metrics ({FAILURE_ONLY[name]}); the binary has the name")
        else:
            errors.append(f"{name}: not in the binary's /metrics (used by {where})")
    for e in errors:
        print(f"FAILED: {e}")
    if not errors:
        print(f"check_metrics: {len(used)} names referenced by the rules and the dashboard, all exported")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
