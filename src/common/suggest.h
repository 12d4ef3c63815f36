/*
 * suggest.h - "did you mean": the closest of a set of known words to a
 * mistyped one, by edit distance (insertions, deletions, substitutions
 * and swaps of two neighbours each cost 1). The caller offers the
 * candidates one by one, so a table of any shape can be searched
 * without building an array of names.
 */
#ifndef BEACON_SUGGEST_H
#define BEACON_SUGGEST_H

#include <stddef.h>

/* Words longer than this are never matched (nobody mistypes a 64-letter
 * option name, and the distance table stays on the stack). */
#define SUGGEST_MAX_WORD 64

typedef struct suggest {
  const char *word; /* what was typed */
  const char *best; /* the closest candidate so far, or NULL */
  size_t best_distance;
  int tie; /* another candidate is as close as best */
} suggest_t;

void suggest_init(suggest_t *s, const char *word);
/* Considers candidate (kept by pointer: it must outlive s). */
void suggest_offer(suggest_t *s, const char *candidate);
/* The closest candidate when it is close enough to be a typo (at most
 * one edit in four letters, and at least one allowed) and no other is
 * as close; NULL otherwise. */
const char *suggest_best(const suggest_t *s);

/* The edit distance of a and b (optimal string alignment), or
 * SIZE_MAX when either is longer than SUGGEST_MAX_WORD. */
size_t suggest_distance(const char *a, const char *b);

#endif
