#!/usr/bin/env python3
"""Parses every .bicep file under the given directories with the tree-sitter Bicep grammar and
fails on a syntax error, naming file, line and column. No Bicep compiler (`az bicep build`) can be
installed offline here, so this catches what a parse can: unbalanced braces, a bad decorator, a
malformed expression. Type and API-version checks remain the compiler's (run in the pipeline).
"""

import sys
from pathlib import Path

import tree_sitter_bicep
from tree_sitter import Language, Parser


def errors(node, found):
    if node.type == "ERROR" or node.is_missing:
        found.append(node)
    for child in node.children:
        errors(child, found)
    return found


def main() -> int:
    parser = Parser(Language(tree_sitter_bicep.language()))
    files = sorted(p for d in sys.argv[1:] for p in Path(d).rglob("*.bicep"))
    if not files:
        print("check_bicep_syntax: no .bicep files")
        return 1
    bad = 0
    for path in files:
        tree = parser.parse(path.read_bytes())
        found = errors(tree.root_node, [])
        for node in found[:5]:
            line, col = node.start_point
            what = f"missing {node.type}" if node.is_missing else "syntax error"
            print(f"  FAIL {path}:{line + 1}:{col + 1}: {what} near {node.text[:60]!r}")
        bad += bool(found)
    print(f"check_bicep_syntax: {len(files)} file(s), {bad} with syntax errors")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
