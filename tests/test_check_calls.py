#!/usr/bin/env python3
"""check_calls.py must fail on what it forbids, not only pass on src/:
on a copy of src/ it plants an upward call, a file with no place in the
order, and a known upward call that is gone, and expects each to fail.
Usage: test_check_calls.py SOURCE_ROOT
"""
import os
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import planted  # noqa: E402
from planted import expect  # noqa: E402


def run(root):
    return planted.run("check_calls.py", root)


def main():
    src_root = sys.argv[1] if len(sys.argv) > 1 else "."
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, "src")
        shutil.copytree(os.path.join(src_root, "src"), src)
        rc, out = run(tmp)
        expect(rc == 0, "the tree as it is passes", out)

        # table.c is below session.c: a call to mux_free() goes up. The
        # comment and the string must not count as calls.
        table = os.path.join(src, "mux", "table.c")
        with open(table, encoding="utf-8") as f:
            kept = f.read()
        with open(table, "a", encoding="utf-8") as f:
            f.write('\n/* mux_new() */\nvoid planted(mux_t *m)\n{\n'
                    '  const char *s = "mux_tick(";\n  (void)s;\n'
                    '  mux_free(m);\n}\n')
        rc, out = run(tmp)
        expect(rc == 1 and "upward call: mux/table planted() -> "
               "mux/session mux_free()" in out,
               "a planted upward call fails", out)
        expect("mux_new" not in out and "mux_tick" not in out,
               "comments and strings are not calls", out)
        with open(table, "w", encoding="utf-8") as f:
            f.write(kept)

        # A call through a function pointer member is not a call by name.
        with open(table, "a", encoding="utf-8") as f:
            f.write('\nvoid planted(mux_t *m)\n{\n'
                    '  m->cb.mux_free(m);\n}\n')
        rc, out = run(tmp)
        expect(rc == 0, "a call through a pointer member passes", out)
        with open(table, "w", encoding="utf-8") as f:
            f.write(kept)

        # A new file that defines a function needs a place in the order.
        with open(os.path.join(src, "mux", "planted.c"), "w",
                  encoding="utf-8") as f:
            f.write("int mux_planted(void)\n{\n  return 0;\n}\n")
        rc, out = run(tmp)
        expect(rc == 1 and "mux/planted has no place" in out,
               "a file outside the order fails", out)
        os.remove(os.path.join(src, "mux", "planted.c"))

        # A known upward call that was fixed must leave the list (checked
        # while the list holds one; it is empty once all are fixed).
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        import check_calls
        for caller, _, _, callee in sorted(check_calls.KNOWN)[:1]:
            path = os.path.join(src, caller + ".c")
            with open(path, encoding="utf-8") as f:
                text = f.read()
            with open(path, "w", encoding="utf-8") as f:
                f.write(text.replace(callee + "(", "planted_hook("))
            rc, out = run(tmp)
            expect(rc == 1 and "listed as known but gone" in out,
                   "a fixed known call must be removed from the list", out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
