#!/usr/bin/env python3
"""Checks the sizes of src/ (docs/ARCHITECTURE.md "Requirements"): no
file over MAX_FILE_LINES lines, no function over MAX_FUNCTION_LINES,
counted from its name to its closing brace. Functions are found as
check_calls.py finds them (comments, strings and directives blanked).
Files being split elsewhere are listed in KNOWN with their reason; the
check names them on every run and fails once one is back within the
limits, so that the list only shrinks.
Usage: check_sizes.py SOURCE_ROOT
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import check_calls  # noqa: E402
import check_includes  # noqa: E402

MAX_FILE_LINES = 600
MAX_FUNCTION_LINES = 80
# Files allowed over the limits for now, each with its reason (none).
KNOWN = {}


def function_lengths(text):
    """[(name, lines from the line of its name to its closing brace)]."""
    blanked = check_calls.blank(text)
    out = []
    pos = 0
    for name, _, body in check_calls.definitions(blanked):
        at = blanked.index(body, pos)
        head = blanked.rfind(name, 0, at)
        out.append((name, blanked.count("\n", head, at + len(body)) + 1))
        pos = at + len(body)
    return out


def check(src):
    problems, known_seen = [], set()
    for rel, text in check_includes.source_files(src):
        found = []
        lines = text.count("\n")
        if lines > MAX_FILE_LINES:
            found.append("%s: %d lines (at most %d)"
                         % (rel, lines, MAX_FILE_LINES))
        for fn, n in function_lengths(text):
            if n > MAX_FUNCTION_LINES:
                found.append("%s: %s() has %d lines (at most %d)"
                             % (rel, fn, n, MAX_FUNCTION_LINES))
        if rel in KNOWN:
            known_seen.add(rel)
            for p in found:
                print("known (%s): %s" % (KNOWN[rel], p))
            if not found:
                problems.append("%s is within the limits now: remove it "
                                "from KNOWN in check_sizes.py" % rel)
            continue
        problems += found
    for rel in sorted(set(KNOWN) - known_seen):
        problems.append("%s is gone: remove it from KNOWN in check_sizes.py"
                        % rel)
    return problems


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else "."
    problems = check(os.path.join(root, "src"))
    for p in problems:
        print(p)
    if problems:
        return 1
    print("sizes: no file over %d lines, no function over %d"
          % (MAX_FILE_LINES, MAX_FUNCTION_LINES))
    return 0


if __name__ == "__main__":
    sys.exit(main())
