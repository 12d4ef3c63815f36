/*
 * ranges.c - the address ranges of the default refusal classes, and the
 * class an address is in before any rule (see class.c for the decisions
 * behind the table).
 */
#include "policy/ranges.h"

#include <string.h>

#include "policy/rule.h"

static const policy_class_range_t ranges[] = {
    {POLICY_CLASS_METADATA, 4, {169, 254, 169, 254}, 32},
    {POLICY_CLASS_METADATA, 4, {100, 100, 100, 200}, 32},
    {POLICY_CLASS_METADATA,
     6,
     {0xfd, 0, 0x0e, 0xc2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x02, 0x54},
     128},
    {POLICY_CLASS_BROADCAST, 4, {255, 255, 255, 255}, 32},
    {POLICY_CLASS_UNSPECIFIED, 4, {0}, 8},
    {POLICY_CLASS_UNSPECIFIED, 6, {0}, 128},
    {POLICY_CLASS_LOOPBACK, 4, {127}, 8},
    {POLICY_CLASS_LOOPBACK,
     6,
     {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1},
     128},
    {POLICY_CLASS_LINK_LOCAL, 4, {169, 254}, 16},
    {POLICY_CLASS_LINK_LOCAL, 6, {0xfe, 0x80}, 10},
    {POLICY_CLASS_MULTICAST, 4, {224}, 4},
    {POLICY_CLASS_MULTICAST, 6, {0xff}, 8},
};
#define POLICY_NRANGES (sizeof(ranges) / sizeof(ranges[0]))

const char *policy_class_name(policy_class_t c)
{
  static const char *const names[POLICY_CLASS_COUNT] = {
      [POLICY_CLASS_NONE] = "none",
      [POLICY_CLASS_UNSPECIFIED] = "unspecified",
      [POLICY_CLASS_LOOPBACK] = "loopback",
      [POLICY_CLASS_LINK_LOCAL] = "link_local",
      [POLICY_CLASS_METADATA] = "metadata",
      [POLICY_CLASS_MULTICAST] = "multicast",
      [POLICY_CLASS_BROADCAST] = "broadcast",
      [POLICY_CLASS_OWN_ADDRESS] = "own_address",
  };
  return (unsigned)c < POLICY_CLASS_COUNT ? names[c] : "none";
}

int policy_maybe_in_range(int family, const uint8_t *a)
{
  if(family == 4)
    return a[0] == 0 || a[0] == 100 || a[0] == 127 || a[0] == 169 ||
           a[0] >= 224;
  return a[0] == 0 || a[0] == 0xfd || a[0] >= 0xfe;
}

policy_class_t policy_static_class(int family, const uint8_t *a)
{
  if(!policy_maybe_in_range(family, a))
    return POLICY_CLASS_NONE;
  for(size_t i = 0; i < POLICY_NRANGES; i++)
    if(ranges[i].family == family &&
       policy_prefix_match(a, ranges[i].net, ranges[i].prefix))
      return ranges[i].cls;
  return POLICY_CLASS_NONE;
}

const policy_class_range_t *policy_class_range(size_t i)
{
  return i < POLICY_NRANGES ? &ranges[i] : NULL;
}
