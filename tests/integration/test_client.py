"""libbeacon and `beacon connect` against real `beacon egress` relays.

The library cases run examples/client_stress (a small C program on the
public API, built by examples/CMakeLists.txt). Every relay is the beacon
relay (`beacon egress`).
"""

import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time

import harness
from backends import Echo, ResetLater


def start_relay(env, **kw):
    # only IPv4 loopback: every backend here is on 127.0.0.1
    return env.start_relay(extra_args=["--allow", "127.0.0.0/8"],
                           allow_loopback=False, **kw)


def stress_bin(env):
    p = os.path.join(env.build_dir, "examples", "client_stress")
    if not os.path.exists(p):
        harness.skip("client_stress not built (examples/)")
    return p


def stress(env, mode, relays, target, *nm, timeout=60):
    chain = ",".join(r if isinstance(r, str) else r.addr for r in relays)
    r = env.run([stress_bin(env), mode, chain, env.pki(), target] +
                [str(x) for x in nm], timeout=timeout)
    return r.returncode, r.stdout.decode()


def connect(env, relays, target, data=b"", timeout=30):
    argv = [env.need_bin(), "connect", "--config-dir", env.pki(),
            "--timeout", "3"]
    for r in relays:
        argv += ["--relay", r if isinstance(r, str) else r.addr]
    return env.run(argv + [target], input=data, timeout=timeout)


def test_many_threads(env):
    relay = start_relay(env, workers=2)
    echo = env.use(Echo())
    rc, out = stress(env, "echo", [relay], echo.addr, 32, 25)
    harness.check(rc == 0 and out.startswith("ok 800"), out)
    # all 800 streams went through one tunnel
    harness.check_eq(len(re.findall(r"tunnel_up", relay.log_text())), 1,
                     "tunnels")


def test_relay_restart_between_dials(env):
    relay = start_relay(env)
    echo = env.use(Echo())
    p = env.start([stress_bin(env), "loop", relay.addr, env.pki(),
                   echo.addr, "40", "100"], name="loop")
    harness.eventually(lambda: "dial 5 ok" in p.out_text(), timeout=20)
    relay.kill()
    time.sleep(0.5)
    start_relay(env, port=relay.port, name="relay2")
    harness.check_eq(p.wait(timeout=60), 0, "loop exit")
    lines = p.out_text().splitlines()
    harness.check_eq(len(lines), 40, p.out_text())
    last = [l for l in lines[-10:] if " ok " not in l]
    harness.check(not last, "dials after the restart failed: %r" % last)
    slow = [l for l in lines if int(l.split()[-1]) > 7000]
    harness.check(not slow, "a dial took too long: %r" % slow)


def test_reset_is_econnreset(env):
    relay = start_relay(env)
    # the target accepts, then resets: the relay resets the stream
    rst = env.use(ResetLater(0.3))
    rc, out = stress(env, "reset", [relay], rst.addr)
    harness.check(rc == 0 and out.strip() == "reset", out)


def test_refused_target_fails_the_dial(env):
    """A beacon relay acknowledges a stream only once its target is
    connected (connect results), so a refused target fails beacon_dial
    itself with EREFUSED instead of handing out a descriptor that resets
    later."""
    relay = start_relay(env)
    port = env.free_port()  # nothing listens
    rc, out = stress(env, "dialerr", [relay], "127.0.0.1:%d" % port)
    harness.check(rc == 0 and "EREFUSED" in out and "could not connect" in out,
                  out)


@harness.slow
@harness.timeout(120)
def test_keepalive_detects_stopped_relay(env):
    relay = start_relay(env)
    echo = env.use(Echo())
    p = env.start([stress_bin(env), "hold", relay.addr, env.pki(),
                   echo.addr], name="hold")
    harness.eventually(lambda: "held" in p.out_text(), timeout=20)
    relay.send_signal(signal.SIGSTOP)
    env.add_cleanup(lambda: relay.send_signal(signal.SIGCONT))
    harness.check_eq(p.wait(timeout=60), 0, "hold exit")
    m = re.search(r"broken (\S+) ([\d.]+)", p.out_text())
    harness.check(m, p.out_text())
    harness.check_eq(m.group(1), "ECONNRESET", p.out_text())
    harness.check(float(m.group(2)) <= 32.0, p.out_text())


def chain_case(env, n):
    relays = [start_relay(env, name="relay%d" % i) for i in range(n)]
    echo = env.use(Echo())
    payload = harness.random_bytes(3 * 1024 * 1024, seed=n)
    r = connect(env, relays, echo.addr, payload, timeout=60)
    harness.check_eq(r.returncode, 0, r.stderr)
    harness.check(r.stdout == payload, "payload mismatch (%d bytes back)"
                  % len(r.stdout))
    # each relay's log names only its neighbours: the next hop (or the
    # target for the last one), never a hop further away
    for i, rel in enumerate(relays):
        log = rel.log_text()
        want = relays[i + 1].addr if i + 1 < n else echo.addr
        harness.check("target=%s" % want in log, "relay%d log" % i)
        others = [x.addr for j, x in enumerate(relays) if j > i + 1]
        if i + 1 < n:
            others.append(echo.addr)
        for o in others:
            harness.check("target=%s" % o not in log,
                          "relay%d saw %s" % (i, o))


def test_chain_two_hops(env):
    chain_case(env, 2)


def test_chain_three_hops(env):
    chain_case(env, 3)


def test_chain_wrong_name_names_the_hop(env):
    pki = env.pki()
    crt, key = env.issue("badrelay", cn="badrelay", usage="server",
                         san="DNS:wrong.example")
    bad_dir = env.config_dir("baddir", {
        "relay.crt": crt, "relay.key": key,
        "fleet-ca.crt": os.path.join(pki, "fleet-ca.crt")})
    good = start_relay(env, name="good")
    bad = start_relay(env, name="bad", config_dir=bad_dir)
    echo = env.use(Echo())
    r = connect(env, [good, bad], echo.addr, b"x")
    harness.check(r.returncode != 0, "connect succeeded")
    err = r.stderr.decode()
    harness.check(len(err.strip().splitlines()) == 1, err)
    harness.check("hop 2/2" in err and bad.addr in err, err)
    harness.check("does not name the host dialled (it names wrong.example)"
                  in err, err)
    rc, out = stress(env, "dialerr", [good, bad], echo.addr)
    harness.check(rc == 0 and "hop 1 code EVERIFY" in out, out)


def test_chain_inner_hop_says_why(env):
    """An inner hop the hop before cannot reach carries that relay's
    beacon/1 reason: refused (nothing listens there) or policy (its
    --deny), not a guess among them."""
    good = start_relay(env, name="good")
    dead = "127.0.0.1:%d" % env.free_port()
    echo = env.use(Echo())
    r = connect(env, [good, dead], echo.addr, b"x")
    err = r.stderr.decode().strip()
    harness.check(r.returncode == 1 and len(err.splitlines()) == 1, err)
    harness.check("hop 2/2" in err and dead in err, err)
    harness.check("unreachable through relay %s (hop 1/2), which could not "
                  "connect to it: connection refused (refused)" % good.addr
                  in err, err)
    strict = env.start_relay(name="strict", allow_loopback=False)
    r = connect(env, [strict, good], echo.addr, b"x")
    err = r.stderr.decode().strip()
    harness.check(r.returncode == 1 and "hop 2/2" in err and
                  "which could not connect to it: refused by destination "
                  "policy (policy)" in err, err)


def test_connect_errors_one_line(env):
    relay = start_relay(env)
    dead = "127.0.0.1:%d" % env.free_port()
    r = connect(env, [dead], "127.0.0.1:22")
    err = r.stderr.decode().strip()
    harness.check(r.returncode == 1 and len(err.splitlines()) == 1, err)
    harness.check("hop 1/1" in err and "refused" in err, err)
    r = connect(env, [relay], "bad target")
    harness.check_eq(r.returncode, 2, r.stderr)
    r = connect(env, [relay], "127.0.0.1:%d" % env.free_port())
    err = r.stderr.decode().strip()
    harness.check(r.returncode == 1 and len(err.splitlines()) == 1, err)
    harness.check("could not connect" in err and "refused" in err, err)
    # Something that is not TLS where the relay should be: the reason is
    # said once ("TLS handshake failed: wrong version number", not twice).
    with socket.socket() as plain:
        plain.bind(("127.0.0.1", 0))
        plain.listen(4)

        def answer():
            try:
                c, _ = plain.accept()
                with c:
                    c.sendall(b"HTTP/1.1 400 Bad Request\r\n\r\n")
                    c.recv(4096)
            except OSError:
                pass
        threading.Thread(target=answer, daemon=True).start()
        r = connect(env, ["127.0.0.1:%d" % plain.getsockname()[1]],
                    "127.0.0.1:22")
    err = r.stderr.decode().strip()
    harness.check(r.returncode == 1 and len(err.splitlines()) == 1, err)
    harness.check_eq(err.count("TLS handshake failed"), 1, err)
    harness.check("not a beacon relay: it answered like an HTTP server" in
                  err, err)


def test_default_directory_without_root_suggests_config_dir(env):
    """Run as an unprivileged user with the default /etc/beacon, connect
    and egress say where that user's own files should go."""
    if os.geteuid() != 0:
        raise harness.Failure("this test switches users: run it as root")
    # A copy of the binary that the unprivileged user may run, wherever
    # the build directory is.
    bindir = env.path("nobody-bin")
    os.makedirs(bindir)
    os.chmod(env.path(), 0o755)
    os.chmod(bindir, 0o755)
    exe = os.path.join(bindir, "beacon")
    shutil.copy(env.need_bin(), exe)
    os.chmod(exe, 0o755)
    nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
              exe]
    for argv in (["connect", "--relay", "127.0.0.1:1", "127.0.0.1:22"],
                 ["egress", "--check-config"]):
        r = subprocess.run(nobody + argv, capture_output=True, timeout=30)
        err = r.stderr.decode(errors="replace")
        harness.check_eq(r.returncode, 3, "%s: %s" % (argv[0], err))
        harness.check("/etc/beacon" in err and "--config-dir DIR" in err and
                      "~/.config/beacon" in err, err)
    # As root the hint is not given: /etc/beacon is the right place.
    r = env.beacon("egress", "--config-dir", env.path("none"),
                   "--check-config", timeout=30)
    harness.check(b"--config-dir DIR" not in r.stderr, r.stderr)


def test_connect_half_close(env):
    relay = start_relay(env)
    echo = env.use(Echo())
    data = harness.random_bytes(5 * 1024 * 1024, seed=3)
    r = connect(env, [relay], echo.addr, data)
    harness.check_eq(r.returncode, 0, r.stderr)
    harness.check(r.stdout == data, "echo mismatch")


def test_relay_name_happy_eyeballs(env):
    """A relay name with two addresses, the first of which never answers
    (its listen queue is full, so SYNs are dropped): libbeacon tries the
    second 250 ms later (Happy Eyeballs) instead of waiting out the
    connect timeout. The name comes from an /etc/hosts of the test's own,
    bound in a private mount namespace."""
    unshare = harness.unshare_for_private_hosts(env)
    # the same port on both addresses: a black hole on ::1, the relay on
    # 127.0.0.1
    for _ in range(20):
        port = env.free_port()
        hole = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        try:
            hole.bind(("::1", port))
            break
        except OSError:
            hole.close()
    else:
        harness.skip("no port free on both ::1 and 127.0.0.1")
    hole.listen(0)
    fillers = []
    try:
        for _ in range(4):  # fill the accept queue; later SYNs are dropped
            f = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
            f.setblocking(False)
            try:
                f.connect(("::1", port))
            except BlockingIOError:
                pass
            fillers.append(f)
        time.sleep(0.2)
        relay = env.start_relay(port=port, extra_args=[
            "--allow", "127.0.0.0/8"], allow_loopback=False)
        echo = env.use(Echo())
        hosts = env.path("hosts")
        with open(hosts, "w") as f:
            f.write("::1 localhost\n127.0.0.1 localhost\n")
        inner = ("mount --bind %s /etc/hosts && exec %s connect --relay "
                 "localhost:%d --config-dir %s --timeout 5 %s" %
                 (hosts, env.need_bin(), port, env.pki(), echo.addr))
        t0 = time.monotonic()
        r = env.run([unshare, "-m", "--propagation", "private", "sh", "-c",
                     inner], input=b"ping", timeout=30)
        took = time.monotonic() - t0
        harness.check_eq(r.returncode, 0, r.stderr)
        harness.check_eq(r.stdout, b"ping", "echo through the second address")
        harness.check(took < 4, "took %.1f s: no fallback before the "
                      "5 s timeout" % took)
        harness.check(relay.alive(), "relay died")
    finally:
        for f in fillers:
            f.close()
        hole.close()


def test_connect_host_port_form(env):
    """`beacon connect HOST PORT` (as `nc %h %p`): one ProxyCommand line
    for names, IPv4 and IPv6 literals."""
    relay = env.start_relay(extra_args=["--allow", "127.0.0.0/8", "--allow",
                                        "::1/128"], allow_loopback=False)
    for host in ("127.0.0.1", "::1"):
        echo = env.use(Echo(host=host))
        argv = [env.need_bin(), "connect", "--config-dir", env.pki(),
                "--timeout", "3", "--relay", relay.addr, host,
                str(echo.port)]
        r = env.run(argv, input=b"hello " + host.encode())
        harness.check_eq(r.returncode, 0, r.stderr)
        harness.check_eq(r.stdout, b"hello " + host.encode(), "echo")
    r = env.run([env.need_bin(), "connect", "--relay", relay.addr, "a", "b",
                 "c"])
    harness.check_eq(r.returncode, 2, r.stderr)


def test_connect_sighup_ends_cleanly(env):
    """OpenSSH sends its ProxyCommand SIGHUP at the end of a session:
    beacon connect ends the stream with FIN and exits 0, and the relay
    logs a normal end, not a reset."""
    relay = start_relay(env)
    echo = env.use(Echo())
    p = subprocess.Popen([env.need_bin(), "connect", "--config-dir",
                          env.pki(), "--relay", relay.addr, echo.addr],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    try:
        p.stdin.write(b"hello\n")
        p.stdin.flush()
        harness.check_eq(p.stdout.read(6), b"hello\n", "echo")
        p.send_signal(signal.SIGHUP)
        rc = p.wait(10)
        harness.check_eq(rc, 0, p.stderr.read())
        harness.check(relay.wait_log("outcome=ok", 10), relay.log_text())
        harness.check("outcome=reset" not in relay.log_text(),
                      relay.log_text())
    finally:
        if p.poll() is None:
            p.kill()
            p.wait(10)
        for f in (p.stdin, p.stdout, p.stderr):
            f.close()


def test_forward_sighup_rotates_identity(env):
    """beacon forward follows its certificate, key and CA on disk: after a
    rotation to a new CA (a new relay too), new tunnels work without a
    restart or a signal, and a SIGHUP still rereads them."""
    import shutil
    old_pki, new_pki = env.pki(), env.path("pki-new")
    harness.check_eq(env.run([env.need_bin(), "pki", "init",
                              new_pki]).returncode, 0, "pki init")
    mine = env.path("forward-identity")
    os.makedirs(mine)

    def use(pki):
        for f in ("controller.crt", "controller.key", "fleet-ca.crt"):
            shutil.copy(os.path.join(pki, f), os.path.join(mine, f + ".tmp"))
            os.replace(os.path.join(mine, f + ".tmp"), os.path.join(mine, f))
            os.chmod(os.path.join(mine, f), 0o600)

    use(old_pki)
    echo = env.use(Echo())
    relay = start_relay(env)
    lp = env.free_port()
    fwd = env.start([env.need_bin(), "forward", "--relay", relay.addr,
                     "--config-dir", mine, "--timeout", "3",
                     "-L", "%d:%s" % (lp, echo.addr)], name="forward")
    env.wait_listening(fwd, lp)

    def works():
        try:
            s = socket.create_connection(("127.0.0.1", lp), timeout=5)
            s.sendall(b"x")
            ok = harness.recv_exact(s, 1) == b"x"
            s.close()
            return ok
        except OSError:
            return False

    harness.check(works(), "echo with the first identity")
    # the fleet moves to a new CA: a new relay on the same port
    port = relay.port
    relay.stop()
    use(new_pki)
    relay = env.start_relay(port=port, config_dir=new_pki,
                            extra_args=["--allow", "127.0.0.0/8"],
                            allow_loopback=False)
    # The files changed on disk: the next tunnel is made with them,
    # without a signal (renewal: client/rotation.c).
    harness.check(works(), "echo with the identity now on disk")
    harness.check(fwd.wait_log(r"changed on disk", 10), fwd.log_text())
    fwd.popen.send_signal(signal.SIGHUP)
    harness.check(fwd.wait_log(r"\breload\b", 10), fwd.log_text())
    harness.check(works(), "echo after SIGHUP")
    harness.check(fwd.alive(), "forward exited on SIGHUP")


def test_own_certificate_out_of_date(env):
    """A controller whose own certificate has expired or is not valid yet
    says so, naming the file, instead of relaying a TLS alert that does
    not say whose certificate it was."""
    relay = start_relay(env)
    for name, nb, days, want in (("expired", -30, -1, "expired on"),
                                 ("future", 2, 30, "not valid before")):
        crt, key = env.issue("ctl-" + name, cn="ctl", usage="client",
                             not_before_days=nb, days=days)
        d = env.config_dir("ctl-" + name, {
            "controller.crt": crt, "controller.key": key,
            "fleet-ca.crt": os.path.join(env.pki(), "fleet-ca.crt")})
        r = env.run([env.need_bin(), "connect", "--relay", relay.addr,
                     "--config-dir", d, "--timeout", "3", "127.0.0.1:9"],
                    input=b"")
        err = r.stderr.decode()
        harness.check(r.returncode == 1 and want in err and
                      "controller.crt" in err and
                      "own certificate" in err, err)
    # no tunnel reached the relay's handshake
    harness.check("handshake_failed" not in relay.log_text(),
                  relay.log_text())


def test_dial_example_reports_refusal(env):
    """examples/dial.c: an echo comes back, and a refused target is an
    error (exit 1, one line) rather than an empty answer."""
    p = os.path.join(env.build_dir, "examples", "beacon_dial_example")
    if not os.path.exists(p):
        harness.skip("examples not built")
    relay = start_relay(env)
    echo = env.use(Echo())
    r = env.run([p, relay.addr, env.pki(), echo.addr, "hi there"])
    harness.check_eq(r.returncode, 0, r.stderr)
    harness.check_eq(r.stdout, b"hi there\n", "echo")
    r = env.run([p, relay.addr, env.pki(), "127.0.0.1:%d" % env.free_port()])
    err = r.stderr.decode()
    harness.check(r.returncode == 1 and "refused" in err, err)


def test_connect_stdio_files_and_sockets(env):
    """stdin/stdout that the loop pumps itself (pipes, a socket both ways)
    and that it cannot (regular files, through the loopback pair) carry
    the same bytes."""
    relay = start_relay(env)
    echo = env.use(Echo())
    data = harness.random_bytes(3 * 1024 * 1024, seed=5)
    argv = [env.need_bin(), "connect", "--config-dir", env.pki(),
            "--timeout", "3", "--relay", relay.addr, echo.addr]
    src = os.path.join(env.tmp, "in.bin")
    dst = os.path.join(env.tmp, "out.bin")
    with open(src, "wb") as f:
        f.write(data)
    with open(src, "rb") as fin, open(dst, "wb") as fout:
        r = subprocess.run(argv, stdin=fin, stdout=fout,
                           stderr=subprocess.PIPE, timeout=60)
    harness.check_eq(r.returncode, 0, r.stderr)
    with open(dst, "rb") as f:
        harness.check(f.read() == data, "file stdio: echo mismatch")
    # one socket as stdin and stdout, as a parent holding a socketpair
    mine, theirs = socket.socketpair()
    p = subprocess.Popen(argv, stdin=theirs, stdout=theirs,
                         stderr=subprocess.PIPE)
    theirs.close()
    try:
        mine.sendall(data)
        mine.shutdown(socket.SHUT_WR)
        mine.settimeout(30)
        got = bytearray()
        while True:
            b = mine.recv(1 << 16)
            if not b:
                break
            got += b
        harness.check(bytes(got) == data, "socket stdio: echo mismatch")
        harness.check_eq(p.wait(30), 0, p.stderr.read())
    finally:
        if p.poll() is None:
            p.kill()
            p.wait(10)
        p.stderr.close()
        mine.close()


# ---- beacon forward: SIGTERM drains live connections -----------------------

def start_forward(env, relay, target, drain=None):
    port = env.free_port()
    argv = [env.need_bin(), "forward", "--relay", relay.addr,
            "--config-dir", env.pki(), "-L", "%d:%s" % (port, target)]
    if drain is not None:
        argv += ["--drain-timeout", str(drain)]
    fwd = env.start(argv, name="forward")
    env.wait_listening(fwd, port)
    return fwd, port


def echo_conn(port, data):
    """A connection through the forward that already echoed data once."""
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(data)
    harness.check_eq(harness.recv_exact(s, len(data)), data, "first echo")
    return s


def refused(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    except ConnectionRefusedError:
        return True
    return False


def test_forward_drain_lets_connections_finish(env):
    relay = start_relay(env)
    echo = env.use(Echo())
    fwd, port = start_forward(env, relay, echo.addr, drain=20)
    a = echo_conn(port, b"one")
    b = echo_conn(port, b"two")
    t0 = time.monotonic()
    fwd.send_signal(signal.SIGTERM)
    fwd.wait_log(r"draining.*connections=2")
    # no new connections, the live ones still carry data both ways
    harness.check(refused(port), "forward still accepts while draining")
    payload = harness.random_bytes(256 * 1024, seed=11)
    a.sendall(payload)
    harness.check(harness.recv_exact(a, len(payload)) == payload,
                  "echo in drain")
    a.shutdown(socket.SHUT_WR)
    harness.check_eq(a.recv(1), b"", "EOF after half-close")
    a.close()
    time.sleep(0.3)
    harness.check(fwd.alive(), "forward exited with a connection open")
    b.sendall(b"last")
    harness.check_eq(harness.recv_exact(b, 4), b"last", "second connection")
    b.close()
    harness.check_eq(fwd.wait(timeout=10), 0, "forward exit code")
    harness.check(time.monotonic() - t0 < 10, "drain waited too long")
    log = fwd.log_text()
    harness.check("drained" in log and "drain_timeout" not in log, log)
    # both connections were logged as finished normally
    harness.check_eq(len(re.findall(r"conn_done.*outcome=ok", log)), 2, log)


def test_forward_drain_timeout_cuts(env):
    relay = start_relay(env)
    echo = env.use(Echo())
    fwd, port = start_forward(env, relay, echo.addr, drain=1)
    s = echo_conn(port, b"idle")
    t0 = time.monotonic()
    fwd.send_signal(signal.SIGTERM)
    harness.check_eq(fwd.wait(timeout=10), 0, "forward exit code")
    took = time.monotonic() - t0
    harness.check(0.9 <= took < 5, "drain took %.2fs" % took)
    harness.check("drain_timeout" in fwd.log_text(), fwd.log_text())
    # the cut connection ends (EOF or reset), it does not hang
    s.settimeout(5)
    try:
        harness.check_eq(s.recv(1), b"", "data after the cut")
    except ConnectionResetError:
        pass
    s.close()


def test_forward_second_signal_ends_drain(env):
    relay = start_relay(env)
    echo = env.use(Echo())
    fwd, port = start_forward(env, relay, echo.addr)  # default 30 s
    s = echo_conn(port, b"x")
    fwd.send_signal(signal.SIGTERM)
    fwd.wait_log(r"draining.*timeout=30")
    t0 = time.monotonic()
    fwd.send_signal(signal.SIGINT)
    harness.check_eq(fwd.wait(timeout=10), 0, "forward exit code")
    harness.check(time.monotonic() - t0 < 3, "second signal was ignored")
    harness.check("drain_cut" in fwd.log_text(), fwd.log_text())
    s.close()


def test_forward_idle_exits_at_once(env):
    relay = start_relay(env)
    fwd, port = start_forward(env, relay, "127.0.0.1:9")
    t0 = time.monotonic()
    fwd.send_signal(signal.SIGTERM)
    harness.check_eq(fwd.wait(timeout=10), 0, "forward exit code")
    harness.check(time.monotonic() - t0 < 3, "idle forward lingered")
    harness.check("drained" in fwd.log_text(), fwd.log_text())


def recv_all(s):
    b = b""
    while True:
        c = s.recv(65536)
        if not c:
            return b
        b += c


def test_forward_front_end_refusals(env):
    """What the real front ends answer to requests they refuse."""
    relay = start_relay(env)
    sp, hp = env.free_port(), env.free_port()
    fwd = env.start([env.need_bin(), "forward", "--relay", relay.addr,
                     "--config-dir", env.pki(), "--socks", str(sp),
                     "--http-connect", str(hp)], name="forward")
    env.wait_listening(fwd, sp)
    env.wait_listening(fwd, hp)
    # HTTP: an origin-form request (not a proxy request) -> 405 with
    # Allow, then close
    s = socket.create_connection(("127.0.0.1", hp), timeout=10)
    s.sendall(b"GET / HTTP/1.1\r\nHost: a.example\r\n\r\n")
    r = recv_all(s)
    s.close()
    harness.check(r.startswith(b"HTTP/1.1 405 Method Not Allowed\r\n"), r)
    harness.check(b"\r\nAllow: CONNECT\r\n" in r, r)

    # a header over 8 KiB -> 431
    s = socket.create_connection(("127.0.0.1", hp), timeout=10)
    s.sendall(b"CONNECT a.example:443 HTTP/1.1\r\nX: " + b"x" * 9000)
    r = recv_all(s)
    s.close()
    harness.check(r.startswith(
        b"HTTP/1.1 431 Request Header Fields Too Large\r\n"), r)
    # SOCKS: greeting and BIND in one write -> both replies, exact bytes
    s = socket.create_connection(("127.0.0.1", sp), timeout=10)
    s.sendall(b"\x05\x01\x00\x05\x02\x00\x01\x7f\x00\x00\x01\x00\x16")
    r = recv_all(s)
    s.close()
    harness.check_eq(r, b"\x05\x00\x05\x07\x00\x01" + b"\x00" * 6,
                     "SOCKS BIND reply")
    # no relay stream was opened for any of them
    harness.check("stream_open" not in relay.log_text() and
                  "target=" not in relay.log_text(), relay.log_text())
    # An absolute http:// URI is forwarded (a stream to its origin): a
    # dead origin -> 502 naming it.
    dead = env.free_port()
    s = socket.create_connection(("127.0.0.1", hp), timeout=10)
    s.sendall(b"GET http://127.0.0.1:%d/ HTTP/1.1\r\n\r\n" % dead)
    r = recv_all(s)
    s.close()
    harness.check(r.startswith(b"HTTP/1.1 502 Bad Gateway\r\n") and
                  b"127.0.0.1:%d" % dead in r, r)
    harness.check(fwd.alive(), "forward died")


def socks_connect(port, host, dport):
    """SOCKS5 greeting + CONNECT to an IPv4 literal; returns (reply code,
    seconds it took, the socket)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    t0 = time.monotonic()
    s.sendall(b"\x05\x01\x00\x05\x01\x00\x01" + socket.inet_aton(host) +
              dport.to_bytes(2, "big"))
    r = b""
    while len(r) < 12:
        c = s.recv(12 - len(r))
        if not c:
            break
        r += c
    harness.check(len(r) == 12 and r[:2] == b"\x05\x00", r)
    return r[3], time.monotonic() - t0, s


def test_forward_connect_results(env):
    """Against a beacon relay (ALPN beacon/1) the front ends answer with
    what really happened to the target, at once: no connect grace."""
    relay = env.start_relay(extra_args=["--allow", "127.0.0.1/32", "--deny",
                                        "0.0.0.0/0", "--deny", "::/0"],
                            allow_loopback=False)
    echo = env.use(Echo())
    closed = env.free_port()
    sp, hp = env.free_port(), env.free_port()
    # a grace this long would show in every answer below if it applied
    fwd = env.start([env.need_bin(), "forward", "--relay", relay.addr,
                     "--config-dir", env.pki(), "--socks", str(sp),
                     "--http-connect", str(hp), "--connect-grace", "5"],
                    name="forward")
    env.wait_listening(fwd, sp)
    env.wait_listening(fwd, hp)
    code, took, s = socks_connect(sp, "127.0.0.1", closed)
    s.close()
    harness.check(code == 5 and took < 2.5, (code, took))  # refused
    code, took, s = socks_connect(sp, "127.0.0.2", 80)
    s.close()
    harness.check(code == 2 and took < 2.5, (code, took))  # policy
    code, took, s = socks_connect(sp, "127.0.0.1", echo.port)
    harness.check(code == 0 and took < 2.5, (code, took))
    s.sendall(b"ping")
    harness.check_eq(harness.recv_exact(s, 4), b"ping", "echo through SOCKS")
    s.close()
    for target, want in (("127.0.0.1:%d" % closed, b" 502 "),
                         ("127.0.0.2:80", b" 403 ")):
        s = socket.create_connection(("127.0.0.1", hp), timeout=10)
        t0 = time.monotonic()
        s.sendall(b"CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n" %
                  (target.encode(), target.encode()))
        r = recv_all(s)
        s.close()
        harness.check(want in r.split(b"\r\n")[0], r)
        harness.check(time.monotonic() - t0 < 2.5, "HTTP answer waited")
    harness.check(fwd.alive(), "forward died")


def test_help_lists_every_flag(env):
    # every long option of the option table (src/cli/client_opts.c)
    # appears in the --help of the commands that accept it
    src = os.path.join(env.src_dir, "src", "cli", "client_opts.c")
    with open(src) as f:
        text = f.read()
    longs = re.findall(r'\.name = "([a-z-]+)"', text)
    harness.check(len(longs) >= 10, longs)
    fwd_only = {"socks", "http-connect", "log-level", "log-format",
                "connect-grace", "max-conns", "drain-timeout",
                "metrics-addr", "local-forward", "pool-size"}
    for cmd in ("connect", "forward"):
        r = env.beacon(cmd, "--help", check=True)
        out = r.stdout.decode()
        for opt in longs:
            if cmd == "connect" and opt in fwd_only:
                continue
            if opt in ("cert", "key", "ca"):
                harness.check("--cert/--key/--ca" in out, out)
                continue
            harness.check("--" + opt in out, "%s --help lacks --%s"
                          % (cmd, opt))
    r = env.beacon("forward", "--help", check=True)
    harness.check("-L [BIND:]PORT:HOST:PORT" in r.stdout.decode(), "-L")
    # and connect refuses the forward-only flags
    r = env.beacon("connect", "--relay", "127.0.0.1:1", "--socks", "1080",
                   "a:1")
    harness.check_eq(r.returncode, 2, r.stderr)


if __name__ == "__main__":
    harness.main()
