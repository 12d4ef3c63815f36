/*
 * test_policy.c - the destination policy (docs/ARCHITECTURE.md "Deny by
 * default"): rule syntax and its error messages, first-match-wins evaluation,
 * port ranges, the default refusals, and IPv4-mapped IPv6 addresses judged as
 * IPv4.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
