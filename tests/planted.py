"""What the tests of the source checks share (test_check_calls.py,
test_check_sizes.py): a check run on a copy of src/, and a verdict that
stops at the first miss."""
import os
import subprocess
import sys


def run(check, root):
    """Runs tests/<check> on root; (exit code, its output)."""
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), check)
    p = subprocess.run([sys.executable, path, root], capture_output=True,
                       text=True, timeout=60)
    return p.returncode, p.stdout + p.stderr


def expect(cond, what, out):
    if not cond:
        print("FAIL: %s\n%s" % (what, out))
        sys.exit(1)
    print("ok: " + what)
