/*
 * addr.h - hand-written IP literal parsing shared by the target line
 * (docs/PROTOCOL.md "The target line") and the destination policy
 * (docs/ARCHITECTURE.md "Deny by default"). The protocol cores include no
 * socket headers, so there is no inet_pton here; these parsers are also
 * stricter than inet_pton/inet_aton where that matters.
 */
#ifndef BEACON_ADDR_H
#define BEACON_ADDR_H

#include <stddef.h>
#include <stdint.h>

/* Dotted quad "a.b.c.d": exactly four decimal octets 0..255, no leading
 * zeros ("01" could be read as octal by other parsers), nothing else.
 * Writes network order into out. 0 or BEACON_EINVAL. */
int addr_parse4(const char *s, size_t len, uint8_t out[4]);

/* IPv6 literal without brackets (RFC 4291 §2.2): up to eight groups of
 * 1..4 hex digits, at most one "::" standing for at least one zero group,
 * optionally ending in a dotted quad ("::ffff:1.2.3.4"). Zone ids ("%eth0")
 * are rejected. Writes network order into out. 0 or BEACON_EINVAL. */
int addr_parse6(const char *s, size_t len, uint8_t out[16]);

/* 1 if the 16 bytes are an IPv4-mapped IPv6 address (::ffff:a.b.c.d). */
int addr_is_mapped(const uint8_t a[16]);

#endif
