/*
 * test_policy.c - the destination policy (docs/ARCHITECTURE.md "Deny by
 * default"): rule syntax and its error messages, first-match-wins evaluation,
 * port ranges, the default classes before the rules and the one way to lift
 * them, every class under every example policy of docs/OPERATIONS.md (read
 * from the file), IPv4-mapped and embedded IPv4 addresses, the relay's own
 * addresses and their replacement while other threads check.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "beacon/beacon.h"
#include "policy/policy.h"

static policy_addr_t A(const char *s)
{
  policy_addr_t a;
  if(policy_addr_parse(s, &a))
    fail_msg("bad test address %s", s);
  return a;
}

/* Checks s:port against p and returns the verdict; *why must be set. */
static int check(const policy_t *p, const char *s, uint16_t port,
                 const char **why)
{
  policy_addr_t a = A(s);
  const char *w = NULL;
  int v = policy_check(p, &a, port, &w);
  assert_non_null(w);
  assert_int_equal(policy_check(p, &a, port, NULL), v);
  if(why)
    *why = w;
  return v;
}

static void expect(const policy_t *p, const char *s, uint16_t port, int allow,
                   const char *why)
{
  const char *w;
  print_message("%s port %u\n", s, (unsigned)port);
  assert_int_equal(check(p, s, port, &w), allow);
  assert_string_equal(w, why);
}

static void test_addr_parse(void **state)
{
  policy_addr_t a;
  static const uint8_t v6[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0,
                                 0,    0,    0,    0,    0, 0, 0, 1};
  static const uint8_t mapped[16] = {0, 0, 0,    0,    0, 0, 0, 0,
                                     0, 0, 0xff, 0xff, 1, 2, 3, 4};

  assert_int_equal(policy_addr_parse("192.0.2.7", &a), 0);
  assert_int_equal(a.family, 4);
  assert_memory_equal(a.bytes, "\xc0\x00\x02\x07", 4);
  assert_int_equal(policy_addr_parse("2001:db8::1", &a), 0);
  assert_int_equal(a.family, 6);
  assert_memory_equal(a.bytes, v6, 16);
  assert_int_equal(policy_addr_parse("::ffff:1.2.3.4", &a), 0);
  assert_int_equal(a.family, 6);
  assert_memory_equal(a.bytes, mapped, 16);
  assert_int_equal(policy_addr_parse("::FFFF:0102:0304", &a), 0);
  assert_memory_equal(a.bytes, mapped, 16);

  static const char *const bad[] = {
      "",         "1.2.3",     "1.2.3.4.", "01.2.3.4",  "1.2.3.4 ",
      " 1.2.3.4", "[::1]",     "::1%lo",   "fe80::1%1", "1:2:3:4:5:6:7:8:9",
      ":::",      "::1::",     "12345::",  "host",      "1.2.3.4/32",
      "::/0",     "256.0.0.0",
  };
  for(size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    memset(&a, 0x5a, sizeof(a));
    assert_int_equal(policy_addr_parse(bad[i], &a), BEACON_EINVAL);
    assert_int_equal(a.family, 0x5a5a5a5a); /* untouched */
  }
  assert_int_equal(policy_addr_parse(NULL, &a), BEACON_EINVAL);
  assert_int_equal(policy_addr_parse("1.2.3.4", NULL), BEACON_EINVAL);
}

static void test_rule_syntax_ok(void **state)
{
  static const char *const ok[] = {
      "10.0.0.0/8",
      "10.0.0.0/8:22",
      "10.0.0.0/8:8000-8999",
      "192.0.2.7",
      "192.0.2.7:443",
      "2001:db8::/32",
      "[2001:db8::/32]:443",
      "[::1]:22-23",
      "[::1]/128",
      "[2001:db8::]/32:443",
      "0.0.0.0/0",
      "::/0",
      "::1",
      "1.2.3.4:65535",
      "1.2.3.4:1-65535",
      "1.2.3.4:5-5",
      "[::ffff:10.0.0.0/104]:80",
      "::ffff:0:0/96",
      "172.16.0.0/12",
      "1.2.3.4/32",
      "fe80::/10",
      "[2001:db8::1]",
      "1.2.3.4:00022",
      "[fe80::/10]",
  };
  policy_t *p = policy_new();
  char err[128];

  assert_non_null(p);
  for(size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
    print_message("rule %s\n", ok[i]);
    strcpy(err, "untouched");
    assert_int_equal(policy_add(p, i & 1, ok[i], err, sizeof(err)), 0);
    assert_string_equal(err, "");
  }
  assert_int_equal(policy_add(p, 1, "10.0.0.0/8", NULL, 0), 0);
  policy_free(p);
  policy_free(NULL);
}

static void test_rule_syntax_errors(void **state)
{
  static const struct {
    const char *rule;
    const char *msg; /* substring of the error */
  } bad[] = {
      {"", "empty rule"},
      {"10.0.0.0/33", "/33 is longer than 32 bits"},
      {"::/129", "/129 is longer than 128 bits"},
      {"[2001:db8::/200]:443", "/200 is longer than 128 bits"},
      {"10.0.0.0/1000", "bad prefix length '/1000'"},
      {"10.1.0.0/8", "host bits set in '10.1.0.0/8'"},
      {"1.0.0.0/0", "host bits set"},
      {"2001:db8::1/32", "host bits set"},
      {"10.0.0.1/31", "host bits set"},
      {"1.2.3.4:0", "port 0 is not a valid port"},
      {"1.2.3.4:0-10", "port 0 is not a valid port"},
      {"1.2.3.4:70000", "port 70000 is above 65535"},
      {"1.2.3.4:1-65536", "port 65536 is above 65535"},
      {"1.2.3.4:9-8", "inverted port range '9-8'"},
      {"[::1]:23-22", "inverted port range '23-22'"},
      {"1.2.3.4:", "bad port ''"},
      {"1.2.3.4:x", "bad port 'x'"},
      {"1.2.3.4:1-", "bad port ''"},
      {"1.2.3.4:-1", "bad port ''"},
      {"1.2.3.4:+1", "bad port '+1'"},
      {"1.2.3.4: 1", "bad port ' 1'"},
      {"1.2.3.4:1234567", "bad port '1234567'"},
      {"1.2.3.4:1-2-3", "bad port '2-3'"},
      {"10.0.0.0/", "bad prefix length '/'"},
      {"10.0.0.0/08", "bad prefix length '/08'"},
      {"10.0.0.0/x", "bad prefix length '/x'"},
      {"10.0.0.0/-1", "bad prefix length '/-1'"},
      {"10.0.0/8", "bad address '10.0.0'"},
      {"010.0.0.0/8", "bad address '010.0.0.0'"},
      {"host.example", "bad address 'host.example'"},
      {" 10.0.0.0/8", "bad address ' 10.0.0.0'"},
      {"[2001:db8::/32", "missing ']'"},
      {"[2001:db8::/32]443", "expected ':PORT' after ']'"},
      {"[10.0.0.0/8]:22", "brackets are only for IPv6"},
      {"[]:22", "bad address ''"},
      {"2001:db8::/32:443", "bad prefix length '/32:443'"},
      {"2001:db8::1:443x", "bad address '2001:db8::1:443x'"},
      {"fe80::1%eth0", "bad address"},
      {"10.0.0.0/8:22:23", "bad address"},
      {"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
       "aaaaaaaaaaaaa",
       "rule is longer than 80 bytes"},
  };
  policy_t *p = policy_new();
  char err[128];

  for(size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    print_message("bad rule '%s'\n", bad[i].rule);
    err[0] = 0;
    assert_int_equal(policy_add(p, 1, bad[i].rule, err, sizeof(err)),
                     BEACON_EINVAL);
    if(!strstr(err, bad[i].msg))
      fail_msg("rule '%s': error '%s' lacks '%s'", bad[i].rule, err,
               bad[i].msg);
    /* err may be NULL, or too small: still refused, never overrun. */
    assert_int_equal(policy_add(p, 0, bad[i].rule, NULL, 0), BEACON_EINVAL);
    memset(err, 'Z', sizeof(err));
    assert_int_equal(policy_add(p, 0, bad[i].rule, err, 4), BEACON_EINVAL);
    assert_int_equal(strlen(err), 3);
    assert_int_equal(err[4], 'Z');
  }
  assert_int_equal(policy_add(p, 1, NULL, err, sizeof(err)), BEACON_EINVAL);
  assert_string_equal(err, "empty rule");
  assert_int_equal(policy_add(NULL, 1, "10.0.0.0/8", err, sizeof(err)),
                   BEACON_EINVAL);
  /* No refused rule was kept: defaults still apply. */
  expect(p, "127.0.0.1", 80, 0, "loopback");
  expect(p, "10.1.2.3", 22, 1, "default allow");
  policy_free(p);
}

static void test_defaults(void **state)
{
  static const struct {
    const char *addr;
    int allow;
    const char *why;
  } cases[] = {
      {"127.0.0.1", 0, "loopback"},
      {"127.255.255.254", 0, "loopback"},
      {"126.255.255.255", 1, "default allow"},
      {"128.0.0.0", 1, "default allow"},
      {"0.0.0.0", 0, "unspecified"},
      {"0.255.255.255", 0, "unspecified"},
      {"1.0.0.0", 1, "default allow"},
      {"169.254.169.254", 0, "metadata"},
      {"169.254.0.0", 0, "link_local"},
      {"169.253.255.255", 1, "default allow"},
      {"169.255.0.0", 1, "default allow"},
      {"224.0.0.1", 0, "multicast"},
      {"239.255.255.255", 0, "multicast"},
      {"223.255.255.255", 1, "default allow"},
      {"240.0.0.0", 1, "default allow"},
      {"255.255.255.254", 1, "default allow"},
      {"255.255.255.255", 0, "broadcast"},
      {"8.8.8.8", 1, "default allow"},
      {"10.0.0.1", 1, "default allow"},
      {"::1", 0, "loopback"},
      {"::", 0, "unspecified"},
      {"::2", 0, "unspecified (embedded IPv4)"}, /* IPv4-compatible */
      {"1::1", 1, "default allow"},
      {"fe80::1", 0, "link_local"},
      {"febf:ffff::1", 0, "link_local"},
      {"fec0::1", 1, "default allow"},
      {"fe7f::1", 1, "default allow"},
      {"ff02::1", 0, "multicast"},
      {"ff00::", 0, "multicast"},
      {"feff::1", 1, "default allow"},
      {"2001:db8::1", 1, "default allow"},
      /* IPv4-mapped: judged as the IPv4 address. */
      {"::ffff:127.0.0.1", 0, "loopback"},
      {"::ffff:7f00:1", 0, "loopback"},
      {"::ffff:169.254.169.254", 0, "metadata"},
      {"::ffff:0.0.0.0", 0, "unspecified"},
      {"::ffff:224.0.0.251", 0, "multicast"},
      {"::ffff:255.255.255.255", 0, "broadcast"},
      {"::ffff:8.8.8.8", 1, "default allow"},
  };
  policy_t *p = policy_new();

  for(size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    expect(p, cases[i].addr, 443, cases[i].allow, cases[i].why);
    expect(NULL, cases[i].addr, 1, cases[i].allow, cases[i].why);
  }
  policy_free(p);
}

static void test_first_match_wins(void **state)
{
  policy_t *p = policy_new();

  assert_int_equal(policy_add(p, 0, "10.0.0.0/8:22", NULL, 0), 0);
  assert_int_equal(policy_add(p, 1, "10.0.0.0/8", NULL, 0), 0);
  assert_int_equal(policy_add(p, 0, "10.0.0.0/8", NULL, 0), 0);
  expect(p, "10.1.1.1", 22, 0, "deny 10.0.0.0/8:22");
  expect(p, "10.1.1.1", 23, 1, "allow 10.0.0.0/8");
  expect(p, "11.0.0.0", 22, 1, "default allow");
  policy_free(p);

  /* The other order: the broad allow shadows the narrow deny. */
  p = policy_new();
  assert_int_equal(policy_add(p, 1, "10.0.0.0/8", NULL, 0), 0);
  assert_int_equal(policy_add(p, 0, "10.0.0.0/8:22", NULL, 0), 0);
  expect(p, "10.1.1.1", 22, 1, "allow 10.0.0.0/8");
  policy_free(p);

  /* Rules beat the default, in both directions. */
  p = policy_new();
  assert_int_equal(policy_add(p, 1, "127.0.0.1:8080", NULL, 0), 0);
  assert_int_equal(policy_add(p, 0, "0.0.0.0/0:25", NULL, 0), 0);
  assert_int_equal(policy_add(p, 1, "[::1]:22-23", NULL, 0), 0);
  assert_int_equal(policy_add(p, 0, "::/0", NULL, 0), 0);
  expect(p, "127.0.0.1", 8080, 1, "allow 127.0.0.1:8080");
  expect(p, "127.0.0.1", 8081, 0, "loopback");
  expect(p, "127.0.0.2", 8080, 0, "loopback");
  expect(p, "8.8.8.8", 25, 0, "deny 0.0.0.0/0:25");
  expect(p, "8.8.8.8", 26, 1, "default allow");
  expect(p, "::1", 22, 1, "allow [::1]:22-23");
  expect(p, "::1", 23, 1, "allow [::1]:22-23");
  expect(p, "::1", 24, 0, "loopback"); /* classes come before rules */
  expect(p, "2001:db8::1", 443, 0, "deny ::/0");
  policy_free(p);
  /* A prefix written after the bracket means the same as inside it. */
  p = policy_new();
  assert_int_equal(policy_add(p, 1, "[2001:db8::]/32:443", NULL, 0), 0);
  assert_int_equal(policy_add(p, 1, "[::1]/128", NULL, 0), 0);
  expect(p, "2001:db8::9", 443, 1, "allow [2001:db8::/32]:443");
  expect(p, "2001:db8::9", 444, 1, "default allow");
  expect(p, "2001:db9::9", 443, 1, "default allow");
  expect(p, "::1", 9, 1, "allow [::1/128]");
  policy_free(p);
  p = policy_new();
  assert_int_equal(policy_add(p, 1, "127.0.0.1:8080", NULL, 0), 0);
  assert_int_equal(policy_add(p, 0, "0.0.0.0/0:25", NULL, 0), 0);
  assert_int_equal(policy_add(p, 1, "[::1]:22-23", NULL, 0), 0);
  assert_int_equal(policy_add(p, 0, "::/0", NULL, 0), 0);
  /* A v6 rule never matches an IPv4 destination, and a mapped address
   * is an IPv4 destination (the socket dials IPv4). */
  expect(p, "::ffff:8.8.8.8", 443, 1, "default allow");
  expect(p, "::ffff:8.8.8.8", 25, 0, "deny 0.0.0.0/0:25");
  policy_free(p);
}

static void test_prefixes_and_ports(void **state)
{
  policy_t *p = policy_new();

  assert_int_equal(policy_add(p, 0, "172.16.0.0/12", NULL, 0), 0);
  assert_int_equal(policy_add(p, 0, "192.0.2.7", NULL, 0), 0);
  assert_int_equal(policy_add(p, 0, "10.0.0.0/8:8000-8999", NULL, 0), 0);
  assert_int_equal(policy_add(p, 0, "[2001:db8::/33]:443", NULL, 0), 0);
  assert_int_equal(policy_add(p, 0, "198.51.100.128/25", NULL, 0), 0);

  expect(p, "172.16.0.0", 1, 0, "deny 172.16.0.0/12");
  expect(p, "172.31.255.255", 1, 0, "deny 172.16.0.0/12");
  expect(p, "172.32.0.0", 1, 1, "default allow");
  expect(p, "172.15.255.255", 1, 1, "default allow");
  expect(p, "192.0.2.7", 65535, 0, "deny 192.0.2.7");
  expect(p, "192.0.2.6", 1, 1, "default allow");
  expect(p, "192.0.2.8", 1, 1, "default allow");
  expect(p, "10.2.3.4", 7999, 1, "default allow");
  expect(p, "10.2.3.4", 8000, 0, "deny 10.0.0.0/8:8000-8999");
  expect(p, "10.2.3.4", 8500, 0, "deny 10.0.0.0/8:8000-8999");
  expect(p, "10.2.3.4", 8999, 0, "deny 10.0.0.0/8:8000-8999");
  expect(p, "10.2.3.4", 9000, 1, "default allow");
  expect(p, "2001:db8:7fff:ffff::1", 443, 0, "deny [2001:db8::/33]:443");
  expect(p, "2001:db8:8000::1", 443, 1, "default allow");
  expect(p, "2001:db8::1", 444, 1, "default allow");
  expect(p, "198.51.100.128", 1, 0, "deny 198.51.100.128/25");
  expect(p, "198.51.100.255", 1, 0, "deny 198.51.100.128/25");
  expect(p, "198.51.100.127", 1, 1, "default allow");
  /* A rule without a port matches port 0 as well. */
  expect(p, "192.0.2.7", 0, 0, "deny 192.0.2.7");
  policy_free(p);
}

static void test_mapped(void **state)
{
  policy_t *p = policy_new();

  /* An allow for 127/8 covers its mapped spelling ... */
  assert_int_equal(policy_add(p, 1, "127.0.0.0/8", NULL, 0), 0);
  expect(p, "::ffff:127.0.0.2", 8080, 1, "allow 127.0.0.0/8");
  policy_free(p);

  /* ... and a deny of 10/8 cannot be bypassed with one. */
  p = policy_new();
  assert_int_equal(policy_add(p, 0, "10.0.0.0/8", NULL, 0), 0);
  expect(p, "::ffff:10.1.2.3", 443, 0, "deny 10.0.0.0/8");
  expect(p, "::ffff:a01:203", 443, 0, "deny 10.0.0.0/8");
  policy_free(p);

  /* A rule written in mapped form is an IPv4 rule. */
  p = policy_new();
  assert_int_equal(policy_add(p, 0, "[::ffff:10.0.0.0/104]:80", NULL, 0), 0);
  assert_int_equal(policy_add(p, 1, "::ffff:0:0/96", NULL, 0), 0);
  expect(p, "10.9.9.9", 80, 0, "deny [::ffff:10.0.0.0/104]:80");
  expect(p, "::ffff:10.9.9.9", 80, 0, "deny [::ffff:10.0.0.0/104]:80");
  expect(p, "10.9.9.9", 81, 1, "allow ::ffff:0:0/96");
  /* ::ffff:0:0/96 is 0.0.0.0/0: inside no class, it lifts none */
  expect(p, "127.0.0.1", 81, 0, "loopback");
  expect(p, "::1", 81, 0, "loopback");
  expect(p, "2001:db8::1", 81, 1, "default allow");
  policy_free(p);

  /* A v4 rule never matches a v6 address that embeds no IPv4 one. */
  p = policy_new();
  assert_int_equal(policy_add(p, 0, "10.0.0.0/8", NULL, 0), 0);
  assert_int_equal(policy_add(p, 0, "0.0.0.0/0", NULL, 0), 0);
  expect(p, "2001:db8::a00:1", 1, 1, "default allow");
  expect(p, "64:ff9c::a00:1", 1, 1, "default allow");
  policy_free(p);
}

static void test_embedded_ipv4(void **state)
{
  static const struct {
    const char *addr;
    int allow;
    const char *why;
  } cases[] = {
      /* NAT64, well-known prefix: the metadata service behind a gateway */
      {"64:ff9b::a9fe:a9fe", 0, "metadata (embedded IPv4)"},
      {"64:ff9b::169.254.169.254", 0, "metadata (embedded IPv4)"},
      {"64:ff9b::7f00:1", 0, "loopback (embedded IPv4)"},
      {"64:ff9b::", 0, "unspecified (embedded IPv4)"},
      {"64:ff9b::e000:1", 0, "multicast (embedded IPv4)"},
      {"64:ff9b::ffff:ffff", 0, "broadcast (embedded IPv4)"},
      {"64:ff9b::808:808", 1, "default allow"},
      {"64:ff9b:0:0:1::7f00:1", 1, "default allow"}, /* outside the /96 */
      /* NAT64, local-use /48 (its /96 layout) */
      {"64:ff9b:1::a9fe:a9fe", 0, "metadata (embedded IPv4)"},
      {"64:ff9b:1:ffff::7f00:1", 0, "loopback (embedded IPv4)"},
      {"64:ff9b:1::808:808", 1, "default allow"},
      {"64:ff9b:2::7f00:1", 1, "default allow"},
      /* 6to4: the IPv4 address follows 2002: */
      {"2002:a9fe:a9fe::1", 0, "metadata (embedded IPv4)"},
      {"2002:7f00:1::", 0, "loopback (embedded IPv4)"},
      {"2002:808:808::1", 1, "default allow"},
      /* IPv4-compatible (deprecated) */
      {"::169.254.169.254", 0, "metadata (embedded IPv4)"},
      {"::127.0.0.1", 0, "loopback (embedded IPv4)"},
      {"::8.8.8.8", 1, "default allow"},
      {"::1", 0, "loopback"},
      {"::", 0, "unspecified"},
  };
  for(size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
    expect(NULL, cases[i].addr, 80, cases[i].allow, cases[i].why);

  /* IPv4 rules see the embedded address ... */
  policy_t *p = policy_new();
  assert_int_equal(policy_add(p, 0, "10.0.0.0/8", NULL, 0), 0);
  assert_int_equal(policy_add(p, 1, "127.0.0.0/8:22", NULL, 0), 0);
  expect(p, "64:ff9b::a00:1", 443, 0, "deny 10.0.0.0/8");
  expect(p, "2002:a01:203::", 443, 0, "deny 10.0.0.0/8");
  expect(p, "::10.0.0.1", 443, 0, "deny 10.0.0.0/8");
  expect(p, "64:ff9b::7f00:1", 22, 1, "allow 127.0.0.0/8:22");
  expect(p, "64:ff9b::7f00:1", 23, 0, "loopback (embedded IPv4)");
  policy_free(p);
  /* ... and IPv6 rules the address itself, first match first. */
  p = policy_new();
  assert_int_equal(policy_add(p, 0, "64:ff9b::/96", NULL, 0), 0);
  assert_int_equal(policy_add(p, 1, "0.0.0.0/0", NULL, 0), 0);
  expect(p, "64:ff9b::808:808", 443, 0, "deny 64:ff9b::/96");
  expect(p, "2002:808:808::1", 443, 1, "allow 0.0.0.0/0");
  policy_free(p);
}

static void test_private_preset(void **state)
{
  static const struct {
    const char *addr;
    int allow;
    const char *why;
  } cases[] = {
      {"10.1.2.3", 0, "deny private (10.0.0.0/8)"},
      {"172.16.0.1", 0, "deny private (172.16.0.0/12)"},
      {"172.31.255.255", 0, "deny private (172.16.0.0/12)"},
      {"172.32.0.1", 1, "default allow"},
      {"192.168.1.1", 0, "deny private (192.168.0.0/16)"},
      {"100.64.0.1", 0, "deny private (100.64.0.0/10)"},
      {"100.127.255.255", 0, "deny private (100.64.0.0/10)"},
      {"100.128.0.1", 1, "default allow"},
      {"192.0.0.9", 0, "deny private (192.0.0.0/24)"},
      {"198.18.0.1", 0, "deny private (198.18.0.0/15)"},
      {"203.0.113.5", 0, "deny private (203.0.113.0/24)"},
      {"240.0.0.1", 0, "deny private (240.0.0.0/4)"},
      {"fd00::1", 0, "deny private (fc00::/7)"},
      {"fc00::1", 0, "deny private (fc00::/7)"},
      {"fec0::1", 0, "deny private (fec0::/10)"},
      {"2001:db8::1", 0, "deny private (2001:db8::/32)"},
      {"::ffff:10.0.0.1", 0, "deny private (10.0.0.0/8)"},
      {"64:ff9b::a00:1", 0, "deny private (10.0.0.0/8)"},
      {"2002:c0a8:101::1", 0, "deny private (192.168.0.0/16)"},
      {"8.8.8.8", 1, "default allow"},
      {"2606:4700::1111", 1, "default allow"},
      /* the default's own classes keep their names */
      {"127.0.0.1", 0, "loopback"},
      {"169.254.169.254", 0, "metadata"},
  };
  policy_t *p = policy_new();
  char err[128];
  assert_int_equal(policy_add(p, 0, "private", err, sizeof(err)), 0);
  for(size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
    expect(p, cases[i].addr, 443, cases[i].allow, cases[i].why);
  policy_free(p);
  /* an allow before it wins, as for any rule */
  p = policy_new();
  assert_int_equal(policy_add(p, 1, "10.9.0.0/16:22", NULL, 0), 0);
  assert_int_equal(policy_add(p, 0, "private", NULL, 0), 0);
  expect(p, "10.9.1.1", 22, 1, "allow 10.9.0.0/16:22");
  expect(p, "10.9.1.1", 23, 0, "deny private (10.0.0.0/8)");
  policy_free(p);
  /* presets are whole words only */
  p = policy_new();
  assert_int_equal(policy_add(p, 0, "private:22", err, sizeof(err)),
                   BEACON_EINVAL);
  assert_int_equal(policy_add(p, 0, "Private", err, sizeof(err)),
                   BEACON_EINVAL);
  policy_free(p);
}

static void test_bad_addresses(void **state)
{
  policy_addr_t a;
  const char *why = NULL;

  memset(&a, 0, sizeof(a));
  a.family = 5;
  assert_int_equal(policy_check(NULL, &a, 80, &why), 0);
  assert_string_equal(why, "bad address family");
  why = NULL;
  assert_int_equal(policy_check(NULL, NULL, 80, &why), 0);
  assert_string_equal(why, "bad address family");
}

static void test_many_rules(void **state)
{
  policy_t *p = policy_new();
  char rule[64], err[128];

  /* The table grows, order is kept, and there is a bound. */
  for(int i = 0; i < 4096; i++) {
    snprintf(rule, sizeof(rule), "10.%d.%d.0/24:%d", i / 256, i % 256, 1 + i);
    assert_int_equal(policy_add(p, i & 1, rule, err, sizeof(err)), 0);
  }
  expect(p, "10.0.0.5", 1, 0, "deny 10.0.0.0/24:1");
  expect(p, "10.0.1.5", 2, 1, "allow 10.0.1.0/24:2");
  expect(p, "10.15.255.5", 4096, 1, "allow 10.15.255.0/24:4096");
  expect(p, "10.15.255.5", 4095, 1, "default allow");
  assert_int_equal(policy_add(p, 1, "1.2.3.4", err, sizeof(err)),
                   BEACON_EINVAL);
  assert_string_equal(err, "too many rules (at most 4096)");
  assert_int_equal(policy_add(p, 1, "1.2.3.4", NULL, 0), BEACON_EINVAL);
  policy_free(p);
}

/* ---- default classes: before the rules, lifted only from inside ---- */

#define OWN4 "192.0.2.10"
#define BCAST4 "192.0.2.255"
#define OWN6 "2001:db8::10"

/* The relay's addresses for these tests: an interface with a TEST-NET
 * address and its broadcast, an IPv6 one, and loopback (ignored: it is
 * in the loopback class already). */
static void set_own(policy_t *p)
{
  policy_own_addr_t own[5];
  memset(own, 0, sizeof(own));
  own[0].addr = A(OWN4);
  own[1].addr = A(BCAST4);
  own[1].broadcast = 1;
  own[2].addr = A(OWN6);
  own[3].addr = A("127.0.0.1");
  own[4].addr = A("fe80::1");
  assert_int_equal(policy_set_own(p, own, 5), 1);
  assert_int_equal(policy_own_count(p), 3);
}

/* Every class, by plain and embedded spellings. */
static const struct {
  const char *addr;
  policy_class_t cls;
  int embedded;
} class_targets[] = {
    {"0.0.0.0", POLICY_CLASS_UNSPECIFIED, 0},
    {"0.1.2.3", POLICY_CLASS_UNSPECIFIED, 0},
    {"::", POLICY_CLASS_UNSPECIFIED, 0},
    {"127.0.0.1", POLICY_CLASS_LOOPBACK, 0},
    {"127.255.255.254", POLICY_CLASS_LOOPBACK, 0},
    {"::1", POLICY_CLASS_LOOPBACK, 0},
    {"::ffff:127.0.0.1", POLICY_CLASS_LOOPBACK, 0},
    {"169.254.1.1", POLICY_CLASS_LINK_LOCAL, 0},
    {"fe80::1", POLICY_CLASS_LINK_LOCAL, 0},
    {"169.254.169.254", POLICY_CLASS_METADATA, 0},
    {"::ffff:169.254.169.254", POLICY_CLASS_METADATA, 0},
    {"fd00:ec2::254", POLICY_CLASS_METADATA, 0},
    {"100.100.100.200", POLICY_CLASS_METADATA, 0},
    {"224.0.0.1", POLICY_CLASS_MULTICAST, 0},
    {"239.255.255.255", POLICY_CLASS_MULTICAST, 0},
    {"ff02::1", POLICY_CLASS_MULTICAST, 0},
    {"255.255.255.255", POLICY_CLASS_BROADCAST, 0},
    {BCAST4, POLICY_CLASS_BROADCAST, 0},
    {OWN4, POLICY_CLASS_OWN_ADDRESS, 0},
    {"::ffff:" OWN4, POLICY_CLASS_OWN_ADDRESS, 0},
    {OWN6, POLICY_CLASS_OWN_ADDRESS, 0},
    {"64:ff9b::7f00:1", POLICY_CLASS_LOOPBACK, 1},
    {"64:ff9b::a9fe:a9fe", POLICY_CLASS_METADATA, 1},
    {"64:ff9b:1::a9fe:101", POLICY_CLASS_LINK_LOCAL, 1},
    {"64:ff9b::", POLICY_CLASS_UNSPECIFIED, 1},
    {"64:ff9b::e000:1", POLICY_CLASS_MULTICAST, 1},
    {"64:ff9b::ffff:ffff", POLICY_CLASS_BROADCAST, 1},
    {"64:ff9b::c000:20a", POLICY_CLASS_OWN_ADDRESS, 1},
    {"2002:7f00:1::", POLICY_CLASS_LOOPBACK, 1},
    {"2002:a9fe:a9fe::1", POLICY_CLASS_METADATA, 1},
    {"2002:c000:20a::1", POLICY_CLASS_OWN_ADDRESS, 1},
    {"::127.0.0.1", POLICY_CLASS_LOOPBACK, 1},
    {"::169.254.169.254", POLICY_CLASS_METADATA, 1},
    /* Teredo: client 127.0.0.1 and 169.254.169.254, inverted */
    {"2001:0:4136:e378:8000:63bf:80ff:fffe", POLICY_CLASS_LOOPBACK, 1},
    {"2001:0:4136:e378:8000:63bf:5601:5601", POLICY_CLASS_METADATA, 1},
};
#define NCLASS_TARGETS (sizeof(class_targets) / sizeof(class_targets[0]))

/* The policies under test and what they lift: the examples of
 * docs/OPERATIONS.md (each must be listed here, so a new example gets
 * its expectations written down) and the broad allows. */
static const struct {
  const char *argv;
  const char *lifted[8]; /* targets no longer refused by their class */
  int from_docs;
} known_policies[] = {
    {"--deny 10.0.0.0/8 --allow 0.0.0.0/0:22 --allow 0.0.0.0/0:8444 "
     "--deny 0.0.0.0/0 --deny ::/0",
     {NULL},
     1},
    {"--allow 10.20.0.0/16:22 --deny private", {NULL}, 1},
    {"--allow 64:ff9b::/96 --allow 2000::/3 --deny private", {NULL}, 1},
    {"--allow 127.0.0.0/8",
     {"127.0.0.1", "127.255.255.254", "::ffff:127.0.0.1", "64:ff9b::7f00:1",
      "2002:7f00:1::", "::127.0.0.1", "2001:0:4136:e378:8000:63bf:80ff:fffe",
      NULL},
     1},
    {"--allow 0.0.0.0/0", {NULL}, 0},
    {"--allow ::/0", {NULL}, 0},
    {"--allow 0.0.0.0/0 --allow ::/0 --allow private", {NULL}, 0},
    {"--allow 0.0.0.0/0:22 --allow [::/0]:22", {NULL}, 0},
};
#define NKNOWN (sizeof(known_policies) / sizeof(known_policies[0]))

/* A policy from "--allow R --deny R ..." text. */
static policy_t *policy_from_argv(const char *argv)
{
  char buf[512], err[128];
  policy_t *p = policy_new();
  assert_non_null(p);
  snprintf(buf, sizeof(buf), "%s", argv);
  char *save = NULL;
  for(char *flag = strtok_r(buf, " ", &save); flag;
      flag = strtok_r(NULL, " ", &save)) {
    char *rule = strtok_r(NULL, " ", &save);
    if(!rule || (strcmp(flag, "--allow") && strcmp(flag, "--deny")))
      fail_msg("bad example policy '%s'", argv);
    if(policy_add(p, !strcmp(flag, "--allow"), rule, err, sizeof(err)))
      fail_msg("example rule '%s': %s", rule, err);
  }
  return p;
}

static int is_lifted(size_t k, const char *addr)
{
  for(size_t i = 0; known_policies[k].lifted[i]; i++)
    if(!strcmp(known_policies[k].lifted[i], addr))
      return 1;
  return 0;
}

static void check_classes_under(size_t k)
{
  static const uint16_t ports[] = {22, 80, 443, 8444};
  policy_t *p = policy_from_argv(known_policies[k].argv);
  set_own(p);
  for(size_t i = 0; i < NCLASS_TARGETS; i++) {
    for(size_t j = 0; j < sizeof(ports) / sizeof(ports[0]); j++) {
      policy_addr_t a = A(class_targets[i].addr);
      const char *why = NULL;
      int emb = -1;
      policy_class_t c = policy_default_class(p, &a, ports[j], &emb);
      int v = policy_check(p, &a, ports[j], &why);
      if(is_lifted(k, class_targets[i].addr)) {
        if(c != POLICY_CLASS_NONE)
          fail_msg("%s: %s:%u still refused as %s", known_policies[k].argv,
                   class_targets[i].addr, ports[j], policy_class_name(c));
        continue;
      }
      char want[64];
      snprintf(want, sizeof(want), "%s%s",
               policy_class_name(class_targets[i].cls),
               class_targets[i].embedded ? " (embedded IPv4)" : "");
      if(c != class_targets[i].cls || emb != class_targets[i].embedded ||
         v != 0 || strcmp(why, want))
        fail_msg("%s: %s:%u: class %s embedded %d verdict %d why '%s', "
                 "want refused '%s'",
                 known_policies[k].argv, class_targets[i].addr, ports[j],
                 policy_class_name(c), emb, v, why, want);
    }
  }
  policy_free(p);
}

/* The lines of the example block of docs/OPERATIONS.md "Destination
 * policy" that start with "--", comments cut, into out[]; their count. */
static size_t doc_examples(char out[][256], size_t max)
{
  FILE *f = fopen(BEACON_DOCS_DIR "/OPERATIONS.md", "r");
  char line[1024];
  int in_section = 0, in_block = 0;
  size_t n = 0;
  assert_non_null(f);
  while(fgets(line, sizeof(line), f)) {
    if(!strncmp(line, "### ", 4))
      in_section = !strncmp(line, "### Destination policy", 22);
    if(!in_section)
      continue;
    if(!strncmp(line, "```", 3)) {
      in_block = !in_block && !strncmp(line, "```sh", 5);
      if(in_block)
        n = 0; /* the last block of the section counts */
      continue;
    }
    if(!in_block || strncmp(line, "--", 2))
      continue;
    char *hash = strchr(line, '#');
    if(hash)
      *hash = 0;
    size_t len = strcspn(line, "\n");
    while(len && line[len - 1] == ' ')
      len--;
    assert_true(n < max);
    snprintf(out[n++], 256, "%.*s", (int)len, line);
  }
  fclose(f);
  return n;
}

static void test_classes_under_documented_policies(void **state)
{
  char examples[16][256];
  size_t n = doc_examples(examples, 16);
  assert_true(n >= 3);
  for(size_t e = 0; e < n; e++) {
    size_t k = 0;
    while(k < NKNOWN && (!known_policies[k].from_docs ||
                         strcmp(known_policies[k].argv, examples[e])))
      k++;
    if(k == NKNOWN)
      fail_msg("docs/OPERATIONS.md example '%s' is not in known_policies: "
               "write down what it lifts",
               examples[e]);
  }
  for(size_t k = 0; k < NKNOWN; k++) {
    size_t e = 0;
    while(e < n && strcmp(known_policies[k].argv, examples[e]))
      e++;
    if(known_policies[k].from_docs && e == n)
      fail_msg("'%s' is no longer in docs/OPERATIONS.md",
               known_policies[k].argv);
    print_message("policy %s\n", known_policies[k].argv);
    check_classes_under(k);
  }
  /* No rules at all: every class holds. */
  for(size_t i = 0; i < NCLASS_TARGETS; i++) {
    policy_addr_t a = A(class_targets[i].addr);
    if(class_targets[i].cls == POLICY_CLASS_OWN_ADDRESS ||
       !strcmp(class_targets[i].addr, BCAST4))
      continue; /* NULL has no own addresses */
    assert_int_equal(policy_default_class(NULL, &a, 1, NULL),
                     class_targets[i].cls);
  }
}

static void test_lifting(void **state)
{
  static const struct {
    const char *rules; /* "+R" allow, "-R" deny, space-separated */
    const char *addr;
    uint16_t port;
    int allow;
    const char *why;
  } cases[] = {
      /* a range inside the class lifts it, for that range and port */
      {"+127.0.0.1:8080", "127.0.0.1", 8080, 1, "allow 127.0.0.1:8080"},
      {"+127.0.0.1:8080", "127.0.0.1", 8081, 0, "loopback"},
      {"+127.0.0.1:8080", "127.0.0.2", 8080, 0, "loopback"},
      {"+127.0.0.1:8080", "::ffff:127.0.0.1", 8080, 1, "allow 127.0.0.1:8080"},
      {"+127.0.0.1:8080", "::1", 8080, 0, "loopback"},
      /* lifted, then the rules decide in order */
      {"-127.0.0.1 +127.0.0.0/8", "127.0.0.1", 1, 0, "deny 127.0.0.1"},
      {"-127.0.0.1 +127.0.0.0/8", "127.0.0.2", 1, 1, "allow 127.0.0.0/8"},
      {"+0.0.0.0/0:22 +127.0.0.1:22", "127.0.0.1", 22, 1,
       "allow 0.0.0.0/0:22"},
      {"+127.0.0.1:22 -0.0.0.0/0", "127.0.0.1", 22, 1, "allow 127.0.0.1:22"},
      {"+127.0.0.1:22 -0.0.0.0/0", "127.0.0.1", 23, 0, "loopback"},
      /* wider than the class: lifts nothing */
      {"+0.0.0.0/0", "127.0.0.1", 22, 0, "loopback"},
      {"+126.0.0.0/7", "127.0.0.1", 22, 0, "loopback"},
      {"+::/0", "::1", 22, 0, "loopback"},
      {"+::/0", "::ffff:127.0.0.1", 22, 0, "loopback"},
      {"+::ffff:0:0/96", "127.0.0.1", 22, 0, "loopback"},
      {"+::ffff:127.0.0.0/104", "127.0.0.1", 22, 1,
       "allow ::ffff:127.0.0.0/104"},
      /* link-local and metadata are lifted apart */
      {"+169.254.0.0/16", "169.254.1.1", 80, 1, "allow 169.254.0.0/16"},
      {"+169.254.0.0/16", "169.254.169.254", 80, 0, "metadata"},
      {"+169.254.169.254", "169.254.169.254", 80, 1, "allow 169.254.169.254"},
      {"+169.254.169.254", "169.254.1.1", 80, 0, "link_local"},
      {"+fe80::/10", "fe80::1", 80, 1, "allow fe80::/10"},
      {"+fc00::/7", "fd00:ec2::254", 80, 0, "metadata"},
      {"+private", "fd00:ec2::254", 80, 0, "metadata"},
      {"+private", "100.100.100.200", 80, 0, "metadata"},
      {"+private", "10.1.1.1", 80, 1, "allow private (10.0.0.0/8)"},
      {"+[fd00:ec2::254]:80", "fd00:ec2::254", 80, 1,
       "allow [fd00:ec2::254]:80"},
      {"+224.0.0.0/4", "224.0.0.251", 5353, 1, "allow 224.0.0.0/4"},
      {"+224.0.0.0/4", "ff02::fb", 5353, 0, "multicast"},
      {"+255.255.255.255", "255.255.255.255", 9, 1, "allow 255.255.255.255"},
      {"+0.0.0.0/8", "0.0.0.0", 9, 1, "allow 0.0.0.0/8"},
      /* embedded: only an IPv4 rule inside the class lifts it */
      {"+64:ff9b::/96", "64:ff9b::7f00:1", 80, 0, "loopback (embedded IPv4)"},
      {"+64:ff9b::7f00:0/104", "64:ff9b::7f00:1", 80, 0,
       "loopback (embedded IPv4)"},
      {"+2002::/16", "2002:7f00:1::", 80, 0, "loopback (embedded IPv4)"},
      {"+2000::/3", "2002:a9fe:a9fe::", 80, 0, "metadata (embedded IPv4)"},
      {"-::/0 +127.0.0.0/8", "64:ff9b::7f00:1", 80, 0, "deny ::/0"},
      {"+127.0.0.0/8", "64:ff9b::7f00:1", 80, 1, "allow 127.0.0.0/8"},
      /* the relay's own addresses: a host rule lifts, a network does not */
      {"+192.0.2.0/24", OWN4, 22, 0, "own_address"},
      {"+192.0.2.0/24", "192.0.2.11", 22, 1, "allow 192.0.2.0/24"},
      {"+" OWN4 ":22", OWN4, 22, 1, "allow " OWN4 ":22"},
      {"+" OWN4 ":22", OWN4, 23, 0, "own_address"},
      {"+" OWN4 ":22", "64:ff9b::c000:20a", 22, 1, "allow " OWN4 ":22"},
      {"+2001:db8::/32", OWN6, 22, 0, "own_address"},
      {"+private", OWN4, 22, 0, "own_address"},
      {"+192.0.2.0/24", BCAST4, 22, 0, "broadcast"},
      {"+" BCAST4, BCAST4, 22, 1, "allow " BCAST4},
  };
  for(size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    char buf[256];
    policy_t *p = policy_new();
    char *save = NULL;
    set_own(p);
    snprintf(buf, sizeof(buf), "%s", cases[i].rules);
    for(char *r = strtok_r(buf, " ", &save); r; r = strtok_r(NULL, " ", &save))
      assert_int_equal(policy_add(p, r[0] == '+', r + 1, NULL, 0), 0);
    print_message("[%s] ", cases[i].rules);
    expect(p, cases[i].addr, cases[i].port, cases[i].allow, cases[i].why);
    policy_free(p);
  }
}

static void test_own_set(void **state)
{
  policy_t *p = policy_new();
  policy_own_addr_t own[3];
  memset(own, 0, sizeof(own));

  expect(p, OWN4, 22, 1, "default allow"); /* no set yet */
  assert_int_equal(policy_own_count(p), 0);
  assert_int_equal(policy_set_own(p, NULL, 0), 0); /* empty = empty */
  set_own(p);
  expect(p, OWN4, 22, 0, "own_address");
  expect(p, BCAST4, 22, 0, "broadcast");
  /* the same set again is no change */
  own[0].addr = A(OWN6);
  own[1].addr = A(BCAST4);
  own[1].broadcast = 1;
  own[2].addr = A(OWN4);
  assert_int_equal(policy_set_own(p, own, 3), 0);
  /* an address that is also a broadcast address stays an own address */
  own[0].addr = A(OWN4);
  own[0].broadcast = 1;
  assert_int_equal(policy_set_own(p, own, 3), 1);
  assert_int_equal(policy_own_count(p), 2);
  expect(p, OWN4, 22, 0, "own_address");
  /* replaced: the old addresses are gone */
  own[0].addr = A("198.51.100.7");
  own[0].broadcast = 0;
  assert_int_equal(policy_set_own(p, own, 1), 1);
  expect(p, OWN4, 22, 1, "default allow");
  expect(p, "198.51.100.7", 22, 0, "own_address");
  expect(p, "::ffff:198.51.100.7", 22, 0, "own_address");
  /* a bad family is skipped, NULL refused */
  own[0].addr.family = 5;
  assert_int_equal(policy_set_own(p, own, 1), 1);
  assert_int_equal(policy_own_count(p), 0);
  assert_int_equal(policy_set_own(NULL, own, 1), BEACON_EINVAL);
  assert_int_equal(policy_set_own(p, NULL, 1), BEACON_EINVAL);
  /* refusals are counted by class */
  const atomic_uint_fast64_t *lo =
      policy_refusals_of(p, POLICY_CLASS_LOOPBACK);
  assert_non_null(lo);
  uint64_t before = atomic_load(lo);
  expect(p, "127.0.0.1", 1, 0, "loopback");
  assert_true(atomic_load(lo) > before);
  assert_null(policy_refusals_of(p, POLICY_CLASS_COUNT));
  assert_null(policy_refusals_of(NULL, POLICY_CLASS_LOOPBACK));
  assert_string_equal(policy_class_name(POLICY_CLASS_OWN_ADDRESS),
                      "own_address");
  assert_string_equal(policy_class_name((policy_class_t)99), "none");
  policy_free(p);
}

/* ---- the own set replaced while other threads check ---- */

typedef struct swap_run {
  policy_t *p;
  atomic_int stop;
  atomic_long checks;
  atomic_int wrong;
} swap_run_t;

static void *checker(void *arg)
{
  swap_run_t *r = arg;
  policy_addr_t always = A("8.8.4.1"), a = A("8.8.4.2"), b = A("8.8.4.3");
  long n = 0;
  while(!atomic_load(&r->stop)) {
    const char *why;
    /* in every set: always refused; a and b come and go */
    if(policy_check(r->p, &always, 1, &why) || strcmp(why, "own_address"))
      atomic_fetch_add(&r->wrong, 1);
    /* a and b come and go, but only ever as own addresses */
    if(policy_check(r->p, &a, 1, &why) ? strcmp(why, "default allow")
                                       : strcmp(why, "own_address"))
      atomic_fetch_add(&r->wrong, 1);
    if(policy_check(r->p, &b, 1, &why) ? strcmp(why, "default allow")
                                       : strcmp(why, "own_address"))
      atomic_fetch_add(&r->wrong, 1);
    n += 3;
  }
  atomic_fetch_add(&r->checks, n);
  return NULL;
}

static double ns_per_check(policy_t *p, const char *addr, long n)
{
  policy_addr_t a = A(addr);
  struct timespec t0, t1;
  int sum = 0;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for(long i = 0; i < n; i++)
    sum += policy_check(p, &a, 443, NULL);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  assert_true(sum == 0 || sum == n);
  return ((t1.tv_sec - t0.tv_sec) * 1e9 + (t1.tv_nsec - t0.tv_nsec)) / n;
}

static void test_own_set_swapped_under_load(void **state)
{
  swap_run_t r;
  pthread_t th[2];
  policy_own_addr_t set[2][2];
  memset(&r, 0, sizeof(r));
  memset(set, 0, sizeof(set));
  r.p = policy_from_argv("--allow 10.20.0.0/16:22 --deny private");
  set[0][0].addr = A("8.8.4.1"); /* public, as a relay's would be */
  set[0][1].addr = A("8.8.4.2");
  set[1][0].addr = A("8.8.4.1");
  set[1][1].addr = A("8.8.4.3");
  assert_int_equal(policy_set_own(r.p, set[0], 2), 1);

  /* single thread, no writer: the hot path's cost */
  print_message("check, no own address hit: %.1f ns\n",
                ns_per_check(r.p, "8.8.8.8", 2000000));
  print_message("check, own address hit: %.1f ns\n",
                ns_per_check(r.p, "8.8.4.1", 2000000));
  print_message("check, no own set (NULL policy): %.1f ns\n",
                ns_per_check(NULL, "8.8.8.8", 2000000));

  for(int i = 0; i < 2; i++)
    assert_int_equal(pthread_create(&th[i], NULL, checker, &r), 0);
  /* swap for 300 ms while both threads check */
  int swaps = 0, tries = 0;
  struct timespec t0, t1;
  double sw = 0;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  while(sw < 3e8) {
    tries++;
    swaps += policy_set_own(r.p, set[tries & 1], 2) == 1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    sw = (t1.tv_sec - t0.tv_sec) * 1e9 + (t1.tv_nsec - t0.tv_nsec);
  }
  atomic_store(&r.stop, 1);
  for(int i = 0; i < 2; i++)
    pthread_join(th[i], NULL);
  print_message("%d swaps under 2 checking threads: %.1f us each, %ld "
                "checks meanwhile\n",
                swaps, sw / 1000 / swaps, (long)atomic_load(&r.checks));
  assert_int_equal(swaps, tries); /* each alternates the set */
  assert_int_equal(atomic_load(&r.wrong), 0);
  assert_true(atomic_load(&r.checks) > 0);
  policy_free(r.p);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_addr_parse),
      cmocka_unit_test(test_rule_syntax_ok),
      cmocka_unit_test(test_rule_syntax_errors),
      cmocka_unit_test(test_defaults),
      cmocka_unit_test(test_first_match_wins),
      cmocka_unit_test(test_prefixes_and_ports),
      cmocka_unit_test(test_mapped),
      cmocka_unit_test(test_embedded_ipv4),
      cmocka_unit_test(test_private_preset),
      cmocka_unit_test(test_bad_addresses),
      cmocka_unit_test(test_many_rules),
      cmocka_unit_test(test_classes_under_documented_policies),
      cmocka_unit_test(test_lifting),
      cmocka_unit_test(test_own_set),
      cmocka_unit_test(test_own_set_swapped_under_load),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
