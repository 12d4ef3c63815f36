/* path_marks.c - marks below the mux by round trip (path_marks.h). */
#include "conn/path_marks.h"

#include "mux/mux.h"

int path_is_near(uint64_t rtt_ms)
{
  return rtt_ms && rtt_ms <= PATH_NEAR_RTT_MS;
}

void path_marks_for(path_marks_t *pm, uint64_t rtt_ms, size_t far_high_water,
                    size_t near_high_water)
{
  if(path_is_near(rtt_ms)) {
    /* The system's send buffer, a megabyte of ciphertext, eight frames
     * a stream: what the relay wrote before the marks were cut for long
     * paths, and what keeps loopback at few large writes. */
    pm->high_water = near_high_water;
    pm->stream_queue = PATH_NEAR_STREAM_QUEUE;
    pm->notsent_lowat = 0;
    pm->max_window = PATH_NEAR_MAX_WINDOW;
    return;
  }
  pm->high_water = far_high_water;
  pm->stream_queue = MUX_STREAM_QUEUED_MAX;
  pm->notsent_lowat = PATH_FAR_NOTSENT_LOWAT;
  pm->max_window = UINT32_MAX;
}
