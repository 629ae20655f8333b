#!/usr/bin/env python3
"""Fails when the top-level modules of any of our crates import each other in a loop.

For each crate (a directory with a Cargo.toml and src/), every `crate::NAME` path in a module's
code (comments and test modules skipped) is an edge from that module's top-level module to
NAME. A cycle in that graph is printed and makes the check fail. jepsen-lite's own test
(`jepsen-lite/tests/module_graph.rs`) checks its nested modules too.
"""
import pathlib
import re
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
TEST_FILE = re.compile(r"(^|/)(tests?|test_support|[a-z_]+_tests)(\.rs|/)")


def tracked_rust_files():
    out = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "*.rs"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    ).stdout
    return [ROOT / line for line in out.splitlines()]


def strip(code):
    code = re.sub(r"/\*.*?\*/", "", code, flags=re.S)
    code = re.sub(r"//[^\n]*", "", code)
    # Drop inline test modules: `#[cfg(test)] mod x { ... }` to the end of the file is the
    # usual layout; anything after a `#[cfg(test)]` is test code.
    return code.split("#[cfg(test)]")[0]


def crate_graphs():
    crates = {}
    for path in tracked_rust_files():
        rel = path.relative_to(ROOT).as_posix()
        parts = rel.split("/")
        if "src" not in parts or rel.startswith("fuzz/"):
            continue
        src = parts.index("src")
        crate = "/".join(parts[:src])
        inner = parts[src + 1:]
        if inner[0] == "bin" or TEST_FILE.search("/".join(inner)):
            continue
        top = inner[0].removesuffix(".rs")
        if top in ("lib", "main"):
            continue
        graph = crates.setdefault(crate, {})
        edges = graph.setdefault(top, set())
        for name in re.findall(r"\bcrate::([a-z_][a-z0-9_]*)", strip(path.read_text())):
            if name != top:
                edges.add(name)
    return crates


def cycles(graph):
    found, state, stack = [], {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in graph:
                continue
            if state.get(nxt) == "open":
                found.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node)
    return found


def main():
    bad = 0
    for crate, graph in sorted(crate_graphs().items()):
        for cycle in cycles(graph):
            print(f"{crate}: modules import each other: {' -> '.join(cycle)}")
            bad += 1
    if bad:
        print(f"check-module-cycles: {bad} cycle(s)", file=sys.stderr)
        return 1
    print("check-module-cycles: no crate's top-level modules import each other in a loop")
    return 0


if __name__ == "__main__":
    sys.exit(main())
