"""The operator walk-throughs of docs/OPERATIONS.md run as written: the
one ```sh block under a heading, with `sh -e` in an empty directory and
the build's beacon on the PATH. Shared by the test files whose sections
they are; standard library only."""

import os
import shlex
import signal
import subprocess
import sys

import harness
from test_ops import LO_UP, need_tool, sh_blocks


def _killpg(pgid):
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def run_walkthrough(env, heading, own_netns=True, timeout=120):
    """Runs the sh block under heading; returns (stdout, stderr) once it
    exited 0. With own_netns it runs in a network namespace of its own
    (the blocks use fixed ports); a case that already has one (a private
    resolver) passes own_netns=False."""
    blocks = sh_blocks(os.path.join(env.src_dir, "docs", "OPERATIONS.md"),
                       heading)
    harness.check_eq(len(blocks), 1, "sh blocks under %r" % heading)
    work = env.path("walk")
    os.makedirs(work)
    script = env.path("walk.sh")
    with open(script, "w") as f:
        f.write(blocks[0])
    argv = ["sh", "-e", script]
    if own_netns:
        unshare = need_tool("unshare")
        probe = env.run([unshare, "-rn", "true"], timeout=20)
        if probe.returncode != 0:
            harness.skip("cannot make a network namespace: %s" %
                         probe.stderr.decode(errors="replace").strip())
        inner = "%s -c %s && exec sh -e %s" % (
            shlex.quote(sys.executable), shlex.quote(LO_UP),
            shlex.quote(script))
        argv = [unshare, "-rn", "sh", "-c", inner]
    path = os.path.dirname(env.need_bin()) + os.pathsep + \
        os.environ.get("PATH", "")
    p = subprocess.Popen(argv, cwd=work, env=dict(os.environ, PATH=path),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         start_new_session=True)
    env.add_cleanup(lambda: _killpg(p.pid))
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _killpg(p.pid)
        out, err = p.communicate()
        raise harness.Failure("the walk-through did not finish in %d s:\n%s"
                              % (timeout, err.decode(errors="replace")))
    out, err = out.decode(errors="replace"), err.decode(errors="replace")
    harness.check_eq(p.returncode, 0, "exit code; stderr:\n" + err)
    return out, err
