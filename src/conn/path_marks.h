/*
 * path_marks.h - how much may wait below the mux, chosen by the path's
 * round trip (docs/PROTOCOL.md "Flow control").
 *
 * Bytes that wait in frame order (the kernel's unsent bytes, the
 * ciphertext queue, each stream's share of the mux queue) delay every
 * stream's next frame by their drain time. On a long path that time is
 * milliseconds, so the marks stay small. On a path of microseconds
 * (loopback, a LAN) they drain at once, and small marks only cost
 * wake-ups: more reads, writes and epoll changes per byte. Sans-I/O:
 * the round trip comes from the caller.
 */
#ifndef BEACON_PATH_MARKS_H
#define BEACON_PATH_MARKS_H

#include <stddef.h>
#include <stdint.h>

#include "common/tunnel_socket.h"

/* A round trip this short (ms, the mux's ping, which rounds a loopback
 * round trip to 1) counts as near. */
#define PATH_NEAR_RTT_MS 2
/* Pings timed back to back at the start, for the smallest of them. */
#define PATH_RTT_SAMPLES 16
/* Near: each stream may queue eight full frames in the mux. */
#define PATH_NEAR_STREAM_QUEUE (8u * (65536u + 12u))
/* Near: no stream's receive window grows beyond this. A millisecond
 * clock cannot time a grant epoch of microseconds: every epoch looks
 * fast and the window would grow to max_window, to be filled faster
 * than the local end drains it and copied aside. Four times the
 * protocol's 256 KiB: where the ends share busy cores a grant waits
 * for the scheduler, not the wire, and the sender keeps sending
 * meanwhile (bench/RESULTS.md "Near windows of 1 MiB"). */
#define PATH_NEAR_MAX_WINDOW (1024u * 1024u)
/* Far: the kernel keeps at most this much unsent on a tunnel socket
 * (what tunnel_socket_tune() sets before the round trip is known). */
#define PATH_FAR_NOTSENT_LOWAT TUNNEL_NOTSENT_LOWAT

typedef struct path_marks {
  size_t high_water;     /* ciphertext waiting before mux output stops
                            being encrypted (conn_config_t) */
  uint32_t stream_queue; /* mux_set_stream_queue_max() */
  int notsent_lowat;     /* TCP_NOTSENT_LOWAT; 0 = the system's default */
  uint32_t max_window;   /* mux_set_window_cap() */
} path_marks_t;

/* 1 when rtt_ms (the mux's smallest ping round trip, 0 = unknown) is a
 * near path's. */
int path_is_near(uint64_t rtt_ms);

/* The marks for a session whose smallest ping round trip is rtt_ms (0:
 * not measured yet, which counts as far). far_high_water and
 * near_high_water are the connection's two ciphertext marks. */
void path_marks_for(path_marks_t *pm, uint64_t rtt_ms, size_t far_high_water,
                    size_t near_high_water);

#endif
