"""Reloading `beacon egress` (docs/OPERATIONS.md "Reloading"): SIGHUP reads
the config file and the command line again and applies them at once, or
nothing of them when they are invalid; what needs a restart keeps its
running value with a warning, and --check-config lists it.

Each `def test_<case>(env)` is one CTest case; see harness.py.
"""
import os
import signal
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from backends import Echo  # noqa: E402


def relay_conf(env, port, rules="", extra="", level="debug"):
    """The relay's egress.conf (harness.Env.relay_config), with a
    --running-config file for --check-config to compare against."""
    return env.relay_config(
        port, rules=rules, level=level,
        extra="running-config %s\n%s" % (env.path("egress.running"), extra))


def start_relay(env, conf, port):
    relay = env.start([env.need_bin(), "egress", "--config", conf],
                      name="relay")
    env.wait_listening(relay, port)
    return relay


def start_forward(env, relay_port, target, name="forward"):
    lp = env.free_port()
    fwd = env.start([env.need_bin(), "forward", "--relay",
                     "127.0.0.1:%d" % relay_port, "--config-dir", env.pki(),
                     "-L", "127.0.0.1:%d:%s" % (lp, target)], name=name)
    env.wait_listening(fwd, lp)
    return lp


def echo_once(port, payload=b"a new stream"):
    """A new connection through the forward (a new stream): what came
    back, b"" when the stream was refused."""
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


def round_trip(sock, payload):
    sock.sendall(payload)
    return harness.recv_exact(sock, len(payload))


def reload(relay, start=None):
    """SIGHUP, then waits for the reload's verdict line; returns it."""
    start = len(relay.log_text()) if start is None else start
    relay.send_signal(signal.SIGHUP)
    return relay.wait_log(r"^\S+ \w+ reload(_failed)? .*$", timeout=10,
                          start=start).group(0)


@harness.timeout(90)
def test_deny_added_by_reload(env):
    """A deny rule added to the file and SIGHUP: the next stream to that
    target is refused within 1 s of the signal, while a stream opened
    before keeps flowing both ways; removing the rule again lets new
    streams through."""
    echo = env.use(Echo())
    port = env.free_port()
    conf = relay_conf(env, port)
    relay = start_relay(env, conf, port)
    lp = start_forward(env, port, echo.addr)
    harness.check_eq(echo_once(lp), b"a new stream", "before the reload")
    live = socket.create_connection(("127.0.0.1", lp), timeout=10)
    env.add_cleanup(live.close)
    harness.check_eq(round_trip(live, b"first"), b"first", "live stream")

    relay_conf(env, port, rules="deny 127.0.0.1/32:%d\n" % echo.port)
    mark = len(relay.log_text())
    sent = time.monotonic()
    relay.send_signal(signal.SIGHUP)
    refused_after = None
    while time.monotonic() - sent < 5:
        if echo_once(lp) == b"":
            refused_after = time.monotonic() - sent
            break
        time.sleep(0.01)
    harness.check(refused_after is not None, "the deny never applied:\n" +
                  relay.log_text()[mark:])
    harness.check(refused_after < 1.0, "the deny applied after %.2f s" %
                  refused_after)
    relay.wait_log(r"^\S+ info reload .*applied=", timeout=5, start=mark)
    relay.wait_log(r"deny 127\.0\.0\.1/32:%d" % echo.port, timeout=5,
                   start=mark)
    # The stream opened before keeps the verdict it got.
    for i in range(3):
        payload = b"still flowing %d" % i
        harness.check_eq(round_trip(live, payload), payload,
                         "live stream after the reload")
    harness.check_eq(echo_once(lp), b"", "a second new stream")

    relay_conf(env, port)
    line = reload(relay)
    harness.check("reload_failed" not in line, line)
    harness.check_eq(echo_once(lp), b"a new stream", "the rule removed")
    live.close()
    sys.stdout.write("deny applied %.3f s after SIGHUP\n" % refused_after)


@harness.timeout(90)
def test_allow_client_by_reload(env):
    """--allow-client in the file, changed and reloaded: a new tunnel of
    the controller is refused once it is no longer named, and accepted
    again once it is."""
    crt = os.path.join(env.pki(), "controller.crt")
    fp = env.beacon("pki", "fingerprint", crt,
                    check=True).stdout.decode().strip()
    echo = env.use(Echo())
    port = env.free_port()
    conf = relay_conf(env, port, extra="allow-client %s\n" % fp)
    relay = start_relay(env, conf, port)
    r = env.tpeer("echo", "--target", echo.addr, "--bytes", "1000",
                  relay="127.0.0.1:%d" % port)
    harness.check(r.get("ok"), "named controller refused: %s" % r)

    relay_conf(env, port, extra="allow-client CN=somebody-else,O=beacon\n")
    reload(relay)
    mark = len(relay.log_text())
    r = env.tpeer("echo", "--target", echo.addr, "--bytes", "1000",
                  relay="127.0.0.1:%d" % port, expect_rc=None)
    harness.check(not r.get("ok"), "unnamed controller let in: %s" % r)
    relay.wait_log("client not allowed by --allow-client", timeout=10,
                   start=mark)

    relay_conf(env, port, extra="allow-client CN=controller,O=beacon\n")
    reload(relay)
    r = env.tpeer("echo", "--target", echo.addr, "--bytes", "1000",
                  relay="127.0.0.1:%d" % port)
    harness.check(r.get("ok"), "named again, still refused: %s" % r)


@harness.timeout(90)
def test_log_level_by_reload(env):
    """log-level in the file, changed and reloaded: at warn a good stream
    logs nothing; at debug the next one logs its stream_done line."""
    echo = env.use(Echo())
    port = env.free_port()
    conf = relay_conf(env, port, level="warn")
    relay = start_relay(env, conf, port)
    lp = start_forward(env, port, echo.addr)
    harness.check_eq(echo_once(lp), b"a new stream", "at warn")
    time.sleep(0.5)  # a stream_done line would be written by now
    harness.check("stream_done" not in relay.log_text(),
                  "stream_done at warn:\n" + relay.log_text())

    relay_conf(env, port, level="debug")
    reload(relay)
    mark = len(relay.log_text())
    harness.check_eq(echo_once(lp), b"a new stream", "at debug")
    relay.wait_log("stream_done", timeout=10, start=mark)


def hanging_target(env):
    """127.0.0.1:PORT whose connects hang: a listener with a full backlog
    (the sockets filling it are closed at cleanup)."""
    lst = socket.socket()
    lst.bind(("127.0.0.1", 0))
    lst.listen(0)
    env.add_cleanup(lst.close)
    for _ in range(8):
        f = socket.socket()
        f.setblocking(False)
        f.connect_ex(lst.getsockname())
        env.add_cleanup(f.close)
    time.sleep(0.2)
    return lst.getsockname()[1]


def closed_within(port, seconds):
    """Opens a stream to port through a forward; the time until the
    forward closed it, or None when it was still open after seconds."""
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    t0 = time.monotonic()
    s.settimeout(seconds)
    try:
        s.recv(1)
        return time.monotonic() - t0
    except socket.timeout:
        return None
    except OSError:
        return time.monotonic() - t0
    finally:
        s.close()


@harness.timeout(90)
def test_dial_timeout_by_reload(env):
    """dial-timeout in the file, lowered and reloaded: a dial to a target
    whose connects hang is still waiting after 2.5 s at 30 s, and given
    up after about 1 s at 1 s."""
    port = env.free_port()
    conf = relay_conf(env, port, extra="dial-timeout 30\n")
    relay = start_relay(env, conf, port)
    lp = start_forward(env, port, "127.0.0.1:%d" % hanging_target(env))
    harness.check_eq(closed_within(lp, 2.5), None, "closed at dial-timeout "
                     "30")
    relay_conf(env, port, extra="dial-timeout 1\n")
    reload(relay)
    mark = len(relay.log_text())
    took = closed_within(lp, 8)
    harness.check(took is not None and took < 5,
                  "dial-timeout 1 not applied (closed after %s s)" % took)
    relay.wait_log("reason=timeout", timeout=5, start=mark)


@harness.timeout(90)
def test_restart_only_option_warns(env):
    """A changed tunnel-addr and workers: the reload applies the rest (a
    new deny rule), keeps the relay on its old address and worker count,
    and logs one warning per option that says a restart is needed.
    --check-config lists the same options against --running-config."""
    echo = env.use(Echo())
    port, other = env.free_port(), env.free_port()
    conf = relay_conf(env, port)
    relay = start_relay(env, conf, port)
    lp = start_forward(env, port, echo.addr)
    running = env.path("egress.running")
    harness.eventually(lambda: os.path.exists(running), timeout=10,
                       msg="no --running-config file")

    r = env.beacon("egress", "--config", conf, "--check-config", timeout=30)
    out = r.stdout.decode(errors="replace")
    harness.check_eq(r.returncode, 0, out + r.stderr.decode())
    harness.check("a reload applies every change" in out, out)

    text = open(conf).read().replace("127.0.0.1:%d" % port,
                                     "127.0.0.1:%d" % other)
    text = text.replace("workers 1\n", "workers 2\n")
    text = text.replace("allow 127.0.0.0/8\n",
                        "deny 127.0.0.1/32:%d\nallow 127.0.0.0/8\n" %
                        echo.port)
    env.write_config("egress.conf", text)
    r = env.beacon("egress", "--config", conf, "--check-config", timeout=30)
    out = r.stdout.decode(errors="replace")
    harness.check_eq(r.returncode, 0, out + r.stderr.decode())
    harness.check("tunnel-addr differs from the running relay's (%s: "
                  "running 127.0.0.1:%d, configured 127.0.0.1:%d)" %
                  (running, port, other) in out, out)
    harness.check("workers differs from the running relay's (%s: running "
                  "1, configured 2)" % running in out, out)
    harness.check("deny" not in out and "log-level" not in out, out)

    mark = len(relay.log_text())
    line = reload(relay)
    harness.check("restart_needed=2" in line, line)
    relay.wait_log(r"reload_needs_restart option=tunnel-addr "
                   r"running=127\.0\.0\.1:%d configured=127\.0\.0\.1:%d "
                   r".*restart is needed" % (port, other), timeout=5,
                   start=mark)
    relay.wait_log(r"reload_needs_restart option=workers running=1 "
                   r"configured=2 .*restart is needed", timeout=5, start=mark)
    harness.check(relay.listening(port), "left its running address")
    harness.check(not relay.listening(other), "bound the new address")
    harness.check_eq(echo_once(lp), b"", "the deny of the same reload")
    # The running file still says the running values.
    with open(running) as f:
        harness.check("tunnel-addr 127.0.0.1:%d\n" % port in f.read(),
                      "running-config rewritten with the new address")


@harness.timeout(90)
def test_broken_config_keeps_old(env):
    """A reload of a file with a bad line, or with a bad value, changes
    nothing and says why (the file and line); the rules of the last good
    configuration stay."""
    echo, other = env.use(Echo()), env.use(Echo())
    port = env.free_port()
    conf = relay_conf(env, port, rules="deny 127.0.0.1/32:%d\n" % other.port)
    relay = start_relay(env, conf, port)
    lp = start_forward(env, port, echo.addr, name="forward-allowed")
    lp_denied = start_forward(env, port, other.addr, name="forward-denied")
    harness.check_eq(echo_once(lp), b"a new stream", "allowed before")
    harness.check_eq(echo_once(lp_denied), b"", "denied before")

    # The deny removed, a deny of the allowed target added, and a typo:
    # none of it may apply.
    relay_conf(env, port, rules="deny 127.0.0.1/32:%d\n" % echo.port,
               extra="deny 300.1.2.3/8\n")
    with open(conf) as f:
        bad = f.read().splitlines().index("deny 300.1.2.3/8") + 1
    line = reload(relay)
    harness.check("reload_failed" in line, line)
    harness.check("egress.conf:%d:" % bad in line, "no FILE:LINE in: " + line)
    harness.check("keeping the previous configuration" in line, line)
    harness.check_eq(echo_once(lp), b"a new stream", "allowed after")
    harness.check_eq(echo_once(lp_denied), b"", "denied after")

    # A value only the relay checks (a memory limit under its floor).
    relay_conf(env, port, extra="memory-limit 1M\n")
    line = reload(relay)
    harness.check("reload_failed" in line and "memory-limit" in line,
                  line)
    harness.check_eq(echo_once(lp_denied), b"", "denied after the second")

    # Fixed: it applies.
    relay_conf(env, port)
    line = reload(relay)
    harness.check("reload_failed" not in line, line)
    harness.check_eq(echo_once(lp_denied), b"a new stream", "fixed file")


if __name__ == "__main__":
    harness.main()
