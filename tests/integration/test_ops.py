"""Operating beacon: installation, the man page against every --help, the
systemd units, the enrolment flow, metrics scrapes and readiness
notification (docs/OPERATIONS.md describes what these check).

Each `def test_<case>(env)` is one CTest case; see harness.py. Cases that
need a tool this machine lacks (systemd-analyze, strace, man, openssl,
curl) skip loudly. The metrics and sd_notify cases skip until the relay
(and forward) offer them: `--metrics-addr` in their --help, and
NOTIFY_SOCKET handling linked into the binary.
"""
import grp
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from backends import Echo  # noqa: E402

SUBCOMMANDS = ("egress", "connect", "forward", "gen-csr", "pki", "version")


# ---- helpers ----------------------------------------------------------------

def need_tool(name):
    path = shutil.which(name)
    if not path:
        harness.skip("%s is not installed" % name)
    return path


def src(env, *parts):
    return os.path.join(env.src_dir, *parts)


def cache_var(env, name):
    """A variable of the build's CMakeCache.txt (None when absent)."""
    try:
        with open(os.path.join(env.build_dir, "CMakeCache.txt")) as f:
            for line in f:
                m = re.match(r"%s:[A-Z]+=(.*)$" % re.escape(name), line)
                if m:
                    return m.group(1).strip()
    except OSError:
        pass
    return None


def stage_install(env, prefix="/usr"):
    """`cmake --install BUILD --prefix PREFIX` with DESTDIR=<tmp>/stage,
    what `make install DESTDIR=... PREFIX=...` runs. Returns (stage root,
    libdir relative to the prefix)."""
    cmake = need_tool("cmake")
    stage = env.path("stage")
    r = env.run([cmake, "--install", env.build_dir, "--prefix", prefix],
                env={"DESTDIR": stage}, timeout=120)
    harness.check(r.returncode == 0, "cmake --install failed:\n%s%s" %
                  (r.stdout.decode(errors="replace"),
                   r.stderr.decode(errors="replace")))
    libdir = cache_var(env, "CMAKE_INSTALL_LIBDIR") or "lib"
    return stage, libdir


def help_text(env, *cmd):
    r = env.beacon(*cmd, "--help", timeout=20)
    harness.check_eq(r.returncode, 0, "beacon %s --help exit code" %
                     " ".join(cmd))
    out = r.stdout.decode()
    harness.check(out.strip(), "beacon %s --help printed nothing on stdout"
                  % " ".join(cmd))
    return out


def help_flags(text):
    flags = set(re.findall(r"(?<![\w-])(--[a-z][a-z0-9-]*)", text))
    # Short options only where options are listed (not "ssh -o ..." in
    # an example).
    flags |= set(re.findall(r"^\s+(-[A-Za-z])\b", text, re.M))
    flags.discard("--help")
    flags.discard("-h")
    return flags


def man_sections(path):
    """{".SS name": set of flags} from the roff source of the man page."""
    sections = {}
    cur = None
    with open(path) as f:
        for line in f:
            m = re.match(r'\.SS\s+"?([^"\n]+)"?', line)
            if m:
                cur = m.group(1).replace("\\-", "-").strip()
                sections[cur] = set()
                continue
            if line.startswith(".SH"):
                cur = None
                continue
            if cur is None:
                continue
            text = line.replace("\\-", "-")
            sections[cur] |= set(re.findall(r"(?<![\w-])(--[a-z][a-z0-9-]*)",
                                            text))
            sections[cur] |= set(re.findall(r"^\.B[RI]*\s+(-[A-Za-z])\b",
                                            text))
    return sections


def help_entries(text):
    """{flag: its description} from a --help text (continuation lines
    joined)."""
    entries, cur = {}, None
    for line in text.splitlines():
        m = re.match(r"^\s{2,4}(--[a-z][a-z0-9-]*)", line)
        if m:
            cur = m.group(1)
            entries[cur] = line[m.end():]
        elif cur and line.startswith(" " * 10):
            entries[cur] += " " + line.strip()
        else:
            cur = None
    return entries


def man_entries(path):
    """{(section, flag): its description} from the man page's .TP items."""
    entries, sec, cur = {}, None, None
    with open(path) as f:
        for line in f:
            if line.startswith((".SS", ".SH")):
                sec = line.split()[1].replace("\\-", "-") \
                    if line.startswith(".SS") else None
                cur = None
            elif line.startswith(".TP"):
                cur = None
            elif sec and cur is None and line.startswith(".B"):
                m = re.search(r"(\\-\\-[a-z\\-]+)", line)
                if m:
                    cur = (sec, m.group(1).replace("\\-", "-"))
                    entries[cur] = ""
            elif cur:
                entries[cur] += " " + line.strip()
    return entries


def readme_beacon_flags(text):
    """The flags the README gives beacon: in its commands (what follows
    "beacon CMD" on a line, continuation lines joined, up to a quote or
    a pipe) and in prose as `--flag`. Other tools' flags (curl, ssh,
    pkg-config) are not beacon's."""
    flags = set(re.findall(r"`(--[a-z][a-z0-9-]+)", text))
    for line in text.replace("\\\n", " ").splitlines():
        for m in re.finditer(r"\bbeacon [a-z-]+([^'\"`|;]*)", line):
            flags |= set(re.findall(r"(?<![\w-])(--[a-z][a-z0-9-]+)",
                                    m.group(1)))
    return flags


def numeric_defaults(text):
    """The numeric defaults a description states ("default 15",
    "default: 64M")."""
    text = re.sub(r"\\f[BIR]", "", text.replace("\\-", "-"))
    return set(re.findall(r"default:?\s+([0-9][0-9.:]*(?:[KMG]i?B?|ms|s)?)\b",
                          text))


def scrape(env, port, path="/metrics"):
    """GET http://127.0.0.1:port/path with curl; returns (status, body)."""
    curl = need_tool("curl")
    r = env.run([curl, "-sS", "--max-time", "10", "-o", "-", "-w",
                 "\n%{http_code}", "http://127.0.0.1:%d%s" % (port, path)],
                timeout=20)
    harness.check_eq(r.returncode, 0, "curl %s: %s" %
                     (path, r.stderr.decode(errors="replace")))
    body, _, code = r.stdout.decode().rpartition("\n")
    return int(code), body


def parse_metrics(text):
    """Prometheus text -> {'name{labels}': float}; checks that every sample
    belongs to a family announced by # TYPE (a histogram's _bucket, _sum
    and _count to its histogram)."""
    out = {}
    typed = {}
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            typed[line.split()[2]] = line.split()[3]
            continue
        if not line or line.startswith("#"):
            continue
        m = re.match(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$", line)
        harness.check(m, "bad exposition line %r" % line)
        name = m.group(1)
        base = re.sub(r"_(bucket|sum|count)$", "", name)
        harness.check(name in typed or typed.get(base) == "histogram",
                      "%s has no # TYPE" % name)
        out[name + (m.group(2) or "")] = float(m.group(3))
    return out


def histogram(samples, name, outcome):
    """(count, sum, [(le, cumulative)]) of one outcome of histogram name,
    after checking that its buckets add up."""
    pre = '%s_bucket{outcome="%s",le="' % (name, outcome)
    buckets = sorted(((float(k[len(pre):-2]), v) for k, v in samples.items()
                      if k.startswith(pre)), key=lambda b: b[0])
    harness.check(buckets and buckets[-1][0] == float("inf"),
                  "%s{%s}: no +Inf bucket" % (name, outcome))
    for (_, a), (_, b) in zip(buckets, buckets[1:]):
        harness.check(a <= b, "%s buckets not cumulative: %s" %
                      (name, buckets))
    count = samples['%s_count{outcome="%s"}' % (name, outcome)]
    total = samples['%s_sum{outcome="%s"}' % (name, outcome)]
    harness.check_eq(buckets[-1][1], count, "%s +Inf vs _count" % name)
    return count, total, buckets


def family_sum(samples, name):
    return sum(v for k, v in samples.items()
               if k == name or k.startswith(name + "{"))


def cert_not_after(env, crt):
    openssl = need_tool("openssl")
    r = env.run([openssl, "x509", "-noout", "-enddate", "-in", crt],
                check=True)
    stamp = r.stdout.decode().strip().split("=", 1)[1]
    return int(time.mktime(time.strptime(stamp, "%b %d %H:%M:%S %Y GMT"))
               - time.timezone)


# ---- installation -----------------------------------------------------------

# The consumer is linked without the sanitizer runtime a sanitized
# libbeacon.so would need; the plain build covers the install.
@harness.nosan
def test_install_staging(env):
    """make install into a staging root, then a program built against the
    installed header and pkg-config file links and runs."""
    stage, libdir = stage_install(env)
    usr = os.path.join(stage, "usr")
    for rel in ("bin/beacon", "include/beacon/beacon.h",
                libdir + "/libbeacon.a", libdir + "/pkgconfig/libbeacon.pc",
                "share/man/man1/beacon.1",
                "share/doc/beacon/beacon-egress.service",
                "share/doc/beacon/examples/beacon-renew.service",
                "share/doc/beacon/examples/beacon-renew.timer",
                "share/doc/beacon/OPERATIONS.md"):
        harness.check(os.path.isfile(os.path.join(usr, rel)),
                      "not installed: %s" % rel)
    harness.check(os.access(os.path.join(usr, "bin/beacon"), os.X_OK),
                  "bin/beacon not executable")
    libs = os.listdir(os.path.join(usr, libdir))
    harness.check(any(n.startswith("libbeacon.so") for n in libs),
                  "no libbeacon.so* in %s: %s" % (libdir, libs))
    r = env.run([os.path.join(usr, "bin/beacon"), "version"], check=True)
    harness.check(r.stdout.startswith(b"beacon "), r.stdout)
    with open(os.path.join(usr, libdir, "pkgconfig/libbeacon.pc")) as f:
        pc = f.read()
    harness.check("prefix=/usr\n" in pc, "libbeacon.pc prefix:\n" + pc)

    # A consumer, built the way a packager's dependent package would be.
    pkgconf = need_tool("pkg-config")
    cc = shutil.which("cc") or need_tool("gcc")
    prog = env.path("consumer.c")
    with open(prog, "w") as f:
        f.write('#include <beacon/beacon.h>\n#include <stdio.h>\n'
                'int main(void)\n{\n'
                '  beacon_config_t *c = beacon_config_new();\n'
                '  if(!c)\n    return 1;\n'
                '  beacon_config_free(c);\n'
                '  printf("%s|%s\\n", BEACON_VERSION,\n'
                '         beacon_strerror(BEACON_EINVAL));\n'
                '  return 0;\n}\n')
    pcenv = {"PKG_CONFIG_SYSROOT_DIR": stage,
             "PKG_CONFIG_PATH": os.path.join(usr, libdir, "pkgconfig")}
    r = env.run([pkgconf, "--cflags", "--libs", "libbeacon"], env=pcenv,
                check=True)
    flags = r.stdout.decode().split()
    harness.check("-I%s/include" % usr in flags and
                  "-L%s/%s" % (usr, libdir) in flags and
                  "-lbeacon" in flags, "pkg-config flags: %s" % flags)
    exe = env.path("consumer")
    r = env.run([cc, prog, "-o", exe] + flags, timeout=120)
    harness.check_eq(r.returncode, 0, "cc: " + r.stderr.decode())
    r = env.run([exe], env={"LD_LIBRARY_PATH": os.path.join(usr, libdir)},
                check=True)
    out = r.stdout.decode().strip().split("|")
    r2 = env.beacon("version", check=True)
    harness.check_eq("beacon " + out[0], r2.stdout.decode().strip(),
                     "header version vs binary")
    harness.check(len(out) == 2 and out[1], "beacon_strerror: %r" % out)
    # It really ran against the staged library.
    ldd = shutil.which("ldd")
    if ldd:
        r = env.run([ldd, exe],
                    env={"LD_LIBRARY_PATH": os.path.join(usr, libdir)})
        harness.check(os.path.join(usr, libdir, "libbeacon.so")
                      in r.stdout.decode(), r.stdout.decode())


# ---- man page and --help ----------------------------------------------------

def test_man_page_renders(env):
    """man -l docs/beacon.1 renders without groff warnings and covers
    every subcommand, signals, exit codes and examples."""
    man = need_tool("man")
    r = env.run([man, "--warnings", "-l", src(env, "docs", "beacon.1")],
                env={"MANPAGER": "cat", "PAGER": "cat", "MANWIDTH": "80",
                     "LC_ALL": "C.UTF-8"}, timeout=60)
    harness.check_eq(r.returncode, 0, "man -l exit code")
    err = r.stderr.decode(errors="replace").strip()
    harness.check(not err, "man/groff warnings:\n" + err)
    text = r.stdout.decode(errors="replace")
    # Undo overstriking in case a pager setting left it in.
    text = re.sub(r".\x08", "", text)
    for want in ("NAME", "SYNOPSIS", "COMMANDS", "FILES", "SIGNALS",
                 "EXIT STATUS", "EXAMPLES", "SEE ALSO", "SIGHUP",
                 "ProxyCommand", "grpc_proxy", "--socks5-hostname",
                 "relay.crt", "fleet-ca.crt", "beacon pki sign"):
        harness.check(want in text, "man page lacks %r" % want)
    for cmd in SUBCOMMANDS:
        harness.check(re.search(r"^   %s$" % re.escape(cmd), text, re.M),
                      "man page has no section for %s" % cmd)
    for line in text.splitlines():
        harness.check(len(line) <= 80, "line wider than 80: %r" % line)


def test_help_matches_man(env):
    """Every command's --help exits 0, and it and the man page name the
    same flags."""
    top = help_text(env)
    for cmd in SUBCOMMANDS:
        harness.check(re.search(r"^\s+%s\s" % re.escape(cmd), top, re.M),
                      "beacon --help does not list %s" % cmd)
    sections = man_sections(src(env, "docs", "beacon.1"))
    pending = []
    for cmd in SUBCOMMANDS:
        harness.check(cmd in sections, "no .SS %s in beacon.1" % cmd)
        hflags = help_flags(help_text(env, cmd))
        mflags = sections[cmd]
        missing_in_man = hflags - mflags
        harness.check(not missing_in_man, "%s: --help has %s, the man page "
                      "does not" % (cmd, sorted(missing_in_man)))
        missing_in_help = mflags - hflags
        # --metrics-addr is documented ahead of the relay and forward
        # offering it; say so loudly until they do.
        if "--metrics-addr" in missing_in_help:
            missing_in_help.discard("--metrics-addr")
            pending.append(cmd)
        harness.check(not missing_in_help, "%s: the man page has %s, --help "
                      "does not" % (cmd, sorted(missing_in_help)))
        # Unknown flags are usage errors (exit 2), not silently ignored.
        r = env.beacon(cmd, "--no-such-flag", timeout=20)
        if cmd != "version":
            harness.check_eq(r.returncode, 2, "%s --no-such-flag" % cmd)
    # The defaults they state agree too. A flag the man page describes
    # once for several commands ("--timeout as connect does") is read
    # from the section that has it.
    entries = man_entries(src(env, "docs", "beacon.1"))
    for cmd in SUBCOMMANDS:
        for flag, desc in help_entries(help_text(env, cmd)).items():
            man = entries.get((cmd, flag))
            if man is None or not numeric_defaults(man):
                man = next((d for (c, f), d in entries.items()
                            if f == flag and numeric_defaults(d)), man or "")
            harness.check_eq(numeric_defaults(desc), numeric_defaults(man),
                             "%s %s: the defaults of --help (got) and the "
                             "man page (want)" % (cmd, flag))
    # Every flag the README shows exists.
    every = set()
    for cmd in SUBCOMMANDS:
        every |= help_flags(help_text(env, cmd))
    with open(src(env, "README.md")) as f:
        readme = readme_beacon_flags(f.read())
    unknown = readme - every
    harness.check(not unknown, "README names flags no command has: %s"
                  % sorted(unknown))
    if pending:
        sys.stderr.write("\n*** NOTE: --metrics-addr is in beacon.1 but not "
                         "yet in --help of: %s ***\n" % ", ".join(pending))


# ---- systemd ----------------------------------------------------------------

def unit_copy(env, name):
    """deploy/NAME with ExecStart pointing at the build's binary (verify
    checks that it exists and is executable)."""
    with open(src(env, "deploy", name)) as f:
        text = f.read()
    harness.check("ExecStart=/usr/local/bin/beacon " in text,
                  "%s: ExecStart is not /usr/local/bin/beacon" % name)
    text = text.replace("/usr/local/bin/beacon", os.path.abspath(env.bin))
    d = env.path("units")
    os.makedirs(d, exist_ok=True)
    path = os.path.join(d, name)
    with open(path, "w") as f:
        f.write(text)
    return path


def man_tree(env):
    """A MANPATH holding beacon.1, for the units' Documentation=man:."""
    d = env.path("man")
    os.makedirs(os.path.join(d, "man1"), exist_ok=True)
    shutil.copy(src(env, "docs", "beacon.1"), os.path.join(d, "man1"))
    return d


def unit_directives(path):
    out = {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith(("#", "[")) and "=" in line:
                k, v = line.split("=", 1)
                out.setdefault(k, []).append(v)
    return out


def test_systemd_units_verify(env):
    """systemd-analyze verify passes on both units, with nothing to say;
    the egress unit is Type=notify, reloads with SIGHUP, runs as an
    unprivileged user in a strict sandbox; the offline security review
    rates both units at most 2.0 (OK)."""
    sa = need_tool("systemd-analyze")
    env.need_bin()
    mans = man_tree(env)
    for name in ("beacon-egress.service", "beacon-forward.service"):
        unit = unit_copy(env, name)
        r = env.run([sa, "verify", unit], env={"MANPATH": mans},
                    timeout=60)
        out = (r.stdout + r.stderr).decode(errors="replace").strip()
        harness.check(r.returncode == 0 and not out,
                      "systemd-analyze verify %s (rc %d):\n%s" %
                      (name, r.returncode, out))
        r = env.run([sa, "security", "--offline=yes", "--threshold=20",
                     unit], timeout=60)
        harness.check_eq(r.returncode, 0, "systemd-analyze security %s:\n%s"
                         % (name, r.stdout.decode(errors="replace")[-3000:]))
        d = unit_directives(unit)
        # The relay reads its own addresses (policy class own_address)
        # over rtnetlink; forward has no use for it.
        families = ("AF_INET AF_INET6 AF_UNIX AF_NETLINK"
                    if name == "beacon-egress.service"
                    else "AF_INET AF_INET6 AF_UNIX")
        for k, v in (("NoNewPrivileges", "yes"), ("ProtectSystem", "strict"),
                     ("User", "beacon"), ("PrivateTmp", "yes"),
                     ("RestrictAddressFamilies", families),
                     ("CapabilityBoundingSet", "")):
            harness.check(d.get(k) == [v], "%s: %s=%s, want %r" %
                          (name, k, d.get(k), v))
        harness.check("@system-service" in d.get("SystemCallFilter", []),
                      "%s: no system-call filter" % name)
    d = unit_directives(env.path("units", "beacon-egress.service"))
    harness.check_eq(d.get("Type"), ["notify"], "egress Type")
    harness.check_eq(d.get("ExecReload"),
                     ["%s egress --config /etc/beacon/egress.conf "
                      "--check-config" % os.path.abspath(env.bin),
                      "/bin/kill -HUP $MAINPID"],
                     "egress ExecReload: the check, then SIGHUP")

    # The check can fail: a misspelt key is reported.
    bad = env.path("units", "bad.service")
    with open(env.path("units", "beacon-egress.service")) as f:
        text = f.read().replace("Type=notify", "Tpye=notify")
    with open(bad, "w") as f:
        f.write(text)
    r = env.run([sa, "verify", bad], env={"MANPATH": mans}, timeout=60)
    harness.check(b"Tpye" in r.stdout + r.stderr,
                  "verify did not report a misspelt key")


def expand_filter(sa, env):
    """{@group: set of system calls}, nested groups expanded."""
    r = env.run([sa, "syscall-filter"], check=True, timeout=60)
    groups = {}
    cur = None
    for line in r.stdout.decode().splitlines():
        if line.startswith("@"):
            cur = line.split()[0]
            groups[cur] = []
        elif cur and line.strip() and not line.strip().startswith("#"):
            groups[cur].append(line.strip())

    def expand(g, seen=()):
        out = set()
        for item in groups.get(g, ()):
            if item.startswith("@"):
                if item not in seen:
                    out |= expand(item, seen + (g,))
            else:
                out.add(item)
        return out
    return expand


@harness.nosan
@harness.timeout(120)
def test_systemd_sandbox_syscalls(env):
    """The relay's system calls under strace (start, tunnels, a DNS
    target, a refused dial, SIGHUP reload, SIGTERM drain) all pass the
    egress unit's SystemCallFilter, and its sockets are of the families
    RestrictAddressFamilies allows."""
    sa = need_tool("systemd-analyze")
    strace = need_tool("strace")
    if env.run([strace, "-f", "-qq", "-o", os.devnull, "true"]).returncode:
        harness.skip("strace cannot trace here (ptrace not permitted)")
    expand = expand_filter(sa, env)
    d = unit_directives(src(env, "deploy", "beacon-egress.service"))
    allowed = set()
    denied = set()
    for f in d.get("SystemCallFilter", []):
        groups = f.lstrip("~").split()
        names = set()
        for g in groups:
            names |= expand(g) if g.startswith("@") else {g}
        (denied if f.startswith("~") else allowed).update(names)
    allowed -= denied
    harness.check(len(allowed) > 100, "filter expansion failed: %d calls"
                  % len(allowed))

    trace = env.path("relay.strace")
    port = env.free_port()
    p = env.start([strace, "-f", "-qq", "-o", trace, env.need_bin(),
                   "egress", "--config-dir", env.pki(), "--tunnel-addr",
                   "127.0.0.1:%d" % port, "--allow", "127.0.0.0/8",
                   "--workers", "2", "--log-level", "debug"],
                  name="relay-strace")
    harness.wait_port("127.0.0.1", port, timeout=30)
    with Echo() as e:
        r = env.tpeer("echo", "--target", "localhost:%d" % e.port,
                      "--streams", "3", "--bytes", "200000",
                      relay="127.0.0.1:%d" % port)
        harness.check(r.get("ok"), r)
    r = env.tpeer("expect-reset", "--target", "127.0.0.1:1",
                  relay="127.0.0.1:%d" % port)
    harness.check(r.get("ok"), r)
    # The tracee is strace's only child.
    kids = []
    for t in os.listdir("/proc/%d/task" % p.pid):
        with open("/proc/%d/task/%s/children" % (p.pid, t)) as f:
            kids += [int(x) for x in f.read().split()]
    harness.check(len(kids) == 1, "strace children: %s" % kids)
    os.kill(kids[0], signal.SIGHUP)
    p.wait_log(r"reload", timeout=10)
    os.kill(kids[0], signal.SIGTERM)
    harness.check_eq(p.wait(30), 0, "relay exit code under strace")

    used = set()
    families = set()
    with open(trace) as f:
        for line in f:
            m = re.match(r"^\d+\s+([a-z_0-9]+)\(", line)
            if m:
                used.add(m.group(1))
            m = re.match(r"^\d+\s+socket\((AF_[A-Z0-9]+)", line)
            if m:
                families.add(m.group(1))
    harness.check(len(used) > 20, "strace saw only %s" % sorted(used))
    # The ELF loader's execve of beacon happens before the filter applies.
    bad = sorted(used - allowed - {"execve"})
    harness.check(not bad, "system calls outside SystemCallFilter: %s" % bad)
    # glibc's getaddrinfo may try AF_NETLINK (AI_ADDRCONFIG) and falls back
    # when the sandbox refuses it.
    extra = families - {"AF_INET", "AF_INET6", "AF_UNIX", "AF_NETLINK"}
    harness.check(not extra, "socket families outside the unit's: %s"
                  % sorted(extra))


# ---- enrolment --------------------------------------------------------------

def test_enrolment_flow(env):
    """gen-csr -> pki sign -> relay.crt verifies with fleet-ca.crt, carries
    the CSR's key and SANs, and a relay on it serves a tunnel."""
    openssl = need_tool("openssl")
    ca = env.pki()
    etc = env.path("etc-beacon")
    os.makedirs(etc)
    r = env.beacon("gen-csr", "--config-dir", etc, "--cn", "relay-1",
                   "--san", "localhost,127.0.0.1,relay-1.example.net",
                   check=True)
    csr = r.stdout.decode()
    harness.check(csr.startswith("-----BEGIN CERTIFICATE REQUEST-----\n")
                  and csr.endswith("-----END CERTIFICATE REQUEST-----\n"),
                  "gen-csr stdout is not exactly one CSR:\n" + csr)
    key = os.path.join(etc, "relay.key")
    harness.check_eq(os.stat(key).st_mode & 0o777, 0o600, "relay.key mode")
    with open(env.path("relay.csr"), "w") as f:
        f.write(csr)
    env.run([openssl, "req", "-verify", "-noout", "-in",
             env.path("relay.csr")], check=True)
    # A second run reuses the key.
    r2 = env.beacon("gen-csr", "--config-dir", etc, "--cn", "relay-1",
                    check=True)

    def pub_of(args, data=None):
        return env.run([openssl] + args, input=data, check=True).stdout
    k1 = pub_of(["pkey", "-pubout", "-in", key])
    harness.check_eq(pub_of(["req", "-noout", "-pubkey"], r2.stdout), k1,
                     "second CSR's key")

    crt = os.path.join(etc, "relay.crt")
    env.beacon("pki", "sign", "--ca-dir", ca, "--csr", env.path("relay.csr"),
               "--out", crt, "--days", "90", check=True)
    shutil.copy(os.path.join(ca, "fleet-ca.crt"), etc)
    r = env.run([openssl, "verify", "-partial_chain", "-CAfile",
                 os.path.join(etc, "fleet-ca.crt"), crt])
    harness.check(r.returncode == 0 and b": OK" in r.stdout,
                  "openssl verify: %s%s" % (r.stdout, r.stderr))
    harness.check_eq(pub_of(["x509", "-noout", "-pubkey", "-in", crt]), k1,
                     "certificate key vs relay.key")
    text = env.run([openssl, "x509", "-noout", "-text", "-in", crt],
                   check=True).stdout.decode()
    for want in ("DNS:localhost", "IP Address:127.0.0.1",
                 "DNS:relay-1.example.net", "TLS Web Server Authentication",
                 "CN = relay-1"):
        harness.check(want in text, "relay.crt lacks %r" % want)
    days = (cert_not_after(env, crt) - time.time()) / 86400
    harness.check(88 < days < 91, "--days 90 gave %.1f days" % days)
    # The installed chain is a leaf followed by the Fleet CA.
    with open(crt) as f:
        harness.check(f.read().count("BEGIN CERTIFICATE") >= 2,
                      "relay.crt is not leaf + chain")

    # The enrolled relay serves a controller from the same Fleet CA.
    relay = env.start_relay(config_dir=etc)
    with Echo() as e:
        r = env.tpeer("echo", "--target", e.addr, "--bytes", "10000",
                      relay=relay, config_dir=ca, expect_host="localhost")
        harness.check(r.get("ok"), r)


# ---- identity: --allow-client and pki fingerprint ---------------------------

def test_allow_client_spellings(env):
    """--allow-client takes the subject as RFC 4514, the slash form and
    `openssl x509 -subject` print it, or the SPKI hash `beacon pki
    fingerprint` prints; a subset of the subject does not match; a value
    that is neither a DN nor a hash stops the relay with exit 2."""
    openssl = need_tool("openssl")
    ca = env.pki()
    crt = os.path.join(ca, "controller.crt")
    printed = env.run([openssl, "x509", "-noout", "-subject", "-in", crt],
                      check=True).stdout.decode().strip()
    harness.check(printed.startswith("subject="), printed)
    printed = printed[len("subject="):].strip()
    fp = env.beacon("pki", "fingerprint", crt, check=True).stdout.decode()
    harness.check(re.fullmatch(r"[0-9a-f]{64}\n", fp), repr(fp))
    # The same hash from the key, and from openssl's own DER of the key.
    fp_key = env.beacon("pki", "fingerprint",
                        os.path.join(ca, "controller.key"),
                        check=True).stdout.decode()
    harness.check_eq(fp_key, fp, "fingerprint of the key vs certificate")
    der = env.run([openssl, "pkey", "-pubin", "-outform", "DER"],
                  input=env.run([openssl, "x509", "-noout", "-pubkey", "-in",
                                 crt], check=True).stdout,
                  check=True).stdout
    harness.check_eq(fp.strip(), harness.sha256_hex(der), "SPKI SHA-256")

    with Echo() as e:
        for ident in (printed, "CN=controller,O=beacon",
                      "/O=beacon/CN=controller", "cn=controller; o=beacon",
                      fp.strip().upper()):
            relay = env.start_relay(extra_args=("--allow-client", "CN=nobody",
                                                "--allow-client", ident),
                                    name="relay-allow")
            r = env.tpeer("echo", "--target", e.addr, "--bytes", "1000",
                          relay=relay)
            harness.check(r.get("ok"), "--allow-client %r: %s" % (ident, r))
            relay.stop()
        for ident in ("CN=controller", "CN=Controller,O=beacon"):
            relay = env.start_relay(extra_args=("--allow-client", ident),
                                    name="relay-deny")
            r = env.tpeer("echo", "--target", e.addr, "--bytes", "1000",
                          relay=relay, expect_rc=None)
            harness.check(not r.get("ok"), "%r let the controller in" % ident)
            relay.wait_log("client not allowed", timeout=10)
            relay.stop()

    base = ["egress", "--config-dir", ca, "--tunnel-addr",
            "127.0.0.1:%d" % env.free_port(), "--workers", "1"]
    for bad, why in (("bogus", b"TYPE=VALUE"),
                     ("FOO=bar", b"unknown attribute type"),
                     ("CN=", b"empty value"),
                     ("abc123", b"64-hex SPKI")):
        r = env.beacon(*(base + ["--allow-client", bad]), timeout=20)
        harness.check_eq(r.returncode, 2, "--allow-client %s" % bad)
        harness.check(bad.encode() in r.stderr and why in r.stderr,
                      r.stderr)
    r = env.beacon("pki", "fingerprint", env.path("nope.crt"), timeout=20)
    harness.check_eq(r.returncode, 3, "fingerprint of a missing file")
    harness.check(b"missing" in r.stderr, r.stderr)


def test_handshake_failure_reasons(env):
    """Either side of a refused handshake says whose certificate was refused
    and why: the relay logs the alert a controller sent it ("client rejected
    our certificate: unknown CA") and its own verdicts (expired, not signed
    by the fleet CA, not allowed by --allow-client); the controller names
    the relay's certificate, or says that the relay refused its own."""
    ca = env.pki()
    other = env.path("other-pki")
    env.beacon("pki", "init", other, check=True)
    relay = env.start_relay()

    def connect(cfg):
        r = env.beacon("connect", "--relay", relay.addr, "--config-dir", cfg,
                       "--timeout", "5", "127.0.0.1:9", input=b"",
                       timeout=30)
        harness.check_eq(r.returncode, 1, "connect exit code: %s" % r.stderr)
        return r.stderr.decode(errors="replace")

    def ctl_dir(name, crt, key, fleet_ca):
        return env.config_dir(name, {"controller.crt": crt,
                                     "controller.key": key,
                                     "fleet-ca.crt": fleet_ca})

    # The controller trusts another CA: it refuses the relay and says so;
    # its alert tells the relay why.
    d = ctl_dir("ctl-other-anchor", os.path.join(ca, "controller.crt"),
                os.path.join(ca, "controller.key"),
                os.path.join(other, "fleet-ca.crt"))
    err = connect(d)
    harness.check("relay certificate not signed by the fleet CA" in err, err)
    relay.wait_log(r'handshake_failed .*reason="client rejected our '
                   r'certificate: unknown CA', timeout=10)

    # A controller certificate of another CA: the relay's verdict, and
    # the controller hears that its own certificate was rejected.
    d = ctl_dir("ctl-other-ca", os.path.join(other, "controller.crt"),
                os.path.join(other, "controller.key"),
                os.path.join(ca, "fleet-ca.crt"))
    err = connect(d)
    harness.check("relay rejected our certificate: unknown CA" in err, err)
    relay.wait_log(r'handshake_failed .*reason="client certificate not '
                   r'signed by the fleet CA" detail="certificate verify '
                   r'failed: ', timeout=10)

    # An expired controller certificate (tpeer does not check its own).
    crt, key = env.issue("ctl-expired", cn="ctl", usage="client",
                         not_before_days=-30, days=-1)
    r = env.tpeer("echo", "--target", "127.0.0.1:9", relay=relay, cert=crt,
                  key=key, expect_rc=None)
    harness.check(not r.get("ok"), r)
    relay.wait_log(r'handshake_failed .*reason="client certificate '
                   r'expired"', timeout=10)
    relay.stop()

    # Verified but not on the list.
    relay = env.start_relay(extra_args=("--allow-client", "CN=nobody"),
                            name="relay-allow")
    err = connect(ca)
    harness.check("--allow-client" in err, err)
    relay.wait_log(r'handshake_failed .*reason="client not allowed by '
                   r'--allow-client" detail=[0-9a-f]{64}', timeout=10)
    harness.check("reason=eof" not in relay.log_text(), relay.log_text())


# ---- files: key modes, validity, unreadable against missing -----------------

def relay_argv(env, etc, *extra):
    return ["egress", "--config-dir", etc, "--tunnel-addr",
            "127.0.0.1:%d" % env.free_port(), "--workers", "1"] + list(extra)


def relay_files(env, name, crt=None, key=None):
    ca = env.pki()
    return env.config_dir(name, {
        "relay.crt": crt or os.path.join(ca, "relay.crt"),
        "relay.key": key or os.path.join(ca, "relay.key"),
        "fleet-ca.crt": os.path.join(ca, "fleet-ca.crt")})


def test_relay_refuses_open_key(env):
    """relay.key readable by others is refused (exit 3, naming the file and
    the fix); readable by its group only with --allow-group-readable-key
    and only when that group is the relay's; a controller's open key is a
    warning, not an error."""
    etc = relay_files(env, "etc")
    key = os.path.join(etc, "relay.key")
    my_group = grp.getgrgid(os.getegid()).gr_name
    for mode, flags in ((0o644, ()), (0o604, ("--allow-group-readable-key",)),
                        (0o640, ()), (0o660, ("--allow-group-readable-key",))):
        os.chmod(key, mode)
        r = env.beacon(*relay_argv(env, etc, *flags), timeout=20)
        harness.check_eq(r.returncode, 3, "relay.key %o %s" % (mode, flags))
        harness.check(b"relay.key" in r.stderr and b"chmod 600" in r.stderr,
                      r.stderr)
        # With the flag the key is usually root's, read through the
        # relay's group: the advice names 0640 and that group by name.
        if flags:
            harness.check(("chmod 640 it and chgrp %s it" % my_group).encode()
                          in r.stderr, r.stderr)
    # 0640 with our own group and the flag: the relay serves.
    os.chmod(key, 0o640)
    os.chown(key, -1, os.getegid())
    relay = env.start_relay(config_dir=etc,
                            extra_args=("--allow-group-readable-key",))
    with Echo() as e:
        r = env.tpeer("echo", "--target", e.addr, "--bytes", "1000",
                      relay=relay)
        harness.check(r.get("ok"), r)
    relay.stop()
    # A file's "yes" is turned off by "--allow-group-readable-key no".
    conf = env.path("group-key.conf")
    with open(conf, "w") as f:
        f.write("allow-group-readable-key yes\n")
    r = env.beacon(*relay_argv(env, etc, "--config", conf, "--check-config"),
                   timeout=20)
    harness.check_eq(r.returncode, 0, "file's yes: %s" % r.stderr)
    r = env.beacon(*relay_argv(env, etc, "--config", conf, "--check-config",
                               "--allow-group-readable-key", "no"),
                   timeout=20)
    harness.check_eq(r.returncode, 3, "no on the command line: %s" % r.stderr)
    harness.check(b"chmod 600" in r.stderr, r.stderr)
    # ... but not when the group is one the relay is not in.
    other = 65534 if os.getegid() != 65534 else 65533
    if other not in os.getgroups():
        os.chown(key, -1, other)
        r = env.beacon(*relay_argv(env, etc, "--allow-group-readable-key"),
                       timeout=20)
        harness.check_eq(r.returncode, 3, "group %d key" % other)
        harness.check(b"not this process's group" in r.stderr, r.stderr)
        try:
            other_name = grp.getgrgid(other).gr_name.encode()
        except KeyError:
            other_name = str(other).encode()
        harness.check(b"readable by group " + other_name + b"," in r.stderr,
                      r.stderr)

    # The controller side warns and goes on.
    ca = env.pki()
    ctl = env.config_dir("ctl", {
        "controller.crt": os.path.join(ca, "controller.crt"),
        "controller.key": os.path.join(ca, "controller.key"),
        "fleet-ca.crt": os.path.join(ca, "fleet-ca.crt")})
    os.chmod(os.path.join(ctl, "controller.key"), 0o644)
    relay = env.start_relay()
    with Echo() as e:
        r = env.beacon("connect", "--relay", relay.addr, "--config-dir", ctl,
                       e.addr, input=b"hello", timeout=30)
        harness.check_eq(r.returncode, 0, "connect with a 0644 key: %s" %
                         r.stderr)
        harness.check_eq(r.stdout, b"hello", "echoed")
        harness.check(b"warning" in r.stderr and b"controller.key" in
                      r.stderr and b"chmod 600" in r.stderr, r.stderr)


def test_relay_refuses_invalid_certificate(env):
    """A relay certificate that has expired or is not valid yet stops the
    relay at start (exit 3, saying which and when); on SIGHUP it is
    refused and the old one kept."""
    for name, nb, na, want in (("expired", -30, -1, b"expired on"),
                               ("future", 2, 30, b"not valid before")):
        crt, key = env.issue("relay-" + name, cn="relay", usage="both",
                             san="localhost,127.0.0.1", not_before_days=nb,
                             days=na)
        etc = relay_files(env, "etc-" + name, crt, key)
        r = env.beacon(*relay_argv(env, etc), timeout=20)
        harness.check_eq(r.returncode, 3, "%s certificate" % name)
        harness.check(want in r.stderr and b"relay.crt" in r.stderr,
                      r.stderr)
    etc = relay_files(env, "etc-reload")
    relay = env.start_relay(config_dir=etc)
    crt, key = env.issue("relay-old", cn="relay", usage="both",
                         san="localhost,127.0.0.1", not_before_days=-30,
                         days=-1)
    shutil.copyfile(crt, os.path.join(etc, "relay.crt"))
    shutil.copyfile(key, os.path.join(etc, "relay.key"))
    relay.send_signal(signal.SIGHUP)
    relay.wait_log(r"reload_failed.*expired on", timeout=10)
    with Echo() as e:
        r = env.tpeer("echo", "--target", e.addr, "--bytes", "1000",
                      relay=relay, expect_host="localhost")
        harness.check(r.get("ok"), "old certificate not kept: %s" % r)


def test_unreadable_is_not_missing(env):
    """A config directory the process may not enter, and a file it may not
    read, are reported as unreadable; an absent one as missing. Exit 3
    for each, as for gen-csr into a missing directory."""
    r = env.beacon(*relay_argv(env, env.path("nowhere")), timeout=20)
    harness.check_eq(r.returncode, 3, "missing config dir")
    harness.check(b": missing" in r.stderr, r.stderr)
    r = env.beacon("gen-csr", "--config-dir", env.path("nowhere"), "--cn",
                   "r1", timeout=20)
    harness.check_eq(r.returncode, 3, "gen-csr into a missing directory")
    harness.check(b"no such directory" in r.stderr and r.stdout == b"",
                  r.stderr)
    setpriv = shutil.which("setpriv")
    if os.geteuid() != 0 or not setpriv:
        harness.skip("unreadable files need root to drop to another user")
    as_nobody = [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups"]
    os.chmod(env.tmp, 0o711)
    etc = relay_files(env, "etc")
    for f in os.listdir(etc):
        os.chmod(os.path.join(etc, f), 0o644)
    os.chmod(os.path.join(etc, "relay.key"), 0o600)
    os.chmod(etc, 0o755)
    r = env.run(as_nobody + [env.need_bin()] + relay_argv(env, etc),
                timeout=20)
    harness.check_eq(r.returncode, 3, "unreadable key")
    harness.check(b"relay.key" in r.stderr and b"unreadable" in r.stderr,
                  r.stderr)
    os.chmod(etc, 0o700)
    r = env.run(as_nobody + [env.need_bin()] + relay_argv(env, etc),
                timeout=20)
    harness.check_eq(r.returncode, 3, "unreadable config dir")
    harness.check(b": unreadable" in r.stderr and b": missing" not in
                  r.stderr, r.stderr)


# ---- enrolment of a controller, and pki init --force ------------------------

def test_controller_enrolment(env):
    """gen-csr --controller in a user's own directory, signed with pki
    sign, gives a clientAuth certificate a relay accepts, also when pinned
    by its fingerprint."""
    openssl = need_tool("openssl")
    ca = env.pki()
    mine = env.path("home", ".config", "beacon")
    os.makedirs(mine, mode=0o700)
    r = env.beacon("gen-csr", "--controller", "--config-dir", mine, "--cn",
                   "alice@ops-1", check=True)
    harness.check(r.stdout.startswith(b"-----BEGIN CERTIFICATE REQUEST"),
                  r.stdout)
    harness.check_eq(os.stat(os.path.join(mine, "controller.key")).st_mode
                     & 0o777, 0o600, "controller.key mode")
    harness.check(not os.path.exists(os.path.join(mine, "relay.key")),
                  "gen-csr --controller wrote relay.key")
    with open(env.path("alice.csr"), "wb") as f:
        f.write(r.stdout)
    crt = os.path.join(mine, "controller.crt")
    env.beacon("pki", "sign", "--ca-dir", ca, "--csr", env.path("alice.csr"),
               "--out", crt, check=True)
    shutil.copy(os.path.join(ca, "fleet-ca.crt"), mine)
    text = env.run([openssl, "x509", "-noout", "-text", "-in", crt],
                   check=True).stdout.decode()
    harness.check("TLS Web Client Authentication" in text and
                  "TLS Web Server Authentication" not in text, text)
    fp = env.beacon("pki", "fingerprint", crt, check=True).stdout.decode()
    relay = env.start_relay(extra_args=("--allow-client", fp.strip()))
    with Echo() as e:
        r = env.beacon("connect", "--relay", relay.addr, "--config-dir", mine,
                       e.addr, input=b"from alice", timeout=30)
        harness.check_eq((r.returncode, r.stdout), (0, b"from alice"),
                         r.stderr)
        harness.check(b"warning" not in r.stderr, r.stderr)
    relay.wait_log(r"tunnel_up.*alice@ops-1", timeout=10)


def test_pki_init_force_keeps_ca(env):
    """pki init --force refuses to replace an existing CA and says what
    that would break; --force --replace-ca does it."""
    ca = env.pki()

    def read(name):
        with open(os.path.join(ca, name)) as f:
            return f.read()
    before = read("fleet-ca.crt")
    r = env.beacon("pki", "init", ca, "--force", timeout=60)
    harness.check_eq(r.returncode, 2, "--force alone")
    harness.check(b"--replace-ca" in r.stderr and b"unknown CA" in r.stderr,
                  r.stderr)
    harness.check_eq(read("fleet-ca.crt"), before, "fleet-ca.crt changed")
    r = env.beacon("pki", "init", ca, "--replace-ca", timeout=60)
    harness.check_eq(r.returncode, 2, "--replace-ca without --force")
    env.beacon("pki", "init", ca, "--force", "--replace-ca", check=True)
    harness.check(read("fleet-ca.crt") != before, "CA not replaced")


# ---- docs that must work when followed --------------------------------------

def sh_blocks(path, heading):
    """The ```sh blocks of the section under `heading` (up to the next
    heading of the same or a higher level)."""
    with open(path) as f:
        text = f.read()
    m = re.search(r"^(#+) %s\n" % re.escape(heading), text, re.M)
    harness.check(m, "%s: no heading %r" % (path, heading))
    end = re.search(r"^#{1,%d} " % len(m.group(1)), text[m.end():], re.M)
    body = text[m.end():m.end() + end.start()] if end else text[m.end():]
    return re.findall(r"^```sh\n(.*?)^```", body, re.M | re.S)


# Brings up the loopback interface of a new network namespace (SIOCSIFFLAGS
# with IFF_UP | IFF_RUNNING), so fixed ports in the docs clash with no one.
LO_UP = ("import fcntl, socket, struct; "
         "fcntl.ioctl(socket.socket(), 0x8914, "
         "struct.pack('16sH14x', b'lo', 0x41))")


@harness.timeout(120)
def test_readme_quick_tour(env):
    """The README's quick tour, run as written in an empty directory with
    the build's beacon on the PATH: the request reaches the web server it
    starts and the answer comes back through the relay. It runs in a
    network namespace of its own (fixed ports 8456 and 8000)."""
    blocks = sh_blocks(os.path.join(env.src_dir, "README.md"), "Quick tour")
    harness.check(blocks, "no sh block in the quick tour")
    script = blocks[0]
    harness.check("127.0.0.1:7" not in script, "the tour targets port 7")
    work = env.path("tour")
    os.makedirs(work)
    with open(env.path("tour.sh"), "w") as f:
        f.write(script)
    unshare = shutil.which("unshare")
    if not unshare:
        harness.skip("unshare is not installed (needed for fixed ports)")
    probe = env.run([unshare, "-rn", "true"], timeout=20)
    if probe.returncode != 0:
        harness.skip("cannot make a network namespace: %s" %
                     probe.stderr.decode(errors="replace").strip())
    path = os.path.dirname(env.need_bin()) + os.pathsep + \
        os.environ.get("PATH", "")
    inner = "%s -c %s && exec sh -e %s" % (
        shlex.quote(sys.executable), shlex.quote(LO_UP),
        shlex.quote(env.path("tour.sh")))
    p = subprocess.Popen([unshare, "-rn", "sh", "-c", inner], cwd=work,
                         env=dict(os.environ, PATH=path),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         start_new_session=True)
    # The tour starts two background processes; whatever it leaves behind
    # on a failure goes with its process group.
    env.add_cleanup(lambda: _killpg(p.pid))
    try:
        out, err = p.communicate(timeout=90)
    except subprocess.TimeoutExpired:
        _killpg(p.pid)
        out, err = p.communicate()
        raise harness.Failure("the tour did not finish in 90 s:\n%s" %
                              err.decode(errors="replace"))
    text = out.decode(errors="replace")
    harness.check_eq(p.returncode, 0, "tour exit code; stderr:\n%s" %
                     err.decode(errors="replace"))
    # (http.server also says "Serving HTTP on ..." on the same stdout)
    harness.check("\nHTTP/1.0 200 OK\r\n" in "\n" + text,
                  "no HTTP answer through the relay:\n%s\n%s" %
                  (text, err.decode(errors="replace")))
    harness.check(os.path.exists(os.path.join(work, "pki", "fleet-ca.crt")),
                  "pki init did not run in the tour's directory")


def _killpg(pgid):
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def test_operations_order(env):
    """docs/OPERATIONS.md creates the beacon user before anything uses its
    group, in every block that does both and across the guide."""
    path = os.path.join(env.src_dir, "docs", "OPERATIONS.md")
    with open(path) as f:
        lines = f.read().splitlines()
    first_user = next((i for i, ln in enumerate(lines)
                       if "useradd" in ln and "beacon" in ln), None)
    first_group = next((i for i, ln in enumerate(lines)
                        if re.search(r"(-g beacon|chgrp beacon|:beacon )",
                                     ln) and "```" not in ln), None)
    harness.check(first_user is not None, "no useradd in OPERATIONS.md")
    harness.check(first_group is None or first_user < first_group,
                  "line %d uses group beacon before line %d creates it" %
                  ((first_group or 0) + 1, first_user + 1))


# ---- policy: embedded IPv4 and --deny private --------------------------------

def test_policy_embedded_and_private(env):
    """Through a real relay: the default refuses the metadata address
    behind NAT64 and 6to4 as it refuses 169.254.169.254, and --deny
    private refuses RFC 1918 and 100.64/10 (also behind NAT64) while the
    rules before it still let a chosen net through. Nothing is dialled:
    each refusal is the policy's, logged with its reason."""
    relay = env.start_relay(extra_args=("--deny", "private"))
    for target, why in (("[64:ff9b::a9fe:a9fe]:80",
                         "policy: metadata (embedded IPv4)"),
                        ("[2002:a9fe:a9fe::1]:80",
                         "policy: metadata (embedded IPv4)"),
                        ("169.254.169.254:80", "policy: metadata"),
                        ("[fd00:ec2::254]:80", "policy: metadata"),
                        ("10.1.2.3:22", "deny private (10.0.0.0/8)"),
                        ("100.64.0.1:22", "deny private (100.64.0.0/10)"),
                        ("[64:ff9b::c0a8:101]:443",
                         "deny private (192.168.0.0/16)"),
                        ("[fd00::1]:22", "deny private (fc00::/7)")):
        start = len(relay.log_text())
        r = env.tpeer("expect-reset", "--target", target, relay=relay)
        harness.check(r.get("ok"), "%s: %s" % (target, r))
        relay.wait_log(re.escape(why), timeout=10, start=start)
    r = env.beacon("egress", "--config-dir", env.pki(), "--deny", "privat",
                   timeout=20)
    harness.check_eq(r.returncode, 2, "--deny privat")


# ---- readiness notification -------------------------------------------------

def test_sd_notify_lifecycle(env):
    """Under a Type=notify unit the relay reports READY=1 once it listens,
    RELOADING=1 then READY=1 around SIGHUP and STOPPING=1 on SIGTERM."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    path = env.path("notify.sock")
    sock.bind(path)
    env.add_cleanup(sock.close)
    sock.settimeout(15)
    relay = env.start_relay(env={"NOTIFY_SOCKET": path}, wait=False)

    def next_msg():
        try:
            data = sock.recv(4096).decode()
        except socket.timeout:
            raise harness.Failure("no notification within 15 s") from None
        return dict(kv.split("=", 1) for kv in data.split("\n") if kv)
    m = next_msg()
    harness.check_eq(m.get("READY"), "1", "first notification %r" % m)
    harness.check(relay.listening(relay.port),
                  "READY=1 before the port listens")
    relay.send_signal(signal.SIGHUP)
    m = next_msg()
    harness.check_eq(m.get("RELOADING"), "1", "on SIGHUP %r" % m)
    if m.get("READY") != "1":
        m = next_msg()
        harness.check_eq(m.get("READY"), "1", "after reload %r" % m)
    relay.send_signal(signal.SIGTERM)
    m = next_msg()
    harness.check_eq(m.get("STOPPING"), "1", "on SIGTERM %r" % m)
    harness.check_eq(relay.wait(40), 0, "relay exit code")


# ---- metrics ----------------------------------------------------------------

def start_metrics_relay(env, **kw):
    mport = env.free_port()
    relay = env.start_relay(extra_args=("--metrics-addr", ":%d" % mport),
                            **kw)
    harness.wait_port("127.0.0.1", mport)
    return relay, mport


def test_metrics_scrape_egress(env):
    """Scrapes the relay's /metrics while traffic flows and checks that
    each figure moves as it should."""
    relay, mport = start_metrics_relay(env)
    code, body = scrape(env, mport, "/healthz")
    harness.check_eq((code, body), (200, "ok\n"), "/healthz")
    code, _ = scrape(env, mport, "/nope")
    harness.check_eq(code, 404, "/nope")
    code, text = scrape(env, mport)
    harness.check_eq(code, 200, "/metrics status")
    m0 = parse_metrics(text)
    for name in ("beacon_tunnels_open", "beacon_tunnels_total",
                 "beacon_streams_open", "beacon_streams_total",
                 'beacon_bytes_total{direction="up"}',
                 'beacon_bytes_total{direction="down"}',
                 "beacon_policy_refusals_total",
                 "beacon_keepalive_timeouts_total",
                 "beacon_relay_cert_expiry_timestamp_seconds",
                 "process_start_time_seconds"):
        harness.check(name in m0, "no %s in:\n%s" % (name, text))
    harness.check(any(k.startswith("beacon_dial_failures_total{reason=")
                      for k in m0), "no dial failure reasons")
    harness.check(any(k.startswith("beacon_handshake_failures_total{reason=")
                      for k in m0), "no handshake failure reasons")
    now = time.time()
    harness.check(now - 120 < m0["process_start_time_seconds"] <= now + 1,
                  "process_start_time_seconds %r" %
                  m0["process_start_time_seconds"])
    relay_not_after = cert_not_after(env, os.path.join(env.pki(),
                                                       "relay.crt"))
    harness.check_eq(int(m0["beacon_relay_cert_expiry_timestamp_seconds"]),
                     relay_not_after, "certificate expiry metric")
    # One family carries the relay's own notAfter, not two names for it.
    harness.check_eq(sorted(k for k, v in m0.items()
                            if "expiry" in k and int(v) == relay_not_after),
                     ["beacon_relay_cert_expiry_timestamp_seconds"],
                     "families exporting the relay's notAfter")
    harness.check_eq(m0["beacon_tunnels_total"], 0, "tunnels before")

    # One tunnel, 3 streams of 50 000 bytes echoed.
    with Echo() as e:
        r = env.tpeer("echo", "--target", e.addr, "--streams", "3",
                      "--bytes", "50000", relay=relay)
        harness.check(r.get("ok"), r)
    # A dial failure (nothing listens on port 1) ...
    r = env.tpeer("expect-reset", "--target", "127.0.0.1:1", relay=relay)
    harness.check(r.get("ok"), r)
    # ... and a failed handshake (plain text instead of TLS).
    with socket.create_connection(("127.0.0.1", relay.port), 5) as s:
        s.sendall(b"GET / HTTP/1.0\r\n\r\n")
        s.settimeout(10)
        try:
            while s.recv(4096):
                pass
        except OSError:
            pass

    def moved():
        m = parse_metrics(scrape(env, mport)[1])
        ok = (m["beacon_tunnels_total"] >= 2 and
              m["beacon_tunnels_open"] == 0 and
              m["beacon_streams_open"] == 0 and
              family_sum(m, "beacon_handshake_failures_total") >= 1)
        return m if ok else None
    m1 = harness.eventually(moved, timeout=15,
                            msg="metrics did not settle")
    harness.check(m1["beacon_streams_total"] >= 4, m1)
    harness.check(m1['beacon_bytes_total{direction="up"}'] >= 150000, m1)
    harness.check(m1['beacon_bytes_total{direction="down"}'] >= 150000, m1)
    harness.check_eq(family_sum(m1, "beacon_dial_failures_total"), 1,
                     "dial failures (127.0.0.1:1 refused)")

    # A live tunnel shows in the gauges while it lasts.
    with Echo() as e:
        holder = env.start_tpeer("hold", "--target", e.addr, "--streams",
                                 "2", relay=relay, name="holder")
        line = holder.readline(timeout=20) or ""
        harness.check(line.startswith("ready 2 0"), "holder: %r" % line)
        m2 = parse_metrics(scrape(env, mport)[1])
        harness.check_eq(m2["beacon_tunnels_open"], 1, "tunnels open")
        harness.check_eq(m2["beacon_streams_open"], 2, "streams open")
        holder.stdin.close()
        harness.check_eq(holder.wait(20), 0, "holder exit code")
    harness.eventually(
        lambda: parse_metrics(scrape(env, mport)[1])["beacon_tunnels_open"]
        == 0, timeout=10, msg="tunnel gauge did not drop back to 0")


def test_metrics_policy_refusal(env):
    """A destination refused by policy counts in
    beacon_policy_refusals_total, not as a dial failure, and by its class
    in beacon_policy_class_refusals_total."""
    mport = env.free_port()
    relay = env.start_relay(extra_args=("--metrics-addr", ":%d" % mport),
                            allow_loopback=False)
    harness.wait_port("127.0.0.1", mport)
    r = env.tpeer("expect-reset", "--target", "127.0.0.1:9", relay=relay)
    harness.check(r.get("ok"), r)
    m = harness.eventually(
        lambda: (lambda x: x if x["beacon_policy_refusals_total"] >= 1
                 else None)(parse_metrics(scrape(env, mport)[1])),
        timeout=10, msg="policy refusal not counted")
    harness.check_eq(family_sum(m, "beacon_dial_failures_total"), 0,
                     "dial failures")
    harness.check_eq(
        m.get('beacon_policy_class_refusals_total{class="loopback"}'), 1.0,
        "loopback class refusals")
    harness.check_eq(family_sum(m, "beacon_policy_class_refusals_total"),
                     1.0, "class refusals")


def test_metrics_addr_errors(env):
    """A malformed --metrics-addr is a usage error (exit 2); a busy one
    stops the relay at once with exit 1 and a message naming it."""
    base = ["egress", "--config-dir", env.pki(), "--tunnel-addr",
            "127.0.0.1:%d" % env.free_port(), "--workers", "1"]
    for bad in ("nonsense:1", "::1:9456", ":70000", "localhost:9456"):
        r = env.beacon(*(base + ["--metrics-addr", bad]), timeout=20)
        harness.check_eq(r.returncode, 2, "--metrics-addr %s" % bad)
        harness.check(bad.encode() in r.stderr, r.stderr)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        addr = ":%d" % busy.getsockname()[1]
        t0 = time.monotonic()
        r = env.beacon(*(base + ["--metrics-addr", addr]), timeout=30)
        harness.check_eq(r.returncode, 1, "busy --metrics-addr")
        harness.check(time.monotonic() - t0 < 10, "slow to give up")
        harness.check(addr.encode() in r.stderr, r.stderr)


def test_metrics_scrape_forward(env):
    """beacon forward's own /metrics: its tunnel and streams move."""
    relay = env.start_relay()
    mport = env.free_port()
    lport = env.free_port()
    with Echo() as e:
        fwd = env.start([env.need_bin(), "forward", "--relay", relay.addr,
                         "--config-dir", env.pki(), "-L",
                         "%d:%s" % (lport, e.addr), "--metrics-addr",
                         ":%d" % mport], name="forward")
        harness.wait_port("127.0.0.1", mport)
        harness.wait_port("127.0.0.1", lport)
        code, text = scrape(env, mport)
        harness.check_eq(code, 200, "/metrics")
        m0 = parse_metrics(text)
        harness.check("process_start_time_seconds" in m0, text)
        with socket.create_connection(("127.0.0.1", lport), 10) as s:
            s.sendall(b"x" * 10000)
            got = b""
            while len(got) < 10000:
                chunk = s.recv(65536)
                if not chunk:
                    break
                got += chunk
            harness.check_eq(len(got), 10000, "echoed bytes")
        m1 = parse_metrics(scrape(env, mport)[1])
        harness.check(family_sum(m1, "beacon_streams_total") >
                      family_sum(m0, "beacon_streams_total"),
                      "streams_total did not move: %s" % m1)
        harness.check(family_sum(m1, "beacon_bytes_total") >=
                      family_sum(m0, "beacon_bytes_total") + 20000, m1)
        fwd.stop()


def test_metrics_connect_latency(env):
    """beacon_target_connect_seconds on the relay and
    beacon_forward_stream_open_seconds on forward count each connect under
    its outcome (one naming on both sides), with sane latencies; forward's
    dial failures use the same words."""
    relay, mport = start_metrics_relay(env)
    dead = "127.0.0.1:%d" % env.free_port()  # nothing listens there
    with Echo() as e:
        r = env.tpeer("echo", "--target", e.addr, "--streams", "3",
                      "--bytes", "1000", relay=relay)
        harness.check(r.get("ok"), r)
        r = env.tpeer("expect-reset", "--target", dead, relay=relay)
        harness.check(r.get("ok"), r)
        name = "beacon_target_connect_seconds"
        m = harness.eventually(
            lambda: (lambda x: x if histogram(x, name, "refused")[0] >= 1
                     else None)(parse_metrics(scrape(env, mport)[1])),
            timeout=10, msg="refused connect not counted")
        count, total, buckets = histogram(m, name, "ok")
        harness.check_eq(count, 3, "ok connects")
        harness.check(0 < total < 3.0, "sum of 3 loopback connects %r" % total)
        harness.check(buckets[0][0] <= 0.001, buckets)
        harness.check_eq(histogram(m, name, "timeout")[0], 0, "timeouts")
        harness.check('%s_count{outcome="tunnel"}' % name not in m,
                      "the relay has no tunnel outcome")

        fport, lok, lbad = env.free_port(), env.free_port(), env.free_port()
        fwd = env.start([env.need_bin(), "forward", "--relay", relay.addr,
                         "--config-dir", env.pki(),
                         "-L", "%d:%s" % (lok, e.addr),
                         "-L", "%d:%s" % (lbad, dead),
                         "--metrics-addr", ":%d" % fport], name="forward")
        harness.wait_port("127.0.0.1", fport)
        for port in (lok, lok, lbad):
            harness.wait_port("127.0.0.1", port)
            with socket.create_connection(("127.0.0.1", port), 10) as s:
                s.settimeout(10)
                s.sendall(b"x")
                try:
                    s.recv(10)
                except OSError:
                    pass  # the refused one is reset
        name = "beacon_forward_stream_open_seconds"
        m = harness.eventually(
            lambda: (lambda x: x if histogram(x, name, "refused")[0] >= 1
                     and histogram(x, name, "ok")[0] >= 2 else None)(
                parse_metrics(scrape(env, fport)[1])),
            timeout=15, msg="forward stream opens not counted")
        count, total, _ = histogram(m, name, "ok")
        harness.check(0 < total < count * 2.0, "forward open sum %r" % total)
        # wait_port's probe of lbad was refused too: compare, not count
        harness.check_eq(m['beacon_dial_failures_total{reason="refused"}'],
                         histogram(m, name, "refused")[0],
                         "forward dial failures against refused opens")
        harness.check_eq(histogram(m, name, "tunnel")[0], 0, "tunnel")
        # The logs use one word for a target that refused, on both sides.
        fwd.wait_log(r"conn_done .*target=%s .*outcome=dial_error "
                     r"reason=EREFUSED" % re.escape(dead), timeout=10)
        relay.wait_log(r"stream_done .*target=%s .*outcome=dial_error" %
                       re.escape(dead), timeout=10)
        fwd.stop()


def check_process_metrics(env, proc, mport):
    """process_* and beacon_build_info on proc's /metrics agree with what
    the kernel says about proc."""
    version = env.beacon("version", check=True).stdout.decode().split()[1]
    m = parse_metrics(scrape(env, mport)[1])
    name = proc.name
    harness.check_eq(m.get('beacon_build_info{version="%s"}' % version), 1,
                     "%s build info" % name)
    cpu = proc.cpu_seconds()
    harness.check(0 <= m["process_cpu_seconds_total"] <= cpu + 1,
                  "%s cpu %r, /proc says %r" %
                  (name, m["process_cpu_seconds_total"], cpu))
    rss = proc.rss_kib() * 1024
    harness.check(rss / 2 < m["process_resident_memory_bytes"] < rss * 2,
                  "%s rss %r, /proc says %r" %
                  (name, m["process_resident_memory_bytes"], rss))
    fds = proc.fd_count()
    harness.check(abs(m["process_open_fds"] - fds) <= 3,
                  "%s open fds %r, /proc says %r" %
                  (name, m["process_open_fds"], fds))
    harness.check(m["process_max_fds"] >= m["process_open_fds"], m)
    with open("/proc/stat") as f:
        btime = int(next(ln for ln in f if ln.startswith("btime")).split()[1])
    with open("/proc/%d/stat" % proc.pid) as f:
        st = f.read()
    start = btime + int(st[st.rindex(")") + 2:].split()[19]) // \
        os.sysconf("SC_CLK_TCK")
    harness.check(abs(m["process_start_time_seconds"] - start) <= 1,
                  "%s start %r, /proc says %r" %
                  (name, m["process_start_time_seconds"], start))
    return m


def test_metrics_process(env):
    """The relay's and forward's /metrics carry process_cpu_seconds_total,
    process_resident_memory_bytes, process_open_fds, process_max_fds,
    process_start_time_seconds and beacon_build_info, and open
    descriptors follow the tunnels that come and go."""
    relay, mport = start_metrics_relay(env)
    m0 = check_process_metrics(env, relay, mport)
    with Echo() as e:
        holder = env.start_tpeer("hold", "--target", e.addr, "--streams",
                                 "20", relay=relay, name="holder")
        line = holder.readline(timeout=20) or ""
        harness.check(line.startswith("ready 20 0"), "holder: %r" % line)
        m1 = check_process_metrics(env, relay, mport)
        harness.check(m1["process_open_fds"] >= m0["process_open_fds"] + 20,
                      "fds %r -> %r with 20 streams" %
                      (m0["process_open_fds"], m1["process_open_fds"]))
        holder.stdin.close()
        harness.check_eq(holder.wait(20), 0, "holder exit code")

        fport = env.free_port()
        fwd = env.start([env.need_bin(), "forward", "--relay", relay.addr,
                         "--config-dir", env.pki(), "-L",
                         "%d:%s" % (env.free_port(), e.addr),
                         "--metrics-addr", ":%d" % fport], name="forward")
        harness.wait_port("127.0.0.1", fport)
        check_process_metrics(env, fwd, fport)
        fwd.stop()


def test_cert_expiry_warning(env):
    """A relay certificate within 30 days of expiry is logged as a warning
    at start and on every SIGHUP reload, and its notAfter is exported;
    a fresh one is not warned about. (90 days long, so 30 days is less
    than the last third of its lifetime.)"""
    ca = env.pki()
    crt, key = env.issue("relay-near", cn="relay", usage="both",
                         san="localhost,127.0.0.1", not_before_days=-80,
                         days=10)
    etc = env.config_dir("near", {
        "relay.crt": crt, "relay.key": key,
        "fleet-ca.crt": os.path.join(ca, "fleet-ca.crt")})
    mport = env.free_port()
    relay = env.start_relay(config_dir=etc,
                            extra_args=("--metrics-addr", ":%d" % mport))
    m = relay.wait_log(r"cert_expiring.*days_left=(\d+)", timeout=10)
    harness.check(int(m.group(1)) in (9, 10), m.group(0))
    harness.wait_port("127.0.0.1", mport)
    got = parse_metrics(scrape(env, mport)[1])
    harness.check_eq(
        int(got["beacon_relay_cert_expiry_timestamp_seconds"]),
        cert_not_after(env, crt), "expiry metric")
    # Renewed in place and reloaded: no warning for the new certificate,
    # and the metric follows.
    crt2, key2 = env.issue("relay-renewed", cn="relay", usage="both",
                           san="localhost,127.0.0.1", days=90)
    shutil.copyfile(crt2, os.path.join(etc, "relay.crt"))
    shutil.copyfile(key2, os.path.join(etc, "relay.key"))
    n = relay.log_text().count("cert_expiring")
    relay.send_signal(signal.SIGHUP)
    relay.wait_log(r"\breload\b", timeout=10)
    harness.eventually(
        lambda: int(parse_metrics(scrape(env, mport)[1])[
            "beacon_relay_cert_expiry_timestamp_seconds"]) ==
        cert_not_after(env, crt2), timeout=10,
        msg="expiry metric did not follow the reload")
    harness.check_eq(relay.log_text().count("cert_expiring"), n,
                     "warned about the renewed certificate")


def test_controller_cert_expiry_warnings(env):
    """A controller certificate 10 days from expiry: the relay warns once
    (per controller per day) and counts every such tunnel; beacon forward
    and beacon connect warn about their own, through libbeacon, and
    forward exports its notAfter and follows a reload. Text logs show
    not_after as an ISO 8601 UTC date, JSON logs as a number."""
    ca = env.pki()
    crt, key = env.issue("ctl-near", cn="ctl-near", usage="client",
                         not_before_days=-80, days=10)
    near = env.config_dir("ctl-near", {
        "controller.crt": crt, "controller.key": key,
        "fleet-ca.crt": os.path.join(ca, "fleet-ca.crt")})
    relay, mport = start_metrics_relay(env)
    with Echo() as e:
        for _ in range(2):
            r = env.tpeer("echo", "--target", e.addr, "--bytes", "100",
                          relay=relay, cert=crt, key=key)
            harness.check(r.get("ok"), r)
        m = relay.wait_log(r"client_cert_expiring .*subject=\S*ctl-near.* "
                           r"not_after=(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ) "
                           r"days_left=(\d+)", timeout=10)
        harness.check(int(m.group(2)) in (9, 10), m.group(0))
        want = time.strftime("%Y-%m-%dT%H:%M:%SZ",
                             time.gmtime(cert_not_after(env, crt)))
        harness.check_eq(m.group(1), want, "not_after in the text log")
        got = parse_metrics(scrape(env, mport)[1])
        harness.check_eq(got["beacon_client_cert_expiring_total"], 2,
                         "tunnels with an expiring controller certificate")
        harness.check_eq(relay.log_text().count("client_cert_expiring"), 1,
                         "warnings for one controller on one day")
        # A fresh certificate is not warned about.
        r = env.tpeer("echo", "--target", e.addr, "--bytes", "100",
                      relay=relay)
        harness.check(r.get("ok"), r)
        harness.check_eq(parse_metrics(scrape(env, mport)[1])[
            "beacon_client_cert_expiring_total"], 2, "fresh certificate")

        # JSON logs keep a number.
        jrelay = env.start_relay(extra_args=("--log-format", "json"),
                                 name="relay-json")
        r = env.tpeer("echo", "--target", e.addr, "--bytes", "100",
                      relay=jrelay, cert=crt, key=key)
        harness.check(r.get("ok"), r)
        line = jrelay.wait_log(r'\{[^\n]*"client_cert_expiring"[^\n]*\}',
                               timeout=10).group(0)
        harness.check_eq(json.loads(line)["not_after"],
                         cert_not_after(env, crt), "not_after in JSON")
        jrelay.stop()

        # beacon connect warns about its own certificate.
        r = env.beacon("connect", "--relay", relay.addr, "--config-dir", near,
                       e.addr, input=b"hi", timeout=30)
        harness.check_eq(r.returncode, 0, r.stderr)
        err = r.stderr.decode()
        harness.check("warning: our own certificate" in err and
                      "controller.crt expires on " in err and
                      "days left" in err, err)

        # beacon forward: a log line, the gauge, and a reload that follows.
        fport = env.free_port()
        fwd = env.start([env.need_bin(), "forward", "--relay", relay.addr,
                         "--config-dir", near, "-L",
                         "%d:%s" % (env.free_port(), e.addr),
                         "--metrics-addr", ":%d" % fport], name="forward")
        harness.wait_port("127.0.0.1", fport)
        fwd.wait_log(r"warn cert_expiring msg=\"our own certificate .*"
                     r"controller\.crt expires on \d{4}-\d\d-\d\dT", timeout=10)
        name = "beacon_forward_cert_expiry_timestamp_seconds"
        harness.check_eq(int(parse_metrics(scrape(env, fport)[1])[name]),
                         cert_not_after(env, crt), name)
        crt2, key2 = env.issue("ctl-renewed", cn="ctl-near", usage="client",
                               days=90)
        shutil.copyfile(crt2, os.path.join(near, "controller.crt"))
        shutil.copyfile(key2, os.path.join(near, "controller.key"))
        fwd.send_signal(signal.SIGHUP)
        fwd.wait_log(r"\breload\b", timeout=10)
        harness.check_eq(int(parse_metrics(scrape(env, fport)[1])[name]),
                         cert_not_after(env, crt2), name + " after SIGHUP")
        harness.check_eq(fwd.log_text().count("cert_expiring"), 1,
                         "warned about the renewed certificate")
        fwd.stop()


def dated_cert(env, name, not_before, not_after, server):
    """A Fleet CA certificate valid [not_before, not_after] (Unix times;
    `openssl ca`, since `beacon pki issue` counts in days): a relay's
    (serverAuth and clientAuth, the loopback names) or a controller's
    (clientAuth). Returns (crt, key)."""
    openssl = need_tool("openssl")
    d = env.path("dated-" + name)
    os.makedirs(d)
    key, csr, crt = (os.path.join(d, name + x)
                     for x in (".key", ".csr", ".crt"))
    open(os.path.join(d, "index.txt"), "w").close()
    cnf = os.path.join(d, "ca.cnf")
    with open(cnf, "w") as f:
        f.write("[ca]\ndefault_ca=d\n[d]\ndatabase=%s/index.txt\n"
                "new_certs_dir=%s\nrand_serial=yes\ndefault_md=sha256\n"
                "policy=p\nunique_subject=no\n[p]\ncommonName=supplied\n"
                "[ext]\nbasicConstraints=critical,CA:FALSE\n"
                "keyUsage=critical,digitalSignature\n%s\n" %
                (d, d, "extendedKeyUsage=serverAuth,clientAuth\n"
                 "subjectAltName=DNS:localhost,IP:127.0.0.1" if server
                 else "extendedKeyUsage=clientAuth"))
    fmt = "%Y%m%d%H%M%SZ"
    pki = env.pki()
    env.run([openssl, "req", "-new", "-newkey", "ec", "-pkeyopt",
             "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-subj",
             "/CN=" + name, "-out", csr], check=True, timeout=30)
    env.run([openssl, "ca", "-batch", "-config", cnf, "-cert",
             os.path.join(pki, "fleet-ca.crt"), "-keyfile",
             os.path.join(pki, "fleet-ca.key"), "-in", csr, "-out", crt,
             "-notext", "-extensions", "ext",
             "-startdate", time.strftime(fmt, time.gmtime(not_before)),
             "-enddate", time.strftime(fmt, time.gmtime(not_after))],
            check=True, timeout=30)
    os.chmod(key, 0o600)
    return crt, key


@harness.timeout(120)
def test_short_lived_certs_warned_late(env):
    """24-hour certificates (beacon pki renew --hours 24, renewed every
    8 hours) are not warned about while they are in the first two thirds
    of their life: not the relay's own (cert_expiring), not a controller's
    on the relay (client_cert_expiring and its counter), not by connect
    or forward about their own. In the last third (4 hours left here)
    each of them is."""
    now = int(time.time())
    ca = os.path.join(env.pki(), "fleet-ca.crt")
    rows = {}
    for age, tag in ((600, "fresh"), (20 * 3600, "late")):
        rcrt, rkey = dated_cert(env, "relay-" + tag, now - age,
                                now - age + 24 * 3600, server=True)
        ccrt, ckey = dated_cert(env, "ctl-" + tag, now - age,
                                now - age + 24 * 3600, server=False)
        rdir = env.config_dir("relay-" + tag, {
            "relay.crt": rcrt, "relay.key": rkey, "fleet-ca.crt": ca})
        cdir = env.config_dir("ctl-" + tag, {
            "controller.crt": ccrt, "controller.key": ckey,
            "fleet-ca.crt": ca})
        os.chmod(os.path.join(cdir, "controller.key"), 0o600)
        os.chmod(os.path.join(rdir, "relay.key"), 0o600)
        rows[tag] = (rdir, cdir)
    with Echo() as e:
        for tag, (rdir, cdir) in rows.items():
            late = tag == "late"
            mport = env.free_port()
            relay = env.start_relay(config_dir=rdir, name="relay-" + tag,
                                    extra_args=("--metrics-addr",
                                                ":%d" % mport))
            harness.wait_port("127.0.0.1", mport)
            r = env.beacon("connect", "--relay", relay.addr,
                           "--config-dir", cdir, e.addr, input=b"hi",
                           timeout=30)
            harness.check_eq(r.returncode, 0, r.stderr)
            harness.check_eq(r.stdout, b"hi", "echo")
            err = r.stderr.decode()
            harness.check_eq("warning: our own certificate" in err, late,
                             "%s: connect's warning: %r" % (tag, err))
            if late:
                harness.check(re.search(r"expires on \S+ \([34] hours "
                                        r"left\)", err), err)
            fport = env.free_port()
            fwd = env.start([env.need_bin(), "forward", "--relay",
                             relay.addr, "--config-dir", cdir, "-L",
                             "%d:%s" % (fport, e.addr)],
                            name="forward-" + tag)
            env.wait_listening(fwd, fport)
            s = socket.create_connection(("127.0.0.1", fport), timeout=10)
            s.sendall(b"x")
            harness.check_eq(s.recv(1), b"x", "echo through forward")
            s.close()
            got = parse_metrics(scrape(env, mport)[1])
            harness.check_eq(got["beacon_client_cert_expiring_total"],
                             2 if late else 0,
                             "%s: controller tunnels counted" % tag)
            if late:
                relay.wait_log(r"warn cert_expiring file=relay\.crt",
                               timeout=10)
                relay.wait_log(r"client_cert_expiring .*ctl-late",
                               timeout=10)
                fwd.wait_log(r"warn cert_expiring msg=\"our own "
                             r"certificate", timeout=10)
            else:
                time.sleep(0.5)  # anything said at the tunnel's start
                for proc in (relay, fwd):
                    harness.check("cert_expiring" not in proc.log_text(),
                                  "%s warned about a fresh 24-hour "
                                  "certificate:\n%s" %
                                  (proc.name, proc.log_text()[-2000:]))
            fwd.stop()
            relay.stop()


def test_library_warns_about_open_key(env):
    """libbeacon itself warns about a controller key others may read: an
    application that set no log hook (examples/dial.c) gets the warning
    on stderr, and still works."""
    p = os.path.join(env.build_dir, "examples", "beacon_dial_example")
    if not os.path.exists(p):
        harness.skip("examples not built")
    ca = env.pki()
    ctl = env.config_dir("ctl-open", {
        "controller.crt": os.path.join(ca, "controller.crt"),
        "controller.key": os.path.join(ca, "controller.key"),
        "fleet-ca.crt": os.path.join(ca, "fleet-ca.crt")})
    relay = env.start_relay()
    with Echo() as e:
        r = env.run([p, relay.addr, ctl, e.addr, "hi"], timeout=30)
        harness.check_eq(r.returncode, 0, r.stderr)
        harness.check(b"libbeacon: warning:" not in r.stderr, r.stderr)
        os.chmod(os.path.join(ctl, "controller.key"), 0o640)
        r = env.run([p, relay.addr, ctl, e.addr, "hi"], timeout=30)
        harness.check_eq(r.returncode, 0, r.stderr)
        harness.check_eq(r.stdout, b"hi\n", "echo")
        err = r.stderr.decode()
        harness.check("libbeacon: warning: key " in err and
                      "controller.key is readable by its group" in err and
                      "chmod 600" in err, err)


# ---- packaging: the self-contained binary -----------------------------------

@harness.slow
@harness.heavy
@harness.nosan
@harness.timeout(900)
def test_static_deps_build(env):
    """-DBEACON_STATIC_DEPS=ON builds a beacon that needs only glibc (no
    libssl, libcrypto or libuv at run time) and still works."""
    cmake = need_tool("cmake")
    ldd = need_tool("ldd")
    build = env.path("build-static")
    r = env.run([cmake, "-S", env.src_dir, "-B", build,
                 "-DBEACON_STATIC_DEPS=ON", "-DBEACON_TESTS=OFF",
                 "-DCMAKE_BUILD_TYPE=Release"], timeout=300)
    harness.check_eq(r.returncode, 0, "configure:\n%s" %
                     r.stderr.decode(errors="replace"))
    r = env.run([cmake, "--build", build, "--target", "beacon", "-j2"],
                timeout=800)
    harness.check_eq(r.returncode, 0, "build:\n%s" %
                     (r.stdout + r.stderr).decode(errors="replace")[-3000:])
    exe = os.path.join(build, "beacon")
    deps = env.run([ldd, exe], check=True).stdout.decode()
    for lib in ("libssl", "libcrypto", "libuv"):
        harness.check(lib not in deps, "%s linked dynamically:\n%s" %
                      (lib, deps))
    harness.check_eq(env.run([exe, "version"], check=True).stdout,
                     env.beacon("version", check=True).stdout, "version")
    # TLS works from the static OpenSSL: a relay on it serves a tunnel.
    old = env.bin
    env.bin = exe
    try:
        relay = env.start_relay(name="static-relay")
        with Echo() as e:
            r = env.tpeer("echo", "--target", e.addr, "--bytes", "20000",
                          relay=relay)
            harness.check(r.get("ok"), r)
    finally:
        env.bin = old


if __name__ == "__main__":
    harness.main()
