/*
 * fuzz_policy.c - destination policy rules and checks (docs/ARCHITECTURE.md
 * "Deny by default") on arbitrary input. Each input line is a command:
 *   +RULE / -RULE   policy_add(allow / deny)
 *   ?ADDR PORT      policy_addr_parse + policy_check
 *   @ADDR / !ADDR   add an own address / a broadcast one to the own set
 *   anything else   policy_addr_parse, and policy_add both ways
 * and the first 18 bytes are also checked as a raw IPv6 address + port.
 * Every rule also goes into a twin policy that starts with --allow
 * 0.0.0.0/0 --allow ::/0. Aborts when an invariant breaks: a refused rule
 * leaves a message; a mapped address is judged exactly as the IPv4 address
 * it maps to; the default judges a NAT64 or 6to4 address as the IPv4
 * address it embeds; the verdict and reason of a check are stable; a
 * default class refuses with its name; broad allows never lift a class
 * (the twin refuses by the same class); the default alone refuses what it
 * names.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_check.h"
#include "beacon/beacon.h"
#include "policy/policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The same rules after --allow 0.0.0.0/0 --allow ::/0, and the same own
 * addresses. */
static policy_t *twin;
static int twin_ok;
#define OWN_MAX 8
static policy_own_addr_t own[OWN_MAX];
static size_t nown;

static void check_classes(const policy_t *p, const policy_addr_t *a,
                          uint16_t port, int v, const char *why)
{
  int emb = -1, temb = -1;
  policy_class_t c = policy_default_class(p, a, port, &emb);
  CHECK(c < POLICY_CLASS_COUNT && (emb == 0 || emb == 1));
  if(c != POLICY_CLASS_NONE) {
    /* refused, in the class's name */
    CHECK(v == 0);
    CHECK(!strncmp(why, policy_class_name(c), strlen(policy_class_name(c))));
    CHECK(emb == !!strstr(why, "(embedded IPv4)"));
  }
  /* A /0 allow is inside no class: it lifts nothing. */
  if(twin_ok)
    CHECK(policy_default_class(twin, a, port, &temb) == c && temb == emb);
  /* Rules only lift: a class that refuses here is the one that refuses
   * without rules, unless the own set (which NULL lacks) named the
   * address first. */
  policy_class_t bare = policy_default_class(NULL, a, port, NULL);
  CHECK(c == POLICY_CLASS_NONE || bare == c || bare == POLICY_CLASS_NONE ||
        c == POLICY_CLASS_OWN_ADDRESS || c == POLICY_CLASS_BROADCAST);
}

static void check_addr(const policy_t *p, const policy_addr_t *a,
                       uint16_t port)
{
  const char *why = NULL, *why2 = NULL;
  int v = policy_check(p, a, port, &why);

  CHECK(v == 0 || v == 1);
  CHECK(why && why[0]);
  CHECK(policy_check(p, a, port, &why2) == v && why2 == why);
  CHECK(policy_check(p, a, port, NULL) == v);
  check_classes(p, a, port, v, why);

  if(a->family == 4) {
    /* ::ffff:a.b.c.d must get the same verdict for the same reason. */
    policy_addr_t m;
    const char *mwhy = NULL;
    memset(&m, 0, sizeof(m));
    m.family = 6;
    m.bytes[10] = m.bytes[11] = 0xff;
    memcpy(m.bytes + 12, a->bytes, 4);
    CHECK(policy_check(p, &m, port, &mwhy) == v && mwhy == why);
    /* Whatever the rules, the default alone refuses loopback. */
    if(a->bytes[0] == 127) {
      CHECK(!policy_check(NULL, a, port, &why));
      CHECK(!strcmp(why, "loopback"));
    }
    /* The default judges the address alike behind NAT64 and 6to4. */
    int dv = policy_check(NULL, a, port, NULL);
    static const uint8_t nat64[4] = {0, 0x64, 0xff, 0x9b};
    memset(&m, 0, sizeof(m));
    m.family = 6;
    memcpy(m.bytes, nat64, 4);
    memcpy(m.bytes + 12, a->bytes, 4);
    CHECK(policy_check(NULL, &m, port, NULL) == dv);
    memset(&m, 0, sizeof(m));
    m.family = 6;
    m.bytes[0] = 0x20;
    m.bytes[1] = 0x02;
    memcpy(m.bytes + 2, a->bytes, 4);
    CHECK(policy_check(NULL, &m, port, NULL) == dv);
  }
}

static void command(policy_t *p, const char *s)
{
  char err[128];
  policy_addr_t a;

  if(s[0] == '+' || s[0] == '-') {
    memset(err, 0, sizeof(err));
    int r = policy_add(p, s[0] == '+', s + 1, err, sizeof(err));
    CHECK(r == 0 || r == BEACON_EINVAL || r == BEACON_ENOMEM);
    CHECK(r != BEACON_EINVAL || err[0]);
    /* The twin holds two rules more, so it may reach the rule cap (or
     * run out of memory) first: then it no longer mirrors p. */
    if(policy_add(twin, s[0] == '+', s + 1, NULL, 0) != r)
      twin_ok = 0;
    return;
  }
  if(s[0] == '@' || s[0] == '!') {
    if(nown < OWN_MAX && !policy_addr_parse(s + 1, &own[nown].addr)) {
      own[nown++].broadcast = s[0] == '!';
      int r = policy_set_own(p, own, nown);
      CHECK(r == 0 || r == 1 || r == BEACON_ENOMEM);
      if(policy_set_own(twin, own, nown) < 0)
        twin_ok = 0;
      CHECK(policy_own_count(p) <= nown);
    }
    return;
  }
  if(s[0] == '?') {
    char addr[256];
    unsigned long port = 0;
    const char *sp = strchr(s + 1, ' ');
    size_t n = sp ? (size_t)(sp - s - 1) : strlen(s + 1);
    memcpy(addr, s + 1, n);
    addr[n] = 0;
    if(sp)
      port = strtoul(sp + 1, NULL, 10);
    if(!policy_addr_parse(addr, &a))
      check_addr(p, &a, (uint16_t)port);
    return;
  }
  if(!policy_addr_parse(s, &a)) {
    CHECK(a.family == 4 || a.family == 6);
    check_addr(p, &a, 443);
  }
  /* Nothing may crash on a rule, allowed or not. */
  int r = policy_add(p, 1, s, NULL, 0);
  CHECK(r <= 0);
  if(policy_add(twin, 1, s, NULL, 0) != r)
    twin_ok = 0;
  r = policy_add(p, 0, s, err, 1);
  CHECK(r <= 0);
  if(policy_add(twin, 0, s, NULL, 0) != r)
    twin_ok = 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  policy_t *p = policy_new();
  size_t off = 0;

  twin = policy_new();
  twin_ok = 1;
  nown = 0;
  if(!p || !twin || policy_add(twin, 1, "0.0.0.0/0", NULL, 0) ||
     policy_add(twin, 1, "::/0", NULL, 0)) {
    policy_free(p);
    policy_free(twin);
    return 0;
  }
  while(off < size) {
    char line[256];
    const uint8_t *nl = memchr(data + off, '\n', size - off);
    size_t n = nl ? (size_t)(nl - data - off) : size - off;
    size_t c = n < sizeof(line) - 1 ? n : sizeof(line) - 1;
    memcpy(line, data + off, c);
    line[c] = 0;
    command(p, line);
    off += n + 1;
  }
  if(size >= 18) {
    policy_addr_t a;
    memset(&a, 0, sizeof(a));
    a.family = 6;
    memcpy(a.bytes, data, 16);
    check_addr(p, &a, (uint16_t)(data[16] << 8 | data[17]));
    a.family = 4;
    memset(a.bytes + 4, 0, 12);
    check_addr(p, &a, (uint16_t)(data[16] << 8 | data[17]));
  }
  policy_free(p);
  policy_free(twin);
  twin = NULL;
  return 0;
}
