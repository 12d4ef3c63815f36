/* frame.c - the 12-byte yamux frame header, big-endian (docs/PROTOCOL.md
 * "Multiplexing: yamux, protocol version 0"). */
#include "mux/mux.h"

static void put16(uint8_t *p, uint16_t v)
{
  p[0] = (uint8_t)(v >> 8);
  p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
  p[0] = (uint8_t)(v >> 24);
  p[1] = (uint8_t)(v >> 16);
  p[2] = (uint8_t)(v >> 8);
  p[3] = (uint8_t)v;
}

static uint32_t get32(const uint8_t *p)
{
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 |
         (uint32_t)p[3];
}

void mux_header_encode(uint8_t out[MUX_HEADER_SIZE], const mux_header_t *h)
{
  out[0] = h->version;
  out[1] = h->type;
  put16(out + 2, h->flags);
  put32(out + 4, h->stream_id);
  put32(out + 8, h->length);
}

void mux_header_decode(mux_header_t *h, const uint8_t in[MUX_HEADER_SIZE])
{
  h->version = in[0];
  h->type = in[1];
  h->flags = (uint16_t)(in[2] << 8 | in[3]);
  h->stream_id = get32(in + 4);
  h->length = get32(in + 8);
}
