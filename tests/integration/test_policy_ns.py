#!/usr/bin/env python3
"""The destination policy's default classes through a real relay, in a
network namespace of the test's own (docs/OPERATIONS.md "Destination
policy", docs/SECURITY.md).

Each case re-runs itself under `unshare -rn`: a new user and network
namespace with `lo` and one bridge without ports, `pb0`, that stands for
the relay's interface (192.0.2.10/24, broadcast 192.0.2.255, and
2001:db8::10). No packet can leave that namespace, even when the policy
under test is wrong. Echo servers listen on every address, on the ports the
example policies allow (22, 8444) and on a free one, so a target the
policy wrongly lets through connects and shows up as `outcome=ok`.

The expected verdicts come from a small model of the classes written here
with the ipaddress module, not from the relay's code, and the policies
under test are read from the examples in docs/OPERATIONS.md, so the docs,
the relay and this test cannot drift apart unnoticed.
"""
import ipaddress
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time

import harness
from backends import Echo
from test_client import socks_connect
from test_faults import close_session, session

INSIDE = "BEACON_POLICY_NS_INSIDE"
OWN4, BCAST4, OWN6 = "192.0.2.10", "192.0.2.255", "2001:db8::10"

# The classes, most specific first (a model of src/policy/class.c).
CLASSES = [
    ("metadata", ["169.254.169.254/32", "100.100.100.200/32",
                  "fd00:ec2::254/128"]),
    ("broadcast", ["255.255.255.255/32", BCAST4 + "/32"]),
    ("unspecified", ["0.0.0.0/8", "::/128"]),
    ("loopback", ["127.0.0.0/8", "::1/128"]),
    ("link_local", ["169.254.0.0/16", "fe80::/10"]),
    ("multicast", ["224.0.0.0/4", "ff00::/8"]),
    ("own_address", [OWN4 + "/32", OWN6 + "/128"]),
]

# Targets in every class, by plain and embedded spellings, each opened on
# every echo port. (Short and integer IPv4 forms and names are the target
# parser's and resolver's business: test_hostile.py covers them.)
TARGETS = [
    "127.0.0.1", "127.0.0.2", "[::1]", "[::ffff:127.0.0.1]", "0.0.0.0",
    "[::]", "169.254.1.1", "[fe80::1]", "169.254.169.254",
    "[::ffff:169.254.169.254]", "[fd00:ec2::254]", "100.100.100.200",
    "224.0.0.1", "[ff02::1]", "255.255.255.255", BCAST4, OWN4,
    "[%s]" % OWN6, "[::ffff:%s]" % OWN4,
    # NAT64 (both prefixes), 6to4, IPv4-compatible, Teredo (client
    # 127.0.0.1, inverted)
    "[64:ff9b::7f00:1]", "[64:ff9b:1::a9fe:a9fe]", "[64:ff9b::c000:20a]",
    "[2002:7f00:1::]", "[2002:c000:20a::1]", "[::127.0.0.1]",
    "[2001:0:4136:e378:8000:63bf:80ff:fffe]",
]


def nat64_v4(a):
    """The IPv4 address a NAT64 (64:ff9b::/96, 64:ff9b:1::/48) or
    IPv4-compatible (::a.b.c.d but :: and ::1) address embeds."""
    n = int(a)
    if n >> 32 == 0x64ff9b << 64 or n >> 80 == 0x64ff9b0001 or \
            (n >> 32 == 0 and n > 1):
        return ipaddress.IPv4Address(n & 0xffffffff)
    return None


def embedded(a):
    """The IPv4 address inside an IPv6 one, as the relay judges it."""
    if a.version == 4:
        return None
    v4 = nat64_v4(a)
    if v4:
        return v4
    if a.sixtofour:
        return a.sixtofour
    if a.teredo:
        return a.teredo[1]
    return None


def parse_target(t):
    """'[::1]' / '127.0.0.1' -> ipaddress object."""
    return ipaddress.ip_address(t[1:-1] if t.startswith("[") else t)


def parse_rule(rule):
    """(network, lo, hi) of an --allow/--deny rule; None for 'private'."""
    if rule == "private":
        return None
    m = re.match(r"^\[([^\]]+)\](?::(\d+)(?:-(\d+))?)?$", rule) or \
        re.match(r"^([^:]+)(?::(\d+)(?:-(\d+))?)?$", rule) or \
        re.match(r"^([0-9a-fA-F:./]+)()()$", rule)
    net = ipaddress.ip_network(m.group(1))
    lo = int(m.group(2)) if m.group(2) else 0
    hi = int(m.group(3)) if m.group(3) else (lo if m.group(2) else 65535)
    return net, lo, hi


def rules_of(argv):
    out = []
    for flag, rule in zip(argv[::2], argv[1::2]):
        if flag in ("--allow", "--deny"):
            out.append((flag == "--allow", parse_rule(rule)))
    return out


def class_verdict(rules, addr, port):
    """The class that refuses addr:port under rules, or None (the model
    of docs/OPERATIONS.md: a class holds unless an --allow that matches
    names a range inside it)."""
    def lifted(a, cls_net):
        for allow, r in rules:
            if not allow or r is None:
                continue
            net, lo, hi = r
            if net.version == a.version and a in net and lo <= port <= hi \
                    and net.subnet_of(cls_net):
                return True
        return False

    def judge(a):
        for name, nets in CLASSES:
            for n in map(ipaddress.ip_network, nets):
                if n.version == a.version and a in n and not lifted(a, n):
                    return name
        return None
    if addr.version == 6 and addr.ipv4_mapped:
        addr = addr.ipv4_mapped
    c = judge(addr)
    if c:
        return c
    v4 = embedded(addr)
    if v4:
        c = judge(v4)
        return c and c + " (embedded IPv4)"
    return None


def doc_examples(env):
    """The example policies of docs/OPERATIONS.md "Destination policy"."""
    with open(os.path.join(env.src_dir, "docs", "OPERATIONS.md")) as f:
        text = f.read()
    sec = text.split("### Destination policy", 1)[1].split("\n### ", 1)[0]
    blocks = re.findall(r"```sh\n(.*?)```", sec, re.S)
    harness.check(blocks, "no example block in 'Destination policy'")
    out = []
    for line in blocks[-1].splitlines():
        line = line.split("#", 1)[0].strip()
        if line.startswith("--"):
            out.append(shlex.split(line))
    harness.check(len(out) >= 3, "examples: %r" % out)
    return out


# ---- the namespace ----------------------------------------------------------

def in_namespace(env, case):
    """Runs this case again inside a new user+net namespace; returns True
    when the caller is already inside."""
    if os.environ.get(INSIDE) == "1":
        return True
    unshare, ip = shutil.which("unshare"), shutil.which("ip")
    if not unshare or not ip:
        harness.skip("needs unshare(1) and ip(8)")
    probe = env.run([unshare, "-rn", ip, "link", "add", "pb0", "type",
                     "bridge"], timeout=20)
    if probe.returncode:
        harness.skip("cannot make a network namespace with a bridge: %s"
                     % probe.stderr.decode(errors="replace").strip())
    setup = ("set -e; ip link set lo up; ip link add pb0 type bridge; "
             "ip addr add %s/24 brd %s dev pb0; ip link set pb0 up; "
             "ip -6 addr add %s/64 dev pb0 nodad; exec \"$@\""
             % (OWN4, BCAST4, OWN6))
    e = dict(os.environ, **{INSIDE: "1"})
    p = subprocess.Popen([unshare, "-rn", "sh", "-c", setup, "sh",
                          sys.executable, os.path.abspath(__file__), case],
                         env=e, start_new_session=True)
    env.add_cleanup(lambda: p.poll() is None and os.killpg(p.pid, 9))
    try:
        rc = p.wait(timeout=400)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, 9)
        p.wait()
        raise harness.Failure("the namespaced run took over 400 s")
    if rc == harness.SKIP_CODE:
        harness.skip("skipped inside the namespace")
    harness.check_eq(rc, 0, "the namespaced run failed (its output above)")
    return False


class DualEcho(Echo):
    """Echo on every IPv4 and IPv6 address of one port."""

    def __init__(self, port=0):
        super().__init__(host="::", port=port)


def stream_results(relay, start):
    """{target: (outcome, reason)} of the stream_done lines since start."""
    out = {}
    for line in relay.log_text()[start:].splitlines():
        try:
            j = json.loads(line)
        except ValueError:
            continue
        if j.get("event") == "stream_done" or j.get("msg") == "stream_done":
            out[j.get("target")] = (j.get("outcome"), j.get("reason", ""))
    return out


def run_policy(env, argv, ports, name):
    """Opens every target on every port through one tunnel of a relay
    with policy argv; checks each verdict against the model."""
    rules = rules_of(argv)
    relay = env.start_relay(list(argv) + ["--log-format", "json"],
                            allow_loopback=False, name=name)
    relay.wait_log(r"own_addresses", timeout=10)
    s = session(env, relay.port)
    want = {}
    streams = []
    for port in ports:
        for t in TARGETS:
            target = "%s:%d" % (t, port)
            want[target] = class_verdict(rules, parse_target(t), port)
            streams.append((target, s.open(target, b"ping")))
    for target, st in streams:
        if want[target]:
            harness.check(st.wait_reset(20), "%s under %s: not reset"
                          % (target, " ".join(argv)))
    # Streams a policy let through end with the tunnel.
    close_session(s)
    deadline = time.monotonic() + 30
    while True:
        got = stream_results(relay, 0)
        if all(t in got for t in want) or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    bad = []
    for target, cls in sorted(want.items()):
        outcome, reason = got.get(target, (None, None))
        if cls:
            if outcome != "refused" or reason != "policy: " + cls:
                bad.append("%s: want refused 'policy: %s', got %s %r"
                           % (target, cls, outcome, reason))
        elif reason and re.match(r"policy: [a-z_]+( \(|$)", reason):
            bad.append("%s: lifted, yet %s %r" % (target, outcome, reason))
    harness.check(not bad, "under %s:\n  %s" % (" ".join(argv),
                                                "\n  ".join(bad)))
    relay.stop()
    return got


@harness.timeout(400)
def test_default_classes_hold(env):
    """Every default class, in every spelling (mapped, NAT64, 6to4,
    Teredo, IPv4-compatible), the relay's own addresses and the directed
    broadcast of its interface included, is refused with its class as the
    reason under each example policy of docs/OPERATIONS.md and under
    --allow 0.0.0.0/0 --allow ::/0, on the ports those policies allow; a
    target a policy lifts is not refused by its class."""
    if not in_namespace(env, "default_classes_hold"):
        return
    echoes = []
    for port in (22, 8444, 0):
        echoes.append(env.use(DualEcho(port)))
    ports = [e.port for e in echoes]
    policies = doc_examples(env) + [
        ["--allow", "0.0.0.0/0", "--allow", "::/0"],
        ["--allow", "0.0.0.0/0:22", "--allow", "[::/0]:22"],
    ]
    for i, argv in enumerate(policies):
        run_policy(env, argv, ports, "relay-%d" % i)


@harness.timeout(200)
def test_lifted_range_reaches_echo(env):
    """Only a rule naming a range inside a class lifts it, for that
    range: --allow 127.0.0.1:PORT and --allow 192.0.2.10:PORT reach a
    local echo server through the tunnel; the same addresses on another
    port, 127.0.0.2 and the IPv6 own address stay refused by class, and
    a beacon/1 controller is told result 5 (policy)."""
    if not in_namespace(env, "lifted_range_reaches_echo"):
        return
    echo = env.use(DualEcho())
    other = env.use(DualEcho())
    p = echo.port
    argv = ["--allow", "127.0.0.1:%d" % p, "--allow", "%s/32:%d" % (OWN4, p),
            "--deny", "0.0.0.0/0", "--deny", "::/0", "--log-format", "json"]
    relay = env.start_relay(argv, allow_loopback=False)
    relay.wait_log(r"own_addresses", timeout=10)
    s = session(env, relay.port)
    for host in ("127.0.0.1", OWN4, "[::ffff:%s]" % OWN4):
        st = s.open("%s:%d" % (host, p), b"hello " + host.encode())
        harness.check_eq(st.read(len(b"hello " + host.encode()), timeout=10),
                         b"hello " + host.encode(), "echo via %s" % host)
    refused = {"127.0.0.1:%d" % other.port: "loopback",
               "127.0.0.2:%d" % p: "loopback",
               "%s:%d" % (OWN4, other.port): "own_address",
               "[%s]:%d" % (OWN6, p): "own_address",
               "%s:%d" % (BCAST4, p): "broadcast"}
    for t in refused:
        harness.check(s.open(t, b"x").wait_reset(20), "%s not reset" % t)
    harness.eventually(lambda: all(t in stream_results(relay, 0)
                                   for t in refused), timeout=20,
                       msg="stream_done lines missing")
    got = stream_results(relay, 0)
    for t, cls in refused.items():
        harness.check_eq(got[t], ("refused", "policy: " + cls), t)
    close_session(s)
    # A beacon/1 controller hears connect result 5 (policy): beacon
    # forward turns it into SOCKS reply 2, and a lifted range into 0.
    sp = env.free_port()
    fwd = env.start([env.need_bin(), "forward", "--relay", relay.addr,
                     "--config-dir", env.pki(), "--socks", str(sp)],
                    name="forward")
    env.wait_listening(fwd, sp)
    for host, port, want in (("127.0.0.1", p, 0),
                             ("127.0.0.1", other.port, 2),
                             ("169.254.169.254", 80, 2),
                             (OWN4, other.port, 2), (BCAST4, p, 2),
                             ("224.0.0.1", p, 2)):
        code, _, sock = socks_connect(sp, host, port)
        sock.close()
        harness.check_eq(code, want, "SOCKS reply for %s:%d" % (host, port))


@harness.timeout(200)
def test_own_addresses_follow_changes(env):
    """An address added to the relay's interface is refused as
    own_address once the kernel announces it (rtnetlink), without a
    reload; one removed is no longer; SIGHUP rereads them too. A free
    port with no listener stands for the target: a refused stream is
    reset by the policy, an allowed one by the connection refusal."""
    if not in_namespace(env, "own_addresses_follow_changes"):
        return
    ip = shutil.which("ip")
    port = env.free_port()
    relay = env.start_relay(["--log-format", "json"], allow_loopback=False)
    relay.wait_log(r"own_addresses", timeout=10)
    s = session(env, relay.port)

    def verdict(host):
        start = len(relay.log_text())
        target = "%s:%d" % (host, port)
        harness.check(s.open(target, b"x").wait_reset(20),
                      "%s not reset" % target)
        got = {}
        harness.eventually(
            lambda: got.update(stream_results(relay, start)) or target in got,
            timeout=20, msg="no stream_done for %s" % target)
        return got[target]

    new4, new6 = "192.0.2.20", "2001:db8::20"
    harness.check_eq(verdict(new4)[0], "dial_error", "before the change")
    for cmd in (["addr", "add", new4 + "/32", "dev", "pb0"],
                ["-6", "addr", "add", new6 + "/128", "dev", "pb0",
                 "nodad"]):
        r = env.run([ip] + cmd, timeout=20)
        harness.check_eq(r.returncode, 0, "ip %s" % " ".join(cmd))
    # Each address is its own netlink announcement, and the relay may
    # read them in two turns: each is waited for.
    harness.eventually(lambda: verdict(new4) == ("refused",
                                                 "policy: own_address"),
                       timeout=10, msg="new address not refused")
    harness.eventually(lambda: verdict("[%s]" % new6) ==
                       ("refused", "policy: own_address"),
                       timeout=10, msg="new IPv6 address not refused")
    r = env.run([ip, "addr", "del", new4 + "/32", "dev", "pb0"],
                timeout=20)
    harness.check_eq(r.returncode, 0, "ip addr del")
    harness.eventually(lambda: verdict(new4)[0] == "dial_error",
                       timeout=10, msg="removed address still refused")
    # SIGHUP rereads the set and logs the change (netlink saw it first
    # here, so the reload finds the set unchanged: count stays)
    relay.send_signal(signal.SIGHUP)
    relay.wait_log(r'"event":"reload"', timeout=10)
    harness.check_eq(verdict("[%s]" % new6),
                     ("refused", "policy: own_address"), "after SIGHUP")
    close_session(s)


if __name__ == "__main__":
    harness.main()
