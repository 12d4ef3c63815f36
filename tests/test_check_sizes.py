#!/usr/bin/env python3
"""check_sizes.py must fail on what it forbids: on a copy of src/ it
plants a function of 81 lines and a file of 601 lines, and expects each
to fail, and one of 80 lines to pass.
Usage: test_check_sizes.py SOURCE_ROOT
"""
import os
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import planted  # noqa: E402
from planted import expect  # noqa: E402


def run(root):
    return planted.run("check_sizes.py", root)


def function(lines):
    """A C function of exactly `lines` lines, name to closing brace."""
    body = "".join("  x += %d;\n" % i for i in range(lines - 4))
    return "int planted(int x)\n{\n" + body + "  return x;\n}\n"


def main():
    src_root = sys.argv[1] if len(sys.argv) > 1 else "."
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, "src")
        shutil.copytree(os.path.join(src_root, "src"), src)
        rc, out = run(tmp)
        expect(rc == 0, "the tree as it is passes", out)
        planted = os.path.join(src, "target", "planted.c")
        with open(planted, "w", encoding="utf-8") as f:
            f.write(function(80))
        rc, out = run(tmp)
        expect(rc == 0, "a function of 80 lines passes", out)
        with open(planted, "w", encoding="utf-8") as f:
            f.write(function(81))
        rc, out = run(tmp)
        expect(rc == 1 and "planted() has 81 lines" in out,
               "a function of 81 lines fails", out)
        with open(planted, "w", encoding="utf-8") as f:
            f.write("/* filler */\n" * 601)
        rc, out = run(tmp)
        expect(rc == 1 and "target/planted.c: 601 lines" in out,
               "a file of 601 lines fails", out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
