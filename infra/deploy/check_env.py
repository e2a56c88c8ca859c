#!/usr/bin/env python3
"""Checks rendered Kubernetes manifests against what the `watershed` binary really reads.

The truth comes from the binary itself: `watershed <role> --help` lists every flag of a role, the
environment variable clap reads for it (`[env: NAME]`), its default and its possible values; so
does `watershed rebuild read-models --help` for the one task the manifests run as a Job.
A manifest fails when a Watershed container
  - runs a subcommand that is not a role or a task, a role in a Job or a task in a Deployment (it
    would run again each time it ends), or passes a flag the command does not have;
  - sets an environment variable the binary does not read (clap's, plus the few read outside clap,
    each tied to the source line that reads it so a stale entry fails too);
  - passes a secret as a variable from a Secret instead of as a file: `NAME_FILE` (for each NAME of
    src/secret_files.rs SECRET_VARIABLES) counts as giving NAME, and its path must lie in a volume
    mounted read-only in that container that holds that file (a Secret's items or keys, or a
    SecretProviderClass's objects by objectAlias/objectName for a Secrets Store CSI volume);
  - sets a value clap would refuse (a possible-values flag), or refers to a ConfigMap key that the
    rendered manifests do not have, or to a Secret key no SecretProviderClass syncs;
  - declares a containerPort the binary does not listen on (HTTP, and MQTT when
    WATERSHED_MQTT_LISTEN is set), listens on loopback (probes would fail), or probes a path the role's help does not name;
  - leaves a port the role uses on its embedded default (a SQLite file on a read-only root, a bus
    inside one process), or its terminationGracePeriodSeconds is shorter than the drain;
  - runs the rebuild with another image, event store, read model, raw retention or poison policy
    than the projectors (the rebuilt answers would differ from theirs), declares ports or probes
    for it (it serves nothing), or from a CronJob that is not suspended (rebuilds run on purpose).
Then each role is started offline with exactly the variables its manifest sets (store URLs swapped
for the embedded adapters on a temporary directory, each `NAME_FILE` pointed at a temporary file,
the listener on loopback port 0): a role that
needs a variable no manifest sets stops with "is required" and fails the check; a role that starts
is stopped with SIGTERM and must exit within its grace period. A task runs offline to its end
(the rebuild, of an empty history) and must exit 0.

Usage: check_env.py [--binary PATH] RENDERED.yaml...   (binary: $WATERSHED_BIN or
~/.cache/watershed-target/debug/watershed)
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

ROLES = ("command-api", "relay", "projectors", "query-api")
# Commands that run to their end, as Jobs (or a suspended CronJob to make them from), not as services.
TASKS = ("rebuild read-models",)
SERVICE_KINDS = ("Deployment", "StatefulSet", "DaemonSet")
TASK_KINDS = ("Job", "CronJob")
# What the rebuild must share with the projectors, or the generation it builds answers otherwise
# than the one they feed (README, "Rebuilding the read models").
SAME_AS_PROJECTORS = ("event-store", "read-model", "raw-retention-hours", "on-poison")
# Its offline run applies an empty history, then goes on for its grace period (5 s by default).
TASK_TIMEOUT_SECONDS = 60
REPO = Path(__file__).resolve().parents[2]

# Variables the binary reads outside clap, so `--help` cannot show them. Each names the source file
# and the text that reads it; the check fails if that text is gone (the entry would be stale).
READ_OUTSIDE_CLAP = {
    "RUST_LOG": ("src/telemetry.rs", "EnvFilter::try_from_default_env"),
    "WATERSHED_COSMOS_KEY": ("src/adapters.rs", '"WATERSHED_COSMOS_KEY"'),
}

# The variables the binary also takes from a file named by `NAME_FILE`, read at the start of main.
SECRET_FILES_SOURCE = "src/secret_files.rs"
SECRET_FILES_LOADED = ("src/main.rs", "secret_files::load()")
CSI_SECRETS_DRIVER = "secrets-store.csi.k8s.io"


def secret_variables() -> set[str]:
    """SECRET_VARIABLES of src/secret_files.rs: the variables a `NAME_FILE` may give."""
    source = (REPO / SECRET_FILES_SOURCE).read_text(encoding="utf-8")
    m = re.search(r"pub const SECRET_VARIABLES: &\[&str\] = &\[(.*?)\];", source, re.S)
    main_path, call = SECRET_FILES_LOADED
    if m is None or call not in (REPO / main_path).read_text(encoding="utf-8"):
        raise SystemExit(
            f"check_env: {SECRET_FILES_SOURCE} no longer has SECRET_VARIABLES or {main_path} no longer "
            f"calls {call}: update how check_env.py learns which NAME_FILE variables the binary reads"
        )
    return set(re.findall(r'"([A-Z0-9_]+)"', m.group(1)))


# Which ports each role opens (src/app.rs: Roles::need_events, need_read_side, and the relay).
# A role left on an embedded default in a cluster would write a SQLite file on a read-only root
# filesystem, or keep its bus inside one process.
PORTS_USED = {
    # The cache URL also names where devices' usage against their limits is counted.
    "command-api": ["WATERSHED_EVENT_STORE", "WATERSHED_CACHE"],
    "relay": ["WATERSHED_EVENT_STORE", "WATERSHED_BUS"],
    # Projectors always open the event store: they append alert events and read from it the events a
    # read model lacks in front of a batch (a rebuilt generation behind the bus).
    "projectors": ["WATERSHED_EVENT_STORE", "WATERSHED_BUS", "WATERSHED_READ_MODEL", "WATERSHED_CACHE"],
    "query-api": [
        "WATERSHED_EVENT_STORE",
        "WATERSHED_BUS",
        "WATERSHED_READ_MODEL",
        "WATERSHED_CACHE",
    ],
    # src/rebuild.rs: the history from the event store, the new generation beside the read models.
    "rebuild read-models": ["WATERSHED_EVENT_STORE", "WATERSHED_READ_MODEL"],
}

# Offline stand-ins for the port URLs when a role is started here.
OFFLINE_PORTS = {
    "WATERSHED_EVENT_STORE": "sqlite:",
    "WATERSHED_BUS": "embedded:",
    "WATERSHED_READ_MODEL": "sqlite:",
    "WATERSHED_CACHE": "memory:",
}

# src/app.rs DRAIN_DEADLINE: up to 10 s for HTTP connections, then up to 10 s for background work.
DRAIN_SECONDS = 20


@dataclass
class Flag:
    long: str
    env: str | None
    default: str | None
    values: list[str] | None


@dataclass
class RoleHelp:
    role: str
    text: str
    flags: dict[str, Flag] = field(default_factory=dict)
    required: list[str] = field(default_factory=list)

    def by_env(self) -> dict[str, Flag]:
        return {f.env: f for f in self.flags.values() if f.env}


def parse_help(role: str, text: str) -> RoleHelp:
    help_ = RoleHelp(role, text)
    usage = next((line for line in text.splitlines() if line.startswith("Usage:")), "")
    # Outside [OPTIONS] and [..] brackets, clap lists the required flags in the usage line.
    help_.required = re.findall(r"(?<!\[)--([a-z0-9-]+)", re.sub(r"\[[^\]]*\]", "", usage))
    blocks = re.split(r"\n(?=\s{2,}(?:-[A-Za-z], )?--[a-z0-9-]+)", text)
    for block in blocks:
        m = re.match(r"\s+(?:-[A-Za-z], )?--([a-z0-9-]+)", block)
        if not m:
            continue
        flat = " ".join(block.split())
        env = re.search(r"\[env:\s*([A-Za-z0-9_]+)", flat)
        default = re.search(r"\[default:\s*([^\]]*)\]", flat)
        values = re.search(r"\[possible values:\s*([^\]]*)\]", flat)
        if values is None and "Possible values:" in block:
            values_list = re.findall(r"^\s+- ([A-Za-z0-9_-]+)", block, re.M)
        else:
            values_list = [v.strip() for v in values.group(1).split(",")] if values else None
        help_.flags[m.group(1)] = Flag(
            m.group(1),
            env.group(1) if env else None,
            default.group(1).strip() if default else None,
            values_list or None,
        )
    return help_


def role_help(binary: str, command: str) -> RoleHelp:
    """The help of a role (`projectors`) or a task (`rebuild read-models`)."""
    out = subprocess.run(
        [binary, *command.split(), "--help"], capture_output=True, text=True, timeout=30, check=True
    )
    help_ = parse_help(command, out.stdout)
    if command in ROLES and "listen" not in help_.flags:
        raise SystemExit(f"check_env: `{binary} {command} --help` names no --listen; is it watershed?")
    if f"Usage: watershed {command} " not in help_.text:
        raise SystemExit(f"check_env: `{binary} {command} --help` has no usage line for it; is it watershed?")
    return help_


def pod_spec(workload: dict) -> dict | None:
    """The pod template's spec of a workload, or None for a kind that runs no pods."""
    kind = workload.get("kind")
    if kind in SERVICE_KINDS or kind == "Job":
        return workload["spec"]["template"]["spec"]
    if kind == "CronJob":
        return workload["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    return None


def mounted_file(pod: dict, container: dict, path: str) -> tuple[dict, dict | None, str] | None:
    """The container's mount that holds `path` (the deepest), the pod's volume of that name (None if
    the pod has none) and the path inside it; None when no mount holds it."""
    mounts = [
        m for m in container.get("volumeMounts", []) or []
        if path.startswith(m["mountPath"].rstrip("/") + "/")
    ]
    if not mounts:
        return None
    mount = max(mounts, key=lambda m: len(m["mountPath"]))
    volume = next((v for v in pod.get("volumes", []) or [] if v["name"] == mount["name"]), None)
    return mount, volume, path[len(mount["mountPath"].rstrip("/")) + 1 :]


def provider_objects(spc: dict) -> list[dict]:
    """A SecretProviderClass's objects (its `objects` parameter is YAML holding YAML strings)."""
    objects = yaml.safe_load(spc["spec"]["parameters"]["objects"]) or {}
    return [yaml.safe_load(text) for text in objects.get("array", []) or []]


def load_docs(paths: list[str]) -> list[dict]:
    docs = []
    for path in paths:
        with open(path, encoding="utf-8") as f:
            docs.extend(d for d in yaml.safe_load_all(f) if isinstance(d, dict))
    return docs


def port_of(listen: str) -> tuple[str, int]:
    host, _, port = listen.rpartition(":")
    return host.strip("[]"), int(port)


class Checker:
    def __init__(self, binary: str, docs: list[dict], source: str):
        self.binary = binary
        self.docs = docs
        self.source = source
        self.errors: list[str] = []
        self.notes: list[str] = []
        self.helps = {command: role_help(binary, command) for command in ROLES + TASKS}
        # Per container checked: where, its command, its image and what SAME_AS_PROJECTORS compares.
        self.shared: list[tuple[str, str, str, dict[str, str | None]]] = []
        self.configmaps = {
            d["metadata"]["name"]: d.get("data", {}) or {}
            for d in docs
            if d.get("kind") == "ConfigMap"
        }
        self.secret_variables = secret_variables()
        self.synced_secrets: dict[str, set[str]] | None = None
        spcs = [d for d in docs if d.get("kind") == "SecretProviderClass"]
        self.provider_classes = {spc["metadata"]["name"]: spc for spc in spcs}
        secrets = [d for d in docs if d.get("kind") == "Secret"]
        if spcs or secrets:
            self.synced_secrets = {}
            for spc in spcs:
                for obj in spc.get("spec", {}).get("secretObjects", []) or []:
                    keys = {item["key"] for item in obj.get("data", [])}
                    self.synced_secrets.setdefault(obj["secretName"], set()).update(keys)
            for sec in secrets:
                keys = set((sec.get("data") or {}).keys()) | set((sec.get("stringData") or {}).keys())
                self.synced_secrets.setdefault(sec["metadata"]["name"], set()).update(keys)

    def error(self, where: str, message: str) -> None:
        self.errors.append(f"{self.source}: {where}: {message}")

    def check_outside_clap(self) -> None:
        for name, (path, needle) in READ_OUTSIDE_CLAP.items():
            file = REPO / path
            if not file.is_file() or needle not in file.read_text(encoding="utf-8"):
                self.errors.append(
                    f"check_env: {name} is allowed as read outside clap because {path} contains "
                    f"{needle}, which it no longer does: update READ_OUTSIDE_CLAP"
                )

    def run(self) -> None:
        self.check_outside_clap()
        seen = set()
        for workload in self.docs:
            pod = pod_spec(workload)
            if pod is None:
                continue
            where_w = f"{workload['kind']}/{workload['metadata']['name']}"
            for container in pod.get("containers", []):
                image = container.get("image", "")
                if "watershed" not in image.rsplit("/", 1)[-1]:
                    continue
                command = self.check_container(where_w, workload, pod, container)
                if command:
                    seen.add(command)
        for command in ROLES + TASKS:
            if command not in seen:
                self.error("manifests", f"no workload runs `watershed {command}`")
        self.check_same_as_projectors()

    def check_same_as_projectors(self) -> None:
        """The rebuild must read and write what the projectors do, with their image and settings."""
        projectors = [entry for entry in self.shared if entry[1] == "projectors"]
        for where, command, image, values in self.shared:
            if command != "rebuild read-models":
                continue
            for where_p, _, image_p, values_p in projectors:
                if image != image_p:
                    self.error(where, f"runs image {image} but {where_p} runs {image_p}: the rebuild must apply events as the projectors do")
                for flag in SAME_AS_PROJECTORS:
                    if values.get(flag) != values_p.get(flag):
                        self.error(where, f"--{flag} is {values.get(flag)!r} but {where_p} has {values_p.get(flag)!r}: the rebuilt read models would answer otherwise than the projectors keep them")

    def resolve_env(self, where: str, container: dict) -> dict[str, str | None]:
        """Every variable the container gets, with its value where the manifests hold it."""
        env: dict[str, str | None] = {}
        for source in container.get("envFrom", []) or []:
            ref = source.get("configMapRef")
            if ref:
                data = self.configmaps.get(ref["name"])
                if data is None:
                    self.error(where, f"envFrom ConfigMap {ref['name']} is not in the manifests")
                    continue
                prefix = source.get("prefix", "")
                for key, value in data.items():
                    env[prefix + key] = value
            elif source.get("secretRef"):
                self.error(where, "envFrom a Secret hides which variables it sets; use env with secretKeyRef")
        for item in container.get("env", []) or []:
            name = item["name"]
            if "value" in item:
                env[name] = str(item["value"])
                continue
            value_from = item.get("valueFrom", {})
            if "configMapKeyRef" in value_from:
                ref = value_from["configMapKeyRef"]
                data = self.configmaps.get(ref["name"])
                if data is None:
                    self.error(where, f"{name}: ConfigMap {ref['name']} is not in the manifests")
                elif ref["key"] not in data:
                    self.error(where, f"{name}: ConfigMap {ref['name']} has no key {ref['key']}")
                    env[name] = None
                else:
                    env[name] = str(data[ref["key"]])
                    continue
                env[name] = None
            elif "secretKeyRef" in value_from:
                ref = value_from["secretKeyRef"]
                if name in self.secret_variables:
                    self.error(where, f"{name} comes from Secret {ref['name']} as an environment variable: mount it read-only and set {name}_FILE")
                if self.synced_secrets is not None:
                    keys = self.synced_secrets.get(ref["name"])
                    if keys is None:
                        self.error(where, f"{name}: no Secret or SecretProviderClass provides Secret {ref['name']}")
                    elif ref["key"] not in keys:
                        self.error(where, f"{name}: Secret {ref['name']} gets no key {ref['key']}")
                env[name] = None
            else:
                env[name] = None
        return env

    def check_container(self, where_w: str, workload: dict, pod: dict, container: dict) -> str | None:
        where = f"{where_w} container {container['name']}"
        args = list(container.get("command", [])[1:] if container.get("command") else []) + list(
            container.get("args", []) or []
        )
        task = " ".join(args[:2])
        if args and args[0] in ROLES:
            role, rest = args[0], args[1:]
            if workload["kind"] not in SERVICE_KINDS:
                self.error(where, f"the {role} role runs until stopped: a {workload['kind']} is for tasks ({', '.join(TASKS)})")
        elif task in TASKS:
            role, rest = task, args[2:]
            if workload["kind"] not in TASK_KINDS:
                self.error(where, f"`watershed {task}` ends when done: a {workload['kind']} would run it again and again; use a Job")
            if workload["kind"] == "CronJob" and workload["spec"].get("suspend") is not True:
                self.error(where, f"a CronJob running `watershed {task}` must be suspended: it is run on purpose (kubectl create job --from=cronjob/...), never on a schedule")
        else:
            self.error(where, f"the first argument must be a role ({', '.join(ROLES)}) or a task ({', '.join(TASKS)}), got {args[:2]}")
            return None
        help_ = self.helps[role]
        by_env = help_.by_env()
        flags_set: dict[str, str | None] = {}
        i = 0
        args = rest
        while i < len(args):
            arg = args[i]
            if not arg.startswith("--"):
                self.error(where, f"unexpected argument {arg!r}")
                i += 1
                continue
            name, eq, value = arg[2:].partition("=")
            if name not in help_.flags:
                self.error(where, f"`watershed {role}` has no flag --{name}")
            elif not eq and i + 1 < len(args) and not args[i + 1].startswith("--"):
                value = args[i + 1]
                i += 1
            flags_set[name] = value if (eq or value) else None
            i += 1

        env = self.resolve_env(where, container)
        # Secrets as files: the binary sets NAME from the file NAME_FILE names before clap reads NAME.
        files = {
            name[: -len("_FILE")]: path
            for name, path in env.items()
            if name.endswith("_FILE") and name[: -len("_FILE")] in self.secret_variables
        }
        for name, path in files.items():
            if name in env:
                self.error(where, f"sets both {name} and {name}_FILE, which the binary refuses")
            self.check_secret_file(where, pod, container, name, path)
        file_vars = {f"{name}_FILE" for name in files}
        given = {name: value for name, value in env.items() if name not in file_vars}
        given.update({name: None for name in files})
        for name, value in given.items():
            flag = by_env.get(name)
            if flag is None and name not in READ_OUTSIDE_CLAP:
                what = f"{name}_FILE (for {name})" if name in files else name
                self.error(where, f"sets {what}, which `watershed {role}` does not read")
                continue
            if flag and flag.values and value is not None and value not in flag.values:
                self.error(where, f"{name}={value!r} is not one of {', '.join(flag.values)}")

        # What the process ends up with, per flag: the argument, else the variable, else the default.
        def effective(flag_name: str) -> str | None:
            flag = help_.flags[flag_name]
            if flag_name in flags_set:
                return flags_set[flag_name]
            if flag.env and flag.env in given:
                return given[flag.env] if given[flag.env] is not None else "<from a secret>"
            return flag.default

        for req in help_.required:
            flag = help_.flags.get(req)
            if req not in flags_set and not (flag and flag.env and flag.env in given):
                self.error(where, f"`watershed {role}` requires --{req}" + (f" or {flag.env}" if flag and flag.env else ""))

        # Ports the role uses must not stay on their embedded defaults.
        for env_name in PORTS_USED[role]:
            flag = by_env.get(env_name)
            if flag is None:
                self.error(where, f"`watershed {role} --help` no longer names {env_name}: update PORTS_USED")
                continue
            value = effective(flag.long)
            if value is None or value == flag.default or value.split(":", 1)[0] in ("sqlite", "embedded", "memory"):
                self.error(where, f"{role} uses --{flag.long} but it stays on the embedded {value!r}: set {env_name}")

        if role == "projectors" or role in TASKS:
            shared = {}
            for flag_name in SAME_AS_PROJECTORS:
                flag = help_.flags.get(flag_name)
                if flag is None:
                    self.error(where, f"`watershed {role} --help` no longer names --{flag_name}: update SAME_AS_PROJECTORS")
                elif flag.env in files:
                    path = files[flag.env]
                    shared[flag_name] = f"the file {path} ({self.file_source(pod, container, path)})"
                else:
                    shared[flag_name] = effective(flag_name)
            self.shared.append((where, role, container.get("image", ""), shared))

        if role in TASKS:
            for key in ("ports", "startupProbe", "readinessProbe", "livenessProbe"):
                if container.get(key):
                    self.error(where, f"declares {key}, but `watershed {role}` serves nothing: it runs to its end")
            self.run_task_offline(where, role, rest, given, files)
            return role

        listen = effective("listen")
        if listen is None or listen.startswith("<"):
            self.error(where, "the listen address must be a literal value")
            listen_port = None
        else:
            host, listen_port = port_of(listen)
            if host in ("127.0.0.1", "localhost", "::1"):
                self.error(where, f"listens on {listen}: loopback is unreachable for probes and Services; set WATERSHED_LISTEN=0.0.0.0:{listen_port}")
        listening = {listen_port}
        mqtt = effective("mqtt-listen")
        if mqtt:
            host, mqtt_port = port_of(mqtt)
            listening.add(mqtt_port)
            if host in ("127.0.0.1", "localhost", "::1"):
                self.error(where, f"serves MQTT on {mqtt}: loopback is unreachable for devices; set WATERSHED_MQTT_LISTEN=0.0.0.0:{mqtt_port}")
        ports = container.get("ports", []) or []
        names = {p.get("name"): p["containerPort"] for p in ports}
        for p in ports:
            if p["containerPort"] not in listening:
                self.error(where, f"containerPort {p['containerPort']} but watershed {role} listens on {sorted(listening)} only")
        for probe_name in ("startupProbe", "readinessProbe", "livenessProbe"):
            probe = container.get(probe_name)
            if not probe or "httpGet" not in probe:
                continue
            path, port = probe["httpGet"].get("path", "/"), probe["httpGet"].get("port")
            number = names.get(port, port) if isinstance(port, str) else port
            if number != listen_port:
                self.error(where, f"{probe_name} port {port} is not the listen port {listen_port}")
            if f"`{path}`" not in help_.text:
                self.error(where, f"{probe_name} probes {path}, which `watershed {role} --help` does not name")

        grace = pod.get("terminationGracePeriodSeconds", 30)
        pre_stop = ((container.get("lifecycle") or {}).get("preStop") or {}).get("sleep", {}).get("seconds", 0)
        if grace < DRAIN_SECONDS + pre_stop:
            self.error(where, f"terminationGracePeriodSeconds {grace} < preStop {pre_stop} s + drain {DRAIN_SECONDS} s")

        self.start_offline(where, role, given, files, container, grace - pre_stop)
        return role

    def file_source(self, pod: dict, container: dict, path: str) -> str | None:
        """Where the secret file at `path` comes from: a Secret's key or a SecretProviderClass's object.
        None when no mounted volume holds it (check_secret_file reports that)."""
        mounted = mounted_file(pod, container, path)
        if mounted is None or mounted[1] is None:
            return None
        _, volume, relative = mounted
        if "secret" in volume:
            secret = volume["secret"]
            items = secret.get("items")
            key = next((i["key"] for i in items if i["path"] == relative), None) if items is not None else relative
            return f"Secret {secret['secretName']} key {key}"
        name = ((volume.get("csi") or {}).get("volumeAttributes") or {}).get("secretProviderClass")
        spc = self.provider_classes.get(name)
        if spc is not None:
            for obj in provider_objects(spc):
                if (obj.get("objectAlias") or obj["objectName"]) == relative:
                    return f"SecretProviderClass {name} object {obj['objectName']}"
        return None

    def check_secret_file(self, where: str, pod: dict, container: dict, name: str, path: str | None) -> None:
        """`NAME_FILE` must name a file that a volume mounted read-only in this container holds."""
        if path is None:
            self.error(where, f"{name}_FILE must be a literal path")
            return
        mounted = mounted_file(pod, container, path)
        if mounted is None:
            self.error(where, f"{name}_FILE={path} is in no volume mounted in this container")
            return
        mount, volume, relative = mounted
        if not mount.get("readOnly"):
            self.error(where, f"{name}_FILE={path}: volume mount {mount['name']} must be readOnly")
        if volume is None:
            self.error(where, f"{name}_FILE={path}: the pod has no volume {mount['name']}")
            return
        held = self.volume_files(where, volume)
        if held is not None and relative not in held:
            self.error(where, f"{name}_FILE={path}: volume {volume['name']} holds no {relative} (it holds {', '.join(sorted(held)) or 'nothing'})")

    def volume_files(self, where: str, volume: dict) -> set[str] | None:
        """The files a secret volume holds, or None when the manifests cannot tell (reported)."""
        if "secret" in volume:
            secret = volume["secret"]
            keys = self.synced_secrets.get(secret["secretName"]) if self.synced_secrets is not None else None
            items = secret.get("items")
            if items is not None:
                for item in items:
                    if keys is not None and item["key"] not in keys:
                        self.error(where, f"volume {volume['name']}: Secret {secret['secretName']} has no key {item['key']}")
                return {item["path"] for item in items}
            if keys is None:
                self.notes.append(f"{where}: Secret {secret['secretName']} is created outside these manifests and its volume lists no items: its files are not checked")
            return keys
        csi = volume.get("csi")
        if csi is not None and csi.get("driver") == CSI_SECRETS_DRIVER:
            name = (csi.get("volumeAttributes") or {}).get("secretProviderClass")
            spc = self.provider_classes.get(name)
            if spc is None:
                self.error(where, f"volume {volume['name']}: no SecretProviderClass {name} in the manifests")
                return None
            return {obj.get("objectAlias") or obj["objectName"] for obj in provider_objects(spc)}
        kind = next((k for k in volume if k != "name"), "?")
        self.error(where, f"volume {volume['name']} ({kind}) is not a Secret or a Secrets Store CSI volume: secrets come from one of those")
        return None

    def rules_file(self, container: dict, path: str, tmp: Path) -> str:
        """The alert rules file the container would mount, written under `tmp`, so that the offline
        start parses the real rules."""
        mounts = {m["name"]: m["mountPath"] for m in container.get("volumeMounts", []) or []}
        for d in self.docs:
            pod = pod_spec(d)
            if pod is not None:
                for vol in pod.get("volumes", []) or []:
                    cm = vol.get("configMap")
                    mount = mounts.get(vol["name"])
                    if cm and mount and path.startswith(mount.rstrip("/") + "/"):
                        data = self.configmaps.get(cm["name"], {})
                        key = path[len(mount.rstrip("/")) + 1 :]
                        if key in data:
                            out = tmp / key
                            out.write_text(data[key], encoding="utf-8")
                            return str(out)
        return path

    def offline_env(self, env: dict, files: dict, tmp: str) -> dict[str, str]:
        """The manifest's variables for a run here: embedded stores on `tmp`, secrets in files there."""
        child_env = {k: v for k, v in os.environ.items() if not k.startswith("WATERSHED_")}
        for name, value in env.items():
            # A value the manifests do not hold (a secret): distinct per variable and long
            # enough, as the binary refuses short or shared tokens before it listens.
            child_env[name] = f"probe-{name.lower().replace('_', '-')}-from-check-env" if value is None else value
        for name, value in OFFLINE_PORTS.items():
            if name in child_env:
                child_env[name] = value
        # Each NAME_FILE names a temporary file, so the start goes through the binary's own
        # reading of secret files; NAME itself stays unset (both at once is refused).
        for name in files:
            secret = Path(tmp) / f"secret-{name.lower()}"
            secret.write_text(child_env.pop(name) + "\n", encoding="utf-8")
            child_env[f"{name}_FILE"] = str(secret)
        child_env["WATERSHED_DATA_DIR"] = tmp
        return child_env

    def run_task_offline(self, where: str, task: str, args: list[str], env: dict, files: dict) -> None:
        """Runs a task with its manifest's arguments and variables on embedded stores to its end."""
        with tempfile.TemporaryDirectory(prefix="watershed-check-env-") as tmp:
            argv = [self.binary, *task.split(), *args]
            try:
                done = subprocess.run(argv, env=self.offline_env(env, files, tmp), capture_output=True, text=True, timeout=TASK_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                self.error(where, f"`watershed {task}` did not end within {TASK_TIMEOUT_SECONDS} s offline")
                return
            if done.returncode != 0:
                lines = done.stderr.strip().splitlines()
                last = next((line for line in reversed(lines) if line.startswith(("Error:", "error:"))), lines[-1] if lines else "")
                self.error(where, f"`watershed {task}` with the manifest's variables exited {done.returncode} offline: {last[:300]}")
            else:
                said = done.stdout.strip().splitlines()
                self.notes.append(f"{where}: ran offline with its manifest's variables ({len(files)} secret(s) from files) to exit 0: {said[-1] if said else ''}")

    def start_offline(self, where: str, role: str, env: dict, files: dict, container: dict, budget: int) -> None:
        with tempfile.TemporaryDirectory(prefix="watershed-check-env-") as tmp:
            child_env = self.offline_env(env, files, tmp)
            child_env["WATERSHED_LISTEN"] = "127.0.0.1:0"
            if child_env.get("WATERSHED_MQTT_LISTEN"):
                child_env["WATERSHED_MQTT_LISTEN"] = "127.0.0.1:0"
            if "WATERSHED_ALERT_RULES" in env and env["WATERSHED_ALERT_RULES"]:
                child_env["WATERSHED_ALERT_RULES"] = self.rules_file(container, env["WATERSHED_ALERT_RULES"], Path(tmp))
            child_env.pop("WATERSHED_WEB_DIR", None)
            argv = [self.binary, role] + [a for a in (container.get("args") or [])[1:]]
            proc = subprocess.Popen(argv, env=child_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            listening = False
            deadline = time.monotonic() + 30
            line = ""
            while time.monotonic() < deadline:
                line = proc.stdout.readline()
                if "listening on" in line:
                    listening = True
                    break
                if line == "" and proc.poll() is not None:
                    break
            if listening:
                started = time.monotonic()
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=budget)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
                    self.error(where, f"did not exit within {budget} s of SIGTERM (its grace period less preStop)")
                    return
                took = time.monotonic() - started
                if proc.returncode != 0:
                    self.error(where, f"exited {proc.returncode} on SIGTERM: {proc.stderr.read()[-400:]}")
                else:
                    self.notes.append(f"{where}: started offline with its manifest's variables ({len(files)} secret(s) from files) and stopped on SIGTERM in {took:.1f} s")
                return
            if proc.poll() is None:
                proc.kill()
            _, err = proc.communicate()
            lines = err.strip().splitlines()
            last = next((line for line in reversed(lines) if line.startswith("Error:")), lines[-1] if lines else "")
            if "is required" in err or proc.returncode == 2 or err.lstrip().startswith("error:"):
                self.error(where, f"`watershed {role}` refused the manifest's variables: {last}")
            else:
                # Past clap and the token checks; the rest needs the real stores (the relay needs Kafka).
                self.notes.append(f"{where}: argument and token checks passed offline; start then needs real stores: {last[:200]}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--binary", default=os.environ.get("WATERSHED_BIN", str(Path.home() / ".cache/watershed-target/debug/watershed")))
    parser.add_argument("rendered", nargs="+")
    args = parser.parse_args()
    if not os.access(args.binary, os.X_OK):
        print(f"check_env: no watershed binary at {args.binary} (set WATERSHED_BIN)", file=sys.stderr)
        return 1
    failed = False
    for path in args.rendered:
        checker = Checker(args.binary, load_docs([path]), path)
        checker.run()
        for note in checker.notes:
            print(f"  ok   {note}")
        for error in checker.errors:
            print(f"  FAIL {error}")
        failed |= bool(checker.errors)
        print(f"check_env: {path}: {len(checker.errors)} problem(s)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
