/*
 * stream_state.h - the state of one relay stream's sans-I/O core and
 * what its adapter plays (stream_core.h says how they are used): the
 * stream, the ops, what a tunnel's streams share, the quota, the gather
 * table. Types only.
 */
#ifndef BEACON_RELAY_STREAM_STATE_H
#define BEACON_RELAY_STREAM_STATE_H

#include <stddef.h>
#include <stdint.h>

#include "common/outcome.h"
#include "conn/pump.h"
#include "mux/mux.h"
#include "relay/relay.h"
#include "target/target.h"

/* --max-dials-per-tunnel's default: connects in progress (lookups
 * included) per tunnel. Why 256: docs/SECURITY.md "Budgets". */
#define STREAM_CORE_MAX_DIALS_DEFAULT 1024
/* Pieces gathered during one mux_recv(), written once it returned. */
#define STREAM_GATHER_MAX 64

typedef struct stream_core stream_core_t;

enum stream_core_state {
  STREAM_TARGET, /* waiting for the target line */
  STREAM_DIAL,   /* resolving and connecting */
  STREAM_OPEN,   /* pumping */
  STREAM_DONE    /* finished: the adapter closes down */
};

/* The memory a relay may hold, asked before a stream is admitted and
 * before it holds more bytes. NULL functions (or no quota) = unlimited.
 * hold() charges n bytes and returns 0, or -1 when that is over the
 * limit: the core then refuses a stream not yet acknowledged (and
 * releases the charge), but keeps the bytes of an accepted one, which
 * stay charged: accepted bytes are never dropped. Every byte a stream
 * holds is charged, upstream and stash alike; a receive window is
 * credit, not held bytes (the tunnel bounds what its streams hold
 * upstream by reading less: held_up). */
typedef struct stream_quota {
  int (*admit)(void *ud);
  int (*hold)(void *ud, size_t n);
  void (*release)(void *ud, size_t n);
  void *ud;
} stream_quota_t;

/* What every stream of one tunnel shares; the tunnel owns it. */
typedef struct stream_core_tunnel {
  mux_t *mux;               /* the tunnel's session, set once it is up */
  relay_metrics_t *metrics; /* counters; NULL = none */
  const stream_quota_t *quota;
  uint64_t target_timeout_ms; /* stream open to target line */
  unsigned max_dials;         /* 0 = unlimited */
  unsigned dials;             /* in progress now */
  int confirm_connect;        /* beacon/1: ACK once connected */
  int output;                 /* the mux has new output: flush it */
  uint64_t bytes_up, bytes_down;
  /* Upstream bytes its streams hold (copied while dialling, kept by the
   * adapter's writes): what its reads from the controller added and its
   * targets have not taken yet. */
  size_t held_up;
  struct stream_gather *gather; /* the worker's */
} stream_core_tunnel_t;

typedef struct stream_core_iov {
  const uint8_t *p;
  size_t n;
} stream_core_iov_t;

/* The adapter's side; ud is stream_core_init's. */
typedef struct stream_core_ops {
  /* Resolve and connect to tgt (copy what is needed). 0, or a negative
   * code: it could not start (the stream is refused relay_limit). The
   * result comes as stream_core_on_dialled. */
  int (*dial)(void *ud, const target_t *tgt);
  /* Write the bytes to the target, in order after those already given.
   * Returns what was written at once; the adapter keeps the rest and
   * reports it with stream_core_on_target_written. Negative on failure,
   * with why filled in. */
  int64_t (*write)(void *ud, const stream_core_iov_t *iov, unsigned n,
                   char *why, size_t why_len);
  /* Shut the target's write side after every byte given. 0 or negative
   * (then the stream is reset); completion: on_target_shut. */
  int (*shut_write)(void *ud);
  /* Read the target (on) or stop. 0 or negative. */
  int (*read)(void *ud, int on);
  /* The stream is over: cancel the dial, close the target, then free
   * the core (stream_core_free) outside the caller's callbacks. */
  void (*finished)(void *ud);
  /* A mux call on the live stream failed with rc (no memory for its
   * frame): call is "write", "close", "consumed" or "reset". The stream
   * is reset; this is for the log (stream_mux_failed). Optional. */
  void (*mux_failed)(void *ud, const char *call, int rc);
} stream_core_ops_t;

struct stream_core {
  stream_core_tunnel_t *tun;
  const stream_core_ops_t *ops;
  void *ud;
  uint32_t id;
  enum stream_core_state state;
  int mux_live;      /* id still live in the mux */
  int aborted;       /* reset either way or tunnel gone */
  int unacked;       /* beacon/1: no ACK sent yet */
  int dialling;      /* counted in tun->dials */
  int connected;     /* the target connection exists */
  int reading;       /* the adapter reads the target */
  uint64_t deadline; /* the target line's, UINT64_MAX once parsed */
  /* Only until the target line is parsed (most of a stream's life is
   * spent pumping): the parser state and the target. */
  struct stream_core_setup *setup;
  char *target_text; /* "host:port" once parsed, for the logs */
  char resolved[64]; /* the address connected to */
  /* upstream: copies held during the dial, bytes the adapter holds */
  struct stream_core_chunk *pend_head, *pend_tail;
  size_t pend_bytes;
  size_t queued;    /* given to write, not yet written */
  unsigned ngather; /* pieces of ours in tun->gather */
  int peer_fin, shut_sent, shut_done;
  /* downstream; the pump also gives the upstream window back */
  pump_t pump;
  size_t held;       /* held: pending, queued by the adapter, stashed */
  size_t held_up;    /* of it, upstream: pending and queued */
  size_t charged;    /* of it, charged to the quota */
  outcome_t outcome; /* the first one decided stands; its beacon/1
                        reason goes in an RST before the ACK */
  char reason[96];
  uint64_t bytes_up, bytes_down;
};

typedef struct stream_gather {
  struct stream_gather_piece {
    stream_core_t *s; /* NULL once written or dropped */
    const uint8_t *p;
    size_t n;
  } piece[STREAM_GATHER_MAX];
  unsigned n;
} stream_gather_t;

/* Upstream bytes copied while the target is dialled. */
typedef struct stream_core_chunk {
  struct stream_core_chunk *next;
  size_t len;
  uint8_t data[];
} stream_core_chunk_t;

#endif
