#!/usr/bin/env python3
"""check_version.py - every place that states libbeacon's version agrees
with beacon.h's BEACON_VERSION_* macros, the single source of truth.

    check_version.py [--no-load] BEACON_H PROJECT_VERSION BEACON_BIN
                     LIBBEACON_SO OBJDUMP CMAKE BUILD_DIR

Checked: the macros against BEACON_VERSION and BEACON_VERSION_NUMBER,
CMake's project version, `beacon version`, beacon_version() and
beacon_version_number() of the built libbeacon.so, its soname
(libbeacon.so.MAJOR) and the Version of the installed libbeacon.pc.
--no-load skips calling into the library (a sanitizer build's libbeacon.so
cannot be loaded into an uninstrumented Python); unit.api checks
beacon_version() against the macros in every build.
"""
import ctypes
import os
import re
import subprocess
import sys
import tempfile

failures = []


def check_eq(got, want, what):
    if got != want:
        failures.append("%s: %r, want %r" % (what, got, want))


def header_version(path):
    text = open(path, encoding="utf-8").read()
    parts = []
    for part in ("MAJOR", "MINOR", "PATCH"):
        m = re.search(r"^#define BEACON_VERSION_%s (\d+)$" % part, text, re.M)
        if not m:
            sys.exit("beacon.h: no BEACON_VERSION_%s" % part)
        parts.append(int(m.group(1)))
    return parts


def main():
    args = sys.argv[1:]
    load = True
    if args and args[0] == "--no-load":
        load = False
        args = args[1:]
    if len(args) != 7:
        print(__doc__, file=sys.stderr)
        return 2
    header, project, beacon, lib, objdump, cmake, build = args
    major, minor, patch = header_version(header)
    want = "%d.%d.%d" % (major, minor, patch)
    want_number = (major << 16) | (minor << 8) | patch

    check_eq(project, want, "CMake project version")

    r = subprocess.run([beacon, "version"], capture_output=True, text=True,
                       timeout=30)
    check_eq(r.stdout.strip(), "beacon " + want, "beacon version")

    if load:
        # The library is compiled from BEACON_VERSION and
        # BEACON_VERSION_NUMBER, so this checks the macros built from the
        # three parts too.
        so = ctypes.CDLL(lib)
        so.beacon_version.restype = ctypes.c_char_p
        so.beacon_version_number.restype = ctypes.c_uint
        check_eq(so.beacon_version().decode(), want, "beacon_version()")
        check_eq(so.beacon_version_number(), want_number,
                 "beacon_version_number()")

    r = subprocess.run([objdump, "-p", lib], capture_output=True, text=True,
                       timeout=30)
    m = re.search(r"^\s*SONAME\s+(\S+)", r.stdout, re.M)
    check_eq(m.group(1) if m else None, "libbeacon.so.%d" % major, "soname")

    with tempfile.TemporaryDirectory(prefix="beacon-version-") as prefix:
        r = subprocess.run([cmake, "--install", build, "--prefix", prefix],
                           capture_output=True, text=True, timeout=120)
        if r.returncode:
            failures.append("cmake --install: " + r.stderr)
        else:
            pcs = [os.path.join(d, f) for d, _, fs in os.walk(prefix)
                   for f in fs if f == "libbeacon.pc"]
            pc = open(pcs[0]).read() if pcs else ""
            m = re.search(r"^Version: (\S+)$", pc, re.M)
            check_eq(m.group(1) if m else None, want, "libbeacon.pc Version")

    for f in failures:
        print("FAIL", f)
    print("version %s (0x%06x): %s" % (want, want_number,
                                        "mismatch" if failures else "agree"))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
