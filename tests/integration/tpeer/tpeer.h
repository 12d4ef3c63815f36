/*
 * tpeer.h - a controller-side test peer built on beacon's own cores: one
 * TCP socket (blocking connect, then non-blocking with poll()), the
 * connection core over it (conn/conn.h: TLS with a yamux client session
 * on top), and a passive frame observer that records what the relay sent
 * (Go Away codes, RSTs, pings) independently of the mux's own
 * interpretation.
 *
 * Streams opened through the mux are "managed" (tp_stream_t). Frames
 * injected with tp_send_raw() use ids from TP_RAW_BASE up, which the mux
 * never allocates; the observer tracks the relay's answers on those ids
 * (the mux drains them as frames for streams that are not live,
 * docs/PROTOCOL.md "Closing").
 */
#ifndef BEACON_TPEER_H
#define BEACON_TPEER_H

#include <stddef.h>
#include <stdint.h>

#include "conn/conn.h"
#include "mux/mux.h"
#include "tls/tls.h"

/* Exit codes. */
#define TP_EXIT_OK 0
#define TP_EXIT_FAIL 1 /* the scenario ran and its check failed */
#define TP_EXIT_USAGE 2
#define TP_EXIT_CONN 3 /* connect, TLS or deadline failure */

#define TP_RAW_BASE 0x40000001u
#define TP_RAW_TRACK 8   /* raw streams whose payload is kept */
#define TP_RAW_KEEP 4096 /* payload bytes kept per raw stream */
#define TP_KEEP 512      /* first received bytes kept per stream */

typedef struct tp tp_t;

typedef struct tp_stream {
  tp_t *tp;
  uint32_t id;
  int acked, fin_in, fin_out, reset, closed;
  uint32_t reset_code; /* the relay's reason in the RST (beacon/1) */
  /* outgoing: the target line, then pay_len bytes of the pattern
   * (seed) or of `fixed`, then FIN when want_fin */
  char line[300];
  size_t line_len, line_off;
  uint64_t seed;
  const uint8_t *fixed;
  uint64_t pay_len, pay_off;
  int want_fin;
  size_t chunk;
  /* incoming */
  uint64_t in_len;
  int verify; /* compare with the pattern of seed */
  int mismatch;
  uint64_t mismatch_at;
  uint8_t keep[TP_KEEP]; /* first bytes received */
  size_t keep_len;
  void *sha_out, *sha_in; /* EVP_MD_CTX, when hashing */
  uint64_t t_open, t_ack, t_end;
} tp_stream_t;

typedef struct tp_raw {
  uint32_t id;
  int acked, fin, rst;
  uint8_t data[TP_RAW_KEEP];
  size_t len;
} tp_raw_t;

typedef struct tp_obs {
  uint8_t hdr[MUX_HEADER_SIZE];
  size_t hlen;
  mux_header_t cur;
  uint64_t skip;   /* payload bytes left in the current frame */
  int64_t go_away; /* -1: none received */
  uint64_t t_go_away;
  uint32_t frames, rst, ack, fin, ping_syn, ping_ack;
  uint32_t raw_rst, raw_ack, raw_fin, raw_data;
  tp_raw_t raws[TP_RAW_TRACK];
} tp_obs_t;

struct tp {
  int fd;
  tls_ctx_t *ctx;
  conn_t *conn;    /* TLS + mux */
  tls_conn_t *tls; /* conn_tls(conn) */
  mux_t *mux;      /* conn_mux(conn) once the handshake is done */
  tp_obs_t obs;
  uint8_t *out; /* ciphertext waiting for the socket (the core counts it
                  as queued: conn_advance_queued, conn_write_done) */
  size_t out_len, out_cap;
  int eof;        /* TCP EOF or error: the tunnel is gone */
  int tls_closed; /* close_notify received */
  int mux_error;  /* our mux refused the relay's bytes (tunnel ends) */
  int wr_err;     /* errno of a failed send; reads go on */
  char why[256];  /* why the tunnel ended */
  uint64_t t_closed;
  uint32_t pings_acked;
  uint64_t rtt_sum_ms;
  int extra_fd; /* also polled for POLLIN (stdin) or -1 */
  int extra_ready;
};

typedef struct tp_opts {
  const char *relay; /* HOST:PORT */
  const char *cert, *key, *ca;
  const char *expect_host;
  int connect_timeout_ms;
  uint64_t keepalive_ms; /* mux keep-alive; 0 = off */
  uint32_t max_streams;  /* mux cap; 0 = the mux default */
  int beacon_alpn;       /* offer beacon/1: refusals carry a reason */
} tp_opts_t;

uint64_t tp_now(void);
void tp_pattern(uint64_t seed, uint64_t off, uint8_t *out, size_t n);

/* Connects, runs the TLS handshake and creates the mux client session.
 * 0, or TP_EXIT_CONN with a message on stderr. */
int tp_connect(tp_t *tp, const tp_opts_t *o);
void tp_close(tp_t *tp);

/* One round of I/O: moves mux output into TLS and to the socket, waits
 * up to timeout_ms for input (less when the mux has a timer due), feeds
 * what arrived to the observer and the mux. Returns 0, or -1 once the
 * tunnel is gone (tp->eof, tp->why says why). */
int tp_step(tp_t *tp, int timeout_ms);
/* Steps until every queued byte reached the socket (or the tunnel
 * died / deadline passed). 0 or -1. */
int tp_flush(tp_t *tp, uint64_t deadline);

/* Sends bytes below the mux (after the mux output queued so far). */
int tp_send_raw(tp_t *tp, const uint8_t *data, size_t len);
/* Encodes and sends one frame header plus payload. */
int tp_send_frame(tp_t *tp, uint8_t type, uint16_t flags, uint32_t id,
                  uint32_t length, const uint8_t *payload, size_t plen);
tp_raw_t *tp_raw_find(tp_t *tp, uint32_t id);

/* Opens a managed stream whose target line is `target` + "\n". */
int tp_stream_open(tp_t *tp, tp_stream_t *s, const char *target);
/* Queues as much of s's pending output as the window allows. */
void tp_stream_pump(tp_stream_t *s);
/* 1 when all of s's output (and FIN if wanted) is queued. */
int tp_stream_sent(const tp_stream_t *s);
/* Ends hashing and writes the hex digests ("" when not hashing). */
void tp_stream_digests(tp_stream_t *s, char out_hex[65], char in_hex[65]);
void tp_stream_hash(tp_stream_t *s, int out, int in);
void tp_stream_free(tp_stream_t *s);

/* Runs scenario `name` (scenario.c) with the arguments after it: prints
 * one JSON line and returns an exit code. */
int tp_run_scenario(const tp_opts_t *o, const char *name, int argc,
                    char **argv);

/* Tiny JSON line builder. */
typedef struct tp_json {
  char buf[4096];
  size_t len;
} tp_json_t;
void tp_json_begin(tp_json_t *j);
void tp_json_int(tp_json_t *j, const char *k, int64_t v);
void tp_json_num(tp_json_t *j, const char *k, double v);
void tp_json_bool(tp_json_t *j, const char *k, int v);
void tp_json_str(tp_json_t *j, const char *k, const char *v);
void tp_json_null(tp_json_t *j, const char *k);
void tp_json_print(tp_json_t *j);

void tp_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
