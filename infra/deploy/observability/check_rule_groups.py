#!/usr/bin/env python3
"""Checks that the Managed Prometheus rule groups the Bicep deploys are prometheus-rules.yaml's rules.

No Bicep compiler can be installed offline here, so this script evaluates the Bicep itself: it
parses infra/deploy/bicep with tree-sitter-bicep, finds the one
Microsoft.AlertsManagement/prometheusRuleGroups resource, and computes the groups it declares the
way the compiler would, for the part of Bicep such a module needs: literals, objects, arrays,
variables, resource and property for-loops, member and index access (`.?` too), `??`, `!`, `&&`,
`||`, `==`, `!=`, ternaries, string interpolation, and the functions loadYamlContent,
loadJsonContent, contains, empty, union, toUpper, toLower and length. Parameters stay unknown (they
are set at deployment). Anything else stops the check with its name and line, rather than being
skipped.

It fails unless, group by group and in order:
  - the alerts and records are prometheus-rules.yaml's, in its order, each with its expression,
    labels and annotations, and (alerts) its `for` as an ISO 8601 duration of the same length;
  - each alert's Azure severity is its `severity` label's (0 critical ... 4 verbose);
  - the group's interval is the YAML's (Prometheus's default 1m where unset), raised to Azure's
    minimum of 1 minute, and at most 15 minutes;
  - the group is scoped to one cluster: two scopes (the workspace and the cluster) and clusterName;
  - no rule has a property the 2023-03-01 schema does not name, and no rule is disabled;
and main.bicep deploys the module that holds the resource.

Usage: check_rule_groups.py
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import tree_sitter_bicep
import yaml
from tree_sitter import Language, Node, Parser

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]
RULES = HERE / "prometheus-rules.yaml"
BICEP = REPO / "infra/deploy/bicep"
MAIN = BICEP / "main.bicep"
RESOURCE_TYPE = "Microsoft.AlertsManagement/prometheusRuleGroups@"

# Azure Monitor's alert severities, 0 to 4.
AZURE_SEVERITIES = ["critical", "error", "warning", "informational", "verbose"]
# Azure evaluates a rule group every 1 to 15 minutes; Prometheus's default evaluation interval is 1m.
MIN_INTERVAL, MAX_INTERVAL, DEFAULT_INTERVAL = 60, 15 * 60, 60
# The rule properties of Microsoft.AlertsManagement/prometheusRuleGroups@2023-03-01.
ALERT_KEYS = {"alert", "expression", "for", "labels", "annotations", "enabled", "severity", "resolveConfiguration", "actions"}
RECORD_KEYS = {"record", "expression", "labels", "enabled"}


class BicepError(Exception):
    """The Bicep uses something this evaluator does not know, or would fail to deploy."""


@dataclass
class Unknown:
    """A value known only at deployment: a parameter, or anything computed from one."""

    text: str


def kids(node: Node) -> list[Node]:
    """Named children without comments."""
    return [c for c in node.named_children if c.type != "comment"]


def at(node: Node) -> str:
    return f"line {node.start_point[0] + 1}"


class Evaluator:
    def __init__(self, path: Path, root: Node):
        self.path = path
        self.params: set[str] = set()
        self.variables: dict[str, Node] = {}
        self.values: dict[str, object] = {}
        for decl in kids(root):
            name = kids(decl)[0].text.decode() if kids(decl) else ""
            if decl.type == "parameter_declaration":
                self.params.add(name)
            elif decl.type == "variable_declaration":
                self.variables[name] = kids(decl)[-1]

    def lookup(self, name: str, scope: dict, node: Node):
        if name in scope:
            return scope[name]
        if name in self.params:
            return Unknown(name)
        if name in self.variables:
            if name not in self.values:
                self.values[name] = BicepError(f"variable {name} refers to itself")
                self.values[name] = self.eval(self.variables[name], {})
            value = self.values[name]
            if isinstance(value, BicepError):
                raise value
            return value
        raise BicepError(f"{self.path.name} {at(node)}: {name} is not a parameter, variable or loop variable this check can evaluate")

    def eval(self, node: Node, scope: dict):
        kind = node.type
        method = getattr(self, "eval_" + kind, None)
        if method is None:
            raise BicepError(f"{self.path.name} {at(node)}: cannot evaluate a {kind}: keep the rule groups to what check_rule_groups.py evaluates, or teach it")
        return method(node, scope)

    def eval_parenthesized_expression(self, node, scope):
        return self.eval(kids(node)[0], scope)

    def eval_identifier(self, node, scope):
        return self.lookup(node.text.decode(), scope, node)

    def eval_number(self, node, scope):
        return int(node.text.decode())

    def eval_boolean(self, node, scope):
        return node.text.decode() == "true"

    def eval_null(self, node, scope):
        return None

    def eval_string(self, node, scope):
        tokens = node.children
        if tokens[0].type == "'''":  # verbatim; the newline right after the opening quotes is not content
            text = node.text.decode()[3:-3]
            return text[1:] if text.startswith("\n") else text
        parts: list[object] = []
        source, end = node.text, tokens[0].end_byte - node.start_byte
        for child in tokens[1:]:
            # The grammar drops some escapes (`\$`) from the tree: read them from the gap they leave.
            start = child.start_byte - node.start_byte
            for escaped in source[end:start].decode().split("\\")[1:]:
                parts.append({"n": "\n", "r": "\r", "t": "\t"}.get(escaped, escaped))
            end = child.end_byte - node.start_byte
            if child.type == "interpolation":
                parts.append(self.eval(kids(child)[0], scope))
            elif child.type == "escape_sequence":
                escaped = child.text.decode()[1:]
                parts.append({"n": "\n", "r": "\r", "t": "\t"}.get(escaped, escaped))
            elif child.is_named:
                parts.append(child.text.decode())
        if any(isinstance(p, Unknown) for p in parts):
            return Unknown(node.text.decode())
        return "".join(p if isinstance(p, str) else json.dumps(p) for p in parts)

    def eval_array(self, node, scope):
        return [self.eval(item, scope) for item in kids(node)]

    def eval_object(self, node, scope):
        out = {}
        for prop in kids(node):
            if prop.type != "object_property":
                raise BicepError(f"{self.path.name} {at(prop)}: cannot evaluate a {prop.type} in an object")
            key_node, value_node = kids(prop)[0], kids(prop)[-1]
            key = self.eval(key_node, scope) if key_node.type == "string" else key_node.text.decode()
            out[key] = self.eval(value_node, scope)
        return out

    def member(self, obj, key: str, safe: bool, node: Node):
        if isinstance(obj, Unknown):
            return Unknown(node.text.decode())
        if obj is None and safe:
            return None
        if isinstance(obj, dict):
            # ARM looks properties up without regard to case.
            for k, v in obj.items():
                if k.lower() == key.lower():
                    return v
            if safe:
                return None
            raise BicepError(f"{self.path.name} {at(node)}: {node.text.decode()!r}: no property {key!r} (the deployment would fail)")
        raise BicepError(f"{self.path.name} {at(node)}: {node.text.decode()!r} is not an object")

    def eval_member_expression(self, node, scope):
        accessors = []
        base = node
        while base.type in ("member_expression", "subscript_expression"):
            accessors.append(base)
            base = kids(base)[0]
        return self.eval_then(base, accessors[::-1], scope)

    eval_subscript_expression = eval_member_expression

    def eval_then(self, base: Node, accessors: list[Node], scope: dict):
        """`base` followed by `.name`, `.?name`, `[index]` or `[?index]`. tree-sitter-bicep hangs an
        accessor written after an operator's last operand (`a ?? b.c`, `!a.b`, `c ? d : e[0]`) on the
        whole operation; Bicep applies it to that operand, and so does this."""
        if accessors and base.type in ("binary_expression", "unary_expression", "ternary_expression"):
            return getattr(self, "eval_" + base.type)(base, scope, lambda n: self.eval_then(n, accessors, scope))
        value = self.eval(base, scope)
        for node in accessors:
            if node.type == "member_expression":
                safe = any(c.type == ".?" for c in node.children)
                value = self.member(value, kids(node)[-1].text.decode(), safe, node)
                continue
            index = self.eval(kids(node)[-1], scope)
            safe = any(c.type == "?" for c in node.children)
            if isinstance(value, Unknown) or isinstance(index, Unknown):
                value = Unknown(node.text.decode())
            elif isinstance(value, list) and isinstance(index, int):
                if not (0 <= index < len(value) or safe):
                    raise BicepError(f"{self.path.name} {at(node)}: index {index} out of range")
                value = value[index] if 0 <= index < len(value) else None
            else:
                value = self.member(value, str(index), safe, node)
        return value

    def eval_unary_expression(self, node, scope, last=None):
        op = node.children[0].type
        value = (last or (lambda n: self.eval(n, scope)))(kids(node)[-1])
        if isinstance(value, Unknown):
            return Unknown(node.text.decode())
        if op == "!":
            return not value
        if op == "-":
            return -value
        raise BicepError(f"{self.path.name} {at(node)}: cannot evaluate the operator {op}")

    def eval_binary_expression(self, node, scope, last=None):
        right_of = last or (lambda n: self.eval(n, scope))
        left = self.eval(kids(node)[0], scope)
        op = next(c.type for c in node.children if not c.is_named)
        if op == "??":
            return right_of(kids(node)[-1]) if left is None else left
        if op == "&&" and left is False or op == "||" and left is True:
            return left
        right = right_of(kids(node)[-1])
        if isinstance(left, Unknown) or isinstance(right, Unknown):
            return Unknown(node.text.decode())
        ops = {
            "&&": lambda a, b: a and b,
            "||": lambda a, b: a or b,
            "==": lambda a, b: a == b,
            "!=": lambda a, b: a != b,
        }
        if op not in ops:
            raise BicepError(f"{self.path.name} {at(node)}: cannot evaluate the operator {op}")
        return ops[op](left, right)

    def eval_ternary_expression(self, node, scope, last=None):
        condition = self.eval(node.child_by_field_name("condition"), scope)
        if isinstance(condition, Unknown):
            return Unknown(node.text.decode())
        if condition:
            return self.eval(node.child_by_field_name("consequence"), scope)
        return (last or (lambda n: self.eval(n, scope)))(node.child_by_field_name("alternative"))

    def eval_for_statement(self, node, scope):
        """`[for NAME in ITEMS: BODY]`, a resource's or a property's."""
        loop_var = node.child_by_field_name("initializer")
        if loop_var is None or loop_var.type != "identifier":
            raise BicepError(f"{self.path.name} {at(node)}: only `for NAME in ...` loops are evaluated")
        items = self.eval(loop_var.next_named_sibling, scope)
        if isinstance(items, Unknown):
            return Unknown(node.text.decode())
        body = node.child_by_field_name("body")
        return [self.eval(body, {**scope, loop_var.text.decode(): item}) for item in items]

    def eval_call_expression(self, node, scope):
        name = node.child_by_field_name("function").text.decode()
        arg_nodes = kids(node.child_by_field_name("arguments"))
        if name in ("loadYamlContent", "loadJsonContent"):
            if len(arg_nodes) != 1 or arg_nodes[0].type != "string":
                raise BicepError(f"{self.path.name} {at(node)}: {name} with a path filter or a computed path")
            target = (self.path.parent / self.eval(arg_nodes[0], scope)).resolve()
            text = target.read_text(encoding="utf-8")
            return yaml.safe_load(text) if name == "loadYamlContent" else json.loads(text)
        args = [self.eval(a, scope) for a in arg_nodes]
        if any(isinstance(a, Unknown) for a in args):
            return Unknown(node.text.decode())
        if name == "contains":
            container, item = args
            if isinstance(container, dict):
                return str(item).lower() in (k.lower() for k in container)
            return item in container
        if name == "empty":
            return args[0] is None or len(args[0]) == 0
        if name == "length":
            return len(args[0])
        if name in ("toUpper", "toLower"):
            return args[0].upper() if name == "toUpper" else args[0].lower()
        if name == "union" and all(isinstance(a, dict) for a in args):
            return merge(args)
        raise BicepError(f"{self.path.name} {at(node)}: cannot evaluate {name}(...)")


def merge(objects: list[dict]) -> dict:
    """ARM's union of objects: later keys win, nested objects are merged."""
    out: dict = {}
    for obj in objects:
        for key, value in obj.items():
            out[key] = merge([out[key], value]) if isinstance(out.get(key), dict) and isinstance(value, dict) else value
    return out


def parse(path: Path) -> Node:
    parser = Parser(Language(tree_sitter_bicep.language()))
    return parser.parse(path.read_bytes()).root_node


def rule_group_resources() -> list[tuple[Path, Node]]:
    found = []
    for path in sorted(BICEP.rglob("*.bicep")):
        for decl in kids(parse(path)):
            if decl.type == "resource_declaration":
                type_node = next(c for c in kids(decl) if c.type == "string")
                if type_node.text.decode().strip("'").startswith(RESOURCE_TYPE):
                    found.append((path, decl))
    return found


def deployed_groups(path: Path, decl: Node) -> list:
    """The resource's bodies as the compiler would emit them: one per loop item, or the one body."""
    body = kids(decl)[-1]
    groups = Evaluator(path, parse(path)).eval(body, {})
    if isinstance(groups, Unknown):
        raise BicepError(f"{path.name} {at(body)}: the groups depend on a parameter: {groups.text}")
    return groups if body.type == "for_statement" else [groups]


PROMETHEUS_DURATION = re.compile(r"^(?:(\d+)y)?(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")
ISO_DURATION = re.compile(r"^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?$")


def prometheus_seconds(text: str) -> int:
    m = PROMETHEUS_DURATION.match(text)
    if not text or m is None:
        raise ValueError(f"{text!r} is not a Prometheus duration this check reads")
    y, w, d, h, mi, s = (int(g or 0) for g in m.groups())
    return ((y * 365 + w * 7 + d) * 24 + h) * 3600 + mi * 60 + s


def iso_seconds(text) -> int | None:
    m = ISO_DURATION.match(text) if isinstance(text, str) else None
    if m is None or text in ("P", "PT") or text.endswith("T"):
        return None
    d, h, mi, s = (int(g or 0) for g in m.groups())
    return (d * 24 + h) * 3600 + mi * 60 + s


def compare_rule(where: str, bicep: dict, want: dict) -> list[str]:
    errors = []
    is_alert = "alert" in want
    name_key = "alert" if is_alert else "record"
    if bicep.get(name_key) != want[name_key]:
        return [f"{where}: Bicep has {bicep.get('alert') or bicep.get('record')!r} where the YAML has {name_key} {want[name_key]!r}"]
    allowed = ALERT_KEYS if is_alert else RECORD_KEYS
    for key in sorted(set(bicep) - allowed):
        errors.append(f"{where}: property {key!r} is not a{'n alert' if is_alert else ' recording'} rule property of the 2023-03-01 schema")
    if bicep.get("enabled", True) is not True:
        errors.append(f"{where}: disabled in the Bicep (enabled: {bicep['enabled']!r})")
    if bicep.get("expression") != want["expr"]:
        errors.append(f"{where}: expression differs\n      Bicep: {bicep.get('expression')!r}\n      YAML:  {want['expr']!r}")
    for key in ("labels", "annotations") if is_alert else ("labels",):
        if (bicep.get(key) or {}) != (want.get(key) or {}):
            errors.append(f"{where}: {key} differ\n      Bicep: {bicep.get(key)!r}\n      YAML:  {want.get(key)!r}")
    if not is_alert:
        return errors
    if "for" in want:
        seconds = iso_seconds(bicep.get("for"))
        if seconds is None:
            errors.append(f"{where}: for {bicep.get('for')!r} is not an ISO 8601 duration (PnDTnHnMnS) for the YAML's {want['for']!r}")
        elif seconds != prometheus_seconds(want["for"]):
            errors.append(f"{where}: for {bicep['for']!r} is {seconds} s, the YAML's {want['for']!r} is {prometheus_seconds(want['for'])} s")
    elif iso_seconds(bicep.get("for") or "PT0S") != 0:
        errors.append(f"{where}: for {bicep['for']!r} where the YAML has none")
    label = (want.get("labels") or {}).get("severity")
    if label not in AZURE_SEVERITIES:
        errors.append(f"{where}: severity label {label!r} is none of Azure's {', '.join(AZURE_SEVERITIES)}")
    elif bicep.get("severity") != AZURE_SEVERITIES.index(label):
        errors.append(f"{where}: Azure severity {bicep.get('severity')!r}, but the label {label!r} is severity {AZURE_SEVERITIES.index(label)}")
    return errors


def compare(groups: list, want: list[dict]) -> list[str]:
    errors = []
    if len(groups) != len(want):
        errors.append(f"the Bicep deploys {len(groups)} rule group(s), prometheus-rules.yaml has {len(want)}")
    for i, (group, want_group) in enumerate(zip(groups, want)):
        where = f"rule group {i + 1} ({want_group['name']})"
        props = group.get("properties", {}) if isinstance(group, dict) else {}
        scopes, cluster = props.get("scopes"), props.get("clusterName")
        if not isinstance(scopes, list) or len(scopes) != 2 or cluster is None:
            errors.append(f"{where}: not scoped to one cluster: scopes must be [workspace id, cluster id] and clusterName set (got scopes {scopes!r}, clusterName {cluster!r})")
        try:
            expected = max(MIN_INTERVAL, prometheus_seconds(want_group["interval"]) if "interval" in want_group else DEFAULT_INTERVAL)
        except ValueError as e:
            errors.append(f"{where}: interval: {e}")
            expected = None
        interval = iso_seconds(props.get("interval", "PT1M"))
        if expected is not None and expected > MAX_INTERVAL:
            errors.append(f"{where}: the YAML's interval {want_group['interval']} is over Azure's 15 minutes")
        elif interval != expected:
            errors.append(f"{where}: interval {props.get('interval')!r}, but the YAML's {want_group.get('interval', 'default 1m')} makes {expected} s on Azure (1 to 15 minutes)")
        rules = props.get("rules")
        if not isinstance(rules, list):
            errors.append(f"{where}: rules are not a list the check can read: {rules!r}")
            continue
        if len(rules) != len(want_group["rules"]):
            errors.append(f"{where}: {len(rules)} rule(s) in the Bicep, {len(want_group['rules'])} in the YAML")
        for rule, want_rule in zip(rules, want_group["rules"]):
            name = want_rule.get("alert") or want_rule.get("record")
            errors += compare_rule(f"{where}, {'alert' if 'alert' in want_rule else 'record'} {name}", rule, want_rule)
    return errors


def module_deployed(path: Path) -> bool:
    """main.bicep (or the file itself) deploys the module at `path`."""
    if path == MAIN:
        return True
    relative = path.relative_to(MAIN.parent).as_posix()
    for decl in kids(parse(MAIN)):
        if decl.type == "module_declaration":
            source = next(c for c in kids(decl) if c.type == "string")
            if source.text.decode().strip("'") == relative:
                return True
    return False


def main() -> int:
    want = yaml.safe_load(RULES.read_text(encoding="utf-8"))["groups"]
    resources = rule_group_resources()
    if len(resources) != 1:
        print(f"FAILED: {len(resources)} {RESOURCE_TYPE.rstrip('@')} resource declarations under {BICEP.relative_to(REPO)}; expected one (a loop over the groups)")
        return 1
    path, decl = resources[0]
    where = path.relative_to(REPO)
    try:
        groups = deployed_groups(path, decl)
    except BicepError as e:
        print(f"FAILED: {where}: {e}")
        return 1
    errors = compare(groups, want)
    if not module_deployed(path):
        errors.append(f"{MAIN.relative_to(REPO)} does not deploy the module {where}")
    for error in errors:
        print(f"FAILED: {where}: {error}")
    if errors:
        return 1
    counts = [f"{g['name']}: {len(g['rules'])}" for g in want]
    print(f"check_rule_groups: {where} deploys {len(groups)} rule group(s) equal to {RULES.name} ({', '.join(counts)} rules), scoped to one cluster")
    return 0


if __name__ == "__main__":
    sys.exit(main())
