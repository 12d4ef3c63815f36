#!/usr/bin/env python3
"""Checks the calls between the files of each folder of src/
(docs/ARCHITECTURE.md "Dependencies").

The include check (check_includes.py) sees which headers a file
includes; this one sees which functions it calls. Inside a folder the
files have an order, bottom first, written in ORDER below; a function
may call into its own file or into a file below it, never into one
above: a lower file reports up through a table of function pointers
that the file above fills in. A concept is a file name without its
extension (relay/relay_tunnel.c and relay/relay_tunnel.h are one), so an inline
function in a header belongs to that header's concept.

Fails when
  - a function calls a function defined in a file above its own,
  - a file that defines functions has no place in its folder's order,
  - the order names a file that does not exist.
The C is read with regular expressions after comments, strings and
preprocessor lines are blanked: a definition is a top-level "name(...)
{", a call is "name(" inside a body that names a function defined in
the same folder (macros and function pointers are not calls here).
Usage: check_calls.py SOURCE_ROOT [--graph]
"""
import os
import re
import sys

# Each folder's files, bottom first. Only files that define functions
# need a place.
ORDER = {
    "common": ["list", "error", "addr", "hostport", "fault", "suggest",
               "sd_notify", "version", "outcome", "expiry_window", "congestion",
               "tunnel_socket", "text_out"],
    "log": ["log"],
    "metrics": ["registry", "histogram", "connect_seconds", "http_request",
                "http", "process"],
    "target": ["host", "parse"],
    "mux": ["frame", "mux_int", "table", "outq", "ping", "mux_stream",
            "session"],
    "tls": ["bio_queue", "banner", "cert_names", "file_checks", "crl",
            "config_check", "identity", "pin", "context", "conn_fail",
            "tls_conn", "crl_dates",
            "peer_cert"],
    "policy": ["rule", "ranges", "preset", "own", "class", "check"],
    "conn": ["path_marks", "pump", "conn", "conn_uv", "conn_turn"],
    "dial": ["resolve_cache", "resolve_hosts", "resolve_group", "dns_srv",
             "resolve", "dial"],
    "proxy": ["socks", "http_connect", "http_body", "http_forward"],
    "cli_support": ["config_file", "pki_files", "pki_cert", "pki_crl",
                    "pki_csr", "pki_fingerprint", "pki_init", "pki_issue",
                    "pki_renew", "pki_sign"],
    "relay": ["addr_text", "relay_int", "admission", "budget",
              "cert_deadline", "stream_end", "stream_upstream",
              "stream_core", "settings", "resources", "prom", "own_addrs",
              "listener", "handshake", "relay_check", "recheck",
              "restart_only", "reload", "crl_watch", "relay_stream",
              "tunnel_budget", "relay_tunnel", "tunnel_drain", "revocation",
              "worker", "server"],
    "client": ["client_int", "req", "pool", "fleet", "config", "own_files",
               "dialled_stream", "chain_state", "carrier", "chain_output",
               "chain_hop", "chain", "pool_status", "member_state", "fleet_watch",
               "members", "renewal", "relay_recheck",
               "rotation",
               "socket_pair", "tunnel"],
    "cli": ["values", "options", "client_opts", "connect", "egress_reload",
            "egress", "forward_service", "forward_front", "forward_metrics", "forward_http",
            "forward_copy", "forward_conn", "forward_pool",
            "forward_listen", "forward", "gen_csr", "pki", "main"],
}
# Upward calls known and not fixed yet, each with its reason; the check
# names them on every run. A call listed here that is gone fails the
# check, so the list only shrinks.
KNOWN = set()

KEYWORDS = {"if", "for", "while", "switch", "return", "sizeof", "defined",
            "_Alignof", "alignof", "_Static_assert", "case", "do", "else",
            "_Generic", "offsetof"}
COMMENT_OR_LITERAL = re.compile(
    r'/\*.*?\*/|//[^\n]*|"(?:\\.|[^"\\\n])*"|\'(?:\\.|[^\'\\\n])*\'', re.S)
PREPROCESSOR = re.compile(r"^[ \t]*#(?:[^\n]*\\\n)*[^\n]*", re.M)
NAME_BEFORE_PAREN = re.compile(r"\b([A-Za-z_]\w*)\s*\(")
# A call by name: not a member (s.fn(, s->fn(), which is a pointer.
CALL = re.compile(r"(?<!\.)(?<!->)\b([A-Za-z_]\w*)\s*\(")


def blank(text):
    """Comments, literals and directives become spaces (lines are kept)."""
    def spaces(m):
        return re.sub(r"[^\n]", " ", m.group(0))
    text = COMMENT_OR_LITERAL.sub(spaces, text)
    return PREPROCESSOR.sub(spaces, text)


def definitions(text):
    """[(name, is_static, body)] of the top-level function definitions."""
    found = []
    depth = 0
    start = 0  # where the current top-level declaration began
    i = 0
    n = len(text)
    while i < n:
        c = text[i]
        if c == "{" and depth == 0:
            head = text[start:i].strip()
            open_at = i
            depth = 1
            i += 1
            while i < n and depth:
                if text[i] == "{":
                    depth += 1
                elif text[i] == "}":
                    depth -= 1
                i += 1
            m = NAME_BEFORE_PAREN.search(head)
            if m and head.endswith(")") and "=" not in head:
                static = re.match(r"(?:\w+\s+)*?static\b", head) is not None
                found.append((m.group(1), static, text[open_at:i]))
            start = i
            continue
        if c in ";}" and depth == 0:
            start = i + 1
        i += 1
    return found


def read_folder(d):
    """{concept: [(name, is_static, body)]} of one folder."""
    out = {}
    for name in sorted(os.listdir(d)):
        if not name.endswith((".c", ".h")):
            continue
        with open(os.path.join(d, name), encoding="utf-8") as f:
            text = blank(f.read())
        out.setdefault(os.path.splitext(name)[0], []).extend(
            definitions(text))
    return out


def calls(folder, defs):
    """[(caller concept, function, callee concept, callee function)]."""
    public = {}
    for concept, fns in defs.items():
        for name, static, _ in fns:
            # A static function in a header is an inline view: every
            # file that includes the header can call it.
            if not static or concept.endswith("_int") or \
                    os.path.exists(os.path.join(folder, concept + ".h")) and \
                    not os.path.exists(os.path.join(folder, concept + ".c")):
                public.setdefault(name, concept)
    edges = []
    for concept, fns in defs.items():
        local = {name for name, _, _ in fns}
        for name, _, body in fns:
            for callee in CALL.findall(body):
                if callee in KEYWORDS or callee in local:
                    continue
                there = public.get(callee)
                if there and there != concept:
                    edges.append((concept, name, there, callee))
    return edges


def check(src, graph=False):
    problems = []
    seen = set()
    for folder in sorted(os.listdir(src)):
        d = os.path.join(src, folder)
        if not os.path.isdir(d):
            continue
        defs = read_folder(d)
        edges = calls(d, defs)
        if graph:
            for a, f, b, g in sorted(set(edges)):
                print("%s/%s %s() -> %s %s()" % (folder, a, f, b, g))
            continue
        order = ORDER.get(folder, [])
        rank = {c: i for i, c in enumerate(order)}
        for c in order:
            if c not in defs:
                problems.append("%s/: order names %s, which is not a file"
                                % (folder, c))
        for c in sorted(defs):
            if defs[c] and c not in rank:
                problems.append("%s/%s has no place in the order of %s/ in "
                                "check_calls.py" % (folder, c, folder))
        for a, f, b, g in sorted(set(edges)):
            if a in rank and b in rank and rank[b] > rank[a]:
                key = (folder + "/" + a, f, folder + "/" + b, g)
                if key in KNOWN:
                    seen.add(key)
                    print("known upward call (to fix): %s %s() -> %s %s()"
                          % key)
                    continue
                problems.append("upward call: %s/%s %s() -> %s/%s %s()"
                                % (folder, a, f, folder, b, g))
    if not graph:
        for key in sorted(KNOWN - seen):
            problems.append("listed as known but gone, remove it from "
                            "KNOWN: %s %s() -> %s %s()" % key)
    return problems


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    root = args[0] if args else "."
    graph = "--graph" in sys.argv
    problems = check(os.path.join(root, "src"), graph)
    if graph:
        return 0
    for p in problems:
        print(p)
    if problems:
        return 1
    print("call graph: %d folders, no call into a file above its own"
          % len(ORDER))
    return 0


if __name__ == "__main__":
    sys.exit(main())
