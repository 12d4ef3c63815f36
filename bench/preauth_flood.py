#!/usr/bin/env python3
"""A pre-authentication flood against `beacon egress`, on loopback, and
what a real controller sees meanwhile (bench/RESULTS.md "Pre-authentication
flood"). Two cases, each a fresh relay with default flags and 2 workers:

  one_source    IDLE_N (2000) idle connections held from 127.0.0.2 and
                reopened as the relay closes them, plus garbage
                handshakes from 127.0.0.3 (two senders, each aiming at
                200 a second)
  many_sources  64 idle connections from each of 40 addresses
                (127.0.0.10-49), held and reopened

Meanwhile LEGIT_N (200) controller tunnels from 127.0.0.1, one after
another: TCP connect, mutual TLS, a yamux ping answered. Prints the
success rate, how many took at most 1 s, and the latency quantiles.

  cd build && python3 ../bench/preauth_flood.py one_source
  BEACON_BIN=/other/beacon python3 ../bench/preauth_flood.py many_sources

Standard library only; every socket is on 127.0.0.0/8; bounded in time.
"""
import os
import resource
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))

import harness  # noqa: E402
from test_hostile import Flood, legit_tunnel  # noqa: E402
from test_relay_peer import client_context  # noqa: E402

LEGIT_N = int(os.environ.get("LEGIT_N", "200"))
IDLE_N = int(os.environ.get("IDLE_N", "2000"))


def controller_ctx(env):
    pki = env.pki()
    return client_context(os.path.join(pki, "controller.crt"),
                          os.path.join(pki, "controller.key"),
                          os.path.join(pki, "fleet-ca.crt"))


def report(name, env, relay, took, garbage, seconds):
    ok = sorted(t for t in took if t is not None)
    within = sum(1 for t in ok if t <= 1.0)

    def q(p):
        return "%.3f" % ok[min(len(ok) - 1, int(len(ok) * p))] if ok else "-"
    print("%s: bin=%s garbage=%.0f/s legit %d/%d ok "
          "(%.1f %%), %d within 1 s (%.1f %%); latency p50 %s p99 %s "
          "max %s s" % (name, env.bin, garbage / seconds, len(ok), len(took),
                        100.0 * len(ok) / len(took), within,
                        100.0 * within / len(took), q(0.5), q(0.99),
                        "%.3f" % ok[-1] if ok else "-"))
    log = relay.log_text()
    print("%s: relay log: tunnel_refused %d, handshake_refused %d lines, "
          "handshake_failed %d" % (name, log.count("tunnel_refused"),
                                   log.count("handshake_refused"),
                                   log.count("handshake_failed")))


def run(env, name, floods_fn):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    relay = env.start_relay([], workers=2, allow_loopback=False)
    ctx = controller_ctx(env)
    floods = floods_fn(relay.port)
    deadline = time.monotonic() + 30
    while sum(f.opened for f in floods) < IDLE_N and \
            time.monotonic() < deadline:
        time.sleep(0.1)
    t0, g0 = time.monotonic(), sum(f.garbage for f in floods)
    took = [legit_tunnel(relay.port, ctx) for _ in range(LEGIT_N)]
    # the flood's rate while the controller dialled (at least 1 s)
    time.sleep(max(0, 1 - (time.monotonic() - t0)))
    seconds = time.monotonic() - t0
    garbage = sum(f.garbage for f in floods) - g0
    for f in floods:
        f.close()
    report(name, env, relay, took, garbage, seconds)


@harness.timeout(600)
def test_one_source(env):
    run(env, "one_source", lambda port: [
        Flood(env, port, IDLE_N, 200), Flood(env, port, 0, 200, ())])


@harness.timeout(600)
def test_many_sources(env):
    run(env, "many_sources", lambda port: [
        Flood(env, port, 64, 0, idle_sources=range(10, 50))])


if __name__ == "__main__":
    threading.stack_size(256 * 1024)
    harness.main()
