#!/usr/bin/env python3
"""Checks the include graph of src/ (docs/ARCHITECTURE.md "Layers").

Every `#include "dir/file.h"` line is an edge from the including file's
concept to the included one; a concept is a file name without its
extension (relay/relay_tunnel.c and relay/relay_tunnel.h are one). Fails when
  - the concepts of one folder include each other in a circle,
  - a folder includes a header of a folder in a higher layer, or
  - the shared types header (NAME_int.h) of a folder declares a
    function that is not static inline: each file's
    functions belong in that file's own header, where an include shows
    the dependency (a header declaring every file's functions would hide
    any circle), or
  - a folder in NARROW includes a header of a listed folder that is not
    one of the narrow headers that folder offers it (the beacon command
    reaches into libbeacon only through calls made for it, never
    through client_int.h).
Usage: check_includes.py SOURCE_ROOT
"""
import os
import re
import sys

# Higher numbers are higher layers; an include may go sideways or down.
LAYERS = {
    "cli": 4, "cli_support": 3, "proxy": 3,
    "relay": 3, "client": 3,
    "conn": 2, "dial": 2,
    "mux": 1, "tls": 1, "target": 1, "policy": 1,
    "metrics": 2,
    "common": 0, "log": 0, "beacon": 0,
}
NARROW = {
    "cli": {"client": ("client/client_stream.h", "client/client_pool.h")},
}
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)
# A declaration at the start of a line: a return type, a name, "(".
FUNCTION = re.compile(r"^(?!static\b|typedef\b|#|\s)[A-Za-z_][\w \*]*?\b(\w+)\(",
                      re.M)


def concept(path):
    """'relay/relay_tunnel.c' -> ('relay', 'relay/relay_tunnel')."""
    folder = path.split("/")[0]
    return folder, os.path.splitext(path)[0]


def source_files(src):
    """("folder/name.c" or .h, its text) for each source file under src,
    in a stable order (check_sizes.py reads them the same way)."""
    for folder in sorted(os.listdir(src)):
        d = os.path.join(src, folder)
        if not os.path.isdir(d):
            continue
        for name in sorted(os.listdir(d)):
            if not name.endswith((".c", ".h")):
                continue
            with open(os.path.join(d, name), encoding="utf-8") as f:
                yield folder + "/" + name, f.read()


def graph(src):
    edges = {}
    for rel, text in source_files(src):
        _, node = concept(rel)
        deps = edges.setdefault(node, set())
        for inc in INCLUDE.findall(text):
            _, dep = concept(inc)
            if dep != node:
                deps.add(dep)
    return edges


def cycles(edges):
    """Each circle inside one folder, as a list of concepts."""
    found, state, stack = [], {}, []

    def visit(n):
        state[n] = 1
        stack.append(n)
        for m in sorted(edges.get(n, ())):
            if m.split("/")[0] != n.split("/")[0] or m not in edges:
                continue
            if state.get(m) == 1:
                found.append(stack[stack.index(m):] + [m])
            elif m not in state:
                visit(m)
        stack.pop()
        state[n] = 2

    for n in sorted(edges):
        if n not in state:
            visit(n)
    return found


def upward(edges):
    bad = []
    for n, deps in sorted(edges.items()):
        here = n.split("/")[0]
        for m in sorted(deps):
            there = m.split("/")[0]
            if there in LAYERS and LAYERS.get(here, 0) < LAYERS[there]:
                bad.append((n, m))
    return bad


def narrow_includes(src):
    bad = []
    for folder, allowed in sorted(NARROW.items()):
        d = os.path.join(src, folder)
        for name in sorted(os.listdir(d)):
            if not name.endswith((".c", ".h")):
                continue
            with open(os.path.join(d, name), encoding="utf-8") as f:
                text = f.read()
            for inc in INCLUDE.findall(text):
                there = inc.split("/")[0]
                if there in allowed and inc not in allowed[there]:
                    bad.append("%s/%s includes %s; %s/ may include only %s"
                               % (folder, name, inc, folder,
                                  ", ".join(allowed[there])))
    return bad


def int_header_functions(src):
    bad = []
    for folder in sorted(os.listdir(src)):
        d = os.path.join(src, folder)
        if not os.path.isdir(d):
            continue
        for name in sorted(os.listdir(d)):
            if not name.endswith("_int.h"):
                continue
            with open(os.path.join(d, name), encoding="utf-8") as f:
                for fn in FUNCTION.findall(f.read()):
                    bad.append("%s/%s declares %s()" % (folder, name, fn))
    return bad


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else "."
    edges = graph(os.path.join(root, "src"))
    unknown = sorted({n.split("/")[0] for n in edges} - set(LAYERS))
    problems = ["folder %s/ has no layer in check_includes.py" % u
                for u in unknown]
    problems += ["cycle: " + " -> ".join(c) for c in cycles(edges)]
    problems += ["upward include: %s -> %s" % (a, b) for a, b in upward(edges)]
    problems += narrow_includes(os.path.join(root, "src"))
    problems += int_header_functions(os.path.join(root, "src"))
    for p in problems:
        print(p)
    if problems:
        return 1
    print("include graph: %d concepts, no cycles, no upward includes"
          % len(edges))
    return 0


if __name__ == "__main__":
    sys.exit(main())
