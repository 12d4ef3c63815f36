"""Config files: `beacon egress --config FILE` and `beacon forward --config
FILE`, the command line over the file, and `--check-config`
(docs/OPERATIONS.md "The config file", beacon(1) CONFIG FILE).

Each `def test_<case>(env)` is one CTest case; see harness.py.
"""
import os
import socket
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from backends import Echo  # noqa: E402


def echo_once(port, payload=b"through the files"):
    """Sends payload to 127.0.0.1:port; returns what came back (b"" when
    the connection was refused or closed)."""
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
    except OSError:
        return b""
    got = b""
    try:
        s.sendall(payload)
        while len(got) < len(payload):
            b = s.recv(65536)
            if not b:
                break
            got += b
    except OSError:
        pass
    finally:
        s.close()
    return got


def relay_file(env, port, extra=""):
    return env.relay_config(port,
                            extra="allow-group-readable-key no\n" + extra)


def forward_file(env, relay_addr, lp, target):
    return env.write_config(
        "forward.conf",
        "relay %s\n"
        "config-dir %s\n"
        "local-forward 127.0.0.1:%d:%s\n"
        "timeout 5\r\n"  # CRLF lines are fine
        "log-format json\n" % (relay_addr, env.pki(), lp, target))


@harness.timeout(60)
def test_both_sides_from_files(env):
    """A relay and a forward configured only by their files carry a round
    trip; --check-config accepts both files first."""
    echo = env.use(Echo())
    port, lp = env.free_port(), env.free_port()
    econf = relay_file(env, port)
    fconf = forward_file(env, "127.0.0.1:%d" % port, lp, echo.addr)
    for cmd, conf in (("egress", econf), ("forward", fconf)):
        r = env.beacon(cmd, "--config", conf, "--check-config", timeout=30)
        harness.check_eq(r.returncode, 0, "%s --check-config: %s" %
                         (cmd, r.stderr.decode(errors="replace")))
        harness.check(b"configuration OK" in r.stdout, r.stdout)
    relay = env.start([env.need_bin(), "egress", "--config", econf],
                      name="relay")
    env.wait_listening(relay, port)
    fwd = env.start([env.need_bin(), "forward", "--config", fconf],
                    name="forward")
    env.wait_listening(fwd, lp)
    harness.check_eq(echo_once(lp), b"through the files", "echo")
    # log-format json from the file took effect.
    harness.check(fwd.wait_log(r'^\{.*"listening"', 10), fwd.log_text())


@harness.timeout(60)
def test_command_line_wins(env):
    """An option on the command line replaces the file's: a single value
    (--tunnel-addr), and a repeatable rule list as a whole (--allow on the
    command line drops the file's allow and deny lines, so the relay
    refuses the loopback target it would have allowed)."""
    echo = env.use(Echo())
    file_port, port, lp = env.free_port(), env.free_port(), env.free_port()
    econf = relay_file(env, file_port, "deny 10.0.0.0/8\n")
    relay = env.start([env.need_bin(), "egress", "--config", econf,
                       "--tunnel-addr", "127.0.0.1:%d" % port,
                       "--allow", "192.0.2.0/24"], name="relay")
    env.wait_listening(relay, port)
    harness.check(not relay.listening(file_port),
                  "the file's tunnel-addr was used too")
    fwd = env.start([env.need_bin(), "forward", "--relay",
                     "127.0.0.1:%d" % port, "--config-dir", env.pki(),
                     "-L", "%d:%s" % (lp, echo.addr)], name="forward")
    env.wait_listening(fwd, lp)
    harness.check_eq(echo_once(lp), b"", "loopback target not refused")
    harness.check(relay.wait_log("stream_refused|policy", 10),
                  relay.log_text())


def test_check_config_reports_every_line(env):
    """Every bad line of the file is reported as FILE:LINE: message, and
    the exit code is 3 (a bad file), before anything is checked."""
    conf = env.write_config(
        "bad.conf",
        "# comment\n"
        "tunnel-addr 127.0.0.1:1\n"
        "no-such-option 1\n"
        "--workers 2\n"
        "workers 0\n"
        "deny 300.1.2.3/8\n"
        "allow-group-readable-key maybe\n"
        "dial-timeout\n"
        "config other.conf\n"
        "window-budget 64M\n")
    r = env.beacon("egress", "--config", conf, "--check-config", timeout=30)
    err = r.stderr.decode(errors="replace")
    harness.check_eq(r.returncode, 3, "exit code; stderr:\n" + err)
    lines = [ln for ln in err.splitlines() if ln.startswith(conf + ":")]
    numbers = [int(ln[len(conf) + 1:].split(":", 1)[0]) for ln in lines]
    harness.check_eq(numbers, [3, 4, 5, 6, 7, 8, 9], "reported lines:\n" +
                     err)
    harness.check("unknown option 'no-such-option'" in err, err)
    # Without --check-config the same file stops the relay the same way.
    r = env.beacon("egress", "--config", conf, timeout=30)
    harness.check_eq(r.returncode, 3, "egress with a bad file")
    # A missing file is a bad file too, and says which.
    r = env.beacon("egress", "--config", env.path("none.conf"),
                   "--check-config", timeout=30)
    harness.check_eq(r.returncode, 3, "missing file")
    harness.check(b"none.conf" in r.stderr, r.stderr)


def test_typos_get_a_suggestion(env):
    """A mistyped option name, on the command line or in a file, is
    answered with the closest real one; a name close to nothing gets no
    guess."""
    r = env.beacon("egress", "--tunnel-adr", "127.0.0.1:1", timeout=30)
    err = r.stderr.decode(errors="replace")
    harness.check_eq(r.returncode, 2, "exit code; stderr:\n" + err)
    harness.check("did you mean '--tunnel-addr'?" in err, err)
    conf = env.write_config("typo.conf", "max-tunels 5\nfrobnicate 1\n")
    r = env.beacon("forward", "--config", conf, "--check-config", timeout=30)
    err = r.stderr.decode(errors="replace")
    harness.check_eq(r.returncode, 3, "exit code; stderr:\n" + err)
    r = env.beacon("egress", "--config", conf, "--check-config", timeout=30)
    err = r.stderr.decode(errors="replace")
    harness.check_eq(r.returncode, 3, "exit code; stderr:\n" + err)
    harness.check(conf + ":1: unknown option 'max-tunels' (did you mean "
                  "'max-tunnels'?)" in err, err)
    harness.check(conf + ":2: unknown option 'frobnicate'\n" in err, err)


def test_bad_addresses_name_the_line(env):
    """An address of the wrong form in a file is a bad file (FILE:LINE,
    exit 3) like any other bad value, on both sides."""
    conf = env.write_config("addr-egress.conf", "tunnel-addr nonsense\n")
    r = env.beacon("egress", "--config", conf, "--check-config", timeout=30)
    err = r.stderr.decode(errors="replace")
    harness.check_eq(r.returncode, 3, "exit code; stderr:\n" + err)
    harness.check(err.startswith(conf + ":1: tunnel-addr 'nonsense': "
                                 "expected"), err)
    conf = env.write_config(
        "addr-forward.conf",
        "relay 127.0.0.1:1\n"
        "local-forward 27390:127.0.0.1\n"
        "socks host:port:extra\n")
    r = env.beacon("forward", "--config", conf, "--check-config", timeout=30)
    err = r.stderr.decode(errors="replace")
    harness.check_eq(r.returncode, 3, "exit code; stderr:\n" + err)
    harness.check(conf + ":2: local-forward '27390:127.0.0.1': expected "
                  "[BIND:]PORT:HOST:PORT" in err, err)
    harness.check(conf + ":3: socks 'host:port:extra': expected" in err, err)


def test_check_config_binds_nothing(env):
    """--check-config passes while something else holds the configured
    ports (it binds nothing), and fails on the files the options name: a
    missing certificate directory, a key readable by others, a front end
    that is not an address."""
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen(1)
    env.add_cleanup(busy.close)
    port = busy.getsockname()[1]
    econf = relay_file(env, port)
    r = env.beacon("egress", "--config", econf, "--check-config", timeout=30)
    harness.check_eq(r.returncode, 0, r.stderr.decode(errors="replace"))
    r = env.beacon("egress", "--config", econf, timeout=30)
    harness.check_eq(r.returncode, 1, "a busy port stops the real start")

    r = env.beacon("egress", "--config", econf, "--config-dir",
                   env.path("nowhere"), "--check-config", timeout=30)
    harness.check_eq(r.returncode, 3, "missing certificates")
    harness.check(b"nowhere" in r.stderr, r.stderr)

    d = env.config_dir("open-key", {
        n: os.path.join(env.pki(), n)
        for n in ("relay.crt", "relay.key", "fleet-ca.crt")})
    os.chmod(os.path.join(d, "relay.key"), 0o644)
    r = env.beacon("egress", "--config", econf, "--config-dir", d,
                   "--check-config", timeout=30)
    harness.check_eq(r.returncode, 3, "a world-readable key")

    fconf = forward_file(env, "127.0.0.1:%d" % port, port, "db:5432")
    r = env.beacon("forward", "--config", fconf, "--check-config",
                   timeout=30)
    harness.check_eq(r.returncode, 0, "forward check with busy ports: " +
                     r.stderr.decode(errors="replace"))
    r = env.beacon("forward", "--config", fconf, "--socks", "nohost:",
                   "--check-config", timeout=30)
    harness.check_eq(r.returncode, 2, "a bad --socks address")
    r = env.beacon("forward", "--config", fconf, "--ca",
                   env.path("missing-ca.crt"), "--check-config", timeout=30)
    harness.check_eq(r.returncode, 3, "a missing CA")


def test_connect_check_config(env):
    """`beacon connect --check-config` behaves as forward's: the same
    verdicts and messages on the same files, --config FILE read, a bad
    TARGET a usage error, and nothing dialled (a listener at --relay sees
    no connection)."""
    watch = socket.socket()
    watch.bind(("127.0.0.1", 0))
    watch.listen(8)
    watch.setblocking(False)
    env.add_cleanup(watch.close)
    relay = "127.0.0.1:%d" % watch.getsockname()[1]
    pki = env.pki()

    def both(*args):
        """connect's and forward's result on the same arguments."""
        c = env.beacon("connect", "--relay", relay, *args, "--check-config",
                       timeout=30)
        f = env.beacon("forward", "--relay", relay, "-L", "127.0.0.1:1:db:5",
                       *args, "--check-config", timeout=30)
        return c, f

    def same(args, code, what):
        c, f = both(*args)
        cerr = c.stderr.decode(errors="replace")
        ferr = f.stderr.decode(errors="replace")
        harness.check_eq(c.returncode, code, "%s: connect; stderr:\n%s" %
                         (what, cerr))
        harness.check_eq(f.returncode, code, "%s: forward; stderr:\n%s" %
                         (what, ferr))
        harness.check_eq(cerr.replace("beacon connect", "beacon X"),
                         ferr.replace("beacon forward", "beacon X"),
                         what + ": connect and forward say the same")
        return c

    c = same(("--config-dir", pki), 0, "good files")
    harness.check_eq(c.stdout, b"beacon connect: configuration OK\n",
                     "stdout")
    crt, key = env.issue("srvonly", usage="server", san="localhost")
    c = same(("--config-dir", pki, "--cert", crt, "--key", key), 3,
             "a serverAuth-only certificate")
    harness.check(crt.encode() in c.stderr and
                  b"not for client authentication" in c.stderr, c.stderr)
    same(("--config-dir", env.path("nowhere")), 3, "no files")
    same(("--config-dir", pki, "--crl", env.path("no-crl.pem")), 3,
         "a missing --crl")

    # TARGET, or HOST PORT, is checked when given; a bad one is a usage
    # error and a good one changes nothing.
    for target in (["node-7:22"], ["::1", "22"]):
        r = env.beacon("connect", "--relay", relay, "--config-dir", pki,
                       "--check-config", *target, timeout=30)
        harness.check_eq(r.returncode, 0, "%r: %s" % (target, r.stderr))
    r = env.beacon("connect", "--relay", relay, "--config-dir", pki,
                   "--check-config", "no-port", timeout=30)
    harness.check_eq(r.returncode, 2, "a TARGET without a port")
    harness.check(b"no-port" in r.stderr, r.stderr)

    # The options can come from a file, the command line winning.
    conf = env.write_config("connect.conf", "relay %s\nconfig-dir %s\n"
                            "timeout 5\n" % (relay, env.path("nowhere")))
    r = env.beacon("connect", "--config", conf, "--config-dir", pki,
                   "--check-config", "node-7:22", timeout=30)
    harness.check_eq(r.returncode, 0, r.stderr.decode(errors="replace"))
    r = env.beacon("connect", "--config", conf, "--check-config",
                   timeout=30)
    harness.check_eq(r.returncode, 3, "the file's config-dir")

    try:
        conn, peer = watch.accept()
        conn.close()
        harness.check(False, "--check-config dialled the relay from %r" %
                      (peer,))
    except BlockingIOError:
        pass


if __name__ == "__main__":
    harness.main()
