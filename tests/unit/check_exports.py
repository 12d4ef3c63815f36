#!/usr/bin/env python3
"""check_exports.py - libbeacon.so exports exactly the public API.

    check_exports.py NM LIBBEACON_SO BEACON_H

Every dynamic symbol libbeacon.so defines must be a beacon_* name, and
every function beacon.h declares with BEACON_API must be among them: an
internal name leaking out (log_setup, mux_*) would collide with an
application's, and a missing one would break its link.
"""
import re
import subprocess
import sys


def exported(nm, lib):
    out = subprocess.run([nm, "-D", "--defined-only", lib], check=True,
                         capture_output=True, text=True, timeout=60).stdout
    names = set()
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 3:
            # Versioned names look like name@@VERS; the linker's own
            # absolute version nodes (type A) are not code.
            if parts[1] == "A":
                continue
            names.add(parts[2].split("@")[0])
    return names


def declared(header):
    text = open(header, encoding="utf-8").read()
    return set(re.findall(r"BEACON_API\b[^;{]*?\b(beacon_\w+)\s*\(", text))


def main():
    if len(sys.argv) != 4:
        print(__doc__, file=sys.stderr)
        return 2
    nm, lib, header = sys.argv[1:]
    have = exported(nm, lib)
    want = declared(header)
    bad = 0
    if not want:
        print("no BEACON_API declarations found in", header)
        bad = 1
    for name in sorted(have):
        if not name.startswith("beacon_"):
            print("exported but not public:", name)
            bad = 1
    for name in sorted(want - have):
        print("declared in beacon.h but not exported:", name)
        bad = 1
    for name in sorted(have - want):
        if name.startswith("beacon_"):
            print("exported but not declared BEACON_API in beacon.h:", name)
            bad = 1
    print("%d exported, %d declared" % (len(have), len(want)))
    return bad


if __name__ == "__main__":
    sys.exit(main())
