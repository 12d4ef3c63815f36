/*
 * list.h - an intrusive, circular, doubly linked list. The head is a
 * list_link_t of its own; an element embeds one link per list it can be
 * in and gets back to itself with LIST_CONTAINER. A removed link points
 * to itself, so removing it again is harmless.
 */
#ifndef BEACON_COMMON_LIST_H
#define BEACON_COMMON_LIST_H

#include <stddef.h>

typedef struct list_link {
  struct list_link *prev, *next;
} list_link_t;

static inline void list_init(list_link_t *l)
{
  l->prev = l->next = l;
}

static inline int list_empty(const list_link_t *l)
{
  return l->next == l;
}

/* Appends n at the tail of the list headed by head. */
static inline void list_add(list_link_t *head, list_link_t *n)
{
  n->prev = head->prev;
  n->next = head;
  head->prev->next = n;
  head->prev = n;
}

static inline void list_del(list_link_t *n)
{
  n->prev->next = n->next;
  n->next->prev = n->prev;
  n->prev = n->next = n;
}

/* The struct of `type` whose member `field` is the link p. */
#define LIST_CONTAINER(p, type, field)                                        \
  ((type *)(void *)((char *)(p)-offsetof(type, field)))

#endif
