/* suggest.c - the closest known word to a mistyped one (suggest.h). */
#include "common/suggest.h"

#include <stdint.h>
#include <string.h>

static size_t min3(size_t a, size_t b, size_t c)
{
  size_t m = a < b ? a : b;
  return m < c ? m : c;
}

size_t suggest_distance(const char *a, const char *b)
{
  size_t la = strlen(a), lb = strlen(b);
  if(la > SUGGEST_MAX_WORD || lb > SUGGEST_MAX_WORD)
    return SIZE_MAX;
  /* d[i][j]: the distance of a's first i letters and b's first j. */
  size_t d[SUGGEST_MAX_WORD + 1][SUGGEST_MAX_WORD + 1];
  for(size_t i = 0; i <= la; i++)
    d[i][0] = i;
  for(size_t j = 0; j <= lb; j++)
    d[0][j] = j;
  for(size_t i = 1; i <= la; i++) {
    for(size_t j = 1; j <= lb; j++) {
      size_t cost = a[i - 1] != b[j - 1];
      d[i][j] = min3(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
      if(i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
         d[i - 2][j - 2] + 1 < d[i][j])
        d[i][j] = d[i - 2][j - 2] + 1;
    }
  }
  return d[la][lb];
}

void suggest_init(suggest_t *s, const char *word)
{
  s->word = word;
  s->best = NULL;
  s->best_distance = SIZE_MAX;
  s->tie = 0;
}

void suggest_offer(suggest_t *s, const char *candidate)
{
  if(!candidate || (s->best && !strcmp(candidate, s->best)))
    return;
  size_t d = suggest_distance(s->word, candidate);
  if(d < s->best_distance) {
    s->best = candidate;
    s->best_distance = d;
    s->tie = 0;
  } else if(d == s->best_distance) {
    s->tie = 1;
  }
}

const char *suggest_best(const suggest_t *s)
{
  size_t len = strlen(s->word);
  size_t allowed = len / 4 ? len / 4 : 1;
  if(!s->best || s->tie || s->best_distance == 0 || s->best_distance > allowed)
    return NULL;
  return s->best;
}
