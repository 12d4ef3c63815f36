/*
 * scenario.h - tpeer's scenario arguments and helpers shared by
 * scenario.c and violation.c.
 */
#ifndef BEACON_TPEER_SCENARIO_H
#define BEACON_TPEER_SCENARIO_H

#include <stdint.h>

#include "tpeer.h"

typedef struct sc_args {
  const char *target;     /* --target HOST:PORT */
  const char *then_echo;  /* --then-echo HOST:PORT (violation, raw) */
  const char *expect_sha; /* --expect-sha HEX (download) */
  const char *payload;    /* --payload TEXT (expect-reset) */
  const char *hex;        /* --hex FRAMES (raw) */
  const char *expect;     /* --expect goaway:N|closed|up|rst (violation) */
  uint64_t streams, bytes, chunk, wait_ms, ping_ms, seconds, seed;
  const char *pos[4]; /* positional words (violation KIND [N]) */
  int npos;
  int flag_fin;
  void *user;
} sc_args_t;

int sc_parse(sc_args_t *a, int argc, char **argv);
/* Steps the tunnel, pumping the n streams of ss, until `until` returns
 * non-zero (or, when until is NULL, every stream is closed). 0 done, -1
 * the tunnel is gone, -2 the deadline passed. */
int sc_wait(tp_t *tp, tp_stream_t *ss, size_t n, int (*until)(tp_t *, void *),
            void *arg, uint64_t deadline);

int sc_raw(tp_t *tp, const sc_args_t *a, tp_json_t *j);
int sc_violation(tp_t *tp, const sc_args_t *a, tp_json_t *j);

#endif
