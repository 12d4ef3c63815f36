/*
 * fuzz_pin.c - the relay key pin syntax (src/tls/pin.h) on arbitrary
 * bytes. Aborts when an invariant breaks: tls_pin_parse() accepts or
 * returns BEACON_EINVAL; what it accepts is 64 lowercase hex digits that
 * parse back to themselves, and were the input's hex digits in order;
 * tls_pins_add() never holds more than TLS_PINS_MAX pins, nor one twice.
 */
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_check.h"
#include "beacon/beacon.h"
#include "tls/pin.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  char *text = malloc(size + 1);
  if(!text)
    return 0;
  memcpy(text, data, size);
  text[size] = '\0';
  char hex[65], again[65];
  int rc = tls_pin_parse(text, hex);
  if(rc) {
    CHECK(rc == BEACON_EINVAL);
  } else {
    CHECK(strlen(hex) == 64);
    size_t k = 0;
    for(size_t i = 0; i < size && text[i]; i++)
      if(text[i] != ':')
        CHECK(hex[k++] == (char)tolower((unsigned char)text[i]));
    CHECK(k == 64);
    for(int i = 0; i < 64; i++)
      CHECK(isdigit((unsigned char)hex[i]) ||
            (hex[i] >= 'a' && hex[i] <= 'f'));
    CHECK(tls_pin_parse(hex, again) == 0 && !strcmp(hex, again));
  }
  /* the input cut in pieces of 64 bytes: a list of pins */
  static tls_pins_t pins;
  memset(&pins, 0, sizeof(pins));
  for(size_t off = 0; off + 64 <= size; off += 64) {
    char piece[65];
    memcpy(piece, data + off, 64);
    piece[64] = '\0';
    int n = pins.n;
    rc = tls_pins_add(&pins, piece);
    CHECK(rc == 0 || rc == BEACON_EINVAL || rc == BEACON_ELIMIT);
    CHECK(pins.n <= TLS_PINS_MAX && pins.n >= n && pins.n <= n + 1);
  }
  for(int i = 0; i < pins.n; i++)
    for(int j = 0; j < i; j++)
      CHECK(strcmp(pins.hex[i], pins.hex[j]));
  free(text);
  return 0;
}
