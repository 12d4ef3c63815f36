/*
 * bio_queue.h - an OpenSSL BIO that is a plain byte queue, for the
 * ciphertext on either side of a tls_conn.
 *
 * Why not BIO_s_mem: a memory BIO zeroes every byte it grows into before
 * copying over it (BUF_MEM_grow_clean), and its bytes can only leave by
 * being copied out. This queue appends with one copy and lets the
 * transport write straight from its head (peek, then consume what the
 * socket took). Empty reads ask OpenSSL to retry, never report EOF.
 */
#ifndef BEACON_BIO_QUEUE_H
#define BEACON_BIO_QUEUE_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/bio.h>

/* A new empty queue; NULL on OOM. BIO_free() frees it. */
BIO *bio_queue_new(void);
/* Bytes queued. */
size_t bio_queue_pending(BIO *b);
/* All queued bytes as one span; valid until the next write or consume. */
size_t bio_queue_peek(BIO *b, const uint8_t **p);
/* Drops n (<= pending) bytes from the head. */
void bio_queue_consume(BIO *b, size_t n);
/* Frees the buffer of an empty queue larger than keep bytes; returns the
 * capacity freed. */
size_t bio_queue_trim(BIO *b, size_t keep);

#endif
